""":class:`BetaTCVAE` (Chen et al. 2018): a VAE whose KL term is split and reweighted,

    loss = -E_q log p(x|z) + alpha * MI + beta * TC + gamma * dimension-wise KL,

with the three terms estimated on each batch by minibatch-weighted sampling
(:func:`~keras_ae.models.vae.tc.kl_decomposition`). ``alpha = gamma = 1`` and ``beta > 1``
penalizes only the total correlation of the aggregate posterior: the codes are pushed to
factorize without the plain beta-VAE's cost in reconstruction. Training, evaluation
(``elbo``, ``log_likelihood``: the model's ELBO, not its training loss), sampling and export
are the :class:`~keras_ae.models.vae.model.VAE`'s; ``keras-ae train beta_tcvae`` builds it.
"""

from __future__ import annotations

from typing import Any, Sequence

import keras
import tensorflow as tf

from keras_ae.errors import InputValidationError
from keras_ae.models.vae.builders import build_vae_variant
from keras_ae.models.vae.model import VAE
from keras_ae.models.vae.tc import kl_decomposition
from keras_ae.replicas import global_rows
from keras_ae.registry import register_builder
from keras_ae.validation import check_int, check_nonnegative_float

TC_TERMS = ("mi", "tc", "dimension_kl")


# The VAE family's serving signatures and train_step: only the loss hook differs, so it is
# registered with Keras (for .keras files) without a family of its own.
@keras.saving.register_keras_serializable(package="keras_ae")
class BetaTCVAE(VAE):
    """A VAE trained on the beta-TCVAE objective; arguments as :class:`VAE`'s, with ``beta`` the TC weight.

    Args:
        encoder: Keras model ``x -> (batch, 2 * latent_dim)``.
        decoder: Keras model ``z -> (batch, *input_shape)``.
        latent_dim: Dimension of z.
        alpha: Weight of the index-code mutual information.
        gamma: Weight of the dimension-wise KL.
        dataset_size: ``N`` of the estimator, the number of training examples (``None``: the
            batch's own aggregate posterior). It shifts the reported terms by constants and
            leaves the gradients unchanged (:mod:`~keras_ae.models.vae.tc`).
        **kwargs: Further :class:`VAE` arguments; ``beta`` weighs the total correlation, the
            objective is the ELBO's (``objective="elbo"``).

    ``fit`` reports ``mi``, ``tc`` and ``dimension_kl`` beside ``loss``, ``reconstruction`` and
    ``kl`` (the one-sample KL estimate; the three terms sum to it).

    Example:
        >>> vae = build_vae((8, 8, 1), latent_dim=2, hidden=(16,))  # its encoder and decoder
        >>> model = BetaTCVAE(vae.encoder, vae.decoder, latent_dim=2, beta=6.0, dataset_size=256)
        >>> model.alpha, model.beta, model.gamma, model.dataset_size
        (1.0, 6.0, 1.0, 256)
        >>> sorted(model.compute_losses(x_digits[:64]))
        ['dimension_kl', 'kl', 'loss', 'mi', 'reconstruction', 'tc']
    """

    def __init__(self, encoder: keras.Model, decoder: keras.Model, latent_dim: int, alpha: float = 1.0,
                 gamma: float = 1.0, dataset_size: int | None = None, **kwargs: Any):
        if kwargs.get("objective", "elbo") != "elbo":
            raise InputValidationError(f"BetaTCVAE decomposes the ELBO's KL term: it takes objective='elbo', got "
                                       f"objective={kwargs['objective']!r:.40}.")
        object.__setattr__(self, "alpha", check_nonnegative_float(alpha, "alpha"))
        object.__setattr__(self, "gamma", check_nonnegative_float(gamma, "gamma"))
        object.__setattr__(self, "dataset_size", None if dataset_size is None else
                           check_int(dataset_size, "dataset_size", minimum=1))
        super().__init__(encoder, decoder, latent_dim, **kwargs)

    def build(self, input_shape=None):
        for name in TC_TERMS:
            self.add_penalty_tracker(name)
        super().build(input_shape)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(alpha=self.alpha, gamma=self.gamma, dataset_size=self.dataset_size)
        return config

    def compute_losses(self, x, target=None, training: bool = False, labels=None) -> dict[str, tf.Tensor]:
        """``loss = reconstruction + kl_weight * (alpha * mi + beta * tc + gamma * dimension_kl)`` (+ layer
        losses), with ``reconstruction``, ``kl`` and the three terms as batch means in nats."""
        if self.dynamic_binarization:
            x = self._binarize(x)
        q = self.posterior(x, labels, training=training)
        z = self.sample_posterior(q, seed=self._next_seed())
        log_px = self.data_log_prob(z, x, training=training, labels=labels)
        loc, scale = q.mean(), q.stddev()
        # The aggregate posterior is estimated from the global batch on every replica, so a
        # mirrored step equals one device's (an empty replica's padding row joins it).
        parts = kl_decomposition(z, loc, scale, self.prior.log_prob(z), self.dataset_size,
                                 components=(global_rows(loc), global_rows(scale)))
        terms = {"reconstruction": -tf.reduce_mean(log_px), "kl": tf.reduce_mean(self.kl_divergence(q, z)),
                 **{name: tf.reduce_mean(value) for name, value in parts.items()}}
        weighted = self.alpha * terms["mi"] + self.beta * terms["tc"] + self.gamma * terms["dimension_kl"]
        total = terms["reconstruction"] + self.kl_weight(training) * weighted
        if self.losses:  # layer regularizers of custom encoders / decoders
            total = total + tf.add_n([tf.cast(penalty, tf.float32) for penalty in self.losses])
        return {"loss": total, **terms}


