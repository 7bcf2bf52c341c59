"""Manifold figures: tangent planes of an encoder and contraction curves
(the arrays come from :mod:`keras_ae.manifold`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np

from keras_ae.errors import InputValidationError
from keras_ae.plotting._common import _pyplot, _save

if TYPE_CHECKING:
    from keras_ae.manifold import TangentPlane


def save_tangent_planes(x: np.ndarray, planes: TangentPlane, path: str | os.PathLike, n: int = 6,
                        title: str | None = None) -> Path:
    """Each input next to its tangent directions (signed, red/blue), one row per example.

    Args:
        x: The inputs ``(m, h, w[, 1])``.
        planes: From :func:`~keras_ae.manifold.tangent_plane` on the same inputs.
        path: Output PNG.
        n: Rows shown.
        title: Figure title.

    Returns:
        The written path.

    Example:
        >>> from keras_ae.manifold import tangent_plane
        >>> model = build_dense_ae((8, 8, 1), hidden=(16,), code_dim=4)
        >>> planes = tangent_plane(model, x_digits_test[:3], k=2)
        >>> save_tangent_planes(x_digits_test[:3], planes, tmp_dir / "tangents.png").name
        'tangents.png'
    """
    plt = _pyplot()
    x = np.asarray(x, dtype=np.float32)
    vectors, values = np.asarray(planes.vectors), np.asarray(planes.singular_values)
    if x.ndim != 4 and x.ndim != 3 or len(vectors) != len(x):
        raise InputValidationError(
            f"Need images (m, h, w[, c]) and their tangent planes; got {x.shape} and {vectors.shape}.")
    n, k = min(n, len(x)), vectors.shape[1]
    fig, axes = plt.subplots(n, k + 1, figsize=(1.3 * (k + 1), 1.4 * n), squeeze=False)
    for r in range(n):
        axes[r][0].imshow(np.squeeze(x[r]), cmap="gray", vmin=0.0, vmax=1.0)
        for c in range(k):
            v = np.squeeze(vectors[r, c])
            lim = float(np.abs(v).max()) or 1.0
            axes[r][c + 1].imshow(v, cmap="RdBu_r", vmin=-lim, vmax=lim)
            axes[r][c + 1].set_title(f"s={values[r, c]:.2g}", fontsize=7)
        for ax in axes[r]:
            ax.set_xticks([])
            ax.set_yticks([])
    axes[0][0].set_title("input", fontsize=7)
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def save_contraction_curves(radii: Sequence[float], curves: Mapping[str, Sequence[float]], path: str | os.PathLike,
                            title: str | None = None) -> Path:
    """Contraction ratio against perturbation radius, one line per model (log-log).

    Args:
        radii: The radii.
        curves: Model name -> ratios from :func:`~keras_ae.manifold.contraction_ratio`.
        path: Output PNG.
        title: Figure title.

    Returns:
        The written path.

    Example:
        >>> from keras_ae.manifold import contraction_ratio
        >>> radii = [0.1, 1.0, 5.0]
        >>> curves = {name: contraction_ratio(builder((8, 8, 1), code_dim=4), x_digits_test[:16], radii)
        ...           for name, builder in [("AE", build_dense_ae), ("CAE", build_contractive_ae)]}
        >>> save_contraction_curves(radii, curves, tmp_dir / "curves.png").name
        'curves.png'
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.6))
    for name, ratios in curves.items():
        ax.plot(radii, ratios, marker="o", label=name)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("perturbation radius ||d||")
    ax.set_ylabel("||f(x+d) - f(x)|| / ||d||")
    ax.legend()
    if title:
        ax.set_title(title)
    return _save(fig, path)
