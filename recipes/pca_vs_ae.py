"""PCA vs a deep auto-encoder, as in Hinton & Salakhutdinov (2006), on one train/test split.

Three comparisons, one table:

1. PCA-30 vs a 784-1000-500-250-30 auto-encoder: test squared error per image (sum over
   pixels). On a small training set (8000 images) the default Adam run (learning rate
   1e-3, 60 epochs) overfits to about 0.76x PCA's error; a small learning rate (2.5e-4)
   decayed to zero by a cosine schedule with batches of 64 reaches about 0.51x, chosen on a
   part of the training set held out for validation, never on the test set. The same
   held-out part picks the epoch whose weights are kept.
2. A linear auto-encoder trained by gradient descent vs PCA-30 on the training set: it
   reaches the same error (the optimum is the principal subspace). ``--skip-linear`` skips it.
3. 2-D codes of PCA-2 vs a 784-1000-500-250-2 auto-encoder (the paper's Fig. 3), drawn
   side by side and scored by 5-nearest-neighbour label accuracy and trustworthiness.
   ``--skip-2d`` skips it.

    python recipes/pca_vs_ae.py --dataset mnist   # the embedded mnist10k split, load_dataset("mnist10k")
    python recipes/pca_vs_ae.py --quick        # a few epochs each, to try it out
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import keras_ae  # noqa: F401  (first: it hides TensorFlow's C++ start-up lines, keras_ae.quiet)

import keras
import numpy as np

from keras_ae.data import Corruption
from keras_ae.evaluation import reconstruction_error
from keras_ae.experiment import load_recipe_data, recipe_parser, recipe_tensorboard_callbacks, write_results
from keras_ae.models import AutoEncoder, build_dense_ae, build_linear_ae, fit_pca
from keras_ae.plotting import save_code_scatter



def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line arguments; the defaults are the tuned training of the deep auto-encoder.

    Example:
        >>> parse_args(["--quick"]).epochs
        3
    """
    parser = recipe_parser("pca_vs_ae", __doc__.split("\n\n")[0], dataset="mnist", epochs=None)
    parser.add_argument("--code-dim", type=int, default=30, help="code size of PCA and the auto-encoder")
    parser.add_argument("--hidden", type=int, nargs="+", default=[1000, 500, 250], help="encoder hidden widths")
    parser.add_argument("--batch-size", type=int, default=64, help="mini-batch size")
    parser.add_argument("--learning-rate", type=float, default=2.5e-4,
                        help="initial Adam learning rate (cosine decay to 0)")
    parser.add_argument("--weight-decay", type=float, default=0.0, help="AdamW decoupled weight decay")
    parser.add_argument("--loss", choices=("bce", "mse"), default="bce", help="reconstruction loss")
    parser.add_argument("--input-noise", type=float, default=0.0,
                        help="std of Gaussian noise added to training inputs (a regulariser)")
    parser.add_argument("--validation-fraction", type=float, default=0.1,
                        help="part of the training set held out to pick the epoch (0 keeps the last)")
    parser.add_argument("--epochs-2d", type=int, default=None, help="epochs of the 2-D auto-encoder")
    parser.add_argument("--linear-epochs", type=int, default=None, help="epochs of the linear auto-encoder")
    parser.add_argument("--skip-2d", action="store_true", help="skip the 2-D code comparison")
    parser.add_argument("--skip-linear", action="store_true", help="skip the linear auto-encoder check")
    parser.add_argument("--quick", action="store_true", help="few epochs everywhere (a smoke run)")
    parser.add_argument("--verbose", type=int, default=2, help="Keras fit verbosity (0, 1 or 2)")
    args = parser.parse_args(argv)
    epochs, epochs_2d, linear_epochs = (3, 3, 3) if args.quick else (60, 60, 20)
    args.epochs = epochs if args.epochs is None else args.epochs
    args.epochs_2d = epochs_2d if args.epochs_2d is None else args.epochs_2d
    args.linear_epochs = linear_epochs if args.linear_epochs is None else args.linear_epochs
    return args


def train_deep_ae(x_train: np.ndarray, code_dim: int, args: argparse.Namespace, epochs: int) -> AutoEncoder:
    """Trains a ``hidden``-``code_dim`` dense auto-encoder with the recipe's settings.

    A ``validation_fraction`` of ``x_train`` is held out and the weights of the epoch with
    the lowest held-out loss are kept, so the test set plays no part in training.

    Example:
        >>> model = train_deep_ae(x_train, 30, parse_args([]), epochs=60)  # doctest: +SKIP
    """
    corruption = Corruption("gaussian", args.input_noise, name="input_noise") if args.input_noise > 0 else None
    model = build_dense_ae(x_train.shape[1:], hidden=tuple(args.hidden), code_dim=code_dim, loss=args.loss,
                           corruption=corruption, name=f"deep_ae_{code_dim}")
    n_val = int(round(len(x_train) * args.validation_fraction))
    order = np.random.default_rng(args.seed).permutation(len(x_train))
    x_fit, x_val = x_train[order[n_val:]], x_train[order[:n_val]]
    steps = epochs * int(np.ceil(len(x_fit) / args.batch_size))
    schedule = keras.optimizers.schedules.CosineDecay(args.learning_rate, max(steps, 1))
    model.compile(optimizer=keras.optimizers.AdamW(schedule, weight_decay=args.weight_decay)
                  if args.weight_decay > 0 else keras.optimizers.Adam(schedule))
    callbacks = []
    if n_val:
        callbacks.append(keras.callbacks.EarlyStopping("val_reconstruction", mode="min", patience=epochs,
                                                       restore_best_weights=True))
    model.fit(x_fit, epochs=epochs, batch_size=args.batch_size, validation_data=x_val if n_val else None,
              callbacks=[*callbacks, *recipe_tensorboard_callbacks(args, model, x_val if n_val else None)],
              verbose=args.verbose)
    return model


