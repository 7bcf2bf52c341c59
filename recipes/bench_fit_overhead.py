"""Per-call ``fit`` overhead: one ``fit(x, epochs=1)`` call, keras_ae's defaults against plain Keras.

For the default VAE (``build_vae()`` + ``compile()``) and the default dense auto-encoder
(``build_dense_ae()`` + ``compile()``), and for the keras.io-style Keras model of the same
architecture beside each (``recipes/keras_io_reference.py``: ``plain_vae``, the keras.io VAE
with its own ``train_step``; ``plain_dense_ae`` with ``compile("adam", "binary_crossentropy")``),
one process times the wall (and CPU) time of a whole ``model.fit(x, epochs=1, batch_size=B,
verbose=0)`` call on a small and a large slice of the data (256 and 8,000 MNIST images).

Every model's first call (tracing, graph building) is timed on its own; then each variant
is warmed up and the variants run in turn, round after round (keras_ae and plain Keras
alternating, so load from other jobs hits both sides alike), and the median of the rounds
is reported. The per-call overhead is the part of a call that does not scale with the data:

    overhead = time(small) - small / large * time(large)

(the small call minus its share of the large call's per-image cost). The VAE trains on
binarized images, as in ``recipes/benchmark.py``.

    python recipes/bench_fit_overhead.py                    # ~2 minutes on 2 cores
    python recipes/bench_fit_overhead.py --repeats 11 --batch-size 100
"""

from __future__ import annotations

import argparse
import inspect
import math
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import keras_ae  # noqa: F401  (first: it hides TensorFlow's C++ start-up lines, keras_ae.quiet)

import keras
import numpy as np

from keras_ae.benchmarking import interleaved, load_average, median
from keras_ae.data import binarize
from keras_ae.errors import InputValidationError
from keras_ae.experiment import (describe_recipe_data, format_table, load_recipe_data, machine_description,
                                 recipe_parser, write_results)
from keras_ae.models.dense import build_dense_ae
from keras_ae.models.vae import build_vae
from keras_ae.validation import check_array, check_int

# The keras.io side (a sibling module: recipes/ is on sys.path when this runs).
from keras_io_reference import compile_keras_io, plain_dense_ae, plain_vae

COMMAND = "python recipes/bench_fit_overhead.py"
FAMILIES = ("vae", "dense")
SIDES = ("keras_ae", "plain Keras")
SECTION_TITLE = "## Per-call `fit` overhead"


# -- the models ------------------------------------------------------------------------------------
def _default(builder: Callable, name: str) -> Any:
    return inspect.signature(builder).parameters[name].default


def model_factories(shape: tuple, seed: int = 0) -> dict[str, dict[str, Callable[[], keras.Model]]]:
    """Family -> side -> a factory returning a compiled model; both sides of a family share one architecture.

    The plain models take their widths from the builders' defaults, so the two sides stay
    the same size when a default changes.

    Example:
        >>> factories = model_factories((8, 8, 1))
        >>> sorted(factories), sorted(factories["vae"])
        (['dense', 'vae'], ['keras_ae', 'plain Keras'])
    """
    def compiled(model: keras.Model) -> keras.Model:
        model.compile()
        return model

    vae_hidden, vae_latent = _default(build_vae, "hidden"), _default(build_vae, "latent_dim")
    ae_hidden, ae_code = _default(build_dense_ae, "hidden"), _default(build_dense_ae, "code_dim")
    return {
        "vae": {"keras_ae": lambda: compiled(build_vae(shape, seed=seed)),
                "plain Keras": lambda: compile_keras_io(plain_vae(shape, tuple(vae_hidden), vae_latent), None)},
        "dense": {"keras_ae": lambda: compiled(build_dense_ae(shape)),
                  "plain Keras": lambda: compile_keras_io(plain_dense_ae(shape, tuple(ae_hidden), ae_code),
                                                          "binary_crossentropy")},
    }


def model_label(family: str, shape: tuple) -> str:
    """The table's name of a family's default model on images of ``shape`` (its layer widths).

    Example:
        >>> model_label("vae", (28, 28, 1))
        'VAE 784-200-200-50'
    """
    if family == "vae":
        widths, name = (*_default(build_vae, "hidden"), _default(build_vae, "latent_dim")), "VAE"
    else:
        widths, name = (*_default(build_dense_ae, "hidden"), _default(build_dense_ae, "code_dim")), "dense AE"
    return f"{name} " + "-".join(str(w) for w in (math.prod(shape), *widths))


def _fit_call(model: keras.Model, x: np.ndarray, side: str, batch_size: int) -> Callable[[], None]:
    # keras_ae's auto-encoders take x alone; the plain dense AE is fit on (x, x) as keras.io does.
    args = (x, x) if side == "plain Keras" and not hasattr(model, "encoder") else (x,)

    def call() -> None:
        model.fit(*args, epochs=1, batch_size=batch_size, verbose=0)

    return call


def _n_weights(model: keras.Model) -> int:
    return int(sum(math.prod(v.shape) for v in model.trainable_weights))


