"""Model builders. Every builder returns a ``keras.Model`` with named sub-models."""

from keras_ae.models.base import AutoEncoder, reconstruction_loss
from keras_ae.models.conv import build_conv_ae, get_conv_decoder, get_conv_encoder
from keras_ae.models.dense import build_dense_ae, get_dense_decoder, get_dense_encoder
from keras_ae.models.denoising import build_denoising_ae
from keras_ae.models.pca import build_linear_ae, fit_pca
from keras_ae.models.sparse import build_sparse_ae
from keras_ae.models.tied import TiedAutoEncoder, build_tied_ae, count_kernels, get_tied_decoder

# Builders reachable by name from the command line (``keras-ae train NAME``).
BUILDERS = {
    "dense": build_dense_ae,
    "conv": build_conv_ae,
    "denoising": build_denoising_ae,
    "sparse": build_sparse_ae,
    "tied": build_tied_ae,
}

__all__ = [
    "AutoEncoder", "BUILDERS", "TiedAutoEncoder", "build_conv_ae", "build_dense_ae",
    "build_denoising_ae", "build_linear_ae", "build_sparse_ae", "build_tied_ae",
    "count_kernels", "fit_pca", "get_conv_decoder", "get_conv_encoder", "get_dense_decoder",
    "get_dense_encoder", "get_tied_decoder", "reconstruction_loss",
]
