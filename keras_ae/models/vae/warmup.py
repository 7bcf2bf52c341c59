"""KL warm-up (annealing) of the VAE's training loss.

Bowman et al. (2016) and Sonderby et al. (2016) raise the KL term's weight from near 0 to 1
at the start of training, so the decoder cannot learn to ignore the latent code before the
encoder has learned to use it. The weight follows the optimizer's step count, so a resumed
run (a loaded ``.keras`` file) continues the ramp where it stopped.
"""

from __future__ import annotations

import tensorflow as tf


def kl_warmup_weight(step: int | tf.Tensor, warmup_steps: int) -> tf.Tensor:
    """``min(1, (step + 1) / warmup_steps)``: the KL weight of training step ``step`` (0-based).

    Args:
        step: The optimizer's iteration count before this step (a tensor or an int).
        warmup_steps: Steps of the ramp (> 0).

    Returns:
        A float32 scalar in ``(0, 1]``.

    Example:
        >>> [round(float(kl_warmup_weight(s, 4)), 2) for s in (0, 1, 3, 10)]
        [0.25, 0.5, 1.0, 1.0]
    """
    step = tf.cast(step, tf.float32) + 1.0
    return tf.minimum(1.0, step / float(warmup_steps))
