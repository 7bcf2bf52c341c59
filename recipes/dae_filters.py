"""More masking noise, more stroke- and blob-like filters: Vincent et al. (2010)'s filter figure, as a number.

The same over-complete dense denoising auto-encoder (784-1000 sigmoid hidden units, tied
weights as in the paper, cross-entropy) is trained on MNIST at 0, 10, 25 and 50% masking
noise (a fraction of the input pixels set to 0, training only). The first-layer filters
(columns of the encoder kernel) of every noise level are saved side by side, and what the
eye sees in them is measured with one number per noise level:

**filter smoothness** = the lag-1 spatial autocorrelation of each filter, averaged over the
1000 filters (:func:`keras_ae.evaluation.filters.filter_smoothness`). Why this measure:
the claim contrasts "white noise"-looking filters (neighbouring weights independent:
autocorrelation about 0) with "strokes and bubbles" (neighbouring weights alike:
autocorrelation towards 1). It has no threshold or blob size to tune, is bounded in
[-1, 1], is insensitive to each filter's scale and sign, and is computed only over the
pixels MNIST uses (inked in >= 1% of the training images, 482 of 784): border pixels are
always 0, so their weights never get an input gradient and keep their random
initialisation whatever the noise level. The recipe also logs it after every epoch
(``smoothness`` in the history), to show the trend is not a one-epoch accident.

On the mnist10k split (official MNIST test set split 8,000 / 2,000, shipped with keras_ae:
``load_dataset("mnist10k")``)::

    python recipes/dae_filters.py --dataset mnist
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import keras_ae  # noqa: F401  (first: it hides TensorFlow's C++ start-up lines, keras_ae.quiet)

import keras
import numpy as np

from keras_ae.data import Corruption
from keras_ae.evaluation.filters import data_mask, filter_smoothness
from keras_ae.experiment import fit_recipe_model, load_recipe_data, recipe_parser, write_results
from keras_ae.models import build_dense_ae, build_tied_ae
from keras_ae.plotting import save_filters
from keras_ae.plotting._common import _pyplot, _save
from keras_ae.plotting.grids import tile_images


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line arguments.

    Example:
        >>> parse_args([]).levels
        [0.0, 0.1, 0.25, 0.5]
    """
    parser = recipe_parser("dae_filters", __doc__.split("\n\n")[0], dataset="mnist", epochs=30)
    parser.add_argument("--levels", type=float, nargs="+", default=[0.0, 0.1, 0.25, 0.5],
                        help="masking noise levels (fraction of pixels set to 0)")
    parser.add_argument("--hidden", type=int, default=1000, help="hidden (code) units")
    parser.add_argument("--untied", action="store_true", help="untied decoder (default: tied, as in the paper)")
    parser.add_argument("--batch-size", type=int, default=64, help="mini-batch size")
    parser.add_argument("--learning-rate", type=float, default=1e-3, help="Adam learning rate")
    parser.add_argument("--n-show", type=int, default=100, help="filters shown per noise level")
    parser.add_argument("--verbose", type=int, default=2, help="Keras fit verbosity (0, 1 or 2)")
    return parser.parse_args(argv)


class SmoothnessLogger(keras.callbacks.Callback):
    """Adds ``smoothness`` (mean lag-1 autocorrelation of the first-layer filters) to each epoch's logs."""

    def __init__(self, image_shape: tuple[int, int], mask: np.ndarray):
        super().__init__()
        self.image_shape, self.mask = image_shape, mask

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["smoothness"] = filter_smoothness(first_kernel(self.model), self.image_shape, self.mask)


def first_kernel(model) -> np.ndarray:
    """The encoder's first Dense kernel ``(input_dim, hidden)``."""
    dense = next(layer for layer in model.encoder.layers if isinstance(layer, keras.layers.Dense))
    return keras.ops.convert_to_numpy(dense.kernel)


def build(args: argparse.Namespace, shape: tuple[int, ...], level: float):
    """The 784-1000 sigmoid DAE at one masking level (tied unless ``--untied``)."""
    corruption = Corruption("masking", level, name="corruption")
    kwargs = dict(hidden=(), code_dim=args.hidden, code_activation="sigmoid", loss="bce",
                  corruption=corruption, name=f"dae_mask{int(round(level * 100)):02d}")
    return build_dense_ae(shape, **kwargs) if args.untied else build_tied_ae(shape, **kwargs)


