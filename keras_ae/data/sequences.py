"""Fixed-length windows of a time series, and per-window scores mapped back to the series.

A sequence auto-encoder (:func:`keras_ae.models.build_conv1d_ae`) sees a series as
overlapping windows ``(n_windows, length, channels)`` (the keras.io "Timeseries anomaly
detection using an Autoencoder" example); :func:`windows` cuts them and
:func:`window_scores_to_series` averages per-window, per-timestep values (reconstruction
errors) back onto the series' timesteps, so an anomaly score points at a time, not a window.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from keras_ae.errors import InputValidationError
from keras_ae.validation import check_array, check_count, check_int

_TOO_BIG = "use a larger stride or a shorter window, or cut the series into parts"


def _checked_series(series: Any) -> np.ndarray:
    """``series`` as float32 ``(T, channels)``; NaN / inf refused naming the first timestep that holds one."""
    try:
        raw = np.asarray(series)
    except (ValueError, TypeError):  # ragged lists: check_array words the refusal
        raw = None
    if raw is not None and raw.ndim not in (1, 2):
        raise InputValidationError(
            f"`series` must be 1-D (T,) or 2-D (T, channels), got shape {raw.shape}; "
            "pass one series at a time (e.g. series[i] of a batch).")
    if raw is not None and raw.dtype.kind in "fc" and raw.size and not np.isfinite(raw).all():
        timestep, *channel = np.argwhere(~np.isfinite(raw))[0]
        where = f"timestep {timestep}" + (f", channel {channel[0]}" if channel else "")
        raise InputValidationError(
            f"`series` contains {int(np.sum(~np.isfinite(raw)))} NaN or infinite values (first at {where}); "
            "impute or interpolate them before cutting windows.")
    arr = check_array(series, "series", allow_empty=True)  # dtype, ragged lists, float32 overflow
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.shape[1] == 0:
        raise InputValidationError(f"`series` has shape {arr.shape}: no channels.")
    return arr


def windows(series: Any, length: int, stride: int = 1) -> np.ndarray:
    """Overlapping windows of a series: window ``i`` is ``series[i * stride : i * stride + length]``.

    Timesteps after the last full window (fewer than ``stride``) are left out; score them
    with a window of stride 1 if they matter.

    Args:
        series: ``(T,)`` or ``(T, channels)`` numeric array, finite.
        length: Timesteps per window, ``1 <= length <= T``.
        stride: Timesteps between the starts of consecutive windows, ``>= 1``.

    Returns:
        A float32 array ``(n_windows, length, channels)`` (``channels = 1`` for a 1-D series),
        ``n_windows = (T - length) // stride + 1``; a copy, writable and independent of ``series``.

    Raises:
        InputValidationError: for a series that is not 1-D or 2-D, not numeric, holds NaN or
            infinity (naming the first timestep), is shorter than ``length``; a ``length`` or
            ``stride`` that is not an int ``>= 1``; a result above
            :data:`~keras_ae.validation.MAX_RESULT_BYTES`.

    Example:
        >>> w = windows(np.arange(6), length=3, stride=2)
        >>> w.shape, w[:, :, 0].tolist()
        ((2, 3, 1), [[0.0, 1.0, 2.0], [2.0, 3.0, 4.0]])
    """
    length = check_int(length, "length", minimum=1)
    stride = check_int(stride, "stride", minimum=1)
    arr = _checked_series(series)
    steps, channels = arr.shape
    if steps < length:
        raise InputValidationError(
            f"`series` has {steps} timesteps, fewer than one window of length={length}; "
            "use a shorter window or a longer series.")
    n_windows = (steps - length) // stride + 1
    check_count(n_windows, "(T - length) // stride + 1", item_bytes=4 * length * channels, what="windows",
                minimum=1, advice=_TOO_BIG)  # before the copy: the view itself costs nothing
    view = sliding_window_view(arr, length, axis=0)[::stride]  # (n_windows, channels, length)
    return np.ascontiguousarray(view.transpose(0, 2, 1))


def window_scores_to_series(scores: Any, series_length: int, stride: int = 1) -> np.ndarray:
    """Per-timestep values of windows mapped back to the series: the mean over the windows covering each timestep.

    The inverse of :func:`windows` for scores: ``scores[i, j]`` belongs to timestep
    ``i * stride + j``. Timesteps that no window covers (the last ``(T - length) % stride``
    ones, and gaps when ``stride > length``) are NaN.

    Args:
        scores: ``(n_windows, length)`` finite values, e.g. :func:`keras_ae.evaluation.timestep_errors`.
        series_length: ``T``, the length of the series the windows were cut from.
        stride: The stride the windows were cut with.

    Returns:
        A float64 array ``(T,)``.

    Raises:
        InputValidationError: for scores that are not 2-D and finite, a ``stride`` or
            ``series_length`` that is not a positive int, or a number of windows that
            ``windows(series, length, stride)`` of a series of ``series_length`` would not give.

    Example:
        >>> scores = np.array([[1.0, 1.0, 1.0], [3.0, 3.0, 3.0]])  # windows of 3 at stride 2 over 6 timesteps
        >>> window_scores_to_series(scores, series_length=6, stride=2).tolist()
        [1.0, 1.0, 2.0, 3.0, 3.0, nan]
    """
    stride = check_int(stride, "stride", minimum=1)
    scores = check_array(scores, "scores").astype(np.float64)
    if scores.ndim != 2:
        raise InputValidationError(
            f"`scores` must be 2-D (n_windows, length), got shape {scores.shape}; average the channels first "
            "(keras_ae.evaluation.timestep_errors does).")
    n_windows, length = scores.shape
    if length == 0:
        raise InputValidationError(f"`scores` has shape {scores.shape}: windows of no timestep.")
    series_length = check_count(series_length, "series_length", item_bytes=8, what="timesteps", minimum=length,
                                advice=_TOO_BIG)
    expected = (series_length - length) // stride + 1
    if n_windows != expected:
        raise InputValidationError(
            f"`scores` holds {n_windows} windows, but windows(series, length={length}, stride={stride}) of a "
            f"series of {series_length} timesteps gives {expected}; pass the series_length and stride the "
            "windows were cut with.")
    sums = np.zeros(series_length)
    counts = np.zeros(series_length)
    starts = np.arange(n_windows) * stride
    for offset in range(length):  # within one offset the timesteps are distinct: += does not drop repeats
        sums[starts + offset] += scores[:, offset]
        counts[starts + offset] += 1
    with np.errstate(invalid="ignore"):
        return sums / counts  # 0 / 0 = NaN where no window covers the timestep


__all__ = ["window_scores_to_series", "windows"]
