"""Synthetic manifolds with known intrinsic coordinates (van der Maaten's drtoolbox set).

Each function returns ``(points, intrinsic)``: ``points`` of shape ``(n, 3)`` in the
ambient space and the coordinates that generated them, so a method's 2-D code can be
scored against the truth (rank correlation, trustworthiness).
"""

from __future__ import annotations

import numpy as np

from keras_ae.validation import check_positive_int


def _rng(seed: int | None) -> np.random.Generator:
    return np.random.default_rng(seed)


def swiss_roll(n: int = 2000, noise: float = 0.05, seed: int | None = 0) -> tuple[np.ndarray, np.ndarray]:
    """The swiss roll: a 2-D sheet rolled up in 3-D.

    Args:
        n: Number of points.
        noise: Standard deviation of isotropic Gaussian noise added to the points.
        seed: Random seed.

    Returns:
        ``(points (n, 3), intrinsic (n, 2))``; intrinsic columns are the angle ``t`` along
        the roll (in [1.5 pi, 4.5 pi]) and the height.

    Example:
        >>> x, t = swiss_roll(100)
        >>> x.shape, t.shape
        ((100, 3), (100, 2))
    """
    n = check_positive_int(n, "n")
    rng = _rng(seed)
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
    n = check_positive_int(n, "n")
    rng = _rng(seed)
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
    n = check_positive_int(n, "n")
    rng = _rng(seed)
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
    n = check_positive_int(n, "n")
    rng = _rng(seed)
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
