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
