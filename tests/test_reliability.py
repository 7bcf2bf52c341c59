"""Reliability across model families: tf.distribute equivalence, mixed precision, determinism."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from tests.scripts.families import FAMILIES, MIRRORED

REPO = Path(__file__).resolve().parents[1]


def _run_script(*args: str, timeout: int = 300) -> dict:
    result = subprocess.run([sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.parametrize("family", MIRRORED)
def test_mirrored_step_matches_single_device(family):
    """One step on 2 logical CPUs with the global batch split must equal one step on one device."""
    out = _run_script("tests.scripts.mirrored_step", family)
    assert out["changed"] > 1e-3  # the step did something
    assert out["max_abs_diff"] < 1e-5, out


def test_autoencoder_trains_under_mixed_bfloat16_with_float32_losses(digits):
    from keras_ae.models import build_dense_ae, reconstruction_loss

    (x, _), _ = digits
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = build_dense_ae((8, 8, 1), hidden=(32,), code_dim=8)
        model.compile(optimizer=keras.optimizers.Adam(3e-3))
        out = model(x[:4])
        assert out.dtype == "bfloat16"
        assert reconstruction_loss(x[:4], out, "bce").dtype == "float32"
        history = model.fit(x, epochs=5, batch_size=64, verbose=0)
        losses = history.history["loss"]
        assert np.all(np.isfinite(losses)) and losses[-1] < 0.9 * losses[0]
    finally:
        keras.mixed_precision.set_global_policy("float32")


@pytest.mark.slow
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_seeded_training_is_bit_identical(family):
    """set_random_seed + op determinism: two runs give the same weights, bit for bit."""
    out = _run_script("tests.scripts.determinism", family)
    assert out["n_weights"] > 0 and out["identical"], out


def _free_ports(n: int) -> list[int]:
    import socket

    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@pytest.mark.slow
def test_two_worker_multiworker_mirrored_training_on_localhost(tmp_path):
    """Two processes, TF_CONFIG with loopback ports: both workers end with identical weights."""
    import os

    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs = []
    for index in range(2):
        env = {**os.environ, "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}),
               "TF_CPP_MIN_LOG_LEVEL": "2"}
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "tests.scripts.multiworker", str(tmp_path / f"w{index}.npz")],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    try:
        outputs = [p.communicate(timeout=240) for p in procs]
    finally:
        for p in procs:
            p.kill()
    for p, (_, err) in zip(procs, outputs):
        assert p.returncode == 0, err[-4000:]
    a, b = (np.load(tmp_path / f"w{i}.npz") for i in range(2))
    assert float(a["moved"]) > 1e-3 and np.all(np.isfinite(a["loss"]))
    weight_keys = [k for k in a.files if k.startswith("w")]
    assert weight_keys
    for k in weight_keys:
        np.testing.assert_array_equal(a[k], b[k])
