"""``VAESampling``, the draws of :class:`~keras_ae.models.vae.model.VAE`: reparameterized
z ~ q(z|x) on the Philox generator (training and likelihoods), and examples from the model
(:meth:`~VAESampling.sample`, :meth:`~VAESampling.interpolate`)."""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf
from tensorflow_probability import distributions as tfd

from keras_ae.errors import InputValidationError
from keras_ae.models.common import check_int, check_seed
from keras_ae.random import batch_noise, stateless_pair
from keras_ae.validation import check_class_labels, check_count

# Philox explicitly: the default ("auto_select") stateless algorithm is very slow under XLA on CPU.
RNG_ALG = "philox"


class VAESampling:
    """Mixin of :class:`~keras_ae.models.vae.model.VAE`: posterior draws, samples and interpolations.

    It uses the VAE's ``prior``, ``decode``, ``decode_mean``, ``posterior_point``,
    ``validate_inputs``, ``example_shape``, ``latent_dim`` and ``_next_seed``, and holds no
    state of its own.

    Example:
        ```python
        vae = build_vae((8, 8, 1), latent_dim=2, hidden=(16,))
        images = vae.sample(16, seed=0)  # float32 (16, 8, 8, 1), the means of p(x|z) for z ~ p(z)
        line = vae.interpolate(x_digits_test[0], x_digits_test[1], steps=8)  # (8, 8, 8, 1)
        ```
    """

    # -- reparameterized posterior draws ---------------------------------------------
    @staticmethod
    def sample_posterior(q: tfd.MultivariateNormalDiag, seed: tf.Tensor, num_samples: int | None = None,
                         per_example: bool = False) -> tf.Tensor:
        """Reparameterized draws ``z = mean + stddev * eps`` from q, ``eps ~ N(0, I)``.

        Same distribution as ``q.sample(num_samples, seed)``, but the noise comes from
        the Philox generator: TFP's samplers use TensorFlow's default algorithm, which
        XLA on CPU runs about 300x slower (it made ``jit_compile=True`` training 5x slower).
        One draw per example (``num_samples=None``, training), or ``num_samples`` with
        ``per_example`` (IWAE training), comes from
        :func:`~keras_ae.random.batch_noise`, so it does not depend on how
        ``tf.distribute`` splits the batch.

        Example:
            >>> vae = build_vae((8, 8, 1), latent_dim=2, hidden=(16,))
            >>> z = VAE.sample_posterior(vae.posterior(x_digits[:8]), seed=tf.constant([0, 0]), num_samples=10)
            >>> z.shape  # (num_samples, batch, latent_dim)
            TensorShape([10, 8, 2])
        """
        loc, scale = q.mean(), q.stddev()
        return loc + scale * VAESampling.posterior_noise(loc, seed, num_samples, per_example)

    @staticmethod
    def posterior_noise(loc: tf.Tensor, seed: tf.Tensor, num_samples: int | None = None,
                        per_example: bool = False) -> tf.Tensor:
        """The N(0, I) noise of :meth:`sample_posterior`, ``loc.shape`` or ``(num_samples, *loc.shape)``."""
        if num_samples is None:
            return batch_noise("normal", tf.shape(loc), seed, dtype=loc.dtype)
        if per_example:  # (batch, samples, latent) rows of the global batch, then samples first
            eps = batch_noise("normal", tf.stack([tf.shape(loc)[0], num_samples, tf.shape(loc)[1]]), seed, loc.dtype)
            return tf.transpose(eps, [1, 0, 2])
        shape = tf.concat([[num_samples], tf.shape(loc)], axis=0)
        return tf.random.stateless_normal(shape, seed=seed, dtype=loc.dtype, alg=RNG_ALG)

    # -- generation ------------------------------------------------------------------
    def _draw_bytes(self) -> int:
        """Bytes one drawn example holds while sampling: its float32 values and its code."""
        return 4 * (int(np.prod(self.example_shape)) + self.latent_dim)

    @staticmethod
    def sample_seeds(seed: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """The stateless seeds of one call to :meth:`sample`: ``(z_seed, x_seed)`` split from its seed pair.

        The export's ``sample`` signature draws z with the same ``z_seed``, so one int seed gives
        the same images in Python and in a served model.

        Args:
            seed: An int32 ``(2,)`` stateless seed (:func:`~keras_ae.random.stateless_pair` of an int seed).

        Returns:
            Two int32 ``(2,)`` seeds: for the prior draw of z, and for the draws from p(x|z).

        Example:
            >>> z_seed, x_seed = VAE.sample_seeds(tf.constant([0, 0]))
            >>> z_seed.shape, bool(tf.reduce_any(z_seed != x_seed))
            (TensorShape([2]), True)
        """
        z_seed, x_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
        return z_seed, x_seed

    def _likelihood_values(self, z: np.ndarray, binary: bool, seed: tf.Tensor, batch_size: int,
                           labels: np.ndarray | None = None) -> np.ndarray:
        out = []
        seeds = tf.random.experimental.stateless_split(seed, max(1, math.ceil(len(z) / batch_size)))
        for i, start in enumerate(range(0, len(z), batch_size)):
            part = None if labels is None else labels[start:start + batch_size]
            p = self.decode(tf.constant(z[start:start + batch_size]), part)
            out.append((p.sample(seed=seeds[i]) if binary else p.mean()).numpy())
        return np.concatenate(out).astype(np.float32) if out else np.zeros((0, *self.example_shape), np.float32)

    def sample(self, n: int, seed: int | None = None, labels=None, binary: bool = False,
               batch_size: int = 1000) -> np.ndarray:
        """Draws ``n`` examples: z ~ p(z), then the mean of p(x|z) (or a draw from it); for a
        conditional VAE the mean of p(x|z, y) for the requested classes ``y``.

        Args:
            n: Number of samples, an int >= 0 (0 gives an empty ``(0, *input_shape)`` array);
                drawn in batches, refused when the result would exceed
                :data:`~keras_ae.validation.MAX_RESULT_BYTES` (1 GiB).
            seed: Any int; equal seeds give equal samples. ``None`` draws a fresh seed from
                the model's random stream (new samples on every call; the stream starts
                from the model's own ``seed``). The same seed draws the same z whatever the labels.
            labels: Class ids of a conditional VAE: one per sample, or one int for all;
                ``None`` for an unconditional VAE (:func:`~keras_ae.validation.check_class_labels`).
            binary: Return draws x ~ p(x|z) (0/1 images for a Bernoulli likelihood)
                instead of the means (probabilities in [0, 1]).
            batch_size: Codes decoded per pass, an int >= 1.

        Returns:
            Float32 array ``(n, *input_shape)``.

        Raises:
            InputValidationError: for a non-integer, negative or absurdly large ``n``, a
                ``seed`` that is neither an int nor None, a ``batch_size`` below 1, or labels
                that break the labels contract (before any random state is used).

        Example:
            >>> vae = build_vae((8, 8, 1), latent_dim=2, hidden=(16,))
            >>> images = vae.sample(16, seed=0)
            >>> images.shape, np.array_equal(images, vae.sample(16, seed=0))
            ((16, 8, 8, 1), True)
            >>> np.unique(vae.sample(4, seed=0, binary=True))  # x ~ p(x|z): 0/1 images
            array([0., 1.], dtype=float32)
        """
        n = check_count(n, "n", self._draw_bytes(), "samples")
        seed = check_seed(seed)
        batch_size = check_int(batch_size, "batch_size", minimum=1)
        y = check_class_labels(labels, n, self.num_classes, name="labels")
        seed_t = self._next_seed() if seed is None else stateless_pair(seed)
        z_seed, x_seed = self.sample_seeds(seed_t)
        z = self.prior.sample(n, seed=z_seed).numpy()
        return self._likelihood_values(z, binary, x_seed, batch_size, y)

    def interpolate(self, x1, x2, steps: int = 10, labels=None) -> np.ndarray:
        """Decodes the straight line between the posterior means of ``x1`` and ``x2``; a conditional
        VAE encodes both ends and decodes the whole line with the pair's class ``labels``.

        Args:
            x1: One example (``input_shape``) or a batch ``(n, *input_shape)``.
            x2: Same shape as ``x1``.
            steps: Points on the line, end points included; decoded in batches, refused
                when the result would exceed :data:`~keras_ae.validation.MAX_RESULT_BYTES` (1 GiB).
            labels: Class of each pair (one int, or one per pair) for a conditional VAE; ``None`` otherwise.

        Returns:
            ``(steps, *input_shape)`` for single examples, ``(n, steps, *input_shape)`` for batches.

        Example:
            >>> vae = build_vae((8, 8, 1), latent_dim=2, hidden=(16,))
            >>> vae.interpolate(x_digits_test[0], x_digits_test[1], steps=8).shape
            (8, 8, 8, 1)
            >>> vae.interpolate(x_digits_test[:3], x_digits_test[3:6], steps=8).shape
            (3, 8, 8, 8, 1)
        """
        steps = check_int(steps, "steps", minimum=2)
        single = np.ndim(x1) == len(self.example_shape)
        x1 = self.validate_inputs(np.asarray(x1)[None] if single else x1, "x1", purpose="encode")
        x2 = self.validate_inputs(np.asarray(x2)[None] if single else x2, "x2", purpose="encode")
        if len(x1) != len(x2):
            raise InputValidationError(f"x1 and x2 must have the same number of examples, got {len(x1)} and {len(x2)}.")
        what = "interpolation points" + ("" if single else f" for each of {len(x1)} pairs")
        check_count(steps, "steps", len(x1) * self._draw_bytes(), what, minimum=2)
        y = check_class_labels(labels, len(x1), self.num_classes, name="labels")
        z1, z2 = self.posterior_point(x1, y).numpy(), self.posterior_point(x2, y).numpy()
        t = np.linspace(0.0, 1.0, steps, dtype=np.float32)[None, :, None]
        z = ((1.0 - t) * z1[:, None, :] + t * z2[:, None, :]).reshape(-1, self.latent_dim)
        y_line = None if y is None else np.repeat(y, steps)  # every point of a pair's line in the pair's class
        images = np.concatenate([self.decode_mean(tf.constant(z[i:i + 1000]),
                                                  None if y_line is None else y_line[i:i + 1000]).numpy()
                                 for i in range(0, len(z), 1000)])
        images = images.reshape(len(x1), steps, *images.shape[1:])
        return images[0] if single else images
