"""recipes/vqvae_optimizer.py: the VQ-VAE's default optimizer against the settings it replaced."""

import json

import numpy as np
import pytest

from keras_ae.errors import InputValidationError
from tests.conftest import import_recipe


@pytest.fixture(scope="module")
def vo():
    return import_recipe("vqvae_optimizer")


def test_row_reads_marks_best_and_the_mean_of_the_last_ten_epochs(vo):
    curve = [[2.0 * e, e, 10.0 / e] for e in range(1, 21)]
    row = vo.curve_row({"variant": "v", "averaged": True, "learning_rate": 1e-3, "train_seconds": 40.0,
                        "curve": curve})
    assert row["epoch 5"] == 2.0 and row["epoch 10"] == 1.0 and row["epoch 20"] == 0.5
    assert "epoch 30" not in row and row["best"] == 0.5
    assert row["mean of the last 10"] == pytest.approx(round(np.mean([10.0 / e for e in range(11, 21)]), 3))
    assert row["seconds per epoch"] == 2.0


@pytest.mark.parametrize("argv", [["--epochs", "0"], ["--variants", "adamw"]])
def test_bad_epochs_or_variant_is_refused(vo, argv):
    with pytest.raises((InputValidationError, SystemExit)):
        vo.parse_args(argv)


@pytest.mark.slow  # trains two VQ-VAEs
def test_a_smoke_run_on_digits_gives_the_default_its_averaging_and_rate(vo, tmp_path):
    results = vo.main(["--dataset", "digits", "--epochs", "2", "--variants", "default", "no_average",
                       "--out", str(tmp_path)])
    runs = {run["variant"]: run for run in results["runs"]}
    assert runs["default"]["averaged"] and runs["default"]["learning_rate"] == pytest.approx(1e-3)
    assert not runs["no_average"]["averaged"] and runs["no_average"]["learning_rate"] == pytest.approx(1.41421e-3, 1e-3)
    for run in runs.values():
        errors = [error for _, _, error in run["curve"]]
        assert len(errors) == 2 and all(np.isfinite(errors)) and errors[-1] < 64  # 64 pixels in [0, 1]
    assert (tmp_path / "vqvae_optimizer.png").stat().st_size > 0
    assert json.loads((tmp_path / "results.json").read_text())["results"]["epochs"] == 2
