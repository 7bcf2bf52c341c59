"""Noise schedules, the forward process and the variational bound of diffusion models.

Pure functions of a :class:`NoiseSchedule` and tensors, written as the papers write them,
so that the tests can check them without a network:

| function | formula |
| --- | --- |
| :func:`linear_betas` | ``beta_t`` evenly spaced in ``[1e-4, 0.02] * 1000 / T`` (Ho et al. 2020) |
| :func:`cosine_betas` | ``abar_t = f(t) / f(0)``, ``f(t) = cos((t/T + s) / (1 + s) pi/2)^2`` (Nichol & Dhariwal) |
| :func:`q_sample` | ``x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps`` |
| :func:`q_posterior` | ``q(x_{t-1} | x_t, x_0) = N(c1 x_0 + c2 x_t, beta~_t)`` |
| :func:`x0_from_eps` | ``x_0 = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t)`` |
| :func:`variational_bound` | ``L_T + sum_{t>1} KL(q(x_{t-1}|x_t,x_0) || p(x_{t-1}|x_t)) + L_0`` (Ho et al. Eq. 5) |

Timesteps are 0-based indices: index ``i`` is the paper's ``t = i + 1``. The reverse
process uses the variance ``beta~_t`` of the forward posterior, with the first step's
(zero) variance replaced by the second's ("fixed small", as in Nichol & Dhariwal's code).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable, Sequence

import numpy as np
import tensorflow as tf

from keras_ae.errors import InputValidationError
from keras_ae.models.common import check_size
from keras_ae.validation import MAX_TIMESTEPS

SCHEDULES = ("linear", "cosine")
VARIANCES = ("small", "large")


def check_timesteps(timesteps: int) -> int:
    """``T`` as an int in ``[2, MAX_TIMESTEPS]`` (the builder, the model and its saved config check it alike).

    Args:
        timesteps: The number of diffusion steps ``T``.

    Returns:
        ``int(timesteps)``.

    Raises:
        InputValidationError: ``timesteps`` is not an integer in ``[2, MAX_TIMESTEPS]``.

    Example:
        >>> check_timesteps(1000)
        1000
    """
    return check_size(timesteps, "timesteps", MAX_TIMESTEPS,
                      "the schedule keeps arrays of T numbers and the likelihood bound takes one network pass per "
                      "timestep (DDPM uses 1000)", minimum=2)


def linear_betas(timesteps: int, beta_start: float = 1e-4, beta_end: float = 0.02) -> np.ndarray:
    """Ho et al.'s linear schedule, rescaled by ``1000 / T`` so that any ``T`` spans the same noise.

    Args:
        timesteps: The number of steps ``T`` (checked by :func:`check_timesteps`).
        beta_start: ``beta`` of the first step at ``T = 1000``.
        beta_end: ``beta`` of the last step at ``T = 1000`` (after rescaling, capped at 0.999).

    Returns:
        float64 ``(T,)``: ``beta_t`` evenly spaced from ``beta_start * 1000 / T`` to
        ``min(beta_end * 1000 / T, 0.999)``.

    Example:
        >>> betas = linear_betas(1000)
        >>> float(betas[0]), float(betas[-1])
        (0.0001, 0.02)
    """
    timesteps = check_timesteps(timesteps)
    scale = 1000.0 / timesteps
    return np.linspace(scale * beta_start, min(scale * beta_end, 0.999), timesteps, dtype=np.float64)


def cosine_betas(timesteps: int, s: float = 0.008, max_beta: float = 0.999) -> np.ndarray:
    """Nichol & Dhariwal's cosine schedule: ``abar_t`` falls like ``cos^2``; ``beta_t`` capped at ``max_beta``.

    Args:
        timesteps: The number of steps ``T`` (checked by :func:`check_timesteps`).
        s: The offset that keeps ``beta_t`` from being tiny near ``t = 0``.
        max_beta: Upper bound of each ``beta_t`` (keeps the last steps from being singular).

    Returns:
        float64 ``(T,)``: ``beta_t = min(1 - abar_t / abar_{t-1}, max_beta)``.

    Example:
        >>> betas = cosine_betas(1000)
        >>> bool(np.all(np.diff(betas) > 0)), float(betas[-1])
        (True, 0.999)
    """
    timesteps = check_timesteps(timesteps)
    f = np.cos((np.arange(timesteps + 1, dtype=np.float64) / timesteps + s) / (1 + s) * math.pi / 2) ** 2
    return np.minimum(1.0 - f[1:] / f[:-1], max_beta)


@dataclasses.dataclass(frozen=True)
class NoiseSchedule:
    """The constants of a forward process ``q(x_t | x_{t-1}) = N(sqrt(1 - beta_t) x_{t-1}, beta_t)``.

    All arrays are float64 of length ``T``, indexed by the 0-based timestep.

    Example:
        >>> schedule = NoiseSchedule.make("linear", 1000)
        >>> schedule.timesteps, float(schedule.alpha_bar[-1]) < 1e-4
        (1000, True)
    """

    betas: np.ndarray
    variance: str = "small"

    @classmethod
    def make(cls, kind: str, timesteps: int, variance: str = "small") -> "NoiseSchedule":
        """The ``"linear"`` or ``"cosine"`` schedule with ``timesteps`` steps.

        ``variance`` is the reverse process's ``sigma_t^2``: ``"small"`` (``beta~_t``, best
        when ``x_0`` is one point, e.g. discrete pixels) or ``"large"`` (``beta_t``, best for
        ``x_0 ~ N(0, I)``); Ho et al. Sec. 3.2.
        """
        if kind not in SCHEDULES:
            raise InputValidationError(f"schedule must be one of {SCHEDULES}, got {kind!r}.")
        if variance not in VARIANCES:
            raise InputValidationError(f"variance must be one of {VARIANCES}, got {variance!r}.")
        return cls(linear_betas(timesteps) if kind == "linear" else cosine_betas(timesteps), variance)

    @property
    def timesteps(self) -> int:
        return len(self.betas)

    @property
    def alpha_bar(self) -> np.ndarray:
        """``abar_t = prod_{s <= t} (1 - beta_s)``."""
        return np.cumprod(1.0 - self.betas)

    @property
    def alpha_bar_prev(self) -> np.ndarray:
        """``abar_{t-1}`` (1 before the first step)."""
        return np.append(1.0, self.alpha_bar[:-1])

    @property
    def posterior_variance(self) -> np.ndarray:
        """``beta~_t = beta_t (1 - abar_{t-1}) / (1 - abar_t)`` (0 at the first step)."""
        return self.betas * (1.0 - self.alpha_bar_prev) / (1.0 - self.alpha_bar)

    @property
    def posterior_log_variance(self) -> np.ndarray:
        """``log beta~_t``, the first step's (``log 0``) replaced by the second's."""
        var = self.posterior_variance
        return np.log(np.append(var[1], var[1:]))

    @property
    def reverse_log_variance(self) -> np.ndarray:
        """``log sigma_t^2`` of ``p(x_{t-1} | x_t)``: ``log beta~_t`` (``"small"``) or ``log beta_t`` (``"large"``)."""
        return self.posterior_log_variance if self.variance == "small" else np.log(self.betas)

    @property
    def posterior_coefficients(self) -> tuple[np.ndarray, np.ndarray]:
        """``(c1, c2)`` of the posterior mean ``c1 x_0 + c2 x_t``."""
        ab, ab_prev = self.alpha_bar, self.alpha_bar_prev
        c1 = self.betas * np.sqrt(ab_prev) / (1.0 - ab)
        c2 = (1.0 - ab_prev) * np.sqrt(1.0 - self.betas) / (1.0 - ab)
        return c1, c2


def _at(values: np.ndarray, t, like: tf.Tensor) -> tf.Tensor:
    """``values[t]`` as ``like``'s dtype, shaped to broadcast against ``like`` (batch first)."""
    v = tf.gather(tf.constant(values, like.dtype), t)
    return tf.reshape(v, tf.concat([tf.shape(v), tf.ones([tf.rank(like) - 1], tf.int32)], 0))


