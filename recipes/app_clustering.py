"""Clustering digits: k-means on pixels, on PCA codes and on auto-encoder codes, and DEC.

Every method is fitted on the training split without labels and scored on the test
split (labels used only for scoring): Hungarian-matched accuracy and NMI. The auto-encoder
is the DEC paper's dense 784-500-500-2000-10 (ReLU, linear code, squared error), trained
end to end with Adam (the paper pretrains greedily with dropout-denoising layers); PCA has
the same code size. DEC (Xie et al. 2016) starts from k-means on that auto-encoder's codes
and fine-tunes encoder and centres by KL(P || Q). Saves a bar chart of test accuracy and
NMI and one row of test images per DEC cluster.

Example:
    python recipes/app_clustering.py     # MNIST: the embedded mnist10k split, load_dataset("mnist10k")
"""

from __future__ import annotations

import time
from pathlib import Path

import keras_ae  # noqa: F401  (first: it hides TensorFlow's C++ start-up lines, keras_ae.quiet)

import keras
import numpy as np
from sklearn.cluster import KMeans

from keras_ae.applications.clustering import DEC, clustering_scores
from keras_ae.experiment import describe_recipe_data, fit_recipe_model, load_recipe_data, recipe_parser, write_results
from keras_ae.models.dense import build_dense_ae
from keras_ae.models.pca import fit_pca
from keras_ae.plotting import save_bars, save_image_rows


def main(argv: list[str] | None = None) -> dict:
    """Fits the four clusterings and writes ``results.json``; returns the headline numbers.

    Example:
        >>> main(["--dataset", "digits", "--epochs", "1"])  # doctest: +SKIP
    """
    parser = recipe_parser("app_clustering", __doc__.splitlines()[0], epochs=50)
    parser.add_argument("--hidden", type=int, nargs="+", default=[500, 500, 2000], help="encoder widths")
    parser.add_argument("--code-dim", type=int, default=10, help="code size of the auto-encoder and of PCA")
    parser.add_argument("--n-clusters", type=int, default=10, help="number of clusters")
    parser.add_argument("--n-init", type=int, default=20, help="k-means restarts (every k-means)")
    parser.add_argument("--update-interval", type=int, default=30, help="DEC iterations between target updates")
    parser.add_argument("--max-iter", type=int, default=5000, help="upper bound on DEC iterations")
    parser.add_argument("--tol", type=float, default=0.001, help="DEC stops when fewer assignments change")
    parser.add_argument("--verbose", type=int, default=2, help="Keras fit verbosity")
    args = parser.parse_args(argv)
    keras.utils.set_random_seed(args.seed)
    (x_train, y_train), (x_test, y_test) = load_recipe_data(args)
    flat_train, flat_test = x_train.reshape(len(x_train), -1), x_test.reshape(len(x_test), -1)
    rows, seconds = [], {}

    def kmeans_row(name: str, z_train: np.ndarray, z_test: np.ndarray, extra_seconds: float = 0.0) -> None:
        start = time.perf_counter()
        km = KMeans(args.n_clusters, n_init=args.n_init, random_state=args.seed).fit(z_train)
        seconds[name] = extra_seconds + time.perf_counter() - start
        rows.append(score_row(name, km.labels_, km.predict(z_test), seconds[name]))

    def score_row(name: str, train_pred: np.ndarray, test_pred: np.ndarray, secs: float) -> dict:
        train, test = clustering_scores(y_train, train_pred), clustering_scores(y_test, test_pred)
        return {"method": name, "test accuracy": test["accuracy"], "test NMI": test["nmi"],
                "train accuracy": train["accuracy"], "train NMI": train["nmi"], "seconds": round(secs, 1)}

    kmeans_row("k-means on pixels", flat_train, flat_test)
    start = time.perf_counter()
    pca = fit_pca(x_train, args.code_dim)
    kmeans_row(f"k-means on PCA-{args.code_dim}", pca.encode(x_train), pca.encode(x_test), time.perf_counter() - start)

    # The auto-encoder: pretrained here (resumable checkpoints), then handed to DEC.
    ae = build_dense_ae(x_train.shape[1:], hidden=tuple(args.hidden), code_dim=args.code_dim, loss="mse",
                        name="dec_ae")
    ae.compile(optimizer=keras.optimizers.Adam(1e-3))
    start = time.perf_counter()
    fit_recipe_model(ae, x_train, args, epochs=args.epochs, batch_size=256, shuffle=True, verbose=args.verbose)
    pretrain_seconds = time.perf_counter() - start
    arch = "-".join(str(u) for u in (int(np.prod(x_train.shape[1:])), *args.hidden, args.code_dim))
    kmeans_row(f"k-means on AE codes ({arch})", ae.encode(x_train), ae.encode(x_test), pretrain_seconds)

    start = time.perf_counter()
    dec = DEC(args.n_clusters, autoencoder=ae, update_interval=args.update_interval, max_iter=args.max_iter,
              tol=args.tol, n_init=args.n_init, random_state=args.seed, verbose=1).fit(x_train)
    dec_seconds = time.perf_counter() - start
    test_pred = dec.predict(x_test)
    rows.append(score_row("DEC", dec.labels_, test_pred, pretrain_seconds + dec_seconds))
    # Sanity check: DEC's initial centres are the "AE codes" k-means above (same seed, same restarts).
    ae_kmeans = clustering_scores(y_test, dec.kmeans_.predict(ae.encode(x_test)))

    out = Path(args.out)
    save_bars({r["method"].split(" (")[0]: r["test accuracy"] for r in rows}, out / "accuracy.png",
              f"test accuracy ({args.dataset})", title="clustering accuracy, Hungarian-matched")
    save_bars({r["method"].split(" (")[0]: r["test NMI"] for r in rows}, out / "nmi.png", f"test NMI ({args.dataset})",
              title="normalised mutual information")
    save_image_rows({f"cluster {j}": x_test[test_pred == j] for j in range(args.n_clusters) if np.any(test_pred == j)},
                    out / "dec_clusters.png", title=f"{args.dataset} test images per DEC cluster")
    by_name = {r["method"]: r for r in rows}
    pixels, ae_row, dec_row = rows[0], rows[2], rows[3]
    results = {
        "split": f"{describe_recipe_data(args)}: fit on train ({len(x_train)}), scored on test ({len(x_test)})",
        "methods": by_name, "ae_kmeans_check": ae_kmeans,
        "ae_minus_pixels_accuracy_points": 100 * (ae_row["test accuracy"] - pixels["test accuracy"]),
        "dec_minus_ae_accuracy_points": 100 * (dec_row["test accuracy"] - ae_row["test accuracy"]),
        "dec_iterations": dec.n_iter_, "dec_final_delta_label": dec.delta_label_,
        "pretrain_seconds": pretrain_seconds, "dec_seconds": dec_seconds,
    }
    write_results(out, results, rows, args)
    return results


if __name__ == "__main__":
    main()
