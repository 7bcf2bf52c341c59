"""The noise predictor of a diffusion model: a small U-Net with a timestep embedding (Ho et al. 2020).

``(x_t, t) -> eps`` (``(x_t, t, label) -> eps`` for a class-conditional model, whose class
embedding is added to the timestep embedding, so every block sees it): stride-2
convolutions halve the resolution at each level of ``channels`` (28 -> 14 -> 7 for three
levels), residual blocks with group normalization and the timestep embedding added inside
every block, optional self-attention at the lowest resolution, nearest-neighbour
upsampling back with skip connections.
"""

from __future__ import annotations

from typing import Sequence

import keras

from keras_ae.errors import InputValidationError
from keras_ae.layers.time_embedding import SinusoidalTimeEmbedding
from keras_ae.models.common import (as_image_shape, as_units, check_example_size, check_int, check_layer_budget,
                                   check_parameter_budget)
from keras_ae.validation import check_num_classes


def residual_block(x: keras.KerasTensor, temb: keras.KerasTensor, channels: int, groups: int, dropout: float,
                   name: str) -> keras.KerasTensor:
    """GroupNorm-swish-conv twice, the timestep embedding added between; a 1x1 conv on the skip if widths differ.

    The second convolution starts at zero, so the block starts as the identity (or the 1x1 skip).

    Args:
        x: Feature map ``(batch, h, w, c)`` of a functional model.
        temb: Timestep embedding ``(batch, d)``, projected to ``channels`` and added to every pixel.
        channels: Output channels, a multiple of ``groups``.
        groups: Groups of the group normalizations (dividing the channels of ``x`` too).
        dropout: Dropout rate before the second convolution (0: no dropout layer).
        name: Prefix of the layer names.

    Returns:
        The feature map ``(batch, h, w, channels)``.

    Example:
        >>> h = residual_block(keras.Input((8, 8, 4)), keras.Input((16,)), 8, groups=4, dropout=0.0, name="res")
        >>> h.shape
        (None, 8, 8, 8)
    """
    h = keras.layers.GroupNormalization(groups, name=f"{name}_norm1")(x)
    h = keras.layers.Activation("swish", name=f"{name}_act1")(h)
    h = keras.layers.Conv2D(channels, 3, padding="same", name=f"{name}_conv1")(h)
    shift = keras.layers.Activation("swish", name=f"{name}_act_t")(temb)
    shift = keras.layers.Dense(channels, name=f"{name}_time")(shift)
    shift = keras.layers.Reshape((1, 1, channels), name=f"{name}_bcast")(shift)
    h = keras.layers.Add(name=f"{name}_add_time")([h, shift])
    h = keras.layers.GroupNormalization(groups, name=f"{name}_norm2")(h)
    h = keras.layers.Activation("swish", name=f"{name}_act2")(h)
    if dropout:
        h = keras.layers.Dropout(dropout, name=f"{name}_dropout")(h)
    # Zero-initialized: every block starts as the identity (Ho et al.'s code does the same).
    h = keras.layers.Conv2D(channels, 3, padding="same", kernel_initializer="zeros", name=f"{name}_conv2")(h)
    skip = x if x.shape[-1] == channels else keras.layers.Conv2D(channels, 1, name=f"{name}_skip")(x)
    return keras.layers.Add(name=f"{name}_out")([skip, h])


