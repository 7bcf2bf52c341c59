"""Hostile and broken ``.keras`` files: one clear InputValidationError, before any large allocation."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import textwrap
import time
import zipfile
import zlib
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keras_ae.errors import InputValidationError
from keras_ae.models import build_dense_ae
from keras_ae.saving import MAX_CONFIG_BYTES, MAX_MEMBERS, check_keras_file, load_model, save_model
from tests.memory import HIGH_WATER_MARK

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(REPO)}
SHARED = [HealthCheck.function_scoped_fixture]
X = np.random.default_rng(0).random((3, 8, 8, 1)).astype("float32")


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> Path:
    model = build_dense_ae((8, 8, 1), hidden=(8,), code_dim=2)
    model.compile(optimizer="adam")
    model.fit(X, epochs=1, verbose=0)  # the file holds optimizer state too
    return save_model(model, tmp_path_factory.mktemp("good") / "good.keras")


@pytest.fixture(scope="module")
def members(good) -> dict[str, bytes]:
    with zipfile.ZipFile(good) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _zip(path: Path, members: dict[str, bytes | str], compression: int = zipfile.ZIP_STORED) -> Path:
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _bomb_weights(shapes: list[tuple[int, ...]], dtype: str = "float32") -> bytes:
    """An HDF5 file declaring chunked datasets of these shapes without writing any data."""
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as weights:
        for i, shape in enumerate(shapes):
            weights.create_dataset(f"encoder/layers/dense/vars/{i}", shape=shape, dtype=dtype,
                                   chunks=tuple(min(d, 64) or 1 for d in shape) if shape else None)
    return buffer.getvalue()


@pytest.mark.slow
def test_the_good_file_still_loads_with_its_weights(good):
    model = load_model(good)
    check_keras_file(good)
    check_keras_file(good, compile=False)
    assert model.optimizer.iterations.numpy() == 1  # optimizer state restored
    np.testing.assert_allclose(load_model(good, compile=False).reconstruct(X), model.reconstruct(X), atol=1e-6)


# --- 4. the weights bomb ----------------------------------------------------------------------

PEAK_RSS = HIGH_WATER_MARK + textwrap.dedent("""
    import resource, sys, time
    from keras_ae.errors import InputValidationError
    from keras_ae.saving import load_model
    good, bomb = sys.argv[1:3]
    load_model(good)  # imports and one model build: the baseline
    before = high_water_mark() // 1024
    start = time.monotonic()
    try:
        load_model(bomb)
        print("LOADED")
    except InputValidationError as exc:
        print("REFUSED", repr(str(exc)))
    after = high_water_mark() // 1024
    print(before // 1024, after // 1024, round(time.monotonic() - start, 3))  # MiB, MiB, seconds
""")


def _load_in_a_fresh_process(good: Path, bomb: Path, tmp_path: Path) -> tuple[str, float, float, float]:
    """Loads ``good`` then ``bomb`` in a subprocess: the verdict line, peak MiB before and after, seconds."""
    script = tmp_path / "peak.py"
    script.write_text(PEAK_RSS)
    result = subprocess.run([sys.executable, str(script), str(good), str(bomb)], env=ENV, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    verdict, numbers = result.stdout.strip().splitlines()[-2:]
    before, after, seconds = (float(v) for v in numbers.split())
    return verdict, before, after, seconds


@pytest.mark.slow
def test_a_weights_bomb_is_refused_quickly_without_allocating(good, members, tmp_path):
    bomb = _zip(tmp_path / "bomb.keras", {**members, "model.weights.h5": _bomb_weights([(250_000_000,)])},
                zipfile.ZIP_DEFLATED)
    assert bomb.stat().st_size < 20_000  # a few KiB on disk, 1 GB declared
    verdict, before, after, seconds = _load_in_a_fresh_process(good, bomb, tmp_path)
    assert verdict.startswith("REFUSED") and "matches none of the model's variables" in verdict, verdict
    assert "250000000" in verdict and len(verdict) < 600
    assert after < 1024 and after - before < 100, (before, after)  # MiB: no 1 GB (let alone 4.5 GB) buffer
    assert seconds < 10


def _deflated(head: bytes, total: int, block: int = 2**24) -> bytes:
    """A zlib stream of ``head`` then zeros, ``total`` bytes inflated, built in about a second:
    after a full flush deflate starts afresh, so one compressed block of zeros repeats."""
    deflater = zlib.compressobj(9, zlib.DEFLATED, -15)  # raw deflate; header and checksum added below
    zeros, checksum = bytes(block), zlib.adler32(head)
    count, rest = divmod(total - len(head), block)
    start = deflater.compress(head) + deflater.flush(zlib.Z_FULL_FLUSH)
    repeated = deflater.compress(zeros) + deflater.flush(zlib.Z_FULL_FLUSH)
    end = deflater.compress(zeros[:rest]) + deflater.flush()
    for _ in range(count):
        checksum = zlib.adler32(zeros, checksum)
    checksum = zlib.adler32(zeros[:rest], checksum)
    return b"\x78\xda" + start + repeated * count + end + checksum.to_bytes(4, "big")


def _chunk_bomb(members: dict[str, bytes], rows: int = 64, inflated: int = 2**30, cut: int = 0, **storage) -> bytes:
    """The good weights with the encoder's first kernel (64, 8) rewritten as one gzip chunk of
    ``rows`` rows whose stream inflates to ``inflated`` bytes (the kernel's values, then zeros),
    less its last ``cut`` bytes; ``storage``: more ``create_dataset`` options."""
    buffer = io.BytesIO(members["model.weights.h5"])
    with h5py.File(buffer, "r+") as weights:
        kernel = weights[BOMBED][()]
        assert kernel.shape == (64, 8)
        del weights[BOMBED]
        dataset = weights.create_dataset(BOMBED, shape=kernel.shape, dtype=kernel.dtype, chunks=(rows, 8),
                                         **{"compression": "gzip", **storage})
        stream = _deflated(kernel.tobytes(), inflated)
        dataset.id.write_direct_chunk((0, 0), stream[:len(stream) - cut])
    return buffer.getvalue()


BOMBED = "encoder/layers/dense/vars/0"
GIB_CHUNKS = {  # each a kernel of the right shape whose reading inflates 1 GiB
    "one 1 GiB chunk of a resizable dataset": ({"rows": 2**25, "maxshape": (None, 8)}, "is resizable"),
    "a 2 KiB chunk whose gzip stream holds 1 GiB": ({}, "inflates from \\d+ to more than 2048 bytes"),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(GIB_CHUNKS))
def test_a_gzip_chunk_bomb_behind_a_right_shaped_kernel_is_refused_quickly_without_allocating(
        good, members, tmp_path, case):
    """HDF5 inflates a whole chunk to read any part of it, and inflates a gzip stream to whatever
    it holds: both files load without the storage check, and peak 1 GiB higher."""
    storage, expected = GIB_CHUNKS[case]
    bomb = _zip(tmp_path / "chunk_bomb.keras", {**members, "model.weights.h5": _chunk_bomb(members, **storage)},
                zipfile.ZIP_DEFLATED)
    assert bomb.stat().st_size < 40_000  # a 1 MB zlib stream of zeros deflates again in the zip
    verdict, before, after, seconds = _load_in_a_fresh_process(good, bomb, tmp_path)
    assert verdict.startswith("REFUSED") and BOMBED in verdict and len(verdict) < 600, verdict
    assert re.search(expected, verdict), verdict
    assert after - before < 100, (before, after)  # MiB: no 1 GiB chunk buffer
    assert seconds < 10


CHUNK_BOMBS = {  # storage -> what the refusal names
    "a gzip stream one byte longer than its chunk": ({"inflated": 2049}, "inflates from \\d+ to more than 2048"),
    "a truncated gzip stream": ({"inflated": 2048, "cut": 12}, "not a valid gzip"),
    "a resizable dataset": ({"inflated": 2048, "maxshape": (None, 8)}, "is resizable"),
    "a filter Keras never writes": ({"inflated": 2048, "compression": "lzf"}, "HDF5 filters"),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CHUNK_BOMBS))
def test_chunked_storage_off_what_keras_writes_is_refused_before_reading(members, tmp_path, case):
    storage, expected = CHUNK_BOMBS[case]
    path = _zip(tmp_path / "bomb.keras", {**members, "model.weights.h5": _chunk_bomb(members, **storage)})
    start = time.monotonic()
    with pytest.raises(InputValidationError, match=expected) as info:
        load_model(path)
    assert time.monotonic() - start < 5 and BOMBED in str(info.value) and len(str(info.value)) < 600


@pytest.mark.slow
def test_gzip_shuffle_and_fletcher32_weights_written_by_h5py_still_load(good, members, tmp_path):
    """A model whose weights file was rewritten with h5py's compression options loads, values intact."""
    source = io.BytesIO(members["model.weights.h5"])
    target = io.BytesIO()
    with h5py.File(source, "r") as old, h5py.File(target, "w") as new:
        def copy(name, obj):
            if isinstance(obj, h5py.Dataset):
                options = {"compression": "gzip", "shuffle": True, "fletcher32": True} if obj.size > 1 else {}
                new.create_dataset(name, data=obj[()], **options)
            else:
                new.require_group(name)
        old.visititems(copy)
    path = _zip(tmp_path / "compressed.keras", {**members, "model.weights.h5": target.getvalue()})
    np.testing.assert_allclose(load_model(path).reconstruct(X), load_model(good).reconstruct(X), atol=1e-6)


@settings(max_examples=15, deadline=None, suppress_health_check=SHARED)
@given(shape=st.lists(st.integers(1, 10**5), min_size=1, max_size=3).filter(
    lambda s: int(np.prod(s)) > 2**16), dtype=st.sampled_from(["float32", "float64", "int8"]))
def test_oversized_datasets_of_any_shape_are_refused_by_metadata_alone(good, members, tmp_path, shape, dtype):
    path = _zip(tmp_path / "bomb.keras", {**members, "model.weights.h5": _bomb_weights([tuple(shape)], dtype)})
    with pytest.raises(InputValidationError, match="matches none of the model's variables"):
        check_keras_file(path)


def test_many_small_datasets_beyond_the_model_size_are_refused(good, members, tmp_path):
    """Each dataset is small enough for any shape; together they declare ~160 MB."""
    path = _zip(tmp_path / "many.keras", {**members, "model.weights.h5": _bomb_weights([(2**16,)] * 300, "float64")})
    with pytest.raises(InputValidationError, match=r"declare more than \d+ bytes"):
        load_model(path)


def test_a_dataset_shaped_like_a_variable_loads_only_if_it_fits(good, members, tmp_path):
    """Shapes of the model's own variables pass the bound check; Keras then checks each one."""
    path = _zip(tmp_path / "swapped.keras", {**members, "model.weights.h5": _bomb_weights([(64, 8), (8,)])})
    check_keras_file(path)  # plausible sizes: left to Keras
    with pytest.raises(InputValidationError):  # ...which refuses the layout (missing variables)
        load_model(path)


# --- 5. broken files --------------------------------------------------------------------------

def _broken_files(members: dict[str, bytes], tmp_path: Path, good: Path) -> dict[str, Path]:
    config = json.loads(members["config.json"])
    config["config"]["encoder"] = None
    raw = good.read_bytes()
    (tmp_path / "truncated.keras").write_bytes(raw[: len(raw) // 2])
    (tmp_path / "not_a_zip.keras").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    (tmp_path / "empty.keras").write_bytes(b"")
    return {
        "no config.json": _zip(tmp_path / "no_config.keras", {k: v for k, v in members.items() if k != "config.json"}),
        "no weights": _zip(tmp_path / "no_weights.keras",
                           {k: v for k, v in members.items() if k != "model.weights.h5"}),
        "garbage weights": _zip(tmp_path / "garbage.keras", {**members, "model.weights.h5": os.urandom(4096)}),
        "encoder null": _zip(tmp_path / "null.keras", {**members, "config.json": json.dumps(config)}),
        "config not json": _zip(tmp_path / "bad_json.keras", {**members, "config.json": b"{\"class_name\": "}),
        "config a list": _zip(tmp_path / "list.keras", {**members, "config.json": b"[1, 2]"}),
        "deep config": _zip(tmp_path / "deep.keras", {**members, "config.json": "[" * 100_000 + "]" * 100_000}),
        "truncated": tmp_path / "truncated.keras",
        "not a zip": tmp_path / "not_a_zip.keras",
        "empty": tmp_path / "empty.keras",
    }


EXPECTED = {
    "no config.json": "has no config.json", "no weights": "has no model.weights.h5",
    "garbage weights": "not a valid HDF5 file", "encoder null": "Could not load", "config not json": "not JSON",
    "config a list": "not a Keras object config", "deep config": "not JSON|not a Keras object config",
    "truncated": "not a zip archive", "not a zip": "not a zip archive", "empty": "not a zip archive",
}


def test_broken_files_give_one_clear_input_validation_error(good, members, tmp_path):
    for case, path in _broken_files(members, tmp_path, good).items():
        with pytest.raises(InputValidationError, match=EXPECTED[case]) as info:
            load_model(path)
        message = str(info.value)
        assert str(path) in message and "File not found" not in message, (case, message)
        assert len(message) < 2000, case


def test_an_oversized_config_and_too_many_members_are_refused_before_reading(members, tmp_path):
    huge = _zip(tmp_path / "huge.keras", {**members, "config.json": b" " * (MAX_CONFIG_BYTES + 1)},
                zipfile.ZIP_DEFLATED)
    assert huge.stat().st_size < 1_000_000  # deflate: a tiny file declaring 64 MiB
    start = time.monotonic()
    with pytest.raises(InputValidationError, match=r"config.json declares \d+ bytes"):
        load_model(huge)
    assert time.monotonic() - start < 2
    crowded = _zip(tmp_path / "crowded.keras", {**members, **{f"assets/{i}": b"" for i in range(MAX_MEMBERS)}})
    with pytest.raises(InputValidationError, match=f"more than the {MAX_MEMBERS} allowed"):
        load_model(crowded)


@settings(max_examples=25, deadline=None, suppress_health_check=SHARED)
@given(cut=st.floats(0.0, 0.999))
def test_any_truncation_is_refused_cleanly(good, tmp_path, cut):
    raw = good.read_bytes()
    path = tmp_path / "cut.keras"
    path.write_bytes(raw[: int(len(raw) * cut)])
    with pytest.raises(InputValidationError, match="Could not load"):
        load_model(path)


@settings(max_examples=30, deadline=None, suppress_health_check=SHARED)
@given(data=st.data())
def test_corrupted_bytes_load_or_give_input_validation_error(good, tmp_path, data):
    """Flipped bytes anywhere (zip headers, JSON, HDF5): the model loads (a flip in unused
    bytes) or the load is refused with InputValidationError, never another exception."""
    raw = bytearray(good.read_bytes())
    for position in data.draw(st.lists(st.integers(0, len(raw) - 1), min_size=1, max_size=8)):
        raw[position] ^= data.draw(st.integers(1, 255))
    path = tmp_path / "flipped.keras"
    path.write_bytes(bytes(raw))
    try:
        model = load_model(path)
    except InputValidationError as exc:
        assert "Could not load" in str(exc)
    else:
        assert model.reconstruct(X[:1]).shape == (1, 8, 8, 1)


# -- a recipe's results.json beside a model (read by the recipes that reuse saved models) ------
def test_results_beside_a_model_are_bounded_and_must_be_an_object(tmp_path, monkeypatch):
    import keras_ae.experiment as experiment

    model = tmp_path / "model.keras"
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"results": {"train_seconds": 3.5}}))
    assert experiment.read_results(model) == {"results": {"train_seconds": 3.5}}
    monkeypatch.setattr(experiment, "MAX_RESULTS_BYTES", 16)  # the file above is 35 bytes
    with pytest.raises(InputValidationError, match=r"results\.json is 35 bytes, more than the 16"):
        experiment.read_results(model)
    monkeypatch.undo()
    for text, message in [("[1, 2]", "holds a JSON list"), ("{not json", "not valid JSON"),
                          (b"\xff\xfe{}", "not valid JSON")]:
        results.write_bytes(text if isinstance(text, bytes) else text.encode())
        with pytest.raises(InputValidationError, match=message):
            experiment.read_results(model)
