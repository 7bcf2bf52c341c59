"""Wasserstein auto-encoders with an MMD penalty (WAE-MMD, Tolstikhin et al. 2018).

A deterministic auto-encoder whose codes are pushed, as a whole, to the prior ``N(0, I)``:

    loss = reconstruction + lam * MMD^2(codes of the batch, as many draws z ~ N(0, I))

with the unbiased MMD estimate of :func:`keras_ae.mmd.mmd2_unbiased` and, by default, the
paper's inverse multiquadratics kernel summed over the scales of ``C = 2 d`` (``d`` the
code size). Unlike the VAE's KL term, which pulls every example's posterior to the prior,
the MMD matches only the codes' aggregate distribution, so codes need not blur into each
other. New examples come from decoding prior draws (:meth:`WassersteinAutoEncoder.sample`,
the export's ``sample`` signature).

The MMD is a statistic of the whole batch: under ``tf.distribute`` every replica gathers the
codes of the global batch (``ReplicaContext.all_gather``, whose gradient sums back over
replicas) and draws the prior sample from one shared seed, so one step on several devices
equals one step on one device with the same global batch.
"""

from __future__ import annotations

from typing import Any, Sequence

import keras
import numpy as np
import tensorflow as tf

from keras_ae.errors import InputValidationError
from keras_ae.export.endpoints import MAX_SAMPLE_COUNT, ExportOptions, data_name, sample_endpoint
from keras_ae.mmd import KERNELS, PAPER_SCALES, check_scales, get_kernel, mmd2_unbiased
from keras_ae.models.base import AutoEncoder
from keras_ae.models.networks import mirrored_networks
from keras_ae.models.common import check_choice, check_int
from keras_ae.random import next_stateless_seed, stateless_pair
from keras_ae.registry import register_builder, register_family
from keras_ae.replicas import global_rows, nonempty_batch
from keras_ae.validation import check_count, check_float, check_model_seed, check_seed

# The reconstruction is a per-pixel mean here (the paper sums squared errors over pixels, times 0.05),
# so a given lam weighs the MMD relatively more than in the paper. Measured on the digits (dense
# 64-32-8, 30 epochs, batch 64, Adam 1e-3; test split): reconstruction BCE 0.283 / 0.304 / 0.314 and
# the codes' MMD^2 to N(0, I) 3.71 / 0.048 / 0.053 for lam = 0 / 1 / 10. Any lam >= 1 matches the
# prior about equally well; the default keeps the paper's MNIST value.
DEFAULT_LAM = 10.0


def prior_draws(n: int | tf.Tensor, code_dim: int, seed: tf.Tensor) -> tf.Tensor:
    """The prior draws ``z ~ N(0, I)`` of shape ``(n, code_dim)`` for a stateless ``seed`` pair.

    :meth:`WassersteinAutoEncoder.sample` and the exported ``sample`` signature both call it, so
    one seed gives the same images in Python and in TF Serving.

    Args:
        n: Number of draws, an int or an integer scalar tensor (e.g. a batch size in a graph).
        code_dim: Size of each draw.
        seed: The stateless seed, an int32 ``(2,)`` tensor (:func:`~keras_ae.random.stateless_pair`).

    Returns:
        float32 ``(n, code_dim)`` standard normal draws (Philox).

    Example:
        >>> prior_draws(3, 2, stateless_pair(0)).shape
        TensorShape([3, 2])
    """
    return tf.random.stateless_normal(tf.stack([tf.cast(n, tf.int32), code_dim]), seed=seed, alg="philox")


