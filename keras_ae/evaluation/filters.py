"""How "stroke-like" first-layer filters are: one number for what the eye sees in a filter figure.

Vincent et al. (2010, fig. 6-7) show that the more masking noise a denoising auto-encoder
is trained with, the more its first-layer filters look like local strokes and blobs
instead of white noise. :func:`filter_smoothness` measures that as the lag-1 spatial
autocorrelation of each filter: white noise scores about 0, a smooth stroke or blob close
to 1 (a checkerboard -1).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from keras_ae.errors import InputValidationError


def _as_filters(kernel: np.ndarray, image_shape: Sequence[int]) -> np.ndarray:
    """A Dense kernel ``(input_dim, units)`` as ``(units, h, w)`` images."""
    kernel = np.asarray(kernel, dtype=np.float64)
    h, w = (int(s) for s in tuple(image_shape)[:2])
    if kernel.ndim != 2 or kernel.shape[0] != h * w:
        raise InputValidationError(
            f"kernel must be a Dense kernel of shape ({h * w}, units) for images {h}x{w}, got shape {kernel.shape}.")
    return kernel.T.reshape(-1, h, w)


def filter_autocorrelation(kernel: np.ndarray, image_shape: Sequence[int],
                           mask: np.ndarray | None = None) -> np.ndarray:
    """Lag-1 spatial autocorrelation of each filter (over horizontal and vertical neighbours).

    For a filter ``w`` centred on its mean over ``mask``, ``c = w - mean(w)``, the score is
    ``sum c_i c_j / sum (c_i**2 + c_j**2) / 2`` over the pairs ``(i, j)`` of 4-neighbour
    pixels both inside ``mask``: a correlation in [-1, 1] (``|c_i c_j| <= (c_i**2 + c_j**2) / 2``),
    about 0 for white noise, close to 1 for smooth strokes and blobs.

    Args:
        kernel: Dense kernel ``(h * w, units)``: one filter per column.
        image_shape: ``(h, w)`` (a trailing channel axis is ignored).
        mask: Optional boolean ``(h, w)``: pixels to score. Pass the pixels the data uses:
            the weights of pixels that are always 0 (MNIST's border) get no gradient and
            keep their random initial values whatever the noise level.

    Returns:
        ``(units,)`` float64 scores (NaN for a filter constant on ``mask``).

    Example:
        >>> yy, xx = np.mgrid[:12, :12]
        >>> blob = np.exp(-((yy - 6) ** 2 + (xx - 5) ** 2) / 8.0).reshape(144, 1)
        >>> noise = np.random.default_rng(0).standard_normal((144, 1))
        >>> np.round(filter_autocorrelation(np.hstack([blob, noise]), (12, 12)), 2)
        array([ 0.9 , -0.03])
    """
    filters = _as_filters(kernel, image_shape)
    h, w = filters.shape[1:]
    mask = np.ones((h, w), bool) if mask is None else np.asarray(mask, bool).reshape(h, w)
    if not mask.any():
        raise InputValidationError("mask selects no pixel.")
    # Centre on the mean over the scored pixels only, so unscored pixels cannot shift it.
    mean = (filters * mask).sum(axis=(1, 2), keepdims=True) / mask.sum()
    c = np.where(mask, filters - mean, 0.0)
    pair_h = mask[:, 1:] & mask[:, :-1]
    pair_v = mask[1:, :] & mask[:-1, :]
    num = ((c[:, :, 1:] * c[:, :, :-1] * pair_h).sum(axis=(1, 2))
           + (c[:, 1:, :] * c[:, :-1, :] * pair_v).sum(axis=(1, 2)))
    sq = c ** 2
    den = (((sq[:, :, 1:] + sq[:, :, :-1]) / 2) * pair_h).sum(axis=(1, 2)) \
        + (((sq[:, 1:, :] + sq[:, :-1, :]) / 2) * pair_v).sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def filter_smoothness(kernel: np.ndarray, image_shape: Sequence[int], mask: np.ndarray | None = None) -> float:
    """Mean lag-1 autocorrelation of a layer's filters (:func:`filter_autocorrelation`): one number per model.

    Args:
        kernel: Dense kernel ``(h * w, units)``.
        image_shape: ``(h, w)``.
        mask: Optional boolean ``(h, w)`` of pixels to score.

    Returns:
        The mean over filters (constant filters ignored): ~0 for white-noise filters,
        towards 1 for stroke- and blob-like ones.

    Example:
        >>> abs(filter_smoothness(np.random.default_rng(0).standard_normal((64, 100)), (8, 8))) < 0.05  # white noise
        True
    """
    return float(np.nanmean(filter_autocorrelation(kernel, image_shape, mask)))


def data_mask(x: np.ndarray, threshold: float = 0.1, min_fraction: float = 0.01) -> np.ndarray:
    """Pixels the data uses: above ``threshold`` in at least ``min_fraction`` of the examples.

    Args:
        x: Images ``(n, h, w[, 1])``.
        threshold: Intensity counted as "ink".
        min_fraction: Fraction of examples a pixel must be inked in.

    Returns:
        Boolean ``(h, w)``.

    Example:
        >>> data_mask(x_digits).shape
        (8, 8)
    """
    x = np.asarray(x)
    if x.ndim == 4:
        x = x[..., 0]
    return (x > threshold).mean(axis=0) >= min_fraction


__all__ = ["data_mask", "filter_autocorrelation", "filter_smoothness"]
