"""Synthetic manifolds with known intrinsic coordinates (van der Maaten's drtoolbox set).

Each function returns ``(points, intrinsic)``: ``points`` of shape ``(n, 3)`` in the
ambient space and the coordinates that generated them, so a method's 2-D code can be
scored against the truth (rank correlation, trustworthiness).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from keras_ae.errors import InputValidationError
from keras_ae.validation import (
    check_float,
    check_int,
    check_nonnegative_float,
    check_seed,
)

# Most points one call generates: 10**7 points grow the process by about 0.73 GB (float64
# work arrays, measured for swiss_roll with noise); a request above it is refused before allocating.
MAX_POINTS = 10**7


def _rng(seed: Any) -> np.random.Generator:
    """A NumPy generator for any integer seed (negative ones reduced mod 2**64), or a fresh one for None."""
    seed = check_seed(seed)
    return np.random.default_rng(None if seed is None else seed % (1 << 64))


def check_points_args(n: Any, noise: Any, seed: Any) -> tuple[int, float, np.random.Generator]:
    """Checks the arguments every generated dataset takes (manifolds and curves alike).

    Args:
        n: Number of points, an integer in [1, :data:`MAX_POINTS`].
        noise: Gaussian noise standard deviation, a finite number >= 0.
        seed: Any integer, or None for a fresh draw.

    Returns:
        ``(n, noise, generator)``.

    Raises:
        InputValidationError: naming the argument and the accepted values.

    Example:
        >>> n, noise, rng = check_points_args(100, 0.05, 0)
        >>> n, noise
        (100, 0.05)
    """
    n = check_int(n, "n_samples", minimum=1, maximum=MAX_POINTS)
    noise = check_nonnegative_float(noise, "noise")
    return n, noise, _rng(seed)


def check_test_fraction(test_fraction: Any, n_samples: Any) -> int:
    """The number of test points of a generated dataset, refusing a fraction that leaves a split empty.

    Args:
        test_fraction: Share of the points held out, a number in (0, 1).
        n_samples: Number of points (train + test).

    Returns:
        ``round(n_samples * test_fraction)``, between 1 and ``n_samples - 1``.

    Raises:
        InputValidationError: a fraction outside (0, 1), or one that rounds to an empty split.

    Example:
        >>> check_test_fraction(0.2, 1000)
        200
    """
    n = check_int(n_samples, "n_samples", minimum=2, maximum=MAX_POINTS)
    fraction = check_float(test_fraction, "test_fraction", 0.0, 1.0, include_minimum=False, include_maximum=False)
    n_test = round(n * fraction)
    if not 1 <= n_test <= n - 1:
        raise InputValidationError(
            f"test_fraction={test_fraction} of n_samples={n} leaves {'no test' if n_test < 1 else 'no training'} "
            "points; raise n_samples or choose a fraction nearer 0.5.")
    return n_test


def swiss_roll(n: int = 2000, noise: float = 0.05, seed: int | None = 0) -> tuple[np.ndarray, np.ndarray]:
    """The swiss roll: a 2-D sheet rolled up in 3-D.

    Args:
        n: Number of points.
        noise: Standard deviation of isotropic Gaussian noise added to the points (finite, >= 0).
        seed: Random seed (any integer; None draws a fresh one).

    Raises:
        InputValidationError: ``n`` not an integer in [1, :data:`MAX_POINTS`], a negative,
            NaN or infinite ``noise``, or a non-integer ``seed``.

    Returns:
        ``(points (n, 3), intrinsic (n, 2))``; intrinsic columns are the angle ``t`` along
        the roll (in [1.5 pi, 4.5 pi]) and the height.

    Example:
        >>> x, t = swiss_roll(100)
        >>> x.shape, t.shape
        ((100, 3), (100, 2))
    """
    n, noise, rng = check_points_args(n, noise, seed)
    t = 1.5 * np.pi * (1 + 2 * rng.random(n))
    height = 21.0 * rng.random(n)
    return _roll(t, height, noise, rng)


def _roll(t, height, noise, rng):
    x = np.stack([t * np.cos(t), height, t * np.sin(t)], axis=1)
    x = x + noise * rng.standard_normal(x.shape)
    return x.astype(np.float32), np.stack([t, height], axis=1).astype(np.float32)


def broken_swiss_roll(n: int = 2000, noise: float = 0.05, seed: int | None = 0) -> tuple[np.ndarray, np.ndarray]:
    """The swiss roll with a band of the angle removed (two disconnected pieces).

    Args:
        n, noise, seed: As for :func:`swiss_roll`.

    Returns:
        ``(points (n, 3), intrinsic (n, 2))`` as in :func:`swiss_roll`.

    Example:
        >>> x, t = broken_swiss_roll(100)
    """
    n, noise, rng = check_points_args(n, noise, seed)
    # drtoolbox: 40% of the angle range, a gap of 20%, then the last 40%.
    u = rng.random(n)
    u = np.where(u < 0.5, u * 0.8, 0.6 + (u - 0.5) * 0.8)
    t = 1.5 * np.pi * (1 + 2 * u)
    height = 21.0 * rng.random(n)
    return _roll(t, height, noise, rng)


def twin_peaks(n: int = 2000, noise: float = 0.05, seed: int | None = 0) -> tuple[np.ndarray, np.ndarray]:
    """Twin peaks: the surface z = sin(pi x) tanh(3 y) over the square [-1, 1]^2.

    Args:
        n, noise, seed: As for :func:`swiss_roll`.

    Returns:
        ``(points (n, 3), intrinsic (n, 2))``, intrinsic = ``(x, y)``.

    Example:
        >>> x, t = twin_peaks(100)
    """
    n, noise, rng = check_points_args(n, noise, seed)
    uv = 2 * rng.random((n, 2)) - 1
    z = np.sin(np.pi * uv[:, 0]) * np.tanh(3 * uv[:, 1])
    x = np.column_stack([uv, z]) + noise * rng.standard_normal((n, 3))
    return x.astype(np.float32), uv.astype(np.float32)


def helix(n: int = 2000, noise: float = 0.05, seed: int | None = 0) -> tuple[np.ndarray, np.ndarray]:
    """A closed helix wound around a torus: a 1-D manifold in 3-D.

    Args:
        n, noise, seed: As for :func:`swiss_roll`.

    Returns:
        ``(points (n, 3), intrinsic (n, 1))``, intrinsic = the angle ``t`` in [0, 2 pi).

    Example:
        >>> x, t = helix(100)
    """
    n, noise, rng = check_points_args(n, noise, seed)
    t = 2 * np.pi * rng.random(n)
    r = 2 + np.cos(8 * t)
    x = np.stack([r * np.cos(t), r * np.sin(t), np.sin(8 * t)], axis=1)
    x = x + noise * rng.standard_normal(x.shape)
    return x.astype(np.float32), t[:, None].astype(np.float32)


MANIFOLDS = {
    "swiss_roll": swiss_roll,
    "broken_swiss_roll": broken_swiss_roll,
    "twin_peaks": twin_peaks,
    "helix": helix,
}
