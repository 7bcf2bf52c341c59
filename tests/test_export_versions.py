"""Export versions and names: atomic automatic versions under concurrency, strict names and versions,
and no visible trace of an export killed (SIGKILL) at any stage."""

from __future__ import annotations

import os
import signal
import string
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keras_ae.errors import InputValidationError
from keras_ae.export import ExportExistsError, existing_versions, export, read_metadata
from keras_ae.export.versions import MAX_VERSION, _check_version, check_export_name
from keras_ae.models import build_dense_ae
from keras_ae.saving import load_model, save_model

REPO = Path(__file__).resolve().parents[1]
FAST = {"allow_untrained": True, "uint8": False}
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(REPO)}
NAME = string.ascii_letters + string.digits
VALID_NAMES = st.tuples(st.sampled_from(NAME), st.text(NAME + "._-", max_size=20)).map("".join)


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    model = build_dense_ae((8, 8, 1), hidden=(8,), code_dim=2)
    return save_model(model, tmp_path_factory.mktemp("model") / "m.keras")


@pytest.fixture(scope="module")
def model(model_file):
    return load_model(model_file)


def _visible(model_dir: Path) -> list[str]:
    return sorted(p.name for p in model_dir.iterdir() if not p.name.startswith("."))


def _reconstruct(version_dir: Path) -> np.ndarray:
    loaded = tf.saved_model.load(str(version_dir))
    x = tf.constant(np.full((2, 8, 8, 1), 0.5, "float32"))
    return next(iter(loaded.signatures["serving_default"](images=x).values())).numpy()


# --- 1. concurrent automatic versions -------------------------------------------------------

CONCURRENT = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    from keras_ae.export import export
    from keras_ae.saving import load_model
    model_file, base, ready, go = sys.argv[1:5]
    model = load_model(model_file)
    Path(ready).touch()
    while not os.path.exists(go):  # start exporting together: the versions race for real
        time.sleep(0.01)
    print(export(model, "race", base_dir=base, allow_untrained=True, uint8=False).name)
