"""Reconstruction quality: squared error per example and PSNR."""

from __future__ import annotations

import numpy as np

from keras_ae.validation import check_array


def squared_error_per_example(x: np.ndarray, reconstruction: np.ndarray) -> np.ndarray:
    """Sum of squared errors of each example (Hinton & Salakhutdinov 2006's measure).

    Args:
        x: Originals ``(n, ...)``.
        reconstruction: Reconstructions, same shape.

    Returns:
        Float64 array of shape ``(n,)``.

    Example:
        >>> squared_error_per_example(np.ones((2, 3)), np.zeros((2, 3))).tolist()
        [3.0, 3.0]
    """
    x = check_array(x, "x")
    r = check_array(reconstruction, "reconstruction", expected_shape=x.shape[1:])
    diff = (x.astype(np.float64) - r.astype(np.float64)).reshape(len(x), -1)
    return np.sum(diff * diff, axis=1)


def reconstruction_error(model, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Per-example sum of squared errors of ``model``'s reconstructions of ``x``.

    Args:
        model: A keras_ae auto-encoder (anything with ``predict``).
        x: Data ``(n, ...)``.
        batch_size: Prediction batch size.

    Returns:
        Float64 array ``(n,)``; ``.mean()`` is the "squared error per image".

    Example:
        >>> model = build_dense_ae((8, 8, 1), hidden=(16,), code_dim=4)  # untrained
        >>> errors = reconstruction_error(model, x_digits_test)
        >>> errors.shape, bool(errors.mean() > 0)
        ((64,), True)
    """
    x = check_array(x, "x")
    return squared_error_per_example(x, model.predict(x, batch_size=batch_size, verbose=0))


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
