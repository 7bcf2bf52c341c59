"""Convolutional auto-encoders (the Keras tutorial's conv / denoising auto-encoder).

The encoder halves the resolution with stride-2 convolutions (3x3 by default); the
decoder doubles it back with transposed convolutions and ends with a convolution of the
same kernel size to the image's channels. With ``code_dim=None`` the code is the last feature map (the keras.io
denoising example); an int adds a dense bottleneck of that size.
"""

from __future__ import annotations

from typing import Sequence

import keras

from keras_ae.data.corruption import Corruption
from keras_ae.models.base import AutoEncoder
from keras_ae.models.common import (as_image_shape, as_units, check_int, check_kernel_size, check_nonnegative_float,
                                    check_parameter_budget, output_activation_for)
from keras_ae.registry import register_builder


def _checked_conv_arguments(shape: Sequence[int], filters: Sequence[int], code_dim: int | None,
                            kernel_size: int | tuple[int, int]) -> tuple:
    """``(shape, filters, code_dim, kernel)`` checked in one order by every conv builder: one refusal per mistake."""
    return (as_image_shape(shape, "input_shape", "A convolutional auto-encoder", "use build_dense_ae for vectors"),
            as_units(filters, "filters", allow_empty=False),  # at least one layer: the code map has filters[0] channels
            None if code_dim is None else check_int(code_dim, "code_dim", minimum=1), check_kernel_size(kernel_size))


