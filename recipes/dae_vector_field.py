"""A denoising auto-encoder learns to map corrupted points back onto the data manifold.

2-D points on a 1-D manifold (a circle of radius 1 and a 1.5-turn spiral, from
:mod:`keras_ae.data.curves`) train a dense DAE (squared error, isotropic Gaussian
corruption of std ``--noise`` during training only). Its vector field
``g(f(x~)) - x~`` is drawn as a quiver plot over a grid (arrows at true scale: an arrow
ends where one denoising step sends its point), and scored on a fresh corrupted test set
(same noise) with :func:`keras_ae.evaluation.denoising_field.denoising_field`:

- the median cosine between the displacement and the direction to the nearest manifold
  point (exact radial projection for the circle, dense sampling for the spiral), over the
  corrupted points within the noise radius (at most ``2 * noise`` from the manifold, i.e.
  the bulk of the corruption: the normal component is a 1-D Gaussian, within 2 std 95%
  of the time); target >= 0.9;
- the mean distance to the manifold before and after one denoising step.

The clean training points are resampled nowhere: the corruption layer draws fresh noise at
every step, so 4,000 clean points are plenty. Runs in about a minute on a CPU::

    python recipes/dae_vector_field.py
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import keras_ae  # noqa: F401  (first: it hides TensorFlow's C++ start-up lines, keras_ae.quiet)

import keras
import numpy as np

from keras_ae.data.curves import CURVES
from keras_ae.evaluation.denoising_field import denoising_field, field_summary
from keras_ae.experiment import fit_recipe_model, recipe_parser, write_results
from keras_ae.models import build_denoising_ae
from keras_ae.plotting._common import _pyplot, _save


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line arguments (``--dataset`` / ``--data-dir`` are unused: the data are generated).

    Example:
        >>> parse_args([]).curves
        ['circle', 'spiral']
    """
    parser = recipe_parser("dae_vector_field", __doc__.split("\n\n")[0], dataset="curves", epochs=150)
    parser.add_argument("--curves", nargs="+", default=["circle", "spiral"], choices=sorted(CURVES))
    parser.add_argument("--noise", type=float, default=0.05, help="Gaussian corruption std")
    parser.add_argument("--n-train", type=int, default=4000, help="clean training points")
    parser.add_argument("--n-test", type=int, default=2000, help="corrupted test points")
    parser.add_argument("--hidden", type=int, nargs="+", default=[128, 128], help="encoder hidden widths")
    parser.add_argument("--code-dim", type=int, default=64,
                        help="code size (over-complete: the DAE is not a bottleneck)")
    parser.add_argument("--batch-size", type=int, default=64, help="mini-batch size")
    parser.add_argument("--learning-rate", type=float, default=1e-3, help="initial Adam learning rate")
    parser.add_argument("--no-decay", action="store_true", help="constant learning rate (default: cosine decay to 0)")
    parser.add_argument("--verbose", type=int, default=0, help="Keras fit verbosity (0, 1 or 2)")
    return parser.parse_args(argv)


def draw_fields(panels: dict, path: Path, noise: float, grid: int = 25, extent: float = 1.3) -> Path:
    """One quiver panel per curve: the manifold, test points and the DAE's field on a grid."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 6))
    for ax, (name, (model, curve, summary)) in zip(np.atleast_1d(axes), panels.items()):
        u = np.linspace(-extent, extent, grid)
        xy = np.stack(np.meshgrid(u, u), axis=-1).reshape(-1, 2).astype(np.float32)
        d = model.reconstruct(xy) - xy
        ax.plot(curve[:, 0], curve[:, 1], "k-", lw=1.5, label="manifold")
        # True scale (scale=1 in data units): an arrow ends where one step sends its point.
        ax.quiver(xy[:, 0], xy[:, 1], d[:, 0], d[:, 1], np.linalg.norm(d, axis=1), angles="xy",
                  scale_units="xy", scale=1, width=0.003, cmap="viridis")
        ax.set_aspect("equal")
        ax.set_xlim(-extent, extent)
        ax.set_ylim(-extent, extent)
        ax.set_title(f"{name}: median cos {summary['median_cosine']:.3f}, "
                     f"dist {summary['mean_distance_before']:.3f} -> {summary['mean_distance_after']:.3f}")
    fig.suptitle(f"DAE vector field g(f(x~)) - x~ (Gaussian noise std {noise:g})")
    return _save(fig, path)


def main(argv: list[str] | None = None) -> dict:
    """Trains one DAE per curve, scores and draws its field; returns the numbers.

    Example:
        >>> main(["--epochs", "1", "--curves", "circle"])  # doctest: +SKIP
    """
    args = parse_args(argv)
    out = Path(args.out)
    results, rows, panels = {"noise": args.noise, "radius": 2 * args.noise, "curves": {}}, [], {}
    for name in args.curves:
        generate, project = CURVES[name]
        keras.utils.set_random_seed(args.seed)
        x_train, _ = generate(args.n_train, noise=0.0, seed=args.seed)
        x_clean, _ = generate(args.n_test, noise=0.0, seed=args.seed + 1)
        x_noisy = (x_clean + args.noise * np.random.default_rng(args.seed + 2).standard_normal(x_clean.shape)
                   ).astype(np.float32)
        model = build_denoising_ae(2, noise="gaussian", level=args.noise, architecture="dense", clip=None,
                                   hidden=tuple(args.hidden), code_dim=args.code_dim, loss="mse",
                                   name=f"dae_{name}")
        # Cosine decay to 0: the regression target is noisy (a fresh corruption every step), and
        # at a constant rate SGD noise leaves the outputs ~0.01 off the manifold, which
        # randomises the direction for the points closest to it.
        steps = args.epochs * int(np.ceil(args.n_train / args.batch_size))
        rate = (args.learning_rate if args.no_decay
                else keras.optimizers.schedules.CosineDecay(args.learning_rate, steps))
        model.compile(optimizer=keras.optimizers.Adam(rate))
        start = time.perf_counter()
        fit_recipe_model(model, x_train, args, epochs=args.epochs, batch_size=args.batch_size, verbose=args.verbose)
        seconds = time.perf_counter() - start
        field = denoising_field(model.reconstruct, x_noisy, project)
        near = field_summary(field, radius=2 * args.noise)
        everything = field_summary(field)
        results["curves"][name] = {"within_noise_radius": near, "all_test_points": everything, "train_seconds": seconds}
        rows.append({"curve": name, "noise std": args.noise, "epochs": args.epochs, "points <= 2 std": near["n"],
                     "median cos": near["median_cosine"], "cos > 0.9": near["fraction_cosine_above_0.9"],
                     "dist before": near["mean_distance_before"], "dist after": near["mean_distance_after"],
                     "train (s)": round(seconds, 1)})
        t = np.linspace(0, 1, 2000)
        curve = project(np.stack([np.cos(2 * np.pi * t), np.sin(2 * np.pi * t)], 1)) if name == "circle" else None
        if curve is None:
            from keras_ae.data.curves import SPIRAL_T0, SPIRAL_T1, spiral_points

            curve = spiral_points(SPIRAL_T0 + (SPIRAL_T1 - SPIRAL_T0) * t)
        panels[name] = (model, curve, near)
    results["figure"] = str(draw_fields(panels, out / "dae_vector_field.png", args.noise))
    results["meets_target"] = all(v["within_noise_radius"]["median_cosine"] >= 0.9 for v in results["curves"].values())
    write_results(out, results, rows, args)
    return results


if __name__ == "__main__":
    main()
