"""Sample-quality metrics: closed forms and hand computations, the cached dataset classifier,
the real-data floors, and clear errors (no silent download of Inception weights)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

from keras_ae.errors import InputValidationError
from keras_ae.evaluation.feature_extractors import WeightsNotAvailableError, dataset_classifier, inception_extractor
from keras_ae.evaluation.sample_quality import (
    SampleQuality,
    classifier_score,
    frechet_distance,
    frechet_distance_from_moments,
    kernel_distance,
    mmd2_unbiased,
    mode_coverage,
    polynomial_kernel,
)


def test_frechet_distance_closed_forms():
    # Diagonal (commuting) covariances: ||mu1 - mu2||^2 + sum (sqrt(a) - sqrt(b))^2.
    got = frechet_distance_from_moments([0.0, 1.0], np.diag([4.0, 9.0]), [3.0, 1.0], np.diag([1.0, 1.0]))
    assert got == pytest.approx(9.0 + (2 - 1) ** 2 + (3 - 1) ** 2)
    # Non-commuting covariances: compare with the textbook formula through scipy's sqrtm.
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(3, 3)), rng.normal(size=(3, 3))
    s1, s2 = a @ a.T + 0.1 * np.eye(3), b @ b.T + 0.1 * np.eye(3)
    mu1, mu2 = rng.normal(size=3), rng.normal(size=3)
    textbook = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * scipy.linalg.sqrtm(s1 @ s2).real)
    assert frechet_distance_from_moments(mu1, s1, mu2, s2) == pytest.approx(textbook, rel=1e-8)
    assert frechet_distance_from_moments(mu1, s1, mu1, s1) == pytest.approx(0.0, abs=1e-9)


def test_frechet_distance_of_one_dimensional_samples():
    rng = np.random.default_rng(1)
    a, b = rng.normal(1.0, 2.0, size=(400, 1)), rng.normal(-1.0, 0.5, size=(300, 1))
    expected = (a.mean() - b.mean()) ** 2 + (a.std(ddof=1) - b.std(ddof=1)) ** 2
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-9)
    with pytest.raises(InputValidationError, match="Feature sizes differ"):
        frechet_distance(a, np.zeros((5, 2)))
    with pytest.raises(InputValidationError, match="2-D"):
        frechet_distance(a[:, 0], b[:, 0])


def test_unbiased_mmd_matches_a_hand_computation():
    a = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    b = np.array([[2.0, 0.0], [0.0, -1.0]])
    k = lambda x, y: (np.dot(x, y) / 2 + 1) ** 3  # noqa: E731
    kaa = sum(k(a[i], a[j]) for i in range(3) for j in range(3) if i != j) / (3 * 2)
    kbb = sum(k(b[i], b[j]) for i in range(2) for j in range(2) if i != j) / (2 * 1)
    kab = sum(k(x, y) for x in a for y in b) / 6
    assert mmd2_unbiased(a, b) == pytest.approx(kaa + kbb - 2 * kab)
    assert polynomial_kernel(a, b)[2, 0] == pytest.approx(k(a[2], b[0]))
    # A subset holding every example is the plain unbiased estimate (order does not matter).
    c = np.array([[2.0, 0.0], [0.0, -1.0], [0.5, 0.5]])
    assert kernel_distance(a, c, num_subsets=3, subset_size=3) == pytest.approx((mmd2_unbiased(a, c), 0.0))


def test_kernel_distance_is_near_zero_for_one_distribution_and_grows_with_a_shift():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(600, 8)), rng.normal(size=(600, 8))
    same, same_std = kernel_distance(x, y, num_subsets=20, subset_size=300)
    shifted, _ = kernel_distance(x, y + 0.5, num_subsets=20, subset_size=300)
    assert abs(same) < 3 * same_std + 1e-3
    assert shifted > 20 * max(abs(same), same_std)


def test_classifier_score_and_mode_coverage_by_hand():
    onehot = np.eye(4)[[0, 1, 2, 3] * 5]
    assert classifier_score(onehot, splits=1)[0] == pytest.approx(4.0)  # confident and balanced
    assert classifier_score(np.full((20, 4), 0.25), splits=1)[0] == pytest.approx(1.0)  # uninformative
    p = np.array([[0.9, 0.1], [0.2, 0.8]])
    marginal = p.mean(0)
    kl = (p * np.log(p / marginal)).sum(1).mean()
    assert classifier_score(p, splits=1)[0] == pytest.approx(np.exp(kl))
    cov = mode_coverage(np.eye(3)[[0, 0, 0, 1]])
    assert cov["fractions"] == [0.75, 0.25, 0.0]
    assert cov["entropy"] == pytest.approx(-(0.75 * np.log(0.75) + 0.25 * np.log(0.25)))
    assert cov["classes_covered"] == 2 and cov["min_fraction"] == 0.0 and cov["max_fraction"] == 0.75
    assert mode_coverage(onehot)["normalized_entropy"] == pytest.approx(1.0)
    with pytest.raises(InputValidationError, match="summing to 1"):
        classifier_score(np.ones((3, 2)))


@pytest.mark.slow
def test_dataset_classifier_is_cached_by_data(tmp_path, digits):
    (x, y), (xt, yt) = digits
    first = dataset_classifier(x, y, dataset="digits", x_test=xt, y_test=yt, epochs=4, batch_size=32,
                               cache_dir=tmp_path, verbose=0)
    assert not first.info["from_cache"] and first.info["test_accuracy"] > 0.85
    again = dataset_classifier(x, y, dataset="digits", epochs=4, batch_size=32, cache_dir=tmp_path, verbose=0)
    assert again.info["from_cache"] and again.info["cache_file"] == first.info["cache_file"]
    assert again.info["test_accuracy"] == first.info["test_accuracy"]
    f1, p1 = first.predict(xt[:50])
    f2, p2 = again.predict(xt[:50])
    np.testing.assert_allclose(f1, f2, rtol=1e-5, atol=1e-6)
    assert f1.shape == (50, 128) and p1.shape == (50, 10)
    other = dataset_classifier(x[:-1], y[:-1], dataset="digits", epochs=1, cache_dir=tmp_path, verbose=0)
    assert other.info["cache_file"] != first.info["cache_file"]  # other data, other key
    with pytest.raises(InputValidationError, match=r"outside the expected range \[0, 1\]"):
        first.predict(xt * 16)
    with pytest.raises(InputValidationError, match="shape"):
        first.predict(xt[:, :4])

    # Real-vs-real floors next to every number, and the numbers behave.
    quality = SampleQuality(first, xt, x, kid_subsets=10, kid_subset_size=200, verbose=0)
    real = quality.evaluate(xt, verbose=0)
    assert real["frechet_distance"] == pytest.approx(0.0, abs=1e-6)  # the reference against itself
    assert real["frechet_distance_real"] > 0.0 and real["kernel_distance_real"] is not None
    assert real["classifier_score"] == pytest.approx(real["classifier_score_real"])
    noise = quality.evaluate(np.random.default_rng(0).random(xt.shape).astype("float32"), verbose=0)
    assert noise["frechet_distance"] > 10 * real["frechet_distance_real"]
    assert noise["kernel_distance"] > 10 * abs(real["kernel_distance_real"])
    assert real["min_class_fraction"] > 0.05 and sum(real["class_fractions"]) == pytest.approx(1.0)
    assert noise["classifier_score"] < real["classifier_score"]


def test_inception_features_never_download(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))  # an empty ~/.keras/models
    with pytest.raises(WeightsNotAvailableError, match="does not download.*weights_path"):
        inception_extractor()
    with pytest.raises(WeightsNotAvailableError, match="not found"):
        inception_extractor(tmp_path / "missing.h5")
    assert issubclass(WeightsNotAvailableError, FileNotFoundError)


@pytest.mark.slow
def test_inception_features_from_a_weights_file(tmp_path):
    import keras

    net = keras.applications.InceptionV3(include_top=False, weights=None, pooling="avg", input_shape=(75, 75, 3))
    path = tmp_path / "inception.weights.h5"
    net.save_weights(path)
    extractor = inception_extractor(path, image_size=75)
    images = np.random.default_rng(0).random((3, 28, 28, 1)).astype("float32")
    features, probs = extractor.predict(images)
    assert features.shape == (3, 2048) and probs is None
    expected = net(extractor.preprocess(images), training=False).numpy()
    np.testing.assert_allclose(features, expected, rtol=1e-4, atol=1e-5)
