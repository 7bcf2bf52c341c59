"""Latent samplers: any auto-encoder made generative by a density fitted on its codes (Ghosh et al. 2020).

* :mod:`~keras_ae.models.latent_sampler.fitting`: :func:`fit_latent_sampler` (a Gaussian mixture,
  a masked autoregressive flow, or a VAE's aggregate posterior) and :func:`fit_code_density`;
* :mod:`~keras_ae.models.latent_sampler.model`: :class:`LatentSampler`, the auto-encoder and the
  density as one saveable model (``sample(n, seed=)``, ``sample_codes``, ``log_prob``);
* :mod:`~keras_ae.models.latent_sampler.densities`: the densities, as Keras layers;
* :mod:`~keras_ae.models.latent_sampler.serving`: the export signatures (``sample``, ``decode``, ``log_prob``).
"""

from keras_ae.models.latent_sampler.densities import GaussianMixtureDensity, MaskedAutoregressiveDensity
from keras_ae.models.latent_sampler.model import LatentSampler
from keras_ae.models.latent_sampler.fitting import fit_code_density, fit_latent_sampler

__all__ = ["GaussianMixtureDensity", "LatentSampler", "MaskedAutoregressiveDensity", "fit_code_density",
           "fit_latent_sampler"]
