"""Numeric tables as datasets: ``load_dataset("csv:PATH")`` and ``load_dataset("npy:PATH")``.

Formats:

* ``csv:PATH``: a UTF-8 CSV file (an Excel BOM is fine) whose first line names the columns.
  Every column but the optional ``label_column`` holds numbers.
* ``npy:PATH`` (``npz:PATH`` is the same): a ``.npy`` file with one 2-D numeric array, or a
  ``.npz`` archive with the rows under ``x`` and optional labels under ``y`` (other keys are
  ignored). The file's contents decide, not its extension. Pickled (object) arrays are refused.

Rows come back float32 ``(n, columns)``. Every bad input fails with one error naming the file
and where (CSV line and column name, or array row and column): a missing, empty, unreadable
or too large file (:class:`~keras_ae.errors.DatasetNotAvailableError`), and with
:class:`~keras_ae.errors.InputValidationError` a missing header, ragged rows, missing values
(unless ``missing="drop"``), text in a numeric column, infinite values, an unknown
``label_column``, too many columns, and constant columns (standardizing them would divide by
zero; ``constant="drop"`` removes them instead).
"""

from __future__ import annotations

import array
import csv
import os
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from keras_ae.errors import DatasetNotAvailableError, InputValidationError
from keras_ae.validation import check_choice, check_float, check_int, short_repr

if TYPE_CHECKING:
    import tensorflow as tf

    from keras_ae.data.images import Dataset

CSV_PREFIX, NPY_PREFIX, NPZ_PREFIX = "csv:", "npy:", "npz:"
TABLE_PREFIXES = (CSV_PREFIX, NPY_PREFIX, NPZ_PREFIX)
# Files larger than this are refused before reading (checked with os.stat): a 2 GiB CSV is
# about 250 million numbers, 1 GB of float32 rows, and parsing it takes Python many minutes.
MAX_TABLE_BYTES = 2 << 30
# Columns of one table: a first dense layer of 128 units on 100,000 inputs holds 12.8 million
# weights; wider data (raw pixels, k-mer counts) calls for a convolutional or sparse model.
MAX_COLUMNS = 100_000
# Cell texts read as missing values (compared lowercased, without surrounding spaces); any
# spelling of NaN that float() reads counts too.
MISSING_TOKENS = frozenset({"", "na", "n/a", "nan", "null"})
MISSING_POLICIES = ("error", "drop")
CONSTANT_POLICIES = ("error", "drop")
# A column whose standard deviation is at most this is constant for standardization: Keras'
# Normalization divides by max(stddev, 1e-7), so such a column would not be standardized.
MIN_STDDEV = 1e-7
_LISTED = 10  # column names listed in one message
_EXCERPT = 40  # characters of a bad cell quoted in a message


@dataclass(frozen=True)
class Table:
    """A numeric table as read from a file, before the train / test split.

    Attributes:
        x: float32 rows ``(n, columns)``.
        y: int64 class ids ``(n,)``, or ``None`` without labels.
        columns: The names of the columns of ``x`` (``"0"``, ``"1"``, ... for arrays).
        classes: The label text of each class id when the labels were not non-negative
            integers (id ``i`` is ``classes[i]``), else ``None``.
        source: The file.

    Example:
        >>> table = Table(np.zeros((3, 2), "float32"), None, ("size", "mass"), None, Path("cells.csv"))
        >>> table.x.shape, table.columns, table.y is None
        ((3, 2), ('size', 'mass'), True)
    """

    x: np.ndarray
    y: np.ndarray | None
    columns: tuple[str, ...]
    classes: tuple[str, ...] | None
    source: Path


def is_table_name(name: Any) -> bool:
    """Whether ``name`` names a table file for :func:`keras_ae.load_dataset` (``csv:``, ``npy:`` or ``npz:``).

    Args:
        name: A dataset name.

    Returns:
        ``True`` for ``"csv:PATH"``, ``"npy:PATH"`` and ``"npz:PATH"``.

    Example:
        >>> is_table_name("csv:data/cells.csv"), is_table_name("npy:x.npz"), is_table_name("mnist")
        (True, True, False)
    """
    return isinstance(name, str) and name.startswith(TABLE_PREFIXES)


