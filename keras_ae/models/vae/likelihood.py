"""``VAELikelihood``, the densities and bounds of :class:`~keras_ae.models.vae.model.VAE`:
``log p(x|z)``, the KL term, log importance weights, the ELBO and the importance-weighted
bound L_k (Burda et al. 2016) computed by :mod:`keras_ae.evaluation.likelihood`."""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from tensorflow_probability import distributions as tfd

from keras_ae.evaluation.likelihood import importance_weighted_bound
from keras_ae.models.common import check_seed


class VAELikelihood:
    """Mixin of :class:`~keras_ae.models.vae.model.VAE`: ``data_log_prob``, ``kl_divergence``,
    ``log_weights``, ``elbo`` and ``log_likelihood``.

    It uses the VAE's ``prior``, ``posterior``, ``posterior_sample``, ``sample_posterior``,
    ``decode``, ``decoder_output``, ``validate_inputs`` and ``_compiled_bounds`` (a cache of
    compiled steps set in ``__init__``), and holds no state of its own.

    Example:
        ```python
        vae = build_vae((8, 8, 1), latent_dim=2, hidden=(16,))
        x = keras_ae.data.binarize(x_digits_test, seed=0)  # a Bernoulli likelihood scores binary data
        elbo = vae.elbo(x)  # float64 (64,), nats
        log_px = vae.log_likelihood(x, k=100)  # the importance-weighted bound L_100 of each example
        ```
    """

    # -- densities ---------------------------------------------------------------------
    def data_log_prob(self, z: tf.Tensor, x: tf.Tensor, training: bool = False, labels=None) -> tf.Tensor:
        """``log p(x|z)`` summed over data dimensions, shape ``z.shape[:-1]``.

        Equals ``decode(z).log_prob(x)``; for a Bernoulli likelihood it uses
        ``log p(x|l) = sum(x * l) - sum(softplus(l))`` directly, several times faster
        than the generic Bernoulli log-density on CPU (it dominates IWAE evaluation). A
        conditional VAE takes the examples' ``labels`` (``log p(x|z, y)``).

        Example:
            >>> vae = build_vae((8, 8, 1), latent_dim=2, hidden=(16,))
            >>> x = keras_ae.data.binarize(x_digits[:8], seed=0)
            >>> z = vae.posterior(x).sample(seed=(0, 0))
            >>> log_px = vae.data_log_prob(z, x)
            >>> log_px.shape, np.allclose(log_px, vae.decode(z).log_prob(x), atol=1e-4)
            (TensorShape([8]), True)
        """
        if self.likelihood != "bernoulli":
            return self.decode(z, labels, training=training).log_prob(tf.cast(x, tf.float32))
        logits = self.decoder_output(z, labels, training=training)
        axes = list(range(-len(self.example_shape), 0))
        return tf.reduce_sum(tf.cast(x, tf.float32) * logits, axes) - tf.reduce_sum(tf.nn.softplus(logits), axes)

    def kl_divergence(self, q: tfd.Distribution, z: tf.Tensor | None = None) -> tf.Tensor:
        """KL(q || prior): analytic when TFP has a formula, else ``log q(z) - log p(z)`` at ``z``.

        Example:
            >>> vae = build_vae((8, 8, 1), latent_dim=2, hidden=(16,))
            >>> kl = vae.kl_divergence(vae.posterior(x_digits[:8]))
            >>> kl.shape, bool(tf.reduce_all(kl >= 0))
            (TensorShape([8]), True)
        """
        prior = self.prior
        try:
            return tfd.kl_divergence(q, prior)
        except NotImplementedError:
            if z is None:
                raise
            return q.log_prob(z) - prior.log_prob(z)

    def has_analytic_kl(self) -> bool:
        """Whether KL(q || prior) has a closed form in TFP (True for Gaussian priors)."""
        q = tfd.MultivariateNormalDiag(loc=tf.zeros([1, self.latent_dim]), scale_diag=tf.ones([1, self.latent_dim]))
        try:
            tfd.kl_divergence(q, self.prior)
            return True
        except NotImplementedError:
            return False

    # -- evaluation --------------------------------------------------------------------
    def log_weights(self, x: tf.Tensor, num_samples: int, seed: tf.Tensor, analytic_kl: bool = False,
                    training: bool = False, labels=None) -> tf.Tensor:
        """Log importance weights ``log p(x|z) + log p(z) - log q(z|x)``, shape ``(num_samples, batch)``.

        With ``analytic_kl`` the last two terms are replaced by ``-KL(q || p)`` (same
        mean, lower variance: the ELBO estimator). Decodes all samples in one pass. A
        conditional VAE takes the examples' ``labels``: ``log p(x|z, y) + log p(z) - log q(z|x, y)``.

        Example:
            >>> vae = build_vae((8, 8, 1), latent_dim=2, hidden=(16,))
            >>> x = keras_ae.data.binarize(x_digits[:4], seed=0)
            >>> vae.log_weights(tf.constant(x), 10, tf.constant([0, 0])).shape  # (num_samples, batch)
            TensorShape([10, 4])
        """
        x = tf.cast(x, tf.float32)
        if analytic_kl:
            q = self.posterior(x, labels, training=training)
            z = self.sample_posterior(q, seed=seed, num_samples=num_samples)  # (samples, batch, latent)
            return self.data_log_prob(z, x, training=training, labels=labels) - self.kl_divergence(q)[None, :]
        z, log_q = self.posterior_sample(x, seed, num_samples, training=training, labels=labels)
        log_px = self.data_log_prob(z, x, training=training, labels=labels)
        return log_px + self.prior.log_prob(z) - log_q  # x broadcasts

    def elbo(self, x, labels=None, num_samples: int = 1, batch_size: int = 100, max_rows: int = 2_000,
             seed: int | None = 0, verbose: int = 0) -> np.ndarray:
        """ELBO per example in nats: ``mean_s log p(x|z_s) - KL`` (analytic KL when available); for a
        conditional VAE the ELBO of ``log p(x|y)``, ``mean_s log p(x|z_s, y) - KL(q(z|x, y) || p(z))``.

        Args:
            x: Examples (binary for a Bernoulli likelihood), or a ``tf.data.Dataset`` of
                them (``x`` or ``(x, y)``, batched or not): streamed in batches of
                ``batch_size``, checked batch by batch, equal to the array's result (an
                unconditional VAE; a conditional one takes arrays).
            labels: Class ids of a conditional VAE, one per example or one int; ``None`` otherwise.
            num_samples: Monte Carlo samples of z per example.
            batch_size: Examples per step.
            max_rows: Upper bound on the samples decoded in one pass.
            seed: Any int, or ``None`` for a fresh seed from the model's random stream.
            verbose: Progress bar on (1) or off (0); it shows the mean ELBO of the examples so far.

        Returns:
            Float64 array ``(n,)``; ``-elbo(x).mean()`` is the usual "negative ELBO".

        Example:
            >>> vae = build_vae((8, 8, 1), latent_dim=2, hidden=(16,))
            >>> elbo = vae.elbo(keras_ae.data.binarize(x_digits_test, seed=0))
            >>> elbo.shape, elbo.dtype, bool(np.all(elbo < 0))
            ((64,), dtype('float64'), True)
        """
        x, fn = self._bound_inputs(x, labels, "elbo", self._elbo_terms if self.has_analytic_kl() else self.log_weights)
        return importance_weighted_bound(fn, x, k=num_samples, batch_size=batch_size, max_rows=max_rows,
                                         seed=self._int_seed(seed),
                                         reduction="mean", verbose=verbose, label="elbo", cache=self._compiled_bounds,
                                         spec=self._inference_spec("evaluate"))

    def _bound_inputs(self, x, labels, method: str, fn):
        """The data and log-weight function the estimator reads: checked arrays (or a dataset) and
        ``fn``, or for a conditional VAE rows holding each example and its class id and the
        matching packed function."""
        self._refuse_dataset(x, method)
        if not isinstance(x, tf.data.Dataset):
            x = self.validate_inputs(x, purpose="evaluate")
        y = self._labels(labels, len(x)) if not isinstance(x, tf.data.Dataset) else self._labels(labels, None)
        if y is None:
            return x, fn
        packed = self._packed_elbo_terms if fn == self._elbo_terms else self._packed_log_weights
        return self._pack_rows(x, y.numpy()), packed

    def _int_seed(self, seed: int | None) -> int:
        """An int seed for the likelihood estimators; ``None`` takes one from the model's stream."""
        seed = check_seed(seed)
        return int(self._next_seed()[0]) if seed is None else seed

    def _elbo_terms(self, x: tf.Tensor, num_samples: int, seed: tf.Tensor) -> tf.Tensor:
        return self.log_weights(x, num_samples, seed, analytic_kl=True)

    def log_likelihood(self, x, labels=None, k: int = 5000, batch_size: int = 10, max_rows: int = 2_000,
                       seed: int | None = 0, jit_compile: bool = False, verbose: int = 1) -> np.ndarray:
        """The importance-weighted bound L_k (Burda et al. 2016) on log p(x), per example in nats
        (on log p(x|y) for a conditional VAE, with the same estimator).

        ``L_1`` is the ELBO and ``L_k`` increases towards ``log p(x)`` with ``k``; the
        IWAE paper reports ``-mean L_5000`` as the test NLL. Memory is bounded by
        ``max_rows`` decoded samples at a time.

        Args:
            x: Examples (binary for a Bernoulli likelihood: binarize test data once), or a
                ``tf.data.Dataset`` of them (``x`` or ``(x, y)``, batched or not): streamed in
                batches of ``batch_size`` (memory does not grow with its length) and checked
                batch by batch; the estimate equals the array's for the same seed (an
                unconditional VAE; a conditional one takes arrays).
            labels: Class ids of a conditional VAE, one per example or one int; ``None`` otherwise.
            k: Importance samples per example.
            batch_size: Examples per compiled step.
            max_rows: Upper bound on the samples decoded in one pass.
            seed: Any int; the same seed (and batch size) reproduces the estimate exactly.
                ``None`` takes a fresh seed from the model's random stream.
            jit_compile: XLA-compile each step (off: slower on CPU, see
                :func:`~keras_ae.evaluation.likelihood.importance_weighted_bound`).
            verbose: Progress bar on (1) or off (0); it shows the mean bound of the examples so far.

        Returns:
            Float64 array ``(n,)``; ``-log_likelihood(x).mean()`` is the test NLL.

        Example:
            >>> vae = build_vae((8, 8, 1), latent_dim=2, hidden=(16,))
            >>> x = keras_ae.data.binarize(x_digits_test, seed=0)
            >>> ll = vae.log_likelihood(x, k=100, verbose=0)
            >>> ll.shape, ll.dtype
            ((64,), dtype('float64'))
            >>> np.array_equal(ll, vae.log_likelihood(x, k=100, verbose=0))  # same seed, same estimate
            True

            The IWAE paper's test NLL on MNIST (a trained model; minutes with k=5000):

            ```python
            ll = vae.log_likelihood(keras_ae.data.binarize(x_test, seed=0), k=5000)
            print(f"NLL {-ll.mean():.2f} nats")
            ```
        """
        x, fn = self._bound_inputs(x, labels, "log_likelihood", self.log_weights)
        return importance_weighted_bound(fn, x, k=k, batch_size=batch_size, max_rows=max_rows,
                                         seed=self._int_seed(seed), reduction="logmeanexp", jit_compile=jit_compile,
                                         verbose=verbose,
                                         label="log_likelihood", cache=self._compiled_bounds,
                                         spec=self._inference_spec("evaluate"))
