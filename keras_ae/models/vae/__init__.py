"""Variational auto-encoders (Kingma & Welling 2014) on TensorFlow Probability distributions.

* :mod:`~keras_ae.models.vae.model`: :class:`VAE` (distributions, ELBO training step, data
  checks, export signatures, sampling, ELBO / IWAE likelihoods) and the family's constants;
* :mod:`~keras_ae.models.vae.flows`: :class:`PosteriorFlow` (IAF / RealNVP on TFP bijectors);
* :mod:`~keras_ae.models.vae.flow_vae`: :class:`FlowVAE`, a VAE with a flow posterior;
* :mod:`~keras_ae.models.vae.builders`: :func:`build_vae` (``keras-ae train vae``) and its networks.
"""

from keras_ae.models.vae.model import ARCHITECTURES, LIKELIHOODS, RNG_ALG, STANDARD_NORMAL, VAE, tfd
from keras_ae.models.vae.flows import FLOWS, PosteriorFlow
from keras_ae.models.vae.flow_vae import FlowVAE
from keras_ae.models.vae.builders import build_vae

__all__ = ["ARCHITECTURES", "FLOWS", "FlowVAE", "LIKELIHOODS", "PosteriorFlow", "RNG_ALG", "STANDARD_NORMAL", "VAE",
           "build_vae", "tfd"]
