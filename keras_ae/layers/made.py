"""``MADE``: a masked dense network whose output ``i`` sees only inputs ``< i`` (Germain et al. 2015).

The Keras 3 network behind the inverse autoregressive flow of the VAE
(:mod:`keras_ae.models.vae.flows`): TFP's ``tfb.AutoregressiveNetwork`` is a ``tf.keras``
layer and does not run in Keras 3 models, TFP's ``MaskedAutoregressiveFlow`` bijector does.
"""

from __future__ import annotations

from typing import Sequence

import keras
import numpy as np

from keras_ae.validation import check_int, check_layer_budget, check_parameter_budget


def made_masks(event_size: int, hidden_units: Sequence[int], params: int) -> list[np.ndarray]:
    """The 0/1 masks of a MADE with the natural input order (input ``i`` has degree ``i + 1``).

    Hidden unit degrees cycle through ``1 .. event_size - 1``; a hidden unit sees inputs of
    degree <= its own, an output of degree ``d`` sees hidden units of degree < ``d``.

    Args:
        event_size: Inputs (and outputs per parameter), ``D``.
        hidden_units: Widths of the hidden layers.
        params: Outputs per input dimension (2 for a shift and a scale).

    Returns:
        ``[input -> hidden_1, ..., hidden_L -> output]`` float32 masks; the output mask is
        ``(hidden_L, D * params)`` with column ``i * params + p`` for dimension ``i``.

    Example:
        >>> masks = made_masks(3, [4], params=1)
        >>> masks[1].astype(int)  # output 0 sees nothing, output 2 sees hidden units of degree 1 and 2
        array([[0, 1, 1],
               [0, 0, 1],
               [0, 1, 1],
               [0, 0, 1]])
    """
    degrees = [np.arange(1, event_size + 1)]
    for units in hidden_units:
        degrees.append(np.arange(units) % max(1, event_size - 1) + 1)
    masks = [(d_out[None, :] >= d_in[:, None]) for d_in, d_out in zip(degrees[:-1], degrees[1:])]
    out_degrees = np.repeat(np.arange(1, event_size + 1), params)
    masks.append(out_degrees[None, :] > degrees[-1][:, None])
    return [m.astype(np.float32) for m in masks]


def made_parameter_count(event_size: int, hidden_units: Sequence[int], params: int, context_size: int = 0) -> int:
    """Weights of a :class:`MADE` (kernels, biases, context kernels); its masks take as much memory again.

    Args:
        event_size: Inputs (and outputs per parameter), ``D``.
        hidden_units: Widths of the hidden layers.
        params: Outputs per input dimension.
        context_size: Width of the context input (it feeds every hidden layer), 0 for none.

    Returns:
        The number of weights.

    Example:
        >>> made_parameter_count(3, [8], params=2)  # 3*8 + 8 + 8*6 + 6
        86
    """
    widths = [event_size, *hidden_units, event_size * params]
    dense = sum(a * b + b for a, b in zip(widths[:-1], widths[1:]))
    return dense + context_size * sum(hidden_units)


def made_mask_count(event_size: int, hidden_units: Sequence[int], params: int) -> int:
    """Entries of a :class:`MADE`'s float32 masks (one per kernel entry): memory as large as the kernels.

    Args:
        event_size: Inputs (and outputs per parameter), ``D``.
        hidden_units: Widths of the hidden layers.
        params: Outputs per input dimension.

    Returns:
        The number of mask entries.

    Example:
        >>> made_mask_count(3, [8], params=2)  # 3*8 + 8*6
        72
    """
    widths = [event_size, *hidden_units, event_size * params]
    return sum(a * b for a, b in zip(widths[:-1], widths[1:]))


