"""Model families and their builders. Every builder returns a ``keras.Model`` with named sub-models.

Importing this package registers every keras_ae model family (:mod:`keras_ae.registry`):
``.keras`` files load after ``import keras_ae``, export finds each family's signatures
and ``keras-ae train NAME`` finds each builder. Adding a family takes its module(s) plus one
import line here.
"""

from keras_ae.registry import BUILDERS
from keras_ae.models.base import AutoEncoder
from keras_ae.models.reconstruction import reconstruction_loss
from keras_ae.models.dense import build_dense_ae, get_dense_decoder, get_dense_encoder
from keras_ae.models.conv import build_conv_ae, get_conv_decoder, get_conv_encoder
from keras_ae.models.conv1d import build_conv1d_ae, get_conv1d_decoder, get_conv1d_encoder
from keras_ae.models.denoising import build_denoising_ae
from keras_ae.models.sparse import build_sparse_ae
from keras_ae.models.tied import TiedAutoEncoder, build_tied_ae, count_kernels, get_tied_decoder
from keras_ae.models.contractive import ContractiveAutoEncoder, build_contractive_ae
from keras_ae.models.pca import build_linear_ae, fit_pca
from keras_ae.models.vae import VAE, BetaTCVAE, FactorVAE, FlowVAE, build_beta_tcvae, build_factor_vae, build_vae
from keras_ae.models.gan import GAN, build_conditional_gan, build_dcgan, build_gan
from keras_ae.models.pixelcnn import PixelCNN, build_pixelcnn
from keras_ae.models.pixelrnn import PixelRNN, build_pixelrnn
from keras_ae.models.hashing import SemanticHashingAE, build_hashing_ae
from keras_ae.models.diffusion import DiffusionModel, build_ddpm, build_diffusion
from keras_ae.models.vqvae import VQVAE, build_vqvae, get_code_prior
from keras_ae.models.flow import RealNVP, build_realnvp
from keras_ae.models.rae import RegularizedAutoEncoder, build_rae
from keras_ae.models.wae import WassersteinAutoEncoder, build_wae
from keras_ae.models.latent_sampler import LatentSampler, fit_latent_sampler

__all__ = [
    "DiffusionModel", "build_ddpm", "build_diffusion",
    "AutoEncoder", "BUILDERS", "ContractiveAutoEncoder", "GAN", "PixelCNN", "PixelRNN", "SemanticHashingAE",
    "TiedAutoEncoder", "VAE", "build_conditional_gan", "build_contractive_ae", "build_conv_ae", "build_dcgan",
    "build_dense_ae", "build_denoising_ae", "build_gan", "build_hashing_ae", "build_linear_ae", "build_pixelcnn",
    "build_pixelrnn", "build_sparse_ae", "build_tied_ae", "build_vae", "count_kernels", "fit_pca",
    "get_conv_decoder", "get_conv_encoder", "get_dense_decoder", "get_dense_encoder", "get_tied_decoder",
    "reconstruction_loss",
    "FlowVAE", "BetaTCVAE", "FactorVAE", "build_beta_tcvae", "build_factor_vae",
    "RegularizedAutoEncoder", "WassersteinAutoEncoder", "build_rae", "build_wae",
    "VQVAE", "build_vqvae", "get_code_prior",
    "RealNVP", "build_realnvp",
    "LatentSampler", "fit_latent_sampler",
    "build_conv1d_ae", "get_conv1d_decoder", "get_conv1d_encoder",
]
