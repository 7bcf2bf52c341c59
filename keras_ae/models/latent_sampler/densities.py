"""Densities over flat code vectors that a :class:`~keras_ae.models.latent_sampler.model.LatentSampler` samples.

Both are Keras layers whose parameters are weights, so they are saved in the ``.keras``
file and read by the exported graphs; both draw with TensorFlow's stateless ops from one
int32 seed pair (:func:`keras_ae.random.stateless_pair`), so Python and a served model
draw the same codes for the same seed.

| density | parameters | ``log_prob`` | ``sample`` |
| --- | --- | --- | --- |
| :class:`GaussianMixtureDensity` | weights, means, scales | ``tfd.MixtureSameFamily`` | a component, ``mean + L eps`` |
| :class:`MaskedAutoregressiveDensity` | standardization, MADEs | a MADE pass per step | ``D`` passes per step |

A mixture's scales are Cholesky factors of its covariances (``"full"``) or standard
deviations (``"diag"``).

The masked autoregressive flow (Papamakarios et al. 2017) models standardized codes
``y = (z - mean) / std``: each step is ``y_i = u_i exp(a_i) + m_i`` with ``(m_i, a_i)`` from
a :class:`~keras_ae.layers.made.MADE` of ``y_<i``, steps alternate the order of the
dimensions, and ``u ~ N(0, I)``. Its density takes one pass per step; sampling inverts the
autoregression, one pass per dimension (a ``tf.while_loop``). It is written in TensorFlow ops
rather than TFP's ``MaskedAutoregressiveFlow`` bijector, whose graphs took seconds to trace
(2.4 s for one ``log_prob`` of a 5-step flow, 0.01 s to run it).
"""

from __future__ import annotations

import math
from typing import Sequence

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from keras_ae.errors import InputValidationError
from keras_ae.layers.made import MADE, made_mask_count, made_parameter_count
from keras_ae.validation import (check_choice, check_int, check_layer_budget, check_parameter_budget, check_size,
                                 short_repr)

tfd = tfp.distributions

COVARIANCES = ("full", "diag")
# Components a mixture may hold: an aggregate posterior keeps one per stored code (its
# log_prob evaluates them all for every code scored).
MAX_COMPONENTS = 100_000
# Bound on a flow step's log-scale: |a| <= 3 (a factor of at most e^3 per step and dimension)
# keeps early training steps from overflowing exp(a) while several steps still reach any scale.
LOG_SCALE_BOUND = 3.0


def _as_float32(value, shape: tuple[int, ...], name: str) -> np.ndarray:
    array = np.asarray(value, np.float64)
    if array.shape != shape:
        raise InputValidationError(f"`{name}` has shape {array.shape}; this density expects {shape}.")
    if not np.isfinite(array).all():
        raise InputValidationError(f"`{name}` contains NaN or infinite values.")
    return array.astype(np.float32)


