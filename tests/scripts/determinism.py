"""Trains a family's small model twice with the same seed; prints whether weights are identical.

Usage: python -m tests.scripts.determinism FAMILY
"""

import json
import sys

import keras
import numpy as np
import tensorflow as tf

from tests.scripts.families import FAMILIES

tf.config.experimental.enable_op_determinism()
build, data, compile_kwargs = FAMILIES[sys.argv[1]]
x = data(512)


def run():
    keras.utils.set_random_seed(123)
    model = build()
    model.compile(**compile_kwargs())
    model.fit(x, epochs=3, batch_size=64, verbose=0)
    return [w.numpy() for w in model.weights]


a, b = run(), run()
print(json.dumps({"identical": all(np.array_equal(u, v) for u, v in zip(a, b)),
                  "n_weights": len(a)}))
