"""Normalizing flows for the VAE posterior, on TensorFlow Probability bijectors.

:class:`PosteriorFlow` pushes a draw ``z0 ~ N(mu(x), sigma(x))`` through ``steps``
invertible maps ``z = f_K(... f_1(z0))`` and returns ``z`` with the exact
``log|det dz/dz0|``, so that

    log q(z|x) = log N(z0; mu, sigma) - log|det dz/dz0|

enters the ELBO and the IWAE bound without approximation. Kinds:

| kind | one step (``sigma_t = sigmoid(s_t + 2)``) | TFP bijector |
| --- | --- | --- |
| ``"iaf"`` | ``z <- sigma * z + (1 - sigma) * m``, ``(m, s) = MADE(z_<i, h)`` | ``Invert(MaskedAutoregressiveFlow)`` |
| ``"realnvp"`` | the same gated update of the second half from the first half and ``h`` | ``RealNVP`` |

The inverse autoregressive flow is Kingma et al. 2016's (its gated update and its
context ``h``, an extra encoder output); steps alternate the order of the dimensions
(``tfb.Permute``). Its log-determinant is ``sum_i log sigma_i`` per step; sampling and
the log-determinant take one network pass per step, inverting it takes ``latent_dim``.
"""

from __future__ import annotations

from typing import Sequence

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from keras_ae.errors import InputValidationError
from keras_ae.layers.made import MADE, made_mask_count, made_parameter_count
from keras_ae.validation import check_choice, check_int, check_layer_budget, check_parameter_budget

tfb = tfp.bijectors

FLOWS = ("iaf", "realnvp")
# sigma = sigmoid(s + 2) ~ 0.88 while the network's output is still ~0: each step starts
# close to the identity (Kingma et al. 2016 bias the gate towards "keep z" the same way).
GATE_BIAS = 2.0


def gated_affine(params: tf.Tensor) -> tfb.Bijector:
    """The bijector ``u -> sigma * u + (1 - sigma) * m`` for ``params[..., 0] = m``, ``params[..., 1] = s``.

    ``sigma = sigmoid(s + GATE_BIAS)``; the log-determinant is ``log sigma`` per element.

    Args:
        params: The network's output ``(..., 2)``: the shift target ``m`` and the gate logit ``s``
            on the last axis (cast to float32).

    Returns:
        A ``tfb.Chain``: ``tfb.Scale(sigma)``, then ``tfb.Shift((1 - sigma) * m)``, acting elementwise on
        tensors shaped like ``params[..., 0]``.

    Example:
        >>> b = gated_affine(tf.constant([[0.5, -GATE_BIAS]]))  # m = 0.5, sigma = 1/2
        >>> float(b.forward(tf.constant([1.0]))[0]), float(b.forward_log_det_jacobian(tf.constant([1.0]), 1))
        (0.75, -0.6931471824645996)
    """
    params = tf.cast(params, tf.float32)
    m, s = params[..., 0], params[..., 1] + GATE_BIAS
    return tfb.Chain([tfb.Shift(tf.sigmoid(-s) * m), tfb.Scale(log_scale=tf.math.log_sigmoid(s))])


def coupling_net_parameter_count(inputs: int, units: int, hidden_units: Sequence[int], context_size: int = 0) -> int:
    """Weights of a :class:`CouplingNet` from ``inputs`` numbers (plus a context) to ``units`` pairs.

    Args:
        inputs: Width of the network's input (the first half of ``z``).
        units: Elements of the second half; the network outputs ``2 * units`` numbers.
        hidden_units: Widths of the hidden layers (at least one).
        context_size: Width of the context, which enters the first hidden layer without a bias.

    Returns:
        The kernels and biases of the Dense chain, plus ``context_size * hidden_units[0]``.

    Example:
        >>> coupling_net_parameter_count(2, 3, [8])  # 2*8 + 8 + 8*6 + 6
        78
    """
    widths = [inputs, *hidden_units, 2 * units]
    return sum(a * b + b for a, b in zip(widths[:-1], widths[1:])) + context_size * hidden_units[0]


def flow_parameter_count(latent_dim: int, kind: str, steps: int, hidden_units: Sequence[int],
                         context_dim: int = 0) -> int:
    """Weights of a :class:`PosteriorFlow`: ``steps`` MADEs (``"iaf"``) or coupling networks (``"realnvp"``).

    Args:
        latent_dim: Size of the latent code ``z``.
        kind: ``"iaf"``; any other value counts ``"realnvp"`` coupling networks (``latent_dim // 2`` inputs).
        steps: Number of flow steps.
        hidden_units: Hidden widths of each step's network.
        context_dim: Width of the encoder's context ``h`` (0 without one).

    Returns:
        The number of weights of the whole flow.

    Example:
        >>> flow_parameter_count(50, "iaf", steps=2, hidden_units=[200], context_dim=50)  # docs/results.md's IAF
        80600
    """
    if kind == "iaf":
        return steps * made_parameter_count(latent_dim, hidden_units, 2, context_dim)
    half = latent_dim // 2
    return steps * coupling_net_parameter_count(half, latent_dim - half, hidden_units, context_dim)