def table_of(name: str) -> tuple[Path, str]:
    """The file and format (``"csv"`` or ``"npy"``) a table name points to (``~`` expanded).

    Args:
        name: ``"csv:PATH"``, ``"npy:PATH"`` or ``"npz:PATH"``.

    Returns:
        ``(path, format)``.

    Raises:
        InputValidationError: for a name without a path.

    Example:
        >>> path, kind = table_of("npz:/data/cells.npz")
        >>> str(path), kind
        ('/data/cells.npz', 'npy')
    """
    prefix = name[:4]
    path = name[4:]
    if not path.strip():
        raise InputValidationError(f"{name!r} names no file; write {prefix}PATH, e.g. {prefix}data/table.csv.")
    return Path(path).expanduser(), "csv" if prefix == CSV_PREFIX else "npy"


def read_table(path: str | os.PathLike, label_column: str | None = None, missing: str = "error",
               format: str | None = None) -> Table:
    """Reads a CSV file or a NumPy ``.npy`` / ``.npz`` file as a numeric :class:`Table`.

    Labels: a CSV ``label_column`` (or an ``.npz`` ``y``) of non-negative integers gives
    those integers as class ids; any other labels (text, negative numbers, ``1.5``) are
    mapped in sorted order to 0..K-1 and ``Table.classes`` holds the sorted texts.

    Args:
        path: The file.
        label_column: CSV only: the name of the column holding class labels (``None``: no labels).
        missing: ``"error"`` (default): refuse a missing value (an empty cell, ``NA``, ``NaN``,
            ``null``), naming its line and column; ``"drop"``: drop the rows with any missing
            value (a warning says how many).
        format: ``"csv"`` or ``"npy"`` (``.npy`` and ``.npz``); default: from the extension
            (``.npy`` and ``.npz`` are NumPy files, anything else CSV).

    Returns:
        A :class:`Table`.

    Raises:
        DatasetNotAvailableError: a missing, unreadable, empty or too large file, or one that
            is not CSV text / a NumPy file.
        InputValidationError: a bad value or layout, naming the file, line (or row) and column.

    Example:
        >>> _ = (tmp_dir / "t.csv").write_text("a,b,kind\\n1,10,x\\n2,20,y\\n3,35,x\\n")
        >>> table = read_table(tmp_dir / "t.csv", label_column="kind")
        >>> table.x.shape, table.x.dtype, table.columns, table.y.tolist(), table.classes
        ((3, 2), dtype('float32'), ('a', 'b'), [0, 1, 0], ('x', 'y'))
    """
    path = Path(os.fspath(path)).expanduser()
    check_choice(missing, "missing", MISSING_POLICIES)
    if format is None:
        format = "npy" if path.suffix.lower() in (".npy", ".npz") else "csv"
    check_choice(format, "table format", ("csv", "npy"))
    _check_file(path)
    if format == "csv":
        return _read_csv(path, label_column, missing)
    if label_column is not None:
        raise InputValidationError(
            f"label_column= applies to CSV files; the labels of {path} are the array 'y' of an .npz file.")
    return _read_arrays(path, missing)


def _check_file(path: Path) -> None:
    """Refuses a missing, unreadable, empty or too large file before reading it."""
    try:
        info = path.stat()
    except FileNotFoundError as exc:
        raise DatasetNotAvailableError(f"No such table file: {path}") from exc
    except OSError as exc:
        raise DatasetNotAvailableError(f"{path} cannot be read: {exc.strerror or exc}.") from exc
    if path.is_dir():
        raise DatasetNotAvailableError(f"{path} is a folder; a table is one CSV, .npy or .npz file "
                                       "(a folder of images loads as 'dir:PATH').")
    if info.st_size == 0:
        raise DatasetNotAvailableError(f"{path} is empty (0 bytes).")
    if info.st_size > MAX_TABLE_BYTES:
        raise DatasetNotAvailableError(
            f"{path} is {info.st_size / 2**30:.1f} GiB, more than the {MAX_TABLE_BYTES / 2**30:g} GiB keras_ae "
            "reads as a table; split it or sample its rows.")
    if not os.access(path, os.R_OK):
        raise DatasetNotAvailableError(f"{path} cannot be read: permission denied.")


def _column(columns: Sequence[str], j: int) -> str:
    name = columns[j]
    return f"column {short_repr(name, _EXCERPT)}" if name else f"column {j + 1} (no name)"


