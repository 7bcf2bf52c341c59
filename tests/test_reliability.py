"""Reliability across model families: tf.distribute equivalence, mixed precision, determinism."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.scripts.families import FAMILIES, MIRRORED, NEAR_IDENTICAL, UNEVEN

REPO = Path(__file__).resolve().parents[1]


def _run_script(*args: str, timeout: int = 600) -> dict:
    result = subprocess.run([sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def _family_result(results: dict, family: str) -> dict:
    out = results[family]
    assert "error" not in out, out["error"]
    return out


# One subprocess runs every family (TensorFlow's start-up dominates a small model's step).
@pytest.fixture(scope="module")
def mirrored_results():
    return _run_script("tests.scripts.mirrored_step", *MIRRORED)


def _run_scripts_side_by_side(runs: dict[str, tuple[dict, list[str]]], timeout: int = 900) -> dict[str, dict]:
    """Runs ``python -m ARGS`` once per entry of ``runs`` ({name: (extra env, args)}) at the same time."""
    procs = {name: subprocess.Popen([sys.executable, "-m", *args], cwd=REPO, env={**os.environ, **env},
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for name, (env, args) in runs.items()}
    outputs = {name: proc.communicate(timeout=timeout) for name, proc in procs.items()}
    for name, proc in procs.items():
        assert proc.returncode == 0, (name, outputs[name][1][-4000:])
    return {name: json.loads(out.strip().splitlines()[-1]) for name, (out, _) in outputs.items()}


@pytest.fixture(scope="module")
def determinism_runs(tmp_path_factory):
    """Two processes side by side: "a" trains every family twice (the in-process comparison),
    "b" once in the reverse order; each saves its first run's weights. They differ in
    PYTHONHASHSEED (the order of sets and dicts of strings) and in what ran before each family."""
    folders = {side: tmp_path_factory.mktemp(f"determinism_{side}") for side in "ab"}
    script = ["tests.scripts.determinism", *sorted(FAMILIES)]
    results = _run_scripts_side_by_side({
        "a": ({"PYTHONHASHSEED": "0"}, [*script, "--save", str(folders["a"])]),
        "b": ({"PYTHONHASHSEED": "1"}, [*script, "--once", "--reverse", "--save", str(folders["b"])])})
    return results, folders


@pytest.fixture(scope="module")
def determinism_results(determinism_runs):
    return determinism_runs[0]["a"]


@pytest.mark.slow
@pytest.mark.parametrize("family", MIRRORED)
def test_mirrored_step_matches_single_device(family, mirrored_results):
    """One step on 2 logical CPUs with the global batch split must equal one step on one device."""
    out = _family_result(mirrored_results, family)
    assert out["changed"] > 1e-3  # the step did something
    assert out["max_abs_diff"] < 1e-5, out


@pytest.mark.slow
def test_gan_default_xla_compile_falls_back_under_a_strategy(mirrored_results):
    assert mirrored_results["gan_default_compile"] == {"jit_compile": False, "finite": True}


@pytest.mark.slow
@pytest.mark.parametrize("family", UNEVEN)
def test_mirrored_uneven_and_empty_replica_batches_match_single_device(family, mirrored_results):
    """Global batches of 20, 5 and 1 (split 10+10, 3+2, 1+0): losses weighted by each
    replica's share of the global batch, an empty replica adds nothing and no NaN."""
    out = _family_result(mirrored_results, family)
    assert out["uneven_changed"] > 1e-3
    assert out["uneven_diff"] < 1e-5, out


def _mixed_models():
    from keras_ae.models import build_dense_ae, build_gan, build_vae

    return {
        "dense_ae": (lambda: build_dense_ae((8, 8, 1), hidden=(32,), code_dim=8),
                     lambda m: m.compile(optimizer=keras.optimizers.Adam(3e-3)),
                     lambda m, x: m.compute_losses(x, x, training=True)),
        "vae": (lambda: build_vae((8, 8, 1), latent_dim=4, hidden=(32,), dynamic_binarization=True, seed=0),
                lambda m: m.compile(optimizer=keras.optimizers.Adam(3e-3)),
                lambda m, x: m.compute_losses(x, training=True)),
        "gan": (lambda: build_gan((8, 8, 1), latent_dim=8, generator_units=(32,), discriminator_units=(32,),
                                  maxout_pieces=2, seed=0),
                lambda m: m.compile(),  # XLA-compiled step, as by default
                lambda m, x: {**m.discriminator_terms(x), **m.generator_terms(len(x))}),
    }


