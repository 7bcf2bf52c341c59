"""recipes/time_to_quality.py: the training clock, the time-to-reach verdict, the scorers and a quick race."""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_ae.errors import InputValidationError, UnknownNameError

RECIPES = Path(__file__).resolve().parents[1] / "recipes"


@pytest.fixture(scope="module")
def ttq():
    sys.path.insert(0, str(RECIPES))
    try:
        import time_to_quality
    finally:
        sys.path.remove(str(RECIPES))
    return time_to_quality


class _SlowSteps(keras.callbacks.Callback):
    """Makes every training step last at least ``seconds`` and records each epoch's duration."""

    def __init__(self, seconds: float):
        super().__init__()
        self.seconds, self.durations = seconds, []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_train_batch_begin(self, batch, logs=None):
        time.sleep(self.seconds)

    def on_epoch_end(self, epoch, logs=None):
        self.durations.append(time.perf_counter() - self._start)


# -- the clock -----------------------------------------------------------------------------------------
@pytest.mark.slow
def test_clock_excludes_scoring_time_and_stops_at_the_budget(ttq):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    x = np.zeros((64, 4), np.float32)
    model.fit(x, x[:, :1], batch_size=32, epochs=1, verbose=0)  # traced here, not inside the clock
    scores = iter(range(1000))

    def slow_score():  # 0.2 s per scoring: twice an epoch's training time (2 steps x 0.05 s)
        time.sleep(0.2)
        return float(next(scores))

    steps = _SlowSteps(0.05)
    clock = ttq.QualityClock(slow_score, budget_seconds=0.8, every_epochs=1)
    wall = time.perf_counter()
    model.fit(x, x[:, :1], batch_size=32, epochs=1_000_000, callbacks=[steps, clock], verbose=0)
    wall = time.perf_counter() - wall
    times = np.array([t for t, _, _ in clock.curve])
    assert len(times) >= 2 and [e for _, e, _ in clock.curve] == list(range(1, clock.epochs + 1))
    # Each recorded time is the sum of the epochs' own durations: the 0.2 s scorings in
    # between are not in it (they would add 0.2 s per earlier epoch).
    np.testing.assert_allclose(times, np.cumsum(steps.durations), atol=0.01 * len(times))
    assert clock.score_seconds >= 0.2 * len(times)
    assert wall >= clock.train_seconds + clock.score_seconds
    # The budget ran out in the last epoch: no epoch started after it was spent.
    assert times[-2] < 0.8 <= times[-1] == clock.train_seconds


def test_clock_stops_inside_a_long_epoch_once_the_budget_is_spent(ttq):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    x = np.zeros((160, 4), np.float32)
    model.fit(x, x[:, :1], batch_size=8, epochs=1, verbose=0)
    clock = ttq.QualityClock(lambda: 0.0, budget_seconds=0.3)
    model.fit(x, x[:, :1], batch_size=8, epochs=1_000_000, callbacks=[_SlowSteps(0.05), clock], verbose=0)
    # One epoch is 20 steps of >= 0.05 s (>= 1 s): the step after the budget ends it.
    assert clock.epochs == 1 and len(clock.curve) == 1
    assert 0.3 <= clock.train_seconds < 0.8


def test_clock_scores_every_n_epochs_and_once_more_at_the_end(ttq):
    class Stub:  # the clock only needs a model's stop_training flag
        stop_training = False

    clock = ttq.QualityClock(lambda: 1.0, budget_seconds=1000.0, every_epochs=3)
    clock.set_model(Stub())
    for epoch in range(7):
        clock.on_epoch_begin(epoch)
        clock.on_epoch_end(epoch)
    clock.on_train_end()
    assert [e for _, e, _ in clock.curve] == [3, 6, 7]
    assert not clock.model.stop_training
    clock = ttq.QualityClock(lambda: 1.0, budget_seconds=0.05, every_epochs=10)
    clock.set_model(Stub())
    clock.on_epoch_begin(0)
    time.sleep(0.06)
    clock.on_epoch_end(0)  # budget spent: stop, and score although epoch 1 is not a scoring epoch
    assert clock.model.stop_training and [e for _, e, _ in clock.curve] == [1]


