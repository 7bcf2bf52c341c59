"""RealNVP's learning curve: test bits/dim against training seconds, the default flow and measured changes.

Each variant is ``build_realnvp`` (its defaults, or the variant's changes), ``compile()``
with no arguments and ``fit`` on the 8-bit training images (dequantized afresh every batch)
at the batch size a user copying the builder's docstring passes (64), for the same budget of
training seconds; every ``--every`` epochs the clock stops and the model is scored on the
test split: bits/dim of the dequantization bound with one draw of ``u`` per image (the
curve's scorer; the final number of ``recipes/flow.py`` takes two). The clock is
``time_to_quality.QualityClock``: scoring time is not training time.

The table gives, per variant, the bits/dim after several training times, the best, the
gain over the last quarter of the budget (how flat the curve has become), and when the
variant first reached the default flow's final bits/dim: a change reaching it sooner is a
candidate default. One process, variants one after the other (the same machine load for all
as far as a busy machine allows: the load average is printed).

Usage:
    python recipes/flow_curve.py                                  # the default flow, 40 minutes
    python recipes/flow_curve.py --variants default blocks1 --budget 20
    python recipes/flow_curve.py --variants default ema bf16 --every 2   # the docs' curves
    python recipes/flow_curve.py --dataset digits --budget 0.2 --variants default tiny  # a smoke run
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import keras_ae  # noqa: F401  (first: it hides TensorFlow's C++ start-up lines, keras_ae.quiet)

import keras
import numpy as np

from keras_ae.errors import InputValidationError
from keras_ae.experiment import load_recipe_data, recipe_parser, write_results
from keras_ae.models.flow import build_realnvp
from keras_ae.plotting import save_curves

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling flow and time_to_quality modules
from flow import eight_bit  # noqa: E402  (recipes/flow.py: the same 8-bit images)
from time_to_quality import MAX_EPOCHS, Measure, QualityClock, first_reach, warm_up  # noqa: E402

# Changes to build_realnvp's defaults that a curve can be compared on. "precision" is the
# Keras dtype policy of training (scoring is always float32, on a float32 twin of the flow);
# "ema_momentum" gives compile()'s default Adam weight averaging, as the VAE and the VQ-VAE
# have (the clock scores the averages).
VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    "blocks1": {"blocks": 1},           # recipes/flow.py's ResNets: half the coupling depth
    "filters32": {"filters": 32},
    "bf16": {"precision": "mixed_bfloat16"},
    "ema": {"ema_momentum": 0.99},
    "tiny": {"filters": 8, "blocks": 1},  # smoke runs only
}
BATCH_SIZE = 64  # build_realnvp's docstring example
BITS = Measure("test bits/dim", higher_is_better=False)
MARKS_MINUTES = (2, 5, 10, 20, 30, 40, 60)


def run_variant(name: str, x_train: np.ndarray, x_test: np.ndarray, budget_seconds: float, every: int,
                seed: int) -> dict[str, Any]:
    """Trains one variant under ``budget_seconds`` of training; returns its curve ``(seconds, epoch, bits/dim)``."""
    changes = dict(VARIANTS[name])
    precision = changes.pop("precision", "float32")
    ema_momentum = changes.pop("ema_momentum", None)
    kwargs = dict(image_shape=x_train.shape[1:], seed=seed, **changes)
    keras.utils.set_random_seed(seed)
    keras.mixed_precision.set_global_policy(precision)
    try:
        model = build_realnvp(**kwargs)
        if ema_momentum is not None:
            model.default_ema_momentum = ema_momentum  # what compile() reads to choose its optimizer
        model.compile()
    finally:
        keras.mixed_precision.set_global_policy("float32")
    scored = model
    if precision != "float32":
        scored = build_realnvp(**kwargs)  # float32 twin: exact log-likelihoods

    def score() -> float:
        if scored is not model:
            scored.set_weights(model.get_weights())
        return float(scored.bits_per_dim(x_test, seed=0).mean())

    clock = QualityClock(score, budget_seconds, every)
    keras.mixed_precision.set_global_policy(precision)
    try:
        model.fit(x_train, epochs=MAX_EPOCHS, batch_size=BATCH_SIZE, callbacks=[clock], verbose=0)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    return {"variant": name, "changes": VARIANTS[name], "params": model.count_params(), "epochs": clock.epochs,
            "train_seconds": round(clock.train_seconds, 1), "score_seconds": round(clock.score_seconds, 1),
            "curve": [[round(t, 2), e, round(s, 4)] for t, e, s in clock.curve]}


def at_time(curve: Sequence[Sequence[float]], seconds: float) -> float | None:
    """The best bits/dim scored by ``seconds`` of training (``None``: nothing scored yet).

    Example:
        >>> at_time([(10.0, 1, 3.0), (20.0, 2, 2.5)], 15.0)
        3.0
    """
    scores = [s for t, _, s in curve if t <= seconds]
    return min(scores) if scores else None


def curve_row(run: dict[str, Any], target: float, budget_seconds: float) -> dict[str, Any]:
    """The table row of one variant: bits/dim at the marks, best, last-quarter gain, time to ``target``."""
    curve = run["curve"]
    marks = {f"{m} min": at_time(curve, 60.0 * m) for m in MARKS_MINUTES if 60.0 * m <= budget_seconds}
    best = min(s for _, _, s in curve)
    last_quarter = at_time(curve, 0.75 * run["train_seconds"])
    reach = first_reach(curve, target, BITS)
    return {"variant": run["variant"], "params": run["params"], "epochs": run["epochs"],
            **{k: "-" if v is None else round(v, 3) for k, v in marks.items()}, "best": round(best, 3),
            "gain in the last quarter": "-" if last_quarter is None else round(last_quarter - best, 3),
            "reaches default's final at (s)": "never" if reach is None else round(reach, 0)}


def parse_args(argv: list[str] | None = None):
    """Command-line arguments.

    Example:
        >>> parse_args(["--variants", "default", "blocks1", "--budget", "5"]).variants
        ['default', 'blocks1']
    """
    parser = recipe_parser("flow_curve", __doc__.splitlines()[0], dataset="mnist", epochs=0)
    parser.add_argument("--variants", nargs="+", default=["default"], choices=tuple(VARIANTS),
                        help="build_realnvp variants to train, one after the other (the first: the reference)")
    parser.add_argument("--budget", type=float, default=40.0, metavar="MINUTES",
                        help="training minutes per variant (scoring excluded)")
    parser.add_argument("--every", type=int, default=1, help="score every N epochs")
    parser.add_argument("--test-images", type=int, default=None, help="score on the first N test images")
    args = parser.parse_args(argv)
    if not args.budget > 0 or args.every < 1:
        raise InputValidationError(f"--budget must be > 0 minutes and --every >= 1, got {args.budget!r} and "
                                   f"{args.every!r}.")
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Trains every variant, prints the table, writes ``results.json`` and ``realnvp_curve.png``."""
    args = parse_args(argv)
    (x_train, _), (x_test, _) = load_recipe_data(args)
    x_train, x_test = eight_bit(x_train), eight_bit(x_test)[: args.test_images]
    budget = 60.0 * args.budget
    print(f"{args.dataset}: {len(x_train)} train / {len(x_test)} test 8-bit images; variants "
          f"{' '.join(args.variants)}; {args.budget:g} training minutes each; load average "
          f"{[round(v, 2) for v in os.getloadavg()]}")
    warm_up()
    runs = []
    for name in args.variants:
        start = time.perf_counter()
        runs.append(run_variant(name, x_train, x_test, budget, args.every, args.seed))
        curve = runs[-1]["curve"]
        print(f"  {name}: {runs[-1]['epochs']} epochs in {runs[-1]['train_seconds']} s, final {curve[-1][2]:.4f} "
              f"bits/dim (wall {time.perf_counter() - start:.0f} s; load {[round(v, 2) for v in os.getloadavg()]})")
    target = runs[0]["curve"][-1][2]
    rows = [curve_row(run, target, budget) for run in runs]
    figure = save_curves({run["variant"]: ([t / 60.0 for t, _, _ in run["curve"]], [b for _, _, b in run["curve"]])
                          for run in runs}, Path(args.out) / "realnvp_curve.png", "training minutes (scoring excluded)",
                         "test bits/dim (1 dequantization draw)", "RealNVP: test bits/dim against training time")
    results = {"dataset": args.dataset, "budget_minutes": args.budget, "batch_size": BATCH_SIZE,
               "reference_final_bits_per_dim": target, "runs": runs, "figure": str(figure)}
    write_results(Path(args.out), results, rows, args)  # prints the table
    print(f"figure: {figure}")
    return results


if __name__ == "__main__":
    main()