def q_sample(schedule: NoiseSchedule, x0: tf.Tensor | np.ndarray, t: tf.Tensor, noise: tf.Tensor) -> tf.Tensor:
    """A draw from ``q(x_t | x_0)``: ``sqrt(abar_t) x_0 + sqrt(1 - abar_t) noise``.

    Args:
        schedule: The forward process.
        x0: Clean data ``(batch, ...)``.
        t: int timestep per example ``(batch,)`` (0-based).
        noise: Standard normal noise shaped like ``x0``.

    Returns:
        ``x_t`` shaped like ``x0``.

    Example:
        >>> s = NoiseSchedule.make("linear", 10)
        >>> x_t = q_sample(s, tf.ones((2, 3)), tf.constant([0, 9]), tf.zeros((2, 3)))
        >>> np.allclose(x_t[:, 0], np.sqrt(s.alpha_bar[[0, 9]]))
        True
    """
    x0 = tf.convert_to_tensor(x0)
    return _at(np.sqrt(schedule.alpha_bar), t, x0) * x0 + _at(np.sqrt(1.0 - schedule.alpha_bar), t, x0) * noise


def x0_from_eps(schedule: NoiseSchedule, x_t: tf.Tensor, t: tf.Tensor, eps: tf.Tensor) -> tf.Tensor:
    """The clean data the noise prediction implies: ``(x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t)``.

    Args:
        schedule: The forward process.
        x_t: Noisy data ``(batch, ...)``.
        t: int timestep per example ``(batch,)`` (0-based).
        eps: The predicted noise, shaped like ``x_t``.

    Returns:
        The implied ``x_0``, shaped like ``x_t``.

    Example:
        >>> s = NoiseSchedule.make("linear", 10)
        >>> x0, t, eps = tf.ones((2, 3)), tf.constant([0, 9]), tf.fill((2, 3), 0.5)
        >>> np.allclose(x0_from_eps(s, q_sample(s, x0, t, eps), t, eps), x0)
        True
    """
    return (x_t - _at(np.sqrt(1.0 - schedule.alpha_bar), t, x_t) * eps) / _at(np.sqrt(schedule.alpha_bar), t, x_t)


