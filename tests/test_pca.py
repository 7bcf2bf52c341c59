"""PCA as a linear auto-encoder: the eigen-solution, scikit-learn agreement, gradient descent."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from scipy.linalg import subspace_angles
from sklearn.decomposition import PCA

from keras_ae.evaluation import reconstruction_error
from keras_ae.models import build_linear_ae, fit_pca


def _check_error_equals_discarded_eigenvalues(x, m):
    pca = fit_pca(x, m)
    eig = np.asarray(pca.info["eigenvalues"])
    discarded = eig[m:].sum()
    assert pca.info["discarded_variance"] == pytest.approx(discarded)
    error = reconstruction_error(pca, x).mean()  # mean squared error per example
    assert abs(error - discarded) / discarded < 1e-4, (error, discarded)
    return pca


@pytest.mark.slow
def test_pca_error_is_the_sum_of_discarded_eigenvalues_on_digits(digits):
    (x, _), _ = digits
    for m in (2, 10, 30):
        _check_error_equals_discarded_eigenvalues(x, m)


@pytest.mark.slow
def test_pca_error_on_mnist10k(mnist10k_dir):
    from keras_ae.data import load_dataset

    (x, _), _ = load_dataset("mnist", data_dir=mnist10k_dir)
    pca = _check_error_equals_discarded_eigenvalues(x, 30)
    assert pca.encoder.output_shape == (None, 30) and pca.decoder.output_shape == (None, 28, 28, 1)


def test_pca_agrees_with_scikit_learn(digits):
    (x, _), (xt, _) = digits
    flat, flat_t = x.reshape(len(x), -1), xt.reshape(len(xt), -1)
    ours = fit_pca(flat, 10)
    ref = PCA(10).fit(flat)
    w = ours.encoder.get_layer("code").kernel.numpy()  # (64, 10), orthonormal columns
    np.testing.assert_allclose(w.T @ w, np.eye(10), atol=1e-5)
    np.testing.assert_allclose(np.abs(w.T @ ref.components_.T), np.eye(10), atol=1e-4)  # same axes up to sign
    n = len(flat)
    np.testing.assert_allclose(ours.info["explained_variance"], ref.explained_variance_ * (n - 1) / n, rtol=1e-5)
    np.testing.assert_allclose(ours.info["explained_variance_ratio"], ref.explained_variance_ratio_, rtol=1e-5)
    np.testing.assert_allclose(np.abs(ours.encode(flat_t)), np.abs(ref.transform(flat_t)), atol=1e-4)
    np.testing.assert_allclose(ours.predict(flat_t, verbose=0), ref.inverse_transform(ref.transform(flat_t)), atol=1e-4)


@pytest.mark.slow
def test_linear_autoencoder_trained_by_gradient_descent_finds_the_pca_subspace(digits):
    (x, _), _ = digits
    flat = x.reshape(len(x), -1)
    m = 10
    pca = fit_pca(flat, m)
    model = build_linear_ae(64, m)
    epochs, batch = 200, 128
    steps = epochs * int(np.ceil(len(flat) / batch))
    model.compile(optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(0.01, steps)))
    model.fit(flat, epochs=epochs, batch_size=batch, verbose=0)
    error = reconstruction_error(model, flat).mean()
    assert error / pca.info["discarded_variance"] < 1.02
    # Same subspace, not the same basis: the decoder's columns span PCA's top-m eigenvectors.
    learned = model.decoder.get_layer("output").kernel.numpy().T
    angles = np.degrees(subspace_angles(learned, pca.encoder.get_layer("code").kernel.numpy()))
    assert angles.max() < 10.0 and angles.mean() < 4.0, angles


def test_pca_rejects_bad_arguments(digits):
    (x, _), _ = digits
    with pytest.raises(ValueError, match="exceeds the data dimension"):
        fit_pca(x, 65)
    with pytest.raises(ValueError, match="NaN"):
        fit_pca(np.full((5, 3), np.nan), 1)
