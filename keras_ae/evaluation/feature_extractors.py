"""Feature extractors of the sample-quality metrics (:mod:`keras_ae.evaluation.sample_quality`).

:class:`FeatureExtractor` wraps a Keras model giving features (and class probabilities);
:func:`dataset_classifier` trains the small CNN of :func:`get_feature_classifier` on a
dataset's labels and caches it on disk (offline FID: the Frechet classifier distance);
:func:`inception_extractor` loads InceptionV3 from the user's copy of the ImageNet weights
(keras_ae never downloads them).
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

from keras_ae.atomic import write_atomically, write_text_atomically
from keras_ae.errors import InputValidationError, KerasAEError
from keras_ae.evaluation.feature_statistics import FeatureStatistics
from keras_ae.random import seeded
from keras_ae.training.batches import example_count, iterate_batches
from keras_ae.training.data_checks import DataSpec
from keras_ae.validation import check_array, check_int

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

    Returns:
        The folder as a :class:`~pathlib.Path` (not created here; ``~`` is expanded only in the default).

    Example:
        >>> default_cache_dir().name in ("keras_ae", os.path.basename(os.environ.get("KERAS_AE_CACHE", "")))
        True
    """
    return Path(os.environ.get(CACHE_ENV) or Path("~/.cache/keras_ae").expanduser())


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
        batch_size = check_int(batch_size, "batch_size", minimum=1)
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
    x_train: np.ndarray,
    y_train: np.ndarray,
    dataset: str = "data",
    x_test: np.ndarray | None = None,
    y_test: np.ndarray | None = None,
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

    Raises:
        InputValidationError: ``x_train`` not 4-D images in [0, 1], ``y_train`` not one non-negative
            integer label per image, or ``x_test`` not images of ``x_train``'s shape.

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
    with seeded(seed):  # reproducible weights and batch order; the caller's seeds are restored
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
        # Both atomic: a concurrent reader never sees half a file.
        write_atomically(path, classifier.save)
        write_text_atomically(meta_path, json.dumps(info, indent=2))
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
