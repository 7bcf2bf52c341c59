"""``SinusoidalTimeEmbedding``: the Transformer's position encoding of a diffusion timestep."""

from __future__ import annotations

import math

import keras
import tensorflow as tf

from keras_ae.validation import check_int


@keras.saving.register_keras_serializable(package="keras_ae")
class SinusoidalTimeEmbedding(keras.layers.Layer):
    """Maps timesteps ``t`` ``(batch,)`` to ``[sin(t w_k), cos(t w_k)]`` ``(batch, dim)``.

    The frequencies ``w_k = max_period^(-k / (dim / 2))`` span wavelengths from 2*pi to
    ``max_period`` (Vaswani et al. 2017), as the DDPM U-Net embeds its timestep
    (Ho et al. 2020). Computed in float32, returned in the layer's compute dtype.

    Args:
        dim: Output size, an even int >= 2.
        max_period: Longest wavelength.

    Example:
        >>> emb = SinusoidalTimeEmbedding(8)(keras.ops.convert_to_tensor([0.0, 10.0]))
        >>> emb.shape, [float(v) for v in emb[0, :2]], float(emb[0, 4])  # sin(0) = 0, cos(0) = 1
        (TensorShape([2, 8]), [0.0, 0.0], 1.0)
    """

    def __init__(self, dim: int, max_period: float = 10_000.0, **kwargs):
        super().__init__(**kwargs)
        self.dim = check_int(dim, "dim", minimum=2)
        if self.dim % 2:
            raise ValueError(f"dim must be even, got {dim}.")
        self.max_period = float(max_period)

    def call(self, t):
        half = self.dim // 2
        freqs = tf.exp(-math.log(self.max_period) * tf.range(half, dtype=tf.float32) / half)
        angles = tf.reshape(tf.cast(t, tf.float32), (-1, 1)) * freqs[None, :]
        return tf.cast(tf.concat([tf.sin(angles), tf.cos(angles)], axis=-1), self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.dim)

    def get_config(self) -> dict:
        return {**super().get_config(), "dim": self.dim, "max_period": self.max_period}
