"""What every figure module shares: matplotlib's Agg backend (imported lazily), images from
arrays, saving a figure as PNG."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from keras_ae.atomic import write_atomically


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
    file_format = path.suffix[1:].lower() or "png"  # named: the temporary's name is no guide for matplotlib
    try:
        write_atomically(path, lambda temporary: fig.savefig(temporary, dpi=100, bbox_inches="tight",
                                                             format=file_format))
    finally:
        _pyplot().close(fig)
    return path
