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
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import keras
import tensorflow as tf

from keras_ae.errors import InputValidationError

_MARKER = "keras_ae input check"
_END = " <<"  # closes the problem inside TensorFlow's "assertion failed: [...]" text
_FOUND = re.compile(_MARKER + r": (.*?)" + re.escape(_END), re.S)
# tf.ensure_shape's own message, for datasets whose static shape is unknown
_SHAPE = re.compile(r"MapDataset.*?Shape of tensor \S+ (\[[\d,]*\]) is not compatible with expected shape (\[[\d?,]*\])", re.S)


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
    """

    example_shape: tuple
    value_range: tuple[float, float] | None = None
    range_hint: str = ""
    targets: str = "none"
    num_classes: int | None = None
    levels: int | None = None


class InputCheckFailed:
    """A failed in-pipeline check, recovered from TensorFlow's error."""

    def __init__(self, problem: str):
        self.problem = problem

    @classmethod
    def from_error(cls, error: BaseException) -> "InputCheckFailed | None":
        """The check that failed, if ``error`` comes from one; else ``None``."""
        text = str(getattr(error, "message", error))
        found = _FOUND.search(text)
        if found is not None:
            return cls(found.group(1).strip().rstrip("."))
        shape = _SHAPE.search(text)
        if shape is not None and "EnsureShape" in text:
            return cls(f"a batch has shape {shape.group(1)}, but the model expects {shape.group(2).replace('?', 'batch')}")
        return None

    def as_input_error(self, where: str, restored_from: str | None) -> InputValidationError:
        """The error ``fit`` raises."""
        restored = f" The weights from {restored_from} were restored." if restored_from else ""
        return InputValidationError(f"A dataset batch failed keras_ae's input check in {where}: {self.problem}.{restored}")


def is_pipeline(x: Any) -> bool:
    """True for inputs Keras reads as a stream: ``tf.data``, ``PyDataset``, generators.

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
        raise InputValidationError(
            f"`{name}` yields (x, y) pairs; this model trains on x alone (its target is x itself). "
            "Map the dataset to x, e.g. dataset.map(lambda x, y: x).")
    return parts[0], y


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
        raise InputValidationError(f"`{name}` yields {x.dtype.name} data; expected numbers (float32 in [0, 1] for images).")
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
            steps = float(spec.levels - 1)
            grid = "0 or 1 (binarize it, e.g. keras_ae.data.binarize)" if spec.levels == 2 else f"multiples of 1/{steps:g}"
            scaled = values * steps
            checks.append(_assert(tf.reduce_all((tf.abs(scaled - tf.round(scaled)) <= 1e-3) | tf.math.is_nan(values)),
                                  f"`{name}` holds values that are not {grid}"))
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


def check_dataset(dataset: tf.data.Dataset, spec: DataSpec | None, name: str = "x") -> tf.data.Dataset:
    """Checks ``dataset``'s ``element_spec`` now and its values batch by batch.

    Args:
        dataset: Batches of ``x``, ``(x,)`` or ``(x, y)``.
        spec: What the family trains on (``None``: no checks).
        name: Name used in messages.

    Returns:
        The dataset with the per-batch checks mapped over it (same elements).

    Raises:
        InputValidationError: a structure, batching, shape or dtype the model cannot take.

    Example:
        >>> spec = DataSpec(example_shape=(3,), value_range=(0.0, 1.0))
        >>> ds = check_dataset(tf.data.Dataset.from_tensor_slices(tf.zeros((4, 3))).batch(2), spec)
        >>> [b.shape[0] for b in ds]
        [2, 2]
        >>> check_dataset(tf.data.Dataset.from_tensor_slices(tf.zeros((4, 3))), spec)
        Traceback (most recent call last):
        ...
        keras_ae.errors.InputValidationError: `x` yields single examples of shape (3,) (not batches); call dataset.batch(batch_size).
    """
    if spec is None:
        return dataset
    x, y = _split_element(dataset.element_spec, spec, name)
    _check_spec(x, tuple(spec.example_shape), "examples", name)
    if y is not None and spec.targets != "ignored":
        if spec.targets == "same":
            _check_spec(y, tuple(spec.example_shape), "targets", name)
        elif y.shape.rank is not None and not (y.shape.rank == 1 or (y.shape.rank == 2 and y.shape[1] == 1)):
            raise InputValidationError(
                f"`{name}` yields labels of shape {tuple(y.shape)}; expected one class id per example, (batch,).")
    _check_dtypes(x, y, spec, name)
    return dataset.map(_batch_checks(spec, name))


__all__ = ["DataSpec", "InputCheckFailed", "check_dataset", "is_pipeline"]
