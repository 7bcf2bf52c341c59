"""A dense or convolutional encoder with its mirrored decoder: the networks of the auto-encoder
families that offer both architectures (:func:`~keras_ae.models.rae.build_rae`,
:func:`~keras_ae.models.wae.build_wae`)."""

from __future__ import annotations

from typing import Sequence

import keras

from keras_ae.models.common import as_shape, as_units, output_activation_for
from keras_ae.models.conv import get_conv_decoder, get_conv_encoder
from keras_ae.models.dense import get_dense_decoder, get_dense_encoder
from keras_ae.validation import check_choice, check_int


def mirrored_networks(input_shape: int | Sequence[int], architecture: str, hidden: Sequence[int],
                      filters: Sequence[int], code_dim: int, activation: str,
                      loss: str) -> tuple[keras.Model, keras.Model]:
    """An encoder to a flat linear code and the decoder that mirrors it, arguments checked first.

    Args:
        input_shape: Shape of one example.
        architecture: ``"dense"`` (hidden widths ``hidden``) or ``"conv"`` (stride-2
            convolutions ``filters``, then a dense code).
        hidden: Dense hidden widths, input side first; the decoder mirrors them.
        filters: Convolution channels, input side first (at least one); the decoder mirrors them.
        code_dim: Code size.
        activation: Hidden activation.
        loss: ``"bce"`` (sigmoid output, [0, 1] data) or ``"mse"`` (linear output).

    Returns:
        ``(encoder, decoder)``.

    Raises:
        InputValidationError: for a malformed argument, before anything is built.

    Example:
        >>> encoder, decoder = mirrored_networks((8, 8, 1), "conv", (), (4,), 3, "relu", "bce")
        >>> encoder.output_shape, decoder.output_shape
        ((None, 3), (None, 8, 8, 1))
    """
    architecture = check_choice(architecture, "architecture", ("dense", "conv"))
    shape = as_shape(input_shape)
    code_dim = check_int(code_dim, "code_dim", minimum=1)
    output_activation = output_activation_for(loss, None)
    if architecture == "conv":
        filters = as_units(filters, "filters", allow_empty=False)
        return (get_conv_encoder(shape, filters, code_dim, activation=activation),
                get_conv_decoder(shape, filters[::-1], code_dim, activation=activation,
                                 output_activation=output_activation))
    hidden = as_units(hidden, "hidden")
    return (get_dense_encoder(shape, hidden, code_dim, activation, "linear"),
            get_dense_decoder(code_dim, hidden[::-1], shape, activation, output_activation))


__all__ = ["mirrored_networks"]
