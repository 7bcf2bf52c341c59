"""Posterior-collapse diagnostics: active units, KL per dimension, I(x; z), the traversal figure and
the TensorBoard scalars, on VAEs whose answer is known by construction (an encoder that ignores
dimensions, a posterior equal to the prior, separated clusters) and on tiny VAEs trained on digits."""

from __future__ import annotations

import math
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

import keras_ae
from keras_ae.errors import InputValidationError
from keras_ae.evaluation.posterior_collapse import (SUMMARIES_RUN, PosteriorCollapseSummaries, active_units,
                                                    collapse_report, kl_per_dimension, mutual_information,
                                                    posterior_means)
from keras_ae.models.vae import build_vae
from keras_ae.plotting.traversal import plot_latent_traversal

tfd = tfp.distributions


@pytest.fixture(scope="module")
def digits():
    (x_train, y_train), (x_test, y_test) = keras_ae.load_dataset("digits")
    return x_train, y_train, x_test[:200], y_test[:200]


def head(vae) -> keras.layers.Dense:
    """The dense encoder's posterior head: outputs ``[means, pre-softplus stddevs]``."""
    layer = vae.encoder.layers[-1]
    assert isinstance(layer, keras.layers.Dense) and layer.units == 2 * vae.latent_dim
    return layer


def vae_ignoring(dims: list[int], latent_dim: int = 4) -> keras.Model:
    """A VAE whose posterior means of ``dims`` do not depend on x (their head columns are 0)."""
    vae = build_vae((8, 8, 1), latent_dim=latent_dim, hidden=(16,), seed=0)
    kernel, bias = (w.numpy() for w in head(vae).weights)
    kernel[:, :latent_dim] *= 10.0  # the other means vary well above the 0.01 threshold
    kernel[:, dims] = 0.0
    bias[dims] = 0.7  # a constant mean away from 0
    head(vae).set_weights([kernel, bias])
    return vae


def collapsed_vae(latent_dim: int = 3) -> keras.Model:
    """A VAE with q(z|x) = N(0, I) = p(z) for every x: a zero head, stddev softplus(b) + min_scale = 1."""
    vae = build_vae((8, 8, 1), latent_dim=latent_dim, hidden=(16,), seed=0)
    kernel, bias = (np.zeros_like(w.numpy()) for w in head(vae).weights)
    bias[latent_dim:] = np.log(np.expm1(1.0 - vae.min_scale))
    head(vae).set_weights([kernel, bias])
    return vae


class GaussianCodes:
    """A duck-typed VAE whose posterior is N(scale * x, I) in one dimension."""

    latent_dim = 1
    prior = tfd.MultivariateNormalDiag(loc=[0.0], scale_diag=[1.0])

    def __init__(self, scale: float):
        self.scale = scale

    def posterior(self, x, labels=None):
        return tfd.MultivariateNormalDiag(loc=self.scale * np.asarray(x, np.float32), scale_diag=tf.ones_like(x))


# -- KL per dimension ---------------------------------------------------------------------
def test_kl_per_dimension_sums_to_the_models_analytic_kl_and_matches_the_closed_form(digits):
    x = digits[2]
    vae = vae_ignoring([1])
    kl = kl_per_dimension(vae, x, batch_size=64)
    q = vae.posterior(x)
    assert kl["method"] == "analytic" and kl["per_dim"].shape == (4,)
    assert kl["total"] == pytest.approx(float(tf.reduce_mean(tfd.kl_divergence(q, vae.prior))), rel=1e-5)
    m, s = (t.numpy().astype(np.float64) for t in vae.posterior_params(x))
    closed_form = np.mean(0.5 * (m**2 + s**2 - 1.0) - np.log(s), axis=0)  # KL(N(m, s^2) || N(0, 1)) per dimension
    np.testing.assert_allclose(kl["per_dim"], closed_form, rtol=1e-4, atol=1e-6)


