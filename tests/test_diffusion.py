"""Diffusion models: forward process, bound, samplers, EMA, saving, export, input checks."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_ae.errors import InputValidationError, KerasAEError
from keras_ae.export import export, read_metadata
from keras_ae.models.diffusion import build_diffusion
from keras_ae.models.diffusion.sampling import counter_normal
from keras_ae.models.diffusion.schedules import (NoiseSchedule, discretized_gaussian_log_likelihood, q_sample,
                                                 variational_bound)
from keras_ae.models.diffusion.solvers import (DPM_LAMBDA_CEILING, DPM_LAMBDA_FLOOR, dpm_solver_plan, logsnr_timesteps,
                                              sampling_plan)


def tiny(timesteps=20, **kwargs):
    # One resolution level: the smallest graph to trace (the builders' doctests and the export test cover two)
    return build_diffusion((8, 8, 1), channels=(8,), attention=False, timesteps=timesteps, seed=0, **kwargs)


@pytest.fixture(scope="module")
def digits():
    from keras_ae.data import load_dataset

    (x, _), _ = load_dataset("digits")
    return np.round(x[:256] * 255) / 255  # on the 8-bit grid the bound scores


@pytest.fixture(scope="module")
def untrained():
    return tiny()


@pytest.fixture(scope="module")
def trained(digits):
    """A tiny model after a few epochs (its EMA weights differ from the trained ones), and its first step."""
    keras.utils.set_random_seed(0)
    model = tiny()
    model.compile(optimizer=keras.optimizers.Adam(2e-3))
    before = [w.numpy().copy() for w in model.network.weights]
    model.train_step(tf.constant(digits[:16]))  # one optimizer step, eagerly (fit would trace a second function)
    first_step = (before, [w.numpy().copy() for w in model.network.weights],
                  [w.numpy().copy() for w in model.ema_network.weights])
    history = model.fit(digits[:128], epochs=6, batch_size=16, verbose=0)
    return model, history.history["loss"], first_step


# -- the forward process and the bound, without a network -----------------------------------


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_forward_process_closed_form_matches_the_markov_chain_by_monte_carlo(kind):
    schedule = NoiseSchedule.make(kind, 50)
    rng = np.random.default_rng(0)
    x0 = np.array([-0.8, 0.1, 0.9])
    n = 40_000
    x = np.broadcast_to(x0, (n, 3)).copy()
    for t in range(50):  # x_t = sqrt(1 - beta_t) x_{t-1} + sqrt(beta_t) z, one step at a time
        x = np.sqrt(1.0 - schedule.betas[t]) * x + np.sqrt(schedule.betas[t]) * rng.standard_normal((n, 3))
        if t in (0, 9, 24, 49):
            ab = schedule.alpha_bar[t]
            np.testing.assert_allclose(x.mean(0), np.sqrt(ab) * x0, atol=4 * np.sqrt((1 - ab) / n) + 1e-4)
            np.testing.assert_allclose(x.var(0), 1.0 - ab, rtol=0.03, atol=1e-5)
            # q_sample draws from the same distribution in one step
            noise = rng.standard_normal((n, 3))
            one_step = q_sample(schedule, tf.constant(np.broadcast_to(x0, (n, 3))), tf.fill([n], t), tf.constant(noise))
            tolerance = 4 * np.sqrt((1 - ab) / n) + 1e-4
            np.testing.assert_allclose(one_step.numpy().mean(0), np.sqrt(ab) * x0, atol=tolerance)
            np.testing.assert_allclose(one_step.numpy().var(0), 1.0 - ab, rtol=0.03, atol=1e-5)


@pytest.mark.slow
def test_bound_with_the_optimal_noise_predictor_is_within_2_percent_of_the_exact_nll():
    # x0 ~ N(m, s^2): x_t ~ N(sqrt(a) m, a s^2 + 1 - a) and E[eps | x_t] is linear in x_t.
    m, s = 0.0, 1.0
    schedule = NoiseSchedule.make("linear", 1000, variance="large")  # sigma_t^2 = beta_t: right for Gaussian data
    alpha_bar = tf.constant(schedule.alpha_bar, tf.float64)

    def optimal_eps(x_t, t):
        a = tf.gather(alpha_bar, t)[:, None]
        return tf.sqrt(1.0 - a) / (a * s**2 + 1.0 - a) * (x_t - tf.sqrt(a) * m)

    x0 = m + s * np.random.default_rng(1).standard_normal((20_000, 1))
    terms = tf.function(lambda x: variational_bound(schedule, optimal_eps, x, seed=3, decoder="continuous"))(
        tf.constant(x0))
    exact = 0.5 * np.log(2 * np.pi * s**2) + 0.5 * ((x0[:, 0] - m) / s) ** 2
    bound = terms["total"].numpy()
    assert abs(bound.mean() - exact.mean()) < 0.02 * exact.mean(), (bound.mean(), exact.mean())
    np.testing.assert_allclose(bound, (terms["prior"] + terms["diffusion"] + terms["decoder"]).numpy())
    assert terms["prior"].numpy().max() < 1e-3  # q(x_T | x_0) is N(0, 1) up to abar_T


def test_discretized_decoder_gives_each_bin_its_gaussian_mass_and_the_edges_their_tails():
    means, scale = [-0.95, 0.1, 0.97], 0.05  # each value near its own mean: every mass is sizeable
    x = tf.constant([-1.0, 2 / 255, 1.0], tf.float64)
    got = np.exp(discretized_gaussian_log_likelihood(x, tf.constant(means, tf.float64),
                                                     tf.constant(math.log(scale), tf.float64)).numpy())

    def cdf(v, mean):
        return 0.5 * (1 + math.erf((v - mean) / (scale * math.sqrt(2))))

    half = 1 / 255
    expected = [cdf(-1 + half, means[0]), cdf(2 / 255 + half, means[1]) - cdf(2 / 255 - half, means[1]),
                1 - cdf(1 - half, means[2])]
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    assert min(expected) > 1e-3


def test_sampling_plan_spaces_steps_evenly_and_ddpm_noise_is_the_respaced_posterior_variance():
    schedule = NoiseSchedule.make("linear", 100)
    plan = sampling_plan(schedule, 100, eta=1.0)
    np.testing.assert_array_equal(plan["t"], np.arange(99, -1, -1))
    # eta=1 on the full schedule: sigma_t^2 = beta~_t, the forward posterior's variance
    np.testing.assert_allclose(plan["sigma"][::-1] ** 2, schedule.posterior_variance, rtol=1e-10, atol=1e-14)
    assert np.all(sampling_plan(schedule, 10, eta=0.0)["sigma"] == 0)


# -- samplers ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_ddim_with_eta_0_is_deterministic_for_a_seed_and_ddpm_differs_across_seeds(trained):
    model = trained[0]
    a = model.sample(4, steps=10, method="ddim", seed=5)
    np.testing.assert_array_equal(a, model.sample(4, steps=10, method="ddim", seed=5))
    ddpm = [model.sample(4, steps=10, method="ddpm", seed=s) for s in (1, 2)]
    assert np.abs(ddpm[0] - ddpm[1]).mean() > 0.05
    np.testing.assert_array_equal(ddpm[0], model.sample(4, steps=10, method="ddpm", seed=1))
    assert a.min() >= 0 and a.max() <= 1 and a.shape == (4, 8, 8, 1)


@pytest.mark.slow
@pytest.mark.parametrize("method, eta", [("ddim", 0.0), ("ddim", 0.5), ("ddpm", None), ("dpm++2m", None)])
def test_compiled_sampler_equals_the_python_loop_for_the_same_seed(trained, method, eta):
    model = trained[0]
    fast = model.sample(3, steps=8, method=method, eta=eta, seed=11)
    slow, frames = model.sample_naive(3, steps=8, method=method, eta=eta, seed=11, return_trajectory=True)
    np.testing.assert_allclose(fast, slow, atol=2e-5)
    assert frames.shape == (9, 3, 8, 8, 1)
    np.testing.assert_allclose(frames[-1], slow, atol=1e-6)


# -- DPM-Solver++(2M) on Gaussian data, where the noise predictor is known in closed form ----------

MU, S = 0.3, 0.5  # x0 ~ N(MU, S^2) per pixel, in the model's [-1, 1] scale


def gaussian_eps_network(alpha_bar):
    """The exact noise predictor of N(MU, S^2) data: E[eps | x_t] = sqrt(1 - a) (x_t - sqrt(a) MU) / (a S^2 + 1 - a).

    Called as the model calls its U-Net, ``network([x_t, t], training=...)``.
    """
    alpha_bar = tf.constant(alpha_bar, tf.float32)

    def network(inputs, training=False):
        x, t = inputs
        a = tf.reshape(tf.gather(alpha_bar, tf.cast(t, tf.int32)), [-1, 1, 1, 1])
        return tf.sqrt(1.0 - a) * (x - tf.sqrt(a) * MU) / (a * S**2 + 1.0 - a)

    return network


def dpm_solver_pp_2m_reference(x_T, ts, alpha_bar):
    """Lu et al. 2022, Algorithm 2, in float64 from the paper's equations, on the exact Gaussian predictor.

    ``ts`` are the timesteps t_0 > ... > t_{M-1} (the paper's t_0 is the noisiest); the ODE
    steps i = 1 .. M-1 are second order except the first (lambda-spaced timesteps keep the
    step-size ratio near 1); then x0_theta(x_{t_{M-1}}, t_{M-1}) (a first-order step to sigma = 0). Returns
    [x_{t_0}, ..., x_{t_{M-1}}, x0].
    """
    ab = alpha_bar[ts]
    alpha, sigma = np.sqrt(ab), np.sqrt(1.0 - ab)
    lam = np.log(alpha / sigma)  # lambda_t = log(alpha_t / sigma_t)
    M = len(ts)

    def x0_theta(x, k):  # (x - sigma_t eps(x, t)) / alpha_t at t = t_k
        eps = np.sqrt(1 - ab[k]) * (x - np.sqrt(ab[k]) * MU) / (ab[k] * S**2 + 1 - ab[k])
        return (x - sigma[k] * eps) / alpha[k]

    xs = [np.asarray(x_T, np.float64)]
    Q = [x0_theta(xs[0], 0)]
    for i in range(1, M):
        h = lam[i] - lam[i - 1]
        if i == 1:
            D = Q[-1]
        else:
            r = (lam[i - 1] - lam[i - 2]) / h
            D = (1 + 1 / (2 * r)) * Q[-1] - 1 / (2 * r) * Q[-2]
        xs.append(sigma[i] / sigma[i - 1] * xs[-1] - alpha[i] * (np.exp(-h) - 1) * D)
        Q.append(x0_theta(xs[-1], i))
    return xs + [Q[-1]]


def walk(model, network, x, steps, method):
    """Every x of the package's walk (``_plan`` and ``_step``, as the samplers run them) from ``x``."""
    plan = model._as_tensors(model._plan(steps, method, None)[1])
    xs, x0 = [x], tf.zeros_like(x)
    for i in range(len(plan["t"])):
        x, x0 = model._step(network, x, tf.constant(i), plan, tf.constant(0, tf.int64), x0)
        xs.append(x)
    return np.stack([v.numpy() for v in xs])


@pytest.fixture(scope="module")
def gaussian_models():
    models = {kind: tiny(timesteps=1000, schedule=kind) for kind in ("linear", "cosine")}
    for model in models.values():
        model.clip_denoised = False  # the exact predictor: nothing to clip
    return models


def test_dpm_solver_plan_walks_even_lambdas_and_ends_with_the_x0_prediction():
    schedule = NoiseSchedule.make("cosine", 1000)
    lam = 0.5 * np.log(schedule.alpha_bar / (1 - schedule.alpha_bar))
    for steps in (10, 20):
        plan = dpm_solver_plan(schedule, steps)
        t = plan["t"]
        assert t[0] == 999 and np.all(np.diff(t) < 0) and len(t) == steps
        # lambda evenly spaced from the floor to the ceiling, up to rounding t to integers
        h = np.diff(lam[t[1:]])
        assert np.allclose(h, h.mean(), rtol=0.1), h
        assert abs(lam[t[1]] - (DPM_LAMBDA_FLOOR + h.mean())) < 0.2 * h.mean()
        assert abs(lam[t[-1]] - DPM_LAMBDA_CEILING) < 0.05 and t[-1] > 0
        np.testing.assert_array_equal(np.flatnonzero(plan["correction"]), list(range(1, steps - 1)))
        assert plan["x_scale"][-1] == 0 and plan["x0_scale"][-1] == 1  # x_0 = the last x0 prediction
    # Without a ceiling the walk ends at t = 0 (lambda moves by 0.4 per timestep next to it, so the
    # last two steps are only close to even).
    t = logsnr_timesteps(schedule, 10, ceiling=np.inf)
    h = np.diff(lam[t[1:]])
    assert t[-1] == 0 and np.allclose(h[:-2], h.mean(), rtol=0.1) and np.allclose(h[-2:], h.mean(), rtol=0.3), h
    # Few timesteps (T = 12, lambda_0 = 1.95 below the ceiling): still `steps` distinct ones, T - 1 to 0.
    small = NoiseSchedule.make("cosine", 12)
    for steps in range(1, 13):
        t = logsnr_timesteps(small, steps)
        assert len(t) == steps and len(set(t.tolist())) == steps and t[0] == 11 and (steps == 1 or t[-1] == 0)


@pytest.mark.parametrize("steps", [1, 5, 10, 20])
def test_dpm_solver_steps_match_a_numpy_reference_of_the_paper_on_the_exact_gaussian_predictor(
        gaussian_models, steps):
    # Linear schedule: abar_T = 4e-5, so float32's x0 = (x - sigma eps) / alpha at t_0 carries a
    # cancellation error of about 1e-7 / alpha_T ~ 2e-5 (the cosine schedule's abar_T = 2e-9 gives
    # ~1e-3), which the first step scales by alpha_{t_1}: lambda-spaced walks reach a much less
    # noisy t_1 than DDIM's timesteps (t = 662 of 1000 at 5 steps), hence 1e-4, not 1e-5.
    model = gaussian_models["linear"]
    network = gaussian_eps_network(model.schedule.alpha_bar)
    x_T = counter_normal([4, 8, 8, 1], tf.constant(7, tf.int64), 0)
    got = walk(model, network, x_T, steps, "dpm++2m")
    plan = dpm_solver_plan(model.schedule, steps)
    expected = dpm_solver_pp_2m_reference(x_T.numpy(), plan["t"], model.schedule.alpha_bar)
    assert len(got) == len(expected) == steps + 1
    for i, (a, b) in enumerate(zip(got, expected)):
        np.testing.assert_allclose(a, b, atol=1e-4, rtol=0, err_msg=f"x after step {i}")
    # The compiled loop (one tf.while_loop carrying the previous x0) gives the same images.
    loop = tf.function(lambda: model._sample_loop(network, tf.constant(4), model._as_tensors(plan),
                                                  tf.constant(7, tf.int64)), autograph=False)
    np.testing.assert_allclose(loop().numpy(), np.clip((expected[-1] + 1) / 2, 0, 1), atol=1e-4)


def test_ten_dpm_solver_steps_land_closer_to_the_exact_ode_solution_than_ten_ddim_steps(gaussian_models):
    # The probability-flow ODE of N(MU, S^2) data keeps z = (x_t - sqrt(a_t) MU) / sqrt(a_t S^2 + 1 - a_t):
    # from x_T it reaches x_{t=0} = sqrt(a_0) MU + sqrt(v_0) z, whose x0 prediction both samplers return last.
    errors = {}
    for kind, model in gaussian_models.items():
        network = gaussian_eps_network(model.schedule.alpha_bar)
        x_T = counter_normal([64, 8, 8, 1], tf.constant(3, tf.int64), 0)
        ab = model.schedule.alpha_bar
        z = (x_T.numpy() - np.sqrt(ab[-1]) * MU) / np.sqrt(ab[-1] * S**2 + 1 - ab[-1])
        exact = MU + S**2 * np.sqrt(ab[0]) / np.sqrt(ab[0] * S**2 + 1 - ab[0]) * z
        for method in ("ddim", "dpm++2m"):
            x = walk(model, network, x_T, 10, method)[-1]
            errors[kind, method] = float(np.abs(x - exact).mean())
        spread = {"cosine": 0.05, "linear": 0.05}[kind]
        assert abs(x.mean() - MU) < 0.02 and abs(x.std() - exact.std()) < spread, (kind, x.mean(), x.std())
    # measured: cosine 0.0146 vs DDIM's 0.064, linear 0.0124 vs 0.112 (20 steps: 0.0063 vs 0.032, 0.0060 vs 0.056)
    assert errors["cosine", "dpm++2m"] < 0.5 * errors["cosine", "ddim"], errors
    assert errors["linear", "dpm++2m"] < 0.5 * errors["linear", "ddim"], errors


# -- training, EMA, saving, export ---------------------------------------------------------------


@pytest.mark.slow
def test_tiny_unet_learns_the_noise_and_its_bound_improves(trained, untrained, digits):
    model, losses = trained[:2]
    assert losses[-1] < 0.6 * losses[0], losses
    x = digits[:16]
    assert model.bits_per_dim(x).mean() < 0.5 * untrained.bits_per_dim(x).mean()


@pytest.mark.slow
def test_ema_follows_the_trained_weights_with_the_warm_up_rate(trained):
    before, after, ema = trained[2]
    rate = 1.0 - 2.0 / 11.0  # after k = 1 step the decay is min(0.999, (1 + k) / (10 + k))
    assert max(np.abs(a - b).max() for a, b in zip(before, after)) > 1e-4  # the step moved the weights
    for w0, w1, e in zip(before, after, ema):
        np.testing.assert_allclose(e, w0 + rate * (w1 - w0), atol=1e-6)


@pytest.mark.slow
def test_keras_round_trip_keeps_ema_weights_and_samples(trained, tmp_path):
    model = trained[0]
    assert any(not np.array_equal(a, b) for a, b in zip(model.network.get_weights(), model.ema_network.get_weights()))
    model.save(tmp_path / "d.keras")
    loaded = keras.saving.load_model(tmp_path / "d.keras")
    for a, b in zip(model.ema_network.get_weights(), loaded.ema_network.get_weights()):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(model.network.get_weights(), loaded.network.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(model.sample(3, steps=5, seed=2), loaded.sample(3, steps=5, seed=2))
    assert loaded.get_config()["timesteps"] == 20 and loaded.schedule_name == "cosine"


@pytest.mark.slow
def test_export_signatures_sample_and_score_like_the_model(trained, tmp_path, digits):
    model = trained[0]
    path = export(model, "ddpm", base_dir=tmp_path, uint8=False)  # the uint8 twin: the every-builder export test
    loaded = tf.saved_model.load(str(path))
    assert set(read_metadata(path)["signatures"]) == {"sample", "log_likelihood"}
    images = loaded.signatures["sample"](count=tf.constant(3), seed=tf.constant(7, tf.int64))["images"].numpy()
    np.testing.assert_allclose(images, model.sample(3, seed=7), atol=2e-5)
    scores = loaded.signatures["log_likelihood"](images=tf.constant(digits[:4]))
    np.testing.assert_allclose(scores["log_likelihood"].numpy(), model.log_likelihood(digits[:4]), rtol=1e-4)
    np.testing.assert_allclose(scores["bits_per_dim"].numpy(), model.bits_per_dim(digits[:4]), rtol=1e-4)
    with pytest.raises(tf.errors.InvalidArgumentError, match="1/255"):
        loaded.signatures["log_likelihood"](images=tf.fill([1, 8, 8, 1], 0.5))


# -- bad inputs -------------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, match", [
    ({"steps": 21}, "exceeds the model's 20 diffusion timesteps"),
    ({"steps": 0}, "steps"),
    ({"eta": -0.1}, "eta"),
    ({"eta": float("nan")}, "eta"),
    ({"method": "euler"}, "method"),
    ({"method": "ddpm", "eta": 0.5}, "applies to method='ddim'"),
    ({"method": "dpm++2m", "eta": 0.5}, r"applies to method='ddim'; 'dpm\+\+2m' solves the probability-flow ODE"),
    ({"method": "dpm++2m", "eta": -1}, "eta"),
    ({"method": "DPM++2M"}, r"choose one of: ddim, ddpm, dpm\+\+2m"),
    ({"seed": 1.5}, "seed"),
])
def test_bad_sampler_arguments_are_refused(untrained, kwargs, match):
    with pytest.raises(KerasAEError, match=match):
        untrained.sample(2, **kwargs)


