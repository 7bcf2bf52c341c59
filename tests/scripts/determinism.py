"""Trains each family's small model twice with the same seed; reports whether weights are identical.

Usage: python -m tests.scripts.determinism FAMILY [FAMILY ...]
  -> prints one JSON line {family: {"identical", "max_abs_diff", "n_weights"} or {"error"}}
One process serves every family (TensorFlow's start-up is most of the cost).
"""

import json
import sys

import keras
import numpy as np
import tensorflow as tf

from tests.scripts.families import FAMILIES

tf.config.experimental.enable_op_determinism()


def run(family):
    build, data, compile_kwargs = FAMILIES[family]
    keras.utils.set_random_seed(123)
    model = build()
    model.compile(**compile_kwargs())
    model.fit(data(512), epochs=3, batch_size=64, verbose=0)
    return [w.numpy() for w in model.weights]


results = {}
for family in sys.argv[1:]:
    try:
        a, b = run(family), run(family)
        results[family] = {"identical": all(np.array_equal(u, v) for u, v in zip(a, b)),
                           "max_abs_diff": max(float(np.max(np.abs(u - v), initial=0.0)) for u, v in zip(a, b)),
                           "n_weights": len(a)}
    except Exception as error:  # reported per family; the other families still run
        results[family] = {"error": f"{type(error).__name__}: {error}"[-3000:]}
print(json.dumps(results))
