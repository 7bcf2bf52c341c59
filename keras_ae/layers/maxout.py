"""``Maxout``: the max of ``pieces`` affine maps per unit (the discriminator layer of the MLP GAN)."""

from __future__ import annotations

import keras

from keras_ae.validation import check_int


@keras.saving.register_keras_serializable(package="keras_ae")
class Maxout(keras.layers.Layer):
    """Maxout units (Goodfellow et al. 2013): the max of ``pieces`` affine maps per unit.

    Args:
        units: Output units.
        pieces: Affine pieces per unit.

    Example:
        >>> Maxout(240, pieces=5)(keras.ops.zeros((2, 784))).shape
        TensorShape([2, 240])
    """

    def __init__(self, units: int, pieces: int = 5, kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.units = check_int(units, "units", minimum=1)
        self.pieces = check_int(pieces, "pieces", minimum=1)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.dense = keras.layers.Dense(self.units * self.pieces, kernel_initializer=self.kernel_initializer)

    def build(self, input_shape):
        self.dense.build(input_shape)
        self.built = True

    def call(self, inputs):
        h = self.dense(inputs)
        h = keras.ops.reshape(h, (-1, self.units, self.pieces))
        return keras.ops.max(h, axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self) -> dict:
        return {**super().get_config(), "units": self.units, "pieces": self.pieces,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer)}
