"""PixelCNN (van den Oord et al. 2016) and gated PixelCNN (van den Oord et al. 2016b).

``build_pixelcnn(gated=False)`` is the original network: a 7x7 mask-A convolution and
residual blocks of 3x3 mask-B convolutions (it has a blind spot: pixels up-right of the
current one are never seen). ``gated=True`` stacks gated blocks with separate vertical
and horizontal stacks, which see the whole causal context.

Sampling the gated network is cheap per pixel: the vertical stack depends only on rows
above, so :class:`PixelCNN` computes it once per row (on the band of rows it can see)
and evaluates only the horizontal stack, one row wide, for each pixel.

``input_encoding="one_hot"`` models categorical maps (e.g. a VQ-VAE's code maps with
``levels=K`` codes): the network sees one-hot channels instead of scaled grey values.

``num_classes=K`` builds the class-conditional gated PixelCNN (van den Oord et al. 2016b):
the network takes ``[images, labels]``, codes the labels once as one-hot vectors (``class_code``) and
every gated block adds its own projection of the code inside both stacks' gates,
``tanh(W_f * x + V_f^T y) * sigmoid(W_g * x + V_g^T y)`` (the plain PixelCNN adds it to
each masked convolution's output, :class:`~keras_ae.layers.class_conditioning.ClassBias`).
The gated network also learns a spatial map per class (``class_map`` channels,
:class:`~keras_ae.layers.class_conditioning.ClassMap`, the paper's location-dependent
conditioning): the per-image term alone tells every pixel the class but not where that
class's strokes lie, and a network that sees 9 rows above a pixel cannot find out from the
pixels drawn so far. The sampler slices the map to the rows it evaluates.
"""

from __future__ import annotations

from typing import Sequence

import keras
import tensorflow as tf

from keras_ae.errors import InputValidationError
from keras_ae.layers.class_conditioning import ClassBias, ClassMap, class_one_hot
from keras_ae.layers.gated_pixelcnn import GatedPixelCNNBlock
from keras_ae.layers.masked_conv import MaskedConv2D
from keras_ae.layers.one_hot_levels import OneHotLevels
from keras_ae.models.autoregressive import AutoregressiveModel, build_output_head
from keras_ae.models.common import as_image_shape
from keras_ae.validation import check_choice, check_int
from keras_ae.registry import register_builder, register_family
from keras_ae.validation import check_bool, check_float

INPUT_ENCODINGS = ("scaled", "one_hot")
# Channels of each class's spatial map in a conditional gated PixelCNN (ClassMap). Measured by
# recipes/conditional.py --families pixelcnn (mnist10k, 32 filters x 6 layers, mixed bfloat16,
# 1,000 binary samples per class judged by the project's classifier): with the maps, 94.6% of
# the samples recognised as the class asked for (worst class 90.0%), FCD 3.30, test NLL 82.7
# nats given the label, after 20 minutes; with the per-image term only, 29.6% (12.0%), FCD 51.8,
# NLL 87.4, after 30: the network sees 9 rows above a pixel, too few to place a class's strokes.
# The VQ-VAE's conditional prior over 7x7 code maps (--families vqvae): 93.0% (worst 89.0%), FCD 2.33
# with the maps; 88.7% (82.5%), FCD 3.61 without.
CLASS_MAP_CHANNELS = 8


@register_family("pixelcnn")
class PixelCNN(AutoregressiveModel):
    """A PixelCNN: an :class:`AutoregressiveModel` whose sampler knows the gated stacks.

    Build it with :func:`build_pixelcnn`. Arguments are those of
    :class:`~keras_ae.models.autoregressive.AutoregressiveModel`.

    Example:
        >>> model = build_pixelcnn((8, 8, 1), filters=8, blocks=2, gated=True)
        >>> model.gated
        True
    """


    @property
    def gated(self) -> bool:
        """Whether the network is a chain of gated blocks (vertical + horizontal stacks)."""
        return bool(self._gated_blocks())

    def _gated_blocks(self) -> list[GatedPixelCNNBlock]:
        return [layer for layer in self.network.layers if isinstance(layer, GatedPixelCNNBlock)]

    def _encode_input(self, x):
        """The network's input encoding (one-hot levels) if it has one: the stacks below take encoded images."""
        encoders = [layer for layer in self.network.layers if isinstance(layer, OneHotLevels)]
        return encoders[0](x) if encoders else x

    def _initial_row_state(self, x, first_row, labels=None):
        # The class code (a spatial one is a whole image's map) is computed once per sampling
        # call and carried from row to row; () without one.
        cond = self.class_code(labels) if self.gated else None
        return () if cond is None else cond

    def _begin_row(self, x, row, labels=None):
        if not self.gated:
            return super()._begin_row(x, row, labels)
        return self._begin_row_with_state(x, row, self._initial_row_state(x, row, labels), labels)

    def _begin_row_with_state(self, x, row, state, labels=None):
        if not self.gated:
            return super()._begin_row_with_state(x, row, state, labels)
        # The vertical stack sees only rows above `row`: fixed while `row` is sampled.
        band, r = self._band(x, row)
        cond = state if tf.is_tensor(state) else None
        links, v = [], self._encode_input(band)
        for block in self._gated_blocks():
            v, link = block.vertical(v, cond=_rows(cond, row - r, tf.shape(band)[1]))
            links.append(tf.gather(link, [r], axis=1))
        return links, _rows(cond, row, 1)

    def _row_logits(self, x, row, cache, labels=None):
        if not self.gated:
            return super()._row_logits(x, row, cache, labels)
        h = self._encode_input(tf.gather(x, [row], axis=1))  # the horizontal stack needs only the current row
        links, cond = cache
        for block, link in zip(self._gated_blocks(), links):
            h = block.horizontal(h, link, cond=cond)
        return self.split_logits(self.network.get_layer("head")(h))[:, 0]


