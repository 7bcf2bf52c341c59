"""PCA vs auto-encoders on a spiral manifold: can a 2-D code recover the intrinsic coordinates?

The swiss roll is a 2-D sheet (angle ``t`` along the roll, ``height`` across it) rolled up
in 3-D; twin peaks is a curved 2-D surface. PCA can only project: on the swiss roll it
keeps the spiral (or a side view) and puts distant parts of the sheet on top of each
other. An auto-encoder with a 2-unit bottleneck can unroll the sheet. A contractive
auto-encoder (exact penalty: the Jacobian is only 2 x 3) is trained as a third row.

Measures, on held-out points (``--n-samples`` x ``--test-fraction``):

* trustworthiness (scikit-learn, k=10) of the 2-D code with respect to the true intrinsic
  coordinates: are the code's neighbours neighbours on the sheet? (the stated measure)
* k-NN R^2 of each intrinsic coordinate from the code (5-fold cross-validated)
* the best rank (Spearman) correlation of a direction in code space with ``t``

    python recipes/manifold.py                  # swiss roll and twin peaks, ~5 min on 2 cores
    python recipes/manifold.py --datasets swiss_roll --epochs 100
"""

from __future__ import annotations

import argparse
from pathlib import Path

import keras_ae  # noqa: F401  (first: it hides TensorFlow's C++ start-up lines, keras_ae.quiet)

import keras
import numpy as np

from keras_ae.applications.visualization import trustworthiness_scores
from keras_ae.data import load_dataset
from keras_ae.experiment import recipe_parser, recipe_tensorboard_callbacks, write_results
from keras_ae.manifold import coordinate_recovery, rank_correlation
from keras_ae.models import build_dense_ae, fit_pca
from keras_ae.models.contractive import build_contractive_ae
from keras_ae.plotting import save_code_scatter
from keras_ae.plotting._common import _pyplot, _save


