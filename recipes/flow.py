"""RealNVP on dequantized 8-bit MNIST: test bits/dim (dequantization bound), samples at two temperatures.

Protocol: the 8-bit training images (``k / 255``) are dequantized afresh every batch,
``y = (k + u) / 256`` with ``u ~ U[0, 1)``; a held-out part of the training images (with
fixed noise) picks the best epoch, whose weights are kept; the test set is used only for
the final numbers. The test figure is the dequantization bound
``-(E_u log p((k + u) / 256) - D log 256) / (D log 2)`` in bits/dim (``--eval-samples``
draws of ``u`` per image), comparable to published flow results (RealNVP 1.06 bits/dim on
the full MNIST, Dinh et al. 2017) and not to nats on binarized MNIST.

Training: Adam with a linear warm-up and cosine decay, optionally in mixed bfloat16
(``--precision mixed_bfloat16``: faster on CPUs with AVX512-BF16; the weights are then
copied into a float32 model, the one evaluated, sampled and saved). ``--time-budget``
stops training at the end of the epoch that passes it (the best epoch's weights are kept).

Usage:
    python recipes/flow.py --precision mixed_bfloat16           # the docs/results.md number (mnist10k split)
    python recipes/flow.py --dataset digits --epochs 2 --filters 8 --blocks 1   # a quick smoke run
"""

from __future__ import annotations

import time
from pathlib import Path

import keras_ae  # noqa: F401  (first: it hides TensorFlow's C++ start-up lines, keras_ae.quiet)

import keras
import numpy as np

from keras_ae.experiment import (TimeBudget, load_recipe_data, recipe_parser, recipe_tensorboard_callbacks,
                                 write_results)
from keras_ae.models.flow import build_realnvp
from keras_ae.plotting import save_image_grid


def parse_args(argv=None):
    parser = recipe_parser("flow", __doc__.splitlines()[0], dataset="mnist", epochs=20)
    parser.add_argument("--scales", type=int, default=2, help="RealNVP scales (each but the last squeezes)")
    parser.add_argument("--couplings", type=int, default=3, help="checkerboard and channel couplings per scale")
    parser.add_argument("--final-couplings", type=int, default=4, help="checkerboard couplings of the last scale")
    parser.add_argument("--filters", type=int, default=64, help="feature maps of the coupling ResNets")
    parser.add_argument("--blocks", type=int, default=1, help="residual blocks per coupling ResNet")
    # 3 epochs with 32x1 ResNets: validation 1.82 bits/dim with alpha=1e-5, 2.85 with Dinh et al.'s 0.05.
    parser.add_argument("--alpha", type=float, default=1e-5, help="logit transform margin")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (cosine decay to 1%% after warm-up)")
    parser.add_argument("--warmup", type=int, default=200, help="linear warm-up steps")
    parser.add_argument("--precision", default="float32", choices=("float32", "mixed_bfloat16"),
                        help="Keras dtype policy for training (evaluation is always float32)")
    parser.add_argument("--time-budget", type=float, default=30.0, metavar="MINUTES",
                        help="stop training after the epoch that passes this many minutes")
    parser.add_argument("--val-fraction", type=float, default=0.05,
                        help="training images held out to pick the best epoch")
    parser.add_argument("--max-train", type=int, default=None, help="use only this many training images (smoke runs)")
    parser.add_argument("--eval-samples", type=int, default=2, help="dequantization draws per test image")
    parser.add_argument("--n-samples", type=int, default=64, help="samples per temperature in the PNG grids")
    return parser.parse_args(argv)


def eight_bit(x: np.ndarray) -> np.ndarray:
    """[0, 1] images on the 8-bit grid k / 255 (float32)."""
    return (np.round(np.asarray(x, np.float64) * 255) / 255).astype(np.float32)


def split_data(args):
    """8-bit training images, a validation split from the end of the training images, the test images."""
    (x_train, _), (x_test, _) = load_recipe_data(args)
    x_train, x_test = eight_bit(x_train), eight_bit(x_test)
    if args.max_train:
        x_train = x_train[: args.max_train]
    n_val = int(round(len(x_train) * args.val_fraction))
    x_val = x_train[len(x_train) - n_val:] if n_val else None
    return x_train[: len(x_train) - n_val], x_val, x_test


