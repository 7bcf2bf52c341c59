"""The :class:`VQVAE` model (van den Oord et al. 2017): a discrete code and a PixelCNN prior over it.

``x -> encoder -> z_e (h', w', D) -> VectorQuantizer -> z_q -> decoder -> p(x | z_q)``. The
quantizer (:class:`~keras_ae.layers.vector_quantizer.VectorQuantizer`) replaces each vector
of ``z_e`` by its nearest of ``K`` code vectors; :meth:`VQVAE.encode` returns the code map
``(n, h', w')`` of integer indices, :meth:`VQVAE.decode` maps indices back to images. The
training loss per image is

    -log p(x | z_q) + beta ||z_e - sg(z_q)||^2   (+ ||sg(z_e) - z_q||^2 with codebook_update="loss"),

with the codebook moved by exponential moving averages by default. A gated PixelCNN over
the code maps (``levels=K``, one-hot inputs; :func:`~keras_ae.models.vqvae.builders.get_code_prior`)
is the prior: :meth:`VQVAE.fit_prior` trains it on the model's code maps, :meth:`VQVAE.sample`
draws code maps from it and decodes them, and :meth:`VQVAE.log_likelihood` is the bound

    log p(x) >= log p(x | z_q(x)) + log p_prior(z_q(x))

(a deterministic posterior puts all its mass on ``z_q(x)``: the ELBO's entropy term is 0).

This module holds the networks' wiring, the loss hook, the training step and encode / decode;
the prior (:mod:`~keras_ae.models.vqvae.prior`), the bound (:mod:`~keras_ae.models.vqvae.likelihood`)
and the export signatures (:mod:`~keras_ae.models.vqvae.serving`) come from mixins.
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from keras_ae.errors import InputValidationError
from keras_ae.layers.vector_quantizer import VectorQuantizer, global_sum, perplexity
from keras_ae.models.autoregressive import AutoregressiveModel
from keras_ae.models.base import AutoEncoder, LikelihoodAutoEncoder
from keras_ae.models.common import check_binary_data
from keras_ae.models.vqvae.likelihood import VQVAELikelihood
from keras_ae.models.vqvae.prior import VQVAEPrior
from keras_ae.models.vqvae.serving import VQVAEServing
from keras_ae.registry import register_family
from keras_ae.validation import check_bool, check_model_seed
from keras_ae.training import DataSpec
from keras_ae.training.batches import compiled, run_batches
from keras_ae.random import binarize_batch, next_stateless_seed
from keras_ae.replicas import nonempty_batch
from keras_ae.validation import check_array, check_choice, check_int

LIKELIHOODS = ("bernoulli", "gaussian")


@register_family("vqvae", serving_default="reconstruct")
class VQVAE(VQVAEPrior, VQVAELikelihood, VQVAEServing, LikelihoodAutoEncoder):
    """A vector-quantized auto-encoder with an optional PixelCNN prior over its code maps.

    Args:
        encoder: Keras model ``x -> z_e`` of shape ``(batch, h', w', code_dim)``.
        decoder: Keras model ``z_q (batch, h', w', code_dim) -> (batch, *input_shape)``:
            logits (Bernoulli) or means (Gaussian) of p(x|z_q).
        quantizer: A :class:`~keras_ae.layers.vector_quantizer.VectorQuantizer` with
            ``code_dim`` matching the encoder's output channels.
        prior: ``None`` or an :class:`~keras_ae.models.autoregressive.AutoregressiveModel`
            over ``(h', w', 1)`` maps with ``levels = num_codes`` (code ``k`` stored as
            ``k / (num_codes - 1)``), built by :func:`get_code_prior`.
        likelihood: ``"bernoulli"`` (binary data) or ``"gaussian"`` (a learned
            per-dimension standard deviation, as in the VAE).
        dynamic_binarization: Re-binarize [0, 1] inputs in every training step (Bernoulli).
        seed: Seed of the model's random stream (dynamic binarization).
        info: JSON-serializable facts saved with the model.

    Example:
        >>> model = build_vqvae((8, 8, 1), num_codes=8, code_dim=4, filters=(8,), prior=False)
        >>> model.encode(x_digits[:2]).shape  # a 4x4 map of code indices per image
        (2, 4, 4)

        Training reports the loss terms and the codebook usage; on MNIST (minutes of
        training, so not run here, see recipes/vqvae.py):

        ```python
        model = build_vqvae((28, 28, 1), num_codes=128, dynamic_binarization=True)
        model.compile(optimizer="adam")
        history = model.fit(x_train, epochs=20, batch_size=128)
        sorted(history.history)  # ['codes_in_use', 'commitment', 'dead_codes', 'loss', 'perplexity', 'reconstruction']
        model.fit_prior(keras_ae.data.binarize(x_train, seed=0), epochs=20)
        images = model.sample(100, seed=0)
        nll_bound = -model.log_likelihood(keras_ae.data.binarize(x_test, seed=0)).mean()
        ```
    """

    nested_config_keys = (*AutoEncoder.nested_config_keys, "quantizer", "prior")
    family_title = "VQ-VAE"
    # compile() without an optimizer: Adam at 1e-3 up to batch 128, its weights averaged over
    # ~100 steps (the prior is trained apart, by fit_prior, and never averaged). Gaussian VQ-VAE,
    # mnist10k, batch 128, seed 0, test squared error per image after 10 / 20 / 30 / 40 epochs
    # (recipes/vqvae_optimizer.py): no averaging at 1.41e-3 (the batch rule's rate), 3.50 / 3.23 / 3.05 /
    # 2.86, jittering +-0.15 (mean of epochs 31-40: 3.03); averaged at 1.41e-3, 3.65 / 2.67 / 2.48 /
    # 2.48; averaged at 1e-3, 3.24 / 2.35 / 2.11 / 2.06 (mean 2.09); averaged at 5e-4, 3.80 / 2.61 /
    # 2.22 / 2.04 (behind 1e-3 until epoch 40). The EMA codebook is its own average.
    default_ema_momentum = 0.99
    default_reference_batch = 128

    def __init__(self, encoder: keras.Model, decoder: keras.Model, quantizer: VectorQuantizer,
                 prior: AutoregressiveModel | None = None, likelihood: str = "bernoulli",
                 dynamic_binarization: bool = False, seed: int | None = None, info: dict | None = None, **kwargs: Any):
        likelihood = check_choice(likelihood, "likelihood", LIKELIHOODS)
        dynamic_binarization = check_bool(dynamic_binarization, "dynamic_binarization")
        seed = check_model_seed(seed)
        if dynamic_binarization and likelihood != "bernoulli":
            raise InputValidationError("dynamic_binarization needs likelihood='bernoulli'.")
        if not isinstance(quantizer, VectorQuantizer):
            raise InputValidationError(f"quantizer must be a VectorQuantizer layer, got {type(quantizer).__name__}.")
        if prior is not None and not isinstance(prior, AutoregressiveModel):
            raise InputValidationError(
                f"prior must be None or an autoregressive model over code maps (get_code_prior), got "
                f"{type(prior).__name__}.")
        # State is created in build() (AutoEncoder.__init__ ends by building; Keras then
        # locks the model's state), from plain settings stored first, as the VAE does.
        for key, value in dict(likelihood=likelihood, dynamic_binarization=bool(dynamic_binarization), seed=seed,
                               _quantizer_arg=quantizer, _prior_arg=prior).items():
            object.__setattr__(self, key, value)
        object.__setattr__(self, "_compiled", {})  # tf.functions of the inference methods
        super().__init__(encoder, decoder, info=info, **kwargs)

    def build(self, input_shape=None):
        self.quantizer = self.__dict__.pop("_quantizer_arg")
        self.prior = self.__dict__.pop("_prior_arg")
        self._check_submodels()
        if not self.quantizer.built:
            self.quantizer.build(self.encoder.output_shape)
        self.seed_generator = keras.random.SeedGenerator(self.seed, name="vqvae_seed")
        self._add_observation_scale()
        for name in ("commitment", *(("codebook",) if self.quantizer.codebook_update == "loss" else ()),
                     "perplexity", "codes_in_use", "dead_codes"):
            self.add_penalty_tracker(name)
        super().build(input_shape)

    def _check_submodels(self) -> None:
        out = tuple(self.encoder.output_shape[1:])
        if len(out) != 3 or out[-1] != self.quantizer.code_dim:
            raise InputValidationError(
                f"The encoder must output (batch, h', w', code_dim={self.quantizer.code_dim}) maps, got "
                f"(batch, {', '.join(map(str, out))}).")
        if tuple(self.decoder.input_shape[1:]) != out:
            raise InputValidationError(f"The decoder must take {out} code maps, got {self.decoder.input_shape[1:]}.")
        if tuple(self.decoder.output_shape[1:]) != self.example_shape:
            raise InputValidationError(
                f"The decoder outputs {self.decoder.output_shape[1:]} but the encoder takes {self.example_shape}.")
        if self.prior is not None:
            expected = (*self.code_map_shape, 1)
            if tuple(self.prior.image_shape) != expected or self.prior.levels != self.num_codes:
                raise InputValidationError(
                    f"The prior must model {expected} maps with levels=num_codes={self.num_codes}, got "
                    f"{tuple(self.prior.image_shape)} maps with levels={self.prior.levels}; build it with "
                    "get_code_prior(code_map_shape, num_codes).")

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(quantizer=keras.saving.serialize_keras_object(self.quantizer),
                      prior=None if self.prior is None else keras.saving.serialize_keras_object(self.prior),
                      likelihood=self.likelihood, dynamic_binarization=self.dynamic_binarization, seed=self.seed)
        return config

    @property
    def trainable_weights(self):
        """The auto-encoder's trainable weights; the prior trains on its own (:meth:`fit_prior`)."""
        weights = super().trainable_weights
        if self.prior is None:
            return weights
        prior = {id(w) for w in self.prior.weights}
        return [w for w in weights if id(w) not in prior]

    @property
    def trainable_variables(self):
        return self.trainable_weights

    # -- shapes ------------------------------------------------------------------------
    @property
    def num_codes(self) -> int:
        """Codebook size K."""
        return self.quantizer.num_codes

    @property
    def num_classes(self) -> int | None:
        """The classes ``K`` of a class-conditional prior, else ``None`` (the auto-encoder is unconditional)."""
        return None if self.prior is None else getattr(self.prior, "num_classes", None)

    @property
    def conditional(self) -> bool:
        """Whether the prior is class-conditional (``sample`` then takes ``labels``)."""
        return self.num_classes is not None

    @property
    def code_map_shape(self) -> tuple[int, int]:
        """``(h', w')``: code indices per image."""
        return tuple(self.encoder.output_shape[1:3])

    @property
    def code_shape(self) -> tuple[int, ...]:
        return self.code_map_shape

    # -- the networks ----------------------------------------------------------------
    def _decoder_output(self, z_q, training: bool = False) -> tf.Tensor:
        return tf.cast(self.decoder(z_q, training=training), tf.float32)

    def _mean(self, out: tf.Tensor) -> tf.Tensor:
        return tf.sigmoid(out) if self.likelihood == "bernoulli" else out

    def data_log_prob(self, out: tf.Tensor, x: tf.Tensor) -> tf.Tensor:
        """``log p(x | z_q)`` per example (summed over data dimensions) from the decoder's output."""
        x = tf.cast(x, tf.float32)
        axes = list(range(1, len(x.shape)))
        if self.likelihood == "bernoulli":
            return tf.reduce_sum(x * out - tf.nn.softplus(out), axes)
        scale = self.observation_stddev()
        log_p = -0.5 * tf.square((x - out) / scale) - tf.math.log(scale) - 0.5 * math.log(2 * math.pi)
        return tf.reduce_sum(log_p, axes)

    def call(self, inputs, training: bool = False):
        """Mean of p(x | z_q(x)): the reconstruction through the quantized code."""
        z_e = self.encoder(inputs, training=training)
        return self._mean(self._decoder_output(self.quantizer(z_e), training=training))

    # -- training ----------------------------------------------------------------------
    def _binarize(self, x: tf.Tensor) -> tf.Tensor:
        return binarize_batch(x, next_stateless_seed(self.seed_generator))

    def compute_losses(self, x, target=None, training: bool = False,
                       forward: dict | None = None) -> dict[str, tf.Tensor]:
        """Loss terms of one batch (float32, per image): ``loss``, ``reconstruction`` (nats), ``commitment``
        (and ``codebook`` when the codebook learns by its loss).

        Args:
            x: Images (binary for a Bernoulli likelihood); ``target`` is unused (the images are the targets).
            training: Run the networks in training mode.
            forward: A dict that receives the encoder's output ``z_e`` and the code ``indices``,
                which the codebook update and the usage counts of ``train_step`` / ``test_step`` read.
        """
        z_e = tf.cast(self.encoder(x, training=training), tf.float32)
        indices, z_q = self.quantizer.discretize(z_e)
        out = self._decoder_output(VectorQuantizer.straight_through(z_e, z_q), training=training)
        terms = {"reconstruction": -tf.reduce_mean(self.data_log_prob(out, x))}
        terms.update({k: tf.reduce_mean(v) for k, v in self.quantizer.loss_terms(z_e, z_q).items()})
        total = terms["reconstruction"] + self.quantizer.beta * terms["commitment"] + terms.get("codebook", 0.0)
        if self.losses:  # layer regularizers of custom encoders / decoders
            total = total + tf.add_n([tf.cast(penalty, tf.float32) for penalty in self.losses])
        if forward is not None:
            forward.update(z_e=z_e, indices=indices)
        return {"loss": total, **terms}

    def train_step(self, data):
        x, _, batch = nonempty_batch(*keras.utils.unpack_x_y_sample_weight(data)[:2])
        x = tf.cast(x, tf.float32)
        if self.dynamic_binarization:
            x = self._binarize(x)
        weights = tf.cast(tf.range(tf.shape(x)[0]) < tf.cast(batch, tf.int32), tf.float32)  # 0: padding
        forward = {}
        self.minimize(lambda: self.compute_losses(x, training=True, forward=forward), batch)
        return self.update_trackers(self.quantizer.update(forward["z_e"], forward["indices"], weights), batch)

    def test_step(self, data):
        x, _, batch = nonempty_batch(*keras.utils.unpack_x_y_sample_weight(data)[:2])
        forward = {}
        terms = self.compute_losses(tf.cast(x, tf.float32), training=False, forward=forward)
        indices = forward["indices"]
        weights = tf.cast(tf.range(tf.shape(indices)[0]) < tf.cast(batch, tf.int32), tf.float32)
        counts = global_sum(self.quantizer.code_counts(indices, weights))
        return self.update_trackers({**terms, **self.quantizer.usage_terms(counts)}, batch)

    # -- validation --------------------------------------------------------------------
    _range_hint = "Scale images to [0, 1] (e.g. x / 255) or build the VQ-VAE with likelihood='gaussian'."

    def validate_inputs(self, x, name: str = "x", purpose: str = "fit") -> np.ndarray:
        """Checks shape, dtype, NaN/inf and range; binarity where a Bernoulli likelihood scores the data.

        Args:
            x: Examples.
            name: Name used in error messages.
            purpose: ``"fit"`` (binary unless ``dynamic_binarization``), ``"evaluate"``
                (likelihoods: binary) or ``"encode"`` (any data in range).

        Example:
            >>> model = build_vqvae((8, 8, 1), num_codes=8, code_dim=2, filters=(4,), prior=False)
            >>> model.validate_inputs(x_digits[:2], purpose="evaluate")
            Traceback (most recent call last):
            ...
            InputValidationError: `x` is not binary (...% of values are neither 0 nor 1) but the VQ-VAE has a
            Bernoulli likelihood; binarize it once with keras_ae.data.binarize(x, seed=0) (fixed evaluation ...
        """
        x = check_array(x, name, expected_shape=self.example_shape, value_range=self.input_range,
                        range_hint=self._range_hint)
        if self.likelihood == "bernoulli":
            check_binary_data(x, name, purpose, self.dynamic_binarization, "VQ-VAE")
        return x

    def check_data(self, x, y, names, training: bool):
        """``fit``/``evaluate`` hook: images only (``y`` is refused by ``fit``: ``data_spec`` has no targets)."""
        return self.validate_inputs(x, names[0], purpose="fit" if training else "evaluate"), None

    def data_spec(self, training: bool) -> DataSpec:
        """``fit``/``evaluate`` hook: batches of images alone (the model reconstructs them), binary for
        a Bernoulli likelihood unless dynamic binarization."""
        binary = self.likelihood == "bernoulli" and not (training and self.dynamic_binarization)
        return DataSpec(self.example_shape, self.input_range, self._range_hint, levels=2 if binary else None)

    def _inference_spec(self, purpose: str) -> DataSpec:
        binary = purpose == "evaluate" and self.likelihood == "bernoulli"
        return DataSpec(self.example_shape, self.input_range, self._range_hint, targets="ignored",
                        levels=2 if binary else None)

    def check_indices(self, indices, name: str = "indices") -> np.ndarray:
        """Code maps ``(n, h', w')`` of integers in ``[0, num_codes)`` as int32; refuses anything else.

        Example:
            >>> model = build_vqvae((8, 8, 1), num_codes=8, code_dim=2, filters=(4,), prior=False)
            >>> model.check_indices(np.full((1, 4, 4), 8))
            Traceback (most recent call last):
            ...
            keras_ae.errors.InputValidationError: `indices` holds codes in [8, 8]; this VQ-VAE has codes 0..7.
        """
        arr = np.asarray(indices)
        if arr.ndim != 3 or tuple(arr.shape[1:]) != self.code_map_shape:
            raise InputValidationError(
                f"`{name}` has shape {arr.shape}; expected code maps (n, {', '.join(map(str, self.code_map_shape))}).")
        whole_floats = (np.issubdtype(arr.dtype, np.floating)
                        and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)))
        if not (np.issubdtype(arr.dtype, np.integer) or whole_floats):
            raise InputValidationError(f"`{name}` must hold integer code indices, got dtype {arr.dtype}.")
        if arr.size and (arr.min() < 0 or arr.max() >= self.num_codes):
            raise InputValidationError(
                f"`{name}` holds codes in [{arr.min():g}, {arr.max():g}]; "
                f"this VQ-VAE has codes 0..{self.num_codes - 1}.")
        return arr.astype(np.int32)

    # -- inference ---------------------------------------------------------------------
    def _batched(self, key: str, fn, spec, data, batch_size: int, verbose: int = 0, purpose: str = "encode",
                 where: str | None = None):
        """``fn`` over checked arrays, or over a ``tf.data`` dataset read batch by batch and checked
        like the AutoEncoder's streamed ``encode`` (``_inference_spec(purpose)``, labels dropped;
        a failed batch check names ``where``, by default ``key``)."""
        return run_batches(compiled(self._compiled, key, fn, spec), data, batch_size, self._inference_spec(purpose),
                           where or key, spec[0].dtype, verbose)

    def _checked_images(self, x, purpose: str):
        """Arrays checked whole now; a dataset passes through (checked batch by batch in :meth:`_batched`)."""
        return x if isinstance(x, tf.data.Dataset) else self.validate_inputs(x, purpose=purpose)

    def _image_spec(self):
        return [tf.TensorSpec((None, *self.example_shape), tf.float32)]

    def encode(self, x, batch_size: int = 256) -> np.ndarray:
        """Code maps of ``x``: int32 indices ``(n, h', w')`` of the nearest codes.

        Args:
            x: Images ``(n, *input_shape)``, or a ``tf.data.Dataset`` of them (``x`` or
                ``(x, y)``, labels ignored; batched or not), read one batch at a time and
                checked like arrays.
            batch_size: Images per compiled step (for arrays and unbatched datasets).

        Example:
            >>> model = build_vqvae((8, 8, 1), num_codes=8, code_dim=2, filters=(4,), prior=False)
            >>> codes = model.encode(x_digits[:3])
            >>> codes.shape, codes.dtype, bool(codes.max() < 8)
            ((3, 4, 4), dtype('int32'), True)
        """
        x = self._checked_images(x, "encode")
        batch_size = check_int(batch_size, "batch_size", minimum=1)
        out = self._batched("encode", lambda b: self.quantizer.nearest(self.encoder(b, training=False)),
                            self._image_spec(), x, batch_size)
        return np.zeros((0, *self.code_map_shape), np.int32) if out is None else out

    def codes(self, x, batch_size: int = 256, kind: str = "indices") -> np.ndarray:
        """The codes of ``x`` as a NumPy array: code indices (what :meth:`encode` returns), or their vectors.

        Args:
            x: Images, or a ``tf.data.Dataset`` of them (as for :meth:`encode`).
            batch_size: Images per compiled step (for arrays and unbatched datasets).
            kind: ``"indices"``: int32 ``(n, h', w')`` indices of the nearest codes (what
                :meth:`decode` and the prior take); ``"embeddings"``: float32
                ``(n, h', w', code_dim)``, the codebook vectors z_q the decoder sees.

        Returns:
            The codes, int32 indices or float32 embeddings.

        Example:
            >>> model = build_vqvae((8, 8, 1), num_codes=8, code_dim=2, filters=(4,), prior=False)
            >>> model.codes(x_digits[:3]).shape, model.codes(x_digits[:3], kind="embeddings").shape
            ((3, 4, 4), (3, 4, 4, 2))
        """
        kind = check_choice(kind, "kind", ("indices", "embeddings"))
        if kind == "indices":
            return self.encode(x, batch_size)
        x = self._checked_images(x, "encode")
        batch_size = check_int(batch_size, "batch_size", minimum=1)
        out = self._batched("codes_embeddings", lambda b: self.quantizer.discretize(self.encoder(b, training=False))[1],
                            self._image_spec(), x, batch_size, where="codes")
        return np.zeros((0, *self.code_map_shape, self.quantizer.code_dim), np.float32) if out is None else out

    def decode(self, indices, batch_size: int = 256) -> np.ndarray:
        """Images (means of p(x | z_q)) of code maps ``(n, h', w')`` of integer indices.

        Example:
            >>> model = build_vqvae((8, 8, 1), num_codes=8, code_dim=2, filters=(4,), prior=False)
            >>> model.decode(np.zeros((2, 4, 4), "int32")).shape
            (2, 8, 8, 1)
        """
        indices = self.check_indices(indices)
        batch_size = check_int(batch_size, "batch_size", minimum=1)
        spec = [tf.TensorSpec((None, *self.code_map_shape), tf.int32)]
        out = self._batched("decode", self._decode_indices, spec, indices, batch_size)
        return np.zeros((0, *self.example_shape), np.float32) if out is None else out

    def _decode_indices(self, indices) -> tf.Tensor:
        return self._mean(self._decoder_output(self.quantizer.lookup(indices)))

    def reconstruct(self, x, batch_size: int = 256) -> np.ndarray:
        """Means of p(x | z_q(x)) (deterministic).

        Example:
            >>> model = build_vqvae((8, 8, 1), num_codes=8, code_dim=2, filters=(4,), prior=False)
            >>> model.reconstruct(x_digits[:3]).shape
            (3, 8, 8, 1)
        """
        x = self._checked_images(x, "encode")
        batch_size = check_int(batch_size, "batch_size", minimum=1)
        out = self._batched("reconstruct", lambda b: self(b, training=False), self._image_spec(), x, batch_size)
        return np.zeros((0, *self.example_shape), np.float32) if out is None else out

    def code_maps(self, x, batch_size: int = 256) -> np.ndarray:
        """The prior's view of ``x``: code maps as images ``index / (num_codes - 1)``, float32 ``(n, h', w', 1)``."""
        return (self.encode(x, batch_size)[..., None] / (self.num_codes - 1)).astype(np.float32)

    def codebook_usage(self, x, batch_size: int = 256) -> dict:
        """How ``x`` uses the codebook: ``counts`` per code, ``perplexity``, ``codes_in_use`` (a fraction).

        Example:
            >>> model = build_vqvae((8, 8, 1), num_codes=8, code_dim=2, filters=(4,), prior=False)
            >>> usage = model.codebook_usage(x_digits)
            >>> int(usage["counts"].sum()), 1.0 <= usage["perplexity"] <= 8
            (4096, True)
        """
        counts = np.bincount(self.encode(x, batch_size).ravel(), minlength=self.num_codes).astype(np.float64)
        return {"counts": counts, "perplexity": float(perplexity(tf.constant(counts))),
                "codes_in_use": float(np.mean(counts > 0))}


__all__ = ["LIKELIHOODS", "VQVAE"]
