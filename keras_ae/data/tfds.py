"""TensorFlow Datasets (TFDS) image datasets: ``load_dataset("tfds:<name>")``.

Any TFDS dataset with an image feature loads as ``"tfds:<name>"`` (``"tfds:mnist"``,
``"tfds:svhn_cropped"``, ``"tfds:celeb_a"``, a config or version such as
``"tfds:mnist:3.0.1"``). ``"binarized_mnist"`` is short for ``"tfds:binarized_mnist"``,
the fixed binarization of Larochelle & Murray (2011) used by the VAE, IWAE and PixelCNN
papers (splits train/validation/test, pixels already 0 or 1, no labels).

Nothing is downloaded unless ``download=True``: offline, prepare the data once where there
is internet (:func:`prepare_command` prints the command), copy the folder and pass
``data_dir=<folder>``. Images become float32 in [0, 1] exactly like the Keras-format
datasets; the label is the dataset's ``ClassLabel`` (``supervised_keys`` first), else none;
``dsprites`` and ``shapes3d`` give their factor indices as 2-D labels (:data:`FACTOR_LABELS`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from keras_ae.errors import DatasetNotAvailableError, InputValidationError, KerasAEError, UnknownNameError

if TYPE_CHECKING:
    import tensorflow as tf
    import tensorflow_datasets as tfds

    from keras_ae.data.images import Dataset

TFDS_PREFIX = "tfds:"
# Short names that mean a TFDS dataset (keras_ae name -> TFDS name).
TFDS_ALIASES: dict[str, str] = {"binarized_mnist": "binarized_mnist"}
# Listed by ``keras-ae datasets``; spelled as :func:`keras_ae.load_dataset` takes them.
TFDS_DATASETS: tuple[str, ...] = (
    "tfds:mnist", "tfds:fashion_mnist", "tfds:cifar10", "tfds:svhn_cropped", "tfds:celeb_a", "binarized_mnist",
)
# A TFRecord stores each example with a length, two CRCs (16 bytes) around its bytes: the
# prepared files of a split hold ``num_bytes + 16 * num_examples`` bytes.
_TFRECORD_OVERHEAD = 16
_SPLITS_HELP = ("write e.g. 'train', 'train[:90%]', 'train[90%:]', 'train[:1000]' or 'train+validation' "
                "(https://www.tensorflow.org/datasets/splits)")
# TFDS datasets whose stored pixels are already 0/1 (not 0..255): scaled by 1, never re-binarized.
_PREBINARIZED = frozenset({"binarized_mnist", "dsprites"})
# Datasets generated from known factors: their label is the vector of factor indices, one
# int64 column per feature listed (the ground truth of disentanglement metrics).
FACTOR_LABELS: dict[str, tuple[str, ...]] = {
    "dsprites": ("label_shape", "label_scale", "label_orientation", "label_x_position", "label_y_position"),
    "shapes3d": ("label_floor_hue", "label_wall_hue", "label_object_hue", "label_scale", "label_shape",
                 "label_orientation"),
}
NO_LABEL = -1  # the label of every element of an unlabelled dataset in ``as_dataset`` mode


def is_tfds_name(name: Any) -> bool:
    """Whether ``name`` is a TFDS dataset name for :func:`keras_ae.load_dataset`.

    Args:
        name: A dataset name (any value; only strings can match).

    Returns:
        ``True`` for a string starting with ``"tfds:"`` or a short TFDS alias (:data:`TFDS_ALIASES`,
        e.g. ``"binarized_mnist"``), else ``False``.

    Example:
        >>> is_tfds_name("tfds:svhn_cropped"), is_tfds_name("binarized_mnist"), is_tfds_name("mnist")
        (True, True, False)
    """
    return isinstance(name, str) and (name.startswith(TFDS_PREFIX) or name in TFDS_ALIASES)


def tfds_name(name: str) -> str:
    """The TFDS spelling of a keras_ae TFDS name (prefix removed, alias resolved).

    Args:
        name: A keras_ae TFDS name (``"tfds:<name>"``, possibly with a config or version, or
            an alias such as ``"binarized_mnist"``).

    Returns:
        The name TFDS knows, e.g. ``"mnist"`` or ``"mnist:3.0.1"``.

    Raises:
        UnknownNameError: an empty name after the prefix.

    Example:
        >>> tfds_name("tfds:celeb_a"), tfds_name("binarized_mnist")
        ('celeb_a', 'binarized_mnist')
    """
    if name in TFDS_ALIASES:
        return TFDS_ALIASES[name]
    bare = name[len(TFDS_PREFIX):] if name.startswith(TFDS_PREFIX) else name
    if not bare.strip():
        raise UnknownNameError(f"Empty TFDS dataset name {name!r}; write e.g. 'tfds:mnist'.")
    return bare


def _base_name(name: str) -> str:
    """``"binarized_mnist:1.0.0"`` / ``"celeb_a/config"`` -> the dataset name alone."""
    return tfds_name(name).split(":")[0].split("/")[0]


def is_prebinarized(name: Any) -> bool:
    """Whether a dataset's pixels are already binary, so recipes must not binarize again.

    Args:
        name: A dataset name as :func:`keras_ae.load_dataset` takes it (any value; only TFDS
            names can match).

    Returns:
        ``True`` for the TFDS datasets stored as 0/1 pixels (``"binarized_mnist"``,
        ``"tfds:binarized_mnist"``, ``"tfds:dsprites"``, also with a config or version), else ``False``.

    Example:
        >>> is_prebinarized("binarized_mnist"), is_prebinarized("tfds:binarized_mnist"), is_prebinarized("mnist")
        (True, True, False)
    """
    return is_tfds_name(name) and _base_name(name) in _PREBINARIZED


def prepare_command(name: str, data_dir: str | os.PathLike | None = None) -> str:
    """The shell command that downloads and prepares a TFDS dataset (run it with internet).

    Args:
        name: A keras_ae TFDS name.
        data_dir: The TFDS data folder to prepare into (``None``: TFDS' default,
            ``$TFDS_DATA_DIR`` or ``~/tensorflow_datasets``).

    Returns:
        A one-line ``python -c "..."`` command calling ``download_and_prepare()``.

    Example:
        >>> print(prepare_command("tfds:mnist", "/data"))
        python -c "import tensorflow_datasets as tfds; tfds.builder('mnist', data_dir='/data').download_and_prepare()"
    """
    target = f", data_dir={os.fspath(data_dir)!r}" if data_dir is not None else ""
    return (f'python -c "import tensorflow_datasets as tfds; '
            f'tfds.builder({tfds_name(name)!r}{target}).download_and_prepare()"')


@contextlib.contextmanager
def _quiet_absl():
    """Looking for a dataset that is not there makes TFDS log one absl warning per version
    folder it inspects ("Variant folder ... has no dataset_info.json"); keras_ae reports the
    missing data itself, in one line."""
    absl_logger = logging.getLogger("absl")
    level = absl_logger.level
    absl_logger.setLevel(max(level, logging.ERROR))
    try:
        yield
    finally:
        absl_logger.setLevel(level)


def _first_line(exc: BaseException, last: bool = False) -> str:
    """One line of an exception's message (TFDS' messages run to many lines), at most 200 characters."""
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    return (lines[-1 if last else 0] if lines else type(exc).__name__)[:200]


def _data_root(data_dir: str | os.PathLike | None) -> Path:
    """The TFDS data folder: ``data_dir``, else ``$TFDS_DATA_DIR``, else ``~/tensorflow_datasets``."""
    root = data_dir if data_dir is not None else os.environ.get("TFDS_DATA_DIR") or "~/tensorflow_datasets"
    return Path(os.fspath(root)).expanduser()


def _damaged_metadata(name: str, data_dir: str | os.PathLike | None) -> str | None:
    """Why the prepared folder of ``name`` cannot be read (naming the file), or ``None`` if it has none.

    Looks at the ``dataset_info.json`` / ``features.json`` of each version folder
    (``<root>/<name>/[<config>/]<version>/``); a metadata file over 16 MB is not read.
    """
    folder = _data_root(data_dir) / _base_name(name)
    if not folder.is_dir():
        return None
    infos = sorted([*folder.glob("*/dataset_info.json"), *folder.glob("*/*/dataset_info.json")])
    for info in infos:
        if info.stat().st_size > 16 << 20:
            return f"{info} is {info.stat().st_size:,} bytes, too large for dataset metadata"
        try:
            content = json.loads(info.read_text(encoding="utf-8", errors="replace"))
        except ValueError as exc:
            return f"{info} is not valid JSON ({str(exc)[:80]})"
        if not isinstance(content, dict) or not content.get("name") or not content.get("version"):
            return f"{info} names no dataset or version"
        if not (info.parent / "features.json").is_file():
            return f"{info.parent / 'features.json'} is missing"
    if not infos:
        return f"{folder} holds no dataset_info.json"
    return None


def _damaged(name: str, data_dir: str | os.PathLike | None, problem: str) -> DatasetNotAvailableError:
    """The error for a prepared TFDS folder that cannot be read."""
    error = DatasetNotAvailableError(
        f"TFDS dataset {tfds_name(name)!r} in {_data_root(data_dir)} is damaged or incomplete: {problem}. "
        f"Copy the folder again, or prepare it again with internet:\n"
        f"    {prepare_command(name, _data_root(data_dir))}")
    error.problem = problem  # the short reason ``keras-ae datasets`` shows
    return error


def get_builder(name: str, data_dir: str | os.PathLike | None = None) -> tfds.core.DatasetBuilder:
    """The ``tfds`` builder of a keras_ae TFDS name (no download, no data read).

    Args:
        name: A keras_ae TFDS name, e.g. ``"tfds:mnist"`` or ``"binarized_mnist"``.
        data_dir: The TFDS data folder (``None``: ``$TFDS_DATA_DIR`` or ``~/tensorflow_datasets``).

    Returns:
        The ``tfds.core.DatasetBuilder`` (prepared or not).

    Raises:
        UnknownNameError: TFDS knows no such dataset.
        DatasetNotAvailableError: ``tensorflow_datasets`` is not installed, or the dataset's
            prepared folder is damaged (unreadable ``dataset_info.json``, missing ``features.json``).

    Example:
        ```python
        builder = get_builder("tfds:mnist", "~/tensorflow_datasets")
        builder.is_prepared()
        ```
    """
    try:
        import tensorflow_datasets as tfds
        from google.protobuf import json_format
    except ImportError as exc:
        raise DatasetNotAvailableError(
            f"Dataset {name!r} needs TensorFlow Datasets: pip install tensorflow-datasets") from exc
    try:
        return tfds.builder(tfds_name(name), data_dir=None if data_dir is None else os.fspath(data_dir))
    except UnknownNameError:
        raise
    # DatasetNotFoundError is a ValueError; an unknown version is an AssertionError; an
    # unreadable dataset_info.json is a protobuf ParseError.
    except (ValueError, KeyError, TypeError, AssertionError, json_format.Error) as exc:
        # A dataset folder that exists but does not load is damaged, not unknown.
        problem = _damaged_metadata(name, data_dir)
        if problem is not None:
            raise _damaged(name, data_dir, problem) from exc
        # TFDS' own message lists all ~1000 datasets: keep the first line only.
        first = _first_line(exc)
        raise UnknownNameError(
            f"Unknown TFDS dataset {name!r} ({first[:200]}); see tfds.list_builders() or "
            f"https://www.tensorflow.org/datasets/catalog, e.g. {', '.join(TFDS_DATASETS)}."
        ) from exc


def _where(builder) -> str:
    return os.fspath(builder.data_dir)


def _missing_message(name: str, builder, data_dir: str | os.PathLike | None) -> str:
    root = data_dir if data_dir is not None else os.fspath(builder._data_dir_root)  # default: ~/tensorflow_datasets
    return (
        f"TFDS dataset {tfds_name(name)!r} is not prepared in {os.fspath(root)} (looked for {_where(builder)}), "
        "and keras_ae downloads nothing unless download=True. Prepare it once with internet:\n"
        f"    {prepare_command(name, root)}\n"
        f"then pass data_dir={os.fspath(root)!r} (copy that folder to an offline machine)."
    )


def ensure_prepared(name: str, data_dir: str | os.PathLike | None = None,
                    download: bool = False) -> tfds.core.DatasetBuilder:
    """Returns the builder of a prepared dataset; prepares it only when ``download`` is True.

    Args:
        name: A keras_ae TFDS name.
        data_dir: The TFDS data folder (``None``: ``$TFDS_DATA_DIR`` or ``~/tensorflow_datasets``).
        download: Download and prepare the dataset when it is not prepared yet.

    Returns:
        The prepared ``tfds.core.DatasetBuilder`` (see :func:`get_builder`).

    Raises:
        UnknownNameError: TFDS knows no such dataset.
        DatasetNotAvailableError: not prepared and ``download`` is False (the message holds the
            :func:`prepare_command`), or the download failed.

    Example:
        ```python
        builder = ensure_prepared("tfds:mnist", "~/tensorflow_datasets", download=True)
        builder.info.splits["train"].num_examples  # 60000
        ```
    """
    with _quiet_absl():
        builder = get_builder(name, data_dir)
        prepared = builder.is_prepared()
    if prepared:
        return builder
    if not download:
        raise DatasetNotAvailableError(_missing_message(name, builder, data_dir))
    try:
        builder.download_and_prepare()
    except Exception as exc:  # network and checksum errors come in many types
        raise DatasetNotAvailableError(
            f"Could not download {tfds_name(name)!r} ({type(exc).__name__}: {str(exc)[:200]}). "
            + _missing_message(name, builder, data_dir)
        ) from exc
    return builder


def tfds_status(name: str, data_dir: str | os.PathLike | None = None) -> str:
    """``"local: <dir>"`` when prepared, else ``"missing (prepare: <command>)"``.

    A prepared folder whose metadata or shard files are damaged gives ``"unusable: <reason>"``.

    Args:
        name: A keras_ae TFDS name.
        data_dir: The TFDS data folder (``None``: ``$TFDS_DATA_DIR`` or ``~/tensorflow_datasets``).

    Returns:
        ``"local: <dir>"``, ``"missing (prepare: <command>)"`` or ``"unusable: <reason>"``.

    Raises:
        UnknownNameError: TFDS knows no such dataset.

    Example:
        >>> tfds_status("tfds:mnist", tmp_dir).startswith("missing (prepare: python -c")
        True
    """
    try:
        with _quiet_absl():
            builder = get_builder(name, data_dir)
            prepared = builder.is_prepared()
    except DatasetNotAvailableError as exc:
        return f"unusable: {getattr(exc, 'problem', _first_line(exc))}"
    if prepared:
        try:
            check_splits(name, builder, list(builder.info.splits.keys()), data_dir)
        except KerasAEError as exc:
            return f"unusable: {_where(builder)} ({getattr(exc, 'problem', _first_line(exc))})"
        return f"local: {_where(builder)}"
    root = data_dir if data_dir is not None else builder._data_dir_root
    return f"missing (prepare: {prepare_command(name, root)})"


def feature_keys(info: tfds.core.DatasetInfo) -> tuple[str, str | None]:
    """``(image_key, label_key or None)`` of a TFDS ``DatasetInfo``.

    ``supervised_keys`` win when they name an image and an integer label; otherwise the
    ``"image"`` (or only) ``Image`` feature and the ``"label"`` (or only) ``ClassLabel``.

    Args:
        info: The dataset's ``tfds.core.DatasetInfo`` (``builder.info``).

    Returns:
        ``(image_key, label_key)``: the image feature's name and the label feature's name, or
        ``None`` for the label when there is no single class label.

    Raises:
        InputValidationError: the dataset has no image feature, or several and none named ``"image"``.

    Example:
        ```python
        feature_keys(get_builder("tfds:mnist").info)  # ('image', 'label')
        ```
    """
    import tensorflow_datasets as tfds

    features = info.features
    images = [k for k, f in features.items() if isinstance(f, tfds.features.Image)]
    labels = [k for k, f in features.items() if isinstance(f, tfds.features.ClassLabel)]
    keys = info.supervised_keys
    if keys and len(keys) == 2 and all(isinstance(k, str) for k in keys) and keys[0] in images:
        label = features[keys[1]]
        if isinstance(label, tfds.features.ClassLabel) or (
                getattr(label, "shape", None) == () and np.issubdtype(np.dtype(label.np_dtype), np.integer)):
            return keys[0], keys[1]
    image = "image" if "image" in images else (images[0] if len(images) == 1 else None)
    if image is None:
        raise InputValidationError(
            f"TFDS dataset {info.name!r} has {'no' if not images else 'several'} image features "
            f"({', '.join(features.keys())}); keras_ae loads datasets with one image feature.")
    label = "label" if "label" in labels else (labels[0] if len(labels) == 1 else None)
    return image, label


def default_splits(info: tfds.core.DatasetInfo, split: tuple[str, str] | None = None) -> tuple[str, str]:
    """``(train, test)`` split names: ``split`` if given, else train and test (or validation).

    Unknown split lists (an empty ``info.splits``, as under ``tfds.testing.mock_data``'s
    code policy) give ``("train", "test")``.

    Args:
        info: The dataset's ``tfds.core.DatasetInfo`` (its ``splits`` and ``name`` are read).
        split: ``(train_split, test_split)`` specs in TFDS slicing syntax (``"train[:90%]"``,
            ``"train+validation"``); their base split names are checked against ``info.splits``.

    Returns:
        ``(train_split, test_split)``: ``split`` as given, else ``("train", "test")``, or
        ``("train", "validation")`` for a dataset without a test split.

    Raises:
        InputValidationError: ``split`` is not two non-empty strings or names an unknown split,
            or the dataset has no train split or no test / validation split and no ``split`` is given.

    Example:
        >>> from types import SimpleNamespace
        >>> info = SimpleNamespace(name="demo", splits={"train": None, "validation": None})  # a stand-in
        >>> default_splits(info), default_splits(info, ("train[:90%]", "train[90%:]"))
        (('train', 'validation'), ('train[:90%]', 'train[90%:]'))
    """
    names = list(info.splits.keys())
    if split is not None:
        if not (isinstance(split, (tuple, list)) and len(split) == 2 and all(isinstance(s, str) and s for s in split)):
            raise InputValidationError(f"split must be (train_split, test_split) strings, got {split!r}.")
        # TFDS slicing syntax ("train[:90%]", "train+validation"): check the base names.
        unknown = {p.split("[")[0].strip() for s in split for p in s.split("+")} - set(names)
        if names and unknown:
            raise InputValidationError(f"TFDS dataset {info.name!r} has no split(s) {sorted(unknown)}; "
                                       f"its splits are {names}.")
        return split[0], split[1]
    if not names:
        return "train", "test"
    test = "test" if "test" in names else "validation" if "validation" in names else None
    if "train" not in names or test is None:
        raise InputValidationError(
            f"TFDS dataset {info.name!r} has splits {names}; pass split=(train_split, test_split), "
            "e.g. split=('train[:90%]', 'train[90%:]').")
    return "train", test


def _split_info(info, split: str, name: str):
    """TFDS' description of ``split`` (slices resolved), refusing a spec TFDS cannot parse or an empty slice."""
    try:
        sub = info.splits[split]
    except (ValueError, KeyError, TypeError, AssertionError, IndexError) as exc:
        # TFDS' last line says what is wrong with the spec ("percent slice boundaries should be in [-100, 100]").
        raise InputValidationError(
            f"TFDS split {split!r} of {tfds_name(name)!r} is not valid: {_first_line(exc, last=True)} "
            f"Its splits are {list(info.splits.keys())}; {_SPLITS_HELP}.") from exc
    if sub.num_examples <= 0:
        raise InputValidationError(
            f"TFDS split {split!r} of {tfds_name(name)!r} selects no examples ({sub.num_examples}): a slice "
            f"[start:end] needs start < end within the split; {_SPLITS_HELP}.")
    return sub


