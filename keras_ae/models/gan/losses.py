"""GAN losses as pure functions of the discriminator's outputs.

Every function takes the discriminator's raw outputs (logits for the cross-entropy
losses, unbounded scores for the others), computes in float32 (so mixed-precision
models stay stable) and returns the batch mean as a scalar. They are small on purpose:
each is a formula from its paper that a test checks against a hand computation.

=================  ===========================================  =============================
loss               discriminator / critic minimizes             generator minimizes
=================  ===========================================  =============================
minimax            -log D(x) - log(1 - D(G(z)))                 log(1 - D(G(z)))
non_saturating     same as minimax                              -log D(G(z))
least_squares      (D(x) - 1)^2 / 2 + D(G(z))^2 / 2             (D(G(z)) - 1)^2 / 2
hinge              relu(1 - D(x)) + relu(1 + D(G(z)))           -D(G(z))
wasserstein_gp     D(G(z)) - D(x) + gp_weight * GP              -D(G(z))
=================  ===========================================  =============================

``D = sigmoid(logit)`` for minimax / non-saturating (Goodfellow et al. 2014); the others
use the raw output: least squares (Mao et al. 2017), hinge (Lim & Ye 2017; Miyato et al.
2018), Wasserstein with gradient penalty (Gulrajani et al. 2017).
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Sequence

import tensorflow as tf

from keras_ae.errors import InputValidationError
from keras_ae.validation import check_choice


SMOOTHABLE = "minimax, non_saturating and least_squares"


def _f32(x) -> tf.Tensor:
    return tf.cast(tf.reshape(x, [-1]), tf.float32)


def _check_smoothing(label_smoothing: float) -> float:
    if not 0.0 <= float(label_smoothing) < 1.0:
        raise InputValidationError(f"label_smoothing must be in [0, 1), got {label_smoothing}.")
    return float(label_smoothing)


def cross_entropy_discriminator_loss(real_logits: tf.Tensor | Sequence[float], fake_logits: tf.Tensor | Sequence[float],
                                     label_smoothing: float = 0.0) -> tf.Tensor:
    """``-t log D(x) - (1 - t) log(1 - D(x)) - log(1 - D(G(z)))`` with ``t = 1 - label_smoothing``.

    The discriminator loss of the minimax and non-saturating GANs. One-sided label
    smoothing (Salimans et al. 2016) lowers only the real target.

    Args:
        real_logits: Discriminator logits on real data, shape ``(batch,)`` or ``(batch, 1)``.
        fake_logits: Discriminator logits on generated data.
        label_smoothing: ``s`` in ``[0, 1)``; real target ``1 - s``.

    Returns:
        Scalar float32 batch mean (real and fake terms summed).

    Example:
        >>> float(cross_entropy_discriminator_loss([0.0], [0.0]))  # 2 log 2
        1.3862943649291992
    """
    target = 1.0 - _check_smoothing(label_smoothing)
    real, fake = _f32(real_logits), _f32(fake_logits)
    # softplus(-l) = -log sigmoid(l), softplus(l) = -log(1 - sigmoid(l)): stable for any logit.
    real_term = target * tf.nn.softplus(-real) + (1.0 - target) * tf.nn.softplus(real)
    return tf.reduce_mean(real_term) + tf.reduce_mean(tf.nn.softplus(fake))


def minimax_generator_loss(fake_logits: tf.Tensor | Sequence[float]) -> tf.Tensor:
    """``log(1 - D(G(z)))``: the generator's side of the original minimax game.

    Saturates (vanishing gradient) when the discriminator rejects samples confidently,
    which is why the non-saturating loss is the default.

    Args:
        fake_logits: Discriminator logits on generated data, shape ``(batch,)`` or ``(batch, 1)``.

    Returns:
        Scalar float32 batch mean.

    Example:
        >>> round(float(minimax_generator_loss([0.0])), 6)  # log(1/2)
        -0.693147
    """
    return -tf.reduce_mean(tf.nn.softplus(_f32(fake_logits)))


def non_saturating_generator_loss(fake_logits: tf.Tensor | Sequence[float]) -> tf.Tensor:
    """``-log D(G(z))`` (Goodfellow et al. 2014, section 3): strong gradients early on.

    Args:
        fake_logits: Discriminator logits on generated data, shape ``(batch,)`` or ``(batch, 1)``.

    Returns:
        Scalar float32 batch mean.

    Example:
        >>> round(float(non_saturating_generator_loss([0.0])), 6)
        0.693147
    """
    return tf.reduce_mean(tf.nn.softplus(-_f32(fake_logits)))


def least_squares_discriminator_loss(real_scores: tf.Tensor | Sequence[float], fake_scores: tf.Tensor | Sequence[float],
                                     label_smoothing: float = 0.0) -> tf.Tensor:
    """``(D(x) - t)^2 / 2 + D(G(z))^2 / 2`` with ``t = 1 - label_smoothing`` (LSGAN, a=0, b=c=1).

    Args:
        real_scores: Discriminator outputs on real data, shape ``(batch,)`` or ``(batch, 1)``.
        fake_scores: Discriminator outputs on generated data.
        label_smoothing: ``s`` in ``[0, 1)``; real target ``1 - s``.

    Returns:
        Scalar float32 batch mean (real and fake terms summed).

    Example:
        >>> float(least_squares_discriminator_loss([1.0], [1.0]))
        0.5
    """
    target = 1.0 - _check_smoothing(label_smoothing)
    real, fake = _f32(real_scores), _f32(fake_scores)
    return 0.5 * tf.reduce_mean(tf.square(real - target)) + 0.5 * tf.reduce_mean(tf.square(fake))


def least_squares_generator_loss(fake_scores: tf.Tensor | Sequence[float]) -> tf.Tensor:
    """``(D(G(z)) - 1)^2 / 2`` (LSGAN generator).

    Args:
        fake_scores: Discriminator outputs on generated data, shape ``(batch,)`` or ``(batch, 1)``.

    Returns:
        Scalar float32 batch mean.

    Example:
        >>> float(least_squares_generator_loss([0.0]))
        0.5
    """
    return 0.5 * tf.reduce_mean(tf.square(_f32(fake_scores) - 1.0))


def hinge_discriminator_loss(real_scores: tf.Tensor | Sequence[float], fake_scores: tf.Tensor | Sequence[float],
                             label_smoothing: float = 0.0) -> tf.Tensor:
    """``relu(1 - D(x)) + relu(1 + D(G(z)))`` (geometric GAN / SN-GAN).

    Args:
        real_scores: Discriminator outputs on real data, shape ``(batch,)`` or ``(batch, 1)``.
        fake_scores: Discriminator outputs on generated data.
        label_smoothing: Must be 0 (taken so that every discriminator loss has one signature).

    Returns:
        Scalar float32 batch mean (real and fake terms summed).

    Raises:
        InputValidationError: a nonzero ``label_smoothing``.

    Example:
        >>> float(hinge_discriminator_loss([0.5], [0.5]))
        2.0
    """
    if label_smoothing:
        raise InputValidationError(f"label_smoothing applies to the {SMOOTHABLE} losses, not hinge.")
    real, fake = _f32(real_scores), _f32(fake_scores)
    return tf.reduce_mean(tf.nn.relu(1.0 - real)) + tf.reduce_mean(tf.nn.relu(1.0 + fake))


def critic_generator_loss(fake_scores: tf.Tensor | Sequence[float]) -> tf.Tensor:
    """``-D(G(z))``: the generator loss of the hinge and Wasserstein GANs.

    Args:
        fake_scores: Discriminator (critic) outputs on generated data, shape ``(batch,)`` or ``(batch, 1)``.

    Returns:
        Scalar float32 batch mean.

    Example:
        >>> float(critic_generator_loss([2.0]))
        -2.0
    """
    return -tf.reduce_mean(_f32(fake_scores))


def wasserstein_critic_loss(real_scores: tf.Tensor | Sequence[float], fake_scores: tf.Tensor | Sequence[float],
                            label_smoothing: float = 0.0) -> tf.Tensor:
    """``D(G(z)) - D(x)``: minus the critic's estimate of the Wasserstein-1 distance.

    The gradient penalty is added separately (:func:`gradient_penalty`).

    Args:
        real_scores: Critic outputs on real data, shape ``(batch,)`` or ``(batch, 1)``.
        fake_scores: Critic outputs on generated data.
        label_smoothing: Must be 0 (taken so that every discriminator loss has one signature).

    Returns:
        Scalar float32: the mean fake score minus the mean real score.

    Raises:
        InputValidationError: a nonzero ``label_smoothing``.

    Example:
        >>> float(wasserstein_critic_loss([3.0], [1.0]))
        -2.0
    """
    if label_smoothing:
        raise InputValidationError(f"label_smoothing applies to the {SMOOTHABLE} losses, not wasserstein_gp.")
    return tf.reduce_mean(_f32(fake_scores)) - tf.reduce_mean(_f32(real_scores))


def gradient_penalty(gradients: tf.Tensor | Sequence[Sequence[float]]) -> tf.Tensor:
    """``mean_i (||g_i||_2 - 1)^2``: the WGAN-GP penalty on critic input gradients.

    Args:
        gradients: ``d critic / d x_hat`` at the interpolates, shape ``(batch, ...)``.

    Returns:
        Scalar float32 batch mean.

    Example:
        >>> float(gradient_penalty([[3.0, 4.0]]))  # (5 - 1)^2
        16.0
    """
    g = tf.cast(gradients, tf.float32)
    g = tf.reshape(g, [tf.shape(g)[0], -1])
    # A tiny epsilon keeps the norm's gradient finite where g == 0.
    norm = tf.sqrt(tf.reduce_sum(tf.square(g), axis=1) + 1e-12)
    return tf.reduce_mean(tf.square(norm - 1.0))


def interpolate(real: tf.Tensor, fake: tf.Tensor, alpha: tf.Tensor) -> tf.Tensor:
    """``alpha * real + (1 - alpha) * fake``, with one ``alpha`` per example.

    Args:
        real: Real batch ``(batch, ...)``.
        fake: Generated batch, same shape.
        alpha: ``(batch,)`` mixing weights in [0, 1].

    Returns:
        The interpolates, where WGAN-GP evaluates the critic's gradient.

    Example:
        >>> interpolate(tf.ones((1, 2)), tf.zeros((1, 2)), tf.constant([0.25])).numpy().tolist()
        [[0.25, 0.25]]
    """
    real = tf.convert_to_tensor(real)
    alpha = tf.cast(tf.reshape(alpha, [-1] + [1] * (len(real.shape) - 1)), real.dtype)
    return alpha * real + (1.0 - alpha) * tf.cast(fake, real.dtype)


class GANLoss(NamedTuple):
    """A discriminator loss, a generator loss, and how to read the discriminator's output.

    ``gradient_penalty`` adds the WGAN-GP penalty to the discriminator loss, and
    ``default_n_critic`` is the number of discriminator updates per generator update.

    Example:
        >>> spec = GANLoss(hinge_discriminator_loss, critic_generator_loss, probability_output=False)
        >>> float(spec.discriminator([0.5], [0.5])), float(spec.generator([2.0])), spec.default_n_critic
        (2.0, -2.0, 1)
    """

    discriminator: Callable[..., tf.Tensor]
    generator: Callable[[tf.Tensor], tf.Tensor]
    probability_output: bool  # True: outputs are logits of P(real); scores reported as sigmoid
    gradient_penalty: bool = False
    default_n_critic: int = 1


GAN_LOSSES: dict[str, GANLoss] = {
    "minimax": GANLoss(cross_entropy_discriminator_loss, minimax_generator_loss, True),
    "non_saturating": GANLoss(cross_entropy_discriminator_loss, non_saturating_generator_loss, True),
    "least_squares": GANLoss(least_squares_discriminator_loss, least_squares_generator_loss, False),
    "hinge": GANLoss(hinge_discriminator_loss, critic_generator_loss, False),
    "wasserstein_gp": GANLoss(wasserstein_critic_loss, critic_generator_loss, False, True, 5),
}


def get_gan_loss(name: str) -> GANLoss:
    """The :class:`GANLoss` called ``name`` (one of :data:`GAN_LOSSES`).

    Args:
        name: ``"minimax"``, ``"non_saturating"``, ``"least_squares"``, ``"hinge"`` or ``"wasserstein_gp"``.

    Returns:
        The losses and options of that GAN.

    Raises:
        InputValidationError: an unknown ``name``.

    Example:
        >>> get_gan_loss("hinge").gradient_penalty
        False
    """
    return GAN_LOSSES[check_choice(name, "GAN loss", tuple(GAN_LOSSES))]
