"""Where an export goes: ``base_dir/name/<version>/``, TensorFlow Serving's layout.

Versions are published atomically: a SavedModel is written into a temporary sibling
folder (``.keras_ae-tmp-<pid>-...``) and renamed into place. Automatic versions are
claimed by that rename (which refuses an existing target), so concurrent exports of
one name get distinct, consecutive versions. A version is a folder whose name is ASCII
digits only and fits TensorFlow Serving's int64; every other entry (temporaries, ``²``,
``.DS_Store``) is ignored.
"""

from __future__ import annotations

import ctypes
import errno
import os
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from keras_ae.errors import InputValidationError, KerasAEError

DEFAULT_BASE_DIR = "saved_models"
_TMP_PREFIX = ".keras_ae-tmp-"
# fullmatch, not match + "$": "$" also matches before a trailing newline ("abc\n").
_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
# ASCII digits only: str.isdigit() accepts "²" and "٣", which int() or TF Serving reject.
_VERSION_PATTERN = re.compile(r"[0-9]{1,19}")
MAX_VERSION = 2**63 - 1  # TensorFlow Serving parses version folders as int64


class ExportExistsError(KerasAEError, FileExistsError):
    """The export version folder exists already (pass ``overwrite=True`` to replace it)."""


def check_export_name(name: str) -> str:
    """Returns ``name`` if it is a single, safe folder name; raises otherwise.

    Args:
        name: Export (model) name: 1-128 of letters, digits, ``.``, ``_``, ``-``; starts alphanumeric; no ``..``.

    Returns:
        ``name``, unchanged.

    Raises:
        InputValidationError: ``name`` is not a string or not such a folder name.

    Example:
        >>> check_export_name("mnist_denoiser")
        'mnist_denoiser'
    """
    if not isinstance(name, str) or not _NAME_PATTERN.fullmatch(name) or ".." in name:
        raise InputValidationError(
            f"Export name {name!r:.80} must be one folder name: letters, digits, '.', '_' and '-', starting with a "
            "letter or digit, no path separators and no '..' (e.g. 'mnist_denoiser')."
        )
    return name


def model_directory(base_dir: str | os.PathLike, name: str) -> Path:
    """``base_dir/name``, refusing any path that resolves outside ``base_dir`` (symlinks too).

    Args:
        base_dir: Model base path (the folder that holds one folder per export name).
        name: Export (model) name, checked by :func:`check_export_name`.

    Returns:
        The path ``base_dir/name`` (not created, not resolved).

    Raises:
        InputValidationError: a bad ``name``, or a path that resolves outside ``base_dir``.

    Example:
        >>> model_directory("saved_models", "digits_ae")
        PosixPath('saved_models/digits_ae')
    """
    base = Path(base_dir)
    path = base / check_export_name(name)
    real_base, real_path = os.path.realpath(base), os.path.realpath(path)
    if os.path.commonpath([real_base, real_path]) != real_base or real_path == real_base:
        raise InputValidationError(f"Export path {path} resolves to {real_path}, outside {real_base}.")
    return path


def _version_of(name: str) -> int | None:
    """The version a folder name stands for, or None (temporaries, non-ASCII digits, > int64)."""
    if not _VERSION_PATTERN.fullmatch(name):
        return None
    version = int(name)
    return version if version <= MAX_VERSION else None


def existing_versions(model_dir: str | os.PathLike) -> list[int]:
    """Version folders under ``model_dir`` (ASCII-digit names up to 2**63-1), ascending.

    Temporary folders of running or killed exports are never listed.

    Args:
        model_dir: ``base_dir/name``.

    Returns:
        The versions; ``[]`` if the folder does not exist.

    Example:
        >>> model_dir = tmp_dir / "digits_ae"
        >>> existing_versions(model_dir)
        []
        >>> for entry in ("1", "2", "10", "²", ".keras_ae-tmp-123-x"):
        ...     (model_dir / entry).mkdir(parents=True)
        >>> existing_versions(model_dir)
        [1, 2, 10]
    """
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        return []
    versions = {_version_of(p.name) for p in model_dir.iterdir() if p.is_dir()}
    return sorted(versions - {None})


def _taken_versions(model_dir: Path) -> list[int]:
    """Like :func:`existing_versions` but counts files too: a file named ``3`` blocks version 3."""
    return sorted({_version_of(name) for name in os.listdir(model_dir)} - {None})


def _check_version(version: Any) -> int:
    if isinstance(version, bool) or not isinstance(version, (int, np.integer)) or version < 0:
        raise InputValidationError(
            f"version must be a non-negative integer (TensorFlow Serving's layout), got {version!r:.80}.")
    if version > MAX_VERSION:  # compare before int(): np.uint64 stays exact
        raise InputValidationError(
            f"version must be at most 2**63-1 = {MAX_VERSION} (TensorFlow Serving reads versions as int64), "
            f"got a {len(str(int(version)))}-digit number.")
    return int(version)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


_OLD_PATTERN = re.compile(r".*-old-([0-9]{1,19})")  # a replaced version, parked during overwrite


