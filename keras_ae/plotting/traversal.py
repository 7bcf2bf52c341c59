"""Latent traversals: one row per latent dimension, the posterior mean of one example decoded with
that dimension swept over a range of values (Higgins et al. 2017's figure of a beta-VAE).

A collapsed dimension draws a row of identical images; an active one (see
:func:`~keras_ae.evaluation.posterior_collapse.active_units`) changes the image along the row.
"""

from __future__ import annotations

import os
from typing import Any, Sequence

import numpy as np

from keras_ae.errors import InputValidationError
from keras_ae.evaluation.posterior_collapse import BURDA_THRESHOLD, active_units, check_vae, posterior_means
from keras_ae.plotting._common import _as_images, _pyplot, _save
from keras_ae.plotting.grids import tile_images
from keras_ae.validation import check_array, check_int

DEFAULT_VALUES = np.linspace(-3.0, 3.0, 9)  # +-3 prior standard deviations


def traversal_dims(model: Any, x: Any = None, labels: Any = None, threshold: float = BURDA_THRESHOLD,
                   seed: int | None = 0) -> list[int]:
    """The dimensions a traversal shows by default: the active units of ``x``, most variable first.

    Without ``x`` every dimension; when no unit of ``x`` is active, the most variable one
    (a fully collapsed model still gets a one-row figure).

    Args:
        model: A VAE.
        x: Held-out examples to count active units on, or ``None``.
        labels: Their class ids (conditional VAEs).
        threshold: Active-unit variance threshold.
        seed: Seed of the draws of a flow posterior's means.

    Returns:
        Dimension indices.

    Example:
        >>> vae = build_vae((8, 8, 1), latent_dim=3, hidden=(16,))
        >>> traversal_dims(vae)
        [0, 1, 2]
    """
    latent_dim = check_vae(model)
    if x is None:
        return list(range(latent_dim))
    units = active_units(model, x, threshold=threshold, labels=labels, seed=seed)
    order = np.argsort(-units["variances"], kind="stable")
    active = [int(d) for d in order if units["active"][d]]
    return active or [int(order[0])]


def plot_latent_traversal(model: Any, x0: Any, dims: Sequence[int] | None = None,
                          values: Sequence[float] = DEFAULT_VALUES, path: str | os.PathLike | None = None,
                          x: Any = None, labels: Any = None, x_labels: Any = None,
                          threshold: float = BURDA_THRESHOLD, title: str | None = None,
                          seed: int | None = 0) -> np.ndarray:
    """Decodes the posterior mean of ``x0`` with one dimension at a time set to each of ``values``.

    Row r shows dimension ``dims[r]``; column c sets it to ``values[c]`` (the other
    dimensions stay at the posterior mean of ``x0``, for a flow posterior the mean of draws).
    Each image is the mean of p(x|z).

    Args:
        model: A VAE: ``posterior``, ``prior``, ``latent_dim`` and ``decode(z, labels=None)``.
        x0: One example, shaped as one example or as a batch of one.
        dims: Dimensions to sweep; ``None``: :func:`traversal_dims` (the active units of ``x``,
            or every dimension without ``x``).
        values: Values each swept dimension takes (default: 9 from -3 to 3).
        path: Output PNG (``None``: no file).
        x: Held-out examples whose active units pick the rows when ``dims`` is ``None``.
        labels: Class id of ``x0`` for a conditional VAE (an int); ``None`` otherwise.
        x_labels: Class ids of ``x`` for a conditional VAE (one per example or one int;
            ``None``: ``labels``).
        threshold: Active-unit threshold of the default rows.
        title: Figure title.
        seed: Seed of the draws of a flow posterior's means.

    Returns:
        The tiled images ``(rows * (h + 1) - 1, cols * (w + 1) - 1[, c])``, float32, one pixel
        of padding between images (what the PNG shows).

    Example:
        >>> vae = build_vae((8, 8, 1), latent_dim=3, hidden=(16,))
        >>> grid = plot_latent_traversal(vae, x_digits_test[0], dims=[0, 2], values=[-2, 0, 2],
        ...                              path=tmp_dir / "traversal.png")
        >>> grid.shape, (tmp_dir / "traversal.png").is_file()  # 2 rows, 3 columns of 8 x 8 images
        ((17, 26), True)
    """
    latent_dim = check_vae(model, needs_decode=True)
    conditional = bool(getattr(model, "conditional", False))
    shape = getattr(model, "example_shape", None)
    x0 = np.asarray(x0, dtype=np.float32) if x0 is not None else x0
    if shape is not None and x0 is not None and x0.shape == tuple(shape):
        x0 = x0[None]
    x0 = check_array(x0, "x0", expected_shape=shape)
    if len(x0) != 1:
        raise InputValidationError(f"x0 must be one example (or a batch of one), got {len(x0)} examples.")
    values = check_array(values, "values").astype(np.float32)
    if values.ndim != 1:
        raise InputValidationError(f"values must be a 1-D sequence of numbers, got shape {values.shape}.")
    if dims is None:
        dims = traversal_dims(model, x, labels if x_labels is None else x_labels, threshold, seed)
    dims = [check_int(d, "dims", minimum=0, maximum=latent_dim - 1) for d in np.atleast_1d(np.asarray(dims))]
    if not dims:
        raise InputValidationError("dims is empty: pass at least one latent dimension to sweep.")
    if conditional and labels is not None and np.ndim(labels) > 0:
        raise InputValidationError("labels of x0 must be one class id (an int) for a traversal of one example.")
    given = {"labels": labels} if conditional else {}
    base = posterior_means(model, x0, seed=seed, **given)[0]
    rows, cols = len(dims), len(values)
    z = np.tile(base, (rows * cols, 1))
    for r, d in enumerate(dims):
        z[r * cols:(r + 1) * cols, d] = values
    decoded = model.decode(z, **given)
    means = decoded.mean() if callable(getattr(decoded, "mean", None)) else decoded
    images = _as_images(np.asarray(means, np.float32), shape if shape is not None and len(shape) > 1 else None)
    canvas = tile_images(np.clip(images, 0.0, 1.0), rows, cols, pad=1)
    if path is not None:
        _draw(canvas, dims, values, images.shape[1:3], path, title)
    return canvas


def _draw(canvas: np.ndarray, dims: list[int], values: np.ndarray, image_hw: tuple[int, int],
          path: str | os.PathLike, title: str | None) -> None:
    plt = _pyplot()
    h, w = image_hw
    fig, ax = plt.subplots(figsize=(0.8 * len(values) + 1.0, 0.8 * len(dims) + 0.8))
    ax.imshow(canvas, cmap="gray" if canvas.ndim == 2 else None, vmin=0.0, vmax=1.0)
    ax.set_yticks([r * (h + 1) + (h - 1) / 2 for r in range(len(dims))])
    ax.set_yticklabels([f"z{d}" for d in dims])
    ax.set_xticks([c * (w + 1) + (w - 1) / 2 for c in range(len(values))])
    ax.set_xticklabels([f"{v:g}" for v in values])
    ax.set_xlabel("value of the swept dimension")
    if title:
        ax.set_title(title)
    _save(fig, path)
