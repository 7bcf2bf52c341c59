"""recipes/bench_fit_overhead.py: per-call fit times of keras_ae and plain Keras, side by side."""

from __future__ import annotations

import math

import numpy as np
import pytest

from keras_ae.errors import InputValidationError
from tests.conftest import import_recipe


@pytest.fixture(scope="module")
def bench():
    return import_recipe("bench_fit_overhead")


@pytest.mark.slow  # traces and fits four models (about 10 s)
def test_every_model_gets_positive_times_and_the_columns_agree(bench, digits):
    (x, _), _ = digits
    result = bench.measure_fit_overhead(x, sizes=(16, 64), batch_size=16, repeats=2, warmup=1, verbose=0)
    rows = result["rows"]
    assert [(r["model"], r["side"]) for r in rows] == [
        ("VAE 64-200-200-50", "keras_ae"), ("VAE 64-200-200-50", "plain Keras"),
        ("dense AE 64-128-64-32", "keras_ae"), ("dense AE 64-128-64-32", "plain Keras")]
    for row in rows:
        for key in ("first call (ms)", "16 images (ms)", "64 images (ms)", "16 images (CPU ms)", "64 images (CPU ms)"):
            assert math.isfinite(row[key]) and row[key] > 0, (row["model"], row["side"], key)
        # the overhead is the small call minus a quarter (16 / 64) of the large one
        assert row["overhead (ms)"] == pytest.approx(row["16 images (ms)"] - row["64 images (ms)"] / 4, abs=0.15)
        assert row["us/image"] == pytest.approx(1e3 * row["64 images (ms)"] / 64, rel=0.01)
        times = result["times"][f"{'vae' if 'VAE' in row['model'] else 'dense'}|{row['side']}|64"]
        assert len(times) == 2 and row["64 images (ms)"] == pytest.approx(1e3 * np.median(times), abs=0.051)
    for ka, plain in (rows[:2], rows[2:]):
        assert ka["params"] == plain["params"]  # the plain model is the same size
        assert ka["16: keras_ae / plain"] == pytest.approx(ka["16 images (ms)"] / plain["16 images (ms)"], abs=0.02)
    assert all(len(t) == 2 for t in result["cpu_times"].values()) and len(result["load_start"]) == 3
    section = "\n".join(bench.markdown_section(result))
    assert section.startswith("## Per-call `fit` overhead") and section.count("| VAE 64-200-200-50 |") == 2


@pytest.mark.parametrize("kwargs, message", [
    ({"sizes": (64, 16)}, "small then large"),
    ({"sizes": (16, 64, 128)}, "small then large"),
    ({"sizes": (16, 5000)}, "needs 5000"),
    ({"families": ["gan"]}, "families must be some of"),
    ({"repeats": 0}, "repeats"),
])
def test_bad_arguments_are_refused_before_any_model_is_built(bench, digits, kwargs, message):
    (x, _), _ = digits
    with pytest.raises(InputValidationError, match=message):
        bench.measure_fit_overhead(x, **{"sizes": (16, 64), **kwargs}, verbose=0)


def test_labels_name_the_default_layer_widths(bench):
    assert bench.model_label("vae", (28, 28, 1)) == "VAE 784-200-200-50"
    assert bench.model_label("dense", (28, 28, 1)) == "dense AE 784-128-64-32"
    assert bench.parse_args([]).sizes == [256, 8000]


def test_a_full_benchmark_report_keeps_this_section_and_the_races(bench, tmp_path):
    """recipes/benchmark.py rewrites BENCHMARKS.md; the sections other recipes write stay."""
    benchmark = import_recipe("benchmark")
    report = tmp_path / "BENCHMARKS.md"
    report.write_text("# keras_ae benchmarks\n\n## Machine\n\nold machine\n\n## Per-call `fit` overhead\n\n| a |\n\n"
                      "## Time to quality\n\n| b |\n")
    new = ["# keras_ae benchmarks", "", "## Machine", "", "new machine", "", "## Targets", "", "| t |"]
    assert benchmark.other_sections(report, new) == ["", "## Per-call `fit` overhead", "", "| a |", "",
                                                     "## Time to quality", "", "| b |"]
    assert benchmark.other_sections(tmp_path / "absent.md", new) == []