def train_linear_ae(x_train: np.ndarray, code_dim: int, epochs: int = 20, batch_size: int = 64,
                    learning_rate: float = 1e-2, verbose: int = 0) -> AutoEncoder:
    """Trains ``build_linear_ae`` by mini-batch Adam with a cosine learning-rate decay.

    The defaults reach PCA's training error to 1e-4 (relative) on the mnist10k split.

    Example:
        >>> linear = train_linear_ae(x_train, 30, epochs=60)  # doctest: +SKIP
    """
    model = build_linear_ae(x_train.shape[1:], code_dim)
    steps = epochs * int(np.ceil(len(x_train) / batch_size))
    model.compile(optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(learning_rate, max(steps, 1))))
    model.fit(x_train, epochs=epochs, batch_size=batch_size, verbose=verbose)
    return model


def code_scores(train_codes: np.ndarray, y_train: np.ndarray, test_codes: np.ndarray, y_test: np.ndarray,
                x_test: np.ndarray) -> dict[str, float]:
    """How well 2-D codes keep the data's structure.

    Returns:
        ``knn_accuracy`` (5-nearest-neighbour labels of test codes from training codes)
        and ``trustworthiness`` (scikit-learn, 10 neighbours, test set).

    Example:
        >>> code_scores(c_train, y_train, c_test, y_test, x_test)  # doctest: +SKIP
    """
    from sklearn.manifold import trustworthiness
    from sklearn.neighbors import KNeighborsClassifier

    knn = KNeighborsClassifier(n_neighbors=5).fit(train_codes, y_train)
    return {"knn_accuracy": float(knn.score(test_codes, y_test)),
            "trustworthiness": float(trustworthiness(x_test.reshape(len(x_test), -1), test_codes, n_neighbors=10))}


def main(argv: list[str] | None = None) -> dict:
    """Runs the comparisons, saves the figure and ``results.json``; returns the numbers.

    Example:
        >>> main(["--dataset", "digits", "--quick"])  # doctest: +SKIP
    """
    args = parse_args(argv)
    keras.utils.set_random_seed(args.seed)
    (x_train, y_train), (x_test, y_test) = load_recipe_data(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    dim = x_train[0].size
    deep = "-".join(str(n) for n in (dim, *args.hidden))
    results: dict = {"dataset": args.dataset, "n_train": len(x_train), "n_test": len(x_test)}
    rows = []

    # 1. PCA-M vs the deep auto-encoder: test squared error per image.
    pca = fit_pca(x_train, args.code_dim)
    pca_test = float(reconstruction_error(pca, x_test).mean())
    start = time.perf_counter()
    ae = train_deep_ae(x_train, args.code_dim, args, args.epochs)
    ae_seconds = time.perf_counter() - start
    ae_test = float(reconstruction_error(ae, x_test).mean())
    ae.info.update(dataset=args.dataset, test_sse_per_image=ae_test)
    ae.save(out / f"deep_ae_{args.code_dim}.keras")
    results.update(pca_test_sse=pca_test, ae_test_sse=ae_test, ae_over_pca=ae_test / pca_test,
                   ae_train_seconds=ae_seconds)
    pca_row = {"model": f"PCA-{args.code_dim}", "test SSE / image": pca_test}
    rows += [pca_row, {"model": f"AE {deep}-{args.code_dim}", "test SSE / image": ae_test,
                       "ratio to PCA": ae_test / pca_test, "train (s)": round(ae_seconds, 1)}]

    # 2. The linear auto-encoder reaches PCA's optimum (training error, same M).
    if not args.skip_linear:
        pca_train = float(reconstruction_error(pca, x_train).mean())
        discarded = pca.info["discarded_variance"]
        linear = train_linear_ae(x_train, args.code_dim, args.linear_epochs, verbose=args.verbose)
        linear_train = float(reconstruction_error(linear, x_train).mean())
        results.update(pca_train_sse=pca_train, pca_discarded_variance=discarded,
                       pca_relative_gap=abs(pca_train - discarded) / discarded,
                       linear_train_sse=linear_train, linear_over_pca=linear_train / pca_train)
        pca_row["train SSE / image"] = pca_train
        pca_row["|train SSE - discarded eigenvalues| / discarded"] = results["pca_relative_gap"]
        rows.append({"model": f"linear AE-{args.code_dim} (Adam)", "train SSE / image": linear_train,
                     "ratio to PCA": linear_train / pca_train})

    # 3. 2-D codes: PCA-2 vs the deep auto-encoder with a 2-unit code (Fig. 3).
    if not args.skip_2d:
        pca2 = fit_pca(x_train, 2)
        ae2 = train_deep_ae(x_train, 2, args, args.epochs_2d)
        codes, scores = {}, {}
        for name, model in (("PCA-2", pca2), (f"AE {deep}-2", ae2)):
            codes[name] = model.encode(x_test)
            scores[name] = code_scores(model.encode(x_train), y_train, codes[name], y_test, x_test)
            rows.append({"model": name, "2-D codes: 5-NN accuracy": scores[name]["knn_accuracy"],
                         "trustworthiness": scores[name]["trustworthiness"]})
        figure = save_code_scatter(codes, y_test, out / "codes_2d.png",
                                   title=f"2-D codes of the {args.dataset} test set",
                                   scores={k: v["knn_accuracy"] for k, v in scores.items()})
        results.update(codes_2d=scores, codes_figure=str(figure))

    write_results(out, results, rows, args)
    return results


if __name__ == "__main__":
    main()
