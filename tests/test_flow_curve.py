"""recipes/flow_curve.py: RealNVP's bits/dim against training time, per variant."""

from __future__ import annotations

import json
import math

import pytest

from keras_ae.errors import InputValidationError
from tests.conftest import import_recipe


@pytest.fixture(scope="module")
def fc():
    return import_recipe("flow_curve")


def test_row_reads_marks_best_last_quarter_gain_and_time_to_the_reference(fc):
    run = {"variant": "blocks1", "params": 10, "epochs": 4, "train_seconds": 400.0,
           "curve": [[100.0, 1, 3.0], [200.0, 2, 2.0], [300.0, 3, 1.5], [400.0, 4, 1.4]]}
    row = fc.curve_row(run, target=1.5, budget_seconds=400.0)
    assert row["2 min"] == 3.0 and row["5 min"] == 1.5 and "10 min" not in row  # marks within the budget
    assert row["best"] == 1.4
    assert row["gain in the last quarter"] == pytest.approx(0.1)  # 1.5 at 300 s (0.75 x 400) -> 1.4
    assert row["reaches default's final at (s)"] == 300
    assert fc.curve_row(run, target=1.0, budget_seconds=400.0)["reaches default's final at (s)"] == "never"
    assert fc.at_time(run["curve"], 50.0) is None


@pytest.mark.parametrize("argv", [["--budget", "0"], ["--budget", "-1"], ["--every", "0"]])
def test_bad_budget_or_interval_is_refused(fc, argv):
    with pytest.raises(InputValidationError, match="--budget"):
        fc.parse_args(argv)


@pytest.mark.slow
def test_a_short_curve_on_digits_writes_rows_curves_and_the_figure(fc, tmp_path):
    results = fc.main(["--dataset", "digits", "--budget", "0.05", "--variants", "tiny", "--out", str(tmp_path)])
    (run,) = results["runs"]
    assert run["epochs"] >= 1 and run["train_seconds"] >= 3.0
    # 8-bit digits: a flow that has trained at all is well under 8 bits/dim and above 0.
    assert all(math.isfinite(s) and 0 < s < 8 for _, _, s in run["curve"])
    assert results["reference_final_bits_per_dim"] == run["curve"][-1][2]
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["rows"][0]["variant"] == "tiny" and (tmp_path / "realnvp_curve.png").is_file()
