"""The wider VAE family: the VampPrior, beta-TCVAE's KL decomposition and FactorVAE's discriminator."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_ae.data import binarize
from keras_ae.errors import InputValidationError
from keras_ae.layers.vamp_prior import VampPrior
from keras_ae.models.vae import BetaTCVAE, FactorVAE, build_beta_tcvae, build_factor_vae, build_vae
from keras_ae.models.vae.factor_vae import get_code_discriminator, permute_dims
from keras_ae.models.vae.tc import kl_decomposition
from keras_ae.saving import load_model


def _softplus(x):
    return np.logaddexp(0.0, x)


def _log_normal(z, loc, scale):
    return -0.5 * ((z - loc) / scale) ** 2 - np.log(scale) - 0.5 * math.log(2 * math.pi)


def _logsumexp(a, axis):
    top = a.max(axis=axis, keepdims=True)
    return np.squeeze(top, axis) + np.log(np.exp(a - top).sum(axis=axis))


def _vamp_vae(**kwargs):
    kwargs.setdefault("num_pseudo_inputs", 5)
    return build_vae((8, 8, 1), latent_dim=3, hidden=(16,), prior="vamp", seed=0, **kwargs)


# -- VampPrior ------------------------------------------------------------------------------
def test_vamp_prior_log_prob_is_the_log_mean_of_the_posteriors_at_the_pseudo_inputs():
    vae = _vamp_vae(dynamic_binarization=True)
    prior = vae.prior_layer
    prior.pseudo_inputs.assign(np.random.default_rng(0).uniform(-0.2, 1.2, prior.pseudo_inputs.shape))
    u = np.clip(prior.pseudo_inputs.numpy(), 0.0, 1.0)  # the paper's hard tanh on [0, 1] data
    params = vae.encoder(u).numpy().astype(np.float64)
    loc = params[:, :3]
    scale = np.minimum(_softplus(params[:, 3:]) + vae.min_scale, vae.max_scale)
    z = np.random.default_rng(1).normal(size=(7, 3))
    by_component = _log_normal(z[:, None, :], loc[None], scale[None]).sum(-1)  # (7, K)
    expected = _logsumexp(by_component, axis=1) - math.log(5)
    np.testing.assert_allclose(vae.prior.log_prob(z.astype(np.float32)).numpy(), expected, rtol=1e-5, atol=1e-5)
    assert not vae.has_analytic_kl()  # a mixture: the KL term is the Monte Carlo estimate


def test_gradients_of_the_loss_reach_the_pseudo_inputs(digits):
    (x_train, _), _ = digits
    vae = _vamp_vae(dynamic_binarization=True)
    with tf.GradientTape() as tape:
        loss = vae.compute_losses(tf.constant(x_train[:32]), training=True)["loss"]
    grad = tape.gradient(loss, vae.prior_layer.pseudo_inputs)
    assert grad is not None and np.isfinite(grad.numpy()).all() and np.abs(grad.numpy()).max() > 0


@pytest.mark.slow
def test_a_vamp_vae_trains_on_digits_and_its_pseudo_inputs_move(digits):
    (x_train, _), (x_test, _) = digits
    vae = _vamp_vae(num_pseudo_inputs=10, dynamic_binarization=True)
    before = vae.prior_layer.pseudo_inputs.numpy().copy()
    x_eval = binarize(x_test[:200], seed=0)
    start = vae.elbo(x_eval, num_samples=4).mean()
    vae.compile(optimizer=keras.optimizers.Adam(1e-2), jit_compile=False)
    vae.fit(x_train, epochs=5, batch_size=64, verbose=0)
    elbo = vae.elbo(x_eval, num_samples=4).mean()
    assert elbo > start + 5.0  # nats
    assert vae.log_likelihood(x_eval, k=50, verbose=0).mean() > elbo  # L_50 >= L_1
    assert np.abs(vae.prior_layer.pseudo_inputs.numpy() - before).max() > 1e-3


@pytest.mark.slow  # seconds: a round trip, an export or training; the full suite runs it
def test_a_vamp_vae_keras_round_trip_gives_identical_outputs(tmp_path, digits):
    (_, _), (x_test, _) = digits
    vae = _vamp_vae()
    vae.prior_layer.pseudo_inputs.assign(np.random.default_rng(3).random(vae.prior_layer.pseudo_inputs.shape))
    vae.save(tmp_path / "vamp.keras")
    loaded = load_model(tmp_path / "vamp.keras")
    assert type(loaded.prior_layer) is VampPrior and loaded.prior_layer.num_pseudo_inputs == 5
    x = binarize(x_test[:6], seed=0)
    z = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    np.testing.assert_array_equal(loaded.prior.log_prob(z).numpy(), vae.prior.log_prob(z).numpy())
    np.testing.assert_array_equal(loaded.reconstruct(x), vae.reconstruct(x))
    np.testing.assert_array_equal(loaded.sample(3, seed=1), vae.sample(3, seed=1))
    seed = tf.constant([0, 1])  # the log importance weights behind log_likelihood
    np.testing.assert_allclose(loaded.log_weights(x, 5, seed).numpy(), vae.log_weights(x, 5, seed).numpy(), rtol=1e-6)


def test_vamp_prior_arguments_are_checked():
    with pytest.raises(InputValidationError, match="num_pseudo_inputs"):
        _vamp_vae(num_pseudo_inputs=0)
    with pytest.raises(InputValidationError, match="num_pseudo_inputs"):
        _vamp_vae(num_pseudo_inputs=10**7)
    with pytest.raises(InputValidationError, match="num_pseudo_inputs"):
        _vamp_vae(num_pseudo_inputs="5")
    with pytest.raises(InputValidationError, match="num_pseudo_inputs.*vamp"):
        build_vae((8, 8, 1), latent_dim=2, hidden=(8,), num_pseudo_inputs=5)
    with pytest.raises(InputValidationError, match="unconditional"):
        _vamp_vae(num_classes=10)
    with pytest.raises(InputValidationError, match="posterior flow"):
        _vamp_vae(posterior_flow="iaf")
    with pytest.raises(InputValidationError, match="pseudo-inputs have shape"):
        build_vae((8, 8, 1), latent_dim=2, hidden=(8,), prior=VampPrior(3, (4, 4, 1)))
    with pytest.raises(InputValidationError, match="pseudo_inputs must be training examples"):
        _vamp_vae(pseudo_inputs=np.zeros((4, 4, 4, 1), np.float32))
    with pytest.raises(InputValidationError, match="NaN"):
        _vamp_vae(pseudo_inputs=np.full((4, 8, 8, 1), np.nan, np.float32))
    with pytest.raises(InputValidationError, match="pseudo_inputs sets the pseudo-inputs of prior='vamp'"):
        build_vae((8, 8, 1), latent_dim=2, hidden=(8,), pseudo_inputs=np.zeros((4, 8, 8, 1), np.float32))


def test_vamp_pseudo_inputs_start_at_distinct_training_examples_drawn_with_the_seed(digits):
    (x_train, _), _ = digits
    vae = _vamp_vae(num_pseudo_inputs=6, pseudo_inputs=x_train)
    start = vae.prior_layer.pseudo_inputs.numpy()
    flat = x_train.reshape(len(x_train), -1)
    rows = [int(np.flatnonzero((flat == u.reshape(-1)).all(axis=1))[0]) for u in start]
    assert len(set(rows)) == 6  # six different training images, each exactly
    np.testing.assert_array_equal(_vamp_vae(num_pseudo_inputs=6, pseudo_inputs=x_train).prior_layer.pseudo_inputs,
                                  start)  # the same draw for the same seed
    few = _vamp_vae(num_pseudo_inputs=6, pseudo_inputs=x_train[:2]).prior_layer.pseudo_inputs.numpy()
    assert all(any(np.array_equal(u, x) for x in x_train[:2]) for u in few)  # fewer examples than K: repeated
    with pytest.raises(InputValidationError, match="no posterior yet"):
        VampPrior(3, (2,)).distribution()
    with pytest.raises(InputValidationError, match="value_range"):
        VampPrior(3, (2,), value_range=(1.0, 0.0))


def test_vamp_prior_of_a_table_starts_at_training_rows():
    rows = np.random.default_rng(0).normal([0.0, 1e4], [1.0, 1e3], (64, 2))
    vae = build_vae((2,), latent_dim=1, hidden=(8,), likelihood="gaussian", standardize=rows, prior="vamp",
                    num_pseudo_inputs=4, seed=0)
    u = vae.prior_layer.pseudo_inputs.numpy()
    assert vae.prior_layer.value_range is None
    assert all(np.isclose(rows.astype(np.float32), row).all(axis=1).any() for row in u)


# -- beta-TCVAE: the decomposition -------------------------------------------------------------
def _numpy_decomposition(z, loc, scale, log_prior, n):
    pairs = _log_normal(z[:, None, :], loc[None], scale[None])  # (M, M, D)
    m = len(z)
    log_q_zx = pairs[np.arange(m), np.arange(m)].sum(-1)
    log_qz = _logsumexp(pairs.sum(-1), axis=1) - math.log(n * m)
    log_prod = (_logsumexp(pairs, axis=1) - math.log(n * m)).sum(-1)
    return {"mi": log_q_zx - log_qz, "tc": log_qz - log_prod, "dimension_kl": log_prod - log_prior}


@pytest.mark.parametrize("dataset_size", [None, 1000])
def test_kl_decomposition_matches_a_numpy_reference(dataset_size):
    rng = np.random.default_rng(0)
    loc, scale = rng.normal(size=(6, 3)), rng.uniform(0.3, 1.5, (6, 3))
    z = loc + scale * rng.normal(size=(6, 3))
    log_prior = _log_normal(z, 0.0, 1.0).sum(-1)
    got = kl_decomposition(*(tf.constant(a, tf.float32) for a in (z, loc, scale, log_prior)), dataset_size)
    expected = _numpy_decomposition(z, loc, scale, log_prior, 1 if dataset_size is None else dataset_size)
    for key in ("mi", "tc", "dimension_kl"):
        np.testing.assert_allclose(got[key].numpy(), expected[key], rtol=1e-4, atol=1e-4)


def test_the_three_terms_sum_to_the_monte_carlo_kl_whose_mean_is_the_analytic_kl():
    # Exact per draw: mi + tc + dimension_kl = log q(z|x) - log p(z) (the log(NM) terms cancel).
    # Over many draws its mean is KL(q || N(0, I)): checked to 3 standard errors.
    rng = np.random.default_rng(1)
    loc, scale = rng.normal(size=(8, 2)), rng.uniform(0.4, 1.2, (8, 2))
    draws = 4000
    z = loc + scale * rng.normal(size=(draws, 8, 2))
    totals = []
    for zs in z[:200]:
        parts = kl_decomposition(zs, loc, scale, _log_normal(zs, 0.0, 1.0).sum(-1), dataset_size=50_000)
        total = sum(parts[key].numpy() for key in parts)
        np.testing.assert_allclose(total, (_log_normal(zs, loc, scale) - _log_normal(zs, 0.0, 1.0)).sum(-1),
                                   rtol=1e-4, atol=1e-4)
        totals.append(total)
    mc = (_log_normal(z, loc, scale) - _log_normal(z, 0.0, 1.0)).sum(-1)  # (draws, 8), the same estimator
    analytic = (-np.log(scale) + (scale ** 2 + loc ** 2 - 1) / 2).sum(-1)
    assert np.all(np.abs(mc.mean(0) - analytic) < 3 * mc.std(0) / math.sqrt(draws))
    assert np.abs(np.mean(totals, 0) - analytic).max() < 3 * mc.std(0).max() / math.sqrt(200)


def test_total_correlation_is_log_batch_for_codes_on_a_line_and_zero_on_a_grid():
    # Nearly deterministic posteriors: on the diagonal z1 = z2 each dimension determines the
    # other (TC = log M); on a 4 x 4 grid the two dimensions are independent (TC = 0).
    line = np.stack([np.arange(16.0)] * 2, axis=1)
    grid = np.stack(np.meshgrid(np.arange(4.0), np.arange(4.0)), -1).reshape(16, 2)
    scale = np.full((16, 2), 1e-2)
    for codes, expected in ((line, math.log(16)), (grid, 0.0)):
        parts = kl_decomposition(codes, codes, scale, np.zeros(16), dataset_size=None)
        np.testing.assert_allclose(parts["tc"].numpy(), expected, atol=1e-3)


def test_beta_tcvae_reports_the_three_terms_and_weights_them(digits):
    (x_train, _), _ = digits
    x = tf.constant(binarize(x_train[:64], seed=0))
    weights = dict(alpha=2.0, beta=3.0, gamma=0.5)
    model = build_beta_tcvae((8, 8, 1), latent_dim=3, hidden=(16,), seed=0, dataset_size=1000, **weights)
    terms = model.compute_losses(x)
    expected = terms["reconstruction"] + 2.0 * terms["mi"] + 3.0 * terms["tc"] + 0.5 * terms["dimension_kl"]
    assert float(terms["loss"]) == pytest.approx(float(expected), rel=1e-6)
    assert model.beta == 3.0 and model.alpha == 2.0 and model.gamma == 0.5


@pytest.mark.slow
def test_beta_tcvae_with_a_large_beta_learns_codes_of_lower_total_correlation(digits):
    (x_train, _), (x_test, _) = digits
    x_eval = tf.constant(binarize(x_test[:256], seed=0))
    tc = {}
    for beta in (1.0, 20.0):
        model = build_beta_tcvae((8, 8, 1), latent_dim=4, hidden=(64,), beta=beta, seed=0, dynamic_binarization=True)
        model.compile(optimizer=keras.optimizers.Adam(5e-3), jit_compile=False)
        model.fit(x_train, epochs=10, batch_size=128, verbose=0)
        tc[beta] = float(model.compute_losses(x_eval)["tc"])
    assert tc[20.0] < tc[1.0] - 0.1


@pytest.mark.slow  # seconds: a round trip, an export or training; the full suite runs it
def test_beta_tcvae_round_trip_and_bad_arguments(tmp_path, digits):
    (_, _), (x_test, _) = digits
    model = build_beta_tcvae((8, 8, 1), latent_dim=2, hidden=(8,), alpha=0.5, gamma=2.0, dataset_size=100, seed=0)
    model.save(tmp_path / "tc.keras")
    loaded = load_model(tmp_path / "tc.keras")
    assert type(loaded) is BetaTCVAE and (loaded.alpha, loaded.beta, loaded.gamma, loaded.dataset_size) == (
        0.5, 6.0, 2.0, 100)
    x = binarize(x_test[:5], seed=0)
    np.testing.assert_array_equal(loaded.reconstruct(x), model.reconstruct(x))
    for bad, match in ((dict(alpha=-1.0), "alpha"), (dict(gamma=float("nan")), "gamma"),
                       (dict(dataset_size=0), "dataset_size"), (dict(objective="iwae"), "objective"),
                       (dict(posterior_flow="iaf"), "posterior_flow"), (dict(beta="6"), "beta")):
        with pytest.raises(InputValidationError, match=match):
            build_beta_tcvae((8, 8, 1), latent_dim=2, hidden=(8,), **bad)


# -- FactorVAE -------------------------------------------------------------------------------
def test_permute_dims_keeps_each_column_and_breaks_the_dependence():
    rng = np.random.default_rng(0)
    a = rng.normal(size=2000)
    z = tf.constant(np.stack([a, a + 0.1 * rng.normal(size=2000), -a], axis=1), tf.float32)
    shuffled = permute_dims(z, tf.constant([3, 4])).numpy()
    np.testing.assert_array_equal(np.sort(shuffled, axis=0), np.sort(z.numpy(), axis=0))
    assert np.corrcoef(z.numpy().T)[0, 1] > 0.99
    corr = np.corrcoef(shuffled.T)
    assert abs(corr[0, 1]) < 0.1 and abs(corr[0, 2]) < 0.1  # |r| < 0.1: ~4.5 standard errors at n = 2000
    assert not np.array_equal(permute_dims(z, tf.constant([3, 5])).numpy(), shuffled)  # another seed, another draw


@pytest.mark.slow  # seconds: a round trip, an export or training; the full suite runs it
def test_the_discriminator_learns_to_tell_correlated_codes_from_their_permutation():
    model = build_factor_vae((8, 8, 1), latent_dim=2, hidden=(8,), discriminator_hidden=(32, 32), seed=0)
    model.compile(optimizer="adam", discriminator_optimizer=keras.optimizers.Adam(1e-2))
    a = np.random.default_rng(0).normal(size=256)
    z = tf.constant(np.stack([a, a], axis=1), tf.float32)  # z1 = z2: all mass on the diagonal
    weights = model.discriminator.trainable_weights

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = model.discriminator_loss(z, training=True)
        model.discriminator_optimizer.apply_gradients(zip(tape.gradient(loss, weights), weights))
        return loss

    losses = [float(step()) for _ in range(60)]
    assert losses[0] == pytest.approx(math.log(2), abs=0.1)  # at chance
    assert np.mean(losses[-5:]) < 0.45
    assert float(tf.reduce_mean(model.discriminator_logits(z))) > 0.5  # a positive TC estimate


@pytest.mark.slow  # seconds: a round trip, an export or training; the full suite runs it
def test_a_factor_vae_step_updates_the_vae_and_the_discriminator_each_with_its_own_optimizer(digits):
    (x_train, _), _ = digits
    x = binarize(x_train[:64], seed=0)
    model = build_factor_vae((8, 8, 1), latent_dim=2, hidden=(8,), discriminator_hidden=(8,), seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), discriminator_optimizer=keras.optimizers.SGD(0.0),
                  run_eagerly=True)
    d_before = [w.numpy().copy() for w in model.discriminator.weights]
    enc_before = [w.numpy().copy() for w in model.encoder.weights]
    logs = model.fit(x, epochs=1, batch_size=32, verbose=0).history
    assert set(logs) == {"loss", "reconstruction", "kl", "tc", "d_loss"} and np.isfinite(logs["d_loss"]).all()
    assert all(np.array_equal(a, w.numpy()) for a, w in zip(d_before, model.discriminator.weights))  # lr 0
    assert any(not np.array_equal(a, w.numpy()) for a, w in zip(enc_before, model.encoder.weights))
    model.compile(optimizer=keras.optimizers.SGD(0.0), discriminator_optimizer=keras.optimizers.SGD(0.5),
                  run_eagerly=True)
    enc_before = [w.numpy().copy() for w in model.encoder.weights]
    model.fit(x, epochs=1, batch_size=32, verbose=0)
    assert all(np.array_equal(a, w.numpy()) for a, w in zip(enc_before, model.encoder.weights))
    assert any(not np.array_equal(a, w.numpy()) for a, w in zip(d_before, model.discriminator.weights))


def test_the_tc_term_enters_the_vae_loss_with_weight_gamma(digits):
    (x_train, _), _ = digits
    x = tf.constant(binarize(x_train[:32], seed=0))
    model = build_factor_vae((8, 8, 1), latent_dim=2, hidden=(8,), discriminator_hidden=(8,), gamma=10.0, seed=0)
    terms = model.compute_losses(x)
    expected = terms["reconstruction"] + terms["kl"] + 10.0 * terms["tc"]
    assert float(terms["loss"]) == pytest.approx(float(expected), rel=1e-6)


@pytest.mark.slow  # seconds: a round trip, an export or training; the full suite runs it
def test_a_trained_factor_vae_keras_round_trip_keeps_networks_and_optimizers(tmp_path, digits):
    (x_train, _), (x_test, _) = digits
    model = build_factor_vae((8, 8, 1), latent_dim=2, hidden=(8,), discriminator_hidden=(8,), gamma=3.0, seed=0,
                             dynamic_binarization=True)
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  discriminator_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5), run_eagerly=True)
    model.fit(x_train[:32], epochs=1, batch_size=32, verbose=0)
    model.save(tmp_path / "factor.keras")
    loaded = load_model(tmp_path / "factor.keras")
    assert type(loaded) is FactorVAE and loaded.gamma == 3.0 and loaded.family == "factor_vae"
    z = np.random.default_rng(0).normal(size=(5, 2)).astype(np.float32)
    np.testing.assert_array_equal(loaded.discriminator(z).numpy(), model.discriminator(z).numpy())
    x = binarize(x_test[:5], seed=0)
    np.testing.assert_allclose(loaded.reconstruct(x), model.reconstruct(x), atol=1e-6)
    d_opt = loaded.discriminator_optimizer
    assert type(d_opt).__name__ == "Adam" and float(d_opt.learning_rate) == pytest.approx(2e-4)
    assert int(d_opt.iterations) == 1 and int(loaded.optimizer.iterations) == 1  # their saved state came back


def test_factor_vae_bad_arguments_are_refused():
    for bad, match in ((dict(gamma=-1.0), "gamma"), (dict(num_classes=10), "num_classes"),
                       (dict(objective="iwae"), "objective"), (dict(discriminator_hidden=(0,)), "discriminator_hidden"),
                       (dict(latent_dim=0), "latent_dim")):
        with pytest.raises(InputValidationError, match=match):
            build_factor_vae((8, 8, 1), hidden=(8,), **bad)
    vae = build_vae((8, 8, 1), latent_dim=2, hidden=(8,))
    with pytest.raises(InputValidationError, match=r"\(batch, 2\) codes to \(batch, 1\) logits"):
        FactorVAE(vae.encoder, vae.decoder, 2, discriminator=get_code_discriminator(3, (4,)))
    with pytest.raises(InputValidationError, match="discriminator must be a keras.Model"):
        FactorVAE(vae.encoder, vae.decoder, 2)
    model = build_factor_vae((8, 8, 1), latent_dim=2, hidden=(8,), discriminator_hidden=(8,))
    adam = keras.optimizers.Adam()
    with pytest.raises(InputValidationError, match="two different optimizer objects"):
        model.compile(optimizer=adam, discriminator_optimizer=adam)


# -- every family: export and the command line ---------------------------------------------------
@pytest.mark.slow
def test_the_new_models_export_and_serve_what_python_computes(tmp_path, digits):
    from keras_ae.export import export, read_metadata

    (_, _), (x_test, _) = digits
    x = binarize(x_test[:4], seed=0)
    models = {"vamp": _vamp_vae(), "tc": build_beta_tcvae((8, 8, 1), latent_dim=2, hidden=(8,)),
              "factor": build_factor_vae((8, 8, 1), latent_dim=2, hidden=(8,), discriminator_hidden=(8,))}
    for name, model in models.items():
        path = export(model, name, base_dir=tmp_path, allow_untrained=True, uint8=False)
        served = tf.saved_model.load(str(path)).signatures
        np.testing.assert_allclose(served["reconstruct"](images=tf.constant(x))["reconstruction"].numpy(),
                                   model.reconstruct(x), atol=1e-5)
        images = served["sample"](count=tf.constant(3), seed=tf.constant(7, tf.int64))["images"].numpy()
        np.testing.assert_allclose(images, model.sample(3, seed=7), atol=1e-5)
        assert read_metadata(path)["family"] == ("factor_vae" if name == "factor" else "vae")


@pytest.mark.slow
@pytest.mark.parametrize("name, params", [("beta_tcvae", ["latent_dim=2", "hidden=[8]"]),
                                          ("factor_vae", ["latent_dim=2", "hidden=[8]", "discriminator_hidden=[8]"]),
                                          ("vae", ["latent_dim=2", "hidden=[8]", "prior=vamp",
                                                   "num_pseudo_inputs=4"])])
def test_the_command_line_trains_each_model(tmp_path, monkeypatch, capsys, name, params):
    from keras_ae import cli

    monkeypatch.chdir(tmp_path)
    args = ["train", name, "--dataset", "digits", "--binarize", "--epochs", "1", "--limit", "64", "--out", "run",
            "--verbose", "0"]
    for param in params:
        args += ["-p", param]
    assert cli.main(args) == 0, capsys.readouterr().err
    model = load_model(tmp_path / "run" / "model.keras")
    assert model.latent_dim == 2
