"""Class conditioning of the autoregressive image models: :class:`ClassBias`.

A class-conditional PixelCNN / PixelRNN embeds each image's class id once
(``keras.layers.Embedding``) and every conditioned layer adds its own learned linear map of
that embedding to its pre-activations. The gated layers do so inside their gates
(:class:`~keras_ae.layers.gated_pixelcnn.GatedPixelCNNBlock`,
:class:`~keras_ae.layers.pixel_rnn.RowLSTM`, :class:`~keras_ae.layers.pixel_rnn.DiagonalBiLSTM`);
the plain PixelCNN's masked convolutions take :class:`ClassBias`. The term is the same at
every pixel of an image, so it never breaks causality.
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_ae")
class ClassBias(keras.layers.Layer):
    """``features + V^T y``: a per-image, per-channel bias from a class embedding ``y``.

    Called on ``[features (b, h, w, c), embedding (b, dim)]``; returns features of the same shape.
    The projection ``V`` (``dim x c``, no bias: the convolution before it has one) is created
    when the layer is built.

    Example:
        >>> layer = ClassBias()
        >>> layer([np.zeros((2, 4, 4, 3), "float32"), np.ones((2, 5), "float32")]).shape
        TensorShape([2, 4, 4, 3])
    """

    def build(self, input_shape):
        features, embedding = input_shape
        self.projection = keras.layers.Dense(int(features[-1]), use_bias=False, name="projection")
        self.projection.build((None, int(embedding[-1])))
        self.built = True

    def call(self, inputs):
        features, embedding = inputs
        return features + ops.cast(self.projection(embedding), features.dtype)[:, None, None, :]

    def compute_output_shape(self, input_shape):
        return input_shape[0]
