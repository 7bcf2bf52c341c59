"""Denoising real photos with a patch auto-encoder (Vincent et al. 2010, section 6).

A dense auto-encoder is trained on 12x12 grey patches of one of scikit-learn's sample
photos; a whole (held-out) photo is then denoised by cutting it into overlapping
patches, denoising each, and averaging the overlaps back into an image. Patch
extraction and reassembly are vectorized: extraction is a strided view, reassembly
loops over the 144 offsets inside a patch (not over the ~260,000 patches).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

import keras
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from keras_ae.errors import InputValidationError
from keras_ae.models.base import AutoEncoder
from keras_ae.models.denoising import build_denoising_ae
from keras_ae.models.dense import build_dense_ae
from keras_ae.validation import check_array, check_int

PATCH_SIZE = 12
NOISE_STD = 25.0 / 255.0  # the classic sigma = 25 (8-bit scale) denoising benchmark
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R BT.601 grey


def load_photos() -> dict[str, np.ndarray]:
    """scikit-learn's two sample photos (ship offline) as grey float32 images in [0, 1].

    Returns:
        ``{"china": (427, 640), "flower": (427, 640)}``.

    Example:
        >>> sorted(load_photos())
        ['china', 'flower']
    """
    from pathlib import Path

    from sklearn.datasets import load_sample_images

    bunch = load_sample_images()
    return {Path(f).stem: (img.astype(np.float32) / 255.0) @ _LUMA for f, img in zip(bunch.filenames, bunch.images)}


def _check_image(image, name: str = "image") -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 2:
        raise InputValidationError(f"`{name}` must be a grey image (height, width), got shape {image.shape}.")
    return check_array(image, name)


def patch_positions(length: int, patch_size: int, step: int) -> np.ndarray:
    """Top-left corners along one axis: every ``step`` pixels, plus the last one so patches cover the edge.

    Args:
        length: Image side along the axis.
        patch_size: Side of a patch.
        step: Stride between corners (at least 1).

    Returns:
        Int array of corners, ascending, the last one ``length - patch_size``.

    Raises:
        InputValidationError: If ``length < patch_size`` or ``step < 1``.

    Example:
        >>> patch_positions(10, 4, 3).tolist()
        [0, 3, 6]
        >>> patch_positions(11, 4, 3).tolist()
        [0, 3, 6, 7]
    """
    if length < patch_size:
        raise InputValidationError(f"The image side {length} is smaller than the patch size {patch_size}.")
    positions = np.arange(0, length - patch_size + 1, check_int(step, "step", minimum=1))
    return positions if positions[-1] == length - patch_size else np.append(positions, length - patch_size)


def extract_patches(image: np.ndarray, patch_size: int = PATCH_SIZE, step: int = 1,
                    max_patches: int | None = None, seed: int = 0) -> np.ndarray:
    """Square patches of a grey image, as ``(n, patch_size, patch_size, 1)`` float32.

    Args:
        image: Grey image ``(height, width)``.
        patch_size: Side of a patch.
        step: Stride between patches (1 = all overlapping patches, as
            ``sklearn.feature_extraction.image.extract_patches_2d``, in the same order).
        max_patches: If set, a random subset of that many patches of the grid.
        seed: Seed of the subset.

    Returns:
        Patches in row-major grid order (or random order with ``max_patches``).

    Example:
        >>> extract_patches(np.zeros((20, 30)), 12, step=4).shape  # rows 0, 4, 8; cols 0, 4, ..., 16, 18
        (18, 12, 12, 1)
    """
    image = _check_image(image)
    patch_size = check_int(patch_size, "patch_size", minimum=1)
    rows = patch_positions(image.shape[0], patch_size, step)
    cols = patch_positions(image.shape[1], patch_size, step)
    windows = sliding_window_view(image, (patch_size, patch_size))  # a view: no copy yet
    if max_patches is not None:
        rng = np.random.default_rng(seed)
        n = min(check_int(max_patches, "max_patches", minimum=1), len(rows) * len(cols))
        flat = rng.choice(len(rows) * len(cols), size=n, replace=False)
        patches = windows[rows[flat // len(cols)], cols[flat % len(cols)]]
    else:
        patches = windows[np.ix_(rows, cols)].reshape(-1, patch_size, patch_size)
    return np.ascontiguousarray(patches, dtype=np.float32)[..., None]


def reassemble_patches(patches: np.ndarray, image_shape: tuple[int, int], step: int = 1) -> np.ndarray:
    """Puts the grid of patches from :func:`extract_patches` back, averaging the overlaps.

    With ``step=1`` this equals ``sklearn.feature_extraction.image.reconstruct_from_patches_2d``,
    but loops over the ``patch_size**2`` offsets instead of over every patch.

    Args:
        patches: ``(n, p, p)`` or ``(n, p, p, 1)`` in grid order.
        image_shape: ``(height, width)`` of the image.
        step: The stride used to extract them.

    Returns:
        The float32 image ``(height, width)``.

    Example:
        >>> img = np.random.rand(20, 30).astype("float32")
        >>> np.allclose(reassemble_patches(extract_patches(img, 12, step=5), img.shape, step=5), img)
        True
    """
    patches = np.asarray(patches, dtype=np.float32)
    if patches.ndim == 4:
        patches = patches[..., 0]
    p = patches.shape[1]
    rows = patch_positions(image_shape[0], p, step)
    cols = patch_positions(image_shape[1], p, step)
    if patches.shape != (len(rows) * len(cols), p, p):
        raise InputValidationError(
            f"Expected {len(rows) * len(cols)} patches of {p}x{p} for an image of {tuple(image_shape)} "
            f"with step {step}, got {patches.shape}."
        )
    grid = patches.reshape(len(rows), len(cols), p, p)
    total = np.zeros(image_shape, dtype=np.float64)
    count = np.zeros(image_shape, dtype=np.float64)
    for grid_rows, image_rows in _strided_runs(rows, step):
        for grid_cols, image_cols in _strided_runs(cols, step):
            for di in range(p):
                for dj in range(p):
                    cell = (_shift(image_rows, di), _shift(image_cols, dj))
                    total[cell] += grid[grid_rows, grid_cols, di, dj]
                    count[cell] += 1.0
    return (total / count).astype(np.float32)


def _strided_runs(positions: np.ndarray, step: int) -> list[tuple[slice, slice]]:
    # The grid is regular except perhaps for the last (edge) position: describe it as at
    # most two (grid slice, image slice) pairs, so reassembly uses slices, not fancy indexing.
    regular = len(positions) if len(positions) < 2 or positions[-1] - positions[-2] == step else len(positions) - 1
    runs = [(slice(0, regular), slice(int(positions[0]), int(positions[regular - 1]) + 1, step))]
    if regular < len(positions):
        runs.append((slice(regular, regular + 1), slice(int(positions[-1]), int(positions[-1]) + 1, 1)))
    return runs


def _shift(s: slice, offset: int) -> slice:
    return slice(s.start + offset, s.stop + offset, s.step)


def add_noise(image: np.ndarray, std: float = NOISE_STD, seed: int = 0) -> np.ndarray:
    """Additive white Gaussian noise (not clipped, as in the denoising literature).

    Args:
        image: Image of any shape.
        std: Standard deviation of the noise.
        seed: Seed of the NumPy generator.

    Returns:
        The float32 noisy image, same shape.

    Example:
        >>> float(add_noise(np.zeros((100, 100)), 0.1).std()) > 0.09
        True
    """
    image = np.asarray(image, dtype=np.float32)
    return image + np.random.default_rng(seed).normal(0.0, std, image.shape).astype(np.float32)


def image_psnr(clean: np.ndarray, estimate: np.ndarray, max_value: float = 1.0) -> float:
    """PSNR of one image in dB (``keras_ae.evaluation.psnr`` on a batch of one).

    Args:
        clean: Reference image.
        estimate: Image to score, same shape.
        max_value: Largest possible pixel value.

    Returns:
        The PSNR in dB.

    Example:
        >>> round(image_psnr(np.zeros((4, 4)), np.full((4, 4), 0.1)), 3)
        20.0
    """
    from keras_ae.evaluation import psnr

    return float(psnr(np.asarray(clean)[None], np.asarray(estimate)[None], max_value)[0])


def build_patch_ae(code_dim: int, noise_std: float = 0.0, patch_size: int = PATCH_SIZE,
                   activation: str = "sigmoid", name: str | None = None) -> AutoEncoder:
    """A one-hidden-layer patch auto-encoder (linear output, squared error), as in Vincent et al.

    Args:
        code_dim: Hidden units (< 144 undercomplete, > 144 overcomplete for 12x12 patches).
        noise_std: Gaussian training noise; > 0 makes it a denoising auto-encoder.
        patch_size: Side of a patch.
        activation: Hidden activation.
        name: Model name.

    Returns:
        An :class:`AutoEncoder` on ``(patch_size, patch_size, 1)`` inputs.

    Example:
        >>> build_patch_ae(256, noise_std=0.1).encoder.output_shape
        (None, 256)
    """
    common = dict(hidden=(), code_dim=code_dim, code_activation=activation, loss="mse")
    shape = (patch_size, patch_size, 1)
    if noise_std > 0:
        return build_denoising_ae(shape, noise="gaussian", level=noise_std, architecture="dense", clip=None,
                                  name=name or "patch_dae", **common)
    return build_dense_ae(shape, name=name or "patch_ae", **common)


def denoise_image(model: keras.Model, noisy: np.ndarray, step: int = 1, batch_size: int = 4096) -> np.ndarray:
    """Denoises a whole grey image with a patch model: overlapping patches, averaged.

    Args:
        model: A keras_ae auto-encoder on ``(p, p, 1)`` patches.
        noisy: Grey image ``(height, width)``.
        step: Stride between patches (1 = every patch, best quality).
        batch_size: Prediction batch size.

    Returns:
        The denoised image, same shape.

    Example:
        >>> photo = load_photos()["china"][:40, :40]
        >>> model = build_patch_ae(16)  # train it on noisy patches first
        >>> denoise_image(model, add_noise(photo, 0.1, seed=0), step=4).shape
        (40, 40)
    """
    noisy = _check_image(noisy, "noisy")
    p = model.example_shape[0]
    patches = extract_patches(noisy, p, step=step)
    return reassemble_patches(model.reconstruct(patches, batch_size=batch_size), noisy.shape, step=step)


def filter_mosaic(kernel: np.ndarray, patch_size: int = PATCH_SIZE, n: int = 100) -> np.ndarray:
    """The first ``n`` filters (kernel columns) tiled into one image, each scaled to [0, 1].

    Args:
        kernel: Dense kernel ``(patch_size**2, units)``.
        patch_size: Side of a filter tile.
        n: Most filters shown.

    Returns:
        Float32 image: a near-square grid of tiles separated by 1-pixel borders of ones.

    Example:
        >>> filter_mosaic(np.random.rand(144, 9), n=9).shape  # 3x3 tiles of 12 pixels, 1-pixel borders
        (40, 40)
    """
    w = np.asarray(kernel, dtype=np.float32).T[:n]
    lo, hi = w.min(axis=1, keepdims=True), w.max(axis=1, keepdims=True)
    w = ((w - lo) / np.maximum(hi - lo, 1e-12)).reshape(-1, patch_size, patch_size)
    cols = int(np.ceil(np.sqrt(len(w))))
    rows = int(np.ceil(len(w) / cols))
    mosaic = np.ones((rows * (patch_size + 1) + 1, cols * (patch_size + 1) + 1), dtype=np.float32)
    for i, f in enumerate(w):  # at most n small tiles
        r, c = divmod(i, cols)
        top, left = 1 + r * (patch_size + 1), 1 + c * (patch_size + 1)
        mosaic[top:top + patch_size, left:left + patch_size] = f
    return mosaic


def save_filter_panels(kernels: Mapping[str, np.ndarray], path: str | os.PathLike, patch_size: int = PATCH_SIZE,
                       n: int = 100) -> Path:
    """One figure of first-layer filters side by side (the Vincent et al. comparison).

    Args:
        kernels: Panel title -> Dense kernel ``(patch_size**2, units)``.
        path: Output PNG.
        patch_size: Side of a patch.
        n: Filters shown per panel.

    Returns:
        The written path, as a :class:`~pathlib.Path`.

    Example:
        >>> kernel = first_layer_kernel(build_patch_ae(16))
        >>> save_filter_panels({"untrained": kernel}, str(tmp_dir) + "/filters.png", n=16).name
        'filters.png'
    """
    from keras_ae.plotting._common import _pyplot, _save

    plt = _pyplot()
    fig, axes = plt.subplots(1, len(kernels), figsize=(4.5 * len(kernels), 4.8), squeeze=False)
    for ax, (title, kernel) in zip(axes[0], kernels.items()):
        ax.imshow(filter_mosaic(kernel, patch_size, n), cmap="gray", vmin=0, vmax=1)
        ax.set_title(title)
        ax.axis("off")
    return _save(fig, path)


def first_layer_kernel(model: AutoEncoder) -> np.ndarray:
    """The encoder's first Dense kernel ``(input_dim, units)``: the learned filters.

    Args:
        model: An auto-encoder whose encoder holds at least one Dense layer.

    Returns:
        The kernel as a NumPy array.

    Example:
        >>> first_layer_kernel(build_patch_ae(50)).shape
        (144, 50)
    """
    dense = [layer for layer in model.encoder.layers if isinstance(layer, keras.layers.Dense)]
    return keras.ops.convert_to_numpy(dense[0].kernel)