def _rows(cond, start, rows):
    """Rows ``start .. start + rows - 1`` of a spatial class code; a per-image code (or ``None``) as it is."""
    if cond is None or len(cond.shape) != 4:
        return cond
    return tf.slice(cond, tf.stack([0, start, 0, 0]), tf.stack([tf.shape(cond)[0], rows, -1, -1]))


def _pixelcnn_network(shape: tuple[int, int, int], filters: int, blocks: int, gated: bool, levels: int, k: int,
                      k0: int, head_units: int | None, dropout: float, one_hot: bool,
                      num_classes: int | None = None, class_map: int = 0) -> tuple[keras.Model, int]:
    """The causal network of :func:`build_pixelcnn`, from its checked arguments, and the rows above a pixel it sees."""
    c = shape[-1]
    inputs = keras.Input((None, None, c), name="images")  # any band of rows
    x = OneHotLevels(levels, name="one_hot_levels")(inputs) if one_hot else inputs
    labels = cond = None
    if num_classes is not None:  # one class id per image, coded once; every layer projects it
        labels = keras.Input((), dtype="int32", name="labels")
        cond = class_one_hot(num_classes)(labels)
        if class_map:  # the whole image's map: this network then takes whole images (the sampler slices rows)
            cond = ClassMap(shape[0], shape[1], class_map, name="class_map")(cond)
    extra = [] if cond is None else [cond]
    if gated:
        v, h = GatedPixelCNNBlock(filters, k0, first=True, color_channels=c, dropout=dropout,
                                  conditional=cond is not None, name="gated_block_0")([x, x, *extra])
        for b in range(1, blocks + 1):
            v, h = GatedPixelCNNBlock(filters, k, color_channels=c, dropout=dropout, conditional=cond is not None,
                                      name=f"gated_block_{b}")([v, h, *extra])
        rows = k0 // 2 + 1 + blocks * (k // 2)
    else:
        h = MaskedConv2D(filters, k0, mask_type="A", color_channels=c, name="input_conv")(x)
        if cond is not None:
            h = ClassBias(name="input_class")([h, cond])
        for b in range(1, blocks + 1):
            y = keras.layers.Activation("relu")(h)
            if cond is None:
                y = MaskedConv2D(filters, k, mask_type="B", color_channels=c, activation="relu",
                                 name=f"block_{b}_conv")(y)
            else:  # the class term goes in before the ReLU
                y = MaskedConv2D(filters, k, mask_type="B", color_channels=c, name=f"block_{b}_conv")(y)
                y = keras.layers.Activation("relu")(ClassBias(name=f"block_{b}_class")([y, cond]))
            if dropout:
                y = keras.layers.Dropout(dropout, name=f"block_{b}_dropout")(y)
            y = MaskedConv2D(filters, 1, mask_type="B", color_channels=c, name=f"block_{b}_1x1")(y)
            h = keras.layers.Add(name=f"block_{b}_residual")([h, y])
        rows = k0 // 2 + blocks * (k // 2)
    outputs = build_output_head(filters, c, levels, head_units)(h)
    return keras.Model(inputs if labels is None else [inputs, labels], outputs, name="network"), rows


