"""The :class:`VAE` model (Kingma & Welling 2014) on TensorFlow Probability distributions.

The encoder sub-model maps ``x`` to ``2 * latent_dim`` numbers, the mean and the
(pre-softplus) standard deviation of a diagonal Gaussian posterior q(z|x); the decoder
sub-model maps ``z`` to the parameters of p(x|z) (logits for a Bernoulli likelihood).
:meth:`VAE.posterior` (also :meth:`VAE.encode`), :meth:`VAE.decode` and :attr:`VAE.prior`
return ``tfd`` distributions, so the ELBO is written as it reads in the paper:

    ELBO(x) = E_q[log p(x|z)] - KL(q(z|x) || p(z)).

``tfp.layers`` does not work with Keras 3, so distributions are built from plain Keras
layer outputs inside ``train_step``; the training step is XLA-compatible
(``compile(jit_compile=True)``; the default ``"auto"`` leaves XLA off on CPU).
Log-likelihoods use the importance-weighted bound (Burda et al. 2016), see
:mod:`keras_ae.evaluation.likelihood`.

The module also holds the family's constants (``tfd``, ``LIKELIHOODS``, ``STANDARD_NORMAL``);
:func:`~keras_ae.models.vae.builders.build_vae` and its networks are in :mod:`keras_ae.models.vae.builders`.
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from keras_ae.random import batch_noise, binarize_batch, next_stateless_seed
from keras_ae.errors import InputValidationError
from keras_ae.evaluation.likelihood import importance_weighted_bound, logmeanexp
from keras_ae.export.endpoints import (MAX_SAMPLE_COUNT, ExportOptions, data_name, describe_data, image_endpoints,
                                       make_endpoint, tensor_spec)
from keras_ae.models.base import AutoEncoder, take_fixed_settings
from keras_ae.models.common import check_binary_data, check_int, check_seed
from keras_ae.models.vae.warmup import kl_warmup_weight
from keras_ae.training import DataSpec
from keras_ae.training.batches import iterate_batches
from keras_ae.validation import MAX_IMPORTANCE_SAMPLES, check_array, check_choice, check_size
from keras_ae.registry import register_family
from keras_ae.validation import check_bool, check_count, check_float, check_model_seed, check_nonnegative_float

tfd = tfp.distributions

LIKELIHOODS = ("bernoulli", "gaussian", "continuous_bernoulli")
OBJECTIVES = ("elbo", "iwae")
ARCHITECTURES = ("dense", "conv")
STANDARD_NORMAL = "standard_normal"
# Philox explicitly: the default ("auto_select") stateless algorithm is very slow under XLA on CPU.
RNG_ALG = "philox"


def _as_seed(seed: int) -> tf.Tensor:
    """An int seed as the int32 ``(2,)`` stateless seed TFP samplers take."""
    return tf.constant([int(seed) % (2**31 - 1), 0], tf.int32)


@register_family("vae", serving_default="reconstruct")
class VAE(AutoEncoder):
    """A variational auto-encoder with a diagonal Gaussian posterior.

    Args:
        encoder: Keras model ``x -> (batch, 2 * latent_dim)``: posterior means, then
            pre-softplus standard deviations.
        decoder: Keras model ``z -> (batch, *input_shape)``: logits (Bernoulli and
            continuous Bernoulli) or means (Gaussian) of p(x|z).
        latent_dim: Dimension of z.
        likelihood: ``"bernoulli"`` (binary data), ``"continuous_bernoulli"`` ([0, 1]
            data, Loaiza-Ganem & Cunningham 2019) or ``"gaussian"`` (real data; a learned
            per-dimension standard deviation).
        beta: Weight of the KL term (beta-VAE, Higgins et al. 2017); 1 is the ELBO.
        objective: ``"elbo"``, or ``"iwae"``: train on the importance-weighted bound L_k
            (Burda et al. 2016), ``logmeanexp`` of ``k`` log weights per example.
        k: Importance samples of the IWAE objective (1 with ``"elbo"``).
        prior: ``"standard_normal"`` (default), a Keras layer with a ``distribution()``
            method (e.g. :class:`~keras_ae.layers.mixture_prior.GaussianMixturePrior`,
            saved with the model), or a fixed ``tfd.Distribution`` with event shape
            ``(latent_dim,)`` (not saveable).
        dynamic_binarization: Re-binarize [0, 1] inputs, pixel ~ Bernoulli(intensity),
            in every training and validation step (the IWAE protocol for MNIST).
        min_scale: Floor on the posterior standard deviation (no collapse to 0).
        max_scale: Ceiling on the posterior standard deviation (no overflow).
        seed: Seed of the model's random stream (sampling z, binarization).
        kl_warmup_steps: Training steps over which the KL term's weight rises linearly
            from ``1 / kl_warmup_steps`` to 1 (:meth:`kl_weight`; 0: no warm-up). ELBO only.
        info: JSON-serializable facts saved with the model.

    Example:
        >>> vae = build_vae((8, 8, 1), latent_dim=2, hidden=(16,), dynamic_binarization=True)
        >>> vae.compile(optimizer="adam")
        >>> history = vae.fit(x_digits, epochs=1, batch_size=64, verbose=0)  # grey digits, re-binarized
        >>> sorted(history.history)  # the negative ELBO and its two terms, in nats
        ['kl', 'loss', 'reconstruction']

        The IWAE protocol on MNIST (minutes of training and evaluation, so not run here):

        ```python
        (x_train, _), (x_test, _) = keras_ae.load_dataset("mnist")
        vae = build_vae((28, 28, 1), latent_dim=50, dynamic_binarization=True)
        vae.compile(optimizer="adam")
        vae.fit(x_train, epochs=10, batch_size=100)
        vae.log_likelihood(keras_ae.data.binarize(x_test, seed=0), k=5000).mean()
        ```
    """


    nested_config_keys = (*AutoEncoder.nested_config_keys, "prior")  # a prior layer, or "standard_normal"
    # compile() without an optimizer averages the weights (Adam's EMA over ~100 steps): the test
    # ELBO no longer jitters +-0.5 nats per epoch (README "Time to quality": 68 / 74 epochs to the
    # keras.io VAE's best instead of 86 / 100, seeds 0 / 1; 101.5 / 102.9 nats after 200 vs 103.5 / 105.3).
    default_ema_momentum = 0.99

    def __init__(
        self,
        encoder: keras.Model,
        decoder: keras.Model,
        latent_dim: int,
        likelihood: str = "bernoulli",
        beta: float = 1.0,
        prior: Any = STANDARD_NORMAL,
        dynamic_binarization: bool = False,
        objective: str = "elbo",
        k: int = 1,
        min_scale: float = 1e-4,
        max_scale: float = 10.0,
        seed: int | None = None,
        kl_warmup_steps: int = 0,
        info: dict | None = None,
        **kwargs: Any,
    ):
        likelihood = check_choice(likelihood, "likelihood", LIKELIHOODS)
        beta = check_nonnegative_float(beta, "beta")
        min_scale = check_float(min_scale, "min_scale", minimum=0.0, include_minimum=False)
        max_scale = check_float(max_scale, "max_scale", minimum=0.0, include_minimum=False)
        if not min_scale < max_scale:
            raise InputValidationError(f"Need 0 < min_scale < max_scale < inf, got {min_scale}, {max_scale}.")
        dynamic_binarization = check_bool(dynamic_binarization, "dynamic_binarization")
        seed = check_model_seed(seed)
        if dynamic_binarization and likelihood != "bernoulli":
            raise InputValidationError("dynamic_binarization needs likelihood='bernoulli'.")
        objective = check_choice(objective, "objective", OBJECTIVES)
        k = check_size(k, "k", MAX_IMPORTANCE_SAMPLES, "every training step decodes k samples of each example")
        if objective == "elbo" and k != 1:
            raise InputValidationError(f"k={k} importance samples need objective='iwae' (the ELBO uses one).")
        if objective == "iwae" and beta != 1:
            raise InputValidationError(f"objective='iwae' is the bound L_k itself: it takes no beta, got beta={beta}.")
        kl_warmup_steps = check_int(kl_warmup_steps, "kl_warmup_steps", minimum=0)
        if objective == "iwae" and kl_warmup_steps:
            raise InputValidationError("objective='iwae' is the bound L_k itself: it takes no KL warm-up, "
                                       f"got kl_warmup_steps={kl_warmup_steps}.")
        settings = dict(latent_dim=check_int(latent_dim, "latent_dim", minimum=1), likelihood=likelihood,
                        beta=float(beta), min_scale=float(min_scale), max_scale=float(max_scale),
                        dynamic_binarization=bool(dynamic_binarization), objective=objective, k=k, seed=seed,
                        kl_warmup_steps=kl_warmup_steps, _prior_arg=prior)
        # Keras locks a model's state once it is built, and AutoEncoder.__init__ ends by
        # building it. The VAE's own state (prior layer, seed stream, KL tracker, Gaussian
        # scale) is therefore created in build(), from plain settings stored first.
        for key, value in settings.items():
            object.__setattr__(self, key, value)
        object.__setattr__(self, "_compiled_bounds", {})  # compiled likelihood steps, reused across calls
        # The base class's "bce" / "mse" only decides the accepted input range here.
        loss = "mse" if likelihood == "gaussian" else "bce"
        take_fixed_settings(kwargs, loss, "VAE")  # the base keys its config keeps
        super().__init__(encoder, decoder, loss=loss, info=info, **kwargs)
        if not self.built:
            self.build(self.encoder.input_shape)

    def build(self, input_shape=None):
        self._check_submodels()
        self._set_prior(self.__dict__.pop("_prior_arg", STANDARD_NORMAL))
        self.seed_generator = keras.random.SeedGenerator(self.seed, name="vae_seed")
        if self.likelihood == "gaussian":
            # One learned standard deviation per data dimension, shared by all z.
            start = math.log(math.expm1(0.1))  # softplus^-1(0.1)
            self.observation_scale = self.add_weight(
                shape=self.example_shape, initializer=keras.initializers.Constant(start), name="observation_scale")
        self.add_penalty_tracker("kl")
        super().build(input_shape)

    def _check_submodels(self) -> None:
        out = tuple(self.encoder.output_shape[1:])
        if out != (self.encoder_width,):
            raise InputValidationError(
                f"The encoder must output (batch, {self.encoder_width_name}) = (batch, {self.encoder_width}) posterior "
                f"parameters, got (batch, {', '.join(map(str, out))})."
            )
        if tuple(self.decoder.input_shape[1:]) != (self.latent_dim,):
            raise InputValidationError(
                f"The decoder must take (batch, {self.latent_dim}) codes, got {self.decoder.input_shape}.")
        if tuple(self.decoder.output_shape[1:]) != self.example_shape:
            raise InputValidationError(
                f"The decoder outputs {self.decoder.output_shape[1:]} but the encoder takes {self.example_shape}.")

    def _set_prior(self, prior) -> None:
        self.prior_layer = None
        object.__setattr__(self, "_fixed_prior", None)  # untracked: a tf.Module, not a Keras object
        if prior is None or (isinstance(prior, str) and prior == STANDARD_NORMAL):
            return
        if isinstance(prior, keras.layers.Layer) and callable(getattr(prior, "distribution", None)):
            self.prior_layer = prior
            dist = prior.distribution()
        elif isinstance(prior, tfd.Distribution):
            object.__setattr__(self, "_fixed_prior", prior)
            dist = prior
        else:
            raise InputValidationError(
                f"prior must be 'standard_normal', a tfd.Distribution or a Keras layer with a "
                f"distribution() method, got {type(prior).__name__}.")
        if tuple(dist.event_shape) != (self.latent_dim,):
            raise InputValidationError(
                f"The prior has event shape {tuple(dist.event_shape)}, expected ({self.latent_dim},).")

    # -- configuration ---------------------------------------------------------------
    def get_config(self) -> dict:
        config = super().get_config()
        if self._fixed_prior is not None:
            raise InputValidationError(
                "This VAE's prior is a fixed tfd.Distribution, which cannot be saved. Wrap it in a Keras "
                "layer with a distribution() method (like GaussianMixturePrior) to make the model saveable.")
        prior = STANDARD_NORMAL if self.prior_layer is None else keras.saving.serialize_keras_object(self.prior_layer)
        config.update(latent_dim=self.latent_dim, likelihood=self.likelihood, beta=self.beta, prior=prior,
                      dynamic_binarization=self.dynamic_binarization, objective=self.objective, k=self.k,
                      min_scale=self.min_scale, max_scale=self.max_scale, seed=self.seed,
                      kl_warmup_steps=self.kl_warmup_steps)
        return config

    @property
    def code_shape(self) -> tuple[int, ...]:
        return (self.latent_dim,)

    encoder_width_name = "2 * latent_dim"

    @property
    def encoder_width(self) -> int:
        """Encoder outputs: posterior means, then pre-softplus standard deviations."""
        return 2 * self.latent_dim

    # -- distributions ---------------------------------------------------------------
    @property
    def prior(self) -> tfd.Distribution:
        """p(z): standard normal unless a prior was given."""
        if self.prior_layer is not None:
            return self.prior_layer.distribution()
        if self._fixed_prior is not None:
            return self._fixed_prior
        return tfd.MultivariateNormalDiag(loc=tf.zeros(self.latent_dim), scale_diag=tf.ones(self.latent_dim))

    def posterior_params(self, x, training: bool = False) -> tuple[tf.Tensor, tf.Tensor]:
        """Mean and standard deviation of q(z|x), float32 tensors ``(batch, latent_dim)``.

        The standard deviation is ``softplus(raw) + min_scale``, capped at ``max_scale``,
        so an encoder whose outputs run off to +-inf yields a finite KL instead of NaN.

        Args:
            x: Examples, or a ``tf.data.Dataset`` of them (``x`` or ``(x, y)``, batched or
                not): read batch by batch (256 examples per pass when unbatched, inference mode).
            training: Run the encoder in training mode (arrays and tensors).

        Example:
            >>> vae = build_vae((8, 8, 1), latent_dim=2, hidden=(16,))
            >>> mean, stddev = vae.posterior_params(x_digits[:8])
            >>> mean.shape, bool(tf.reduce_all(stddev >= vae.min_scale))
            (TensorShape([8, 2]), True)
        """
        return self._loc_scale(self._encoder_outputs(x, training))

    def _encoder_outputs(self, x, training: bool = False) -> tf.Tensor:
        if isinstance(x, tf.data.Dataset):
            # Streamed: the encoder sees one batch at a time; only the (n, latent) parameters are kept.
            params = self._predict_stream(self.encoder, x, self._inference_spec("encode"), 256, "posterior_params")
            return tf.constant(params, tf.float32)
        if not tf.is_tensor(x):
            x = self.validate_inputs(x, purpose="encode")
        return tf.cast(self.encoder(x, training=training), tf.float32)  # float32 under mixed precision

    def _loc_scale(self, params: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        loc, raw = params[..., : self.latent_dim], params[..., self.latent_dim: 2 * self.latent_dim]
        return loc, tf.minimum(tf.nn.softplus(raw) + self.min_scale, self.max_scale)

    def posterior(self, x, training: bool = False) -> tfd.Distribution:
        """The approximate posterior q(z|x), a ``tfd.MultivariateNormalDiag`` with batch shape ``(batch,)``.

        ``x`` may be a ``tf.data.Dataset`` (see :meth:`posterior_params`): the data is
        streamed and the distribution holds the parameters of every example.

        Example:
            >>> vae = build_vae((8, 8, 1), latent_dim=2, hidden=(16,))
            >>> q = vae.posterior(x_digits[:8])
            >>> q.batch_shape, q.event_shape
            (TensorShape([8]), TensorShape([2]))
        """
        loc, scale = self.posterior_params(x, training=training)
        return tfd.MultivariateNormalDiag(loc=loc, scale_diag=scale)

    def encode(self, x, training: bool = False) -> tfd.Distribution:
        """The posterior q(z|x) as a distribution: the same as :meth:`posterior`.

        :meth:`codes` gives one code per example as a NumPy array (the posterior mean).

        Example:
            >>> vae = build_vae((8, 8, 1), latent_dim=2, hidden=(16,))
            >>> vae.encode(x_digits[:8]).batch_shape
            TensorShape([8])
        """
        return self.posterior(x, training=training)

    def codes(self, x, batch_size: int = 256) -> np.ndarray:
        """One deterministic code per example: :meth:`posterior_point`, the mean of q(z|x)
        (for a flow posterior the flow of the base Gaussian's mean), as a NumPy array.

        Args:
            x: Examples in range, or a ``tf.data.Dataset`` of them (``x`` or ``(x, y)``,
                labels ignored; batched or not), read one batch at a time and checked like arrays.
            batch_size: Examples per encoder pass (for arrays and unbatched datasets).

        Returns:
            Float32 ``(n, latent_dim)``.

        Example:
            >>> vae = build_vae((8, 8, 1), latent_dim=2, hidden=(16,))
            >>> codes = vae.codes(x_digits_test[:5])
            >>> codes.shape, codes.dtype, np.allclose(codes, vae.posterior(x_digits_test[:5]).mean())
            ((5, 2), dtype('float32'), True)
        """
        batch_size = check_int(batch_size, "batch_size", minimum=1)
        batches = iterate_batches(x, batch_size, self._inference_spec("encode"), "x", where="codes",
                                  check=lambda a: self.validate_inputs(a, purpose="encode"))
        parts = [self.posterior_point(tf.cast(batch, tf.float32)).numpy() for batch in batches]
        return np.concatenate(parts) if parts else np.zeros((0, self.latent_dim), np.float32)

    def decode(self, z, training: bool = False) -> tfd.Distribution:
        """The likelihood p(x|z) with event shape ``input_shape``.

        ``z`` may have extra leading axes, e.g. ``(samples, batch, latent_dim)``; they
        become the distribution's batch shape (one decoder pass over all of them).

        Example:
            >>> vae = build_vae((8, 8, 1), latent_dim=2, hidden=(16,))
            >>> p = vae.decode(np.zeros((4, vae.latent_dim), "float32"))
            >>> p.batch_shape, p.event_shape, p.mean().shape
            (TensorShape([4]), TensorShape([8, 8, 1]), TensorShape([4, 8, 8, 1]))
            >>> vae.decode(np.zeros((10, 4, vae.latent_dim), "float32")).batch_shape  # (samples, batch)
            TensorShape([10, 4])
        """
        out = self.decoder_output(z, training=training)
        ndims = len(self.example_shape)
        if self.likelihood == "bernoulli":
            base = tfd.Bernoulli(logits=out, dtype=tf.float32)
        elif self.likelihood == "continuous_bernoulli":
            base = tfd.ContinuousBernoulli(logits=out)
        else:
            base = tfd.Normal(loc=out, scale=self.observation_stddev())
        return tfd.Independent(base, reinterpreted_batch_ndims=ndims)

    def decoder_output(self, z, training: bool = False) -> tf.Tensor:
        """The decoder's raw float32 output (logits or means), shape ``z.shape[:-1] + input_shape``.

        Example:
            >>> vae = build_vae((8, 8, 1), latent_dim=2, hidden=(16,))
            >>> vae.decoder_output(tf.zeros((2, vae.latent_dim))).shape
            TensorShape([2, 8, 8, 1])
            >>> vae.decoder_output(tf.zeros((5, 2, vae.latent_dim))).shape
            TensorShape([5, 2, 8, 8, 1])
        """
        if not tf.is_tensor(z):
            z = check_array(z, "z", expected_shape=(None,) * (np.ndim(z) - 2) + (self.latent_dim,))
        z = tf.cast(z, tf.float32)
        if z.shape.rank == 2:
            return tf.cast(self.decoder(z, training=training), tf.float32)
        out = tf.cast(self.decoder(tf.reshape(z, [-1, self.latent_dim]), training=training), tf.float32)
        lead = z.shape[:-1]
        dims = lead.as_list() if lead.is_fully_defined() else tf.shape(z)[:-1]
        shape = [*dims, *self.example_shape] if isinstance(dims, list) else tf.concat([dims, self.example_shape], 0)
        return tf.reshape(out, shape)

    def decode_mean(self, z, training: bool = False) -> tf.Tensor:
        """Mean of p(x|z) as a float32 tensor (probabilities for a Bernoulli likelihood).

        Graph-friendly, for serving: ``decode_mean(prior.sample(n, seed=seed))`` samples images.

        Example:
            >>> vae = build_vae((8, 8, 1), latent_dim=2, hidden=(16,))
            >>> images = vae.decode_mean(tf.zeros((4, vae.latent_dim)))
            >>> images.shape, bool(tf.reduce_all((images >= 0) & (images <= 1)))
            (TensorShape([4, 8, 8, 1]), True)
        """
        return self.decode(z, training=training).mean()

    def observation_stddev(self) -> tf.Tensor:
        """Standard deviation of a Gaussian likelihood, per data dimension (float32)."""
        return tf.nn.softplus(tf.cast(self.observation_scale, tf.float32)) + 1e-3

    def data_log_prob(self, z: tf.Tensor, x: tf.Tensor, training: bool = False) -> tf.Tensor:
        """``log p(x|z)`` summed over data dimensions, shape ``z.shape[:-1]``.

        Equals ``decode(z).log_prob(x)``; for a Bernoulli likelihood it uses
        ``log p(x|l) = sum(x * l) - sum(softplus(l))`` directly, several times faster
        than the generic Bernoulli log-density on CPU (it dominates IWAE evaluation).

        Example:
            >>> vae = build_vae((8, 8, 1), latent_dim=2, hidden=(16,))
            >>> x = keras_ae.data.binarize(x_digits[:8], seed=0)
            >>> z = vae.posterior(x).sample(seed=(0, 0))
            >>> log_px = vae.data_log_prob(z, x)
            >>> log_px.shape, np.allclose(log_px, vae.decode(z).log_prob(x), atol=1e-4)
            (TensorShape([8]), True)
        """
        if self.likelihood != "bernoulli":
            return self.decode(z, training=training).log_prob(tf.cast(x, tf.float32))
        logits = self.decoder_output(z, training=training)
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

    # -- training ----------------------------------------------------------------------
    def _next_seed(self) -> tf.Tensor:
        return next_stateless_seed(self.seed_generator)

    def _binarize(self, x: tf.Tensor) -> tf.Tensor:
        return binarize_batch(x, self._next_seed())

    @staticmethod
    def sample_posterior(q: tfd.MultivariateNormalDiag, seed: tf.Tensor, num_samples: int | None = None,
                         per_example: bool = False) -> tf.Tensor:
        """Reparameterized draws ``z = mean + stddev * eps`` from q, ``eps ~ N(0, I)``.

        Same distribution as ``q.sample(num_samples, seed)``, but the noise comes from
        the Philox generator: TFP's samplers use TensorFlow's default algorithm, which
        XLA on CPU runs about 300x slower (it made ``jit_compile=True`` training 5x slower).
        One draw per example (``num_samples=None``, training), or ``num_samples`` with
        ``per_example`` (IWAE training), comes from
        :func:`~keras_ae.random.batch_noise`, so it does not depend on how
        ``tf.distribute`` splits the batch.

        Example:
            >>> vae = build_vae((8, 8, 1), latent_dim=2, hidden=(16,))
            >>> z = VAE.sample_posterior(vae.posterior(x_digits[:8]), seed=tf.constant([0, 0]), num_samples=10)
            >>> z.shape  # (num_samples, batch, latent_dim)
            TensorShape([10, 8, 2])
        """
        loc, scale = q.mean(), q.stddev()
        return loc + scale * VAE.posterior_noise(loc, seed, num_samples, per_example)

    @staticmethod
    def posterior_noise(loc: tf.Tensor, seed: tf.Tensor, num_samples: int | None = None,
                        per_example: bool = False) -> tf.Tensor:
        """The N(0, I) noise of :meth:`sample_posterior`, ``loc.shape`` or ``(num_samples, *loc.shape)``."""
        if num_samples is None:
            return batch_noise("normal", tf.shape(loc), seed, dtype=loc.dtype)
        if per_example:  # (batch, samples, latent) rows of the global batch, then samples first
            eps = batch_noise("normal", tf.stack([tf.shape(loc)[0], num_samples, tf.shape(loc)[1]]), seed, loc.dtype)
            return tf.transpose(eps, [1, 0, 2])
        shape = tf.concat([[num_samples], tf.shape(loc)], axis=0)
        return tf.random.stateless_normal(shape, seed=seed, dtype=loc.dtype, alg=RNG_ALG)

    def posterior_sample(self, x, seed: tf.Tensor, num_samples: int | None = None,
                         training: bool = False) -> tuple[tf.Tensor, tf.Tensor]:
        """Reparameterized z ~ q(z|x) and ``log q(z|x)`` (``num_samples`` first when given; training
        draws per example of the global batch, see :meth:`sample_posterior`). Flow posteriors override it."""
        q = self.posterior(x, training=training)
        z = self.sample_posterior(q, seed, num_samples, per_example=training)
        return z, q.log_prob(z)

    def sampled_terms(self, x, seed: tf.Tensor, num_samples: int | None = None,
                      training: bool = False) -> tuple[tf.Tensor, tf.Tensor]:
        """``log p(x|z)`` and ``log q(z|x) - log p(z)`` at draws z ~ q(z|x): the log weight is their difference."""
        z, log_q = self.posterior_sample(x, seed, num_samples, training=training)
        return self.data_log_prob(z, x, training=training), log_q - self.prior.log_prob(z)

    def elbo_terms(self, x, seed: tf.Tensor, training: bool = False) -> tuple[tf.Tensor, tf.Tensor]:
        """``log p(x|z)`` at one draw z ~ q(z|x), and the KL term (analytic when TFP has it), ``(batch,)`` each."""
        q = self.posterior(x, training=training)
        z = self.sample_posterior(q, seed=seed)
        return self.data_log_prob(z, x, training=training), self.kl_divergence(q, z)

    def kl_weight(self, training: bool = False) -> tf.Tensor | float:
        """The KL term's weight: :func:`~keras_ae.models.vae.warmup.kl_warmup_weight` while training, else 1."""
        if not training or not self.kl_warmup_steps or getattr(self, "optimizer", None) is None:
            return 1.0
        return kl_warmup_weight(self.optimizer.iterations, self.kl_warmup_steps)

    def compute_losses(self, x, target=None, training: bool = False) -> dict[str, tf.Tensor]:
        """Negative ELBO terms of one batch (float32): ``loss``, ``reconstruction``, ``kl``.

        ``reconstruction`` is ``-E_q log p(x|z)`` (one reparameterized sample), ``kl`` is
        ``KL(q(z|x) || p(z))``, ``loss = reconstruction + beta * kl_weight * kl`` (+ layer losses;
        :meth:`kl_weight` is 1 unless a KL warm-up is under way),
        all in nats per example. With ``objective="iwae"`` the loss is ``-L_k`` and the two
        terms are averages over the ``k`` samples.
        """
        if self.dynamic_binarization:
            x = self._binarize(x)
        if self.objective == "iwae":
            log_px, kl = self.sampled_terms(x, self._next_seed(), self.k, training=training)  # (k, batch)
            terms = {"reconstruction": -tf.reduce_mean(log_px), "kl": tf.reduce_mean(kl)}
            total = -tf.reduce_mean(logmeanexp(log_px - kl, axis=0))  # -L_k
        else:
            log_px, kl = self.elbo_terms(x, self._next_seed(), training=training)
            terms = {"reconstruction": tf.reduce_mean(-log_px), "kl": tf.reduce_mean(kl)}
            total = terms["reconstruction"] + self.beta * self.kl_weight(training) * terms["kl"]
        if self.losses:  # layer regularizers of custom encoders / decoders
            total = total + tf.add_n([tf.cast(penalty, tf.float32) for penalty in self.losses])
        return {"loss": total, **terms}

    def call(self, inputs, training: bool = False):
        """Mean of p(x|z) at the posterior mean z = E[q(z|x)] (a deterministic reconstruction)."""
        return self.decode_mean(self.posterior(inputs, training=training).mean(), training=training)

    # -- validation --------------------------------------------------------------------
    _range_hint = "Scale images to [0, 1] (e.g. x / 255) or build the VAE with likelihood='gaussian'."

    def validate_inputs(self, x, name: str = "x", purpose: str = "fit") -> np.ndarray:
        """Checks shape, dtype, NaN/inf and range; for a Bernoulli likelihood also binarity.

        Args:
            x: Examples.
            name: Name used in error messages.
            purpose: ``"fit"`` (binary data required unless ``dynamic_binarization``),
                ``"evaluate"`` (likelihoods: binary data required for Bernoulli) or
                ``"encode"`` (any data in range).

        Returns:
            The data as float32.

        Example:
            >>> vae = build_vae((8, 8, 1), latent_dim=2, hidden=(16,))
            >>> vae.validate_inputs(keras_ae.data.binarize(x_digits_test, seed=0), purpose="evaluate").shape
            (64, 8, 8, 1)
            >>> vae.validate_inputs(x_digits_test, purpose="evaluate")
            Traceback (most recent call last):
            ...
            InputValidationError: `x` is not binary (...% of values are neither 0 nor 1) but the VAE has a
            Bernoulli likelihood; binarize it once with keras_ae.data.binarize(x, seed=0) (fixed evaluation ...
        """
        x = check_array(x, name, expected_shape=self.example_shape, value_range=self.input_range,
                        range_hint=self._range_hint)
        if self.likelihood == "bernoulli":
            check_binary_data(x, name, purpose, self.dynamic_binarization, "VAE",
                              other_fix="use likelihood='continuous_bernoulli'")
        return x

    def data_spec(self, training: bool) -> DataSpec:
        """``fit``/``evaluate`` hook: binary batches for a Bernoulli likelihood unless dynamic binarization."""
        binary = self.likelihood == "bernoulli" and not self.dynamic_binarization
        return DataSpec(self.example_shape, self.input_range, self._range_hint, targets="same",
                        levels=2 if binary else None)

    # -- serving: the export signatures of the family ----------------------------------
    def serving_endpoints(self, options: ExportOptions) -> list:
        """``reconstruct`` (mean of p(x|z) at the posterior mean), ``encode`` (posterior
        ``mean`` and ``stddev``), ``decode`` (latents -> mean of p(x|z)), ``sample``
        (``count`` + ``seed`` -> images and their latents, the same draws as
        ``VAE.sample(count, seed)``), and ``*_uint8`` variants of the image inputs.

        Example:
            >>> from keras_ae.export import ExportOptions
            >>> vae = build_vae((8, 8, 1), latent_dim=2, hidden=(8,))
            >>> [e.name for e in vae.serving_endpoints(ExportOptions())]
            ['reconstruct', 'encode', 'decode', 'sample', 'reconstruct_uint8', 'encode_uint8']
        """
        x = data_name(self.example_shape)

        def reconstruct(**inputs):
            return {"reconstruction": self(inputs[x], training=False)}

        def encode(**inputs):
            mean, stddev = self.posterior_params(inputs[x])
            return {"mean": mean, "stddev": stddev}

        def decode(latents):
            return {x: self.decode(latents).mean()}

        def sample(count, seed):
            # VAE.sample's seeding: the int seed becomes the stateless pair (seed mod (2^31 - 1), 0),
            # split in two; the first half draws z from the prior.
            pair = tf.stack([tf.cast(tf.math.floormod(seed, 2**31 - 1), tf.int32), 0])
            z = self.prior.sample(count, seed=tf.random.experimental.stateless_split(pair, 2)[0])
            return {x: self.decode(z).mean(), "latents": z}

        functions = [("reconstruct", reconstruct, ["reconstruction"],
                      f"{x} -> reconstruction (decoded posterior mean)"),
                     ("encode", encode, [], f"{x} -> mean, stddev of q(z|x)")]
        endpoints = image_endpoints(x, self.example_shape, self.input_range, options, functions)
        generative = [
            make_endpoint("decode", decode, {"latents": tensor_spec((self.latent_dim,), "latents")},
                          f"latents -> {x} (mean of p(x|z))"),
            make_endpoint("sample", sample, {"count": tf.TensorSpec((), tf.int32, name="count"),
                                             "seed": tf.TensorSpec((), tf.int64, name="seed")},
                          f"count, seed -> {x}, latents (z ~ prior; count <= {MAX_SAMPLE_COUNT})",
                          {"count": (0, MAX_SAMPLE_COUNT)}),
        ]
        return [*endpoints[:len(functions)], *generative, *endpoints[len(functions):]]

    def serving_metadata(self) -> dict:
        """Facts recorded in an export's metadata: input, latent size, likelihood, prior."""
        return {
            "input": describe_data(data_name(self.example_shape), self.example_shape, self.input_range),
            "code_size": self.latent_dim,
            "latent_dim": self.latent_dim,
            "likelihood": self.likelihood,
            "beta": self.beta,
            "prior": "standard_normal" if self.prior_layer is None else type(self.prior_layer).__name__,
            "max_sample_count": MAX_SAMPLE_COUNT,
        }

    # -- generation ------------------------------------------------------------------
    def _draw_bytes(self) -> int:
        """Bytes one drawn example holds while sampling: its float32 values and its code."""
        return 4 * (int(np.prod(self.example_shape)) + self.latent_dim)

    def _likelihood_values(self, z: np.ndarray, binary: bool, seed: tf.Tensor, batch_size: int) -> np.ndarray:
        out = []
        seeds = tf.random.experimental.stateless_split(seed, max(1, math.ceil(len(z) / batch_size)))
        for i, start in enumerate(range(0, len(z), batch_size)):
            p = self.decode(tf.constant(z[start:start + batch_size]))
            out.append((p.sample(seed=seeds[i]) if binary else p.mean()).numpy())
        return np.concatenate(out).astype(np.float32) if out else np.zeros((0, *self.example_shape), np.float32)

    def sample(self, n: int, seed: int | None = None, binary: bool = False, batch_size: int = 1000) -> np.ndarray:
        """Draws ``n`` examples: z ~ p(z), then the mean of p(x|z) (or a draw from it).

        Args:
            n: Number of samples, an int >= 0 (0 gives an empty ``(0, *input_shape)`` array);
                drawn in batches, refused when the result would exceed
                :data:`~keras_ae.validation.MAX_RESULT_BYTES` (1 GiB).
            seed: Any int; equal seeds give equal samples. ``None`` draws a fresh seed from
                the model's random stream (new samples on every call; the stream starts
                from the model's own ``seed``).
            binary: Return draws x ~ p(x|z) (0/1 images for a Bernoulli likelihood)
                instead of the means (probabilities in [0, 1]).
            batch_size: Codes decoded per pass, an int >= 1.

        Returns:
            Float32 array ``(n, *input_shape)``.

        Raises:
            InputValidationError: for a non-integer, negative or absurdly large ``n``, a
                ``seed`` that is neither an int nor None, or a ``batch_size`` below 1.

        Example:
            >>> vae = build_vae((8, 8, 1), latent_dim=2, hidden=(16,))
            >>> images = vae.sample(16, seed=0)
            >>> images.shape, np.array_equal(images, vae.sample(16, seed=0))
            ((16, 8, 8, 1), True)
            >>> np.unique(vae.sample(4, seed=0, binary=True))  # x ~ p(x|z): 0/1 images
            array([0., 1.], dtype=float32)
        """
        n = check_count(n, "n", self._draw_bytes(), "samples")
        seed = check_seed(seed)
        batch_size = check_int(batch_size, "batch_size", minimum=1)
        seed_t = self._next_seed() if seed is None else _as_seed(seed)
        z_seed, x_seed = tf.unstack(tf.random.experimental.stateless_split(seed_t, 2))
        z = self.prior.sample(n, seed=z_seed).numpy()
        return self._likelihood_values(z, binary, x_seed, batch_size)

    def reconstruct(self, x, batch_size: int = 256) -> np.ndarray:
        """Means of p(x|z) at the posterior means of ``x`` (deterministic).

        Example:
            >>> vae = build_vae((8, 8, 1), latent_dim=2, hidden=(16,))
            >>> vae.reconstruct(x_digits_test[:10]).shape
            (10, 8, 8, 1)
            >>> vae.reconstruct(tf.data.Dataset.from_tensor_slices(x_digits_test[:10])).shape  # streamed
            (10, 8, 8, 1)
        """
        batch_size = check_int(batch_size, "batch_size", minimum=1)
        if isinstance(x, tf.data.Dataset):
            return self._predict_stream(self, x, self._inference_spec("encode"), batch_size, "reconstruct")
        return self.predict(self.validate_inputs(x, purpose="encode"), batch_size=batch_size, verbose=0)

    def _inference_spec(self, purpose: str) -> DataSpec:
        """Dataset check of the inference methods: data in range; binary for Bernoulli likelihoods ("evaluate")."""
        binary = purpose == "evaluate" and self.likelihood == "bernoulli"
        return DataSpec(self.example_shape, self.input_range, self._range_hint, targets="ignored",
                        levels=2 if binary else None)

    def interpolate(self, x1, x2, steps: int = 10) -> np.ndarray:
        """Decodes the straight line between the posterior means of ``x1`` and ``x2``.

        Args:
            x1: One example (``input_shape``) or a batch ``(n, *input_shape)``.
            x2: Same shape as ``x1``.
            steps: Points on the line, end points included; decoded in batches, refused
                when the result would exceed :data:`~keras_ae.validation.MAX_RESULT_BYTES` (1 GiB).

        Returns:
            ``(steps, *input_shape)`` for single examples, ``(n, steps, *input_shape)`` for batches.

        Example:
            >>> vae = build_vae((8, 8, 1), latent_dim=2, hidden=(16,))
            >>> vae.interpolate(x_digits_test[0], x_digits_test[1], steps=8).shape
            (8, 8, 8, 1)
            >>> vae.interpolate(x_digits_test[:3], x_digits_test[3:6], steps=8).shape
            (3, 8, 8, 8, 1)
        """
        steps = check_int(steps, "steps", minimum=2)
        single = np.ndim(x1) == len(self.example_shape)
        x1 = self.validate_inputs(np.asarray(x1)[None] if single else x1, "x1", purpose="encode")
        x2 = self.validate_inputs(np.asarray(x2)[None] if single else x2, "x2", purpose="encode")
        if len(x1) != len(x2):
            raise InputValidationError(f"x1 and x2 must have the same number of examples, got {len(x1)} and {len(x2)}.")
        what = "interpolation points" + ("" if single else f" for each of {len(x1)} pairs")
        check_count(steps, "steps", len(x1) * self._draw_bytes(), what, minimum=2)
        z1, z2 = self.posterior_point(x1).numpy(), self.posterior_point(x2).numpy()
        t = np.linspace(0.0, 1.0, steps, dtype=np.float32)[None, :, None]
        z = ((1.0 - t) * z1[:, None, :] + t * z2[:, None, :]).reshape(-1, self.latent_dim)
        images = np.concatenate([self.decode_mean(tf.constant(z[i:i + 1000])).numpy() for i in range(0, len(z), 1000)])
        images = images.reshape(len(x1), steps, *images.shape[1:])
        return images[0] if single else images

    def posterior_point(self, x) -> tf.Tensor:
        """One deterministic code per example, ``(batch, latent_dim)``: the posterior mean."""
        return self.posterior_params(x)[0]

    # -- evaluation --------------------------------------------------------------------
    def log_weights(self, x: tf.Tensor, num_samples: int, seed: tf.Tensor, analytic_kl: bool = False,
                    training: bool = False) -> tf.Tensor:
        """Log importance weights ``log p(x|z) + log p(z) - log q(z|x)``, shape ``(num_samples, batch)``.

        With ``analytic_kl`` the last two terms are replaced by ``-KL(q || p)`` (same
        mean, lower variance: the ELBO estimator). Decodes all samples in one pass.

        Example:
            >>> vae = build_vae((8, 8, 1), latent_dim=2, hidden=(16,))
            >>> x = keras_ae.data.binarize(x_digits[:4], seed=0)
            >>> vae.log_weights(tf.constant(x), 10, tf.constant([0, 0])).shape  # (num_samples, batch)
            TensorShape([10, 4])
        """
        x = tf.cast(x, tf.float32)
        if analytic_kl:
            q = self.posterior(x, training=training)
            z = self.sample_posterior(q, seed=seed, num_samples=num_samples)  # (samples, batch, latent)
            return self.data_log_prob(z, x, training=training) - self.kl_divergence(q)[None, :]
        z, log_q = self.posterior_sample(x, seed, num_samples, training=training)
        return self.data_log_prob(z, x, training=training) + self.prior.log_prob(z) - log_q  # x broadcasts

    def elbo(self, x, num_samples: int = 1, batch_size: int = 100, max_rows: int = 2_000, seed: int | None = 0,
             verbose: int = 0) -> np.ndarray:
        """ELBO per example in nats: ``mean_s log p(x|z_s) - KL`` (analytic KL when available).

        Args:
            x: Examples (binary for a Bernoulli likelihood), or a ``tf.data.Dataset`` of
                them (``x`` or ``(x, y)``, batched or not): streamed in batches of
                ``batch_size``, checked batch by batch, equal to the array's result.
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
        if not isinstance(x, tf.data.Dataset):
            x = self.validate_inputs(x, purpose="evaluate")
        fn = self._elbo_terms if self.has_analytic_kl() else self.log_weights
        return importance_weighted_bound(fn, x, k=num_samples, batch_size=batch_size, max_rows=max_rows,
                                         seed=self._int_seed(seed),
                                         reduction="mean", verbose=verbose, label="elbo", cache=self._compiled_bounds,
                                         spec=self._inference_spec("evaluate"))

    def _int_seed(self, seed: int | None) -> int:
        """An int seed for the likelihood estimators; ``None`` takes one from the model's stream."""
        seed = check_seed(seed)
        return int(self._next_seed()[0]) if seed is None else seed

    def _elbo_terms(self, x: tf.Tensor, num_samples: int, seed: tf.Tensor) -> tf.Tensor:
        return self.log_weights(x, num_samples, seed, analytic_kl=True)

    def log_likelihood(self, x, k: int = 5000, batch_size: int = 10, max_rows: int = 2_000, seed: int | None = 0,
                       jit_compile: bool = False, verbose: int = 1) -> np.ndarray:
        """The importance-weighted bound L_k (Burda et al. 2016) on log p(x), per example in nats.

        ``L_1`` is the ELBO and ``L_k`` increases towards ``log p(x)`` with ``k``; the
        IWAE paper reports ``-mean L_5000`` as the test NLL. Memory is bounded by
        ``max_rows`` decoded samples at a time.

        Args:
            x: Examples (binary for a Bernoulli likelihood: binarize test data once), or a
                ``tf.data.Dataset`` of them (``x`` or ``(x, y)``, batched or not): streamed in
                batches of ``batch_size`` (memory does not grow with its length) and checked
                batch by batch; the estimate equals the array's for the same seed.
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
        if not isinstance(x, tf.data.Dataset):
            x = self.validate_inputs(x, purpose="evaluate")
        return importance_weighted_bound(self.log_weights, x, k=k, batch_size=batch_size, max_rows=max_rows,
                                         seed=self._int_seed(seed), reduction="logmeanexp", jit_compile=jit_compile,
                                         verbose=verbose,
                                         label="log_likelihood", cache=self._compiled_bounds,
                                         spec=self._inference_spec("evaluate"))

