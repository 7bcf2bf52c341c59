"""Convolutional auto-encoders (the Keras tutorial's conv / denoising auto-encoder).

The encoder halves the resolution with strided 3x3 convolutions; the decoder doubles
it back with transposed convolutions and ends with a 3x3 convolution to the image's
channels. With ``code_dim=None`` the code is the last feature map (the keras.io
denoising example); an int adds a dense bottleneck of that size.
"""

from __future__ import annotations

import math
from typing import Sequence

import keras

from keras_ae.data.corruption import Corruption
from keras_ae.errors import InputValidationError
from keras_ae.models.base import AutoEncoder
from keras_ae.models.common import as_image_shape, as_shape, as_units, output_activation_for
from keras_ae.validation import check_positive_int
from keras_ae.registry import register_builder


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
    shape = as_image_shape(input_shape, "input_shape", "A convolutional auto-encoder", "use build_dense_ae for vectors")
    inputs = keras.Input(shape=shape, name="inputs")
    h = inputs
    for i, f in enumerate(as_units(filters, "filters")):
        h = keras.layers.Conv2D(f, kernel_size, strides=2, padding="same", activation=activation, name=f"conv_{i}")(h)
    if code_dim is not None:
        h = keras.layers.Flatten()(h)
        h = keras.layers.Dense(check_positive_int(code_dim, "code_dim"), name="code")(h)
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
        kernel_size: Kernel size.
        activation: Hidden activation.
        output_activation: ``"sigmoid"`` for [0, 1] images, ``"linear"`` otherwise.
        name: Model name.

    Returns:
        A functional ``keras.Model``.

    Example:
        >>> get_conv_decoder((28, 28, 1)).input_shape
        (None, 7, 7, 32)
    """
    height, width, channels = as_image_shape(output_shape, "input_shape", "A convolutional auto-encoder", "use build_dense_ae for vectors")
    filters = as_units(filters, "filters")
    factor = 2 ** len(filters)
    small_h, small_w = math.ceil(height / factor), math.ceil(width / factor)
    if code_dim is None:
        inputs = keras.Input(shape=(small_h, small_w, filters[0]), name="code")
        h = inputs
    else:
        inputs = keras.Input(shape=(check_positive_int(code_dim, "code_dim"),), name="code")
        h = keras.layers.Dense(small_h * small_w * filters[0], activation=activation, name="dense")(inputs)
        h = keras.layers.Reshape((small_h, small_w, filters[0]))(h)
    for i, f in enumerate(filters):
        h = keras.layers.Conv2DTranspose(f, kernel_size, strides=2, padding="same", activation=activation, name=f"deconv_{i}")(h)
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
        input_shape: ``(height, width, channels)``; any size (odd sizes are cropped back).
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

    Example:
        >>> model = build_conv_ae((28, 28, 1), code_dim=32)
        >>> model.encoder.output_shape
        (None, 32)
    """
    shape = as_image_shape(input_shape, "input_shape", "A convolutional auto-encoder", "use build_dense_ae for vectors")
    out_act = output_activation_for(loss, output_activation)
    encoder = get_conv_encoder(shape, filters, code_dim, kernel_size, activation)
    decoder = get_conv_decoder(shape, tuple(reversed(as_units(filters, "filters"))), code_dim, kernel_size, activation, out_act)
    return AutoEncoder(encoder, decoder, loss=loss, corruption=corruption, sparsity_l1=sparsity_l1, name=name)
