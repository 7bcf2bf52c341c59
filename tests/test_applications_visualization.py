"""2-D embeddings: trustworthiness per method, PCA / auto-encoder / VAE panels."""

from __future__ import annotations

import numpy as np
import pytest

from keras_ae.applications.visualization import (
    METHODS,
    compare_embeddings,
    fit_embedding,
    trustworthiness_scores,
)
from keras_ae.errors import InputValidationError, UnknownNameError


@pytest.mark.slow
def test_trustworthiness_ranks_real_embeddings_above_noise(digits):
    (x_train, _), (x_test, y_test) = digits
    codes, scores = compare_embeddings(x_train, x_test, methods=("pca", "autoencoder"), epochs=15)
    assert codes["pca"].shape == codes["autoencoder"].shape == (len(x_test), 2)
    noise = np.random.default_rng(0).normal(size=(len(x_test), 2))
    random_score = trustworthiness_scores(x_test, {"noise": noise})["noise"]
    assert random_score < 0.6
    assert scores["pca"] > random_score + 0.2 and scores["autoencoder"] > random_score + 0.2


@pytest.mark.slow
def test_vae_panel(digits):
    (x_train, _), (x_test, _) = digits
    assert "vae" in METHODS
    codes = fit_embedding("vae", x_train, epochs=2, hidden=(32,))(x_test[:50])
    assert codes.shape == (50, 2) and np.isfinite(codes).all()


def test_errors(digits):
    (x_train, _), (x_test, _) = digits
    with pytest.raises(UnknownNameError, match="embedding method"):
        fit_embedding("tsne", x_train)
    with pytest.raises(InputValidationError, match="rows"):
        trustworthiness_scores(x_test, {"pca": np.zeros((3, 2))})
