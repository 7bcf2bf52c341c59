"""Image datasets: MNIST, Fashion-MNIST, CIFAR-10, scikit-learn's digits and the embedded mnist10k.

Users with internet get the real download (Keras datasets). Offline, point
``data_dir`` (or the ``KERAS_AE_DATA_DIR`` environment variable) at a folder holding a
Keras-format ``<name>.npz`` (keys ``x_train``, ``y_train``, ``x_test``, ``y_test``),
or at the ``.npz`` file itself. ``digits`` ships with scikit-learn and always works;
``mnist10k`` (the MNIST test set split 8,000 / 2,000, CC BY-SA 3.0, see
``mnist10k_LICENSE.txt``) ships inside this package as a Keras-format ``.npz`` and is read
by the same code as a user's ``mnist.npz``.

``as_dataset=True`` streams a ``.npz`` chunk by chunk (:func:`stream_keras_npz`) instead
of loading it, so memory holds about one chunk (8 MB), not the dataset.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, NamedTuple

import numpy as np

from keras_ae.errors import DatasetNotAvailableError, InputValidationError

if TYPE_CHECKING:
    import tensorflow as tf

DATA_DIR_ENV = "KERAS_AE_DATA_DIR"
_NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
# Array mode holds the stored arrays and their float32 copy at once: refused above this
# share of the machine's memory, with the advice to stream instead.
_MEMORY_SHARE = 0.8


class Split(NamedTuple):
    """Examples ``x`` (float32) and labels ``y`` of one split (``None`` for unlabelled data).

    Example:
        >>> split = Split(np.zeros((3, 2), "float32"), np.arange(3))
        >>> split.x.shape, split.y.tolist()
        ((3, 2), [0, 1, 2])
        >>> x, y = split  # unpacks like a Keras (x, y) pair
    """

    x: np.ndarray
    y: np.ndarray | None


class Dataset(NamedTuple):
    """A train/test pair that unpacks like Keras: ``(x_train, y_train), (x_test, y_test)``.

    Example:
        >>> data = Dataset(Split(np.zeros((4, 2), "float32"), None), Split(np.ones((1, 2), "float32"), None))
        >>> (x_train, y_train), (x_test, y_test) = data
        >>> x_train.shape, data.test.x.shape, y_train is None
        ((4, 2), (1, 2), True)
    """

    train: Split
    test: Split


# name -> (per-example shape, Keras loader attribute)
IMAGE_DATASETS: dict[str, tuple[tuple[int, ...], str | None]] = {
    "mnist": ((28, 28, 1), "mnist"),
    "mnist10k": ((28, 28, 1), None),
    "fashion_mnist": ((28, 28, 1), "fashion_mnist"),
    "cifar10": ((32, 32, 3), "cifar10"),
    "digits": ((8, 8, 1), None),
}
# Datasets that ship inside the package as Keras-format .npz files (package data, next to this module).
EMBEDDED_DATASETS: dict[str, str] = {"mnist10k": "mnist10k.npz"}


def embedded_npz(name: str) -> Path:
    """The ``.npz`` file of a dataset that ships inside keras_ae (see :data:`EMBEDDED_DATASETS`).

    Args:
        name: An embedded dataset's name, e.g. ``"mnist10k"``.

    Returns:
        The path of its Keras-format ``.npz`` inside the installed package.

    Raises:
        DatasetNotAvailableError: the file is missing from this installation (a broken install).

    Example:
        >>> embedded_npz("mnist10k").name
        'mnist10k.npz'
    """
    path = Path(__file__).resolve().with_name(EMBEDDED_DATASETS[name])
    if not path.is_file():
        raise DatasetNotAvailableError(
            f"Dataset {name!r} ships with keras_ae, but {path} is missing from this installation: reinstall "
            "keras_ae (the file is package data, see [tool.setuptools.package-data] in pyproject.toml).")
    return path


def check_data_dir(data_dir: Any) -> str | os.PathLike | None:
    """Returns ``data_dir`` if it is ``None`` or a path (``str`` / ``os.PathLike``), else refuses it.

    Args:
        data_dir: The ``data_dir`` argument to check (any value).

    Returns:
        ``data_dir`` itself, unchanged (not expanded or checked for existence).

    Raises:
        InputValidationError: ``data_dir`` is neither ``None``, a ``str`` nor an ``os.PathLike``.

    Example:
        >>> check_data_dir("~/data")
        '~/data'
    """
    if data_dir is None or isinstance(data_dir, (str, os.PathLike)):
        return data_dir
    from keras_ae.validation import short_repr

    raise InputValidationError(
        f"data_dir must be a folder or file path (str or pathlib.Path), got {short_repr(data_dir)} "
        f"({type(data_dir).__name__}).")


def check_pixels(x: np.ndarray, what: str, scale: float = 255.0) -> None:
    """Refuses pixels that do not map to [0, 1] by the loaders' rule, naming ``what`` (file and key).

    The rule: integer pixels (any integer dtype) must lie in ``[0, scale]`` and are divided
    by ``scale`` (255, or 1 for already-binary data); booleans are 0 / 1; float pixels must
    already lie in [0, 1] (a float array of 0-255 values is refused, not guessed at);
    NaN, infinities and complex values are refused.

    Args:
        x: Stored images (any shape).
        what: What the message names, e.g. ``"mnist.npz (x_train)"``.
        scale: Largest integer pixel value.

    Raises:
        DatasetNotAvailableError: naming ``what``, the dtype and the range or NaN count.

    Example:
        >>> check_pixels(np.array([0, 255], np.uint8), "a.npz (x_train)")
        >>> check_pixels(np.array([0.0, 255.0]), "a.npz (x_train)")
        Traceback (most recent call last):
        ...
        keras_ae.errors.DatasetNotAvailableError: a.npz (x_train) holds float64 pixels in [0, 255]; float pixels must
        lie in [0, 1] (0-255 values: divide them by 255 and save again).
    """
    x = np.asarray(x)
    if np.issubdtype(x.dtype, np.complexfloating) or not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_):
        raise DatasetNotAvailableError(f"{what} holds {x.dtype} values; images must be real numbers "
                                       "(uint8 0-255, or float in [0, 1]).")
    if x.size == 0 or x.dtype == np.bool_:
        return
    if np.issubdtype(x.dtype, np.integer):
        lo, hi = int(x.min()), int(x.max())
        if lo < 0 or hi > scale:
            raise DatasetNotAvailableError(
                f"{what} holds {x.dtype} pixels in [{lo}, {hi}]; integer pixels must lie in [0, {scale:g}] "
                f"(they are divided by {scale:g}). Rescale the data to 8 bits and save it again.")
        return
    finite = np.isfinite(x)
    if not finite.all():
        raise DatasetNotAvailableError(
            f"{what} holds {int(np.isnan(x).sum())} NaN and {int(np.isinf(x).sum())} infinite pixel values "
            f"(of {x.size}); clean the data and save it again.")
    lo, hi = float(x.min()), float(x.max())
    if lo < 0 or hi > 1:
        hint = " (0-255 values: divide them by 255 and save again)" if lo >= 0 and hi <= 255 else ""
        raise DatasetNotAvailableError(
            f"{what} holds {x.dtype} pixels in [{lo:g}, {hi:g}]; float pixels must lie in [0, 1]{hint}.")


def check_labels(y: np.ndarray, what: str) -> np.ndarray:
    """Returns class labels as int64, refusing negative, fractional, NaN or non-numeric ones.

    Args:
        y: Stored labels, one per example.
        what: What the message names, e.g. ``"mnist.npz (y_train)"``.

    Returns:
        The labels as an int64 vector.

    Raises:
        DatasetNotAvailableError: naming ``what`` and the offending values.

    Example:
        >>> check_labels(np.array([3, 1], np.uint8), "a.npz (y_train)").tolist()
        [3, 1]
    """
    y = np.asarray(y).reshape(-1)
    if np.issubdtype(y.dtype, np.complexfloating) or not (np.issubdtype(y.dtype, np.number) or y.dtype == np.bool_):
        raise DatasetNotAvailableError(f"{what} holds {y.dtype} labels; expected integer class ids >= 0.")
    if y.size and np.issubdtype(y.dtype, np.floating):
        bad = ~np.isfinite(y) | (y != np.round(y))
        if bad.any():
            raise DatasetNotAvailableError(
                f"{what} holds {int(bad.sum())} labels that are not whole numbers (first {float(y[bad][0]):g}); "
                "expected integer class ids >= 0.")
    if y.size and y.min() < 0:
        raise DatasetNotAvailableError(
            f"{what} holds {int((y < 0).sum())} negative labels (smallest {y.min()}); expected class ids >= 0.")
    return y.astype(np.int64)


def find_npz(name: str, data_dir: str | os.PathLike | None = None) -> Path | None:
    """Returns the offline ``.npz`` for ``name`` if one exists, else ``None``.

    Looks in ``data_dir`` (a folder or the file itself), then ``$KERAS_AE_DATA_DIR``,
    then Keras' download cache ``~/.keras/datasets/<name>.npz``.

    Args:
        name: The dataset's name, e.g. ``"mnist"`` (the file looked for is ``<name>.npz``).
        data_dir: A folder holding ``<name>.npz`` (or ``<name>/<name>.npz``), or the ``.npz``
            file itself; ``None``: only the environment variable and Keras' cache are searched.

    Returns:
        The path of the first existing candidate file (``~`` expanded), or ``None`` when
        there is none. The file's contents are not checked (see :func:`check_keras_npz`).

    Raises:
        InputValidationError: ``data_dir`` is neither ``None`` nor a path.

    Example:
        >>> folder = tmp_dir
        >>> np.savez(folder / "mnist.npz", x_train=np.zeros((3, 28, 28), np.uint8), y_train=np.zeros(3, np.uint8),
        ...          x_test=np.zeros((2, 28, 28), np.uint8), y_test=np.zeros(2, np.uint8))
        >>> find_npz("mnist", folder) == folder / "mnist.npz"
        True
        >>> find_npz("mnist", folder / "mnist.npz") == folder / "mnist.npz"  # the file itself works too
        True
    """
    check_data_dir(data_dir)
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


def read_keras_npz(path: str | os.PathLike, example_shape: tuple[int, ...] | None = None
                   ) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Reads a Keras-format ``.npz`` (``x_train``, ``y_train``, ``x_test``, ``y_test``).

    The array headers are checked first (:func:`check_keras_npz`: sizes against the stored
    bytes, dtypes, shapes), and arrays that with their float32 copy would not fit in
    memory are refused, so a lying header costs nothing.

    Args:
        path: The ``.npz`` file.
        example_shape: Expected per-example shape (``None``: not checked).

    Returns:
        ``(x_train, y_train), (x_test, y_test)`` as stored (usually uint8).

    Raises:
        DatasetNotAvailableError: if the file is missing, truncated, lacks a key, or is too
            large to load (stream it with ``as_dataset=True``).

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
    problem = check_keras_npz(path, example_shape)
    if problem:
        raise DatasetNotAvailableError(
            f"Could not read {path}: {problem}. The file is truncated or not a Keras-format .npz "
            f"(keys {', '.join(_NPZ_KEYS)}): download it again.")
    _check_fits_in_memory(path)
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
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, MemoryError) as exc:
        raise DatasetNotAvailableError(
            f"Could not read {path}: the file is truncated or not a valid .npz ({str(exc)[:200]}). "
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


def _memory_bytes() -> int | None:
    """The machine's physical memory in bytes (``None`` where the OS does not say)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _check_fits_in_memory(path: Path) -> None:
    """Refuses an ``.npz`` whose arrays and float32 images would not fit in memory (from the headers)."""
    need = 0
    with zipfile.ZipFile(path) as archive:
        for key in _NPZ_KEYS:
            with archive.open(f"{key}.npy") as member:
                shape, dtype, _ = _open_npy(member)
            count = int(np.prod(shape, dtype=object))
            need += count * dtype.itemsize + (count * 4 if key.startswith("x") else count * 8)
    memory = _memory_bytes()
    if memory and need > _MEMORY_SHARE * memory:
        raise DatasetNotAvailableError(
            f"Loading {path} as arrays would take about {need / 1e9:,.1f} GB (its arrays and their float32 / "
            f"int64 copies), more than this machine's {memory / 1e9:,.1f} GB of memory allows: stream it with "
            "as_dataset=True (command line: --stream).")


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
                    if np.issubdtype(dtype, np.complexfloating):
                        return f"{key} holds {dtype} values, not real numbers"
                    # The stored member must be big enough for the array its header announces.
                    if sizes[f"{key}.npy"] < int(np.prod(shape, dtype=object)) * dtype.itemsize:
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


