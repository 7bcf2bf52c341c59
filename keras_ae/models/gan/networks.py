"""GAN network factories: MLP (Goodfellow et al. 2014) and DCGAN (Radford et al. 2016)
generators and discriminators, optionally class-conditional, and the data-range helpers they share with ``GAN``."""

from __future__ import annotations

import math
from typing import Sequence

import keras
import numpy as np

from keras_ae.errors import InputValidationError
from keras_ae.layers.maxout import Maxout
from keras_ae.models.common import as_image_shape, as_shape, as_units
from keras_ae.validation import check_int

# Output activation of the generator for each data range (Radford et al.: tanh for [-1, 1]).
DATA_RANGES: dict[tuple[float, float], str] = {(0.0, 1.0): "sigmoid", (-1.0, 1.0): "tanh"}


def _as_data_range(data_range) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in data_range)
    except (TypeError, ValueError):
        raise InputValidationError(f"data_range must be (0, 1) or (-1, 1), got {data_range!r}.") from None
    if (lo, hi) not in DATA_RANGES:
        raise InputValidationError(
            f"data_range must be (0, 1) (sigmoid output) or (-1, 1) (tanh output), got {data_range!r}."
        )
    return lo, hi


def _infer_data_range(generator: keras.Model) -> tuple[float, float] | None:
    """The range implied by the generator's last activation (sigmoid or tanh), if any."""
    for layer in reversed(generator.layers):
        act = getattr(layer, "activation", None)
        name = getattr(act, "__name__", None) or (layer.name if isinstance(layer, keras.layers.Activation) else None)
        if name is None or name == "linear":
            continue
        return {"sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0)}.get(name)
    return None


def _contains_batch_norm(model: keras.Model) -> bool:
    return any(isinstance(layer, keras.layers.BatchNormalization)
               for layer in model._flatten_layers(include_self=False))


def _with_labels(h: keras.KerasTensor, num_classes: int, as_maps: bool = False) -> tuple:
    """The class-id input of a conditional network and ``h`` with the one-hot labels concatenated.

    Every network conditions the same way (Mirza & Osindero 2014): a vector ``h`` gets the
    one-hot label appended; an image (``as_maps``) gets it as ``num_classes`` constant channels.
    The added layers hold no weights, so conditional and unconditional networks share weight names.

    Args:
        h: The tensor to condition, ``(batch, d)`` or ``(batch, height, width, channels)``.
        num_classes: Number of classes.
        as_maps: Broadcast the one-hot label over the image's height and width.

    Returns:
        ``(labels, conditioned)``: the ``labels`` input ``(batch, 1)`` int32 and the tensor.

    Example:
        >>> labels, h = _with_labels(keras.Input((4, 4, 1)), 3, as_maps=True)
        >>> tuple(labels.shape), tuple(h.shape)
        ((None, 1), (None, 4, 4, 4))
    """
    labels = keras.Input(shape=(1,), dtype="int32", name="labels")
    onehot = keras.layers.CategoryEncoding(num_classes, output_mode="one_hot")(labels)
    if as_maps:
        height, width = h.shape[1], h.shape[2]
        onehot = keras.layers.UpSampling2D((height, width))(keras.layers.Reshape((1, 1, num_classes))(onehot))
    else:
        onehot = keras.layers.Flatten()(onehot)
    return labels, keras.layers.Concatenate()([h, onehot])


def _radford_init() -> keras.initializers.Initializer:
    return keras.initializers.RandomNormal(stddev=0.02)  # Radford et al. 2016, section 4


def get_mlp_generator(
    data_shape: int | Sequence[int] = (28, 28, 1),
    latent_dim: int = 100,
    units: Sequence[int] = (1200, 1200),
    data_range: Sequence[float] = (0.0, 1.0),
    num_classes: int | None = None,
    name: str = "generator",
) -> keras.Model:
    """An MLP generator ``z -> ReLU layers -> sigmoid/tanh`` (Goodfellow et al. 2014).

    Args:
        data_shape: Shape of one example (vectors or images).
        latent_dim: Size of ``z``.
        units: Hidden layer widths.
        data_range: ``(0, 1)`` (sigmoid output) or ``(-1, 1)`` (tanh output).
        num_classes: If set, a second input of class ids (one-hot, concatenated to ``z``).
        name: Model name.

    Returns:
        A functional ``keras.Model``.

    Example:
        >>> get_mlp_generator(784, latent_dim=10).output_shape
        (None, 784)
    """
    shape = as_shape(data_shape, "data_shape")
    z = keras.Input(shape=(check_int(latent_dim, "latent_dim", minimum=1),), name="latent")
    inputs, h = [z], z
    if num_classes is not None:
        labels, h = _with_labels(z, num_classes)
        inputs.append(labels)
    for i, u in enumerate(as_units(units, "generator_units")):
        h = keras.layers.Dense(u, activation="relu", name=f"dense_{i}")(h)
    h = keras.layers.Dense(int(np.prod(shape)), activation=DATA_RANGES[_as_data_range(data_range)], name="output")(h)
    if len(shape) > 1:
        h = keras.layers.Reshape(shape)(h)
    return keras.Model(inputs if num_classes is not None else z, h, name=name)


def get_mlp_discriminator(
    data_shape: int | Sequence[int] = (28, 28, 1),
    units: Sequence[int] = (240, 240),
    maxout_pieces: int | None = 5,
    dropout: float = 0.5,
    num_classes: int | None = None,
    name: str = "discriminator",
) -> keras.Model:
    """An MLP discriminator with maxout units and dropout (Goodfellow et al. 2014); one logit out.

    Args:
        data_shape: Shape of one example.
        units: Hidden widths.
        maxout_pieces: Pieces per maxout unit; ``None`` uses LeakyReLU(0.2) instead.
        dropout: Dropout rate after each hidden layer.
        num_classes: If set, a second input of class ids (one-hot, concatenated).
        name: Model name.

    Returns:
        A functional ``keras.Model`` with output ``(batch, 1)`` (a logit).

    Example:
        >>> get_mlp_discriminator(784).output_shape
        (None, 1)
    """
    shape = as_shape(data_shape, "data_shape")
    x = keras.Input(shape=shape, name="data")
    inputs = [x]
    h = keras.layers.Flatten()(x) if len(shape) > 1 else x
    if num_classes is not None:
        labels, h = _with_labels(h, num_classes)
        inputs.append(labels)
    for i, u in enumerate(as_units(units, "discriminator_units")):
        if maxout_pieces:
            h = Maxout(u, pieces=maxout_pieces, name=f"maxout_{i}")(h)
        else:
            h = keras.layers.LeakyReLU(0.2)(keras.layers.Dense(u, name=f"dense_{i}")(h))
        if dropout:
            h = keras.layers.Dropout(dropout)(h)
    logit = keras.layers.Dense(1, name="logit")(h)
    return keras.Model(inputs if num_classes is not None else x, logit, name=name)


def get_dcgan_generator(
    image_shape: Sequence[int] = (28, 28, 1),
    latent_dim: int = 100,
    filters: Sequence[int] = (128, 64),
    kernel_size: int = 4,
    data_range: Sequence[float] = (0.0, 1.0),
    num_classes: int | None = None,
    name: str = "generator",
) -> keras.Model:
    """A DCGAN generator (Radford et al. 2016).

    ``z`` is projected to a small feature map, then each entry of ``filters`` but the
    first adds a stride-2 transposed convolution; a last one outputs the image channels.
    Batch norm and ReLU everywhere except the output (sigmoid or tanh, per ``data_range``);
    no pooling, no hidden dense layers, N(0, 0.02) initialization.

    Args:
        image_shape: ``(height, width, channels)``; sizes not divisible by
            ``2**len(filters)`` are cropped.
        latent_dim: Size of ``z``.
        filters: Channels from the projected map down to the last hidden layer.
        kernel_size: Kernel size (4 is divisible by the stride: no checkerboard).
        data_range: ``(0, 1)`` (sigmoid) or ``(-1, 1)`` (tanh).
        num_classes: If set, a second input of class ids, one-hot and concatenated to ``z``.
        name: Model name.

    Returns:
        A functional ``keras.Model``.

    Example:
        >>> get_dcgan_generator((28, 28, 1), latent_dim=64).output_shape
        (None, 28, 28, 1)
    """
    height, width, channels = as_image_shape(image_shape, "image_shape", "DCGAN", "use build_gan for vectors")
    filters = as_units(filters, "filters")
    factor = 2 ** len(filters)
    small_h, small_w = math.ceil(height / factor), math.ceil(width / factor)
    z = keras.Input(shape=(check_int(latent_dim, "latent_dim", minimum=1),), name="latent")
    inputs, h = [z], z
    if num_classes is not None:
        labels, h = _with_labels(z, num_classes)
        inputs.append(labels)
    init = _radford_init()
    h = keras.layers.Dense(small_h * small_w * filters[0], use_bias=False, kernel_initializer=init, name="project")(h)
    h = keras.layers.Reshape((small_h, small_w, filters[0]))(h)
    h = keras.layers.ReLU()(keras.layers.BatchNormalization(momentum=0.9, name="project_bn")(h))
    for i, f in enumerate(filters[1:]):
        h = keras.layers.Conv2DTranspose(f, kernel_size, strides=2, padding="same", use_bias=False,
                                         kernel_initializer=init, name=f"deconv_{i}")(h)
        h = keras.layers.ReLU()(keras.layers.BatchNormalization(momentum=0.9, name=f"deconv_{i}_bn")(h))
    h = keras.layers.Conv2DTranspose(channels, kernel_size, strides=2, padding="same", kernel_initializer=init,
                                     name="to_image")(h)
    extra_h, extra_w = small_h * factor - height, small_w * factor - width
    if extra_h or extra_w:
        h = keras.layers.Cropping2D(((0, extra_h), (0, extra_w)))(h)
    h = keras.layers.Activation(DATA_RANGES[_as_data_range(data_range)], name="output")(h)
    return keras.Model(inputs if num_classes is not None else z, h, name=name)


def get_dcgan_discriminator(
    image_shape: Sequence[int] = (28, 28, 1),
    filters: Sequence[int] = (64, 128),
    kernel_size: int = 4,
    norm: str | None = "batch",
    num_classes: int | None = None,
    name: str = "discriminator",
) -> keras.Model:
    """A DCGAN discriminator: stride-2 convolutions, LeakyReLU(0.2), one logit out.

    No normalization on the input layer (Radford et al.); ``norm="layer"`` (or ``None``)
    for a WGAN-GP critic, where batch norm would invalidate the per-example penalty.

    Args:
        image_shape: ``(height, width, channels)``.
        filters: Channels of each stride-2 convolution, input side first.
        kernel_size: Kernel size.
        norm: ``"batch"``, ``"layer"`` or ``None``.
        num_classes: If set, a second input of class ids, broadcast as one-hot
            channels concatenated to the image.
        name: Model name.

    Returns:
        A functional ``keras.Model`` with output ``(batch, 1)``.

    Example:
        >>> get_dcgan_discriminator((28, 28, 1)).output_shape
        (None, 1)
    """
    height, width, channels = as_image_shape(image_shape, "image_shape", "DCGAN", "use build_gan for vectors")
    if norm not in ("batch", "layer", None):
        raise InputValidationError(f"norm must be 'batch', 'layer' or None, got {norm!r}.")
    x = keras.Input(shape=(height, width, channels), name="data")
    inputs, h = [x], x
    if num_classes is not None:
        labels, h = _with_labels(x, num_classes, as_maps=True)
        inputs.append(labels)
    init = _radford_init()
    for i, f in enumerate(as_units(filters, "filters")):
        h = keras.layers.Conv2D(f, kernel_size, strides=2, padding="same", kernel_initializer=init, name=f"conv_{i}")(h)
        if i > 0 and norm == "batch":
            h = keras.layers.BatchNormalization(momentum=0.9, name=f"conv_{i}_bn")(h)
        elif i > 0 and norm == "layer":
            h = keras.layers.LayerNormalization(axis=(1, 2, 3), name=f"conv_{i}_ln")(h)
        h = keras.layers.LeakyReLU(0.2)(h)
    h = keras.layers.Flatten()(h)
    logit = keras.layers.Dense(1, kernel_initializer=init, name="logit")(h)
    return keras.Model(inputs if num_classes is not None else x, logit, name=name)
