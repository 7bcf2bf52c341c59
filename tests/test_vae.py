"""Variational auto-encoders: ELBO training, likelihood bounds, sampling, saving, bad input."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from keras_ae.data import binarize
from keras_ae.errors import InputValidationError, UnknownNameError
from keras_ae.evaluation.likelihood import bits_per_dim, importance_weighted_bound, logmeanexp
from keras_ae.layers.mixture_prior import GaussianMixturePrior
from keras_ae.models.vae import VAE, build_vae

tfd = tfp.distributions


def small_vae(shape=(8, 8, 1), **kwargs) -> VAE:
    kwargs.setdefault("latent_dim", 4)
    kwargs.setdefault("hidden", (64,))
    kwargs.setdefault("seed", 1)
    return build_vae(shape, **kwargs)


@pytest.fixture(scope="module")
def trained(digits):
    """A small Bernoulli VAE trained on dynamically binarized digits, with its binarized test set."""
    keras.utils.set_random_seed(0)
    (x_train, _), (x_test, _) = digits
    vae = small_vae(dynamic_binarization=True)
    vae.compile(optimizer=keras.optimizers.Adam(5e-3), jit_compile=True)
    history = vae.fit(x_train, epochs=20, batch_size=128, verbose=0)
    return vae, history, binarize(x_test, seed=0)


# -- likelihood utilities ------------------------------------------------------------
def test_logmeanexp_matches_direct_formula_and_survives_large_values():
    x = np.random.default_rng(0).normal(size=(50, 3)) * 5
    direct = np.log(np.mean(np.exp(x), axis=0))
    np.testing.assert_allclose(logmeanexp(x, axis=0), direct, rtol=1e-12)
    np.testing.assert_allclose(logmeanexp(tf.constant(x, tf.float32), axis=0).numpy(), direct, rtol=1e-5)
    big = np.array([-1000.0, -1000.0 + math.log(3.0)])  # exp underflows to 0 without the shift
    assert logmeanexp(big) == pytest.approx(-1000.0 + math.log(2.0))
    assert logmeanexp(np.array([-np.inf, -np.inf])) == -np.inf


def test_bits_per_dim_converts_nats():
    assert bits_per_dim(784 * math.log(2.0), 784) == pytest.approx(1.0)
    assert bits_per_dim(np.array([0.0, 2 * 10 * math.log(2.0)]), 10).tolist() == pytest.approx([0.0, 2.0])


@pytest.mark.parametrize("reduction", ["logmeanexp", "mean"])
def test_chunked_bound_counts_exactly_k_samples(reduction):
    # Constant log weights c: the estimate is c only if exactly k samples are counted, so the
    # padded surplus of the last chunk (k=7 in chunks of 3) and the padded batch must be masked.
    x = np.arange(5, dtype=np.float32)[:, None]

    def log_weights(xb, num_samples, seed):
        return tf.broadcast_to(xb[:, 0], [num_samples, tf.shape(xb)[0]])

    est = importance_weighted_bound(log_weights, x, k=7, batch_size=2, max_rows=6, reduction=reduction, verbose=0)
    np.testing.assert_allclose(est, x[:, 0], atol=1e-5)


def test_chunks_combine_into_one_logmeanexp():
    # Log weights w ~ N(0, 1): log E[exp(w)] = 0.5. Splitting k = 20000 samples into chunks of
    # two must still give logmeanexp over all of them (averaging per-chunk estimates instead
    # would give about 0.25).
    def log_weights(xb, num_samples, seed):
        return tf.random.stateless_normal([num_samples, tf.shape(xb)[0]], seed=seed)

    x = np.zeros((3, 1), np.float32)
    chunked = importance_weighted_bound(log_weights, x, k=20_000, batch_size=3, max_rows=6, verbose=0)
    one_pass = importance_weighted_bound(log_weights, x, k=20_000, batch_size=3, max_rows=100_000, verbose=0)
    np.testing.assert_allclose(chunked, 0.5, atol=0.05)
    np.testing.assert_allclose(one_pass, 0.5, atol=0.05)


@pytest.mark.slow
def test_iwae_converges_to_exact_log_likelihood_of_linear_gaussian_model():
    # p(z) = N(0, I), p(x|z) = N(Wz + b, s^2 I) has log p(x) = log N(x; b, W W^T + s^2 I) in
    # closed form. With the decoder frozen and the encoder fitted to the model's own samples,
    # L_k approaches log p(x) as k grows, while the ELBO stays below it.
    keras.utils.set_random_seed(0)
    latent, dim, s = 2, 3, 0.5
    dec = keras.Sequential([keras.Input((latent,)), keras.layers.Dense(dim)], name="linear")
    vae = build_vae((dim,), latent_dim=latent, hidden=(32,), decoder=dec, likelihood="gaussian", seed=0)
    vae.observation_scale.assign(np.full((dim,), math.log(math.expm1(s - 1e-3)), np.float32))
    vae.observation_scale.trainable = False
    dec.trainable = False
    w, b = [v.numpy().astype(np.float64) for v in dec.weights]
    rng = np.random.default_rng(0)
    x_model = (rng.normal(size=(2000, latent)) @ w + b + s * rng.normal(size=(2000, dim))).astype(np.float32)
    vae.compile(optimizer=keras.optimizers.Adam(1e-2), jit_compile=False)
    vae.fit(x_model, epochs=10, batch_size=100, verbose=0)
    x = x_model[:6]
    exact = tfd.MultivariateNormalTriL(loc=b, scale_tril=np.linalg.cholesky(w.T @ w + s * s * np.eye(dim))).log_prob(
        x.astype(np.float64)).numpy()
    iwae = vae.log_likelihood(x, k=20_000, batch_size=6, verbose=0)
    elbo = vae.elbo(x, num_samples=500)
    np.testing.assert_allclose(iwae, exact, atol=0.02)
    assert np.all(elbo < exact)


# -- building --------------------------------------------------------------------------
def test_builder_gives_named_submodels_and_tfd_distributions():
    vae = build_vae((28, 28, 1))  # the IWAE paper's 784-[200, 200]-50 model
    assert vae.encoder.name == "encoder" and vae.decoder.name == "decoder"
    assert vae.encoder.output_shape == (None, 100) and vae.decoder.output_shape == (None, 28, 28, 1)
    assert [layer.units for layer in vae.encoder.layers if isinstance(layer, keras.layers.Dense)] == [200, 200, 100]
    x = np.zeros((3, 28, 28, 1), np.float32)
    q = vae.encode(x)
    assert isinstance(q, tfd.MultivariateNormalDiag) and q.batch_shape == (3,) and q.event_shape == (50,)
    p = vae.decode(q.sample(seed=tf.constant([0, 0])))
    assert p.batch_shape == (3,) and p.event_shape == (28, 28, 1)
    assert isinstance(p.distribution, tfd.Bernoulli)
    # Extra leading axes (importance samples) become batch axes of one decoder pass.
    assert vae.decode(tf.zeros((7, 3, 50))).batch_shape == (7, 3)
    # The fast Bernoulli log-density used for training and IWAE equals TFP's.
    z = 3.0 * tf.random.normal((7, 3, 50), seed=1)
    xb = binarize(np.random.default_rng(0).random((3, 28, 28, 1)), seed=0)
    np.testing.assert_allclose(vae.data_log_prob(z, xb).numpy(), vae.decode(z).log_prob(xb).numpy(), rtol=1e-5)


def test_conv_and_custom_encoders_build_and_train_one_step(digits):
    (x_train, _), _ = digits
    x = binarize(x_train[:64], seed=0)
    conv = small_vae(encoder="conv", filters=(8, 16))
    assert conv.decoder.output_shape == (None, 8, 8, 1)
    features = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3, activation="relu")])
    custom = small_vae(encoder=features)
    assert custom.encoder.output_shape == (None, 8)
    for vae in (conv, custom):
        vae.compile(optimizer="adam", run_eagerly=True)  # no tracing: fast for a few steps
        logs = vae.fit(x, epochs=1, batch_size=32, verbose=0).history
        assert np.isfinite(logs["loss"][0])


@pytest.mark.slow
def test_training_reduces_negative_elbo_and_logs_trackers(trained):
    vae, history, _ = trained
    logs = history.history
    assert set(logs) == {"loss", "reconstruction", "kl"}
    assert logs["loss"][-1] < 0.8 * logs["loss"][0]
    # loss = reconstruction + beta * kl holds per batch, so also for the epoch means.
    np.testing.assert_allclose(np.add(logs["reconstruction"], logs["kl"]), logs["loss"], rtol=1e-4)
    assert all(k > 0 for k in logs["kl"])


@pytest.mark.slow
def test_beta_weights_the_kl_term(digits):
    (x_train, _), _ = digits
    vae = small_vae(beta=4.0, dynamic_binarization=True)
    vae.compile(optimizer="adam", run_eagerly=True)  # no tracing: fast for a few steps
    logs = vae.fit(x_train[:256], epochs=2, batch_size=64, verbose=0).history
    np.testing.assert_allclose(np.add(logs["reconstruction"], 4.0 * np.asarray(logs["kl"])), logs["loss"], rtol=1e-4)


@pytest.mark.slow
def test_bounds_are_ordered_elbo_iwae50_iwae500(trained):
    # ELBO = E[L_1] <= E[L_5] <= E[L_50] <= E[L_500] <= log p(x) (Burda et al. 2016, theorem 1),
    # checked on test-set means for several seeds (compiled steps are reused across seeds).
    vae, _, x_test = trained
    for seed in range(2):
        elbo = vae.elbo(x_test, num_samples=5, seed=seed)
        l1, l50, l500 = (vae.log_likelihood(x_test, k=k, seed=seed, verbose=0) for k in (1, 50, 500))
        # L_1 estimates the ELBO too: the mean difference is within Monte Carlo error.
        diff = l1 - elbo
        assert abs(diff.mean()) < 4 * diff.std(ddof=1) / np.sqrt(len(diff))
        assert elbo.mean() < l50.mean() <= l500.mean() + 0.02  # allow Monte Carlo noise between close bounds
        assert l500.mean() - elbo.mean() > 0.05  # a real gap, not copies of one number
    # Same seed, same estimate; another seed, a slightly different one.
    again = vae.log_likelihood(x_test[:40], k=50, verbose=0)
    np.testing.assert_array_equal(again, vae.log_likelihood(x_test[:40], k=50, verbose=0))
    assert not np.array_equal(again, vae.log_likelihood(x_test[:40], k=50, seed=1, verbose=0))


@pytest.mark.slow
def test_sampling_interpolation_and_reconstruction(trained):
    vae, _, x_test = trained
    s = vae.sample(16, seed=3)
    assert s.shape == (16, 8, 8, 1) and s.min() >= 0 and s.max() <= 1
    np.testing.assert_array_equal(s, vae.sample(16, seed=3))
    assert not np.array_equal(s, vae.sample(16, seed=4))
    b = vae.sample(16, seed=3, binary=True)
    assert set(np.unique(b)) <= {0.0, 1.0}
    frames = vae.interpolate(x_test[0], x_test[1], steps=5)
    assert frames.shape == (5, 8, 8, 1)
    recon = vae.reconstruct(x_test[:2])
    np.testing.assert_allclose(frames[0], recon[0], atol=1e-5)  # the line starts at x1's code...
    np.testing.assert_allclose(frames[-1], recon[1], atol=1e-5)  # ...and ends at x2's
    assert vae.interpolate(x_test[:3], x_test[3:6], steps=4).shape == (3, 4, 8, 8, 1)
    # A trained model reconstructs better than the average image does.
    err = np.mean((recon - x_test[:2]) ** 2)
    assert err < np.mean((x_test[:2] - x_test.mean(axis=0)) ** 2)


def test_dynamic_binarization_draws_bernoulli_pixels_and_keeps_binary_data():
    vae = small_vae(dynamic_binarization=True)
    grey = tf.fill([200, 8, 8, 1], 0.3)
    b = vae._binarize(grey).numpy()
    assert set(np.unique(b)) <= {0.0, 1.0} and abs(b.mean() - 0.3) < 0.02
    binary = binarize(np.full((10, 8, 8, 1), 0.5, np.float32), seed=0)
    np.testing.assert_array_equal(vae._binarize(tf.constant(binary)).numpy(), binary)


def test_posterior_scale_is_clamped_so_exploding_encoders_give_finite_losses(digits):
    (x_train, _), _ = digits
    x = tf.constant(binarize(x_train[:32], seed=0))
    vae = small_vae(min_scale=1e-4, max_scale=10.0)
    head = vae.encoder.get_layer("code")
    for sign in (1.0, -1.0):  # raw scales -> +huge (explode) and -huge (collapse to 0)
        head.kernel.assign(sign * 1e4 * np.ones(head.kernel.shape, np.float32))
        _, scale = vae.posterior_params(x)
        assert tf.reduce_min(scale).numpy() >= np.float32(1e-4) and tf.reduce_max(scale).numpy() <= np.float32(10.0)
        terms = vae.compute_losses(x, training=True)
        assert all(np.isfinite(float(v)) for v in terms.values())


@pytest.mark.slow  # seconds: fits or converts; the full suite runs it
def test_mixture_prior_uses_monte_carlo_kl_and_trains(digits):
    (x_train, _), _ = digits
    vae = small_vae(latent_dim=2, prior=GaussianMixturePrior(2, num_components=5), dynamic_binarization=True)
    assert not vae.has_analytic_kl() and small_vae().has_analytic_kl()
    before = vae.prior_layer.locs.numpy().copy()
    vae.compile(optimizer="adam", run_eagerly=True)  # no tracing: fast for a few steps
    logs = vae.fit(x_train[:256], epochs=1, batch_size=64, verbose=0).history
    assert np.isfinite(logs["kl"]).all()
    assert not np.allclose(before, vae.prior_layer.locs.numpy())  # the prior is learned


@pytest.mark.slow
@pytest.mark.parametrize("likelihood", ["gaussian", "continuous_bernoulli"])
def test_other_likelihoods_train_on_grey_images(digits, likelihood):
    (x_train, _), (x_test, _) = digits
    vae = small_vae(likelihood=likelihood)
    vae.compile(optimizer=keras.optimizers.Adam(1e-2), jit_compile=False)
    logs = vae.fit(x_train[:512], epochs=3, batch_size=128, verbose=0).history
    assert logs["loss"][-1] < logs["loss"][0]
    assert np.isfinite(vae.log_likelihood(x_test[:20], k=10, verbose=0)).all()


# -- saving ----------------------------------------------------------------------------
@pytest.mark.slow
def test_keras_round_trip_in_fresh_process_reproduces_log_likelihood(trained, tmp_path):
    vae, _, x_test = trained
    path = tmp_path / "vae.keras"
    vae.save(path)
    x = x_test[:30]
    np.save(tmp_path / "x.npy", x)
    expected = {"ll": vae.log_likelihood(x, k=100, seed=5, verbose=0).tolist(),
                "sample": vae.sample(4, seed=2).tolist()}
    script = textwrap.dedent(f"""
        import json, numpy as np, keras
        import keras_ae.models.vae  # registers the classes
        vae = keras.saving.load_model({str(path)!r})
        x = np.load({str(tmp_path / 'x.npy')!r})
        print(json.dumps({{"ll": vae.log_likelihood(x, k=100, seed=5, verbose=0).tolist(),
                          "sample": vae.sample(4, seed=2).tolist(), "type": type(vae).__name__,
                          "optimizer": type(vae.optimizer).__name__}}))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["type"] == "VAE" and got["optimizer"] == "Adam"
    np.testing.assert_allclose(got["ll"], expected["ll"], rtol=1e-6)
    np.testing.assert_allclose(got["sample"], expected["sample"], atol=1e-6)