def _listing(names: Sequence[str]) -> str:
    shown = ", ".join(short_repr(n, _EXCERPT) for n in names[:_LISTED])
    return shown + (f" and {len(names) - _LISTED} more" if len(names) > _LISTED else "")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_csv(path: Path, label_column: str | None, missing: str) -> Table:
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            header = _header(reader, path, label_column)
            return _read_rows(reader, header, path, label_column, missing)
    except UnicodeDecodeError as exc:
        raise DatasetNotAvailableError(
            f"{path} is not UTF-8 text (byte {exc.start} cannot be decoded); save it as a UTF-8 CSV file.") from exc
    except csv.Error as exc:
        raise InputValidationError(f"{path}, line {reader.line_num}: not valid CSV ({str(exc)[:120]}).") from exc
    except DatasetNotAvailableError:  # an OSError too: already says what is wrong
        raise
    except OSError as exc:
        raise DatasetNotAvailableError(f"{path} cannot be read: {exc.strerror or exc}.") from exc


def _header(reader, path: Path, label_column: str | None) -> list[str]:
    header = next(reader, None)
    while header == []:  # blank lines before the header
        header = next(reader, None)
    if header is None:
        raise DatasetNotAvailableError(f"{path} holds no lines (only blank ones); a table needs a header line "
                                       "of column names and rows of numbers.")
    header = [name.strip() for name in header]
    if len(header) > MAX_COLUMNS:
        raise InputValidationError(
            f"{path} has {len(header):,} columns, more than the {MAX_COLUMNS:,} keras_ae reads as a table "
            "(a dense model's first layer would hold that many weights per unit); select columns first.")
    if all(name and name.lower() not in MISSING_TOKENS and _is_number(name) for name in header):
        raise InputValidationError(
            f"{path} has no header: its first line holds numbers ({short_repr(','.join(header), _EXCERPT)}). "
            "Add a first line with the column names.")
    seen: set[str] = set()
    for name in header:
        if name and name in seen:
            raise InputValidationError(f"{path}: the header names the column {short_repr(name, _EXCERPT)} twice; "
                                       "column names must be unique.")
        seen.add(name)
    if label_column is not None:
        if not isinstance(label_column, str):
            raise InputValidationError(f"label_column must be a column name (str), got {short_repr(label_column)}.")
        if label_column not in header:
            raise InputValidationError(
                f"label_column {short_repr(label_column, _EXCERPT)} is not a column of {path}; its columns are "
                f"{_listing(header)}.")
        if len(header) == 1:
            raise InputValidationError(f"{path} holds only the label column {label_column!r}; no numeric columns.")
    return header


def _read_rows(reader, header: list[str], path: Path, label_column: str | None, missing: str) -> Table:
    n_columns = len(header)
    label_index = header.index(label_column) if label_column is not None else -1
    values = array.array("d")  # compact: 8 bytes per number while reading
    labels: list[str] = []
    n_rows = dropped = 0
    first_drop = ""
    for row in reader:
        if not row:
            continue  # blank line
        if len(row) != n_columns:
            raise InputValidationError(
                f"{path}, line {reader.line_num}: {len(row)} values, but the header names {n_columns} columns; "
                "every row needs one value per column (ragged rows).")
        parsed: list[float] = []
        label = None
        hole = -1
        for j, cell in enumerate(row):
            text = cell.strip()
            if j == label_index:
                label = text
                if text.lower() in MISSING_TOKENS and hole < 0:
                    hole = j
                continue
            if text.lower() in MISSING_TOKENS:
                hole = j if hole < 0 else hole  # the message names the first
                parsed.append(0.0)
                continue
            try:
                number = float(text)
            except ValueError:
                hint = " (pass label_column= to name a column of labels)" if label_column is None else ""
                raise InputValidationError(
                    f"{path}, line {reader.line_num}, {_column(header, j)}: {short_repr(text, _EXCERPT)} is not a "
                    f"number; every column but the label column must hold numbers{hint}.") from None
            if number != number:  # NaN
                hole = j if hole < 0 else hole
            elif number in (float("inf"), float("-inf")) or abs(number) > 3.4028234e38:
                raise InputValidationError(
                    f"{path}, line {reader.line_num}, {_column(header, j)}: {short_repr(text, _EXCERPT)} is infinite "
                    "(or beyond the float32 range, |x| > 3.4e38); fix or remove that value.")
            parsed.append(number)
        if hole >= 0:
            where = f"line {reader.line_num}, {_column(header, hole)}"
            if missing == "error":
                raise InputValidationError(
                    f"{path}, {where}: missing value ({short_repr(row[hole].strip(), _EXCERPT)}). Fill it in, or "
                    "pass missing='drop' to drop the rows with missing values.")
            dropped += 1
            first_drop = first_drop or where
            continue
        values.extend(parsed)
        if label is not None:
            labels.append(label)
        n_rows += 1
    if dropped:
        warnings.warn(f"{path}: dropped {dropped} of {n_rows + dropped} rows with missing values "
                      f"(missing='drop'; the first at {first_drop}).", stacklevel=4)
    if n_rows == 0:
        raise InputValidationError(f"{path} has a header but no rows of data"
                                   f"{' left after dropping the rows with missing values' if dropped else ''}.")
    columns = tuple(name for j, name in enumerate(header) if j != label_index)
    x = np.frombuffer(values, dtype=np.float64).reshape(n_rows, len(columns)).astype(np.float32)
    y, classes = (None, None) if label_column is None else _class_ids(labels)
    return Table(x, y, columns, classes, path)


