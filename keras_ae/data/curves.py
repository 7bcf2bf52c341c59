"""2-D points near a 1-D manifold (a circle, a spiral), with the nearest manifold point of any point.

The 3-D sets of :mod:`keras_ae.data.manifolds` are for embeddings; these curves are for
looking at what a denoising auto-encoder does in the input space itself (its vector field
``g(f(x~)) - x~`` can be drawn in 2-D), so each curve comes with a projection: the
nearest point of the curve, exact for the circle (radial projection) and by dense
sampling for the spiral.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from keras_ae.data.manifolds import check_points_args
from keras_ae.validation import check_float, check_int

# Spiral: r = SPIRAL_B * t for t in [SPIRAL_T0, SPIRAL_T1] (1.5 turns, radius 0.25 to 1,
# successive arms 2 pi SPIRAL_B = 0.5 apart, so noise well below 0.25 stays unambiguous).
SPIRAL_T0, SPIRAL_T1 = np.pi, 4 * np.pi
SPIRAL_B = 1 / (4 * np.pi)


def _noisy(points: np.ndarray, noise: float, rng: np.random.Generator) -> np.ndarray:
    return (points + noise * rng.standard_normal(points.shape)).astype(np.float32)


def circle(n: int = 2000, radius: float = 1.0, noise: float = 0.0,
           seed: int | None = 0) -> tuple[np.ndarray, np.ndarray]:
    """Points on (or near) a circle centred at the origin.

    Args:
        n: Number of points.
        radius: Circle radius.
        noise: Standard deviation of isotropic Gaussian noise added to the points.
        seed: Random seed.

    Returns:
        ``(points (n, 2), angle (n,))`` with the angle in [0, 2 pi).

    Example:
        >>> x, t = circle(100)
        >>> x.shape, bool(np.allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-6))
        ((100, 2), True)
    """
    n, noise, rng = check_points_args(n, noise, seed)
    radius = check_float(radius, "radius", minimum=0.0, include_minimum=False)
    t = 2 * np.pi * rng.random(n)
    points = radius * np.stack([np.cos(t), np.sin(t)], axis=1)
    return _noisy(points, noise, rng), t.astype(np.float32)


def circle_projection(x: np.ndarray, radius: float = 1.0) -> np.ndarray:
    """Nearest point of the circle of ``radius`` around the origin: the radial projection.

    Args:
        x: Points ``(n, 2)``.
        radius: Circle radius.

    Returns:
        ``(n, 2)`` float64 points on the circle; the origin maps to ``(radius, 0)``.

    Example:
        >>> circle_projection(np.array([[2.0, 0.0], [0.0, 0.5]]))
        array([[1., 0.],
               [0., 1.]])
    """
    x = np.asarray(x, dtype=np.float64)
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    # The origin is equidistant from every point of the circle: pick (radius, 0).
    safe = np.where(norm > 0, norm, 1.0)
    return np.where(norm > 0, radius * x / safe, np.array([[radius, 0.0]]))


def spiral_points(t: np.ndarray) -> np.ndarray:
    """The spiral ``r = t / (4 pi)`` at parameters ``t`` (radius 0.25 to 1 for t in [pi, 4 pi]).

    Args:
        t: Curve parameters (angles in radians), any shape.

    Returns:
        float64 points of shape ``t.shape + (2,)``.

    Example:
        >>> np.round(spiral_points(np.array([np.pi])), 3)
        array([[-0.25,  0.  ]])
    """
    t = np.asarray(t, dtype=np.float64)
    r = SPIRAL_B * t
    return np.stack([r * np.cos(t), r * np.sin(t)], axis=-1)


def spiral(n: int = 2000, noise: float = 0.0, seed: int | None = 0) -> tuple[np.ndarray, np.ndarray]:
    """Points on (or near) an Archimedean spiral of 1.5 turns, uniform in arc length.

    Args:
        n, noise, seed: As for :func:`circle`.

    Returns:
        ``(points (n, 2), t (n,))`` with the curve parameter ``t`` in [pi, 4 pi].

    Example:
        >>> x, t = spiral(100)
        >>> x.shape, float(np.abs(x).max()) <= 1.0
        ((100, 2), True)
    """
    n, noise, rng = check_points_args(n, noise, seed)
    # Uniform in arc length (ds ~ sqrt(1 + t^2) dt), by inverting a fine cumulative table:
    # uniform t would crowd the inner turn.
    grid = np.linspace(SPIRAL_T0, SPIRAL_T1, 20001)
    arc = np.concatenate([[0.0], np.cumsum(np.hypot(1.0, grid[1:]) * np.diff(grid))])
    t = np.interp(rng.random(n) * arc[-1], arc, grid)
    return _noisy(spiral_points(t), noise, rng), t.astype(np.float32)


def nearest_on_curve(x: np.ndarray, curve: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """Nearest of the densely sampled ``curve`` points to each row of ``x`` (brute force, batched).

    Args:
        x: Points ``(n, d)``.
        curve: Samples of the curve ``(m, d)``; their spacing bounds the error.
        batch_size: Rows of ``x`` per distance matrix.

    Returns:
        ``(n, d)`` float64 nearest samples.

    Example:
        >>> nearest_on_curve(np.array([[0.9, 0.1]]), np.array([[0.0, 0.0], [1.0, 0.0]]))
        array([[1., 0.]])
    """
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    x = np.asarray(x, dtype=np.float64)
    curve = np.asarray(curve, dtype=np.float64)
    out = np.empty_like(x)
    for i in range(0, len(x), batch_size):
        d2 = ((x[i:i + batch_size, None, :] - curve[None]) ** 2).sum(-1)
        out[i:i + batch_size] = curve[d2.argmin(axis=1)]
    return out


def spiral_projection(x: np.ndarray, samples: int = 20000) -> np.ndarray:
    """Nearest point of the spiral (to within its sample spacing, about 3e-4 for 20,000 samples).

    Args:
        x: Points ``(n, 2)``.
        samples: Number of spiral points sampled (uniform in ``t``) to search; 2 to 10**6.

    Returns:
        ``(n, 2)`` float64 nearest spiral samples.

    Example:
        >>> p = spiral_projection(spiral_points(np.array([2 * np.pi])) * 1.05)
        >>> np.round(p, 2)  # back onto the arm near t = 2 pi, radius 0.5 (not the arm at radius 1)
        array([[0.5, 0. ]])
    """
    samples = check_int(samples, "samples", minimum=2, maximum=10**6)
    return nearest_on_curve(x, spiral_points(np.linspace(SPIRAL_T0, SPIRAL_T1, samples)))


CURVES: dict[str, tuple[Callable[..., tuple[np.ndarray, np.ndarray]], Callable[[np.ndarray], np.ndarray]]] = {
    "circle": (circle, circle_projection),
    "spiral": (spiral, spiral_projection),
}
"""Name -> ``(generator(n, noise=, seed=), projection(x))``."""

__all__ = ["CURVES", "circle", "circle_projection", "nearest_on_curve", "spiral", "spiral_points", "spiral_projection"]
