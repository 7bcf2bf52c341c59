"""GAN builders, registered for ``keras-ae train``: :func:`build_gan` (the MLP GAN of
Goodfellow et al. 2014), :func:`build_dcgan` (Radford et al. 2016) and
:func:`build_conditional_gan` (class-conditional G and D)."""

from __future__ import annotations

from typing import Sequence

import keras

from keras_ae.errors import InputValidationError
from keras_ae.models.common import as_units, check_kernel_size
from keras_ae.models.gan.model import GAN
from keras_ae.models.gan.networks import (
    get_dcgan_discriminator,
    get_dcgan_generator,
    get_mlp_discriminator,
    get_mlp_generator,
)
from keras_ae.registry import register_builder
from keras_ae.validation import check_float, check_int


def _dcgan_networks(image_shape: Sequence[int], latent_dim: int, filters: Sequence[int], kernel_size: int,
                    data_range: Sequence[float], discriminator_norm: str | None,
                    num_classes: int | None = None) -> tuple[keras.Model, keras.Model]:
    """The DCGAN generator and its mirrored discriminator: one wiring for build_dcgan and the conditional DCGAN."""
    filters = as_units(filters, "filters")
    check_kernel_size(kernel_size)
    return (get_dcgan_generator(image_shape, latent_dim, filters, kernel_size, data_range, num_classes),
            get_dcgan_discriminator(image_shape, filters[::-1], kernel_size, discriminator_norm, num_classes))


@register_builder("gan")
def build_gan(
    data_shape: int | Sequence[int] = (28, 28, 1),
    latent_dim: int = 100,
    generator_units: Sequence[int] = (1200, 1200),
    discriminator_units: Sequence[int] = (240, 240),
    maxout_pieces: int | None = 5,
    dropout: float = 0.5,
    data_range: Sequence[float] = (0.0, 1.0),
    ema_decay: float | None = 0.999,
    seed: int | None = None,
    name: str = "gan",
) -> GAN:
    """The MLP GAN of Goodfellow et al. (2014): ReLU generator, maxout + dropout discriminator.

    Args:
        data_shape: Shape of one example (``784`` or ``(28, 28, 1)``).
        latent_dim: Size of ``z``.
        generator_units: Generator hidden widths (the paper: 1200, 1200).
        discriminator_units: Discriminator maxout widths (the paper: 240, 240).
        maxout_pieces: Pieces per maxout unit (``None``: LeakyReLU).
        dropout: Discriminator dropout rate.
        data_range: ``(0, 1)`` (sigmoid output) or ``(-1, 1)`` (tanh output).
        ema_decay: Generator weight EMA for sampling (``None`` disables it).
        seed: Seed of the training noise.
        name: Model name.

    Returns:
        An (uncompiled) :class:`GAN`.

    Example:
        >>> gan = build_gan((8, 8, 1), latent_dim=4, generator_units=(16,), discriminator_units=(16,))
        >>> gan.generator.output_shape, gan.discriminator.output_shape
        ((None, 8, 8, 1), (None, 1))
    """
    dropout = check_float(dropout, "dropout", 0.0, 1.0, include_maximum=False)
    generator = get_mlp_generator(data_shape, latent_dim, generator_units, data_range)
    discriminator = get_mlp_discriminator(data_shape, discriminator_units, maxout_pieces, dropout)
    return GAN(generator, discriminator, data_range=data_range, ema_decay=ema_decay, seed=seed, name=name)


