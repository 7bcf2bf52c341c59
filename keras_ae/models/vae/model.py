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
What is used outside the loss lives in the mixins :class:`VAE` inherits: class labels of a
conditional VAE (:mod:`~keras_ae.models.vae.conditional`), data checks, codes and
reconstructions (:mod:`~keras_ae.models.vae.inference`), posterior draws and samples
(:mod:`~keras_ae.models.vae.sampling`), the decoder's distribution p(x|z)
(:mod:`~keras_ae.models.vae.decoding`), densities and bounds (:mod:`~keras_ae.models.vae.likelihood`)
and export signatures (:mod:`~keras_ae.models.vae.serving`).
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from keras_ae.random import binarize_batch, next_stateless_seed
from keras_ae.errors import InputValidationError
from keras_ae.evaluation.likelihood import logmeanexp
from keras_ae.models.base import AutoEncoder, LikelihoodAutoEncoder
from keras_ae.models.common import check_int
from keras_ae.models.vae.conditional import VAEConditioning
from keras_ae.models.vae.decoding import VAEDecoding
from keras_ae.models.vae.inference import VAEInference
from keras_ae.models.vae.likelihood import VAELikelihood
from keras_ae.models.vae.sampling import RNG_ALG, VAESampling  # noqa: F401  (RNG_ALG: a family constant)
from keras_ae.models.vae.serving import VAEServing
from keras_ae.models.vae.warmup import kl_warmup_weight
from keras_ae.training import DataSpec
from keras_ae.validation import MAX_IMPORTANCE_SAMPLES, check_choice, check_num_classes, check_size
from keras_ae.registry import register_family
from keras_ae.validation import check_bool, check_float, check_model_seed, check_nonnegative_float

tfd = tfp.distributions

LIKELIHOODS = ("bernoulli", "gaussian", "continuous_bernoulli")
OBJECTIVES = ("elbo", "iwae")
ARCHITECTURES = ("dense", "conv")
STANDARD_NORMAL = "standard_normal"