# -- the measurement -------------------------------------------------------------------------------
def measure_fit_overhead(x: np.ndarray, sizes: Sequence[int] = (256, 8000), batch_size: int = 128,
                         repeats: int = 7, warmup: int = 2, families: Sequence[str] = FAMILIES, seed: int = 0,
                         verbose: int = 1) -> dict[str, Any]:
    """Times one ``fit(epochs=1)`` call of each family's keras_ae and plain model on ``sizes`` images.

    Args:
        x: Images in [0, 1], ``(n, height, width, channels)`` with ``n >= max(sizes)``.
        sizes: Two data sizes, small then large (images per ``fit`` call).
        batch_size: ``fit``'s batch size, the same on both sides.
        repeats: Timed rounds (median reported).
        warmup: Untimed calls of each variant after its first call.
        families: Any of ``"vae"`` and ``"dense"``.
        seed: Seed of the VAE's binarization and of the keras_ae VAE.
        verbose: 1 shows a progress bar over the rounds.

    Returns:
        ``{"rows": [...], "times": {...}, "cpu_times": {...}, "load_start": [...], "load_end": [...]}``:
        one row per family and side (milliseconds; the keras_ae rows carry the keras_ae / plain
        ratios), and every round's seconds per ``"family|side|size"``.

    Example:
        >>> (x, _), _ = keras_ae.load_dataset("digits")
        >>> result = measure_fit_overhead(x, sizes=(16, 64), batch_size=16, repeats=1, warmup=0,
        ...                               families=["dense"], verbose=0)  # doctest: +SKIP
        >>> [r["side"] for r in result["rows"]]  # doctest: +SKIP
        ['keras_ae', 'plain Keras']
    """
    x = check_array(x, "x", expected_shape=(None, None, None), value_range=(0.0, 1.0))
    if len(sizes) != 2 or check_int(sizes[0], "sizes[0]", minimum=1) >= check_int(sizes[1], "sizes[1]", minimum=2):
        raise InputValidationError(f"sizes must be two data sizes, small then large; got {tuple(sizes)}.")
    small, large = int(sizes[0]), int(sizes[1])
    if len(x) < large:
        raise InputValidationError(f"x has {len(x)} images; the large size needs {large}.")
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    repeats, warmup = check_int(repeats, "repeats", minimum=1), check_int(warmup, "warmup", minimum=0)
    unknown = [f for f in families if f not in FAMILIES]
    if unknown or not families:
        raise InputValidationError(f"families must be some of {FAMILIES}; got {list(families)}.")
    load_start = load_average()
    factories = model_factories(x.shape[1:], seed)
    data = {"vae": binarize(x[:large], seed=seed), "dense": x[:large]}
    models = {(f, side): factories[f][side]() for f in families for side in SIDES}

    # A user's first fit call traces the training step and builds the graph: timed on its own.
    first = {}
    for key, model in models.items():
        started = time.perf_counter()
        _fit_call(model, data[key[0]][:small], key[1], batch_size)()
        first[key] = time.perf_counter() - started

    # Sizes outermost, then families, then sides: every keras_ae call is followed by its plain twin.
    variants = {f"{f}|{side}|{n}": _fit_call(models[f, side], data[f][:n], side, batch_size)
                for n in (small, large) for f in families for side in SIDES}
    cpu_times: dict[str, list[float]] = {name: [] for name in variants}
    names = {id(fn): name for name, fn in variants.items()}

    def wall_and_cpu(fn: Callable[[], None]) -> float:
        started, cpu_started = time.perf_counter(), time.process_time()
        fn()
        wall = time.perf_counter() - started
        cpu_times[names[id(fn)]].append(time.process_time() - cpu_started)
        return wall

    times = interleaved(variants, repeats=repeats, warmup=warmup, verbose=verbose, timer=wall_and_cpu)
    if warmup:  # interleaved's warm-up calls go through no timer: keep the timed rounds only
        cpu_times = {name: t[-repeats:] for name, t in cpu_times.items()}

    def ms(name: str, clock: dict[str, list[float]] = times) -> float:
        return 1e3 * median(clock[name])

    rows = []
    for f in families:
        for side in SIDES:
            t_small, t_large = ms(f"{f}|{side}|{small}"), ms(f"{f}|{side}|{large}")
            rows.append({"model": model_label(f, x.shape[1:]), "side": side, "params": _n_weights(models[f, side]),
                         "first call (ms)": round(1e3 * first[f, side], 1),
                         f"{small} images (ms)": round(t_small, 1), f"{large} images (ms)": round(t_large, 1),
                         "overhead (ms)": round(t_small - small / large * t_large, 1),
                         "us/image": round(1e3 * t_large / large, 2),
                         f"{small} images (CPU ms)": round(ms(f"{f}|{side}|{small}", cpu_times), 1),
                         f"{large} images (CPU ms)": round(ms(f"{f}|{side}|{large}", cpu_times), 1)})
        ka, plain = rows[-2], rows[-1]
        for n in (small, large):
            ka[f"{n}: keras_ae / plain"] = round(ka[f"{n} images (ms)"] / plain[f"{n} images (ms)"], 2)
            plain[f"{n}: keras_ae / plain"] = ""
    return {"rows": rows, "times": times, "cpu_times": cpu_times, "first_call_s": {"|".join(k): v
                                                                                   for k, v in first.items()},
            "sizes": [small, large], "batch_size": batch_size, "repeats": repeats, "warmup": warmup,
            "load_start": load_start, "load_end": load_average()}