@keras.saving.register_keras_serializable(package="keras_ae")
class CouplingNet(keras.layers.Layer):
    """The RealNVP step's network: ``(..., d)`` first half (+ context) -> ``(..., units, 2)``.

    Example:
        >>> CouplingNet(3, hidden_units=(8,))(tf.zeros((4, 2))).shape
        TensorShape([4, 3, 2])
    """

    def __init__(self, units: int, hidden_units: Sequence[int] = (64,), context_size: int = 0,
                 activation: str = "elu", **kwargs):
        super().__init__(**kwargs)
        self.units = check_int(units, "units", minimum=1)
        self.hidden_units = tuple(check_int(u, "hidden_units", minimum=1) for u in hidden_units)
        if not self.hidden_units:
            raise InputValidationError("CouplingNet needs at least one hidden layer, got hidden_units=().")
        self.context_size, self.activation = check_int(context_size, "context_size", minimum=0), activation
        check_layer_budget(len(self.hidden_units) + 2, "coupling network", "use fewer hidden layers")
        # The input width is known at build() only: count one input (PosteriorFlow checks the whole flow).
        check_parameter_budget(coupling_net_parameter_count(1, self.units, self.hidden_units, self.context_size),
                               "coupling network", advice="reduce hidden_units (flow_hidden)")
        # The first layer's activation comes after the context is added.
        self.hidden = [keras.layers.Dense(u, activation=activation if i else None, name=f"hidden_{i}")
                       for i, u in enumerate(self.hidden_units)]
        self.context_dense = (keras.layers.Dense(self.hidden_units[0], use_bias=False, name="context")
                              if self.context_size else None)
        self.out = keras.layers.Dense(2 * self.units, kernel_initializer=keras.initializers.RandomNormal(stddev=1e-2),
                                      name="out")

    def build(self, input_shape):
        width = input_shape[-1]
        for i, layer in enumerate(self.hidden):
            layer.build((None, width))
            if i == 0 and self.context_dense is not None:
                self.context_dense.build((None, self.context_size))
            width = layer.units
        self.out.build((None, width))
        self.built = True

    def call(self, inputs, context=None):
        h = self.hidden[0](inputs)
        if self.context_dense is not None:
            h = h + self.context_dense(context)
        h = keras.activations.get(self.activation)(h)
        for layer in self.hidden[1:]:
            h = layer(h)
        out = self.out(h)
        return keras.ops.reshape(out, (*keras.ops.shape(out)[:-1], self.units, 2))

    def get_config(self) -> dict:
        return {**super().get_config(), "units": self.units, "hidden_units": list(self.hidden_units),
                "context_size": self.context_size, "activation": self.activation}