@pytest.mark.slow
def test_dpm_solver_takes_eta_0_the_ode_it_solves(untrained):
    np.testing.assert_array_equal(untrained.sample(2, steps=4, method="dpm++2m", eta=0.0, seed=3),
                                  untrained.sample(2, steps=4, method="dpm++2m", seed=3))


def test_bad_data_is_refused_before_training(digits):
    model = tiny()
    model.compile()  # a fresh model: compile() must not touch the shared ones
    nan = digits[:8].copy()
    nan[0, 0, 0, 0] = np.nan
    for x, match in [(np.zeros((4, 7, 7, 1)), "shape"), (nan, "NaN"), (digits[:8] * 2, "range"),
                     (np.zeros((4, 8, 8, 2)), "shape")]:
        with pytest.raises(InputValidationError, match=match):
            model.fit(x, epochs=1, verbose=0)
    with pytest.raises(InputValidationError, match="without y"):
        model.fit(digits[:8], digits[:8], verbose=0)
    with pytest.raises(InputValidationError, match="8-bit grid"):
        model.log_likelihood(np.full((2, 8, 8, 1), 0.5))
    with pytest.raises(InputValidationError, match="multiples of 4"):
        build_diffusion((10, 10, 1), channels=(8, 16, 32))
    with pytest.raises(KerasAEError, match="schedule"):
        tiny(schedule="quadratic")
