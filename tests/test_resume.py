"""Resumable training: backup + best/last checkpoints survive interruptions, kills and torn writes."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest

from keras_ae.training.defaults import STEPS_PER_EXECUTION
from keras_ae.training.checkpoints import (
    BACKUP_DIR,
    ResumeMismatchError,
    fit_resumable,
    read_backup,
    recover_backup,
    training_callbacks,
)
from keras_ae.cli import main
from keras_ae.errors import TrainingDivergedError
from keras_ae.models import build_dense_ae
from keras_ae.saving import load_model

REPO = Path(__file__).resolve().parents[1]


class _Interrupt(keras.callbacks.Callback):
    """Raises when ``epoch`` begins, like a crash between two epochs."""

    def __init__(self, epoch: int):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt("simulated crash")


class _WeightsAtFirstEpoch(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if not hasattr(self, "weights"):
            self.epoch, self.weights = epoch, [v.numpy().copy() for v in self.model.weights]


def _model():
    keras.utils.set_random_seed(0)
    model = build_dense_ae((8, 8, 1), hidden=(16,), code_dim=4)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))  # default steps_per_execution
    return model


@pytest.mark.slow
def test_interrupted_fit_resumes_with_weights_optimizer_and_history(digits, tmp_path):
    (x, _), (x_test, _) = digits
    kwargs = dict(out_dir=tmp_path, epochs=5, batch_size=64, verbose=0, validation_data=(x_test,),
                  fingerprint={"run": 1})
    first = _model()
    assert first.steps_per_execution == STEPS_PER_EXECUTION > 1
    with pytest.raises(KeyboardInterrupt):
        fit_resumable(first, x, callbacks=[_Interrupt(3)], **kwargs)
    state = read_backup(tmp_path / BACKUP_DIR)
    assert state["epoch"] == 3 and len(state["history"]) == 3
    assert (tmp_path / "last.keras").is_file() and (tmp_path / "best.keras").is_file()
    crashed = [v.numpy().copy() for v in first.weights]

    second, probe = _model(), _WeightsAtFirstEpoch()
    history = fit_resumable(second, x, callbacks=[probe], **kwargs)
    # it continues at epoch 4 (index 3) from exactly the crashed model's weights
    assert probe.epoch == 3
    for before, after in zip(crashed, probe.weights):
        np.testing.assert_array_equal(before, after)
    assert len(history["loss"]) == 5 and history["loss"][:3] == [e["loss"] for e in state["history"]]
    assert history["loss"][3] < history["loss"][0]
    steps_per_epoch = math.ceil(len(x) / 64)
    assert int(second.optimizer.iterations) == 5 * steps_per_epoch  # Adam's state came back too
    assert second._initial_epoch is None  # a later fit() starts at epoch 0 again
    assert not (tmp_path / BACKUP_DIR).exists()  # finished: backup removed
    # best.keras holds the best validation epoch of the whole run
    best = load_model(tmp_path / "best.keras")
    assert best.evaluate(x_test, verbose=0, return_dict=True)["loss"] == pytest.approx(
        min(history["val_loss"]), rel=1e-5)


@pytest.mark.slow
def test_finished_but_uncleared_backup_reruns_no_epoch(digits, tmp_path):
    """Fault: killed after the last epoch, before the run's own outputs were written."""
    (x, _), _ = digits
    first = _model()
    history = fit_resumable(first, x[:128], out_dir=tmp_path, epochs=2, verbose=0, keep_backup=True)
    second = _model()
    again = fit_resumable(second, x[:128], out_dir=tmp_path, epochs=2, verbose=0, keep_backup=True)
    assert again == history and len(again["loss"]) == 2
    for a, b in zip(first.weights, second.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.slow
def test_backup_of_another_run_is_refused(digits, tmp_path):
    (x, _), _ = digits
    with pytest.raises(KeyboardInterrupt):
        fit_resumable(_model(), x[:128], out_dir=tmp_path, epochs=3, verbose=0, callbacks=[_Interrupt(1)],
                      fingerprint={"learning_rate": 0.003})
    with pytest.raises(ResumeMismatchError, match=r"learning_rate differ"):
        fit_resumable(_model(), x[:128], out_dir=tmp_path, epochs=3, verbose=0, fingerprint={"learning_rate": 0.1})
    assert read_backup(tmp_path / BACKUP_DIR)["epoch"] == 1  # left untouched


@pytest.mark.slow
def test_diverged_epoch_is_never_backed_up(digits, tmp_path):
    (x, _), _ = digits

    class Poison(keras.callbacks.Callback):  # fault: weights turn NaN in the 3rd epoch
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 2:
                kernel = self.model.decoder.weights[-1]  # output bias: NaN reaches the loss
                kernel.assign(np.full(kernel.shape, np.nan, "float32"))

    model = _model()
    with pytest.raises(TrainingDivergedError, match="epoch 3"):
        fit_resumable(model, x[:256], out_dir=tmp_path, epochs=4, batch_size=64, verbose=0, keep_backup=True,
                      callbacks=[Poison()])
    assert read_backup(tmp_path / BACKUP_DIR)["epoch"] == 2
    restored = _model()
    restored.optimizer.build(restored.trainable_variables)
    restored.load_weights(tmp_path / BACKUP_DIR / "latest.weights.h5")
    assert all(np.isfinite(v.numpy()).all() for v in restored.weights)
    assert all(np.isfinite(v.numpy()).all() for v in model.weights)  # NaNGuard restored them too


@pytest.mark.slow
def test_torn_backup_writes_are_finished_or_discarded(digits, tmp_path):
    """Faults: a kill before the commit point (partial weights) or between the two renames."""
    (x, _), _ = digits
    callbacks = training_callbacks(tmp_path, monitor="loss")
    with pytest.raises(KeyboardInterrupt):
        _model().fit(x[:128], epochs=3, verbose=0, callbacks=[*callbacks, _Interrupt(2)])
    backup = tmp_path / BACKUP_DIR
    committed = (backup / "latest.weights.h5").read_bytes()
    assert read_backup(backup)["epoch"] == 2

    # killed while writing: half a weights file and its metadata under the temporary names
    (backup / "latest.partial.weights.h5").write_bytes(committed[: len(committed) // 2])
    (backup / "training_metadata.partial.json").write_text('{"epoch": 3, "hist')
    assert read_backup(backup)["epoch"] == 2  # what an observer sees; it changes nothing
    recover_backup(backup)  # what the next fit() does first
    assert sorted(p.name for p in backup.iterdir()) == ["latest.weights.h5", "training_metadata.json"]
    assert (backup / "latest.weights.h5").read_bytes() == committed

    # killed after the weights were renamed into place but before the metadata was
    meta = json.loads((backup / "training_metadata.json").read_text())
    (backup / "training_metadata.partial.json").write_text(json.dumps({**meta, "epoch": 3}))
    assert read_backup(backup)["epoch"] == 3
    recover_backup(backup)
    assert json.loads((backup / "training_metadata.json").read_text())["epoch"] == 3
    assert not (backup / "training_metadata.partial.json").exists()

    # and the atomic .keras writes leave no temporary files behind
    assert sorted(p.name for p in tmp_path.iterdir()) == [BACKUP_DIR, "best.keras", "last.keras"]


@pytest.mark.slow
def test_cli_rerun_with_other_settings_is_a_usage_error(tmp_path, capsys):
    args = ["train", "dense", "--dataset", "digits", "-p", "hidden=[8]", "-p", "code_dim=2", "--limit", "64",
            "--verbose", "0", "--out", str(tmp_path)]
    with pytest.raises(KeyboardInterrupt):
        fit_resumable(_model(), np.zeros((8, 8, 8, 1), "float32"), out_dir=tmp_path, epochs=2, verbose=0,
                      callbacks=[_Interrupt(1)], fingerprint={"model": "conv"})
    assert main(args) == 2
    assert "unfinished run with other settings" in capsys.readouterr().err
    assert main([*args, "--fresh", "--epochs", "1"]) == 0  # --fresh discards it
    assert len(json.loads((tmp_path / "history.json").read_text())["loss"]) == 1


# -- the real thing: SIGKILL a training process and run the same command again ---------------
EPOCHS = 8
TRAIN = ["train", "dense", "--dataset", "digits", "--epochs", str(EPOCHS), "--batch-size", "8",
         "--steps-per-execution", "1", "-p", "hidden=[32]", "-p", "code_dim=8", "--learning-rate", "0.003",
         "--seed", "0", "--verbose", "2"]


def _cli(out: Path) -> list[str]:
    return [sys.executable, "-m", "keras_ae", *TRAIN, "--out", str(out)]


@pytest.mark.slow
def test_sigkilled_cli_training_resumes_after_the_last_finished_epoch(digits, tmp_path):
    (x, _), (x_test, _) = digits
    out = tmp_path / "run"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    log = open(tmp_path / "killed.log", "w")
    proc = subprocess.Popen(_cli(out), cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:  # wait until at least two epochs are backed up, then kill the process mid-epoch
        deadline = time.monotonic() + 600
        state = None
        while time.monotonic() < deadline and proc.poll() is None:
            state = read_backup(out / BACKUP_DIR) if (out / BACKUP_DIR).is_dir() else None
            if state and state["epoch"] >= 2:
                break
            time.sleep(0.05)
        assert proc.poll() is None, "training ended before it could be killed: " + (tmp_path / "killed.log").read_text()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    assert proc.returncode == -signal.SIGKILL
    state = read_backup(out / BACKUP_DIR)
    done = state["epoch"]
    assert 2 <= done < EPOCHS and not (out / "model.keras").exists()

    # the backup holds the weights of the end of epoch `done`: they reproduce its logged val_loss
    probe = build_dense_ae((8, 8, 1), hidden=(32,), code_dim=8)
    probe.compile()
    probe.optimizer.build(probe.trainable_variables)
    probe.load_weights(out / BACKUP_DIR / "latest.weights.h5")
    val = probe.evaluate(x_test, verbose=0, return_dict=True)["loss"]
    assert val == pytest.approx(state["history"][done - 1]["val_loss"], rel=1e-5)

    rerun = subprocess.run(_cli(out), cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    assert f"{done} of {EPOCHS} epochs done" in rerun.stdout
    epochs_run = [int(line.split()[1].split("/")[0]) for line in rerun.stdout.splitlines() if line.startswith("Epoch ")]
    assert epochs_run == list(range(done + 1, EPOCHS + 1))  # only the epochs that were missing

    history = json.loads((out / "history.json").read_text())
    assert len(history["loss"]) == len(history["val_loss"]) == EPOCHS
    assert history["val_loss"][:done] == [e["val_loss"] for e in state["history"]]  # carried over
    assert history["loss"][done] < 0.9 * history["loss"][0]  # continued, not restarted

    # an uninterrupted run of the same command: same number of epochs and optimizer steps
    reference = tmp_path / "reference"
    assert main([*TRAIN, "--verbose", "0", "--out", str(reference)]) == 0
    uninterrupted = json.loads((reference / "history.json").read_text())
    assert len(uninterrupted["loss"]) == EPOCHS
    resumed_model, reference_model = load_model(out / "model.keras"), load_model(reference / "model.keras")
    steps = EPOCHS * math.ceil(len(x) / 8)
    assert int(resumed_model.optimizer.iterations) == int(reference_model.optimizer.iterations) == steps
    # same training, different shuffling after the restart: the results agree closely
    assert history["val_loss"][-1] == pytest.approx(uninterrupted["val_loss"][-1], rel=0.05)
    assert not (out / BACKUP_DIR).exists() and (out / "best.keras").is_file() and (out / "last.keras").is_file()


# -- recipes: one shared helper makes every recipe's fit resumable ------------------------
@pytest.mark.slow
def test_recipe_fits_resume_keep_best_and_last_and_finish_cleanly(digits, tmp_path):
    import argparse

    from keras_ae.experiment import CHECKPOINTS, fit_recipe_model, write_results

    (x, _), (x_test, _) = digits
    args = argparse.Namespace(out=str(tmp_path), dataset="digits", learning_rate=3e-3, epochs=3, verbose=0)
    folder = tmp_path / CHECKPOINTS / "dense_ae"
    with pytest.raises(KeyboardInterrupt):  # crash when epoch 3 begins
        fit_recipe_model(_model(), x[:256], args, epochs=3, validation_data=x_test[:64], verbose=0,
                         callbacks=[_Interrupt(2)])
    assert read_backup(folder / BACKUP_DIR)["epoch"] == 2
    assert {"best.keras", "last.keras"} <= {p.name for p in folder.iterdir()}

    changed = argparse.Namespace(**{**vars(args), "learning_rate": 0.1})
    with pytest.raises(ResumeMismatchError, match="learning_rate"):
        fit_recipe_model(_model(), x[:256], changed, epochs=3, verbose=0)

    first = _WeightsAtFirstEpoch()
    history = fit_recipe_model(_model(), x[:256], args, epochs=3, validation_data=x_test[:64], verbose=0,
                               callbacks=[first])
    assert first.epoch == 2 and len(history["val_loss"]) == 3  # ran epoch 3 only, reports all three
    best = load_model(folder / "best.keras")
    best_loss = best.evaluate(x_test[:64], verbose=0, return_dict=True)["loss"]
    assert np.isclose(best_loss, min(history["val_loss"]), rtol=1e-4)
    assert read_backup(folder / BACKUP_DIR)["epoch"] == 3  # kept until the recipe's results are written
    write_results(tmp_path, {"done": True})
    assert not (folder / BACKUP_DIR).exists() and (folder / "last.keras").is_file()
