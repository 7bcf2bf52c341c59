"""Parzen-window (Gaussian kernel density) log-likelihood of samples from a generative model.

The estimate fits an isotropic Gaussian kernel density to model samples and scores
test data under it:

    log p(x) = logsumexp_i( -||x - s_i||^2 / (2 sigma^2) ) - log N - (D / 2) log(2 pi sigma^2).

The bandwidth ``sigma`` is chosen on a validation split, never on the test set.

This is how GAN papers (Goodfellow et al. 2014) reported likelihoods, and it is
**unreliable**: in 784 dimensions even 10,000 samples leave the estimate far from the
model's true log-likelihood, it can rank models in the wrong order, and a model that
memorizes the training set can score very well (Theis, van den Oord & Bethge 2016,
"A note on the evaluation of generative models"). Every estimate warns about it.
"""

from __future__ import annotations

import math
import warnings
from typing import Sequence

import keras
import numpy as np

from keras_ae.errors import InputValidationError
from keras_ae.validation import check_array, check_int

DEFAULT_BANDWIDTHS = tuple(np.round(np.logspace(-1.3, 0.0, 14), 4))
UNRELIABLE = (
    "Parzen-window log-likelihoods are unreliable in high dimensions: they can be far from "
    "the true log-likelihood and even rank models wrongly (Theis et al. 2016). "
    "Prefer exact or importance-sampled likelihoods where the model allows them."
)


class ParzenWarning(UserWarning):
    """Issued by every Parzen-window estimate (see :data:`UNRELIABLE`)."""


def _flat(x, name: str) -> np.ndarray:
    x = check_array(x, name)
    return x.reshape(len(x), -1).astype(np.float64)


def _bandwidths(bandwidths: Sequence[float]) -> np.ndarray:
    sigmas = np.asarray(bandwidths, dtype=np.float64).reshape(-1)
    if sigmas.size == 0 or not np.all(np.isfinite(sigmas)) or np.any(sigmas <= 0):
        raise InputValidationError(f"Parzen bandwidths must be positive finite numbers, got {bandwidths!r}.")
    return sigmas


def _log_densities(samples: np.ndarray, x: np.ndarray, sigmas: np.ndarray, batch_size: int, verbose: int) -> np.ndarray:
    """``log p_sigma(x)`` for every bandwidth at once: ``(len(sigmas), n)``, float64.

    Squared distances are computed once per batch (in float64, as
    ``|x|^2 + |s|^2 - 2 x.s``) and reused for all bandwidths.
    """
    if samples.shape[1] != x.shape[1]:
        raise InputValidationError(
            f"Samples have {samples.shape[1]} dimensions but the data has {x.shape[1]}; they must match."
        )
    n_samples, dims = samples.shape
    s_sq = np.sum(samples * samples, axis=1)
    out = np.empty((len(sigmas), len(x)))
    norm = -math.log(n_samples) - 0.5 * dims * np.log(2.0 * np.pi * sigmas**2)
    bar = keras.utils.Progbar(len(x), verbose=verbose, unit_name="example")
    for start in range(0, len(x), batch_size):
        xb = x[start:start + batch_size]
        d2 = np.maximum(np.sum(xb * xb, axis=1)[:, None] + s_sq[None, :] - 2.0 * xb @ samples.T, 0.0)
        for k, sigma in enumerate(sigmas):
            a = -d2 / (2.0 * sigma * sigma)
            m = a.max(axis=1, keepdims=True)
            out[k, start:start + len(xb)] = (m[:, 0] + np.log(np.exp(a - m).sum(axis=1))) + norm[k]
        bar.add(len(xb))
    return out


def parzen_log_likelihood(samples: np.ndarray, x: np.ndarray, bandwidth: float, batch_size: int = 100,
                          verbose: int = 0) -> np.ndarray:
    """Log-density of each row of ``x`` under a Gaussian Parzen window on ``samples``.

    Args:
        samples: Model samples ``(N, ...)`` (flattened internally).
        x: Data ``(n, ...)`` with the same per-example size.
        bandwidth: Kernel standard deviation ``sigma > 0``.
        batch_size: Data rows per distance computation (memory: ``batch_size x N``).
        verbose: 1 shows a progress bar.

    Returns:
        float64 array ``(n,)`` of log-densities (nats).

    Example:
        >>> ll = parzen_log_likelihood(x_digits[:200], x_digits_test, bandwidth=0.2)  # digits stand in for samples
        >>> ll.shape, ll.dtype
        ((64,), dtype('float64'))
    """
    warnings.warn(UNRELIABLE, ParzenWarning, stacklevel=2)
    sigmas = _bandwidths([bandwidth])
    return _log_densities(_flat(samples, "samples"), _flat(x, "x"), sigmas,
                          check_int(batch_size, "batch_size", minimum=1), verbose)[0]


def parzen_evaluation(
    samples: np.ndarray,
    x_val: np.ndarray,
    x_test: np.ndarray,
    bandwidths: Sequence[float] = DEFAULT_BANDWIDTHS,
    batch_size: int = 100,
    verbose: int = 0,
) -> dict:
    """Parzen-window test log-likelihood with the bandwidth chosen on a validation split.

    Args:
        samples: Model samples ``(N, ...)``.
        x_val: Validation data, used only to pick the bandwidth.
        x_test: Test data scored with the chosen bandwidth.
        bandwidths: Candidate kernel standard deviations.
        batch_size: Data rows per distance computation.
        verbose: 1 shows progress bars.

    Returns:
        ``{"bandwidth", "log_likelihood" (mean test, nats), "sem", "validation"
        (bandwidth -> mean validation log-likelihood), "warning"}``.

    Example:
        >>> result = parzen_evaluation(x_digits[:200], x_digits[200:], x_digits_test, bandwidths=(0.1, 0.2, 0.4))
        >>> result["bandwidth"] in (0.1, 0.2, 0.4), len(result["validation"])
        (True, 3)
        >>> print(result["warning"])
        Parzen-window log-likelihoods are unreliable in high dimensions: ...
    """
    warnings.warn(UNRELIABLE, ParzenWarning, stacklevel=2)
    samples = _flat(samples, "samples")
    sigmas = _bandwidths(bandwidths)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    val_scores = _log_densities(samples, _flat(x_val, "x_val"), sigmas, batch_size, verbose).mean(axis=1)
    best = float(sigmas[int(np.argmax(val_scores))])
    test = _log_densities(samples, _flat(x_test, "x_test"), np.array([best]), batch_size, verbose)[0]
    if best in (sigmas.min(), sigmas.max()) and len(sigmas) > 1:
        warnings.warn(f"The best Parzen bandwidth {best:g} is at the edge of the grid; widen `bandwidths`.",
                      ParzenWarning, stacklevel=2)
    return {
        "bandwidth": best,
        "log_likelihood": float(test.mean()),
        "sem": float(test.std(ddof=1) / math.sqrt(len(test))) if len(test) > 1 else float("nan"),
        "validation": {float(s): float(v) for s, v in zip(sigmas, val_scores)},
        "warning": UNRELIABLE,
    }
