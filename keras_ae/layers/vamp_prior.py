"""The VampPrior (Tomczak & Welling 2018): p(z) as the mixture of the posteriors at learned pseudo-inputs.

    p(z) = 1/K sum_k q(z | u_k),

with ``K`` pseudo-inputs ``u_k`` of the data's shape, learned with the rest of the VAE. The
prior follows the encoder, so it sits where the aggregate posterior sits instead of pulling
every code towards one standard normal blob. The KL divergence from a Gaussian posterior to
this mixture has no closed form: the VAE falls back to its Monte Carlo estimate, as for
:class:`~keras_ae.layers.mixture_prior.GaussianMixturePrior`.

The layer owns the pseudo-inputs only; the VAE attaches the function that maps inputs to the
posterior's ``(mean, stddev)`` (:meth:`VampPrior.attach`), so layers never import a model and
the encoder's weights are saved once, with the encoder.
"""

from __future__ import annotations

from typing import Callable, Sequence

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from keras_ae.errors import InputValidationError
from keras_ae.validation import check_float, check_int, check_model_seed, short_repr

tfd = tfp.distributions

# Pseudo-inputs per prior: the encoder runs on all of them in every training step, and
# log p(z) of a batch holds (batch, K, latent_dim) numbers. The paper uses K = 500 on MNIST.
MAX_PSEUDO_INPUTS = 10_000


@keras.saving.register_keras_serializable(package="keras_ae")
class VampPrior(keras.layers.Layer):
    """A trainable VampPrior: the uniform mixture of q(z|u_k) over ``num_pseudo_inputs`` pseudo-inputs.

    Build it with ``build_vae(prior="vamp", num_pseudo_inputs=K)``, or pass it as ``prior=`` to a
    :class:`~keras_ae.models.vae.VAE`: the VAE calls :meth:`attach` with its posterior. The
    encoder sees the pseudo-inputs in inference mode (no dropout, batch statistics left alone);
    gradients reach both the pseudo-inputs and the encoder.

    Args:
        num_pseudo_inputs: ``K``, the number of mixture components.
        example_shape: Shape of one example (the encoder's input without the batch axis).
        value_range: ``(low, high)`` the pseudo-inputs are clipped to when used (the paper's
            hard tanh on [0, 1] images), or ``None`` (real-valued data).
        init_mean: Mean of the pseudo-inputs' initial values (truncated normal).
        init_stddev: Standard deviation of the initial values (truncated at two of them).
        seed: Seed of the initial values.

    Example:
        >>> prior = VampPrior(3, (2,), value_range=None)
        >>> prior.attach(lambda u: (2.0 * u, tf.ones_like(u)))  # a toy "encoder": mean 2u, stddev 1
        >>> prior.distribution().event_shape, tuple(prior.pseudo_inputs.shape)
        (TensorShape([2]), (3, 2))
    """

    def __init__(self, num_pseudo_inputs: int, example_shape: Sequence[int],
                 value_range: Sequence[float] | None = (0.0, 1.0), init_mean: float = 0.5, init_stddev: float = 0.1,
                 seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.num_pseudo_inputs = check_int(num_pseudo_inputs, "num_pseudo_inputs", minimum=1,
                                           maximum=MAX_PSEUDO_INPUTS)
        if isinstance(example_shape, (str, bytes)) or not hasattr(example_shape, "__len__") or not example_shape:
            raise InputValidationError(f"example_shape must be a non-empty tuple of ints, got "
                                       f"{short_repr(example_shape)}.")
        self.example_shape = tuple(check_int(n, "example_shape", minimum=1) for n in example_shape)
        if value_range is not None:
            if len(value_range) != 2:
                raise InputValidationError(f"value_range must be (low, high) or None, got {short_repr(value_range)}.")
            low, high = (check_float(v, "value_range") for v in value_range)
            if not low < high:
                raise InputValidationError(f"value_range needs low < high, got {short_repr(value_range)}.")
            value_range = (low, high)
        self.value_range = value_range
        self.init_mean = check_float(init_mean, "init_mean")
        self.init_stddev = check_float(init_stddev, "init_stddev", minimum=0.0, include_minimum=False)
        self.seed = check_model_seed(seed)
        # Created here, like GaussianMixturePrior's weights: a loaded model finds them before any data.
        self.pseudo_inputs = self.add_weight(
            shape=(self.num_pseudo_inputs, *self.example_shape), name="pseudo_inputs",
            initializer=keras.initializers.TruncatedNormal(self.init_mean, self.init_stddev, seed=self.seed))
        object.__setattr__(self, "_posterior_params", None)  # a function of the VAE, not a tracked layer
        self.built = True

    def attach(self, posterior_params: Callable[[tf.Tensor], tuple[tf.Tensor, tf.Tensor]]) -> None:
        """Sets the function ``inputs (K, *example_shape) -> (mean, stddev)`` of q(z|x), each ``(K, latent_dim)``.

        Args:
            posterior_params: The VAE's posterior parameters (it passes its own when built).
        """
        if not callable(posterior_params):
            raise InputValidationError(f"posterior_params must be callable, got {type(posterior_params).__name__}.")
        object.__setattr__(self, "_posterior_params", posterior_params)

    def inputs(self) -> tf.Tensor:
        """The pseudo-inputs as the encoder sees them: float32, clipped to ``value_range``."""
        u = tf.cast(self.pseudo_inputs, tf.float32)
        return u if self.value_range is None else tf.clip_by_value(u, *self.value_range)

    def components(self) -> tfd.MultivariateNormalDiag:
        """q(z|u_k) for every pseudo-input: a diagonal Gaussian with batch shape ``(K,)``."""
        if self._posterior_params is None:
            raise InputValidationError(
                "This VampPrior has no posterior yet: pass it as prior= to a VAE (or build_vae(prior='vamp')), "
                "which attaches its encoder.")
        loc, scale = self._posterior_params(self.inputs())
        return tfd.MultivariateNormalDiag(loc=tf.cast(loc, tf.float32), scale_diag=tf.cast(scale, tf.float32))

    def distribution(self) -> tfd.Distribution:
        """The uniform mixture ``1/K sum_k q(z|u_k)``, a ``tfd.MixtureSameFamily`` (float32)."""
        return tfd.MixtureSameFamily(
            mixture_distribution=tfd.Categorical(logits=tf.zeros([self.num_pseudo_inputs])),
            components_distribution=self.components())

    def call(self, inputs=None):
        return self.distribution()

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(num_pseudo_inputs=self.num_pseudo_inputs, example_shape=list(self.example_shape),
                      value_range=None if self.value_range is None else list(self.value_range),
                      init_mean=self.init_mean, init_stddev=self.init_stddev, seed=self.seed)
        return config
