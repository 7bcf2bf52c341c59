"""PixelRNN's two-dimensional LSTM layers (van den Oord et al. 2016): Row LSTM and Diagonal BiLSTM.

Both split an LSTM's pre-activations into an *input-to-state* part, a masked
convolution computed for the whole image at once, and a *state-to-state* part, a
small convolution over the previous row (Row LSTM) or previous diagonal (Diagonal
BiLSTM) computed in a scan. The masked input-to-state convolution keeps the layer
causal: hidden state ``(i, j)`` never depends on input features after ``(i, j)``.

* Row LSTM processes one row at a time; state ``(i, j)`` sees states ``(i-1, j-1..j+1)``,
  so its receptive field is a triangle above the pixel (it misses part of the context).
* Diagonal BiLSTM skews the image so that each diagonal becomes a column and scans the
  columns; state ``(i, j)`` sees ``(i, j-1)`` and ``(i-1, j)``, so one direction covers
  every feature above-left. A second direction runs on the mirrored image and is shifted
  down one row, covering every feature of the rows above (Section 3.2 of the paper).
  Features are not pixels, though: see :class:`DiagonalBiLSTM` for the one pixel per
  row that a mask-A first layer hides from it, and the raw-pixel input that restores it.

With ``conditional=True`` both layers also take a class code ``y`` per image (their
last input) and add a learned ``V^T y`` to every gate pre-activation (input, forget,
output and candidate), the PixelRNN analogue of the conditional gated PixelCNN; the term is
the same at every position, so the layers stay causal.

The exact pixel dependency sets of whole networks are stated (and tested) in
:mod:`keras_ae.models.pixelrnn`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import keras
from keras import ops

from keras_ae.layers.masked_conv import MaskedConv2D
from keras_ae.validation import check_int

if TYPE_CHECKING:
    import numpy as np
    import tensorflow as tf


def lstm_update(gates: tf.Tensor | np.ndarray, c_prev: tf.Tensor | np.ndarray) -> tuple[tf.Tensor, tf.Tensor]:
    """One LSTM update from pre-activations ``[i, f, o, g]`` (4 equal chunks on the last axis).

    ``c = sigmoid(f) * c_prev + sigmoid(i) * tanh(g)`` and ``h = sigmoid(o) * tanh(c)``.

    Args:
        gates: Pre-activations ``(..., 4 * units)``: input, forget, output gates, then candidate.
        c_prev: The previous cell ``(..., units)``.

    Returns:
        ``(h, c)``: the new hidden state and cell, ``(..., units)`` each.

    Example:
        >>> h, c = lstm_update(np.zeros((1, 8), "float32"), np.ones((1, 2), "float32"))
        >>> h.shape, c.numpy().tolist()  # c = 0.5 * 1 + 0.5 * tanh(0)
        (TensorShape([1, 2]), [[0.5, 0.5]])
    """
    i, f, o, g = ops.split(gates, 4, axis=-1)
    c = ops.sigmoid(f) * c_prev + ops.sigmoid(i) * ops.tanh(g)
    return ops.sigmoid(o) * ops.tanh(c), c


def skew(x: tf.Tensor | np.ndarray) -> tf.Tensor:
    """Shifts row ``r`` of ``(b, h, w, c)`` right by ``r``: ``(b, h, w + h - 1, c)``.

    Each diagonal of the image becomes a column. Uses one pad and two reshapes.

    Args:
        x: Feature maps ``(b, h, w, c)``.

    Returns:
        The skewed maps ``(b, h, w + h - 1, c)``, zeros where no input lands.

    Example:
        >>> skew(np.ones((1, 2, 2, 1), "float32"))[0, :, :, 0].numpy()
        array([[1., 1., 0.],
               [0., 1., 1.]], dtype=float32)
    """
    _, h, w, c = ops.shape(x)
    padded = ops.pad(x, [[0, 0], [0, 0], [0, h], [0, 0]])  # rows of length w + h
    flat = ops.reshape(padded, (-1, h * (w + h), c))[:, : h * (w + h - 1)]
    return ops.reshape(flat, (-1, h, w + h - 1, c))


def unskew(x: tf.Tensor | np.ndarray, width: int) -> tf.Tensor:
    """Inverse of :func:`skew`: ``(b, h, width + h - 1, c)`` back to ``(b, h, width, c)``.

    Args:
        x: Skewed feature maps ``(b, h, width + h - 1, c)``.
        width: Width of the unskewed maps.

    Returns:
        The maps ``(b, h, width, c)``, row ``r`` shifted left by ``r``.

    Example:
        >>> unskew(skew(np.ones((1, 2, 2, 1), "float32")), 2).shape
        TensorShape([1, 2, 2, 1])
    """
    _, h, _, c = ops.shape(x)
    flat = ops.reshape(x, (-1, h * (width + h - 1), c))
    flat = ops.pad(flat, [[0, 0], [0, h], [0, 0]])
    return ops.reshape(flat, (-1, h, width + h, c))[:, :, :width]


@keras.saving.register_keras_serializable(package="keras_ae")
class RowLSTM(keras.layers.Layer):
    """Row LSTM: an LSTM over rows with 1-D convolutional input and state transitions.

    State ``(i, j)`` sees its input at ``(i, j - s..j)`` (mask B) and the states
    ``(i - 1, j - s..j + s)`` of the row above (``s = kernel_size // 2``), so its
    receptive field is a triangle: ``d`` rows up it spans columns ``j - s - s*d .. j + s*d``.
    The exact pixel set of a whole network is in :mod:`keras_ae.models.pixelrnn`.

    Args:
        units: Hidden units (a multiple of ``color_channels``).
        kernel_size: Width of the input-to-state (masked, mask B) and state-to-state kernels.
        color_channels: Colour groups per pixel (1 grey, 3 RGB).
        conditional: Take ``[x, class_code]`` and add a projection of the
            ``(batch, dim)`` embedding to the gate pre-activations.

    Example:
        >>> RowLSTM(16)(np.zeros((2, 8, 8, 4), "float32")).shape
        TensorShape([2, 8, 8, 16])
        >>> RowLSTM(16, conditional=True)([np.zeros((2, 8, 8, 4), "float32"), np.ones((2, 3), "float32")]).shape
        TensorShape([2, 8, 8, 16])
    """

    def __init__(self, units: int, kernel_size: int = 3, color_channels: int = 1, conditional: bool = False,
                 **kwargs):
        super().__init__(**kwargs)
        self.units = check_int(units, "units", minimum=1)
        self.kernel_size = check_int(kernel_size, "kernel_size", minimum=1)
        self.color_channels = check_int(color_channels, "color_channels", minimum=1)
        self.input_to_state = MaskedConv2D(4 * self.units, (1, self.kernel_size), mask_type="B",
                                           color_channels=color_channels, name="input_to_state")
        self.conditional = bool(conditional)
        self.class_to_state = (keras.layers.Dense(4 * self.units, use_bias=False, name="class_to_state")
                               if self.conditional else None)

    def get_config(self) -> dict:
        return {**super().get_config(), "units": self.units, "kernel_size": self.kernel_size,
                "color_channels": self.color_channels, "conditional": self.conditional}

    def build(self, input_shape):
        input_shape, cond_shape = _split_condition(input_shape, self.conditional)
        self.input_to_state.build(input_shape)
        if cond_shape is not None:
            self.class_to_state.build((None, cond_shape[-1]))
        # Previous row -> current row; every pixel of the row above is already known,
        # so this kernel needs no mask.
        self.state_kernel = self.add_weight(shape=(self.kernel_size, self.units, 4 * self.units),
                                            initializer="glorot_uniform", name="state_kernel")
        self.built = True

    def recurrent(self, h_prev):
        """The state-to-state pre-activations of a row from the row above's hidden state.

        Args:
            h_prev: ``(b, w, units)`` hidden state of the row above (zeros above row 0).

        Returns:
            ``(b, w, 4 * units)``.
        """
        return ops.conv(h_prev, ops.cast(self.state_kernel, h_prev.dtype), padding="same")

    def step(self, z_row, recurrent, c_prev):
        """One row of the LSTM: ``(h, c)`` of the row, each ``(b, w, units)``.

        Args:
            z_row: ``(b, w, 4 * units)`` input-to-state pre-activations of the row.
            recurrent: :meth:`recurrent` of the row above's hidden state.
            c_prev: ``(b, w, units)`` cell of the row above.

        Example:
            >>> layer = RowLSTM(4)
            >>> x = np.random.default_rng(0).random((1, 3, 5, 2)).astype("float32")
            >>> hs = layer(x)  # builds the layer
            >>> hs, cs = layer.scan(x)  # every row's hidden state and cell
            >>> z = layer.input_to_state(x)[:, 2]  # row 2, from row 1's states
            >>> h, c = layer.step(z, layer.recurrent(hs[:, 1]), cs[:, 1])
            >>> bool(np.allclose(h, hs[:, 2], atol=1e-6))
            True
        """
        return lstm_update(z_row + recurrent, c_prev)

    def preactivations(self, x, cond=None):
        """The input-to-state pre-activations, plus the class term ``V^T y`` when ``cond`` is given.

        Args:
            x: Features ``(b, h, w, c)``.
            cond: The class code ``(b, dim)`` of a conditional layer, or ``None``.

        Returns:
            ``(b, h, w, 4 * units)``.

        Example:
            >>> layer = RowLSTM(4, conditional=True)
            >>> _ = layer([np.zeros((1, 2, 3, 2), "float32"), np.ones((1, 5), "float32")])  # builds it
            >>> layer.preactivations(np.zeros((1, 2, 3, 2), "float32"), np.ones((1, 5), "float32")).shape
            TensorShape([1, 2, 3, 16])
        """
        return _class_term(self.class_to_state, cond, self.input_to_state(x))

    def scan(self, x, cond=None):
        """Hidden states and cells of every row (of a built layer): ``(hs, cs)``, each ``(b, h, w, units)``.

        ``cond`` is the class code ``(b, dim)`` of a conditional layer.
        """
        z = ops.transpose(self.preactivations(x, cond), (1, 0, 2, 3))  # (h, b, w, 4u): scan over rows
        zeros = ops.zeros_like(z[0, :, :, : self.units])

        def step(carry, z_row):
            h, c = self.step(z_row, self.recurrent(carry[0]), carry[1])
            return (h, c), (h, c)  # Keras' TF scan wants ys shaped like the carry

        _, (hs, cs) = ops.scan(step, (zeros, zeros), z)
        return ops.transpose(hs, (1, 0, 2, 3)), ops.transpose(cs, (1, 0, 2, 3))

    def call(self, inputs):
        x, cond = _split_condition(inputs, self.conditional)
        return self.scan(x, cond)[0]

    def compute_output_shape(self, input_shape):
        input_shape, _ = _split_condition(input_shape, self.conditional)
        return (*input_shape[:-1], self.units)


def _class_term(dense, cond, z):
    """``z + V^T y`` broadcast over rows and columns when ``cond`` is given; ``z`` otherwise."""
    if cond is None or dense is None:
        return z
    return z + ops.cast(dense(cond), z.dtype)[:, None, None, :]


def _split_condition(inputs, conditional: bool):
    """``(inputs without the class code, class code or None)``; works on tensors and on shapes."""
    if not conditional:
        return inputs, None
    if not isinstance(inputs, (list, tuple)) or len(inputs) < 2:
        raise ValueError("A conditional PixelRNN layer takes [features, (images,) class_code].")
    rest = list(inputs[:-1])
    return (rest[0] if len(rest) == 1 else rest), inputs[-1]


def _features_and_images(inputs):
    """``x`` or ``[x, images]`` (tensors, or their shapes in ``build``) -> ``(x, images or None)``."""
    if isinstance(inputs, (list, tuple)) and len(inputs) == 2 and not isinstance(inputs[0], (int, type(None))):
        return inputs[0], inputs[1]
    return inputs, None


@keras.saving.register_keras_serializable(package="keras_ae")
class DiagonalBiLSTM(keras.layers.Layer):
    """Diagonal BiLSTM: two diagonal LSTMs (left-to-right, right-to-left shifted down).

    Called on features ``x`` (the paper's layer) its state ``(i, j)`` sees ``x`` at every
    ``(i', j')`` with ``i' < i``, or ``i' == i`` and ``j' <= j``. After a mask-A first
    convolution of half-width ``r`` that still misses one pixel: the last pixel of the row
    above, ``(i - 1, w - 1)``, for ``j < w - 1 - r``, because no feature in a row above
    sees the last pixel of its own row. Called on ``[x, images]`` the right-to-left
    direction also reads the raw pixels (a 1x1 convolution; it needs no mask since that
    direction is shifted down a row), which closes the gap: the whole causal context.

    Args:
        units: Hidden units (a multiple of ``color_channels``).
        color_channels: Colour groups per pixel (1 grey, 3 RGB).
        conditional: Take a class code ``(batch, dim)`` as the last input and add a
            projection of it to both directions' gate pre-activations.

    Example:
        >>> DiagonalBiLSTM(16)(np.zeros((2, 8, 8, 4), "float32")).shape
        TensorShape([2, 8, 8, 16])
        >>> DiagonalBiLSTM(16)([np.zeros((2, 8, 8, 4), "float32"), np.zeros((2, 8, 8, 1), "float32")]).shape
        TensorShape([2, 8, 8, 16])
    """

    def __init__(self, units: int, color_channels: int = 1, conditional: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.units = check_int(units, "units", minimum=1)
        self.color_channels = check_int(color_channels, "color_channels", minimum=1)
        self.input_to_state = [
            MaskedConv2D(4 * self.units, 1, mask_type="B", color_channels=color_channels, name=f"input_to_state_{d}")
            for d in ("forward", "backward")
        ]
        self.pixel_kernel = None
        self.conditional = bool(conditional)
        self.class_to_state = ([keras.layers.Dense(4 * self.units, use_bias=False, name=f"class_to_state_{d}")
                                for d in ("forward", "backward")] if self.conditional else [None, None])

    def get_config(self) -> dict:
        return {**super().get_config(), "units": self.units, "color_channels": self.color_channels,
                "conditional": self.conditional}

    def build(self, input_shape):
        input_shape, cond_shape = _split_condition(input_shape, self.conditional)
        if cond_shape is not None:
            for dense in self.class_to_state:
                dense.build((None, cond_shape[-1]))
        features, images = _features_and_images(input_shape)
        for conv in self.input_to_state:
            conv.build(features)
        # A 2x1 state-to-state kernel per direction: tap 0 = the state above, tap 1 = the state left.
        self.state_kernels = [
            self.add_weight(shape=(2, self.units, 4 * self.units), initializer="glorot_uniform",
                            name=f"state_kernel_{d}")
            for d in ("forward", "backward")
        ]
        if images is not None:  # raw pixels into the shifted-down direction (see the class docstring)
            self.pixel_kernel = self.add_weight(shape=(int(images[-1]), 4 * self.units), initializer="glorot_uniform",
                                                name="pixel_kernel")
        self.built = True

    def _diagonal_lstm(self, z, kernel, width):
        z = ops.transpose(skew(z), (2, 0, 1, 3))  # (w + h - 1, b, h, 4u): scan over diagonals
        zeros = ops.zeros_like(z[0, :, :, : self.units])
        kernel = ops.cast(kernel, z.dtype)

        def step(carry, z_col):
            s_prev, c_prev = carry
            above = ops.pad(s_prev[:, :-1], [[0, 0], [1, 0], [0, 0]])  # row r gets row r-1's state
            gates = z_col + ops.matmul(above, kernel[0]) + ops.matmul(s_prev, kernel[1])
            s, c = lstm_update(gates, c_prev)
            return (s, c), (s, c)

        _, (states, _) = ops.scan(step, (zeros, zeros), z)
        return unskew(ops.transpose(states, (1, 2, 0, 3)), width)

    def call(self, inputs):
        inputs, cond = _split_condition(inputs, self.conditional)
        x, images = _features_and_images(inputs)
        width = ops.shape(x)[2]
        z = _class_term(self.class_to_state[0], cond, self.input_to_state[0](x))
        forward = self._diagonal_lstm(z, self.state_kernels[0], width)
        mirrored = ops.flip(x, axis=2)
        z = _class_term(self.class_to_state[1], cond, self.input_to_state[1](mirrored))
        if self.pixel_kernel is not None:
            z = z + ops.matmul(ops.flip(ops.cast(images, z.dtype), axis=2), ops.cast(self.pixel_kernel, z.dtype))
        backward = ops.flip(self._diagonal_lstm(z, self.state_kernels[1], width), axis=2)
        # The mirrored direction sees the current row to the right: shift it down one row.
        backward = ops.pad(backward[:, :-1], [[0, 0], [1, 0], [0, 0], [0, 0]])
        return forward + backward

    def compute_output_shape(self, input_shape):
        input_shape, _ = _split_condition(input_shape, self.conditional)
        features, _ = _features_and_images(input_shape)
        return (*features[:-1], self.units)
