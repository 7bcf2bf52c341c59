"""Posterior-collapse diagnostics of a VAE: active units, KL per dimension, I(x; z), and their TensorBoard scalars.

| diagnostic | definition | collapsed dimension / model |
| --- | --- | --- |
| :func:`active_units` | ``Var_x(E_q[z_d | x]) > threshold`` (Burda et al. 2016, threshold 0.01) | variance ~ 0 |
| :func:`kl_per_dimension` | ``E_x KL(q(z_d|x) || p(z_d))`` per dimension, in nats | ~ 0 nats |
| :func:`mutual_information` | ``I(x; z) = E_x E_q[log q(z|x) - log q(z)]``, ``q(z) = 1/N sum_n q(z|x_n)`` | ~ 0 nats |

A dimension whose posterior mean does not move with ``x`` carries no information about ``x``:
its posterior equals the prior for every example ("posterior collapse", Bowman et al. 2016;
the lagging-inference analysis of He et al. 2019 tracks the same three numbers). The
functions work on any model with ``posterior(x, labels=None)`` returning a ``tfd``
distribution over ``z`` (event shape ``(latent_dim,)``), a ``prior`` property and
``latent_dim`` (every keras_ae VAE: this package imports no model module).

:class:`PosteriorCollapseSummaries` writes them as TensorBoard scalars during ``fit``.

Example:
    >>> vae = build_vae((8, 8, 1), latent_dim=4, hidden=(16,))
    >>> report = collapse_report(vae, x_digits_test)
    >>> report["latent_dim"], report["kl_method"], 0 <= report["mutual_information"] <= report["mi_upper_bound"]
    (4, 'analytic', True)
"""

from __future__ import annotations

import math
import os
from typing import Any, Iterator

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from keras_ae.errors import InputValidationError
from keras_ae.random import stateless_pair
from keras_ae.training.callbacks.periodic import PeriodicSummaries
from keras_ae.validation import (check_array, check_class_labels, check_float, check_int, check_seed, check_verbose,
                                 short_repr)

tfd = tfp.distributions

BURDA_THRESHOLD = 0.01  # Burda et al. 2016: a unit is active when Var_x E_q[z_d | x] exceeds 1e-2
SUMMARIES_RUN = "posterior_collapse"  # sub-folder of the TensorBoard log dir (a run)
# Pairwise log q(z_i | x_n) of the I(x; z) estimate: at most this many (sample, example, dimension)
# numbers at once (16 MB of float32).
_MAX_PAIRWISE = 4_000_000

_NEEDS = ("posterior(x, labels=None) returning a tfd distribution over z, a `prior` property (a tfd "
          "distribution with event shape (latent_dim,)) and `latent_dim`")


# -- inputs --------------------------------------------------------------------------------
def check_vae(model: Any, needs_decode: bool = False) -> int:
    """Refuses a model without a VAE's posterior API; returns its ``latent_dim``.

    Args:
        model: The model to diagnose.
        needs_decode: Also require ``decode(z, labels=None)`` (latent traversals).

    Returns:
        ``model.latent_dim`` as an int.

    Raises:
        InputValidationError: naming what the model lacks.

    Example:
        >>> check_vae(build_vae((8, 8, 1), latent_dim=3, hidden=(16,)))
        3
        >>> check_vae(build_dense_ae((8, 8, 1), hidden=(16,), code_dim=4))
        Traceback (most recent call last):
        ...
        keras_ae.errors.InputValidationError: Posterior-collapse diagnostics need a VAE: a model with posterior(x, ...
    """
    missing = [name for name in ("posterior", "decode")[: 1 + needs_decode] if not callable(getattr(model, name, None))]
    if not hasattr(model, "prior"):
        missing.append("prior")
    if getattr(model, "latent_dim", None) is None:
        missing.append("latent_dim")
    if missing:
        needs = _NEEDS + (" and decode(z, labels=None)" if needs_decode else "")
        raise InputValidationError(
            f"Posterior-collapse diagnostics need a VAE: a model with {needs}; {type(model).__name__} has no "
            f"{', '.join(missing)}. Build one with build_vae(...).")
    return check_int(model.latent_dim, "latent_dim", minimum=1)


