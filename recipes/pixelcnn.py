"""PixelCNN and PixelRNN on binarized MNIST: exact test NLL, samples, completions, sampler speed.

Protocol (shared with the VAE recipe): training images are binarized afresh every batch
(dynamic binarization), the test images once with seed 0. A small held-out part of the
training images (binarized once with seed 1) picks the best epoch; the test set is only
used for the final numbers.

The benchmark samples the same digits four ways in one run, after a warm-up: the
compiled pixel loop with and without XLA, and the naive Python loop over pixels calling
the full model (eagerly, and through ``tf.function``). All four draw the same random
numbers, so they must return identical images; the table reports their median times.

Training can run in mixed bfloat16 (``--precision mixed_bfloat16``: about 3x faster on CPUs
with AVX512-BF16); the trained weights are then copied into a float32 model, which is the
one evaluated, sampled, benchmarked and saved.

Usage:
    python recipes/pixelcnn.py --precision mixed_bfloat16   # docs/results.md numbers (mnist10k, ~55 min, 2 busy cores)
    python recipes/pixelcnn.py --dataset digits --epochs 2 --rnn-epochs 1   # a quick smoke run
"""

from __future__ import annotations

import time
from pathlib import Path

import keras_ae  # noqa: F401  (first: it hides TensorFlow's C++ start-up lines, keras_ae.quiet)

import keras
import numpy as np

from keras_ae.data import binarize, is_prebinarized
from keras_ae.evaluation.likelihood import bits_per_dim
from keras_ae.experiment import (format_table, load_recipe_data, recipe_parser, recipe_tensorboard_callbacks,
                                 write_results)
from keras_ae.models.autoregressive import AutoregressiveModel
from keras_ae.models.pixelcnn import build_pixelcnn
from keras_ae.models.pixelrnn import PIXELRNN_KINDS, build_pixelrnn
from keras_ae.plotting import save_image_grid, save_image_rows



def parse_args(argv=None):
    parser = recipe_parser("pixelcnn", __doc__.splitlines()[0], dataset="mnist", epochs=30)
    parser.add_argument("--filters", type=int, default=32, help="PixelCNN feature maps per layer")
    parser.add_argument("--blocks", type=int, default=6, help="PixelCNN residual blocks after the first layer")
    parser.add_argument("--plain", action="store_true", help="plain masked convolutions instead of gated blocks")
    parser.add_argument("--dropout", type=float, default=0.0, help="dropout rate inside the PixelCNN blocks")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--precision", default="float32", choices=("float32", "mixed_bfloat16", "mixed_float16"),
                        help="Keras dtype policy for training (evaluation is always float32)")
    parser.add_argument("--lr", type=float, default=1.5e-3, help="initial learning rate (cosine decay to 5%%)")
    parser.add_argument("--val-fraction", type=float, default=0.05,
                        help="training images held out to pick the best epoch")
    parser.add_argument("--max-train", type=int, default=None, help="use only this many training images (smoke runs)")
    parser.add_argument("--rnn-kind", default="diagonal_bilstm", choices=PIXELRNN_KINDS)
    parser.add_argument("--rnn-units", type=int, default=32)
    parser.add_argument("--rnn-layers", type=int, default=1)
    parser.add_argument("--rnn-epochs", type=int, default=12)
    parser.add_argument("--skip-rnn", action="store_true", help="train only the PixelCNN")
    parser.add_argument("--n-samples", type=int, default=64, help="samples saved as a PNG grid")
    parser.add_argument("--bench-n", type=int, default=16, help="digits sampled in the sampler benchmark")
    parser.add_argument("--bench-repeats", type=int, default=3, help="timed repeats per sampler (median)")
    parser.add_argument("--skip-bench", action="store_true")
    return parser.parse_args(argv)