def train(args, x_train, x_val):
    """Builds and trains the flow; returns (float32 model, seconds, epochs run, best epoch, history)."""
    kwargs = dict(image_shape=x_train.shape[1:], scales=args.scales, couplings=args.couplings,
                  final_couplings=args.final_couplings, filters=args.filters, blocks=args.blocks, alpha=args.alpha,
                  seed=args.seed)
    keras.mixed_precision.set_global_policy(args.precision)
    model = build_realnvp(**kwargs)
    steps = int(np.ceil(len(x_train) / args.batch_size)) * args.epochs
    warmup = min(args.warmup, max(steps // 2, 1))
    schedule = keras.optimizers.schedules.CosineDecay(0.0, decay_steps=max(steps - warmup, 1), alpha=0.01,
                                                      warmup_target=args.lr, warmup_steps=warmup)
    model.compile(optimizer=keras.optimizers.Adam(schedule))
    budget = TimeBudget(args.time_budget)
    callbacks = [budget]
    if x_val is not None:
        # The best validation epoch's weights (validation images only, never the test set).
        callbacks.append(keras.callbacks.EarlyStopping("val_loss", mode="min", patience=args.epochs,
                                                       restore_best_weights=True))
    start = time.perf_counter()
    history = model.fit(x_train, batch_size=args.batch_size, epochs=args.epochs, validation_data=x_val,
                        callbacks=[*callbacks, *recipe_tensorboard_callbacks(args, model, x_val)], verbose=2)
    seconds = time.perf_counter() - start
    keras.mixed_precision.set_global_policy("float32")
    ran = len(history.history["loss"])
    val = history.history.get("val_loss")
    best = int(np.argmin(val)) + 1 if val else ran
    if args.precision != "float32":
        twin = build_realnvp(**kwargs)  # the same flow in float32: exact likelihoods and inverses
        twin.set_weights(model.get_weights())
        model = twin
    return model, seconds, ran, best, history.history


def main(argv=None) -> dict:
    args = parse_args(argv)
    keras.utils.set_random_seed(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    x_train, x_val, x_test = split_data(args)
    print(f"{args.dataset}: {len(x_train)} train, {0 if x_val is None else len(x_val)} validation, {len(x_test)} test "
          "8-bit images (dequantized)")
    model, seconds, ran, best, history = train(args, x_train, x_val)

    start = time.perf_counter()
    log_px = model.log_likelihood(x_test, num_samples=args.eval_samples, seed=0, verbose=1)
    eval_seconds = time.perf_counter() - start
    d = model.num_dims
    bpd = -log_px / (d * np.log(2.0))
    row = {"model": f"RealNVP ({args.scales} scales, {args.filters}x{args.blocks} ResNets)",
           "data": "dequantized 8-bit", "test bits/dim": round(float(bpd.mean()), 4),
           "+/- (sem)": round(float(bpd.std(ddof=1) / np.sqrt(len(bpd))), 4),
           "test NLL (nats/image)": round(float(-log_px.mean()), 1), "params": model.count_params(),
           "epochs (best)": f"{ran} ({best})", "train time (s)": round(seconds, 1), "precision": args.precision}

    x_back = model.decode(model.encode(x_test[:256]))
    samples = {}
    for temperature in (1.0, 0.7):
        images = model.sample(args.n_samples, seed=args.seed, temperature=temperature)
        path = save_image_grid(images, out / f"realnvp_samples_t{temperature:g}.png", cols=8,
                               title=f"RealNVP samples, temperature {temperature:g}")
        samples[f"{temperature:g}"] = str(path)
    model.save(out / "realnvp.keras")
    results = {"dataset": args.dataset, "split": "mnist10k" if args.dataset == "mnist" else args.dataset,
               **row, "eval_samples_per_image": args.eval_samples, "eval_seconds": round(eval_seconds, 1),
               "decode(encode(x)) == x on 256 test images": bool(np.array_equal(x_back, x_test[:256])),
               "best val bits/dim": float(min(history.get("val_loss", [np.nan]))),
               "history": {k: [float(v) for v in vals] for k, vals in history.items()},
               "samples": samples, "model_path": str(out / "realnvp.keras")}
    write_results(out, results, [row], args)
    return results


if __name__ == "__main__":
    main()
