"""Does a denoiser map corrupted points back onto the data manifold? Its vector field, scored.

A denoising auto-encoder's reconstruction ``r(x~) = g(f(x~))`` defines a vector field
``r(x~) - x~`` over the input space (Vincent et al. 2010, fig. 2; Alain & Bengio 2014):
for small noise it should point from ``x~`` towards the nearest point of the manifold the
clean data lie on. :func:`denoising_field` compares that displacement with the exact
direction to the nearest manifold point (given as a projection function).
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np

from keras_ae.errors import InputValidationError


class DenoisingField(NamedTuple):
    """Per-point arrays of :func:`denoising_field`.

    Attributes:
        displacement: ``(n, d)`` one denoising step, ``r(x~) - x~``.
        to_manifold: ``(n, d)`` nearest manifold point minus ``x~``.
        cosine: ``(n,)`` cosine between the two (NaN where either is 0).
        distance_before: ``(n,)`` distance of ``x~`` to the manifold.
        distance_after: ``(n,)`` distance of ``r(x~)`` to the manifold.

    Example:
        A denoiser that leaves points where they are (no displacement, so no cosine):

        >>> from keras_ae.data.curves import circle_projection
        >>> field = denoising_field(lambda x: x, np.array([[2.0, 0.0]]), circle_projection)
        >>> field.displacement, field.to_manifold, field.cosine
        (array([[0., 0.]]), array([[-1.,  0.]]), array([nan]))
        >>> field.distance_before, field.distance_after
        (array([1.]), array([1.]))
    """

    displacement: np.ndarray  # (n, d) r(x~) - x~
    to_manifold: np.ndarray  # (n, d) nearest manifold point - x~
    cosine: np.ndarray  # (n,) cosine between the two (NaN where either is 0)
    distance_before: np.ndarray  # (n,) distance of x~ to the manifold
    distance_after: np.ndarray  # (n,) distance of r(x~) to the manifold


def denoising_field(denoise: Callable[[np.ndarray], np.ndarray], x_noisy: np.ndarray,
                    project: Callable[[np.ndarray], np.ndarray]) -> DenoisingField:
    """Displacement of one denoising step and its agreement with the direction to the manifold.

    Args:
        denoise: Maps points ``(n, d)`` to their reconstructions, e.g. ``model.reconstruct``.
        x_noisy: Corrupted points ``(n, d)``.
        project: Maps points to their nearest manifold points (e.g.
            :func:`keras_ae.data.curves.circle_projection`).

    Returns:
        A :class:`DenoisingField`.

    Example:
        A perfect denoiser for the unit circle (the radial projection itself):

        >>> from keras_ae.data.curves import circle_projection
        >>> x = np.array([[1.2, 0.0], [0.0, -0.9]])
        >>> field = denoising_field(circle_projection, x, circle_projection)
        >>> field.cosine, np.round(field.distance_before, 2), np.round(field.distance_after, 2)
        (array([1., 1.]), array([0.2, 0.1]), array([0., 0.]))
    """
    # The denoiser sees float32 (a Keras model's dtype): measure from those very points, so
    # a do-nothing denoiser has exactly zero displacement.
    x32 = np.asarray(x_noisy, dtype=np.float32)
    if x32.ndim != 2:
        raise InputValidationError(f"x_noisy must be a 2-D array of points (n, d), got shape {x32.shape}.")
    x = x32.astype(np.float64)
    denoised = np.asarray(denoise(x32), dtype=np.float64).reshape(x.shape)
    nearest = np.asarray(project(x), dtype=np.float64)
    displacement, to_manifold = denoised - x, nearest - x
    norms = np.linalg.norm(displacement, axis=1) * np.linalg.norm(to_manifold, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cosine = np.where(norms > 0, (displacement * to_manifold).sum(axis=1) / np.where(norms > 0, norms, 1.0), np.nan)
    after = np.linalg.norm(denoised - np.asarray(project(denoised), dtype=np.float64), axis=1)
    return DenoisingField(displacement, to_manifold, cosine, np.linalg.norm(to_manifold, axis=1), after)


def field_summary(field: DenoisingField, radius: float | None = None) -> dict[str, float]:
    """Headline numbers of a :class:`DenoisingField`, optionally for points within ``radius`` of the manifold.

    Args:
        field: From :func:`denoising_field`.
        radius: Keep only points at most this far from the manifold (``None``: all).

    Returns:
        ``median_cosine``, ``fraction_cosine_above_0.9``, ``mean_distance_before``,
        ``mean_distance_after`` and ``n`` (points used).

    Example:
        >>> from keras_ae.data.curves import circle_projection
        >>> x = np.array([[1.2, 0.0], [0.0, -0.9], [3.0, 0.0]])
        >>> field_summary(denoising_field(circle_projection, x, circle_projection), radius=0.5)["n"]
        2
    """
    keep = np.ones(len(field.cosine), bool) if radius is None else field.distance_before <= radius
    cos = field.cosine[keep]
    cos = cos[np.isfinite(cos)]
    return {
        "median_cosine": float(np.median(cos)) if len(cos) else float("nan"),
        "fraction_cosine_above_0.9": float((cos > 0.9).mean()) if len(cos) else float("nan"),
        "mean_distance_before": float(field.distance_before[keep].mean()) if keep.any() else float("nan"),
        "mean_distance_after": float(field.distance_after[keep].mean()) if keep.any() else float("nan"),
        "n": int(keep.sum()),
    }


__all__ = ["DenoisingField", "denoising_field", "field_summary"]