# -- the report ------------------------------------------------------------------------------------
def markdown_section(result: dict[str, Any], command: str = COMMAND, data: str = "") -> list[str]:
    """The "Per-call `fit` overhead" section of BENCHMARKS.md, as lines.

    Example:
        >>> lines = markdown_section({"rows": [{"model": "m", "side": "keras_ae"}], "sizes": [16, 64],
        ...                           "batch_size": 8, "repeats": 1, "warmup": 0, "load_start": [0.5, 0.4, 0.3],
        ...                           "load_end": [0.6, 0.4, 0.3], "written": "2026-12-01"})
        >>> lines[0]
        '## Per-call `fit` overhead'
    """
    small, large = result["sizes"]
    rows = result["rows"]
    pairs = [(ka, plain) for ka, plain in zip(rows[::2], rows[1::2]) if "overhead (ms)" in ka]
    summary = "; ".join(f"{ka['model']}: {ka['overhead (ms)']:g} ms for keras_ae against {plain['overhead (ms)']:g} "
                        "ms for plain Keras" for ka, plain in pairs)
    lines = [
        SECTION_TITLE, "",
        f"Written by `{command}` on {result.get('written', time.strftime('%Y-%m-%d'))}"
        + (f"; data: {data}" if data else "") + f". One `model.fit(x, epochs=1, batch_size={result['batch_size']}, "
        f"verbose=0)` call on {small} and on {large:,} images; keras_ae's builder defaults with `compile()` against "
        "the keras.io-style Keras model of the same architecture (`recipes/keras_io_reference.py`). 'first call': a "
        f"fresh model's first `fit` on {small} images (tracing included), timed on its own; then {result['warmup']} "
        f"warm-up calls per variant and {result['repeats']} interleaved rounds (keras_ae and plain alternating), "
        f"medians of wall time (and of the process's CPU time, less sensitive to other jobs) shown. 'overhead': "
        f"time({small}) - {small}/{large} x time({large}), the part of a call that does not grow with the data. "
        f"Load average (1, 5, 15 min) {result['load_start']} at the start, {result['load_end']} at the end "
        "(2 cores).", "",
        format_table(rows), "",
    ]
    if summary:
        lines += [f"Per-call overhead: {summary}.", ""]
    return lines


# -- command line ----------------------------------------------------------------------------------
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line arguments.

    Example:
        >>> parse_args([]).sizes
        [256, 8000]
    """
    parser = recipe_parser("bench_fit_overhead", __doc__.splitlines()[0], dataset="mnist", epochs=1)
    parser.add_argument("--sizes", type=int, nargs=2, default=[256, 8000], help="images per fit call: small, large")
    parser.add_argument("--batch-size", type=int, default=128, help="fit's batch size (both sides)")
    parser.add_argument("--repeats", type=int, default=7, help="timed rounds (median reported)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed calls per variant after its first call")
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES, help="models to time")
    parser.add_argument("--verbose", type=int, default=1, help="progress bar (0 to turn it off)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Runs the measurement, prints the table, writes ``results.json`` and ``section.md`` in ``--out``.

    Example:
        >>> main(["--repeats", "3"])  # doctest: +SKIP
    """
    args = parse_args(argv)
    (x, _), _ = load_recipe_data(args)  # DatasetNotAvailableError names the missing file
    data = describe_recipe_data(args)
    keras.utils.set_random_seed(args.seed)
    print(f"{data}; fit(epochs=1, batch_size={args.batch_size}) on {args.sizes[0]} and {args.sizes[1]} images; "
          f"load average {load_average()}")
    result = measure_fit_overhead(x, args.sizes, args.batch_size, args.repeats, args.warmup, args.families,
                                  args.seed, args.verbose)
    result["written"] = time.strftime("%Y-%m-%d %H:%M")
    result["data"] = data
    result["machine"] = machine_description()
    rows = result["rows"]
    headline = {f"{r['model']}|{r['side']}|{k}": r[k] for r in rows for k in r
                if k.endswith("(ms)") or k.endswith("/ plain")}
    write_results(args.out, {**headline, **{k: result[k] for k in ("load_start", "load_end", "sizes", "batch_size",
                                                                    "times", "cpu_times", "first_call_s")}},
                  rows, args)
    section = Path(args.out) / "section.md"
    command = " ".join([COMMAND, *(sys.argv[1:] if argv is None else argv)])
    section.write_text("\n".join(markdown_section(result, command, data)))
    print(f"load average at the start {result['load_start']}, at the end {result['load_end']}; "
          f"BENCHMARKS.md section: {section}")
    return result


if __name__ == "__main__":
    main()
