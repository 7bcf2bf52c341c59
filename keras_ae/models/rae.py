"""Regularized auto-encoders (RAE, Ghosh et al. 2020, "From Variational to Deterministic Autoencoders").

A VAE's posterior noise mostly smooths the decoder; the RAE drops the noise and regularizes
explicitly:

    loss = reconstruction + beta * mean_i 0.5 ||z_i||^2 + lam * L_REG

* ``decoder_regularization="gp"`` (RAE-GP, history key ``gradient_penalty``):
  ``L_REG = mean_i ||dD(z_i)/dz||_F^2``, the decoder's Jacobian at the codes;
* ``"l2"`` (RAE-L2, ``weight_decay``): ``L_REG = sum ||W||^2`` over the decoder's kernels
  (biases are not decayed);
* ``None`` (plain RAE): no decoder term, only the code penalty.

The code penalty (``code_penalty`` in the history) keeps the code space bounded, so a density
fitted to the training codes afterwards (ex-post density estimation, e.g. a Gaussian mixture)
gives a sampler. For a vector-valued decoder the paper's ``||grad D(z)||^2`` is the squared
Frobenius norm of its Jacobian, computed with :mod:`keras_ae.jacobian` as the contractive
penalty is for encoders (exact for small Jacobians, unbiased random projections otherwise).

Under ``tf.distribute`` a step on several devices equals one on one device with
``jacobian="exact"`` or ``decoder_regularization="l2"``; the random projections of
``"stochastic"`` are drawn per replica (an equally valid estimate, other numbers than one device draws).
"""

from __future__ import annotations

from typing import Any, Sequence

import keras
import tensorflow as tf

from keras_ae.jacobian import METHODS, JacobianPenalty
from keras_ae.models.base import AutoEncoder
from keras_ae.models.networks import mirrored_networks
from keras_ae.models.common import check_choice
from keras_ae.registry import register_builder, register_family
from keras_ae.validation import check_float, check_model_seed

DECODER_REGULARIZATIONS = ("gp", "l2", None)
# History keys of the decoder terms.
DECODER_TERMS = {"gp": "gradient_penalty", "l2": "weight_decay"}
# Defaults measured on the digits (dense 64-32-16 codes, 30 epochs, batch 64, Adam 1e-3; test split,
# per-pixel mean BCE): unregularized, BCE 0.271 and mean ||z||^2 494; beta = 1e-3 with the gradient
# penalty at lam = 1e-3, BCE 0.268 and ||z||^2 11.6 (beta = lam = 1e-2: BCE 0.302, ||z||^2 5.0); beta
# = 1e-3 with weight decay at lam = 1e-4, BCE 0.274 and ||z||^2 10.9.
DEFAULT_BETA = 1e-3
DEFAULT_LAMS = {"gp": 1e-3, "l2": 1e-4, None: 0.0}


def decoder_kernels(decoder: keras.Model) -> list[keras.Variable]:
    """The decoder's trainable kernels (Dense and convolution weights named ``kernel``), not its biases.

    Args:
        decoder: The model whose weights are searched.

    Returns:
        Its trainable weights named ``kernel``, in ``trainable_weights`` order.

    Example:
        >>> from keras_ae.models import get_dense_decoder
        >>> [tuple(w.shape) for w in decoder_kernels(get_dense_decoder(2, hidden=(4,), output_shape=(3,)))]
        [(2, 4), (4, 3)]
    """
    return [w for w in decoder.trainable_weights if w.name == "kernel"]


