"""recipes/time_to_quality.py: the training clock, the time-to-reach verdict, the scorers and a quick race."""

from __future__ import annotations

import json
import math
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_ae.errors import InputValidationError, UnknownNameError
from tests.conftest import import_recipe


@pytest.fixture(scope="module")
def ttq():
    return import_recipe("time_to_quality")


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


@pytest.mark.slow
def test_clock_times_whole_fit_calls_and_scores_after_each_call(ttq):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    x = np.zeros((64, 4), np.float32)
    model.fit(x, x[:, :1], batch_size=32, epochs=1, verbose=0)
    steps = _SlowSteps(0.01)  # 2 steps per epoch: >= 0.02 s per epoch, >= 0.06 s per 3-epoch call
    # 3 s: room for at least two calls when the machine is shared (one loaded call took 1.38 s).
    clock = ttq.QualityClock(lambda: float(len(steps.durations)), budget_seconds=3.0, every_epochs=1)
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
    assert clock.train_seconds >= sum(steps.durations) and clock.train_seconds >= 3.0
    assert clock.curve[-2][0] < 3.0 <= clock.curve[-1][0] == clock.train_seconds
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
    # partial.json holds every finished race (rewritten after each), and no temporary file is left.
    partial = json.loads((out / "partial.json").read_text())
    assert [(r["family"], r["sides"]["keras_ae"]["epochs"]) for r in partial["races"]] == [
        (r["family"], r["sides"]["keras_ae"]["epochs"]) for r in results]
    assert not list(out.glob(".partial*"))


def test_on_race_sees_the_results_so_far_after_every_race(ttq, digits, monkeypatch):
    seen = []
    monkeypatch.setattr(ttq, "race", lambda family, *args, **kwargs: {"family": family, "seed": args[2]})
    monkeypatch.setattr(ttq, "warm_up", lambda: None)
    ttq.run_races(["dense", "vae"], [0, 1], digits, quick=True, on_race=lambda done: seen.append(
        [(r["family"], r["seed"]) for r in done]))
    assert seen == [[("dense", 0)], [("dense", 0), ("dense", 1)],
                    [("dense", 0), ("dense", 1), ("vae", 0)],
                    [("dense", 0), ("dense", 1), ("vae", 0), ("vae", 1)]]


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


# -- the VQ-VAE race -------------------------------------------------------------------------------------
@pytest.mark.slow  # trains the recipe's model
def test_keras_io_vqvae_trains_its_codebook_and_reconstructs_in_the_unit_range(ttq, digits):
    (x_train, _), (x_test, _) = digits
    keras.utils.set_random_seed(0)
    model, args, kwargs = ttq.keras_io_side("vqvae", x_train, seed=0)
    assert np.allclose(args[0], x_train - 0.5)  # the example's [-0.5, 0.5] images
    codebook = model.vqvae.get_layer("vector_quantizer").embeddings
    before_codes, before_error = codebook.numpy().copy(), ttq.scorer("vqvae", "keras.io", model,
                                                                        ttq.make_test_data(x_test))()
    history = model.fit(*args, epochs=3, batch_size=64, verbose=0)
    assert history.history["vqvae_loss"][-1] > 0  # the quantizer's add_loss reaches the training step
    assert not np.allclose(codebook.numpy(), before_codes)  # the codebook is a trained Keras weight
    reconstruction = model.reconstruct(x_test[:5])
    assert reconstruction.shape == x_test[:5].shape
    # The reconstruction of the test split improved: the score is the same squared error per image.
    after_error = ttq.scorer("vqvae", "keras.io", model, ttq.make_test_data(x_test))()
    assert after_error < 0.8 * before_error
    expected = np.sum((np.clip(model.reconstruct(x_test), 0, 1) - x_test) ** 2, axis=(1, 2, 3)).mean()
    assert after_error == pytest.approx(expected, rel=1e-5)
    maps = model.code_indices(x_test[:7])
    assert maps.shape == (7, 2, 2) and maps.min() >= 0 and maps.max() < 128