@register_builder("beta_tcvae", family=BetaTCVAE)
def build_beta_tcvae(input_shape: int | Sequence[int] = (28, 28, 1), latent_dim: int = 10, alpha: float = 1.0,
                     beta: float = 6.0, gamma: float = 1.0, dataset_size: int | None = None,
                     name: str = "beta_tcvae", **kwargs: Any) -> BetaTCVAE:
    """A beta-TCVAE (Chen et al. 2018): :func:`~keras_ae.models.vae.builders.build_vae`'s networks,
    trained with the KL term split into MI, total correlation and dimension-wise KL.

    Args:
        input_shape: Shape of one example.
        latent_dim: Dimension of z (10, the paper's dSprites setting).
        alpha: Weight of the index-code mutual information (1 in the paper).
        beta: Weight of the total correlation (6: the paper's dSprites choice).
        gamma: Weight of the dimension-wise KL (1 in the paper).
        dataset_size: ``N``, the number of training examples, for the paper's estimates
            (``None``: the batch's aggregate posterior; the gradients are the same).
        name: Model name.
        **kwargs: :func:`build_vae` arguments (``hidden``, ``encoder``, ``likelihood``, ``prior``,
            ``dynamic_binarization``, ``seed``, ...); not ``objective``, ``k`` or ``posterior_flow``.

    Returns:
        A :class:`BetaTCVAE` with ``.encoder`` and ``.decoder`` sub-models.

    Example:
        >>> from keras_ae.models.vae import build_beta_tcvae
        >>> model = build_beta_tcvae((8, 8, 1), latent_dim=2, hidden=(16,), dynamic_binarization=True)
        >>> sorted(model.compute_losses(x_digits[:64]))  # the terms fit reports
        ['dimension_kl', 'kl', 'loss', 'mi', 'reconstruction', 'tc']

        Training (``fit`` as for any VAE):

        ```python
        model.compile(optimizer="adam")
        model.fit(x_train, epochs=10, batch_size=64)
        ```
    """
    return build_vae_variant(BetaTCVAE, input_shape, dict(kwargs, latent_dim=latent_dim, beta=beta, name=name),
                             refused=("objective", "k", "posterior_flow"), alpha=alpha, gamma=gamma,
                             dataset_size=dataset_size)