@register_family("rae")
class RegularizedAutoEncoder(AutoEncoder):
    """An :class:`AutoEncoder` with the RAE penalties on its codes and its decoder.

    Args:
        encoder: Maps inputs to codes.
        decoder: Maps codes to reconstructions.
        beta: Weight of the code penalty ``mean_i 0.5 ||z_i||^2``, >= 0.
        decoder_regularization: ``"gp"``, ``"l2"`` or ``None`` (see the module docstring).
        lam: Weight of the decoder term, >= 0; ``None``: :data:`DEFAULT_LAMS` of the regularization.
        jacobian: How the gradient penalty computes ``||J||_F^2``: ``"auto"``, ``"exact"`` or
            ``"stochastic"`` (:class:`keras_ae.jacobian.JacobianPenalty`).
        seed: Seed of the random projections of ``jacobian="stochastic"``.
        **kwargs: Passed to :class:`AutoEncoder` (``loss``, ``corruption``, ``name``...).

    Example:
        >>> from keras_ae.models.rae import build_rae
        >>> model = build_rae((8, 8, 1), hidden=(16,), code_dim=2, decoder_regularization="gp")
        >>> sorted(model.compute_losses(x_digits[:8], x_digits[:8]))  # the keys of fit's history
        ['code_penalty', 'gradient_penalty', 'loss', 'reconstruction']
    """

    def __init__(self, encoder: keras.Model, decoder: keras.Model, beta: float = DEFAULT_BETA,
                 decoder_regularization: str | None = "gp", lam: float | None = None, jacobian: str = "auto",
                 seed: int | None = None, **kwargs: Any):
        regularization = check_choice(decoder_regularization, "decoder_regularization", DECODER_REGULARIZATIONS)
        jacobian = check_choice(jacobian, "jacobian", tuple(m for m in METHODS if m != "closed_form"))
        # Keras locks a model's state once built and AutoEncoder.__init__ ends by building it: plain
        # settings first (untracked, like the contractive model's projections), the trackers in build().
        settings = dict(beta=check_float(beta, "beta", minimum=0.0), decoder_regularization=regularization,
                        lam=DEFAULT_LAMS[regularization] if lam is None else check_float(lam, "lam", minimum=0.0),
                        jacobian_method=jacobian,
                        seed=check_model_seed(seed),
                        jacobian_penalty=JacobianPenalty(decoder, jacobian) if regularization == "gp" else None,
                        seed_generator=keras.random.SeedGenerator(seed))
        for key, value in settings.items():
            object.__setattr__(self, key, value)
        super().__init__(encoder, decoder, **kwargs)

    def build(self, input_shape=None):
        for name in ("code_penalty", DECODER_TERMS.get(self.decoder_regularization)):
            if name is not None and name not in self.penalty_trackers:
                self.add_penalty_tracker(name)
        super().build(input_shape)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"beta": self.beta, "decoder_regularization": self.decoder_regularization, "lam": self.lam,
                       "jacobian": self.jacobian_method, "seed": self.seed})
        return config

    # -- the penalties -------------------------------------------------------------------
    def code_penalty(self, code) -> tf.Tensor:
        """``beta * mean_i 0.5 ||z_i||^2`` of a batch of codes (float32 scalar)."""
        z = tf.cast(tf.reshape(code, [tf.shape(code)[0], -1]), tf.float32)
        return self.beta * tf.reduce_mean(0.5 * tf.reduce_sum(tf.square(z), axis=1))

    def decoder_penalty(self, code, training: bool = False) -> tf.Tensor | None:
        """``lam * L_REG`` (float32 scalar), or ``None`` without decoder regularization."""
        if self.decoder_regularization == "l2":
            return self.lam * tf.add_n([tf.reduce_sum(tf.square(tf.cast(w, tf.float32)))
                                        for w in decoder_kernels(self.decoder)])
        if self.decoder_regularization == "gp":
            sq_norms = self.jacobian_penalty.squared_norms(code, seed=self.seed_generator, training=training)
            return self.lam * tf.reduce_mean(sq_norms)
        return None

    def compute_penalties(self, inputs, code, training: bool = False) -> dict[str, tf.Tensor]:
        """Adds ``code_penalty`` and the decoder term (``gradient_penalty`` or ``weight_decay``)."""
        penalties = super().compute_penalties(inputs, code, training)
        penalties["code_penalty"] = self.code_penalty(code)
        if self.decoder_regularization is not None:
            name = DECODER_TERMS[self.decoder_regularization]
            penalties[name] = self.decoder_penalty(code, training) if self.lam > 0 else tf.zeros((), tf.float32)
        return penalties

    def serving_metadata(self) -> dict:
        """The auto-encoder facts plus the RAE's regularization."""
        return {**super().serving_metadata(), "beta": self.beta, "decoder_regularization": self.decoder_regularization,
                "lam": self.lam}


@register_builder("rae", family=RegularizedAutoEncoder)
def build_rae(
    input_shape: int | Sequence[int] = (28, 28, 1),
    architecture: str = "dense",
    hidden: Sequence[int] = (128, 64),
    filters: Sequence[int] = (32, 64),
    code_dim: int = 16,
    beta: float = DEFAULT_BETA,
    decoder_regularization: str | None = "gp",
    lam: float | None = None,
    jacobian: str = "auto",
    activation: str = "relu",
    loss: str = "bce",
    seed: int | None = None,
    name: str = "rae",
) -> RegularizedAutoEncoder:
    """A regularized auto-encoder (RAE-GP by default; RAE-L2 or plain RAE with ``decoder_regularization``).

    Args:
        input_shape, architecture, hidden, filters, code_dim, activation, loss: The encoder and its
            mirrored decoder, as :func:`~keras_ae.models.networks.mirrored_networks` builds them.
        beta: Weight of the code penalty ``mean_i 0.5 ||z_i||^2``.
        decoder_regularization: ``"gp"`` (gradient penalty), ``"l2"`` (weight decay) or ``None``.
        lam: Weight of the decoder term; ``None``: 1e-3 for ``"gp"``, 1e-4 for ``"l2"`` (:data:`DEFAULT_LAMS`).
        jacobian: ``"auto"``, ``"exact"`` or ``"stochastic"``: how the gradient penalty is computed.
        seed: Seed of the gradient penalty's random projections.
        name: Model name.

    Returns:
        A :class:`RegularizedAutoEncoder`; its history reports ``loss``, ``reconstruction``,
        ``code_penalty`` and ``gradient_penalty`` (``"gp"``) or ``weight_decay`` (``"l2"``).

    Raises:
        InputValidationError: for a malformed argument, before anything is built.

    Example:
        >>> from keras_ae.models.rae import build_rae
        >>> build_rae((8, 8, 1), architecture="conv", filters=(4,), code_dim=3).encoder.output_shape
        (None, 3)
        >>> build_rae((8, 8, 1), decoder_regularization="spectral")
        Traceback (most recent call last):
        ...
        keras_ae.errors.UnknownNameError: Unknown decoder_regularization 'spectral'; choose one of: gp, l2, None.
    """
    beta = check_float(beta, "beta", minimum=0.0)
    lam = check_float(lam, "lam", minimum=0.0, allow_none=True)
    decoder_regularization = check_choice(decoder_regularization, "decoder_regularization", DECODER_REGULARIZATIONS)
    check_choice(jacobian, "jacobian", tuple(m for m in METHODS if m != "closed_form"))
    seed = check_model_seed(seed)
    encoder, decoder = mirrored_networks(input_shape, architecture, hidden, filters, code_dim, activation, loss)
    return RegularizedAutoEncoder(encoder, decoder, beta=beta, decoder_regularization=decoder_regularization, lam=lam,
                                  jacobian=jacobian, seed=seed, loss=loss, name=name)


__all__ = ["RegularizedAutoEncoder", "build_rae", "decoder_kernels"]
