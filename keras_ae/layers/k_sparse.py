"""k-sparse activation (Makhzani & Frey 2014): keep the k largest units per example."""

from __future__ import annotations

import keras
import tensorflow as tf

from keras_ae.validation import check_positive_int


@keras.saving.register_keras_serializable(package="keras_ae")
class KSparse(keras.layers.Layer):
    """Zeros all but the ``k`` largest values of each example (exactly ``k`` survive).

    Selection uses ``top_k`` indices, not a threshold, so ties never let more than
    ``k`` units through. Gradients flow only into the kept units.

    Args:
        k: Number of units kept per example.

    Example:
        >>> KSparse(2)(tf.constant([[0.1, 0.5, 0.3, 0.9]])).numpy()
        array([[0. , 0.5, 0. , 0.9]], dtype=float32)
    """

    def __init__(self, k: int, **kwargs):
        super().__init__(**kwargs)
        self.k = check_positive_int(k, "k")

    def get_config(self) -> dict:
        return {**super().get_config(), "k": self.k}

    def build(self, input_shape):
        if input_shape[-1] is not None and self.k > input_shape[-1]:
            raise ValueError(f"KSparse k={self.k} exceeds the code size {input_shape[-1]}.")
        self.built = True

    def call(self, inputs):
        _, idx = tf.math.top_k(inputs, k=self.k, sorted=False)
        mask = tf.reduce_sum(tf.one_hot(idx, tf.shape(inputs)[-1], dtype=inputs.dtype), axis=-2)
        return inputs * mask

    def compute_output_shape(self, input_shape):
        return input_shape
