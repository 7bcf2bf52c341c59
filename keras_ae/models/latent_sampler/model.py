"""The :class:`LatentSampler` model: a trained auto-encoder's decoder plus a density fitted on its codes.

Any auto-encoder becomes generative by ex-post density estimation (Ghosh et al. 2020,
"From variational to deterministic autoencoders"): draw a code from a density fitted on the
training codes, decode it. :func:`~keras_ae.models.latent_sampler.fitting.fit_latent_sampler`
fits the density; this model holds it with the auto-encoder (sub-model ``autoencoder``, whose
``decoder`` turns codes into examples: a VAE's mean of p(x|z), a plain auto-encoder's output).
It saves to ``.keras`` and exports a ``sample`` signature that draws the images of
:meth:`LatentSampler.sample` for the same seed.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf

from keras_ae.errors import InputValidationError
from keras_ae.models.latent_sampler.densities import GaussianMixtureDensity, MaskedAutoregressiveDensity
from keras_ae.models.latent_sampler.serving import LatentSamplerServing
from keras_ae.models.serialization import NestedConfig
from keras_ae.random import next_stateless_seed, stateless_pair
from keras_ae.registry import register_family
from keras_ae.training import DataSpec
from keras_ae.training.batches import compiled, run_batches
from keras_ae.validation import (check_array, check_choice, check_count, check_int, check_model_seed, check_seed,
                                 check_verbose)

# What the density was fitted on: a mixture or a flow over the codes, or a VAE's aggregate posterior.
KINDS = ("gmm", "maf", "aggregate")


def code_shape_of(autoencoder: keras.Model) -> tuple[int, ...]:
    """The shape of one code the auto-encoder's ``decoder`` takes, refused unless it is one input of fixed size.

    Args:
        autoencoder: A model with a ``decoder`` sub-model (an auto-encoder or a VAE), unconditional.

    Returns:
        The decoder's input shape without the batch axis, as a tuple of ints.

    Raises:
        InputValidationError: If the model has no ``decoder``, its decoder takes several inputs
            (a class-conditional model), or the code shape is not fixed.

    Example:
        >>> code_shape_of(build_dense_ae((8, 8, 1), hidden=(8,), code_dim=3))
        (3,)
    """
    decoder = getattr(autoencoder, "decoder", None)
    if not isinstance(decoder, keras.Model):
        raise InputValidationError(
            f"A latent sampler decodes with the model's `decoder` sub-model; {type(autoencoder).__name__} has none "
            "(use an auto-encoder or a VAE).")
    if len(decoder.inputs) != 1 or getattr(autoencoder, "conditional", False):
        raise InputValidationError(
            f"{type(autoencoder).__name__}'s decoder takes {len(decoder.inputs)} inputs (a class-conditional model); "
            "a latent sampler fits one density over codes, for an unconditional model.")
    shape = tuple(decoder.input_shape[1:])
    if not shape or any(d is None for d in shape):
        raise InputValidationError(f"The decoder takes codes of shape {shape}; a latent sampler needs a fixed size.")
    return tuple(int(d) for d in shape)


@register_family("latent_sampler", serving_default="sample")
class LatentSampler(LatentSamplerServing, NestedConfig, keras.Model):
    """A generative model made of an auto-encoder and a density over its codes.

    Build it with :func:`~keras_ae.models.latent_sampler.fitting.fit_latent_sampler`.

    Args:
        autoencoder: The trained auto-encoder (an :class:`~keras_ae.models.base.AutoEncoder`
            or a :class:`~keras_ae.models.vae.VAE`); its ``decoder`` decodes the drawn codes.
            Held as it is, not copied: refit the sampler after training the auto-encoder further.
        density: A :class:`~keras_ae.models.latent_sampler.densities.GaussianMixtureDensity` or
            :class:`~keras_ae.models.latent_sampler.densities.MaskedAutoregressiveDensity` over
            the flattened codes.
        kind: How the density was fitted: ``"gmm"``, ``"maf"`` or ``"aggregate"``.
        seed: Seed of the model's random stream (``sample(n, seed=None)`` draws).
        info: JSON-serializable facts kept with the model (the fit's settings).

    Example:
        >>> ae = build_dense_ae((8, 8, 1), hidden=(16,), code_dim=2)
        >>> sampler = fit_latent_sampler(ae, x_digits, kind="gmm", n_components=3)
        >>> images = sampler.sample(4, seed=0)
        >>> images.shape, np.array_equal(images, sampler.sample(4, seed=0))
        ((4, 8, 8, 1), True)
    """

    nested_config_keys = ("autoencoder", "density")

    def __init__(self, autoencoder: keras.Model, density: keras.layers.Layer, kind: str = "gmm",
                 seed: int | None = None, info: dict | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.code_shape = code_shape_of(autoencoder)
        if int(np.prod(self.code_shape)) != getattr(density, "event_size", None):
            raise InputValidationError(
                f"The density is over {getattr(density, 'event_size', None)}-vectors but the decoder takes codes of "
                f"shape {self.code_shape} ({int(np.prod(self.code_shape))} numbers).")
        self.kind = check_choice(kind, "latent sampler kind", KINDS)
        expected = MaskedAutoregressiveDensity if self.kind == "maf" else GaussianMixtureDensity
        if not isinstance(density, expected):
            raise InputValidationError(f"kind={self.kind!r} samples a {expected.__name__}, got a "
                                       f"{type(density).__name__}.")
        self.seed = check_model_seed(seed)
        # The whole auto-encoder, not its decoder alone: a VAE's decoder gives logits (its
        # decode_mean gives images), and a tied decoder's config needs its encoder to load.
        self.autoencoder = autoencoder
        self.density = density
        object.__setattr__(self, "info", dict(info or {}))
        object.__setattr__(self, "_compiled", {})
        self.seed_generator = keras.random.SeedGenerator(self.seed, name="sampler_seed")
        self.built = True

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(kind=self.kind, seed=self.seed, info=self.info)
        return config

    # -- shapes ------------------------------------------------------------------------
    @property
    def decoder(self) -> keras.Model:
        """The auto-encoder's decoder."""
        return self.autoencoder.decoder

    @property
    def code_size(self) -> int:
        """Numbers in one code: the density's dimension."""
        return int(np.prod(self.code_shape))

    @property
    def example_shape(self) -> tuple[int, ...]:
        """Shape of one decoded example."""
        return tuple(int(d) for d in self.decoder.output_shape[1:])

    @property
    def output_range(self) -> tuple[float, float] | None:
        """The range of the decoded examples: the auto-encoder's data range (``(0, 1)`` images or ``None``)."""
        return getattr(self.autoencoder, "input_range", None)

    # -- graph functions, shared by the Python methods and the export ----------------------
    def decode_codes(self, codes) -> tf.Tensor:
        """Examples of flat or shaped codes (float32 tensor): the VAE's mean of p(x|z), else the decoder's output."""
        z = tf.reshape(tf.cast(codes, tf.float32), [-1, *self.code_shape])
        decode_mean = getattr(self.autoencoder, "decode_mean", None)
        if callable(decode_mean):
            return tf.cast(decode_mean(z), tf.float32)
        return tf.cast(self.decoder(z, training=False), tf.float32)

    def draw_codes(self, count, seed: tf.Tensor) -> tf.Tensor:
        """``count`` codes ``(count, *code_shape)`` from the int32 seed pair ``seed`` (what ``sample`` decodes)."""
        flat = self.density.sample(count, seed)
        return tf.reshape(flat, tf.concat([[tf.shape(flat)[0]], self.code_shape], 0))

    # -- sampling ------------------------------------------------------------------------
    def _seed_pair(self, seed) -> tf.Tensor:
        seed = check_seed(seed)
        return next_stateless_seed(self.seed_generator) if seed is None else stateless_pair(seed)

    def sample_codes(self, n: int, seed: int | None = None) -> np.ndarray:
        """Draws ``n`` codes from the density: the codes :meth:`sample` decodes for the same seed.

        Args:
            n: Number of codes, an int >= 0.
            seed: Any int (equal seeds, equal codes); ``None`` draws a fresh seed from the
                model's random stream.

        Returns:
            float32 ``(n, *code_shape)``.

        Example:
            >>> sampler = fit_latent_sampler(build_dense_ae((8, 8, 1), hidden=(8,), code_dim=2), x_digits,
            ...                              n_components=2)
            >>> sampler.sample_codes(5, seed=1).shape
            (5, 2)
        """
        n = check_count(n, "n", 4 * self.code_size * (self.code_size + 2), "codes")
        pair = self._seed_pair(seed)
        if n == 0:
            return np.zeros((0, *self.code_shape), np.float32)
        draw = compiled(self._compiled, "draw", self.draw_codes,
                        [tf.TensorSpec((), tf.int32), tf.TensorSpec((2,), tf.int32)], autograph=False)
        return draw(tf.constant(n, tf.int32), pair).numpy()

    def decode(self, codes, batch_size: int = 256, verbose: int = 0) -> np.ndarray:
        """Examples of codes, decoded as :meth:`sample` decodes them.

        Args:
            codes: Codes ``(n, *code_shape)``.
            batch_size: Codes per decoder pass.
            verbose: 1 shows a progress bar.

        Returns:
            float32 ``(n, *example_shape)``.

        Example:
            >>> ae = build_dense_ae((8, 8, 1), hidden=(8,), code_dim=2)
            >>> sampler = fit_latent_sampler(ae, x_digits, n_components=2)
            >>> np.allclose(sampler.decode(np.zeros((3, 2))), ae.decode(np.zeros((3, 2))), atol=1e-6)
            True
        """
        batch_size = check_int(batch_size, "batch_size", minimum=1)
        verbose = check_verbose(verbose)
        codes = check_array(codes, "codes", expected_shape=self.code_shape, allow_empty=True)
        if len(codes) == 0:
            return np.zeros((0, *self.example_shape), np.float32)
        fn = compiled(self._compiled, "decode", self.decode_codes,
                      [tf.TensorSpec((None, *self.code_shape), tf.float32)], autograph=False)
        return run_batches(fn, codes, batch_size, DataSpec(self.code_shape), "decode", verbose=verbose, unit="code")

    def sample(self, n: int, seed: int | None = None, batch_size: int = 256, verbose: int = 0) -> np.ndarray:
        """Draws ``n`` examples: codes from the density (:meth:`sample_codes`), decoded (:meth:`decode`).

        The exported ``sample`` signature draws the same codes for the same seed, so a served
        model returns these images.

        Args:
            n: Number of examples, an int >= 0; refused when the result would exceed
                :data:`~keras_ae.validation.MAX_RESULT_BYTES` (1 GiB).
            seed: Any int (equal seeds, equal examples); ``None`` draws a fresh seed from the
                model's random stream.
            batch_size: Codes per decoder pass.
            verbose: 1 shows a progress bar.

        Returns:
            float32 ``(n, *example_shape)`` in the auto-encoder's output convention ([0, 1]
            images for a sigmoid or Bernoulli decoder).

        Example:
            >>> sampler = fit_latent_sampler(build_dense_ae((8, 8, 1), hidden=(8,), code_dim=2), x_digits,
            ...                              n_components=2)
            >>> sampler.sample(3, seed=0).shape
            (3, 8, 8, 1)
        """
        check_count(n, "n", 4 * (int(np.prod(self.example_shape)) + self.code_size), "samples")
        batch_size = check_int(batch_size, "batch_size", minimum=1)
        verbose = check_verbose(verbose)
        return self.decode(self.sample_codes(n, seed), batch_size, verbose)

    def log_prob(self, codes, batch_size: int = 1024) -> np.ndarray:
        """The density's ``log p(z)`` of codes, nats per code.

        Args:
            codes: Codes ``(n, *code_shape)`` (e.g. ``autoencoder.codes(x_test)``).
            batch_size: Codes per pass.

        Returns:
            float32 ``(n,)``.

        Example:
            >>> ae = build_dense_ae((8, 8, 1), hidden=(8,), code_dim=2)
            >>> sampler = fit_latent_sampler(ae, x_digits, n_components=2)
            >>> sampler.log_prob(ae.codes(x_digits_test[:4])).shape
            (4,)
        """
        batch_size = check_int(batch_size, "batch_size", minimum=1)
        codes = check_array(codes, "codes", expected_shape=self.code_shape, allow_empty=True)
        if len(codes) == 0:
            return np.zeros((0,), np.float32)
        fn = compiled(self._compiled, "log_prob", lambda z: self.density.log_prob(tf.reshape(z, [-1, self.code_size])),
                      [tf.TensorSpec((None, *self.code_shape), tf.float32)], autograph=False)
        return run_batches(fn, codes, batch_size, DataSpec(self.code_shape), "log_prob", unit="code")

    def call(self, inputs, training=False):
        """``log p(z)`` of a batch of codes (the density's)."""
        return self.density.log_prob(tf.reshape(tf.cast(inputs, tf.float32), [-1, self.code_size]))


__all__ = ["KINDS", "LatentSampler", "code_shape_of"]