def check_splits(name: str, builder: tfds.core.DatasetBuilder, splits: Sequence[str],
                 data_dir: str | os.PathLike | None = None) -> None:
    """Refuses split specs that select nothing, and splits whose prepared files are missing or truncated.

    Costs one ``stat`` per shard file: a missing shard, or the files of a split holding fewer
    bytes than ``dataset_info.json`` records, is reported here rather than as TensorFlow's
    ``NotFoundError`` / ``DataLossError`` part-way through reading. Corrupted bytes in a
    file of the right size show only when read (:func:`load_tfds` names the split then).
    Metadata without split sizes (TFDS' mock data) is not checked.

    Args:
        name: The keras_ae TFDS name.
        builder: Its prepared builder.
        splits: Split specs, e.g. ``["train[:90%]", "test"]``.
        data_dir: The TFDS data folder, for the message.

    Raises:
        InputValidationError: a split spec TFDS cannot parse, or one selecting no examples.
        DatasetNotAvailableError: a shard file missing or truncated, naming it.

    Example:
        ```python
        builder = ensure_prepared("tfds:mnist", "~/tfds")
        check_splits("tfds:mnist", builder, ["train[:90%]", "test"])
        ```
    """
    info = builder.info
    if not list(info.splits.keys()):
        return
    bases = []
    for split in splits:
        _split_info(info, split, name)
        bases += [part.split("[")[0].strip() for part in split.split("+")]
    tfrecord = "tfrecord" in str(getattr(info, "file_format", "tfrecord")).lower()
    for base in dict.fromkeys(bases):
        whole = info.splits[base]
        if not whole.num_bytes:
            continue
        paths = [Path(os.fspath(p)) for p in getattr(whole, "filepaths", [])]
        missing = [p for p in paths if not p.is_file()]
        if missing:
            raise _damaged(name, data_dir, f"{missing[0]} is missing ({len(missing)} of {len(paths)} shard "
                                           f"file(s) of split {base!r})")
        expected = int(whole.num_bytes) + _TFRECORD_OVERHEAD * int(whole.num_examples)
        held = sum(p.stat().st_size for p in paths)
        if tfrecord and paths and held < expected:
            shown = paths[0] if len(paths) == 1 else f"{paths[0].parent}/{paths[0].name.split('.')[0]}.*"
            raise _damaged(name, data_dir, f"the shard file(s) of split {base!r} ({shown}) hold {held:,} bytes "
                                           f"where dataset_info.json records {expected:,}: truncated")


