"""Custom Keras layers of keras_ae (one layer per module), for building networks of your own.

Every layer is registered with Keras, so a model that uses one saves to and loads from ``.keras``.

Example:
    >>> import keras
    >>> from keras_ae.layers import MaskedConv2D
    >>> inputs = keras.Input((28, 28, 1))
    >>> MaskedConv2D(32, 7, mask_type="A")(inputs).shape  # a PixelCNN's first layer: earlier pixels only
    (None, 28, 28, 32)
"""

from keras_ae.data.corruption import Corruption
from keras_ae.layers.binary_code import BinaryCode
from keras_ae.layers.class_conditioning import ClassBias, ClassMap
from keras_ae.layers.coupling import AffineCoupling
from keras_ae.layers.dense_transpose import DenseTranspose
from keras_ae.layers.gated_pixelcnn import GatedPixelCNNBlock
from keras_ae.layers.k_sparse import KSparse
from keras_ae.layers.made import MADE
from keras_ae.layers.masked_conv import MaskedConv2D
from keras_ae.layers.maxout import Maxout
from keras_ae.layers.mixture_prior import GaussianMixturePrior
from keras_ae.layers.one_hot_levels import OneHotLevels
from keras_ae.layers.pixel_rnn import DiagonalBiLSTM, RowLSTM
from keras_ae.layers.time_embedding import SinusoidalTimeEmbedding
from keras_ae.layers.vamp_prior import VampPrior
from keras_ae.layers.vector_quantizer import VectorQuantizer

__all__ = [
    "MADE", "AffineCoupling", "BinaryCode", "ClassBias", "ClassMap", "Corruption", "DenseTranspose",
    "DiagonalBiLSTM", "GatedPixelCNNBlock", "GaussianMixturePrior", "KSparse", "MaskedConv2D", "Maxout",
    "OneHotLevels", "RowLSTM", "SinusoidalTimeEmbedding", "VampPrior", "VectorQuantizer",
]
