"""One training step of a model on 1 device vs MirroredStrategy over 2 logical CPUs.

Usage: python mirrored_step.py FAMILY  -> prints JSON {"max_abs_diff": ..., "changed": ...}
Run in its own process: logical devices must be configured before TensorFlow starts.
"""

import json
import sys

import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402
import numpy as np  # noqa: E402

from tests.scripts.families import FAMILIES  # noqa: E402

family = sys.argv[1]
build, data, compile_kwargs = FAMILIES[family]
x = data()
batch = len(x)


def one_step(strategy):
    keras.utils.set_random_seed(0)
    with strategy.scope():
        model = build()
        model.compile(**compile_kwargs())
    initial = [w.numpy().copy() for w in model.weights]
    model.fit(x, epochs=1, batch_size=batch, shuffle=False, verbose=0)
    return initial, [w.numpy() for w in model.weights]


init_a, single = one_step(tf.distribute.get_strategy())
init_b, mirrored = one_step(tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))
assert all(np.array_equal(a, b) for a, b in zip(init_a, init_b)), "initial weights differ"
diff = max(float(np.abs(a - b).max()) for a, b in zip(single, mirrored))
changed = max(float(np.abs(a - b).max()) for a, b in zip(single, init_a))
print(json.dumps({"max_abs_diff": diff, "changed": changed}))
