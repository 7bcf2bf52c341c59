"""A learnable mixture-of-Gaussians prior p(z) for variational auto-encoders.

A standard normal prior is the default; a mixture of diagonal Gaussians with trainable
weights, means and scales lets the aggregate posterior keep its clusters (the prior
adapts instead of pulling every code towards one blob). The KL divergence from a
Gaussian posterior to a mixture has no closed form, so the VAE falls back to a Monte
Carlo estimate for it.
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from keras_ae.validation import check_int

tfd = tfp.distributions


@keras.saving.register_keras_serializable(package="keras_ae")
class GaussianMixturePrior(keras.layers.Layer):
    """A trainable mixture of ``num_components`` diagonal Gaussians over ``latent_dim``.

    The layer takes no inputs; :meth:`distribution` returns the current ``tfd``
    distribution (event shape ``(latent_dim,)``). Pass it as ``prior=`` to ``build_vae``.

    Args:
        latent_dim: Dimension of the latent space.
        num_components: Number of mixture components.
        min_scale: Lower bound of each component's standard deviation.

    Example:
        >>> prior = GaussianMixturePrior(2, num_components=10)
        >>> prior.distribution().event_shape
        TensorShape([2])
    """

    def __init__(self, latent_dim: int, num_components: int = 10, min_scale: float = 1e-3, **kwargs):
        super().__init__(**kwargs)
        self.latent_dim = check_int(latent_dim, "latent_dim", minimum=1)
        self.num_components = check_int(num_components, "num_components", minimum=1)
        self.min_scale = float(min_scale)
        # Weights exist from construction so the prior is usable before any data is seen.
        self.logits = self.add_weight(shape=(self.num_components,), initializer="zeros", name="logits")
        self.locs = self.add_weight(shape=(self.num_components, self.latent_dim),
                                    initializer=keras.initializers.RandomNormal(stddev=1.0), name="locs")
        unit = math.log(math.expm1(1.0))  # softplus^-1(1): components start with unit scale
        self.raw_scales = self.add_weight(shape=(self.num_components, self.latent_dim),
                                          initializer=keras.initializers.Constant(unit), name="raw_scales")
        self.built = True

    def distribution(self) -> tfd.Distribution:
        """The mixture as a ``tfd.MixtureSameFamily`` (float32)."""
        scales = tf.nn.softplus(tf.cast(self.raw_scales, tf.float32)) + self.min_scale
        return tfd.MixtureSameFamily(
            mixture_distribution=tfd.Categorical(logits=tf.cast(self.logits, tf.float32)),
            components_distribution=tfd.MultivariateNormalDiag(loc=tf.cast(self.locs, tf.float32), scale_diag=scales),
        )

    def call(self, inputs=None):
        return self.distribution()

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(latent_dim=self.latent_dim, num_components=self.num_components, min_scale=self.min_scale)
        return config
