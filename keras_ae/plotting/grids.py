"""Image grids: labelled rows of images, one grid of images, first-layer filters, tiles."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from keras_ae.errors import InputValidationError
from keras_ae.plotting._common import _as_images, _pyplot, _save


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
        >>> noisy = np.clip(x_digits[:10] + 0.3 * np.random.default_rng(0).normal(size=x_digits[:10].shape), 0, 1)
        >>> save_image_rows({"noisy": noisy, "clean": x_digits[:10]}, tmp_dir / "grid.png").name
        'grid.png'
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


def save_image_grid(images: np.ndarray, path: str | os.PathLike, cols: int = 10,
                    image_shape: Sequence[int] | None = None, title: str | None = None) -> Path:
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
        >>> save_image_grid(x_digits[:20], tmp_dir / "samples.png", cols=5).name
        'samples.png'
    """
    images = _as_images(images, image_shape)
    rows = int(np.ceil(len(images) / cols))
    return save_image_rows({str(r): images[r * cols:(r + 1) * cols] for r in range(rows)}, path,
                           n=min(cols, len(images)), title=title)


def save_filters(kernel: np.ndarray, path: str | os.PathLike, image_shape: Sequence[int], n: int = 64,
                 title: str | None = None) -> Path:
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
        >>> model = build_dense_ae((8, 8, 1), hidden=(16,), code_dim=4)
        >>> kernel = model.encoder.layers[2].kernel.numpy()  # Input, Flatten, then the first Dense
        >>> kernel.shape
        (64, 16)
        >>> save_filters(kernel, tmp_dir / "filters.png", (8, 8)).name
        'filters.png'
    """
    w = np.asarray(kernel, dtype=np.float32).T[:n]
    lo, hi = w.min(axis=1, keepdims=True), w.max(axis=1, keepdims=True)
    w = (w - lo) / np.maximum(hi - lo, 1e-12)  # each filter to [0, 1] for display
    return save_image_grid(w, path, cols=int(np.ceil(np.sqrt(len(w)))), image_shape=image_shape, title=title)


def tile_images(images: np.ndarray, rows: int, cols: int, pad: int = 1) -> np.ndarray:
    """Tiles ``rows * cols`` images ``(n, h, w[, c])`` into one array, row by row.

    Args:
        images: ``rows * cols`` images ``(n, h, w[, c])`` (a trailing channel of 1 is dropped) or square flat vectors.
        rows: Number of image rows.
        cols: Number of image columns.
        pad: Pixels of padding (value 1, white) between neighbouring images.

    Returns:
        float32 array ``(rows * (h + pad) - pad, cols * (w + pad) - pad[, c])``.

    Raises:
        InputValidationError: If the number of images is not ``rows * cols``.

    Example:
        >>> tile_images(np.zeros((6, 2, 2)), 2, 3, pad=0).shape
        (4, 6)
    """
    images = _as_images(images)
    if len(images) != rows * cols:
        raise InputValidationError(f"tile_images needs rows * cols = {rows * cols} images, got {len(images)}.")
    h, w = images.shape[1:3]
    canvas = np.ones((rows * (h + pad) - pad, cols * (w + pad) - pad, *images.shape[3:]), np.float32)
    for i, img in enumerate(images):
        r, c = divmod(i, cols)
        canvas[r * (h + pad):r * (h + pad) + h, c * (w + pad):c * (w + pad) + w] = img
    return canvas
