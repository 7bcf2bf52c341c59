"""Folders of image files as datasets: ``load_dataset("dir:PATH")``.

Built on ``keras.utils.image_dataset_from_directory``. Layouts:

* ``PATH/<class>/...`` : one sub-folder per class, labels are the sorted folder names' indices;
* ``PATH/*.png`` : image files only, no labels (``y`` is ``None``; ``-1`` when streamed);
* ``PATH/train/...`` and ``PATH/test/...`` (or class folders next to ``PATH/test``): ``test``
  is the test split; otherwise ``validation_split`` of the files (shuffled with ``seed``) is.

Every file is checked before Keras reads it, so a bad folder fails with one line naming the
file: a missing or empty folder, a file that is not a PNG, JPEG, GIF or BMP image, a
truncated or corrupt image, an unreadable file, an image smaller than ``image_size``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keras_ae.errors import DatasetNotAvailableError, InputValidationError
from keras_ae.validation import MAX_RESULT_BYTES, check_float

if TYPE_CHECKING:
    import tensorflow as tf

    from keras_ae.data.images import Dataset

DIR_PREFIX = "dir:"
# The extensions image_dataset_from_directory reads (it skips other files silently; keras_ae refuses them).
IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
# The formats tf.io.decode_image decodes, as PIL names them.
_DECODABLE = frozenset({"PNG", "JPEG", "GIF", "BMP"})
# PIL modes read as one channel (the default color mode is "grayscale" when every image has one of them).
_GREY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"})
COLOR_MODES = ("grayscale", "rgb")
# Bytes of image files decoded in full up front when streaming (the header of every file is
# always checked; loading as arrays decodes every file up front).
STREAM_CHECK_BYTES = 256 << 20
TEST_FOLDER, TRAIN_FOLDER = "test", "train"
NO_LABEL = -1


def is_dir_name(name: Any) -> bool:
    """Whether ``name`` names an image folder for :func:`keras_ae.load_dataset`.

    Args:
        name: A dataset name (any value; only strings can match).

    Returns:
        ``True`` for a string starting with ``"dir:"``, else ``False``.

    Example:
        >>> is_dir_name("dir:~/photos"), is_dir_name("mnist")
        (True, False)
    """
    return isinstance(name, str) and name.startswith(DIR_PREFIX)


def folder_of(name: str) -> Path:
    """The folder of a ``"dir:PATH"`` name (``~`` expanded).

    Args:
        name: A ``"dir:PATH"`` dataset name, or a bare path.

    Returns:
        The folder path, with ``~`` expanded (not resolved, not checked for existence).

    Raises:
        InputValidationError: an empty or blank path.

    Example:
        >>> folder_of("dir:/data/faces").as_posix()
        '/data/faces'
    """
    bare = name[len(DIR_PREFIX):] if is_dir_name(name) else name
    if not bare.strip():
        raise InputValidationError(f"Empty folder in dataset name {name!r}; write e.g. 'dir:path/to/images'.")
    return Path(bare).expanduser()


@dataclass
class FolderScan:
    """What :func:`scan_image_folder` found: the splits' roots, classes and checked files.

    Example:
        >>> scan = FolderScan(train_root=tmp_dir, test_root=None, class_names=["a", "b"])
        >>> scan.files, scan.image_size, scan.color_mode
        ([], (0, 0), 'rgb')
    """

    train_root: Path
    test_root: Path | None
    class_names: list[str] | None
    files: list[Path] = field(default_factory=list)
    test_files: list[Path] = field(default_factory=list)
    image_size: tuple[int, int] = (0, 0)
    color_mode: str = "rgb"


def _walk(folder: Path) -> list[Path]:
    """Image files below ``folder`` (sorted, recursive, as Keras indexes them); other files are refused."""
    def failed(exc: OSError):
        raise DatasetNotAvailableError(f"Cannot list {exc.filename}: {exc.strerror or exc}.")

    found = []
    for root, dirs, names in os.walk(folder, onerror=failed):
        dirs.sort()
        for name in sorted(names):
            path = Path(root) / name
            if name.lower().endswith(IMAGE_EXTENSIONS):
                found.append(path)
            elif not name.startswith("."):  # hidden files (.DS_Store) are skipped
                raise DatasetNotAvailableError(
                    f"{path} is not an image file (only {', '.join(IMAGE_EXTENSIONS)} are read); "
                    "move it out of the dataset folder.")
    return found


def _class_folders(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _loose_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if not p.is_dir() and not p.name.startswith("."))


def _index(folder: Path, classes: list[str] | None) -> list[Path]:
    if classes is None:
        return _walk(folder)
    return [path for name in classes for path in _walk(folder / name)]


def _check_file(path: Path, decode: bool) -> tuple[tuple[int, int], str]:
    """``((h, w), PIL mode)`` of one image file; reads the header, and all of it with ``decode``."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            fmt, (width, height), mode = image.format, image.size, image.mode
            if fmt not in _DECODABLE:
                raise DatasetNotAvailableError(f"{path} is a {fmt} image; TensorFlow reads PNG, JPEG, GIF and BMP.")
            if decode:
                image.load()
    except PermissionError as exc:
        raise DatasetNotAvailableError(f"{path} cannot be read: permission denied.") from exc
    except Image.UnidentifiedImageError as exc:
        raise DatasetNotAvailableError(f"{path} is not an image (not a PNG, JPEG, GIF or BMP file).") from exc
    except DatasetNotAvailableError:
        raise
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as exc:
        raise DatasetNotAvailableError(f"{path} is a truncated or corrupt image ({str(exc)[:120]}).") from exc
    if width < 1 or height < 1:
        raise DatasetNotAvailableError(f"{path} is an empty image ({width}x{height}).")
    return (height, width), mode


