"""Masked 2-D convolution of PixelCNN (van den Oord et al. 2016): mask A and mask B.

The output at pixel ``(i, j)`` may only depend on pixels before it in raster order.
The mask zeroes every kernel tap below the centre row and right of the centre; at the
centre tap itself, channels are split into ``color_channels`` groups (R, G, B) and an
output of group ``g`` may see input groups ``< g`` (mask A, the first layer, which must
not see the pixel it predicts) or ``<= g`` (mask B, every later layer).

The mask is a constant multiplied into the kernel inside the convolution, so the
trainable weights are never re-assigned (the keras.io example overwrites its kernel in
``call``) and masked taps receive exactly zero gradient.

Channel ``k`` of a tensor belongs to group ``k % color_channels`` (interleaved), so a
gated activation that splits features into two halves keeps matching groups.
"""

from __future__ import annotations

from typing import Sequence

import keras
import numpy as np

from keras_ae.errors import InputValidationError
from keras_ae.validation import check_choice, check_int

MASK_TYPES = ("A", "B")


def causal_mask(
    kernel_size: Sequence[int],
    in_channels: int,
    out_channels: int,
    mask_type: str = "B",
    color_channels: int = 1,
) -> np.ndarray:
    """The 0/1 PixelCNN mask of a convolution kernel.

    Args:
        kernel_size: ``(kh, kw)``; the centre tap is ``(kh // 2, kw // 2)``.
        in_channels: Input channels (a multiple of ``color_channels``).
        out_channels: Output channels (a multiple of ``color_channels``).
        mask_type: ``"A"`` (centre pixel hidden) or ``"B"`` (centre pixel visible).
        color_channels: Number of colour groups sampled one after another per pixel.

    Returns:
        A float32 array of shape ``(kh, kw, in_channels, out_channels)``.

    Example:
        >>> causal_mask((3, 3), 1, 1, "A")[..., 0, 0]
        array([[1., 1., 1.],
               [1., 0., 0.],
               [0., 0., 0.]], dtype=float32)
    """
    check_choice(mask_type, "mask type", MASK_TYPES)
    kh, kw = (int(k) for k in kernel_size)
    groups = check_int(color_channels, "color_channels", minimum=1)
    for name, n in (("in_channels", in_channels), ("out_channels", out_channels)):
        if n % groups:
            raise InputValidationError(
                f"{name}={n} is not a multiple of color_channels={groups}; masked convolutions "
                "split channels into one group per colour."
            )
    mask = np.zeros((kh, kw, in_channels, out_channels), dtype=np.float32)
    ci, cj = kh // 2, kw // 2
    mask[:ci] = 1.0  # every row above
    mask[ci, :cj] = 1.0  # the centre row, left of the centre
    g_in = np.arange(in_channels)[:, None] % groups
    g_out = np.arange(out_channels)[None, :] % groups
    mask[ci, cj] = (g_in < g_out) if mask_type == "A" else (g_in <= g_out)
    return mask


@keras.saving.register_keras_serializable(package="keras_ae")
class MaskedConv2D(keras.layers.Conv2D):
    """A ``Conv2D`` whose kernel is multiplied by a constant causal mask.

    Args:
        filters: Output channels (a multiple of ``color_channels``).
        kernel_size: Int or ``(kh, kw)``; odd sizes centre the mask on the output pixel.
        mask_type: ``"A"`` for the first layer (excludes the current pixel), ``"B"`` after.
        color_channels: Colour groups per pixel (1 for grey, 3 for RGB).
        **kwargs: Other ``keras.layers.Conv2D`` arguments (activation, initializers, ...);
            padding is always ``"same"`` and strides 1, which keeps outputs aligned with
            the pixels they predict.

    Example:
        >>> layer = MaskedConv2D(16, 7, mask_type="A")
        >>> layer(np.zeros((1, 28, 28, 1), "float32")).shape
        TensorShape([1, 28, 28, 16])
    """

    def __init__(self, filters: int, kernel_size, mask_type: str = "B", color_channels: int = 1, **kwargs):
        for key, allowed in (("padding", "same"), ("strides", 1), ("dilation_rate", 1)):
            value = kwargs.pop(key, allowed)
            if value not in (allowed, (allowed, allowed), [allowed, allowed]):
                raise InputValidationError(f"MaskedConv2D needs {key}={allowed!r} to stay causal, got {value!r}.")
        super().__init__(filters, kernel_size, padding="same", **kwargs)
        self.mask_type = check_choice(mask_type, "mask type", MASK_TYPES)
        self.color_channels = check_int(color_channels, "color_channels", minimum=1)
        if any(k % 2 == 0 for k in self.kernel_size):
            raise InputValidationError(f"MaskedConv2D needs odd kernel sizes, got {self.kernel_size}.")
        self.mask = None

    def get_config(self) -> dict:
        config = super().get_config()  # padding "same", strides and dilation 1: __init__ accepts them
        config.update(mask_type=self.mask_type, color_channels=self.color_channels)
        return config

    def build(self, input_shape):
        super().build(input_shape)
        # A NumPy constant: not a weight, so it is neither trained nor saved.
        self.mask = causal_mask(self.kernel_size, int(input_shape[-1]), self.filters, self.mask_type,
                                self.color_channels)

    def convolution_op(self, inputs, kernel):
        return super().convolution_op(inputs, kernel * keras.ops.cast(self.mask, kernel.dtype))