@pytest.mark.slow
@pytest.mark.parametrize("family", ["dense_ae", "vae", "gan"])
def test_trains_under_mixed_bfloat16_with_float32_losses(family, digits):
    (x, _), _ = digits
    x = x[:512]
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        build, compile_model, losses = _mixed_models()[family]
        model = build()
        compile_model(model)
        net = model.generator if family == "gan" else model.decoder
        assert net.compute_dtype == "bfloat16" and net.variable_dtype == "float32"
        terms = losses(model, tf.constant(x[:16]))
        assert {k: v.dtype.name for k, v in terms.items()} == {k: "float32" for k in terms}
        history = model.fit(x, epochs=4, batch_size=64, verbose=0).history
        assert all(np.all(np.isfinite(v)) for v in history.values()), history
        assert all(w.dtype == "float32" for w in model.trainable_weights)
        if family == "gan":  # both players moved, finite: "learning" is checked in test_gan
            assert history["d_loss"][0] != history["d_loss"][-1]
        else:
            assert history["loss"][-1] < 0.9 * history["loss"][0], history["loss"]
    finally:
        keras.mixed_precision.set_global_policy("float32")


@pytest.mark.slow
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_seeded_training_is_bit_identical(family, determinism_results):
    """set_random_seed + op determinism: two runs give the same weights, bit for bit
    (WGAN-GP: within the tolerance NEAR_IDENTICAL gives and docs/reliability.md states)."""
    out = _family_result(determinism_results, family)
    tolerance = NEAR_IDENTICAL.get(family)
    assert out["n_weights"] > 0, out
    assert out["identical"] or (tolerance is not None and out["max_abs_diff"] <= tolerance), out


@pytest.mark.slow
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_seeded_training_is_bit_identical_across_processes(family, determinism_runs):
    """The same seed in two processes (other PYTHONHASHSEED, other families trained before)
    gives the same weights as two runs in one process do: bit for bit, WGAN-GP within its tolerance."""
    results, folders = determinism_runs
    for side in "ab":
        _family_result(results[side], family)
    a, b = (np.load(folders[side] / f"{family}.npz") for side in "ab")
    names = sorted(a.files, key=lambda name: int(name.split("_")[1]))
    assert len(names) > 0 and sorted(b.files) == sorted(a.files)
    assert all(a[n].shape == b[n].shape for n in names)
    diff = max(float(np.max(np.abs(a[n] - b[n]), initial=0.0)) for n in names)
    tolerance = NEAR_IDENTICAL.get(family)
    identical = all(np.array_equal(a[n], b[n]) for n in names)
    assert identical or (tolerance is not None and diff <= tolerance), {"max_abs_diff": diff, "tolerance": tolerance}


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
def test_fit_trains_on_two_multiworker_mirrored_workers_with_its_checks_and_nan_guard(tmp_path):
    """Two processes, TF_CONFIG with loopback ports: ``model.fit`` under the strategy's scope
    trains (both workers end with identical weights), refuses a badly shaped dataset and stops
    on a NaN batch with the weights restored, as on one host."""
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
    for worker in (a, b):
        assert bool(worker["refused"]) and bool(worker["diverged"]) and bool(worker["restored"])
    weight_keys = [k for k in a.files if k.startswith("w")]
    assert weight_keys
    for k in weight_keys:
        np.testing.assert_array_equal(a[k], b[k])


def _state(model) -> list[np.ndarray]:
    """Weights plus every optimizer variable (Adam moments, iteration counters)."""
    from keras_ae.training.nan_guard import NaNGuard

    guard = NaNGuard()
    guard.set_model(model)
    return [np.array(v.numpy()) for v in guard._state_variables()]


