"""keras-ae's contract beyond bad flags: summaries never cost the trained model, every family
trains from the default command, shape arguments come from the dataset, and stderr holds
only what matters (0 ok, 2 bad input, 1 a failure; an error is one line)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import keras_ae
from keras_ae import cli, quiet
from keras_ae.cli import main
from keras_ae.models import BUILDERS
from keras_ae.training.callbacks import EmbeddingProjector, tensorboard_callbacks

ROOT = Path(__file__).resolve().parents[1]
TINY_VAE = ["-p", "latent_dim=2", "-p", "hidden=[16]", "--binarize", "--epochs", "1", "--limit", "64",
            "--verbose", "0"]
TINY_FLOW = ["-p", "filters=4", "-p", "blocks=0", "-p", "couplings=1", "-p", "final_couplings=1", "--epochs", "1",
             "--limit", "64", "--verbose", "0"]
# Any glog-format line (absl / TensorFlow C++ log): none belongs on a keras-ae user's screen.
GLOG = ("I0000 ", "W0000 ", "E0000 ", "WARNING: All log messages before absl")


def _one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err[-3000:]
    assert "Traceback" not in err
    return lines[0]


def _run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    """A keras-ae (or recipe) process as a user starts it: no TF_CPP_MIN_LOG_LEVEL of the tests'."""
    environ = {k: v for k, v in os.environ.items() if k != quiet.LOG_LEVEL_ENV}
    environ.update(PYTHONPATH=str(ROOT), **env)  # this checkout's keras_ae, whatever the cwd
    return subprocess.run([sys.executable, *args], check=False, capture_output=True, text=True, env=environ, cwd=cwd,
                          timeout=600)


# -- finding 6: TensorBoard and flow-posterior VAEs; a failing callback keeps the model -------------
@pytest.mark.slow
def test_the_projector_embeds_a_flow_posterior_vae(tmp_path):
    (x, _), (x_test, y_test) = keras_ae.load_dataset("digits")
    vae = keras_ae.models.build_vae((8, 8, 1), latent_dim=2, hidden=(16,), posterior_flow="iaf")
    vae.compile()
    callbacks = tensorboard_callbacks(tmp_path, vae, x_test[:40], y_test[:40])
    vae.fit(keras_ae.data.binarize(x[:64]), epochs=1, batch_size=32, verbose=0, callbacks=callbacks)
    projector = next(c for c in callbacks if isinstance(c, EmbeddingProjector))
    assert projector.path is not None and projector.path.is_file()
    codes = projector.model.posterior_point(x_test[:40]).numpy()
    assert codes.shape == (40, 2) and np.isfinite(codes).all()
    assert len((tmp_path / "metadata.tsv").read_text().splitlines()) == 40


@pytest.mark.slow
def test_cli_trains_an_iaf_vae_with_tensorboard_and_saves_it(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "vae", "-p", "posterior_flow=iaf", *TINY_VAE, "--tensorboard", "tb", "--out", "run"]) == 0
    assert (tmp_path / "run" / "model.keras").is_file() and (tmp_path / "run" / "history.json").is_file()
    assert (tmp_path / "tb" / "projector_config.pbtxt").is_file()


@pytest.mark.slow
def test_a_failing_summary_callback_exits_1_after_saving_the_trained_model(tmp_path, monkeypatch, capsys):
    def broken(self, logs=None):
        raise RuntimeError("the projector broke")

    monkeypatch.setattr(EmbeddingProjector, "on_train_end", broken)
    monkeypatch.chdir(tmp_path)
    code = main(["train", "dense", "-p", "hidden=[16]", "-p", "code_dim=2", "--epochs", "1", "--limit", "64",
                 "--verbose", "0", "--tensorboard", "tb", "--out", "run"])
    assert code == 1
    line = _one_line(capsys.readouterr().err)
    assert "EmbeddingProjector" in line and "the projector broke" in line and "model.keras" in line
    assert (tmp_path / "run" / "model.keras").is_file() and (tmp_path / "run" / "history.json").is_file()
    assert not (tmp_path / "run" / "backup").exists()  # the run is finished, not resumable
    model = keras_ae.saving.load_model(tmp_path / "run" / "model.keras")
    assert model.info["epochs"] == 1


