"""Sample quality of any generator (GAN, VAE, PixelCNN): Frechet and kernel distances,
mode coverage and a classifier score, each next to its real-versus-real floor.

All metrics compare *features* of generated and real images:

* **Frechet distance** between Gaussians fitted to the two feature sets (Heusel et al.
  2017): FID with Inception features, the *Frechet classifier distance* (FCD, as in
  TF-GAN) with a classifier trained on the dataset's own labels.
* **Kernel distance** (KID, Binkowski et al. 2018): unbiased MMD^2 with the kernel
  ``(x.y / d + 1)^3``, averaged over random subsets; unbiased, so it can be < 0.
* **Mode coverage**: the histogram of classes the classifier predicts for the samples,
  its entropy, and the smallest / largest class fraction.
* **Classifier score**: ``exp(E_x KL(p(y|x) || p(y)))`` (the Inception score of
  Salimans et al. 2016 with the dataset classifier); from 1 to the number of classes.

A number alone means little, so :class:`SampleQuality` returns each metric together
with the same metric for real data (``*_real``): the training split against the test
split for the distances, the test split itself for coverage and score. A generator is as
good as the data by a metric when it reaches that floor. Offline, keras_ae trains the
feature classifier itself and caches it on disk; Inception features need the user's
copy of the ImageNet weights (keras_ae never downloads them).

Example (MNIST, a trained ``gan``; minutes of training):

```python
(x_train, y_train), (x_test, y_test) = load_dataset("mnist10k")
extractor = dataset_classifier(x_train, y_train, dataset="mnist")
quality = SampleQuality(extractor, x_test, x_train)
quality.evaluate(gan.sample(10_000, unit_range=True))["frechet_distance"]
```

This module holds the metrics and :class:`SampleQuality`; the feature extractors are in
:mod:`keras_ae.evaluation.feature_extractors` and the streaming accumulator in
:mod:`keras_ae.evaluation.feature_statistics` (both re-exported here).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import keras
import numpy as np
import tensorflow as tf

from keras_ae import mmd
from keras_ae.errors import InputValidationError
from keras_ae.evaluation.feature_extractors import FeatureExtractor
from keras_ae.evaluation.feature_statistics import FeatureStatistics
from keras_ae.validation import check_array, check_int

__all__ = [
    "SampleQuality", "classifier_score", "evaluate_samples", "frechet_distance", "frechet_distance_from_moments",
    "frechet_distance_of", "kernel_distance", "mmd2_unbiased", "mode_coverage", "polynomial_kernel",
]


# ---------------------------------------------------------------------------------------
# Pure metrics on features / probabilities
# ---------------------------------------------------------------------------------------


def _features(f: Any, name: str) -> np.ndarray:
    f = check_array(f, name).astype(np.float64)
    if f.ndim != 2:
        raise InputValidationError(f"`{name}` must be a 2-D array of feature vectors (n, d), got shape {f.shape}.")
    return f


def frechet_distance_from_moments(mu1: np.ndarray | Sequence[float], sigma1: np.ndarray | Sequence[Sequence[float]],
                                  mu2: np.ndarray | Sequence[float],
                                  sigma2: np.ndarray | Sequence[Sequence[float]]) -> float:
    """``||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2))``: the Frechet (2-Wasserstein)
    distance between two Gaussians.

    ``Tr((S1 S2)^(1/2))`` is computed as ``Tr((S1^(1/2) S2 S1^(1/2))^(1/2))``, a symmetric
    PSD matrix whose eigenvalues are real, which avoids the complex round-off of
    ``scipy.linalg.sqrtm(S1 @ S2)``.

    Args:
        mu1: Mean ``(d,)`` of the first Gaussian.
        sigma1: Covariance ``(d, d)`` of the first Gaussian.
        mu2: Mean ``(d,)`` of the second Gaussian.
        sigma2: Covariance ``(d, d)`` of the second Gaussian.

    Returns:
        The distance (float, >= 0 up to round-off).

    Example:
        >>> frechet_distance_from_moments([0.0], [[4.0]], [1.0], [[1.0]])  # 1 + (2 - 1)^2
        2.0
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    s1, s2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    vals, vecs = np.linalg.eigh((s1 + s1.T) / 2)
    sqrt_s1 = (vecs * np.sqrt(np.clip(vals, 0.0, None))) @ vecs.T
    middle = sqrt_s1 @ s2 @ sqrt_s1
    tr_sqrt = float(np.sum(np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0.0, None))))
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * tr_sqrt)