def pixel_scale(name: str) -> float:
    """What integer pixels are divided by: 255, or 1 for already-binary datasets.

    Args:
        name: A dataset name as :func:`keras_ae.load_dataset` takes it.

    Returns:
        ``1.0`` for the datasets :func:`is_prebinarized` names, else ``255.0``.

    Example:
        >>> pixel_scale("binarized_mnist"), pixel_scale("tfds:mnist")
        (1.0, 255.0)
    """
    return 1.0 if is_prebinarized(name) else 255.0


def _pairs(builder, split_name: str, image_key: str, label_key: str | tuple[str, ...] | None):
    """The split as raw ``(image, int64 label)`` pairs, streamed from the prepared files.

    A tuple of label keys gives the label vector of those features (factor indices).
    """
    import tensorflow as tf
    import tensorflow_datasets as tfds

    # try_autocache=False: TFDS would otherwise .cache() small datasets in memory; we stream.
    ds = builder.as_dataset(split=split_name, shuffle_files=False,
                            read_config=tfds.ReadConfig(try_autocache=False))

    def pair(example):
        if isinstance(label_key, tuple):
            label = tf.stack([tf.cast(example[key], tf.int64) for key in label_key])
        else:
            label = tf.cast(example[label_key], tf.int64) if label_key else tf.constant(NO_LABEL, tf.int64)
        return example[image_key], label

    return ds.map(pair, num_parallel_calls=tf.data.AUTOTUNE)


