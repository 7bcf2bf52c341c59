"""A 1-D convolutional auto-encoder for windows of a time series (the keras.io timeseries anomaly example).

The encoder shortens a window ``(length, channels)`` with strided ``Conv1D`` layers; the
decoder lengthens it back with ``Conv1DTranspose`` layers, crops the timesteps a length not
divisible by ``strides ** len(filters)`` adds, and ends with a ``Conv1D`` to the window's
channels. Cut windows with :func:`keras_ae.data.windows`, standardize them with the
training mean and standard deviation (``loss="mse"``, linear output), and score timesteps
with :func:`keras_ae.evaluation.timestep_errors`.
"""

from __future__ import annotations

from typing import Any, Sequence

import keras

from keras_ae.errors import InputValidationError
from keras_ae.models.base import AutoEncoder
from keras_ae.models.common import (as_shape, as_units, check_example_size, check_int, check_layer_budget,
                                    check_parameter_budget, output_activation_for)
from keras_ae.registry import register_builder
from keras_ae.validation import check_float


def _checked_window_shape(input_shape: Any, name: str = "input_shape") -> tuple[int, int]:
    shape = as_shape(input_shape, name)
    if len(shape) != 2:
        raise InputValidationError(
            f"A 1-D convolutional auto-encoder needs windows, {name} = (length, channels); got {shape}. "
            "Cut a series with keras_ae.data.windows(series, length); use build_conv_ae for images.")
    return check_example_size(shape, name)


def _checked_conv1d_arguments(shape: Any, filters: Sequence[int], kernel_size: int, strides: int,
                              dropout: float) -> tuple:
    """``(shape, filters, kernel_size, strides, dropout)`` checked in one order by the encoder, decoder and builder."""
    shape = _checked_window_shape(shape)
    filters = as_units(filters, "filters", allow_empty=False)
    kernel_size = check_int(kernel_size, "kernel_size", minimum=1)
    strides = check_int(strides, "strides", minimum=1)
    dropout = check_float(dropout, "dropout", minimum=0.0, maximum=1.0, include_maximum=False)
    check_layer_budget(4 * len(filters) + 3, "1-D convolutional auto-encoder", "use fewer filters")
    factor = 1
    for _ in filters:  # strides ** len(filters), stopped once too large (it may have thousands of digits)
        factor *= strides
        if factor > 2 * shape[0]:  # the code is one timestep already: more layers only grow the decoder's output
            raise InputValidationError(
                f"strides ** len(filters) = {strides}**{len(filters)} shortens windows of length {shape[0]} to one "
                f"timestep, and the decoder would compute more than {2 * shape[0]} timesteps to crop them back; "
                "use fewer filters, a smaller stride or longer windows.")
    return shape, filters, kernel_size, strides, dropout