@register_family("wae")
class WassersteinAutoEncoder(AutoEncoder):
    """An :class:`AutoEncoder` with the WAE-MMD penalty ``lam * MMD^2(codes, N(0, I))``.

    Args:
        encoder: Maps inputs to flat codes ``(batch, code_dim)``.
        decoder: Maps codes to reconstructions.
        lam: The penalty weight ``lambda`` (reported as ``mmd`` in the history: ``lam`` times
            the batch's MMD^2 estimate).
        kernel: ``"imq"`` (the paper's), ``"rbf"`` or ``"polynomial"`` (:mod:`keras_ae.mmd`).
        scales: Multipliers of the kernel constant ``C = 2 * code_dim`` (``imq`` and ``rbf``).
        seed: Seed of the prior draws of training and of ``sample(seed=None)``.
        **kwargs: Passed to :class:`AutoEncoder` (``loss``, ``corruption``, ``name``...).

    Example:
        >>> from keras_ae.models.wae import build_wae
        >>> model = build_wae((8, 8, 1), hidden=(16,), code_dim=2, seed=0)
        >>> sorted(model.compute_losses(x_digits[:8], x_digits[:8]))  # the keys of fit's history
        ['loss', 'mmd', 'reconstruction']
    """

    def __init__(self, encoder: keras.Model, decoder: keras.Model, lam: float = DEFAULT_LAM, kernel: str = "imq",
                 scales: Sequence[float] = PAPER_SCALES, seed: int | None = None, **kwargs: Any):
        if len(encoder.output_shape) != 2:
            raise InputValidationError(
                f"A WAE matches flat codes (batch, code_dim) to N(0, I); this encoder outputs "
                f"{encoder.output_shape}. Give the encoder a dense code layer (build_wae: code_dim=...).")
        # Keras locks a model's state once built and AutoEncoder.__init__ ends by building it:
        # plain settings first, the tracker and the seed stream in build().
        settings = dict(lam=check_float(lam, "lam", minimum=0.0), kernel=check_choice(kernel, "kernel", KERNELS),
                        scales=check_scales(scales), seed=check_model_seed(seed), _penalty_rows=None)
        for key, value in settings.items():
            object.__setattr__(self, key, value)
        object.__setattr__(self, "kernel_function", get_kernel(self.kernel, self.scales))
        super().__init__(encoder, decoder, **kwargs)

    def build(self, input_shape=None):
        if "mmd" not in self.penalty_trackers:
            self.add_penalty_tracker("mmd")
            self.seed_generator = keras.random.SeedGenerator(self.seed, name="wae_seed")
        super().build(input_shape)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"lam": self.lam, "kernel": self.kernel, "scales": list(self.scales), "seed": self.seed})
        return config

    @property
    def code_dim(self) -> int:
        """Size of the code (the prior's dimension)."""
        return int(self.code_shape[-1])

    # -- the penalty ---------------------------------------------------------------------
    def compute_penalties(self, inputs, code, training: bool = False) -> dict[str, tf.Tensor]:
        """Adds ``mmd = lam * MMD^2(codes, z)``, ``z ~ N(0, I)`` drawn once per batch, to the base penalties."""
        penalties = super().compute_penalties(inputs, code, training)
        seed = next_stateless_seed(self.seed_generator)  # drawn even for lam = 0: one seed stream for any lam
        if self.lam == 0:
            penalties["mmd"] = tf.zeros((), tf.float32)
            return penalties
        rows = self._penalty_rows if self._penalty_rows is not None else tf.shape(code)[0]
        codes = global_rows(tf.cast(code, tf.float32), rows)
        prior = prior_draws(tf.shape(codes)[0], self.code_dim, seed)
        penalties["mmd"] = self.lam * mmd2_unbiased(codes, prior, self.kernel_function)
        return penalties

    def compute_losses(self, x, target, training: bool = False, rows=None) -> dict[str, tf.Tensor]:
        """:meth:`AutoEncoder.compute_losses`; ``rows`` counts the real examples of ``x`` (the rest
        pads an empty replica's batch and is left out of the MMD)."""
        object.__setattr__(self, "_penalty_rows", rows)  # read by compute_penalties, during this call only
        try:
            return super().compute_losses(x, target, training)
        finally:
            object.__setattr__(self, "_penalty_rows", None)

    def train_step(self, data):
        x, y, batch = nonempty_batch(*keras.utils.unpack_x_y_sample_weight(data)[:2])
        target = x if y is None else y
        return self.minimize(lambda: self.compute_losses(x, target, training=True, rows=batch), batch)

    def test_step(self, data):
        x, y, batch = nonempty_batch(*keras.utils.unpack_x_y_sample_weight(data)[:2])
        terms = self.compute_losses(x, x if y is None else y, training=False, rows=batch)
        return self.update_trackers(terms, batch)

    # -- generation ------------------------------------------------------------------------
    def sample(self, n: int, seed: int | None = None, batch_size: int = 256) -> np.ndarray:
        """Draws ``n`` examples: ``z ~ N(0, I)``, then the decoder's output.

        Args:
            n: Number of samples, an int >= 0 (0 gives an empty array); refused when the result
                would exceed :data:`~keras_ae.validation.MAX_RESULT_BYTES`.
            seed: Any int (same seed, same samples; the exported ``sample`` signature draws the
                same ``z``); ``None`` takes a fresh seed from the model's stream.
            batch_size: Codes decoded per pass.

        Returns:
            Float32 ``(n, *input_shape)``.

        Example:
            >>> from keras_ae.models.wae import build_wae
            >>> model = build_wae((8, 8, 1), hidden=(16,), code_dim=2)
            >>> images = model.sample(5, seed=0)
            >>> images.shape, bool(np.array_equal(images, model.sample(5, seed=0)))
            ((5, 8, 8, 1), True)
        """
        n = check_count(n, "n", 4 * (int(np.prod(self.example_shape)) + self.code_dim), "samples")
        seed = check_seed(seed)
        batch_size = check_int(batch_size, "batch_size", minimum=1)
        pair = next_stateless_seed(self.seed_generator) if seed is None else stateless_pair(seed)
        z = prior_draws(n, self.code_dim, pair).numpy()
        if n == 0:
            return np.zeros((0, *self.example_shape), np.float32)
        return self.decoder.predict(z, batch_size=batch_size, verbose=0).astype(np.float32)

    # -- serving ---------------------------------------------------------------------------
    def serving_endpoints(self, options: ExportOptions) -> list:
        """The auto-encoder's signatures plus ``sample`` (``count``, ``seed`` -> images and their
        latents, the images of ``sample(count, seed=seed)``).

        Example:
            >>> from keras_ae.export import ExportOptions
            >>> from keras_ae.models.wae import build_wae
            >>> [e.name for e in build_wae((8, 8, 1), hidden=(8,), code_dim=2).serving_endpoints(ExportOptions())]
            ['reconstruct', 'encode', 'decode', 'reconstruct_uint8', 'encode_uint8', 'sample']
        """
        x = data_name(self.example_shape)

        def sample(count, seed):
            z = prior_draws(count, self.code_dim, stateless_pair(seed))  # as WassersteinAutoEncoder.sample
            return {x: self.decoder(z, training=False), "latents": z}

        return [*super().serving_endpoints(options), sample_endpoint(sample, f"{x}, latents", "z ~ N(0, I)")]

    def serving_metadata(self) -> dict:
        """The auto-encoder facts plus the prior, the kernel and the penalty weight."""
        return {**super().serving_metadata(), "latent_dim": self.code_dim, "prior": "standard_normal",
                "lam": self.lam, "kernel": self.kernel, "scales": list(self.scales),
                "max_sample_count": MAX_SAMPLE_COUNT}


