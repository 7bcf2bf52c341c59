"""A dense layer whose kernel is the transpose of another Dense layer's (tied weights)."""

from __future__ import annotations

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="keras_ae")
class DenseTranspose(keras.layers.Layer):
    """``activation(h @ W^T + b)`` where ``W`` is the kernel of a tied ``Dense`` layer.

    The layer owns only its bias; the kernel is read from the tied layer at every call,
    so encoder and decoder train one shared variable. The reference is not tracked as
    a sub-layer (that would list the kernel twice); the owning model rebuilds the tie
    when it is loaded, so save the whole auto-encoder, not the decoder alone.

    Args:
        tied_to: The encoder's ``Dense`` layer.
        activation: Activation of the output.

    Example:
        >>> enc = keras.layers.Dense(4); enc.build((None, 8))
        >>> DenseTranspose(enc)(tf.zeros((1, 4))).shape
        TensorShape([1, 8])
    """

    def __init__(self, tied_to: keras.layers.Dense, activation=None, **kwargs):
        super().__init__(**kwargs)
        object.__setattr__(self, "_tied_to", tied_to)  # untracked on purpose, see above
        self.activation = keras.activations.get(activation)

    def get_config(self) -> dict:
        return {**super().get_config(), "activation": keras.activations.serialize(self.activation)}

    @property
    def tied_to(self) -> keras.layers.Dense:
        return self._tied_to

    def build(self, input_shape):
        self.bias = self.add_weight(name="bias", shape=(self._tied_to.kernel.shape[0],), initializer="zeros")
        self.built = True

    def call(self, inputs):
        kernel = tf.cast(self._tied_to.kernel, inputs.dtype)
        return self.activation(tf.matmul(inputs, kernel, transpose_b=True) + tf.cast(self.bias, inputs.dtype))

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self._tied_to.kernel.shape[0])
