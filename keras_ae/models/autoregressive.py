"""The autoregressive image model base shared by PixelCNN and PixelRNN.

An autoregressive model factorizes ``p(x) = prod_i p(x_i | x_<i)`` over pixels (and
colour channels) in raster order. One pass of a causal network gives every
conditional at once, so the log-likelihood is exact and cheap; sampling needs one
step per pixel.

``AutoregressiveModel`` wraps a causal ``network`` (a named functional sub-model
mapping images to logits) and owns:

* training: ``fit(x)`` minimises the NLL in nats per image, with optional dynamic
  binarization (a fresh Bernoulli draw of grey images every batch);
* ``log_likelihood(x)`` (nats per image, exact) and ``bits_per_dim(x)``;
* ``sample(n, seed)`` and ``complete(x, rows_observed, seed)``: the whole pixel loop is
  one compiled ``tf.while_loop``. Per row the model may precompute what does not change
  inside the row (``_begin_row``) and per pixel it evaluates only the rows the pixel can
  see (``receptive_rows``), or less (the gated PixelCNN runs only its horizontal stack;
  a Row LSTM PixelRNN carries its LSTM states from row to row and runs one row);
* ``sample_naive``: the textbook Python loop calling the full model once per pixel,
  kept as the benchmark baseline. Both samplers draw the same random numbers, so for a
  given seed they return the same images.

A class-conditional model (``num_classes=K``; van den Oord et al. 2016b) models
``p(x | y) = prod_i p(x_i | x_<i, y)``: its network takes ``[images, labels]`` (int32 class
ids), ``fit(x, y)`` trains on labelled images, and ``log_likelihood(x, labels)``,
``sample(n, labels=...)`` and ``complete(x, rows, labels=...)`` take the labels through
:func:`keras_ae.validation.check_class_labels`.

This module holds the networks' wiring, the distribution, the loss hook and the training
step; the methods used outside ``fit`` come from mixins in sibling modules:
:mod:`~keras_ae.models.autoregressive_sampling` (the samplers and :func:`counter_uniform`),
:mod:`~keras_ae.models.autoregressive_likelihood` (``log_likelihood``, ``bits_per_dim``) and
:mod:`~keras_ae.models.autoregressive_serving` (the export signatures).
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from keras_ae.errors import InputValidationError
from keras_ae.layers.masked_conv import MaskedConv2D
from keras_ae.models.autoregressive_likelihood import AutoregressiveLikelihood
from keras_ae.models.autoregressive_sampling import AutoregressiveSampling, counter_uniform
from keras_ae.models.autoregressive_serving import AutoregressiveServing
from keras_ae.models.common import as_image_shape, check_int
from keras_ae.models.serialization import NestedConfig
from keras_ae.registry import register_family
from keras_ae.validation import check_bool, check_model_seed, check_num_classes
from keras_ae.training import DataSpec, Trainer
from keras_ae.random import binarize_batch, next_stateless_seed
from keras_ae.replicas import nonempty_batch
from keras_ae.validation import check_array, check_class_labels, check_on_grid

# counter_uniform lives with the samplers; it stays importable from here.
__all__ = ["AutoregressiveModel", "build_output_head", "counter_uniform"]


def _image_shape_text(shape) -> str:
    return "x".join(str(d) for d in shape)


def build_output_head(features: int, image_channels: int, levels: int, units: int | None = None,
                      name: str = "head") -> keras.Model:
    """The 1x1 output layers of PixelCNN/PixelRNN: ReLU, masked 1x1 conv, ReLU, masked 1x1 conv to logits.

    Args:
        features: Channels coming in.
        image_channels: Colour channels of the image (the mask groups).
        levels: 2 (one Bernoulli logit per channel) or the number of softmax levels.
        units: Hidden 1x1 channels (default: ``features``).
        name: Sub-model name.

    Returns:
        A ``keras.Sequential`` mapping ``(b, h, w, features)`` to ``(b, h, w, c * out)``.

    Example:
        >>> build_output_head(32, 1, 2).output_shape
        (None, None, None, 1)
    """
    out = image_channels * (1 if levels == 2 else levels)
    units = features if units is None else check_int(units, "head_units", minimum=1)
    return keras.Sequential([
        keras.Input((None, None, features)),
        keras.layers.Activation("relu"),
        MaskedConv2D(units, 1, mask_type="B", color_channels=image_channels, activation="relu", name="hidden"),
        MaskedConv2D(out, 1, mask_type="B", color_channels=image_channels, name="logits"),
    ], name=name)


@register_family("autoregressive", serving_default="log_likelihood")
class AutoregressiveModel(AutoregressiveSampling, AutoregressiveLikelihood, AutoregressiveServing, Trainer,
                          NestedConfig, keras.Model):
    """A causal network over pixels with exact likelihoods and a compiled sampler.

    Args:
        network: A Keras model mapping images ``(batch, rows, w, c)`` to logits
            ``(batch, rows, w, c * out)`` for any number of rows (the sampler feeds it
            bands of rows); ``out`` is 1 (a Bernoulli logit) for
            ``levels=2`` and ``levels`` (softmax logits) otherwise. Channel ``k`` of the
            logits belongs to colour ``k % c``. It must be causal in raster order.
        image_shape: ``(height, width, channels)`` of the images the model is for.
        levels: 2 for binary images (Bernoulli), 256 for 8-bit images (softmax), or any
            number of grey levels ``>= 2``; images hold ``level / (levels - 1)``.
        dynamic_binarization: Binary models only: ``fit`` accepts grey images in [0, 1]
            and draws ``x ~ Bernoulli(x)`` afresh every batch (the IWAE protocol).
        receptive_rows: How many rows above a pixel can influence it (``None``: all).
            Lets the sampler evaluate the network on a band of rows per pixel.
        seed: Seed of the model's random stream (dynamic binarization, and the seeds
            drawn when a sampler is called with ``seed=None``).
        info: JSON-serializable facts kept with the model.
        num_classes: ``None`` (unconditional), or the classes ``K`` of a class-conditional
            model, whose ``network`` takes ``[images, labels]`` (labels int32 ``(batch,)``).

    Example:
        >>> model = build_pixelcnn((8, 8, 1), filters=8, blocks=0)  # a PixelCNN is an AutoregressiveModel
        >>> model.compile(optimizer="adam")
        >>> history = model.fit(keras_ae.data.binarize(x_digits, seed=0), epochs=1, batch_size=64, verbose=0)
        >>> sorted(history.history)  # NLL in nats per image, and in bits per dimension
        ['bits_per_dim', 'loss', 'nll']
        >>> model.log_likelihood(keras_ae.data.binarize(x_digits_test, seed=0)).shape
        (64,)

        On MNIST (minutes of training, so not run here):

        ```python
        (x_train, _), (x_test, _) = keras_ae.load_dataset("mnist")
        model = build_pixelcnn((28, 28, 1), filters=32, blocks=4)
        model.compile(optimizer="adam")
        model.fit(keras_ae.data.binarize(x_train, seed=0), epochs=1)
        nll = -model.log_likelihood(keras_ae.data.binarize(x_test, seed=0)).mean()
        ```
    """

    loss_refusal = "Autoregressive models own their loss (the exact NLL); don't pass loss= to compile()."
    nested_config_keys = ("network",)

    def __init__(
        self,
        network: keras.Model,
        image_shape,
        levels: int = 2,
        dynamic_binarization: bool = False,
        receptive_rows: int | None = None,
        seed: int | None = None,
        info: dict | None = None,
        num_classes: int | None = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.network = network
        self.image_shape: tuple[int, int, int] = as_image_shape(image_shape)
        self.levels = check_int(levels, "levels", minimum=2)
        self.dynamic_binarization = check_bool(dynamic_binarization, "dynamic_binarization")
        if self.dynamic_binarization and self.levels != 2:
            raise InputValidationError("dynamic_binarization needs a binary model (levels=2).")
        self.receptive_rows = (None if receptive_rows is None
                               else check_int(receptive_rows, "receptive_rows", minimum=0))
        self.seed = check_model_seed(seed)
        object.__setattr__(self, "info", dict(info or {}))
        self.num_classes = check_num_classes(num_classes, minimum=1)
        inputs = len(network.inputs)
        if inputs != (1 if self.num_classes is None else 2):
            raise InputValidationError(
                f"The network takes {inputs} input(s); "
                + ("an unconditional model's network takes images alone." if self.num_classes is None else
                   f"a class-conditional model (num_classes={self.num_classes}) needs one taking [images, labels]."))
        expected = self.image_shape[-1] * self.outputs_per_channel
        if network.output_shape[-1] != expected:
            raise InputValidationError(
                f"The network outputs {network.output_shape[-1]} channels; levels={levels} with "
                f"{self.image_shape[-1]} image channel(s) needs {expected}."
            )
        self.seed_generator = keras.random.SeedGenerator(self.seed)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.nll_tracker = keras.metrics.Mean(name="nll")
        self.bpd_tracker = keras.metrics.Mean(name="bits_per_dim")
        self._compiled_sampler = None
        self._compiled_log_prob = None
        self.built = True  # the network is a functional model, built at construction: saving an untrained model works

    def get_config(self) -> dict:
        return {**super().get_config(), "image_shape": list(self.image_shape), "levels": self.levels,
                "dynamic_binarization": self.dynamic_binarization, "receptive_rows": self.receptive_rows,
                "seed": self.seed, "info": self.info, "num_classes": self.num_classes}

    # -- the distribution ------------------------------------------------------------
    @property
    def binary(self) -> bool:
        """True for Bernoulli pixels (``levels == 2``)."""
        return self.levels == 2

    @property
    def outputs_per_channel(self) -> int:
        """Logits per colour channel: 1 (Bernoulli) or ``levels`` (softmax)."""
        return 1 if self.binary else self.levels

    @property
    def num_dims(self) -> int:
        """Dimensions ``D`` of one image (for bits/dim)."""
        return int(np.prod(self.image_shape))

    def split_logits(self, flat):
        """Network output to logits: ``(b, h, w, c)`` Bernoulli or ``(b, h, w, c, levels)`` softmax."""
        if self.binary:
            return flat
        shape = tf.shape(flat)
        c = self.image_shape[-1]
        logits = tf.reshape(flat, tf.stack([shape[0], shape[1], shape[2], self.levels, c]))
        return tf.transpose(logits, (0, 1, 2, 4, 3))  # channel k = level * c + colour

    @property
    def conditional(self) -> bool:
        """Whether the model is class-conditional (``num_classes`` is set)."""
        return self.num_classes is not None

    def logits(self, x, labels=None, training: bool = False):
        """The logits of every pixel of images ``x`` (any band of rows), given ``labels`` when conditional.

        A network with class maps (``build_pixelcnn(class_map=...)``) takes whole images only.

        Args:
            x: float32 images ``(b, rows, w, c)``.
            labels: int ``(b,)`` class ids (a conditional model), else ``None``.
            training: Run the network in training mode.

        Returns:
            ``(b, rows, w, c)`` Bernoulli or ``(b, rows, w, c, levels)`` softmax logits.

        Example:
            >>> model = build_pixelcnn((8, 8, 1), filters=8, blocks=1, num_classes=10)
            >>> model.logits(np.zeros((2, 8, 8, 1), "float32"), np.array([3, 7])).shape
            TensorShape([2, 8, 8, 1])
        """
        if self.conditional:
            if labels is None:
                raise InputValidationError(f"This model is class-conditional (num_classes={self.num_classes}): "
                                           "its logits need labels.")
            labels = tf.cast(tf.reshape(labels, [-1]), tf.int32)
            x = tf.convert_to_tensor(x)
            if self._class_map() is not None and x.shape[1] is not None and x.shape[1] != self.image_shape[0]:
                raise InputValidationError(f"This network's class maps cover whole images of {self.image_shape[0]} "
                                           f"rows; got {x.shape[1]} rows (its sampler evaluates bands itself).")
            return self.split_logits(self.network([x, labels], training=training))
        return self.split_logits(self.network(x, training=training))

    def class_code(self, labels):
        """The network's one-hot code of ``labels``: what its conditional layers project into their gates.

        Args:
            labels: int class ids ``(b,)``, or ``None``.

        Returns:
            float ``(b, dim)`` (the network's ``class_code`` layer), its spatial form
            ``(b, height, width, dim)`` for a network with a ``class_map`` layer, or ``None`` for
            an unconditional model or ``labels=None``.

        Example:
            >>> model = build_pixelcnn((8, 8, 1), filters=8, blocks=1, num_classes=10, class_map=0)
            >>> model.class_code(np.array([0, 9])).shape
            TensorShape([2, 10])
            >>> build_pixelcnn((8, 8, 1), filters=8, blocks=1, num_classes=10).class_code(np.array([0, 9])).shape
            TensorShape([2, 8, 8, 18])
        """
        if labels is None or not self.conditional:
            return None
        code = self.network.get_layer("class_code")(tf.cast(tf.reshape(labels, [-1]), tf.int32))
        class_map = self._class_map()
        return code if class_map is None else class_map(code)

    def _class_map(self):
        """The network's ``class_map`` layer (a gated PixelCNN's spatial class code), or ``None``."""
        return next((layer for layer in self.network.layers if layer.name == "class_map"), None)

    def call(self, inputs, training=False):
        if self.conditional:
            if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
                raise InputValidationError(f"A class-conditional model (num_classes={self.num_classes}) is called "
                                           "on [images, labels].")
            return self.logits(inputs[0], inputs[1], training=training)
        return self.split_logits(self.network(inputs, training=training))

    def log_prob(self, x, logits):
        """Exact ``log p(x)`` per image in nats (float32), given the model's logits for ``x``."""
        x = tf.cast(x, tf.float32)
        logits = tf.cast(logits, tf.float32)  # likelihoods in float32 under mixed precision
        if self.binary:
            per_pixel = x * logits - tf.math.softplus(logits)
        else:
            level = tf.cast(tf.round(x * (self.levels - 1)), tf.int32)
            per_pixel = tf.gather(tf.nn.log_softmax(logits), level, axis=-1, batch_dims=4)
        return tf.reduce_sum(per_pixel, axis=[1, 2, 3])

    # -- input checks ------------------------------------------------------------------
    def validate_images(self, x, name: str = "x", allow_grey: bool = False, rows: int | None = None) -> np.ndarray:
        """Checks images against the model: shape (no larger than built for), range, levels.

        Args:
            x: Images ``(n, h, w, c)`` (or ``(n, h, w)`` for one channel) in [0, 1].
            name: Name used in messages.
            allow_grey: Accept any value in [0, 1] for a binary model (dynamic binarization).
            rows: Expected number of rows if not the model's height (partial images).

        Returns:
            float32 images with a channel axis.

        Raises:
            InputValidationError: for a wrong/larger shape, values outside [0, 1], grey
                values for a binary model, or values off the model's grey-level grid.

        Example:
            >>> model = build_pixelcnn((8, 8, 1), filters=8, blocks=1)
            >>> model.validate_images(np.zeros((2, 8, 8))).shape  # a channel axis is added
            (2, 8, 8, 1)
            >>> model.validate_images(x_digits[:2])  # grey images, binary model
            Traceback (most recent call last):
            ...
            InputValidationError: `x` is not binary (... values strictly between 0 and 1, e.g. ...) but the model
            has Bernoulli pixels. Binarize it first, e.g. keras_ae.data.binarize(x, seed=0), ...
        """
        h, w, c = self.image_shape
        rows = h if rows is None else rows
        hint = "Scale 8-bit images to [0, 1] with x.astype('float32') / 255."
        x = check_array(x, name, value_range=(0.0, 1.0), range_hint=hint)
        if x.ndim == 3 and c == 1:
            x = x[..., None]
        if x.ndim != 4:
            raise InputValidationError(f"`{name}` has shape {x.shape}; expected images (n, {rows}, {w}, {c}).")
        got = x.shape[1:]
        if got[0] > h or got[1] > w:
            raise InputValidationError(
                f"`{name}` holds {_image_shape_text(got)} images, larger than the "
                f"{_image_shape_text(self.image_shape)} images this model was built for; crop or resize them, or "
                "build a model for the larger size."
            )
        if got != (rows, w, c):
            raise InputValidationError(f"`{name}` has per-image shape {got}; the model expects {(rows, w, c)}.")
        if self.binary and not allow_grey:
            off = (x != 0.0) & (x != 1.0)
            if off.any():
                raise InputValidationError(
                    f"`{name}` is not binary ({int(off.sum())} values strictly between 0 and 1, e.g. {x[off][0]:g}) "
                    "but the model has Bernoulli pixels. Binarize it first, e.g. "
                    "keras_ae.data.binarize(x, seed=0), or for training build the model with dynamic_binarization=True."
                )
        elif not self.binary:
            check_on_grid(x, self.levels, name)
        return x

    def check_data(self, x, y, names, training: bool):
        """``fit``/``evaluate`` hook: images (grey training images with dynamic binarization), and
        for a class-conditional model their labels (required, one class id per image)."""
        if y is not None and not self.conditional:
            raise InputValidationError("Autoregressive models model the images themselves: call fit(x) without y.")
        if self.conditional and y is None:
            raise InputValidationError(
                f"This model is class-conditional (num_classes={self.num_classes}): it trains on (images, labels); "
                f"call fit(x, y) with y one class id in [0, {self.num_classes - 1}] per image.")
        x = self.validate_images(x, names[0], allow_grey=training and self.dynamic_binarization)
        return x, check_class_labels(y, len(x), self.num_classes, name=names[1])

    def data_spec(self, training: bool) -> DataSpec:
        """``fit``/``evaluate`` hook: image batches in [0, 1] on the model's grid of levels
        (``(images, labels)`` batches for a class-conditional model)."""
        grey_ok = training and self.dynamic_binarization
        return DataSpec(self.image_shape, (0.0, 1.0), "Scale 8-bit images to [0, 1] with x / 255.",
                        targets="labels" if self.conditional else "none", num_classes=self.num_classes,
                        levels=None if grey_ok else self.levels)

    # -- training ----------------------------------------------------------------------
    @property
    def metrics(self):
        return [self.loss_tracker, self.nll_tracker, self.bpd_tracker]

    def compute_losses(self, x, labels=None, training: bool = False) -> dict[str, tf.Tensor]:
        """Loss terms of one batch of images ``x`` (float32; with their ``labels`` for a conditional model):
        ``loss`` (``nll`` + layer losses), ``nll`` (nats per image) and ``bits_per_dim``."""
        nll = -tf.reduce_mean(self.log_prob(x, self.logits(x, labels, training=training)))
        loss = nll
        if self.losses:  # layer regularizers
            loss = loss + tf.add_n([tf.cast(penalty, tf.float32) for penalty in self.losses])
        return {"loss": loss, "nll": nll, "bits_per_dim": nll / (self.num_dims * math.log(2.0))}

    def _unpack(self, data):
        """``(x, labels or None, batch size)`` of a batch; labels only (and always) for a conditional model."""
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        if not self.conditional:
            x, batch = nonempty_batch(x)
            return x, None, batch
        if y is None:
            raise InputValidationError(
                f"This model is class-conditional (num_classes={self.num_classes}): it trains on (images, labels).")
        return nonempty_batch(x, tf.cast(tf.reshape(y, [-1]), tf.int32))

    def train_step(self, data):
        # Under tf.distribute an empty replica batch becomes one example weighted 0.
        x, labels, batch = self._unpack(data)
        x = tf.cast(x, tf.float32)
        if self.dynamic_binarization:
            # A fresh binarization of every image in every batch: less overfitting. Drawn per
            # example of the global batch, so a mirrored step binarizes like one device.
            x = binarize_batch(x, next_stateless_seed(self.seed_generator))
        return self.minimize(lambda: self.compute_losses(x, labels, training=True), batch)

    def test_step(self, data):
        x, labels, batch = self._unpack(data)
        return self.update_trackers(self.compute_losses(tf.cast(x, tf.float32), labels, training=False), batch)

