"""Disentanglement metrics on representations whose answer is known: the true factors, a rotation
of them (same information, mixed factors), a permuted copy, pure noise."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import special_ortho_group

from keras_ae.errors import InputValidationError, KerasAEError
from keras_ae.evaluation.disentanglement import (beta_vae_score, dci, discretize_codes, factor_vae_score, mig,
                                                 mutual_information_matrix, sap)

# A 4x4 orthogonal matrix whose entries all have the same size: every rotated code holds
# each factor equally, the most entangled rotation there is.
HADAMARD = np.array([[1, 1, 1, 1], [1, -1, 1, -1], [1, 1, -1, -1], [1, -1, -1, 1]]) / 2.0


class LinearFactors:
    """Ground truth whose "images" are a fixed random linear embedding of the factors into 12 pixels."""

    def __init__(self, factor_sizes=(3, 4, 5), pixels=12, seed=0):
        self.factor_sizes = tuple(factor_sizes)
        self.embedding = np.random.default_rng(seed).normal(size=(len(factor_sizes), pixels))

    def sample_factors(self, n, rng):
        return np.stack([rng.integers(size, size=n) for size in self.factor_sizes], axis=1)

    def images_from_factors(self, factors):
        return (factors @ self.embedding).astype(np.float32)

    def true_codes(self, images):
        """The ideal encoder: the factors read back from the images."""
        return images @ np.linalg.pinv(self.embedding)


def _factors(n=2000, sizes=(5, 5, 5, 5), seed=1):
    rng = np.random.default_rng(seed)
    factors = np.stack([rng.integers(s, size=n) for s in sizes], axis=1)
    return factors, (factors - factors.mean(0)) / factors.std(0)


def _split(codes, factors, n_train):
    return codes[:n_train], factors[:n_train], codes[n_train:], factors[n_train:]


# -- mutual information and MIG -------------------------------------------------------------

def test_mutual_information_matches_a_hand_computation():
    codes = np.array([[0.0], [0.0], [1.0], [1.0], [1.0], [1.0]])  # two bins: {0, 0} and {1, 1, 1, 1}
    factor = np.array([0, 0, 0, 1, 1, 1])
    # p(bin, factor): (1, 0) = 2/6, (2, 0) = 1/6, (2, 1) = 3/6; p(bin) = (1/3, 2/3), p(factor) = (1/2, 1/2)
    expected = 2 / 6 * np.log((2 / 6) / (1 / 3 * 1 / 2)) + 1 / 6 * np.log((1 / 6) / (2 / 3 * 1 / 2)) \
        + 3 / 6 * np.log((3 / 6) / (2 / 3 * 1 / 2))
    mi = mutual_information_matrix(codes, factor, bins=2)
    assert mi.shape == (1, 1)
    assert mi[0, 0] == pytest.approx(expected, abs=1e-12)
    assert expected == pytest.approx(np.log(2) / 6 + 0.5 * np.log(1.5))


def test_discretization_uses_equal_width_bins_over_each_dimensions_range():
    # Column 0: width 0.25 from 0; column 1: width 10 from 10 (a value on an edge opens the next bin).
    codes = np.array([[0.0, 10.0], [0.24, 20.0], [0.26, 30.0], [1.0, 50.0]])
    assert discretize_codes(codes, bins=4).tolist() == [[1, 1], [1, 2], [2, 3], [4, 4]]


def test_true_factors_give_mig_near_one_and_rotations_of_them_a_low_mig():
    factors, codes = _factors()
    assert mig(codes, factors)["mig"] > 0.99  # measured 0.997
    assert mig(codes @ HADAMARD, factors)["mig"] < 0.05  # measured 0.007
    rotated = [mig(codes @ special_ortho_group.rvs(4, random_state=s), factors)["mig"] for s in range(10)]
    # Measured over these ten random (Haar) rotations: mean 0.27, range 0.09-0.47; a random
    # rotation may stay close to the axes for one factor, which keeps that factor's gap.
    assert np.mean(rotated) < 0.35 and max(rotated) < 0.6


def test_mig_ignores_column_order_and_an_extra_noise_dimension():
    factors, codes = _factors()
    mixed = codes @ (np.eye(4) + 0.4 * np.random.default_rng(3).normal(size=(4, 4)))  # partly entangled
    base = mig(mixed, factors)
    order = np.array([2, 0, 3, 1])
    permuted = mig(mixed[:, order], factors)
    assert 0.2 < base["mig"] < 0.9
    assert permuted["mig"] == pytest.approx(base["mig"], abs=1e-12)
    np.testing.assert_allclose(permuted["mutual_information"], base["mutual_information"][order])
    noisy = np.concatenate([codes, np.random.default_rng(4).normal(size=(len(codes), 1))], axis=1)
    assert mig(noisy, factors)["mig"] == pytest.approx(mig(codes, factors)["mig"], abs=0.01)


def test_mig_per_factor_finds_the_factor_a_rotation_leaves_alone():
    factors, codes = _factors()
    rotated = codes.copy()
    rotated[:, :2] = codes[:, :2] @ np.array([[1.0, 1.0], [1.0, -1.0]]) / np.sqrt(2)  # mixes factors 0 and 1
    per_factor = mig(rotated, factors)["per_factor"]
    assert per_factor[:2].max() < 0.1 and per_factor[2:].min() > 0.95


def test_whole_float_factors_score_as_integers():
    factors, codes = _factors(n=500)
    assert mig(codes, factors.astype(float))["mig"] == mig(codes, factors)["mig"]


# -- SAP ------------------------------------------------------------------------------------

def test_sap_is_high_for_the_factors_low_for_a_rotation_and_ignores_column_order():
    factors, codes = _factors()
    true = sap(*_split(codes, factors, 1000))
    rotated = sap(*_split(codes @ HADAMARD, factors, 1000))
    # An unrelated dimension scores chance (1/5 balanced accuracy), so perfect codes reach ~0.8.
    assert true["sap"] > 0.7  # measured 0.79
    assert rotated["sap"] < 0.1  # measured 0.009
    np.testing.assert_array_equal(np.argmax(true["score_matrix"], axis=0), np.arange(4))
    order = np.array([3, 1, 0, 2])
    permuted = sap(*_split(codes[:, order], factors, 1000))
    assert permuted["sap"] == true["sap"]
    np.testing.assert_array_equal(permuted["score_matrix"], true["score_matrix"][order])


def test_continuous_sap_scores_linear_fits_and_accepts_real_valued_factors():
    rng = np.random.default_rng(0)
    factors = rng.uniform(size=(1000, 3))
    codes = factors * [2.0, -1.0, 0.5] + 0.01 * rng.normal(size=(1000, 3))
    true = sap(*_split(codes, factors, 600), continuous=True)
    assert true["sap"] > 0.95
    np.testing.assert_allclose(np.diag(true["score_matrix"]), 1.0, atol=0.01)
    rotation = special_ortho_group.rvs(3, random_state=0)
    assert sap(*_split(codes @ rotation, factors, 600), continuous=True)["sap"] < true["sap"] - 0.3
    with pytest.raises(InputValidationError, match="factor 0 has non-integer values"):
        sap(*_split(codes, factors, 600))


# -- DCI ------------------------------------------------------------------------------------

def test_dci_rates_the_factors_disentangled_and_complete_and_a_rotation_not():
    factors, codes = _factors(n=1000, sizes=(4, 4, 4, 4))
    true = dci(*_split(codes, factors, 600), n_estimators=10)
    rotated = dci(*_split(codes @ HADAMARD, factors, 600), n_estimators=10)
    assert true["disentanglement"] > 0.95 and true["completeness"] > 0.95
    assert rotated["disentanglement"] < 0.2 and rotated["completeness"] < 0.2
    np.testing.assert_array_equal(np.argmax(true["importance_matrix"], axis=0), np.arange(4))
    assert true["informativeness"] == 1.0


def test_dci_informativeness_is_kept_by_a_rotation_and_disentanglement_by_a_permutation():
    factors, codes = _factors(n=1000, sizes=(4, 4, 4, 4))
    # A linear classifier sees a rotation as well as the factors: same information.
    true = dci(*_split(codes, factors, 600), model="lasso")
    rotated = dci(*_split(codes @ HADAMARD, factors, 600), model="lasso")
    assert true["informativeness"] > 0.99 and rotated["informativeness"] > 0.99
    assert true["disentanglement"] > 0.95 and rotated["disentanglement"] < 0.1
    mixed = codes @ (np.eye(4) + 0.4 * np.random.default_rng(3).normal(size=(4, 4)))
    order = np.array([1, 3, 0, 2])
    base = dci(*_split(mixed, factors, 600), model="lasso")
    permuted = dci(*_split(mixed[:, order], factors, 600), model="lasso")
    assert 0.2 < base["disentanglement"] < 0.9
    assert permuted["disentanglement"] == pytest.approx(base["disentanglement"], abs=0.01)
    assert permuted["completeness"] == pytest.approx(base["completeness"], abs=0.01)


def test_dci_entropies_follow_the_paper_on_a_given_importance_pattern():
    # Two factors, three codes: code 2 is pure noise, codes 0 and 1 each carry one factor.
    factors, codes = _factors(n=900, sizes=(3, 3))
    codes = np.concatenate([codes, np.random.default_rng(5).normal(size=(900, 1))], axis=1)
    result = dci(*_split(codes, factors, 600), model="gbt", n_estimators=10)
    r = result["importance_matrix"]
    p = r / r.sum(axis=1, keepdims=True)
    h_k = -(p * np.log(np.where(p > 0, p, 1))).sum(axis=1) / np.log(2)
    expected_d = np.sum(r.sum(axis=1) / r.sum() * (1 - h_k))
    assert result["disentanglement"] == pytest.approx(expected_d)
    q = r / r.sum(axis=0, keepdims=True)
    expected_c = np.mean(1 + (q * np.log(np.where(q > 0, q, 1))).sum(axis=0) / np.log(3))
    assert result["completeness"] == pytest.approx(expected_c)
    assert r[2].sum() < 0.05 * r.sum()  # the noise code barely matters


# -- intervention scores --------------------------------------------------------------------

def _noise_codes(seed=0, dims=4):
    rng = np.random.default_rng(seed)
    return lambda images: rng.normal(size=(len(images), dims))


def test_factor_vae_score_is_one_for_the_true_encoder_and_chance_for_noise():
    data = LinearFactors()
    small = dict(n_train=300, n_eval=300, n_variance_estimate=1000, batch_size=32)
    true = factor_vae_score(data, data.true_codes, **small)
    assert true["eval_accuracy"] == 1.0 and true["train_accuracy"] == 1.0 and true["num_active_dims"] == 3
    permuted = factor_vae_score(data, lambda x: data.true_codes(x)[:, [2, 0, 1]], **small)
    assert permuted["eval_accuracy"] == 1.0
    noise = factor_vae_score(data, _noise_codes(), **small)
    assert abs(noise["eval_accuracy"] - 1 / 3) < 0.12  # measured 0.35; 0.29-0.35 over five seeds


def test_factor_vae_score_prunes_collapsed_dimensions():
    data = LinearFactors()

    def with_dead_dims(images):  # a VAE with two collapsed latents: constant codes
        codes = data.true_codes(images)
        return np.concatenate([codes, np.zeros((len(codes), 2))], axis=1)

    result = factor_vae_score(data, with_dead_dims, n_train=100, n_eval=100, n_variance_estimate=500, batch_size=16)
    assert result["num_active_dims"] == 3 and result["eval_accuracy"] == 1.0
    with pytest.warns(UserWarning, match="No code dimension"):
        empty = factor_vae_score(data, lambda x: np.zeros((len(x), 2)), n_train=10, n_eval=10,
                                 n_variance_estimate=50)
    assert empty["eval_accuracy"] == 0.0


def test_factor_vae_score_progress_bar_ends_on_the_returned_score(capsys):
    data = LinearFactors()
    result = factor_vae_score(data, _noise_codes(1), n_train=100, n_eval=100, n_variance_estimate=200,
                              batch_size=8, verbose=1)
    out = capsys.readouterr().out
    assert "200/200" in out and f"eval_accuracy: {result['eval_accuracy']:.4f}" in out


def test_beta_vae_score_is_one_for_the_true_encoder_and_chance_for_noise():
    data = LinearFactors()
    small = dict(n_train=300, n_eval=200, batch_size=16)
    assert beta_vae_score(data, data.true_codes, **small)["eval_accuracy"] == 1.0
    noise = beta_vae_score(data, _noise_codes(), **small)
    assert abs(noise["eval_accuracy"] - 1 / 3) < 0.12  # measured 0.315; 0.315-0.365 over five seeds


def test_intervention_scores_are_reproducible_from_the_seed():
    data = LinearFactors()
    args = dict(n_train=50, n_eval=50, batch_size=8)
    first = beta_vae_score(data, _noise_codes(2), seed=3, **args)
    assert beta_vae_score(data, _noise_codes(2), seed=3, **args) == first


# -- bad input ------------------------------------------------------------------------------

def test_bad_codes_and_factors_are_refused_with_the_problem_named():
    factors, codes = _factors(n=100)
    with_nan = codes.copy()
    with_nan[5, 1] = np.nan
    with pytest.raises(InputValidationError, match="`codes` contains 1 NaN"):
        mig(with_nan, factors)
    with pytest.raises(InputValidationError, match=r"expected codes of shape \(examples, code_dims\)"):
        mig(codes[:, 0], factors)
    with pytest.raises(InputValidationError, match=r"`factors` has shape \(100, 4, 1\)"):
        mig(codes, factors[..., None])
    with pytest.raises(InputValidationError, match="different numbers of examples.*`codes` 100.*`factors` 99"):
        mig(codes, factors[:99])
    with pytest.raises(InputValidationError, match="factor 2 has non-integer values"):
        mig(codes, factors + np.array([0, 0, 0.5, 0]))
    with pytest.raises(InputValidationError, match="`bins` must be an integer >= 2, got 1"):
        mig(codes, factors, bins=1)
    with pytest.raises(InputValidationError, match="Factor 1 of `factors` takes a single value"):
        mig(codes, np.stack([factors[:, 0], np.zeros(100, int)], axis=1))
    with pytest.raises(InputValidationError, match="the codes have 1; pass at least two"):
        mig(codes[:, :1], factors)
    with_inf = codes.copy()
    with_inf[7, 0] = -np.inf
    with pytest.raises(InputValidationError, match="`codes_test` contains 0 NaN and 1 infinite"):
        sap(codes, factors, with_inf, factors)
    with pytest.raises(InputValidationError, match="train and test splits differ in width"):
        dci(codes, factors, codes[:, :3], factors)
    with pytest.raises(KerasAEError, match="Unknown model 'svm'; choose one of: gbt, random_forest, lasso"):
        dci(codes, factors, codes, factors, model="svm")
    with pytest.raises(InputValidationError, match="`n_estimators` must be an integer >= 1"):
        dci(codes, factors, codes, factors, n_estimators=0)


def test_bad_data_sources_and_encoders_are_refused_with_the_problem_named():
    data = LinearFactors()
    with pytest.raises(InputValidationError, match="lacks sample_factors, images_from_factors"):
        factor_vae_score(type("OnlySizes", (), {"factor_sizes": (3, 3)})(), data.true_codes)
    with pytest.raises(InputValidationError, match=r"`data.factor_sizes\[1\]` must be an integer >= 2, got 1"):
        beta_vae_score(LinearFactors(factor_sizes=(3, 1)), data.true_codes)
    with pytest.raises(InputValidationError, match="`representation_fn` must be callable"):
        beta_vae_score(data, "encoder")
    with pytest.raises(InputValidationError, match="returned 1 codes for 32 images"):
        beta_vae_score(data, lambda x: np.zeros((1, 3)), n_train=2, n_eval=2, batch_size=8)
    with pytest.raises(InputValidationError, match=r"returned 3 NaN or infinite code values \(first for image 3 "):
        factor_vae_score(data, lambda x: np.where(np.arange(len(x))[:, None] == 3, np.nan, data.true_codes(x)),
                         n_variance_estimate=10)
    wrong_shape = LinearFactors()
    wrong_shape.sample_factors = lambda n, rng: np.zeros((n, 2), int)
    with pytest.raises(InputValidationError, match=r"returned shape \(50, 2\); expected \(50, 3\)"):
        factor_vae_score(wrong_shape, data.true_codes, n_variance_estimate=50)
    with pytest.raises(InputValidationError, match="`batch_size` must be an integer >= 2"):
        factor_vae_score(data, data.true_codes, batch_size=1)
