"""Anomaly detection by reconstruction error.

An auto-encoder trained on normal data reconstructs normal inputs well and unusual
ones badly, so the per-example squared reconstruction error is an anomaly score. The
alarm threshold is chosen on validation data: a quantile of normal validation scores
(a target false-alarm rate), or, when labelled anomalies are available, the threshold
that maximises F1 on the validation set.
"""

from __future__ import annotations

import keras
import numpy as np

from keras_ae.errors import InputValidationError
from keras_ae.evaluation.reconstruction import reconstruction_error


def _binary_labels(y, n: int, name: str = "y") -> np.ndarray:
    y = np.asarray(y).reshape(-1)
    if len(y) != n:
        raise InputValidationError(f"`{name}` has {len(y)} labels for {n} examples.")
    if not np.isin(y, (0, 1)).all():
        raise InputValidationError(f"`{name}` must hold 0 (normal) and 1 (anomaly) labels.")
    return y.astype(bool)


class ReconstructionAnomalyDetector:
    """Flags inputs whose reconstruction error exceeds a threshold chosen on validation data.

    Args:
        model: A trained keras_ae auto-encoder (anything with ``predict``).
        false_positive_rate: Target fraction of normal validation data flagged, used when
            the validation data carry no labels.

    Attributes:
        threshold_: The alarm threshold (set by :meth:`fit_threshold`).

    Example:
        >>> ae = build_dense_ae((8, 8, 1), hidden=(16,), code_dim=4)  # train it on normal data first
        >>> detector = ReconstructionAnomalyDetector(ae).fit_threshold(x_digits)
        >>> x_test = np.concatenate([x_digits_test, 1 - x_digits_test])  # inverted digits as anomalies
        >>> is_anomaly = np.repeat([0, 1], 64)
        >>> 0 <= detector.evaluate(x_test, is_anomaly)["roc_auc"] <= 1
        True
    """

    def __init__(self, model: keras.Model, false_positive_rate: float = 0.05):
        if not 0.0 < false_positive_rate < 1.0:
            raise InputValidationError(f"false_positive_rate must be in (0, 1), got {false_positive_rate}.")
        self.model = model
        self.false_positive_rate = float(false_positive_rate)

    def score_samples(self, x: np.ndarray) -> np.ndarray:
        """Anomaly scores: per-example sum of squared reconstruction errors (higher = stranger).

        Example:
            >>> detector = ReconstructionAnomalyDetector(build_dense_ae((8, 8, 1), hidden=(16,), code_dim=4))
            >>> detector.score_samples(x_digits_test).shape
            (64,)
        """
        return reconstruction_error(self.model, x)

    def fit_threshold(self, x_val: np.ndarray, y_val: np.ndarray | None = None) -> "ReconstructionAnomalyDetector":
        """Chooses the threshold on validation data.

        Args:
            x_val: Validation inputs (all normal when ``y_val`` is ``None``).
            y_val: Optional 0/1 labels (1 = anomaly): then the F1-maximising threshold.

        Returns:
            ``self``.

        Example:
            >>> detector = ReconstructionAnomalyDetector(build_dense_ae((8, 8, 1), hidden=(16,), code_dim=4), false_positive_rate=0.05)
            >>> detector.fit_threshold(x_digits).threshold_ > 0
            True
        """
        scores = self.score_samples(x_val)
        if y_val is None:
            self.threshold_ = float(np.quantile(scores, 1.0 - self.false_positive_rate))
            return self
        y_val = _binary_labels(y_val, len(scores), "y_val")
        if y_val.all() or not y_val.any():
            raise InputValidationError("y_val needs both normal (0) and anomalous (1) examples to choose a threshold.")
        from sklearn.metrics import precision_recall_curve

        precision, recall, thresholds = precision_recall_curve(y_val, scores)
        f1 = 2 * precision[:-1] * recall[:-1] / np.maximum(precision[:-1] + recall[:-1], 1e-12)
        # predict() flags score > threshold, sklearn's curve flags score >= threshold.
        self.threshold_ = float(np.nextafter(thresholds[np.argmax(f1)], -np.inf))
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "threshold_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError("Call fit_threshold(x_val) before predict() or evaluate().")

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Boolean anomaly flags ``score > threshold_``.

        Example:
            >>> detector = ReconstructionAnomalyDetector(build_dense_ae((8, 8, 1), hidden=(16,), code_dim=4)).fit_threshold(x_digits)
            >>> flags = detector.predict(x_digits)
            >>> flags.dtype, round(float(flags.mean()), 2)  # about false_positive_rate of the validation data
            (dtype('bool'), 0.05)
        """
        self._check_fitted()
        return self.score_samples(x) > self.threshold_

    def evaluate(self, x: np.ndarray, y: np.ndarray) -> dict[str, float]:
        """ROC AUC of the scores and precision / recall / F1 / false-alarm rate at the threshold.

        Args:
            x: Test inputs.
            y: 0/1 labels (1 = anomaly), both present.

        Returns:
            ``{"roc_auc", "precision", "recall", "f1", "false_positive_rate", "threshold"}``.

        Example:
            >>> detector = ReconstructionAnomalyDetector(build_dense_ae((8, 8, 1), hidden=(16,), code_dim=4)).fit_threshold(x_digits)
            >>> x_test = np.concatenate([x_digits_test, 1 - x_digits_test])
            >>> sorted(detector.evaluate(x_test, np.repeat([0, 1], 64)))
            ['f1', 'false_positive_rate', 'precision', 'recall', 'roc_auc', 'threshold']
        """
        self._check_fitted()
        from sklearn.metrics import f1_score, precision_score, recall_score, roc_auc_score

        scores = self.score_samples(x)
        y = _binary_labels(y, len(scores))
        if y.all() or not y.any():
            raise InputValidationError("ROC AUC needs both normal (0) and anomalous (1) test examples.")
        flags = scores > self.threshold_
        return {
            "roc_auc": float(roc_auc_score(y, scores)),
            "precision": float(precision_score(y, flags, zero_division=0)),
            "recall": float(recall_score(y, flags)),
            "f1": float(f1_score(y, flags)),
            "false_positive_rate": float(flags[~y].mean()),
            "threshold": self.threshold_,
        }
