"""VQ-VAE (van den Oord et al. 2017) with a gated PixelCNN prior over its code maps.

* :mod:`~keras_ae.models.vqvae.model`: :class:`VQVAE` (training step with the EMA codebook,
  encode / decode of code indices), with its mixins :mod:`~keras_ae.models.vqvae.prior`
  (``fit_prior``, ``sample_codes``, ``sample``), :mod:`~keras_ae.models.vqvae.likelihood`
  (``bound_terms``, ``log_likelihood``) and :mod:`~keras_ae.models.vqvae.serving` (export signatures);
* :mod:`~keras_ae.models.vqvae.builders`: :func:`build_vqvae` (``keras-ae train vqvae``), its
  convolutional networks and :func:`get_code_prior`.
"""

from keras_ae.models.vqvae.model import VQVAE
from keras_ae.models.vqvae.builders import build_vqvae, get_code_prior, get_vq_decoder, get_vq_encoder

__all__ = ["VQVAE", "build_vqvae", "get_code_prior", "get_vq_decoder", "get_vq_encoder"]