def split_data(args):
    """Grey training images, a binary validation split (seed 1) and the binary test set (seed 0)."""
    (x_train, _), (x_test, _) = load_recipe_data(args)
    if args.max_train:
        x_train = x_train[: args.max_train]
    n_val = int(round(len(x_train) * args.val_fraction))
    # An already binary dataset (binarized_mnist) is not binarized a second time.
    once = (lambda x, seed: x) if is_prebinarized(args.dataset) else binarize
    x_val = once(x_train[len(x_train) - n_val:], seed=1) if n_val else None
    return x_train[: len(x_train) - n_val], x_val, once(x_test, seed=0)


def train(model: AutoregressiveModel, x_train, x_val, epochs: int, args) -> tuple[float, int]:
    """Fits with Adam and cosine decay; returns (seconds, best epoch)."""
    steps = int(np.ceil(len(x_train) / args.batch_size)) * epochs
    schedule = keras.optimizers.schedules.CosineDecay(args.lr, decay_steps=max(steps, 1), alpha=0.05)
    model.compile(optimizer=keras.optimizers.Adam(schedule))
    callbacks = []
    if x_val is not None:
        # Keep the weights of the best validation epoch (validation images only, never the test set).
        callbacks.append(keras.callbacks.EarlyStopping("val_nll", mode="min", patience=epochs,
                                                       restore_best_weights=True))
    start = time.perf_counter()
    history = model.fit(x_train, batch_size=args.batch_size, epochs=epochs, validation_data=x_val,
                        callbacks=[*callbacks, *recipe_tensorboard_callbacks(args, model, x_val)], verbose=2)
    seconds = time.perf_counter() - start
    val = history.history.get("val_nll")
    return seconds, (int(np.argmin(val)) + 1 if val else epochs)


def evaluate(model: AutoregressiveModel, x_test, name: str, seconds: float, best_epoch: int, epochs: int) -> dict:
    log_px = model.log_likelihood(x_test, verbose=1)
    nll = float(-log_px.mean())
    sem = float(log_px.std(ddof=1) / np.sqrt(len(log_px)))
    return {"model": name, "test NLL (nats)": round(nll, 2), "+/- (sem)": round(sem, 2),
            "bits/dim": round(float(bits_per_dim(nll, model.num_dims)), 4), "params": model.count_params(),
            "epochs (best)": f"{epochs} ({best_epoch})", "train time (s)": round(seconds, 1)}


def save_pictures(model: AutoregressiveModel, x_test, out: Path, prefix: str, n_samples: int, seed: int) -> dict:
    """Samples grid and completions of the top half of 8 test digits (3 completions each)."""
    start = time.perf_counter()
    samples = model.sample(n_samples, seed=seed, verbose=1)
    sample_seconds = time.perf_counter() - start
    save_image_grid(samples, out / f"{prefix}_samples.png", cols=8, title=f"{prefix}: {n_samples} samples")
    rows_observed = model.image_shape[0] // 2
    originals = x_test[:8]
    observed = originals.copy()
    observed[:, rows_observed:] = 0.5  # grey: not shown to the model
    rows = {"original": originals, f"top {rows_observed} rows": observed}
    for s in range(3):
        rows[f"completion {s + 1}"] = model.complete(originals, rows_observed, seed=seed + 1 + s)
    save_image_rows(rows, out / f"{prefix}_completions.png", n=8, title=f"{prefix}: completions of the top half")
    return {"seconds": sample_seconds, "n": n_samples}


def _median_time(fn, repeats: int) -> tuple[float, np.ndarray]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times)), result


