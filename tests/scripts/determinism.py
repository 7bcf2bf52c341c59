"""Trains each family's small model with a fixed seed; reports whether two runs give identical weights.

Usage: python -m tests.scripts.determinism [--once] [--reverse] [--save DIR] FAMILY [FAMILY ...]
  -> prints one JSON line {family: {"identical", "max_abs_diff", "n_weights"} or {"error"}}
  --once     train each family once (no in-process comparison: "identical" is null)
  --reverse  train the families in the reverse order (another process state before each)
  --save DIR write the first run's weights to DIR/FAMILY.npz, for a comparison across processes
One process serves every family (TensorFlow's start-up is most of the cost).
"""

import argparse
import json
from pathlib import Path

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


def max_abs_diff(a, b) -> float:
    return max(float(np.max(np.abs(u - v), initial=0.0)) for u, v in zip(a, b))


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("families", nargs="+")
    parser.add_argument("--once", action="store_true")
    parser.add_argument("--reverse", action="store_true")
    parser.add_argument("--save", type=Path)
    args = parser.parse_args(argv)
    results = {}
    for family in (args.families[::-1] if args.reverse else args.families):
        try:
            a = run(family)
            if args.save:
                np.savez(args.save / f"{family}.npz", *a)
            if args.once:
                results[family] = {"identical": None, "n_weights": len(a)}
                continue
            b = run(family)
            results[family] = {"identical": all(np.array_equal(u, v) for u, v in zip(a, b)),
                               "max_abs_diff": max_abs_diff(a, b), "n_weights": len(a)}
        except Exception as error:  # reported per family; the other families still run
            results[family] = {"error": f"{type(error).__name__}: {error}"[-3000:]}
    print(json.dumps(results))


if __name__ == "__main__":
    main()