@keras.saving.register_keras_serializable(package="keras_ae")
class GaussianMixtureDensity(keras.layers.Layer):
    """A mixture of ``num_components`` Gaussians over ``event_size``-vectors, fixed parameters.

    The weights are not trainable: they are set from a fit (:meth:`set_parameters`, e.g. a
    scikit-learn ``GaussianMixture`` or the posteriors of a VAE's training codes).

    Args:
        event_size: Dimension ``D`` of a code.
        num_components: Mixture components ``K``.
        covariance: ``"full"`` (a lower-triangular Cholesky factor per component) or
            ``"diag"`` (a standard deviation per component and dimension).

    Example:
        >>> from keras_ae.random import stateless_pair
        >>> gmm = GaussianMixtureDensity(2, num_components=1)
        >>> round(float(gmm.log_prob(tf.zeros((1, 2)))[0]), 4)  # N(0, I) at 0: -log(2 pi)
        -1.8379
        >>> gmm.sample(3, stateless_pair(0)).shape
        TensorShape([3, 2])
    """

    def __init__(self, event_size: int, num_components: int = 10, covariance: str = "full", **kwargs):
        kwargs.setdefault("dtype", "float32")  # densities in float32 under a mixed-precision policy too
        super().__init__(**kwargs)
        self.event_size = check_int(event_size, "event_size", minimum=1)
        self.num_components = check_size(num_components, "num_components", MAX_COMPONENTS,
                                         "a mixture evaluates every component for each code it scores")
        self.covariance = check_choice(covariance, "covariance", COVARIANCES)
        d, k = self.event_size, self.num_components
        scale_shape = (k, d, d) if self.covariance == "full" else (k, d)
        check_parameter_budget(k * (1 + d) + int(np.prod(scale_shape)), "Gaussian mixture density",
                               advice="use fewer components, covariance='diag' or a smaller code")
        eye = np.broadcast_to(np.eye(d, dtype=np.float32), scale_shape) if self.covariance == "full" else None
        self.logits = self.add_weight(shape=(k,), initializer="zeros", trainable=False, name="logits")
        self.means = self.add_weight(shape=(k, d), initializer="zeros", trainable=False, name="means")
        self.scales = self.add_weight(
            shape=scale_shape, trainable=False, name="scale_tril" if self.covariance == "full" else "stddevs",
            initializer=keras.initializers.Constant(eye) if eye is not None else "ones")
        self.built = True

    def set_parameters(self, weights, means, scales) -> None:
        """Sets the mixture: component ``weights`` (K,), ``means`` (K, D) and ``scales``.

        Args:
            weights: Mixture weights, positive (normalised here).
            means: Component means.
            scales: Lower-triangular Cholesky factors ``(K, D, D)`` of the covariances
                (``"full"``), or standard deviations ``(K, D)`` (``"diag"``), positive on the diagonal.

        Example:
            >>> gmm = GaussianMixtureDensity(1, num_components=2, covariance="diag")
            >>> gmm.set_parameters([1.0, 3.0], [[-1.0], [1.0]], [[0.5], [0.5]])
            >>> np.round(np.exp(gmm.logits.numpy()), 2).tolist()
            [0.25, 0.75]
        """
        k, d = self.num_components, self.event_size
        weights = _as_float32(weights, (k,), "weights")
        if (weights <= 0).any():
            raise InputValidationError("Mixture `weights` must be positive.")
        scale_shape = (k, d, d) if self.covariance == "full" else (k, d)
        scales = _as_float32(scales, scale_shape, "scales")
        diagonal = np.diagonal(scales, axis1=1, axis2=2) if self.covariance == "full" else scales
        if (diagonal <= 0).any():
            raise InputValidationError("Mixture `scales` must be positive on the diagonal (Cholesky factors or "
                                       "standard deviations).")
        if self.covariance == "full":
            scales = np.tril(scales)
        self.logits.assign(np.log(weights / weights.sum()))
        self.means.assign(_as_float32(means, (k, d), "means"))
        self.scales.assign(scales)

    def distribution(self) -> tfd.Distribution:
        """The mixture as a ``tfd.MixtureSameFamily`` with event shape ``(D,)``."""
        mixture = tfd.Categorical(logits=tf.convert_to_tensor(self.logits))
        if self.covariance == "full":
            components = tfd.MultivariateNormalTriL(loc=self.means, scale_tril=self.scales)
        else:
            components = tfd.MultivariateNormalDiag(loc=self.means, scale_diag=self.scales)
        return tfd.MixtureSameFamily(mixture, components)

    def log_prob(self, z) -> tf.Tensor:
        """``log p(z)`` of codes ``(batch, D)``, float32 ``(batch,)``."""
        return self.distribution().log_prob(tf.cast(z, tf.float32))

    def sample(self, count, seed: tf.Tensor) -> tf.Tensor:
        """``count`` codes ``(count, D)`` from the stateless int32 seed pair ``seed``.

        A component per code (``stateless_categorical``), then ``mean + scale eps`` with
        ``eps ~ N(0, I)`` (``stateless_normal``): one function for Python and the export.
        """
        component_seed, noise_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
        count = tf.cast(count, tf.int32)
        component = tf.random.stateless_categorical(self.logits[None], count, seed=component_seed,
                                                    dtype=tf.int32)[0]
        eps = tf.random.stateless_normal(tf.stack([count, self.event_size]), seed=noise_seed)
        scale = tf.gather(self.scales, component)
        shifted = tf.linalg.matvec(scale, eps) if self.covariance == "full" else scale * eps
        return tf.gather(self.means, component) + shifted

    def call(self, z):
        return self.log_prob(z)

    def describe(self) -> dict:
        """Facts for the export metadata."""
        return {"density": "gaussian_mixture", "num_components": self.num_components, "covariance": self.covariance}

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(event_size=self.event_size, num_components=self.num_components, covariance=self.covariance)
        return config


