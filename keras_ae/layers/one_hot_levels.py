"""``OneHotLevels``: images on a grid of ``levels`` values as one-hot channels (categorical inputs).

A PixelCNN over categorical maps (the code maps of a VQ-VAE, K codes) stores category
``k`` as the value ``k / (K - 1)``. Fed as a grey value, code 17 would look "close" to
code 18; one-hot channels make the categories unordered, as they are.
"""

from __future__ import annotations

import keras
from keras import ops

from keras_ae.validation import check_int


@keras.saving.register_keras_serializable(package="keras_ae")
class OneHotLevels(keras.layers.Layer):
    """Maps values ``k / (levels - 1)`` to one-hot vectors of ``levels`` channels per colour.

    Channel ``level * c + colour`` is 1 where colour ``colour`` holds ``level``, so channel
    ``k`` still belongs to colour ``k % c`` (the interleaving masked convolutions expect).

    Args:
        levels: Number of categories (>= 2).

    Example:
        >>> x = np.array([0.0, 0.5, 1.0], "float32").reshape(1, 1, 3, 1)  # levels 0, 1, 2
        >>> OneHotLevels(3)(x)[0, 0].numpy().tolist()
        [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    """

    def __init__(self, levels: int, **kwargs):
        super().__init__(**kwargs)
        self.levels = check_int(levels, "levels", minimum=2)

    def call(self, inputs):
        steps = self.levels - 1
        level = ops.cast(ops.clip(ops.round(ops.cast(inputs, "float32") * steps), 0, steps), "int32")
        hot = ops.one_hot(level, self.levels, dtype=self.compute_dtype)  # (b, h, w, c, levels)
        hot = ops.transpose(hot, (0, 1, 2, 4, 3))  # (b, h, w, levels, c): channel = level * c + colour
        shape = ops.shape(inputs)
        return ops.reshape(hot, (shape[0], shape[1], shape[2], self.levels * inputs.shape[-1]))

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.levels * input_shape[-1])

    def get_config(self) -> dict:
        return {**super().get_config(), "levels": self.levels}
