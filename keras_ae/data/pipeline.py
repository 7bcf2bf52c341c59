"""``tf.data`` input pipelines for keras_ae models."""

from __future__ import annotations

import numpy as np


def make_tf_dataset(
    x: np.ndarray,
    y: np.ndarray | None = None,
    batch_size: int = 256,
    shuffle: bool = True,
    seed: int | None = 0,
    drop_remainder: bool = False,
    repeat: bool = False,
):
    """Builds a batched, prefetched ``tf.data.Dataset`` from in-memory arrays.

    Unlabelled data yields ``x`` batches (what ``AutoEncoder.fit`` expects); labelled
    data yields ``(x, y)`` pairs.

    Args:
        x: Examples.
        y: Optional targets or labels.
        batch_size: Examples per batch.
        shuffle: Reshuffle every epoch (a full in-memory shuffle).
        seed: Shuffle seed, for reproducible order.
        drop_remainder: Drop the last partial batch (static batch shape for XLA/TPU).
        repeat: Repeat forever (then pass ``steps_per_epoch`` to ``fit``).

    Returns:
        A ``tf.data.Dataset``.

    Example:
        >>> ds = make_tf_dataset(np.zeros((10, 4), "float32"), batch_size=4)
        >>> [b.shape[0] for b in ds]
        [4, 4, 2]
    """
    import tensorflow as tf

    from keras_ae.validation import check_array, check_positive_int

    x = check_array(x, "x")
    batch_size = check_positive_int(batch_size, "batch_size")
    ds = tf.data.Dataset.from_tensor_slices(x if y is None else (x, np.asarray(y)))
    if shuffle:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    return ds.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)
