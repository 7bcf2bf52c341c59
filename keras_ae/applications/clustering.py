"""Clustering with auto-encoder codes, and Deep Embedded Clustering (DEC, Xie et al. 2016).

k-means works better on an auto-encoder's codes than on raw pixels because Euclidean
distance between codes follows the data manifold. DEC goes one step further: starting
from k-means on the codes, it fine-tunes the encoder *and* the cluster centres so that
each point's soft assignment (a Student's t kernel, alpha = 1) moves towards a sharpened
target distribution, by minimising KL(P || Q):

- ``q_ij = (1 + ||z_i - mu_j||^2 / alpha)^(-(alpha + 1) / 2)``, normalised over j;
- ``p_ij = q_ij^2 / f_j`` with ``f_j = sum_i q_ij``, normalised over j;
- P is held fixed for ``update_interval`` iterations, then recomputed; training stops
  once fewer than ``tol`` of the hard assignments change between two updates.

Clusterings are scored with the Hungarian-matched accuracy (:func:`clustering_accuracy`)
and the normalised mutual information (:func:`clustering_scores`).
"""

from __future__ import annotations

from typing import Any, Sequence

import keras
import numpy as np
import tensorflow as tf
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.utils.validation import check_is_fitted

from keras_ae.errors import InputValidationError
from keras_ae.random import seeded
from keras_ae.validation import check_array, check_int


def clustering_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Accuracy under the best one-to-one matching of clusters to classes (Hungarian algorithm).

    Args:
        y_true: Class labels ``(n,)`` (non-negative ints).
        y_pred: Cluster labels ``(n,)`` (non-negative ints; any numbering).

    Returns:
        The fraction of examples whose cluster is matched to their class, in [0, 1].

    Example:
        >>> clustering_accuracy([0, 0, 1, 1, 2], [2, 2, 0, 0, 1])  # a renaming: perfect
        1.0
        >>> clustering_accuracy([0, 0, 1, 1], [0, 0, 0, 1])  # best matching 0->0, 1->1: 3 of 4
        0.75
    """
    from scipy.optimize import linear_sum_assignment

    y_true = np.asarray(y_true).reshape(-1).astype(np.int64)
    y_pred = np.asarray(y_pred).reshape(-1).astype(np.int64)
    if len(y_true) != len(y_pred):
        raise InputValidationError(f"y_true has {len(y_true)} labels, y_pred {len(y_pred)}.")
    if len(y_true) == 0:
        raise InputValidationError("Need at least one example.")
    if y_true.min() < 0 or y_pred.min() < 0:
        raise InputValidationError("Labels must be non-negative integers.")
    size = max(y_true.max(), y_pred.max()) + 1
    counts = np.zeros((size, size), dtype=np.int64)  # counts[cluster, class]
    np.add.at(counts, (y_pred, y_true), 1)
    rows, cols = linear_sum_assignment(counts, maximize=True)
    return float(counts[rows, cols].sum() / len(y_true))


def clustering_scores(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Hungarian-matched accuracy and normalised mutual information of a clustering.

    Args:
        y_true: Class labels ``(n,)`` (non-negative ints).
        y_pred: Cluster labels ``(n,)`` (non-negative ints; any numbering).

    Returns:
        ``{"accuracy": ..., "nmi": ...}``: the :func:`clustering_accuracy` and scikit-learn's
        ``normalized_mutual_info_score``, both floats in [0, 1].

    Raises:
        InputValidationError: If the label arrays differ in length, are empty or hold negative labels.

    Example:
        >>> clustering_scores([0, 0, 1, 1], [1, 1, 0, 0])
        {'accuracy': 1.0, 'nmi': 1.0}
    """
    from sklearn.metrics import normalized_mutual_info_score

    return {"accuracy": clustering_accuracy(y_true, y_pred),
            "nmi": float(normalized_mutual_info_score(np.ravel(y_true), np.ravel(y_pred)))}