def frechet_distance(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to two feature sets ``(n, d)``.

    With Inception pool features this is the FID; with a dataset classifier's features
    the Frechet classifier distance (FCD). Biased upwards for small ``n``: compare
    numbers computed with the same sample sizes.

    Args:
        features_a: ``(m, d)`` features (e.g. of samples), ``m >= 2``.
        features_b: ``(n, d)`` features (e.g. of test images), ``n >= 2``, the same ``d``.

    Returns:
        The distance between the two fitted Gaussians (float, >= 0 up to round-off; squared feature units).

    Raises:
        InputValidationError: sets that are not 2-D, hold NaN or infinite values, differ in ``d``, or
            have fewer than 2 rows.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> round(frechet_distance(rng.normal(size=(5000, 2)), rng.normal(size=(5000, 2)) + [3, 0]))  # 3^2
        9
    """
    a, b = _features(features_a, "features_a"), _features(features_b, "features_b")
    if a.shape[1] != b.shape[1]:
        raise InputValidationError(f"Feature sizes differ: {a.shape[1]} vs {b.shape[1]}.")
    if len(a) < 2 or len(b) < 2:
        raise InputValidationError("The Frechet distance needs at least 2 feature vectors per set.")
    return frechet_distance_from_moments(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))


def polynomial_kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """KID's kernel ``k(x, y) = (x.y / d + 1)^3`` between the rows of ``a`` and ``b``, in float64.

    The NumPy face of :func:`keras_ae.mmd.polynomial_kernel` (one implementation, in TensorFlow).

    Args:
        a: ``(m, d)`` rows.
        b: ``(n, d)`` rows, the same ``d`` (the ``d`` of the kernel is ``a``'s number of columns).

    Returns:
        The float64 Gram matrix ``(m, n)``.

    Example:
        >>> polynomial_kernel(np.ones((1, 2)), np.ones((1, 2))).tolist()
        [[8.0]]
    """
    return mmd.polynomial_kernel(np.asarray(a, np.float64), np.asarray(b, np.float64)).numpy()


def mmd2_unbiased(a: np.ndarray, b: np.ndarray, kernel: Callable = mmd.polynomial_kernel) -> float:
    """Unbiased estimate of MMD^2 between the samples ``a`` (m, d) and ``b`` (n, d), in float64.

    ``sum_{i!=j} k(a_i, a_j) / (m(m-1)) + sum_{i!=j} k(b_i, b_j) / (n(n-1)) - 2 mean k(a_i, b_j)``:
    :func:`keras_ae.mmd.mmd2_unbiased` on float64 copies, as a Python float.

    Args:
        a: ``(m, d)`` rows.
        b: ``(n, d)`` rows.
        kernel: A kernel of :mod:`keras_ae.mmd` (``(a, b) -> Gram matrix`` on tensors); KID's
            polynomial kernel by default.

    Returns:
        The estimate (may be slightly negative for two samples of one distribution).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> a, b = rng.normal(size=(200, 2)), rng.normal(size=(200, 2))
        >>> print(f"{mmd2_unbiased(a, b):.2f} {mmd2_unbiased(a, b + 1):.2f}")  # same / shifted distribution
        -0.12 11.84
    """
    return float(mmd.mmd2_unbiased(np.asarray(a, np.float64), np.asarray(b, np.float64), kernel))


def kernel_distance(features_a: np.ndarray, features_b: np.ndarray, num_subsets: int = 100, subset_size: int = 1000,
                    seed: int = 0, verbose: int = 0) -> tuple[float, float]:
    """Kernel distance (KID): unbiased MMD^2 averaged over random subsets.

    Args:
        features_a: ``(m, d)`` features (e.g. of samples).
        features_b: ``(n, d)`` features (e.g. of test images).
        num_subsets: Number of random subset pairs.
        subset_size: Examples per subset (capped at ``min(m, n)``).
        seed: Subset selection seed.
        verbose: Show a progress bar.

    Returns:
        ``(mean, std)`` over subsets.

    Raises:
        InputValidationError: sets that are not 2-D or hold NaN or infinite values, fewer than 2
            rows in a set, ``subset_size < 2`` or ``num_subsets < 1``.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> mean, std = kernel_distance(rng.normal(size=(500, 4)), rng.normal(size=(500, 4)), num_subsets=10)
        >>> abs(mean) < 0.01
        True
    """
    a, b = _features(features_a, "features_a"), _features(features_b, "features_b")
    size = min(check_int(subset_size, "subset_size", minimum=2), len(a), len(b))
    if size < 2:
        raise InputValidationError("The kernel distance needs at least 2 feature vectors per set.")
    rng = np.random.default_rng(seed)
    progbar = keras.utils.Progbar(num_subsets, verbose=verbose, unit_name="subset")
    values = []
    for i in range(check_int(num_subsets, "num_subsets", minimum=1)):
        ia, ib = rng.choice(len(a), size, replace=False), rng.choice(len(b), size, replace=False)
        values.append(mmd2_unbiased(a[ia], b[ib]))
        progbar.update(i + 1)
    return float(np.mean(values)), float(np.std(values))


def _probabilities(p: Any, name: str = "probabilities") -> np.ndarray:
    p = check_array(p, name, value_range=(0.0, 1.0)).astype(np.float64)
    if p.ndim != 2 or not np.allclose(p.sum(1), 1.0, atol=1e-3):
        raise InputValidationError(
            f"`{name}` must be (n, classes) rows of probabilities summing to 1, got shape {p.shape}.")
    return p


def mode_coverage(probabilities: np.ndarray, num_classes: int | None = None) -> dict[str, Any]:
    """Histogram of predicted classes: how evenly samples cover the modes (classes).

    Args:
        probabilities: Classifier outputs ``(n, classes)`` (argmax is the predicted class),
            or integer predicted classes ``(n,)`` with ``num_classes``.
        num_classes: Number of classes (default: the probabilities' width).

    Returns:
        ``fractions`` (per class), ``entropy`` (nats; ``log K`` when uniform),
        ``normalized_entropy`` (in [0, 1]), ``min_fraction``, ``max_fraction``,
        ``classes_covered`` (classes with at least one sample).

    Raises:
        InputValidationError: integer predictions without ``num_classes``, or rows that are not
            probabilities summing to 1.

    Example:
        >>> mode_coverage(np.array([0, 1, 1, 1]), num_classes=2)["fractions"]
        [0.25, 0.75]
    """
    p = np.asarray(probabilities)
    if p.ndim == 1:
        if num_classes is None:
            raise InputValidationError("Pass num_classes with integer class predictions.")
        predicted = p.astype(np.int64)
    else:
        p = _probabilities(p)
        num_classes = num_classes or p.shape[1]
        predicted = p.argmax(1)
    return _coverage_from_counts(np.bincount(predicted, minlength=num_classes).astype(np.float64))


def _coverage_from_counts(counts: np.ndarray) -> dict[str, Any]:
    """:func:`mode_coverage` from a histogram of predicted classes (what a stream accumulates)."""
    num_classes = len(counts)
    fractions = counts / max(counts.sum(), 1.0)
    nz = fractions[fractions > 0]
    entropy = float(-(nz * np.log(nz)).sum()) + 0.0  # + 0.0: no '-0.0'
    return {"fractions": fractions.tolist(), "entropy": entropy, "normalized_entropy": entropy / np.log(num_classes),
            "min_fraction": float(fractions.min()), "max_fraction": float(fractions.max()),
            "classes_covered": int((counts > 0).sum())}


def classifier_score(probabilities: np.ndarray, splits: int = 10) -> tuple[float, float]:
    """``exp(E_x KL(p(y|x) || p(y)))``: the "Inception score" with any classifier.

    High when each sample is classified confidently (low entropy of ``p(y|x)``) and the
    classes are balanced (high entropy of ``p(y)``); at most the number of classes.

    Args:
        probabilities: ``(n, classes)`` classifier probabilities of the samples.
        splits: Score each of ``splits`` equal parts and report mean and std (Salimans et al.).

    Returns:
        ``(mean, std)`` over splits.

    Raises:
        InputValidationError: rows that are not probabilities summing to 1, or ``splits < 1``.

    Example:
        >>> classifier_score(np.eye(4)[[0, 1, 2, 3] * 5], splits=1)[0]
        4.0
    """
    p = _probabilities(probabilities)
    scores = []
    for part in np.array_split(p, check_int(splits, "splits", minimum=1)):
        marginal = part.mean(0, keepdims=True)
        kl = (part * (np.log(np.clip(part, 1e-12, None)) - np.log(np.clip(marginal, 1e-12, None)))).sum(1)
        scores.append(float(np.exp(kl.mean())))
    return float(np.mean(scores)), float(np.std(scores))


def frechet_distance_of(a: FeatureStatistics, b: FeatureStatistics) -> float:
    """:func:`frechet_distance` from two sets' accumulated moments.

    Args:
        a: Running moments of the first feature set.
        b: Running moments of the second feature set.

    Returns:
        The Frechet distance between the two Gaussians (float, >= 0 up to round-off).

    Raises:
        InputValidationError: If a set is empty, has fewer than 2 feature vectors, or the feature sizes differ.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> fa, fb = rng.normal(size=(500, 2)), rng.normal(size=(400, 2)) + 1
        >>> stream = FeatureStatistics()
        >>> for part in np.array_split(fa, 7):
        ...     stream.update(part)
        >>> bool(np.isclose(frechet_distance_of(stream, FeatureStatistics.from_arrays(fb)), frechet_distance(fa, fb)))
        True
    """
    if a.mean is None or b.mean is None or len(a.mean) != len(b.mean):
        raise InputValidationError("Feature sizes differ (or a set is empty).")
    return frechet_distance_from_moments(a.mean, a.covariance, b.mean, b.covariance)


# ---------------------------------------------------------------------------------------
# The evaluator
# ---------------------------------------------------------------------------------------


class SampleQuality:
    """Evaluates generated images against a real reference split, with real-data floors.

    Features of the reference (test) images and of the training images are computed once;
    :meth:`evaluate` then scores any number of sample sets on the same footing.

    Args:
        extractor: A :class:`~keras_ae.evaluation.feature_extractors.FeatureExtractor`
            (:func:`~keras_ae.evaluation.dataset_classifier` or :func:`~keras_ae.evaluation.inception_extractor`).
        reference: Real images the samples are compared to (the test split), in [0, 1],
            or a ``tf.data.Dataset`` of them (``x`` or ``(x, y)``, batched or not),
            streamed: running feature moments (Frechet distance) and class counts
            (coverage) cover every image, and a reservoir of ``reservoir_size`` features
            serves the kernel distance and the classifier score (all features while the
            data holds no more: then every number equals the array's).
        train: Real training images (array or dataset): ``train`` vs ``reference`` gives
            the floors of the distances (what data from the true distribution scores). Optional.
        kid_subsets: Subsets for the kernel distance.
        kid_subset_size: Examples per KID subset.
        batch_size: Images per feature-extraction pass.
        verbose: Progress bars for feature extraction.
        reservoir_size: Features kept per streamed dataset (KID, classifier score).

    Attributes:
        reference: :class:`FeatureStatistics` of the reference images.
        floor: The real-data numbers (``frechet_distance``, ``kernel_distance``,
            ``classifier_score``, ``class_fractions``, ``class_entropy``, ...).

    Example:
        >>> inputs = keras.Input((8, 8, 1))  # an untrained stand-in for dataset_classifier(x_train, y_train)
        >>> features = keras.layers.Dense(16)(keras.layers.Flatten()(inputs))
        >>> net = keras.Model(inputs, [features, keras.layers.Dense(10, activation="softmax")(features)])
        >>> extractor = FeatureExtractor(net, "classifier", input_shape=(8, 8, 1))
        >>> quality = SampleQuality(extractor, x_digits_test, x_digits, kid_subsets=5, verbose=0)
        >>> quality.floor["frechet_distance"] >= 0
        True
        >>> result = quality.evaluate(x_digits[:64])  # stand-in for generated samples
        >>> result["n_samples"], "frechet_distance_real" in result
        (64, True)
    """

    def __init__(self, extractor: FeatureExtractor, reference, train=None, kid_subsets: int = 100,
                 kid_subset_size: int = 1000, batch_size: int = 500, verbose: int = 1,
                 reservoir_size: int = 10_000):
        self.extractor = extractor
        self.kid_subsets = kid_subsets
        self.kid_subset_size = kid_subset_size
        self.batch_size = batch_size
        self.verbose = verbose
        self.reservoir_size = reservoir_size
        self.reference = self._statistics(reference, verbose)
        self.reference_features = self.reference.features
        self.n_reference = self.reference.count
        self.floor: dict[str, Any] = {}
        if train is not None:
            train_stats = self._statistics(train, verbose)
            self.n_train = train_stats.count
            self.floor["frechet_distance"] = self._frechet(train_stats, self.reference)
            self.floor["kernel_distance"], self.floor["kernel_distance_std"] = kernel_distance(
                train_stats.features, self.reference_features, kid_subsets, kid_subset_size)
        if self.reference.probabilities is not None:
            self.floor.update(self._class_metrics(self.reference))

    def _statistics(self, images, verbose) -> FeatureStatistics:
        return self.extractor.statistics(images, self.batch_size, verbose, reservoir_size=self.reservoir_size)

    @staticmethod
    def _frechet(a: FeatureStatistics, b: FeatureStatistics) -> float:
        if a.reservoir_size is None and b.reservoir_size is None:
            return frechet_distance(a.features, b.features)  # in-memory arrays: exactly as before
        return frechet_distance_of(a, b)

    @staticmethod
    def _class_metrics(stats: FeatureStatistics) -> dict[str, Any]:
        probs = stats.probabilities
        # Coverage counts every example (the histogram is exact even for a stream); the
        # score needs the probabilities themselves, so a stream's uses its reservoir sample.
        coverage = mode_coverage(probs) if stats.reservoir_size is None else _coverage_from_counts(stats.class_counts)
        score, score_std = classifier_score(probs)
        return {"classifier_score": score, "classifier_score_std": score_std, "class_fractions": coverage["fractions"],
                "class_entropy": coverage["entropy"], "min_class_fraction": coverage["min_fraction"],
                "max_class_fraction": coverage["max_fraction"], "classes_covered": coverage["classes_covered"]}

    def evaluate(self, samples, verbose: int | None = None) -> dict[str, Any]:
        """Every metric for ``samples`` (images in [0, 1]), each with its ``*_real`` floor.

        Args:
            samples: Generated images ``(n, h, w, c)`` in [0, 1], or a ``tf.data.Dataset``
                of them (streamed like ``reference``).
            verbose: Progress bar (default: the evaluator's ``verbose``).

        Returns:
            A flat dict: ``frechet_distance``, ``kernel_distance`` (+ ``_std``),
            ``classifier_score`` (+ ``_std``), ``class_fractions``, ``class_entropy``,
            ``min_class_fraction``, ``max_class_fraction``, ``classes_covered``; each
            also as ``<name>_real`` for real data; plus ``n_samples``, ``n_reference``,
            ``n_train`` and ``features``.

        Example:
            >>> inputs = keras.Input((8, 8, 1))
            >>> features = keras.layers.Dense(16)(keras.layers.Flatten()(inputs))
            >>> net = keras.Model(inputs, [features, keras.layers.Dense(10, activation="softmax")(features)])
            >>> extractor = FeatureExtractor(net, "classifier", input_shape=(8, 8, 1))
            >>> quality = SampleQuality(extractor, x_digits_test, kid_subsets=5, verbose=0)
            >>> 0 <= quality.evaluate(x_digits[:64])["min_class_fraction"] <= 1
            True
        """
        verbose = self.verbose if verbose is None else verbose
        stats = self._statistics(samples, verbose)
        result: dict[str, Any] = {"features": self.extractor.name, "n_samples": stats.count,
                                  "n_reference": self.n_reference, "n_train": getattr(self, "n_train", None)}
        result["frechet_distance"] = self._frechet(stats, self.reference)
        result["kernel_distance"], result["kernel_distance_std"] = kernel_distance(
            stats.features, self.reference_features, self.kid_subsets, self.kid_subset_size)
        if stats.probabilities is not None:
            result.update(self._class_metrics(stats))
        for key, value in self.floor.items():
            result[f"{key}_real"] = value
        return result


def evaluate_samples(samples: np.ndarray | tf.data.Dataset, extractor: FeatureExtractor,
                     reference: np.ndarray | tf.data.Dataset, train: np.ndarray | tf.data.Dataset | None = None,
                     verbose: int = 1, **kwargs: Any) -> dict[str, Any]:
    """One-call form of :class:`SampleQuality` ``(extractor, reference, train).evaluate(samples)``.

    Args:
        samples: Generated images ``(n, h, w, c)`` in [0, 1], or a ``tf.data.Dataset`` of them.
        extractor: The :class:`~keras_ae.evaluation.feature_extractors.FeatureExtractor` of every set.
        reference: Real images the samples are compared to (the test split), array or dataset.
        train: Real training images for the real-data floors of the distances (``None``: no such floors).
        verbose: Progress bars for feature extraction.
        **kwargs: Further :class:`SampleQuality` arguments (``kid_subsets``, ``kid_subset_size``,
            ``batch_size``, ``reservoir_size``).

    Returns:
        The flat dict of :meth:`SampleQuality.evaluate`: every metric and its ``*_real`` floor.

    Raises:
        InputValidationError: images the extractor refuses (shape, NaN, values outside [0, 1]).

    Example:
        >>> net = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(4)])
        >>> extractor = FeatureExtractor(net, "toy", input_shape=(8, 8, 1))
        >>> evaluate_samples(x_digits[:64], extractor, x_digits_test, verbose=0, kid_subsets=5)["n_reference"]
        64
    """
    return SampleQuality(extractor, reference, train, verbose=verbose, **kwargs).evaluate(samples)
