"""``FeatureStatistics``: the streaming accumulator behind :class:`~keras_ae.evaluation.sample_quality.SampleQuality`.

Running feature moments (mean and covariance, Chan et al.'s merge), the histogram of
predicted classes and a reservoir sample of features and probabilities, updated batch by
batch so a ``tf.data.Dataset`` of any length is scored in bounded memory.
"""

from __future__ import annotations

import numpy as np

from keras_ae.errors import InputValidationError
from keras_ae.validation import check_int


class FeatureStatistics:
    """What the metrics need from one image set, accumulated batch by batch.

    Running mean and covariance of the features (merged per batch with Chan et al.'s
    update, stable in float64) for the Frechet distance; the histogram of predicted
    classes for mode coverage; and a uniform reservoir sample (Vitter's algorithm R) of
    features and probabilities for the kernel distance and the classifier score. While
    fewer than ``reservoir_size`` examples were seen, the reservoir holds all of them in
    order, so every metric equals the one computed from the full arrays.

    Args:
        reservoir_size: Feature vectors kept for KID and the classifier score
            (``None``: all of them).
        seed: Seed of the reservoir's replacement choices.

    Example:
        >>> stats = FeatureStatistics(reservoir_size=3)
        >>> rng = np.random.default_rng(0)
        >>> a, b = rng.normal(size=(5, 2)), rng.normal(size=(4, 2))
        >>> stats.update(a); stats.update(b)
        >>> expected = np.cov(np.concatenate([a, b]), rowvar=False)
        >>> stats.count, stats.features.shape, np.allclose(stats.covariance, expected)
        (9, (3, 2), True)
    """

    def __init__(self, reservoir_size: int | None = 10_000, seed: int = 0):
        self.reservoir_size = (None if reservoir_size is None
                               else check_int(reservoir_size, "reservoir_size", minimum=2))
        self.count = 0
        self.mean: np.ndarray | None = None
        self._m2: np.ndarray | None = None  # sum of squared deviations from the mean (d, d)
        self.class_counts: np.ndarray | None = None
        self._kept_features: list[np.ndarray] = []
        self._kept_probs: list[np.ndarray] = []
        self._reservoir: np.ndarray | None = None
        self._reservoir_probs: np.ndarray | None = None
        self._rng = np.random.default_rng(seed)

    @classmethod
    def from_arrays(cls, features: np.ndarray, probabilities: np.ndarray | None = None) -> "FeatureStatistics":
        """Exact statistics of in-memory features (all kept; NumPy's mean and covariance).

        Example:
            >>> FeatureStatistics.from_arrays(np.eye(3)).count
            3
        """
        stats = cls(reservoir_size=None)
        features = np.asarray(features, np.float64)
        stats.count = len(features)
        stats.mean = features.mean(0)
        stats._m2 = np.atleast_2d(np.cov(features, rowvar=False)) * (len(features) - 1) if len(features) > 1 else None
        stats._kept_features = [features]
        if probabilities is not None:
            stats._kept_probs = [np.asarray(probabilities)]
            stats.class_counts = np.bincount(np.asarray(probabilities).argmax(1),
                                             minlength=probabilities.shape[1]).astype(np.float64)
        return stats

    def update(self, features: np.ndarray, probabilities: np.ndarray | None = None) -> None:
        """Adds one batch of features ``(m, d)`` (and its class probabilities ``(m, classes)``)."""
        f = np.asarray(features, np.float64).reshape(len(features), -1)
        m = len(f)
        if m == 0:
            return
        batch_mean = f.mean(0)
        centred = f - batch_mean
        batch_m2 = centred.T @ centred
        if self.count == 0:
            self.mean, self._m2 = batch_mean, batch_m2
        else:  # Chan, Golub & LeVeque: merge two sets' centred moments without cancellation
            n = self.count + m
            delta = batch_mean - self.mean
            self.mean = self.mean + delta * (m / n)
            self._m2 = self._m2 + batch_m2 + np.outer(delta, delta) * (self.count * m / n)
        if probabilities is not None:
            probabilities = np.asarray(probabilities)
            counts = np.bincount(probabilities.argmax(1), minlength=probabilities.shape[1]).astype(np.float64)
            self.class_counts = counts if self.class_counts is None else self.class_counts + counts
        self._keep(f.astype(np.float32) if self.reservoir_size is not None else f, probabilities)
        self.count += m

    def _keep(self, f: np.ndarray, probs: np.ndarray | None) -> None:
        size = self.reservoir_size
        seen = self.count
        if size is None or seen + len(f) <= size:
            self._kept_features.append(f)
            if probs is not None:
                self._kept_probs.append(probs)
            return
        if self._reservoir is None:  # the reservoir fills up now: switch to replacement
            fill = size - seen
            self._reservoir = np.concatenate([*self._kept_features, f[:fill]])
            if probs is not None:
                self._reservoir_probs = np.concatenate([*self._kept_probs, probs[:fill]])
            self._kept_features, self._kept_probs = [], []
            f, probs, seen = f[fill:], (None if probs is None else probs[fill:]), seen + fill
        # Algorithm R: the i-th example (0-based) replaces a random slot with probability size / (i + 1).
        slots = self._rng.integers(0, seen + 1 + np.arange(len(f)))
        for i in np.flatnonzero(slots < size):
            self._reservoir[slots[i]] = f[i]
            if probs is not None:
                self._reservoir_probs[slots[i]] = probs[i]

    @property
    def features(self) -> np.ndarray:
        """The kept feature vectors: all of them, or the reservoir sample."""
        if self._reservoir is not None:
            return self._reservoir.astype(np.float64)
        if not self._kept_features:
            return np.zeros((0, 0 if self.mean is None else len(self.mean)))
        return np.concatenate(self._kept_features).astype(np.float64)

    @property
    def probabilities(self) -> np.ndarray | None:
        """Class probabilities of the kept examples (``None`` without a classifier head)."""
        if self._reservoir_probs is not None:
            return self._reservoir_probs
        return np.concatenate(self._kept_probs) if self._kept_probs else None

    @property
    def covariance(self) -> np.ndarray:
        """Unbiased covariance ``(d, d)`` of all features seen (as ``np.cov``)."""
        if self.count < 2:
            raise InputValidationError("The Frechet distance needs at least 2 feature vectors per set.")
        return self._m2 / (self.count - 1)