def soft_assignment(z: np.ndarray, centers: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """DEC's soft assignment: a Student's t kernel between codes and centres, rows sum to 1.

    Args:
        z: Codes ``(n, d)``.
        centers: Cluster centres ``(k, d)``.
        alpha: Degrees of freedom (1 in the paper).

    Returns:
        ``q`` of shape ``(n, k)``.

    Example:
        >>> soft_assignment(np.array([[0.0], [2.0]]), np.array([[0.0], [1.0]])).round(3)  # kernels 1, 1/2 and 1/5, 1/2
        array([[0.667, 0.333],
               [0.286, 0.714]])
    """
    z = np.asarray(z, np.float64)
    centers = np.asarray(centers, np.float64)
    sq = ((z[:, None, :] - centers[None, :, :]) ** 2).sum(-1)
    kernel = (1.0 + sq / alpha) ** (-(alpha + 1.0) / 2.0)
    return kernel / kernel.sum(axis=1, keepdims=True)


def target_distribution(q: np.ndarray) -> np.ndarray:
    """DEC's target ``p_ij = (q_ij^2 / f_j) / sum_j' (q_ij'^2 / f_j')`` with ``f_j = sum_i q_ij``.

    Squaring sharpens confident assignments; dividing by the soft cluster frequency
    ``f_j`` stops large clusters from swallowing the rest.

    Args:
        q: Soft assignments ``(n, k)`` (rows sum to 1), e.g. from :func:`soft_assignment`.

    Returns:
        Float64 array ``p`` of shape ``(n, k)``, rows summing to 1.

    Example:
        >>> target_distribution(np.array([[0.5, 0.5], [0.75, 0.25]])).round(3)  # f = (1.25, 0.75)
        array([[0.375, 0.625],
               [0.844, 0.156]])
    """
    q = np.asarray(q, np.float64)
    weight = q**2 / q.sum(axis=0)
    return weight / weight.sum(axis=1, keepdims=True)


@keras.saving.register_keras_serializable(package="keras_ae")
class ClusteringLayer(keras.layers.Layer):
    """Maps codes ``(batch, d)`` to DEC soft assignments ``(batch, n_clusters)``; the centres are its weights.

    Args:
        n_clusters: Number of clusters k.
        alpha: Student's t degrees of freedom.

    Example:
        >>> layer = ClusteringLayer(3)
        >>> layer(np.zeros((4, 2), "float32")).shape
        TensorShape([4, 3])
    """

    def __init__(self, n_clusters: int, alpha: float = 1.0, **kwargs: Any):
        super().__init__(**kwargs)
        self.n_clusters = check_int(n_clusters, "n_clusters", minimum=1)
        self.alpha = float(alpha)

    def build(self, input_shape):
        self.centers = self.add_weight(shape=(self.n_clusters, int(input_shape[-1])), initializer="glorot_uniform",
                                       name="centers")

    def call(self, z):
        sq = keras.ops.sum((keras.ops.expand_dims(z, 1) - self.centers[None]) ** 2, axis=-1)
        kernel = (1.0 + sq / self.alpha) ** (-(self.alpha + 1.0) / 2.0)
        return kernel / keras.ops.sum(kernel, axis=1, keepdims=True)

    def get_config(self) -> dict:
        return {**super().get_config(), "n_clusters": self.n_clusters, "alpha": self.alpha}


def kl_loss(p: tf.Tensor, q: tf.Tensor) -> tf.Tensor:
    """``KL(P || Q)`` summed over clusters, averaged over the batch (P is a constant target).

    Both distributions get ``1e-12`` added inside the logarithms, so zero entries give finite terms.

    Args:
        p: Target distribution ``(batch, k)``.
        q: Soft assignments ``(batch, k)``.

    Returns:
        Scalar tensor: the batch mean of ``sum_j p_ij * (log p_ij - log q_ij)``.

    Example:
        >>> float(kl_loss(tf.constant([[0.5, 0.5]]), tf.constant([[0.5, 0.5]])))
        0.0
    """
    eps = 1e-12
    return tf.reduce_mean(tf.reduce_sum(p * (tf.math.log(p + eps) - tf.math.log(q + eps)), axis=1))


class DEC(ClusterMixin, BaseEstimator):
    """Deep Embedded Clustering as a scikit-learn estimator.

    Args:
        n_clusters: Number of clusters.
        autoencoder: A trained keras_ae auto-encoder (anything with an ``encoder`` sub-model
            mapping inputs to flat codes); its encoder is copied, so the model is left
            untouched. ``None``: build a dense auto-encoder ``hidden``-``code_dim`` and
            pretrain it on ``fit``'s data.
        hidden: Encoder widths of the built auto-encoder (paper: 500-500-2000).
        code_dim: Code size of the built auto-encoder (paper: 10).
        pretrain_epochs: Epochs of end-to-end pretraining of the built auto-encoder.
        pretrain_batch_size: Batch size of pretraining.
        batch_size: DEC batch size (paper: 256).
        learning_rate: SGD learning rate of DEC (paper: 0.01, momentum 0.9).
        momentum: SGD momentum.
        update_interval: Iterations between target updates T.
        tol: Stop when fewer than this fraction of hard assignments change between updates
            (paper: 0.1%).
        max_iter: Upper bound on DEC iterations (batches).
        alpha: Student's t degrees of freedom.
        n_init: k-means restarts for the initial centres (paper: 20).
        random_state: Seed for Keras, NumPy and k-means (``None``: no seeding).
        verbose: 0 silent, 1 progress bars.

    Attributes:
        autoencoder_: The (pretrained) auto-encoder whose encoder DEC started from.
        encoder_: The fine-tuned encoder.
        kmeans_: The k-means fitted on the initial codes (the "AE + k-means" baseline).
        cluster_centers_: Final centres in code space ``(n_clusters, code_dim)``.
        labels_: Cluster of each training example.
        n_iter_: DEC iterations run.
        delta_label_: Fraction of assignments changed at the last target update.

    Example:
        >>> ae = build_dense_ae((8, 8, 1), hidden=(32,), code_dim=4)
        >>> ae.compile(optimizer="adam")
        >>> _ = ae.fit(x_digits, epochs=2, batch_size=64, verbose=0)
        >>> from keras_ae.applications.clustering import DEC
        >>> dec = DEC(n_clusters=10, autoencoder=ae, max_iter=20, update_interval=5, random_state=0, verbose=0)
        >>> dec.fit_predict(x_digits).shape, dec.cluster_centers_.shape
        ((256,), (10, 4))

        The paper's model on MNIST (minutes of training, so not run here):

        ```python
        dec = DEC(n_clusters=10, pretrain_epochs=50)  # builds 784-500-500-2000-10
        y_pred = dec.fit_predict(x_train)
        clustering_scores(y_train, y_pred)
        ```
    """

    def __init__(
        self,
        n_clusters: int = 10,
        autoencoder: keras.Model | None = None,
        hidden: Sequence[int] = (500, 500, 2000),
        code_dim: int = 10,
        pretrain_epochs: int = 50,
        pretrain_batch_size: int = 256,
        batch_size: int = 256,
        learning_rate: float = 0.01,
        momentum: float = 0.9,
        update_interval: int = 140,
        tol: float = 0.001,
        max_iter: int = 20_000,
        alpha: float = 1.0,
        n_init: int = 20,
        random_state: int | None = 0,
        verbose: int = 1,
    ):
        self.n_clusters = n_clusters
        self.autoencoder = autoencoder
        self.hidden = hidden
        self.code_dim = code_dim
        self.pretrain_epochs = pretrain_epochs
        self.pretrain_batch_size = pretrain_batch_size
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.update_interval = update_interval
        self.tol = tol
        self.max_iter = max_iter
        self.alpha = alpha
        self.n_init = n_init
        self.random_state = random_state
        self.verbose = verbose

    # -- helpers ---------------------------------------------------------------------
    def _pretrained_autoencoder(self, x: np.ndarray) -> keras.Model:
        if self.autoencoder is not None:
            if not hasattr(self.autoencoder, "encoder"):
                raise InputValidationError("`autoencoder` needs an `encoder` sub-model (a keras_ae auto-encoder).")
            return self.autoencoder
        from keras_ae.models.dense import build_dense_ae

        # The paper: ReLU layers, a linear code and squared error (its inputs are scaled pixels).
        model = build_dense_ae(x.shape[1:], hidden=tuple(self.hidden), code_dim=self.code_dim, loss="mse")
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
        model.fit(x, epochs=self.pretrain_epochs, batch_size=self.pretrain_batch_size, shuffle=True,
                  verbose=2 if self.verbose else 0)
        return model

    def _q(self, x: np.ndarray) -> np.ndarray:
        return self._model.predict(x, batch_size=1024, verbose=0).astype(np.float64)

    # -- scikit-learn API -------------------------------------------------------------
    def fit(self, x: np.ndarray, y: Any = None) -> "DEC":
        """Pretrains (if needed), initialises the centres by k-means, then runs DEC.

        Args:
            x: Training inputs, shaped as the auto-encoder expects.
            y: Ignored.

        Returns:
            ``self``.
        """
        from sklearn.cluster import KMeans

        x = check_array(x, "x").astype(np.float32)
        n_clusters = check_int(self.n_clusters, "n_clusters", minimum=1)
        if len(x) < n_clusters:
            raise InputValidationError(f"Need at least n_clusters={n_clusters} examples, got {len(x)}.")
        if not 0.0 <= self.tol < 1.0:
            raise InputValidationError(f"tol must be in [0, 1), got {self.tol}.")
        update_interval = check_int(self.update_interval, "update_interval", minimum=1)
        batch_size = check_int(self.batch_size, "batch_size", minimum=1)
        rng = np.random.default_rng(self.random_state)
        with seeded(self.random_state):  # the caller's global seeds are restored afterwards

            self.autoencoder_ = self._pretrained_autoencoder(x)
            source = self.autoencoder_.encoder
            if len(source.output_shape) != 2:
                raise InputValidationError(f"DEC needs flat codes, the encoder outputs {source.output_shape}.")
            # A copy, so that fine-tuning leaves the caller's auto-encoder (and its k-means baseline) intact.
            self.encoder_ = keras.models.clone_model(source)
            self.encoder_.set_weights(source.get_weights())
            z = self.encoder_.predict(x, batch_size=1024, verbose=0)
            self.kmeans_ = KMeans(n_clusters, n_init=self.n_init, random_state=self.random_state).fit(z)

            clustering = ClusteringLayer(n_clusters, alpha=self.alpha, name="clustering")
            self._model = keras.Model(self.encoder_.input, clustering(self.encoder_.output), name="dec")
            clustering.centers.assign(self.kmeans_.cluster_centers_.astype(np.float32))
            optimizer = keras.optimizers.SGD(self.learning_rate, momentum=self.momentum)
            variables = self._model.trainable_variables
            optimizer.build(variables)

            @tf.function(reduce_retracing=True)
            def train_step(xb, pb):
                with tf.GradientTape() as tape:
                    loss = kl_loss(pb, self._model(xb, training=True))
                optimizer.apply(tape.gradient(loss, variables), variables)
                return loss

            labels_last = self.kmeans_.labels_.copy()
            order, position = rng.permutation(len(x)), 0
            progress = keras.utils.Progbar(self.max_iter, verbose=1 if self.verbose else 0, unit_name="iteration")
            self.delta_label_, self.n_iter_, loss = float("nan"), 0, float("nan")
            for iteration in range(int(self.max_iter)):
                if iteration % update_interval == 0:
                    q = self._q(x)
                    p = target_distribution(q).astype(np.float32)
                    labels = q.argmax(axis=1)
                    self.delta_label_ = float(np.mean(labels != labels_last))
                    labels_last = labels
                    if iteration > 0 and self.delta_label_ < self.tol:
                        break
                if position + batch_size > len(x):  # a new epoch: reshuffle
                    order, position = rng.permutation(len(x)), 0
                idx = order[position:position + batch_size]
                position += batch_size
                loss = float(train_step(tf.constant(x[idx]), tf.constant(p[idx])))
                self.n_iter_ = iteration + 1
                progress.update(self.n_iter_, values=[("kl", loss), ("delta_label", self.delta_label_)])
            self.cluster_centers_ = clustering.centers.numpy()
            self.labels_ = self._q(x).argmax(axis=1)
        return self

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Soft assignments ``q`` of new inputs, ``(n, n_clusters)``."""
        check_is_fitted(self, "cluster_centers_")
        return self._q(check_array(x, "x").astype(np.float32))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The most probable cluster of each input."""
        return self.predict_proba(x).argmax(axis=1)

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Codes of the fine-tuned encoder."""
        check_is_fitted(self, "cluster_centers_")
        return self.encoder_.predict(check_array(x, "x").astype(np.float32), batch_size=1024, verbose=0)