def _nan_safety_model(family):
    from keras_ae.models import build_dense_ae, build_gan

    if family == "gan":
        model = build_gan((8, 8, 1), latent_dim=4, generator_units=(16,), discriminator_units=(16,),
                          maxout_pieces=2, dropout=0.0, seed=0)
        model.compile(jit_compile=False)  # Adam for both networks
        return model, "d_loss"
    model = build_dense_ae((8, 8, 1), hidden=(32,), code_dim=8, loss="mse")
    model.compile(optimizer=keras.optimizers.Adam(1e-2), steps_per_execution=1)
    return model, "loss"


@pytest.mark.slow
@pytest.mark.parametrize("family,fault", [("dense_ae", "nan_batch"), ("dense_ae", "absurd_lr"), ("gan", "nan_batch")])
def test_divergence_restores_weights_and_optimizer_state_so_training_can_continue(family, fault, digits):
    """After a NaN batch or an absurd learning rate, NaNGuard puts back the weights *and*
    the Adam moments: the next fit trains on (finite losses) instead of turning NaN again."""
    from keras_ae.errors import TrainingDivergedError

    (x, _), _ = digits
    x = x[:256]
    model, key = _nan_safety_model(family)
    first = model.fit(x, epochs=1, batch_size=32, verbose=0).history[key][-1]  # Adam moments are now non-zero
    optimizers = [model.d_optimizer, model.g_optimizer] if family == "gan" else [model.optimizer]
    if fault == "nan_batch":
        bad = x.copy()
        bad[64:96] = np.nan  # third batch, inside a tf.data pipeline (fit cannot check it up front)
        data = {"x": tf.data.Dataset.from_tensor_slices(bad).batch(32)}
    else:
        for optimizer in optimizers:
            optimizer.learning_rate = 1e20
        data = {"x": x, "batch_size": 32}
    before = _state(model)  # what fit starts from (the learning rate included)
    with pytest.raises(TrainingDivergedError, match=rf"`{key}` became .*epoch 1, step \d+"):
        model.fit(epochs=2, verbose=0, **data)
    after = _state(model)
    assert len(after) == len(before) > len(model.weights)  # optimizer variables are part of the state
    for a, b in zip(after, before):
        np.testing.assert_array_equal(a, b)
    for optimizer in optimizers:
        optimizer.learning_rate = 1e-3
    history = model.fit(x, epochs=2, batch_size=32, verbose=0).history[key]
    assert np.all(np.isfinite(history)), history
    if family != "gan":
        assert history[-1] < first  # it learns on from the restored state


def test_batch_noise_gives_each_global_row_its_own_numbers(monkeypatch):
    """A replica holding rows 7..9 of the global batch draws exactly rows 7..9 of the draw
    one device makes for the whole batch (the Philox counter is moved, not the seed)."""
    import keras_ae.random as random_numbers

    seed = tf.constant([3, 4])
    for kind, shape in [("normal", [12, 5]), ("uniform", [12, 2, 3]), ("normal", [12, 4])]:
        whole = random_numbers.batch_noise(kind, shape, seed).numpy()
        assert whole.shape == tuple(shape)
        assert len(np.unique(whole)) == whole.size  # no repeated numbers across rows or padding
        with monkeypatch.context() as m:
            m.setattr(random_numbers, "replica_batch_position", lambda rows: (tf.constant(7, tf.int64), rows + 7))
            part = random_numbers.batch_noise(kind, [3, *shape[1:]], seed).numpy()
        np.testing.assert_array_equal(part, whole[7:10])
    big = random_numbers.batch_noise("normal", [4000, 3], seed).numpy()
    assert abs(big.mean()) < 0.05 and abs(big.std() - 1) < 0.05
    u = random_numbers.batch_noise("uniform", [4000, 3], seed).numpy()
    assert u.min() >= 0 and u.max() < 1 and abs(u.mean() - 0.5) < 0.02
