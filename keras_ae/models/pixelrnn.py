"""PixelRNN (van den Oord et al. 2016): Row LSTM and Diagonal BiLSTM networks.

A 7x7 mask-A convolution, then residual two-dimensional LSTM layers
(:class:`~keras_ae.layers.pixel_rnn.RowLSTM` or
:class:`~keras_ae.layers.pixel_rnn.DiagonalBiLSTM`), then the 1x1 output head shared
with PixelCNN. The LSTM state carries information from arbitrarily far above, so the
sampler evaluates the whole network for each pixel (inside one compiled loop).
"""

from __future__ import annotations

import keras

from keras_ae.layers.masked_conv import MaskedConv2D
from keras_ae.layers.pixel_rnn import DiagonalBiLSTM, RowLSTM
from keras_ae.models.autoregressive import AutoregressiveModel, build_output_head
from keras_ae.models.common import as_image_shape
from keras_ae.validation import check_choice, check_positive_int
from keras_ae.registry import register_builder, register_family

PIXELRNN_KINDS = ("row_lstm", "diagonal_bilstm")


@register_family("pixelrnn")
class PixelRNN(AutoregressiveModel):
    """A PixelRNN; build it with :func:`build_pixelrnn`.

    Example:
        >>> model = build_pixelrnn((8, 8, 1), kind="row_lstm", units=8, layers=1)
        >>> model.family
        'pixelrnn'
    """



def get_pixelrnn_network(
    image_shape=(28, 28, 1),
    kind: str = "diagonal_bilstm",
    units: int = 32,
    layers: int = 2,
    filters: int | None = None,
    levels: int = 2,
    first_kernel_size: int = 7,
    head_units: int | None = None,
    name: str = "network",
) -> keras.Model:
    """The causal network of a PixelRNN (arguments as :func:`build_pixelrnn`).

    Example:
        >>> net = get_pixelrnn_network((8, 8, 1), kind="row_lstm", units=8, layers=1)
        >>> net.output_shape  # any height and width: the sampler feeds bands of rows
        (None, None, None, 1)
        >>> net(np.zeros((2, 8, 8, 1), "float32")).shape
        TensorShape([2, 8, 8, 1])
    """
    shape = as_image_shape(image_shape)
    check_choice(kind, "PixelRNN kind", PIXELRNN_KINDS)
    units = check_positive_int(units, "units")
    layers = check_positive_int(layers, "layers")
    filters = 2 * units if filters is None else check_positive_int(filters, "filters")
    c = shape[-1]
    inputs = keras.Input((None, None, c), name="images")  # any band of rows
    h = MaskedConv2D(filters, check_positive_int(first_kernel_size, "first_kernel_size"), mask_type="A",
                     color_channels=c, name="input_conv")(inputs)
    for i in range(layers):
        if kind == "row_lstm":
            y = RowLSTM(units, color_channels=c, name=f"row_lstm_{i}")(h)
        else:
            y = DiagonalBiLSTM(units, color_channels=c, name=f"diagonal_bilstm_{i}")(h)
        # Residual connection: a masked 1x1 convolution back to `filters` channels.
        y = MaskedConv2D(filters, 1, mask_type="B", color_channels=c, name=f"residual_{i}")(y)
        h = keras.layers.Add(name=f"add_{i}")([h, y])
    outputs = build_output_head(filters, c, check_positive_int(levels, "levels", minimum=2), head_units)(h)
    return keras.Model(inputs, outputs, name=name)


@register_builder("pixelrnn")
def build_pixelrnn(
    image_shape=(28, 28, 1),
    kind: str = "diagonal_bilstm",
    units: int = 32,
    layers: int = 2,
    filters: int | None = None,
    levels: int = 2,
    first_kernel_size: int = 7,
    head_units: int | None = None,
    dynamic_binarization: bool = False,
    seed: int | None = None,
    name: str = "pixelrnn",
) -> PixelRNN:
    """Builds a PixelRNN with Row LSTM or Diagonal BiLSTM layers.

    Args:
        image_shape: ``(height, width[, channels])``.
        kind: ``"row_lstm"`` (triangular context, faster) or ``"diagonal_bilstm"``
            (the whole causal context).
        units: LSTM hidden units per layer (a multiple of the channels).
        layers: Number of LSTM layers.
        filters: Residual stream channels (default ``2 * units``).
        levels: 2 for binary images (Bernoulli), 256 for 8-bit images (softmax).
        first_kernel_size: Kernel size of the first (mask A) convolution.
        head_units: Hidden 1x1 channels of the output head (default ``filters``).
        dynamic_binarization: Binary models: ``fit`` re-binarizes grey images every batch.
        seed: Seed of the dynamic binarization.
        name: Model name.

    Returns:
        A :class:`PixelRNN`.

    Example:
        >>> model = build_pixelrnn((8, 8, 1), kind="row_lstm", units=8, layers=1)
        >>> model.compile()
        >>> model.network.count_params() > 0
        True

        Training on binarized MNIST (minutes on a CPU):

        ```python
        model = build_pixelrnn((28, 28, 1), kind="row_lstm", units=16, layers=1)
        model.compile()
        model.fit(x_train_binary, epochs=5)
        ```
    """
    network = get_pixelrnn_network(image_shape, kind, units, layers, filters, levels, first_kernel_size, head_units)
    return PixelRNN(network, image_shape, levels=levels, dynamic_binarization=dynamic_binarization, receptive_rows=None,
                    seed=seed, info={"kind": kind, "units": units, "layers": layers}, name=name)