def test_clock_times_whole_fit_calls_and_scores_after_each_call(ttq):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    x = np.zeros((64, 4), np.float32)
    model.fit(x, x[:, :1], batch_size=32, epochs=1, verbose=0)
    steps = _SlowSteps(0.01)  # 2 steps per epoch: >= 0.02 s per epoch, >= 0.06 s per 3-epoch call
    clock = ttq.QualityClock(lambda: float(len(steps.durations)), budget_seconds=1.0, every_epochs=1)
    calls = []

    class CountCalls(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            calls.append(time.perf_counter())

    fit_args = (x, x[:, :1])
    ttq.fit_in_calls(model, fit_args, {"batch_size": 32, "callbacks": [CountCalls(), steps]}, clock, 3)
    # One score per call, after it: epochs 3, 6, ... (the score is the number of epochs trained);
    # every_epochs does not apply to calls.
    epochs = [e for _, e, _ in clock.curve]
    assert len(calls) == len(clock.curve) >= 2 and [s for _, _, s in clock.curve] == epochs
    assert epochs[:-1] == list(range(3, 3 * len(epochs) - 2, 3)) and epochs[-1] - epochs[-2] <= 3
    # The whole call is timed (its epochs and fit's own set-up and ending), and the budget was spent.
    assert clock.train_seconds >= sum(steps.durations) and clock.train_seconds >= 1.0
    assert clock.curve[-2][0] < 1.0 <= clock.curve[-1][0] == clock.train_seconds
    with pytest.raises(InputValidationError, match="epochs_per_call"):
        ttq.fit_in_calls(model, fit_args, {}, clock, 0)


@pytest.mark.parametrize("kwargs", [dict(budget_seconds=0), dict(budget_seconds=-1.0), dict(budget_seconds=math.inf),
                                    dict(budget_seconds=5, every_epochs=0), dict(budget_seconds=5, every_epochs=1.5)])
def test_clock_rejects_bad_budgets_and_intervals(ttq, kwargs):
    with pytest.raises(InputValidationError, match="budget_seconds|every_epochs"):
        ttq.QualityClock(lambda: 0.0, **kwargs)


# -- the verdict -------------------------------------------------------------------------------------------
def test_time_to_reach_ratio_and_pass_when_lower_is_better(ttq):
    nelbo = ttq.MEASURES["vae"]
    io = [(10.0, 5, 130.0), (45.0, 25, 110.5), (90.0, 50, 110.9)]  # best 110.5, first at 45 s
    ae = [(9.0, 5, 125.0), (15.0, 10, 112.0), (22.5, 15, 110.5), (90.0, 60, 105.8)]
    r = ttq.time_to_quality(io, ae, nelbo)
    assert (r["keras.io best"], r["keras.io best at (s)"], r["keras_ae reaches at (s)"]) == (110.5, 45.0, 22.5)
    assert r["ratio"] == 2.0 and r["pass"]
    assert (r["keras.io final"], r["keras_ae final"]) == (110.9, 105.8)
    # 1.5x sooner is not enough; reaching it but ending worse than keras.io's final is not either.
    slower = [(30.0, 5, 110.0), (90.0, 15, 105.0)]
    assert ttq.time_to_quality(io, slower, nelbo)["ratio"] == 1.5 and not ttq.time_to_quality(io, slower, nelbo)["pass"]
    worse_end = [(10.0, 5, 110.0), (90.0, 50, 111.0)]
    r = ttq.time_to_quality(io, worse_end, nelbo)
    assert r["ratio"] == 4.5 and not r["pass"]


def test_time_to_reach_when_higher_is_better_and_when_never_reached(ttq):
    psnr = ttq.MEASURES["conv_denoising"]
    io = [(20.0, 1, 18.0), (40.0, 2, 19.0), (80.0, 4, 19.0), (90.0, 5, 18.9)]  # 19.0 first at 40 s
    ae = [(5.0, 1, 17.0), (10.0, 2, 19.0), (90.0, 18, 21.0)]
    r = ttq.time_to_quality(io, ae, psnr)
    assert (r["keras.io best"], r["keras.io best at (s)"]) == (19.0, 40.0)
    assert (r["keras_ae reaches at (s)"], r["ratio"]) == (10.0, 4.0)
    assert r["pass"]
    # The same numbers read as "lower is better" give another verdict: best 18.0 at 20 s, reached at 5 s.
    r = ttq.time_to_quality(io, ae, ttq.MEASURES["dense"])
    assert (r["keras.io best"], r["keras_ae reaches at (s)"], r["ratio"], r["pass"]) == (18.0, 5.0, 4.0, False)
    never = [(10.0, 1, 15.0), (90.0, 9, float("nan"))]  # a diverged run never counts as reaching it
    r = ttq.time_to_quality(io, never, psnr)
    assert r["keras_ae reaches at (s)"] is None and r["ratio"] is None and not r["pass"]
    with pytest.raises(InputValidationError, match="keras_ae_curve is empty"):
        ttq.time_to_quality(io, [], psnr)


# -- the scorers (one code path for both sides) ---------------------------------------------------------------
def test_bernoulli_nll_of_sigmoid_outputs_is_keras_binary_crossentropy(ttq):
    rng = np.random.default_rng(0)
    x = (rng.random((6, 4, 4, 1)) < 0.4).astype(np.float32)
    p = rng.uniform(0.01, 0.99, size=x.shape).astype(np.float32)
    p[0, 0, 0, 0] = 1.0  # saturated: clipped at 1e-7 as in Keras' loss
    keras_bce = keras.losses.binary_crossentropy(x.reshape(6, -1), p.reshape(6, -1)).numpy() * 16  # mean -> sum
    ours = ttq.bernoulli_nll(lambda _: ttq.logits_of_probabilities(tf.constant(p)), x)
    np.testing.assert_allclose(ours, keras_bce.mean(), rtol=1e-4)
    logits = np.log(p / (1 - np.clip(p, 0, 1 - 1e-7)))
    from_logits = ttq.bernoulli_nll(lambda _: tf.constant(logits[1:]), x[1:])  # keras_ae's side: logits
    np.testing.assert_allclose(from_logits, keras_bce[1:].mean(), rtol=1e-4)


def test_negative_elbo_is_kl_plus_bernoulli_cross_entropy_by_hand(ttq):
    # q(z|x) = N(1, 0.5^2) in 1-D for every image; a decoder with constant logit 0 (p = 1/2).
    x = np.ones((3, 5), np.float32)
    kl = 0.5 * (1.0 + 0.25 - 1.0 - 2.0 * np.log(0.5))
    value = ttq.negative_elbo(lambda xb: (tf.ones((len(xb), 1)), tf.fill((len(xb), 1), 0.5)),
                              lambda z: tf.zeros((len(z), 5)), x)
    np.testing.assert_allclose(value, kl + 5 * np.log(2.0), rtol=1e-6)


# -- the recipe --------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_quick_race_on_digits_writes_finite_rows_curves_and_figures(ttq, tmp_path):
    out = tmp_path / "ttq"
    results = ttq.main(["--quick", "--families", "dense", "vae", "--seeds", "0", "--budget-scale", "0.5",
                        "--out", str(out)])
    assert [r["family"] for r in results] == ["dense", "vae"]
    for r in results:
        for side in ("keras.io", "keras_ae"):
            run = r["sides"][side]
            assert run["curve"] and all(math.isfinite(s) for _, _, s in run["curve"])
            assert run["train_seconds"] >= r["budget_s"]  # the budget ended the fit, not the epoch count
            assert run["epochs"] >= 1
        assert math.isfinite(r["keras.io best"]) and math.isfinite(r["keras_ae final"])
        assert r["keras.io best at (s)"] > 0
    assert results[0]["budget_s"] == ttq.QUICK_BUDGETS["dense"] * 0.5
    # Squared error of 8x8 images in [0, 1]: between 0 and 64; a negative ELBO of 64 binary pixels is > 0.
    assert all(0 < r[key] < 64 for key in ("keras.io final", "keras_ae final") for r in results[:1])
    assert all(r[key] > 0 for key in ("keras.io final", "keras_ae final") for r in results[1:])
    saved = json.loads((out / "results.json").read_text())
    assert [row["family"] for row in saved["rows"]] == ["dense", "vae"]
    assert {p.name for p in out.glob("*.png")} == {"dense.png", "vae.png"}


@pytest.mark.slow
@pytest.mark.parametrize("protocol", ["race", "batch128", "fit5", "one_sample"])
def test_quick_vae_race_under_each_protocol(ttq, digits, protocol):
    (x_train, _), (x_test, _) = digits
    test = ttq.make_test_data(x_test[:100])
    r = ttq.race("vae", x_train[:512], test, seed=0, budget=0.8, every=2, verbose=0, vae_protocol=protocol)
    spec = ttq.VAE_PROTOCOLS[protocol]
    assert r["protocol"] == protocol and ttq.table_row(r)["family"] == ("vae" if protocol == "race" else
                                                                        f"vae ({protocol})")
    expected_batch = {"keras.io": spec.batch_size or 128, "keras_ae": spec.batch_size or ttq.KERAS_AE_BATCH["vae"]}
    for side in ttq.SIDES:
        run = r["sides"][side]
        assert run["batch_size"] == expected_batch[side]
        assert run["train_seconds"] >= 0.8 and all(math.isfinite(s) and s > 0 for _, _, s in run["curve"])
        epochs = [e for _, e, _ in run["curve"]]
        step = spec.epochs_per_call or 2  # scored after each 5-epoch call, or every 2 epochs of one fit
        assert epochs[:-1] == list(range(step, step * len(epochs), step)) and epochs[-1] == run["epochs"]
    assert ("1 sample" in r["measure"]) == (protocol == "one_sample")
    assert r["ratio"] is None or r["ratio"] > 0


def test_one_sample_elbo_is_the_hand_computation_with_its_one_draw(ttq):
    # Logits linear in z; the one draw is the stateless normal the scorer takes for batch 0.
    rng = np.random.default_rng(0)
    x = (rng.random((7, 6)) < 0.5).astype(np.float32)
    w = tf.constant(rng.normal(size=(2, 6)), tf.float32)
    posterior = lambda xb: (tf.fill((len(xb), 2), 0.3), tf.fill((len(xb), 2), 0.8))  # noqa: E731
    one, ten = (ttq.negative_elbo(posterior, lambda z: z @ w, x, samples=n) for n in (1, 10))
    eps = tf.random.stateless_normal((1, 7, 2), seed=[0, 0])[0].numpy()
    logits = (0.3 + 0.8 * eps) @ w.numpy()
    kl = 0.5 * 2 * (0.3 ** 2 + 0.8 ** 2 - 1 - 2 * np.log(0.8))
    by_hand = kl + np.mean(np.sum(np.logaddexp(0, logits) - x * logits, axis=1))
    np.testing.assert_allclose(one, by_hand, rtol=1e-5)
    assert abs(one - ten) > 1e-3  # a different estimate of the same ELBO


def test_every_is_refused_with_the_fit5_protocol(ttq, digits):
    with pytest.raises(InputValidationError, match="every=2 does not apply to vae_protocol='fit5'"):
        ttq.run_races(["vae"], [0], digits, every=2, vae_protocol="fit5")
    with pytest.raises(UnknownNameError, match="vae_protocol 'fit10'; choose one of: race, batch128, fit5"):
        ttq.run_races(["vae"], [0], digits, vae_protocol="fit10")


def test_markdown_section_is_replaced_in_place_or_appended(ttq, tmp_path):
    path = tmp_path / "BENCHMARKS.md"
    path.write_text("# report\n\n## Machine\n\nfast\n\n## Time to quality\n\nold table\n\n## Reproduce\n\nrun it\n")
    ttq.replace_section(path, ["## Time to quality", "", "new table", ""])
    expected = "# report\n\n## Machine\n\nfast\n\n## Time to quality\n\nnew table\n\n## Reproduce\n\nrun it\n"
    assert path.read_text() == expected
    path.write_text("# report\n\n## Machine\n\nfast\n")
    ttq.replace_section(path, ["## Time to quality", "", "new table"])
    assert path.read_text() == "# report\n\n## Machine\n\nfast\n\n## Time to quality\n\nnew table\n"
