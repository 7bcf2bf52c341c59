"""``build_diffusion``, the builder of the ``"diffusion"`` family (``keras-ae train diffusion``)."""

from __future__ import annotations

from typing import Sequence

from keras_ae.models.common import as_image_shape
from keras_ae.models.diffusion.guidance import (DEFAULT_GUIDANCE, DEFAULT_LABEL_DROPOUT, check_guidance)
from keras_ae.models.diffusion.model import DiffusionModel, check_sample_steps
from keras_ae.models.diffusion.schedules import check_timesteps
from keras_ae.models.diffusion.unet import build_unet
from keras_ae.registry import register_builder
from keras_ae.validation import check_bool, check_float, check_model_seed, check_num_classes


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
    sample_steps: int | None = None,
    seed: int | None = None,
    num_classes: int | None = None,
    label_dropout: float = DEFAULT_LABEL_DROPOUT,
    guidance: float | None = None,
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
        sample_steps: Default DDIM steps of ``sample()`` and the exported ``sample``, in
            ``[1, timesteps]`` (``None``: 50, or ``timesteps`` when smaller).
        seed: Seed of the model's random stream.
        num_classes: ``K`` for a class-conditional model with classifier-free guidance (Ho &
            Salimans 2022): the U-Net takes ``[x_t, t, labels]``, a class embedding of ``K + 1``
            rows (row ``K``: the null label) added to the timestep embedding; trained with
            ``fit(x, labels)``. ``None``: unconditional.
        label_dropout: Probability that a training label is replaced by the null label
            (Ho & Salimans' ``p_uncond``; default 0.1), in ``[0, 1]``.
        guidance: Default guidance weight ``w`` of ``sample`` and of the exported ``sample``
            (``None``: ``DEFAULT_GUIDANCE`` = 3.0 for a conditional model; see
            :mod:`~keras_ae.models.diffusion.guidance`). Unconditional models take none.
        name: Model name.

    Returns:
        A :class:`~keras_ae.models.diffusion.model.DiffusionModel` (network ``unet``).

    Example:
        >>> model = build_diffusion((8, 8, 1), channels=(8,), attention=False, timesteps=50)
        >>> model.family, model.network.name, model.ema_network.name
        ('diffusion', 'unet', 'ema_network')
        >>> cond = build_diffusion((8, 8, 1), channels=(8,), attention=False, timesteps=10, num_classes=10)
        >>> cond.sample(2, labels=[3, 7], guidance=2.0, steps=3).shape, cond.guidance
        ((2, 8, 8, 1), 3.0)
    """
    image_shape = as_image_shape(image_shape, what="A diffusion model")
    timesteps = check_timesteps(timesteps)  # before the U-Net is built, as the saved model checks it
    # The model's own checks, run before the U-Net is built.
    sample_steps = check_sample_steps(sample_steps, timesteps)
    ema_decay = check_float(ema_decay, "ema_decay", 0.0, 1.0, include_maximum=False, allow_none=True)
    dropout = check_float(dropout, "dropout", 0.0, 1.0, include_maximum=False)
    attention = check_bool(attention, "attention")
    seed = check_model_seed(seed)
    num_classes = check_num_classes(num_classes)
    label_dropout = check_float(label_dropout, "label_dropout", 0.0, 1.0)
    guidance = check_guidance(guidance, num_classes, DEFAULT_GUIDANCE)
    network = build_unet(image_shape, channels=channels, blocks=blocks, attention=attention, dropout=dropout,
                         num_classes=num_classes)
    return DiffusionModel(network, image_shape, timesteps=timesteps, schedule=schedule, variance=variance,
                          ema_decay=ema_decay, sample_steps=sample_steps, seed=seed, num_classes=num_classes,
                          label_dropout=label_dropout, guidance=guidance, name=name)


build_ddpm = build_diffusion  # the name of the issue; one registered builder, so the export smoke test runs it once
