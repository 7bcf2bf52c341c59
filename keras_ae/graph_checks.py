"""In-graph twins of the checks in :mod:`keras_ae.validation`, for ``tf.data`` pipelines and
serving signatures, where the values are tensors and a refusal is a ``tf.debugging.Assert``.

A foundation module: it imports only TensorFlow and :mod:`keras_ae.validation`.
"""

from __future__ import annotations

import tensorflow as tf

from keras_ae.validation import GRID_TOLERANCE, describe_grid


def on_grid(x: tf.Tensor, levels: int) -> tf.Tensor:
    """A scalar bool tensor: every value of ``x`` is ``k / (levels - 1)`` (NaN counts as on it).

    The twin of :func:`keras_ae.validation.check_on_grid` (same grid, same tolerance). NaN is
    left to the caller's NaN check (the serving input check, or the training NaN guard).

    Args:
        x: A float or integer tensor of values in [0, 1].
        levels: Number of levels of the grid, ``>= 2``.

    Returns:
        A scalar ``tf.bool`` tensor.

    Example:
        >>> bool(on_grid(tf.constant([0.0, 2 / 3, 1.0]), 4)), bool(on_grid(tf.constant([0.5]), 4))
        (True, False)
    """
    values = tf.cast(x, tf.float32)
    scaled = values * float(levels - 1)
    return tf.reduce_all((tf.abs(scaled - tf.round(scaled)) <= GRID_TOLERANCE) | tf.math.is_nan(values))


def assert_on_grid(x: tf.Tensor, levels: int, name: str = "images", hint: str = "") -> tf.Tensor:
    """``x`` after an in-graph assertion that it lies on the grid of ``levels`` levels.

    Args:
        x: A tensor of values in [0, 1].
        levels: Number of levels of the grid, ``>= 2``.
        name: Name used in the message.
        hint: Extra words appended to the message.

    Returns:
        ``tf.identity(x)``, run after the assertion.

    Raises:
        tf.errors.InvalidArgumentError: (when run) "`images` must be multiples of 1/255 ...".

    Example:
        >>> assert_on_grid(tf.constant([0.0, 1.0]), 2).numpy()
        array([0., 1.], dtype=float32)
    """
    message = f"`{name}` must be {describe_grid(levels)}{(' ' + hint) if hint else ''}."
    with tf.control_dependencies([tf.debugging.Assert(on_grid(x, levels), [message])]):
        return tf.identity(x)
