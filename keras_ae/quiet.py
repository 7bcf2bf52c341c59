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

After the import, TensorFlow still logs at run time: INFO and WARNING lines (hidden by
``TF_CPP_MIN_LOG_LEVEL=2``, which the quiet start sets unless the user chose a level,
*before* TensorFlow reads it) and a few ERROR lines that report no error (grappler's
``remapper failed`` on one graph rewrite, oneDNN's ``supports DT_INT32 only on platforms
with AVX-512``: the op falls back to Eigen). Those need a filter for the process' whole
life: :func:`filter_stderr` points file descriptor 2 at a pipe read by a small forked
process that drops them and passes every other line on. The filter process outlives a
crash of the main one (it reads until the pipe closes), so a segfault's report is kept.

Opt out: ``keras-ae --verbose ...``, a recipe's ``--verbose`` or
``TF_CPP_MIN_LOG_LEVEL=0`` shows every line. Any other level the user (or a script
starting a recipe) sets keeps the quiet start, with lines below that level hidden: the
start-up lines are what TensorFlow would hide at that level if it could.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import os
import re
import signal
import sys
import tempfile
import time
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
# The level an entry point runs with when the user chose none (2: errors only).
DEFAULT_LEVEL = "2"
# A glog-format line (absl / TensorFlow C++): severity letter, date, time, thread, file:line].
_GLOG = re.compile(r"^([IWEF])\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ \S+:\d+\]")
# The start of a line that may still become a glog line (a glog line is written whole).
_MAYBE_GLOG = re.compile(rb"^[IWEF](\d|$)")
# ERROR lines that report no error: grappler's remapper skipping one rewrite, oneDNN falling
# back to Eigen, no CUDA driver on a CPU machine.
_BENIGN_ERRORS = re.compile(
    r"^E\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ (meta_optimizer\.cc:\d+\] remapper failed"
    r"|util\.cc:\d+\] oneDNN supports DT_INT32 only on platforms with AVX-512"
    r"|cuda_platform\.cc:\d+\] failed call to cuInit)")
# Severity of a glog line by letter, as TF_CPP_MIN_LOG_LEVEL counts (0 INFO ... 3 FATAL).
_SEVERITY = {"I": 0, "W": 1, "E": 2, "F": 3}
# Longest wait at exit for the filter process to pass the last lines on.
FILTER_EXIT_WAIT = 5.0
# fd 2 as it was before filter_stderr (None: no filter), and the filter process' id.
_original_stderr: int | None = None
_filter_pid: int | None = None


