"""Anomaly detection, fairly measured: hold out each digit in turn and report the ROC AUC.

One held-out class is a lottery (the AUC depends on which digit it is), so this recipe
holds out every class in turn: each detector is fitted on the training images of the
other nine classes and scores the whole test split, with the held-out class as the
anomalies. Detectors: a dense auto-encoder (squared reconstruction error), a VAE
(negative ELBO, Bernoulli likelihood with dynamic binarization, scored on fixed
binarizations), and two baselines with nothing to learn by gradient descent: PCA
reconstruction error (same code size as the auto-encoder) and scikit-learn's
IsolationForest on pixels. Reports the per-class and the mean AUC, saves a grouped
bar chart of the per-class AUCs and ``results.json``.

Example:
    python recipes/app_anomaly.py     # MNIST: the embedded mnist10k split, load_dataset("mnist10k")
"""

from __future__ import annotations

import time
from pathlib import Path

import keras_ae  # noqa: F401  (first: it hides TensorFlow's C++ start-up lines, keras_ae.quiet)

import keras
import numpy as np

from keras_ae.applications.anomaly import (ReconstructionAnomalyDetector, isolation_forest_detector,
                                           leave_one_class_out, negative_elbo_score, pca_detector)
from keras_ae.experiment import describe_recipe_data, load_recipe_data, recipe_parser, write_results
from keras_ae.models.dense import build_dense_ae
from keras_ae.models.vae import build_vae


def save_per_class_auc(result: dict, path: Path, title: str) -> Path:
    """Grouped bars: one group per held-out class, one bar per detector, chance line at 0.5."""
    from keras_ae.plotting._common import _pyplot, _save

    plt = _pyplot()
    names, classes = list(result["auc"]), result["classes"]
    width = 0.8 / len(names)
    fig, ax = plt.subplots(figsize=(11, 4))
    for i, name in enumerate(names):
        ax.bar(np.arange(len(classes)) + i * width - 0.4 + width / 2, result["auc"][name], width,
               label=f"{name} (mean {result['mean_auc'][name]:.3f})")
    ax.axhline(0.5, color="grey", linestyle=":", linewidth=1)
    ax.set_xticks(np.arange(len(classes)), [str(c) for c in classes])
    ax.set_xlabel("held-out (anomalous) class")
    ax.set_ylabel("test ROC AUC")
    ax.set_ylim(0.0, 1.12)  # headroom for the legend above the bars
    ax.legend(loc="upper center", ncol=len(names), fontsize=8)
    ax.set_title(title)
    return _save(fig, path)


def main(argv: list[str] | None = None) -> dict:
    """Runs the ten held-out-class experiments and writes ``results.json``.

    Example:
        >>> main(["--dataset", "digits", "--epochs", "1"])  # doctest: +SKIP
    """
    parser = recipe_parser("app_anomaly", __doc__.splitlines()[0], epochs=10)
    parser.add_argument("--code-dim", type=int, default=16,
                        help="code size of the AE and of PCA, latent size of the VAE")
    parser.add_argument("--hidden", type=int, nargs="+", default=[256, 64], help="hidden widths (AE and VAE)")
    parser.add_argument("--classes", type=int, nargs="+", default=None, help="classes to hold out (default: all)")
    parser.add_argument("--batch-size", type=int, default=128, help="mini-batch size")
    parser.add_argument("--binarizations", type=int, default=4, help="fixed test binarizations averaged for the VAE")
    parser.add_argument("--verbose", type=int, default=0, help="Keras fit verbosity")
    args = parser.parse_args(argv)
    (x_train, y_train), (x_test, y_test) = load_recipe_data(args)
    shape, hidden = x_train.shape[1:], tuple(args.hidden)

    def autoencoder(x_normal: np.ndarray):
        keras.utils.set_random_seed(args.seed)
        model = build_dense_ae(shape, hidden=hidden, code_dim=args.code_dim)
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
        model.fit(x_normal, epochs=args.epochs, batch_size=args.batch_size, shuffle=True, verbose=args.verbose)
        return ReconstructionAnomalyDetector(model).score_samples

    def vae(x_normal: np.ndarray):
        keras.utils.set_random_seed(args.seed)
        model = build_vae(shape, latent_dim=args.code_dim, hidden=hidden, dynamic_binarization=True, seed=args.seed)
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
        model.fit(x_normal, epochs=args.epochs, batch_size=args.batch_size, shuffle=True, verbose=args.verbose)
        return lambda x: negative_elbo_score(model, x, binarizations=args.binarizations, seed=args.seed)

    detectors = {"AE reconstruction error": autoencoder, "VAE negative ELBO": vae,
                 f"PCA-{args.code_dim} reconstruction error": pca_detector(args.code_dim),
                 "IsolationForest (pixels)": isolation_forest_detector(random_state=args.seed)}
    start = time.perf_counter()
    result = leave_one_class_out(detectors, x_train, y_train, x_test, y_test, classes=args.classes)
    total_seconds = time.perf_counter() - start

    ours = ("AE reconstruction error", "VAE negative ELBO")
    best = max(ours, key=lambda n: result["mean_auc"][n])
    baselines = [n for n in detectors if n not in ours]
    rows = [{"held-out class": c, **{n: result["auc"][n][i] for n in detectors}}
            for i, c in enumerate(result["classes"])]
    rows.append({"held-out class": "mean", **result["mean_auc"]})
    rows.append({"held-out class": "seconds", **{n: round(s, 1) for n, s in result["seconds"].items()}})
    figure = save_per_class_auc(result, Path(args.out) / "per_class_auc.png",
                                f"{args.dataset}: leave-one-class-out ROC AUC ({args.epochs} epochs per class)")
    results = {
        "split": f"{describe_recipe_data(args)}: train on the other classes of train, score test",
        **result, "best_keras_ae": best,
        "best_beats_baselines": bool(all(result["mean_auc"][best] > result["mean_auc"][b] for b in baselines)),
        "total_seconds": total_seconds, "figure": str(figure),
    }
    write_results(args.out, results, rows, args)
    return results


if __name__ == "__main__":
    main()