def _conv_encoder_parameter_count(shape: Sequence[int], filters: Sequence[int], code_dim: int | None,
                                  kernel: tuple[int, int]) -> int:
    height, width, cin = shape
    count = 0
    for f in filters:
        count += kernel[0] * kernel[1] * cin * f + f
        cin = f
    if code_dim is not None:  # stride-2 "same" convolutions: ceil(size / 2) per layer
        factor = 2 ** len(filters)
        count += -(-height // factor) * -(-width // factor) * cin * code_dim + code_dim
    return count


def _conv_decoder_parameter_count(shape: Sequence[int], filters: Sequence[int], code_dim: int | None,
                                  kernel: tuple[int, int]) -> int:
    height, width, channels = shape
    factor = 2 ** len(filters)
    cin = filters[0]
    count = 0
    if code_dim is not None:
        units = -(-height // factor) * -(-width // factor) * cin
        count += code_dim * units + units
    for f in filters:
        count += kernel[0] * kernel[1] * cin * f + f
        cin = f
    return count + kernel[0] * kernel[1] * cin * channels + channels


def conv_ae_parameter_count(input_shape: Sequence[int], filters: Sequence[int], code_dim: int | None = None,
                            kernel_size: int | tuple[int, int] = 3) -> tuple[int, int]:
    """Parameters of the conv encoder and of its mirrored decoder, computed without building them.

    Args:
        input_shape: ``(height, width, channels)``.
        filters: Encoder channels per convolution.
        code_dim: Dense bottleneck size or ``None``.
        kernel_size: Kernel size.

    Returns:
        ``(encoder_parameters, decoder_parameters)``.

    Example:
        >>> conv_ae_parameter_count((8, 8, 1), (4,))  # (9*1*4+4, 9*4*4+4 + 9*4*1+1)
        (40, 185)
    """
    kernel = check_kernel_size(kernel_size)
    shape = tuple(input_shape)
    return (_conv_encoder_parameter_count(shape, filters, code_dim, kernel),
            _conv_decoder_parameter_count(shape, tuple(filters)[::-1], code_dim, kernel))


def get_conv_encoder(
    input_shape: Sequence[int] = (28, 28, 1),
    filters: Sequence[int] = (32, 32),
    code_dim: int | None = None,
    kernel_size: int = 3,
    activation: str = "relu",
    name: str = "encoder",
) -> keras.Model:
    """A convolutional encoder: one stride-2 convolution per entry of ``filters``.

    Args:
        input_shape: ``(height, width, channels)``.
        filters: Channels of each convolution.
        code_dim: Optional dense bottleneck size; ``None`` keeps the feature map.
        kernel_size: Convolution kernel size.
        activation: Activation of the convolutions.
        name: Model name.

    Returns:
        A functional ``keras.Model``.

    Example:
        >>> get_conv_encoder((28, 28, 1)).output_shape
        (None, 7, 7, 32)
    """
    shape, filters, code_dim, kernel = _checked_conv_arguments(input_shape, filters, code_dim, kernel_size)
    check_parameter_budget(_conv_encoder_parameter_count(shape, filters, code_dim, kernel), "convolutional encoder")
    inputs = keras.Input(shape=shape, name="inputs")
    h = inputs
    for i, f in enumerate(filters):
        h = keras.layers.Conv2D(f, kernel_size, strides=2, padding="same", activation=activation, name=f"conv_{i}")(h)
    if code_dim is not None:
        h = keras.layers.Flatten()(h)
        h = keras.layers.Dense(code_dim, name="code")(h)
    return keras.Model(inputs, h, name=name)


def get_conv_decoder(
    output_shape: Sequence[int] = (28, 28, 1),
    filters: Sequence[int] = (32, 32),
    code_dim: int | None = None,
    kernel_size: int = 3,
    activation: str = "relu",
    output_activation: str = "sigmoid",
    name: str = "decoder",
) -> keras.Model:
    """The mirror of :func:`get_conv_encoder`.

    Args:
        output_shape: ``(height, width, channels)`` of the reconstruction.
        filters: Channels of each transposed convolution, code side first.
        code_dim: Size of a dense code, or ``None`` for a feature-map code.
        kernel_size, activation, name: As for :func:`get_conv_encoder`.
        output_activation: ``"sigmoid"`` for [0, 1] images, ``"linear"`` otherwise.

    Returns:
        A functional ``keras.Model`` from the code to images of ``output_shape``.

    Example:
        >>> get_conv_decoder((28, 28, 1)).input_shape
        (None, 7, 7, 32)
    """
    shape, filters, code_dim, kernel = _checked_conv_arguments(output_shape, filters, code_dim, kernel_size)
    check_parameter_budget(_conv_decoder_parameter_count(shape, filters, code_dim, kernel), "convolutional decoder")
    height, width, channels = shape
    factor = 2 ** len(filters)
    small_h, small_w = -(-height // factor), -(-width // factor)  # ceil, exact for any depth
    if code_dim is None:
        inputs = keras.Input(shape=(small_h, small_w, filters[0]), name="code")
        h = inputs
    else:
        inputs = keras.Input(shape=(code_dim,), name="code")
        h = keras.layers.Dense(small_h * small_w * filters[0], activation=activation, name="dense")(inputs)
        h = keras.layers.Reshape((small_h, small_w, filters[0]))(h)
    for i, f in enumerate(filters):
        h = keras.layers.Conv2DTranspose(f, kernel_size, strides=2, padding="same", activation=activation,
                                         name=f"deconv_{i}")(h)
    extra_h, extra_w = small_h * factor - height, small_w * factor - width
    if extra_h or extra_w:  # sizes not divisible by 2**len(filters)
        h = keras.layers.Cropping2D(((0, extra_h), (0, extra_w)))(h)
    h = keras.layers.Conv2D(channels, kernel_size, padding="same", activation=output_activation, name="output")(h)
    return keras.Model(inputs, h, name=name)


@register_builder("conv")
def build_conv_ae(
    input_shape: Sequence[int] = (28, 28, 1),
    filters: Sequence[int] = (32, 32),
    code_dim: int | None = None,
    kernel_size: int = 3,
    activation: str = "relu",
    loss: str = "bce",
    output_activation: str | None = None,
    corruption: Corruption | None = None,
    sparsity_l1: float = 0.0,
    name: str = "conv_ae",
) -> AutoEncoder:
    """A convolutional auto-encoder.

    Args:
        input_shape: ``(height, width, channels)``; any size (the decoder crops sizes not
            divisible by ``2 ** len(filters)`` back).
        filters: Encoder channels per stride-2 convolution; the decoder mirrors them.
        code_dim: Dense bottleneck size, or ``None`` for a feature-map code.
        kernel_size: Kernel size.
        activation: Hidden activation.
        loss: ``"bce"`` (sigmoid output) or ``"mse"`` (linear output).
        output_activation: Override the output activation implied by ``loss``.
        corruption: Training-time corruption (see ``build_denoising_ae``).
        sparsity_l1: L1 penalty weight on the code.
        name: Model name.

    Returns:
        An :class:`AutoEncoder`.

    Raises:
        InputValidationError: for a malformed argument (e.g. empty ``filters``, ``kernel_size=0``),
            or a model above :data:`~keras_ae.models.common.MAX_PARAMETERS` parameters.

    Example:
        >>> model = build_conv_ae((28, 28, 1), code_dim=32)
        >>> model.encoder.output_shape
        (None, 32)
    """
    # Check everything before building anything (see build_dense_ae).
    shape, filters, code_dim, _ = _checked_conv_arguments(input_shape, filters, code_dim, kernel_size)
    sparsity_l1 = check_nonnegative_float(sparsity_l1, "sparsity_l1")
    check_parameter_budget(sum(conv_ae_parameter_count(shape, filters, code_dim, kernel_size)),
                           "convolutional auto-encoder")
    out_act = output_activation_for(loss, output_activation)
    encoder = get_conv_encoder(shape, filters, code_dim, kernel_size, activation)
    decoder = get_conv_decoder(shape, filters[::-1], code_dim, kernel_size, activation, out_act)
    return AutoEncoder(encoder, decoder, loss=loss, corruption=corruption, sparsity_l1=sparsity_l1, name=name)
