"""Clustering: DEC's target distribution and KL gradient by hand, Hungarian accuracy, DEC on blobs."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from keras_ae.applications.clustering import (DEC, ClusteringLayer, clustering_accuracy, clustering_scores,
                                              kl_loss, soft_assignment, target_distribution)
from keras_ae.errors import InputValidationError

Z = np.array([[0.0, 0.0], [1.0, 2.0], [3.0, -1.0]])
MU = np.array([[0.5, 0.5], [2.0, 0.0]])


def hand_q(z, mu):
    """q_ij = (1 + |z_i - mu_j|^2)^-1 / sum_j' (...), written out element by element."""
    q = np.zeros((len(z), len(mu)))
    for i in range(len(z)):
        for j in range(len(mu)):
            q[i, j] = 1.0 / (1.0 + np.sum((z[i] - mu[j]) ** 2))
        q[i] /= q[i].sum()
    return q


def test_soft_assignment_is_the_student_t_kernel():
    q = soft_assignment(Z, MU)
    np.testing.assert_allclose(q, hand_q(Z, MU))
    # First point: squared distances 0.5 and 4 -> kernels 2/3 and 1/5.
    np.testing.assert_allclose(q[0], np.array([2 / 3, 1 / 5]) / (2 / 3 + 1 / 5))
    layer = ClusteringLayer(2)
    layer.build((None, 2))
    layer.centers.assign(MU.astype("float32"))
    np.testing.assert_allclose(layer(Z.astype("float32")).numpy(), q, rtol=1e-5)


def test_target_distribution_by_hand():
    q = np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8]])
    f = q.sum(axis=0)  # soft cluster frequencies (1.7, 1.3)
    p = np.array([[q[i, j] ** 2 / f[j] for j in range(2)] for i in range(3)])
    p /= p.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(target_distribution(q), p)
    # Row 0 by hand: 0.81/1.7 = 0.476..., 0.01/1.3 = 0.00769...; normalised.
    np.testing.assert_allclose(target_distribution(q)[0, 0], (0.81 / 1.7) / (0.81 / 1.7 + 0.01 / 1.3))
    # Sharper than q where q is confident, rows sum to one.
    assert target_distribution(q)[0, 0] > q[0, 0]
    np.testing.assert_allclose(target_distribution(q).sum(axis=1), 1.0)


def test_kl_gradients_match_the_paper():
    """dL/dz_i = 2 sum_j (1 + |z_i - mu_j|^2)^-1 (p_ij - q_ij)(z_i - mu_j) (alpha = 1); dL/dmu_j the negative sum."""
    q = hand_q(Z, MU)
    p = target_distribution(q)
    kernel = 1.0 / (1.0 + ((Z[:, None] - MU[None]) ** 2).sum(-1))
    weight = kernel * (p - q)  # (n, k)
    grad_z = 2.0 * np.einsum("ij,ijd->id", weight, Z[:, None] - MU[None])
    grad_mu = -2.0 * np.einsum("ij,ijd->jd", weight, Z[:, None] - MU[None])

    layer = ClusteringLayer(2)
    layer.build((None, 2))
    layer.centers.assign(MU.astype("float32"))
    z = tf.Variable(Z.astype("float32"))
    with tf.GradientTape() as tape:
        loss = kl_loss(tf.constant(p, tf.float32), layer(z)) * len(Z)  # kl_loss averages over the batch
    tf_grad_z, tf_grad_mu = tape.gradient(loss, [z, layer.centers.value])
    np.testing.assert_allclose(tf_grad_z.numpy(), grad_z, atol=1e-5)
    np.testing.assert_allclose(tf_grad_mu.numpy(), grad_mu, atol=1e-5)
    # And the loss itself: sum_ij p log(p / q).
    assert float(loss) == pytest.approx(np.sum(p * np.log(p / q)), rel=1e-5)


def test_hungarian_accuracy():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, size=500)
    renaming = rng.permutation(10)
    assert clustering_accuracy(y, renaming[y]) == 1.0
    assert clustering_scores(y, renaming[y])["nmi"] == pytest.approx(1.0)
    # A known confusion: rows = clusters, columns = classes.
    #   cluster 0: 5 of class 0, 1 of class 1
    #   cluster 1: 4 of class 1, 3 of class 2
    #   cluster 2: 2 of class 0, 5 of class 2
    # Best matching 0->0, 1->1, 2->2: (5 + 4 + 5) / 20 = 0.7 (any other matching is worse, e.g.
    # 0->0, 1->2, 2->? leaves class 1 -> cluster 2: 5 + 3 + 0 = 8).
    y_pred = np.repeat([0, 0, 1, 1, 2, 2], [5, 1, 4, 3, 2, 5])
    y_true = np.repeat([0, 1, 1, 2, 0, 2], [5, 1, 4, 3, 2, 5])
    assert clustering_accuracy(y_true, y_pred) == pytest.approx(14 / 20)
    # More clusters than classes: the extra cluster matches nothing.
    assert clustering_accuracy([0, 0, 1, 1], [0, 2, 1, 1]) == 0.75
    with pytest.raises(InputValidationError):
        clustering_accuracy([0, 1], [0])


@pytest.mark.slow
def test_dec_separates_blobs():
    from sklearn.datasets import make_blobs

    x, y = make_blobs(n_samples=300, centers=3, n_features=8, cluster_std=0.5, center_box=(-5, 5), random_state=0)
    x = x.astype("float32")
    dec = DEC(n_clusters=3, hidden=(16,), code_dim=3, pretrain_epochs=20, pretrain_batch_size=32, batch_size=32,
              update_interval=10, max_iter=200, n_init=5, random_state=0, verbose=0)
    labels = dec.fit_predict(x)
    assert clustering_accuracy(y, labels) == 1.0
    assert clustering_accuracy(y, dec.predict(x)) == 1.0
    assert dec.cluster_centers_.shape == (3, 3)
    assert dec.transform(x).shape == (300, 3)
    proba = dec.predict_proba(x)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert 1 <= dec.n_iter_ <= 200


@pytest.mark.slow
def test_dec_leaves_the_callers_autoencoder_alone(digits):
    from keras_ae.models.dense import build_dense_ae

    (x_train, _), _ = digits
    ae = build_dense_ae((8, 8, 1), hidden=(16,), code_dim=4)
    before = [w.copy() for w in ae.encoder.get_weights()]
    dec = DEC(n_clusters=5, autoencoder=ae, max_iter=20, update_interval=5, n_init=2, verbose=0).fit(x_train[:200])
    for a, b in zip(before, ae.encoder.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert dec.labels_.shape == (200,)
    with pytest.raises(InputValidationError, match="encoder"):
        DEC(autoencoder=object(), verbose=0).fit(x_train[:20])