@keras.saving.register_keras_serializable(package="keras_ae")
class MADE(keras.layers.Layer):
    """Masked autoencoder for distribution estimation: ``(..., D) -> (..., D, params)``.

    Output ``[..., i, :]`` depends on inputs ``0 .. i - 1`` only (and on the optional
    ``context``, which enters every hidden layer unmasked, as the encoder's ``h`` does
    in Kingma et al. 2016's IAF). The context may have fewer leading axes than the
    input (``(batch, C)`` against ``(samples, batch, D)``): it broadcasts.

    Args:
        event_size: Input dimension ``D``.
        hidden_units: Hidden layer widths (each >= ``D - 1`` lets every output see all its inputs).
        params: Outputs per input dimension.
        context_size: Width of the context input, 0 for none.
        activation: Hidden activation.
        output_initializer: Initializer of the output kernel; ``None`` means N(0, 0.01^2), small
            outputs at first, so a flow step starts close to its gate-only form.

    Example:
        >>> made = MADE(3, hidden_units=(8,), params=2)
        >>> z = np.random.default_rng(0).normal(size=(4, 3)).astype("float32")
        >>> made(z).shape
        TensorShape([4, 3, 2])
        >>> z2 = z.copy(); z2[:, 2] += 1.0  # the last input reaches no output
        >>> bool(np.allclose(made(z), made(z2)))
        True
    """

    def __init__(self, event_size: int, hidden_units: Sequence[int] = (64,), params: int = 2, context_size: int = 0,
                 activation: str = "elu", output_initializer=None, **kwargs):
        super().__init__(**kwargs)
        self.event_size = check_int(event_size, "event_size", minimum=1)
        self.hidden_units = tuple(check_int(u, "hidden_units", minimum=1) for u in hidden_units)
        if not self.hidden_units:
            raise ValueError("MADE needs at least one hidden layer (hidden_units=()).")
        self.params = check_int(params, "params", minimum=1)
        self.context_size = check_int(context_size, "context_size", minimum=0)
        # Checked before the masks (as large as the kernels) are computed.
        check_layer_budget(len(self.hidden_units) + 1, "MADE", "use fewer hidden layers")
        check_parameter_budget(made_parameter_count(self.event_size, self.hidden_units, self.params, self.context_size)
                               + made_mask_count(self.event_size, self.hidden_units, self.params),
                               "MADE (weights and masks)", advice="reduce hidden_units (flow_hidden) or the event size")
        self.activation = keras.activations.get(activation)
        self._activation_name = activation
        if output_initializer is None:
            output_initializer = keras.initializers.RandomNormal(stddev=1e-2)
        self.output_initializer = keras.initializers.get(output_initializer)
        self._masks = made_masks(self.event_size, self.hidden_units, self.params)

    def build(self, input_shape):
        widths = [self.event_size, *self.hidden_units, self.event_size * self.params]
        self.kernels, self.biases, self.context_kernels = [], [], []
        for i, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:])):
            last = i == len(widths) - 2
            self.kernels.append(self.add_weight(
                shape=(n_in, n_out), name=f"kernel_{i}",
                initializer=self.output_initializer if last else "glorot_uniform"))
            self.biases.append(self.add_weight(shape=(n_out,), name=f"bias_{i}", initializer="zeros"))
            if self.context_size and not last:
                self.context_kernels.append(self.add_weight(
                    shape=(self.context_size, n_out), name=f"context_kernel_{i}", initializer="glorot_uniform"))
        self.built = True

    def call(self, inputs, context=None):
        if (context is None) != (self.context_size == 0):
            raise ValueError(f"This MADE takes a context of width {self.context_size}; got "
                             f"{'none' if context is None else 'one'}.")
        h = inputs
        for i, (kernel, bias) in enumerate(zip(self.kernels, self.biases)):
            h = keras.ops.matmul(h, kernel * keras.ops.cast(self._masks[i], kernel.dtype)) + bias
            if i < len(self.context_kernels):
                h = h + keras.ops.matmul(keras.ops.cast(context, h.dtype), self.context_kernels[i])
            if i < len(self.kernels) - 1:
                h = self.activation(h)
        return keras.ops.reshape(h, (*keras.ops.shape(h)[:-1], self.event_size, self.params))

    def compute_output_shape(self, input_shape, context_shape=None):
        return (*input_shape[:-1], self.event_size, self.params)

    def get_config(self) -> dict:
        return {**super().get_config(), "event_size": self.event_size, "hidden_units": list(self.hidden_units),
                "params": self.params, "context_size": self.context_size, "activation": self._activation_name,
                "output_initializer": keras.initializers.serialize(self.output_initializer)}