@pytest.mark.slow
def test_quick_vqvae_race_trains_both_priors_and_reports_their_code_map_nll(ttq, digits):
    (x_train, _), (x_test, _) = digits
    r = ttq.race("vqvae", x_train[:512], ttq.make_test_data(x_test[:100]), seed=0, budget=1.0, every=1, verbose=0,
                 prior_budget=0.5)
    for side in ttq.SIDES:
        run = r["sides"][side]
        assert run["train_seconds"] >= 1.0 and all(0 < s < 64 for _, _, s in run["curve"])
        prior = run["prior"]
        # 2x2 maps of 128 codes: a prior that has learned anything is under the uniform 4 log 128 nats.
        assert 0 < prior["nll"] < 4 * math.log(128) and prior["train_seconds"] >= 0.5 and prior["epochs"] >= 1
        # 100 test maps of 2x2 codes: between 1 and 128 codes in effective use.
        assert 1 <= prior["perplexity"] <= 128 and 0 < prior["codes_in_use"] <= 1
    lines = ttq.prior_lines([r])
    assert lines[0].startswith("After each VQ-VAE side's race") and lines[2].startswith("- seed 0: keras.io ")
    assert "code perplexity keras.io" in lines[2]
    no_prior = ttq.race("vqvae", x_train[:256], ttq.make_test_data(x_test[:50]), seed=1, budget=0.3, every=1,
                        verbose=0, prior_budget=0)
    assert all("prior" not in no_prior["sides"][side] for side in ttq.SIDES) and ttq.prior_lines([no_prior]) == []


# -- the diffusion race ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ddim():
    return import_recipe("keras_io_ddim")


def test_keras_io_schedule_runs_from_signal_rate_095_to_002_on_the_unit_circle(ddim):
    noise, signal = ddim.diffusion_schedule(tf.constant([0.0, 0.5, 1.0]))
    np.testing.assert_allclose(signal.numpy()[[0, 2]], [0.95, 0.02], atol=1e-6)
    np.testing.assert_allclose(noise.numpy() ** 2 + signal.numpy() ** 2, 1.0, atol=1e-6)
    assert np.all(np.diff(signal.numpy()) < 0)


@pytest.mark.slow  # trains the recipe's 2M-parameter U-Net (about 20 s)
def test_keras_io_ddim_pads_trains_its_average_and_samples_the_same_images_for_a_seed(ddim, digits):
    (x_train, _), _ = digits
    keras.utils.set_random_seed(0)
    model = ddim.keras_io_ddim(x_train[:256])
    assert model.image_size == 8 and model.network.input_shape[0] == (None, 8, 8, 1)
    odd = ddim.keras_io_ddim(np.zeros((4, 28, 28, 1), np.float32))
    assert odd.image_size == 32 and odd.padded(np.ones((1, 28, 28, 1), np.float32)).shape == (1, 32, 32, 1)
    padded = odd.padded(tf.constant(np.random.default_rng(0).uniform(size=(2, 28, 28, 1)), tf.float32)).numpy()
    assert padded[:, 2:30, 2:30].sum() == pytest.approx(padded.sum()) and padded[:, :2].sum() == 0
    start = [w.numpy().copy() for w in model.ema_network.weights]
    history = model.fit(x_train[:256], epochs=4, batch_size=64, verbose=0)
    assert history.history["n_loss"][-1] < history.history["n_loss"][0]  # it learns
    moved = [not np.allclose(a, w.numpy()) for a, w in zip(start, model.ema_network.weights)]
    trained = [np.allclose(w.numpy(), v.numpy()) for w, v in zip(model.ema_network.weights, model.network.weights)]
    assert any(moved) and not all(trained)  # the average follows the trained weights, a step behind
    images = model.generate(12, diffusion_steps=3, seed=5)
    assert images.shape == (12, 8, 8, 1) and images.min() >= 0 and images.max() <= 1
    np.testing.assert_array_equal(images, model.generate(12, diffusion_steps=3, seed=5))
    assert not np.allclose(images, model.generate(12, diffusion_steps=3, seed=6))
    with pytest.raises(ValueError, match="multiple of 8"):
        ddim.KerasIODDIM((28, 28, 1), image_size=28)


@pytest.mark.slow
def test_quick_diffusion_race_scores_both_sides_with_the_same_sampler(ttq, digits, tmp_path):
    results = ttq.main(["--quick", "--families", "diffusion", "--seeds", "0", "--budget-scale", "0.25",
                        "--out", str(tmp_path / "ttq"), "--cache-dir", str(tmp_path / "cache")])
    (r,) = results
    assert r["measure"] == "FCD of 20-step DDIM samples vs test"
    for side in ttq.SIDES:
        run = r["sides"][side]
        assert run["curve"] and all(math.isfinite(s) and s > 0 for _, _, s in run["curve"])
        assert run["batch_size"] == 64
    assert (tmp_path / "ttq" / "diffusion.png").is_file()
