"""One worker of a 2-worker MultiWorkerMirroredStrategy run on localhost.

Usage: TF_CONFIG=... python -m tests.scripts.multiworker OUT.npz
Trains a small auto-encoder for a few steps with keras_ae.training.distribute.fit_distributed
and saves its final weights.
"""

import sys

import tensorflow as tf

strategy = tf.distribute.MultiWorkerMirroredStrategy()

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_ae.data import load_dataset  # noqa: E402
from keras_ae.training.distribute import fit_distributed  # noqa: E402
from keras_ae.models import build_dense_ae  # noqa: E402

keras.utils.set_random_seed(0)
(x, _), _ = load_dataset("digits")
with strategy.scope():
    model = build_dense_ae((8, 8, 1), hidden=(32,), code_dim=8)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
initial = [w.numpy().copy() for w in model.weights]
dataset = tf.data.Dataset.from_tensor_slices(x[:512]).batch(64)
history = fit_distributed(model, dataset, epochs=2, strategy=strategy, verbose=0)
weights = [w.numpy() for w in model.weights]
np.savez(sys.argv[1], loss=np.array(history["loss"]),
         moved=np.array(max(float(np.abs(a - b).max()) for a, b in zip(weights, initial))),
         **{f"w{i}": w for i, w in enumerate(weights)})
