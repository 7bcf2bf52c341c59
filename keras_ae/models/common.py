"""Small helpers shared by the builders: argument checks and output activations."""

from __future__ import annotations

from typing import Sequence

from keras_ae.errors import InputValidationError
from keras_ae.models.base import RECONSTRUCTION_LOSSES
from keras_ae.validation import check_choice


def as_shape(input_shape: int | Sequence[int], name: str = "input_shape") -> tuple[int, ...]:
    """Normalizes ``784`` or ``(28, 28, 1)`` to a tuple of positive ints.

    Example:
        >>> as_shape(784)
        (784,)
    """
    shape = (input_shape,) if isinstance(input_shape, int) else tuple(input_shape)
    if not shape or any(not isinstance(d, int) or isinstance(d, bool) or d < 1 for d in shape):
        raise InputValidationError(
            f"{name} must be a positive int or a tuple of positive ints such as (28, 28, 1), got {input_shape!r}."
        )
    return shape


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


def as_units(units: Sequence[int], name: str) -> tuple[int, ...]:
    """Validates a sequence of layer widths.

    Example:
        >>> as_units([128, 64], "hidden")
        (128, 64)
    """
    if isinstance(units, (str, bytes)) or not hasattr(units, "__iter__"):
        raise InputValidationError(f"{name} must be a sequence of positive ints such as (128, 64), got {units!r}.")
    units = tuple(units)
    if any(not isinstance(u, int) or isinstance(u, bool) or u < 1 for u in units):
        raise InputValidationError(f"{name} must be positive ints, got {units!r}.")
    return units


def output_activation_for(loss: str, output_activation: str | None) -> str:
    """Sigmoid output for cross-entropy on [0, 1] data, linear for squared error.

    Example:
        >>> output_activation_for("bce", None)
        'sigmoid'
    """
    check_choice(loss, "reconstruction loss", RECONSTRUCTION_LOSSES)
    if output_activation is not None:
        return output_activation
    return "sigmoid" if loss == "bce" else "linear"
