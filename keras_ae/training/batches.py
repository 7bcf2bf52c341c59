"""Arrays or ``tf.data`` datasets, read batch by batch with keras_ae's input checks.

Inference-side consumers (``encode``, ``reconstruct``, likelihoods, feature statistics)
take either an in-memory array or a ``tf.data.Dataset`` and stream it: a dataset is
checked up front (structure, shape, dtype: :func:`~keras_ae.training.data_checks.check_dataset`)
and value by value inside the pipeline, then read one batch at a time, so memory does
not grow with its length.

Datasets may yield ``x``, ``(x,)`` or ``(x, y)``; labels are dropped. Unbatched
datasets (elements shaped like one example) are batched with the consumer's
``batch_size``. A batch that fails a value check raises
:class:`~keras_ae.errors.InputValidationError` naming the method and the batch.
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Any, Callable, Iterator, Sequence

import keras
import numpy as np
import tensorflow as tf

from keras_ae.training.data_checks import DataSpec, InputCheckFailed, check_dataset


def _first_spec(spec: Any):
    if isinstance(spec, tuple) and spec:
        return spec[0]
    return spec


def checked_batches(dataset: tf.data.Dataset, spec: DataSpec, name: str = "x", batch_size: int = 256,
                    rebatch: bool = False) -> tf.data.Dataset:
    """A dataset as checked batches of ``x`` alone (labels dropped).

    Args:
        dataset: Yields ``x``, ``(x,)`` or ``(x, y)``, batched or one example at a time.
        spec: What ``x`` must look like (``targets`` is ignored: labels are dropped).
        name: Name used in messages.
        batch_size: Batch size for unbatched datasets (and for ``rebatch``).
        rebatch: Re-cut every batch to exactly ``batch_size`` examples (the last one
            smaller): stochastic estimators then see the same batches as for an array.

    Returns:
        A dataset of ``x`` batches carrying the per-batch value checks.

    Raises:
        InputValidationError: structure, shape or dtype the consumer cannot take.

    Example:
        >>> spec = DataSpec(example_shape=(3,), value_range=(0.0, 1.0))
        >>> ds = tf.data.Dataset.from_tensor_slices((tf.zeros((5, 3)), tf.range(5)))  # unbatched (x, y)
        >>> [tuple(b.shape) for b in checked_batches(ds, spec, batch_size=2)]
        [(2, 3), (2, 3), (1, 3)]
    """
    x_spec = _first_spec(dataset.element_spec)
    if isinstance(x_spec, tf.TensorSpec) and x_spec.shape.rank is not None \
            and x_spec.shape.rank == len(spec.example_shape) and x_spec.shape.rank > 0:
        dataset = dataset.batch(batch_size)  # one example per element: batch it ourselves
    elif rebatch:
        dataset = dataset.unbatch().batch(batch_size)
    spec = dataclasses.replace(spec, targets="ignored")  # consumers never read the labels
    dataset = check_dataset(dataset, spec, name)
    if isinstance(dataset.element_spec, tuple):
        dataset = dataset.map(lambda *parts: parts[0])
    return dataset.prefetch(2)


@contextlib.contextmanager
def input_errors(where: str) -> Iterator[None]:
    """Turns a failed in-pipeline value check into :class:`~keras_ae.errors.InputValidationError`.

    Other TensorFlow errors (an ``InvalidArgumentError`` that is not a keras_ae check too)
    pass through unchanged.

    Args:
        where: The method (and batch) the message names, e.g. ``"encode (batch 3)"``.

    Yields:
        ``None``; the body reads the checked dataset.

    Raises:
        InputValidationError: a batch read in the body failed its keras_ae value check.

    Example:
        >>> spec = DataSpec(example_shape=(2,), value_range=(0.0, 1.0))
        >>> ds = checked_batches(tf.data.Dataset.from_tensors(tf.fill((1, 2), 5.0)), spec)
        >>> with input_errors("encode"):
        ...     _ = list(ds)
        Traceback (most recent call last):
        ...
        keras_ae.errors.InputValidationError: A dataset batch failed keras_ae's input check in encode: `x` holds
        values outside [0, 1].
    """
    try:
        yield
    except tf.errors.InvalidArgumentError as exc:
        failed = InputCheckFailed.from_error(exc)
        if failed is None:
            raise
        raise failed.as_input_error(where, None) from None


def iterate_batches(x: Any, batch_size: int, spec: DataSpec | None = None, name: str = "x", where: str = "this call",
                    check: Callable[[Any], np.ndarray] | None = None, rebatch: bool = False) -> Iterator[Any]:
    """Batches of ``x``: slices of an array, or checked batches of a ``tf.data`` dataset.

    Args:
        x: An array (checked whole by ``check`` first) or a ``tf.data.Dataset``
            (see :func:`checked_batches`).
        batch_size: Examples per batch for arrays and unbatched datasets.
        spec: The dataset check (required for datasets).
        name: Name used in messages.
        where: The method named when a batch fails its check.
        check: Validates an array whole and returns it as float32 (``None``: ``np.asarray``).
        rebatch: Re-cut dataset batches to ``batch_size`` (see :func:`checked_batches`).

    Returns:
        An iterator of NumPy (arrays) or ``tf.Tensor`` (datasets) batches.

    Example:
        >>> [len(b) for b in iterate_batches(np.zeros((5, 2)), 2)]
        [2, 2, 1]
        >>> spec = DataSpec(example_shape=(2,))
        >>> [int(b.shape[0]) for b in iterate_batches(tf.data.Dataset.from_tensor_slices(np.zeros((5, 2))), 4, spec)]
        [4, 1]
    """
    if isinstance(x, tf.data.Dataset):
        if spec is None:
            raise ValueError("iterate_batches needs a DataSpec to read a dataset.")
        return _dataset_batches(checked_batches(x, spec, name, batch_size, rebatch), where)
    x = np.asarray(x) if check is None else check(x)
    return (x[start:start + batch_size] for start in range(0, len(x), batch_size))


def _dataset_batches(dataset: tf.data.Dataset, where: str) -> Iterator[tf.Tensor]:
    iterator = iter(dataset)
    index = 0
    while True:
        index += 1
        with input_errors(f"{where} (batch {index})"):
            try:
                batch = next(iterator)
            except StopIteration:
                return
        yield batch


def example_count(x: Any) -> int | None:
    """Examples in ``x`` for a progress bar: ``len(x)`` for arrays, ``None`` (unknown) for datasets.

    Args:
        x: An array (anything with ``len``) or a ``tf.data.Dataset``.

    Returns:
        ``len(x)``, or ``None`` for a ``tf.data.Dataset``.

    Example:
        >>> example_count(np.zeros((3, 2))), example_count(tf.data.Dataset.range(3))
        (3, None)
    """
    return None if isinstance(x, tf.data.Dataset) else len(x)


def compiled(cache: dict, key: str, fn: Callable, input_signature: Sequence[tf.TensorSpec],
             autograph: bool = True) -> Callable:
    """``tf.function(fn)`` traced once per ``key`` and kept in ``cache`` (a model's dict of them).

    Args:
        cache: Where the compiled functions of one model live.
        key: Name of the function (e.g. ``"encode"``).
        fn: The Python function of one batch.
        input_signature: Its ``tf.TensorSpec`` inputs (a batch axis of ``None``: one trace).
        autograph: ``False`` for functions without tensor-dependent Python control flow.

    Returns:
        The compiled function.

    Example:
        >>> cache = {}
        >>> f = compiled(cache, "double", lambda b: 2 * b, [tf.TensorSpec((None,), tf.float32)])
        >>> f(tf.ones(2)).numpy(), compiled(cache, "double", None, []) is f
        (array([2., 2.], dtype=float32), True)
    """
    if key not in cache:
        cache[key] = tf.function(fn, input_signature=input_signature, autograph=autograph)
    return cache[key]


def run_batches(fn: Callable, data: Any, batch_size: int, spec: DataSpec, where: str, dtype: tf.DType = tf.float32,
                verbose: int = 0, unit: str = "image") -> Any:
    """A compiled function of one batch run over an array or a ``tf.data`` dataset, results joined.

    The batch runner of the inference methods (``encode``, ``decode``, ``reconstruct``,
    bounds): batches come from :func:`iterate_batches` (a dataset checked batch by batch
    against ``spec``), and the NumPy results (a tensor or a nest of them) are concatenated.

    Args:
        fn: Compiled function of one batch (see :func:`compiled`).
        data: A checked array or a ``tf.data.Dataset``.
        batch_size: Examples per call for arrays and unbatched datasets.
        spec: The dataset check.
        where: The method named when a dataset batch fails its check.
        dtype: Batches are cast to it before the call.
        verbose: 1 shows a progress bar.
        unit: The progress bar's unit.

    Returns:
        The concatenated results (same nest as ``fn``'s output), or ``None`` for no batches.

    Example:
        >>> f = compiled({}, "double", lambda b: {"y": 2 * b}, [tf.TensorSpec((None, 2), tf.float32)])
        >>> run_batches(f, np.ones((5, 2)), 2, DataSpec(example_shape=(2,)), "double")["y"].shape
        (5, 2)
    """
    target = example_count(data)
    bar = keras.utils.Progbar(target, verbose=verbose, unit_name=unit)
    out, done = [], 0
    for batch in iterate_batches(data, batch_size, spec, "x", where=where):
        out.append(tf.nest.map_structure(lambda t: t.numpy(), fn(tf.cast(batch, dtype))))
        done += int(batch.shape[0])
        bar.update(done, finalize=False if target is None else None)
    if target is None and verbose:
        bar.update(done, finalize=True)
    if not out:
        return None
    return tf.nest.map_structure(lambda *parts: np.concatenate(parts), *out)


__all__ = ["checked_batches", "compiled", "example_count", "input_errors", "iterate_batches", "run_batches"]
