"""Small helpers shared by the builders: argument checks, parameter budgets and output activations."""

from __future__ import annotations

from typing import Any, Sequence

import keras
import numpy as np

from keras_ae.errors import InputValidationError
from keras_ae.models.reconstruction import RECONSTRUCTION_LOSSES

# The argument checks live in keras_ae.validation (data loaders use them too); re-exported for the builders.
from keras_ae.validation import (  # noqa: F401
    _is_int,
    check_choice,
    check_int,
    check_nonnegative_float,
    check_seed,
    short_repr,
)

# The size bounds (parameters, layers, values per example) live in keras_ae.validation, where the
# layers that configs rebuild check them too; re-exported for the builders.
from keras_ae.validation import (  # noqa: F401
    BYTES_PER_PARAMETER,
    MAX_EXAMPLE_VALUES,
    MAX_LAYERS,
    MAX_PARAMETERS,
    check_example_size,
    check_layer_budget,
    check_parameter_budget,
    check_size,
)


def dense_parameter_count(sizes: Sequence[int]) -> int:
    """Parameters (kernels and biases) of a chain of Dense layers ``sizes[0] -> sizes[1] -> ...``.

    Args:
        sizes: The widths of the chain, input first (``n`` widths make ``n - 1`` Dense layers).

    Returns:
        The number of weights, ``sum(a * b + b)`` over consecutive widths ``a -> b``.

    Example:
        >>> dense_parameter_count([784, 32, 784])  # 784*32 + 32 + 32*784 + 784
        50992
    """
    return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))


def as_shape(input_shape: int | Sequence[int], name: str = "input_shape") -> tuple[int, ...]:
    """Normalizes ``784`` or ``(28, 28, 1)`` to a tuple of positive ints.

    Args:
        input_shape: A positive int or a sequence of positive ints.
        name: Argument name for the message.

    Returns:
        The shape as a tuple of Python ints.

    Raises:
        InputValidationError: If ``input_shape`` is not a positive int or a non-empty sequence of them.

    Example:
        >>> as_shape(784)
        (784,)
    """
    message = (f"`{name}` must be a positive int or a tuple of positive ints such as (28, 28, 1), "
               f"got {short_repr(input_shape)}.")
    if _is_int(input_shape):
        shape: tuple = (input_shape,)
    elif isinstance(input_shape, (str, bytes)) or not hasattr(input_shape, "__iter__"):
        raise InputValidationError(message)  # None, 2.5, "28": tuple() would raise a TypeError
    else:
        try:
            shape = tuple(input_shape)
        except TypeError as exc:  # e.g. a 0-d array
            raise InputValidationError(message) from exc
    if not shape or any(not _is_int(d) or d < 1 for d in shape):
        raise InputValidationError(message)
    return tuple(int(d) for d in shape)


def as_image_shape(image_shape: int | Sequence[int], name: str = "image_shape", what: str = "This model",
                   alternative: str = "") -> tuple[int, int, int]:
    """Normalizes ``(h, w)`` or ``(h, w, c)`` to ``(h, w, c)``; refuses anything else.

    Args:
        image_shape: The shape given by the user.
        name: Argument name for the message.
        what: The model that needs images, for the message.
        alternative: Advice for vector data (e.g. "use build_dense_ae for vectors").

    Returns:
        ``(height, width, channels)``.

    Example:
        >>> as_image_shape((28, 28))
        (28, 28, 1)
    """
    shape = as_shape(image_shape, name)
    if len(shape) == 2:
        shape = (*shape, 1)
    if len(shape) != 3:
        advice = f"; {alternative}" if alternative else ""
        raise InputValidationError(
            f"{what} needs images, {name} = (height, width[, channels]); got {shape}{advice}.")
    return shape


def as_units(units: Sequence[int], name: str, allow_empty: bool = True) -> tuple[int, ...]:
    """Validates a sequence of layer widths.

    Args:
        units: The widths given.
        name: Argument name for the message.
        allow_empty: Whether ``()`` (no layer) is acceptable.

    Returns:
        The widths as a tuple of ints.

    Example:
        >>> as_units([128, 64], "hidden")
        (128, 64)
    """
    need = ("a sequence of positive ints such as (128, 64)" if allow_empty
            else "a non-empty sequence of positive ints such as (32, 64)")
    if isinstance(units, (str, bytes)) or not hasattr(units, "__iter__"):
        raise InputValidationError(f"`{name}` must be {need}, got {short_repr(units)}.")
    try:
        units = tuple(units)
    except TypeError as exc:  # a 0-d array has __iter__ but cannot be iterated
        raise InputValidationError(f"`{name}` must be {need}, got {short_repr(units)}.") from exc
    if any(not _is_int(u) or u < 1 for u in units) or (not units and not allow_empty):
        raise InputValidationError(f"`{name}` must be {need}, got {short_repr(units)}.")
    return tuple(int(u) for u in units)


