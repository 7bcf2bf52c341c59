"""PixelRNN (van den Oord et al. 2016): Row LSTM and Diagonal BiLSTM networks.

A mask-A convolution (``first_kernel_size`` wide, half-width ``r``), then ``L`` residual
two-dimensional LSTM layers (:class:`~keras_ae.layers.pixel_rnn.RowLSTM` or
:class:`~keras_ae.layers.pixel_rnn.DiagonalBiLSTM`), then the 1x1 output head shared
with PixelCNN.

Exact receptive fields (which input pixels ``(i', j')`` the logits of pixel ``(i, j)``
depend on; :func:`pixelrnn_dependencies` computes them and the tests check them against
gradients for every pair of pixels):

* ``diagonal_bilstm`` (``full_context=True``, the default): every earlier pixel, i.e.
  ``i' < i``, or ``i' == i`` and ``j' < j``. With ``full_context=False`` (the paper's
  layer, and models saved before the fix) the last pixel of the row above,
  ``(i - 1, w - 1)``, is missing whenever ``j < w - 1 - r``: no mask-A feature of a row
  sees the last pixel of its own row, and the shifted-down direction reads only rows above.
* ``row_lstm`` (row kernel 3): a triangle. The current row: ``j - L - r <= j' < j``; ``e``
  rows up (``e >= 1``): ``j - L - e - r <= j' <= j + e - 1 + r``, clipped to the image;
  unlimited upwards (for ``r >= 1``).

Sampling: a Row LSTM's state at row ``i`` depends only on rows ``<= i``, so the sampler
carries the LSTM states from row to row and, for each pixel, runs the network on one row
only (:class:`PixelRNN`). A Diagonal BiLSTM's right-to-left direction must be re-run,
so it evaluates the whole network per pixel (inside the same compiled loop).

``num_classes=K`` builds a class-conditional PixelRNN of ``p(x | y)``: the network takes
``[images, labels]``, codes the labels once as one-hot vectors (``class_code``) and every LSTM layer adds
its own projection of the code to its gate pre-activations (input, forget, output,
candidate; both directions of a Diagonal BiLSTM), as the conditional gated PixelCNN does.
"""

from __future__ import annotations

from typing import Sequence

import keras
import numpy as np
import tensorflow as tf

from keras_ae.layers.class_conditioning import class_one_hot
from keras_ae.layers.masked_conv import MaskedConv2D
from keras_ae.layers.pixel_rnn import DiagonalBiLSTM, RowLSTM
from keras_ae.models.autoregressive import AutoregressiveModel, build_output_head
from keras_ae.models.common import as_image_shape
from keras_ae.validation import check_choice, check_int
from keras_ae.registry import register_builder, register_family
from keras_ae.validation import check_bool

PIXELRNN_KINDS = ("row_lstm", "diagonal_bilstm")


