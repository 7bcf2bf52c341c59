"""k-sparse auto-encoders (Makhzani & Frey 2014): linear-probe error of k-sparse vs L1-sparse vs plain codes.

Three auto-encoders of the same size (784-1000-784, one dense layer each way, sigmoid
output, cross-entropy, Adam) are trained on MNIST:

- **k-sparse**: linear code, only the ``k`` (25) largest units kept per example; ``k``
  starts at ``--initial-k`` (100) and is lowered linearly to 25 over the first half of
  the epochs (:class:`keras_ae.training.callbacks.k_schedule.KSchedule`, the paper's
  schedule against dead units); at test time the codes keep ``alpha * k`` units
  (``alpha`` = 3, the paper's encoding for classification; ``alpha`` = 1 reported too);
- **L1-sparse**: ReLU code with an L1 penalty ``--l1`` on it;
- **plain**: the same ReLU auto-encoder without the penalty.

Each model's codes of the training split train a linear probe (scikit-learn
``LogisticRegression`` on standardised codes, same settings for all), whose error on the
test split is reported next to the probe on raw pixels. Also reported: the mean number of
nonzero code units per example and the fraction of units never active on the test set.

On the mnist10k split (official MNIST test set split 8,000 / 2,000; numbers not comparable
to the paper's full-MNIST 1.35%)::

    python recipes/k_sparse.py --dataset mnist     # the embedded split, load_dataset("mnist10k")
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import keras_ae  # noqa: F401  (first: it hides TensorFlow's C++ start-up lines, keras_ae.quiet)

import keras
import numpy as np

from keras_ae.experiment import fit_recipe_model, load_recipe_data, recipe_parser, write_results
from keras_ae.models.sparse import build_sparse_ae, encode_k_sparse
from keras_ae.plotting import save_filters
from keras_ae.plotting._common import _pyplot, _save
from keras_ae.plotting.grids import tile_images
from keras_ae.training.callbacks.k_schedule import KSchedule


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line arguments.

    Example:
        >>> args = parse_args([])
        >>> args.k, args.alpha, args.code_dim
        (25, 3.0, 1000)
    """
    parser = recipe_parser("k_sparse", __doc__.split("\n\n")[0], dataset="mnist", epochs=20)
    parser.add_argument("--code-dim", type=int, default=1000, help="code units (over-complete)")
    parser.add_argument("--k", type=int, default=25, help="target k of the k-sparse model")
    parser.add_argument("--initial-k", type=int, default=100, help="k of the first epoch (annealed to --k)")
    parser.add_argument("--anneal-epochs", type=int, default=None, help="epochs to reach --k (default: epochs // 2)")
    parser.add_argument("--alpha", type=float, default=3.0, help="test-time units = alpha * k")
    parser.add_argument("--l1", type=float, default=1e-4, help="L1 weight of the L1-sparse model")
    parser.add_argument("--C", type=float, default=1.0, help="inverse L2 strength of the logistic-regression probe")
    parser.add_argument("--probe-iter", type=int, default=300, help="max iterations of the probe")
    parser.add_argument("--batch-size", type=int, default=64, help="mini-batch size")
    parser.add_argument("--learning-rate", type=float, default=1e-3, help="Adam learning rate")
    parser.add_argument("--models", nargs="+", default=["k-sparse", "L1-sparse", "plain"],
                        choices=["k-sparse", "L1-sparse", "plain"], help="auto-encoders to train and probe")
    parser.add_argument("--verbose", type=int, default=2, help="Keras fit verbosity (0, 1 or 2)")
    args = parser.parse_args(argv)
    if args.anneal_epochs is None:
        args.anneal_epochs = args.epochs // 2
    return args


