"""Class conditioning of the autoregressive image models: :func:`class_one_hot`, :class:`ClassBias`, :class:`ClassMap`.

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

:class:`ClassMap` is the location-dependent form of the same paper (``V^T s`` with a spatial
``s = m(y)``): a learned map per class, ``(height, width, channels)``, next to the one-hot code at
every position, so a gate's class term can differ from pixel to pixel (the stroke of a 7 where
a 0 is round). It depends on the label only, never on pixel values, so it is causal too.
"""

from __future__ import annotations

import keras
from keras import ops

from keras_ae.validation import check_int


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

    Args:
        **kwargs: ``keras.layers.Layer`` arguments (``name``, ``dtype``, ...).

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


@keras.saving.register_keras_serializable(package="keras_ae")
class ClassMap(keras.layers.Layer):
    """A class code ``(b, K)`` -> ``(b, height, width, K + channels)``: the code at every position and a learned map.

    The first ``K`` channels repeat the code at every position (what :class:`ClassBias` adds);
    the last ``channels`` are the class's own learned ``(height, width, channels)`` map
    (``code @ maps``, zeros at the start of training). Layers that project the result with a
    1x1 map get a class term that varies with the position.

    Args:
        height: Rows of the images.
        width: Columns of the images.
        channels: Channels of each class's learned map.

    Example:
        >>> layer = ClassMap(4, 5, channels=3)
        >>> layer(np.eye(10, dtype="float32")[[2, 7]]).shape  # two one-hot codes of 10 classes
        TensorShape([2, 4, 5, 13])
    """

    def __init__(self, height: int, width: int, channels: int = 8, **kwargs):
        super().__init__(**kwargs)
        self.height = check_int(height, "height", minimum=1)
        self.width = check_int(width, "width", minimum=1)
        self.channels = check_int(channels, "channels", minimum=1)

    def get_config(self) -> dict:
        return {**super().get_config(), "height": self.height, "width": self.width, "channels": self.channels}

    def build(self, input_shape):
        self.maps = self.add_weight(name="maps", shape=(int(input_shape[-1]), self.height * self.width * self.channels),
                                    initializer="zeros")
        self.built = True

    def call(self, code):
        code = ops.cast(code, self.compute_dtype)
        b = ops.shape(code)[0]
        repeated = ops.broadcast_to(code[:, None, None, :], (b, self.height, self.width, code.shape[-1]))
        learned = ops.reshape(ops.matmul(code, ops.cast(self.maps, code.dtype)),
                              (b, self.height, self.width, self.channels))
        return ops.concatenate([repeated, learned], axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.height, self.width, int(input_shape[-1]) + self.channels)
