"""``BinaryCode``: code logits to bits (semantic hashing, Salakhutdinov & Hinton 2009)."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from keras_ae.errors import InputValidationError
from keras_ae.validation import check_choice

BINARIZATIONS = ("noise", "straight_through")


@keras.saving.register_keras_serializable(package="keras_ae")
class BinaryCode(keras.layers.Layer):
    """Turns code logits into bits: soft/noisy in training, hard 0/1 at inference.

    Args:
        method: ``"noise"``: ``sigmoid(logits + N(0, noise_std^2))`` in training (the
            semantic-hashing trick: noise makes only saturated units carry information);
            ``"straight_through"``: hard bits forward, sigmoid gradient backward.
        noise_std: Standard deviation of the training noise (``"noise"`` only).
        seed: Seed of the noise.

    Example:
        >>> BinaryCode()(np.array([[-2.0, 0.5]], "float32")).numpy().tolist()
        [[0.0, 1.0]]
    """

    def __init__(self, method: str = "noise", noise_std: float = 4.0, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.method = check_choice(method, "binarization", BINARIZATIONS)
        if not np.isfinite(noise_std) or noise_std < 0:
            raise InputValidationError(f"noise_std must be >= 0, got {noise_std}.")
        self.noise_std = float(noise_std)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def get_config(self) -> dict:
        return {**super().get_config(), "method": self.method, "noise_std": self.noise_std, "seed": self.seed}

    def call(self, logits, training=False):
        hard = ops.cast(logits > 0, logits.dtype)
        if not training:
            return hard
        if self.method == "noise":
            noise = keras.random.normal(ops.shape(logits), stddev=self.noise_std, seed=self.seed_generator)
            return ops.sigmoid(logits + ops.cast(noise, logits.dtype))
        soft = ops.sigmoid(logits)
        return soft + ops.stop_gradient(hard - soft)

    def compute_output_shape(self, input_shape):
        return input_shape
