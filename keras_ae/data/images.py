"""Image datasets: MNIST, Fashion-MNIST, CIFAR-10 and scikit-learn's digits.

Users with internet get the real download (Keras datasets). Offline, point
``data_dir`` (or the ``KERAS_AE_DATA_DIR`` environment variable) at a folder holding a
Keras-format ``<name>.npz`` (keys ``x_train``, ``y_train``, ``x_test``, ``y_test``),
or at the ``.npz`` file itself. ``digits`` ships with scikit-learn and always works.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import NamedTuple

import numpy as np

from keras_ae.errors import DatasetNotAvailableError, InputValidationError

DATA_DIR_ENV = "KERAS_AE_DATA_DIR"
_NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")


class Split(NamedTuple):
    """Examples ``x`` (float32) and labels ``y`` of one split."""

    x: np.ndarray
    y: np.ndarray


class Dataset(NamedTuple):
    """A train/test pair that unpacks like Keras: ``(x_train, y_train), (x_test, y_test)``."""

    train: Split
    test: Split


# name -> (per-example shape, Keras loader attribute)
IMAGE_DATASETS: dict[str, tuple[tuple[int, ...], str | None]] = {
    "mnist": ((28, 28, 1), "mnist"),
    "fashion_mnist": ((28, 28, 1), "fashion_mnist"),
    "cifar10": ((32, 32, 3), "cifar10"),
    "digits": ((8, 8, 1), None),
}


def find_npz(name: str, data_dir: str | os.PathLike | None = None) -> Path | None:
    """Returns the offline ``.npz`` for ``name`` if one exists, else ``None``.

    Looks in ``data_dir`` (a folder or the file itself), then ``$KERAS_AE_DATA_DIR``,
    then Keras' download cache ``~/.keras/datasets/<name>.npz``.

    Example:
        >>> folder = tmp_dir
        >>> np.savez(folder / "mnist.npz", x_train=np.zeros((3, 28, 28), np.uint8), y_train=np.zeros(3, np.uint8),
        ...          x_test=np.zeros((2, 28, 28), np.uint8), y_test=np.zeros(2, np.uint8))
        >>> find_npz("mnist", folder) == folder / "mnist.npz"
        True
        >>> find_npz("mnist", folder / "mnist.npz") == folder / "mnist.npz"  # the file itself works too
        True
    """
    candidates: list[Path] = []
    for base in (data_dir, os.environ.get(DATA_DIR_ENV)):
        if not base:
            continue
        base = Path(base).expanduser()
        if base.suffix == ".npz":
            candidates.append(base)
        else:
            candidates += [base / f"{name}.npz", base / name / f"{name}.npz"]
    candidates.append(Path("~/.keras/datasets").expanduser() / f"{name}.npz")
    return next((c for c in candidates if c.is_file()), None)


def read_keras_npz(path: str | os.PathLike) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Reads a Keras-format ``.npz`` (``x_train``, ``y_train``, ``x_test``, ``y_test``).

    Args:
        path: The ``.npz`` file.

    Returns:
        ``(x_train, y_train), (x_test, y_test)`` as stored (usually uint8).

    Raises:
        DatasetNotAvailableError: if the file is missing, truncated or lacks a key.

    Example:
        >>> folder = tmp_dir
        >>> np.savez(folder / "mnist.npz", x_train=np.zeros((3, 28, 28), np.uint8), y_train=np.zeros(3, np.uint8),
        ...          x_test=np.zeros((2, 28, 28), np.uint8), y_test=np.zeros(2, np.uint8))
        >>> (x, y), (x_test, y_test) = read_keras_npz(folder / "mnist.npz")
        >>> x.shape, x.dtype, x_test.shape
        ((3, 28, 28), dtype('uint8'), (2, 28, 28))
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetNotAvailableError(f"No such dataset file: {path}")
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in _NPZ_KEYS if k not in f.files]
            if missing:
                raise DatasetNotAvailableError(
                    f"{path} is not a Keras-format dataset: missing key(s) {missing}; "
                    f"expected {list(_NPZ_KEYS)}."
                )
            arrays = [np.asarray(f[k]) for k in _NPZ_KEYS]
    except DatasetNotAvailableError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
        raise DatasetNotAvailableError(
            f"Could not read {path}: the file is truncated or not a valid .npz ({exc}). "
            "Download it again."
        ) from exc
    for key, array in zip(_NPZ_KEYS, arrays):
        if array.ndim == 0 or not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
            raise DatasetNotAvailableError(
                f"{path} is not a Keras-format dataset: {key} is a {array.dtype} array of shape {array.shape}; "
                "expected numeric arrays with one example per row."
            )
    x_train, y_train, x_test, y_test = arrays
    if len(x_train) != len(y_train) or len(x_test) != len(y_test):
        raise DatasetNotAvailableError(
            f"{path}: x and y lengths differ (train {len(x_train)} vs {len(y_train)}, "
            f"test {len(x_test)} vs {len(y_test)})."
        )
    return (x_train, y_train), (x_test, y_test)


def check_keras_npz(path: str | os.PathLike, example_shape: tuple[int, ...] | None = None,
                    max_entries: int = 64) -> str | None:
    """Checks cheaply that ``path`` opens as a Keras-format ``.npz``, without loading it.

    Reads only the zip directory and the small ``.npy`` header of each array (a few
    hundred bytes each), so checking a large or hostile file costs little. It cannot catch
    corruption inside the array data (that shows when :func:`read_keras_npz` loads it).

    Args:
        path: The ``.npz`` file.
        example_shape: Expected per-example shape, e.g. ``(28, 28, 1)`` (a trailing 1 may
            be missing, as in Keras' MNIST); ``None`` skips the check.
        max_entries: Most zip entries accepted (a real file has four).

    Returns:
        ``None`` if the file looks usable, else a short reason.

    Example:
        >>> folder = tmp_dir
        >>> np.savez(folder / "mnist.npz", x_train=np.zeros((3, 28, 28), np.uint8), y_train=np.zeros(3, np.uint8),
        ...          x_test=np.zeros((2, 28, 28), np.uint8), y_test=np.zeros(2, np.uint8))
        >>> check_keras_npz(folder / "mnist.npz", (28, 28, 1)) is None  # usable
        True
        >>> check_keras_npz(folder / "mnist.npz", (32, 32, 3))
        'x_train examples have shape (28, 28), expected (32, 32, 3)'
    """
    from numpy.lib import format as npy

    headers = {}
    try:
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
            if len(entries) > max_entries:
                return f"{len(entries)} entries, not a Keras-format dataset"
            sizes = {e.filename: e.file_size for e in entries}
            missing = [k for k in _NPZ_KEYS if f"{k}.npy" not in sizes]
            if missing:
                return f"missing key(s) {missing}; expected {list(_NPZ_KEYS)}"
            for key in _NPZ_KEYS:
                with archive.open(f"{key}.npy") as member:
                    version = npy.read_magic(member)
                    read = npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0
                    shape, _, dtype = read(member)
                    if dtype.hasobject or not (np.issubdtype(dtype, np.number) or dtype == np.bool_):
                        return f"{key} holds {dtype} values, not numbers"
                    # The stored member must be big enough for the array its header announces.
                    if sizes[f"{key}.npy"] < int(np.prod(shape, dtype=np.int64)) * dtype.itemsize:
                        return f"{key} is truncated"
                    headers[key] = shape
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError, KeyError) as exc:
        return f"not a readable .npz: {str(exc)[:80] or type(exc).__name__}"
    if any(len(shape) == 0 for shape in headers.values()):
        return "an array has no example axis"
    if headers["x_train"][0] != headers["y_train"][0] or headers["x_test"][0] != headers["y_test"][0]:
        return "x and y lengths differ"
    if example_shape is not None:
        allowed = {tuple(example_shape)} | ({tuple(example_shape[:-1])} if example_shape[-1] == 1 else set())
        for key in ("x_train", "x_test"):
            if tuple(headers[key][1:]) not in allowed:
                return f"{key} examples have shape {tuple(headers[key][1:])}, expected {tuple(example_shape)}"
    return None


def _download(name: str):
    """The real download, for users with internet (Keras datasets)."""
    import keras

    loader = getattr(keras.datasets, IMAGE_DATASETS[name][1])
    try:
        return loader.load_data()
    except Exception as exc:  # network errors come in many types
        raise DatasetNotAvailableError(
            f"Could not download {name!r} ({type(exc).__name__}: {exc}). Offline, put a "
            f"Keras-format {name}.npz (keys {', '.join(_NPZ_KEYS)}) in a folder and pass "
            f"data_dir=<folder> (command line: --data-dir) or set {DATA_DIR_ENV}=<folder>. "
            "scikit-learn's 'digits' dataset works offline."
        ) from exc


def _digits(test_fraction: float = 0.2, seed: int = 0):
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = (bunch.images / 16.0).astype(np.float32)
    y = bunch.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(x))
    n_test = int(round(len(x) * test_fraction))
    test, train = np.sort(order[:n_test]), np.sort(order[n_test:])
    return (x[train], y[train]), (x[test], y[test])


def _to_float(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    x = np.asarray(x)
    if np.issubdtype(x.dtype, np.integer):
        x = x.astype(np.float32) / 255.0
    else:
        x = x.astype(np.float32)
    if x.ndim == len(shape):  # (n, h, w) grey images -> (n, h, w, 1)
        x = x[..., None]
    if x.shape[1:] != shape:
        raise InputValidationError(f"Images have shape {x.shape[1:]}, expected {shape}.")
    return x


def load_image_dataset(
    name: str,
    data_dir: str | os.PathLike | None = None,
    flatten: bool = False,
    download: bool = True,
) -> Dataset:
    """Loads an image dataset as float32 in [0, 1] with int64 labels.

    Args:
        name: ``"mnist"``, ``"fashion_mnist"``, ``"cifar10"`` or ``"digits"``.
        data_dir: Folder holding ``<name>.npz`` (or the file). Overrides the download.
        flatten: Return ``(n, h*w*c)`` vectors instead of ``(n, h, w, c)`` images.
        download: Whether to try downloading when no local file is found.

    Returns:
        ``Dataset((x_train, y_train), (x_test, y_test))``.

    Example:
        >>> (x_train, y_train), (x_test, y_test) = load_image_dataset("digits")
        >>> x_train.shape[1:]
        (8, 8, 1)
    """
    shape = IMAGE_DATASETS[name][0]
    if name == "digits":
        (xtr, ytr), (xte, yte) = _digits()
    else:
        path = find_npz(name, data_dir)
        if path is None and (data_dir is not None or os.environ.get(DATA_DIR_ENV)):
            where = data_dir if data_dir is not None else os.environ.get(DATA_DIR_ENV)
            raise DatasetNotAvailableError(
                f"Dataset {name!r} not found: expected {Path(where) / (name + '.npz')} "
                f"(Keras format, keys {', '.join(_NPZ_KEYS)})."
            )
        if path is not None:
            (xtr, ytr), (xte, yte) = read_keras_npz(path)
        elif download:
            (xtr, ytr), (xte, yte) = _download(name)
        else:
            raise DatasetNotAvailableError(
                f"Dataset {name!r} is not available offline: put {name}.npz in a folder and "
                f"pass data_dir=<folder> or set {DATA_DIR_ENV}."
            )
    xtr, xte = _to_float(xtr, shape), _to_float(xte, shape)
    ytr = np.asarray(ytr).reshape(-1).astype(np.int64)
    yte = np.asarray(yte).reshape(-1).astype(np.int64)
    if flatten:
        xtr, xte = xtr.reshape(len(xtr), -1), xte.reshape(len(xte), -1)
    return Dataset(Split(xtr, ytr), Split(xte, yte))


def binarize(x: np.ndarray, seed: int | None = 0) -> np.ndarray:
    """Stochastically binarizes [0, 1] intensities: pixel ~ Bernoulli(intensity).

    With a fixed seed this is the fixed evaluation binarization of the IWAE protocol.

    Args:
        x: Float array in [0, 1].
        seed: Seed of the random draw.

    Returns:
        A float32 array of 0s and 1s with the shape of ``x``.

    Example:
        >>> binarize(np.full((1, 4), 0.5), seed=0).tolist()
        [[0.0, 0.0, 0.0, 1.0]]
        >>> binarize(np.array([[0.0, 1.0]]), seed=0).tolist()  # 0 and 1 stay
        [[0.0, 1.0]]
    """
    from keras_ae.validation import check_array

    x = check_array(x, "x", value_range=(0.0, 1.0))
    rng = np.random.default_rng(seed)
    return (rng.random(x.shape, dtype=np.float32) < x).astype(np.float32)
