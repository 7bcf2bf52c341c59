"""Reconstruction quality: squared error per example (or per timestep of a window) and PSNR."""

from __future__ import annotations

import keras
import numpy as np

from keras_ae.errors import InputValidationError
from keras_ae.validation import check_array, check_choice, check_int

_REDUCTIONS = ("sum", "mean")


def squared_error_per_example(x: np.ndarray, reconstruction: np.ndarray, reduce: str = "sum",
                              keep_axes: int = 1) -> np.ndarray:
    """Squared errors of each example, summed (Hinton & Salakhutdinov 2006's measure) or averaged.

    Args:
        x: Originals ``(n, ...)``.
        reconstruction: Reconstructions, same shape.
        reduce: ``"sum"`` or ``"mean"`` over the axes not kept.
        keep_axes: Leading axes kept: 1 gives one number per example; 2 one per example and
            timestep of windows ``(n, length, channels)`` (see :func:`timestep_errors`).

    Returns:
        Float64 array of shape ``x.shape[:keep_axes]``.

    Example:
        >>> squared_error_per_example(np.ones((2, 3)), np.zeros((2, 3))).tolist()
        [3.0, 3.0]
        >>> squared_error_per_example(np.ones((1, 2, 4)), np.zeros((1, 2, 4)), "mean", keep_axes=2).tolist()
        [[1.0, 1.0]]
    """
    check_choice(reduce, "reduce", _REDUCTIONS)
    x = check_array(x, "x")
    keep_axes = check_int(keep_axes, "keep_axes", minimum=1, maximum=max(x.ndim, 1))
    r = check_array(reconstruction, "reconstruction", expected_shape=x.shape[1:])
    diff = (x.astype(np.float64) - r.astype(np.float64)).reshape(*x.shape[:keep_axes], -1)
    squared = diff * diff
    return squared.sum(axis=-1) if reduce == "sum" else squared.mean(axis=-1)


def reconstruction_error(model: keras.Model, x: np.ndarray, batch_size: int = 256, reduce: str = "sum",
                         keep_axes: int = 1) -> np.ndarray:
    """Per-example squared errors of ``model``'s reconstructions of ``x`` (summed by default).

    Args:
        model: A keras_ae auto-encoder (anything with ``predict``).
        x: Data ``(n, ...)``.
        batch_size: Prediction batch size.
        reduce: ``"sum"`` or ``"mean"``, as in :func:`squared_error_per_example`.
        keep_axes: Leading axes kept, as in :func:`squared_error_per_example`.

    Returns:
        Float64 array ``x.shape[:keep_axes]``; by default ``(n,)``, whose ``.mean()`` is the
        "squared error per image".

    Raises:
        InputValidationError: an unknown ``reduce``, a ``batch_size`` below 1, an empty ``x`` or one
            with NaN or infinite values, or a ``keep_axes`` outside ``[1, x.ndim]``.

    Example:
        >>> model = build_dense_ae((8, 8, 1), hidden=(16,), code_dim=4)  # untrained
        >>> errors = reconstruction_error(model, x_digits_test)
        >>> errors.shape, bool(errors.mean() > 0)
        ((64,), True)
    """
    check_choice(reduce, "reduce", _REDUCTIONS)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    x = check_array(x, "x")
    return squared_error_per_example(x, model.predict(x, batch_size=batch_size, verbose=0), reduce, keep_axes)


def timestep_errors(model: keras.Model, windows: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Squared reconstruction error of every timestep of every window, averaged over the channels.

    Map them back onto the series with :func:`keras_ae.data.window_scores_to_series`: each
    timestep then gets the mean error of the windows that cover it, an anomaly score per time.

    Args:
        model: A trained sequence auto-encoder (e.g. :func:`keras_ae.models.build_conv1d_ae`),
            or anything with ``predict``.
        windows: ``(n_windows, length, channels)``, e.g. from :func:`keras_ae.data.windows`,
            scaled as the model was trained (the training mean and standard deviation).
        batch_size: Prediction batch size.

    Returns:
        Float64 array ``(n_windows, length)``.

    Raises:
        InputValidationError: for windows that are not 3-D or not of the model's window shape.

    Example:
        >>> from keras_ae.data import window_scores_to_series, windows
        >>> series = np.sin(np.arange(200) * 2 * np.pi / 24)
        >>> model = build_conv1d_ae((48, 1), filters=(8, 4))  # train it on normal windows first
        >>> errors = timestep_errors(model, windows(series, 48, stride=2))
        >>> errors.shape, window_scores_to_series(errors, len(series), stride=2).shape
        ((77, 48), (200,))
    """
    arr = check_array(windows, "windows")
    if arr.ndim != 3:
        raise InputValidationError(
            f"`windows` must be 3-D (n_windows, length, channels), got shape {arr.shape}; cut a series with "
            "keras_ae.data.windows(series, length, stride).")
    example_shape = getattr(model, "example_shape", None)
    if example_shape is not None and None not in example_shape and tuple(example_shape) != arr.shape[1:]:
        raise InputValidationError(
            f"`windows` has shape {arr.shape}, but the model takes windows (batch, "
            f"{', '.join(map(str, example_shape))}); cut them with the model's length and channels.")
    return reconstruction_error(model, arr, batch_size, reduce="mean", keep_axes=2)


def psnr(clean: np.ndarray, estimate: np.ndarray, max_value: float = 1.0) -> np.ndarray:
    """Peak signal-to-noise ratio of each image in dB, ``10 log10(max^2 / MSE)``.

    Args:
        clean: Reference images ``(n, ...)``.
        estimate: Noisy or denoised images, same shape.
        max_value: Peak value (1.0 for [0, 1] images, 255 for 8-bit).

    Returns:
        Float64 array ``(n,)`` (``inf`` for a perfect estimate); average it for a dataset.

    Example:
        >>> round(float(psnr(np.zeros((1, 4)), np.full((1, 4), 0.1))[0]), 6)  # MSE 0.01: 20 dB
        20.0
    """
    se = squared_error_per_example(clean, estimate)
    mse = se / np.prod(np.shape(clean)[1:])
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(max_value**2 / mse)