@pytest.mark.slow
def test_a_failing_summary_callback_in_a_recipe_keeps_the_history(tmp_path, monkeypatch, capsys):
    from keras_ae.experiment import fit_recipe_model, recipe_parser

    def broken(self, logs=None):
        raise RuntimeError("the projector broke")

    monkeypatch.setattr(EmbeddingProjector, "on_train_end", broken)
    (x, _), (x_test, y_test) = keras_ae.load_dataset("digits")
    args = recipe_parser("demo", "Demo.", dataset="digits").parse_args(
        ["--out", str(tmp_path / "out"), "--tensorboard", str(tmp_path / "tb")])
    model = keras_ae.build_dense_ae((8, 8, 1), hidden=(16,), code_dim=2, name="small")
    model.compile()
    history = fit_recipe_model(model, x[:64], args, x_test=x_test[:40], y_test=y_test[:40], epochs=1,
                               batch_size=32, verbose=0)
    assert len(history["loss"]) == 1
    assert "the projector broke" in _one_line(capsys.readouterr().err)


# -- finding 7: the 8-bit families train from the default command ------------------------------------
@pytest.mark.slow
def test_keras_ae_train_realnvp_works_out_of_the_box(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "realnvp", *TINY_FLOW, "--out", "run"]) == 0
    assert "rounded" in capsys.readouterr().out  # says what it did to the images
    assert keras_ae.saving.load_model(tmp_path / "run" / "model.keras").info["quantized"] == 256
    assert main(["evaluate", "run/model.keras"]) == 0  # scored on the same grid


@pytest.mark.slow
def test_quantize_rounds_the_images_to_the_grid_it_names(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    seen = []
    original = keras_ae.training.checkpoints.fit_resumable

    def spy(model, x, **kwargs):
        seen.append(np.asarray(x))
        return original(model, x, **kwargs)

    monkeypatch.setattr(keras_ae.training.checkpoints, "fit_resumable", spy)
    assert main(["train", "dense", "-p", "hidden=[8]", "-p", "code_dim=2", "--epochs", "1", "--limit", "32",
                 "--verbose", "0", "--quantize", "4", "--no-validation", "--out", "run"]) == 0
    assert set(np.unique(seen[0] * 3).round(4)) <= {0.0, 1.0, 2.0, 3.0}


@pytest.mark.parametrize("value", ["1", "257", "0", "-3", "x"])
def test_a_bad_quantize_value_exits_2(tmp_path, monkeypatch, capsys, value):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "dense", "--quantize", value]) == 2
    err = capsys.readouterr().err  # argparse's own refusal ('x') prints its usage first, as for every flag
    assert "quantize" in (_one_line(err) if value != "x" else err.splitlines()[-1])
    assert not (tmp_path / "runs").exists()


def test_grid_levels_come_from_the_model_or_the_flag():
    flow = keras_ae.models.build_realnvp((8, 8, 1), filters=4, blocks=0, couplings=1, final_couplings=1)
    vae = keras_ae.models.build_vae((8, 8, 1), latent_dim=2, hidden=(8,))
    assert cli.grid_levels(flow) == 256 and cli.grid_levels(flow, 16) == 16
    assert cli.grid_levels(vae) is None  # binary images come from --binarize, never from rounding
    x = np.linspace(0, 1, 17, dtype=np.float32)
    assert np.array_equal(cli.quantize(x, 256), np.asarray(cli.quantize(x.reshape(1, -1), 256))[0])
    assert np.abs(cli.quantize(x, 256) * 255 - np.round(cli.quantize(x, 256) * 255)).max() < 1e-4


