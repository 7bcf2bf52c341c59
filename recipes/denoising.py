"""Train a convolutional denoising auto-encoder and measure how much it cleans up noisy images.

The main job of keras_ae. A denoising auto-encoder (Vincent et al. 2008) sees images
corrupted by additive Gaussian noise (std 0.5, clipped to [0, 1]) during training only and
learns to output the clean image. On a fixed noisy copy of the test set (made once with a
seed) it reports the mean PSNR of the noisy and of the denoised images and their difference,
saves a figure with noisy / denoised / clean rows, the trained model (``.keras``) and
``results.json``.

Runs offline by default on the MNIST test set split 8,000 / 2,000 that ships with keras_ae
(``load_dataset("mnist10k")``, 28x28; about 1-2 minutes on 2 CPU cores); scikit-learn's 8x8
digits for a quick run; full MNIST from your own ``mnist.npz``::

    python recipes/denoising.py
    python recipes/denoising.py --dataset digits
    python recipes/denoising.py --dataset mnist --data-dir ~/data/mnist
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import keras_ae  # noqa: F401  (first: it hides TensorFlow's C++ start-up lines, keras_ae.quiet)

import keras

from keras_ae.data import NOISE_KINDS, corrupt
from keras_ae.evaluation import psnr
from keras_ae.experiment import (describe_recipe_data, fit_recipe_model, load_recipe_data, recipe_data_source,
                                 recipe_parser, write_results)
from keras_ae.models import build_denoising_ae
from keras_ae.plotting import save_image_rows


# Training settings per dataset; every entry can be overridden on the command line.
# Squared error is the training loss because PSNR is a function of the squared error: on
# the mnist10k split it beats cross-entropy by about 0.4 dB, and batches of 64 (more
# updates in the same 15 epochs) add about 0.3 dB more.
DEFAULTS = {
    "mnist": {"filters": (32, 32), "epochs": 15, "batch_size": 64, "learning_rate": 1e-3, "loss": "mse"},
    "digits": {"filters": (32, 32), "epochs": 60, "batch_size": 32, "learning_rate": 2e-3, "loss": "mse"},
}
DEFAULTS["mnist10k"] = DEFAULTS["fashion_mnist"] = DEFAULTS["cifar10"] = DEFAULTS["mnist"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line arguments; options left unset take the dataset's entry in ``DEFAULTS``.

    Example:
        >>> parse_args([]).batch_size, parse_args(["--dataset", "digits"]).batch_size
        (64, 32)
    """
    parser = recipe_parser("denoising", __doc__.split("\n\n")[0], dataset="mnist", epochs=None)
    parser.add_argument("--noise", default="gaussian", choices=NOISE_KINDS, help="corruption process")
    parser.add_argument("--level", type=float, default=0.5, help="noise std (gaussian) or corrupted fraction")
    parser.add_argument("--filters", type=int, nargs="+", default=None, help="conv channels per stride-2 layer")
    parser.add_argument("--batch-size", type=int, default=None, help="mini-batch size")
    parser.add_argument("--learning-rate", type=float, default=None, help="Adam learning rate")
    parser.add_argument("--loss", choices=("mse", "bce"), default=None, help="reconstruction loss")
    parser.add_argument("--verbose", type=int, default=2, help="Keras fit verbosity (0, 1 or 2)")
    parser.epilog = "Options left unset take per-dataset defaults: " + "; ".join(
        f"{name}: {', '.join(f'{k}={v}' for k, v in values.items())}" for name, values in DEFAULTS.items()
        if name in ("mnist", "digits"))
    args = parser.parse_args(argv)
    for key, value in DEFAULTS.get(args.dataset, DEFAULTS["mnist"]).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.filters = tuple(args.filters)
    return args


def main(argv: list[str] | None = None) -> dict:
    """Trains, evaluates and saves the denoiser; returns the headline numbers.

    Example:
        >>> main(["--dataset", "digits", "--epochs", "1"])  # doctest: +SKIP
    """
    args = parse_args(argv)
    keras.utils.set_random_seed(args.seed)
    (x_train, _), (x_test, _) = load_recipe_data(args)

    model = build_denoising_ae(x_train.shape[1:], noise=args.noise, level=args.level,
                               filters=args.filters, loss=args.loss)
    model.compile(optimizer=keras.optimizers.Adam(args.learning_rate))
    start = time.perf_counter()
    fit_recipe_model(model, x_train, args, x_test=x_test, epochs=args.epochs, batch_size=args.batch_size,
                     verbose=args.verbose)
    train_seconds = time.perf_counter() - start

    # One fixed noisy test set (its own seed), so every run is scored on the same images.
    noisy = corrupt(x_test, args.noise, args.level, seed=args.seed + 1)
    denoised = model.reconstruct(noisy)
    psnr_noisy = float(psnr(x_test, noisy).mean())
    psnr_denoised = float(psnr(x_test, denoised).mean())

    out = Path(args.out)
    dataset = recipe_data_source(args)[0]  # "mnist10k" by default: the embedded MNIST test set split
    print(f"{describe_recipe_data(args)}: mean test PSNR noisy {psnr_noisy:.2f} dB, denoised {psnr_denoised:.2f} dB "
          f"(gain {psnr_denoised - psnr_noisy:.2f} dB) after {train_seconds:.0f} s of training")
    figure = save_image_rows({"noisy": noisy, "denoised": denoised, "clean": x_test}, out / "denoising.png",
                             title=f"{dataset}: {args.noise} noise {args.level}")
    results = {
        "dataset": dataset, "data": describe_recipe_data(args), "noise": args.noise, "level": args.level,
        "psnr_noisy_db": psnr_noisy, "psnr_denoised_db": psnr_denoised,
        "psnr_gain_db": psnr_denoised - psnr_noisy, "train_seconds": train_seconds,
        "n_train": len(x_train), "n_test": len(x_test),
    }
    model.info.update(results)
    model_path = out / "denoising_ae.keras"
    model.save(model_path)
    results.update(figure=str(figure), model=str(model_path))
    row = {"dataset": dataset, "noise": f"{args.noise} {args.level:g}", "epochs": args.epochs,
           "PSNR noisy (dB)": psnr_noisy, "PSNR denoised (dB)": psnr_denoised,
           "gain (dB)": psnr_denoised - psnr_noisy, "train (s)": round(train_seconds, 1)}
    write_results(out, results, [row], args)
    return results


if __name__ == "__main__":
    main()