def _check_data(model: Any, x: Any, labels: Any, name: str = "x") -> tuple[np.ndarray, np.ndarray | None]:
    """``x`` as float32 (non-empty, finite, in the model's example shape) and the labels a conditional model needs."""
    x = check_array(x, name, expected_shape=getattr(model, "example_shape", None))
    conditional = bool(getattr(model, "conditional", False))
    y = check_class_labels(labels, len(x), getattr(model, "num_classes", None) if conditional else None, "labels")
    return x, y


def _posteriors(model: Any, x: np.ndarray, y: np.ndarray | None, batch_size: int) -> Iterator[tfd.Distribution]:
    """q(z|x) batch by batch (q(z|x, y) for a conditional model)."""
    for i in range(0, len(x), batch_size):
        labels = None if y is None else y[i:i + batch_size]
        q = model.posterior(x[i:i + batch_size], labels=labels)
        if tuple(q.event_shape) != (model.latent_dim,):
            raise InputValidationError(
                f"model.posterior must return a distribution with event shape ({model.latent_dim},), got "
                f"{tuple(q.event_shape)}.")
        yield q


def diagonal_gaussian(dist: tfd.Distribution) -> tuple[tf.Tensor, tf.Tensor] | None:
    """``(mean, stddev)`` of a diagonal Gaussian (``MultivariateNormalDiag``, or ``Independent(Normal)``
    over the last axis), broadcast to ``batch_shape + event_shape``; ``None`` for anything else.

    Diagonal means a ``MultivariateNormalLinearOperator`` whose scale is a diagonal, identity or
    scaled-identity operator (``MultivariateNormalDiag`` is one).

    Args:
        dist: A distribution over ``z``, e.g. a model's posterior ``q(z|x)``.

    Returns:
        ``(mean, stddev)`` as float32 tensors, or ``None`` when ``dist`` is not such a diagonal Gaussian.

    Example:
        >>> q = tfd.MultivariateNormalDiag(loc=[[0.0, 1.0]], scale_diag=[[2.0, 3.0]])
        >>> [t.numpy().tolist() for t in diagonal_gaussian(q)]
        [[[0.0, 1.0]], [[2.0, 3.0]]]
        >>> diagonal_gaussian(tfd.MultivariateNormalTriL(loc=[0.0, 0.0], scale_tril=[[1.0, 0.0], [0.5, 1.0]])) is None
        True
    """
    diagonal = (isinstance(dist, tfd.MultivariateNormalLinearOperator)
                and isinstance(dist.scale, (tf.linalg.LinearOperatorDiag, tf.linalg.LinearOperatorIdentity,
                                            tf.linalg.LinearOperatorScaledIdentity)))
    independent = (isinstance(dist, tfd.Independent) and isinstance(dist.distribution, tfd.Normal)
                   and dist.reinterpreted_batch_ndims == 1)
    if not (diagonal or independent):
        return None
    return tf.cast(dist.mean(), tf.float32), tf.cast(dist.stddev(), tf.float32)


def _seed(seed: Any) -> int:
    seed = check_seed(seed)
    return int(np.random.default_rng().integers(2**31 - 1)) if seed is None else seed


# -- active units ---------------------------------------------------------------------------
def posterior_means(model: Any, x: Any, batch_size: int = 256, labels: Any = None, num_samples: int = 16,
                    seed: int | None = 0) -> np.ndarray:
    """E_q[z | x] per example, ``(n, latent_dim)`` float32.

    The exact mean when the posterior has one (a diagonal Gaussian); a flow posterior has no
    closed-form mean, so it is the average of ``num_samples`` draws (seeded by ``seed``).

    Args:
        model: A VAE (see :func:`check_vae`).
        x: Examples.
        batch_size: Examples per encoder pass.
        labels: Class ids of a conditional VAE (one per example, or one int); ``None`` otherwise.
        num_samples: Draws per example for a posterior without a closed-form mean.
        seed: Seed of those draws (``None``: a fresh one).

    Returns:
        Float32 ``(n, latent_dim)``.

    Example:
        >>> vae = build_vae((8, 8, 1), latent_dim=2, hidden=(16,))
        >>> np.allclose(posterior_means(vae, x_digits_test), vae.codes(x_digits_test))
        True
    """
    check_vae(model)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    num_samples = check_int(num_samples, "num_samples", minimum=1)
    seed = _seed(seed)
    x, y = _check_data(model, x, labels)
    parts = []
    for b, q in enumerate(_posteriors(model, x, y, batch_size)):
        try:
            mean = q.mean()
        except NotImplementedError:  # a flow posterior: the mean of draws
            mean = tf.reduce_mean(q.sample(num_samples, seed=stateless_pair(seed, b)), axis=0)
        parts.append(np.asarray(mean, np.float32))
    return np.concatenate(parts)


