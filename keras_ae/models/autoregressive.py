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
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from keras_ae.errors import InputValidationError
from keras_ae.evaluation.likelihood import bits_per_dim
from keras_ae.export.endpoints import MAX_SAMPLE_COUNT, ExportOptions, describe_data, image_endpoints
from keras_ae.layers.masked_conv import MaskedConv2D
from keras_ae.models.common import as_image_shape, check_int, check_seed
from keras_ae.models.serialization import from_nested_config
from keras_ae.registry import register_family
from keras_ae.validation import check_bool, check_count, check_model_seed, check_verbose
from keras_ae.training import DataSpec, Trainer
from keras_ae.training.batches import example_count, iterate_batches
from keras_ae.random import batch_seed, binarize_batch, next_stateless_seed
from keras_ae.replicas import nonempty_batch
from keras_ae.graph_checks import assert_on_grid
from keras_ae.validation import check_array, check_on_grid


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


def _u32(value: int):
    return tf.constant(value, tf.uint32)


def _mix32(x):
    """The "lowbias32" integer hash (C. Wellons): a bijection of uint32 with good avalanche."""
    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, _u32(16))) * _u32(0x7FEB352D)
    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, _u32(15))) * _u32(0x846CA68B)
    return tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, _u32(16)))


def counter_uniform(shape, seed, index):
    """Uniform numbers in (0, 1) as a pure function of ``(seed, index, position)``.

    A counter-based generator made of integer ops only, so it returns the same bits
    eagerly, in ``tf.function`` and under XLA (TF's stateless Philox does not: XLA
    derives its key differently). The samplers draw pixel ``index`` with it, so the
    compiled and the naive sampler produce identical images.

    Args:
        shape: Output shape (a tensor or list).
        seed: int64 seed.
        index: int32 pixel index (raster order, colours innermost).

    Returns:
        float32 tensor of ``shape`` with values ``(k + 0.5) / 2**24``.

    Example:
        >>> float(counter_uniform([1], 0, 0)[0]) == float(counter_uniform([1], 0, 0)[0])
        True
    """
    seed = tf.cast(seed, tf.uint64)
    lo = tf.cast(tf.bitwise.bitwise_and(seed, tf.constant(0xFFFFFFFF, tf.uint64)), tf.uint32)
    hi = tf.cast(tf.bitwise.right_shift(seed, tf.constant(32, tf.uint64)), tf.uint32)
    key = _mix32(tf.bitwise.bitwise_xor(_mix32(tf.bitwise.bitwise_xor(lo, _mix32(hi))), tf.cast(index, tf.uint32)))
    ids = tf.cast(tf.range(tf.reduce_prod(shape)), tf.uint32) * _u32(0x9E3779B9)
    bits = tf.bitwise.right_shift(_mix32(tf.bitwise.bitwise_xor(ids, key)), _u32(8))
    return tf.reshape((tf.cast(bits, tf.float32) + 0.5) * (2.0 ** -24), shape)


