"""Custom Keras layers of keras_ae (one layer per module)."""

from keras_ae.data.corruption import Corruption
from keras_ae.layers.dense_transpose import DenseTranspose
from keras_ae.layers.k_sparse import KSparse
from keras_ae.layers.maxout import Maxout

__all__ = ["Corruption", "DenseTranspose", "KSparse", "Maxout"]