def active_units(model: Any, x: Any, threshold: float = BURDA_THRESHOLD, batch_size: int = 256, labels: Any = None,
                 num_samples: int = 16, seed: int | None = 0) -> dict:
    """Active units (Burda et al. 2016): dimensions d with ``Var_x(E_q[z_d | x]) > threshold``.

    The variance is over the examples of ``x`` (population variance, ``ddof=0``) of the
    posterior means of :func:`posterior_means` (for a flow posterior, the mean of
    ``num_samples`` draws per example).

    Args:
        model: A VAE (see :func:`check_vae`).
        x: At least two held-out examples.
        threshold: Variance above which a unit counts as active (>= 0; 0.01 in the paper).
        batch_size: Examples per encoder pass.
        labels: Class ids of a conditional VAE; ``None`` otherwise.
        num_samples: Draws per example for a posterior without a closed-form mean.
        seed: Seed of those draws.

    Returns:
        ``{"count": int, "active": bool (latent_dim,), "variances": float64 (latent_dim,),
        "threshold": float}``.

    Example:
        >>> vae = build_vae((8, 8, 1), latent_dim=4, hidden=(16,))
        >>> units = active_units(vae, x_digits_test)
        >>> units["variances"].shape, units["count"] == int(units["active"].sum())
        ((4,), True)
    """
    threshold = check_float(threshold, "threshold", minimum=0.0)
    means = posterior_means(model, x, batch_size, labels, num_samples, seed)
    if len(means) < 2:
        raise InputValidationError(f"active_units needs at least 2 examples (a variance over x), got {len(means)}.")
    variances = np.var(means.astype(np.float64), axis=0)
    active = variances > threshold
    return {"count": int(active.sum()), "active": active, "variances": variances, "threshold": threshold}


# -- KL per dimension -----------------------------------------------------------------------
def prior_marginals(prior: tfd.Distribution, latent_dim: int) -> tuple[tfd.Distribution, bool]:
    """The one-dimensional marginals p(z_d) as one distribution with batch shape ``(latent_dim,)``.

    Args:
        prior: A diagonal Gaussian, or a ``tfd.MixtureSameFamily`` of diagonal Gaussians
            (:class:`~keras_ae.layers.mixture_prior.GaussianMixturePrior`'s distribution).
        latent_dim: Dimension of z.

    Returns:
        ``(marginals, gaussian)``: ``gaussian`` is True when each marginal is a ``tfd.Normal``.

    Raises:
        InputValidationError: for a prior whose marginals have no closed form.

    Example:
        >>> p, gaussian = prior_marginals(tfd.MultivariateNormalDiag(tf.zeros(3), tf.ones(3)), 3)
        >>> p.batch_shape, gaussian
        (TensorShape([3]), True)
    """
    gaussian = diagonal_gaussian(prior)
    if gaussian is not None and tuple(prior.batch_shape) == ():
        return tfd.Normal(*gaussian), True
    if isinstance(prior, tfd.MixtureSameFamily) and tuple(prior.batch_shape) == ():
        components = diagonal_gaussian(prior.components_distribution)
        if components is not None:
            loc, scale = components  # (K, latent_dim)
            logits = tf.cast(prior.mixture_distribution.logits_parameter(), tf.float32)
            k = tf.shape(logits)[-1]
            return tfd.MixtureSameFamily(
                tfd.Categorical(logits=tf.broadcast_to(logits, [latent_dim, k])),
                tfd.Normal(tf.transpose(loc), tf.transpose(scale))), False
    raise InputValidationError(
        "kl_per_dimension needs a prior whose one-dimensional marginals are known: a diagonal Gaussian or a "
        f"tfd.MixtureSameFamily of diagonal Gaussians; got {short_repr(type(prior).__name__)}.")


