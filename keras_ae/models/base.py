"""The auto-encoder base model shared by every keras_ae auto-encoder.

``AutoEncoder`` is a thin ``keras.Model`` subclass around two named sub-models,
``encoder`` and ``decoder``. It owns the reconstruction loss, so users train on
unlabelled data with ``model.fit(x)``; denoising, sparsity and contraction plug in as
a corruption layer and penalty hooks instead of separate training loops.
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from keras_ae.data.corruption import Corruption
from keras_ae.errors import InputValidationError
from keras_ae.export.endpoints import (ExportOptions, data_name, describe_data, image_endpoints, make_endpoint,
                                       tensor_spec)
from keras_ae.models.reconstruction import (RECONSTRUCTION_LOSSES, STANDARDIZE, UNSTANDARDIZE, reconstruction_loss,
                                           standardization_moments, standardization_of, take_fixed_settings)
from keras_ae.models.serialization import from_nested_config
from keras_ae.registry import register_family
from keras_ae.training import DataSpec, Trainer
from keras_ae.training.batches import checked_batches, input_errors
from keras_ae.training.defaults import dense_macs_per_example
from keras_ae.replicas import nonempty_batch
from keras_ae.validation import check_array, check_choice, check_int


@register_family("autoencoder", serving_default="reconstruct")
class AutoEncoder(Trainer, keras.Model):
    """An auto-encoder ``decoder(encoder(x))`` trained to reconstruct its input.

    Args:
        encoder: A Keras model mapping inputs to codes (kept as ``self.encoder``).
        decoder: A Keras model mapping codes to reconstructions (``self.decoder``).
        loss: ``"bce"`` for data in [0, 1] with a sigmoid output, ``"mse"`` otherwise.
        corruption: Optional :class:`~keras_ae.data.Corruption` applied to the input
            during training only (a denoising auto-encoder); targets stay clean.
        sparsity_l1: Weight of the L1 penalty on the code, ``l1 * mean_i sum_j |h_ij|``.
        info: JSON-serializable facts kept with the model (dataset, metrics, ...).

    Example:
        >>> model = build_dense_ae((8, 8, 1), hidden=(32,), code_dim=8)
        >>> model.compile(optimizer="adam")
        >>> history = model.fit(x_digits, epochs=1, verbose=0)
        >>> model.encode(x_digits[:3]).shape
        (3, 8)
    """

    # Config keys holding serialized Keras objects (rebuilt by from_config).
    nested_config_keys = ("encoder", "decoder", "corruption")
    loss_refusal = ("AutoEncoder models own their reconstruction loss; build them with "
                    "loss='mse' or loss='bce' instead of passing loss= to compile().")

    def __init__(
        self,
        encoder: keras.Model,
        decoder: keras.Model,
        loss: str = "bce",
        corruption: Corruption | None = None,
        sparsity_l1: float = 0.0,
        info: dict | None = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder
        self.loss_kind = check_choice(loss, "reconstruction loss", RECONSTRUCTION_LOSSES)
        self.corruption = corruption
        self._check_standardization()
        if not np.isfinite(sparsity_l1) or sparsity_l1 < 0:
            raise InputValidationError(f"sparsity_l1 must be >= 0, got {sparsity_l1}.")
        self.sparsity_l1 = float(sparsity_l1)
        # A plain dict (not tracked by Keras): JSON facts saved in the config.
        object.__setattr__(self, "info", dict(info or {}))
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction")
        self.penalty_trackers: dict[str, keras.metrics.Mean] = {}
        if self.sparsity_l1 > 0:
            self.add_penalty_tracker("sparsity")
        self.build(encoder.input_shape)

    # -- configuration ---------------------------------------------------------------
    def get_config(self) -> dict:
        config = super().get_config()  # name, trainable, dtype (policy)
        config.update({
            "encoder": keras.saving.serialize_keras_object(self.encoder),
            "decoder": keras.saving.serialize_keras_object(self.decoder),
            "loss": self.loss_kind,
            "corruption": keras.saving.serialize_keras_object(self.corruption) if self.corruption is not None else None,
            "sparsity_l1": self.sparsity_l1,
            "info": self.info,
        })
        return config

    @classmethod
    def from_config(cls, config: dict, custom_objects=None):
        return from_nested_config(cls, config, cls.nested_config_keys, custom_objects)

    def _check_standardization(self) -> None:
        """Standardized models pair the encoder's ``standardize`` with the decoder's ``unstandardize``
        and train on the squared error of standardized values."""
        forward = standardization_of(self.encoder, STANDARDIZE)
        inverse = standardization_of(self.decoder, UNSTANDARDIZE)
        if forward is None and inverse is None:
            return
        if forward is None or inverse is None:
            has, lacks = (("encoder", "decoder") if inverse is None else ("decoder", "encoder"))
            raise InputValidationError(
                f"The {has} has a {(STANDARDIZE if inverse is None else UNSTANDARDIZE)!r} layer but the {lacks} lacks "
                f"its counterpart; build both with standardize=x_train (build_dense_ae, build_vae).")
        if any(not np.allclose(np.asarray(a), np.asarray(b)) for a, b in
               ((forward.mean, inverse.mean), (forward.variance, inverse.variance))):
            raise InputValidationError("The encoder's 'standardize' and the decoder's 'unstandardize' layers hold "
                                       "different means or variances; adapt both on the same rows.")
        if self.loss_kind != "mse":
            raise InputValidationError(
                "This model standardizes its inputs (the encoder starts with a 'standardize' layer), so it trains on "
                f"the squared error of standardized values: it needs loss='mse' (likelihood='gaussian' for a VAE), "
                f"not the [0, 1] loss {self.loss_kind!r}.")

    @property
    def standardization(self) -> keras.layers.Normalization | None:
        """The encoder's ``standardize`` layer when the model takes raw table rows, else ``None``."""
        return standardization_of(self.encoder, STANDARDIZE)

    def standardized(self, x) -> tf.Tensor:
        """``x`` (raw rows or reconstructions) in the units of the loss, float32: standardized
        with the encoder's statistics when the model has them, else unchanged.

        Args:
            x: Rows ``(..., columns)`` in raw units (a tensor or an array).

        Returns:
            A float32 tensor of the same shape.

        Example:
            >>> model = build_dense_ae((2,), hidden=(4,), code_dim=1, loss="mse",
            ...                        standardize=np.array([[0.0, 1.0], [2.0, 5.0]]))
            >>> model.standardized(np.array([[1.0, 5.0]], "float32")).numpy().tolist()
            [[0.0, 1.0]]
        """
        x = tf.cast(x, tf.float32)
        layer = self.standardization
        if layer is None:
            return x
        mean, stddev = standardization_moments(layer)
        return (x - mean) / stddev

    def build(self, input_shape=None):
        # Encoder and decoder are functional models, already built at construction time;
        # marking the wrapper built lets users count_params()/summary() before fit.
        self.built = True

    # -- model API -------------------------------------------------------------------
    @property
    def example_shape(self) -> tuple[int | None, ...]:
        """Shape of one input example (without the batch axis)."""
        return tuple(self.encoder.input_shape[1:])

    @property
    def code_shape(self) -> tuple[int | None, ...]:
        """Shape of one code (without the batch axis)."""
        return tuple(self.encoder.output_shape[1:])

    def call(self, inputs, training=False):
        x = self.corruption(inputs, training=training) if self.corruption is not None else inputs
        return self.decoder(self.encoder(x, training=training), training=training)

    def codes(self, x, batch_size: int = 256) -> np.ndarray:
        """One deterministic code per example, as a NumPy array: the code API of every family.

        The auto-encoder's code is the encoder's output (no corruption; :meth:`encode`
        returns the same array). The VAEs return the posterior mean, the VQ-VAE its code
        indices (or embeddings), RealNVP its latent: callers never check the returned type.

        Args:
            x: Examples ``(n, *input_shape)``, or a ``tf.data.Dataset`` of them (``x`` or
                ``(x, y)``, labels ignored; unbatched datasets are batched with
                ``batch_size``), read one batch at a time and checked like arrays.
            batch_size: Examples per forward pass (for arrays and unbatched datasets).

        Returns:
            Float32 codes ``(n, *code_shape)``.

        Example:
            >>> model = build_dense_ae((8, 8, 1), hidden=(16,), code_dim=4)
            >>> model.codes(x_digits[:3]).shape
            (3, 4)
            >>> model.codes(tf.data.Dataset.from_tensor_slices(x_digits[:3])).shape  # streamed
            (3, 4)
        """
        batch_size = check_int(batch_size, "batch_size", minimum=1)
        if isinstance(x, tf.data.Dataset):
            return self._predict_stream(self.encoder, x, self._inference_spec("encode"), batch_size, "codes")
        return self.encoder.predict(self.validate_inputs(x), batch_size=batch_size, verbose=0)

    def encode(self, x, batch_size: int = 256) -> np.ndarray:
        """Codes of ``x`` (no corruption): the array :meth:`codes` returns, with the same arguments.

        Example:
            >>> model = build_dense_ae((8, 8, 1), hidden=(16,), code_dim=4)
            >>> model.encode(x_digits[:3]).shape
            (3, 4)
        """
        return AutoEncoder.codes(self, x, batch_size)

    def decode(self, codes, batch_size: int = 256) -> np.ndarray:
        """Reconstructions from codes.

        Args:
            codes: Codes ``(n, *code_shape)``, or a ``tf.data.Dataset`` of them (batched
                or not, read one batch at a time).
            batch_size: Codes per forward pass.

        Example:
            >>> model = build_dense_ae((8, 8, 1), hidden=(16,), code_dim=4)
            >>> model.decode(np.zeros((3, 4))).shape
            (3, 8, 8, 1)
        """
        batch_size = check_int(batch_size, "batch_size", minimum=1)
        if isinstance(codes, tf.data.Dataset):
            return self._predict_stream(self.decoder, codes, DataSpec(self.code_shape), batch_size, "decode", "codes")
        codes = check_array(codes, "codes", expected_shape=self.code_shape)
        return self.decoder.predict(codes, batch_size=batch_size, verbose=0)

    def reconstruct(self, x, batch_size: int = 256) -> np.ndarray:
        """Reconstructions of ``x`` (for a denoiser: the denoised images).

        Args:
            x: Examples, or a ``tf.data.Dataset`` of them (as for :meth:`encode`).
            batch_size: Examples per forward pass.

        Example:
            >>> model = build_dense_ae((8, 8, 1), hidden=(16,), code_dim=4)
            >>> model.reconstruct(x_digits[:3]).shape
            (3, 8, 8, 1)
        """
        batch_size = check_int(batch_size, "batch_size", minimum=1)
        if isinstance(x, tf.data.Dataset):
            return self._predict_stream(self, x, self._inference_spec("encode"), batch_size, "reconstruct")
        return self.predict(self.validate_inputs(x), batch_size=batch_size, verbose=0)

    # -- streaming inference -------------------------------------------------------------
    def _inference_spec(self, purpose: str) -> DataSpec:
        """What a dataset fed to an inference method must hold (``purpose``: "encode" or "evaluate")."""
        return self.data_spec(training=False)

    @staticmethod
    def _predict_stream(model: keras.Model, dataset: tf.data.Dataset, spec: DataSpec, batch_size: int, where: str,
                        name: str = "x") -> np.ndarray:
        """``model.predict`` over a checked dataset: Keras reads it batch by batch, keeping only the outputs."""
        batches = checked_batches(dataset, spec, name, batch_size)
        with input_errors(where):
            return model.predict(batches, verbose=0)

    def export_for_serving(self, name: str, base_dir: str = "saved_models", **kwargs):
        """Exports a TF Serving SavedModel to ``base_dir/name/<version>/``.

        See :func:`keras_ae.export.export` for the signatures and options.

        Example:
            ```python
            model.export_for_serving("digits_denoiser")  # -> PosixPath('saved_models/digits_denoiser/1')
            ```
        """
        from keras_ae.export import export  # the exporter needs the model, not the other way round

        return export(self, name, base_dir=base_dir, **kwargs)

    # -- serving: the export signatures of the family ----------------------------------
    def serving_endpoints(self, options: ExportOptions) -> list:
        """``reconstruct``, ``encode``, ``decode``, ``denoise`` (denoisers) and ``*_uint8``
        twins of the image signatures for [0, 1] data (see :mod:`keras_ae.export`).

        Example:
            >>> from keras_ae.export import ExportOptions
            >>> [e.name for e in build_dense_ae((8, 8, 1), hidden=(8,), code_dim=2).serving_endpoints(ExportOptions())]
            ['reconstruct', 'encode', 'decode', 'reconstruct_uint8', 'encode_uint8']
        """
        x = data_name(self.example_shape)

        def reconstruct(**inputs):
            return {"reconstruction": self(inputs[x], training=False)}  # corruption is off at inference

        def denoise(**inputs):
            return {"denoised": self(inputs[x], training=False)}

        def encode(**inputs):
            return {"code": self.encoder(inputs[x], training=False)}

        def decode(code):
            return {x: self.decoder(code, training=False)}

        functions = [("reconstruct", reconstruct, ["reconstruction"],
                      f"{x} -> reconstruction (the auto-encoder's output)"),
                     ("encode", encode, [], f"{x} -> code")]
        if self.corruption is not None:
            functions.append(("denoise", denoise, ["denoised"], f"noisy {x} -> denoised {x}"))
        decoder = make_endpoint("decode", decode, {"code": tensor_spec(self.code_shape, "code")}, f"code -> {x}")
        return image_endpoints(x, self.example_shape, self.input_range, options, functions, [decoder])

    def serving_metadata(self) -> dict:
        """Facts recorded in an export's metadata: input, code, loss, corruption."""
        corruption = self.corruption
        return {
            "input": describe_data(data_name(self.example_shape), self.example_shape, self.input_range),
            "code_shape": [None, *self.code_shape],
            "code_size": int(np.prod(self.code_shape)),
            "reconstruction_loss": self.loss_kind,
            "denoiser": corruption is not None,
            "corruption": None if corruption is None else {"noise": corruption.noise, "level": corruption.level,
                                                           "clip": list(corruption.clip) if corruption.clip else None},
        }

    # -- validation at the boundary -------------------------------------------------
    @property
    def input_range(self) -> tuple[float, float] | None:
        """Value range the data must lie in (``(0, 1)`` for cross-entropy models)."""
        return (0.0, 1.0) if self.loss_kind == "bce" else None

    _range_hint = "Scale images to [0, 1] (e.g. x / 255) or build the model with loss='mse'."

    def validate_inputs(self, x, name: str = "x") -> np.ndarray:
        """Checks shape, dtype, NaN/inf and range of NumPy inputs; returns float32.

        Example:
            >>> build_dense_ae((4,), hidden=(4,), code_dim=2).validate_inputs(np.zeros((2, 4))).dtype
            dtype('float32')
        """
        return check_array(x, name, expected_shape=self.example_shape, value_range=self.input_range,
                           range_hint=self._range_hint)

    def check_data(self, x, y, names, training: bool):
        """``fit``/``evaluate`` hook: ``x`` and the optional clean targets ``y`` as float32."""
        return self.validate_inputs(x, names[0]), (None if y is None else self.validate_inputs(y, names[1]))

    def data_spec(self, training: bool) -> DataSpec:
        """``fit``/``evaluate`` hook: batches of ``x`` or ``(x, clean targets)``."""
        return DataSpec(self.example_shape, self.input_range, self._range_hint, targets="same")

    def xla_macs_per_example(self) -> int | None:
        """Multiply-adds per example if this is a plain dense auto-encoder (the XLA policy's
        question, :func:`keras_ae.training.defaults.prefers_xla`), else ``None``: models
        with their own losses or penalties, random corruption (Keras' random ops are slow
        under XLA on CPU) or convolutions keep Keras' choice."""
        if type(self).compute_losses is not AutoEncoder.compute_losses or \
                type(self).compute_penalties is not AutoEncoder.compute_penalties or self.corruption is not None:
            return None
        return dense_macs_per_example(self.encoder, self.decoder)

    # -- training ----------------------------------------------------------------------
    def add_penalty_tracker(self, name: str) -> None:
        """Registers a ``Mean`` tracker for a penalty term reported in ``fit``'s history."""
        self.penalty_trackers[name] = keras.metrics.Mean(name=name)

    @property
    def metrics(self):
        return [self.loss_tracker, self.reconstruction_tracker, *self.penalty_trackers.values()]

    def compute_penalties(self, inputs, code, training: bool = False) -> dict[str, tf.Tensor]:
        """Penalty terms added to the reconstruction loss (scalar float32 batch means).

        Subclasses extend this (e.g. the contractive penalty). ``inputs`` is what the
        encoder saw (the corrupted input for a denoiser).
        """
        penalties = {}
        if self.sparsity_l1 > 0:
            code32 = tf.cast(tf.reshape(code, [tf.shape(code)[0], -1]), tf.float32)
            penalties["sparsity"] = self.sparsity_l1 * tf.reduce_mean(tf.reduce_sum(tf.abs(code32), axis=1))
        return penalties

    def compute_losses(self, x, target, training: bool = False) -> dict[str, tf.Tensor]:
        """All loss terms of one batch: ``loss`` (the total), ``reconstruction``, penalties."""
        inputs = self.corruption(x, training=training) if self.corruption is not None else x
        code = self.encoder(inputs, training=training)
        output = self.decoder(code, training=training)
        # A standardized model compares standardized values: every column counts equally.
        rec = tf.reduce_mean(reconstruction_loss(self.standardized(target), self.standardized(output), self.loss_kind))
        terms = {"reconstruction": rec, **self.compute_penalties(inputs, code, training)}
        total = tf.add_n(list(terms.values()))
        if self.losses:  # layer regularizers (e.g. kernel_regularizer on a custom encoder)
            total = total + tf.add_n([tf.cast(penalty, tf.float32) for penalty in self.losses])
        return {"loss": total, **terms}

    def train_step(self, data):
        # Under tf.distribute an empty replica batch becomes one example weighted 0.
        x, y, batch = nonempty_batch(*keras.utils.unpack_x_y_sample_weight(data)[:2])
        target = x if y is None else y
        return self.minimize(lambda: self.compute_losses(x, target, training=True), batch)

    def test_step(self, data):
        x, y, batch = nonempty_batch(*keras.utils.unpack_x_y_sample_weight(data)[:2])
        terms = self.compute_losses(x, x if y is None else y, training=False)
        return self.update_trackers(terms, batch)


