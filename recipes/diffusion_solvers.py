"""Recipe: compare the samplers of a saved diffusion model: FCD, distance to the ODE solution, speed.

Loads a model saved by ``recipes/diffusion.py`` and draws ``--n-samples`` images from the
same starting noise (same seed, same batch size) with each sampler of ``--samplers``
(default DDIM 50 steps, DDIM 10 steps, DPM-Solver++(2M) 10 steps), then reports per sampler:

* **FCD** against the test images, scored as ``recipes/diffusion.py`` scores its samples
  (the cached mnist10k classifier, ``SampleQuality(extractor, x_test, x_train)``);
* **ms / image** of the compiled loop (one ``tf.while_loop``): the fastest of
  ``--timing-repeats`` draws of ``--timing-images`` images, the samplers taking turns (other
  jobs share the CPU), after a warm-up call that traces each loop;
* **mean abs diff. to ODE**: mean absolute pixel difference, on the first ``--reference-images``
  images, to DDIM with every one of the model's ``T`` steps (deterministic DDIM and
  DPM-Solver++ both solve the probability-flow ODE from the same noise; ``T`` steps is the
  finest walk of the model's timesteps);
* a grid of 100 samples per sampler (``samples_<method>_<steps>.png``).

Usage:
    python recipes/diffusion_solvers.py runs/diffusion/diffusion.keras --n-samples 2000 --out runs/diffusion_solvers
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras_ae  # noqa: F401  (first: it hides TensorFlow's C++ start-up lines, keras_ae.quiet)

import keras
import numpy as np

from keras_ae.evaluation import SampleQuality, dataset_classifier
from keras_ae.experiment import load_recipe_data, recipe_parser, write_results
from keras_ae.models.diffusion import METHODS
from keras_ae.plotting import save_image_grid

NAMES = {"ddim": "DDIM", "ddpm": "DDPM", "dpm++2m": "DPM-Solver++(2M)"}


def sampler(text: str) -> tuple[str, int]:
    """``"METHOD:STEPS"`` (e.g. ``dpm++2m:10``) as ``(method, steps)``."""
    method, _, steps = text.rpartition(":")
    if method not in METHODS or not steps.isdigit():
        raise argparse.ArgumentTypeError(f"expected METHOD:STEPS with METHOD one of {METHODS}, got {text!r}")
    return method, int(steps)


def parse_args(argv=None):
    parser = recipe_parser("diffusion_solvers", __doc__.splitlines()[0], dataset="mnist")
    parser.add_argument("model", metavar="MODEL.keras", help="a diffusion model saved by recipes/diffusion.py")
    parser.add_argument("--samplers", type=sampler, nargs="+", default=[("ddim", 50), ("ddim", 10), ("dpm++2m", 10)],
                        metavar="METHOD:STEPS", help=f"samplers to compare, METHOD one of {METHODS}")
    parser.add_argument("--n-samples", type=int, default=2000, help="images per sampler (FCD, grids)")
    parser.add_argument("--batch-size", type=int, default=500, help="images walked in parallel")
    parser.add_argument("--reference-images", type=int, default=50,
                        help="images compared to the T-step DDIM walk (0: skip it)")
    parser.add_argument("--timing-images", type=int, default=100, help="images per timed draw")
    parser.add_argument("--timing-repeats", type=int, default=3, help="timed draws per sampler (the fastest counts)")
    parser.add_argument("--cache-dir", default=None, help="feature-classifier cache (default ~/.cache/keras_ae)")
    return parser.parse_args(argv)


def sampler_speed(model, samplers, n: int, repeats: int, seed: int) -> dict[tuple[str, int], float]:
    """Milliseconds per image of each ``(method, steps)``: the fastest of ``repeats`` draws of ``n``
    images, the samplers taking turns, after a warm-up call that traces each compiled loop."""
    for method, steps in samplers:
        model.sample(2, steps=steps, method=method, seed=seed)
    best = {}
    for _ in range(repeats):
        for method, steps in samplers:
            start = time.perf_counter()
            model.sample(n, steps=steps, method=method, seed=seed, batch_size=n)
            best[method, steps] = min(best.get((method, steps), np.inf), time.perf_counter() - start)
    return {key: 1000 * seconds / n for key, seconds in best.items()}


def main(argv=None) -> dict:
    args = parse_args(argv)
    keras.utils.set_random_seed(args.seed)
    (x_train, y_train), (x_test, y_test) = load_recipe_data(args)
    extractor = dataset_classifier(x_train, y_train, dataset=f"{args.dataset}{len(x_train)}", x_test=x_test,
                                   y_test=y_test, cache_dir=args.cache_dir, seed=args.seed)
    quality = SampleQuality(extractor, x_test, x_train, verbose=0)
    model = keras.saving.load_model(args.model)
    print(f"model: {args.model} (T = {model.timesteps}, {model.schedule_name} schedule)")
    os.makedirs(args.out, exist_ok=True)

    reference = None
    n_ref = min(args.reference_images, args.n_samples)
    if n_ref:  # the first images of every draw start from the same noise (batch 0 of the seed)
        start = time.perf_counter()
        reference = model.sample(n_ref, steps=model.timesteps, method="ddim", seed=args.seed,
                                 batch_size=args.batch_size)
        print(f"ODE reference: {n_ref} images, DDIM {model.timesteps} steps ({time.perf_counter() - start:.0f} s)")

    speed = sampler_speed(model, args.samplers, args.timing_images, args.timing_repeats, args.seed)
    rows, runs = [], {}
    for method, steps in args.samplers:
        start = time.perf_counter()
        images = model.sample(args.n_samples, steps=steps, method=method, seed=args.seed, batch_size=args.batch_size)
        seconds = time.perf_counter() - start
        metrics = quality.evaluate(images, verbose=0)
        label = f"{method}_{steps}"
        save_image_grid(images[:100], os.path.join(args.out, f"samples_{label}.png"),
                        title=f"{NAMES[method]}, {steps} steps (EMA weights, seed {args.seed})")
        runs[label] = {"method": method, "steps": steps, "fcd": metrics["frechet_distance"],
                       "fcd_real_floor": metrics["frechet_distance_real"],
                       "classes_covered": metrics["classes_covered"], "draw_seconds": seconds,
                       "ms_per_image": speed[method, steps]}
        row = {"method": NAMES[method], "steps": steps, "FCD": round(metrics["frechet_distance"], 3),
               "classes covered": metrics["classes_covered"], "ms / image": round(speed[method, steps], 2)}
        if reference is not None:
            runs[label]["abs_difference_to_ode"] = float(np.abs(images[:n_ref] - reference).mean())
            row[f"mean abs diff. to ODE ({n_ref} images)"] = round(runs[label]["abs_difference_to_ode"], 4)
        rows.append(row)
        print(f"{NAMES[method]} {steps} steps: FCD {row['FCD']}, {row['ms / image']} ms / image")

    results = {"model": os.path.abspath(args.model), "n_samples": args.n_samples, "batch_size": args.batch_size,
               "timing_images": args.timing_images, "timing_repeats": args.timing_repeats,
               "seed": args.seed, "fcd_real_floor": next(iter(runs.values()))["fcd_real_floor"] if runs else None,
               "reference_images": n_ref, "reference_steps": model.timesteps if n_ref else None, "runs": runs,
               "load_average": os.getloadavg()}
    write_results(args.out, results, rows, args)
    return results


if __name__ == "__main__":
    main()
