"""The keras-ae command line: train -> evaluate -> export, configs, exit codes, recipes, datasets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import keras_ae
from keras_ae import cli
from keras_ae.cli import main
from keras_ae.export import read_metadata
from keras_ae.models import BUILDERS

SMALL = ["-p", "hidden=[16]", "-p", "code_dim=4", "--limit", "256", "--verbose", "0"]


@pytest.fixture(scope="module")
def denoiser_run(tmp_path_factory):
    """The documented command (docs/cli.md): `keras-ae train denoising --dataset digits --epochs 2 --out <tmp>`."""
    out = tmp_path_factory.mktemp("cli") / "denoising"
    code = main(["train", "denoising", "--dataset", "digits", "--epochs", "2", "--out", str(out)])
    return code, out


@pytest.mark.slow
def test_train_writes_model_history_and_config(denoiser_run, capsys):
    code, out = denoiser_run
    assert code == 0
    history = json.loads((out / "history.json").read_text())
    assert len(history["loss"]) == 2 and len(history["val_loss"]) == 2
    assert history["loss"][1] < history["loss"][0]
    config = json.loads((out / "config.json").read_text())
    assert config["model"] == "denoising" and config["epochs"] == 2 and config["dataset"] == "digits"
    assert (out / "model.keras").is_file()


@pytest.mark.slow
def test_evaluate_reproduces_the_last_validation_loss(denoiser_run, capsys):
    _, out = denoiser_run
    capsys.readouterr()
    assert main(["evaluate", str(out / "model.keras"), "--json", str(out / "eval.json")]) == 0
    results = json.loads((out / "eval.json").read_text())["results"]
    history = json.loads((out / "history.json").read_text())
    # the same weights on the same (digits test) split as the last epoch's validation
    assert results["loss"] == pytest.approx(history["val_loss"][-1], rel=1e-4)
    assert np.isfinite([results["psnr_db"], results["noisy_psnr_db"], results["denoised_psnr_db"]]).all()
    assert "| psnr_db |" in capsys.readouterr().out


@pytest.mark.slow
def test_export_after_train_then_versions_and_refusals(denoiser_run, tmp_path, capsys):
    _, out = denoiser_run
    base = tmp_path / "saved_models"
    argv = ["export", str(out / "model.keras"), "--name", "digits_denoiser", "--base-dir", str(base)]
    assert main(argv) == 0
    stdout = capsys.readouterr().out
    assert "denoise_uint8" in stdout and "docker run" in stdout
    meta = read_metadata(base / "digits_denoiser" / "1")
    history = json.loads((out / "history.json").read_text())
    assert meta["training"]["epochs"] == 2  # from the history.json next to the model
    assert meta["training"]["final_metrics"]["val_loss"] == pytest.approx(history["val_loss"][-1])
    assert meta["training"]["info"]["dataset"] == "digits"
    assert meta["denoiser"] is True and "denoise" in meta["signatures"]

    assert main([*argv, "--version", "1"]) == 1
    assert "exists already" in capsys.readouterr().err
    assert main(argv) == 0 and (base / "digits_denoiser" / "2").is_dir()
    assert main(["export", str(out / "model.keras"), "--name", "../x", "--base-dir", str(base)]) == 2
    assert "one folder name" in capsys.readouterr().err


@pytest.mark.slow
def test_config_file_reruns_reproduce_the_history(tmp_path, capsys):
    config = tmp_path / "run.yaml"
    config.write_text(textwrap.dedent("""\
        model: dense
        dataset: digits
        epochs: 1          # overridden by --epochs below
        batch_size: 64
        seed: 7
        limit: 256
        params: {hidden: [16], code_dim: 4}
    """))
    first = tmp_path / "first"
    assert main(["train", "--config", str(config), "--epochs", "2", "--out", str(first), "--verbose", "0"]) == 0
    resolved = json.loads((first / "config.json").read_text())
    assert resolved["epochs"] == 2 and resolved["params"] == {"hidden": [16], "code_dim": 4}
    second = tmp_path / "second"
    assert main(["train", "--config", str(first / "config.json"), "--out", str(second), "--verbose", "0"]) == 0
    h1 = json.loads((first / "history.json").read_text())
    h2 = json.loads((second / "history.json").read_text())
    assert len(h1["loss"]) == 2
    np.testing.assert_allclose(h1["loss"], h2["loss"], rtol=1e-5)
    assert "Trained dense for 2 epochs" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["train", "no_such_model"], "choose one of: " + ", ".join(sorted(BUILDERS))),
    (["train", "dense", "--dataset", "no_such_data", *SMALL], "digits"),
    (["train", "dense", "-p", "bogus=1", "--dataset", "digits", "--verbose", "0"], "build_dense_ae accepts: hidden"),
    (["train", "dense", "-p", "novalue"], "KEY=VALUE"),
    (["train", "dense", "--epochs", "0"], "epochs must be a positive integer"),
    (["train"], "Name a model"),
    (["train", "dense", "--epochs", "two"], "invalid int value"),
    (["export", "missing.keras", "--metadata", "[1]"], "--metadata must be a JSON object"),
    (["no_such_command"], "invalid choice"),
    ([], "usage: keras-ae"),
])
def test_usage_errors_exit_2_with_a_helpful_message(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_bad_config_files_are_usage_errors(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"model": "dense", "epoch": 3}))
    assert main(["train", "--config", str(bad)]) == 2
    assert "Unknown key(s) ['epoch']" in capsys.readouterr().err


@pytest.mark.slow
def test_failures_exit_1(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "missing.keras")]) == 1
    assert "No such model file" in capsys.readouterr().err
    assert main(["train", "dense", "--dataset", "mnist", "--data-dir", str(tmp_path), *SMALL]) == 1
    assert "mnist.npz" in capsys.readouterr().err
    assert main(["train", "dense", "--learning-rate", "1e12", "--dataset", "digits", *SMALL,
                 "-p", "loss=mse", "--out", str(tmp_path / "nan")]) == 1
    assert "diverged" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["train", "evaluate", "export", "recipes", "datasets"])
def test_every_subcommand_has_help(command, capsys):
    assert main([command, "--help"]) == 0
    assert f"usage: keras-ae {command}" in capsys.readouterr().out


def test_datasets_lists_offline_status(tmp_path, capsys):
    np.savez(tmp_path / "mnist.npz", x_train=np.zeros((2, 28, 28), "uint8"), y_train=np.zeros(2),
             x_test=np.zeros((1, 28, 28), "uint8"), y_test=np.zeros(1))
    assert main(["datasets", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| digits | image | (8, 8, 1) | offline |" in out
    assert f"| mnist | image | (28, 28, 1) | local: {tmp_path / 'mnist.npz'} |" in out
    assert "| cifar10 | image | (32, 32, 3) | download needed |" in out


def test_recipes_list_and_run(tmp_path, capsys):
    (tmp_path / "hello.py").write_text(textwrap.dedent('''\
        """Says hello and exits with the code it is given."""
        import argparse, sys
        parser = argparse.ArgumentParser()
        parser.add_argument("--code", type=int, default=0)
        args = parser.parse_args()
        print("hello from a recipe")
        sys.exit(args.code)
    '''))
    (tmp_path / "_helpers.py").write_text("")
    assert main(["recipes", "--recipes-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| hello | Says hello and exits with the code it is given. |" in out and "_helpers" not in out
    assert main(["recipes", "--recipes-dir", str(tmp_path), "run", "hello", "--code", "3"]) == 3
    assert main(["recipes", "--recipes-dir", str(tmp_path), "run", "nope"]) == 2
    assert "choose one of: hello" in capsys.readouterr().err


def test_recipes_found_in_the_checkout_or_reported_missing(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv(cli.RECIPES_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    repo = Path(keras_ae.__file__).resolve().parents[1]
    assert cli.find_recipes_dir() == repo / "recipes"  # editable install: the source checkout
    # installed from a wheel: the package sits in site-packages, with no recipes/ around it
    site = tmp_path / "site-packages" / "keras_ae"
    site.mkdir(parents=True)
    monkeypatch.setattr(keras_ae, "__file__", str(site / "__init__.py"))
    assert main(["recipes", "list"]) == 1
    assert "ship with the keras_ae source repository" in capsys.readouterr().err


@pytest.mark.slow
def test_python_dash_m_keras_ae_runs_the_cli():
    proc = subprocess.run([sys.executable, "-m", "keras_ae", "train", "no_such_model"], capture_output=True,
                          text=True, timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert proc.returncode == 2
    assert "Unknown model 'no_such_model'; choose one of: " in proc.stderr and "denoising" in proc.stderr
