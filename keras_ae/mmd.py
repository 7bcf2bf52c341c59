"""The maximum mean discrepancy (MMD) between two samples, in TensorFlow: differentiable, in-graph.

``MMD^2(P, Q) = E k(x, x') + E k(y, y') - 2 E k(x, y)`` for ``x, x' ~ P`` and ``y, y' ~ Q``.
:func:`mmd2_unbiased` is its unbiased estimate (a U-statistic: the diagonal ``k(x_i, x_i)``
is left out of the within-sample means), so it is ~0 in expectation for two samples of one
distribution and may come out slightly negative. The Wasserstein auto-encoder
(:mod:`keras_ae.models.wae`) pushes its codes to the prior with it.

Kernels (``kernel(a, b) -> (m, n)`` Gram matrix), ``||x - y||^2`` summed over scales ``s``:

==============  =====================================  =====================================
name            ``k(x, y)``                            constant
==============  =====================================  =====================================
``imq``         ``sum_s C_s / (C_s + ||x - y||^2)``    ``C_s = 2 d sigma^2 s`` (Tolstikhin et al. 2018)
``rbf``         ``sum_s exp(-||x - y||^2 / C_s)``      ``C_s = 2 d sigma^2 s``
``polynomial``  ``(x.y / d + 1)^3``                    KID's kernel (Binkowski et al. 2018)
==============  =====================================  =====================================

``d`` is the dimension and ``sigma^2`` the prior's variance per dimension (1 for N(0, I)).
Tolstikhin et al.'s inverse multiquadratics kernel has heavier tails than the RBF kernel,
so codes far from the prior still get a gradient; the sum over scales spares choosing one.

A low-level module (it imports only :mod:`keras_ae.validation`), so :mod:`keras_ae.models`
and :mod:`keras_ae.evaluation` may both use it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Sequence

import tensorflow as tf

from keras_ae.errors import InputValidationError
from keras_ae.validation import check_choice, check_float, short_repr

if TYPE_CHECKING:
    import numpy as np

# Tolstikhin et al.'s scales of the base constant C = 2 d sigma^2 (their code sums the kernel over them).
PAPER_SCALES = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)
KERNELS = ("imq", "rbf", "polynomial")


def check_scales(scales: Sequence[float], name: str = "scales") -> tuple[float, ...]:
    """A non-empty sequence of finite numbers > 0, returned as a tuple of floats.

    Args:
        scales: The kernel scales to validate.
        name: The argument's name in error messages.

    Returns:
        The scales as a tuple of floats.

    Raises:
        InputValidationError: if ``scales`` is not a sequence, is empty, or holds a value that is not > 0.

    Example:
        >>> check_scales([0.5, 1])
        (0.5, 1.0)
    """
    if isinstance(scales, (str, bytes)) or not hasattr(scales, "__iter__"):
        raise InputValidationError(f"`{name}` must be a non-empty sequence of numbers > 0 such as (0.5, 1.0, 2.0), "
                                   f"got {short_repr(scales)}.")
    values = tuple(scales)
    if not values:
        raise InputValidationError(f"`{name}` must hold at least one scale > 0, got an empty sequence.")
    return tuple(check_float(s, name, minimum=0.0, include_minimum=False) for s in values)


def squared_distances(a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
    """``||a_i - b_j||^2`` for every row pair, ``(m, n)``, clipped at 0 against rounding.

    Args:
        a: ``(m, d)`` rows.
        b: ``(n, d)`` rows.

    Returns:
        The ``(m, n)`` squared distances, in ``a``'s dtype.

    Example:
        >>> squared_distances(tf.constant([[0.0, 0.0]]), tf.constant([[3.0, 4.0], [0.0, 1.0]])).numpy().tolist()
        [[25.0, 1.0]]
    """
    sq_a = tf.reduce_sum(tf.square(a), axis=1, keepdims=True)
    sq_b = tf.reduce_sum(tf.square(b), axis=1, keepdims=True)
    return tf.maximum(sq_a + tf.transpose(sq_b) - 2.0 * tf.matmul(a, b, transpose_b=True), 0.0)


def _base_constant(a: tf.Tensor, prior_variance: float) -> tf.Tensor:
    dim = tf.cast(tf.shape(a)[1], a.dtype)
    return 2.0 * dim * tf.cast(prior_variance, a.dtype)


def imq_kernel(a: tf.Tensor, b: tf.Tensor, scales: Sequence[float] = PAPER_SCALES,
               prior_variance: float = 1.0) -> tf.Tensor:
    """Inverse multiquadratics kernel ``sum_s C_s / (C_s + ||a_i - b_j||^2)``, ``C_s = 2 d sigma^2 s``.

    Args:
        a: ``(m, d)`` rows.
        b: ``(n, d)`` rows.
        scales: Multipliers ``s`` of the base constant ``2 d sigma^2``.
        prior_variance: ``sigma^2``, the prior's variance per dimension.

    Returns:
        The ``(m, n)`` Gram matrix, in ``a``'s dtype.

    Example:
        >>> imq_kernel(tf.zeros((1, 2)), tf.constant([[2.0, 0.0]]), scales=(1.0,)).numpy().tolist()  # 4 / (4 + 4)
        [[0.5]]
    """
    dist = squared_distances(a, b)
    base = _base_constant(a, prior_variance)
    return tf.add_n([base * s / (base * s + dist) for s in scales])


def rbf_kernel(a: tf.Tensor, b: tf.Tensor, scales: Sequence[float] = PAPER_SCALES,
               prior_variance: float = 1.0) -> tf.Tensor:
    """Gaussian kernel ``sum_s exp(-||a_i - b_j||^2 / C_s)``, ``C_s = 2 d sigma^2 s``.

    Args:
        a: ``(m, d)`` rows.
        b: ``(n, d)`` rows.
        scales: Multipliers ``s`` of the base constant ``2 d sigma^2``.
        prior_variance: ``sigma^2``, the prior's variance per dimension.

    Returns:
        The ``(m, n)`` Gram matrix, in ``a``'s dtype.

    Example:
        >>> round(float(rbf_kernel(tf.zeros((1, 2)), tf.constant([[2.0, 0.0]]), scales=(1.0,))[0, 0]), 4)  # e^-1
        0.3679
    """
    dist = squared_distances(a, b)
    base = _base_constant(a, prior_variance)
    return tf.add_n([tf.exp(-dist / (base * s)) for s in scales])


def polynomial_kernel(a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
    """KID's kernel ``(a_i . b_j / d + 1)^3``, the in-graph twin of
    :func:`keras_ae.evaluation.sample_quality.polynomial_kernel`.

    Args:
        a: ``(m, d)`` rows.
        b: ``(n, d)`` rows.

    Returns:
        The ``(m, n)`` Gram matrix, in ``a``'s dtype.

    Example:
        >>> polynomial_kernel(tf.ones((1, 2)), tf.ones((1, 2))).numpy().tolist()
        [[8.0]]
    """
    dim = tf.cast(tf.shape(a)[1], a.dtype)
    return (tf.matmul(a, b, transpose_b=True) / dim + 1.0) ** 3


def get_kernel(name: str, scales: Sequence[float] = PAPER_SCALES,
               prior_variance: float = 1.0) -> Callable[[tf.Tensor, tf.Tensor], tf.Tensor]:
    """The kernel ``name`` (one of :data:`KERNELS`) as a function ``(a, b) -> Gram matrix``.

    Args:
        name: ``"imq"``, ``"rbf"`` or ``"polynomial"``.
        scales: Scales of the base constant (``imq`` and ``rbf``; the polynomial kernel has none).
        prior_variance: The prior's variance per dimension (``imq`` and ``rbf``).

    Returns:
        The kernel function.

    Example:
        >>> get_kernel("imq", scales=(1.0,))(tf.zeros((1, 2)), tf.zeros((1, 2))).numpy().tolist()
        [[1.0]]
    """
    check_choice(name, "MMD kernel", KERNELS)
    scales = check_scales(scales)
    prior_variance = check_float(prior_variance, "prior_variance", minimum=0.0, include_minimum=False)
    if name == "polynomial":
        return polynomial_kernel
    kernel = imq_kernel if name == "imq" else rbf_kernel
    return lambda a, b: kernel(a, b, scales, prior_variance)


def mmd2_unbiased(a: tf.Tensor | np.ndarray, b: tf.Tensor | np.ndarray,
                  kernel: Callable[[tf.Tensor, tf.Tensor], tf.Tensor] = imq_kernel) -> tf.Tensor:
    """Unbiased estimate of ``MMD^2`` between the samples ``a`` ``(m, d)`` and ``b`` ``(n, d)``, in the graph.

    ``sum_{i!=j} k(a_i, a_j) / (m(m-1)) + sum_{i!=j} k(b_i, b_j) / (n(n-1)) - 2 mean_ij k(a_i, b_j)``;
    0 when either sample has fewer than 2 rows (no pair to estimate from). Differentiable in
    both samples; computed in their dtype (float64 NumPy arrays stay float64).

    Args:
        a: ``(m, d)`` rows (a tensor or an array).
        b: ``(n, d)`` rows, same dtype.
        kernel: ``(a, b) -> (m, n)`` Gram matrix (:func:`imq_kernel`, :func:`get_kernel`, ...).

    Returns:
        A scalar tensor.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> same, shifted = rng.normal(size=(200, 2)), rng.normal(size=(200, 2))
        >>> print(f"{float(mmd2_unbiased(rng.normal(size=(200, 2)), same)):.3f}")
        -0.005
        >>> print(f"{float(mmd2_unbiased(shifted + 1, same)):.3f}")
        0.960
    """
    a, b = tf.convert_to_tensor(a), tf.convert_to_tensor(b)
    m, n = tf.shape(a)[0], tf.shape(b)[0]
    mf, nf = tf.cast(m, a.dtype), tf.cast(n, a.dtype)
    k_aa, k_bb, k_ab = kernel(a, a), kernel(b, b), kernel(a, b)
    within_a = (tf.reduce_sum(k_aa) - tf.linalg.trace(k_aa)) / tf.maximum(mf * (mf - 1.0), 1.0)
    within_b = (tf.reduce_sum(k_bb) - tf.linalg.trace(k_bb)) / tf.maximum(nf * (nf - 1.0), 1.0)
    across = tf.reduce_sum(k_ab) / tf.maximum(mf * nf, 1.0)
    return tf.where(tf.minimum(m, n) >= 2, within_a + within_b - 2.0 * across, tf.zeros([], a.dtype))


__all__ = ["KERNELS", "PAPER_SCALES", "check_scales", "get_kernel", "imq_kernel", "mmd2_unbiased",
           "polynomial_kernel", "rbf_kernel", "squared_distances"]
