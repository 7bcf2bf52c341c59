"""Plain, denoising and contractive auto-encoders of one architecture: Jacobians and tangent planes.

All three models share the architecture (by default a 784-500-250-30 sigmoid encoder, a
mirrored sigmoid decoder and cross-entropy; the contractive one is penalised with
``jacobian="auto"``, here one random projection per example); they differ only in the
regulariser: none, input corruption (masking noise), or the contractive penalty
``lambda ||J_f(x)||_F^2``. On the test split the recipe prints

* the reconstruction error (sum of squared errors per image),
* the mean Frobenius norm of the encoder's Jacobian (exact),
* the contraction ratio ``||f(x + d) - f(x)|| / ||d||`` for random ``d`` of several lengths,
* the spread of the code (mean standard deviation of a code unit over the test set): an
  untied decoder lets a model lower ``||J||`` partly by shrinking its code and scaling the
  decoder up; ``--tied`` (Rifai et al.'s setting) rules that out,

and saves the tangent planes (top right singular vectors of the Jacobian) of a few test
digits: the lecture's "check the tangent planes" picture.

    python recipes/contractive.py                                         # mnist10k, ~10 min on 2 cores
    python recipes/contractive.py --hidden --code-dim 1000 --tied          # Rifai et al.'s one layer
    python recipes/contractive.py --dataset digits --epochs 30 --hidden 64 --code-dim 16
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import keras_ae  # noqa: F401  (first: it hides TensorFlow's C++ start-up lines, keras_ae.quiet)

import keras

from keras_ae.data import Corruption
from keras_ae.evaluation import reconstruction_error
from keras_ae.experiment import fit_recipe_model, load_recipe_data, recipe_parser, write_results
from keras_ae.manifold import contraction_ratio, jacobian_norm, tangent_plane
from keras_ae.models import build_dense_ae, build_tied_ae
from keras_ae.models.contractive import build_contractive_ae
from keras_ae.plotting import save_contraction_curves, save_tangent_planes


MODELS = ("AE", "DAE", "CAE")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line arguments; the defaults are the tuned MNIST settings.

    Example:
        >>> parse_args([]).code_dim
        30
    """
    parser = recipe_parser("contractive", __doc__.split("\n\n")[0], dataset="mnist", epochs=40)
    parser.add_argument("--hidden", type=int, nargs="*", default=[500, 250],
                        help="encoder hidden widths before the code")
    parser.add_argument("--code-dim", type=int, default=30, help="code units (overcomplete is fine)")
    parser.add_argument("--activation", default="sigmoid", help="hidden and code activation")
    parser.add_argument("--tied", action="store_true", help="decoder kernels = encoder kernels transposed")
    parser.add_argument("--contraction", type=float, default=4e-3, help="CAE penalty weight lambda")
    parser.add_argument("--jacobian", default="auto", choices=("auto", "closed_form", "exact", "stochastic"))
    parser.add_argument("--noise", default="masking", help="DAE corruption: gaussian, masking or salt_pepper")
    parser.add_argument("--noise-level", type=float, default=0.25, help="DAE corruption level")
    parser.add_argument("--batch-size", type=int, default=128, help="mini-batch size")
    parser.add_argument("--learning-rate", type=float, default=2e-3, help="Adam learning rate")
    parser.add_argument("--radii", type=float, nargs="+", default=[0.1, 0.3, 1.0, 3.0, 10.0],
                        help="perturbation lengths of the contraction curve")
    parser.add_argument("--curve-examples", type=int, default=500, help="test examples used for the contraction curve")
    parser.add_argument("--tangents", type=int, default=5, help="tangent directions shown per digit")
    parser.add_argument("--digits", type=int, default=6, help="test digits in the tangent-plane figure")
    parser.add_argument("--verbose", type=int, default=2, help="Keras fit verbosity")
    return parser.parse_args(argv)


