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
(x_train, y_train), (x_test, y_test) = load_dataset("mnist", data_dir="../shared/data/mnist10k")
extractor = dataset_classifier(x_train, y_train, dataset="mnist")
quality = SampleQuality(extractor, x_test, x_train)
quality.evaluate(gan.sample(10_000, unit_range=True))["frechet_distance"]
```
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Callable, Sequence

import keras
import numpy as np
import tensorflow as tf

from keras_ae.errors import InputValidationError, KerasAEError
from keras_ae.training.batches import example_count, iterate_batches
from keras_ae.training.data_checks import DataSpec
from keras_ae.validation import check_array, check_positive_int

_RANGE_HINT = "Sample quality metrics take images in [0, 1] (e.g. gan.sample(n, unit_range=True))."

CACHE_ENV = "KERAS_AE_CACHE"
INCEPTION_NOTOP_FILE = "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"
INCEPTION_NOTOP_URL = ("https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/"
                       + INCEPTION_NOTOP_FILE)
# Bump when the classifier recipe changes, so old cache entries are not reused.
CLASSIFIER_VERSION = 1


class WeightsNotAvailableError(KerasAEError, FileNotFoundError):
    """Pretrained weights (e.g. InceptionV3's) are needed but not on disk; keras_ae never downloads them."""


def default_cache_dir() -> Path:
    """``$KERAS_AE_CACHE`` or ``~/.cache/keras_ae``: where trained feature classifiers are kept.

    Example:
        >>> default_cache_dir().name in ("keras_ae", os.path.basename(os.environ.get("KERAS_AE_CACHE", "")))
        True
    """
    return Path(os.environ.get(CACHE_ENV) or Path("~/.cache/keras_ae").expanduser())


# ---------------------------------------------------------------------------------------
# Pure metrics on features / probabilities
# ---------------------------------------------------------------------------------------


def _features(f: Any, name: str) -> np.ndarray:
    f = check_array(f, name).astype(np.float64)
    if f.ndim != 2:
        raise InputValidationError(f"`{name}` must be a 2-D array of feature vectors (n, d), got shape {f.shape}.")
    return f


def frechet_distance_from_moments(mu1, sigma1, mu2, sigma2) -> float:
    """``||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2))``: the Frechet (2-Wasserstein)
    distance between two Gaussians.

    ``Tr((S1 S2)^(1/2))`` is computed as ``Tr((S1^(1/2) S2 S1^(1/2))^(1/2))``, a symmetric
    PSD matrix whose eigenvalues are real, which avoids the complex round-off of
    ``scipy.linalg.sqrtm(S1 @ S2)``.

    Args:
        mu1, sigma1: Mean ``(d,)`` and covariance ``(d, d)`` of the first Gaussian.
        mu2, sigma2: Those of the second.

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


def frechet_distance(features_a, features_b) -> float:
    """Frechet distance between Gaussians fitted to two feature sets ``(n, d)``.

    With Inception pool features this is the FID; with a dataset classifier's features
    the Frechet classifier distance (FCD). Biased upwards for small ``n``: compare
    numbers computed with the same sample sizes.

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
    """KID's kernel ``k(x, y) = (x.y / d + 1)^3`` between the rows of ``a`` and ``b``.

    Example:
        >>> polynomial_kernel(np.ones((1, 2)), np.ones((1, 2))).tolist()
        [[8.0]]
    """
    return (a @ b.T / a.shape[1] + 1.0) ** 3


def mmd2_unbiased(a: np.ndarray, b: np.ndarray, kernel: Callable = polynomial_kernel) -> float:
    """Unbiased estimate of MMD^2 between the samples ``a`` (m, d) and ``b`` (n, d).

    ``sum_{i!=j} k(a_i, a_j) / (m(m-1)) + sum_{i!=j} k(b_i, b_j) / (n(n-1)) - 2 mean k(a_i, b_j)``.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> a, b = rng.normal(size=(200, 2)), rng.normal(size=(200, 2))
        >>> print(f"{mmd2_unbiased(a, b):.2f} {mmd2_unbiased(a, b + 1):.2f}")  # same / shifted distribution
        -0.12 11.84
    """
    m, n = len(a), len(b)
    kaa, kbb, kab = kernel(a, a), kernel(b, b), kernel(a, b)
    return float((kaa.sum() - np.trace(kaa)) / (m * (m - 1)) + (kbb.sum() - np.trace(kbb)) / (n * (n - 1))
                 - 2.0 * kab.mean())


def kernel_distance(features_a, features_b, num_subsets: int = 100, subset_size: int = 1000, seed: int = 0,
                    verbose: int = 0) -> tuple[float, float]:
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

    Example:
        >>> rng = np.random.default_rng(0)
        >>> mean, std = kernel_distance(rng.normal(size=(500, 4)), rng.normal(size=(500, 4)), num_subsets=10)
        >>> abs(mean) < 0.01
        True
    """
    a, b = _features(features_a, "features_a"), _features(features_b, "features_b")
    size = min(check_positive_int(subset_size, "subset_size", 2), len(a), len(b))
    if size < 2:
        raise InputValidationError("The kernel distance needs at least 2 feature vectors per set.")
    rng = np.random.default_rng(seed)
    progbar = keras.utils.Progbar(num_subsets, verbose=verbose, unit_name="subset")
    values = []
    for i in range(check_positive_int(num_subsets, "num_subsets")):
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


def mode_coverage(probabilities, num_classes: int | None = None) -> dict[str, Any]:
    """Histogram of predicted classes: how evenly samples cover the modes (classes).

    Args:
        probabilities: Classifier outputs ``(n, classes)`` (argmax is the predicted class),
            or integer predicted classes ``(n,)`` with ``num_classes``.
        num_classes: Number of classes (default: the probabilities' width).

    Returns:
        ``fractions`` (per class), ``entropy`` (nats; ``log K`` when uniform),
        ``normalized_entropy`` (in [0, 1]), ``min_fraction``, ``max_fraction``,
        ``classes_covered`` (classes with at least one sample).

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


def classifier_score(probabilities, splits: int = 10) -> tuple[float, float]:
    """``exp(E_x KL(p(y|x) || p(y)))``: the "Inception score" with any classifier.

    High when each sample is classified confidently (low entropy of ``p(y|x)``) and the
    classes are balanced (high entropy of ``p(y)``); at most the number of classes.

    Args:
        probabilities: ``(n, classes)`` classifier probabilities of the samples.
        splits: Score each of ``splits`` equal parts and report mean and std (Salimans et al.).

    Returns:
        ``(mean, std)`` over splits.

    Example:
        >>> classifier_score(np.eye(4)[[0, 1, 2, 3] * 5], splits=1)[0]
        4.0
    """
    p = _probabilities(probabilities)
    scores = []
    for part in np.array_split(p, check_positive_int(splits, "splits")):
        marginal = part.mean(0, keepdims=True)
        kl = (part * (np.log(np.clip(part, 1e-12, None)) - np.log(np.clip(marginal, 1e-12, None)))).sum(1)
        scores.append(float(np.exp(kl.mean())))
    return float(np.mean(scores)), float(np.std(scores))


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
        >>> stats.count, stats.features.shape, np.allclose(stats.covariance, np.cov(np.concatenate([a, b]), rowvar=False))
        (9, (3, 2), True)
    """

    def __init__(self, reservoir_size: int | None = 10_000, seed: int = 0):
        self.reservoir_size = None if reservoir_size is None else check_positive_int(reservoir_size, "reservoir_size", 2)
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


def frechet_distance_of(a: FeatureStatistics, b: FeatureStatistics) -> float:
    """:func:`frechet_distance` from two sets' accumulated moments.

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
# Feature extractors
# ---------------------------------------------------------------------------------------


class FeatureExtractor:
    """Features (and class probabilities, when it has a classifier head) of images.

    Args:
        model: A Keras model with one output, or two outputs ``[features, probabilities]``.
        name: Short name (``"classifier"`` gives FCD, ``"inception"`` FID).
        input_shape: Shape of one image the extractor accepts (checked).
        preprocess: Optional function applied to each NumPy batch first.
        info: Facts about the extractor (test accuracy, cache file, ...).

    Example:
        >>> net = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(4)])
        >>> extractor = FeatureExtractor(net, "toy", input_shape=(8, 8, 1))
        >>> feats, probs = extractor.predict(x_digits[:10])
        >>> feats.shape, probs
        ((10, 4), None)
    """

    def __init__(self, model: keras.Model, name: str, input_shape: Sequence[int | None],
                 preprocess: Callable[[np.ndarray], Any] | None = None, info: dict | None = None):
        self.model = model
        self.name = name
        self.input_shape = tuple(input_shape)
        self.preprocess = preprocess
        self.info = dict(info or {})
        self.has_probabilities = len(model.outputs) == 2

    def predict(self, x, batch_size: int = 500, verbose: int = 0) -> tuple[np.ndarray, np.ndarray | None]:
        """Features ``(n, d)`` and probabilities ``(n, classes)`` (``None`` without a head).

        Args:
            x: Images ``(n, *input_shape)`` in [0, 1], or a ``tf.data.Dataset`` of them
                (``x`` or ``(x, y)``, batched or not; the features of all of them are
                returned: use :meth:`statistics` to keep memory bounded).
            batch_size: Images per forward pass.
            verbose: Show a progress bar.

        Example:
            >>> net = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(4)])
            >>> FeatureExtractor(net, "toy", input_shape=(8, 8, 1)).predict(x_digits[:10])[0].shape
            (10, 4)
        """
        feats, probs = [], []
        for f, p in self._batches(x, batch_size, verbose):
            feats.append(f)
            if p is not None:
                probs.append(p)
        d = feats[0].shape[1] if feats else 0
        features = np.concatenate(feats) if feats else np.zeros((0, d), np.float32)
        return features, (np.concatenate(probs) if probs else None)

    def statistics(self, x, batch_size: int = 500, verbose: int = 0, reservoir_size: int | None = 10_000,
                   seed: int = 0) -> FeatureStatistics:
        """The :class:`FeatureStatistics` of ``x``, accumulated batch by batch.

        Arrays give exact statistics with every feature kept (as :meth:`predict`); a
        ``tf.data.Dataset`` is streamed and only running moments, class counts and a
        reservoir of ``reservoir_size`` features are kept, so memory does not grow with it.

        Args:
            x: Images in [0, 1], or a ``tf.data.Dataset`` of them (``x`` or ``(x, y)``,
                labels ignored; unbatched datasets are batched with ``batch_size``).
            batch_size: Images per forward pass.
            verbose: Show a progress bar (unknown total for a dataset).
            reservoir_size: Features kept from a dataset for KID and the classifier score.
            seed: Seed of the reservoir sample.

        Example:
            >>> net = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(4)])
            >>> extractor = FeatureExtractor(net, "toy", input_shape=(8, 8, 1))
            >>> extractor.statistics(tf.data.Dataset.from_tensor_slices(x_digits).batch(64)).count
            256
        """
        if not isinstance(x, tf.data.Dataset):
            return FeatureStatistics.from_arrays(*self.predict(x, batch_size, verbose))
        stats = FeatureStatistics(reservoir_size, seed)
        for f, p in self._batches(x, batch_size, verbose):
            stats.update(f, p)
        return stats

    def _batches(self, x, batch_size: int, verbose: int):
        """``(features, probabilities or None)`` per batch of an array or a checked dataset."""
        batch_size = check_positive_int(batch_size, "batch_size")
        if not isinstance(x, tf.data.Dataset):
            x = check_array(x, "images", expected_shape=self.input_shape, value_range=(0.0, 1.0),
                            range_hint=_RANGE_HINT)
        spec = DataSpec(self.input_shape, (0.0, 1.0), _RANGE_HINT, targets="ignored")
        total = example_count(x)
        progbar = keras.utils.Progbar(total, verbose=verbose, unit_name="image")
        done = 0
        for batch in iterate_batches(x, batch_size, spec, "images", where="feature extraction"):
            if tf.is_tensor(batch):
                batch = tf.cast(batch, tf.float32)
            out = self.model(self.preprocess(batch) if self.preprocess else batch, training=False)
            if self.has_probabilities:
                f, p = np.asarray(out[0]), np.asarray(out[1])
            else:
                f, p = np.asarray(out[0] if isinstance(out, (list, tuple)) else out), None
            done += len(f)
            yield f.reshape(len(f), -1), p
            progbar.update(done, finalize=False if total is None else None)
        if total is None and verbose:
            progbar.update(done, finalize=True)


def get_feature_classifier(input_shape: Sequence[int], num_classes: int, feature_dim: int = 128) -> keras.Model:
    """The small CNN keras_ae trains for classifier features: 2 conv blocks, a dense layer.

    Args:
        input_shape: ``(height, width, channels)``.
        num_classes: Number of classes.
        feature_dim: Width of the penultimate layer (the features, named ``"features"``).

    Returns:
        A functional ``keras.Model`` ending in a softmax.

    Example:
        >>> get_feature_classifier((28, 28, 1), 10).get_layer("features").units
        128
    """
    inputs = keras.Input(shape=tuple(input_shape), name="images")
    h = inputs
    for i, f in enumerate((32, 64)):
        h = keras.layers.Conv2D(f, 3, padding="same", activation="relu", name=f"conv_{i}")(h)
        if h.shape[1] >= 2 and h.shape[2] >= 2:
            h = keras.layers.MaxPooling2D(name=f"pool_{i}")(h)
    h = keras.layers.Flatten()(h)
    h = keras.layers.Dense(feature_dim, activation="relu", name="features")(h)
    h = keras.layers.Dropout(0.3)(h)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="probabilities")(h)
    return keras.Model(inputs, outputs, name="feature_classifier")


def _data_key(x: np.ndarray, y: np.ndarray, config: dict) -> str:
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(x, np.float32).tobytes())
    digest.update(np.ascontiguousarray(y, np.int64).tobytes())
    digest.update(json.dumps(config, sort_keys=True).encode())
    return digest.hexdigest()[:16]


def _as_extractor(classifier: keras.Model, info: dict) -> FeatureExtractor:
    both = keras.Model(classifier.inputs[0], [classifier.get_layer("features").output, classifier.outputs[0]])
    return FeatureExtractor(both, "classifier", classifier.inputs[0].shape[1:], info=info)


def dataset_classifier(
    x_train,
    y_train,
    dataset: str = "data",
    x_test=None,
    y_test=None,
    epochs: int = 5,
    batch_size: int = 128,
    feature_dim: int = 128,
    seed: int = 0,
    cache_dir: str | os.PathLike | None = None,
    use_cache: bool = True,
    verbose: int = 1,
) -> FeatureExtractor:
    """A feature extractor trained on the dataset's labels (offline FID: the FCD), cached.

    The classifier (:func:`get_feature_classifier`) is trained on ``(x_train, y_train)``
    once and saved to ``cache_dir/<dataset>-<hash>.keras``; the hash covers the training
    data, labels and training settings, so a different split trains a new one.

    Args:
        x_train: Training images ``(n, h, w, c)`` in [0, 1].
        y_train: Integer labels ``(n,)``.
        dataset: Name used in the cache file name.
        x_test, y_test: Optional held-out data: test accuracy is recorded in ``info``.
        epochs: Training epochs.
        batch_size: Training batch size.
        feature_dim: Feature size.
        seed: Training seed.
        cache_dir: Cache folder (default :func:`default_cache_dir`).
        use_cache: Load / save the cache (``False``: always train, never write).
        verbose: Keras progress bars.

    Returns:
        A :class:`FeatureExtractor` named ``"classifier"``; ``info`` holds
        ``test_accuracy``, ``cache_file`` and ``from_cache``.

    Example:
        >>> extractor = dataset_classifier(x_digits, y_digits, dataset="digits", epochs=1, use_cache=False, verbose=0)
        >>> extractor.name, extractor.predict(x_digits[:5])[1].shape
        ('classifier', (5, 10))
    """
    x_train = check_array(x_train, "x_train", value_range=(0.0, 1.0))
    if x_train.ndim != 4:
        raise InputValidationError(f"x_train must be images (n, height, width, channels), got shape {x_train.shape}.")
    y_train = np.asarray(y_train).reshape(-1)
    if len(y_train) != len(x_train) or not np.issubdtype(y_train.dtype, np.integer) or y_train.min() < 0:
        raise InputValidationError(
            f"y_train must be {len(x_train)} non-negative integer labels, got {y_train.shape} {y_train.dtype}.")
    num_classes = int(y_train.max()) + 1
    config = {"version": CLASSIFIER_VERSION, "epochs": epochs, "batch_size": batch_size, "feature_dim": feature_dim,
              "seed": seed, "num_classes": num_classes}
    key = _data_key(x_train, y_train, config)
    path = Path(cache_dir or default_cache_dir()) / "classifiers" / f"{dataset}-{key}.keras"
    meta_path = path.with_suffix(".json")
    if use_cache and path.is_file() and meta_path.is_file():
        classifier = keras.models.load_model(path, compile=False, safe_mode=True)
        info = {**json.loads(meta_path.read_text()), "cache_file": str(path), "from_cache": True}
        return _as_extractor(classifier, info)
    keras.utils.set_random_seed(seed)
    classifier = get_feature_classifier(x_train.shape[1:], num_classes, feature_dim)
    classifier.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                       metrics=["accuracy"])
    classifier.fit(x_train, y_train, epochs=epochs, batch_size=batch_size, verbose=verbose)
    info: dict[str, Any] = {"dataset": dataset, "n_train": len(x_train), **config}
    if x_test is not None and y_test is not None:
        x_test = check_array(x_test, "x_test", expected_shape=x_train.shape[1:], value_range=(0.0, 1.0))
        predicted = classifier.predict(x_test, batch_size=500, verbose=0).argmax(1)
        info["test_accuracy"] = float(np.mean(predicted == np.asarray(y_test).reshape(-1)))
    if use_cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.stem + f".tmp{os.getpid()}.keras")
        classifier.save(tmp)
        os.replace(tmp, path)  # atomic: a concurrent reader never sees half a file
        meta_path.write_text(json.dumps(info, indent=2))
    return _as_extractor(classifier, {**info, "cache_file": str(path) if use_cache else None, "from_cache": False})


def inception_extractor(weights_path: str | os.PathLike | None = None, image_size: int = 299) -> FeatureExtractor:
    """InceptionV3 pool features (2048-d) for FID/KID, from weights already on disk.

    Images are resized to ``image_size``, grey images tiled to RGB, and scaled to
    [-1, 1] as InceptionV3 expects. keras_ae never downloads the weights.

    Args:
        weights_path: ``inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5`` (or
            any InceptionV3 ``include_top=False`` weights file). ``None`` looks in Keras'
            cache ``~/.keras/models/``.
        image_size: Input size of the network (299 as in the FID papers).

    Returns:
        A :class:`FeatureExtractor` named ``"inception"`` (features only).

    Raises:
        WeightsNotAvailableError: when the weights file is missing (message says where to get it).

    Example (needs the weights file on disk):

    ```python
    extractor = inception_extractor("~/weights/" + INCEPTION_NOTOP_FILE)
    ```
    """
    import tensorflow as tf

    if weights_path is None:
        cached = Path("~/.keras/models").expanduser() / INCEPTION_NOTOP_FILE
        if not cached.is_file():
            raise WeightsNotAvailableError(
                "Inception features need the InceptionV3 ImageNet weights, and keras_ae does not download them. "
                f"Download {INCEPTION_NOTOP_URL} and pass weights_path=<file> (or put it in ~/.keras/models/). "
                "Offline, use dataset_classifier(x_train, y_train) for the Frechet classifier distance instead."
            )
        weights_path = cached
    weights_path = Path(weights_path).expanduser()
    if not weights_path.is_file():
        raise WeightsNotAvailableError(
            f"InceptionV3 weights file not found: {weights_path}. Download {INCEPTION_NOTOP_URL} "
            "or use dataset_classifier(...) offline."
        )
    net = keras.applications.InceptionV3(include_top=False, weights=None, pooling="avg",
                                         input_shape=(image_size, image_size, 3))
    net.load_weights(str(weights_path))

    def preprocess(batch: np.ndarray):
        x = tf.image.resize(tf.convert_to_tensor(batch), (image_size, image_size), method="bilinear")
        if x.shape[-1] == 1:
            x = tf.tile(x, [1, 1, 1, 3])
        return x * 2.0 - 1.0

    return FeatureExtractor(net, "inception", (None, None, None), preprocess=preprocess,
                            info={"weights": str(weights_path), "image_size": image_size})


# ---------------------------------------------------------------------------------------
# The evaluator
# ---------------------------------------------------------------------------------------


class SampleQuality:
    """Evaluates generated images against a real reference split, with real-data floors.

    Features of the reference (test) images and of the training images are computed once;
    :meth:`evaluate` then scores any number of sample sets on the same footing.

    Args:
        extractor: A :class:`FeatureExtractor` (:func:`dataset_classifier` or
            :func:`inception_extractor`).
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


def evaluate_samples(samples, extractor: FeatureExtractor, reference, train=None, verbose: int = 1,
                     **kwargs) -> dict[str, Any]:
    """One-call form of :class:`SampleQuality` ``(extractor, reference, train).evaluate(samples)``.

    Example:
        >>> net = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(4)])
        >>> extractor = FeatureExtractor(net, "toy", input_shape=(8, 8, 1))
        >>> evaluate_samples(x_digits[:64], extractor, x_digits_test, verbose=0, kid_subsets=5)["n_reference"]
        64
    """
    return SampleQuality(extractor, reference, train, verbose=verbose, **kwargs).evaluate(samples)