@contextlib.contextmanager
def _read_errors(name: str, split: str, data_dir: str | os.PathLike | None):
    """TensorFlow's errors while reading prepared files (``DataLossError`` on a corrupted record,
    ``NotFoundError`` on a vanished shard) as :class:`DatasetNotAvailableError` naming the split."""
    import tensorflow as tf

    try:
        yield
    except tf.errors.OpError as exc:
        # TensorFlow wraps the reason in "{{function_node ...}} <reason> [Op:IteratorGetNext]".
        reason = re.sub(r"\{\{function_node [^}]*\}\}\s*|\s*\[Op:.*", "", str(exc.message)).strip()
        raise _damaged(name, data_dir, f"reading split {split!r} failed with {type(exc).__name__}: "
                                       f"{reason[:200]}") from None


def _peek(ds, name: str, split: str, data_dir: str | os.PathLike | None):
    """Reads the first element of a stream now, so an unreadable split fails at load time, translated."""
    with _read_errors(name, split, data_dir):
        for _ in ds.take(1):
            pass
    return ds


def _to_arrays(pairs, shape: tuple, scale: float, flatten: bool, labelled: bool, name: str = "", split: str = "",
               data_dir: str | os.PathLike | None = None):
    """Materializes a pairs dataset as float32 images (and int64 labels or None)."""
    from keras_ae.data.images import Split, _to_float

    xs, ys = [], []
    with _read_errors(name, split, data_dir):
        for x, y in pairs.batch(2048).as_numpy_iterator():
            xs.append(x)
            ys.append(y)
    if xs:
        x = np.concatenate(xs)
    else:
        x = np.zeros((0, *shape), np.uint8)
    del xs  # the uint8 chunks: freed before the 4x larger float32 copy is made
    x = _to_float(x, shape, scale=scale)
    if flatten:
        x = x.reshape(len(x), -1)
    y = (np.concatenate(ys) if ys else np.zeros(0, np.int64)).astype(np.int64) if labelled else None
    return Split(x, y)


