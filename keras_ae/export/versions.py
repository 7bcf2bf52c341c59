"""Where an export goes: ``base_dir/name/<version>/``, TensorFlow Serving's layout.

Versions are published atomically: a SavedModel is written into a temporary sibling
folder (``.keras_ae-tmp-<pid>-...``) and renamed into place.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from keras_ae.errors import InputValidationError, KerasAEError

DEFAULT_BASE_DIR = "saved_models"
_TMP_PREFIX = ".keras_ae-tmp-"
_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class ExportExistsError(KerasAEError, FileExistsError):
    """The export version folder exists already (pass ``overwrite=True`` to replace it)."""


def check_export_name(name: str) -> str:
    """Returns ``name`` if it is a single, safe folder name; raises otherwise.

    Example:
        >>> check_export_name("mnist_denoiser")
        'mnist_denoiser'
    """
    if not isinstance(name, str) or not _NAME_PATTERN.match(name) or ".." in name:
        raise InputValidationError(
            f"Export name {name!r} must be one folder name: letters, digits, '.', '_' and '-', starting with a "
            "letter or digit, no path separators and no '..' (e.g. 'mnist_denoiser')."
        )
    return name


def model_directory(base_dir: str | os.PathLike, name: str) -> Path:
    """``base_dir/name``, refusing any path that resolves outside ``base_dir`` (symlinks too).

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


def existing_versions(model_dir: str | os.PathLike) -> list[int]:
    """Integer version folders under ``model_dir``, ascending.

    Example:
        >>> existing_versions("saved_models/digits_ae")  # doctest: +SKIP
        [1, 2]
    """
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        return []
    return sorted(int(p.name) for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit())


def _check_version(version: Any) -> int:
    if isinstance(version, bool) or not isinstance(version, (int, np.integer)) or version < 0:
        raise InputValidationError(
            f"version must be a non-negative integer (TensorFlow Serving's layout), got {version!r}.")
    return int(version)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def remove_stale_temporaries(model_dir: str | os.PathLike) -> list[Path]:
    """Deletes temporary folders left by exports whose process died (e.g. killed).

    Temporary folders are named ``.keras_ae-tmp-<pid>-...``; those of live processes stay.

    Returns:
        The removed folders.

    Example:
        >>> remove_stale_temporaries("saved_models/digits_ae")  # doctest: +SKIP
        []
    """
    removed = []
    model_dir = Path(model_dir)
    for path in model_dir.glob(f"{_TMP_PREFIX}*") if model_dir.is_dir() else []:
        pid = path.name[len(_TMP_PREFIX):].split("-", 1)[0]
        if pid.isdigit() and not _pid_alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _exists(target: Path) -> ExportExistsError:
    return ExportExistsError(f"{target} exists already; pass overwrite=True (CLI: --overwrite) or another version.")


def _publish(temporary: Path, target: Path, overwrite: bool) -> None:
    """Renames the finished export into place (atomic on one file system)."""
    if target.exists():
        if not overwrite:
            raise _exists(target)
        old = temporary.with_name(temporary.name + "-old")
        os.rename(target, old)
        try:
            os.rename(temporary, target)
        except BaseException:
            os.rename(old, target)
            raise
        shutil.rmtree(old, ignore_errors=True)
        return
    try:
        os.rename(temporary, target)
    except OSError as exc:  # another process published this version first
        if target.exists():
            raise ExportExistsError(f"{target} was created by another export meanwhile.") from exc
        raise


__all__ = ["DEFAULT_BASE_DIR", "ExportExistsError", "check_export_name", "existing_versions", "model_directory",
           "remove_stale_temporaries"]