def test_kl_per_dimension_of_a_mixture_prior_is_a_seeded_monte_carlo_estimate(digits):
    x = digits[2][:100]
    vae = vae_ignoring([], latent_dim=3)
    mixture = tfd.MixtureSameFamily(tfd.Categorical(logits=[0.0, 0.0]),
                                    tfd.MultivariateNormalDiag(loc=tf.zeros((2, 3)), scale_diag=tf.ones((2, 3))))
    same = build_vae((8, 8, 1), latent_dim=3, hidden=(16,), prior=mixture)  # two copies of N(0, I): p = N(0, I)
    same.set_weights(vae.get_weights())
    estimate = kl_per_dimension(same, x, num_samples=4000, seed=3)
    assert estimate["method"] == "monte_carlo"
    np.testing.assert_allclose(estimate["per_dim"], kl_per_dimension(vae, x)["per_dim"], rtol=0.05, atol=0.02)
    np.testing.assert_array_equal(estimate["per_dim"], kl_per_dimension(same, x, num_samples=4000, seed=3)["per_dim"])


def test_flow_posterior_kl_per_dimension_is_monte_carlo_and_below_the_joint_kl(digits):
    x = digits[2][:64]
    vae = build_vae((8, 8, 1), latent_dim=3, hidden=(16,), posterior_flow="iaf", seed=0)
    kl = kl_per_dimension(vae, x, num_samples=200, seed=0)
    assert kl["method"] == "monte_carlo" and np.all(kl["per_dim"] >= 0)
    # Gaussian-matched marginals: sum_d KL(q_d || p_d) <= KL(q || p) (a factorized prior; the gap is q's
    # total correlation plus each marginal's non-Gaussianity).
    q = vae.posterior(x)
    z = q.sample(2000, seed=tf.constant([5, 0]))
    joint = float(tf.reduce_mean(q.log_prob(z) - vae.prior.log_prob(z)))
    assert kl["total"] <= joint + 0.05
    means = posterior_means(vae, x, num_samples=2000, seed=1)
    np.testing.assert_allclose(means, tf.reduce_mean(z, axis=0), atol=0.1)  # a flow's mean: the mean of draws


# -- active units --------------------------------------------------------------------------
def test_active_units_count_the_dimensions_the_encoder_uses(digits):
    x = digits[2]
    vae = vae_ignoring([1, 3])
    units = active_units(vae, x)
    means = vae.posterior(x).mean().numpy().astype(np.float64)
    np.testing.assert_allclose(units["variances"], np.var(means, axis=0), rtol=1e-5)
    assert units["variances"][[1, 3]].tolist() == [0.0, 0.0]
    assert units["active"].tolist() == [True, False, True, False] and units["count"] == 2
    assert active_units(vae, x, threshold=1e9)["count"] == 0


def test_a_posterior_equal_to_the_prior_has_no_active_units_no_kl_and_no_information(digits):
    x = digits[2]
    report = collapse_report(collapsed_vae(), x)
    assert report["active_units"] == 0 and report["active_dims"] == []
    np.testing.assert_allclose(report["kl_per_dim"], 0.0, atol=1e-6)
    assert report["mutual_information"] == 0.0
    assert report["mi_upper_bound"] == pytest.approx(math.log(len(x)))


# -- mutual information ----------------------------------------------------------------------
def test_mutual_information_is_log_2_for_two_separated_clusters_and_log_n_at_most():
    two = np.repeat([[1.0], [-1.0]], 50, axis=0)
    assert mutual_information(GaussianCodes(20.0), two, num_samples=20) == pytest.approx(math.log(2), abs=1e-3)
    assert mutual_information(GaussianCodes(0.0), two) == 0.0  # q(z|x) = p(z) for every x
    apart = np.arange(30, dtype=np.float32)[:, None]
    mi = mutual_information(GaussianCodes(40.0), apart, num_samples=5)  # every example identifiable
    assert mi <= math.log(30) and mi == pytest.approx(math.log(30), abs=1e-6)
    overlapping = mutual_information(GaussianCodes(1.0), apart / 30, num_samples=50, seed=1)
    assert 0.0 < overlapping < 0.5 * math.log(30)


