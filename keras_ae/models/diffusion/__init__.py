"""Denoising diffusion models (DDPM, Ho et al. 2020; DDIM sampling, Song et al. 2021).

* :mod:`~keras_ae.models.diffusion.schedules`: noise schedules, the forward process, the
  DDIM step and the variational bound, as pure functions;
* :mod:`~keras_ae.models.diffusion.unet`: the U-Net noise predictor;
* :mod:`~keras_ae.models.diffusion.model`: :class:`DiffusionModel` (the network, the loss,
  the training step with EMA);
* :mod:`~keras_ae.models.diffusion.sampling`: the compiled sampler and its Python-loop twin;
* :mod:`~keras_ae.models.diffusion.guidance`: classifier-free guidance (Ho & Salimans 2022) of
  class-conditional models (``num_classes=K``): the guided prediction and label dropout;
* :mod:`~keras_ae.models.diffusion.likelihood`: the bound in nats and bits/dim;
* :mod:`~keras_ae.models.diffusion.serving`: the export signatures;
* :mod:`~keras_ae.models.diffusion.builders`: :func:`build_diffusion` (``keras-ae train diffusion``).
"""

from keras_ae.models.diffusion.model import DiffusionModel
from keras_ae.models.diffusion.sampling import METHODS, counter_normal
from keras_ae.models.diffusion.builders import build_ddpm, build_diffusion
from keras_ae.models.diffusion.schedules import NoiseSchedule
from keras_ae.models.diffusion.unet import build_unet

__all__ = ["DiffusionModel", "METHODS", "NoiseSchedule", "build_ddpm", "build_diffusion", "build_unet",
           "counter_normal"]
