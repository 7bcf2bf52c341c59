"""``build_diffusion``, the builder of the ``"diffusion"`` family (``keras-ae train diffusion``)."""

from __future__ import annotations

from typing import Sequence

from keras_ae.models.common import as_image_shape
from keras_ae.models.diffusion.model import DiffusionModel
from keras_ae.models.diffusion.unet import build_unet
from keras_ae.registry import register_builder


@register_builder("diffusion", family=DiffusionModel)
def build_diffusion(
    image_shape: Sequence[int] = (28, 28, 1),
    channels: Sequence[int] = (32, 64, 128),
    blocks: int = 1,
    attention: bool = True,
    dropout: float = 0.0,
    timesteps: int = 1000,
    schedule: str = "cosine",
    variance: str = "small",
    ema_decay: float | None = 0.999,
    sample_steps: int = 50,
    seed: int | None = None,
    name: str = "diffusion",
) -> DiffusionModel:
    """A DDPM (Ho et al. 2020) with a small U-Net noise predictor, sampled with DDIM by default.

    Args:
        image_shape: ``(height, width, channels)``; height and width divisible by
            ``2 ** (len(channels) - 1)`` (28 -> 14 -> 7 for the default three levels).
        channels: U-Net channels per resolution level (multiples of 8).
        blocks: Residual blocks per level.
        attention: Self-attention at the lowest resolution.
        dropout: Dropout in the residual blocks.
        timesteps: ``T``.
        schedule: ``"cosine"`` or ``"linear"``.
        variance: Reverse-process variance, ``"small"`` or ``"large"``.
        ema_decay: EMA of the weights used for sampling (``None``: off).
        sample_steps: Default DDIM steps of ``sample()`` and the exported ``sample``.
        seed: Seed of the model's random stream.
        name: Model name.

    Returns:
        A :class:`~keras_ae.models.diffusion.model.DiffusionModel` (network ``unet``).

    Example:
        >>> model = build_diffusion((8, 8, 1), channels=(8, 16), attention=False, timesteps=50)
        >>> model.family, model.network.name, model.ema_network.name
        ('diffusion', 'unet', 'ema_network')
    """
    image_shape = as_image_shape(image_shape, what="A diffusion model")
    network = build_unet(image_shape, channels=channels, blocks=blocks, attention=attention, dropout=dropout)
    return DiffusionModel(network, image_shape, timesteps=timesteps, schedule=schedule, variance=variance,
                          ema_decay=ema_decay, sample_steps=min(sample_steps, timesteps), seed=seed, name=name)


build_ddpm = build_diffusion  # the name of the issue; one registered builder, so the export smoke test runs it once