def _layout(root: Path) -> tuple[Path, Path | None, list[str] | None]:
    """``(train_root, test_root or None, class names or None)`` of a dataset folder."""
    if not root.exists():
        raise DatasetNotAvailableError(f"No such image folder: {root}")
    if not root.is_dir():
        raise DatasetNotAvailableError(f"{root} is not a folder; 'dir:' names a folder of images.")
    try:
        folders, loose = _class_folders(root), _loose_files(root)
    except PermissionError as exc:
        raise DatasetNotAvailableError(f"Cannot list {root}: permission denied.") from exc
    if TEST_FOLDER not in folders:
        train_root, test_root = root, None
    elif TRAIN_FOLDER in folders:
        if set(folders) - {TRAIN_FOLDER, TEST_FOLDER} or loose:
            other = sorted(set(folders) - {TRAIN_FOLDER, TEST_FOLDER}) or [loose[0].name]
            raise DatasetNotAvailableError(
                f"{root} holds train/ and test/ and also {other[0]!r}; with train/ and test/ nothing else belongs "
                "at the top.")
        train_root, test_root = root / TRAIN_FOLDER, root / TEST_FOLDER
        folders, loose = _class_folders(train_root), _loose_files(train_root)
    else:
        if loose:
            raise DatasetNotAvailableError(
                f"{root} holds a test/ folder and the file {loose[0].name!r}; put the training images in "
                f"{root / TRAIN_FOLDER} (or in class folders next to test/).")
        train_root, test_root = root, root / TEST_FOLDER
        folders = [name for name in folders if name != TEST_FOLDER]
    if folders and loose:
        raise DatasetNotAvailableError(
            f"{train_root} holds class folders and the file {loose[0]}; put every image in a class folder "
            "(or remove the folders for unlabelled data).")
    return train_root, test_root, folders or None