# -- tf.data streaming -------------------------------------------------------------------
STREAM_CHUNK_BYTES = 8 << 20  # what one read of an .npz member holds in memory


def scale_images(ds: tf.data.Dataset, shape: tuple[int, ...], scale: float = 255.0,
                 flatten: bool = False) -> tf.data.Dataset:
    """Maps a dataset of raw ``(image, label)`` pairs to float32 images in [0, 1].

    Integer pixels are divided by ``scale`` (as :func:`load_image_dataset` does to arrays,
    bit for bit), float pixels are only cast; a missing channel axis is added.

    Args:
        ds: ``tf.data.Dataset`` of unbatched ``(image, label)``.
        shape: The per-example ``(h, w, c)`` shape.
        scale: Divisor of integer pixels (255, or 1 for already-binary data).
        flatten: Flatten each image to a vector.

    Returns:
        The mapped ``tf.data.Dataset`` of ``(float32 image, int64 label)``.

    Example:
        >>> raw = tf.data.Dataset.from_tensor_slices((np.full((2, 2, 2), 255, np.uint8), np.arange(2)))
        >>> image, label = next(iter(scale_images(raw, (2, 2, 1))))
        >>> image.shape, image.dtype.name, float(image.numpy().max()), int(label)
        (TensorShape([2, 2, 1]), 'float32', 1.0, 0)
    """
    import tensorflow as tf

    def convert(image, label):
        if image.dtype.is_integer:
            image = tf.cast(image, tf.float32) / tf.constant(scale, tf.float32)
        else:
            image = tf.cast(image, tf.float32)
        if image.shape.rank == len(shape) - 1:  # (h, w) grey images -> (h, w, 1)
            image = image[..., None]
        if flatten:
            image = tf.reshape(image, [-1])
        return image, tf.cast(label, tf.int64)

    return ds.map(convert, num_parallel_calls=tf.data.AUTOTUNE)