@register_family("vae", serving_default="reconstruct")
class VAE(VAEConditioning, VAEInference, VAESampling, VAEDecoding, VAELikelihood, VAEServing, LikelihoodAutoEncoder):
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
        num_classes: ``K`` for a conditional VAE (Sohn et al. 2015): the encoder takes
            ``[x, labels]``, the decoder ``[z, labels]`` (int32 class ids ``(batch, 1)``), the
            model is p(x|y) and trains with ``fit(x, y)``; ``None`` (default): unconditional.
        info: JSON-serializable facts saved with the model.

    Example:
        >>> vae = build_vae((8, 8, 1), latent_dim=2, hidden=(16,), dynamic_binarization=True)
        >>> vae.compile(optimizer="adam")
        >>> history = vae.fit(x_digits, epochs=1, batch_size=64, verbose=0)  # grey digits, re-binarized
        >>> sorted(history.history)  # the negative ELBO and its two terms, in nats
        ['kl', 'loss', 'reconstruction']

        A conditional VAE (Sohn et al. 2015) models p(x|y) and trains on labelled data:

        >>> cvae = build_vae((8, 8, 1), latent_dim=2, hidden=(16,), num_classes=10, dynamic_binarization=True)
        >>> cvae.compile(optimizer="adam")
        >>> _ = cvae.fit(x_digits, y_digits, epochs=1, batch_size=64, verbose=0)
        >>> cvae.sample(4, seed=0, labels=[3, 3, 7, 7]).shape
        (4, 8, 8, 1)

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
    family_title = "VAE"
    # compile() without an optimizer averages the weights (Adam's EMA over ~100 steps): the test
    # ELBO does not jitter +-0.5 nats per epoch (docs/performance.md: 68 / 74 epochs to the
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
        num_classes: int | None = None,
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
                        kl_warmup_steps=kl_warmup_steps, _prior_arg=prior,
                        num_classes=check_num_classes(num_classes))
        # Keras locks a model's state once it is built, and AutoEncoder.__init__ ends by
        # building it. The VAE's own state (prior layer, seed stream, KL tracker, Gaussian
        # scale) is therefore created in build(), from plain settings stored first.
        for key, value in settings.items():
            object.__setattr__(self, key, value)
        object.__setattr__(self, "_compiled_bounds", {})  # compiled likelihood steps, reused across calls
        super().__init__(encoder, decoder, info=info, **kwargs)

    def build(self, input_shape=None):
        self._check_submodels()
        self._set_prior(self.__dict__.pop("_prior_arg", STANDARD_NORMAL))
        self.seed_generator = keras.random.SeedGenerator(self.seed, name="vae_seed")
        self._add_observation_scale()  # Gaussian likelihood: one learned standard deviation per dimension, for all z
        self.add_penalty_tracker("kl")
        super().build(input_shape)

    def _check_submodels(self) -> None:
        inputs = 1 if self.num_classes is None else 2
        if len(self.encoder.inputs) != inputs or len(self.decoder.inputs) != inputs:
            raise InputValidationError(
                f"A{' conditional' if inputs == 2 else 'n unconditional'} VAE needs an encoder and a decoder with "
                f"{inputs} input(s) ([x, labels] and [z, labels] when num_classes is set); got "
                f"{len(self.encoder.inputs)} and {len(self.decoder.inputs)}.")
        out = tuple(self.encoder.output_shape[1:])
        if out != (self.encoder_width,):
            raise InputValidationError(
                f"The encoder must output (batch, {self.encoder_width_name}) = (batch, {self.encoder_width}) posterior "
                f"parameters, got (batch, {', '.join(map(str, out))})."
            )
        code_shape = self.decoder.input_shape if inputs == 1 else self.decoder.input_shape[0]
        if tuple(code_shape[1:]) != (self.latent_dim,):
            raise InputValidationError(
                f"The decoder must take (batch, {self.latent_dim}) codes, got {code_shape}.")
        if tuple(self.decoder.output_shape[1:]) != self.example_shape:
            raise InputValidationError(
                f"The decoder outputs {self.decoder.output_shape[1:]} but the encoder takes {self.example_shape}.")

    def _set_prior(self, prior) -> None:
        self.prior_layer = None
        object.__setattr__(self, "_fixed_prior", None)  # untracked: a tf.Module, not a Keras object
        if prior is None or (isinstance(prior, str) and prior == STANDARD_NORMAL):
            return
        if isinstance(prior, keras.layers.Layer) and callable(getattr(prior, "distribution", None)):
            if callable(getattr(prior, "attach", None)):  # a prior made of the posterior (VampPrior)
                self._attach_posterior(prior)
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

    def _attach_posterior(self, prior) -> None:
        """Gives a prior made of q(z|x) the posterior's parameters at its pseudo-inputs (encoder in inference mode)."""
        if self.conditional or type(self).posterior is not VAE.posterior:
            raise InputValidationError(f"A {type(prior).__name__} mixes diagonal Gaussian posteriors q(z|u) of an "
                                       "unconditional VAE: use it without num_classes and without a posterior flow.")
        if tuple(getattr(prior, "example_shape", self.example_shape)) != self.example_shape:
            raise InputValidationError(f"The prior's pseudo-inputs have shape {tuple(prior.example_shape)}, the "
                                       f"encoder takes {self.example_shape}.")
        prior.attach(lambda u: self._loc_scale(tf.cast(self.encoder(u, training=False), tf.float32)))

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
                      kl_warmup_steps=self.kl_warmup_steps, num_classes=self.num_classes)
        return config

    @property
    def code_shape(self) -> tuple[int, ...]:
        return (self.latent_dim,)

    @property
    def example_shape(self) -> tuple[int | None, ...]:
        """Shape of one example: the encoder's (first, for ``[x, labels]``) input without the batch axis."""
        shape = self.encoder.input_shape
        return tuple((shape[0] if isinstance(shape, list) else shape)[1:])

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

    def posterior_params(self, x, labels=None, training: bool = False) -> tuple[tf.Tensor, tf.Tensor]:
        """Mean and standard deviation of q(z|x) (q(z|x, y) when conditional), float32 ``(batch, latent_dim)``.

        The standard deviation is ``softplus(raw) + min_scale``, capped at ``max_scale``,
        so an encoder whose outputs run off to +-inf yields a finite KL instead of NaN.

        Args:
            x: Examples, or a ``tf.data.Dataset`` of them (``x`` or ``(x, y)``, batched or
                not): read batch by batch (256 examples per pass when unbatched, inference mode;
                arrays only for a conditional VAE).
            labels: Class ids, one per example or one int (conditional VAE); ``None`` otherwise.
            training: Run the encoder in training mode (arrays and tensors).

        Example:
            >>> vae = build_vae((8, 8, 1), latent_dim=2, hidden=(16,))
            >>> mean, stddev = vae.posterior_params(x_digits[:8])
            >>> mean.shape, bool(tf.reduce_all(stddev >= vae.min_scale))
            (TensorShape([8, 2]), True)
        """
        return self._loc_scale(self._encoder_outputs(x, training, labels))

    def _encoder_outputs(self, x, training: bool = False, labels=None) -> tf.Tensor:
        self._refuse_dataset(x, "posterior")
        if isinstance(x, tf.data.Dataset):
            self._labels(labels, None)  # an unconditional VAE refuses labels here too
            # Streamed: the encoder sees one batch at a time; only the (n, latent) parameters are kept.
            params = self._predict_stream(self.encoder, x, self._inference_spec("encode"), 256, "posterior_params")
            return tf.constant(params, tf.float32)
        if not tf.is_tensor(x):
            x = self.validate_inputs(x, purpose="encode")
        labels = self._labels(labels, x.shape[0])
        # float32 under mixed precision
        return tf.cast(self.encoder(self._network_inputs(x, labels), training=training), tf.float32)

    def _loc_scale(self, params: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        loc, raw = params[..., : self.latent_dim], params[..., self.latent_dim: 2 * self.latent_dim]
        return loc, tf.minimum(tf.nn.softplus(raw) + self.min_scale, self.max_scale)

    def posterior(self, x, labels=None, training: bool = False) -> tfd.Distribution:
        """The approximate posterior q(z|x), a ``tfd.MultivariateNormalDiag`` with batch shape ``(batch,)``
        (q(z|x, y) for a conditional VAE: pass ``labels``, see :meth:`posterior_params`).

        ``x`` may be a ``tf.data.Dataset`` (see :meth:`posterior_params`): the data is
        streamed and the distribution holds the parameters of every example.

        Example:
            >>> vae = build_vae((8, 8, 1), latent_dim=2, hidden=(16,))
            >>> q = vae.posterior(x_digits[:8])
            >>> q.batch_shape, q.event_shape
            (TensorShape([8]), TensorShape([2]))
        """
        loc, scale = self.posterior_params(x, labels, training=training)
        return tfd.MultivariateNormalDiag(loc=loc, scale_diag=scale)

    def encode(self, x, labels=None, training: bool = False) -> tfd.Distribution:
        """The posterior q(z|x) as a distribution: the same as :meth:`posterior`.

        :meth:`codes` gives one code per example as a NumPy array (the posterior mean).

        Example:
            >>> vae = build_vae((8, 8, 1), latent_dim=2, hidden=(16,))
            >>> vae.encode(x_digits[:8]).batch_shape
            TensorShape([8])
        """
        return self.posterior(x, labels, training=training)

    # -- training ----------------------------------------------------------------------
    def _next_seed(self) -> tf.Tensor:
        return next_stateless_seed(self.seed_generator)

    def _binarize(self, x: tf.Tensor) -> tf.Tensor:
        return binarize_batch(x, self._next_seed())

    def posterior_sample(self, x, seed: tf.Tensor, num_samples: int | None = None,
                         training: bool = False, labels=None) -> tuple[tf.Tensor, tf.Tensor]:
        """Reparameterized z ~ q(z|x) and ``log q(z|x)`` (``num_samples`` first when given; training
        draws per example of the global batch, see :meth:`sample_posterior`). Flow posteriors override it."""
        q = self.posterior(x, labels, training=training)
        z = self.sample_posterior(q, seed, num_samples, per_example=training)
        return z, q.log_prob(z)

    def sampled_terms(self, x, seed: tf.Tensor, num_samples: int | None = None,
                      training: bool = False, labels=None) -> tuple[tf.Tensor, tf.Tensor]:
        """``log p(x|z)`` and ``log q(z|x) - log p(z)`` at draws z ~ q(z|x): the log weight is their difference."""
        z, log_q = self.posterior_sample(x, seed, num_samples, training=training, labels=labels)
        return self.data_log_prob(z, x, training=training, labels=labels), log_q - self.prior.log_prob(z)

    def elbo_terms(self, x, seed: tf.Tensor, training: bool = False, labels=None) -> tuple[tf.Tensor, tf.Tensor]:
        """``log p(x|z)`` at one draw z ~ q(z|x), and the KL term (analytic when TFP has it), ``(batch,)`` each."""
        q = self.posterior(x, labels, training=training)
        z = self.sample_posterior(q, seed=seed)
        return self.data_log_prob(z, x, training=training, labels=labels), self.kl_divergence(q, z)

    def kl_weight(self, training: bool = False) -> tf.Tensor | float:
        """The KL term's weight: :func:`~keras_ae.models.vae.warmup.kl_warmup_weight` while training, else 1."""
        if not training or not self.kl_warmup_steps or getattr(self, "optimizer", None) is None:
            return 1.0
        return kl_warmup_weight(self.optimizer.iterations, self.kl_warmup_steps)

    def compute_losses(self, x, target=None, training: bool = False, labels=None) -> dict[str, tf.Tensor]:
        """Negative ELBO terms of one batch (float32): ``loss``, ``reconstruction``, ``kl``.

        ``reconstruction`` is ``-E_q log p(x|z)`` (one reparameterized sample), ``kl`` is
        ``KL(q(z|x) || p(z))``, ``loss = reconstruction + beta * kl_weight * kl`` (+ layer losses;
        :meth:`kl_weight` is 1 unless a KL warm-up is under way),
        all in nats per example. With ``objective="iwae"`` the loss is ``-L_k`` and the two
        terms are averages over the ``k`` samples. A conditional VAE takes the batch's class
        ``labels`` (the ELBO of log p(x|y)); ``target`` is not used.
        """
        if self.dynamic_binarization:
            x = self._binarize(x)
        if self.objective == "iwae":
            log_px, kl = self.sampled_terms(x, self._next_seed(), self.k, training=training, labels=labels)  # (k, B)
            terms = {"reconstruction": -tf.reduce_mean(log_px), "kl": tf.reduce_mean(kl)}
            total = -tf.reduce_mean(logmeanexp(log_px - kl, axis=0))  # -L_k
        else:
            log_px, kl = self.elbo_terms(x, self._next_seed(), training=training, labels=labels)
            terms = {"reconstruction": tf.reduce_mean(-log_px), "kl": tf.reduce_mean(kl)}
            total = terms["reconstruction"] + self.beta * self.kl_weight(training) * terms["kl"]
        if self.losses:  # layer regularizers of custom encoders / decoders
            total = total + tf.add_n([tf.cast(penalty, tf.float32) for penalty in self.losses])
        return {"loss": total, **terms}

    def call(self, inputs, training: bool = False):
        """Mean of p(x|z) at the posterior mean z = E[q(z|x)] (a deterministic reconstruction);
        ``inputs`` is ``x``, or ``[x, labels]`` for a conditional VAE."""
        x, labels = self._split_inputs(inputs)
        return self.decode_mean(self.posterior(x, labels, training=training).mean(), labels, training=training)

    # -- validation --------------------------------------------------------------------
    def data_spec(self, training: bool) -> DataSpec:
        """``fit``/``evaluate`` hook: binary batches for a Bernoulli likelihood unless dynamic binarization;
        ``(x, labels)`` batches for a conditional VAE."""
        binary = self.likelihood == "bernoulli" and not self.dynamic_binarization
        return DataSpec(self.example_shape, self.input_range, self._range_hint,
                        targets="labels" if self.conditional else "same", num_classes=self.num_classes,
                        levels=2 if binary else None)
