"""Input checks shared by builders, ``fit`` wrappers, evaluators and exporters.

Checks run on NumPy data at the boundary (before any TensorFlow work) so that a bad
array fails fast with a message that names the problem and the fix, instead of
failing deep inside a compiled graph or silently training on NaNs.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Sequence

import numpy as np

from keras_ae.errors import InputValidationError

_REPR_LIMIT = 80


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

    Args:
        arrays: Argument name -> value; only NumPy arrays with at least one axis are compared,
            by their length (first axis).

    Raises:
        InputValidationError: the arrays hold different numbers of examples (each is named
            with its count).

    Example:
        >>> check_same_length({"x": np.zeros((3, 2)), "y": np.zeros((3, 2))})
    """
    lengths = {k: len(v) for k, v in arrays.items() if isinstance(v, np.ndarray) and v.ndim}
    if len(set(lengths.values())) > 1:
        counts = ", ".join(f"`{k}` {n}" for k, n in lengths.items())
        raise InputValidationError(f"The inputs hold different numbers of examples ({counts}); they must pair up.")


# Values within this distance of k / (levels - 1) count as on the grid: float32 images
# k / 255 are off by ~1e-5 after scaling back, half a grey level is 0.5.
GRID_TOLERANCE = 1e-3


def describe_grid(levels: int) -> str:
    """The values of a grid of ``levels`` evenly spaced levels in [0, 1], for messages.

    Args:
        levels: Number of levels, ``>= 2``.

    Returns:
        ``"0 or 1"`` for 2 levels, else ``"multiples of 1/<levels - 1>"``.

    Example:
        >>> describe_grid(2), describe_grid(256)
        ('0 or 1', 'multiples of 1/255')
    """
    return "0 or 1" if levels == 2 else f"multiples of 1/{levels - 1}"


def check_on_grid(x: np.ndarray, levels: int, name: str = "x", hint: str = "") -> np.ndarray:
    """Raises unless every value of ``x`` is ``k / (levels - 1)`` for an integer ``k``.

    :func:`keras_ae.graph_checks.on_grid` is the in-graph twin (same grid, same tolerance).
    NaN passes here: :func:`check_array` refuses it with its own message.

    Args:
        x: Float array of values in [0, 1] (e.g. images scaled by ``x / 255``).
        levels: Number of levels of the grid, ``>= 2`` (256 for 8-bit images).
        name: Name used in the message.
        hint: Extra sentence appended to the message (why the model needs the grid).

    Returns:
        ``x`` itself.

    Raises:
        InputValidationError: naming an off-grid value and how to quantize.

    Example:
        >>> check_on_grid(np.array([0.0, 3 / 255, 1.0]), 256).shape
        (3,)
        >>> check_on_grid(np.array([0.5]), 256)
        Traceback (most recent call last):
            ...
        keras_ae.errors.InputValidationError: `x` has values off the 8-bit grid of 256 levels, ... (e.g. 0.5). ...
    """
    steps = check_int(levels, "levels", minimum=2) - 1
    scaled = np.asarray(x) * steps
    off = np.abs(scaled - np.round(scaled)) > GRID_TOLERANCE
    if off.any():
        extra = f" {hint}" if hint else ""
        fix = ("Binarize it first, e.g. keras_ae.data.binarize(x, seed=0)." if steps == 1
               else f"Quantize with np.round(x * {steps}) / {steps}.")
        eight_bit = "8-bit " if steps == 255 else ""
        raise InputValidationError(
            f"`{name}` has values off the {eight_bit}grid of {levels} levels, {describe_grid(levels)} "
            f"(e.g. {float(np.asarray(x)[off][0]):g}).{extra} {fix}")
    return x


