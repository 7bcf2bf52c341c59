"""Training-config handling of the ``keras-ae`` command line (:mod:`keras_ae.cli`).

Holds the settings of ``keras-ae train`` and their defaults (``TRAIN_DEFAULTS``), the
bounded reading of ``--config`` files and ``-p KEY=VALUE`` values (``yaml.safe_load``,
plain data only, at most ``MAX_CONFIG_BYTES`` bytes, ``MAX_CONFIG_VALUES`` values with
YAML aliases expanded, ``MAX_CONFIG_DEPTH`` levels), the value checks of every setting
(:func:`check_train_config`), the merge of defaults, file and flags
(:func:`resolve_train_config`), where a config file may write (:func:`check_config_out`),
the :class:`UsageError` of a bad command line (exit code 2) and the bounded echo of user
values in messages (``_show``, ``_one_line``). :mod:`keras_ae.cli` re-exports the public
names: ``from keras_ae.cli import read_config`` keeps working.
"""

from __future__ import annotations

import argparse
import math
import os
import reprlib
from pathlib import Path
from typing import Any, Sequence

# Keys a --config file may hold (the flags of `keras-ae train`, plus builder params).
TRAIN_DEFAULTS: dict[str, Any] = {
    "model": None, "dataset": "digits", "data_dir": None, "epochs": 10, "batch_size": 128,
    "learning_rate": 1e-3, "seed": 0, "limit": None, "binarize": False, "validation": True, "out": None,
    "steps_per_execution": None, "tensorboard": None, "stream": False, "quantize": None,
    "image_size": None, "color_mode": None, "validation_split": None, "label_column": None, "missing": None,
    "params": {},
}
# Settings of image folders (--dataset dir:PATH) and tables (csv:PATH, npy:PATH); left out of a
# run's fingerprint while unset. validation_split applies to both.
FOLDER_SETTINGS = ("image_size", "color_mode", "validation_split", "label_column", "missing")
_FOLDER_ONLY, _TABLE_ONLY = ("image_size", "color_mode"), ("label_column", "missing")
# --quantize LEVELS: at most 8-bit grids (the flow and diffusion families score 8-bit images).
MAX_QUANTIZE_LEVELS = 256
# The builders' shape arguments (their first, positional one): the CLI passes the dataset's shape.
SHAPE_PARAMS = ("input_shape", "image_shape", "data_shape")
# Settings that may change between a killed run and its resumption (the rest must match).
_RESUME_FREE = ("epochs", "out", "steps_per_execution", "tensorboard")
# Bounds on what a config file (or a -p value) may hold: YAML anchors/aliases can expand a
# few hundred bytes into billions of values ("billion laughs"), so both the file size and
# the number of values after alias expansion are capped.
MAX_CONFIG_BYTES = 1 << 20
MAX_CONFIG_VALUES = 10_000
MAX_CONFIG_DEPTH = 32
# Longest user value echoed in a message, and longest error line printed.
MAX_ECHO = 80
MAX_ERROR_LINE = 2000
# keras.utils.set_random_seed accepts seeds in [0, 2**32 - 1].
MAX_SEED = 2**32 - 1


class UsageError(Exception):
    """A bad command line (exit code 2)."""



# -- bounded messages ---------------------------------------------------------------------
_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother, _REPR.maxlong = 3, MAX_ECHO, MAX_ECHO, MAX_ECHO
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = 8


