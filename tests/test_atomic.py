"""keras_ae.atomic: files appear whole or not at all, with concurrent writers and killed ones."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from keras_ae.atomic import temporary_sibling, write_atomically, write_text_atomically

SIZE = 1 << 20  # large enough that a non-atomic write is seen half done


def _fill(byte: int):
    def write(temporary: Path) -> None:
        with open(temporary, "wb") as f:
            for _ in range(16):  # in pieces, so that the writers interleave
                f.write(bytes([byte]) * (SIZE // 16))

    return write


def test_concurrent_writers_and_a_reader_only_ever_see_whole_files(tmp_path):
    path = tmp_path / "shared.bin"
    write_atomically(path, _fill(0))
    stop, seen, errors = threading.Event(), [], []

    def read() -> None:
        while not stop.is_set():
            data = path.read_bytes()
            seen.append((len(data), len(set(data))))

    def write(byte: int) -> None:
        try:
            for _ in range(10):
                write_atomically(path, _fill(byte))
        except Exception as error:  # noqa: BLE001  (reported below: a thread's exception is otherwise lost)
            errors.append(error)

    reader = threading.Thread(target=read)
    reader.start()
    writers = [threading.Thread(target=write, args=(byte,)) for byte in range(1, 7)]
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    stop.set()
    reader.join()
    assert not errors
    assert seen and all(entry == (SIZE, 1) for entry in seen)  # never a short or a mixed file
    assert path.read_bytes()[0] in range(1, 7) and len(set(path.read_bytes())) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shared.bin"]  # every temporary renamed


def test_a_failed_write_keeps_the_old_file_and_removes_its_temporary(tmp_path):
    path = write_text_atomically(tmp_path / "result.json", '{"loss": 0.5}')

    def broken(temporary: Path) -> None:
        temporary.write_text('{"loss": 0.')
        raise ValueError("not serializable")

    with pytest.raises(ValueError, match="not serializable"):
        write_atomically(path, broken)
    assert path.read_text() == '{"loss": 0.5}'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.json"]


@pytest.mark.slow  # a subprocess that imports TensorFlow
def test_a_killed_writer_leaves_the_old_file_whole(tmp_path):
    path = write_text_atomically(tmp_path / "model.bin", "old")
    script = (
        "import os, sys\n"
        "from keras_ae.atomic import write_atomically\n"
        "def write(temporary):\n"
        "    temporary.write_bytes(b'half of a new file')\n"
        "    os._exit(9)  # killed: no finally, no rename\n"
        "write_atomically(sys.argv[1], write)\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, timeout=120)
    assert done.returncode == 9
    assert path.read_text() == "old"
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "model.bin"]
    assert len(leftovers) == 1 and leftovers[0].startswith(".model.") and leftovers[0].endswith(".partial.bin")


def test_temporaries_are_hidden_siblings_that_keep_the_suffix(tmp_path):
    names = {temporary_sibling(tmp_path / "grid.png") for _ in range(100)}
    assert len(names) == 100
    assert all(n.parent == tmp_path and n.name.startswith(".grid.") and n.suffix == ".png" for n in names)


def test_figures_are_written_whole_with_or_without_a_suffix(tmp_path):
    from keras_ae.plotting import save_image_grid

    images = np.random.default_rng(0).random((4, 8, 8))
    for name in ("grid.png", "grid"):
        path = save_image_grid(images, tmp_path / name)
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grid", "grid.png"]