def test_mutual_information_of_a_vae_lies_in_0_log_n_and_is_reproducible(digits):
    x = digits[2]
    vae = vae_ignoring([1, 3])
    mi = mutual_information(vae, x, seed=2)
    assert 0.0 < mi <= math.log(len(x))
    assert mutual_information(vae, x, seed=2) == mi
    assert mutual_information(vae, x, seed=3, num_samples=40) == pytest.approx(mi, rel=0.05)  # Monte-Carlo noise
    # No mean moves with x, but the standard deviations do: no active unit, yet I(x; z) > 0.
    still = vae_ignoring([0, 1, 2, 3])
    assert active_units(still, x)["count"] == 0 and mutual_information(still, x) > 0.01


# -- a strong KL weight ------------------------------------------------------------------------
@pytest.mark.slow
def test_a_vae_with_a_strong_kl_weight_has_fewer_active_units_than_the_plain_vae(digits, tmp_path):
    x_train, _, x, _ = digits
    reports = {}
    for beta in (1.0, 8.0):
        keras.utils.set_random_seed(0)
        vae = build_vae((8, 8, 1), latent_dim=8, hidden=(64,), beta=beta, dynamic_binarization=True, seed=0)
        vae.compile(optimizer=keras.optimizers.Adam(3e-3))
        vae.fit(x_train, epochs=10, batch_size=64, verbose=0)
        reports[beta] = collapse_report(vae, x)
    plain, strong = reports[1.0], reports[8.0]
    # Measured (seed 0, 10 epochs on the 1,438 training digits): 8 of 8 active units against 0 of 8.
    assert plain["active_units"] >= 4 and strong["active_units"] < plain["active_units"]
    assert strong["kl"] < plain["kl"] and strong["mutual_information"] < plain["mutual_information"]


# -- the traversal figure ---------------------------------------------------------------------
def test_traversal_has_one_row_per_active_dimension_and_decodes_the_swept_codes(digits, tmp_path):
    x = digits[2]
    vae = vae_ignoring([1, 3])
    values = np.linspace(-3, 3, 9)
    path = tmp_path / "traversal.png"
    grid = plot_latent_traversal(vae, x[0], x=x, values=values, path=path)
    assert grid.shape == (2 * 9 - 1, 9 * 9 - 1)  # rows: the 2 active dimensions; 8 x 8 images, 1 pixel apart
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    dims = np.argsort(-active_units(vae, x)["variances"])[:2]  # most variable first
    z = vae.posterior(x[:1]).mean().numpy()
    z[0, dims[1]] = values[4]
    cell = grid[9:17, 4 * 9:4 * 9 + 8]  # row 1, column 4
    np.testing.assert_allclose(cell, vae.decode_mean(z).numpy()[0, ..., 0], atol=1e-6)
    everything = plot_latent_traversal(vae, x[:1], values=[0.0, 1.0])  # no x: every dimension, no file
    assert everything.shape == (4 * 9 - 1, 2 * 9 - 1)


