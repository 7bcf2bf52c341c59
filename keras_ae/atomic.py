"""Atomic file writes: a file appears whole or not at all.

A writer renders into a hidden temporary sibling, unique to the process and the call so that
concurrent writers of one path never share it, and ``os.replace`` renames it over the destination.
The rename is atomic on one file system: a reader sees the old file or the new one, never half of
one, and a writer that fails or is killed leaves the old file as it was. Every single-file writer
of keras_ae goes through :func:`write_atomically` (model files, PNGs, result JSON, cached feature
extractors); the training backup's two-file commit and the export's version folders build their own
protocols on the same rename.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path


def temporary_sibling(path: str | os.PathLike) -> Path:
    """A hidden name beside ``path`` with its suffix, unique to this process and call.

    The suffix is kept because some writers choose the format from it (``model.save`` needs
    ``.keras``, Pillow reads ``.png``).

    Args:
        path: The destination file.

    Returns:
        ``folder/.<stem>.<pid>.<random>.partial<suffix>``.

    Example:
        >>> name = temporary_sibling("runs/model.keras")
        >>> name.parent.as_posix(), name.name.startswith(".model."), name.name.endswith(".partial.keras")
        ('runs', True, True)
        >>> temporary_sibling("a.png") != temporary_sibling("a.png")  # two calls never share a name
        True
    """
    path = Path(path)
    return path.with_name(f".{path.stem}.{os.getpid()}.{uuid.uuid4().hex[:12]}.partial{path.suffix}")


def write_atomically(path: str | os.PathLike, write: Callable[[Path], object]) -> Path:
    """Runs ``write(temporary)``, then renames the temporary file to ``path``.

    The folder of ``path`` is created. When ``write`` raises, the exception propagates, the
    temporary file is removed and an existing ``path`` is left untouched.

    Args:
        path: The destination file.
        write: Writes the whole file to the path it is given (e.g. ``model.save``).

    Returns:
        ``path`` as a ``Path``.

    Example:
        >>> target = tmp_dir / "out" / "numbers.txt"
        >>> write_atomically(target, lambda temporary: temporary.write_text("1 2 3")).name
        'numbers.txt'
        >>> def broken(temporary):
        ...     temporary.write_text("half")
        ...     raise OSError("disk full")
        >>> write_atomically(target, broken)
        Traceback (most recent call last):
        OSError: disk full
        >>> target.read_text(), sorted(p.name for p in target.parent.iterdir())  # old file, no temporary
        ('1 2 3', ['numbers.txt'])
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_sibling(path)
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:  # after a failed write (full disk, an exception in write) no temporary stays behind
        temporary.unlink(missing_ok=True)
    return path


def write_text_atomically(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Writes ``text`` to ``path`` atomically (see :func:`write_atomically`).

    Args:
        path: The destination file; its folder is created.
        text: The whole content.
        encoding: Text encoding.

    Returns:
        ``path`` as a ``Path``.

    Example:
        >>> write_text_atomically(tmp_dir / "result.json", '{"loss": 0.1}').read_text()
        '{"loss": 0.1}'
    """
    return write_atomically(path, lambda temporary: temporary.write_text(text, encoding=encoding))


__all__ = ["temporary_sibling", "write_atomically", "write_text_atomically"]
