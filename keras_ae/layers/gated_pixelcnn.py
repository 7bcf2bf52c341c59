"""Gated PixelCNN block (van den Oord et al. 2016b): vertical and horizontal stacks.

A stack of masked 3x3 convolutions has a blind spot: pixels up and to the right of the
current one never enter its receptive field. The gated block removes it by splitting
the network in two stacks:

* the **vertical stack** sees every pixel in the rows strictly above (a ``(k//2+1) x k``
  convolution made causal by padding the top and, in the first block, dropping the
  last output row: a shift down by one row, no mask needed);
* the **horizontal stack** sees the pixels to the left in the current row (a masked
  ``1 x k`` convolution) plus the vertical stack through a 1x1 "link".

Both use the gated activation ``tanh(a) * sigmoid(b)``; the horizontal stack has a
residual connection (except in the first block, which changes the channel count).

Because the vertical stack never looks at the current row, a sampler can compute it
once per row and run only the horizontal stack per pixel (see
:meth:`keras_ae.models.pixelcnn.PixelCNN`).

A ``conditional`` block (the conditional gated PixelCNN of van den Oord et al. 2016b) also
takes a class code ``y`` per image and adds ``V^T y`` to the gate pre-activations of
both stacks: ``tanh(W_f * x + V_f^T y) * sigmoid(W_g * x + V_g^T y)``. With a spatial code
(the paper's location-dependent conditioning, ``V^T s`` with ``s = m(y)``) the term differs
from pixel to pixel; it depends on the label only, so the block stays causal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import keras
from keras import ops

from keras_ae.errors import InputValidationError
from keras_ae.layers.masked_conv import MaskedConv2D
from keras_ae.validation import check_int

if TYPE_CHECKING:
    import numpy as np
    import tensorflow as tf


def gated_activation(x: tf.Tensor | np.ndarray) -> tf.Tensor:
    """``tanh(first half) * sigmoid(second half)`` along the channel axis.

    Args:
        x: Pre-activations ``(..., 2 * c)``; the last axis has an even size.

    Returns:
        The gated activation ``(..., c)``.

    Example:
        >>> gated_activation(np.zeros((1, 4), "float32")).shape
        TensorShape([1, 2])
    """
    a, b = ops.split(x, 2, axis=-1)
    return ops.tanh(a) * ops.sigmoid(b)


@keras.saving.register_keras_serializable(package="keras_ae")
class GatedPixelCNNBlock(keras.layers.Layer):
    """One gated PixelCNN layer mapping ``[vertical, horizontal]`` to the same pair.

    Args:
        filters: Feature maps of each stack (a multiple of ``color_channels``).
        kernel_size: Odd kernel size ``k``; the vertical stack reaches ``k // 2`` rows up
            per block (``k // 2 + 1`` in the first block), the horizontal one ``k // 2``
            columns left.
        first: First block: its horizontal convolution uses mask A (hides the current
            pixel), its vertical stack is shifted down one row, and it has no residual.
        color_channels: Colour groups per pixel (1 grey, 3 RGB).
        dropout: Dropout rate on both stacks' gated activations during training
            (regularizes small data sets, as in PixelCNN++; element-wise, so still causal).
        conditional: The block takes ``[vertical, horizontal, class_code]`` and adds a
            learned projection of the class code to both stacks' gates: a ``(batch, dim)``
            code (the same term at every pixel) or a ``(batch, rows, width, dim)`` spatial one
            (:class:`~keras_ae.layers.class_conditioning.ClassMap`, a term per pixel).

    Example:
        >>> block = GatedPixelCNNBlock(32, 7, first=True)
        >>> x = np.zeros((2, 8, 8, 1), "float32")
        >>> v, h = block([x, x])
        >>> v.shape, h.shape
        (TensorShape([2, 8, 8, 32]), TensorShape([2, 8, 8, 32]))
        >>> y = np.ones((2, 5), "float32")  # a class code per image (one-hot or any vector)
        >>> GatedPixelCNNBlock(32, 7, first=True, conditional=True)([x, x, y])[1].shape
        TensorShape([2, 8, 8, 32])
    """

    def __init__(self, filters: int, kernel_size: int = 3, first: bool = False, color_channels: int = 1,
                 dropout: float = 0.0, conditional: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.filters = check_int(filters, "filters", minimum=1)
        self.kernel_size = check_int(kernel_size, "kernel_size", minimum=1)
        if self.kernel_size % 2 == 0:
            raise InputValidationError(f"kernel_size must be odd, got {kernel_size}.")
        self.first = bool(first)
        if not 0.0 <= float(dropout) < 1.0:
            raise InputValidationError(f"dropout must be in [0, 1), got {dropout}.")
        self.dropout = float(dropout)
        self.color_channels = check_int(color_channels, "color_channels", minimum=1)
        if self.filters % self.color_channels:
            raise InputValidationError(
                f"filters={filters} must be a multiple of color_channels={color_channels}."
            )
        k, f = self.kernel_size, self.filters
        self.vertical_conv = keras.layers.Conv2D(2 * f, (k // 2 + 1, k), padding="valid", name="vertical_conv")
        self.link = keras.layers.Conv2D(2 * f, 1, name="vertical_to_horizontal")
        self.horizontal_conv = MaskedConv2D(2 * f, (1, k), mask_type="A" if first else "B",
                                            color_channels=color_channels, name="horizontal_conv")
        self.horizontal_out = MaskedConv2D(f, 1, mask_type="B", color_channels=color_channels, name="horizontal_out")
        self.drop = keras.layers.Dropout(self.dropout, name="dropout") if self.dropout else None
        self.conditional = bool(conditional)
        # V_v^T y and V_h^T y: the class term of each stack's gates (the convolutions carry the bias).
        self.vertical_class = (keras.layers.Dense(2 * f, use_bias=False, name="vertical_class")
                               if self.conditional else None)
        self.horizontal_class = (keras.layers.Dense(2 * f, use_bias=False, name="horizontal_class")
                                 if self.conditional else None)

    def get_config(self) -> dict:
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "first": self.first, "color_channels": self.color_channels, "dropout": self.dropout,
                "conditional": self.conditional}

    @property
    def rows_reached(self) -> int:
        """How many rows above the current one this block's vertical stack adds."""
        return self.kernel_size // 2 + (1 if self.first else 0)

    def build(self, input_shape):
        v_shape, h_shape = input_shape[:2]
        if not self.first and h_shape[-1] != self.filters:
            raise InputValidationError(
                f"A residual gated block needs {self.filters} input channels, got {h_shape[-1]}."
            )
        self.vertical_conv.build((v_shape[0], None, None, v_shape[-1]))
        self.link.build((*v_shape[:-1], 2 * self.filters))
        self.horizontal_conv.build(h_shape)
        self.horizontal_out.build((*h_shape[:-1], self.filters))
        if self.conditional:
            if len(input_shape) != 3:
                raise InputValidationError("A conditional gated block takes [vertical, horizontal, class_code].")
            for dense in (self.vertical_class, self.horizontal_class):
                dense.build((None, input_shape[2][-1]))
        self.built = True

    def _gate(self, x, training):
        out = gated_activation(x)
        return self.drop(out, training=training) if self.drop is not None else out

    @staticmethod
    def _add_class_term(pre, dense, cond):
        """``pre + V^T y`` for a conditional block; ``pre`` otherwise.

        A class code ``(b, dim)`` is broadcast over rows and columns; a spatial one
        (``(b, rows, w, dim)``, :class:`~keras_ae.layers.class_conditioning.ClassMap` on the same
        rows as ``pre``) is projected at every position.
        """
        if cond is None or dense is None:
            return pre
        term = ops.cast(dense(cond), pre.dtype)
        return pre + (term if len(cond.shape) == 4 else term[:, None, None, :])

    def vertical(self, v, training=False, cond=None):
        """The vertical stack: returns ``(v_out, link)``; both depend on rows above only.

        Works on any band of rows: output row ``r`` depends on input rows ``r - rows_reached``
        to ``r - 1`` (``r`` itself too, except in the first block) of the band. ``cond`` is
        the class code ``(batch, dim)`` of a conditional block, or its spatial form on the band's rows.
        """
        k = self.kernel_size
        shift = 1 if self.first else 0
        # Pad k//2 (+1 for the shift) rows on top and none below: a causal "valid" conv.
        padded = ops.pad(v, [[0, 0], [k // 2 + shift, 0], [k // 2, k // 2], [0, 0]])
        pre = self.vertical_conv(padded)
        if shift:
            pre = pre[:, :-1]  # drop the extra last row: now row r sees rows < r only
        pre = self._add_class_term(pre, self.vertical_class, cond)
        return self._gate(pre, training), self.link(pre)

    def horizontal(self, h, link, training=False, cond=None):
        """The horizontal stack given the vertical stack's ``link`` at the same pixels.

        Works on any band of rows (a single row while sampling); ``cond`` as in :meth:`vertical`.
        """
        pre = self.horizontal_conv(h) + link
        pre = self._add_class_term(pre, self.horizontal_class, cond)
        out = self.horizontal_out(self._gate(pre, training))
        return out if self.first else h + out

    def call(self, inputs, training=False):
        v, h = inputs[:2]
        cond = inputs[2] if self.conditional else None
        v_out, link = self.vertical(v, training, cond)
        return [v_out, self.horizontal(h, link, training, cond)]

    def compute_output_shape(self, input_shape):
        v_shape, h_shape = input_shape[:2]
        return [(*v_shape[:-1], self.filters), (*h_shape[:-1], self.filters)]
