"""The networks of a conditional VAE (Sohn et al. 2015): encoders of ``[x, labels]`` and decoders
of ``[z, labels]``, built by :func:`~keras_ae.models.vae.builders.build_vae` with ``num_classes=K``.

Labels enter both networks as int32 class ids ``(batch, 1)``, one-hot encoded inside the network
by a ``keras.layers.CategoryEncoding`` layer (so the ``.keras`` file holds it). A vector gets the
one-hot label appended; an image fed to a convolutional encoder gets it as ``K`` constant channels
(Mirza & Osindero 2014's conditioning, as the conditional GAN's networks). The body of each network
is the unconditional builder's network with a wider input, nested under the name ``*_body``.
"""

from __future__ import annotations

from typing import Sequence

import keras
import numpy as np

from keras_ae.errors import InputValidationError
from keras_ae.models.conv import get_conv_decoder, get_conv_encoder
from keras_ae.models.dense import get_dense_decoder, get_dense_encoder, standardization_layer

LABELS = "labels"  # the class-id input of both networks (and of the export signatures)


def label_input(num_classes: int) -> tuple[keras.KerasTensor, keras.KerasTensor]:
    """The ``labels`` input ``(batch, 1)`` int32 of a conditional network and its one-hot ``(batch, K)``.

    Args:
        num_classes: Number of classes ``K``.

    Returns:
        ``(labels, onehot)``.

    Example:
        >>> labels, onehot = label_input(3)
        >>> tuple(labels.shape), tuple(onehot.shape)
        ((None, 1), (None, 3))
    """
    labels = keras.Input(shape=(1,), dtype="int32", name=LABELS)
    onehot = keras.layers.CategoryEncoding(num_classes, output_mode="one_hot", name="onehot")(labels)
    return labels, keras.layers.Flatten(name="flat_onehot")(onehot)


def conditional_encoder(shape: tuple[int, ...], num_classes: int, width: int, kind: str | keras.Model,
                        hidden: Sequence[int], filters: Sequence[int], activation: str,
                        standardize: np.ndarray | None = None) -> keras.Model:
    """An encoder ``[x, labels] -> (batch, width)`` posterior parameters.

    Args:
        shape: Shape of one example.
        num_classes: Number of classes ``K``.
        width: Encoder outputs (``2 * latent_dim`` plus a flow's context).
        kind: ``"dense"`` (``x`` flattened, one-hot appended, then ``hidden``), ``"conv"`` (one-hot
            label maps appended as channels, then ``filters``) or a Keras model mapping ``x`` to
            features (the one-hot label is appended to its flattened features before the
            ``Dense(width)`` posterior head).
        hidden: Dense widths.
        filters: Convolution channels.
        activation: Hidden activation.
        standardize: Raw table rows: ``x`` is standardized first (the ``"standardize"`` layer).

    Returns:
        A functional ``keras.Model`` named ``"encoder"`` with inputs ``[x, labels]``.

    Example:
        >>> enc = conditional_encoder((8, 8, 1), 10, 4, "conv", (16,), (8,), "relu")
        >>> enc.input_shape, enc.output_shape
        ([(None, 8, 8, 1), (None, 1)], (None, 4))
    """
    inputs = keras.Input(shape=shape, name="inputs")
    labels, onehot = label_input(num_classes)
    h = inputs if standardize is None else standardization_layer(standardize)(inputs)
    if isinstance(kind, keras.Model):
        h = kind(h)
        if len(h.shape) > 2:
            h = keras.layers.Flatten()(h)
        h = keras.layers.Dense(width, name="posterior_params")(keras.layers.Concatenate()([h, onehot]))
    elif kind == "dense":
        if len(shape) > 1:
            h = keras.layers.Flatten()(h)
        h = keras.layers.Concatenate()([h, onehot])
        h = get_dense_encoder((int(h.shape[-1]),), hidden, width, activation, name="encoder_body")(h)
    else:
        height, width_px = shape[0], shape[1]
        maps = keras.layers.UpSampling2D((height, width_px))(keras.layers.Reshape((1, 1, num_classes))(onehot))
        h = keras.layers.Concatenate()([h, maps])
        h = get_conv_encoder((*shape[:2], shape[2] + num_classes), filters, width, activation=activation,
                             name="encoder_body")(h)
    return keras.Model([inputs, labels], h, name="encoder")


def conditional_decoder(shape: tuple[int, ...], latent_dim: int, num_classes: int, kind: str | keras.Model,
                        hidden: Sequence[int], filters: Sequence[int], activation: str,
                        standardize: np.ndarray | None = None) -> keras.Model:
    """A decoder ``[z, labels] -> (batch, *shape)`` logits or means: ``z`` with the one-hot label appended.

    Args:
        shape: Shape of one example.
        latent_dim: Dimension of z.
        num_classes: Number of classes ``K``.
        kind: ``"dense"`` (``hidden``, code side first), ``"conv"`` (``filters``, code side
            first) or a Keras model mapping ``(latent_dim + K,)`` vectors to ``shape``.
        hidden: Dense widths.
        filters: Transposed-convolution channels.
        activation: Hidden activation.
        standardize: Raw table rows: the output is mapped back to raw units (``"unstandardize"``).

    Returns:
        A functional ``keras.Model`` named ``"decoder"`` with inputs ``[code, labels]``.

    Raises:
        InputValidationError: a custom decoder that does not take ``(latent_dim + K,)`` vectors.

    Example:
        >>> dec = conditional_decoder((8, 8, 1), 2, 10, "dense", (16,), (8,), "tanh")
        >>> dec.input_shape, dec.output_shape
        ([(None, 2), (None, 1)], (None, 8, 8, 1))
    """
    code = keras.Input(shape=(latent_dim,), name="code")
    labels, onehot = label_input(num_classes)
    h = keras.layers.Concatenate()([code, onehot])
    wide = latent_dim + num_classes
    if isinstance(kind, keras.Model):
        if tuple(kind.input_shape[1:]) != (wide,):
            raise InputValidationError(
                f"With num_classes={num_classes} a custom decoder takes z and the one-hot label concatenated, "
                f"(batch, latent_dim + num_classes) = (batch, {wide}); got {kind.input_shape}.")
        body = kind
    elif kind == "dense":
        body = get_dense_decoder(wide, hidden, shape, activation, "linear", name="decoder_body")
    else:
        body = get_conv_decoder(shape, filters, wide, activation=activation, output_activation="linear",
                                name="decoder_body")
    h = body(h)
    if standardize is not None:
        h = standardization_layer(standardize, invert=True)(h)
    return keras.Model([code, labels], h, name="decoder")