COORDINATE_NAMES = {"swiss_roll": ("t", "height"), "broken_swiss_roll": ("t", "height"), "twin_peaks": ("u", "v")}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line arguments (``--dataset`` / ``--data-dir`` are unused: the data are generated).

    Example:
        >>> parse_args([]).datasets
        ['swiss_roll', 'twin_peaks']
    """
    parser = recipe_parser("manifold", __doc__.split("\n\n")[0], dataset="swiss_roll", epochs=300)
    parser.add_argument("--datasets", nargs="+", default=["swiss_roll", "twin_peaks"], choices=sorted(COORDINATE_NAMES))
    parser.add_argument("--n-samples", type=int, default=3000, help="points per dataset (train + test)")
    parser.add_argument("--test-fraction", type=float, default=0.2, help="held-out fraction, where scores are measured")
    parser.add_argument("--noise", type=float, default=0.05, help="Gaussian noise on the 3-D points")
    parser.add_argument("--hidden", type=int, nargs="+", default=[128, 128], help="encoder hidden widths (ReLU)")
    parser.add_argument("--batch-size", type=int, default=32, help="mini-batch size")
    parser.add_argument("--contraction", type=float, default=1e-2, help="contractive penalty weight (0 skips the CAE)")
    parser.add_argument("--neighbors", type=int, default=10, help="k of trustworthiness and k-NN R^2")
    parser.add_argument("--verbose", type=int, default=0, help="Keras fit verbosity")
    return parser.parse_args(argv)


def train_2d(x_train: np.ndarray, args: argparse.Namespace, contraction: float = 0.0):
    """A 3-``hidden``-2 ReLU auto-encoder (contractive when ``contraction > 0``), trained with MSE.

    Example:
        >>> model = train_2d(x_train, parse_args([]))  # doctest: +SKIP
    """
    keras.utils.set_random_seed(args.seed)
    shape = x_train.shape[1:]
    if contraction > 0:
        model = build_contractive_ae(shape, hidden=tuple(args.hidden), code_dim=2, activation="relu",
                                     code_activation="linear", loss="mse", contraction=contraction, jacobian="auto",
                                     seed=args.seed, name="cae_2d")
    else:
        model = build_dense_ae(shape, hidden=tuple(args.hidden), code_dim=2, activation="relu", loss="mse",
                               name="ae_2d")
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.fit(x_train, epochs=args.epochs, batch_size=args.batch_size, verbose=args.verbose,
              callbacks=recipe_tensorboard_callbacks(args, model))
    return model


def save_points_3d(x: np.ndarray, colour: np.ndarray, path: Path, title: str) -> Path:
    """The 3-D data coloured by its intrinsic coordinate.

    Example:
        >>> save_points_3d(x, t, Path("roll.png"), "swiss roll")  # doctest: +SKIP
    """
    plt = _pyplot()
    fig = plt.figure(figsize=(5, 4.4))
    ax = fig.add_subplot(projection="3d")
    ax.scatter(x[:, 0], x[:, 1], x[:, 2], c=colour, s=3, cmap="viridis")
    ax.set_title(title)
    return _save(fig, path)


def run_dataset(name: str, args: argparse.Namespace, out: Path) -> list[dict]:
    """Fits PCA, the AE and the CAE on one manifold; scores and plots their test codes.

    Example:
        >>> rows = run_dataset("swiss_roll", parse_args([]), Path("runs/manifold"))  # doctest: +SKIP
    """
    (x_train, _), (x_test, c_test) = load_dataset(name, n_samples=args.n_samples, test_fraction=args.test_fraction,
                                                  noise=args.noise, seed=args.seed)
    # One shift and one scale for all three axes: keeps the manifold's geometry.
    mean, scale = x_train.mean(axis=0), x_train.std()
    x_train, x_test = (x_train - mean) / scale, (x_test - mean) / scale
    models = {"PCA": fit_pca(x_train, 2), "AE": train_2d(x_train, args)}
    if args.contraction > 0:
        models["CAE"] = train_2d(x_train, args, args.contraction)
    codes = {label: model.encode(x_test) for label, model in models.items()}
    trust = trustworthiness_scores(c_test, codes, n_neighbors=args.neighbors)
    first, second = COORDINATE_NAMES[name]
    rows = []
    for label, code in codes.items():
        r2 = coordinate_recovery(code, c_test, n_neighbors=args.neighbors)
        rows.append({"dataset": name, "method": label, "trustworthiness": round(trust[label], 4),
                     "coordinates": f"{first} / {second}", "kNN R2": f"{r2[0]:.3f} / {r2[1]:.3f}",
                     "kNN R2 mean": round(float(r2.mean()), 4),
                     "Spearman (1st coord.)": round(rank_correlation(code, c_test[:, 0]), 4),
                     "reconstruction mse": round(float(np.mean((models[label].reconstruct(x_test) - x_test) ** 2)), 5)})
    save_points_3d(x_test, c_test[:, 0], out / f"{name}_data.png", f"{name} test points, colour = {first}")
    for i, coordinate in enumerate((first, second)):
        save_code_scatter(codes, c_test[:, i], out / f"{name}_codes_by_{coordinate}.png",
                          title=f"{name}: 2-D codes coloured by {coordinate} (title: trustworthiness)", scores=trust)
    return rows


def main(argv: list[str] | None = None) -> dict:
    """Runs every dataset, prints the table, writes figures and ``results.json``.

    Example:
        >>> main(["--datasets", "swiss_roll", "--epochs", "50"])  # doctest: +SKIP
    """
    args = parse_args(argv)
    out = Path(args.out)
    rows = [row for name in args.datasets for row in run_dataset(name, args, out)]
    results = {}
    for name in args.datasets:
        score = {r["method"]: r["trustworthiness"] for r in rows if r["dataset"] == name}
        results[name] = {"trustworthiness": score, "ae_beats_pca": score["AE"] > score["PCA"]}
    write_results(out, results, rows, args)
    return results


if __name__ == "__main__":
    main()
