"""``tf.data`` input pipelines for keras_ae models.

:func:`array_dataset` is the one array-to-``tf.data`` pipeline: :func:`make_tf_dataset`
checks its arrays and calls it, and ``fit``'s pipeline
(:func:`keras_ae.training.pipeline.fit_pipeline`) calls it with the arrays as given.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import tensorflow as tf


def array_dataset(
    x: np.ndarray,
    y: np.ndarray | None = None,
    batch_size: int = 32,
    shuffle: bool = True,
    seed: int | None = None,
    drop_remainder: bool = False,
    repeat: bool = False,
) -> tf.data.Dataset:
    """Slices in-memory arrays into a batched, prefetched ``tf.data.Dataset`` (no checks).

    Args:
        x: Examples, passed to ``tf.data`` as given (dtype kept).
        y: Optional targets of the same length; the dataset then yields ``(x, y)``.
        batch_size: Examples per batch.
        shuffle: Reshuffle every epoch (a full in-memory shuffle).
        seed: Shuffle seed (``None``: from TensorFlow's global seed).
        drop_remainder: Drop the last partial batch.
        repeat: Repeat forever.

    Returns:
        A ``tf.data.Dataset``.

    Example:
        >>> [b.shape[0] for b in array_dataset(np.zeros((10, 4), "float32"), batch_size=4, shuffle=False)]
        [4, 4, 2]
    """
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices(x if y is None else (x, y))
    if shuffle:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    return ds.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)


def make_tf_dataset(
    x: np.ndarray,
    y: np.ndarray | None = None,
    batch_size: int = 256,
    shuffle: bool = True,
    seed: int | None = 0,
    drop_remainder: bool = False,
    repeat: bool = False,
) -> tf.data.Dataset:
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
        A ``tf.data.Dataset`` of float32 ``x`` batches (``batch_size`` examples, the last one
        smaller unless ``drop_remainder``), or of ``(x, y)`` batches when ``y`` is given.

    Raises:
        InputValidationError: ``x`` is not a usable array (empty, non-numeric, non-finite) or
            ``batch_size`` is not an integer >= 1.

    Example:
        >>> ds = make_tf_dataset(np.zeros((10, 4), "float32"), batch_size=4)
        >>> [b.shape[0] for b in ds]
        [4, 4, 2]
    """
    from keras_ae.validation import check_array, check_int

    x = check_array(x, "x")
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    return array_dataset(x, None if y is None else np.asarray(y), batch_size, shuffle, seed, drop_remainder, repeat)