def kl_per_dimension(model: Any, x: Any, batch_size: int = 256, labels: Any = None, num_samples: int = 16,
                     seed: int | None = 0) -> dict:
    """``E_x KL(q(z_d|x) || p(z_d))`` for each latent dimension d, in nats.

    | posterior q(z|x) | prior p(z) | method |
    | --- | --- | --- |
    | diagonal Gaussian | diagonal Gaussian (the standard normal) | ``"analytic"``: the sum over d is the model's KL |
    | diagonal Gaussian | mixture of diagonal Gaussians | ``"monte_carlo"``: ``num_samples`` draws of each z_d |
    | other (a flow) | either | ``"monte_carlo"``: each q(z_d|x) replaced by the Gaussian with the mean and |
    | | | variance of ``num_samples`` draws (a lower bound on its KL to a Gaussian prior) |

    For a posterior that does not factorize (a flow) the per-dimension values sum to less
    than KL(q(z|x) || p(z)) for a factorized prior: the difference is q's total correlation.

    Args:
        model: A VAE (see :func:`check_vae`).
        x: Held-out examples.
        batch_size: Examples per encoder pass.
        labels: Class ids of a conditional VAE; ``None`` otherwise.
        num_samples: Draws per example of the Monte-Carlo paths.
        seed: Seed of those draws (``None``: a fresh one).

    Returns:
        ``{"per_dim": float64 (latent_dim,), "total": float, "method": "analytic" | "monte_carlo"}``.

    Example:
        >>> vae = build_vae((8, 8, 1), latent_dim=3, hidden=(16,))
        >>> kl = kl_per_dimension(vae, x_digits_test)
        >>> kl["method"], bool(np.isclose(kl["total"], np.mean(vae.kl_divergence(vae.posterior(x_digits_test)))))
        ('analytic', True)
    """
    latent_dim = check_vae(model)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    num_samples = check_int(num_samples, "num_samples", minimum=1)
    seed = _seed(seed)
    x, y = _check_data(model, x, labels)
    p, p_gaussian = prior_marginals(model.prior, latent_dim)
    total = np.zeros(latent_dim, np.float64)
    analytic = True
    for b, q in enumerate(_posteriors(model, x, y, batch_size)):
        gaussian = diagonal_gaussian(q)
        if gaussian is None:  # no closed-form marginals: moment-match each q(z_d|x) on draws
            analytic = False
            z = q.sample(num_samples, seed=stateless_pair(seed, 2 * b))
            gaussian = tf.reduce_mean(z, axis=0), tf.math.reduce_std(z, axis=0)
        q_d = tfd.Normal(*gaussian)  # (batch, latent_dim)
        if p_gaussian:
            kl = tfd.kl_divergence(q_d, p)
        else:
            analytic = False
            z = q_d.sample(num_samples, seed=stateless_pair(seed, 2 * b + 1))
            kl = tf.reduce_mean(q_d.log_prob(z) - p.log_prob(z), axis=0)
        total += np.sum(np.asarray(kl, np.float64), axis=0)
    per_dim = total / len(x)
    return {"per_dim": per_dim, "total": float(per_dim.sum()), "method": "analytic" if analytic else "monte_carlo"}