@pytest.mark.slow
def test_round_trip_keeps_mixture_prior_and_gaussian_scale(tmp_path):
    x = np.random.default_rng(0).random((5, 8, 8, 1)).astype(np.float32)
    for vae in (small_vae(latent_dim=2, prior=GaussianMixturePrior(2, 3)), small_vae(likelihood="gaussian")):
        path = tmp_path / f"{vae.likelihood}.keras"
        vae.save(path)
        loaded = keras.saving.load_model(path)
        data = x if vae.likelihood == "gaussian" else binarize(x, 0)
        np.testing.assert_allclose(loaded.log_likelihood(data, k=20, verbose=0),
                                   vae.log_likelihood(data, k=20, verbose=0), rtol=1e-6)
    with pytest.raises(InputValidationError, match="cannot be saved"):
        small_vae(latent_dim=2, prior=tfd.MultivariateNormalDiag(tf.zeros(2), 2 * tf.ones(2))).get_config()


# -- bad input -------------------------------------------------------------------------
def test_bad_input_raises_clear_errors(digits):
    (x_train, _), _ = digits
    vae = small_vae()
    vae.compile()
    with pytest.raises(InputValidationError, match="not binary.*dynamic_binarization=True"):
        vae.fit(x_train[:64], epochs=1, verbose=0)
    with pytest.raises(InputValidationError, match="binarize"):
        small_vae(dynamic_binarization=True).log_likelihood(x_train[:4], k=2)
    nan = binarize(x_train[:8], 0)
    nan[3, 2, 2, 0] = np.nan
    with pytest.raises(InputValidationError, match="NaN"):
        vae.fit(nan, epochs=1, verbose=0)
    with pytest.raises(InputValidationError, match="latent_dim"):
        build_vae((8, 8, 1), latent_dim=0)
    with pytest.raises(UnknownNameError, match="bernoulli"):
        build_vae((8, 8, 1), likelihood="poisson")
    with pytest.raises(InputValidationError, match="shape"):
        vae.fit(np.zeros((4, 28, 28, 1), np.float32), epochs=1, verbose=0)
    with pytest.raises(InputValidationError, match="range"):
        small_vae(dynamic_binarization=True).fit(x_train[:8] * 2, epochs=1, verbose=0)
    with pytest.raises(InputValidationError, match="beta"):
        small_vae(beta=-1.0)
    with pytest.raises(InputValidationError, match="event shape"):
        small_vae(latent_dim=3, prior=GaussianMixturePrior(2))