@keras.saving.register_keras_serializable(package="keras_ae")
class PosteriorFlow(keras.layers.Layer):
    """``steps`` flow steps on ``latent_dim``-vectors, optionally conditioned on a context ``h``.

    Args:
        latent_dim: Dimension of z.
        kind: ``"iaf"`` (inverse autoregressive flow) or ``"realnvp"`` (affine coupling).
        steps: Number of flow steps, >= 1.
        hidden_units: Hidden widths of each step's network (MADE for ``"iaf"``).
        context_dim: Width of the context ``h`` (0: the flow does not depend on x beyond z0).
        activation: Hidden activation of the step networks.

    Example:
        >>> flow = PosteriorFlow(3, kind="iaf", steps=2, hidden_units=(8,), context_dim=2)
        >>> z0, h = tf.random.normal((4, 3), seed=1), tf.random.normal((4, 2), seed=2)
        >>> z, log_det = flow.forward_and_log_det(z0, h)
        >>> z.shape, log_det.shape  # log|det dz/dz0| per example
        (TensorShape([4, 3]), TensorShape([4]))
        >>> bool(tf.reduce_all(log_det < 0))  # gated steps contract: sigma < 1
        True
    """

    def __init__(self, latent_dim: int, kind: str = "iaf", steps: int = 2, hidden_units: Sequence[int] = (64,),
                 context_dim: int = 0, activation: str = "elu", **kwargs):
        super().__init__(**kwargs)
        self.latent_dim = check_int(latent_dim, "latent_dim", minimum=1)
        self.kind = check_choice(kind, "posterior_flow", FLOWS)
        self.steps = check_int(steps, "flow_steps", minimum=1)
        self.hidden_units = tuple(check_int(u, "flow_hidden", minimum=1) for u in hidden_units)
        if not self.hidden_units:
            raise InputValidationError("flow_hidden must name at least one hidden layer width, got ().")
        if not isinstance(context_dim, int) or isinstance(context_dim, bool) or context_dim < 0:
            raise InputValidationError(f"flow_context_dim must be an int >= 0, got {context_dim!r}.")
        if self.kind == "realnvp" and self.latent_dim < 2:
            raise InputValidationError("posterior_flow='realnvp' splits z in two halves: it needs latent_dim >= 2.")
        # Checked before any step network is created (a saved config rebuilds the flow here too).
        check_layer_budget(self.steps * (len(self.hidden_units) + 1), "posterior flow",
                           "reduce flow_steps or the number of flow_hidden layers")
        masks = self.steps * made_mask_count(self.latent_dim, self.hidden_units, 2) if self.kind == "iaf" else 0
        check_parameter_budget(flow_parameter_count(self.latent_dim, self.kind, self.steps, self.hidden_units,
                                                    context_dim) + masks,
                               "posterior flow (weights and MADE masks)",
                               advice="reduce flow_steps, flow_hidden or latent_dim")
        self.context_dim, self.activation = context_dim, activation
        self.num_masked = self.latent_dim // 2
        if self.kind == "iaf":
            self.nets = [MADE(self.latent_dim, self.hidden_units, params=2, context_size=context_dim,
                              activation=activation, name=f"made_{t}") for t in range(self.steps)]
        else:
            self.nets = [CouplingNet(self.latent_dim - self.num_masked, self.hidden_units, context_dim, activation,
                                     name=f"coupling_{t}") for t in range(self.steps)]

    def build(self, input_shape=None):
        width = self.latent_dim if self.kind == "iaf" else self.num_masked
        for net in self.nets:
            net.build((None, width))
        self.built = True

    def _step(self, net, context) -> tfb.Bijector:
        def conditioned(x):
            return net(x) if context is None else net(x, context=context)

        if self.kind == "iaf":
            # IAF forward = MAF inverse: one pass, z_i from z0_<i; MAF's own forward is sequential.
            return tfb.Invert(tfb.MaskedAutoregressiveFlow(
                bijector_fn=lambda y, **_: tfb.Invert(gated_affine(conditioned(y)))))
        return tfb.RealNVP(num_masked=self.num_masked,
                           bijector_fn=lambda x0, output_units, **_: gated_affine(conditioned(x0)))

    def bijector(self, context: tf.Tensor | None = None) -> tfb.Bijector:
        """The flow z0 -> z as one TFP bijector (event ndims 1), conditioned on ``context``.

        Example:
            >>> flow = PosteriorFlow(2, steps=1, hidden_units=(4,))
            >>> b = flow.bijector()
            >>> z0 = tf.constant([[0.3, -1.0]])
            >>> bool(np.allclose(b.inverse(b.forward(z0)), z0, atol=1e-5))
            True
        """
        if (context is None) != (self.context_dim == 0):
            raise InputValidationError(
                f"This flow takes a context of width {self.context_dim}; got {'none' if context is None else 'one'}.")
        if context is not None:
            context = tf.cast(context, tf.float32)
        reverse = tfb.Permute(list(reversed(range(self.latent_dim))))
        forward_order = []
        for t, net in enumerate(self.nets):
            if t:
                forward_order.append(reverse)
            forward_order.append(self._step(net, context))
        return tfb.Chain(forward_order[::-1])  # Chain applies its last bijector first

    def forward_and_log_det(self, z0: tf.Tensor, context: tf.Tensor | None = None) -> tuple[tf.Tensor, tf.Tensor]:
        """``z = flow(z0)`` and ``log|det dz/dz0|`` (shape ``z0.shape[:-1]``), float32."""
        bijector = self.bijector(context)
        z0 = tf.cast(z0, tf.float32)
        return bijector.forward(z0), bijector.forward_log_det_jacobian(z0, event_ndims=1)

    def call(self, z0, context=None):
        return self.forward_and_log_det(z0, context)[0]

    def get_config(self) -> dict:
        return {**super().get_config(), "latent_dim": self.latent_dim, "kind": self.kind, "steps": self.steps,
                "hidden_units": list(self.hidden_units), "context_dim": self.context_dim,
                "activation": self.activation}
