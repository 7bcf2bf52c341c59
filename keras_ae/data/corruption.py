"""Corruption processes for denoising auto-encoders (Vincent et al. 2008, 2010).

One implementation, :func:`corrupt_tensor`, serves both the training-time Keras layer
(:class:`Corruption`, active only when ``training=True``) and the NumPy helper
:func:`corrupt` used to make fixed noisy test sets.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from keras_ae.random import batch_noise, next_stateless_seed
from keras_ae.validation import check_array, check_choice

NOISE_KINDS = ("gaussian", "masking", "salt_pepper")


def _check_level(noise: str, level: float) -> float:
    from keras_ae.errors import InputValidationError

    if isinstance(level, bool) or not isinstance(level, (int, float, np.integer, np.floating)):
        raise InputValidationError(f"Noise level must be a number, got {level!r}.")
    level = float(level)
    if not np.isfinite(level) or level < 0:
        raise InputValidationError(f"Noise level must be a finite number >= 0, got {level}.")
    if noise in ("masking", "salt_pepper") and level > 1:
        raise InputValidationError(
            f"The {noise} noise level is a fraction of pixels and must be in [0, 1], got {level}."
        )
    return level


def _check_clip(clip) -> tuple[float, float] | None:
    from keras_ae.errors import InputValidationError

    if clip is None:
        return None
    try:
        lo, hi = (float(v) for v in clip)
    except (TypeError, ValueError):
        lo = hi = float("nan")
    if isinstance(clip, str) or not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise InputValidationError(f"clip must be None or a (low, high) pair of numbers with low < high, got {clip!r}.")
    return lo, hi


def corrupt_tensor(x: tf.Tensor, noise: str, level: float, seed: int | keras.random.SeedGenerator | None = None,
                   clip: tuple[float, float] | None = (0.0, 1.0)) -> tf.Tensor:
    """Corrupts a tensor (backend-native ops, usable inside compiled graphs).

    Args:
        x: Float tensor of any shape (a batch of images, values usually in [0, 1]).
        noise: ``"gaussian"`` (additive, std ``level``), ``"masking"`` (each value set
            to 0 with probability ``level``) or ``"salt_pepper"`` (each value set to the
            range's low or high end, half each, with probability ``level``).
        level: Noise standard deviation or fraction of corrupted values.
        seed: An int, a ``keras.random.SeedGenerator`` or ``None`` (unseeded). With a
            ``SeedGenerator`` (the training layer) the noise comes from
            :func:`keras_ae.random.batch_noise`: example ``i`` of the global batch gets
            the same noise however ``tf.distribute`` splits the batch over replicas.
        clip: Range to clip Gaussian-noised values to and the salt/pepper values; ``None``
            leaves Gaussian noise unclipped and uses 0/1 for salt and pepper.

    Returns:
        The corrupted tensor, same shape and dtype as ``x`` (``x`` itself when ``level`` is 0).

    Example:
        >>> y = corrupt_tensor(ops.ones((2, 3)), "masking", 0.5, seed=1)
        >>> y.shape, set(np.unique(y)) <= {0.0, 1.0}  # masked entries are zeroed
        (TensorShape([2, 3]), True)
    """
    if level == 0:
        return x
    if noise == "gaussian":
        y = x + ops.cast(_draw("normal", x, seed) * level, x.dtype)
        return ops.clip(y, clip[0], clip[1]) if clip is not None else y
    u = _draw("uniform", x, seed)
    if noise == "masking":
        return ops.where(u < level, ops.zeros_like(x), x)
    lo, hi = clip if clip is not None else (0.0, 1.0)
    salt_or_pepper = ops.where(u < level / 2, ops.full_like(x, lo), ops.full_like(x, hi))
    return ops.where(u < level, salt_or_pepper, x)


def _draw(kind: str, x, seed):
    """Standard normal or uniform [0, 1) noise shaped like ``x``."""
    if isinstance(seed, keras.random.SeedGenerator):
        # Per-example rows of the global batch: a mirrored step corrupts like one device.
        return batch_noise(kind, tf.shape(x), next_stateless_seed(seed))
    draw = keras.random.normal if kind == "normal" else keras.random.uniform
    return draw(ops.shape(x), seed=seed)


def corrupt(
    x: np.ndarray,
    noise: str = "gaussian",
    level: float = 0.5,
    seed: int | None = 0,
    clip: tuple[float, float] | None = (0.0, 1.0),
) -> np.ndarray:
    """Corrupts a NumPy batch, e.g. to make a fixed noisy test set.

    Args:
        x: Float array (images in [0, 1] when ``clip`` is the default).
        noise: One of ``"gaussian"``, ``"masking"``, ``"salt_pepper"``.
        level: Standard deviation (Gaussian) or fraction of pixels (masking, salt-and-pepper).
        seed: Random seed (the same seed gives the same noise).
        clip: Value range to clip to, or ``None``.

    Returns:
        The corrupted float32 array.

    Example:
        >>> noisy = corrupt(np.full((4, 8, 8, 1), 0.5, "float32"), "salt_pepper", 0.2, seed=0)
        >>> sorted(np.unique(noisy).tolist())  # a fraction of the pixels set to 0 or 1
        [0.0, 0.5, 1.0]
    """
    check_choice(noise, "noise", NOISE_KINDS)
    level = _check_level(noise, level)
    clip = _check_clip(clip)
    x = check_array(x, "x", allow_empty=True)
    corrupted = corrupt_tensor(ops.convert_to_tensor(x), noise, level, seed=seed, clip=clip)
    return ops.convert_to_numpy(corrupted).astype(np.float32)


@keras.saving.register_keras_serializable(package="keras_ae")
class Corruption(keras.layers.Layer):
    """Corrupts its input during training only; the identity at inference.

    Args:
        noise: ``"gaussian"``, ``"masking"`` or ``"salt_pepper"``.
        level: Standard deviation or fraction of corrupted values.
        clip: Value range for clipping and salt/pepper values, or ``None``.
        seed: Optional int seed.

    Example:
        >>> layer = Corruption("gaussian", 0.5)
        >>> layer(np.zeros((1, 4), "float32"), training=False).shape
        TensorShape([1, 4])
    """

    def __init__(self, noise: str = "gaussian", level: float = 0.5, clip: tuple[float, float] | None = (0.0, 1.0),
                 seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.noise = check_choice(noise, "noise", NOISE_KINDS)
        self.level = _check_level(noise, level)
        self.clip = _check_clip(clip)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True

    def get_config(self) -> dict:
        return {**super().get_config(), "noise": self.noise, "level": self.level, "clip": self.clip, "seed": self.seed}

    def call(self, inputs, training=False):
        if not training:
            return inputs
        return corrupt_tensor(inputs, self.noise, self.level, seed=self.seed_generator, clip=self.clip)

    def compute_output_shape(self, input_shape):
        return input_shape