@register_builder("dcgan")
def build_dcgan(
    image_shape: Sequence[int] = (28, 28, 1),
    latent_dim: int = 100,
    filters: Sequence[int] = (128, 64),
    kernel_size: int = 4,
    data_range: Sequence[float] = (0.0, 1.0),
    discriminator_norm: str | None = "batch",
    ema_decay: float | None = 0.999,
    seed: int | None = None,
    name: str = "dcgan",
) -> GAN:
    """A DCGAN (Radford et al. 2016) for images of any size.

    Args:
        image_shape: ``(height, width, channels)``.
        latent_dim: Size of ``z``.
        filters: Generator channels from the projected map down; the discriminator
            mirrors them (``filters[::-1]``).
        kernel_size: Kernel size of every (transposed) convolution.
        data_range: ``(0, 1)`` (sigmoid output, keras_ae's image range) or ``(-1, 1)``
            (tanh output, as in the paper; scale data with ``gan.from_unit_range``).
        discriminator_norm: ``"batch"`` (the paper), ``"layer"`` or ``None``; use
            ``"layer"`` with ``loss="wasserstein_gp"``.
        ema_decay, seed, name: As for :func:`build_gan`.

    Returns:
        An (uncompiled) :class:`GAN`.

    Example:
        >>> gan = build_dcgan((8, 8, 1), latent_dim=4, filters=(16, 8))
        >>> gan.generator.output_shape
        (None, 8, 8, 1)
    """
    generator, discriminator = _dcgan_networks(image_shape, latent_dim, filters, kernel_size, data_range,
                                               discriminator_norm)
    return GAN(generator, discriminator, data_range=data_range, ema_decay=ema_decay, seed=seed, name=name)


@register_builder("conditional_gan")
def build_conditional_gan(
    data_shape: int | Sequence[int] = (28, 28, 1),
    num_classes: int = 10,
    latent_dim: int = 100,
    architecture: str = "dcgan",
    filters: Sequence[int] = (128, 64),
    kernel_size: int = 4,
    generator_units: Sequence[int] = (1200, 1200),
    discriminator_units: Sequence[int] = (240, 240),
    data_range: Sequence[float] = (0.0, 1.0),
    discriminator_norm: str | None = "batch",
    ema_decay: float | None = 0.999,
    seed: int | None = None,
    name: str = "conditional_gan",
) -> GAN:
    """A class-conditional GAN (Mirza & Osindero 2014): G(z, y) and D(x, y).

    The generator sees the one-hot label concatenated to ``z``; the discriminator sees
    it concatenated to its input (as constant channels for images). Train with
    ``fit(x, y)``; ``sample(n, labels=...)`` draws the requested classes.

    Args:
        data_shape: Shape of one example.
        num_classes: Number of classes.
        latent_dim: Size of ``z``.
        architecture: ``"dcgan"`` (images) or ``"mlp"``.
        filters: DCGAN channels (see :func:`build_dcgan`).
        kernel_size: DCGAN kernel size.
        generator_units: MLP generator widths.
        discriminator_units: MLP discriminator widths.
        discriminator_norm: DCGAN discriminator normalization (see :func:`build_dcgan`).
        data_range, ema_decay, seed, name: As for :func:`build_gan`.

    Returns:
        An (uncompiled) conditional :class:`GAN`.

    Example:
        >>> cgan = build_conditional_gan((8, 8, 1), num_classes=10, latent_dim=4, filters=(16, 8))
        >>> [tuple(i.shape) for i in cgan.generator.inputs]
        [(None, 4), (None, 1)]
    """
    num_classes = check_int(num_classes, "num_classes", minimum=2)
    if architecture == "dcgan":
        generator, discriminator = _dcgan_networks(data_shape, latent_dim, filters, kernel_size, data_range,
                                                   discriminator_norm, num_classes)
    elif architecture == "mlp":
        generator = get_mlp_generator(data_shape, latent_dim, generator_units, data_range, num_classes)
        discriminator = get_mlp_discriminator(data_shape, discriminator_units, num_classes=num_classes)
    else:
        raise InputValidationError(f"architecture must be 'dcgan' or 'mlp', got {architecture!r}.")
    return GAN(generator, discriminator, num_classes=num_classes, data_range=data_range, ema_decay=ema_decay,
               seed=seed, name=name)
