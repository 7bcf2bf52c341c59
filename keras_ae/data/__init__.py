"""Datasets, manifolds, corruption and input pipelines.

Example:
    >>> from keras_ae.data import load_dataset
    >>> (x_train, y_train), (x_test, y_test) = load_dataset("digits")

``"mnist10k"`` (the MNIST test set split 8,000 / 2,000) ships inside the package and loads
offline: ``load_dataset("mnist10k")``. TensorFlow Datasets load as ``"tfds:<name>"``
(``"binarized_mnist"`` for short); with ``as_dataset=True`` every name streams as
``(train_ds, test_ds)`` of unbatched ``(image, label)`` elements. A folder of image files
loads as ``"dir:PATH"`` (see :mod:`keras_ae.data.folders`), a numeric table as ``"csv:PATH"`` or
``"npy:PATH"`` (see :mod:`keras_ae.data.tables`).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from keras_ae.data.corruption import NOISE_KINDS, Corruption, corrupt, corrupt_tensor
from keras_ae.data.folders import DIR_PREFIX, folder_of, is_dir_name, load_image_folder, scan_image_folder
from keras_ae.data.images import (
    DATA_DIR_ENV,
    EMBEDDED_DATASETS,
    IMAGE_DATASETS,
    Dataset,
    Split,
    binarize,
    check_data_dir,
    check_keras_npz,
    embedded_npz,
    find_npz,
    load_image_dataset,
    read_keras_npz,
    stream_keras_npz,
)
from keras_ae.data.manifolds import MANIFOLDS, broken_swiss_roll, check_test_fraction, helix, swiss_roll, twin_peaks
from keras_ae.data.pipeline import make_tf_dataset
from keras_ae.data.tables import TABLE_PREFIXES, Table, is_table_name, load_table, read_table, table_of
from keras_ae.data.sequences import window_scores_to_series, windows
from keras_ae.data.sprites import IMAGE_SHAPE, Sprites, load_sprites
from keras_ae.data.tfds import NO_LABEL, TFDS_DATASETS, is_prebinarized, is_tfds_name, load_tfds, tfds_status
from keras_ae.errors import DatasetNotAvailableError, InputValidationError
from keras_ae.validation import check_choice

if TYPE_CHECKING:
    import tensorflow as tf

# Image datasets generated on the fly (name -> per-example shape).
GENERATED_IMAGE_DATASETS: dict[str, tuple[int, ...]] = {"sprites": IMAGE_SHAPE}
DATASETS = tuple(IMAGE_DATASETS) + tuple(GENERATED_IMAGE_DATASETS) + tuple(MANIFOLDS)
DEFAULT_DATASET = "digits"


def load_dataset(
    name: str = DEFAULT_DATASET,
    data_dir: str | os.PathLike | None = None,
    flatten: bool = False,
    download: bool | None = None,
    n_samples: int = 2000,
    test_fraction: float = 0.2,
    noise: float = 0.05,
    seed: int = 0,
    as_dataset: bool = False,
    split: tuple[str, str] | None = None,
    image_size: tuple[int, int] | None = None,
    color_mode: str | None = None,
    validation_split: float = 0.2,
    label_column: str | None = None,
    missing: str = "error",
) -> Dataset | tuple[tf.data.Dataset, tf.data.Dataset]:
    """Loads a dataset by name as float32 arrays, or as streaming ``tf.data`` datasets.

    Images are scaled to [0, 1] (integer pixels / 255; ``binarized_mnist`` stays 0/1) and
    keep their ``(h, w, c)`` shape (``flatten=True`` gives vectors); labels are int64 class
    ids. Manifolds (``swiss_roll``, ``broken_swiss_roll``, ``twin_peaks``, ``helix``)
    return 3-D points with their intrinsic coordinates as ``y``.

    ``"sprites"`` generates ``n_samples`` dSprites-like 64x64 binary images offline from
    factors drawn uniformly with ``seed`` (:class:`~keras_ae.data.sprites.Sprites`): its
    labels are 2-D, int64 ``(n, 5)``, one column per factor (shape, scale, orientation, x,
    y), and so are ``"tfds:dsprites"``'s (the same five) and ``"tfds:shapes3d"``'s (floor,
    wall and object hue, scale, shape, orientation) when prepared.

    ``"mnist10k"`` ships inside keras_ae and always loads offline: the official MNIST test
    set (10,000 images) split 8,000 train / 2,000 test, the "mnist10k split" of the
    recipes' published numbers (not comparable with full-MNIST numbers). MNIST is by Yann
    LeCun, Corinna Cortes and Christopher J.C. Burges, used under CC BY-SA 3.0 (see
    ``keras_ae/data/mnist10k_LICENSE.txt``). ``"mnist"`` stays full MNIST: Keras' download,
    or your own ``mnist.npz`` in ``data_dir``.

    Any TensorFlow Datasets image dataset loads as ``"tfds:<name>"`` (``"tfds:mnist"``,
    ``"tfds:svhn_cropped"``, ``"tfds:celeb_a"``); ``"binarized_mnist"`` is
    ``"tfds:binarized_mnist"`` (fixed binarization, train/validation/test, no labels).
    Their label is the dataset's class label; datasets without one give ``y = None``.
    The test split is ``"test"``, else ``"validation"``.

    A folder of PNG, JPEG, GIF or BMP files loads as ``"dir:PATH"``
    (:func:`~keras_ae.data.folders.load_image_folder`, built on Keras'
    ``image_dataset_from_directory``): labels are the indices of the sorted class
    sub-folders, none without sub-folders (``y = None``). The test split is ``PATH/test``
    when present, else ``validation_split`` of the files (shuffled with ``seed``). Every file
    is checked first: a missing or empty folder, a file that is not an image, a truncated,
    corrupt or unreadable one fails with one line naming it. Images larger than
    ``image_size`` are resized; smaller ones are refused.

    A numeric table loads as ``"csv:PATH"`` (a CSV file with a header line of column names)
    or ``"npy:PATH"`` (``"npz:PATH"``: a 2-D ``.npy`` array, or an ``.npz`` with ``x`` and
    optional ``y``), see :func:`~keras_ae.data.tables.load_table`: float32 rows ``(n, columns)``,
    not rescaled (build the model with ``standardize=x_train``), ``y`` the ``label_column``'s
    class ids (integers as they are; text labels mapped in sorted order to 0..K-1) or
    ``None``. The test split is ``validation_split`` of the rows, shuffled with ``seed``. A
    bad file fails with one error naming the file, the line (or row) and the column: no
    header, ragged rows, missing values, text in a numeric column, infinite values, a
    constant column, an unknown ``label_column``, a file above 2 GiB or 100,000 columns.

    With ``as_dataset=True`` the result is ``(train_ds, test_ds)``: ``tf.data.Dataset`` s of
    UNBATCHED ``(image, label)`` elements, image float32 ``(h, w, c)`` (or flat) in [0, 1],
    label an int64 scalar (``-1`` for unlabelled datasets; float32 intrinsic coordinates
    for manifolds; an int64 vector of factor indices for sprites, dsprites and shapes3d).
    Nothing is materialized: TFDS streams its prepared files, a Keras
    ``.npz`` (``mnist10k``'s embedded file too) is read chunk by chunk (about 8 MB at a
    time), sprites are rendered 256 at a time as they are read; digits, manifolds and a
    fresh Keras download are sliced from memory (small).
    Batch, shuffle and prefetch yourself.

    Args:
        name: One of :data:`DATASETS`, ``"tfds:<name>"``, ``"binarized_mnist"``, ``"dir:PATH"``,
            ``"csv:PATH"`` or ``"npy:PATH"``.
        data_dir: Keras datasets: folder with ``<name>.npz`` (or the file). TFDS: the TFDS
            data folder (default ``$TFDS_DATA_DIR`` or ``~/tensorflow_datasets``). Ignored by
            ``digits`` and the manifolds; refused for ``"mnist10k"``, which ships inside the
            package (``$KERAS_AE_DATA_DIR`` is not consulted for it either).
        flatten: Flatten images to vectors.
        download: Allow downloading what is not found locally. Default (``None``): yes for
            the Keras datasets, no for TFDS (offline-first: you get the prepare
            command instead). ``digits`` and ``mnist10k`` never download.
        n_samples: Manifolds and sprites only: number of points or images (train + test).
        test_fraction: Manifolds and sprites only: fraction held out as the test split.
        noise: Manifolds only: Gaussian noise standard deviation.
        seed: Manifolds and sprites: random seed. Folders and tables: seed of the shuffle before ``validation_split``.
        as_dataset: Return streaming ``(train_ds, test_ds)`` instead of arrays.
        split: TFDS only: ``(train_split, test_split)``, e.g. ``("train[:90%]", "validation")``;
            a slice that selects nothing is refused.
        image_size: Folders only: ``(height, width)`` to load at (default: the images' own
            size, which must agree).
        color_mode: Folders only: ``"grayscale"`` or ``"rgb"`` (default: grey if every image is).
        validation_split: Folders and tables only: fraction held out as the test split (for
            folders, when ``PATH/test`` does not exist).
        label_column: CSV tables only: the name of the column of class labels (``None``: no labels).
        missing: Tables only: ``"error"`` (default) refuses a missing value (an empty cell,
            ``NA``, ``NaN``), naming its line and column; ``"drop"`` drops the rows with any
            missing value and warns how many.

    Returns:
        A :class:`~keras_ae.data.images.Dataset` ``((x_train, y_train), (x_test, y_test))`` of
        float32 ``x`` and int64 ``y``; unpacks like Keras' loaders (``y`` is None for unlabelled
        datasets, ``(n, factors)`` for sprites, float32 intrinsic coordinates for manifolds). With
        ``as_dataset=True``: ``(train_ds, test_ds)``, two ``tf.data.Dataset`` s of unbatched
        ``(x, y)`` elements.

    Stored pixels follow one rule (:func:`~keras_ae.data.images.check_pixels`): integers
    (any integer dtype) must lie in 0..255 and are divided by 255, booleans are 0 / 1, floats
    must already lie in [0, 1]; NaN, infinite or complex pixels and negative or fractional
    labels are refused, naming the file and key.

    Raises:
        UnknownNameError: for an unknown name (the message lists the valid ones).
        DatasetNotAvailableError: when offline without the data (the message names the
            file or TFDS folder, and for TFDS the command that prepares it); a truncated,
            damaged or too-large file, or values outside the rule above.
        InputValidationError: a bad argument (``data_dir`` not a path or given for
            ``"mnist10k"``, a TFDS split that selects nothing, a manifold's or sprites'
            ``test_fraction`` leaving a split empty, NaN noise, more sprites than fit in 1 GiB
            as arrays).

    Example:
        >>> (x_train, y_train), (x_test, y_test) = load_dataset("digits")
        >>> x_train.shape[1:], x_train.dtype, float(x_train.max())
        ((8, 8, 1), dtype('float32'), 1.0)
        >>> train_ds, test_ds = load_dataset("digits", as_dataset=True)
        >>> train_ds.element_spec
        (TensorSpec(shape=(8, 8, 1), dtype=tf.float32, name=None), TensorSpec(shape=(), dtype=tf.int64, name=None))

        The embedded MNIST test set split (offline, no file to provide):

        >>> (x_train, y_train), (x_test, y_test) = load_dataset("mnist10k")
        >>> x_train.shape, x_test.shape, y_train.dtype
        ((8000, 28, 28, 1), (2000, 28, 28, 1), dtype('int64'))

        Generated sprites, the factor indices as labels:

        >>> (x_train, y_train), (x_test, y_test) = load_dataset("sprites", n_samples=100, seed=0)
        >>> x_train.shape, y_train.shape, y_train.dtype
        ((80, 64, 64, 1), (80, 5), dtype('int64'))

        A CSV table with a label column (rows stay in their own units):

        >>> _ = (tmp_dir / "cells.csv").write_text("size,mass,kind\\n" + "".join(
        ...     f"{i},{i * i * 100},{'ab'[i % 2]}\\n" for i in range(10)))
        >>> (x_train, y_train), (x_test, y_test) = load_dataset(f"csv:{tmp_dir}/cells.csv", label_column="kind")
        >>> x_train.shape, x_test.shape, y_train.dtype
        ((8, 2), (2, 2), dtype('int64'))

        Full MNIST from a local copy (no download), and TFDS data prepared in ``~/tfds``:

        ```python
        (x_train, y_train), (x_test, y_test) = load_dataset("mnist", data_dir="~/data/mnist")
        train_ds, test_ds = load_dataset("binarized_mnist", data_dir="~/tfds", as_dataset=True)
        model.fit(train_ds.map(lambda x, y: x).shuffle(10_000).batch(128), epochs=10)
        ```
    """
    check_data_dir(data_dir)
    if is_table_name(name):
        given = [key for key, value in {"data_dir": data_dir, "split": split, "image_size": image_size,
                                        "color_mode": color_mode}.items() if value is not None]
        if given:
            raise InputValidationError(f"{given[0]}= does not apply to a table ({name!r}).")
        path, kind = table_of(name)
        return load_table(path, label_column=label_column, missing=missing, validation_split=validation_split,
                          seed=seed, format=kind, as_dataset=as_dataset)
    if label_column is not None or missing != "error":
        raise InputValidationError(f"{'label_column' if label_column is not None else 'missing'}= applies to tables "
                                   f"('csv:PATH', 'npy:PATH') only, not {name!r}.")
    folder_only = {"image_size": image_size, "color_mode": color_mode}
    if is_dir_name(name):
        if data_dir is not None or split is not None:
            raise InputValidationError(f"data_dir= and split= do not apply to an image folder ({name!r}).")
        return load_image_folder(folder_of(name), image_size=image_size, color_mode=color_mode,
                                 validation_split=validation_split, seed=seed, flatten=flatten, as_dataset=as_dataset)
    given = [key for key, value in folder_only.items() if value is not None]
    if given or validation_split != 0.2:
        raise InputValidationError(f"{(given or ['validation_split'])[0]}= applies to image folders "
                                   f"('dir:PATH'){'' if given else ' and tables'} only, not {name!r}.")
    if is_tfds_name(name):
        return load_tfds(name, data_dir=_expand(data_dir), flatten=flatten, download=bool(download),
                         split=split, as_dataset=as_dataset)
    check_choice(name, "dataset", DATASETS + ("binarized_mnist", "tfds:<name>", "dir:PATH", "csv:PATH", "npy:PATH"))
    if split is not None:
        raise InputValidationError(f"split= applies to TFDS datasets only, not {name!r}.")
    if name in IMAGE_DATASETS:
        return load_image_dataset(name, data_dir=data_dir, flatten=flatten,
                                  download=True if download is None else download, as_dataset=as_dataset)
    if name == "sprites":
        if noise != 0.05:
            raise InputValidationError(f"noise= applies to manifolds only, not {name!r}.")
        return load_sprites(n_samples, test_fraction=test_fraction, seed=seed, flatten=flatten, as_dataset=as_dataset)
    n_test = check_test_fraction(test_fraction, n_samples)
    x, t = MANIFOLDS[name](n_samples, noise=noise, seed=seed)
    if as_dataset:
        import tensorflow as tf

        return tuple(tf.data.Dataset.from_tensor_slices((x[s], t[s])) for s in (slice(n_test, None), slice(n_test)))
    return Dataset(Split(x[n_test:], t[n_test:]), Split(x[:n_test], t[:n_test]))


def _expand(data_dir: str | os.PathLike | None) -> str | None:
    """``~`` expanded (TFDS would create a literal ``~`` folder)."""
    return None if data_dir is None else os.path.expanduser(os.fspath(data_dir))


def dataset_status(name: str, data_dir: str | os.PathLike | None = None) -> str:
    """Says whether a dataset can be loaded without a download.

    ``data_dir`` is not consulted for datasets that ship (``digits``, ``mnist10k``) or are
    generated (``sprites``, the manifolds).

    Args:
        name: A dataset name (see :func:`load_dataset`).
        data_dir: Where to look for ``<name>.npz`` (or the TFDS data folder).

    Returns:
        ``"offline"`` (ships or generated), ``"local: <path>"``, ``"unusable: <path>
        (<why>)"`` for a broken ``.npz``, ``"download needed"``, or for TFDS names
        ``"missing (prepare: <command>)"``; ``"dir:PATH"`` and the tables (``"csv:PATH"``,
        ``"npy:PATH"``) give ``"local: PATH"`` or ``"missing: PATH"`` (the files are checked
        when loaded).

    Example:
        >>> dataset_status("digits"), dataset_status("mnist10k")
        ('offline', 'offline')
        >>> dataset_status("binarized_mnist", tmp_dir).startswith("missing (prepare: python -c")
        True
    """
    check_data_dir(data_dir)
    if is_dir_name(name):
        folder = folder_of(name)
        return f"local: {folder}" if folder.is_dir() else f"missing: {folder}"
    if is_table_name(name):
        path, _ = table_of(name)
        return f"local: {path}" if path.is_file() else f"missing: {path}"
    if is_tfds_name(name):
        return tfds_status(name, _expand(data_dir))
    check_choice(name, "dataset", DATASETS + ("binarized_mnist", "tfds:<name>"))
    if name == "digits" or name in GENERATED_IMAGE_DATASETS or name in MANIFOLDS:
        return "offline"
    if name in EMBEDDED_DATASETS:
        try:
            path = embedded_npz(name)
        except DatasetNotAvailableError as exc:  # a broken installation: say so, the listing goes on
            return f"unusable ({exc})"
        problem = check_keras_npz(path, IMAGE_DATASETS[name][0])
        return f"unusable: {path} ({problem})" if problem else "offline"
    path = find_npz(name, data_dir)
    if path is None:
        return "download needed"
    problem = check_keras_npz(path, IMAGE_DATASETS[name][0])
    return f"unusable: {path} ({problem})" if problem else f"local: {path}"


__all__ = [
    "DATASETS", "DATA_DIR_ENV", "DEFAULT_DATASET", "DIR_PREFIX", "Corruption", "Dataset", "EMBEDDED_DATASETS",
    "GENERATED_IMAGE_DATASETS", "Sprites", "load_sprites",
    "MANIFOLDS", "NOISE_KINDS", "NO_LABEL", "Split", "TFDS_DATASETS", "binarize", "broken_swiss_roll",
    "check_keras_npz", "corrupt", "corrupt_tensor", "dataset_status", "embedded_npz", "find_npz", "helix",
    "is_dir_name", "is_prebinarized", "load_dataset", "load_image_folder", "make_tf_dataset", "read_keras_npz",
    "scan_image_folder", "stream_keras_npz", "swiss_roll", "twin_peaks",
    "TABLE_PREFIXES", "Table", "is_table_name", "load_table", "read_table", "table_of",
    "window_scores_to_series", "windows",
]
