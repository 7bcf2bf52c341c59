"""The reverse walks of the samplers: DDIM / DDPM timesteps and steps, DPM-Solver++(2M).

Pure functions of a :class:`~keras_ae.models.diffusion.schedules.NoiseSchedule` (the plans:
timesteps and per-step constants, in NumPy) and of tensors (one step), which the compiled
sampling loop of :mod:`keras_ae.models.diffusion.sampling` runs:

| function | what |
| --- | --- |
| :func:`sampling_plan`, :func:`ddim_step` | DDIM (``eta = 0``) and ancestral DDPM steps on evenly spaced timesteps |
| :func:`dpm_solver_plan`, :func:`dpm_solver_step` | DPM-Solver++(2M) on :func:`logsnr_timesteps` |
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from keras_ae.models.diffusion.schedules import NoiseSchedule


def respaced_timesteps(timesteps: int, steps: int) -> np.ndarray:
    """``steps`` timesteps evenly spaced over ``[0, T)``, rounded, ascending: the walk of every sampler.

    Args:
        timesteps: The number of diffusion steps ``T``.
        steps: How many timesteps to pick, ``1 <= steps <= T``.

    Returns:
        int64 timesteps, ascending and distinct (fewer than ``steps`` only where rounding repeats one).

    Example:
        >>> respaced_timesteps(1000, 4).tolist()
        [0, 333, 666, 999]
    """
    return np.unique(np.round(np.linspace(0, timesteps - 1, steps)).astype(np.int64))


def sampling_plan(schedule: NoiseSchedule, steps: int, eta: float) -> dict[str, np.ndarray]:
    """The timesteps and constants of a ``steps``-step DDIM walk (Song et al. 2021), noisiest first.

    ``tau`` is ``steps`` evenly spaced timesteps of ``[0, T)``; step ``i`` goes from
    ``tau_i`` to ``tau_{i-1}`` with noise ``sigma_i = eta sqrt((1 - abar_prev) / (1 - abar)
    (1 - abar / abar_prev))``: ``eta = 0`` is DDIM, ``eta = 1`` ancestral (DDPM) sampling
    of the process respaced to ``tau`` (Nichol & Dhariwal 2021).

    Args:
        schedule: The forward process.
        steps: Network calls of the walk, ``1 <= steps <= T``.
        eta: Noise scale, >= 0 (0: DDIM, 1: ancestral DDPM sampling).

    Returns:
        ``{"t", "alpha_bar", "alpha_bar_prev", "sigma"}``, one entry per step, noisiest first:
        the int32 timesteps ``tau_i``, ``abar`` at ``tau_i`` and at ``tau_{i-1}`` (1 at the last
        step) and ``sigma_i`` (float64).

    Example:
        >>> plan = sampling_plan(NoiseSchedule.make("linear", 1000), steps=4, eta=0.0)
        >>> plan["t"].tolist(), plan["sigma"].tolist()
        ([999, 666, 333, 0], [0.0, 0.0, 0.0, 0.0])
    """
    tau = respaced_timesteps(schedule.timesteps, steps)
    ab = schedule.alpha_bar[tau]
    ab_prev = np.append(1.0, ab[:-1])
    sigma = eta * np.sqrt((1.0 - ab_prev) / (1.0 - ab) * (1.0 - ab / ab_prev))
    return {"t": tau[::-1].astype(np.int32), "alpha_bar": ab[::-1], "alpha_bar_prev": ab_prev[::-1],
            "sigma": sigma[::-1]}


def ddim_step(x_t: tf.Tensor, eps: tf.Tensor, alpha_bar: tf.Tensor | float, alpha_bar_prev: tf.Tensor | float,
              sigma: tf.Tensor | float, noise: tf.Tensor, clip: bool = True) -> tuple[tf.Tensor, tf.Tensor]:
    """One step of the generalized (DDIM) reverse process.

    ``x_0^ = (x_t - sqrt(1 - abar) eps) / sqrt(abar)`` (clipped to [-1, 1] when ``clip``,
    with ``eps`` recomputed from it), then
    ``x_prev = sqrt(abar_prev) x_0^ + sqrt(1 - abar_prev - sigma^2) eps + sigma noise``
    (the square root's argument floored at 0).

    Args:
        x_t: The current noisy images.
        eps: The predicted noise, shaped like ``x_t``.
        alpha_bar: ``abar`` at the current timestep (a float32 scalar or one broadcastable against ``x_t``).
        alpha_bar_prev: ``abar`` at the timestep the step goes to.
        sigma: The step's noise scale (0 for DDIM).
        noise: Standard normal noise shaped like ``x_t``.
        clip: Clip the predicted ``x_0`` to [-1, 1].

    Returns:
        ``(x_prev, x_0^)``.

    Example:
        >>> x_prev, x0 = ddim_step(tf.fill([2], 0.5), tf.zeros(2), 0.25, 1.0, 0.0, tf.zeros(2))
        >>> x_prev.numpy().tolist(), x0.numpy().tolist()
        ([1.0, 1.0], [1.0, 1.0])
    """
    x0 = (x_t - tf.sqrt(1.0 - alpha_bar) * eps) / tf.sqrt(alpha_bar)
    if clip:
        x0 = tf.clip_by_value(x0, -1.0, 1.0)
        eps = (x_t - tf.sqrt(alpha_bar) * x0) / tf.sqrt(1.0 - alpha_bar)
    direction = tf.sqrt(tf.maximum(1.0 - alpha_bar_prev - tf.square(sigma), 0.0))
    return tf.sqrt(alpha_bar_prev) * x0 + direction * eps + sigma * noise, x0


# DPM-Solver++(2M) walks timesteps evenly spaced in lambda = log(alpha / sigma) (Lu et al.'s
# "logSNR" spacing, their choice for low-resolution images), from the clamp
# max(lambda_T, DPM_LAMBDA_FLOOR) to min(lambda_0, DPM_LAMBDA_CEILING), and returns the x0
# predicted at the last of them (a first-order final step to sigma = 0, diffusers'
# final_sigmas_type="zero"). Evenly spaced lambdas make every step-size ratio r = 1, so every
# ODE step but the first is second order (with DDIM's timesteps, r ~ 0.2 into t = 0 and that step
# needed first order). The floor keeps the walk out of the pure-noise end (the cosine schedule's
# lambda falls from -4.3 at t = 990 to -9.9 at t = 999), where uniform lambdas would spend steps on
# x0 predictions that clipping throws away; the ceiling keeps it out of the nearly clean end
# (lambda 4 to 5 at t = 5 to 0: noise of a few 8-bit grey levels, which one x0 prediction removes).
# Measured with recipes/diffusion_solvers.py on the diffusion recipe's model (U-Net 16-32-64, 45
# epochs), FCD of 2,000 samples at 10 steps, up to lambda_0 (t = 0): DDIM's timesteps with a
# first-order last step 17.97; logSNR spacing unclamped 16.30, floor -3 / -4 / -4.5 / -5 / -5.5 /
# -6 / -7: 14.02 / 11.05 / 10.51 / 10.75 / 11.20 / 11.20 / 12.40 (DDIM at 50 steps: 10.16; one
# draw each, about +-0.3 apart between draws). Then on a second model (the recipe's U-Net, 50
# epochs in 48 min), scored as recipes/diffusion_solvers.py scores, the mean FCD of 3 draws (seeds
# 0, 1, 2) of 2,000 samples with floor -4.5, each draw from the same noise for every sampler and
# the ceiling passed to this function: DDIM 50 steps 9.07; DPM-Solver++ 10 steps up to
# lambda_0 9.47 (9.47 with a first-order step into t = 0), ceiling 2.5 / 3 / 3.5 / 4: 8.71 / 8.61 /
# 9.11 / 9.17. With the ceiling at 2.5 or 3, each of the 3 draws scores below DDIM-50's draw from
# the same noise (3: 8.85 / 8.52 / 8.44 vs 9.40 / 9.12 / 8.69).
DPM_LAMBDA_FLOOR = -4.5
DPM_LAMBDA_CEILING = 3.0


def logsnr_timesteps(schedule: NoiseSchedule, steps: int, floor: float = DPM_LAMBDA_FLOOR,
                     ceiling: float = DPM_LAMBDA_CEILING) -> np.ndarray:
    """``steps`` distinct timesteps ``T-1 = t_0 > ... > t_{M-1}``, evenly spaced in lambda in between.

    ``t_1 .. t_{M-1}`` are the timesteps nearest to lambdas evenly spaced from
    ``max(lambda_{T-1}, floor)`` to ``min(lambda_0, ceiling)`` (``lambda = log(alpha / sigma)``),
    moved by one where rounding would repeat a timestep; ``t_0`` is always ``T - 1`` (the walk
    starts from pure noise), and ``t_{M-1} = 0`` when ``ceiling >= lambda_0``.

    Args:
        schedule: The forward process.
        steps: How many timesteps, ``1 <= steps <= T`` (1: ``[T - 1]``).
        floor: The lowest lambda the even spacing starts from.
        ceiling: The highest lambda it ends at.

    Returns:
        int64 timesteps, descending.

    Example:
        >>> logsnr_timesteps(NoiseSchedule.make("cosine", 1000), 10).tolist()
        [999, 983, 961, 913, 805, 600, 341, 157, 65, 24]
        >>> logsnr_timesteps(NoiseSchedule.make("cosine", 1000), 10, ceiling=np.inf).tolist()
        [999, 978, 940, 831, 577, 261, 90, 26, 5, 0]
    """
    T = schedule.timesteps
    if steps == 1:
        return np.array([T - 1], np.int64)
    ab = schedule.alpha_bar
    lam = 0.5 * np.log(ab / (1.0 - ab))  # decreasing in t
    targets = np.linspace(max(lam[T - 1], floor), min(lam[0], ceiling), steps)
    t = np.array([int(np.argmin(np.abs(lam - v))) for v in targets], np.int64)
    t[0] = T - 1
    for i in range(1, steps):  # strictly decreasing, leaving room for the timesteps still to come
        t[i] = max(min(t[i], t[i - 1] - 1), steps - 1 - i)
    return t


def dpm_solver_plan(schedule: NoiseSchedule, steps: int) -> dict[str, np.ndarray]:
    """The timesteps and coefficients of a ``steps``-step DPM-Solver++(2M) walk, noisiest first.

    Lu et al. 2022, Algorithm 2 (the multistep second-order solver of the probability-flow
    ODE in data-prediction form), on the timesteps ``t_0 > ... > t_{M-1}`` of
    :func:`logsnr_timesteps` (``M = steps``). With ``alpha = sqrt(abar)``,
    ``sigma = sqrt(1 - abar)``, ``lambda = log(alpha / sigma)`` and
    ``h_i = lambda_{t_{i+1}} - lambda_{t_i}``, step ``i < M - 1`` is::

        x_{t_{i+1}} = sigma_{t_{i+1}} / sigma_{t_i} x_{t_i} - alpha_{t_{i+1}} (exp(-h_i) - 1) D_i
        D_i = (1 + 1 / (2 r_i)) x0_i - 1 / (2 r_i) x0_{i-1},   r_i = h_{i-1} / h_i

    where ``x0_i`` is the data predicted at ``t_i``. The first step is first order
    (``D_0 = x0_0``, DDIM's step: no earlier prediction). The final step ``M - 1`` returns
    ``x0`` predicted at ``t_{M-1}`` (a first-order step to ``sigma = 0``: the formula with ``h``
    infinite), so the walk calls the network ``steps`` times, as DDIM does.

    Args:
        schedule: The forward process.
        steps: Network calls, ``1 <= steps <= T``.

    Returns:
        ``{"t", "alpha_bar", "x_scale", "x0_scale", "correction"}``, one entry per step:
        ``abar_{t_i}`` (for ``x0_i``), ``sigma_{t_{i+1}} / sigma_{t_i}``,
        ``-alpha_{t_{i+1}} (exp(-h_i) - 1)`` and ``1 / (2 r_i)`` (0 at first order).

    Example:
        >>> plan = dpm_solver_plan(NoiseSchedule.make("linear", 1000), steps=5)
        >>> plan["t"].tolist(), (plan["correction"] > 0).tolist(), float(plan["x0_scale"][-1])
        ([999, 719, 407, 95, 11], [False, True, True, True, False], 1.0)
    """
    tau = logsnr_timesteps(schedule, steps)
    ab = schedule.alpha_bar[tau]
    alpha, sigma = np.sqrt(ab), np.sqrt(1.0 - ab)
    ab_next = np.append(ab[1:], 1.0)
    lam = np.log(alpha / sigma)
    h = np.append(lam[1:], np.inf) - lam  # infinite at the final step (sigma = 0)
    correction = np.zeros(len(tau))
    second_order = np.arange(1, len(tau) - 1)  # an earlier prediction; the final x0 step has no h
    correction[second_order] = h[second_order] / (2.0 * h[second_order - 1])  # 1 / (2 r_i)
    return {"t": tau.astype(np.int32), "alpha_bar": ab, "x_scale": np.sqrt(1.0 - ab_next) / sigma,
            "x0_scale": -np.sqrt(ab_next) * np.expm1(-h), "correction": correction}


def dpm_solver_step(x_t: tf.Tensor, eps: tf.Tensor, alpha_bar: tf.Tensor | float, x0_prev: tf.Tensor,
                    x_scale: tf.Tensor | float, x0_scale: tf.Tensor | float, correction: tf.Tensor | float,
                    clip: bool = True) -> tuple[tf.Tensor, tf.Tensor]:
    """One step of DPM-Solver++(2M) with the coefficients of :func:`dpm_solver_plan`.

    ``x0 = (x_t - sqrt(1 - abar) eps) / sqrt(abar)`` (clipped to [-1, 1] when ``clip``), then
    ``x_next = x_scale x_t + x0_scale (x0 + correction (x0 - x0_prev))``.

    Args:
        x_t: The current noisy images.
        eps: The predicted noise, shaped like ``x_t``.
        alpha_bar: ``abar`` at the current timestep.
        x0_prev: The previous step's ``x0`` (unused when ``correction`` is 0, e.g. zeros at the first step).
        x_scale: The plan's ``sigma_{t_{i+1}} / sigma_{t_i}``.
        x0_scale: The plan's ``-alpha_{t_{i+1}} (exp(-h_i) - 1)``.
        correction: The plan's ``1 / (2 r_i)`` (0 for a first-order step).
        clip: Clip the predicted ``x0`` to [-1, 1].

    Returns:
        ``(x_next, x0)``; ``x0`` is the next step's ``x0_prev``.

    Example:
        >>> x_next, x0 = dpm_solver_step(tf.ones(2), tf.zeros(2), 0.25, tf.zeros(2), 0.5, 0.5, 0.0)
        >>> x_next.numpy().tolist(), x0.numpy().tolist()
        ([1.0, 1.0], [1.0, 1.0])
    """
    x0 = (x_t - tf.sqrt(1.0 - alpha_bar) * eps) / tf.sqrt(alpha_bar)
    if clip:
        x0 = tf.clip_by_value(x0, -1.0, 1.0)
    return x_scale * x_t + x0_scale * (x0 + correction * (x0 - x0_prev)), x0


__all__ = ["DPM_LAMBDA_CEILING", "DPM_LAMBDA_FLOOR", "ddim_step", "dpm_solver_plan", "dpm_solver_step",
           "logsnr_timesteps", "respaced_timesteps", "sampling_plan"]