def _code_length(length: int, strides: int, depth: int) -> int:
    """Timesteps of the code: each "same" convolution of stride ``s`` gives ``ceil(n / s)``."""
    for _ in range(depth):
        length = -(-length // strides)
    return length


def _encoder_parameter_count(channels: int, filters: Sequence[int], kernel_size: int) -> int:
    count, cin = 0, channels
    for f in filters:
        count += kernel_size * cin * f + f
        cin = f
    return count


def _decoder_parameter_count(channels: int, filters: Sequence[int], kernel_size: int) -> int:
    """``filters`` code side first; the transposed convolutions, then the output convolution."""
    count = _encoder_parameter_count(filters[0], filters, kernel_size)
    return count + kernel_size * filters[-1] * channels + channels


def _strided_stack(h, layer: type, prefix: str, filters: Sequence[int], kernel_size: int, strides: int,
                   dropout: float):
    """``layer`` (``Conv1D`` or ``Conv1DTranspose``) once per entry of ``filters``, ReLU, dropout between."""
    for i, f in enumerate(filters):
        if i and dropout:
            h = keras.layers.Dropout(dropout, name=f"dropout_{i - 1}")(h)
        h = layer(f, kernel_size, strides=strides, padding="same", activation="relu", name=f"{prefix}_{i}")(h)
    return h


def get_conv1d_encoder(
    input_shape: Sequence[int] = (48, 1),
    filters: Sequence[int] = (32, 16),
    kernel_size: int = 7,
    strides: int = 2,
    dropout: float = 0.2,
    name: str = "encoder",
) -> keras.Model:
    """A 1-D convolutional encoder: one strided ``Conv1D`` per entry of ``filters``, dropout between them.

    Args:
        input_shape: ``(length, channels)`` of a window.
        filters: Channels of each convolution; the last is the code's.
        kernel_size: Convolution kernel size (timesteps).
        strides: Stride of each convolution.
        dropout: Dropout rate between the convolutions (training only).
        name: Model name.

    Returns:
        A functional ``keras.Model`` ``(batch, length, channels) -> (batch, code_length, filters[-1])``.

    Example:
        >>> get_conv1d_encoder((48, 1)).output_shape
        (None, 12, 16)
    """
    shape, filters, kernel_size, strides, dropout = _checked_conv1d_arguments(
        input_shape, filters, kernel_size, strides, dropout)
    check_parameter_budget(_encoder_parameter_count(shape[1], filters, kernel_size), "1-D convolutional encoder")
    inputs = keras.Input(shape=shape, name="inputs")
    h = _strided_stack(inputs, keras.layers.Conv1D, "conv", filters, kernel_size, strides, dropout)
    return keras.Model(inputs, h, name=name)


def get_conv1d_decoder(
    output_shape: Sequence[int] = (48, 1),
    filters: Sequence[int] = (16, 32),
    kernel_size: int = 7,
    strides: int = 2,
    dropout: float = 0.2,
    output_activation: str = "linear",
    name: str = "decoder",
) -> keras.Model:
    """The mirror of :func:`get_conv1d_encoder`: strided ``Conv1DTranspose`` layers, code side first.

    Args:
        output_shape: ``(length, channels)`` of the reconstruction; any length (the
            timesteps beyond it are cropped).
        filters: Channels of each transposed convolution, code side first (the encoder's reversed).
        kernel_size: Kernel size.
        strides: Stride of each transposed convolution.
        dropout: Dropout rate between the transposed convolutions (training only).
        output_activation: ``"linear"`` for standardized series, ``"sigmoid"`` for [0, 1] data.
        name: Model name.

    Returns:
        A functional ``keras.Model`` ``(batch, code_length, filters[0]) -> (batch, length, channels)``.

    Example:
        >>> decoder = get_conv1d_decoder((50, 2))  # 50 is not a multiple of 2**2: 52 timesteps cropped to 50
        >>> decoder.input_shape, decoder.output_shape
        ((None, 13, 16), (None, 50, 2))
    """
    shape, filters, kernel_size, strides, dropout = _checked_conv1d_arguments(
        output_shape, filters, kernel_size, strides, dropout)
    length, channels = shape
    check_parameter_budget(_decoder_parameter_count(channels, filters, kernel_size), "1-D convolutional decoder")
    code_length = _code_length(length, strides, len(filters))
    inputs = keras.Input(shape=(code_length, filters[0]), name="code")
    h = _strided_stack(inputs, keras.layers.Conv1DTranspose, "deconv", filters, kernel_size, strides, dropout)
    extra = code_length * strides ** len(filters) - length
    if extra:  # lengths not divisible by strides ** len(filters)
        h = keras.layers.Cropping1D((0, extra), name="crop")(h)
    h = keras.layers.Conv1D(channels, kernel_size, padding="same", activation=output_activation, name="output")(h)
    return keras.Model(inputs, h, name=name)


@register_builder("conv1d")
def build_conv1d_ae(
    input_shape: Sequence[int] = (48, 1),
    filters: Sequence[int] = (32, 16),
    kernel_size: int = 7,
    strides: int = 2,
    dropout: float = 0.2,
    loss: str = "mse",
    name: str = "conv1d_ae",
) -> AutoEncoder:
    """A 1-D convolutional auto-encoder of windows ``(length, channels)`` of a time series.

    Args:
        input_shape: ``(length, channels)``; any length (the decoder crops lengths not
            divisible by ``strides ** len(filters)`` back).
        filters: Encoder channels per strided convolution; the decoder mirrors them.
        kernel_size: Kernel size (timesteps).
        strides: Stride of each convolution.
        dropout: Dropout rate between convolutions, in ``[0, 1)``.
        loss: ``"mse"`` (linear output, for standardized series) or ``"bce"`` (sigmoid
            output, for data in [0, 1]).
        name: Model name.

    Returns:
        An :class:`AutoEncoder` with ``encoder`` and ``decoder`` sub-models.

    Raises:
        InputValidationError: for a malformed argument (a 3-D ``input_shape``, empty
            ``filters``, ``strides=0``, ``dropout=1``), or a model above
            :data:`~keras_ae.models.common.MAX_PARAMETERS` parameters.

    Example:
        >>> model = build_conv1d_ae((50, 1), filters=(8, 4))
        >>> model.encoder.output_shape, model.decoder.output_shape
        ((None, 13, 4), (None, 50, 1))
    """
    # Check everything before building anything (see build_dense_ae).
    shape, filters, kernel_size, strides, dropout = _checked_conv1d_arguments(
        input_shape, filters, kernel_size, strides, dropout)
    output_activation = output_activation_for(loss, None)
    check_parameter_budget(_encoder_parameter_count(shape[1], filters, kernel_size)
                           + _decoder_parameter_count(shape[1], filters[::-1], kernel_size),
                           "1-D convolutional auto-encoder", advice="reduce filters or kernel_size")
    encoder = get_conv1d_encoder(shape, filters, kernel_size, strides, dropout)
    decoder = get_conv1d_decoder(shape, filters[::-1], kernel_size, strides, dropout, output_activation)
    return AutoEncoder(encoder, decoder, loss=loss, name=name)
