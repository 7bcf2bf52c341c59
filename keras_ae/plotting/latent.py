"""Figures of codes and of a generative model's latent space: codes by label, the decoded
latent grid ("manifold" figure of Kingma & Welling 2014), samples and interpolations.

The latent-space figures work with any model that has ``posterior_params(x)`` (or
``encode``), ``decode(z)`` returning a distribution or images, and ``sample(n, seed)`` --
the VAE's API.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

import numpy as np

from keras_ae.errors import InputValidationError
from keras_ae.plotting._common import _pyplot, _save
from keras_ae.plotting.grids import save_image_grid, save_image_rows, tile_images

if TYPE_CHECKING:
    import keras

    from keras_ae.models.vae import VAE


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
        >>> from sklearn.decomposition import PCA
        >>> flat = x_digits.reshape(len(x_digits), -1)
        >>> codes = {"PCA": PCA(2).fit_transform(flat), "random": flat @ np.random.default_rng(0).normal(size=(64, 2))}
        >>> save_code_scatter(codes, y_digits, tmp_dir / "codes.png", scores={"PCA": 0.5}).name
        'codes.png'
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


def _decode_means(model, z: np.ndarray) -> np.ndarray:
    out = model.decode(np.asarray(z, np.float32))
    return np.asarray(out.mean() if hasattr(out, "mean") and callable(out.mean) else out)


def latent_means(model: VAE, x: np.ndarray, batch_size: int = 500) -> np.ndarray:
    """Posterior means E[z | x] of ``x``, a NumPy array ``(n, latent_dim)``.

    Args:
        model: An unconditional VAE (``validate_inputs`` and ``posterior_params``).
        x: Examples ``(n, *input_shape)``, in the model's input range.
        batch_size: Examples encoded per call of the encoder.

    Returns:
        float32 array ``(n, latent_dim)``: the mean of q(z|x) of each example.

    Raises:
        InputValidationError: If ``x`` has the wrong shape, is out of range or holds NaN/inf.

    Example:
        >>> vae = build_vae((8, 8, 1), latent_dim=2, hidden=(16,))
        >>> latent_means(vae, x_digits_test).shape
        (64, 2)
    """
    x = model.validate_inputs(x, purpose="encode")
    parts = [np.asarray(model.posterior_params(x[i:i + batch_size])[0]) for i in range(0, len(x), batch_size)]
    return np.concatenate(parts)


def save_latent_scatter(model: VAE, x: np.ndarray, labels: np.ndarray, path: str | os.PathLike,
                        title: str | None = None) -> Path:
    """Scatter of the posterior means of ``x`` coloured by label.

    A 2-D latent space is drawn as is; a larger one is projected on its first two
    principal components (the panel title says so).

    Args:
        model: A VAE (anything with ``posterior_params``).
        x: Examples.
        labels: Class labels ``(n,)``.
        path: Output PNG.
        title: Figure title.

    Returns:
        The written path.

    Example:
        >>> vae = build_vae((8, 8, 1), latent_dim=2, hidden=(16,))
        >>> save_latent_scatter(vae, x_digits_test, y_digits_test, tmp_dir / "latent.png").name
        'latent.png'
    """
    z = latent_means(model, x)
    panel = "posterior means"
    if z.shape[1] > 2:
        from sklearn.decomposition import PCA

        z = PCA(n_components=2).fit_transform(z)
        panel = "posterior means (PCA to 2-D)"
    elif z.shape[1] == 1:
        z = np.concatenate([z, np.zeros_like(z)], axis=1)
    return save_code_scatter({panel: z}, np.asarray(labels), path, title=title)


def save_latent_manifold(model: VAE, path: str | os.PathLike, n: int = 20, title: str | None = None) -> Path:
    """Decodes an ``n x n`` grid of a 2-D latent space into one image (the "manifold" figure).

    Grid points are standard normal quantiles of evenly spaced probabilities in
    (0.05, 0.95), so equal areas of the prior get equal space (Kingma & Welling 2014, fig. 4).

    Args:
        model: A VAE with ``latent_dim == 2``.
        path: Output PNG.
        n: Grid points per axis.
        title: Figure title.

    Returns:
        The written path.

    Raises:
        InputValidationError: If the model's ``latent_dim`` is not 2.

    Example:
        >>> vae = build_vae((8, 8, 1), latent_dim=2, hidden=(16,))
        >>> save_latent_manifold(vae, tmp_dir / "manifold.png", n=5).name
        'manifold.png'
    """
    from scipy.stats import norm

    if getattr(model, "latent_dim", None) != 2:
        raise InputValidationError(
            "The manifold figure needs a 2-D latent space, this model has "
            f"latent_dim={getattr(model, 'latent_dim', None)}; build one with latent_dim=2.")
    grid = norm.ppf(np.linspace(0.05, 0.95, n))
    # Rows go top to bottom with decreasing z2, so the picture matches the scatter plot's axes.
    z = np.array([[z1, z2] for z2 in grid[::-1] for z1 in grid], np.float32)
    canvas = tile_images(_decode_means(model, z), n, n, pad=0)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 8))
    ax.imshow(np.clip(canvas, 0, 1), cmap="gray" if canvas.ndim == 2 else None, vmin=0, vmax=1,
              extent=(grid[0], grid[-1], grid[0], grid[-1]))
    ax.set_xlabel("z1")
    ax.set_ylabel("z2")
    if title:
        ax.set_title(title)
    return _save(fig, path)


def save_samples(model: keras.Model, path: str | os.PathLike, n: int = 100, seed: int = 0, cols: int = 10,
                 title: str | None = None) -> Path:
    """Saves ``n`` samples ``model.sample(n, seed=seed)`` as a grid.

    Args:
        model: A generative model whose ``sample(n, seed=...)`` returns images (VAE, GAN, RealNVP, diffusion, ...).
        path: Output PNG.
        n: Number of samples drawn.
        seed: Sampling seed (the same seed gives the same figure).
        cols: Images per row.
        title: Figure title.

    Returns:
        The written path.

    Example:
        >>> vae = build_vae((8, 8, 1), latent_dim=2, hidden=(16,))
        >>> save_samples(vae, tmp_dir / "samples.png", n=16, cols=4).name
        'samples.png'
    """
    return save_image_grid(model.sample(n, seed=seed), path, cols=cols, title=title)


def save_interpolations(model: VAE, x1: np.ndarray, x2: np.ndarray, path: str | os.PathLike, steps: int = 10,
                        title: str | None = None) -> Path:
    """One row per pair: decoded points on the line between the codes of ``x1[i]`` and ``x2[i]``.

    Args:
        model: An unconditional VAE (anything with ``interpolate(x1, x2, steps=...)``).
        x1: Start examples ``(n, *input_shape)``, one row each.
        x2: End examples, the same shape as ``x1``.
        path: Output PNG.
        steps: Points per line, end points included (at least 2).
        title: Figure title.

    Returns:
        The written path.

    Raises:
        InputValidationError: If ``x1`` and ``x2`` differ in length, or ``steps`` is below 2.

    Example:
        >>> vae = build_vae((8, 8, 1), latent_dim=2, hidden=(16,))
        >>> save_interpolations(vae, x_digits_test[:3], x_digits_test[3:6], tmp_dir / "interp.png", steps=5).name
        'interp.png'
    """
    frames = model.interpolate(x1, x2, steps=steps)
    return save_image_rows({f"pair {i}": f for i, f in enumerate(frames)}, path, n=steps, title=title)
