"""The VQ-VAE's default optimizer against the settings it replaced: test reconstruction error per epoch.

Each variant is ``build_vqvae(likelihood="gaussian")`` (grey images) with ``compile()``'s
default optimizer changed only as the variant says, trained with ``fit(batch_size=128)``
(keras.io's VQ-VAE batch size) on the grey training images; after every epoch the test
squared error per image of the clipped reconstructions is scored with the weight averages
swapped in (``keras_ae.training.ema_weights``: what ``fit`` would leave if it stopped there).
Counted in epochs, so a busy machine changes the seconds column, not the curves.

Variants:
    default     what compile() gives the VQ-VAE: averaged weights (EMA 0.99), Adam 1e-3 at batch 128
    no_average  Adam without averaging at the square-root batch rule's 1.41e-3
    average_lr  averaged, at the batch rule's 1.41e-3
    slow_lr     averaged, Adam 5e-4

Usage:
    python recipes/vqvae_optimizer.py                                  # every variant, 40 epochs
    python recipes/vqvae_optimizer.py --variants default no_average --epochs 20 --seed 1
    python recipes/vqvae_optimizer.py --dataset digits --epochs 2      # a smoke run
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import keras_ae  # noqa: F401  (first: it hides TensorFlow's C++ start-up lines, keras_ae.quiet)

import keras
import numpy as np

from keras_ae.errors import InputValidationError
from keras_ae.experiment import load_recipe_data, recipe_parser, write_results
from keras_ae.models.vqvae import build_vqvae
from keras_ae.plotting import save_curves
from keras_ae.training import ema_weights
from keras_ae.training.defaults import default_learning_rate

BATCH_SIZE = 128
BATCH_RULE_RATE = default_learning_rate(BATCH_SIZE)  # the square-root rule's 1.41e-3 at batch 128
# Changes to compile()'s default optimizer: "average" (weight averaging on or off) and
# "learning_rate" (None: the default's own choice at the first fit).
VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    "no_average": {"average": False, "learning_rate": BATCH_RULE_RATE},
    "average_lr": {"learning_rate": BATCH_RULE_RATE},
    "slow_lr": {"learning_rate": 5e-4},
}
MARKS = (5, 10, 20, 30, 40, 60, 80)


def squared_error(model: keras.Model, x: np.ndarray) -> float:
    """Mean over images of the summed squared error of the clipped reconstructions.

    Example:
        >>> model = build_vqvae((8, 8, 1), num_codes=8, code_dim=4, filters=(8,), prior=False, likelihood="gaussian")
        >>> 0 < squared_error(model, x_digits[:8]) < 64
        True
    """
    reconstructions = np.clip(model.reconstruct(x), 0.0, 1.0)
    return float(np.square(reconstructions - x).reshape(len(x), -1).sum(axis=1).mean())


def run_variant(name: str, x_train: np.ndarray, x_test: np.ndarray, epochs: int, seed: int) -> dict[str, Any]:
    """Trains one variant for ``epochs``; returns its curve ``(training seconds, epoch, error)``.

    Example:
        >>> run = run_variant("default", x_digits[:64], x_digits_test[:16], epochs=1, seed=0)
        >>> run["curve"][0][1], run["learning_rate"]
        (1, 0.001)
    """
    changes = VARIANTS[name]
    keras.utils.set_random_seed(seed)
    model = build_vqvae(x_train.shape[1:], likelihood="gaussian", seed=seed)
    if not changes.get("average", True):
        model.default_ema_momentum = None  # this instance only: compile() then gives plain Adam
    model.compile()
    if changes.get("learning_rate") is not None:
        model.optimizer.learning_rate = float(changes["learning_rate"])  # kept: set after compile()
    curve: list[list[float]] = []
    clock = {"train": 0.0}
    progress = keras.utils.Progbar(epochs, unit_name="epoch")

    class Score(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            clock["start"] = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            clock["train"] += time.perf_counter() - clock["start"]
            with ema_weights(model):  # a no-op without averaging
                error = squared_error(model, x_test)
            curve.append([round(clock["train"], 2), epoch + 1, round(error, 4)])
            progress.update(epoch + 1, [("test error", error)])

    model.fit(x_train, epochs=epochs, batch_size=BATCH_SIZE, callbacks=[Score()], verbose=0)
    return {"variant": name, "averaged": bool(model.optimizer.use_ema),
            "learning_rate": round(float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)), 6),
            "epochs": epochs, "train_seconds": round(clock["train"], 1), "curve": curve}


def curve_row(run: dict[str, Any]) -> dict[str, Any]:
    """The table row of one variant: the error at the marked epochs, the best, the mean of the last ten.

    Example:
        >>> curve_row({"variant": "v", "averaged": True, "learning_rate": 1e-3, "train_seconds": 9.0,
        ...            "curve": [[1.0, 5, 4.0], [2.0, 10, 3.0]]})["epoch 10"]
        3.0
    """
    by_epoch = {epoch: error for _, epoch, error in run["curve"]}
    last = [by_epoch[e] for e in sorted(by_epoch)[-10:]]
    return {"variant": run["variant"], "averaged": run["averaged"], "learning rate": run["learning_rate"],
            **{f"epoch {m}": by_epoch[m] for m in MARKS if m in by_epoch},
            "best": min(by_epoch.values()), "mean of the last 10": round(float(np.mean(last)), 3),
            "seconds per epoch": round(run["train_seconds"] / max(len(by_epoch), 1), 1)}


def parse_args(argv: list[str] | None = None):
    """Command-line arguments.

    Example:
        >>> parse_args(["--variants", "default", "slow_lr", "--epochs", "5"]).variants
        ['default', 'slow_lr']
    """
    parser = recipe_parser("vqvae_optimizer", __doc__.splitlines()[0], dataset="mnist", epochs=40)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=tuple(VARIANTS),
                        help="optimizer settings to train, one after the other")
    args = parser.parse_args(argv)
    if args.epochs < 1:
        raise InputValidationError(f"--epochs must be >= 1, got {args.epochs!r}.")
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Trains every variant, prints the table, writes ``results.json`` and ``vqvae_optimizer.png``."""
    args = parse_args(argv)
    (x_train, _), (x_test, _) = load_recipe_data(args)
    print(f"{args.dataset}: {len(x_train)} train / {len(x_test)} test images; variants {' '.join(args.variants)}; "
          f"{args.epochs} epochs each at batch {BATCH_SIZE}, seed {args.seed}")
    runs = [run_variant(name, x_train, x_test, args.epochs, args.seed) for name in args.variants]
    figure = save_curves({run["variant"]: ([e for _, e, _ in run["curve"]], [s for _, _, s in run["curve"]])
                          for run in runs}, Path(args.out) / "vqvae_optimizer.png", "epoch",
                         "test squared error per image", "VQ-VAE: test reconstruction error per epoch", logy=True)
    results = {"dataset": args.dataset, "epochs": args.epochs, "batch_size": BATCH_SIZE, "runs": runs,
               "figure": str(figure)}
    write_results(Path(args.out), results, [curve_row(run) for run in runs], args)  # prints the table
    print(f"figure: {figure}")
    return results


if __name__ == "__main__":
    main()
