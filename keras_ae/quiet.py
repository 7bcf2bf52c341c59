"""Quiet start: hide TensorFlow's C++ start-up lines when ``keras-ae`` or a recipe starts.

Importing TensorFlow prints lines such as ``cudart_stub.cc: Could not find cuda drivers``,
``cpu_feature_guard.cc: This TensorFlow binary is optimized ...`` and ``WARNING: All log
messages before absl::InitializeLog() is called are written to STDERR`` before anything
useful. On TF 2.19+ ``TF_CPP_MIN_LOG_LEVEL=2`` no longer hides them: they are written
before absl's log is initialised (tensorflow/tensorflow#100442). The standard remedy is
to point file descriptor 2 at a temporary file while TensorFlow is imported
(``os.dup2``), then put stderr back and replay whatever was not start-up noise (all of
it when the import fails).

This module imports nothing from keras_ae or TensorFlow: it must run *before* the first
TensorFlow import. Since ``import keras_ae`` already imports TensorFlow, the entry points
reach it through :func:`quiet_entry_point`, called at the very top of
``keras_ae/__init__.py``; it only acts in ``keras-ae`` / ``python -m keras_ae`` /
``recipes/*.py`` processes, never in a user's own program or notebook.

Opt out: ``keras-ae --verbose ...``, a recipe's ``--verbose`` or setting
``TF_CPP_MIN_LOG_LEVEL`` yourself (e.g. ``TF_CPP_MIN_LOG_LEVEL=0``) shows the lines.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Iterator, Sequence

LOG_LEVEL_ENV = "TF_CPP_MIN_LOG_LEVEL"
# Modules whose import loads TensorFlow's shared libraries (keras loads it a second time).
TF_MODULES = ("tensorflow", "keras")
# Start-up noise: absl's pre-init warning, glog-format info/warning lines (I0000 00:00:...
# cudart_stub.cc:31] ...) and the continuation line of cpu_feature_guard's message.
_NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called"
    r"|[IW]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ \S+:\d+\]"
    r"|E\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ cuda_platform\.cc:\d+\] failed call to cuInit"
    r"|To enable the following instructions:.*rebuild TensorFlow)"
)
_ENTRY_SCRIPTS = ("keras-ae", "keras-ae.exe", "keras-ae-script.py")


def is_startup_noise(line: str) -> bool:
    """Whether ``line`` is one of TensorFlow's C++ start-up lines.

    Example:
        >>> is_startup_noise("I0000 00:00:1.5   13208 cudart_stub.cc:31] Could not find cuda drivers")
        True
        >>> is_startup_noise("E0000 00:00:1.5   13208 cuda_dnn.cc:8] cuDNN failed")  # errors are kept
        False
    """
    return bool(_NOISE.match(line))


@contextlib.contextmanager
def stderr_captured() -> Iterator[list[str]]:
    """Redirects file descriptor 2 (C++ and Python writes alike) to a temporary file.

    Yields a list that holds the captured lines once the block ends.

    Example:
        >>> with stderr_captured() as lines:
        ...     _ = os.write(2, b"from C++\\n")
        >>> lines
        ['from C++']
    """
    lines: list[str] = []
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with tempfile.TemporaryFile() as tmp:
            os.dup2(tmp.fileno(), 2)
            try:
                yield lines
            finally:
                sys.stderr.flush()  # Python-level buffered writes belong to the capture too
                os.dup2(saved, 2)
                tmp.seek(0)
                lines.extend(tmp.read().decode("utf-8", "replace").splitlines())
    finally:
        os.close(saved)


def _replay(lines: Sequence[str]) -> None:
    if lines:
        sys.stderr.write("\n".join(lines) + "\n")
        sys.stderr.flush()


def quiet_tensorflow_import(verbose: bool = False, modules: Sequence[str] = TF_MODULES) -> bool:
    """Imports TensorFlow (and Keras) with its C++ start-up lines hidden.

    Nothing is hidden when ``verbose`` is true, when the user set ``TF_CPP_MIN_LOG_LEVEL``
    (their choice wins) or when the modules are already imported (too late to hide).
    Captured lines that are not start-up noise (errors, Python warnings) are replayed;
    if the import fails, everything captured is replayed before the error propagates.

    Args:
        verbose: Show the start-up lines.
        modules: Modules to import under the redirect.

    Returns:
        Whether the redirect was used.

    Example:
        >>> quiet_tensorflow_import()  # under pytest TensorFlow is already imported
        False
    """
    if verbose or LOG_LEVEL_ENV in os.environ or all(m in sys.modules for m in modules):
        return False
    try:
        capture = stderr_captured()
        lines = capture.__enter__()
    except OSError:  # no usable fd 2 (a closed or detached stderr): import as usual
        return False
    try:
        for module in modules:
            importlib.import_module(module)
        if "tensorflow" in sys.modules:
            # Device discovery prints "failed call to cuInit" on a machine without a GPU: do it here.
            sys.modules["tensorflow"].config.list_physical_devices()
    except BaseException:
        capture.__exit__(*sys.exc_info())
        _replay(lines)  # the captured lines may explain the failure
        raise
    capture.__exit__(None, None, None)
    _replay([line for line in lines if not is_startup_noise(line)])
    return True


def is_entry_point(argv: Sequence[str] | None = None) -> bool:
    """Whether this process is ``keras-ae``, ``python -m keras_ae`` or a ``recipes/*.py`` script.

    ``sys.argv[0]`` is ``"-m"`` while ``python -m keras_ae`` imports the package.

    Example:
        >>> is_entry_point(["/usr/bin/keras-ae", "datasets"]), is_entry_point(["recipes/vae.py"])
        (True, True)
        >>> is_entry_point(["notebook.py"])
        False
    """
    argv = sys.argv if argv is None else argv
    if not argv or not argv[0]:
        return False
    prog = Path(argv[0])
    return argv[0] == "-m" or prog.name in _ENTRY_SCRIPTS or (prog.parent.name == "recipes" and prog.suffix == ".py")


def wants_verbose(argv: Sequence[str] | None = None) -> bool:
    """Whether the command line asks for the start-up lines.

    ``keras-ae --verbose COMMAND`` (before the command: ``train --verbose N`` is Keras'
    progress verbosity) or a recipe's ``--verbose``.

    Example:
        >>> wants_verbose(["keras-ae", "--verbose", "datasets"]), wants_verbose(["keras-ae", "train", "--verbose", "0"])
        (True, False)
        >>> wants_verbose(["recipes/vae.py", "--epochs", "1", "--verbose"])
        True
    """
    argv = list(sys.argv if argv is None else argv)
    args = argv[1:]
    if argv and (argv[0] == "-m" or Path(argv[0]).name in _ENTRY_SCRIPTS):
        leading = []
        for arg in args:  # options before the subcommand
            if not arg.startswith("-"):
                break
            leading.append(arg)
        args = leading
    return "--verbose" in args or any(a.startswith("--verbose=") for a in args)


def quiet_entry_point(argv: Sequence[str] | None = None) -> bool:
    """Hides TensorFlow's start-up lines if this process is a keras_ae entry point.

    Call it before the first TensorFlow import (the top of ``keras_ae/__init__.py``).

    Returns:
        Whether the redirect was used.

    Example:
        >>> quiet_entry_point(["notebook.py"])  # a user's program: left alone
        False
    """
    if not is_entry_point(argv):
        return False
    return quiet_tensorflow_import(verbose=wants_verbose(argv))