def _read_exact(member, n: int, what: str) -> bytes:
    """Reads exactly ``n`` bytes (a zip member may return fewer per call)."""
    parts, got = [], 0
    while got < n:
        part = member.read(n - got)
        if not part:
            raise DatasetNotAvailableError(f"{what} is truncated: the file ended inside the array data.")
        parts.append(part)
        got += len(part)
    return b"".join(parts)


def _open_npy(member):
    """Reads an ``.npy`` header; returns ``(shape, native dtype, fortran_order)``."""
    from numpy.lib import format as npy

    version = npy.read_magic(member)
    read = npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0
    shape, fortran, dtype = read(member)
    return shape, dtype, fortran


def iter_npz_chunks(path: str | os.PathLike, x_key: str, y_key: str,
                    chunk_bytes: int = STREAM_CHUNK_BYTES) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yields ``(x, y)`` chunks of rows of two arrays of a ``.npz`` without loading either.

    An ``.npz`` is a zip, so ``np.load(mmap_mode=...)`` cannot map it; instead both members
    are read sequentially with their ``.npy`` headers (stored or deflated members alike).
    Memory: one chunk of ``x`` (about ``chunk_bytes``) and its labels. A Fortran-ordered
    array cannot be cut into rows and is read whole (``np.savez`` of C arrays never makes one).

    Args:
        path: The ``.npz`` file.
        x_key: Member holding the examples, e.g. ``"x_train"``.
        y_key: Member holding the labels (one per example).
        chunk_bytes: Bytes of ``x`` per chunk.

    Yields:
        ``(x_chunk, y_chunk)``: ``x`` in its stored dtype (native byte order), ``y`` int64 of shape ``(k,)``.

    Raises:
        DatasetNotAvailableError: truncated data, or labels that are not class ids (:func:`check_labels`).

    Example:
        >>> np.savez(tmp_dir / "a.npz", x=np.arange(12, dtype=np.uint8).reshape(6, 2), y=np.arange(6))
        >>> [x.shape for x, y in iter_npz_chunks(tmp_dir / "a.npz", "x", "y", chunk_bytes=8)]
        [(4, 2), (2, 2)]
    """
    what = f"{path} ({x_key})"
    with zipfile.ZipFile(path) as archive, archive.open(f"{x_key}.npy") as fx, archive.open(f"{y_key}.npy") as fy:
        x_shape, x_dtype, x_fortran = _open_npy(fx)
        y_shape, y_dtype, _ = _open_npy(fy)
        n = x_shape[0]
        if y_shape[:1] != (n,) or int(np.prod(y_shape[1:], dtype=np.int64)) != 1:
            raise DatasetNotAvailableError(f"{path}: {y_key} must hold one label per example, has shape {y_shape}.")
        whole = None
        if x_fortran:  # no row-contiguous layout to cut: this one array is held in memory
            with np.load(path, allow_pickle=False) as f:
                whole = f[x_key]
        row = int(np.prod(x_shape[1:], dtype=np.int64)) * x_dtype.itemsize
        step = max(1, chunk_bytes // max(row, 1))
        for start in range(0, n, step):
            k = min(step, n - start)
            if whole is not None:
                x = np.ascontiguousarray(whole[start:start + k])
            else:
                x = np.frombuffer(_read_exact(fx, k * row, what), x_dtype).reshape((k, *x_shape[1:]))
            # y has one value per row, so its C and Fortran layouts are the same bytes.
            y = np.frombuffer(_read_exact(fy, k * y_dtype.itemsize, f"{path} ({y_key})"), y_dtype)
            yield x.astype(x_dtype.newbyteorder("="), copy=False), check_labels(y, f"{path} ({y_key})")


def stream_keras_npz(path: str | os.PathLike, shape: tuple[int, ...], flatten: bool = False,
                     chunk_bytes: int = STREAM_CHUNK_BYTES) -> tuple[tf.data.Dataset, tf.data.Dataset]:
    """Streams a Keras-format ``.npz`` as ``(train_ds, test_ds)`` without loading it.

    Each pass re-reads the file chunk by chunk (:func:`iter_npz_chunks`), so peak memory
    is about one chunk plus the consumer's own buffers (shuffle, prefetch), whatever the
    file size.

    Args:
        path: The ``.npz`` file (checked with :func:`check_keras_npz` first).
        shape: Per-example shape, e.g. ``(28, 28, 1)``.
        flatten: Flatten each image to a vector.
        chunk_bytes: Bytes of images read per step.

    Returns:
        ``(train_ds, test_ds)``, two ``tf.data.Dataset`` s of unbatched ``(image, label)``
        elements: float32 images in [0, 1] of shape ``shape`` (vectors with ``flatten``), int64
        scalar labels.

    Raises:
        DatasetNotAvailableError: the file is not a usable Keras-format ``.npz``.

    Example:
        >>> np.savez(tmp_dir / "mnist.npz", x_train=np.zeros((3, 28, 28), np.uint8), y_train=np.arange(3),
        ...          x_test=np.zeros((2, 28, 28), np.uint8), y_test=np.arange(2))
        >>> train_ds, test_ds = stream_keras_npz(tmp_dir / "mnist.npz", (28, 28, 1))
        >>> train_ds.element_spec[0].shape, len(list(test_ds))
        (TensorShape([28, 28, 1]), 2)
    """
    import tensorflow as tf

    problem = check_keras_npz(path, shape)
    if problem:
        raise DatasetNotAvailableError(f"Could not read {path}: {problem}.")
    headers = {}
    with zipfile.ZipFile(path) as archive:
        for key in ("x_train", "x_test"):
            with archive.open(f"{key}.npy") as member:
                headers[key] = _open_npy(member)

    def split(x_key: str, y_key: str):
        x_shape, x_dtype, _ = headers[x_key]
        spec = (tf.TensorSpec((None, *x_shape[1:]), tf.as_dtype(x_dtype.newbyteorder("="))),
                tf.TensorSpec((None,), tf.int64))
        failures: list[Exception] = []

        def checked_chunks():
            # The array-mode rule, chunk by chunk; the error is kept so that load time can re-raise it
            # (through tf.data it arrives as TensorFlow's error quoting the message).
            try:
                for x, y in iter_npz_chunks(path, x_key, y_key, chunk_bytes):
                    check_pixels(x, f"{path} ({x_key})")
                    yield x, y
            except DatasetNotAvailableError as exc:
                failures.append(exc)
                raise

        chunks = tf.data.Dataset.from_generator(checked_chunks, output_signature=spec)
        ds = scale_images(chunks.unbatch().apply(tf.data.experimental.assert_cardinality(x_shape[0])), shape,
                          flatten=flatten)
        try:  # read the first chunk now: a bad file fails here, as the keras_ae error
            for _ in ds.take(1):
                pass
        except tf.errors.OpError:
            if failures:
                raise failures[-1] from None
            raise
        return ds

    return split("x_train", "y_train"), split("x_test", "y_test")


def _arrays_as_datasets(train: tuple, test: tuple, shape: tuple[int, ...], flatten: bool):
    """In-memory arrays (digits, a fresh download) as ``(train_ds, test_ds)``."""
    import tensorflow as tf

    return tuple(
        scale_images(tf.data.Dataset.from_tensor_slices((np.asarray(x), np.asarray(y).reshape(-1).astype(np.int64))),
                     shape, flatten=flatten)
        for x, y in (train, test))


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


def _to_float(x: np.ndarray, shape: tuple[int, ...], scale: float = 255.0) -> np.ndarray:
    """Integer pixels / ``scale`` (float arrays kept) as float32, with the channel axis."""
    x = np.asarray(x)
    if np.issubdtype(x.dtype, np.integer):
        x = x.astype(np.float32) / np.float32(scale)
    else:
        x = x.astype(np.float32)
    if x.ndim == len(shape):  # (n, h, w) grey images -> (n, h, w, 1)
        x = x[..., None]
    if x.shape[1:] != shape:
        raise InputValidationError(f"Images have shape {x.shape[1:]}, expected {shape}.")
    return x


def _locate_or_download(name: str, data_dir, download: bool) -> tuple[Path | None, tuple | None]:
    """``(npz path, None)`` when a local (or embedded) file exists, else ``(None, arrays)`` from Keras' download."""
    if name in EMBEDDED_DATASETS:
        if data_dir is not None:
            raise InputValidationError(
                f"Dataset {name!r} ships inside keras_ae and reads no data_dir (got {os.fspath(data_dir)!r}); "
                f"drop data_dir, or load your own copy with load_dataset('mnist', data_dir=...).")
        return embedded_npz(name), None
    path = find_npz(name, data_dir)
    if path is None and (data_dir is not None or os.environ.get(DATA_DIR_ENV)):
        where = data_dir if data_dir is not None else os.environ.get(DATA_DIR_ENV)
        raise DatasetNotAvailableError(
            f"Dataset {name!r} not found: expected {Path(where) / (name + '.npz')} "
            f"(Keras format, keys {', '.join(_NPZ_KEYS)})."
        )
    if path is not None:
        return path, None
    if download:
        return None, _download(name)
    raise DatasetNotAvailableError(
        f"Dataset {name!r} is not available offline: put {name}.npz in a folder and "
        f"pass data_dir=<folder> or set {DATA_DIR_ENV}."
    )