def scan_image_folder(root: str | os.PathLike, image_size: tuple[int, int] | None = None,
                      color_mode: str | None = None, decode_bytes: int | None = None) -> FolderScan:
    """Lists and checks the image files of a dataset folder (see the module docstring for layouts).

    The header of every file is read (format, size, colors); files are also decoded in full
    until ``decode_bytes`` bytes of files are read (all of them with ``None``), which finds
    truncated and corrupt files before training.

    Args:
        root: The dataset folder.
        image_size: ``(height, width)`` to load the images at; larger images are resized
            (bilinear), a smaller one is refused. Default: the images' size, which must agree.
        color_mode: ``"grayscale"`` or ``"rgb"``. Default: ``"grayscale"`` when every image is
            grey, else ``"rgb"``.
        decode_bytes: Bound on the bytes of files decoded in full (``None``: every file).

    Returns:
        A :class:`FolderScan` (roots, class names or ``None``, files, resolved size and colors).

    Raises:
        DatasetNotAvailableError: a missing, empty or unreadable folder, or a file that is not
            an image, truncated, corrupt or unreadable (naming the file).
        InputValidationError: a bad ``image_size`` or ``color_mode``, an image smaller than
            ``image_size``, or images of different sizes without ``image_size``.

    Example:
        >>> from PIL import Image
        >>> for i in range(4):
        ...     Image.new("L", (6, 5), color=40 * i).save(tmp_dir / f"{i}.png")
        >>> scan = scan_image_folder(tmp_dir)
        >>> len(scan.files), scan.image_size, scan.color_mode, scan.class_names
        (4, (5, 6), 'grayscale', None)
    """
    root = Path(os.fspath(root)).expanduser()
    image_size = _check_size(image_size)
    if color_mode is not None and color_mode not in COLOR_MODES:
        raise InputValidationError(f"color_mode must be one of {COLOR_MODES}, got {color_mode!r}.")
    train_root, test_root, classes = _layout(root)
    files = _index(train_root, classes)
    test_files: list[Path] = []
    if test_root is not None:
        test_classes = _class_folders(test_root) or None
        if test_classes != classes:
            raise DatasetNotAvailableError(
                f"{test_root} has the class folders {test_classes or 'none'}, the training images "
                f"{classes or 'none'}; both splits need the same ones.")
        test_files = _index(test_root, classes)
        if not test_files:
            raise DatasetNotAvailableError(f"{test_root} holds no images ({', '.join(IMAGE_EXTENSIONS)}).")
    if not files:
        raise DatasetNotAvailableError(f"{train_root} holds no images ({', '.join(IMAGE_EXTENSIONS)}).")
    budget = float("inf") if decode_bytes is None else decode_bytes
    sizes: dict[tuple[int, int], Path] = {}
    grey = True
    for path in [*files, *test_files]:
        decode = budget > 0
        if decode:
            try:
                budget -= path.stat().st_size
            except OSError as exc:
                raise DatasetNotAvailableError(f"{path} cannot be read: {exc.strerror or exc}.") from exc
        size, mode = _check_file(path, decode)
        grey = grey and mode in _GREY_MODES
        if image_size is not None and (size[0] < image_size[0] or size[1] < image_size[1]):
            raise InputValidationError(
                f"{path} is {size[0]}x{size[1]} (height x width), smaller than image_size {image_size[0]}x"
                f"{image_size[1]}; images are only scaled down. Pass a smaller image_size.")
        sizes.setdefault(size, path)
    if image_size is None:
        if len(sizes) > 1:
            (a, pa), (b, pb) = list(sizes.items())[:2]
            raise InputValidationError(
                f"The images differ in size ({pa} is {a[0]}x{a[1]}, {pb} is {b[0]}x{b[1]}); pass image_size=(h, w) "
                "(image_size: [h, w] in a keras-ae config file) to scale them to one size.")
        image_size = next(iter(sizes))
    return FolderScan(train_root, test_root, classes, files, test_files, image_size,
                      color_mode or ("grayscale" if grey else "rgb"))


def _check_size(image_size: Any) -> tuple[int, int] | None:
    if image_size is None:
        return None
    if isinstance(image_size, int) and not isinstance(image_size, bool):
        image_size = (image_size, image_size)
    if (not isinstance(image_size, (tuple, list)) or len(image_size) != 2
            or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in image_size)):
        raise InputValidationError(f"image_size must be (height, width) of positive integers, got {image_size!r}.")
    return int(image_size[0]), int(image_size[1])