def _class_ids(labels: Sequence[str]) -> tuple[np.ndarray, tuple[str, ...] | None]:
    """Non-negative integer labels as they are; anything else mapped in sorted order to 0..K-1."""
    if all(text.isascii() and text.isdigit() for text in labels):  # "0", "17": ASCII digits only, no sign, no point
        return np.array([int(text) for text in labels], dtype=np.int64), None
    classes = tuple(sorted(set(labels)))
    index = {name: i for i, name in enumerate(classes)}
    return np.array([index[text] for text in labels], dtype=np.int64), classes


def _read_arrays(path: Path, missing: str) -> Table:
    try:
        with open(path, "rb") as f:
            is_zip = f.read(4) == b"PK\x03\x04"
        if is_zip:
            x, y = _read_npz(path)
        else:
            x = np.load(path, mmap_mode="r", allow_pickle=False)  # reads the header only
            _check_x(x, path, "the array")
            x, y = np.array(x), None
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        if isinstance(exc, (InputValidationError, DatasetNotAvailableError)):
            raise
        raise DatasetNotAvailableError(
            f"{path} is not a readable NumPy .npy or .npz file ({str(exc)[:120]}); object (pickled) arrays are "
            "refused.") from exc
    name = "x" if is_zip else "the array"
    if np.issubdtype(x.dtype, np.integer) or x.dtype == np.bool_:
        x = x.astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        big = np.isfinite(x) & (np.abs(x) > 3.4028234e38)
    bad = np.isinf(x) | big
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise InputValidationError(
            f"{path}: {name}[{i}, {j}] is {float(x[i, j]):g}, infinite or beyond the float32 range (|x| > 3.4e38) "
            f"({int(bad.sum())} such values); fix or remove those rows.")
    holes = np.isnan(x).any(axis=1)
    if holes.any():
        i = int(np.flatnonzero(holes)[0])
        j = int(np.flatnonzero(np.isnan(x[i]))[0])
        if missing == "error":
            raise InputValidationError(
                f"{path}: {name}[{i}, {j}] (row {i}, column {j}) is NaN, a missing value ({int(holes.sum())} rows have "
                "one). Fill them in, or pass missing='drop' to drop those rows.")
        warnings.warn(f"{path}: dropped {int(holes.sum())} of {len(x)} rows with missing values (NaN; "
                      f"missing='drop'; the first is row {i}).", stacklevel=4)
        x, y = x[~holes], (None if y is None else y[~holes])
        if not len(x):
            raise InputValidationError(f"{path}: every row has a missing value (NaN); nothing is left.")
    classes = None
    if y is not None:
        y, classes = _array_class_ids(y, path)
    return Table(x.astype(np.float32), y, tuple(str(j) for j in range(x.shape[1])), classes, path)