def check_choice(value: str, name: str, choices: Sequence[str]) -> str:
    """Returns ``value`` if it is one of ``choices``; otherwise lists the valid ones.

    A value matches a choice only if it is an instance of the choice's type and equal to it
    (so a NumPy array or a dict given for string choices is refused, never compared).

    Args:
        value: The argument given.
        name: What is chosen, for the message (``"loss"``).
        choices: The accepted values.

    Returns:
        ``value`` itself.

    Raises:
        UnknownNameError: ``value`` is none of ``choices`` (the message lists them).

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


def short_repr(value: Any, limit: int = _REPR_LIMIT) -> str:
    """``repr(value)`` cut to about ``limit`` characters, for error messages.

    Args:
        value: Any object; a ``__repr__`` that raises gives ``<TypeName>``.
        limit: Longest result, in characters.

    Returns:
        The repr, or its first ``limit - 3`` characters followed by ``...`` when it is longer
        than ``limit``.

    Example:
        >>> len(short_repr("a" * 200))
        80
    """
    try:
        text = repr(value)
    except Exception:  # a broken __repr__ must not hide the real error
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _is_int(value: Any) -> bool:
    # bool is an int subclass, but True as a count or a seed is a mistake, not a 1.
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def check_int(value: Any, name: str, minimum: int | None = None, maximum: int | None = None) -> int:
    """Returns ``value`` as a Python int, refusing non-integers and values out of range.

    Args:
        value: The argument given.
        name: The argument's name, for the message.
        minimum: Smallest accepted value (``None``: no bound).
        maximum: Largest accepted value (``None``: no bound).

    Returns:
        ``int(value)``.

    Raises:
        InputValidationError: naming the argument, the value and the accepted range.

    Example:
        >>> check_int(3, "n", minimum=0)
        3
    """
    if minimum is not None and maximum is not None:
        accepted = f"an integer in [{minimum}, {maximum}]"
    elif minimum is not None:
        accepted = f"an integer >= {minimum}"
    elif maximum is not None:
        accepted = f"an integer <= {maximum}"
    else:
        accepted = "an integer"
    if not _is_int(value):
        raise InputValidationError(
            f"`{name}` must be {accepted}, got {short_repr(value)} ({type(value).__name__}).")
    value = int(value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise InputValidationError(f"`{name}` must be {accepted}, got {short_repr(value)}.")
    return value


def check_num_classes(num_classes: Any, minimum: int = 2) -> int | None:
    """A model's number of classes: ``None`` (unconditional) or an int ``K >= minimum``.

    Args:
        num_classes: The argument given.
        minimum: The fewest classes accepted.

    Returns:
        ``None`` or ``int(num_classes)``.

    Example:
        >>> check_num_classes(10), check_num_classes(None)
        (10, None)
    """
    return None if num_classes is None else check_int(num_classes, "num_classes", minimum=minimum)


def check_class_labels(labels: Any, n: int, num_classes: int | None, name: str = "labels") -> np.ndarray | None:
    """The one labels contract of the class-conditional models: ``None``, an int, a list or an array.

    An int asks for that class for all ``n`` examples; a list or an array gives one class per
    example (length ``n``; a column ``(n, 1)`` is accepted). Whole floats (``3.0``) pass;
    fractional, NaN, boolean or out-of-range ids do not. An unconditional model
    (``num_classes=None``) takes no labels, a conditional one needs them.

    Args:
        labels: The labels given.
        n: How many examples they are for.
        num_classes: The model's number of classes ``K`` (ids ``0 .. K-1``), or ``None`` for an
            unconditional model.
        name: The argument's name, for the message.

    Returns:
        int32 ``(n,)``, or ``None`` for an unconditional model given no labels.

    Raises:
        InputValidationError: labels for an unconditional model, none for a conditional one,
            a wrong length, a non-integer or an id outside ``[0, K)``; the message names it.

    Example:
        >>> check_class_labels(3, 4, num_classes=10).tolist()
        [3, 3, 3, 3]
        >>> check_class_labels([0, 9], 2, num_classes=10).tolist()
        [0, 9]
        >>> check_class_labels(10, 2, num_classes=10)
        Traceback (most recent call last):
        ...
        keras_ae.errors.InputValidationError: `labels` holds class 10, outside [0, 9] (num_classes=10).
    """
    if num_classes is None:
        if labels is not None:
            raise InputValidationError(
                f"`{name}` given to an unconditional model; build it with num_classes=K to condition on classes.")
        return None
    if labels is None:
        raise InputValidationError(
            f"This model is class-conditional (num_classes={num_classes}): pass `{name}`, a class id in "
            f"[0, {num_classes - 1}] or one per example (e.g. np.arange(n) % {num_classes}).")
    if isinstance(labels, (bool, np.bool_)):
        raise InputValidationError(f"`{name}` must be integer class ids, got a bool.")
    if _is_int(labels) or (isinstance(labels, (float, np.floating)) and np.ndim(labels) == 0):
        labels = np.full((n,), labels)
    try:
        y = np.asarray(labels)
    except (TypeError, ValueError) as err:
        raise InputValidationError(f"`{name}` must be integer class ids: {short_repr(err)}") from None
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or len(y) != n:
        raise InputValidationError(
            f"`{name}` must hold one class id per example, shape ({n},), or one int; got shape {_describe(y.shape)}.")
    if y.dtype == np.bool_ or not (np.issubdtype(y.dtype, np.integer) or np.issubdtype(y.dtype, np.floating)):
        raise InputValidationError(f"`{name}` must be integer class ids, got dtype {y.dtype}.")
    if np.issubdtype(y.dtype, np.floating) and y.size:
        bad = ~np.isfinite(y) | (y != np.round(y))
        if bad.any():
            raise InputValidationError(
                f"`{name}` must be integer class ids; {int(bad.sum())} of {y.size} are not whole numbers "
                f"(first: {short_repr(y[bad][0])}).")
    if y.size:
        out = y[(y < 0) | (y >= num_classes)]
        if out.size:
            raise InputValidationError(
                f"`{name}` holds class {short_repr(out[0].item())}, outside [0, {num_classes - 1}] "
                f"(num_classes={num_classes}).")
    return y.astype(np.int32)


def label_arguments(model: Any, labels: Any) -> dict:
    """``{"labels": labels}`` for a class-conditional model (``model.conditional``), else ``{}``.

    For code that calls any family's ``reconstruct`` / ``codes`` / ``sample`` by duck typing
    (callbacks, the CLI): the labels reach the models that take them, and a conditional model
    given ``None`` refuses it with :func:`check_class_labels`' message.

    Args:
        model: Any keras_ae model.
        labels: Class ids of the examples, or ``None``.

    Returns:
        Keyword arguments to add to the call.

    Example:
        >>> label_arguments(build_dense_ae((8, 8, 1), hidden=(16,), code_dim=4), [1, 2])
        {}
        >>> label_arguments(build_vae((8, 8, 1), latent_dim=2, hidden=(16,), num_classes=3), [1, 2])
        {'labels': [1, 2]}
    """
    return {"labels": labels} if getattr(model, "conditional", False) else {}


def check_verbose(verbose: Any) -> int:
    """Returns a progress-bar verbosity 0, 1 or 2 (as ``keras.utils.Progbar`` takes).

    Args:
        verbose: The argument given.

    Returns:
        ``int(verbose)``.

    Raises:
        InputValidationError: not an integer in [0, 2].

    Example:
        >>> check_verbose(1)
        1
    """
    return check_int(verbose, "verbose", minimum=0, maximum=2)


def check_nonnegative_float(value: Any, name: str) -> float:
    """Returns ``value`` as a float, refusing non-numbers, NaN, infinity and negatives.

    Args:
        value: The argument given (0 is accepted).
        name: The argument's name, for the message.

    Returns:
        ``float(value)``.

    Raises:
        InputValidationError: naming the argument and the value.

    Example:
        >>> check_nonnegative_float(1e-3, "l1")
        0.001
    """
    return check_float(value, name, minimum=0.0)


def check_seed(seed: Any, name: str = "seed") -> int | None:
    """Returns ``seed`` as an int, or ``None`` (callers then draw a fresh seed).

    Any integer is accepted; samplers reduce it to the range their generator takes.

    Args:
        seed: The argument given: an integer (Python or NumPy, not a bool), or ``None``.
        name: The argument's name, for the message.

    Returns:
        ``int(seed)``, or ``None`` for ``None``.

    Raises:
        InputValidationError: neither an integer nor ``None``.

    Example:
        >>> check_seed(7), check_seed(None)
        (7, None)
    """
    if seed is None:
        return None
    if not _is_int(seed):
        raise InputValidationError(
            f"`{name}` must be an integer or None (a fresh random seed), got {short_repr(seed)} "
            f"({type(seed).__name__}).")
    return int(seed)


def check_model_seed(seed: Any, name: str = "seed") -> int | None:
    """A model's or layer's seed: any int, wrapped into int64 (what Keras seed generators and
    initializers take; the identity for ordinary seeds), or ``None``.

    Args:
        seed: The argument given.
        name: The argument's name, for the message.

    Returns:
        The seed as an int in ``[-2**63, 2**63)``, or ``None``.

    Raises:
        InputValidationError: for a non-integer (``"a"``, ``1.5``, ``True``).

    Example:
        >>> check_model_seed(7), check_model_seed(2**64 + 7), check_model_seed(None)
        (7, 7, None)
    """
    seed = check_seed(seed, name)
    if seed is None:
        return None
    return (seed + 2**63) % 2**64 - 2**63  # a seed beyond int64 would fail inside tf.constant


def check_float(value: Any, name: str, minimum: float | None = None, maximum: float | None = None,
                include_minimum: bool = True, include_maximum: bool = True, allow_none: bool = False) -> float | None:
    """Returns ``value`` as a finite float in a range, refusing strings, bools, NaN and infinity.

    Args:
        value: The argument given.
        name: The argument's name, for the message.
        minimum: Lower bound (``None``: none).
        maximum: Upper bound (``None``: none).
        include_minimum: Whether ``minimum`` itself is accepted.
        include_maximum: Whether ``maximum`` itself is accepted.
        allow_none: Whether ``None`` (an "off" setting) is accepted, and returned as ``None``.

    Returns:
        ``float(value)``, or ``None``.

    Raises:
        InputValidationError: naming the argument, the value and the accepted range.

    Example:
        >>> check_float(0.999, "ema_decay", 0.0, 1.0, include_maximum=False)
        0.999
    """
    if value is None and allow_none:
        return None
    low = "" if minimum is None else f"{'[' if include_minimum else '('}{minimum:g}"
    high = "" if maximum is None else f"{maximum:g}{']' if include_maximum else ')'}"
    if low and high:
        accepted = f"a finite number in {low}, {high}"
    elif low:
        accepted = f"a finite number {'>=' if include_minimum else '>'} {minimum:g}"
    elif high:
        accepted = f"a finite number {'<=' if include_maximum else '<'} {maximum:g}"
    else:
        accepted = "a finite number"
    if allow_none:
        accepted += " or None"
    ok = isinstance(value, (numbers.Real, np.floating, np.integer)) and not isinstance(value, (bool, np.bool_))
    # A NumPy scalar converts (to inf at worst, refused below); a Python int is compared first,
    # because float(10**400) raises. (np.float32(x) < 1e308 would warn "overflow encountered in cast".)
    small = ok and (isinstance(value, (np.floating, np.integer)) or abs(value) < 1e308)
    number = float(value) if small else math.nan
    if (not math.isfinite(number)
            or (minimum is not None and (number < minimum or (number == minimum and not include_minimum)))
            or (maximum is not None and (number > maximum or (number == maximum and not include_maximum)))):
        raise InputValidationError(f"`{name}` must be {accepted}, got {short_repr(value)}.")
    return number


def check_bool(value: Any, name: str) -> bool:
    """Returns ``value`` as a bool, refusing anything but ``True`` / ``False`` (a string ``"false"`` is truthy).

    Args:
        value: The argument given: a Python or NumPy bool.
        name: The argument's name, for the message.

    Returns:
        ``bool(value)``.

    Raises:
        InputValidationError: any other value (``0``, ``1``, ``"true"``, ``None``, ...).

    Example:
        >>> check_bool(np.bool_(True), "prior")
        True
    """
    if not isinstance(value, (bool, np.bool_)):
        raise InputValidationError(f"`{name}` must be True or False, got {short_repr(value)}.")
    return bool(value)


# Samplers return their draws as one NumPy array: a count whose result alone exceeds this is
# refused before anything is drawn (10**9 8x8 float32 images are 256 GB). 1 GiB holds 342,000
# 28x28 float32 images or 87,000 32x32x3 ones (a 50,000-image FID set fits); concatenating
# the batches holds the result about twice at the peak.
MAX_RESULT_BYTES = 2**30


def check_count(n: Any, name: str, item_bytes: int, what: str = "images", minimum: int = 0,
                maximum: int | None = None, limit_bytes: int = MAX_RESULT_BYTES, advice: str = "") -> int:
    """A number of draws (images, samples, interpolation points), refused when its result would be absurd.

    Args:
        n: The count given.
        name: The argument's name, for the message.
        item_bytes: Bytes one draw holds in the result (``4 * values`` for float32).
        what: What is counted, for the message.
        minimum: Smallest accepted count.
        maximum: Largest accepted count regardless of memory (e.g. one-batch samplers).
        limit_bytes: Largest accepted result, in bytes.
        advice: What to do instead, for the message (default: several calls with different seeds).

    Returns:
        ``int(n)``.

    Raises:
        InputValidationError: for a non-integer or out-of-range count, or one whose result
            would exceed ``limit_bytes`` (giving the estimate and the largest accepted count).

    Example:
        >>> check_count(100, "n", item_bytes=4 * 28 * 28)
        100
        >>> check_count(10**9, "n", item_bytes=4 * 28 * 28)
        Traceback (most recent call last):
        ...
        keras_ae.errors.InputValidationError: `n` = 1,000,000,000 images would take about 3,136.0 GB ...
    """
    n = check_int(n, name, minimum=minimum)
    item_bytes = max(int(item_bytes), 1)
    advice = advice or "draw them in several calls (a different seed each) and save each part"
    if maximum is not None and n > maximum:
        raise InputValidationError(f"`{name}` = {n:,} {what} is more than the {maximum:,} one call draws; {advice}.")
    if n * item_bytes > limit_bytes:
        largest = limit_bytes // item_bytes
        raise InputValidationError(
            f"`{name}` = {n:,} {what} would take about {n * item_bytes / 1e9:,.1f} GB ({item_bytes:,} bytes each), "
            f"more than the {limit_bytes / 2**30:g} GiB one call returns (at most {largest:,} {what}); {advice}.")
    return n


# -- size bounds ----------------------------------------------------------------------------
# One bound for every config-declared size, checked by the builders and by the constructors
# that ``.keras`` loading and the CLI go through, before anything is built or allocated.

# Refuse models above this many parameters before building them: 2**31 float32 weights
# are 8 GiB, and Keras would spend minutes allocating and initializing them (then an
# optimizer doubles or triples it) before any error surfaced.
MAX_PARAMETERS = 2**31
BYTES_PER_PARAMETER = 4  # float32 weights
# Keras layers one model may build. Building costs 10-50 ms per layer on a CPU (measured:
# 101 RealNVP couplings in 5 s, 200 IAF steps in 5 s, a 350-layer U-Net in 12 s), so this
# is a minute or two; the recipes' largest models have about 150.
MAX_LAYERS = 2_000
# Values in one example (height * width * channels): a 4096x4096 grey image, 64 MiB of
# float32, before any activation; a batch of larger examples would not fit in memory.
MAX_EXAMPLE_VALUES = 2**24
# Diffusion timesteps T: the schedule keeps a dozen float64 arrays of T numbers and the
# variational bound takes one network pass per timestep; DDPM uses 1000, improved DDPM 4000.
MAX_TIMESTEPS = 100_000
# VQ-VAE codebook size K: the nearest-code search builds a (code vectors x K) distance matrix,
# 1.6 GB for a batch of 128 7x7 code maps at K = 65,536 (VQ-VAE-2 uses 512, image tokenizers 16,384).
MAX_CODES = 2**16
# IWAE importance samples k: every training step decodes k samples of each example (k = 10,000
# is 3 GB of logits for 100 MNIST images); Burda et al. train with k <= 50.
MAX_IMPORTANCE_SAMPLES = 10_000
# RealNVP scales: each scale but the last halves height and width (2**31 a side at 32 scales).
MAX_SCALES = 32


def check_size(value: Any, name: str, maximum: int, reason: str, minimum: int = 1) -> int:
    """A count (layers, steps, samples, codes) in ``[minimum, maximum]``, the maximum explained.

    Args:
        value: The argument given.
        name: The argument's name, for the message.
        maximum: Largest accepted value.
        reason: Why larger values are refused (a clause, e.g. what one unit costs).
        minimum: Smallest accepted value.

    Returns:
        ``int(value)``.

    Raises:
        InputValidationError: naming the argument, the accepted range and the reason.

    Example:
        >>> check_size(1000, "timesteps", 100_000, "the schedule keeps arrays of T numbers")
        1000
        >>> check_size(10**9, "timesteps", 100_000, "the schedule keeps arrays of T numbers")
        Traceback (most recent call last):
        ...
        keras_ae.errors.InputValidationError: `timesteps` must be an integer in [1, 100000], got 1000000000: ...
    """
    value = check_int(value, name, minimum=minimum)
    if value > maximum:
        raise InputValidationError(
            f"`{name}` must be an integer in [{minimum}, {maximum}], got {short_repr(value)}: {reason}.")
    return value


def check_example_size(shape: Sequence[int], name: str = "image_shape") -> tuple[int, ...]:
    """Refuses an example shape of more than :data:`MAX_EXAMPLE_VALUES` values (e.g. 65536x65536 images).

    Convolutional families have as many parameters for any image size, so their parameter
    estimate does not catch a huge ``image_shape``; one batch of such images would.

    Args:
        shape: Shape of one example, positive ints.
        name: The argument's name, for the message.

    Returns:
        ``shape`` as a tuple of ints.

    Example:
        >>> check_example_size((28, 28, 1))
        (28, 28, 1)
    """
    shape = tuple(int(d) for d in shape)
    if math.prod(shape) > MAX_EXAMPLE_VALUES:
        raise InputValidationError(
            f"`{name}` {short_repr(shape)} holds {math.prod(shape):.3g} values per example, more than the "
            f"{MAX_EXAMPLE_VALUES} (a 4096x4096 grey image) keras_ae builds models for: one batch would not "
            "fit in memory. Downsample or crop the images.")
    return shape


def check_parameter_budget(n_params: int, what: str, limit: int = MAX_PARAMETERS,
                           advice: str = "reduce input_shape, the layer widths or code_dim") -> int:
    """Refuses a model whose weights alone would be absurdly large, before building it.

    Args:
        n_params: Estimated number of parameters.
        what: The model, for the message (e.g. ``"dense auto-encoder"``).
        limit: Largest accepted number of parameters.
        advice: What to reduce, for the message.

    Returns:
        ``n_params``.

    Raises:
        InputValidationError: giving the estimate in parameters and GB of float32 weights.

    Example:
        >>> check_parameter_budget(1_000, "dense auto-encoder")
        1000
    """
    if n_params > limit:
        gb = n_params * BYTES_PER_PARAMETER / 1e9
        raise InputValidationError(
            f"The {what} would have about {n_params:.3g} parameters (~{gb:,.1f} GB of float32 weights), "
            f"more than the {limit:.3g} ({limit * BYTES_PER_PARAMETER / 1e9:.1f} GB) keras_ae builds; {advice}.")
    return n_params


def check_layer_budget(n_layers: int, what: str, advice: str, limit: int = MAX_LAYERS) -> int:
    """Refuses a model with so many layers (couplings, blocks, flow steps) that building it would hang.

    Args:
        n_layers: Estimated number of Keras layers the model builds.
        what: The model, for the message.
        advice: What to reduce, for the message.
        limit: Largest accepted number of layers.

    Returns:
        ``n_layers``.

    Raises:
        InputValidationError: giving the estimate and the time building would take.

    Example:
        >>> check_layer_budget(150, "RealNVP", "reduce couplings or blocks")
        150
    """
    if n_layers > limit:
        raise InputValidationError(
            f"The {what} would have about {n_layers:.3g} layers, more than the {limit} keras_ae builds "
            f"(building takes 10-50 ms a layer); {advice}.")
    return n_layers