def load_image_folder(
    root: str | os.PathLike,
    image_size: tuple[int, int] | None = None,
    color_mode: str | None = None,
    validation_split: float = 0.2,
    seed: int = 0,
    flatten: bool = False,
    as_dataset: bool = False,
) -> Dataset | tuple[tf.data.Dataset, tf.data.Dataset]:
    """Loads a folder of images (``load_dataset("dir:PATH")``) as float32 in [0, 1].

    Labels are the class sub-folders' indices (sorted names) when there are sub-folders, none
    otherwise. The test split is ``PATH/test`` when present, else ``validation_split`` of the
    files, shuffled with ``seed`` first (so every class is in both splits). Files are checked
    first (:func:`scan_image_folder`): a bad file fails with one line naming it. Images larger
    than ``image_size`` are resized (bilinear, the aspect ratio is not kept); smaller ones are
    refused rather than blown up.

    Args:
        root: The folder.
        image_size: ``(height, width)``; default: the images' own size (which must agree).
        color_mode: ``"grayscale"`` (1 channel) or ``"rgb"`` (3); default: grey if every image is.
        validation_split: Fraction of the files held out as the test split when there is no
            ``PATH/test`` folder; in (0, 1).
        seed: Seed of the shuffle before that split (the training stream is shuffled too).
        flatten: Flatten images to vectors.
        as_dataset: Stream ``(train_ds, test_ds)`` from the files instead of loading arrays.
            Every header is checked and the first ``STREAM_CHECK_BYTES`` (256 MB) of files are
            decoded up front; a corrupt file past them fails while streaming.

    Returns:
        A :class:`~keras_ae.data.images.Dataset` ``((x_train, y_train), (x_test, y_test))``: ``x``
        float32 ``(n, h, w, c)`` in [0, 1] (``(n, h * w * c)`` with ``flatten``), ``y`` int64
        ``(n,)``, or ``None`` without class folders. With ``as_dataset=True``: ``(train_ds,
        test_ds)``, two ``tf.data.Dataset`` s of unbatched ``(float32 image, int64 label)``
        elements (label ``-1`` without class folders).

    Raises:
        DatasetNotAvailableError: a missing, empty or unreadable folder, or a bad file.
        InputValidationError: a bad argument, images that do not fit ``image_size``, or arrays
            above :data:`~keras_ae.validation.MAX_RESULT_BYTES` (stream those with ``as_dataset=True``).

    Example:
        >>> from PIL import Image
        >>> for label in ("a", "b"):
        ...     (tmp_dir / label).mkdir()
        ...     for i in range(2):
        ...         Image.new("L", (4, 4), color=255 * i).save(tmp_dir / label / f"{i}.png")
        >>> (x, y), (x_test, y_test) = load_image_folder(tmp_dir, validation_split=0.25)
        >>> x.shape, x.dtype, sorted(y.tolist() + y_test.tolist()), x_test.shape
        ((3, 4, 4, 1), dtype('float32'), [0, 0, 1, 1], (1, 4, 4, 1))
    """
    import numpy as np
    import tensorflow as tf

    from keras_ae.data.images import Dataset, Split

    root = Path(os.fspath(root)).expanduser()
    scan = scan_image_folder(root, image_size, color_mode, decode_bytes=STREAM_CHECK_BYTES if as_dataset else None)
    n_files = len(scan.files)
    if scan.test_root is None:
        validation_split = check_float(validation_split, "validation_split", 0.0, 1.0, include_minimum=False,
                                       include_maximum=False)
        n_test = int(validation_split * n_files)
        if n_test < 1 or n_test >= n_files:
            raise InputValidationError(
                f"validation_split={validation_split} of the {n_files} images of {root} leaves a split empty; "
                "add images or change validation_split.")
    channels = 1 if scan.color_mode == "grayscale" else 3
    array_bytes = (n_files + len(scan.test_files)) * scan.image_size[0] * scan.image_size[1] * channels * 4
    if not as_dataset and array_bytes > MAX_RESULT_BYTES:  # refused before decoding anything into memory
        raise InputValidationError(
            f"The {n_files + len(scan.test_files)} images of {root} at {scan.image_size[0]}x{scan.image_size[1]}x"
            f"{channels} would take {array_bytes / 2**30:.1f} GiB as float32 arrays (the bound is "
            f"{MAX_RESULT_BYTES / 2**30:.0f} GiB); stream them with as_dataset=True (keras-ae train --stream) "
            "or pass a smaller image_size.")
    train_ds, test_ds = _keras_datasets(scan, validation_split, seed)

    def convert(*element):
        image = tf.clip_by_value(tf.cast(element[0], tf.float32) / 255.0, 0.0, 1.0)
        if flatten:
            image = tf.reshape(image, [-1])
        label = tf.cast(element[1], tf.int64) if len(element) > 1 else tf.constant(NO_LABEL, tf.int64)
        return image, label

    train_ds, test_ds = (ds.map(convert, num_parallel_calls=tf.data.AUTOTUNE) for ds in (train_ds, test_ds))
    if as_dataset:
        return train_ds, test_ds

    def arrays(ds) -> Split:
        parts = [(x.numpy(), y.numpy()) for x, y in ds.batch(512)]
        x = np.concatenate([p[0] for p in parts]).astype(np.float32, copy=False)
        y = np.concatenate([p[1] for p in parts]).astype(np.int64, copy=False)
        return Split(x, y if scan.class_names else None)

    try:
        return Dataset(arrays(train_ds), arrays(test_ds))
    except tf.errors.OpError as exc:  # a file changed after the check
        raise DatasetNotAvailableError(f"Reading the images of {root} failed: {str(exc).splitlines()[0][:200]}") \
            from exc


def _keras_datasets(scan: FolderScan, validation_split: float, seed: int):
    """The unbatched ``image_dataset_from_directory`` datasets of both splits."""
    import contextlib
    import io

    import keras

    options = dict(labels="inferred" if scan.class_names else None, class_names=scan.class_names,
                   color_mode=scan.color_mode, image_size=scan.image_size, batch_size=None,
                   interpolation="bilinear", verbose=False)
    with contextlib.redirect_stdout(io.StringIO()):  # Keras prints "Using N files for ..." regardless of verbose
        if scan.test_root is None:
            train, test = keras.utils.image_dataset_from_directory(
                str(scan.train_root), shuffle=True, seed=int(seed), validation_split=float(validation_split),
                subset="both", **options)
            return train, test
        return tuple(keras.utils.image_dataset_from_directory(str(folder), shuffle=False, **options)
                     for folder in (scan.train_root, scan.test_root))


__all__ = ["DIR_PREFIX", "FolderScan", "IMAGE_EXTENSIONS", "folder_of", "is_dir_name", "load_image_folder",
           "scan_image_folder"]
