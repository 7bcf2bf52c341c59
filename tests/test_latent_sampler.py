"""Latent samplers: a density fitted on an auto-encoder's codes makes it generative (Ghosh et al. 2020).

The densities are checked against independent computations (scikit-learn's ``score_samples``,
NumPy's mixture moments, a numerical integral); the sampler against the auto-encoder's own
decoder, a ``.keras`` round trip and the exported ``sample`` signature.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf
from sklearn.mixture import GaussianMixture

import keras_ae
from keras_ae.errors import InputValidationError, UnknownNameError
from keras_ae.export import read_metadata
from keras_ae.models import build_conditional_gan, build_dense_ae, build_vae
from keras_ae.models.latent_sampler import (GaussianMixtureDensity, LatentSampler, MaskedAutoregressiveDensity,
                                            fit_code_density, fit_latent_sampler)
from keras_ae.random import stateless_pair
from keras_ae.saving import load_model, save_model

SHAPE = (8, 8, 1)


@pytest.fixture(scope="module")
def x_train():
    (x, _), _ = keras_ae.load_dataset("digits")
    return x[:400]


@pytest.fixture(scope="module")
def autoencoder():
    """An untrained dense auto-encoder: its codes are far from N(0, I), which is all the density tests need."""
    keras.utils.set_random_seed(1)
    return build_dense_ae(SHAPE, hidden=(16,), code_dim=3)


@pytest.fixture(scope="module")
def gmm_sampler(autoencoder, x_train):
    return fit_latent_sampler(autoencoder, x_train, kind="gmm", n_components=4, seed=0)


@pytest.fixture(scope="module")
def vae():
    keras.utils.set_random_seed(2)
    return build_vae(SHAPE, latent_dim=2, hidden=(16,), seed=0)


def _skewed_codes(n: int = 600) -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.concatenate([rng.normal(size=(n // 2, 3)) * [1.0, 0.3, 2.0],
                           rng.gamma(2.0, 1.0, size=(n - n // 2, 3)) + 3.0]).astype(np.float32)


# -- the densities -------------------------------------------------------------------------------
@pytest.mark.parametrize("covariance", ["full", "diag"])
def test_gmm_log_prob_equals_sklearn_score_samples(covariance):
    codes = _skewed_codes()
    density, facts = fit_code_density(codes, kind="gmm", n_components=3, covariance=covariance, seed=5)
    reference = GaussianMixture(3, covariance_type=covariance, random_state=5).fit(codes.astype(np.float64))
    expected = reference.score_samples(codes.astype(np.float64))
    np.testing.assert_allclose(density.log_prob(codes).numpy(), expected, rtol=1e-4, atol=1e-4)
    assert facts["train_log_prob"] == pytest.approx(expected.mean())


def test_gmm_samples_have_the_mixture_moments():
    density = GaussianMixtureDensity(2, num_components=2, covariance="full")
    weights, means = np.array([0.25, 0.75]), np.array([[-2.0, 0.0], [1.0, 1.0]])
    tril = np.array([[[1.0, 0.0], [0.5, 0.5]], [[0.3, 0.0], [-0.2, 0.4]]])
    density.set_parameters(weights, means, tril)
    z = density.sample(20_000, stateless_pair(3)).numpy()
    covariances = tril @ tril.transpose(0, 2, 1)
    mean = weights @ means
    second = sum(w * (c + np.outer(m, m)) for w, m, c in zip(weights, means, covariances))
    np.testing.assert_allclose(z.mean(axis=0), mean, atol=0.04)
    np.testing.assert_allclose(np.cov(z.T), second - np.outer(mean, mean), atol=0.06)


@pytest.mark.slow  # seconds: a round trip, an export or training; the full suite runs it
def test_maf_density_integrates_to_one_and_its_samples_follow_it():
    keras.utils.set_random_seed(3)
    maf = MaskedAutoregressiveDensity(2, steps=3, hidden_units=(16,))
    for made in maf.mades:  # far from the identity the small output initializer starts at
        made.kernels[-1].assign(np.random.default_rng(0).normal(0.0, 0.5, made.kernels[-1].shape))
    maf.set_standardization([1.0, -1.0], [0.5, 2.0])
    grid = np.linspace(-30, 30, 1201, dtype=np.float32)  # heavy tails: 0.3% of the mass lies beyond +-30
    cell = (grid[1] - grid[0]) ** 2
    points = np.stack(np.meshgrid(grid, grid, indexing="ij"), -1).reshape(-1, 2)
    mass = np.exp(maf.log_prob(points).numpy().astype(np.float64)) * cell
    assert mass.sum() == pytest.approx(1.0, abs=0.01)
    samples = maf.sample(20_000, stateless_pair(0)).numpy()
    for corner in ([1.0, -2.0], [0.0, 0.0], [2.0, 5.0]):  # P(z1 < a, z2 < b) by the density and by the samples
        below = lambda z: (z[:, 0] < corner[0]) & (z[:, 1] < corner[1])  # noqa: E731
        assert below(samples).mean() == pytest.approx(mass[below(points)].sum(), abs=0.015)


@pytest.mark.slow
def test_maf_learns_a_ring_that_a_single_gaussian_cannot_fit_and_keeps_its_best_held_out_epoch():
    rng = np.random.default_rng(0)
    angle = rng.uniform(0, 2 * np.pi, 1000)
    ring = (np.stack([np.cos(angle), np.sin(angle)], 1) + rng.normal(0, 0.05, (1000, 2))).astype(np.float32)
    density, facts = fit_code_density(ring, kind="maf", flow_steps=4, flow_hidden=(32, 32), epochs=30,
                                      batch_size=100, learning_rate=3e-3, seed=0)
    nll = facts["nll_history"]
    assert nll[-1] < nll[0] - 0.5  # the training likelihood rises
    gaussian = GaussianMixture(1).fit(ring).score(ring)  # about -2.14 nats for a unit ring
    assert float(np.mean(density.log_prob(ring))) > gaussian + 0.7
    held_out = ring[np.random.default_rng(0).permutation(1000)[:facts["held_out_codes"]]]
    assert facts["held_out_codes"] == 100
    assert -float(np.mean(density.log_prob(held_out))) == pytest.approx(min(facts["val_nll_history"]), abs=1e-4)


# -- the sampler ----------------------------------------------------------------------------------
def test_samples_are_decoded_codes_deterministic_per_seed(gmm_sampler, autoencoder):
    images = gmm_sampler.sample(6, seed=0)
    assert images.shape == (6, *SHAPE) and images.dtype == np.float32
    assert ((images >= 0) & (images <= 1)).all()  # the sigmoid decoder's range
    np.testing.assert_array_equal(images, gmm_sampler.sample(6, seed=0))
    assert not np.allclose(images, gmm_sampler.sample(6, seed=1))
    codes = gmm_sampler.sample_codes(6, seed=0)
    np.testing.assert_allclose(images, autoencoder.decode(codes), atol=1e-6)
    assert not np.array_equal(gmm_sampler.sample(3), gmm_sampler.sample(3))  # seed=None: the model's stream
    assert gmm_sampler.sample(0, seed=0).shape == (0, *SHAPE)


def test_gmm_codes_have_the_training_codes_moments_unlike_the_standard_normal(gmm_sampler, autoencoder, x_train):
    codes = autoencoder.codes(x_train)
    drawn = gmm_sampler.sample_codes(8000, seed=0)
    # The training codes are nowhere near N(0, I): what a prior sample would assume.
    assert np.abs(np.cov(codes.T) - np.eye(3)).max() > 0.3 or np.abs(codes.mean(axis=0)).max() > 0.3
    std = codes.std(axis=0)
    np.testing.assert_allclose(drawn.mean(axis=0), codes.mean(axis=0), atol=0.05 * std.max())
    np.testing.assert_allclose(np.cov(drawn.T), np.cov(codes.T), atol=0.05 * std.max() ** 2)


def test_a_vae_sampler_decodes_the_mean_of_p_x_given_z(vae, x_train):
    sampler = fit_latent_sampler(vae, x_train, kind="gmm", n_components=3)
    z = sampler.sample_codes(5, seed=4)
    np.testing.assert_allclose(sampler.sample(5, seed=4), vae.decode_mean(z).numpy(), atol=1e-6)


def test_aggregate_posterior_is_the_mean_of_the_stored_posteriors(vae, x_train):
    sampler = fit_latent_sampler(vae, x_train, kind="aggregate", max_codes=50, seed=0)
    assert sampler.kind == "aggregate" and sampler.density.num_components == 50
    rows = np.sort(np.random.default_rng(0).choice(len(x_train), 50, replace=False))
    loc, scale = (t.numpy().astype(np.float64) for t in vae.posterior_params(x_train[rows]))
    np.testing.assert_allclose(sampler.density.means.numpy(), loc, rtol=1e-6)
    z = np.array([[0.1, -0.2], [1.0, 0.5]])
    log_n = (-0.5 * (((z[:, None] - loc) / scale) ** 2).sum(-1) - np.log(scale).sum(-1) - np.log(2 * np.pi))
    expected = np.log(np.exp(log_n).mean(axis=1))
    np.testing.assert_allclose(sampler.log_prob(z), expected, rtol=1e-4)
    drawn = sampler.sample_codes(8000, seed=1)
    np.testing.assert_allclose(drawn.mean(axis=0), loc.mean(axis=0), atol=0.05)
    np.testing.assert_allclose(drawn.var(axis=0), (scale ** 2).mean(axis=0) + loc.var(axis=0), rtol=0.1)


@pytest.mark.slow  # seconds: a round trip, an export or training; the full suite runs it
def test_keras_file_round_trip_gives_identical_samples(gmm_sampler, vae, x_train, tmp_path):
    aggregate = fit_latent_sampler(vae, x_train, kind="aggregate", max_codes=30)
    for label, sampler in {"gmm": gmm_sampler, "aggregate": aggregate}.items():
        loaded = load_model(save_model(sampler, tmp_path / f"{label}.keras"))
        assert type(loaded) is LatentSampler and loaded.kind == sampler.kind and loaded.info == sampler.info
        np.testing.assert_array_equal(loaded.sample(5, seed=9), sampler.sample(5, seed=9))
        codes = sampler.sample_codes(4, seed=2)
        np.testing.assert_array_equal(loaded.log_prob(codes), sampler.log_prob(codes))


@pytest.mark.slow  # seconds: a round trip, an export or training; the full suite runs it
def test_export_sample_signature_draws_the_python_samples(gmm_sampler, tmp_path):
    path = keras_ae.export(gmm_sampler, "digits_gmm", base_dir=tmp_path)  # a fitted density counts as trained
    meta = read_metadata(path)
    assert meta["family"] == "latent_sampler" and meta["serving_default"] == "sample"
    assert meta["kind"] == "gmm" and meta["autoencoder_family"] == "autoencoder"
    loaded = tf.saved_model.load(str(path))
    out = loaded.signatures["sample"](count=tf.constant(5), seed=tf.constant(11, tf.int64))
    np.testing.assert_allclose(out["images"].numpy(), gmm_sampler.sample(5, seed=11), atol=1e-5)
    np.testing.assert_allclose(out["codes"].numpy(), gmm_sampler.sample_codes(5, seed=11), atol=1e-6)
    log_p = loaded.signatures["log_prob"](codes=out["codes"])["log_prob"].numpy()
    np.testing.assert_allclose(log_p, gmm_sampler.log_prob(out["codes"].numpy()), atol=1e-5)
    empty = loaded.signatures["sample"](count=tf.constant(0), seed=tf.constant(1, tf.int64))
    assert empty["images"].shape == (0, 8, 8, 1) and empty["codes"].shape == (0, 3)


@pytest.mark.slow
def test_a_dataset_gives_the_sampler_of_its_examples_as_an_array(autoencoder, gmm_sampler, vae, x_train, tmp_path):
    from_array = gmm_sampler  # fitted on the array x_train: kind="gmm", n_components=4, seed=0
    labelled = tf.data.Dataset.from_tensor_slices((x_train, np.zeros(len(x_train), np.int64))).batch(64)
    from_dataset = fit_latent_sampler(autoencoder, labelled, kind="gmm", n_components=4, seed=0)
    np.testing.assert_allclose(from_dataset.sample(6, seed=3), from_array.sample(6, seed=3), atol=1e-6)
    aggregate = fit_latent_sampler(vae, tf.data.Dataset.from_tensor_slices(x_train), kind="aggregate",
                                   max_codes=50, seed=0)
    expected = fit_latent_sampler(vae, x_train, kind="aggregate", max_codes=50, seed=0)
    np.testing.assert_array_equal(aggregate.density.means.numpy(), expected.density.means.numpy())
    bad = x_train[:20].copy()
    bad[7, 1, 1, 0] = 2.0
    with pytest.raises(InputValidationError, match=r"batch 1\): `x` holds values outside \[0, 1\]"):
        fit_latent_sampler(autoencoder, tf.data.Dataset.from_tensor_slices(bad).batch(8))
    with pytest.raises(InputValidationError, match="empty dataset"):
        fit_latent_sampler(autoencoder, tf.data.Dataset.from_tensor_slices(x_train[:0]))
    with pytest.raises(InputValidationError, match="repeated forever"):
        import keras_ae.models.latent_sampler.fitting as fitting

        limit, fitting.MAX_STREAMED_EXAMPLES = fitting.MAX_STREAMED_EXAMPLES, 500
        try:
            fit_latent_sampler(autoencoder, tf.data.Dataset.from_tensor_slices(x_train).repeat())
        finally:
            fitting.MAX_STREAMED_EXAMPLES = limit


def test_bad_arguments_are_refused_before_any_work_and_leave_the_model_unchanged(autoencoder, vae, x_train):
    before = [w.copy() for w in autoencoder.get_weights()]
    cases = [
        (dict(kind="kde"), UnknownNameError, "Unknown latent sampler kind 'kde'"),
        (dict(kind="aggregate"), InputValidationError, "needs|Gaussian posterior"),
        (dict(n_components=0), InputValidationError, "n_components"),
        (dict(covariance="spherical"), UnknownNameError, "covariance"),
        (dict(seed=-1), InputValidationError, "seed"),
        (dict(kind="maf", flow_hidden=()), InputValidationError, "flow_hidden"),
        (dict(kind="maf", learning_rate=0.0), InputValidationError, "learning_rate"),
    ]
    for kwargs, error, message in cases:
        with pytest.raises(error, match=message):
            fit_latent_sampler(autoencoder, x_train, **kwargs)
    with pytest.raises(InputValidationError, match="at least as many codes, got 5 examples"):
        fit_latent_sampler(autoencoder, x_train[:5], n_components=10)
    with pytest.raises(InputValidationError, match=r"shape \(400, 64\)"):
        fit_latent_sampler(autoencoder, x_train.reshape(400, 64))
    bad = x_train[:20].copy()
    bad[3, 0, 0, 0] = np.nan
    with pytest.raises(InputValidationError, match="NaN"):
        fit_latent_sampler(autoencoder, bad)
    for w, b in zip(autoencoder.get_weights(), before):
        np.testing.assert_array_equal(w, b)
    gan = build_conditional_gan(SHAPE, num_classes=3, latent_dim=2, generator_units=(4,), discriminator_units=(4,))
    with pytest.raises(InputValidationError, match="no codes method"):
        fit_latent_sampler(gan, x_train)
    cvae = build_vae(SHAPE, latent_dim=2, hidden=(8,), num_classes=3)
    with pytest.raises(InputValidationError, match="class-conditional"):
        fit_latent_sampler(cvae, x_train)
    flow_vae = build_vae(SHAPE, latent_dim=2, hidden=(8,), posterior_flow="iaf", flow_hidden=(4,))
    with pytest.raises(InputValidationError, match="posterior is a flow"):
        fit_latent_sampler(flow_vae, x_train, kind="aggregate")


def test_sampler_arguments_are_checked(gmm_sampler):
    with pytest.raises(InputValidationError, match="`n`"):
        gmm_sampler.sample(-1)
    with pytest.raises(InputValidationError, match="`seed`"):
        gmm_sampler.sample(2, seed=1.5)
    with pytest.raises(InputValidationError, match=r"`codes` has shape \(2, 4\)"):
        gmm_sampler.log_prob(np.zeros((2, 4)))
    with pytest.raises(InputValidationError, match="positive"):
        GaussianMixtureDensity(1, num_components=2).set_parameters([1.0, 1.0], [[0.0], [1.0]], [[[0.0]], [[1.0]]])
    autoencoder = gmm_sampler.autoencoder
    with pytest.raises(InputValidationError, match="2-vectors but the decoder takes codes of shape"):
        LatentSampler(autoencoder, GaussianMixtureDensity(2, num_components=1))
    with pytest.raises(InputValidationError, match="samples a MaskedAutoregressiveDensity"):
        LatentSampler(autoencoder, GaussianMixtureDensity(3, num_components=1), kind="maf")


def test_the_command_line_sampler_draws_the_python_samples(gmm_sampler):
    from keras_ae.cli_files import sample_images

    np.testing.assert_array_equal(sample_images(gmm_sampler, 4, seed=3), gmm_sampler.sample(4, seed=3))


# -- the flow sampler end to end ------------------------------------------------------------------
@pytest.mark.slow
def test_flow_sampler_round_trips_and_exports_the_same_samples(autoencoder, x_train, tmp_path):
    sampler = fit_latent_sampler(autoencoder, x_train, kind="flow", flow_steps=2, flow_hidden=(16,), epochs=3)
    assert sampler.kind == "maf" and len(sampler.info["nll_history"]) == 3
    loaded = load_model(save_model(sampler, tmp_path / "maf.keras"))
    np.testing.assert_array_equal(loaded.sample(4, seed=5), sampler.sample(4, seed=5))
    path = keras_ae.export(sampler, "digits_maf", base_dir=tmp_path)
    out = tf.saved_model.load(str(path)).signatures["sample"](count=tf.constant(4), seed=tf.constant(5, tf.int64))
    np.testing.assert_allclose(out["images"].numpy(), sampler.sample(4, seed=5), atol=1e-5)


TF_ONLY_CHILD = textwrap.dedent("""
    import json, sys
    for blocked in ("keras", "tf_keras", "keras_ae"):
        sys.modules[blocked] = None  # any import of them now raises ImportError
    import numpy as np
    import tensorflow as tf

    sample = tf.saved_model.load(sys.argv[1]).signatures["sample"]
    images = sample(count=tf.constant(6), seed=tf.constant(2**40 + 3, tf.int64))["images"].numpy()
    print(json.dumps(images.tolist()))
""")


@pytest.mark.slow
def test_a_tensorflow_only_process_draws_the_python_samples(gmm_sampler, tmp_path):
    path = keras_ae.export(gmm_sampler, "digits_gmm", base_dir=tmp_path)
    (tmp_path / "child.py").write_text(TF_ONLY_CHILD)
    proc = subprocess.run([sys.executable, str(tmp_path / "child.py"), str(path)], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    images = np.array(json.loads(proc.stdout.strip().splitlines()[-1]), np.float32)
    np.testing.assert_allclose(images, gmm_sampler.sample(6, seed=2**40 + 3), atol=1e-5)