@register_family("pixelrnn")
class PixelRNN(AutoregressiveModel):
    """A PixelRNN; build it with :func:`build_pixelrnn`.

    For Row LSTM networks the sampler runs one row at a time: it carries each layer's
    LSTM state ``(h, c)`` of the row above, computes the state-to-state part once per row
    and, per pixel, only the first convolution on the ``r + 1`` rows it sees and the LSTM
    layers and head on the current row. It draws the same images as
    :meth:`~keras_ae.models.autoregressive.AutoregressiveModel.sample_naive`.

    Example:
        >>> model = build_pixelrnn((4, 4, 1), kind="row_lstm", units=8, layers=1)  # sample_naive: a call per pixel
        >>> model.family
        'pixelrnn'
        >>> np.array_equal(model.sample(2, seed=0, jit_compile=False), model.sample_naive(2, seed=0))
        True
    """

    row_by_row = True  # False: the generic sampler (the whole network per pixel), for benchmarks

    def _row_lstm_parts(self):
        """``(input_conv, [(RowLSTM, residual conv)], head)`` of a Row LSTM network, else ``None``."""
        if not self.row_by_row:
            return None
        lstms = [layer for layer in self.network.layers if isinstance(layer, RowLSTM)]
        names = {layer.name for layer in self.network.layers}
        expected = {"input_conv", "head", *(f"residual_{i}" for i in range(len(lstms)))}
        has_diagonal = any(isinstance(layer, DiagonalBiLSTM) for layer in self.network.layers)
        if not lstms or has_diagonal or not expected <= names:
            return None  # not built by build_pixelrnn: the generic sampler
        get = self.network.get_layer
        return get("input_conv"), [(lstm, get(f"residual_{i}")) for i, lstm in enumerate(lstms)], get("head")

    def _initial_row_state(self, x, first_row, labels=None):
        parts = self._row_lstm_parts()
        if parts is None:
            return super()._initial_row_state(x, first_row, labels)
        # complete(): the states of the last observed row, from one pass over the image
        # (the rows below it do not matter: the Row LSTM is causal row by row).
        input_conv, layers, _ = parts
        h, states, cond = input_conv(x), [], self.class_code(labels)
        above = tf.maximum(first_row - 1, 0)
        for lstm, residual in layers:
            hs, cs = lstm.scan(h, cond)
            states.append(tuple(tf.where(first_row > 0, tf.gather(s, above, axis=1), tf.zeros_like(s[:, 0]))
                                for s in (hs, cs)))
            h = h + residual(hs)
        return states

    def _begin_row_with_state(self, x, row, state, labels=None):
        if self._row_lstm_parts() is None:
            return super()._begin_row_with_state(x, row, state, labels)
        # Fixed while `row` is sampled: each layer's state-to-state part and cell from the row above.
        return [(lstm.recurrent(h_prev), c_prev)
                for (lstm, _), (h_prev, c_prev) in zip(self._row_lstm_parts()[1], state)]

    def _rnn_row(self, x, row, cache, labels=None):
        """Logits ``(n, w, c[, levels])`` of ``row`` and the LSTM states ``[(h, c)]`` of that row."""
        input_conv, layers, head = self._row_lstm_parts()
        height = self.image_shape[0]
        band_rows = min(height, input_conv.kernel_size[0] // 2 + 1)  # the rows the mask-A kernel sees
        start = tf.clip_by_value(row - (band_rows - 1), 0, height - band_rows)
        band = tf.slice(x, tf.stack([0, start, 0, 0]), tf.stack([tf.shape(x)[0], band_rows, -1, -1]))
        h = tf.gather(input_conv(band), [row - start], axis=1)  # (n, 1, w, filters)
        states, cond = [], self.class_code(labels)
        for (lstm, residual), (recurrent, c_prev) in zip(layers, cache):
            s, c = lstm.step(lstm.preactivations(h, cond)[:, 0], recurrent, c_prev)
            states.append((s, c))
            h = h + residual(s[:, None])
        return self.split_logits(head(h))[:, 0], states

    def _row_logits(self, x, row, cache, labels=None):
        if self._row_lstm_parts() is None:
            return super()._row_logits(x, row, cache, labels)
        return self._rnn_row(x, row, cache, labels)[0]

    def _end_row(self, x, row, cache, state, labels=None):
        if self._row_lstm_parts() is None:
            return super()._end_row(x, row, cache, state, labels)
        return self._rnn_row(x, row, cache, labels)[1]  # the row is complete: its states go to the next row


def pixelrnn_dependencies(image_shape: Sequence[int], kind: str = "diagonal_bilstm", layers: int = 2,
                          first_kernel_size: int = 7, full_context: bool = True) -> np.ndarray:
    """The exact receptive field of a PixelRNN as stated in the module docstring.

    Args:
        image_shape: ``(height, width[, channels])`` (pixels; colours are not resolved).
        kind: ``"row_lstm"`` or ``"diagonal_bilstm"``.
        layers: LSTM layers (matters for ``row_lstm``).
        first_kernel_size: Kernel size of the mask-A first convolution.
        full_context: As :func:`build_pixelrnn` (matters for ``diagonal_bilstm``).

    Returns:
        Boolean ``(h * w, h * w)``: ``dep[p, q]`` when pixel ``p``'s logits depend on
        pixel ``q`` (raster order).

    Example:
        >>> dep = pixelrnn_dependencies((8, 8), "diagonal_bilstm", full_context=False)
        >>> bool(dep[4 * 8 + 3, 3 * 8 + 7]), bool(dep[4 * 8 + 4, 3 * 8 + 7])  # (4, 3) misses (3, 7)
        (False, True)
        >>> int(pixelrnn_dependencies((8, 8), "row_lstm", layers=1)[4 * 8 + 4].sum())  # 4 rows above + 4 left
        36
    """
    h, w = as_image_shape(image_shape)[:2]
    check_choice(kind, "PixelRNN kind", PIXELRNN_KINDS)
    r = check_int(first_kernel_size, "first_kernel_size", minimum=1) // 2
    i, j = (a.reshape(-1, 1) for a in np.indices((h, w)))  # output pixel p
    k, m = (a.reshape(1, -1) for a in np.indices((h, w)))  # input pixel q
    e, col = i - k, m - j  # rows up, columns right
    earlier = (e > 0) | ((e == 0) & (col < 0))
    if kind == "diagonal_bilstm":
        gap = (e == 1) & (m == w - 1) & (j < w - 1 - r)
        return earlier & ~gap if not full_context else earlier
    rows_above = (col >= -layers - e - r) & (col <= e - 1 + r) & (e > 0)
    return rows_above | ((e == 0) & (col < 0) & (col >= -layers - r))


def _pixelrnn_network(shape: tuple[int, int, int], kind: str, units: int, layers: int, filters: int, levels: int,
                      first_kernel_size: int, head_units: int | None, full_context: bool,
                      num_classes: int | None = None) -> keras.Model:
    """The causal network of :func:`build_pixelrnn` from its checked arguments (the sampler finds layers by name)."""
    c = shape[-1]
    inputs = keras.Input((None, None, c), name="images")  # any band of rows
    labels = None
    extra = []  # the one-hot class code, the last input of every conditional LSTM layer
    if num_classes is not None:
        labels = keras.Input((), dtype="int32", name="labels")
        extra = [class_one_hot(num_classes)(labels)]
    h = MaskedConv2D(filters, first_kernel_size, mask_type="A", color_channels=c, name="input_conv")(inputs)
    for i in range(layers):
        if kind == "row_lstm":
            y = RowLSTM(units, color_channels=c, conditional=bool(extra), name=f"row_lstm_{i}")(
                [h, *extra] if extra else h)
        else:
            # The first layer also reads the raw pixels: without them the last pixel of the
            # row above is out of reach (see DiagonalBiLSTM); later layers inherit it.
            features = [h, inputs] if full_context and i == 0 else [h]
            y = DiagonalBiLSTM(units, color_channels=c, conditional=bool(extra), name=f"diagonal_bilstm_{i}")(
                [*features, *extra] if len(features) + len(extra) > 1 else h)
        # Residual connection: a masked 1x1 convolution back to `filters` channels.
        y = MaskedConv2D(filters, 1, mask_type="B", color_channels=c, name=f"residual_{i}")(y)
        h = keras.layers.Add(name=f"add_{i}")([h, y])
    outputs = build_output_head(filters, c, levels, head_units)(h)
    return keras.Model(inputs if labels is None else [inputs, labels], outputs, name="network")


@register_builder("pixelrnn")
def build_pixelrnn(
    image_shape: Sequence[int] = (28, 28, 1),
    kind: str = "diagonal_bilstm",
    units: int = 32,
    layers: int = 2,
    filters: int | None = None,
    levels: int = 2,
    first_kernel_size: int = 7,
    head_units: int | None = None,
    full_context: bool = True,
    dynamic_binarization: bool = False,
    seed: int | None = None,
    name: str = "pixelrnn",
    num_classes: int | None = None,
) -> PixelRNN:
    """Builds a PixelRNN with Row LSTM or Diagonal BiLSTM layers.

    Args:
        image_shape: ``(height, width[, channels])``.
        kind: ``"row_lstm"`` (triangular context, faster sampling) or
            ``"diagonal_bilstm"`` (the whole causal context).
        units: LSTM hidden units per layer (a multiple of the channels).
        layers: Number of LSTM layers.
        filters: Residual stream channels (default ``2 * units``).
        levels: 2 for binary images (Bernoulli), 256 for 8-bit images (softmax).
        first_kernel_size: Kernel size of the first (mask A) convolution.
        head_units: Hidden 1x1 channels of the output head (default ``filters``).
        full_context: Diagonal BiLSTM: the first layer's right-to-left direction also
            reads the raw pixels, so every earlier pixel is in reach; ``False`` is the
            paper's layer, blind to pixel ``(i - 1, w - 1)`` from ``(i, j < w - 1 - r)``.
        dynamic_binarization: Binary models: ``fit`` re-binarizes grey images every batch.
        seed: Seed of the dynamic binarization.
        name: Model name.
        num_classes: ``None`` (unconditional), or ``K`` for a class-conditional PixelRNN of
            ``p(x | y)``: a one-hot class code enters every LSTM layer's gates;
            train with ``fit(x, y)`` and pass ``labels`` to ``log_likelihood`` and ``sample``.

    Returns:
        A :class:`PixelRNN`.

    Example:
        >>> model = build_pixelrnn((8, 8, 1), kind="row_lstm", units=8, layers=1)
        >>> model.compile()
        >>> model.network.count_params() > 0
        True
        >>> model.network.output_shape  # any height and width: the sampler feeds bands of rows
        (None, None, None, 1)
        >>> conditional = build_pixelrnn((8, 8, 1), kind="row_lstm", units=8, layers=1, num_classes=10)
        >>> conditional.sample(2, seed=0, labels=[4, 7], jit_compile=False).shape
        (2, 8, 8, 1)

        Training on binarized MNIST (minutes on a CPU):

        ```python
        model = build_pixelrnn((28, 28, 1), kind="row_lstm", units=16, layers=1)
        model.compile()
        model.fit(x_train_binary, epochs=5)
        ```
    """
    full_context = check_bool(full_context, "full_context")
    shape = as_image_shape(image_shape)
    check_choice(kind, "PixelRNN kind", PIXELRNN_KINDS)
    units = check_int(units, "units", minimum=1)
    layers = check_int(layers, "layers", minimum=1)
    filters = 2 * units if filters is None else check_int(filters, "filters", minimum=1)
    first_kernel_size = check_int(first_kernel_size, "first_kernel_size", minimum=1)
    levels = check_int(levels, "levels", minimum=2)
    num_classes = None if num_classes is None else check_int(num_classes, "num_classes", minimum=1)
    network = _pixelrnn_network(shape, kind, units, layers, filters, levels, first_kernel_size, head_units,
                                full_context, num_classes)
    info = {"kind": kind, "units": units, "layers": layers}
    if kind == "diagonal_bilstm":
        info["full_context"] = bool(full_context)
    return PixelRNN(network, image_shape, levels=levels, dynamic_binarization=dynamic_binarization, receptive_rows=None,
                    seed=seed, info=info, num_classes=num_classes, name=name)