def remove_stale_temporaries(model_dir: str | os.PathLike) -> list[Path]:
    """Deletes temporary folders left by exports whose process died (e.g. killed).

    Temporary folders are named ``.keras_ae-tmp-<pid>-...``; those of live processes stay.
    A version parked by an overwrite that was killed between its two renames
    (``...-old-<version>``, only without ``renameat2``) is renamed back if its version
    folder is missing, so a kill never loses the previous version.

    Args:
        model_dir: ``base_dir/name``.

    Returns:
        The removed (or restored) folders.

    Example:
        >>> model_dir = tmp_dir / "digits_ae"
        >>> (model_dir / "1").mkdir(parents=True)
        >>> (model_dir / f"{_TMP_PREFIX}999999999-x").mkdir()  # no process has this id
        >>> (model_dir / f"{_TMP_PREFIX}{os.getpid()}-y").mkdir()  # a live process's: kept
        >>> [p.name for p in remove_stale_temporaries(model_dir)]
        ['.keras_ae-tmp-999999999-x']
        >>> remove_stale_temporaries(model_dir)
        []
        >>> {p.name for p in model_dir.iterdir()} == {"1", f"{_TMP_PREFIX}{os.getpid()}-y"}
        True
    """
    removed = []
    model_dir = Path(model_dir)
    for path in model_dir.glob(f"{_TMP_PREFIX}*") if model_dir.is_dir() else []:
        pid = path.name[len(_TMP_PREFIX):].split("-", 1)[0]
        # Not one of ours (e.g. "²" or a number no pid reaches): leave it alone.
        if not (pid.isascii() and pid.isdigit()) or not 0 < int(pid) < 2**31 or _pid_alive(int(pid)):
            continue
        old = _OLD_PATTERN.fullmatch(path.name)
        if old and not os.path.lexists(model_dir / old.group(1)):
            try:
                _rename_noreplace(path, model_dir / old.group(1))
            except OSError:  # another export published that version meanwhile: the parked copy is stale
                shutil.rmtree(path, ignore_errors=True)
        else:
            shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


# Linux renameat2(2) with RENAME_EXCHANGE swaps the new and the old version in one step
# for overwrite=True, so a reader (or a kill) never sees the version missing.
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _renameat2(source: Path, target: Path, flags: int) -> bool:
    """renameat2(2); False where the C library or the file system lacks it (caller falls back)."""
    try:
        function = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if function(_AT_FDCWD, os.fsencode(source), _AT_FDCWD, os.fsencode(target), flags) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):  # unsupported here: fall back
        return False
    raise OSError(code, os.strerror(code), str(source), None, str(target))


def _rename_noreplace(source: Path, target: Path) -> None:
    """Renames ``source`` to ``target``; raises FileExistsError if ``target`` exists.

    rename(2) refuses to replace a non-empty folder (every published version is one), which
    makes the rename an atomic claim between concurrent exports.
    """
    if os.path.lexists(target):
        raise FileExistsError(errno.EEXIST, "File exists", str(target))
    try:
        os.rename(source, target)
    except OSError as exc:
        if os.path.lexists(target) and exc.errno in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR, errno.EISDIR):
            raise FileExistsError(errno.EEXIST, "File exists", str(target)) from exc
        raise


def _exists(target: Path) -> ExportExistsError:
    return ExportExistsError(f"{target} exists already; pass overwrite=True (CLI: --overwrite) or another version.")


def _publish(temporary: Path, target: Path, overwrite: bool) -> None:
    """Renames the finished export to ``target`` (atomic on one file system).

    Raises:
        ExportExistsError: ``target`` exists and ``overwrite`` is False.
    """
    if overwrite and target.is_dir():
        if _renameat2(temporary, target, _RENAME_EXCHANGE):  # one step: readers see old or new, never none
            shutil.rmtree(temporary, ignore_errors=True)  # now holds the old version
            return
        # Fallback: park the old version under a name remove_stale_temporaries can restore from.
        old = temporary.with_name(f"{temporary.name}-old-{target.name}")
        os.rename(target, old)
        try:
            os.rename(temporary, target)
        except BaseException:
            os.rename(old, target)
            raise
        shutil.rmtree(old, ignore_errors=True)
        return
    try:
        _rename_noreplace(temporary, target)
    except FileExistsError as exc:  # existed already, or another export published it meanwhile
        raise _exists(target) from exc


def _publish_next(temporary: Path, model_dir: Path, attempts: int = 10_000) -> Path:
    """Publishes ``temporary`` as the next free version, claimed by an atomic rename.

    A concurrent export that takes the same number makes the rename fail; this one then
    moves on to the next number, so N concurrent exports get N distinct versions.

    Returns:
        The version folder.
    """
    candidate = 1
    for _ in range(attempts):
        candidate = max(candidate, (_taken_versions(model_dir) or [0])[-1] + 1)
        if candidate > MAX_VERSION:
            raise InputValidationError(
                f"{model_dir} has a version 2**63-1 already; no later version exists. Pass version=...")
        target = model_dir / str(candidate)
        try:
            _rename_noreplace(temporary, target)
            return target
        except FileExistsError:
            candidate += 1
    raise ExportExistsError(f"Could not claim a free version in {model_dir} after {attempts} attempts.")


__all__ = ["DEFAULT_BASE_DIR", "MAX_VERSION", "ExportExistsError", "check_export_name", "existing_versions",
           "model_directory", "remove_stale_temporaries"]