# -- mutual information ---------------------------------------------------------------------
def mutual_information(model: Any, x: Any, num_samples: int = 10, seed: int | None = 0, labels: Any = None,
                       batch_size: int = 256, verbose: int = 0) -> float:
    """I(x; z) under the aggregate posterior ``q(z) = 1/N sum_n q(z|x_n)`` of the N examples, in nats.

    The estimator of Hoffman & Johnson (2016) and He et al. (2019):

        I(x; z) = E_x E_{z ~ q(z|x)}[log q(z|x) - log q(z)],
        log q(z) = logmeanexp_n log q(z|x_n),

    with ``num_samples`` draws of z per example. Each term is at most ``log N``
    (``q(z) >= q(z|x)/N``), so the estimate lies in ``[0, log N]``: N examples can
    carry at most ``log N`` nats about which example was encoded. Its expectation is the
    generalized Jensen-Shannon divergence of the N posteriors (>= 0); a negative
    Monte-Carlo estimate around a true 0 is reported as 0. The N posteriors are held
    at once: a diagonal Gaussian's as ``(N, latent_dim)`` means and deviations, any
    other (a flow) as the distribution of one encoder pass over ``x``.

    Args:
        model: A VAE (see :func:`check_vae`).
        x: Held-out examples (N of them; a few hundred to a few thousand).
        num_samples: Draws of z per example.
        seed: Seed of the draws (``None``: a fresh one).
        labels: Class ids of a conditional VAE (q(z|x, y)); ``None`` otherwise.
        batch_size: Examples per encoder pass.
        verbose: 1 or 2 shows a progress bar over the pairwise densities.

    Returns:
        The estimate, a float in ``[0, log N]``.

    Example:
        >>> vae = build_vae((8, 8, 1), latent_dim=2, hidden=(16,))
        >>> 0.0 <= mutual_information(vae, x_digits_test) <= math.log(len(x_digits_test))
        True
    """
    latent_dim = check_vae(model)
    num_samples = check_int(num_samples, "num_samples", minimum=1)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    verbose = check_verbose(verbose)
    seed = _seed(seed)
    x, y = _check_data(model, x, labels)
    n = len(x)
    gaussians = [diagonal_gaussian(q) for q in _posteriors(model, x, y, batch_size)]
    if all(g is not None for g in gaussians):
        loc = tf.concat([g[0] for g in gaussians], 0)
        scale = tf.concat([g[1] for g in gaussians], 0)
        z = loc + scale * tf.random.stateless_normal((num_samples, n, latent_dim), stateless_pair(seed))
        everyone = tfd.Normal(loc, scale)  # (N, latent_dim)

        def log_q(rows: tf.Tensor) -> tf.Tensor:  # (m, latent_dim) -> log q(z_m | x_n), (m, N)
            return tf.reduce_sum(everyone.log_prob(rows[:, None, :]), axis=-1)
    else:
        # One distribution over all N examples, to score a draw under every example's posterior.
        everyone = model.posterior(x, labels=y)
        z = tf.cast(everyone.sample(num_samples, seed=stateless_pair(seed)), tf.float32)

        def log_q(rows: tf.Tensor) -> tf.Tensor:
            return everyone.log_prob(tf.broadcast_to(rows[:, None, :], (rows.shape[0], n, latent_dim)))
    rows = tf.reshape(z, (num_samples * n, latent_dim))  # row s * N + i: draw s of example i
    own = np.tile(np.arange(n), num_samples)
    chunk = max(1, _MAX_PAIRWISE // (n * latent_dim))
    progress = keras.utils.Progbar(len(own), verbose=verbose, unit_name="draw") if verbose else None
    total, seen, estimate = 0.0, 0, 0.0
    for start in range(0, len(own), chunk):
        pairwise = np.asarray(log_q(rows[start:start + chunk]), np.float64)  # (m, N)
        aggregate = _logmeanexp(pairwise)
        self_term = pairwise[np.arange(len(pairwise)), own[start:start + chunk]]
        total, seen = total + float(np.sum(self_term - aggregate)), seen + len(pairwise)
        estimate = min(max(total / seen, 0.0), math.log(n))
        if progress is not None:  # the running estimate: the bar's last value is the result
            progress.add(len(pairwise), values=[("mutual_information", estimate)])
    return float(estimate)


def _logmeanexp(a: np.ndarray) -> np.ndarray:
    m = np.max(a, axis=1, keepdims=True)
    return np.log(np.mean(np.exp(a - m), axis=1)) + m[:, 0]


# -- all three --------------------------------------------------------------------------------
def collapse_report(model: Any, x: Any, threshold: float = BURDA_THRESHOLD, labels: Any = None, batch_size: int = 256,
                    num_samples: int = 10, seed: int | None = 0, verbose: int = 0) -> dict:
    """Active units, KL per dimension and I(x; z) of ``model`` on ``x``, in one dict.

    Args:
        model: A VAE (see :func:`check_vae`).
        x: At least two held-out examples.
        threshold: Active-unit variance threshold (:func:`active_units`).
        labels: Class ids of a conditional VAE; ``None`` otherwise.
        batch_size: Examples per encoder pass.
        num_samples: Draws per example of the Monte-Carlo parts.
        seed: Seed of every draw.
        verbose: Progress bar of the mutual information.

    Returns:
        ``{"examples", "latent_dim", "active_units", "active_dims" (list), "variances",
        "kl_per_dim", "kl", "kl_method", "mutual_information", "mi_upper_bound" (log N), "threshold"}``.

    Example:
        >>> vae = build_vae((8, 8, 1), latent_dim=3, hidden=(16,))
        >>> sorted(collapse_report(vae, x_digits_test))[:4]
        ['active_dims', 'active_units', 'examples', 'kl']
    """
    seed = _seed(seed)
    units = active_units(model, x, threshold, batch_size, labels, num_samples, seed)
    kl = kl_per_dimension(model, x, batch_size, labels, num_samples, seed)
    mi = mutual_information(model, x, num_samples, seed, labels, batch_size, verbose)
    n = int(np.shape(x)[0])
    return {"examples": n, "latent_dim": len(units["active"]), "active_units": units["count"],
            "active_dims": [int(d) for d in np.flatnonzero(units["active"])], "variances": units["variances"],
            "kl_per_dim": kl["per_dim"], "kl": kl["total"], "kl_method": kl["method"], "mutual_information": mi,
            "mi_upper_bound": math.log(n), "threshold": units["threshold"]}


# -- TensorBoard ------------------------------------------------------------------------------
class PosteriorCollapseSummaries(PeriodicSummaries):
    """Writes the collapse diagnostics of a fixed held-out batch every ``every`` epochs (and after the last).

    Into ``<log_dir>/posterior_collapse`` (a TensorBoard run next to Keras' ``train`` and
    ``validation``), at step = epoch index (0-based, as Keras' ``epoch_*`` scalars):

    | tag | value |
    | --- | --- |
    | ``active_units`` | :func:`active_units` count |
    | ``kl`` | total KL, the sum of :func:`kl_per_dimension` |
    | ``kl_max_dim`` / ``kl_min_dim`` | the largest and smallest per-dimension KL |
    | ``mutual_information`` | :func:`mutual_information` |

    plus the histogram ``kl_per_dimension`` (one value per latent dimension).

    Args:
        log_dir: TensorBoard log folder.
        x: The fixed held-out examples.
        labels: Their class ids (conditional VAEs), else ``None``.
        every: Write after every ``every``-th epoch and after the last.
        threshold: Active-unit threshold.
        num_samples: Draws per example of the Monte-Carlo parts.
        seed: Seed of every draw (the same each time, so epochs compare).

    Attributes:
        reports: ``(epoch, collapse_report)`` pairs written so far.

    Example:
        >>> vae = build_vae((8, 8, 1), latent_dim=2, hidden=(16,))
        >>> summaries = PosteriorCollapseSummaries(tmp_dir, x_digits_test, every=5)
        >>> summaries.set_model(vae)  # fit does this
        >>> summaries.write(epoch=0)["active_units"] == summaries.reports[-1][1]["active_units"]
        True

        During training (every 5th epoch and the last):

        ```python
        vae.fit(x_train, epochs=50, callbacks=[PosteriorCollapseSummaries(log_dir, x_test[:1000], every=5)])
        ```
    """

    def __init__(self, log_dir: str | os.PathLike, x: Any, labels: Any = None, every: int = 1,
                 threshold: float = BURDA_THRESHOLD, num_samples: int = 10, seed: int = 0):
        super().__init__(log_dir, SUMMARIES_RUN, every)
        self.x = check_array(x, "x")
        if len(self.x) < 2:
            raise InputValidationError(f"PosteriorCollapseSummaries needs at least 2 examples, got {len(self.x)}.")
        self.labels = labels
        self.threshold = check_float(threshold, "threshold", minimum=0.0)
        self.num_samples = check_int(num_samples, "num_samples", minimum=1)
        self.seed = check_int(seed, "seed")
        self.reports: list[tuple[int, dict]] = []

    def set_model(self, model):
        check_vae(model)
        super().set_model(model)

    def write(self, epoch: int) -> dict:
        """Computes and writes the diagnostics for ``epoch``; returns the :func:`collapse_report`."""
        report = collapse_report(self.model, self.x, self.threshold, labels=self.labels,
                                 num_samples=self.num_samples, seed=self.seed)
        with self.summary_writer().as_default():
            tf.summary.scalar("active_units", report["active_units"], step=epoch)
            tf.summary.scalar("kl", report["kl"], step=epoch)
            tf.summary.scalar("kl_max_dim", float(np.max(report["kl_per_dim"])), step=epoch)
            tf.summary.scalar("kl_min_dim", float(np.min(report["kl_per_dim"])), step=epoch)
            tf.summary.scalar("mutual_information", report["mutual_information"], step=epoch)
            tf.summary.histogram("kl_per_dimension", report["kl_per_dim"], step=epoch)
        self.flush()
        self.reports.append((epoch, report))
        return report

    def act(self, epoch: int) -> None:
        self.write(epoch)
