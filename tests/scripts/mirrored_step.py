"""Training on 1 device vs MirroredStrategy over 2 logical CPUs, for several families.

Usage: python -m tests.scripts.mirrored_step FAMILY [FAMILY ...]
  -> prints one JSON line {family: {"max_abs_diff", "changed", "uneven_diff", ...} or {"error"}}
Run in its own process: logical devices must be configured before TensorFlow starts.
One process serves every family (TensorFlow's start-up is most of the cost).

- even: one step on a global batch of 64 (32 per replica);
- uneven (UNEVEN families only): one epoch of global batches of 20, 5 and 1 examples,
  which the strategy splits 10 + 10, 3 + 2 and 1 + 0 (an empty replica). (The first
  batch must split evenly: Keras' first-batch build reduces it across replicas.)
"""

import json
import sys

import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402
import numpy as np  # noqa: E402

from tests.scripts.families import FAMILIES, UNEVEN  # noqa: E402


def batches(family, sizes):
    x = FAMILIES[family][1](sum(sizes))
    ends = np.cumsum(sizes)
    parts = [tf.data.Dataset.from_tensors(x[end - size:end]) for size, end in zip(sizes, ends)]
    dataset = parts[0]
    for part in parts[1:]:
        dataset = dataset.concatenate(part)
    return dataset


def train(family, strategy, sizes):
    build, _, compile_kwargs = FAMILIES[family]
    keras.utils.set_random_seed(0)
    with strategy.scope():
        model = build()
        model.compile(**compile_kwargs())
    initial = [w.numpy().copy() for w in model.weights]
    history = model.fit(batches(family, sizes), epochs=1, shuffle=False, verbose=0)
    assert all(np.all(np.isfinite(v)) for v in history.history.values()), history.history
    return initial, [w.numpy() for w in model.weights]


# One strategy for every run, as in a real program: collective ops of two strategies in
# one process can be handed the same instance keys.
MIRRORED = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])


def compare(family, sizes):
    init_a, single = train(family, tf.distribute.get_strategy(), sizes)
    init_b, mirrored = train(family, MIRRORED, sizes)
    assert all(np.array_equal(a, b) for a, b in zip(init_a, init_b)), "initial weights differ"
    diff = max(float(np.abs(a - b).max()) for a, b in zip(single, mirrored))
    changed = max(float(np.abs(a - b).max()) for a, b in zip(single, init_a))
    return diff, changed


results = {}
for family in sys.argv[1:]:
    try:
        diff, changed = compare(family, [64])
        results[family] = {"max_abs_diff": diff, "changed": changed}
        if family in UNEVEN:
            results[family]["uneven_diff"], results[family]["uneven_changed"] = compare(family, [20, 5, 1])
    except Exception as error:  # reported per family; the other families still run
        results[family] = {"error": f"{type(error).__name__}: {error}"[-3000:]}
if "gan" in sys.argv[1:]:
    # GAN.compile() defaults to XLA, which cannot compile a step spanning devices: under a
    # strategy it must fall back to TensorFlow's kernels and train.
    with MIRRORED.scope():
        gan = FAMILIES["gan"][0]()
        gan.compile()
    logs = gan.fit(FAMILIES["gan"][1](64), epochs=1, batch_size=64, verbose=0).history
    results["gan_default_compile"] = {"jit_compile": bool(gan.jit_compile),
                                      "finite": bool(all(np.isfinite(v).all() for v in logs.values()))}
print(json.dumps(results))