def build(kind: str, shape: tuple, args: argparse.Namespace) -> keras.Model:
    """The ``AE``, ``DAE`` or ``CAE`` of the shared architecture.

    Example:
        >>> model = build("CAE", (28, 28, 1), parse_args([]))
    """
    hidden = tuple(args.hidden)
    common = dict(hidden=hidden, code_dim=args.code_dim, activation=args.activation, code_activation=args.activation,
                  loss="bce", name=kind.lower())
    if kind == "CAE":
        return build_contractive_ae(shape, contraction=args.contraction, jacobian=args.jacobian, tied=args.tied,
                                    seed=args.seed, **common)
    corruption = Corruption(args.noise, args.noise_level, name="corruption") if kind == "DAE" else None
    builder = build_tied_ae if args.tied else build_dense_ae
    return builder(shape, corruption=corruption, **common)


def main(argv: list[str] | None = None) -> dict:
    """Trains the three models, prints the table, writes figures and ``results.json``.

    Example:
        >>> main(["--dataset", "digits", "--epochs", "5", "--code-dim", "64"])  # doctest: +SKIP
    """
    args = parse_args(argv)
    out = Path(args.out)
    (x_train, _), (x_test, _) = load_recipe_data(args)
    rows, metrics, curves = [], {}, {}
    shown = x_test[: args.digits]
    for kind in MODELS:
        keras.utils.set_random_seed(args.seed)
        model = build(kind, x_train.shape[1:], args)
        model.compile(optimizer=keras.optimizers.Adam(args.learning_rate))
        started = time.perf_counter()
        fit_recipe_model(model, x_train, args, name=kind.lower(), x_test=x_test, epochs=args.epochs,
                         batch_size=args.batch_size,
                         verbose=args.verbose)
        seconds = time.perf_counter() - started
        error = float(reconstruction_error(model, x_test).mean())
        norm = float(jacobian_norm(model, x_test).mean())
        spread = float(model.encode(x_test).std(axis=0).mean())
        curves[kind] = contraction_ratio(model, x_test[: args.curve_examples], args.radii, seed=args.seed).tolist()
        planes = tangent_plane(model, shown, k=args.tangents)
        save_tangent_planes(shown, planes, out / f"tangents_{kind.lower()}.png",
                            title=f"{kind}: input and top-{args.tangents} tangent directions (s = singular value)")
        metrics[kind] = {"reconstruction_sse": error, "jacobian_norm": norm, "code_spread": spread,
                         "contraction_ratio": curves[kind],
                         "train_seconds": seconds, "jacobian_method": getattr(model, "resolved_jacobian", None)}
        row = {"model": kind, "test squared error / image": round(error, 3), "mean ||J||_F": round(norm, 3),
               "code spread": round(spread, 4)}
        row.update({f"ratio r={r:g}": round(c, 4) for r, c in zip(args.radii, curves[kind])})
        rows.append({**row, "train s": round(seconds)})
    save_contraction_curves(args.radii, curves, out / "contraction_curves.png",
                            title=f"contraction ratio on {args.curve_examples} test digits")
    results = {
        **metrics,
        "jacobian_norm_ae_over_cae": metrics["AE"]["jacobian_norm"] / metrics["CAE"]["jacobian_norm"],
        "reconstruction_cae_over_ae": metrics["CAE"]["reconstruction_sse"] / metrics["AE"]["reconstruction_sse"],
        "split": f"{args.dataset} ({len(x_train)} train / {len(x_test)} test)",
    }
    results["targets_met"] = results["jacobian_norm_ae_over_cae"] >= 3 and results["reconstruction_cae_over_ae"] <= 1.2
    write_results(out, results, rows, args)
    print(f"||J|| AE / CAE = {results['jacobian_norm_ae_over_cae']:.2f} (target >= 3), "
          f"error CAE / AE = {results['reconstruction_cae_over_ae']:.3f} (target <= 1.2) on {results['split']}")
    return results


if __name__ == "__main__":
    main()