""")


@pytest.mark.slow
def test_concurrent_automatic_exports_get_consecutive_complete_versions(model_file, model, tmp_path):
    n = 4  # four processes released at once race for the next version number
    script = tmp_path / "export_one.py"
    script.write_text(CONCURRENT)
    base, go = tmp_path / "saved_models", tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, str(script), str(model_file), str(base), str(tmp_path / f"ready{i}"),
                               str(go)], env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(n)]
    try:
        deadline = time.monotonic() + 300
        while not all((tmp_path / f"ready{i}").exists() for i in range(n)):
            assert all(p.poll() is None for p in procs), [p.communicate()[1][-2000:] for p in procs if p.poll()]
            assert time.monotonic() < deadline
            time.sleep(0.05)
        go.touch()
        outputs = [p.communicate(timeout=300) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert [p.returncode for p in procs] == [0] * n, [err[-2000:] for _, err in outputs]
    assert sorted(int(out.split()[-1]) for out, _ in outputs) == list(range(1, n + 1))
    model_dir = base / "race"
    assert existing_versions(model_dir) == list(range(1, n + 1))
    assert sorted(os.listdir(model_dir), key=int) == [str(v) for v in range(1, n + 1)]  # no temporaries left
    expected = model.predict(np.full((2, 8, 8, 1), 0.5, "float32"), verbose=0)
    for v in range(1, n + 1):  # every version is complete and serves the model
        np.testing.assert_allclose(_reconstruct(model_dir / str(v)), expected, atol=1e-5)


@pytest.mark.slow
def test_an_explicit_existing_version_still_needs_overwrite(model, tmp_path):
    first = export(model, "ae", base_dir=tmp_path, version=3, metadata={"run": "a"}, **FAST)
    with pytest.raises(ExportExistsError, match="overwrite"):
        export(model, "ae", base_dir=tmp_path, version=3, metadata={"run": "b"}, **FAST)
    assert read_metadata(first)["user"] == {"run": "a"}
    export(model, "ae", base_dir=tmp_path, version=3, overwrite=True, metadata={"run": "b"}, **FAST)
    assert read_metadata(first)["user"] == {"run": "b"}
    assert os.listdir(tmp_path / "ae") == ["3"]  # the replaced version is gone, no temporary left
    # a *file* named like the next version blocks that number: the automatic version skips it
    (tmp_path / "ae" / "4").write_text("not a version")
    assert export(model, "ae", base_dir=tmp_path, **FAST).name == "5"


# --- 2. names and versions ------------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(name=VALID_NAMES, suffix=st.sampled_from(["\n", "\r\n", "\n\n", "\x00", " ", "/", "\t"]))
def test_names_with_a_trailing_newline_or_control_character_are_refused(name, suffix):
    if ".." not in name:
        assert check_export_name(name) == name
    with pytest.raises(InputValidationError, match="one folder name"):
        check_export_name(name + suffix)


def test_export_refuses_a_name_ending_in_newline_and_writes_nothing(model, tmp_path):
    with pytest.raises(InputValidationError, match="one folder name"):
        export(model, "abc\n", base_dir=tmp_path, **FAST)
    assert list(tmp_path.iterdir()) == []


@settings(max_examples=50, deadline=None)
@given(version=st.one_of(st.integers(min_value=MAX_VERSION + 1, max_value=10**40),
                         st.just(np.uint64(2**64 - 1)), st.just(np.uint64(2**63))))
def test_versions_beyond_int64_are_refused(version):
    with pytest.raises(InputValidationError, match=r"at most 2\*\*63-1") as info:
        _check_version(version)
    assert len(str(info.value)) < 300  # the huge number is not echoed


@given(version=st.one_of(st.integers(min_value=0, max_value=MAX_VERSION), st.just(np.int64(MAX_VERSION))))
def test_versions_within_int64_are_accepted(version):
    assert _check_version(version) == int(version)


def test_export_refuses_version_10_to_the_30(model, tmp_path):
    with pytest.raises(InputValidationError, match="int64"):
        export(model, "ae", base_dir=tmp_path, version=10**30, **FAST)
    assert list(tmp_path.iterdir()) == []


NON_ASCII_DIGITS = st.characters(categories=["Nd", "No"]).filter(lambda c: c not in string.digits)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(odd=st.text(NON_ASCII_DIGITS, min_size=1, max_size=4), ascii=st.integers(0, 10**6))
def test_only_ascii_digit_folders_are_versions(tmp_path, odd, ascii):
    model_dir = Path(tempfile.mkdtemp(dir=tmp_path))  # tmp_path is shared by the examples
    for folder in [odd, str(ascii), str(10**25), f".keras_ae-tmp-1-{ascii}", f"{ascii}\n"]:
        (model_dir / folder).mkdir(parents=True, exist_ok=True)
    assert existing_versions(model_dir) == [ascii]


@pytest.mark.slow
def test_export_next_to_unicode_digit_folders(model, tmp_path):
    for folder in ["²", "٣", "9" * 25, ".keras_ae-tmp-²-x", ".keras_ae-tmp-99999999999999999999-x"]:
        (tmp_path / "ae" / folder).mkdir(parents=True)
    assert export(model, "ae", base_dir=tmp_path, **FAST).name == "1"
    assert export(model, "ae", base_dir=tmp_path, **FAST).name == "2"
    assert existing_versions(tmp_path / "ae") == [1, 2]
    assert (tmp_path / "ae" / "²").is_dir()  # not ours: left alone


# --- 3. SIGKILL at every stage --------------------------------------------------------------

KILLED = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    import keras_ae.export.exporter as exporter
    import keras_ae.export.versions as versions
    from keras_ae.saving import load_model
    model_file, base, stage, marker = sys.argv[1:5]

    def pause():
        Path(marker).touch()
        time.sleep(600)  # the test SIGKILLs us here

    real_write, real_rename = exporter._write_savedmodel, os.rename
    if stage == "writing":  # killed while TensorFlow writes the SavedModel: half a file written
        import tensorflow as tf

        def half_save(obj, export_dir, *args, **kwargs):
            Path(export_dir).mkdir(parents=True, exist_ok=True)
            (Path(export_dir) / "saved_model.pb").write_bytes(b"\x08\x01")
            pause()
        tf.saved_model.save = half_save
    def write(directory, *args):
        if stage == "created":
            pause()
        real_write(directory, *args)
        if stage == "written":
            pause()
    def rename(source, target):
        real_rename(source, target)
        if stage == "overwriting" and "-old-" in str(target):  # old version parked, new not yet in place
            pause()
    exporter._write_savedmodel = write
    os.rename = rename
    versions._renameat2 = lambda *args: False  # the two-rename overwrite of systems without renameat2
    overwrite = stage == "overwriting"
    exporter.export(load_model(model_file), "ae", base_dir=base, version=1 if overwrite else None,
                    overwrite=overwrite, metadata={"run": "killed"}, allow_untrained=True, uint8=False)
    Path(marker + ".finished").touch()
""")


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["created", "writing", "written", "overwriting"])
def test_an_export_killed_at_any_stage_leaves_no_visible_version(stage, model_file, model, tmp_path):
    base = tmp_path / "saved_models"
    model_dir = base / "ae"
    if stage == "overwriting":
        export(model, "ae", base_dir=base, metadata={"run": "original"}, **FAST)
    script, marker = tmp_path / "killed.py", tmp_path / "marker"
    script.write_text(KILLED)
    proc = subprocess.Popen([sys.executable, str(script), str(model_file), str(base), stage, str(marker)], env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 300
        while not marker.exists():
            assert proc.poll() is None, proc.communicate()[1][-2000:]
            assert time.monotonic() < deadline
            time.sleep(0.01)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not Path(f"{marker}.finished").exists()

    hidden = [p.name for p in model_dir.iterdir() if p.name.startswith(".keras_ae-tmp-")]
    if stage == "overwriting":
        assert hidden and existing_versions(model_dir) == []  # the parked old version, restorable
    else:
        assert existing_versions(model_dir) == [] and _visible(model_dir) == []  # nothing a server would load

    # The next export cleans up: no temporary remains, and a parked version comes back.
    new = export(model, "ae", base_dir=base, metadata={"run": "next"}, **FAST)
    assert sorted(os.listdir(model_dir), key=int) == (["1", "2"] if stage == "overwriting" else ["1"])
    assert read_metadata(new)["user"] == {"run": "next"}
    if stage == "overwriting":
        assert new.name == "2" and read_metadata(model_dir / "1")["user"] == {"run": "original"}
    for version in os.listdir(model_dir):
        assert _reconstruct(model_dir / version).shape == (2, 8, 8, 1)
