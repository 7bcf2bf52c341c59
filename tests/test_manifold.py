"""Manifold tools: Jacobians, tangent planes, contraction ratios, rank correlation, figures."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from keras_ae.errors import InputValidationError
from keras_ae.jacobian import JacobianTooLargeError, finite_difference_jacobian
from keras_ae.manifold import (
    contraction_ratio,
    encoder_jacobian,
    jacobian_norm,
    rank_correlation,
    tangent_plane,
)
from keras_ae.models.contractive import build_contractive_ae
from keras_ae.models.dense import get_dense_encoder
from keras_ae.plotting import save_contraction_curves, save_tangent_planes


def _linear_encoder(w: np.ndarray) -> keras.Model:
    """``f(x) = W^T flatten(x)`` on 8x8 images."""
    encoder = get_dense_encoder((8, 8, 1), hidden=(), code_dim=w.shape[1], code_activation="linear")
    encoder.get_layer("code").set_weights([w.astype(np.float32), np.zeros(w.shape[1], np.float32)])
    return encoder


def test_encoder_jacobian_matches_finite_differences(digits):
    x = digits[1][0][:5]
    model = build_contractive_ae((8, 8, 1), hidden=(16,), code_dim=6, activation="tanh")
    jac = encoder_jacobian(model, x, batch_size=2)  # several batches
    assert jac.shape == (5, 6, 64)
    fd = finite_difference_jacobian(model.encoder, x)
    assert np.linalg.norm(jac - fd) / np.linalg.norm(fd) < 1e-2
    np.testing.assert_allclose(jacobian_norm(model, x), np.linalg.norm(jac, axis=(1, 2)), rtol=1e-4)


def test_tangent_plane_of_a_linear_encoder_is_its_row_space(digits):
    x = digits[1][0][:3]
    w = np.random.default_rng(0).standard_normal((64, 4))
    planes = tangent_plane(_linear_encoder(w), x, k=3)
    assert planes.vectors.shape == (3, 3, 8, 8, 1)
    _, s, vt = np.linalg.svd(w.T, full_matrices=False)
    np.testing.assert_allclose(planes.singular_values, np.tile(s[:3], (3, 1)), rtol=1e-4)
    v = planes.vectors[0].reshape(3, 64)
    np.testing.assert_allclose(v @ v.T, np.eye(3), atol=1e-5)  # orthonormal
    np.testing.assert_allclose(np.abs(v @ vt[:3].T), np.eye(3), atol=1e-4)  # the top singular directions
    with pytest.raises(InputValidationError, match="k=5 exceeds"):
        tangent_plane(_linear_encoder(w), x, k=5)


def test_contraction_ratio_of_linear_maps(digits):
    x = digits[1][0][:50]
    # A scaled identity contracts every direction by the same factor, at every radius.
    ratios = contraction_ratio(_linear_encoder(0.3 * np.eye(64)), x, [0.01, 1.0, 10.0])
    np.testing.assert_allclose(ratios, 0.3, rtol=1e-3)
    # A random direction d on the unit sphere has E||W^T d||^2 = ||W||_F^2 / input_dim.
    w = np.random.default_rng(1).standard_normal((64, 10))
    expected = np.sqrt((w**2).sum() / 64)
    assert contraction_ratio(_linear_encoder(w), x, 0.5, n_directions=20) == pytest.approx(expected, rel=0.05)


def test_contraction_ratio_small_radius_matches_jacobian(digits):
    x = digits[1][0][:40]
    model = build_contractive_ae((8, 8, 1), code_dim=20)
    # For small d, ||f(x + d) - f(x)||^2 ~ ||J d||^2, whose mean over directions is ||J||_F^2 / input_dim.
    expected = np.sqrt(np.mean(jacobian_norm(model, x) ** 2) / 64)
    assert contraction_ratio(model, x, 1e-2, n_directions=32) == pytest.approx(expected, rel=0.05)
    with pytest.raises(InputValidationError, match="radius"):
        contraction_ratio(model, x, [0.1, -1.0])


def test_rank_correlation():
    rng = np.random.default_rng(0)
    t = rng.random(300)
    angle = 0.7
    rotation = np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]])
    codes = np.c_[np.exp(3 * t), rng.random(300) * 0.01] @ rotation
    assert rank_correlation(codes, t) > 0.99  # monotone in t along a rotated direction
    assert rank_correlation(rng.random((300, 2)), t) < 0.2
    with pytest.raises(InputValidationError, match="rows"):
        rank_correlation(codes[:10], t)


def test_memory_guard_and_figures(tmp_path, digits):
    x = digits[1][0][:4]
    model = build_contractive_ae((8, 8, 1), code_dim=12)
    with pytest.raises(JacobianTooLargeError, match=r"batch 4 x code 12 x input 64.*stochastic"):
        encoder_jacobian(model, x, memory_limit=1000)
    planes = tangent_plane(model, x, k=3)
    path = save_tangent_planes(x, planes, tmp_path / "tangents.png", n=3, title="tangents")
    assert path.stat().st_size > 2000
    path = save_contraction_curves([0.1, 1.0], {"a": [0.5, 0.4], "b": [0.2, 0.3]}, tmp_path / "curves.png")
    assert path.stat().st_size > 2000