@keras.saving.register_keras_serializable(package="keras_ae")
class MaskedAutoregressiveDensity(keras.layers.Layer):
    """A masked autoregressive flow (Papamakarios et al. 2017) over standardized ``event_size``-vectors.

    Args:
        event_size: Dimension ``D`` of a code.
        steps: Flow steps, each a :class:`~keras_ae.layers.made.MADE`; the order of the
            dimensions is reversed between steps.
        hidden_units: Hidden widths of each MADE.
        activation: Hidden activation of the MADEs.

    Example:
        >>> from keras_ae.random import stateless_pair
        >>> maf = MaskedAutoregressiveDensity(2, steps=2, hidden_units=(8,))
        >>> z = maf.sample(5, stateless_pair(0))
        >>> z.shape, maf.log_prob(z).shape
        (TensorShape([5, 2]), TensorShape([5]))
    """

    def __init__(self, event_size: int, steps: int = 5, hidden_units: Sequence[int] = (64, 64),
                 activation: str = "relu", **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.event_size = check_int(event_size, "event_size", minimum=1)
        self.steps = check_int(steps, "flow_steps", minimum=1)
        if isinstance(hidden_units, (str, bytes)) or not isinstance(hidden_units, Sequence) or not hidden_units:
            raise InputValidationError(
                f"`flow_hidden` must be a non-empty sequence of layer widths, got {short_repr(hidden_units)}.")
        self.hidden_units = tuple(check_int(u, "flow_hidden", minimum=1) for u in hidden_units)
        self.activation = activation
        # Bounded before any MADE (and its masks, as large as its kernels) is created.
        check_layer_budget(self.steps * (len(self.hidden_units) + 1), "masked autoregressive density",
                           "reduce flow_steps or the number of flow_hidden layers")
        check_parameter_budget(self.steps * (made_parameter_count(self.event_size, self.hidden_units, 2)
                                             + made_mask_count(self.event_size, self.hidden_units, 2)),
                               "masked autoregressive density (weights and MADE masks)",
                               advice="reduce flow_steps, flow_hidden or the code size")
        d = self.event_size
        self.shift = self.add_weight(shape=(d,), initializer="zeros", trainable=False, name="shift")
        self.scale = self.add_weight(shape=(d,), initializer="ones", trainable=False, name="scale")
        self.mades = [MADE(d, self.hidden_units, params=2, activation=activation, name=f"made_{t}")
                      for t in range(self.steps)]
        for made in self.mades:
            made.build((None, d))
        self.built = True

    def set_standardization(self, mean, std) -> None:
        """The flow models ``(z - mean) / std``: set from the training codes before fitting.

        Example:
            >>> maf = MaskedAutoregressiveDensity(2, steps=1, hidden_units=(4,))
            >>> maf.set_standardization([1.0, 2.0], [2.0, 4.0])
            >>> maf.scale.numpy().tolist()
            [2.0, 4.0]
        """
        std = _as_float32(std, (self.event_size,), "std")
        if (std <= 0).any():
            raise InputValidationError("The standardization's `std` must be positive.")
        self.shift.assign(_as_float32(mean, (self.event_size,), "mean"))
        self.scale.assign(std)

    def _shift_and_log_scale(self, made: MADE, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        params = tf.cast(made(y), tf.float32)
        return params[..., 0], LOG_SCALE_BOUND * tf.tanh(params[..., 1] / LOG_SCALE_BOUND)

    def log_prob(self, z) -> tf.Tensor:
        """``log p(z)`` of codes ``(batch, D)``, float32 ``(batch,)``: one MADE pass per step.

        From the code back to the noise: ``y = (z - mean) / std``, then per step (last first)
        ``u = (y - m(y)) exp(-a(y))``; ``log p(z) = log N(u; 0, I) - sum a - sum log std``.
        """
        y = (tf.cast(z, tf.float32) - self.shift) / self.scale
        log_det = -tf.reduce_sum(tf.math.log(self.scale))
        for t in reversed(range(self.steps)):
            shift, log_scale = self._shift_and_log_scale(self.mades[t], y)
            y = (y - shift) * tf.exp(-log_scale)
            log_det = log_det - tf.reduce_sum(log_scale, axis=-1)
            if t:
                y = tf.reverse(y, axis=[-1])
        base = -0.5 * tf.reduce_sum(tf.square(y), axis=-1) - 0.5 * self.event_size * math.log(2.0 * math.pi)
        return base + log_det

    def sample(self, count, seed: tf.Tensor) -> tf.Tensor:
        """``count`` codes ``(count, D)``: ``u = stateless_normal(seed)`` through the flow.

        Each step inverts its autoregression: ``D`` MADE passes, pass ``i`` fixing ``y_i``.
        """
        h = tf.random.stateless_normal(tf.stack([tf.cast(count, tf.int32), self.event_size]), seed=seed)
        for t, made in enumerate(self.mades):
            if t:
                h = tf.reverse(h, axis=[-1])

            def solve(i, y, u=h, made=made):
                shift, log_scale = self._shift_and_log_scale(made, y)
                return i + 1, u * tf.exp(log_scale) + shift

            h = tf.while_loop(lambda i, y: i < self.event_size, solve, (tf.constant(0), tf.zeros_like(h)))[1]
        return self.shift + self.scale * h

    def call(self, z):
        return self.log_prob(z)

    def describe(self) -> dict:
        """Facts for the export metadata."""
        return {"density": "masked_autoregressive_flow", "flow_steps": self.steps,
                "flow_hidden": list(self.hidden_units)}

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(event_size=self.event_size, steps=self.steps, hidden_units=list(self.hidden_units),
                      activation=self.activation)
        return config


__all__ = ["COVARIANCES", "GaussianMixtureDensity", "MaskedAutoregressiveDensity"]