def attention_block(x: keras.KerasTensor, groups: int, heads: int, name: str) -> keras.KerasTensor:
    """Self-attention over the pixels of a feature map, added to it.

    Args:
        x: Feature map ``(batch, h, w, c)`` of a functional model (static ``h``, ``w``, ``c``).
        groups: Groups of the group normalization (dividing ``c``).
        heads: Attention heads, each of width ``c // heads``.
        name: Prefix of the layer names.

    Returns:
        ``x`` plus the attention output, shaped like ``x``.

    Example:
        >>> attention_block(keras.Input((4, 4, 8)), groups=4, heads=2, name="attn").shape
        (None, 4, 4, 8)
    """
    height, width, channels = x.shape[1:]
    h = keras.layers.GroupNormalization(groups, name=f"{name}_norm")(x)
    h = keras.layers.Reshape((height * width, channels), name=f"{name}_tokens")(h)
    h = keras.layers.MultiHeadAttention(heads, channels // heads, name=f"{name}_mha")(h, h)
    h = keras.layers.Reshape((height, width, channels), name=f"{name}_map")(h)
    return keras.layers.Add(name=f"{name}_out")([x, h])


def unet_size(image_shape: Sequence[int], channels: Sequence[int], blocks: int = 1, attention: bool = True,
              heads: int = 4, num_classes: int | None = None) -> tuple[int, int]:
    """``(parameters, layers)`` of :func:`build_unet`, counted without building it.

    Args:
        image_shape: ``(height, width, channels)``.
        channels: Feature channels per resolution level.
        blocks: Residual blocks per level on the way down.
        attention: Whether the middle has self-attention.
        heads: Attention heads.
        num_classes: ``K`` for a class-conditional U-Net, or ``None``.

    Returns:
        ``(parameters, layers)``: what ``count_params()`` and ``len(model.layers)`` of the built model give.

    Example:
        >>> unet = build_unet((8, 8, 1), channels=(8, 16), attention=True)
        >>> unet_size((8, 8, 1), (8, 16), attention=True) == (unet.count_params(), len(unet.layers))
        True
    """
    image_channels, temb = image_shape[-1], 4 * channels[0]

    def conv(c_in, c_out, k=3):
        return k * k * c_in * c_out + c_out

    def res(c_in, c):  # two norms, two 3x3 convolutions, the time projection, a 1x1 skip if widths differ
        nonlocal layers
        layers += 11 + (c_in != c)  # norm, act, conv, act, dense, reshape, add, norm, act, conv, add (+ skip)
        return 2 * c_in + conv(c_in, c) + temb * c + c + 2 * c + conv(c, c) + (conv(c_in, c, 1) if c_in != c else 0)

    parameters = channels[0] * temb + temb + temb * temb + temb + conv(image_channels, channels[0])
    layers = 6  # inputs, embedding, time MLP, stem
    if num_classes is not None:  # the labels input, the class embedding (K + 1 rows: K is the null label), the sum
        parameters += (num_classes + 1) * temb
        layers += 3
    width, skips = channels[0], [channels[0]]
    for level, c in enumerate(channels):
        for _ in range(blocks):
            parameters, width = parameters + res(width, c), c
            skips.append(c)
        if level < len(channels) - 1:
            parameters += conv(c, c)
            skips.append(c)
            layers += 1
    parameters += res(width, width) + res(width, width)  # the middle blocks
    if attention:
        c = width
        inner = heads * (c // heads)
        parameters += 2 * c + 3 * (c * inner + inner) + inner * c + c
        layers += 5
    for level in reversed(range(len(channels))):
        c = channels[level]
        for _ in range(blocks + 1):
            parameters, width = parameters + res(width + skips.pop(), c), c
            layers += 1  # the concatenation
        if level > 0:
            parameters += conv(c, c)
            layers += 2  # upsampling and its convolution
    parameters += 2 * width + conv(width, image_channels)
    layers += 4  # output norm, activation, convolution, float32 cast
    return parameters, layers


def build_unet(
    image_shape: Sequence[int] = (28, 28, 1),
    channels: Sequence[int] = (32, 64, 128),
    blocks: int = 1,
    attention: bool = True,
    heads: int = 4,
    groups: int = 8,
    dropout: float = 0.0,
    num_classes: int | None = None,
    name: str = "unet",
) -> keras.Model:
    """The U-Net noise predictor ``[x_t (batch, h, w, c), t (batch,)] -> eps (batch, h, w, c)``.

    With ``num_classes=K`` it takes ``[x_t, t, labels (batch,) int32]``: a class embedding of
    ``K + 1`` rows (row ``K``: the null label of classifier-free guidance) is added to the
    timestep embedding, which every residual block receives.

    Args:
        image_shape: ``(height, width, channels)``; height and width divisible by
            ``2 ** (len(channels) - 1)``.
        channels: Feature channels per resolution level, each a multiple of ``groups``.
        blocks: Residual blocks per level on the way down (one more on the way up).
        attention: Self-attention in the middle, at the lowest resolution.
        heads: Attention heads (dividing the last level's channels).
        groups: Groups of the group normalizations.
        dropout: Dropout inside the residual blocks.
        num_classes: ``K`` for a class-conditional U-Net (ids ``0 .. K-1``, ``K`` the null label),
            or ``None``.
        name: Model name.

    Returns:
        A functional ``keras.Model`` with float32 output; ``t`` is the 0-based timestep as a float.

    Example:
        >>> unet = build_unet((8, 8, 1), channels=(8, 16), attention=False)
        >>> unet([np.zeros((2, 8, 8, 1), "float32"), np.array([0.0, 5.0], "float32")]).shape
        TensorShape([2, 8, 8, 1])
    """
    image_shape = as_image_shape(image_shape, what="The U-Net")
    channels = as_units(channels, "channels", allow_empty=False)
    blocks = check_int(blocks, "blocks", minimum=1)
    groups = check_int(groups, "groups", minimum=1)
    heads = check_int(heads, "heads", minimum=1)
    if not 0.0 <= float(dropout) < 1.0:
        raise InputValidationError(f"dropout must be in [0, 1), got {dropout}.")
    check_example_size(image_shape)
    # Bounded before 2 ** levels below, and before anything is built; the first bound (11 layers per
    # residual block at least) keeps the count itself from looping over absurd blocks.
    check_layer_budget(11 * len(channels) * (2 * blocks + 1), "U-Net", "use fewer channel levels or blocks")
    num_classes = check_num_classes(num_classes, minimum=1)
    parameters, layers = unet_size(image_shape, channels, blocks, attention, heads, num_classes)
    check_layer_budget(layers, "U-Net", "use fewer channel levels or blocks")
    check_parameter_budget(parameters, "U-Net", advice="reduce channels or blocks")
    factor = 2 ** (len(channels) - 1)
    if image_shape[0] % factor or image_shape[1] % factor:
        raise InputValidationError(
            f"A U-Net with {len(channels)} levels halves the image {len(channels) - 1} times: height and width must be "
            f"multiples of {factor}, got {image_shape[:2]}. Use fewer channel levels or pad the images.")
    bad = [c for c in channels if c % groups]
    if bad:
        raise InputValidationError(f"channels must be multiples of groups={groups}, got {list(channels)}.")
    if attention and channels[-1] % heads:
        raise InputValidationError(f"The last level's {channels[-1]} channels must divide into heads={heads}.")

    x_in = keras.Input(image_shape, name="x_t")
    t_in = keras.Input((), name="t")
    temb = SinusoidalTimeEmbedding(channels[0], name="time_embedding")(t_in)
    temb = keras.layers.Dense(4 * channels[0], activation="swish", name="time_mlp1")(temb)
    temb = keras.layers.Dense(4 * channels[0], name="time_mlp2")(temb)
    inputs = [x_in, t_in]
    if num_classes is not None:
        label_in = keras.Input((), dtype="int32", name="labels")
        cemb = keras.layers.Embedding(num_classes + 1, 4 * channels[0], name="class_embedding")(label_in)
        temb = keras.layers.Add(name="time_class_add")([temb, cemb])
        inputs.append(label_in)

    h = keras.layers.Conv2D(channels[0], 3, padding="same", name="stem")(x_in)
    skips = [h]
    for level, width in enumerate(channels):
        for b in range(blocks):
            h = residual_block(h, temb, width, groups, dropout, f"down{level}_{b}")
            skips.append(h)
        if level < len(channels) - 1:
            h = keras.layers.Conv2D(width, 3, strides=2, padding="same", name=f"down{level}_pool")(h)
            skips.append(h)
    h = residual_block(h, temb, channels[-1], groups, dropout, "mid0")
    if attention:
        h = attention_block(h, groups, heads, "mid_attention")
    h = residual_block(h, temb, channels[-1], groups, dropout, "mid1")
    for level in reversed(range(len(channels))):
        for b in range(blocks + 1):
            h = keras.layers.Concatenate(name=f"up{level}_{b}_concat")([h, skips.pop()])
            h = residual_block(h, temb, channels[level], groups, dropout, f"up{level}_{b}")
        if level > 0:
            h = keras.layers.UpSampling2D(2, name=f"up{level}_resize")(h)
            h = keras.layers.Conv2D(channels[level], 3, padding="same", name=f"up{level}_conv")(h)
    h = keras.layers.GroupNormalization(groups, name="out_norm")(h)
    h = keras.layers.Activation("swish", name="out_act")(h)
    h = keras.layers.Conv2D(image_shape[-1], 3, padding="same", kernel_initializer="zeros", name="eps")(h)
    eps = keras.layers.Activation("linear", dtype="float32", name="eps_float32")(h)
    return keras.Model(inputs, eps, name=name)
