"""The input pipeline keras_ae's ``fit`` builds for in-memory arrays."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from keras_ae.data.pipeline import array_dataset

if TYPE_CHECKING:
    import keras
    import tensorflow as tf

# In-memory data up to this size goes through fit_pipeline; larger arrays stay with
# Keras' own adapter (a tf.data pipeline holds its own copy of the arrays).
FIT_PIPELINE_MAX_BYTES = 1 << 30

# fit() arguments that Keras' array adapter implements and this pipeline does not.
_ARRAY_ONLY_FIT_ARGS = ("sample_weight", "class_weight", "validation_split", "steps_per_epoch")


def _given(value) -> bool:
    # None, 0 and 0.0 are fit's "not given" (validation_split=0.0, steps_per_epoch=None)
    return value is not None and not (np.isscalar(value) and not value)


def fit_pipeline(x: Any, y: Any = None, batch_size: int | None = None, shuffle: bool | str = True,
                 **fit_kwargs: Any) -> tf.data.Dataset | None:
    """A shuffled, batched, prefetched ``tf.data`` pipeline for ``fit`` on in-memory arrays.

    keras_ae's ``fit`` feeds NumPy arrays through this instead of Keras' array adapter:
    the training step then starts on a batch that is already waiting, which made a small
    dense auto-encoder's epochs 1.1-1.25x faster on CPU (``recipes/benchmark.py``,
    BENCHMARKS.md). Examples are reshuffled every epoch from TensorFlow's global seed
    (a global seed, ``tf.random.set_seed`` or the CLI's ``--seed``, makes the order reproducible). Under such a seed
    Keras 3's array adapter (TensorFlow backend) shows the examples in the *same* order
    every epoch (its permutation is a stateful op re-run from the same seed by each
    epoch's iterator); this pipeline does not.

    Args:
        x: Training examples: a NumPy array (any other input gives ``None``).
        y: Optional targets of the same length (a NumPy array).
        batch_size: Examples per batch (Keras' default 32 when ``None``).
        shuffle: ``fit``'s ``shuffle`` (``True`` or ``False``; ``"batch"`` gives ``None``).
        **fit_kwargs: The other ``fit`` arguments, to see whether this pipeline applies.

    Returns:
        The dataset, or ``None`` when Keras' adapter must handle the call: inputs that
        are not NumPy arrays, more than :data:`FIT_PIPELINE_MAX_BYTES`, ``shuffle="batch"``,
        any of ``sample_weight``, ``class_weight``, ``validation_split``,
        ``steps_per_epoch``, or a ``tf.distribute`` strategy (Keras shards arrays itself).

    Example:
        >>> ds = fit_pipeline(np.zeros((10, 4), "float32"), batch_size=4)
        >>> [b.shape[0] for b in ds]
        [4, 4, 2]
    """
    import tensorflow as tf

    arrays = [a for a in (x, y) if a is not None]
    if not all(isinstance(a, np.ndarray) for a in arrays) or sum(a.nbytes for a in arrays) > FIT_PIPELINE_MAX_BYTES:
        return None
    if shuffle not in (True, False) or any(_given(fit_kwargs.get(k)) for k in _ARRAY_ONLY_FIT_ARGS):
        return None
    if tf.distribute.has_strategy():
        return None
    return array_dataset(x, y, 32 if batch_size is None else int(batch_size), shuffle=bool(shuffle))


def through_fit_pipeline(model: keras.Model, x: Any, y: Any, batch_size: int | None, fit_kwargs: dict) -> tuple:
    """``fit``'s ``(x, y, batch_size, fit_kwargs)`` with in-memory arrays swapped for :func:`fit_pipeline`.

    Used by keras_ae models' ``fit``; the arguments come back unchanged when the
    pipeline does not apply (see :func:`fit_pipeline`) or ``model`` was built under a
    ``tf.distribute`` strategy.

    Args:
        model: The model being fitted.
        x: ``fit``'s ``x``.
        y: ``fit``'s ``y``.
        batch_size: ``fit``'s ``batch_size``.
        fit_kwargs: ``fit``'s other keyword arguments.

    Returns:
        ``(x, y, batch_size, fit_kwargs)`` to pass on to ``keras.Model.fit``.

    Example:
        >>> model = build_dense_ae((8, 8, 1), hidden=(16,), code_dim=4)
        >>> x, y, batch_size, kw = through_fit_pipeline(model, x_digits, None, 64, {})
        >>> isinstance(x, tf.data.Dataset), y, batch_size, kw
        (True, None, None, {'shuffle': False, 'validation_batch_size': 64})
    """
    import tensorflow as tf

    if isinstance(x, tf.data.Dataset) and "shuffle" not in fit_kwargs:
        # fit's default shuffle=True makes Keras warn that a dataset cannot be shuffled
        return x, y, batch_size, {**fit_kwargs, "shuffle": False}
    if getattr(model, "_distribute_strategy", None) is not None:
        return x, y, batch_size, fit_kwargs
    pipeline = fit_pipeline(x, y, batch_size, **{"shuffle": True, **fit_kwargs})
    if pipeline is None:
        return x, y, batch_size, fit_kwargs
    # The pipeline shuffles; Keras would warn that shuffle=True does nothing for a dataset.
    fit_kwargs = {**fit_kwargs, "shuffle": False}
    if fit_kwargs.get("validation_batch_size") is None and batch_size is not None:
        # Keras batches array validation data by fit's batch_size, which is now None (32)
        fit_kwargs["validation_batch_size"] = batch_size
    return pipeline, None, None, fit_kwargs
