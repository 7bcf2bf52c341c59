""":class:`FlowVAE`: a VAE whose posterior is a Gaussian pushed through a normalizing flow.

q(z|x) is ``z = flow(z0; h)``, ``z0 ~ N(mu(x), sigma(x))``, with the flow a
:class:`~keras_ae.models.vae.flows.PosteriorFlow` (inverse autoregressive flow,
Kingma et al. 2016, or RealNVP coupling) and ``h`` an extra encoder output. Its
density is exact by the change of variables,

    log q(z|x) = log N(z0; mu, sigma) - log|det dz/dz0|,

so the ELBO (``E_q[log p(x|z) + log p(z) - log q(z|x)]``, a Monte Carlo KL) and the
IWAE bound use it as they use the Gaussian posterior's density. Training, evaluation,
export and sampling are the :class:`~keras_ae.models.vae.model.VAE`'s.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from keras_ae.errors import InputValidationError
from keras_ae.models.vae.flows import PosteriorFlow
from keras_ae.models.vae.model import VAE, tfd
from keras_ae.registry import register_family


@register_family("flow_vae")
class FlowVAE(VAE):
    """A VAE with a flow posterior; arguments as :class:`VAE`'s plus ``flow``.

    The encoder outputs ``2 * latent_dim + flow.context_dim`` numbers: the base
    Gaussian's means and pre-softplus standard deviations, then the context ``h``.
    :meth:`posterior_params` and the ``encode`` export signature report the base
    Gaussian q0(z0|x); :meth:`posterior` returns the full q(z|x) (a
    ``tfd.TransformedDistribution``: sampling is one pass, ``log_prob`` of an arbitrary
    z inverts the flow, ``latent_dim`` passes per IAF step); reconstructions,
    interpolations and :meth:`codes` use ``flow(mean of q0)``.

    Args:
        encoder: Keras model ``x -> (batch, 2 * latent_dim + flow.context_dim)``.
        decoder: Keras model ``z -> (batch, *input_shape)``.
        latent_dim: Dimension of z.
        flow: The :class:`~keras_ae.models.vae.flows.PosteriorFlow` (saved with the model).
        **kwargs: Further :class:`VAE` arguments (likelihood, objective, k, prior, ...).

    Example:
        >>> vae = build_vae((8, 8, 1), latent_dim=2, hidden=(16,), posterior_flow="iaf", flow_steps=2)
        >>> type(vae).__name__, vae.flow.kind, vae.flow.steps
        ('FlowVAE', 'iaf', 2)
        >>> x = keras_ae.data.binarize(x_digits[:4], seed=0)
        >>> z, log_q = vae.posterior_sample(x, tf.constant([0, 0]), num_samples=3)
        >>> bool(np.allclose(log_q, vae.posterior(x).log_prob(z), atol=1e-4))  # exact density, both ways
        True
    """

    nested_config_keys = (*VAE.nested_config_keys, "flow")

    def __init__(self, encoder: keras.Model, decoder: keras.Model, latent_dim: int, flow: PosteriorFlow = None,
                 **kwargs: Any):
        if not isinstance(flow, PosteriorFlow):
            raise InputValidationError(f"flow must be a PosteriorFlow layer, got {type(flow).__name__}.")
        if flow.latent_dim != latent_dim:
            raise InputValidationError(f"The flow acts on {flow.latent_dim}-vectors but latent_dim={latent_dim}.")
        object.__setattr__(self, "_flow_arg", flow)  # tracked in build(), like the VAE's prior layer
        super().__init__(encoder, decoder, latent_dim, **kwargs)

    def build(self, input_shape=None):
        self.flow = self.__dict__.pop("_flow_arg")
        if not self.flow.built:
            self.flow.build((None, self.latent_dim))
        super().build(input_shape)

    encoder_width_name = "2 * latent_dim + flow context_dim"

    @property
    def encoder_width(self) -> int:
        return 2 * self.latent_dim + self.flow.context_dim

    def get_config(self) -> dict:
        config = super().get_config()
        config["flow"] = keras.saving.serialize_keras_object(self.flow)
        return config

    # -- the posterior -------------------------------------------------------------------
    def _parts(self, x, training: bool = False, labels=None) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor | None]:
        """Base mean, base standard deviation and context (``None`` without one)."""
        params = self._encoder_outputs(x, training, labels)
        loc, scale = self._loc_scale(params)
        return loc, scale, (params[..., 2 * self.latent_dim:] if self.flow.context_dim else None)

    def posterior(self, x, labels=None, training: bool = False) -> tfd.Distribution:
        """q(z|x): the base Gaussian through the flow, a ``tfd.TransformedDistribution`` (batch ``(batch,)``);
        q(z|x, y) for a conditional VAE (pass ``labels``).

        Example:
            >>> vae = build_vae((8, 8, 1), latent_dim=2, hidden=(16,), posterior_flow="iaf")
            >>> q = vae.posterior(x_digits[:8])
            >>> q.batch_shape, q.event_shape
            (TensorShape([8]), TensorShape([2]))
        """
        loc, scale, context = self._parts(x, training, labels)
        return tfd.TransformedDistribution(tfd.MultivariateNormalDiag(loc, scale), self.flow.bijector(context))

    def posterior_sample(self, x, seed: tf.Tensor, num_samples: int | None = None,
                         training: bool = False, labels=None) -> tuple[tf.Tensor, tf.Tensor]:
        """z = flow(z0), z0 ~ q0(z0|x), and ``log q(z|x) = log q0(z0|x) - log|det dz/dz0|``."""
        loc, scale, context = self._parts(x, training, labels)
        z0 = loc + scale * self.posterior_noise(loc, seed, num_samples, per_example=training)
        z, log_det = self.flow.forward_and_log_det(z0, context)
        return z, tfd.MultivariateNormalDiag(loc, scale).log_prob(z0) - log_det

    def elbo_terms(self, x, seed: tf.Tensor, training: bool = False, labels=None) -> tuple[tf.Tensor, tf.Tensor]:
        """``log p(x|z)`` and the one-sample KL estimate ``log q(z|x) - log p(z)`` (no closed form)."""
        return self.sampled_terms(x, seed, training=training, labels=labels)

    def has_analytic_kl(self) -> bool:
        """False: KL(q || p) of a flow posterior has no closed form (the ELBO uses the sampled one)."""
        return False

    def posterior_point(self, x, labels=None) -> tf.Tensor:
        """``flow(mean of q0)``, the code that reconstructions and interpolations decode."""
        loc, _, context = self._parts(x, labels=labels)
        return self.flow.forward_and_log_det(loc, context)[0]

    def call(self, inputs, training: bool = False):
        """Mean of p(x|z) at z = flow(mean of q0(z0|x)) (a deterministic reconstruction);
        ``inputs`` is ``x``, or ``[x, labels]`` for a conditional VAE."""
        x, labels = self._split_inputs(inputs)
        loc, _, context = self._parts(x, training, labels)
        return self.decode_mean(self.flow.forward_and_log_det(loc, context)[0], labels, training=training)

    def serving_metadata(self) -> dict:
        """The VAE's facts plus the flow's kind, steps and context width."""
        return {**super().serving_metadata(), "posterior_flow": self.flow.kind, "flow_steps": self.flow.steps,
                "flow_context_dim": self.flow.context_dim}
