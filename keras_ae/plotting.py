"""Figures: image grids, 2-D code scatter plots and first-layer filters (PNG files).

Uses matplotlib's non-interactive Agg backend, so it works on servers without a display.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _as_images(x: np.ndarray, image_shape: Sequence[int] | None = None) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if image_shape is not None:
        x = x.reshape((len(x), *image_shape))
    elif x.ndim == 2:
        side = int(round(np.sqrt(x.shape[1])))
        if side * side != x.shape[1]:
            raise ValueError(f"Cannot show vectors of length {x.shape[1]} as square images; pass image_shape.")
        x = x.reshape(len(x), side, side)
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    return x


def _save(fig, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    _pyplot().close(fig)
    return path


def save_image_rows(
    rows: Mapping[str, np.ndarray],
    path: str | os.PathLike,
    n: int = 10,
    image_shape: Sequence[int] | None = None,
    title: str | None = None,
) -> Path:
    """Saves labelled rows of images, e.g. noisy / denoised / clean.

    Args:
        rows: Row label -> images ``(m, h, w[, c])`` or flat vectors; the first ``n`` shown.
        path: Output PNG.
        n: Images per row.
        image_shape: Shape to reshape flat vectors to.
        title: Figure title.

    Returns:
        The written path.

    Example:
        >>> save_image_rows({"input": x[:10], "output": y[:10]}, "grid.png")  # doctest: +SKIP
    """
    plt = _pyplot()
    rows = {k: _as_images(v, image_shape)[:n] for k, v in rows.items()}
    n = min(n, min(len(v) for v in rows.values()))
    fig, axes = plt.subplots(len(rows), n, figsize=(1.2 * n, 1.3 * len(rows)), squeeze=False)
    for r, (label, images) in enumerate(rows.items()):
        for c in range(n):
            ax = axes[r][c]
            img = np.clip(images[c], 0.0, 1.0) if images[c].ndim == 3 else images[c]
            ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0.0, vmax=1.0)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r][0].set_ylabel(label, rotation=0, ha="right", va="center")
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def save_image_grid(images: np.ndarray, path: str | os.PathLike, cols: int = 10, image_shape: Sequence[int] | None = None, title: str | None = None) -> Path:
    """Saves images (samples, filters, ...) as one grid.

    Args:
        images: ``(m, h, w[, c])`` or flat vectors.
        path: Output PNG.
        cols: Images per row.
        image_shape: Shape to reshape flat vectors to.
        title: Figure title.

    Returns:
        The written path.

    Example:
        >>> save_image_grid(samples, "samples.png")  # doctest: +SKIP
    """
    images = _as_images(images, image_shape)
    rows = int(np.ceil(len(images) / cols))
    return save_image_rows({str(r): images[r * cols:(r + 1) * cols] for r in range(rows)}, path, n=min(cols, len(images)), title=title)


def save_code_scatter(
    codes: Mapping[str, np.ndarray] | np.ndarray,
    labels: np.ndarray,
    path: str | os.PathLike,
    title: str | None = None,
    scores: Mapping[str, float] | None = None,
) -> Path:
    """Scatter plots of 2-D codes coloured by label, one panel per method.

    Args:
        codes: ``(n, 2)`` codes, or method name -> codes for side-by-side panels.
        labels: Class labels or a continuous coordinate ``(n,)`` for the colours.
        path: Output PNG.
        title: Figure title.
        scores: Optional method name -> a number shown in the panel title.

    Returns:
        The written path.

    Example:
        >>> save_code_scatter({"PCA": pca_codes, "AE": ae_codes}, y_test, "codes.png")  # doctest: +SKIP
    """
    plt = _pyplot()
    panels = codes if isinstance(codes, Mapping) else {"codes": codes}
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4.6), squeeze=False)
    labels = np.asarray(labels)
    discrete = np.issubdtype(labels.dtype, np.integer)
    for ax, (name, c) in zip(axes[0], panels.items()):
        c = np.asarray(c)
        sc = ax.scatter(c[:, 0], c[:, 1], c=labels, s=3, cmap="tab10" if discrete else "viridis", alpha=0.8)
        ax.set_title(name if not scores or name not in scores else f"{name} ({scores[name]:.3f})")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(sc, ax=list(axes[0]))
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def save_filters(kernel: np.ndarray, path: str | os.PathLike, image_shape: Sequence[int], n: int = 64, title: str | None = None) -> Path:
    """Shows first-layer filters (columns of a Dense kernel) as images.

    Args:
        kernel: Dense kernel ``(input_dim, units)``.
        path: Output PNG.
        image_shape: Shape of one input image, e.g. ``(28, 28)``.
        n: Number of filters shown.
        title: Figure title.

    Returns:
        The written path.

    Example:
        >>> save_filters(model.encoder.layers[2].kernel.numpy(), "filters.png", (28, 28))  # doctest: +SKIP
    """
    w = np.asarray(kernel, dtype=np.float32).T[:n]
    lo, hi = w.min(axis=1, keepdims=True), w.max(axis=1, keepdims=True)
    w = (w - lo) / np.maximum(hi - lo, 1e-12)  # each filter to [0, 1] for display
    return save_image_grid(w, path, cols=int(np.ceil(np.sqrt(len(w)))), image_shape=image_shape, title=title)