@register_builder("wae", family=WassersteinAutoEncoder)
def build_wae(
    input_shape: int | Sequence[int] = (28, 28, 1),
    architecture: str = "dense",
    hidden: Sequence[int] = (128, 64),
    filters: Sequence[int] = (32, 64),
    code_dim: int = 8,
    lam: float = DEFAULT_LAM,
    kernel: str = "imq",
    scales: Sequence[float] = PAPER_SCALES,
    activation: str = "relu",
    loss: str = "bce",
    seed: int | None = None,
    name: str = "wae",
) -> WassersteinAutoEncoder:
    """A WAE-MMD: a dense or convolutional auto-encoder whose codes are matched to ``N(0, I)``.

    Args:
        input_shape, architecture, hidden, filters, activation, loss: The encoder and its mirrored
            decoder, as :func:`~keras_ae.models.networks.mirrored_networks` builds them.
        code_dim: Code size (the prior's dimension; the paper uses 8 for MNIST).
        lam: Weight of the MMD penalty, >= 0 (the paper: 10 for MNIST; 0 is a plain auto-encoder).
        kernel: ``"imq"`` (default, the paper's), ``"rbf"`` or ``"polynomial"``.
        scales: Multipliers of the kernel constant ``2 * code_dim``, summed over.
        seed: Seed of the prior draws.
        name: Model name.

    Returns:
        A :class:`WassersteinAutoEncoder`; its history reports ``loss``, ``reconstruction`` and ``mmd``.

    Raises:
        InputValidationError: for a malformed argument, before anything is built.

    Example:
        >>> from keras_ae.models.wae import build_wae
        >>> build_wae((8, 8, 1), architecture="conv", filters=(4,), code_dim=3).encoder.output_shape
        (None, 3)
        >>> build_wae((8, 8, 1), lam=-1.0)
        Traceback (most recent call last):
        ...
        keras_ae.errors.InputValidationError: `lam` must be a finite number >= 0, got -1.0.
    """
    lam = check_float(lam, "lam", minimum=0.0)
    check_choice(kernel, "kernel", KERNELS)
    scales = check_scales(scales)
    seed = check_model_seed(seed)
    encoder, decoder = mirrored_networks(input_shape, architecture, hidden, filters, code_dim, activation, loss)
    return WassersteinAutoEncoder(encoder, decoder, lam=lam, kernel=kernel, scales=scales, seed=seed, loss=loss,
                                  name=name)


__all__ = ["WassersteinAutoEncoder", "build_wae", "prior_draws"]
