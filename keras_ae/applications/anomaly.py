"""Anomaly detection by reconstruction error, and a fair leave-one-class-out benchmark.

An auto-encoder trained on normal data reconstructs normal inputs well and unusual
ones badly, so the per-example squared reconstruction error is an anomaly score. The
alarm threshold is chosen on validation data: a quantile of normal validation scores
(a target false-alarm rate), or, when labelled anomalies are available, the threshold
that maximises F1 on the validation set.

One held-out class says little (the AUC depends on which class it is), so
:func:`leave_one_class_out` holds out each class in turn: every detector is fitted on the
other classes and scores the test split, with the held-out class as the anomalies; it
reports the per-class and the mean ROC AUC. Scores: :func:`negative_elbo_score` for a
VAE; :func:`pca_detector` and :func:`isolation_forest_detector` are the baselines.

:class:`~keras_ae.applications.detectors.AnomalyDetector` is the detector to deploy: the
scikit-learn / PyOD API, several scoring rules, and its calibration saved and exported with it.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Callable, Mapping, Sequence

import keras
import numpy as np

from keras_ae.errors import InputValidationError
from keras_ae.evaluation.reconstruction import reconstruction_error

if TYPE_CHECKING:
    from keras_ae.models.vae import VAE


def _binary_labels(y, n: int, name: str = "y") -> np.ndarray:
    y = np.asarray(y).reshape(-1)
    if len(y) != n:
        raise InputValidationError(f"`{name}` has {len(y)} labels for {n} examples.")
    if not np.isin(y, (0, 1)).all():
        raise InputValidationError(f"`{name}` must hold 0 (normal) and 1 (anomaly) labels.")
    return y.astype(bool)


class ReconstructionAnomalyDetector:
    """Flags inputs whose reconstruction error exceeds a threshold chosen on validation data.

    A light detector for benchmarks, with an F1-maximising threshold when labels are given; its
    threshold lives in Python only (:class:`~keras_ae.applications.detectors.AnomalyDetector`
    saves and exports its calibration with the model).

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
            >>> detector = ReconstructionAnomalyDetector(build_dense_ae((8, 8, 1), hidden=(16,), code_dim=4),
            ...                                          false_positive_rate=0.05)
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
            >>> detector = ReconstructionAnomalyDetector(build_dense_ae((8, 8, 1), hidden=(16,), code_dim=4))
            >>> detector = detector.fit_threshold(x_digits)
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
            :func:`threshold_report`'s dict.

        Example:
            >>> detector = ReconstructionAnomalyDetector(build_dense_ae((8, 8, 1), hidden=(16,), code_dim=4))
            >>> detector = detector.fit_threshold(x_digits)
            >>> x_test = np.concatenate([x_digits_test, 1 - x_digits_test])
            >>> sorted(detector.evaluate(x_test, np.repeat([0, 1], 64)))
            ['average_precision', 'f1', 'false_positive_rate', 'precision', 'recall', 'roc_auc', 'threshold']
        """
        self._check_fitted()
        return threshold_report(self.score_samples(x), y, self.threshold_)


def threshold_report(scores: np.ndarray, y: np.ndarray | Sequence[int], threshold: float) -> dict[str, float]:
    """ROC AUC and average precision of anomaly scores, and precision / recall / F1 / false-alarm
    rate of the flags ``score > threshold`` (the ``evaluate`` of every detector).

    Args:
        scores: Anomaly scores ``(n,)``, higher = more anomalous.
        y: 0/1 labels ``(n,)`` (1 = anomaly), both present.
        threshold: The alarm threshold.

    Returns:
        ``{"roc_auc", "average_precision", "precision", "recall", "f1", "false_positive_rate", "threshold"}``.

    Example:
        >>> report = threshold_report(np.array([0.1, 0.2, 0.9, 0.4]), [0, 0, 1, 1], threshold=0.3)
        >>> report["roc_auc"], report["recall"], report["false_positive_rate"]
        (1.0, 1.0, 0.0)
    """
    from sklearn.metrics import average_precision_score, f1_score, precision_score, recall_score, roc_auc_score

    scores = np.asarray(scores)
    y = _binary_labels(y, len(scores))
    if y.all() or not y.any():
        raise InputValidationError("ROC AUC needs both normal (0) and anomalous (1) test examples.")
    flags = scores > threshold
    return {
        "roc_auc": float(roc_auc_score(y, scores)),
        "average_precision": float(average_precision_score(y, scores)),
        "precision": float(precision_score(y, flags, zero_division=0)),
        "recall": float(recall_score(y, flags)),
        "f1": float(f1_score(y, flags)),
        "false_positive_rate": float(flags[~y].mean()),
        "threshold": threshold,
    }


# A detector factory: normal training data in, a score function (higher = stranger) out.
Scorer = Callable[[np.ndarray], np.ndarray]
DetectorFactory = Callable[[np.ndarray], Scorer]


def negative_elbo_score(vae: VAE, x: np.ndarray, num_samples: int = 1, binarizations: int = 1,
                        seed: int = 0) -> np.ndarray:
    """A VAE's anomaly score: the negative ELBO of each example in nats (higher = less likely).

    A Bernoulli VAE is defined on binary images, so grey images are binarized with fixed
    seeds (``binarizations`` draws, averaged: a steadier score than one draw).

    Args:
        vae: A trained :class:`~keras_ae.models.vae.VAE`.
        x: Examples in [0, 1].
        num_samples: Monte Carlo samples of z per example.
        binarizations: Fixed binarizations averaged (Bernoulli likelihood, non-binary ``x``).
        seed: First binarization / sampling seed.

    Returns:
        Float64 array ``(n,)``.

    Example:
        >>> vae = build_vae((8, 8, 1), latent_dim=2, hidden=(16,))
        >>> negative_elbo_score(vae, x_digits_test, binarizations=2).shape
        (64,)
    """
    from keras_ae.data import binarize

    x = np.asarray(x, np.float32)
    if vae.likelihood != "bernoulli" or np.all((x == 0) | (x == 1)):
        return -vae.elbo(x, num_samples=num_samples, seed=seed)
    return np.mean([-vae.elbo(binarize(x, seed=seed + b), num_samples=num_samples, seed=seed + b)
                    for b in range(binarizations)], axis=0)


def pca_detector(code_dim: int) -> DetectorFactory:
    """Baseline: PCA reconstruction error with ``code_dim`` components.

    Args:
        code_dim: Number of principal components kept, from 1 to the number of pixels per example.

    Returns:
        A factory ``fit(x_normal) -> score(x)``: it fits the PCA on the normal examples and returns
        a function giving each example's sum of squared reconstruction errors, float array ``(n,)``.

    Example:
        >>> score = pca_detector(8)(x_digits)
        >>> score(x_digits_test).shape
        (64,)
    """
    from keras_ae.models.pca import fit_pca

    def fit(x_normal: np.ndarray) -> Scorer:
        return ReconstructionAnomalyDetector(fit_pca(x_normal, code_dim)).score_samples

    return fit


def isolation_forest_detector(n_estimators: int = 200, random_state: int = 0) -> DetectorFactory:
    """Baseline: scikit-learn's ``IsolationForest`` on flattened pixels (score = ``-score_samples``).

    Args:
        n_estimators: Number of isolation trees.
        random_state: Seed of the forest (subsampling and splits).

    Returns:
        A factory ``fit(x_normal) -> score(x)``: it fits the forest on the flattened normal examples
        and returns a function giving each example's anomaly score, float array ``(n,)`` (higher = stranger).

    Example:
        >>> score = isolation_forest_detector(n_estimators=10)(x_digits)
        >>> score(x_digits_test).shape
        (64,)
    """
    from sklearn.ensemble import IsolationForest

    def fit(x_normal: np.ndarray) -> Scorer:
        forest = IsolationForest(n_estimators=n_estimators, random_state=random_state)
        forest.fit(np.reshape(x_normal, (len(x_normal), -1)))
        # sklearn's score_samples is higher for normal points; negate so higher = stranger.
        return lambda x: -forest.score_samples(np.reshape(x, (len(x), -1)))

    return fit


def leave_one_class_out(detectors: Mapping[str, DetectorFactory], x_train: np.ndarray, y_train: np.ndarray,
                        x_test: np.ndarray, y_test: np.ndarray, classes: Sequence[int] | None = None,
                        verbose: int = 1) -> dict:
    """Holds out each class in turn: fit on the other classes, score the test split, ROC AUC per class.

    Args:
        detectors: Name -> factory ``fit(x_normal) -> score(x)`` (higher score = more anomalous).
        x_train: Training inputs (all classes; the held-out class is removed here).
        y_train: Training labels.
        x_test: Test inputs (all classes).
        y_test: Test labels; the held-out class is the anomaly class.
        classes: Classes to hold out (default: every class in ``y_test``).
        verbose: Print one line per held-out class.

    Returns:
        ``{"classes": [...], "auc": {name: [per-class AUC]}, "mean_auc": {name: mean},
        "seconds": {name: total fit + score time}}``.

    Example:
        >>> result = leave_one_class_out({"pca": pca_detector(4)}, x_digits, y_digits, x_digits_test,
        ...                              y_digits_test, classes=[0, 1], verbose=0)
        >>> result["classes"], len(result["auc"]["pca"]), 0 <= result["mean_auc"]["pca"] <= 1
        ([0, 1], 2, True)
    """
    from sklearn.metrics import roc_auc_score

    y_train, y_test = np.asarray(y_train).reshape(-1), np.asarray(y_test).reshape(-1)
    classes = [int(c) for c in (np.unique(y_test) if classes is None else classes)]
    auc: dict[str, list[float]] = {name: [] for name in detectors}
    seconds = dict.fromkeys(detectors, 0.0)
    for c in classes:
        is_anomaly = y_test == c
        if is_anomaly.all() or not is_anomaly.any():
            raise InputValidationError(f"Class {c} must be present in y_test next to other classes.")
        normal = x_train[y_train != c]
        for name, factory in detectors.items():
            start = time.perf_counter()
            scores = factory(normal)(x_test)
            seconds[name] += time.perf_counter() - start
            auc[name].append(float(roc_auc_score(is_anomaly, scores)))
        if verbose:
            print(f"held-out class {c}: " + ", ".join(f"{n} {a[-1]:.3f}" for n, a in auc.items()), flush=True)
    return {"classes": classes, "auc": auc, "mean_auc": {n: float(np.mean(a)) for n, a in auc.items()},
            "seconds": seconds}