def benchmark_samplers(model: AutoregressiveModel, n: int, repeats: int, seed: int) -> list[dict]:
    """Times the compiled samplers against the naive per-pixel Python loop, side by side."""
    samplers = {
        "compiled while-loop + XLA": lambda: model.sample(n, seed=seed, batch_size=n, jit_compile=True),
        "compiled while-loop (tf.function)": lambda: model.sample(n, seed=seed, batch_size=n, jit_compile=False),
        "Python loop, tf.function full model": lambda: model.sample_naive(n, seed=seed, compiled_forward=True),
        "Python loop, eager full model (naive)": lambda: model.sample_naive(n, seed=seed),
    }
    timings, images = {}, {}
    for name, fn in samplers.items():
        if name.startswith("compiled"):  # warm-up: trace and compile once, outside the timing
            model.sample(n, seed=seed + 1, batch_size=n, jit_compile="XLA" in name)
        print(f"benchmark: {name} ...", flush=True)
        timings[name], images[name] = _median_time(fn, repeats)
    naive = timings["Python loop, eager full model (naive)"]
    reference = images["Python loop, eager full model (naive)"]
    return [{"sampler": name, f"seconds for {n} images (median of {repeats})": round(t, 2),
             "speedup vs naive": round(naive / t, 1),
             "same images as naive": bool(np.array_equal(images[name], reference))}
            for name, t in timings.items()]


def train_float32_model(builder, kwargs: dict, x_train, x_val, epochs: int, args):
    """Trains ``builder(**kwargs)`` under ``args.precision``; returns a float32 copy, seconds, best epoch."""
    keras.mixed_precision.set_global_policy(args.precision)
    model = builder(**kwargs)
    seconds, best = train(model, x_train, x_val, epochs, args)
    keras.mixed_precision.set_global_policy("float32")
    if args.precision == "float32":
        return model, seconds, best
    twin = builder(**kwargs)  # same architecture in float32: exact likelihoods and samplers
    twin.network.set_weights(model.network.get_weights())
    return twin, seconds, best


def main(argv=None) -> dict:
    args = parse_args(argv)
    keras.utils.set_random_seed(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    x_train, x_val, x_test = split_data(args)
    print(f"{args.dataset} ({'mnist10k split' if args.dataset == 'mnist' else 'offline'}): "
          f"{len(x_train)} train (dynamic binarization), {0 if x_val is None else len(x_val)} validation, "
          f"{len(x_test)} test")
    shape = x_test.shape[1:]

    rows, results = [], {"dataset": args.dataset, "split": "mnist10k" if args.dataset == "mnist" else args.dataset,
                         "precision": args.precision}
    cnn_name = "PixelCNN" if args.plain else "gated PixelCNN"
    cnn_kwargs = dict(image_shape=shape, filters=args.filters, blocks=args.blocks, gated=not args.plain,
                      dropout=args.dropout, dynamic_binarization=True, seed=args.seed)
    cnn, seconds, best = train_float32_model(build_pixelcnn, cnn_kwargs, x_train, x_val, args.epochs, args)
    rows.append(evaluate(cnn, x_test, f"{cnn_name} ({args.filters}x{args.blocks + 1})", seconds, best, args.epochs))
    cnn.save(out / "pixelcnn.keras")
    results["pixelcnn"] = {**rows[-1],
                           "sampling": save_pictures(cnn, x_test, out, "pixelcnn", args.n_samples, args.seed)}

    if not args.skip_rnn:
        rnn_kwargs = dict(image_shape=shape, kind=args.rnn_kind, units=args.rnn_units, layers=args.rnn_layers,
                          dynamic_binarization=True, seed=args.seed)
        rnn, seconds, best = train_float32_model(build_pixelrnn, rnn_kwargs, x_train, x_val, args.rnn_epochs, args)
        rows.append(evaluate(rnn, x_test, f"PixelRNN {args.rnn_kind} ({args.rnn_units}x{args.rnn_layers})",
                             seconds, best, args.rnn_epochs))
        rnn.save(out / "pixelrnn.keras")
        results["pixelrnn"] = {**rows[-1], "sampling": save_pictures(rnn, x_test, out, "pixelrnn", 16, args.seed)}

    if not args.skip_bench:
        bench = benchmark_samplers(cnn, args.bench_n, args.bench_repeats, args.seed)
        results["sampler_benchmark"] = bench
        print(format_table(bench))
    write_results(out, results, rows, args)
    return results


if __name__ == "__main__":
    main()
