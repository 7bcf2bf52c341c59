"""Variational auto-encoders (Kingma & Welling 2014) on TensorFlow Probability distributions.

* :mod:`~keras_ae.models.vae.model`: :class:`VAE` (networks, distributions, the ELBO / IWAE loss
  hook) and the family's constants; the mixins it inherits: data checks, codes and reconstructions
  (:mod:`~keras_ae.models.vae.inference`), posterior draws, ``sample`` and ``interpolate``
  (:mod:`~keras_ae.models.vae.sampling`), ELBO / IWAE likelihoods (:mod:`~keras_ae.models.vae.likelihood`),
  export signatures (:mod:`~keras_ae.models.vae.serving`);
* :mod:`~keras_ae.models.vae.flows`: :class:`PosteriorFlow` (IAF / RealNVP on TFP bijectors);
* :mod:`~keras_ae.models.vae.flow_vae`: :class:`FlowVAE`, a VAE with a flow posterior;
* :mod:`~keras_ae.models.vae.builders`: :func:`build_vae` (``keras-ae train vae``) and its networks;
* :mod:`~keras_ae.models.vae.conditional_networks`: the ``[x, labels]`` encoders and ``[z, labels]``
  decoders of a conditional VAE (``build_vae(..., num_classes=K)``, Sohn et al. 2015);
* :mod:`~keras_ae.models.vae.tc`: the KL decomposition (MI, total correlation, dimension-wise KL) by
  minibatch-weighted sampling; :mod:`~keras_ae.models.vae.beta_tcvae`: :class:`BetaTCVAE`
  (``keras-ae train beta_tcvae``, Chen et al. 2018);
* :mod:`~keras_ae.models.vae.factor_vae`: :class:`FactorVAE` (``keras-ae train factor_vae``, Kim & Mnih
  2018), a discriminator of codes and its own ``train_step``.

``build_vae(prior="vamp")`` gives a VampPrior (:class:`~keras_ae.layers.vamp_prior.VampPrior`).
"""

from keras_ae.models.vae.model import ARCHITECTURES, LIKELIHOODS, RNG_ALG, STANDARD_NORMAL, VAE, tfd
from keras_ae.models.vae.flows import FLOWS, PosteriorFlow
from keras_ae.models.vae.flow_vae import FlowVAE
from keras_ae.models.vae.builders import build_vae
from keras_ae.models.vae.beta_tcvae import BetaTCVAE, build_beta_tcvae
from keras_ae.models.vae.factor_vae import FactorVAE, build_factor_vae

__all__ = ["ARCHITECTURES", "BetaTCVAE", "FLOWS", "FactorVAE", "FlowVAE", "LIKELIHOODS", "PosteriorFlow", "RNG_ALG",
           "STANDARD_NORMAL", "VAE", "build_beta_tcvae", "build_factor_vae", "build_vae", "tfd"]