# -- finding 8: shape arguments, --tensorboard paths -------------------------------------------------
@pytest.mark.parametrize("model", sorted(BUILDERS))
@pytest.mark.parametrize("key", ["image_shape", "input_shape", "data_shape"])
def test_a_shape_param_is_refused_for_every_family(tmp_path, monkeypatch, capsys, model, key):
    monkeypatch.chdir(tmp_path)
    assert main(["train", model, "-p", f"{key}=[8,8,1]", "--epochs", "1", "--verbose", "0"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert key in line and "dataset" in line
    assert not (tmp_path / "runs").exists()  # refused before anything is written


@pytest.mark.parametrize("flag", ["--tensorboard", "--out"])
def test_a_file_where_a_folder_goes_exits_2_before_training(tmp_path, monkeypatch, capsys, flag):
    monkeypatch.chdir(tmp_path)
    Path("a_file").write_text("not a folder")
    for value in ("a_file", "a_file/below"):
        assert main(["train", "dense", flag, value, "--epochs", "1", "--verbose", "0"]) == 2
        line = _one_line(capsys.readouterr().err)
        assert "a_file" in line and "folder" in line
    assert not (tmp_path / "runs").exists()


def test_the_run_time_filter_hides_benign_error_lines_only():
    hidden = quiet.is_hidden_at_run_time
    assert hidden("E0000 00:00:1796.1   7 meta_optimizer.cc:967] remapper failed: INVALID_ARGUMENT: Mutation", 2)
    assert hidden("E0000 00:00:1796.1   7 util.cc:131] oneDNN supports DT_INT32 only on platforms with AVX-512. "
                  "Falling back to the default Eigen-based implementation if present.", 2)
    assert hidden("I0000 00:00:1796.1   7 something.cc:12] Memory patch applied", 2)
    assert hidden("W0000 00:00:1796.1   7 local_rendezvous.cc:412] Local rendezvous is aborting", 2)
    assert not hidden("W0000 00:00:1796.1   7 local_rendezvous.cc:412] Local rendezvous is aborting", 1)
    assert not hidden("E0000 00:00:1796.1   7 cuda_dnn.cc:8] could not create cudnn handle", 2)
    assert not hidden("keras-ae train: error: something went wrong", 3)


# -- subprocesses: what a user's terminal shows -------------------------------------------------------
@pytest.mark.slow
def test_the_filter_passes_real_errors_on_and_keeps_the_last_line_of_a_crash(tmp_path):
    code = (f"import importlib.util, os, sys\n"
            f"spec = importlib.util.spec_from_file_location('q', {str(ROOT / 'keras_ae' / 'quiet.py')!r})\n"
            "q = importlib.util.module_from_spec(spec); spec.loader.exec_module(q)\n"
            "assert q.filter_stderr(2)\n"
            "os.write(2, b'E0000 00:00:1.5   7 meta_optimizer.cc:967] remapper failed: fanout\\n')\n"
            "os.write(2, b'W0000 00:00:1.5   7 local_rendezvous.cc:412] aborting\\n\\t [[{{node Assert}}]]\\n')\n"
            "os.write(2, b'E0000 00:00:1.5   7 cuda_dnn.cc:8] a real error\\n')\n"
            "print('a python warning', file=sys.stderr, flush=True)\n"
            "os.write(2, b'prompt> ')\n"
            "os.write(2, b'\\nlast words before the crash\\n')\n"
            "os._exit(3)\n")
    result = _run(["-c", code], tmp_path)
    assert result.returncode == 3
    assert result.stderr.splitlines() == ["E0000 00:00:1.5   7 cuda_dnn.cc:8] a real error", "a python warning",
                                          "prompt> ", "last words before the crash"]


@pytest.mark.slow
def test_a_successful_run_prints_no_tensorflow_log_lines(tmp_path):
    # A VQ-VAE's training graph makes grappler log "remapper failed" at ERROR level.
    result = _run(["-m", "keras_ae", "train", "vqvae", "--binarize", "-p", "num_codes=8", "-p", "code_dim=4",
                   "--epochs", "1", "--limit", "64", "--verbose", "0", "--out", "run"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert [line for line in result.stderr.splitlines() if line.startswith(GLOG)] == []


@pytest.mark.slow
def test_a_streamed_input_error_is_one_line(tmp_path):
    # Non-binary images for a Bernoulli VQ-VAE fail the in-pipeline check of the first batch.
    result = _run(["-m", "keras_ae", "train", "vqvae", "--stream", "-p", "num_codes=8", "-p", "code_dim=4",
                   "--epochs", "1", "--limit", "64", "--verbose", "0", "--out", "run"], tmp_path)
    assert result.returncode == 2
    assert "input check" in _one_line(result.stderr)


@pytest.mark.slow
def test_a_recipe_that_sets_the_log_level_itself_starts_quietly(tmp_path):
    result = _run([str(ROOT / "recipes" / "time_to_quality.py"), "--help"], tmp_path, **{quiet.LOG_LEVEL_ENV: "2"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert [line for line in result.stderr.splitlines() if line.startswith(GLOG)] == []