def _show(value: Any, limit: int = MAX_ECHO) -> str:
    """A bounded ``repr`` for messages: a user value (maybe huge or self-referential) is
    never echoed in full.

    Args:
        value: Anything a user passed.
        limit: Longest result.

    Returns:
        At most ``limit`` characters.

    Example:
        >>> len(_show("x" * 10**6)) <= 80
        True
    """
    # reprlib stops at a depth and width, so the work is bounded before the cut.
    text = _REPR.repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _one_line(message: str, limit: int = MAX_ERROR_LINE) -> str:
    """An error message as one bounded line (the CLI's contract: one line on stderr)."""
    text = " ".join(str(message).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."

def _check_plain(value: Any, where: str) -> None:
    """Refuses data that is not small, finite, plain JSON-like data.

    The walk is iterative and stops at ``MAX_CONFIG_VALUES`` values, so an alias bomb or a
    self-referencing YAML list costs at most that many steps.

    Raises:
        UsageError: too many values (aliases counted as expanded), nesting deeper than
            ``MAX_CONFIG_DEPTH``, a non-plain value (date, bytes, set) or NaN/inf.
    """
    stack, seen = [(value, 0)], 0
    while stack:
        item, depth = stack.pop()
        seen += 1
        if seen > MAX_CONFIG_VALUES:
            raise UsageError(f"{where} holds more than {MAX_CONFIG_VALUES:,} values (YAML aliases counted as "
                             "expanded); a training config is a few plain settings.")
        if depth > MAX_CONFIG_DEPTH:
            raise UsageError(f"{where} is nested more than {MAX_CONFIG_DEPTH} levels deep.")
        if isinstance(item, dict):
            stack.extend((part, depth + 1) for pair in item.items() for part in pair)
        elif isinstance(item, list):
            stack.extend((part, depth + 1) for part in item)
        elif isinstance(item, float) and not math.isfinite(item):
            raise UsageError(f"{where} holds a non-finite number ({item}); use finite numbers.")
        elif not (item is None or isinstance(item, (str, int, float, bool))):
            raise UsageError(f"{where} holds a {type(item).__name__} ({_show(item)}); keras-ae reads plain data "
                             "only (strings, numbers, booleans, lists, mappings).")


def _safe_yaml(text: str, where: str) -> Any:
    """``yaml.safe_load``: plain data only; a ``!!python/...`` tag is refused, never run.

    The result is also bounded (see :func:`_check_plain`): YAML aliases cannot blow it up.
    """
    import yaml

    try:
        value = yaml.safe_load(text)
    except yaml.constructor.ConstructorError as exc:
        raise UsageError(f"{where} uses a YAML tag that would build a Python object ({exc.problem}); keras-ae "
                         "reads plain data only (strings, numbers, lists, mappings).") from exc
    except yaml.YAMLError as exc:
        raise UsageError(f"{where} is not valid JSON/YAML: {_one_line(exc, 300)}") from exc
    except RecursionError as exc:  # PyYAML composes nested collections recursively
        raise UsageError(f"{where} is nested too deeply (at most {MAX_CONFIG_DEPTH} levels).") from exc
    _check_plain(value, where)
    return value


def _parse_value(text: str) -> Any:
    return _safe_yaml(text, f"--param value {_show(text)}")


def _parse_params(items: Sequence[str]) -> dict:
    params = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key.isidentifier():
            raise UsageError("--param expects KEY=VALUE (e.g. -p code_dim=16 or -p hidden=[64,32]), "
                             f"got {_show(item)}.")
        params[key] = _parse_value(value)
    return params


def read_config(path: str | os.PathLike) -> dict:
    """Reads a JSON or YAML training config (``yaml.safe_load`` reads both).

    Args:
        path: File with keys among ``TRAIN_DEFAULTS`` (``model``, ``dataset``, ``epochs``,
            ``batch_size``, ``learning_rate``, ``seed``, ``params``, ...).

    Returns:
        The config dict.

    Example:
        >>> path = tmp_dir / "config.yaml"
        >>> _ = path.write_text("model: denoising\\nepochs: 2\\nparams: {level: 0.3}\\n")
        >>> read_config(path)
        {'model': 'denoising', 'epochs': 2, 'params': {'level': 0.3}}
        >>> _ = path.write_text("model: dense\\nepoch: 2\\n")
        >>> read_config(path)
        Traceback (most recent call last):
        ...
        keras_ae.cli_config.UsageError: Unknown key(s) ['epoch'] in ...; valid keys: model, dataset, ...
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No such config file: {path}")
    # Read at most one byte more than allowed: the size check holds even if the file grows.
    with path.open("rb") as f:
        data = f.read(MAX_CONFIG_BYTES + 1)
    if len(data) > MAX_CONFIG_BYTES:
        raise UsageError(f"{path} is larger than {MAX_CONFIG_BYTES:,} bytes; a training config is a few settings.")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path} is not a UTF-8 text file (byte {exc.start}); give a JSON or YAML file.") from exc
    config = _safe_yaml(text, str(path))
    config = {} if config is None else config
    if not isinstance(config, dict):
        raise UsageError(f"{path} must hold a mapping of settings, got {type(config).__name__}.")
    unknown = [key for key in config if key not in TRAIN_DEFAULTS]
    if unknown:
        raise UsageError(f"Unknown key(s) {_show(unknown)} in {path}; valid keys: {', '.join(TRAIN_DEFAULTS)}.")
    if not isinstance(config.get("params", {}), dict):
        raise UsageError(f"`params` in {path} must be a mapping of builder arguments.")
    return config


def check_config_out(out: Any, source: str | os.PathLike) -> str:
    """Where a config file (possibly someone else's) may write: below the current folder,
    or the config's own folder (so ``--config runs/x/config.json`` reruns in place).

    Args:
        out: The ``out`` value of the config file (any YAML value; only a non-empty string passes).
        source: The config file the value comes from.

    Returns:
        ``out``, unchanged.

    Raises:
        UsageError: ``out`` is not a non-empty string, or is neither below the current folder nor the
            config file's own folder.

    Example:
        >>> check_config_out("runs/x", "shared/run.yaml")
        'runs/x'
    """
    from keras_ae.saving import is_inside

    if isinstance(out, str) and out and (
            is_inside(out, Path.cwd()) or os.path.realpath(out) == os.path.realpath(Path(source).parent)):
        return out
    raise UsageError(f"`out: {_show(out)}` in {source} points outside the current folder; a config file may only "
                     "write below the current folder or into its own folder. Pass --out to choose the folder.")


def resolve_train_config(args: argparse.Namespace) -> dict:
    """Defaults, then the ``--config`` file, then explicit flags (flags win).

    The merged settings are checked (:func:`check_train_config`); an ``out`` read from the
    config file (no ``--out`` flag) must pass :func:`check_config_out`, and an unset ``out``
    becomes ``runs/train_<model>``.

    Args:
        args: The parsed ``keras-ae train`` command line.

    Returns:
        The resolved settings: every key of ``TRAIN_DEFAULTS``, ``params`` merged from the file
        and the ``-p`` flags.

    Raises:
        UsageError: no model named, or a bad setting, file or ``-p`` value.

    Example:
        >>> from keras_ae.cli import build_parser
        >>> resolve_train_config(build_parser().parse_args(["train", "dense"]))["epochs"]
        10
    """
    config = {**TRAIN_DEFAULTS, "params": {}}
    if args.config:
        file_config = read_config(args.config)
        config.update({k: v for k, v in file_config.items() if k != "params"})
        config["params"].update(file_config.get("params") or {})
    for key in TRAIN_DEFAULTS:
        value = getattr(args, key, None)
        if key != "params" and value is not None:
            config[key] = value
    config["params"].update(_parse_params(args.param))
    if not config["model"]:
        raise UsageError("Name a model (e.g. `keras-ae train denoising`) or give one in --config.")
    check_train_config(config)
    if args.config and getattr(args, "out", None) is None and config["out"] is not None:
        check_config_out(config["out"], args.config)
    if config["out"] is None:
        config["out"] = str(Path("runs") / f"train_{config['model']}")
    return config


def _file_in_the_way(folder: str) -> Path | None:
    """The path itself or its nearest existing ancestor when that is not a folder, else ``None``.

    Example:
        >>> _file_in_the_way(__file__) is not None, _file_in_the_way(str(tmp_dir / "new" / "run"))
        (True, None)
    """
    path = Path(folder).expanduser()
    for candidate in (path, *path.parents):
        if candidate.exists():
            return None if candidate.is_dir() else candidate
    return None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # True is an int in Python


def check_folder_settings(config: dict) -> None:
    """Checks the settings of image folders and tables (``FOLDER_SETTINGS``).

    ``image_size`` and ``color_mode`` apply to image folders (``dir:PATH``), ``label_column``
    and ``missing`` to tables (``csv:PATH``, ``npy:PATH``), ``validation_split`` to both. They
    are flags and config-file keys (``--config``): ``image_size: [64, 64]``, ``color_mode: rgb``,
    ``validation_split: 0.1``, ``label_column: diagnosis``, ``missing: drop``; unset,
    :func:`keras_ae.load_dataset`'s defaults apply.

    Args:
        config: Training settings (keys of ``TRAIN_DEFAULTS``; ``dataset`` decides which apply).

    Raises:
        UsageError: a setting given for a dataset it does not apply to, or a bad value.

    Example:
        >>> check_folder_settings({"dataset": "digits", "image_size": [28, 28]})
        Traceback (most recent call last):
        ...
        keras_ae.cli_config.UsageError: image_size applies to image folders (--dataset dir:PATH) only, ...
    """
    given = [key for key in FOLDER_SETTINGS if config.get(key) is not None]
    if not given:
        return
    dataset = str(config.get("dataset", ""))
    from keras_ae.data.tables import is_table_name

    folder, table = dataset.startswith("dir:"), is_table_name(dataset)
    for key in given:
        if key in _FOLDER_ONLY and not folder:
            raise UsageError(f"{key} applies to image folders (--dataset dir:PATH) only, not "
                             f"{_show(config.get('dataset'))}.")
        if key in _TABLE_ONLY and not table:
            raise UsageError(f"{key} applies to tables (--dataset csv:PATH or npy:PATH) only, not "
                             f"{_show(config.get('dataset'))}.")
        if not (folder or table):
            raise UsageError(f"{key} applies to image folders (dir:PATH) and tables (csv:PATH, npy:PATH) only, "
                             f"not {_show(config.get('dataset'))}.")
    size = config.get("image_size")
    if size is not None and (not isinstance(size, list) or len(size) != 2
                             or not all(_is_int(d) and d >= 1 for d in size)):
        raise UsageError(f"image_size must be [height, width] of positive integers, got {_show(size)}.")
    if config.get("color_mode") not in (None, "grayscale", "rgb"):
        raise UsageError(f"color_mode must be grayscale or rgb, got {_show(config['color_mode'])}.")
    split = config.get("validation_split")
    if split is not None and (isinstance(split, bool) or not isinstance(split, (int, float)) or not 0 < split < 1):
        raise UsageError(f"validation_split must be a fraction in (0, 1), got {_show(split)}.")
    column = config.get("label_column")
    if column is not None and (not isinstance(column, str) or not column.strip() or len(column) > 1000):
        raise UsageError(f"label_column must name a column of the table, got {_show(column)}.")
    if config.get("missing") not in (None, "error", "drop"):
        raise UsageError(f"missing must be error or drop, got {_show(config['missing'])}.")


def folder_options(config: dict) -> dict:
    """The :func:`keras_ae.load_dataset` arguments of the folder and table settings that are set.

    Args:
        config: Training settings; the keys of ``FOLDER_SETTINGS`` are read, missing ones count as unset.

    Returns:
        Setting -> value for each of ``FOLDER_SETTINGS`` that is not ``None`` (``image_size`` as a tuple).

    Example:
        >>> folder_options({"image_size": [28, 28], "color_mode": None, "validation_split": None})
        {'image_size': (28, 28)}
    """
    options = {key: config.get(key) for key in FOLDER_SETTINGS if config.get(key) is not None}
    if "image_size" in options:
        options["image_size"] = tuple(options["image_size"])
    return options


def check_train_config(config: dict) -> dict:
    """Checks (and normalizes, in place) the value of every training setting.

    Strict on purpose: ``epochs: true`` (a bool is an int in Python), ``binarize: 'no'``
    (a non-empty string is truthy), a negative ``--learning-rate`` (gradient ascent) or
    ``--limit`` (slices from the end) would otherwise run silently.

    Args:
        config: Resolved settings (keys of ``TRAIN_DEFAULTS``).

    Returns:
        ``config``, with ``learning_rate`` as a float.

    Raises:
        UsageError: naming the first bad setting and its (shortened) value.

    Example:
        >>> check_train_config({**TRAIN_DEFAULTS, "model": "dense", "learning_rate": "1e-3"})["learning_rate"]
        0.001
    """
    def bad(key: str, expected: str) -> UsageError:
        return UsageError(f"{key} must be {expected}, got {_show(config[key])}.")

    for key in ("model", "dataset"):
        if not isinstance(config[key], str) or not config[key]:
            raise bad(key, "a name (a string)")
    for key in ("data_dir", "out", "tensorboard"):  # '' would mean the current folder: refuse it
        if config[key] is not None and (not isinstance(config[key], str) or not config[key].strip()):
            raise bad(key, "a non-empty folder path")
    for key in ("out", "tensorboard"):  # folders the run writes: a file in the way is a bad value
        blocker = _file_in_the_way(config[key]) if config[key] is not None else None
        if blocker is not None:
            where = "is a file" if blocker == Path(config[key]) else f"is below the file {_show(str(blocker))}"
            raise UsageError(f"{key} must be a folder, but {_show(config[key])} {where}; give a folder path.")
    for key in ("epochs", "batch_size"):
        if not _is_int(config[key]) or config[key] < 1:
            raise bad(key, "a positive integer")
    quantize = config.get("quantize")  # None: the model's own grid, if it has one
    if quantize is not None and (not _is_int(quantize) or not 2 <= quantize <= MAX_QUANTIZE_LEVELS):
        raise bad("quantize", f"a number of grey levels in [2, {MAX_QUANTIZE_LEVELS}] (256: 8-bit images)")
    for key in ("limit", "steps_per_execution"):  # None: all examples / the model's default
        if config[key] is not None and (not _is_int(config[key]) or config[key] < 1):
            raise bad(key, "a positive integer")
    if not _is_int(config["seed"]) or not 0 <= config["seed"] <= MAX_SEED:
        raise bad("seed", f"an integer in [0, {MAX_SEED}]")
    for key in ("binarize", "validation", "stream"):
        if not isinstance(config[key], bool):
            raise bad(key, "true or false")
    rate = config["learning_rate"]
    if isinstance(rate, str):  # YAML 1.1 reads `1e-3` (no dot) as a string
        try:
            rate = float(rate)
        except ValueError:
            raise bad("learning_rate", "a positive number") from None
    if not isinstance(rate, (int, float)) or isinstance(rate, bool) or not math.isfinite(rate) or rate <= 0:
        raise bad("learning_rate", "a positive number")
    config["learning_rate"] = float(rate)
    check_folder_settings(config)
    params = config["params"]
    if not isinstance(params, dict) or not all(isinstance(k, str) and k.isidentifier() for k in params):
        raise bad("params", "a mapping of builder argument names to values")
    shape = [key for key in SHAPE_PARAMS if key in params]
    if shape:
        raise UsageError(f"params may not set {shape[0]}: the shape comes from the dataset (see --dataset).")
    return config