def load_tfds(
    name: str,
    data_dir: str | os.PathLike | None = None,
    flatten: bool = False,
    download: bool = False,
    split: tuple[str, str] | None = None,
    as_dataset: bool = False,
) -> Dataset | tuple[tf.data.Dataset, tf.data.Dataset]:
    """Loads a TFDS image dataset; :func:`keras_ae.load_dataset` calls it for TFDS names.

    Images become float32 in [0, 1] (integer pixels / :func:`pixel_scale`); the label is the
    class label of :func:`feature_keys`, or the factor indices of :data:`FACTOR_LABELS`.

    Args:
        name: A keras_ae TFDS name, e.g. ``"tfds:mnist"`` or ``"binarized_mnist"``.
        data_dir: The TFDS data folder (``None``: ``$TFDS_DATA_DIR`` or ``~/tensorflow_datasets``).
        flatten: Flatten images to vectors.
        download: Download and prepare the dataset when it is not prepared yet.
        split: ``(train_split, test_split)`` in TFDS slicing syntax (default: see :func:`default_splits`).
        as_dataset: Stream ``(train_ds, test_ds)`` from the prepared files instead of loading arrays.

    Returns:
        ``Dataset((x_train, y_train), (x_test, y_test))`` (``y`` is None without labels),
        or with ``as_dataset=True`` ``(train_ds, test_ds)`` of unbatched ``(image, label)``
        (label ``-1`` without labels).

    Raises:
        UnknownNameError: TFDS knows no such dataset.
        DatasetNotAvailableError: the dataset is not prepared (and ``download`` is False), the
            download failed, or the prepared files are damaged.
        InputValidationError: a bad ``split``, or images of varying size without ``as_dataset``.

    Example:
        ```python
        (x_train, y_train), (x_test, y_test) = load_tfds("tfds:mnist", "~/tensorflow_datasets")
        x_train.shape  # (60000, 28, 28, 1)
        ```
    """
    from keras_ae.data.images import scale_images

    builder = ensure_prepared(name, data_dir, download=download)
    info = builder.info
    image_key, label_key = feature_keys(info)
    factors = FACTOR_LABELS.get(_base_name(name), ())
    if factors and all(key in info.features for key in factors):
        label_key = factors
    splits = default_splits(info, split)
    check_splits(name, builder, splits, data_dir)
    shape = tuple(info.features[image_key].shape)
    scale = pixel_scale(name)
    pairs = [_pairs(builder, s, image_key, label_key) for s in splits]
    if as_dataset:
        return tuple(_peek(scale_images(ds, shape, scale=scale, flatten=flatten), name, s, data_dir)
                     for ds, s in zip(pairs, splits))
    if any(d is None for d in shape):
        raise InputValidationError(
            f"TFDS dataset {tfds_name(name)!r} has images of varying size {shape}: use as_dataset=True "
            "and resize them in the pipeline.")
    from keras_ae.data.images import Dataset

    return Dataset(*(_to_arrays(ds, shape, scale, flatten, label_key is not None, name, s, data_dir)
                     for ds, s in zip(pairs, splits)))


__all__ = [
    "FACTOR_LABELS", "NO_LABEL", "TFDS_ALIASES", "TFDS_DATASETS", "TFDS_PREFIX", "check_splits", "default_splits",
    "ensure_prepared", "feature_keys", "get_builder", "is_prebinarized", "is_tfds_name", "load_tfds", "pixel_scale",
    "prepare_command", "tfds_name", "tfds_status",
]
