"""Generative adversarial networks: the ``GAN`` model, its networks, losses and builders.

* :mod:`~keras_ae.models.gan.model`: :class:`GAN` (networks, loss terms, ``train_step``, EMA generator);
* :mod:`~keras_ae.models.gan.compile`: its ``compile`` (optimizers, loss, XLA policy) and compile config;
* :mod:`~keras_ae.models.gan.inference`: its data checks, ``generate``/``sample`` and export signatures;
* :mod:`~keras_ae.models.gan.networks`: MLP and DCGAN generators and discriminators;
* :mod:`~keras_ae.models.gan.builders`: :func:`build_gan`, :func:`build_dcgan`, :func:`build_conditional_gan`;
* :mod:`~keras_ae.models.gan.losses`: the loss formulas (minimax ... WGAN-GP);
* :mod:`~keras_ae.models.gan.monitor`: :class:`GANMonitor`, sample grids of fixed latent vectors while training.
"""

from keras_ae.models.gan.model import GAN
from keras_ae.models.gan.networks import (
    DATA_RANGES,
    get_dcgan_discriminator,
    get_dcgan_generator,
    get_mlp_discriminator,
    get_mlp_generator,
)
from keras_ae.models.gan.builders import build_conditional_gan, build_dcgan, build_gan
from keras_ae.models.gan.monitor import GANMonitor
from keras_ae.layers.maxout import Maxout

__all__ = [
    "DATA_RANGES", "GAN", "GANMonitor", "Maxout", "build_conditional_gan", "build_dcgan", "build_gan",
    "get_dcgan_discriminator", "get_dcgan_generator", "get_mlp_discriminator", "get_mlp_generator",
]