def probe_error(z_train: np.ndarray, y_train: np.ndarray, z_test: np.ndarray, y_test: np.ndarray,
                C: float, max_iter: int) -> float:
    """Test error (%) of a logistic regression trained on standardised features."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    probe = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=max_iter))
    probe.fit(z_train.reshape(len(z_train), -1), y_train)
    return float(100.0 * (probe.predict(z_test.reshape(len(z_test), -1)) != y_test).mean())


def code_stats(z: np.ndarray) -> dict[str, float]:
    """Mean nonzero units per example and fraction of units never active."""
    active = z != 0
    return {"nonzeros_per_example": float(active.sum(axis=1).mean()),
            "dead_fraction": float((~active.any(axis=0)).mean())}


def main(argv: list[str] | None = None) -> dict:
    """Trains the three auto-encoders, probes their codes; returns the numbers.

    Example:
        >>> main(["--dataset", "digits", "--epochs", "2", "--code-dim", "32", "--k", "4",
        ...       "--initial-k", "16"])  # doctest: +SKIP
    """
    args = parse_args(argv)
    (x_train, y_train), (x_test, y_test) = load_recipe_data(args)
    shape = tuple(x_train.shape[1:])
    out = Path(args.out)
    specs = {
        "k-sparse": dict(k=args.k, alpha=args.alpha, l1=0.0),
        "L1-sparse": dict(l1=args.l1),
        "plain": dict(l1=0.0),
    }
    specs = {name: spec for name, spec in specs.items() if name in args.models}
    rows, results, kernels = [], {"dataset": args.dataset, "models": {}}, {}
    start = time.perf_counter()
    rows.append({"dataset": args.dataset, "features": f"raw pixels ({int(np.prod(shape))})", "nonzeros": "",
                 "probe test error (%)": probe_error(x_train, y_train, x_test, y_test, args.C, args.probe_iter)})
    results["pixels_error_pct"] = rows[0]["probe test error (%)"]
    for name, spec in specs.items():
        keras.utils.set_random_seed(args.seed)
        model = build_sparse_ae(shape, hidden=(), code_dim=args.code_dim, name=name.replace("-", "_").lower(), **spec)
        model.compile(optimizer=keras.optimizers.Adam(args.learning_rate))
        callbacks = ([KSchedule(args.k, initial_k=args.initial_k, anneal_epochs=args.anneal_epochs)]
                     if "k" in spec else [])
        t0 = time.perf_counter()
        history = fit_recipe_model(model, x_train, args, epochs=args.epochs, batch_size=args.batch_size,
                                   verbose=args.verbose, callbacks=callbacks)
        seconds = time.perf_counter() - t0
        encodings = {"": (model.encode(x_train), model.encode(x_test))}
        if "k" in spec:
            # model.encode already keeps alpha * k; alpha = 1 (the training k) for comparison.
            encodings = {f" (alpha={args.alpha:g}, {int(round(args.alpha * args.k))} units)": encodings[""],
                         " (alpha=1)": (encode_k_sparse(model, x_train, alpha=1.0),
                                        encode_k_sparse(model, x_test, alpha=1.0))}
        for suffix, (z_train, z_test) in encodings.items():
            error = probe_error(z_train, y_train, z_test, y_test, args.C, args.probe_iter)
            stats = code_stats(z_test)
            results["models"][name + suffix] = {"probe_error_pct": error, **stats, "train_seconds": seconds,
                                                "final_loss": float(history["loss"][-1]),
                                                "k_per_epoch": history.get("k")}
            rows.append({"dataset": args.dataset, "features": f"{name} {int(np.prod(shape))}-{args.code_dim}{suffix}",
                         "nonzeros": round(stats["nonzeros_per_example"], 1), "dead units": stats["dead_fraction"],
                         "recon loss": float(history["loss"][-1]), "probe test error (%)": error,
                         "train (s)": round(seconds, 1)})
        dense = next(layer for layer in model.encoder.layers if isinstance(layer, keras.layers.Dense))
        kernels[name] = keras.ops.convert_to_numpy(dense.kernel)
        save_filters(kernels[name], out / f"filters_{name}.png", shape[:2], n=100, title=f"{args.dataset}: {name}")
        model.save(out / f"{name}.keras")
    figure = save_panels(kernels, out / "k_sparse_filters.png", shape[:2])
    results.update(figure=str(figure), total_seconds=time.perf_counter() - start, k=args.k, alpha=args.alpha,
                   l1=args.l1, epochs=args.epochs, n_train=len(x_train), n_test=len(x_test))
    write_results(out, results, rows, args)
    return results


def save_panels(kernels: dict[str, np.ndarray], path: Path, image_shape: tuple[int, int], n: int = 100) -> Path:
    """First-layer filters of each model side by side (each filter scaled to its own range)."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(kernels), figsize=(4 * len(kernels), 4.4))
    for ax, (name, kernel) in zip(np.atleast_1d(axes), kernels.items()):
        side = int(np.sqrt(min(n, kernel.shape[1])))
        w = kernel.T[:side * side]
        lo, hi = w.min(axis=1, keepdims=True), w.max(axis=1, keepdims=True)
        tiles = ((w - lo) / np.maximum(hi - lo, 1e-12)).reshape(-1, *image_shape)
        ax.imshow(tile_images(tiles, side, side), cmap="gray")
        ax.set_title(name)
        ax.axis("off")
    return _save(fig, path)


if __name__ == "__main__":
    main()
