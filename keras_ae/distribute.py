"""Loss scaling for custom ``train_step``s under ``tf.distribute``.

Under a strategy each replica sees ``global_batch / replicas`` examples and the
optimizer *sums* gradients across replicas. A replica's mean loss must therefore be
divided by the number of replicas, so that the summed gradient is the gradient of the
mean over the global batch (what one device would compute). Trackers get the unscaled
value, weighted by the local batch size, so the reported epoch mean is exact.
"""

from __future__ import annotations

import tensorflow as tf


def num_replicas() -> int:
    """Number of replicas of the current ``tf.distribute`` strategy (1 without one).

    Example:
        >>> num_replicas()
        1
    """
    return tf.distribute.get_strategy().num_replicas_in_sync


def scale_loss_for_replicas(loss: tf.Tensor) -> tf.Tensor:
    """Divides a per-replica mean loss by the number of replicas.

    Args:
        loss: Scalar mean loss over the replica's local batch.

    Returns:
        The loss whose gradients, summed over replicas, give the global-batch mean.

    Example:
        >>> float(scale_loss_for_replicas(tf.constant(2.0)))
        2.0
    """
    n = num_replicas()
    return loss if n == 1 else loss * tf.cast(1.0 / n, loss.dtype)


def batch_size_of(x) -> tf.Tensor:
    """The (local) batch size of a tensor or nested structure, as a float32 scalar.

    Example:
        >>> float(batch_size_of(tf.zeros((3, 2))))
        3.0
    """
    first = tf.nest.flatten(x)[0]
    return tf.cast(tf.shape(first)[0], tf.float32)
