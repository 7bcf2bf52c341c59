"""Checks for ``tf.data`` input: the same promises as for NumPy arrays.

NumPy data is checked whole before training (:mod:`keras_ae.validation`). A dataset
cannot be read ahead, so :func:`check_dataset` checks it in two places:

* up front, from ``element_spec`` and before anything is traced: the structure (``x``,
  ``(x,)``, ``(x, y)``), batching, per-example shape and dtype. A wrong dataset is
  refused while the model is untouched (a failed trace would leave Keras' compiled step
  half-built and the model unusable);
* batch by batch, inside the input pipeline: the value range (infinities included),
  binary or grey-level grids and label bounds (a few reductions per batch). A bad batch
  stops ``fit`` with :class:`~keras_ae.errors.InputValidationError` naming the problem
  and the epoch, and the weights of the last finished epoch are restored. A NaN is left
  to the NaN guard (:mod:`keras_ae.training.nan_guard`), which names the epoch and step.

An empty dataset is refused as an empty array is: up front when its cardinality is known
to be 0, otherwise inside the pipeline when a pass over it ends before its first batch
(a counter carried along the stream, so the data is read once).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import keras
import tensorflow as tf

from keras_ae.errors import InputValidationError
from keras_ae.graph_checks import on_grid
from keras_ae.validation import describe_grid

_MARKER = "keras_ae input check"
_END = " <<"  # closes the problem inside TensorFlow's "assertion failed: [...]" text
_FOUND = re.compile(_MARKER + r": (.*?)" + re.escape(_END), re.S)
# tf.ensure_shape's own message, for datasets whose static shape is unknown
_EMPTY = "is an empty dataset (it ended before its first batch)"
_EMPTY_HINT = "it needs at least one example: check the split, take() or filter() that produced it"
# What a model that trains on x alone says about y, for arrays and datasets alike.
_X_ALONE = "this model trains on x alone (its target is x itself)"
_SHAPE = re.compile(r"MapDataset.*?Shape of tensor \S+ (\[[\d,]*\]) "
                    r"is not compatible with expected shape (\[[\d?,]*\])", re.S)


@dataclasses.dataclass(frozen=True)
class DataSpec:
    """What one batch of a family's training data must look like.

    Attributes:
        example_shape: Shape of one example of ``x`` (``None``: any size on that axis).
        value_range: Inclusive range of ``x`` (``None``: any finite value).
        range_hint: Advice appended to a range error.
        targets: ``"none"`` (``x`` alone), ``"same"`` (optional ``y`` shaped like ``x``:
            clean targets), ``"labels"`` (``(x, labels)`` required, integer class ids) or
            ``"ignored"`` (an optional ``y`` the model does not use).
        num_classes: Labels lie in ``[0, num_classes)``.
        levels: Values must be ``k / (levels - 1)`` (2: binary images).

    Example:
        >>> spec = DataSpec(example_shape=(28, 28, 1), value_range=(0.0, 1.0), levels=2)
        >>> spec.example_shape, spec.targets, spec.num_classes
        ((28, 28, 1), 'none', None)
    """

    example_shape: tuple
    value_range: tuple[float, float] | None = None
    range_hint: str = ""
    targets: str = "none"
    num_classes: int | None = None
    levels: int | None = None


class InputCheckFailed:
    """A failed in-pipeline check, recovered from TensorFlow's error.

    Args:
        problem: What the check found, e.g. ``"`x` holds values outside [0, 1]"``.

    Example:
        >>> failed = InputCheckFailed("`x` holds values outside [0, 1]")
        >>> failed.empty
        False
        >>> print(failed.as_input_error("fit", None))
        A dataset batch failed keras_ae's input check in fit: `x` holds values outside [0, 1].
    """

    def __init__(self, problem: str):
        self.problem = problem

    @property
    def empty(self) -> bool:
        """Whether the check that failed is the one for an empty dataset."""
        return self.problem.endswith(_EMPTY)

    @classmethod
    def from_error(cls, error: BaseException) -> "InputCheckFailed | None":
        """The check that failed, if ``error`` comes from one; else ``None``."""
        text = str(getattr(error, "message", error))
        found = _FOUND.search(text)
        if found is not None:
            return cls(found.group(1).strip().rstrip("."))
        shape = _SHAPE.search(text)
        if shape is not None and "EnsureShape" in text:
            expected = shape.group(2).replace('?', 'batch')
            return cls(f"a batch has shape {shape.group(1)}, but the model expects {expected}")
        return None

    def as_input_error(self, where: str, restored_from: str | None) -> InputValidationError:
        """The error ``fit`` raises."""
        restored = f" The weights from {restored_from} were restored." if restored_from else ""
        if self.empty:
            return InputValidationError(f"{self.problem} in {where}; {_EMPTY_HINT}.{restored}")
        return InputValidationError(
            f"A dataset batch failed keras_ae's input check in {where}: {self.problem}.{restored}")


def is_pipeline(x: Any) -> bool:
    """True for inputs Keras reads as a stream: ``tf.data``, ``PyDataset``, generators.

    Args:
        x: A ``fit`` / ``evaluate`` input (any value).

    Returns:
        ``True`` for a ``tf.data.Dataset``, a ``keras.utils.PyDataset`` or an iterator (anything
        with a callable ``__next__``), else ``False``.

    Example:
        >>> is_pipeline(tf.data.Dataset.range(3)), is_pipeline([1, 2])
        (True, False)
    """
    return isinstance(x, (tf.data.Dataset, keras.utils.PyDataset)) or callable(getattr(x, "__next__", None))


def _shape_text(shape) -> str:
    return "(" + ", ".join("batch" if d is None else str(d) for d in shape) + ")"


def _split_element(spec, spec_of: DataSpec, name: str):
    """``element_spec`` -> ``(x_spec, y_spec or None)``, refusing structures the family cannot take."""
    if isinstance(spec, tf.TensorSpec):
        parts = (spec,)
    elif isinstance(spec, tuple) and all(isinstance(s, tf.TensorSpec) for s in spec) and 1 <= len(spec) <= 3:
        parts = spec
    else:
        raise InputValidationError(
            f"`{name}` yields {type(spec).__name__} elements ({str(spec)[:200]}); keras_ae models take batches of "
            "x, (x,), or (x, y) tensors.")
    if len(parts) == 3:
        raise InputValidationError(f"`{name}` yields (x, y, sample_weight); keras_ae models take no sample weights.")
    y = parts[1] if len(parts) == 2 else None
    if spec_of.targets == "labels" and y is None:
        raise InputValidationError(f"`{name}` yields images only; this model trains on (images, labels) batches.")
    if spec_of.targets == "none" and y is not None:
        raise x_alone_error(name, dataset=True)
    return parts[0], y


def x_alone_error(name: str, dataset: bool = False) -> InputValidationError:
    """The refusal of ``y`` by a family whose ``DataSpec.targets`` is ``"none"``, one text for arrays and datasets.

    Args:
        name: The argument that carried ``y`` (``"y"``) or the dataset that yields pairs (``"x"``).
        dataset: Whether ``y`` came as the second item of a dataset's elements.

    Returns:
        The error to raise.

    Example:
        >>> print(x_alone_error("y"))
        `y` was given, but this model trains on x alone (its target is x itself): pass x without y,
        and map (x, y) datasets to x with dataset.map(lambda x, y: x).
    """
    if dataset:
        return InputValidationError(
            f"`{name}` yields (x, y) pairs; {_X_ALONE}. Map the dataset to x, e.g. dataset.map(lambda x, y: x).")
    return InputValidationError(
        f"`{name}` was given, but {_X_ALONE}: pass x without y, and map (x, y) datasets to x with "
        "dataset.map(lambda x, y: x).")


def _check_spec(x: tf.TensorSpec, expected: tuple, what: str, name: str) -> None:
    rank = x.shape.rank
    if rank is None:
        return  # checked per batch (tf.ensure_shape in the pipeline)
    if rank == len(expected) and rank > 0 and all(e is None or d is None or e == d for e, d in zip(expected, x.shape)):
        raise InputValidationError(
            f"`{name}` yields single examples of shape {tuple(x.shape)} (not batches); call dataset.batch(batch_size).")
    got = tuple(x.shape)[1:]
    ok = rank == len(expected) + 1 and all(e is None or g is None or e == g for e, g in zip(expected, got))
    if not ok:
        raise InputValidationError(
            f"`{name}` yields {what} of shape {_shape_text((None, *got)) if rank else '()'}, but the model expects "
            f"{_shape_text((None, *expected))}.")


def _check_dtypes(x: tf.TensorSpec, y: tf.TensorSpec | None, spec: DataSpec, name: str) -> None:
    if not (x.dtype.is_floating or x.dtype.is_integer or x.dtype == tf.bool):
        raise InputValidationError(
            f"`{name}` yields {x.dtype.name} data; expected numbers (float32 in [0, 1] for images).")
    if x.dtype in (tf.uint8, tf.int8) and spec.value_range is not None and spec.value_range[1] <= 1.0:
        raise InputValidationError(
            f"`{name}` yields {x.dtype.name} images (0-255) but the model expects floats in "
            f"[{spec.value_range[0]:g}, {spec.value_range[1]:g}]; map it with "
            "dataset.map(lambda x: tf.cast(x, tf.float32) / 255).")
    if spec.targets == "labels" and y is not None and not (y.dtype.is_integer or y.dtype.is_floating):
        raise InputValidationError(f"`{name}` yields labels of dtype {y.dtype.name}; expected integer class ids.")


def _assert(condition, problem: str):
    return tf.debugging.Assert(condition, [f"{_MARKER}: {problem}{_END}"])


def _batch_checks(spec: DataSpec, name: str):
    """The per-batch check, as a function for ``dataset.map``."""
    expected = (None, *spec.example_shape)

    def check_x(x):
        x = tf.ensure_shape(x, expected)
        values = tf.cast(x, tf.float32)
        # NaN is left to the NaN guard, which stops at the step whose loss it poisons and
        # restores the last finite weights (TrainingDivergedError naming epoch and step).
        checks = []
        if spec.value_range is not None:
            lo, hi = spec.value_range
            hint = f" {spec.range_hint}" if spec.range_hint else ""
            checks.append(_assert(tf.reduce_all(((values >= lo) & (values <= hi)) | tf.math.is_nan(values)),
                                  f"`{name}` holds values outside [{lo:g}, {hi:g}].{hint}"))
        if spec.levels is not None:
            fix = " (binarize it, e.g. keras_ae.data.binarize)" if spec.levels == 2 else ""
            checks.append(_assert(on_grid(values, spec.levels),
                                  f"`{name}` holds values that are not {describe_grid(spec.levels)}{fix}"))
        with tf.control_dependencies(checks):
            return tf.identity(x)

    def check_labels(y):
        y = tf.reshape(y, [-1])
        whole = tf.reduce_all(tf.equal(tf.cast(y, tf.float64), tf.round(tf.cast(y, tf.float64))))
        ids = tf.cast(y, tf.int64)
        checks = [_assert(whole, f"`{name}` labels are not whole numbers")]
        if spec.num_classes is not None:
            checks.append(_assert(tf.reduce_all((ids >= 0) & (ids < spec.num_classes)),
                                  f"`{name}` labels lie outside [0, {spec.num_classes - 1}] "
                                  f"(num_classes={spec.num_classes})"))
        with tf.control_dependencies(checks):
            return tf.identity(ids if y.dtype.is_floating else y)

    def check(*element):
        if spec.targets == "labels":
            return check_x(element[0]), check_labels(element[1])
        if len(element) == 2:  # clean targets shaped like x, or labels the model ignores
            return check_x(element[0]), (check_x(element[1]) if spec.targets == "same" else element[1])
        return check_x(element[0])

    return check


def _fails_when_empty(dataset: tf.data.Dataset, name: str) -> tf.data.Dataset:
    """``dataset`` with an in-pipeline check that a pass over it yields at least one element.

    Each element travels as a ``tf.experimental.Optional`` followed by one empty Optional
    at the end; a ``scan`` counts the elements and fails at the end if it counted none. Each
    pass (epoch) starts its own count. Only datasets of unknown cardinality need this.
    """
    spec = dataset.element_spec
    pairs = isinstance(spec, tuple)
    # do_not_convert: plain TF ops, and AutoGraph cannot parse several lambdas on one line.
    wrap = tf.autograph.experimental.do_not_convert(
        lambda *element: tf.experimental.Optional.from_value(element if pairs else element[0]))
    end = tf.data.Dataset.from_tensors(0).map(
        tf.autograph.experimental.do_not_convert(lambda _: tf.experimental.Optional.empty(spec)))

    @tf.autograph.experimental.do_not_convert
    def count(seen, item):
        with tf.control_dependencies([_assert(item.has_value() | (seen > 0), f"`{name}` {_EMPTY}")]):
            return seen + 1, item

    counted = dataset.map(wrap).concatenate(end).scan(tf.constant(0, tf.int64), count)
    return (counted.filter(tf.autograph.experimental.do_not_convert(lambda item: item.has_value()))
            .map(tf.autograph.experimental.do_not_convert(lambda item: item.get_value())))


def check_nonempty(dataset: tf.data.Dataset, name: str = "x") -> tf.data.Dataset:
    """Refuses a dataset known to be empty now; one of unknown length when a pass over it yields nothing.

    Args:
        dataset: Any ``tf.data`` dataset.
        name: Name used in messages.

    Returns:
        ``dataset`` (same elements), with the in-pipeline check when its cardinality is unknown.

    Raises:
        InputValidationError: the cardinality is 0. A pass that yields nothing fails
            inside the pipeline with a check that :class:`InputCheckFailed` recovers.

    Example:
        >>> check_nonempty(tf.data.Dataset.range(0))
        Traceback (most recent call last):
        ...
        keras_ae.errors.InputValidationError: `x` is an empty dataset (0 elements); it needs at least one example: ...
    """
    cardinality = int(dataset.cardinality())
    if cardinality == 0:
        raise InputValidationError(f"`{name}` is an empty dataset (0 elements); {_EMPTY_HINT}.")
    if cardinality == tf.data.UNKNOWN_CARDINALITY:
        return _fails_when_empty(dataset, name)
    return dataset


def check_dataset(dataset: tf.data.Dataset, spec: DataSpec | None, name: str = "x") -> tf.data.Dataset:
    """Checks ``dataset``'s ``element_spec`` now and its values batch by batch.

    Args:
        dataset: Batches of ``x``, ``(x,)`` or ``(x, y)``.
        spec: What the family trains on (``None``: only the emptiness check below).
        name: Name used in messages.

    Returns:
        The dataset with the per-batch checks mapped over it (same elements), refusing
        to end before its first batch (:func:`check_nonempty`).

    Raises:
        InputValidationError: a structure, batching, shape or dtype the model cannot
            take, or a dataset known to be empty.

    Example:
        >>> spec = DataSpec(example_shape=(3,), value_range=(0.0, 1.0))
        >>> ds = check_dataset(tf.data.Dataset.from_tensor_slices(tf.zeros((4, 3))).batch(2), spec)
        >>> [b.shape[0] for b in ds]
        [2, 2]
        >>> check_dataset(tf.data.Dataset.from_tensor_slices(tf.zeros((4, 3))), spec)
        Traceback (most recent call last):
        ...
        keras_ae.errors.InputValidationError: `x` yields single examples of shape (3,) (not batches);
        call dataset.batch(batch_size).
    """
    if spec is None:
        return check_nonempty(dataset, name)
    x, y = _split_element(dataset.element_spec, spec, name)
    _check_spec(x, tuple(spec.example_shape), "examples", name)
    if y is not None and spec.targets != "ignored":
        if spec.targets == "same":
            _check_spec(y, tuple(spec.example_shape), "targets", name)
        elif y.shape.rank is not None and not (y.shape.rank == 1 or (y.shape.rank == 2 and y.shape[1] == 1)):
            raise InputValidationError(
                f"`{name}` yields labels of shape {tuple(y.shape)}; expected one class id per example, (batch,).")
    _check_dtypes(x, y, spec, name)
    return check_nonempty(dataset.map(_batch_checks(spec, name)), name)


__all__ = ["DataSpec", "InputCheckFailed", "check_dataset", "check_nonempty", "is_pipeline", "x_alone_error"]
