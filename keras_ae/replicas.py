"""Loss scaling for custom ``train_step``s and layers under ``tf.distribute``.

Under a strategy each replica sees a slice of the global batch and the optimizer *sums*
gradients across replicas. A replica's mean loss must therefore be weighted by its share
of the global batch (``local / global``; ``1 / replicas`` for even splits), so that the
summed gradient is the gradient of the mean over the global batch (what one device would
compute). A final partial batch can split unevenly, down to *empty* replicas: those run
the step on one zero example weighted 0 (:func:`nonempty_batch`). Trackers get the
unscaled value, weighted by the local batch size, so the reported epoch mean is exact.

A foundation module (below ``layers/``, ``data/`` and ``training/``, which all use it): it
imports nothing of keras_ae.
"""

from __future__ import annotations

import tensorflow as tf


def num_replicas() -> int:
    """Number of replicas of the current ``tf.distribute`` strategy (1 without one).

    Returns:
        ``num_replicas_in_sync`` of the strategy in scope (the default strategy: 1).

    Example:
        >>> num_replicas()
        1
    """
    return tf.distribute.get_strategy().num_replicas_in_sync


def replica_batch_position(batch_size: int | tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Where this replica's examples sit in the global batch.

    Args:
        batch_size: This replica's (local) batch size, a scalar tensor (or an int).

    Returns:
        ``(offset, global_batch_size)`` as int64 scalars: the replica holds examples
        ``offset .. offset + batch_size - 1`` of the global batch. Without a strategy,
        ``(0, batch_size)``. Costs one all-reduce of ``replicas`` numbers per call under
        a strategy.

    Example:
        >>> [int(v) for v in replica_batch_position(tf.constant(8))]
        [0, 8]
    """
    local = tf.cast(batch_size, tf.int64)
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return tf.zeros([], tf.int64), local
    n = context.num_replicas_in_sync
    # Every replica writes its size at its own index: the sum is the list of all sizes.
    # float32 like the gradients' all-reduce (exact for batches below 2**24 examples).
    mine = tf.one_hot(context.replica_id_in_sync_group, n, on_value=tf.cast(local, tf.float32), off_value=0.0)
    sizes = tf.cast(context.all_reduce("SUM", mine), tf.int64)
    before = tf.range(n) < tf.cast(context.replica_id_in_sync_group, tf.int32)
    return tf.reduce_sum(tf.where(before, sizes, 0)), tf.reduce_sum(sizes)


def scale_loss_for_replicas(loss: tf.Tensor, batch_size: int | float | tf.Tensor | None = None) -> tf.Tensor:
    """Weights a per-replica mean loss by the replica's share of the global batch.

    Args:
        loss: Scalar mean loss over the replica's local batch.
        batch_size: The local batch size. With it the weight is exact for uneven splits
            (``local / global``) and an empty replica contributes 0; without it the weight
            is ``1 / replicas`` (exact for even splits only).

    Returns:
        The loss whose gradients, summed over replicas, give the global-batch mean.

    Example:
        >>> float(scale_loss_for_replicas(tf.constant(2.0), batch_size=tf.constant(4.0)))
        2.0
    """
    n = num_replicas()
    if n == 1:
        return loss
    if batch_size is None:
        return loss * tf.cast(1.0 / n, loss.dtype)
    local = tf.cast(batch_size, loss.dtype)
    _, total = replica_batch_position(batch_size)
    # where, not multiply: the mean over an empty replica is NaN and NaN * 0 is NaN.
    return tf.where(local > 0, loss * local / tf.cast(total, loss.dtype), tf.zeros_like(loss))


def nonempty_batch(x: tf.Tensor, *others: tf.Tensor | None) -> tuple[tf.Tensor | None, ...]:
    """Pads an empty replica batch with one zero example; returns the true batch size too.

    A final partial batch may leave a replica with no examples. It must still run the step
    (the gradient all-reduce waits for every replica), but a mean over no examples is NaN
    and oneDNN's convolution gradients fail on empty batches on CPU. The padded example is
    weighted 0 by :func:`scale_loss_for_replicas` and by the trackers (pass them the true
    batch size). Without a multi-replica strategy the inputs come back unchanged.

    Args:
        x: The replica's inputs.
        *others: Tensors with the same first axis (targets, labels) or ``None``.

    Returns:
        ``(x, *others, batch_size)`` with ``batch_size`` the float32 count before padding.

    Example:
        >>> x, y, n = nonempty_batch(tf.zeros((3, 2)), None)
        >>> x.shape, y, float(n)
        (TensorShape([3, 2]), None, 3.0)
    """
    batch = batch_size_of(x)
    if num_replicas() == 1:
        return (x, *others, batch)

    def pad(t):
        if t is None:
            return None
        one = tf.zeros(tf.concat([[1], tf.shape(t)[1:]], axis=0), t.dtype)
        return tf.cond(tf.shape(t)[0] > 0, lambda: t, lambda: one)

    return (pad(x), *[pad(t) for t in others], batch)


def global_rows(t: tf.Tensor, rows: int | tf.Tensor | None = None) -> tf.Tensor:
    """The rows of ``t`` from every replica, in global batch order (``t`` itself on one device).

    For losses that are statistics of the whole batch (the WAE's MMD, beta-TCVAE's aggregate
    posterior): gathered with ``ReplicaContext.all_gather``, whose gradient sums back over the
    replicas, so one step on several devices equals one step on one device.

    Args:
        t: This replica's rows.
        rows: How many leading rows are real examples (the rest pads an empty replica's batch,
            :func:`nonempty_batch`, and is left out); ``None``: all of them.

    Returns:
        The concatenated rows.

    Example:
        >>> global_rows(tf.ones((3, 2))).shape  # one device: t itself
        TensorShape([3, 2])
    """
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return t
    if rows is not None:
        t = t[:tf.cast(rows, tf.int32)]
    return context.all_gather(t, axis=0)


def batch_size_of(x: tf.Tensor | tuple | list | dict) -> tf.Tensor:
    """The (local) batch size of a tensor or nested structure, as a float32 scalar.

    Args:
        x: A tensor, or a nested structure (tuple, list, dict) of tensors; the first tensor
            of ``tf.nest.flatten(x)`` is measured.

    Returns:
        A float32 scalar tensor: the length of that tensor's first axis.

    Example:
        >>> float(batch_size_of(tf.zeros((3, 2))))
        3.0
    """
    first = tf.nest.flatten(x)[0]
    return tf.cast(tf.shape(first)[0], tf.float32)