def load_image_dataset(
    name: str,
    data_dir: str | os.PathLike | None = None,
    flatten: bool = False,
    download: bool = True,
    as_dataset: bool = False,
) -> Dataset | tuple[tf.data.Dataset, tf.data.Dataset]:
    """Loads an image dataset as float32 in [0, 1] with int64 labels.

    Args:
        name: ``"mnist"``, ``"mnist10k"``, ``"fashion_mnist"``, ``"cifar10"`` or ``"digits"``.
        data_dir: Folder holding ``<name>.npz`` (or the file). Overrides the download. Refused
            for ``"mnist10k"``, which ships inside the package (``$KERAS_AE_DATA_DIR`` is ignored).
        flatten: Return ``(n, h*w*c)`` vectors instead of ``(n, h, w, c)`` images.
        download: Whether to try downloading when no local file is found (unused by the
            embedded ``"mnist10k"`` and ``"digits"``).
        as_dataset: Return ``tf.data`` datasets streamed from the ``.npz`` instead of arrays
            (a fresh download or ``digits`` is sliced from memory).

    Returns:
        ``Dataset((x_train, y_train), (x_test, y_test))``, or with ``as_dataset=True``
        ``(train_ds, test_ds)`` of unbatched ``(float32 image, int64 label)`` elements.

    Raises:
        InputValidationError: ``data_dir`` given for ``"mnist10k"``.
        DatasetNotAvailableError: no usable file (and no download).

    Example:
        >>> (x_train, y_train), (x_test, y_test) = load_image_dataset("digits")
        >>> x_train.shape[1:]
        (8, 8, 1)
    """
    shape = IMAGE_DATASETS[name][0]
    if name == "digits":
        train, test = _digits()
        return _arrays_as_datasets(train, test, shape, flatten) if as_dataset else _as_split_pair(
            train, test, shape, flatten)
    path, arrays = _locate_or_download(name, data_dir, download)
    if as_dataset:
        return stream_keras_npz(path, shape, flatten) if path is not None else _arrays_as_datasets(
            *arrays, shape, flatten)
    train, test = read_keras_npz(path, shape) if path is not None else arrays
    return _as_split_pair(train, test, shape, flatten, str(path) if path is not None else f"the {name} download")


def _as_split_pair(train: tuple, test: tuple, shape: tuple[int, ...], flatten: bool, source: str = "data") -> Dataset:
    """Raw ``(x, y)`` pairs -> float32 images in [0, 1] and int64 labels (checked by :func:`check_pixels`)."""
    (xtr, ytr), (xte, yte) = train, test
    for key, x in (("x_train", xtr), ("x_test", xte)):
        check_pixels(x, f"{source} ({key})")
    ytr, yte = check_labels(ytr, f"{source} (y_train)"), check_labels(yte, f"{source} (y_test)")
    xtr, xte = _to_float(xtr, shape), _to_float(xte, shape)
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