@register_family("autoregressive", serving_default="log_likelihood")
class AutoregressiveModel(Trainer, keras.Model):
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

    def __init__(
        self,
        network: keras.Model,
        image_shape,
        levels: int = 2,
        dynamic_binarization: bool = False,
        receptive_rows: int | None = None,
        seed: int | None = None,
        info: dict | None = None,
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
        config = super().get_config()  # name, trainable, dtype (policy)
        config.update({
            "network": keras.saving.serialize_keras_object(self.network),
            "image_shape": list(self.image_shape),
            "levels": self.levels,
            "dynamic_binarization": self.dynamic_binarization,
            "receptive_rows": self.receptive_rows,
            "seed": self.seed,
            "info": self.info,
        })
        return config

    @classmethod
    def from_config(cls, config: dict, custom_objects=None):
        return from_nested_config(cls, config, ("network",), custom_objects)

    def build(self, input_shape=None):
        self.built = True  # the network is a functional model, built at construction

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

    def call(self, inputs, training=False):
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
        """``fit``/``evaluate`` hook: images only; grey training images with dynamic binarization."""
        if y is not None:
            raise InputValidationError("Autoregressive models model the images themselves: call fit(x) without y.")
        return self.validate_images(x, names[0], allow_grey=training and self.dynamic_binarization), None

    def data_spec(self, training: bool) -> DataSpec:
        """``fit``/``evaluate`` hook: image batches in [0, 1] on the model's grid of levels."""
        grey_ok = training and self.dynamic_binarization
        return DataSpec(self.image_shape, (0.0, 1.0), "Scale 8-bit images to [0, 1] with x / 255.",
                        levels=None if grey_ok else self.levels)

    # -- serving: the export signatures of the family ----------------------------------
    def serving_endpoints(self, options: ExportOptions) -> list:
        """``log_likelihood`` (images -> exact ``log_likelihood`` in nats and ``bits_per_dim``)
        and its uint8 twin. Images must lie on the model's grid of levels (0/1 for a binary
        model), which the signature checks.

        Example:
            >>> from keras_ae.export import ExportOptions
            >>> model = build_pixelcnn((8, 8, 1), filters=8, blocks=1)
            >>> [e.name for e in model.serving_endpoints(ExportOptions())]
            ['log_likelihood', 'log_likelihood_uint8']
        """
        hint = "for this model" + (" (binarize them first)" if self.binary else "")

        def log_likelihood(images):
            images = assert_on_grid(images, self.levels, "images", hint)
            log_p = self.log_prob(images, self(images, training=False))
            return {"log_likelihood": log_p, "bits_per_dim": -log_p / (self.num_dims * math.log(2.0))}

        functions = [("log_likelihood", log_likelihood, [], "images -> log_likelihood (nats), bits_per_dim")]
        return image_endpoints("images", self.image_shape, (0.0, 1.0), options, functions)

    def serving_metadata(self) -> dict:
        """Facts recorded in an export's metadata: image shape, levels, dimensions."""
        return {"input": describe_data("images", self.image_shape, (0.0, 1.0)), "levels": self.levels,
                "num_dims": self.num_dims}

    # -- training ----------------------------------------------------------------------
    @property
    def metrics(self):
        return [self.loss_tracker, self.nll_tracker, self.bpd_tracker]

    def compute_losses(self, x, training: bool = False) -> dict[str, tf.Tensor]:
        """Loss terms of one batch of images ``x`` (float32): ``loss`` (``nll`` + layer losses),
        ``nll`` (nats per image) and ``bits_per_dim``."""
        nll = -tf.reduce_mean(self.log_prob(x, self(x, training=training)))
        loss = nll
        if self.losses:  # layer regularizers
            loss = loss + tf.add_n([tf.cast(penalty, tf.float32) for penalty in self.losses])
        return {"loss": loss, "nll": nll, "bits_per_dim": nll / (self.num_dims * math.log(2.0))}

    def train_step(self, data):
        # Under tf.distribute an empty replica batch becomes one example weighted 0.
        x, batch = nonempty_batch(keras.utils.unpack_x_y_sample_weight(data)[0])
        x = tf.cast(x, tf.float32)
        if self.dynamic_binarization:
            # A fresh binarization of every image in every batch: less overfitting. Drawn per
            # example of the global batch, so a mirrored step binarizes like one device.
            x = binarize_batch(x, next_stateless_seed(self.seed_generator))
        return self.minimize(lambda: self.compute_losses(x, training=True), batch)

    def test_step(self, data):
        x, batch = nonempty_batch(keras.utils.unpack_x_y_sample_weight(data)[0])
        return self.update_trackers(self.compute_losses(tf.cast(x, tf.float32), training=False), batch)

    # -- likelihood --------------------------------------------------------------------
    def log_likelihood(self, x, batch_size: int = 256, verbose: int = 0) -> np.ndarray:
        """Exact ``log p(x)`` of each image, in nats.

        Args:
            x: Images the model can score (binary for a binary model), or a
                ``tf.data.Dataset`` of them (``x`` or ``(x, y)``; labels ignored; unbatched
                datasets are batched with ``batch_size``), read one batch at a time and
                checked batch by batch (range, levels).
            batch_size: Images per forward pass, an int >= 1.
            verbose: 1 shows a progress bar with the mean log-likelihood of the images so far.

        Returns:
            float64 array ``(n,)``; the test NLL is ``-log_likelihood(x).mean()``.

        Example:
            >>> model = build_pixelcnn((8, 8, 1), filters=8, blocks=1)
            >>> ll = model.log_likelihood(keras_ae.data.binarize(x_digits_test, seed=0))
            >>> ll.shape, ll.dtype, bool(np.all(ll < 0))
            ((64,), dtype('float64'), True)
        """
        if not isinstance(x, tf.data.Dataset):  # a dataset is checked batch by batch as it is read
            x = self.validate_images(x)
        batch_size = check_int(batch_size, "batch_size", minimum=1)
        verbose = check_verbose(verbose)
        if self._compiled_log_prob is None:
            spec = tf.TensorSpec((None, *self.image_shape), tf.float32)
            self._compiled_log_prob = tf.function(lambda b: self.log_prob(b, self(b, training=False)),
                                                  input_signature=[spec])
        target = example_count(x)
        # Stateful: shown as given. Progbar's own average ends on the last batch's value.
        bar = keras.utils.Progbar(target, verbose=verbose, unit_name="image", stateful_metrics=["log_likelihood"])
        out = []
        total, done = 0.0, 0
        data_spec = DataSpec(self.image_shape, (0.0, 1.0), "Scale 8-bit images to [0, 1] with x / 255.",
                             targets="ignored", levels=self.levels)
        for batch in iterate_batches(x, batch_size, data_spec, "x", where="log_likelihood"):
            out.append(self._compiled_log_prob(tf.cast(batch, tf.float32)).numpy().astype(np.float64))
            total, done = total + float(out[-1].sum()), done + len(out[-1])
            bar.update(done, values=[("log_likelihood", total / done)], finalize=False if target is None else None)
        if target is None and verbose:
            # An open-ended bar prints its final line only when told the stream has ended.
            bar.update(done, values=[("log_likelihood", total / max(done, 1))], finalize=True)
        return np.concatenate(out) if out else np.zeros(0, np.float64)

    def bits_per_dim(self, x, batch_size: int = 256, verbose: int = 0) -> np.ndarray:
        """Negative log-likelihood of each image in bits per dimension (pixel x channel).

        Args:
            x: Images the model can score, or a ``tf.data.Dataset`` of them (as for
                :meth:`log_likelihood`).
            batch_size: Images per forward pass, an int >= 1.
            verbose: 1 shows a progress bar (with the running mean log-likelihood in nats).

        Returns:
            float64 array ``(n,)``.

        Example:
            >>> model = build_pixelcnn((8, 8, 1), filters=8, blocks=1)
            >>> x = keras_ae.data.binarize(x_digits_test, seed=0)
            >>> np.allclose(model.bits_per_dim(x), -model.log_likelihood(x) / (64 * np.log(2)))
            True
        """
        return bits_per_dim(-self.log_likelihood(x, batch_size=batch_size, verbose=verbose), self.num_dims)

    # -- sampling ------------------------------------------------------------------------
    def _draw(self, logit, seed, index):
        """Samples pixel values from ``logit`` ((n,) or (n, levels)) with a stateless seed.

        Keyed by ``(seed, index)``: the compiled and the naive samplers draw the same numbers.
        """
        logit = tf.cast(logit, tf.float32)
        u = counter_uniform(tf.shape(logit), seed, index)
        if self.binary:
            return tf.cast(u < tf.sigmoid(logit), tf.float32)
        level = tf.argmax(logit - tf.math.log(-tf.math.log(u)), axis=-1)  # Gumbel-max
        # A lookup, not a division: graph rewrites of x / 255 could change the last bit.
        return tf.gather(np.arange(self.levels, dtype=np.float32) / (self.levels - 1), level)

    def _put(self, x, value, index):
        """Writes ``value`` ((n,)) at flat raster position ``index`` of images ``x``."""
        h, w, c = self.image_shape
        at = tf.reshape(tf.equal(tf.range(h * w * c), index), (1, h, w, c))
        return tf.where(at, tf.cast(value, x.dtype)[:, None, None, None], x)

    def _band(self, x, row):
        """The band of rows the pixels of ``row`` can see, and ``row``'s index in it."""
        h = self.image_shape[0]
        height = h if self.receptive_rows is None else min(h, self.receptive_rows + 1)
        if height == h:
            return x, row
        start = tf.clip_by_value(row - self.receptive_rows, 0, h - height)
        band = tf.slice(x, tf.stack([0, start, 0, 0]), tf.stack([tf.shape(x)[0], height, -1, -1]))
        return band, row - start

    def _begin_row(self, x, row):
        """Work shared by the pixels of ``row`` (nothing by default)."""
        return ()

    def _row_logits(self, x, row, cache):
        """Logits of every pixel of ``row`` given the current images ``x``: ``(n, w, c[, levels])``."""
        band, r = self._band(x, row)
        return tf.gather(self(band, training=False), r, axis=1)

    # Recurrent models (PixelRNN's Row LSTM) carry a state from row to row instead of
    # recomputing the rows above: these three hooks do nothing for the others.
    def _initial_row_state(self, x, first_row):
        """The state carried into row ``first_row`` (a nest of tensors; none by default)."""
        return ()

    def _begin_row_with_state(self, x, row, state):
        """``_begin_row`` given the state carried from the row above (ignored by default)."""
        return self._begin_row(x, row)

    def _end_row(self, x, row, cache, state):
        """The state carried into the next row, once ``row`` is drawn (unchanged by default)."""
        return state

    def _sample_loop(self, x, first_row, seed):
        h, w, c = self.image_shape

        def row_body(i, x, state):
            cache = self._begin_row_with_state(x, i, state)

            def pixel_body(j, x):
                for k in range(c):  # colours of one pixel, one after another
                    logit = tf.gather(self._row_logits(x, i, cache), j, axis=1)[:, k]
                    index = (i * w + j) * c + k
                    x = self._put(x, self._draw(logit, seed, index), index)
                return j + 1, x

            x = tf.while_loop(lambda j, _: j < w, pixel_body, (tf.constant(0), x))[1]
            return i + 1, x, self._end_row(x, i, cache, state)

        return tf.while_loop(lambda i, *_: i < h, row_body, (first_row, x, self._initial_row_state(x, first_row)))[1]

    def _sampler_seed(self, seed: int | None) -> int:
        """A validated int seed; ``None`` takes a fresh one from the model's random stream (as the VAE does)."""
        seed = check_seed(seed)
        if seed is None:
            pair = next_stateless_seed(self.seed_generator).numpy()
            seed = int(pair[0]) * 2**32 + int(pair[1])
        return seed

    @staticmethod
    def _batch_seed(seed: int, batch: int) -> int:
        return batch_seed(seed, batch)

    def _run_sampler(self, x, first_row: int, seed: int, batch_size: int, verbose: int,
                     jit_compile: bool) -> np.ndarray:
        if len(x) == 0:  # nothing to draw: skip tracing the sampler
            return np.zeros((0, *self.image_shape), np.float32)
        if self._compiled_sampler is None or self._compiled_sampler[0] != jit_compile:
            spec = [tf.TensorSpec((None, *self.image_shape), tf.float32), tf.TensorSpec((), tf.int32),
                    tf.TensorSpec((), tf.int64)]
            self._compiled_sampler = (jit_compile, tf.function(self._sample_loop, input_signature=spec,
                                                               jit_compile=jit_compile))
        fn = self._compiled_sampler[1]
        bar = keras.utils.Progbar(len(x), verbose=verbose, unit_name="image")
        out = []
        for b, start in enumerate(range(0, len(x), batch_size)):
            out.append(fn(tf.constant(x[start:start + batch_size]), tf.constant(first_row, tf.int32),
                          tf.constant(self._batch_seed(seed, b), tf.int64)).numpy())
            bar.add(len(out[-1]))
        return np.concatenate(out)

    def sample(self, n: int, seed: int | None = 0, batch_size: int = 256, verbose: int = 0,
               jit_compile: bool = True) -> np.ndarray:
        """Draws ``n`` images, one pixel (and colour) at a time, in one compiled loop.

        Args:
            n: Number of images, an int >= 0 (0 gives an empty ``(0, h, w, c)`` array); drawn
                in batches, refused when the result would exceed
                :data:`~keras_ae.validation.MAX_RESULT_BYTES` (1 GiB).
            seed: Any int; the same seed gives the same images. ``None`` draws a fresh
                seed from the model's random stream (new images on every call), as
                :meth:`VAE.sample <keras_ae.models.vae.VAE.sample>` does.
            batch_size: Images sampled in parallel, an int >= 1.
            verbose: 1 shows a progress bar over batches.
            jit_compile: Compile the loop with XLA.

        Returns:
            float32 images ``(n, h, w, c)`` with values ``level / (levels - 1)``.

        Example:
            >>> model = build_pixelcnn((8, 8, 1), filters=8, blocks=1)
            >>> images = model.sample(4, seed=0, jit_compile=False)
            >>> images.shape, np.unique(images)
            ((4, 8, 8, 1), array([0., 1.], dtype=float32))
        """
        # The starting images and the drawn ones: twice the result.
        n = check_count(n, "n", 2 * 4 * int(np.prod(self.image_shape)))
        batch_size = check_int(batch_size, "batch_size", minimum=1)
        verbose = check_verbose(verbose)
        seed = self._sampler_seed(seed)
        x = np.zeros((n, *self.image_shape), np.float32)
        return self._run_sampler(x, 0, seed, batch_size, verbose, jit_compile)

    def complete(self, x, rows_observed: int, seed: int | None = 0, batch_size: int = 256, verbose: int = 0,
                 jit_compile: bool = True) -> np.ndarray:
        """Image completion: keeps the top ``rows_observed`` rows and samples the rest.

        Args:
            x: Images ``(n, h, w, c)`` (rows from ``rows_observed`` on are ignored) or just
                their top rows ``(n, rows_observed, w, c)``.
            rows_observed: Number of observed rows, ``1 <= rows_observed <= h``.
            seed: Any int, or ``None`` for a fresh seed from the model's random stream.
            batch_size: Images completed in parallel, an int >= 1.
            verbose: 1 shows a progress bar.
            jit_compile: Compile the loop with XLA.

        Returns:
            float32 completed images ``(n, h, w, c)``.

        Raises:
            InputValidationError: if no pixel is observed (``rows_observed < 1``), for too
                many rows, or for images the model cannot score.

        Example:
            >>> model = build_pixelcnn((8, 8, 1), filters=8, blocks=1)
            >>> x = keras_ae.data.binarize(x_digits_test[:4], seed=0)
            >>> filled = model.complete(x, rows_observed=6, seed=0, jit_compile=False)
            >>> filled.shape, np.array_equal(filled[:, :6], x[:, :6])  # the observed rows are kept
            ((4, 8, 8, 1), True)
        """
        h = self.image_shape[0]
        rows_observed = check_int(rows_observed, "rows_observed")
        batch_size = check_int(batch_size, "batch_size", minimum=1)
        verbose = check_verbose(verbose)
        seed = self._sampler_seed(seed)
        if rows_observed < 1:
            raise InputValidationError(
                f"rows_observed={rows_observed}: a completion needs at least one observed row; "
                "use sample(n) to draw images from scratch."
            )
        if rows_observed > h:
            raise InputValidationError(f"rows_observed={rows_observed} exceeds the image height {h}.")
        arr = np.asarray(x)
        if arr.ndim >= 2 and rows_observed <= arr.shape[1] <= h:
            arr = arr[:, :rows_observed]  # the unobserved rows are ignored
        top = self.validate_images(arr, "x", rows=rows_observed)
        start = np.zeros((len(top), *self.image_shape), np.float32)
        start[:, :rows_observed] = top
        return self._run_sampler(start, rows_observed, seed, batch_size, verbose, jit_compile)

    def sample_naive(self, n: int, seed: int | None = 0, verbose: int = 0,
                     compiled_forward: bool = False) -> np.ndarray:
        """The baseline sampler: a Python loop over pixels calling the full model each time.

        Draws the same random numbers as :meth:`sample` (for one batch), so it returns the
        same images for the same seed; only slower. Kept for benchmarks and tests.

        Args:
            n: Number of images (one batch), an int in [0, 10,000] (:meth:`sample` draws more).
            seed: Any int, or ``None`` for a fresh seed from the model's random stream.
            verbose: 1 shows a progress bar over pixels.
            compiled_forward: Wrap the model call in ``tf.function`` (the loop stays in Python).

        Returns:
            float32 images ``(n, h, w, c)``.

        Example:
            >>> model = build_pixelcnn((8, 8, 1), filters=8, blocks=1)
            >>> slow = model.sample_naive(2, seed=0, compiled_forward=True)
            >>> np.array_equal(slow, model.sample(2, seed=0, jit_compile=False))
            True
        """
        n = check_count(n, "n", 4 * int(np.prod(self.image_shape)), maximum=MAX_SAMPLE_COUNT,
                        advice="sample_naive runs the whole network on one batch; sample() draws more in batches")
        verbose = check_verbose(verbose)
        seed = self._sampler_seed(seed)
        h, w, c = self.image_shape
        if n == 0:
            return np.zeros((0, h, w, c), np.float32)

        def forward(images):  # the full model on the full images
            return self(images, training=False)

        if compiled_forward:
            forward = tf.function(forward)
        x = tf.zeros((n, h, w, c))
        seed = tf.constant(self._batch_seed(seed, 0), tf.int64)  # batch 0's stream in sample()
        bar = keras.utils.Progbar(h * w * c, verbose=verbose, unit_name="pixel")
        for index in range(h * w * c):
            i, j, k = index // (w * c), (index // c) % w, index % c
            logit = forward(x)[:, i, j, k]
            x = self._put(x, self._draw(logit, seed, index), index)
            bar.add(1)
        return x.numpy()
