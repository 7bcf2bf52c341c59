"""One worker of a 2-worker MultiWorkerMirroredStrategy run on localhost.

Usage: TF_CONFIG=... python -m tests.scripts.multiworker OUT.npz
Trains a small auto-encoder for a few steps with ``model.fit`` under the strategy's scope
(the same ``fit`` as on one host: input checks and NaN guard included), then checks that a
badly shaped dataset is refused and a NaN batch stops training with the weights restored,
and saves the final weights.
"""

import sys

import tensorflow as tf

strategy = tf.distribute.MultiWorkerMirroredStrategy()

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_ae.data import load_dataset  # noqa: E402
from keras_ae.errors import InputValidationError, TrainingDivergedError  # noqa: E402
from keras_ae.models import build_dense_ae  # noqa: E402

keras.utils.set_random_seed(0)
(x, _), _ = load_dataset("digits")
with strategy.scope():
    model = build_dense_ae((8, 8, 1), hidden=(32,), code_dim=8)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
initial = [w.numpy().copy() for w in model.weights]
dataset = tf.data.Dataset.from_tensor_slices(x[:512]).batch(64)
history = model.fit(dataset, epochs=2, verbose=0).history
weights = [w.numpy() for w in model.weights]

try:  # the input checks run before anything is traced
    model.fit(tf.data.Dataset.from_tensor_slices(np.zeros((64, 8, 8, 2), "float32")).batch(32), verbose=0)
    refused = False
except InputValidationError:
    refused = True
broken = x[:128].copy()
broken[70] = np.nan  # the second batch
try:  # the NaN guard stops training and restores the last finite weights
    model.fit(tf.data.Dataset.from_tensor_slices(broken).batch(64), verbose=0)
    diverged = False
except TrainingDivergedError:
    diverged = True
restored = all(np.array_equal(w.numpy(), v) for w, v in zip(model.weights, weights))

np.savez(sys.argv[1], loss=np.array(history["loss"]),
         moved=np.array(max(float(np.abs(a - b).max()) for a, b in zip(weights, initial))),
         refused=np.array(refused), diverged=np.array(diverged), restored=np.array(restored),
         **{f"w{i}": w for i, w in enumerate(weights)})