class LikelihoodAutoEncoder(AutoEncoder):
    """The base of the auto-encoders whose likelihood fixes the reconstruction loss (the VAE, the VQ-VAE).

    A subclass checks its arguments and stores its plain settings (``likelihood`` among them)
    before calling this ``__init__``, and creates its state in ``build``: Keras locks a
    model's state once it is built, and :class:`AutoEncoder` ends by building it. A Gaussian
    likelihood learns one standard deviation per data dimension (:meth:`observation_stddev`).

    Example:
        >>> vae = build_vae((8, 8, 1), latent_dim=2, hidden=(8,), likelihood="gaussian")
        >>> isinstance(vae, LikelihoodAutoEncoder), vae.loss_kind, vae.observation_stddev().shape
        (True, 'mse', TensorShape([8, 8, 1]))
    """

    likelihood: str
    family_title = "auto-encoder"  # the family's name in messages ("VAE")

    def __init__(self, encoder: keras.Model, decoder: keras.Model, info: dict | None = None, **kwargs: Any):
        # The base class's "bce" / "mse" only decides the accepted input range here.
        loss = "mse" if self.likelihood == "gaussian" else "bce"
        take_fixed_settings(kwargs, loss, self.family_title)  # the base keys its config keeps
        super().__init__(encoder, decoder, loss=loss, info=info, **kwargs)
        if not self.built:
            self.build(self.encoder.input_shape)

    def _add_observation_scale(self) -> None:
        """Called in build(): a Gaussian likelihood's standard deviations, one weight per data dimension."""
        if self.likelihood == "gaussian":
            start = math.log(math.expm1(0.1))  # softplus^-1(0.1)
            self.observation_scale = self.add_weight(
                shape=self.example_shape, initializer=keras.initializers.Constant(start), name="observation_scale")

    def observation_stddev(self) -> tf.Tensor:
        """Standard deviation of a Gaussian likelihood, per data dimension (float32)."""
        return tf.nn.softplus(tf.cast(self.observation_scale, tf.float32)) + 1e-3