def q_posterior(schedule: NoiseSchedule, x0: tf.Tensor, x_t: tf.Tensor, t: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Mean and log variance of ``q(x_{t-1} | x_t, x_0)`` (the first step's log variance clipped).

    Args:
        schedule: The forward process.
        x0: Clean data ``(batch, ...)``.
        x_t: Noisy data shaped like ``x0``.
        t: int timestep per example ``(batch,)`` (0-based).

    Returns:
        ``(mean, log_variance)``: the mean ``c1 x_0 + c2 x_t`` shaped like ``x_t``, and
        ``log beta~_t`` shaped ``(batch, 1, ...)`` to broadcast against it.

    Example:
        >>> s = NoiseSchedule.make("linear", 10)
        >>> mean, log_var = q_posterior(s, tf.ones((2, 3)), tf.ones((2, 3)), tf.constant([0, 9]))
        >>> mean.shape, log_var.shape
        (TensorShape([2, 3]), TensorShape([2, 1]))
        >>> bool(np.allclose(mean[0], 1.0))  # at the first step the posterior mean is x_0
        True
    """
    c1, c2 = schedule.posterior_coefficients
    mean = _at(c1, t, x_t) * x0 + _at(c2, t, x_t) * x_t
    return mean, _at(schedule.posterior_log_variance, t, x_t)


def normal_kl(mean1: tf.Tensor | float, logvar1: tf.Tensor | float, mean2: tf.Tensor | float,
              logvar2: tf.Tensor | float) -> tf.Tensor:
    """``KL(N(mean1, exp logvar1) || N(mean2, exp logvar2))`` elementwise, in nats.

    Args:
        mean1: Mean of the first Gaussian.
        logvar1: Log variance of the first Gaussian.
        mean2: Mean of the second Gaussian.
        logvar2: Log variance of the second Gaussian.

    Returns:
        The divergence, broadcast over the four arguments.

    Example:
        >>> float(normal_kl(0.0, 0.0, 1.0, 0.0))
        0.5
    """
    return 0.5 * (logvar2 - logvar1 + tf.exp(logvar1 - logvar2) + tf.square(mean1 - mean2) * tf.exp(-logvar2) - 1.0)


def _std_normal_cdf(x):
    return 0.5 * (1.0 + tf.math.erf(x / math.sqrt(2.0)))


def discretized_gaussian_log_likelihood(x: tf.Tensor, mean: tf.Tensor, log_scale: tf.Tensor,
                                        levels: int = 256) -> tf.Tensor:
    """``log P(x)`` of data on ``levels`` evenly spaced values in [-1, 1] under a Gaussian cut into bins.

    The bin of ``x`` is ``x +- 1 / (levels - 1)``; the outermost bins reach to +-infinity
    (Ho et al. 2020, Eq. 13), so the probabilities of the ``levels`` values sum to 1.

    Args:
        x: Data on the ``levels`` grid in [-1, 1].
        mean: Mean of the Gaussian, broadcastable against ``x``.
        log_scale: Log standard deviation of the Gaussian, broadcastable against ``x``.
        levels: The number of values the data takes.

    Returns:
        ``log P(x)`` elementwise (each probability floored at ``1e-12``), shaped like ``x``.

    Example:
        >>> grid = tf.constant(np.linspace(-1, 1, 256))
        >>> log_scale = tf.fill([256], tf.constant(-1.0, tf.float64))
        >>> p = tf.exp(discretized_gaussian_log_likelihood(grid, tf.zeros(256, tf.float64), log_scale))
        >>> round(float(tf.reduce_sum(p)), 6)
        1.0
    """
    half = 1.0 / (levels - 1)
    inv = tf.exp(-log_scale)
    centred = x - mean
    cdf_plus = _std_normal_cdf(inv * (centred + half))
    cdf_min = _std_normal_cdf(inv * (centred - half))
    tiny = 1e-12
    log_cdf_plus = tf.math.log(tf.maximum(cdf_plus, tiny))
    log_one_minus_cdf_min = tf.math.log(tf.maximum(1.0 - cdf_min, tiny))
    log_bin = tf.math.log(tf.maximum(cdf_plus - cdf_min, tiny))
    return tf.where(x < -1.0 + 1e-3, log_cdf_plus, tf.where(x > 1.0 - 1e-3, log_one_minus_cdf_min, log_bin))


def gaussian_log_likelihood(x: tf.Tensor, mean: tf.Tensor, log_scale: tf.Tensor) -> tf.Tensor:
    """``log N(x; mean, exp(log_scale)^2)`` elementwise (the continuous decoder).

    Args:
        x: The data.
        mean: Mean of the Gaussian, broadcastable against ``x``.
        log_scale: Log standard deviation of the Gaussian, broadcastable against ``x``.

    Returns:
        The log density in nats, broadcast over the three arguments.

    Example:
        >>> round(float(gaussian_log_likelihood(tf.constant(0.0), 0.0, 0.0)), 6)  # -log(2 pi) / 2
        -0.918939
    """
    return -0.5 * (math.log(2 * math.pi) + 2.0 * log_scale + tf.square(x - mean) * tf.exp(-2.0 * log_scale))


DECODERS = ("discretized", "continuous")
EpsFn = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]


def stateless_normal(shape: tf.Tensor | Sequence[int], seed: tf.Tensor | int, index: tf.Tensor | int,
                     dtype: tf.DType = tf.float32) -> tf.Tensor:
    """Standard normal noise as a function of ``(seed, index)`` only (int64 seed, int32 index).

    Args:
        shape: Shape of the noise.
        seed: int64 scalar seed.
        index: int scalar, e.g. the timestep the noise is for (the stateless seed is ``(seed, index + 1)``).
        dtype: Float dtype of the noise.

    Returns:
        Philox standard normal noise of ``shape`` and ``dtype``; the same ``(seed, index)`` gives the same draw.

    Example:
        >>> a = stateless_normal([2, 3], 0, 5)
        >>> a.shape, a.dtype, bool(tf.reduce_all(a == stateless_normal([2, 3], 0, 5)))
        (TensorShape([2, 3]), tf.float32, True)
    """
    pair = tf.stack([tf.cast(seed, tf.int64), tf.cast(index, tf.int64) + 1])
    return tf.random.stateless_normal(shape, seed=pair, dtype=dtype, alg="philox")


def variational_bound(schedule: NoiseSchedule, eps_fn: EpsFn, x0: tf.Tensor | np.ndarray, seed: tf.Tensor | int,
                      decoder: str = "discretized", timesteps: tf.Tensor | Sequence[int] | None = None,
                      levels: int = 256) -> dict[str, tf.Tensor]:
    """The terms of Ho et al.'s Eq. 5, per example in nats, with one draw of ``x_t`` per term.

    ``L_T = KL(q(x_T | x_0) || N(0, I))``, ``L_{t-1} = KL(q(x_{t-1} | x_t, x_0) || p(x_{t-1} | x_t))``
    for ``t >= 2`` and ``L_0 = -log p(x_0 | x_1)``: a Gaussian cut into ``levels`` bins
    (``decoder="discretized"``, 8-bit data) or a density (``"continuous"``). Their sum
    bounds ``-log p(x_0)`` from above. Runs as one ``tf.while_loop`` over the timesteps.

    Args:
        schedule: The forward process.
        eps_fn: ``(x_t, t) -> predicted noise`` (``t`` an int32 vector, one per example).
        x0: Data ``(batch, ...)`` in [-1, 1] (on the ``levels`` grid for the discretized decoder).
        seed: int64 scalar; term ``t`` draws its noise from ``(seed, t)``.
        decoder: ``"discretized"`` or ``"continuous"``.
        timesteps: ``None`` sums every ``L_{t-1}`` (``T - 1`` network calls); an int32
            vector of distinct indices in ``[1, T)`` estimates the sum from those terms,
            scaled by ``(T - 1) / len(timesteps)`` (unbiased for a uniformly drawn set).
        levels: Values of the discretized data.

    Returns:
        ``{"prior": L_T, "diffusion": sum of L_{t-1}, "decoder": L_0, "total": their sum}``.

    Example:
        >>> s = NoiseSchedule.make("linear", 20)
        >>> x0 = tf.zeros((3, 2), tf.float64)
        >>> terms = variational_bound(s, lambda x, t: tf.zeros_like(x), x0, seed=0, decoder="continuous")
        >>> terms["total"].shape
        TensorShape([3])
    """
    if decoder not in DECODERS:
        raise InputValidationError(f"decoder must be one of {DECODERS}, got {decoder!r}.")
    x0 = tf.convert_to_tensor(x0)
    dtype, batch = x0.dtype, tf.shape(x0)[0]
    axes = list(range(1, x0.shape.rank))
    T = schedule.timesteps
    seed = tf.cast(seed, tf.int64)
    ab_T = float(schedule.alpha_bar[-1])
    prior = tf.reduce_sum(normal_kl(math.sqrt(ab_T) * x0, tf.cast(math.log(1.0 - ab_T), dtype),
                                    tf.zeros_like(x0), tf.zeros((), dtype)), axes)
    ts = tf.range(1, T, dtype=tf.int32) if timesteps is None else tf.cast(timesteps, tf.int32)
    weight = tf.cast(T - 1, dtype) / tf.cast(tf.maximum(tf.size(ts), 1), dtype)

    def reverse(t):
        """``x_t ~ q(x_t | x_0)`` and the mean of ``p(x_{t-1} | x_t)``, for timestep ``t`` (a scalar)."""
        t_vec = tf.fill([batch], t)
        x_t = q_sample(schedule, x0, t_vec, stateless_normal(tf.shape(x0), seed, t, dtype))
        eps = tf.cast(eps_fn(x_t, t_vec), dtype)
        x0_hat = x0_from_eps(schedule, x_t, t_vec, eps)
        mean = q_posterior(schedule, x0_hat, x_t, t_vec)[0]
        return t_vec, x_t, mean, _at(schedule.reverse_log_variance, t_vec, x_t)

    def body(i, total):
        t_vec, x_t, mean, log_var = reverse(ts[i])
        true_mean, true_log_var = q_posterior(schedule, x0, x_t, t_vec)
        return i + 1, total + tf.reduce_sum(normal_kl(true_mean, true_log_var, mean, log_var), axes)

    diffusion = tf.while_loop(lambda i, _: i < tf.size(ts), body, (tf.constant(0), tf.zeros([batch], dtype)))[1]
    _, _, mean, log_var = reverse(tf.constant(0))
    if decoder == "discretized":
        log_p = discretized_gaussian_log_likelihood(x0, mean, 0.5 * log_var, levels)
    else:
        log_p = gaussian_log_likelihood(x0, mean, 0.5 * log_var)
    decoder_nll = -tf.reduce_sum(log_p, axes)
    diffusion = weight * diffusion
    return {"prior": prior, "diffusion": diffusion, "decoder": decoder_nll, "total": prior + diffusion + decoder_nll}


__all__ = ["DECODERS", "NoiseSchedule", "SCHEDULES", "VARIANCES", "check_timesteps", "cosine_betas",
           "discretized_gaussian_log_likelihood", "gaussian_log_likelihood", "linear_betas", "normal_kl", "q_posterior",
           "q_sample", "stateless_normal", "variational_bound", "x0_from_eps"]