def _read_npz(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    with zipfile.ZipFile(path) as archive:
        unpacked = sum(info.file_size for info in archive.infolist())
    if unpacked > MAX_TABLE_BYTES:
        raise DatasetNotAvailableError(
            f"{path} unpacks to {unpacked / 2**30:.1f} GiB, more than the {MAX_TABLE_BYTES / 2**30:g} GiB keras_ae "
            "reads as a table.")
    with np.load(path, allow_pickle=False) as archive:
        if "x" not in archive.files:
            raise InputValidationError(f"{path} holds no array 'x' (it holds {_listing(archive.files)}); save the rows "
                                       "with np.savez(path, x=rows, y=labels).")
        x = archive["x"]
        _check_x(x, path, "x")
        y = archive["y"] if "y" in archive.files else None
    if y is not None and (y.ndim != 1 or len(y) != len(x)):
        raise InputValidationError(f"{path}: y has shape {y.shape}; it needs one label per row of x, shape "
                                   f"({len(x)},).")
    return x, y


def _check_x(x: np.ndarray, path: Path, name: str) -> None:
    if x.ndim != 2:
        raise InputValidationError(f"{path}: {name} has shape {x.shape}; a table is 2-D (rows, columns).")
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_) or np.issubdtype(x.dtype, np.complexfloating):
        raise InputValidationError(f"{path}: {name} has dtype {x.dtype}; a table holds real numbers.")
    if x.shape[1] > MAX_COLUMNS:
        raise InputValidationError(f"{path}: {name} has {x.shape[1]:,} columns, more than the {MAX_COLUMNS:,} keras_ae "
                                   "reads as a table; select columns first.")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise InputValidationError(f"{path}: {name} has shape {x.shape}; it needs rows and columns.")


def _array_class_ids(y: np.ndarray, path: Path) -> tuple[np.ndarray, tuple[str, ...] | None]:
    if np.issubdtype(y.dtype, np.integer) and (len(y) == 0 or y.min() >= 0):
        return y.astype(np.int64), None
    if y.dtype.kind in "US":
        return _class_ids([str(v.decode() if isinstance(v, bytes) else v) for v in y.tolist()])
    if np.issubdtype(y.dtype, np.integer):
        return _class_ids([str(v) for v in y.tolist()])
    raise InputValidationError(f"{path}: y has dtype {y.dtype}; labels are integers or strings (e.g. y.astype(int)).")


