"""The NaN guard of the shared fit covers the VAE, VQ-VAE, PixelCNN, diffusion and RealNVP families: a NaN
batch stops training with the last finite weights restored, and the model trains on afterwards (the auto-encoder
and GAN rows: tests/test_reliability.py)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_ae.errors import InputValidationError, TrainingDivergedError
from tests.scripts.families import FAMILIES

FAMILIES_CHECKED_HERE = ["vae", "vae_iaf", "vae_iwae", "vqvae", "pixelcnn", "diffusion", "realnvp"]


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES_CHECKED_HERE)
def test_nan_batch_stops_training_keeps_the_last_finite_weights_and_the_model_trains_on(family):
    build, data, compile_kwargs = FAMILIES[family]
    keras.utils.set_random_seed(0)
    model = build()
    model.compile(**{**compile_kwargs(), "steps_per_execution": 1})  # the guard sees every step
    x = data(96)
    bad = x.copy()
    bad[64:] = np.nan  # the third batch of a tf.data pipeline (which fit cannot check up front)
    model.fit(x[:32], epochs=1, batch_size=32, verbose=0)  # built and trained: weights to keep
    good = [w.numpy().copy() for w in model.weights]
    with pytest.raises((TrainingDivergedError, InputValidationError), match=r"(?i)nan|not finite|epoch 1") as info:
        model.fit(tf.data.Dataset.from_tensor_slices(bad).batch(32), epochs=3, verbose=0)
    restored = [w.numpy() for w in model.weights]
    assert all(np.all(np.isfinite(w)) for w in restored), info.value
    if isinstance(info.value, TrainingDivergedError):  # the guard restores the start of the epoch
        assert all(np.array_equal(a, b) for a, b in zip(good, restored)), info.value
    history = model.fit(x, epochs=1, batch_size=32, verbose=0).history  # still usable
    assert all(np.all(np.isfinite(v)) for v in history.values()), history