def is_startup_noise(line: str) -> bool:
    """Whether ``line`` is one of TensorFlow's C++ start-up lines.

    Those are absl's pre-initialisation warning, glog INFO and WARNING lines, the
    ``failed call to cuInit`` ERROR line of a machine without a GPU and the continuation line
    of ``cpu_feature_guard``'s message.

    Args:
        line: One line of stderr, without its newline.

    Returns:
        ``True`` for a start-up line, ``False`` for any other line.

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

    When the block ends (also by an exception), file descriptor 2 is put back and the
    captured text is read into the yielded list.

    Yields:
        A list, empty inside the block, that holds the captured lines (without their
        newlines) once the block ends.

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


def _replay(lines: Sequence[str], fd: int | None = None) -> None:
    if not lines:
        return
    if fd is None:
        sys.stderr.write("\n".join(lines) + "\n")
        sys.stderr.flush()
    else:  # past the run-time filter
        os.write(fd, ("\n".join(lines) + "\n").encode("utf-8", "replace"))


def is_hidden_at_run_time(line: str, level: int) -> bool:
    """Whether the run-time filter drops ``line``: a glog line below ``level``, or an
    ERROR line that reports no error (see ``_BENIGN_ERRORS``).

    Args:
        line: One line of stderr, without its newline.
        level: ``TF_CPP_MIN_LOG_LEVEL`` (0 INFO, 1 WARNING, 2 ERROR, 3 FATAL): glog lines of a
            lower severity are hidden.

    Returns:
        ``True`` when the line is dropped; lines that are not glog lines are always kept.

    Example:
        >>> is_hidden_at_run_time("E0000 00:00:1.5   13208 meta_optimizer.cc:967] remapper failed: INVALID_ARGUMENT", 2)
        True
        >>> is_hidden_at_run_time("E0000 00:00:1.5   13208 cuda_dnn.cc:8] cuDNN failed", 2)  # a real error is kept
        False
        >>> is_hidden_at_run_time("I0000 00:00:1.5   13208 memory.cc:1] Memory patch applied", 2)
        True
        >>> is_hidden_at_run_time("keras-ae train: error: ...", 3)
        False
    """
    match = _GLOG.match(line)
    if not match:
        return False
    return _SEVERITY[match.group(1)] < level or bool(_BENIGN_ERRORS.match(line))


def _pump(source: int, sink: int | None, level: int) -> None:
    """Copies ``source`` to ``sink`` until end of file, without the hidden lines (and their
    indented continuation lines). A partial line that cannot start a glog line is passed on
    at once (a prompt or a progress bar must not wait for its newline)."""
    pending, dropping, passing = b"", False, False
    while True:
        chunk = os.read(source, 65536)
        if not chunk:
            break
        pending += chunk
        out = []
        while True:
            cut = pending.find(b"\n")
            if cut < 0:
                break
            line, pending = pending[: cut + 1], pending[cut + 1:]
            if passing:  # the rest of a line already passed on
                out.append(line)
                passing = False
                continue
            text = line.decode("utf-8", "replace").rstrip("\r\n")
            if dropping and text[:1] in (" ", "\t"):  # continuation of a dropped record
                continue
            dropping = is_hidden_at_run_time(text, level)
            if not dropping:
                out.append(line)
        if pending and not passing and not _MAYBE_GLOG.match(pending) and not (
                dropping and pending[:1] in (b" ", b"\t")):
            passing, dropping = True, False  # cannot start a glog line: pass it on now
        if pending and passing:
            out.append(pending)
            pending = b""
        sink = _write_all(sink, b"".join(out))
    if pending and not (dropping and pending[:1] in (b" ", b"\t")) and not is_hidden_at_run_time(
            pending.decode("utf-8", "replace"), level):
        _write_all(sink, pending)


def _write_all(sink: int | None, data: bytes) -> int | None:
    """Writes ``data`` to ``sink``; ``None`` once the sink is gone (the rest is read and discarded)."""
    try:
        while sink is not None and data:
            data = data[os.write(sink, data):]
    except OSError:
        return None
    return sink


def filter_stderr(level: int) -> bool:
    """Routes file descriptor 2 through a forked filter process for the rest of this process.

    The filter drops :func:`is_hidden_at_run_time` lines and passes the rest on; it ignores
    SIGINT / SIGTERM (Ctrl-C must not silence the main process' last message) and ends when
    every writer of the pipe has closed it. At exit, this process waits (at most
    ``FILTER_EXIT_WAIT`` seconds) for it to pass the last lines on.

    Args:
        level: ``TF_CPP_MIN_LOG_LEVEL``: glog lines below it are dropped.

    Returns:
        Whether the filter runs (not on platforms without ``fork``, nor twice).

    Example:
        ```python
        from keras_ae.quiet import filter_stderr

        filter_stderr(2)  # from here on, INFO / WARNING glog lines and benign ERROR lines are dropped
        ```
    """
    global _original_stderr, _filter_pid
    if _filter_pid is not None or not hasattr(os, "fork"):
        return False
    try:
        source, writer = os.pipe()
        original = os.dup(2)
    except OSError:  # no usable fd 2
        return False
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the filter process: plain os calls only (the parent may hold the import lock)
        try:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            os.close(writer)
            for fd in (0, 1, 2):  # hold no pipe of the parent's readers open
                os.close(fd)
            _pump(source, original, level)
        finally:
            os._exit(0)
    os.close(source)
    os.dup2(writer, 2)
    os.close(writer)
    _original_stderr, _filter_pid = original, pid
    atexit.register(_stop_filter)
    return True


def _stop_filter() -> None:
    """Closes this process' end of the pipe and lets the filter pass the last lines on."""
    global _filter_pid
    if _filter_pid is None or _original_stderr is None:
        return
    pid, _filter_pid = _filter_pid, None
    try:
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    os.dup2(_original_stderr, 2)
    deadline = time.monotonic() + FILTER_EXIT_WAIT
    while time.monotonic() < deadline:  # other writers (child processes) may keep it going
        try:
            if os.waitpid(pid, os.WNOHANG)[0]:
                return
        except ChildProcessError:
            return
        time.sleep(0.01)


def quiet_tensorflow_import(verbose: bool = False, modules: Sequence[str] = TF_MODULES) -> bool:
    """Imports TensorFlow (and Keras) with its C++ start-up lines hidden.

    Nothing is hidden when ``verbose`` is true, when ``TF_CPP_MIN_LOG_LEVEL`` is ``0`` (the
    user asks for every line) or when the modules are already imported (too late to hide).
    Otherwise ``TF_CPP_MIN_LOG_LEVEL`` is set to 2 unless the user chose a level, and
    :func:`filter_stderr` hides the run-time lines below that level and the ERROR lines that
    report no error. Captured lines that are not start-up noise (errors, Python warnings)
    are replayed; if the import fails, everything captured is replayed before the error
    propagates.

    Args:
        verbose: Show the start-up lines.
        modules: Modules to import under the redirect.

    Returns:
        Whether the redirect was used.

    Example:
        >>> quiet_tensorflow_import()  # under pytest TensorFlow is already imported
        False
    """
    level = os.environ.get(LOG_LEVEL_ENV, DEFAULT_LEVEL).strip()
    if verbose or level == "0" or all(m in sys.modules for m in modules):
        return False
    # Read by TensorFlow when it loads: its run-time INFO and WARNING lines stay hidden too.
    os.environ.setdefault(LOG_LEVEL_ENV, DEFAULT_LEVEL)
    filter_stderr(int(level) if level in ("1", "2", "3") else int(DEFAULT_LEVEL))
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
        _replay(lines, _original_stderr)  # every captured line (past the filter): they may explain the failure
        raise
    capture.__exit__(None, None, None)
    _replay([line for line in lines if not is_startup_noise(line)])
    return True


def is_entry_point(argv: Sequence[str] | None = None) -> bool:
    """Whether this process is ``keras-ae``, ``python -m keras_ae`` or one of keras_ae's recipes.

    ``sys.argv[0]`` is ``"-m"`` while ``python -m keras_ae`` imports the package. A recipe is a
    ``.py`` file in the ``recipes/`` folder of a keras_ae source tree (beside ``keras_ae/``):
    a user's own script in a folder that happens to be called ``recipes`` keeps its stderr.

    Args:
        argv: The command line, or ``None`` for ``sys.argv``.

    Returns:
        ``True`` for one of those processes; ``False`` otherwise, and for an empty ``argv``.

    Example:
        >>> recipe = Path(__file__).resolve().parents[1] / "recipes" / "vae.py"
        >>> is_entry_point(["/usr/bin/keras-ae", "datasets"]), is_entry_point([str(recipe)])
        (True, True)
        >>> is_entry_point(["notebook.py"]), is_entry_point(["/elsewhere/recipes/cooking.py"])
        (False, False)
    """
    argv = sys.argv if argv is None else argv
    if not argv or not argv[0]:
        return False
    if argv[0] == "-m" or Path(argv[0]).name in _ENTRY_SCRIPTS:
        return True
    prog = Path(argv[0]).resolve()
    return (prog.suffix == ".py" and prog.parent.name == "recipes"
            and (prog.parent.parent / "keras_ae" / "quiet.py").is_file())


def wants_verbose(argv: Sequence[str] | None = None) -> bool:
    """Whether the command line asks for the start-up lines.

    ``keras-ae --verbose COMMAND`` (before the command: ``train --verbose N`` is Keras'
    progress verbosity) or a recipe's ``--verbose``.

    Args:
        argv: The command line, or ``None`` for ``sys.argv``.

    Returns:
        Whether ``--verbose`` (or ``--verbose=...``) is among the options before the command
        (``keras-ae`` / ``python -m keras_ae``), or anywhere among the arguments (any other
        program, such as a recipe).

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

    Args:
        argv: The command line, or ``None`` for ``sys.argv`` (see :func:`is_entry_point` and
            :func:`wants_verbose`).

    Returns:
        Whether the redirect was used.

    Example:
        >>> quiet_entry_point(["notebook.py"])  # a user's program: left alone
        False
    """
    if not is_entry_point(argv):
        return False
    return quiet_tensorflow_import(verbose=wants_verbose(argv))
