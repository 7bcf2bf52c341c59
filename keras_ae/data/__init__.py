"""Datasets, manifolds, corruption and input pipelines.

Example:
    >>> from keras_ae.data import load_dataset
    >>> (x_train, y_train), (x_test, y_test) = load_dataset("digits")
"""

from __future__ import annotations

import os

import numpy as np

from keras_ae.data.corruption import NOISE_KINDS, Corruption, corrupt, corrupt_tensor
from keras_ae.data.images import (
    DATA_DIR_ENV,
    IMAGE_DATASETS,
    Dataset,
    Split,
    binarize,
    find_npz,
    load_image_dataset,
    read_keras_npz,
)
from keras_ae.data.manifolds import MANIFOLDS, broken_swiss_roll, helix, swiss_roll, twin_peaks
from keras_ae.data.pipeline import make_tf_dataset
from keras_ae.validation import check_choice

DATASETS = tuple(IMAGE_DATASETS) + tuple(MANIFOLDS)
DEFAULT_DATASET = "digits"


def load_dataset(
    name: str = DEFAULT_DATASET,
    data_dir: str | os.PathLike | None = None,
    flatten: bool = False,
    download: bool = True,
    n_samples: int = 2000,
    test_fraction: float = 0.2,
    noise: float = 0.05,
    seed: int = 0,
) -> Dataset:
    """Loads a dataset by name as float32 arrays.

    Images are scaled to [0, 1] and keep their ``(h, w, c)`` shape (``flatten=True``
    gives vectors); labels are int64 class ids. Manifolds (``swiss_roll``,
    ``broken_swiss_roll``, ``twin_peaks``, ``helix``) return 3-D points with their
    intrinsic coordinates as ``y``.

    Args:
        name: One of :data:`DATASETS`.
        data_dir: Folder with a Keras-format ``<name>.npz`` (offline use), or the file.
        flatten: Flatten images to vectors.
        download: Allow downloading when no local file exists.
        n_samples: Manifolds only: number of points (train + test).
        test_fraction: Manifolds only: fraction held out as the test split.
        noise: Manifolds only: Gaussian noise standard deviation.
        seed: Manifolds only: random seed.

    Returns:
        ``Dataset((x_train, y_train), (x_test, y_test))``; unpacks like Keras' loaders.

    Raises:
        UnknownNameError: for an unknown name (the message lists the valid ones).
        DatasetNotAvailableError: when offline without the file (the message names it).

    Example:
        >>> (x_train, y_train), (x_test, y_test) = load_dataset("digits")
        >>> x_train.shape[1:], x_train.dtype, float(x_train.max())
        ((8, 8, 1), dtype('float32'), 1.0)

        MNIST from a local copy (no download):

        ```python
        (x_train, y_train), (x_test, y_test) = load_dataset("mnist", data_dir="../shared/data/mnist10k")
        ```
    """
    check_choice(name, "dataset", DATASETS)
    if name in IMAGE_DATASETS:
        return load_image_dataset(name, data_dir=data_dir, flatten=flatten, download=download)
    x, t = MANIFOLDS[name](n_samples, noise=noise, seed=seed)
    n_test = int(round(n_samples * test_fraction))
    return Dataset(Split(x[n_test:], t[n_test:]), Split(x[:n_test], t[:n_test]))


def dataset_status(name: str, data_dir: str | os.PathLike | None = None) -> str:
    """Says whether a dataset can be loaded without a download.

    Returns:
        ``"offline"`` (ships or generated), ``"local: <path>"``, or ``"download needed"``.

    Example:
        >>> dataset_status("digits")
        'offline'
    """
    check_choice(name, "dataset", DATASETS)
    if name == "digits" or name in MANIFOLDS:
        return "offline"
    path = find_npz(name, data_dir)
    return f"local: {path}" if path else "download needed"


__all__ = [
    "DATASETS", "DATA_DIR_ENV", "DEFAULT_DATASET", "Corruption", "Dataset", "MANIFOLDS",
    "NOISE_KINDS", "Split", "binarize", "broken_swiss_roll", "corrupt", "corrupt_tensor",
    "dataset_status", "find_npz", "helix", "load_dataset", "make_tf_dataset",
    "read_keras_npz", "swiss_roll", "twin_peaks",
]