# -- TensorBoard ------------------------------------------------------------------------------
def read_scalars(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    tags: dict[str, list[tuple[int, float]]] = {}
    for path in sorted(run_dir.glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                tensor = tf.make_ndarray(value.tensor)
                if tensor.ndim == 0:
                    tags.setdefault(value.tag, []).append((event.step, float(tensor)))
    return tags


@pytest.mark.slow  # seconds: a round trip, an export or training; the full suite runs it
def test_callback_writes_active_units_kl_and_mutual_information_to_tensorboard(digits, tmp_path):
    x = digits[2][:64]
    vae = vae_ignoring([1])
    callback = PosteriorCollapseSummaries(tmp_path, x, num_samples=4)
    callback.set_model(vae)
    callback.write(0)
    kernel, bias = (w.numpy() for w in head(vae).weights)
    head(vae).set_weights([kernel * 0.5, bias])  # smaller means: less KL than at step 0
    callback.write(1)
    scalars = read_scalars(tmp_path / SUMMARIES_RUN)
    assert {"active_units", "kl", "kl_max_dim", "kl_min_dim", "mutual_information"} <= set(scalars)
    assert [step for step, _ in scalars["active_units"]] == [0, 1]
    final = collapse_report(vae, x, num_samples=4, seed=0)
    assert scalars["active_units"][-1][1] == final["active_units"] == 3
    assert scalars["kl"][-1][1] == pytest.approx(final["kl"], rel=1e-5)
    assert scalars["kl"][0][1] > scalars["kl"][1][1]
    assert scalars["kl_max_dim"][-1][1] == pytest.approx(final["kl_per_dim"].max(), rel=1e-5)
    assert scalars["mutual_information"][-1][1] == pytest.approx(final["mutual_information"], rel=1e-5, abs=1e-6)


@pytest.mark.slow
def test_callback_writes_every_nth_epoch_and_the_last_during_fit(digits, tmp_path):
    x_train, _, x, _ = digits
    vae = build_vae((8, 8, 1), latent_dim=3, hidden=(16,), dynamic_binarization=True, seed=0)
    vae.compile(optimizer="adam")  # no weight averaging: the weights after fit are the last epoch's
    callback = PosteriorCollapseSummaries(tmp_path, x[:64], every=2, num_samples=4)
    vae.fit(x_train[:256], epochs=3, batch_size=64, verbose=0, callbacks=[callback])
    scalars = read_scalars(tmp_path / SUMMARIES_RUN)
    assert [step for step, _ in scalars["mutual_information"]] == [1, 2]
    final = collapse_report(vae, x[:64], num_samples=4, seed=0)
    assert scalars["kl"][-1][1] == pytest.approx(final["kl"], rel=1e-5)


# -- conditional VAEs and bad input -------------------------------------------------------------
@pytest.mark.slow  # seconds: a round trip, an export or training; the full suite runs it
def test_a_conditional_vae_is_diagnosed_given_its_labels(digits):
    _, _, x, y = digits
    cvae = build_vae((8, 8, 1), latent_dim=2, hidden=(16,), num_classes=10, seed=0)
    kl = kl_per_dimension(cvae, x, labels=y)
    expected = float(tf.reduce_mean(tfd.kl_divergence(cvae.posterior(x, labels=y), cvae.prior)))
    assert kl["total"] == pytest.approx(expected, rel=1e-5)
    grid = plot_latent_traversal(cvae, x[0], dims=[1], values=[2.0], labels=int(y[0]), x=x, x_labels=y)
    z = cvae.posterior(x[:1], labels=y[:1]).mean().numpy()
    z[0, 1] = 2.0
    np.testing.assert_allclose(grid, cvae.decode_mean(z, labels=y[:1]).numpy()[0, ..., 0], atol=1e-6)
    with pytest.raises(InputValidationError, match="class-conditional"):
        active_units(cvae, x)
    with pytest.raises(InputValidationError, match="unconditional"):
        active_units(vae_ignoring([]), x, labels=y)


def test_bad_inputs_get_errors_that_name_the_problem(digits):
    x = digits[2]
    vae = vae_ignoring([])
    ae = keras_ae.build_dense_ae((8, 8, 1), hidden=(16,), code_dim=4)
    with pytest.raises(InputValidationError, match="need a VAE.*posterior"):
        collapse_report(ae, x)
    with pytest.raises(InputValidationError, match="decode"):
        plot_latent_traversal(GaussianCodes(1.0), np.zeros((1, 1)))
    for threshold in (-0.1, float("nan"), "0.01"):
        with pytest.raises(InputValidationError, match="threshold"):
            active_units(vae, x, threshold=threshold)
    with pytest.raises(InputValidationError, match="empty"):
        kl_per_dimension(vae, x[:0])
    with pytest.raises(InputValidationError, match="at least 2 examples"):
        active_units(vae, x[:1])
    with pytest.raises(InputValidationError, match="one example"):
        plot_latent_traversal(vae, x[:2])
    with pytest.raises(InputValidationError, match="dims"):
        plot_latent_traversal(vae, x[0], dims=[4])
    with pytest.raises(InputValidationError, match="shape"):
        mutual_information(vae, x.reshape(len(x), -1))
    with pytest.raises(InputValidationError, match="need a VAE"):
        PosteriorCollapseSummaries("unused", x).set_model(ae)