def check_kernel_size(kernel_size: Any, name: str = "kernel_size") -> tuple[int, int]:
    """A convolution kernel size: a positive int or a pair of them, returned as a pair.

    Args:
        kernel_size: The size given by the user (an int or a tuple/list of two ints).
        name: Argument name for the message.

    Returns:
        ``(height, width)`` of the kernel as Python ints.

    Raises:
        InputValidationError: If ``kernel_size`` is neither a positive int nor a pair of them.

    Example:
        >>> check_kernel_size(3)
        (3, 3)
    """
    if _is_int(kernel_size) and kernel_size >= 1:
        return (int(kernel_size), int(kernel_size))
    if (isinstance(kernel_size, (tuple, list)) and len(kernel_size) == 2
            and all(_is_int(k) and k >= 1 for k in kernel_size)):
        return (int(kernel_size[0]), int(kernel_size[1]))
    raise InputValidationError(
        f"`{name}` must be a positive int or a pair of positive ints such as 3 or (3, 3), "
        f"got {short_repr(kernel_size)}.")


def check_activation(activation: Any, name: str = "activation") -> Any:
    """Returns ``activation`` if Keras knows it (a name such as ``"relu"``, a callable or ``None``).

    Args:
        activation: The activation given by the user.
        name: Argument name for the message.

    Returns:
        ``activation``, unchanged.

    Raises:
        InputValidationError: If ``keras.activations.get`` refuses it.

    Example:
        >>> check_activation("tanh")
        'tanh'
    """
    try:
        keras.activations.get(activation)
    except (ValueError, TypeError) as exc:
        raise InputValidationError(
            f"`{name}` must be a Keras activation such as 'relu' or 'tanh' (or a callable), "
            f"got {short_repr(activation)}.") from exc
    return activation


def output_activation_for(loss: str, output_activation: str | None) -> str:
    """Sigmoid output for cross-entropy on [0, 1] data, linear for squared error.

    Args:
        loss: The reconstruction loss, one of ``RECONSTRUCTION_LOSSES`` (``"bce"`` or ``"mse"``).
        output_activation: The activation the user asked for; ``None`` picks one from ``loss``.

    Returns:
        ``output_activation`` if given, else ``"sigmoid"`` for ``"bce"`` and ``"linear"`` otherwise.

    Example:
        >>> output_activation_for("bce", None)
        'sigmoid'
    """
    check_choice(loss, "reconstruction loss", RECONSTRUCTION_LOSSES)
    if output_activation is not None:
        return output_activation
    return "sigmoid" if loss == "bce" else "linear"


def check_binary_data(x: np.ndarray, name: str, purpose: str, dynamic_binarization: bool, model: str,
                      other_fix: str = "") -> np.ndarray:
    """Refuses non-binary data where a Bernoulli likelihood scores it exactly.

    Likelihoods (``purpose="evaluate"``) need binary data; training (``"fit"``) too unless the
    model re-binarizes every step (``dynamic_binarization``); ``"encode"`` takes any data.

    Args:
        x: Checked float data.
        name: Name used in the error message.
        purpose: ``"fit"``, ``"evaluate"`` or ``"encode"``.
        dynamic_binarization: Whether the model re-binarizes grey images when training.
        model: The model's name in the message (``"VAE"``).
        other_fix: Another way out for training, appended to the advice.

    Returns:
        ``x``, unchanged.

    Example:
        >>> check_binary_data(np.array([0.0, 0.5]), "x", "evaluate", False, "VAE")
        Traceback (most recent call last):
        ...
        InputValidationError: `x` is not binary (50.0% of values are neither 0 nor 1) but the VAE has a Bernoulli ...
    """
    needs_binary = purpose == "evaluate" or (purpose == "fit" and not dynamic_binarization)
    if needs_binary and x.size and not np.all((x == 0) | (x == 1)):
        fraction = float(np.mean((x != 0) & (x != 1)))
        if purpose == "evaluate":
            advice = "binarize it once with keras_ae.data.binarize(x, seed=0) (fixed evaluation binarization)"
        else:
            advice = (f"build the {model} with dynamic_binarization=True (re-binarizes [0, 1] images every step)"
                      f"{', ' if other_fix else ' or '}binarize it once with keras_ae.data.binarize(x, seed=0)"
                      f"{', or ' + other_fix if other_fix else ''}")
        raise InputValidationError(f"`{name}` is not binary ({fraction:.1%} of values are neither 0 nor 1) but the "
                                   f"{model} has a Bernoulli likelihood; {advice}.")
    return x