@register_builder("pixelcnn")
def build_pixelcnn(
    image_shape: Sequence[int] = (28, 28, 1),
    filters: int = 32,
    blocks: int = 5,
    gated: bool = True,
    levels: int = 2,
    kernel_size: int = 3,
    first_kernel_size: int = 7,
    head_units: int | None = None,
    dropout: float = 0.0,
    input_encoding: str = "scaled",
    dynamic_binarization: bool = False,
    seed: int | None = None,
    name: str = "pixelcnn",
    num_classes: int | None = None,
    class_map: int | None = None,
) -> PixelCNN:
    """Builds a PixelCNN (``gated=False``) or gated PixelCNN (``gated=True``).

    Args:
        image_shape: ``(height, width[, channels])``; channels are sampled R, G, B in turn.
        filters: Feature maps per layer (a multiple of the channels). The default 32 trains
            an 8,000-image epoch of MNIST in about a third of the time of 64 (24 vs 70 s on
            2 CPU cores at batch 32) and reaches the keras.io PixelCNN's best NLL sooner
            (``recipes/time_to_quality.py``); raise it for long runs on large data.
        blocks: Residual blocks after the first (mask A) layer.
        gated: Gated blocks with vertical/horizontal stacks (no blind spot) instead of
            plain masked convolutions.
        levels: 2 for binary images (Bernoulli logits), 256 for 8-bit images (softmax).
        kernel_size: Kernel size of the residual blocks.
        first_kernel_size: Kernel size of the first layer.
        head_units: Hidden 1x1 channels of the output head (default ``filters``).
        dropout: Dropout rate inside the blocks during training (against overfitting
            small data sets).
        input_encoding: ``"scaled"`` feeds pixel values as they are (grey levels);
            ``"one_hot"`` feeds one-hot channels of the ``levels`` categories, for
            categorical maps such as a VQ-VAE's codes (stored as ``code / (levels - 1)``).
        dynamic_binarization: Binary models: ``fit`` re-binarizes grey images every batch.
        seed: Seed of the dynamic binarization.
        name: Model name.
        num_classes: ``None`` (unconditional), or ``K`` for a class-conditional PixelCNN of
            ``p(x | y)``, ``y`` in ``0 .. K-1``: a one-hot class code enters
            every gated layer's gates; train with ``fit(x, y)`` and pass ``labels`` to
            ``log_likelihood``, ``sample`` and ``complete``.
        class_map: Channels of each class's learned spatial map in a class-conditional gated
            PixelCNN (location-dependent conditioning: the class term of every gate varies
            with the position, :class:`~keras_ae.layers.class_conditioning.ClassMap`); 0 for the
            per-image term only. ``None``: 8 for a conditional gated network, else 0
            (:data:`CLASS_MAP_CHANNELS`, measured there).

    Returns:
        A :class:`PixelCNN`; compile it and ``fit(x)`` (``fit(x, y)`` when conditional).

    Example:
        >>> model = build_pixelcnn((8, 8, 1), filters=8, blocks=1)
        >>> model.compile()
        >>> model.network(x_digits[:2]).shape  # one logit per pixel (2 levels)
        TensorShape([2, 8, 8, 1])
        >>> build_pixelcnn((8, 8, 1), filters=8, blocks=5).receptive_rows  # rows above a pixel the network sees
        9

        Training on MNIST (minutes on a CPU):

        ```python
        model = build_pixelcnn((28, 28, 1), filters=32, blocks=4, dynamic_binarization=True)
        model.compile()
        model.fit(x_train, epochs=10)
        ```

        A prior over 7x7 maps of 64 categories (codes ``k`` stored as ``k / 63``):

        >>> prior = build_pixelcnn((7, 7, 1), filters=8, blocks=1, levels=64, input_encoding="one_hot")
        >>> prior.network(np.zeros((2, 7, 7, 1), "float32")).shape  # 64 softmax logits per position
        TensorShape([2, 7, 7, 64])

        A class-conditional model of the digits, trained on labelled images:

        >>> model = build_pixelcnn((8, 8, 1), filters=8, blocks=1, num_classes=10)
        >>> model.compile()
        >>> history = model.fit(keras_ae.data.binarize(x_digits, seed=0), y_digits, epochs=1, verbose=0)
        >>> model.log_likelihood(keras_ae.data.binarize(x_digits_test[:2], seed=0), labels=[3, 3]).shape
        (2,)
    """
    gated = check_bool(gated, "gated")
    dropout = check_float(dropout, "dropout", 0.0, 1.0, include_maximum=False)
    shape = as_image_shape(image_shape)
    filters = check_int(filters, "filters", minimum=1)
    blocks = check_int(blocks, "blocks", minimum=0)
    levels = check_int(levels, "levels", minimum=2)
    kernel_size = check_int(kernel_size, "kernel_size", minimum=1)
    first_kernel_size = check_int(first_kernel_size, "first_kernel_size", minimum=1)
    one_hot = check_choice(input_encoding, "input_encoding", INPUT_ENCODINGS) == "one_hot"
    num_classes = None if num_classes is None else check_int(num_classes, "num_classes", minimum=1)
    if class_map is None:
        class_map = CLASS_MAP_CHANNELS if gated and num_classes is not None else 0
    class_map = check_int(class_map, "class_map", minimum=0)
    if class_map and (num_classes is None or not gated):
        raise InputValidationError(f"class_map={class_map} is a class-conditional gated PixelCNN's map: it needs "
                                   f"num_classes and gated=True (got num_classes={num_classes}, gated={gated}).")
    network, rows = _pixelcnn_network(shape, filters, blocks, gated, levels, kernel_size, first_kernel_size, head_units,
                                      dropout, one_hot, num_classes, class_map)
    return PixelCNN(network, image_shape, levels=levels, dynamic_binarization=dynamic_binarization, receptive_rows=rows,
                    seed=seed, info={"gated": bool(gated), "filters": filters, "blocks": blocks, "dropout": dropout,
                          "input_encoding": input_encoding}, num_classes=num_classes, name=name)
