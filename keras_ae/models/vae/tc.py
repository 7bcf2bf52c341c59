"""The KL decomposition of beta-TCVAE (Chen et al. 2018), estimated by minibatch-weighted sampling.

Averaged over the data, the ELBO's KL term splits into three parts:

    E_x KL(q(z|x) || p(z)) = I_q(x; z)                          index-code mutual information
                           + KL(q(z) || prod_d q(z_d))          total correlation (TC)
                           + sum_d KL(q(z_d) || p(z_d))         dimension-wise KL

with q(z) = 1/N sum_n q(z|x_n) the aggregate posterior of the N training examples. For a
batch of M codes z_i ~ q(z|x_i), minibatch-weighted sampling (the paper's MWS) estimates
the aggregate posterior's density from the batch alone:

    log q(z_i)     ~ logsumexp_j log q(z_i | x_j)      - log(N M)
    log q(z_id)    ~ logsumexp_j log q(z_id | x_jd)    - log(N M)     (per dimension d)

=================  =================================================
term               per-example estimate
=================  =================================================
``mi``             log q(z_i|x_i) - log q(z_i)
``tc``             log q(z_i) - sum_d log q(z_id)
``dimension_kl``   sum_d log q(z_id) - log p(z_i)
=================  =================================================

The three sum to ``log q(z_i|x_i) - log p(z_i)``, the one-sample Monte Carlo KL estimate,
exactly: the ``log(N M)`` terms cancel. ``N`` only shifts ``mi`` by ``+log(N M)`` and ``tc``
by ``-(D - 1) log(N M)``, so it changes the reported values, never the gradients. Without
``N`` the estimates are those of the batch's own aggregate posterior (``N = 1``).
"""

from __future__ import annotations

import math

import tensorflow as tf

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def gaussian_log_density(z: tf.Tensor, loc: tf.Tensor, scale: tf.Tensor) -> tf.Tensor:
    """Elementwise ``log N(z; loc, scale)`` (broadcasting).

    Args:
        z: Points at which the density is evaluated.
        loc: Means of the Gaussians.
        scale: Their standard deviations (> 0).

    Returns:
        ``-0.5 * ((z - loc) / scale)**2 - log(scale) - 0.5 * log(2 pi)``, in the broadcast shape of the arguments.

    Example:
        >>> float(gaussian_log_density(tf.constant(0.0), tf.constant(0.0), tf.constant(1.0)))  # -log sqrt(2 pi)
        -0.918938...
    """
    return -0.5 * tf.square((z - loc) / scale) - tf.math.log(scale) - _HALF_LOG_2PI


def kl_decomposition(z: tf.Tensor, loc: tf.Tensor, scale: tf.Tensor, log_prior: tf.Tensor,
                     dataset_size: int | tf.Tensor | None = None,
                     components: tuple[tf.Tensor, tf.Tensor] | None = None) -> dict[str, tf.Tensor]:
    """The index-code MI, total correlation and dimension-wise KL of a batch, per example (see the module).

    Args:
        z: Codes ``(M, D)``, ``z_i ~ q(z|x_i)``.
        loc: Means of the batch's diagonal Gaussian posteriors, ``(M, D)``.
        scale: Their standard deviations, ``(M, D)``.
        log_prior: ``log p(z_i)``, ``(M,)``.
        dataset_size: ``N``, the number of training examples (the paper's estimator), or
            ``None``: the densities of the batch's own aggregate posterior ``1/M sum_j q(z|x_j)``
            (the formula with ``N = 1``).
        components: ``(loc, scale)`` of the ``M`` posteriors that make up the aggregate
            posterior's estimate, when they are more than the batch's own (the global batch
            under ``tf.distribute``: :func:`keras_ae.replicas.global_rows`); ``None``: ``loc``, ``scale``.

    Returns:
        ``{"mi", "tc", "dimension_kl"}``, float32 tensors ``(M,)``.

    Example:
        >>> z = tf.constant([[0.1, -0.3], [0.5, 0.2], [-1.0, 0.4]])
        >>> terms = kl_decomposition(z, tf.zeros((3, 2)), tf.ones((3, 2)), -tf.reduce_sum(z ** 2, 1) / 2 - 1.837877)
        >>> [round(float(tf.reduce_mean(terms[key])), 4) for key in ("mi", "tc", "dimension_kl")]  # q(z|x) = p(z)
        [0.0, 0.0, 0.0]
    """
    z, loc, scale = (tf.cast(t, tf.float32) for t in (z, loc, scale))
    all_loc, all_scale = (loc, scale) if components is None else (tf.cast(t, tf.float32) for t in components)
    batch = tf.cast(tf.shape(all_loc)[0], tf.float32)
    n = 1.0 if dataset_size is None else tf.cast(dataset_size, tf.float32)
    log_nm = tf.math.log(n * batch)
    # log q(z_i,d | x_j,d) for every code i and posterior j: (batch, M, D).
    pairs = gaussian_log_density(z[:, None, :], all_loc[None, :, :], all_scale[None, :, :])
    log_q_zx = tf.reduce_sum(gaussian_log_density(z, loc, scale), axis=1)  # log q(z_i | x_i)
    log_qz = tf.reduce_logsumexp(tf.reduce_sum(pairs, axis=2), axis=1) - log_nm
    log_prod_qzd = tf.reduce_sum(tf.reduce_logsumexp(pairs, axis=1) - log_nm, axis=1)
    log_prior = tf.cast(log_prior, tf.float32)
    return {"mi": log_q_zx - log_qz, "tc": log_qz - log_prod_qzd, "dimension_kl": log_prod_qzd - log_prior}
