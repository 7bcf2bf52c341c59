"""Benchmark: DCGAN training steps per second with and without XLA (jit_compile), side by side.

Both models are built identically (same seed) and trained on the same mnist10k batches in
one process. Each variant gets warm-up steps (tracing and XLA compilation, timed
separately), then ``--repeats`` timed runs of ``--steps`` steps, alternating the two
variants run by run; the table reports the median steps/s and the ratio XLA / no XLA.

Usage:
    python recipes/bench_gan.py                      # DCGAN on mnist10k, batch 64
    python recipes/bench_gan.py --loss wasserstein_gp
"""

from __future__ import annotations

import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras_ae  # noqa: F401  (first: it hides TensorFlow's C++ start-up lines, keras_ae.quiet)

import keras
import numpy as np

from keras_ae.experiment import load_recipe_data, recipe_parser, write_results
from keras_ae.models.gan import build_dcgan


def build_variant(jit: bool, x: np.ndarray, args):
    """A compiled DCGAN, warmed up (traced and, with XLA, compiled); returns it and the warm-up time.

    Example:
        >>> gan, warmup_s = build_variant(True, x_train, args)  # doctest: +SKIP
    """
    keras.utils.set_random_seed(args.seed)
    wgan = args.loss == "wasserstein_gp"
    gan = build_dcgan(x.shape[1:], latent_dim=args.latent_dim, filters=tuple(args.filters),
                      discriminator_norm="layer" if wgan else "batch", seed=args.seed)
    gan.compile(loss=args.loss, jit_compile=jit)
    start = time.perf_counter()
    for i in range(args.warmup):
        gan.train_on_batch(x[i * args.batch_size:(i + 1) * args.batch_size])
    return gan, time.perf_counter() - start


def steps_per_second(gan, x: np.ndarray, args, offset: int) -> float:
    """Training steps per second over ``args.steps`` consecutive batches."""
    n_batches = len(x) // args.batch_size
    start = time.perf_counter()
    for i in range(args.steps):
        b = (offset + i) % n_batches
        gan.train_on_batch(x[b * args.batch_size:(b + 1) * args.batch_size])
    return args.steps / (time.perf_counter() - start)


def main(argv=None) -> dict:
    parser = recipe_parser("bench_gan", __doc__.splitlines()[0], epochs=0)
    parser.add_argument("--loss", default="non_saturating", help="GAN loss")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--latent-dim", type=int, default=100)
    parser.add_argument("--filters", type=int, nargs="+", default=[64, 32], help="DCGAN generator filters")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps (tracing, XLA compilation)")
    parser.add_argument("--steps", type=int, default=20, help="steps per timed run")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs (the median is reported)")
    parser.add_argument("--verbose", type=int, default=1)
    args = parser.parse_args(argv)
    (x, _), _ = load_recipe_data(args)
    x = x[: args.batch_size * (args.warmup + args.steps * args.repeats)]
    variants = {}
    for jit in (True, False):
        print(f"warming up jit_compile={jit} ...")
        variants[jit] = build_variant(jit, x, args)
    # Alternate the variants run by run, so background load hits both alike.
    rates: dict[bool, list[float]] = {True: [], False: []}
    progbar = keras.utils.Progbar(args.repeats, verbose=args.verbose, unit_name="repeat")
    for r in range(args.repeats):
        for jit in (True, False):
            rates[jit].append(steps_per_second(variants[jit][0], x, args, args.warmup + r * args.steps))
        progbar.update(r + 1)
    median = {jit: float(np.median(v)) for jit, v in rates.items()}
    ratio = median[True] / median[False]
    rows = [{"variant": f"jit_compile={jit}", "steps/s (median)": median[jit],
             "images/s": median[jit] * args.batch_size, "warm-up s": variants[jit][1],
             "xla / no-xla": ratio if jit else 1.0} for jit in (True, False)]
    summary = {"loss": args.loss, "batch_size": args.batch_size, "filters": args.filters,
               "steps_per_s_jit": median[True], "steps_per_s_nojit": median[False], "xla_speedup": ratio,
               "runs_jit": rates[True], "runs_nojit": rates[False],
               "warmup_s_jit": variants[True][1], "warmup_s_nojit": variants[False][1]}
    write_results(args.out, summary, rows, args)
    return summary


if __name__ == "__main__":
    main()