def column_statistics(x: np.ndarray, columns: Sequence[str] | None = None, source: str = "the data",
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of every column (float64), refusing what standardization cannot divide by.

    The one check of standardizable rows, used by :func:`load_table` on the training split and by
    the builders' ``standardize=`` argument.

    Args:
        x: Rows ``(n, d)``, finite.
        columns: Column names for the message (default: ``"0"``, ``"1"``, ...).
        source: What the rows are, for the message (a file, ``"standardize"``).

    Returns:
        ``(mean, variance)``, two float64 arrays ``(d,)`` (variance with ``ddof=0``, as Keras'
        ``Normalization.adapt`` computes it).

    Raises:
        InputValidationError: for non-finite values, or columns whose standard deviation is at
            most :data:`MIN_STDDEV` (constant), naming them.

    Example:
        >>> mean, variance = column_statistics(np.array([[1.0, 10.0], [3.0, 30.0]]))
        >>> mean.tolist(), variance.tolist()
        ([2.0, 20.0], [1.0, 100.0])
        >>> column_statistics(np.array([[1.0, 5.0], [3.0, 5.0]]), ["age", "ones"], "cells.csv")
        Traceback (most recent call last):
        ...
        keras_ae.errors.InputValidationError: cells.csv: the column 'ones' is constant ...
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or not len(x):
        raise InputValidationError(f"{source}: rows of shape {x.shape}; standardization needs 2-D rows (n, columns).")
    if not np.isfinite(x).all():
        i, j = np.argwhere(~np.isfinite(x))[0]
        raise InputValidationError(f"{source}: row {i}, column {j} is {x[i, j]}; standardization needs finite values.")
    names = [] if columns is None else list(columns)
    mean, variance = x.mean(axis=0), x.var(axis=0)
    flat = np.flatnonzero(np.sqrt(variance) <= MIN_STDDEV)
    if flat.size:
        plural = flat.size > 1
        if columns is None:  # array columns by 0-based index
            which = ", ".join(map(str, flat[:_LISTED])) + (f" and {flat.size - _LISTED} more" if flat.size > _LISTED
                                                           else "")
            which += " (0-based)"
        else:
            which = _listing([names[j] for j in flat])
        drop = " (load_table(..., constant='drop') does)" if columns is not None else ""
        raise InputValidationError(
            f"{source}: the column{'s' if plural else ''} {which} {'are' if plural else 'is'} constant "
            f"(standard deviation <= {MIN_STDDEV:g}{' on the training split' if columns is not None else ''}); "
            f"standardizing would divide by zero. Remove {'them' if plural else 'it'}{drop}.")
    return mean, variance


def load_table(
    path: str | os.PathLike,
    label_column: str | None = None,
    missing: str = "error",
    validation_split: float = 0.2,
    seed: int = 0,
    constant: str = "error",
    format: str | None = None,
    as_dataset: bool = False,
) -> Dataset | tuple[tf.data.Dataset, tf.data.Dataset]:
    """Loads a numeric table (``load_dataset("csv:PATH")`` / ``("npy:PATH")``) split into train and test.

    The rows are shuffled with ``seed`` and the last ``validation_split`` of them is the test
    split. Constant columns are checked on the training split, the rows a model's
    ``standardize=`` argument would take. See :func:`read_table` for labels and the formats.

    Args:
        path: A CSV, ``.npy`` or ``.npz`` file.
        label_column: CSV only: the column of class labels (``None``: ``y`` is ``None``).
        missing: ``"error"`` (default) or ``"drop"`` rows with a missing value (with a warning).
        validation_split: Fraction of the rows held out as the test split, in (0, 1).
        seed: Seed of the shuffle before the split.
        constant: ``"error"`` (default): refuse constant columns, naming them;
            ``"drop"``: remove them from both splits (with a warning naming them).
        format: ``"csv"`` or ``"npy"``; default: from the extension.
        as_dataset: Return ``(train_ds, test_ds)``, ``tf.data.Dataset`` s of unbatched
            ``(row, label)`` elements (label ``-1`` without labels), instead of arrays.

    Returns:
        A :class:`~keras_ae.data.images.Dataset` ``((x_train, y_train), (x_test, y_test))``:
        float32 rows ``(n, columns)``, int64 labels ``(n,)`` or ``None``. With ``as_dataset=True``:
        ``(train_ds, test_ds)``, two ``tf.data.Dataset`` s of unbatched ``(float32 row, int64
        label)`` elements (label ``-1`` without labels).

    Raises:
        DatasetNotAvailableError: a missing, unreadable, empty or too large file.
        InputValidationError: a bad value, layout or argument (see the module docstring).

    Example:
        >>> rows = np.arange(20.0).reshape(10, 2) ** 2
        >>> np.save(tmp_dir / "rows.npy", rows)
        >>> (x_train, y_train), (x_test, y_test) = load_table(tmp_dir / "rows.npy", validation_split=0.3)
        >>> x_train.shape, x_test.shape, x_train.dtype, y_train
        ((7, 2), (3, 2), dtype('float32'), None)
    """
    from keras_ae.data.images import Dataset, Split

    validation_split = check_float(validation_split, "validation_split", 0.0, 1.0, include_minimum=False,
                                   include_maximum=False)
    seed = check_int(seed, "seed")
    check_choice(constant, "constant", CONSTANT_POLICIES)
    table = read_table(path, label_column=label_column, missing=missing, format=format)
    n = len(table.x)
    n_test = int(validation_split * n)
    if n_test < 1 or n_test >= n:
        raise InputValidationError(
            f"validation_split={validation_split} of the {n} rows of {table.source} leaves a split empty; "
            "add rows or change validation_split.")
    order = np.random.default_rng(seed).permutation(n)
    train, test = order[n_test:], order[:n_test]
    x, columns = table.x, table.columns
    if constant == "drop":
        flat = np.flatnonzero(x[train].std(axis=0, dtype=np.float64) <= MIN_STDDEV)
        if flat.size:
            warnings.warn(f"{table.source}: dropped the constant column{'s' if flat.size > 1 else ''} "
                          f"{_listing([columns[j] for j in flat])} (constant='drop').", stacklevel=2)
            keep = np.setdiff1d(np.arange(x.shape[1]), flat)
            if not keep.size:
                raise InputValidationError(f"{table.source}: every column is constant; nothing is left to learn.")
            x, columns = x[:, keep], tuple(columns[j] for j in keep)
    column_statistics(x[train], columns, str(table.source))
    y = table.y
    if as_dataset:
        import tensorflow as tf

        from keras_ae.data.tfds import NO_LABEL

        labels = np.full(n, NO_LABEL, np.int64) if y is None else y
        return tuple(tf.data.Dataset.from_tensor_slices((x[s], labels[s])) for s in (train, test))
    return Dataset(Split(x[train], None if y is None else y[train]), Split(x[test], None if y is None else y[test]))


__all__ = ["CONSTANT_POLICIES", "CSV_PREFIX", "MAX_COLUMNS", "MAX_TABLE_BYTES", "MIN_STDDEV", "MISSING_POLICIES",
           "MISSING_TOKENS", "NPY_PREFIX", "NPZ_PREFIX", "TABLE_PREFIXES", "Table", "column_statistics",
           "is_table_name", "load_table", "read_table", "table_of"]