def save_side_by_side(kernels: dict[str, np.ndarray], path: Path, image_shape: tuple[int, int], n: int,
                      title: str) -> Path:
    """One panel of ``n`` filters per noise level, each filter scaled to its own [min, max]."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(kernels), figsize=(4 * len(kernels), 4.4))
    for ax, (label, kernel) in zip(np.atleast_1d(axes), kernels.items()):
        side = int(np.sqrt(min(n, kernel.shape[1])))  # a full square of filters
        w = kernel.T[:side * side]
        lo, hi = w.min(axis=1, keepdims=True), w.max(axis=1, keepdims=True)
        w = ((w - lo) / np.maximum(hi - lo, 1e-12)).reshape(-1, *image_shape)
        ax.imshow(tile_images(w, side, side), cmap="gray")
        ax.set_title(label)
        ax.axis("off")
    fig.suptitle(title)
    return _save(fig, path)


def main(argv: list[str] | None = None) -> dict:
    """Trains one DAE per noise level, scores and draws its filters; returns the numbers.

    Example:
        >>> main(["--dataset", "digits", "--epochs", "1", "--hidden", "16"])  # doctest: +SKIP
    """
    args = parse_args(argv)
    (x_train, _), _ = load_recipe_data(args)
    shape = tuple(x_train.shape[1:])
    image_shape = shape[:2]
    mask = data_mask(x_train)
    out = Path(args.out)
    kernels, rows, per_level = {}, [], {}
    for level in args.levels:
        keras.utils.set_random_seed(args.seed)  # same initial weights at every noise level
        model = build(args, shape, level)
        model.compile(optimizer=keras.optimizers.Adam(args.learning_rate))
        initial = filter_smoothness(first_kernel(model), image_shape, mask)
        start = time.perf_counter()
        history = fit_recipe_model(model, x_train, args, epochs=args.epochs, batch_size=args.batch_size,
                                   verbose=args.verbose, callbacks=[SmoothnessLogger(image_shape, mask)])
        seconds = time.perf_counter() - start
        kernel = first_kernel(model)
        smooth = filter_smoothness(kernel, image_shape, mask)
        smooth_all = filter_smoothness(kernel, image_shape)  # all 784 pixels, for reference
        label = f"{level:.0%} masking"
        kernels[f"{label}: smoothness {smooth:.3f}"] = kernel
        save_filters(kernel, out / f"filters_mask{int(round(level * 100)):02d}.png", image_shape, n=args.n_show,
                     title=f"{args.dataset}: {label}")
        per_level[f"{level:g}"] = {
            "smoothness": smooth, "smoothness_all_pixels": smooth_all, "smoothness_at_init": initial,
            "smoothness_per_epoch": [float(v) for v in history.get("smoothness", [])],
            "final_loss": float(history["loss"][-1]), "train_seconds": seconds,
        }
        rows.append({"dataset": args.dataset, "masking": f"{level:.0%}", "epochs": args.epochs,
                     "filter smoothness": smooth, "(all pixels)": smooth_all, "at init": initial,
                     "loss": float(history["loss"][-1]), "train (s)": round(seconds, 1)})
    figure = save_side_by_side(kernels, out / "dae_filters.png", image_shape, args.n_show,
                               f"{args.dataset}: first-layer filters of a 784-{args.hidden} "
                               f"{'untied' if args.untied else 'tied'} DAE, {args.epochs} epochs")
    values = [per_level[f"{lv:g}"]["smoothness"] for lv in args.levels]
    results = {
        "dataset": args.dataset, "levels": args.levels, "hidden": args.hidden, "tied": not args.untied,
        "epochs": args.epochs, "smoothness": values,
        "rises_with_noise": bool(np.all(np.diff(values) > 0)), "per_level": per_level,
        "pixels_scored": int(mask.sum()), "figure": str(figure), "n_train": len(x_train),
    }
    write_results(out, results, rows, args)
    return results


if __name__ == "__main__":
    main()
