"""Class conditioning of the autoregressive image models: :func:`class_one_hot`, :class:`ClassBias`.

A class-conditional PixelCNN / PixelRNN codes each image's class id once as a one-hot vector
``h`` (:func:`class_one_hot`) and every conditioned layer adds its own learned linear map
``V^T h`` to its pre-activations (van den Oord et al. 2016): a per-class bias of each gate,
learned directly. (A learned embedding of the label followed by per-layer projections, the
product of two small initial matrices, left a conditional PixelCNN on mnist10k recognisable as
its class in 20% of its samples after 9 epochs.) The gated layers do so inside their gates
(:class:`~keras_ae.layers.gated_pixelcnn.GatedPixelCNNBlock`,
:class:`~keras_ae.layers.pixel_rnn.RowLSTM`, :class:`~keras_ae.layers.pixel_rnn.DiagonalBiLSTM`);
the plain PixelCNN's masked convolutions take :class:`ClassBias`. The term is the same at
every pixel of an image, so it never breaks causality.
"""

from __future__ import annotations

import keras
from keras import ops


def class_one_hot(num_classes: int) -> keras.layers.Layer:
    """The layer that codes int class ids ``(b,)`` as one-hot float vectors ``(b, num_classes)``.

    Args:
        num_classes: The number of classes ``K``.

    Returns:
        A ``keras.layers.CategoryEncoding`` named ``class_code``.

    Example:
        >>> class_one_hot(3)(np.array([2, 0])).numpy().tolist()
        [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]
    """
    return keras.layers.CategoryEncoding(num_tokens=int(num_classes), output_mode="one_hot", name="class_code")


@keras.saving.register_keras_serializable(package="keras_ae")
class ClassBias(keras.layers.Layer):
    """``features + V^T h``: a per-image, per-channel bias from a class code ``h`` (one-hot).

    Called on ``[features (b, h, w, c), code (b, dim)]``; returns features of the same shape.
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
