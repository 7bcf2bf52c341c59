"""Reconstruction-error anomaly detection: thresholds on validation data, ROC AUC."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from keras_ae.applications.anomaly import ReconstructionAnomalyDetector
from keras_ae.errors import InputValidationError
from keras_ae.models.pca import fit_pca


@pytest.fixture(scope="module")
def zeros_vs_rest(digits):
    """PCA (a linear auto-encoder) fitted on the digit 0 only; other digits are anomalies."""
    (x_train, y_train), (x_test, y_test) = digits
    normal = x_train[y_train == 0]
    model = fit_pca(normal[:100], 8)
    return model, normal[100:], x_test, (y_test != 0).astype(int)


def test_unlabelled_threshold_hits_the_false_alarm_rate(zeros_vs_rest):
    model, x_val, x_test, is_anomaly = zeros_vs_rest
    detector = ReconstructionAnomalyDetector(model, false_positive_rate=0.1).fit_threshold(x_val)
    scores = detector.score_samples(x_val)
    assert np.mean(scores > detector.threshold_) == pytest.approx(0.1, abs=0.05)
    result = detector.evaluate(x_test, is_anomaly)
    # Zeros are reconstructed from the zero subspace far better than other digits.
    assert result["roc_auc"] > 0.95
    assert result["recall"] > 0.8
    assert result["false_positive_rate"] < 0.3


def test_labelled_threshold_maximises_f1(zeros_vs_rest):
    model, _, x_test, is_anomaly = zeros_vs_rest
    half = len(x_test) // 2
    detector = ReconstructionAnomalyDetector(model).fit_threshold(x_test[:half], is_anomaly[:half])
    scores = detector.score_samples(x_test[:half])
    truth = is_anomaly[:half].astype(bool)

    def f1(t):
        flags = scores > t
        tp = np.sum(flags & truth)
        return 2 * tp / (flags.sum() + truth.sum())

    best = max(f1(t) for t in np.unique(scores))  # brute force over every candidate threshold
    assert f1(detector.threshold_) == pytest.approx(best)
    assert np.array_equal(detector.predict(x_test[:half]), scores > detector.threshold_)


def test_errors(zeros_vs_rest):
    model, x_val, x_test, is_anomaly = zeros_vs_rest
    detector = ReconstructionAnomalyDetector(model)
    with pytest.raises(NotFittedError):
        detector.predict(x_test)
    with pytest.raises(InputValidationError, match="false_positive_rate"):
        ReconstructionAnomalyDetector(model, false_positive_rate=1.5)
    with pytest.raises(InputValidationError, match="both normal"):
        detector.fit_threshold(x_val, np.zeros(len(x_val)))
    detector.fit_threshold(x_val)
    with pytest.raises(InputValidationError, match="0 \\(normal\\) and 1"):
        detector.evaluate(x_test, np.full(len(x_test), 2))
    with pytest.raises(InputValidationError, match="labels for"):
        detector.evaluate(x_test, is_anomaly[:-1])


# -- leave-one-class-out benchmark ---------------------------------------------------
from keras_ae.applications.anomaly import (isolation_forest_detector, leave_one_class_out,  # noqa: E402
                                           negative_elbo_score, pca_detector)


def _label_data(n_classes=4, per_class=10):
    """Examples whose single feature is their label, so an oracle detector is easy to write."""
    y = np.repeat(np.arange(n_classes), per_class)
    return y[:, None].astype("float32"), y


def test_leave_one_class_out_holds_out_each_class_and_scores_higher_as_anomalous():
    x, y = _label_data()
    seen_in_training = []

    def oracle(x_normal):
        known = np.unique(x_normal[:, 0])
        seen_in_training.append(set(known.tolist()))
        return lambda x_: (~np.isin(x_[:, 0], known)).astype(float)  # 1 = never seen = anomaly

    def inverted(x_normal):
        score = oracle(x_normal)
        return lambda x_: -score(x_)

    result = leave_one_class_out({"oracle": oracle, "inverted": inverted}, x, y, x, y, verbose=0)
    assert result["classes"] == [0, 1, 2, 3]
    assert result["auc"]["oracle"] == [1.0] * 4 and result["mean_auc"]["oracle"] == 1.0
    assert result["mean_auc"]["inverted"] == 0.0  # higher score must mean "anomaly"
    # Each fit saw exactly the other classes (two detectors per held-out class).
    assert seen_in_training[::2] == [{1.0, 2.0, 3.0}, {0.0, 2.0, 3.0}, {0.0, 1.0, 3.0}, {0.0, 1.0, 2.0}]
    assert set(result["seconds"]) == {"oracle", "inverted"}
    with pytest.raises(InputValidationError, match="Class 9"):
        leave_one_class_out({"oracle": oracle}, x, y, x, y, classes=[9], verbose=0)


def test_baseline_detectors_rank_outliers_first():
    rng = np.random.default_rng(0)
    normal = rng.normal(size=(300, 20)).astype("float32")
    outliers = rng.normal(loc=4.0, size=(30, 20)).astype("float32")
    x_test = np.concatenate([normal[:100], outliers])
    truth = np.repeat([0, 1], [100, 30])
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(truth, isolation_forest_detector(n_estimators=50)(normal[100:])(x_test)) > 0.95
    # Normal data on a 3-D subspace: PCA-3 reconstructs it exactly, the outliers not.
    basis = rng.normal(size=(3, 20))
    flat_normal = (rng.normal(size=(300, 3)) @ basis).astype("float32")
    x_test = np.concatenate([flat_normal[:100], outliers])
    assert roc_auc_score(truth, pca_detector(3)(flat_normal[100:])(x_test)) == 1.0


@pytest.mark.slow  # trains a VAE on digits
def test_negative_elbo_score_binarizes_grey_images(digits):
    from keras_ae.data import binarize
    from keras_ae.models.vae import build_vae

    (x_train, _), _ = digits
    vae = build_vae((8, 8, 1), latent_dim=2, hidden=(16,))
    grey = x_train[:20]
    one = negative_elbo_score(vae, grey, binarizations=1, seed=3)
    np.testing.assert_allclose(one, -vae.elbo(binarize(grey, seed=3), seed=3))
    assert negative_elbo_score(vae, grey, binarizations=3).shape == (20,)
    assert np.all(one > 0)  # nats of a discrete likelihood
