"""Input checks shared by builders, ``fit`` wrappers, evaluators and exporters.

Checks run on NumPy data at the boundary (before any TensorFlow work) so that a bad
array fails fast with a message that names the problem and the fix, instead of
failing deep inside a compiled graph or silently training on NaNs.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from keras_ae.errors import InputValidationError


def _describe(shape: Sequence[int | None]) -> str:
    return "(" + ", ".join("batch" if d is None else str(d) for d in shape) + ")"


def check_array(
    x: Any,
    name: str = "x",
    expected_shape: Sequence[int | None] | None = None,
    value_range: tuple[float, float] | None = None,
    allow_empty: bool = False,
    range_hint: str = "",
) -> np.ndarray:
    """Validates an array of examples and returns it as float32.

    Args:
        x: Array-like of shape ``(n, *expected_shape)``.
        name: Name used in error messages.
        expected_shape: Per-example shape (without the batch axis); ``None`` entries
            match any size. ``None`` skips the shape check.
        value_range: Inclusive ``(low, high)`` range the values must lie in.
        allow_empty: Whether zero examples are acceptable.
        range_hint: Extra advice appended to a range error.

    Returns:
        The data as a float32 NumPy array.

    Raises:
        InputValidationError: naming the wrong shape, dtype, range, NaN/inf or emptiness.

    Example:
        >>> check_array(np.zeros((2, 4)), expected_shape=(4,)).dtype
        dtype('float32')
    """
    if x is None:
        raise InputValidationError(f"`{name}` is None; pass an array of examples.")
    try:
        arr = np.asarray(x)
    except (ValueError, TypeError) as exc:  # ragged nested lists, unconvertible objects
        raise InputValidationError(
            f"`{name}` cannot be read as an array ({exc}); pass a NumPy array with one example per row."
        ) from exc
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_
    ):
        raise InputValidationError(
            f"`{name}` has dtype {arr.dtype}; expected a numeric array "
            "(float32 in [0, 1] for images)."
        )
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise InputValidationError(f"`{name}` is complex ({arr.dtype}); expected real values.")
    if arr.ndim == 0:
        raise InputValidationError(f"`{name}` is a scalar; expected a batch of examples.")
    if arr.shape[0] == 0 and not allow_empty:
        raise InputValidationError(
            f"`{name}` is empty (shape {arr.shape}); it needs at least one example."
        )
    if expected_shape is not None:
        expected = tuple(expected_shape)
        got = arr.shape[1:]
        ok = len(got) == len(expected) and all(
            e is None or e == g for e, g in zip(expected, got)
        )
        if not ok:
            hint = ""
            if int(np.prod(got)) == int(np.prod([e or 0 for e in expected])):
                hint = f" Reshape it with x.reshape((-1, {', '.join(str(e) for e in expected)}))."
            raise InputValidationError(
                f"`{name}` has shape {arr.shape}, but the model expects "
                f"{_describe((None, *expected))}.{hint}"
            )
    if arr.dtype == np.uint8 and value_range is not None and value_range[1] <= 1.0:
        raise InputValidationError(
            f"`{name}` is uint8 (values 0-255) but the model expects floats in "
            f"[{value_range[0]}, {value_range[1]}]; use x.astype('float32') / 255."
        )
    with np.errstate(over="ignore"):
        converted = arr.astype(np.float32, copy=False)
    if arr.size and not np.isfinite(converted).all() and np.isfinite(arr).all():
        raise InputValidationError(
            f"`{name}` has values beyond the float32 range (|x| > 3.4e38, largest {float(np.abs(arr).max()):g}); "
            "rescale the data."
        )
    arr = converted
    if arr.size and not np.isfinite(arr).all():
        n_nan = int(np.isnan(arr).sum())
        n_inf = int(np.isinf(arr).sum())
        first = int(np.argwhere(~np.isfinite(arr.reshape(len(arr), -1)))[0][0])
        raise InputValidationError(
            f"`{name}` contains {n_nan} NaN and {n_inf} infinite values "
            f"(first in example {first}); clean or impute them before training."
        )
    if value_range is not None and arr.size:
        lo, hi = float(arr.min()), float(arr.max())
        if lo < value_range[0] or hi > value_range[1]:
            raise InputValidationError(
                f"`{name}` has values in [{lo:g}, {hi:g}], outside the expected range "
                f"[{value_range[0]:g}, {value_range[1]:g}].{(' ' + range_hint) if range_hint else ''}"
            )
    return arr


def check_same_length(arrays: dict[str, Any]) -> None:
    """Raises unless the arrays among ``arrays`` (name -> value) hold as many examples each.

    Non-array values (``None``, datasets) are skipped.

    Example:
        >>> check_same_length({"x": np.zeros((3, 2)), "y": np.zeros((3, 2))})
    """
    lengths = {k: len(v) for k, v in arrays.items() if isinstance(v, np.ndarray) and v.ndim}
    if len(set(lengths.values())) > 1:
        counts = ", ".join(f"`{k}` {n}" for k, n in lengths.items())
        raise InputValidationError(f"The inputs hold different numbers of examples ({counts}); they must pair up.")


def check_positive_int(value: Any, name: str, minimum: int = 1) -> int:
    """Returns ``value`` as an int, raising if it is not an integer >= ``minimum``.

    Example:
        >>> check_positive_int(3, "code_dim")
        3
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InputValidationError(f"`{name}` must be an integer, got {value!r}.")
    if value < minimum:
        raise InputValidationError(f"`{name}` must be >= {minimum}, got {value}.")
    return int(value)


def check_choice(value: str, name: str, choices: Sequence[str]) -> str:
    """Returns ``value`` if it is one of ``choices``; otherwise lists the valid ones.

    Example:
        >>> check_choice("mse", "loss", ["mse", "bce"])
        'mse'
    """
    from keras_ae.errors import UnknownNameError

    # Compare by type too: a NumPy array or a dict must not reach `in` (ambiguous or unhashable).
    if not any(isinstance(value, type(choice)) and value == choice for choice in choices):
        raise UnknownNameError(
            f"Unknown {name} {value!r}; choose one of: {', '.join(map(str, choices))}."
        )
    return value
