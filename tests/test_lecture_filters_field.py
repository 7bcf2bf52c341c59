"""Lecture claims as numbers: filter smoothness (DAE filters vs noise) and the DAE vector field."""

from __future__ import annotations

import numpy as np
import pytest

from keras_ae.data.curves import (circle, circle_projection, nearest_on_curve, spiral, spiral_points,
                                  spiral_projection)
from keras_ae.errors import InputValidationError
from keras_ae.evaluation.denoising_field import denoising_field, field_summary
from keras_ae.evaluation.filters import data_mask, filter_autocorrelation, filter_smoothness


def _blob(h: int = 28, w: int = 28, cy: float = 12, cx: float = 15, s: float = 3.0) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    return np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s ** 2))


def _stroke(h: int = 28, w: int = 28) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    return np.exp(-((yy - 0.8 * xx - 3) ** 2) / 4.0)  # a smooth oblique line


def test_smooth_blob_and_stroke_score_higher_than_white_noise():
    rng = np.random.default_rng(0)
    noise = rng.standard_normal((784, 50))
    smooth = np.stack([_blob().ravel(), _stroke().ravel(), -_blob(cy=20, cx=6, s=2).ravel()], axis=1)
    noise_scores = filter_autocorrelation(noise, (28, 28))
    smooth_scores = filter_autocorrelation(smooth, (28, 28))
    assert np.all(smooth_scores > 0.7)
    assert abs(noise_scores.mean()) < 0.05
    assert smooth_scores.min() > noise_scores.max()
    assert filter_smoothness(smooth, (28, 28)) > filter_smoothness(noise, (28, 28)) + 0.7


def test_smoothness_rises_monotonically_as_noise_is_smoothed_away():
    """Blending a blob into white noise: more blob, higher score (the measure orders what the eye sees)."""
    rng = np.random.default_rng(1)
    noise, blob = rng.standard_normal(784), _blob().ravel()
    blob = blob / blob.std()
    scores = [filter_smoothness(((1 - a) * noise + a * blob)[:, None], (28, 28)) for a in (0.0, 0.3, 0.6, 1.0)]
    assert np.all(np.diff(scores) > 0), scores


def test_checkerboard_scale_and_sign_invariance_and_constant_filter():
    yy, xx = np.mgrid[:8, :8]
    checker = ((yy + xx) % 2 * 2 - 1.0).ravel()
    blob = _blob(8, 8, 4, 4, 1.5).ravel()
    scores = filter_autocorrelation(np.stack([checker, blob, -5 * blob, np.ones(64)], axis=1), (8, 8))
    assert scores[0] == pytest.approx(-1.0)
    assert scores[1] == pytest.approx(scores[2])  # scale and sign do not matter
    assert np.isnan(scores[3])  # constant: undefined, ignored by the mean
    assert filter_smoothness(np.stack([blob, np.ones(64)], axis=1), (8, 8)) == pytest.approx(scores[1])


def test_mask_ignores_pixels_outside_it():
    """Random weights outside the mask (MNIST's never-inked border) do not change the score."""
    rng = np.random.default_rng(2)
    mask = np.zeros((28, 28), bool)
    mask[4:24, 4:24] = True
    f = _blob(cy=14, cx=14).copy()
    g = f.copy()
    g[~mask] = rng.standard_normal((~mask).sum())
    with_mask = filter_autocorrelation(np.stack([f.ravel(), g.ravel()], 1), (28, 28), mask)
    assert with_mask[0] == pytest.approx(with_mask[1])
    assert filter_autocorrelation(g.ravel()[:, None], (28, 28))[0] < with_mask[1]
    x = np.zeros((10, 28, 28, 1), np.float32)
    x[:, 5:20, 5:20] = 1.0
    assert data_mask(x).sum() == 225


def test_filter_measure_refuses_a_wrong_kernel():
    with pytest.raises(InputValidationError, match="kernel"):
        filter_autocorrelation(np.zeros((100, 3)), (28, 28))
    with pytest.raises(InputValidationError, match="mask"):
        filter_autocorrelation(np.ones((4, 1)), (2, 2), mask=np.zeros((2, 2), bool))


@pytest.mark.slow
def test_circle_projection_is_the_nearest_point():
    x, _ = circle(200, noise=0.2, seed=3)
    p = circle_projection(x)
    np.testing.assert_allclose(np.linalg.norm(p, axis=1), 1.0, atol=1e-12)
    # Against brute force over a dense sampling of the circle.
    t = np.linspace(0, 2 * np.pi, 100_000, endpoint=False)
    brute = nearest_on_curve(x, np.stack([np.cos(t), np.sin(t)], 1))
    np.testing.assert_allclose(p, brute, atol=1e-4)


def test_spiral_points_and_projection():
    x, t = spiral(300, seed=0)
    np.testing.assert_allclose(x, spiral_points(t), atol=1e-6)
    assert np.abs(spiral_projection(x) - x).max() < 1e-3  # on-curve points project to themselves
    noisy, _ = spiral(300, noise=0.03, seed=1)
    d = np.linalg.norm(spiral_projection(noisy) - noisy, axis=1)
    assert d.mean() < 0.03  # nearer than the noise (only the normal component counts)


def test_perfect_denoiser_on_the_circle_scores_cosine_one():
    """The analytic optimum (radial projection) points exactly to the nearest point and lands on the circle."""
    clean, _ = circle(500, seed=4)
    noisy = clean + 0.1 * np.random.default_rng(5).standard_normal(clean.shape)
    field = denoising_field(circle_projection, noisy, circle_projection)
    np.testing.assert_allclose(field.cosine, 1.0, atol=1e-9)
    np.testing.assert_allclose(field.distance_after, 0.0, atol=1e-6)
    # float32 inputs
    np.testing.assert_allclose(field.distance_before, np.abs(np.linalg.norm(noisy, axis=1) - 1), atol=1e-6)
    summary = field_summary(field, radius=0.2)
    assert summary["median_cosine"] == pytest.approx(1.0)
    assert summary["mean_distance_after"] == pytest.approx(0.0, abs=1e-6)
    assert summary["n"] == (field.distance_before <= 0.2).sum()


def test_half_step_tangential_and_identity_denoisers():
    noisy = np.array([[1.3, 0.0], [0.0, 0.8], [-0.6, -0.6]])
    half = denoising_field(lambda x: x + 0.5 * (circle_projection(x) - x), noisy, circle_projection)
    np.testing.assert_allclose(half.cosine, 1.0)
    np.testing.assert_allclose(half.distance_after, 0.5 * half.distance_before, atol=1e-7)

    def tangential(x):  # moves along the circle's tangent: orthogonal to the nearest-point direction
        return x + 0.1 * np.stack([-x[:, 1], x[:, 0]], 1)

    np.testing.assert_allclose(denoising_field(tangential, noisy, circle_projection).cosine, 0.0, atol=1e-6)
    away = denoising_field(lambda x: 2 * x - circle_projection(x), noisy, circle_projection)
    np.testing.assert_allclose(away.cosine, -1.0, atol=1e-6)
    identity = denoising_field(lambda x: x, noisy, circle_projection)
    assert np.isnan(identity.cosine).all() and np.isnan(field_summary(identity)["median_cosine"])
