"""Train the Keras tutorial's deep auto-encoder (784-128-64-32-64-128-784) and measure it.

Reports the test squared error per image (sum over pixels, Hinton & Salakhutdinov's
measure) next to PCA with the same code size, saves a figure with test images and their
reconstructions, the trained model (``.keras``) and ``results.json``::

    python recipes/deep_ae.py --dataset mnist     # the embedded mnist10k split, load_dataset("mnist10k")
    python recipes/deep_ae.py --dataset digits --epochs 100
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import keras_ae  # noqa: F401  (first: it hides TensorFlow's C++ start-up lines, keras_ae.quiet)

import keras

from keras_ae.evaluation import reconstruction_error
from keras_ae.experiment import fit_recipe_model, load_recipe_data, recipe_parser, write_results
from keras_ae.models import build_dense_ae, fit_pca
from keras_ae.plotting import save_image_rows



def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line arguments (the tutorial's settings by default).

    Example:
        >>> parse_args([]).hidden
        [128, 64]
    """
    parser = recipe_parser("deep_ae", __doc__.split("\n\n")[0], dataset="mnist", epochs=50)
    parser.add_argument("--hidden", type=int, nargs="+", default=[128, 64], help="encoder hidden widths")
    parser.add_argument("--code-dim", type=int, default=32, help="code size")
    parser.add_argument("--batch-size", type=int, default=256, help="mini-batch size")
    parser.add_argument("--learning-rate", type=float, default=1e-3, help="Adam learning rate")
    parser.add_argument("--loss", choices=("bce", "mse"), default="bce", help="reconstruction loss")
    parser.add_argument("--verbose", type=int, default=2, help="Keras fit verbosity (0, 1 or 2)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    """Trains, evaluates and saves the deep auto-encoder; returns the headline numbers.

    Example:
        >>> main(["--dataset", "digits", "--epochs", "1"])  # doctest: +SKIP
    """
    args = parse_args(argv)
    keras.utils.set_random_seed(args.seed)
    (x_train, _), (x_test, _) = load_recipe_data(args)

    model = build_dense_ae(x_train.shape[1:], hidden=tuple(args.hidden), code_dim=args.code_dim, loss=args.loss)
    model.compile(optimizer=keras.optimizers.Adam(args.learning_rate))
    start = time.perf_counter()
    fit_recipe_model(model, x_train, args, epochs=args.epochs, batch_size=args.batch_size, validation_data=x_test,
                     verbose=args.verbose)
    train_seconds = time.perf_counter() - start

    ae_error = float(reconstruction_error(model, x_test).mean())
    # PCA with as many components as the code has units: the linear baseline.
    pca_error = float(reconstruction_error(fit_pca(x_train, args.code_dim), x_test).mean())

    out = Path(args.out)
    figure = save_image_rows({"input": x_test, "reconstruction": model.reconstruct(x_test)},
                             out / "reconstructions.png", title=f"{model.name} on {args.dataset}")
    architecture = "-".join(str(n) for n in (x_train[0].size, *args.hidden, args.code_dim))
    results = {"dataset": args.dataset, "architecture": architecture, "test_sse_per_image": ae_error,
               "pca_test_sse_per_image": pca_error, "ae_over_pca": ae_error / pca_error,
               "train_seconds": train_seconds}
    model.info.update(results)
    model_path = out / "deep_ae.keras"  # the figure above created ``out``
    model.save(model_path)
    results.update(figure=str(figure), model=str(model_path))
    rows = [{"model": f"auto-encoder {architecture}", "test SSE / image": ae_error,
             "train (s)": round(train_seconds, 1)},
            {"model": f"PCA-{args.code_dim}", "test SSE / image": pca_error, "train (s)": ""}]
    write_results(out, results, rows, args)
    return results


if __name__ == "__main__":
    main()
