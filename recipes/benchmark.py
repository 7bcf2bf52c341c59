"""Benchmark suite: keras_ae against plain Keras and against the machine's matmul peak.

Every number comes from one process run: each row's variants (keras_ae's defaults, the
hand-written keras.io-style Keras model of the identical architecture from
``recipes/keras_io_reference.py``, XLA flipped, arrays through Keras' own adapter instead
of keras_ae's ``tf.data`` pipeline, ...) are warmed up, then timed in turn, round after
round, and the median of the rounds is reported, so load from other processes hits all
of them alike.

Sections: (1) training throughput and the keras_ae / plain ratio, (2) achieved GFLOP/s
against a 2048x2048 float32 ``tf.matmul`` measured in the same run, (3) XLA on/off and
NumPy vs ``tf.data`` input, (4) inference: Keras ``predict`` vs the exported SavedModel,
(5) scaling of the epoch time and peak memory with the data size, (6) per-topic rows
(contractive step, IWAE evaluation, Hamming search, PixelCNN sampling).

    python recipes/benchmark.py --quick        # about a minute: smoke run, no BENCHMARKS.md
    python recipes/benchmark.py                # full run (~10 min on 2 cores), writes BENCHMARKS.md
    python recipes/benchmark.py --from-json runs/benchmark/results.json   # re-write BENCHMARKS.md only
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras_ae  # noqa: F401  (first: it hides TensorFlow's C++ start-up lines, keras_ae.quiet)

import keras
import numpy as np
import tensorflow as tf

from keras_ae.applications.hashing import HammingIndex, pack_bits
from keras_ae.benchmarking import (EpochTimer, cpu_model, interleaved, load_average, matmul_peak_gflops, median,
                                   peak_rss_mb, reset_peak_rss, time_call, training_flops)
from keras_ae.data import binarize, corrupt, make_tf_dataset
from keras_ae.errors import DatasetNotAvailableError
from keras_ae.experiment import (describe_recipe_data, format_table, load_recipe_data, machine_description,
                                 recipe_parser, write_results)
from keras_ae.models.dense import build_dense_ae
from keras_ae.models.denoising import build_denoising_ae
from keras_ae.models.gan import build_dcgan
from keras_ae.models.pixelcnn import build_pixelcnn
from keras_ae.models.vae import build_vae
from keras_ae.training.defaults import XLA_MIN_EXAMPLES, prefers_xla

# The keras.io side of every training row (a sibling module: recipes/ is on sys.path when this runs).
from keras_io_reference import (compile_keras_io, plain_conv_ae, plain_dcgan, plain_dense_ae, plain_pixelcnn,
                                plain_vae)
import time_to_quality as ttq  # the "quality" section (a sibling recipe)

COMMAND = "python recipes/benchmark.py"
RECIPES = Path(__file__).resolve().parent


# -- arguments -------------------------------------------------------------------------------
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line arguments.

    Example:
        >>> parse_args(["--quick"]).quick
        True
    """
    parser = recipe_parser("benchmark", __doc__.split("\n\n")[0], dataset="mnist", epochs=1)
    parser.add_argument("--quick", action="store_true",
                        help="~1 minute smoke run: small data, 2 rounds, no BENCHMARKS.md")
    parser.add_argument("--markdown", default=None,
                        help="write the Markdown report here (default: BENCHMARKS.md for a full run, none for --quick)")
    parser.add_argument("--repeats", type=int, default=None, help="timed rounds per row (default 7, 2 with --quick)")
    parser.add_argument("--sections", default="train,inference,scaling,topics",
                        help="comma-separated sections to run: train, inference, scaling, topics, quality "
                             "(time to quality, recipes/time_to_quality.py: only when named)")
    parser.add_argument("--rows", default=None,
                        help="comma-separated training rows (default all): dense, dense_wide, conv_denoising, vae, "
                             "dcgan, pixelcnn; also the families of the quality section")
    parser.add_argument("--verbose", type=int, default=1, help="progress bars (0 to turn them off)")
    parser.add_argument("--from-json", default=None,
                        help="only re-write the Markdown report from a results.json of an earlier run (no measuring)")
    args = parser.parse_args(argv)
    args.repeats = args.repeats or (2 if args.quick else 7)
    if args.markdown is None and not args.quick:
        args.markdown = "BENCHMARKS.md"
    return args


def settings(quick: bool) -> dict[str, Any]:
    """Data sizes per row: the full run uses mnist10k's 8,000 training images where affordable.

    Example:
        >>> settings(True)["dense"]
        2048
    """
    if quick:
        return {"dense": 2048, "conv": 256, "vae": 1024, "dcgan": 64, "pixelcnn": 32, "pixelcnn_model": (16, 2),
                "scaling": (256, 512, 1024, 2048), "test": 512, "hamming": 100_000, "iwae_k": 50, "iwae_n": 20,
                "sample_n": 2}
    return {"dense": 8000, "conv": 2048, "vae": 8000, "dcgan": 512, "pixelcnn": 128, "pixelcnn_model": (64, 5),
            "scaling": (1000, 2000, 4000, 8000), "test": 2000, "hamming": 1_000_000, "iwae_k": 5000, "iwae_n": 100,
            "sample_n": 16}


# -- section 1-3: training throughput ----------------------------------------------------------
def _epoch_seconds(model: keras.Model, fit_args: tuple, fit_kwargs: dict) -> Callable[[], float]:
    timer = EpochTimer()

    def run() -> float:
        model.fit(*fit_args, epochs=1, verbose=0, callbacks=[timer], **fit_kwargs)
        return timer.times[-1]

    run.timer = timer  # the CPU times are read from it too
    return run


def _uses_fit_pipeline(model: keras.Model) -> bool:
    from keras_ae.training import Trainer

    return isinstance(model, Trainer)  # every keras_ae family's fit


def _flops(model: keras.Model, fallback: int) -> int:
    try:  # per model: a GAN that reuses its fakes runs the generator forward once less
        return training_flops(model)
    except Exception:  # noqa: BLE001 - a plain model the counter cannot trace: same architecture
        return fallback


def _jit(model: keras.Model) -> bool:
    return bool(getattr(model, "jit_compile", False))


def _spe(model: keras.Model) -> int:
    return int(getattr(model, "steps_per_execution", 1) or 1)


def training_rows(x: np.ndarray, cfg: dict, names: list[str], seed: int) -> list[dict[str, Any]]:
    """Specifications of the training rows: keras_ae and plain model factories and their data.

    Each row: ``name``, ``batch``, ``n`` (images per epoch), ``keras_ae(jit)`` and
    ``plain(jit)`` factories returning compiled models (``jit=None``: their defaults),
    ``ka_args`` / ``plain_args`` for ``fit`` and a ``dataset`` factory for the ``tf.data`` variant.
    """
    shape = x.shape[1:]
    rows = []

    def ae_compile(model, jit):
        model.compile(**({} if jit is None else {"jit_compile": jit}))
        return model

    bce = "binary_crossentropy"
    xd = x[: cfg["dense"]]
    for name, hidden, code, label in (("dense", (128, 64), 32, "dense AE 784-128-64-32 (tutorial, builder default)"),
                                      ("dense_wide", (1000, 500, 250), 30,
                                       "dense AE 784-1000-500-250-30 (Hinton 2006)")):
        rows.append(dict(name=name, label=label, batch=256, n=len(xd),
                         keras_ae=lambda jit, h=hidden, c=code: ae_compile(build_dense_ae(shape, hidden=h, code_dim=c),
                                                                           jit),
                         plain=lambda jit, h=hidden, c=code: compile_keras_io(plain_dense_ae(shape, h, c), bce, jit),
                         ka_args=(xd,), plain_args=(xd, xd),
                         dataset=lambda: make_tf_dataset(xd, batch_size=256, seed=seed)))
    xc = x[: cfg["conv"]]
    noisy = corrupt(xc, "gaussian", 0.5, seed=seed)  # the tutorial noises the data once, up front
    rows.append(dict(name="conv_denoising", label="conv denoising AE 32-32 (builder default)", batch=128, n=len(xc),
                     keras_ae=lambda jit: ae_compile(build_denoising_ae(shape), jit),
                     plain=lambda jit: compile_keras_io(plain_conv_ae(shape), bce, jit),
                     ka_args=(xc,), plain_args=(noisy, xc),
                     dataset=lambda: make_tf_dataset(xc, batch_size=128, seed=seed)))
    xv = binarize(x[: cfg["vae"]], seed=seed)
    rows.append(dict(name="vae", label="VAE 784-200-200-50 (builder default)", batch=128, n=len(xv),
                     keras_ae=lambda jit: ae_compile(build_vae(shape, seed=seed), jit),
                     plain=lambda jit: compile_keras_io(plain_vae(shape), None, jit),
                     ka_args=(xv,), plain_args=(xv,), dataset=lambda: make_tf_dataset(xv, batch_size=128, seed=seed)))
    xg = x[: cfg["dcgan"]]

    def dcgan(jit):
        model = build_dcgan(shape, seed=seed)
        model.compile(**({} if jit is None else {"jit_compile": jit}))
        return model

    rows.append(dict(name="dcgan", label="DCGAN 128-64 (builder default)", batch=64, n=len(xg), keras_ae=dcgan,
                     plain=lambda jit: plain_dcgan(shape, jit if jit is not None else "auto"),
                     ka_args=(xg,), plain_args=(xg,), dataset=lambda: make_tf_dataset(xg, batch_size=64, seed=seed)))
    xp = binarize(x[: cfg["pixelcnn"]], seed=seed)
    filters, blocks = cfg["pixelcnn_model"]

    def pixelcnn(jit):
        model = build_pixelcnn(shape, filters=filters, blocks=blocks)
        model.compile(**({} if jit is None else {"jit_compile": jit}))
        return model

    rows.append(dict(name="pixelcnn", label=f"gated PixelCNN {filters}x{blocks}", batch=32, n=len(xp),
                     keras_ae=pixelcnn,
                     plain=lambda jit: compile_keras_io(plain_pixelcnn(shape, filters, blocks),
                                                       keras.losses.BinaryCrossentropy(from_logits=True), jit),
                     ka_args=(xp,), plain_args=(xp, xp), dataset=lambda: make_tf_dataset(xp, batch_size=32, seed=seed)))
    return [r for r in rows if names is None or r["name"] in names]


def _peak() -> dict[str, float]:
    return {"wall": matmul_peak_gflops(repeats=5, warmup=1),
            "cpu": matmul_peak_gflops(repeats=5, warmup=1, clock="cpu")}


def measure_training(row: dict, repeats: int, verbose: int, quick: bool = False) -> tuple[list[dict], dict]:
    """Times one row's variants side by side; returns table rows and the trained default models.

    Variants: keras_ae defaults; plain Keras defaults; and (not with ``quick``) keras_ae
    with XLA flipped, with one step per execution, with NumPy arrays through Keras' own
    adapter (``fit(..., pipeline=False)``; families without that pipeline: fed by
    ``make_tf_dataset`` instead), a GAN drawing fresh fakes for its generator step, and
    plain Keras with XLA flipped. The matmul peak is measured right before and after the row's
    rounds (the higher of the two is the reference), so both see the same load.
    """
    keras.utils.set_random_seed(0)
    ka, plain = row["keras_ae"](None), row["plain"](None)
    batch = {"batch_size": row["batch"]}
    # A user's first fit is a whole training run (the deep_ae recipe: 50 epochs on 8,000
    # images); keras_ae decides there whether XLA pays for its compile time.
    first_epochs = math.ceil(XLA_MIN_EXAMPLES / row["n"]) if prefers_xla(ka) else 1
    print(f"\n{row['label']}: {row['n']} images, batch {row['batch']}; first fit {first_epochs} epoch(s)")

    def first_fit(model):
        model.fit(*row["ka_args"], epochs=first_epochs, verbose=0, **batch)
        return model

    first_fit(ka)
    variants = {"keras_ae": (ka, _epoch_seconds(ka, row["ka_args"], batch)),
                "plain Keras": (plain, _epoch_seconds(plain, row["plain_args"], batch))}
    if not quick:
        ka_flip, plain_flip = row["keras_ae"](not _jit(ka)), row["plain"](not _jit(plain))
        variants.update({
            "keras_ae, XLA flipped": (ka_flip, _epoch_seconds(ka_flip, row["ka_args"], batch)),
            "plain Keras, XLA flipped": (plain_flip, _epoch_seconds(plain_flip, row["plain_args"], batch)),
        })
        if _uses_fit_pipeline(ka):
            variants["keras_ae, Keras array adapter"] = (ka, _epoch_seconds(ka, row["ka_args"],
                                                                            {**batch, "pipeline": False}))
        else:
            variants["keras_ae, tf.data"] = (ka, _epoch_seconds(ka, (row["dataset"](),), {}))
        if getattr(ka, "reuse_fakes", False):
            ka_fresh = row["keras_ae"](None)
            ka_fresh.compile(**_compile_kwargs(ka_fresh, reuse_fakes=False))
            variants["keras_ae, fresh fakes for G"] = (ka_fresh, _epoch_seconds(ka_fresh, row["ka_args"], batch))
        if _spe(ka) > 1:
            ka_one = row["keras_ae"](None)
            ka_one.compile(**_compile_kwargs(ka_one, steps_per_execution=1))
            variants["keras_ae, steps/exec 1"] = (first_fit(ka_one), _epoch_seconds(ka_one, row["ka_args"], batch))
    for fn in (v[1] for v in variants.values()):  # warm-up: tracing, compilation
        for _ in range(1 if quick else 2):
            fn()
    before = _peak()
    times = interleaved({k: v[1] for k, v in variants.items()}, repeats=repeats, warmup=0, verbose=verbose,
                        timer=lambda fn: fn())
    after = _peak()
    peak = {clock: max(before[clock], after[clock]) for clock in before}
    flops = training_flops(ka)  # per example; the plain models have the identical architecture
    flops = {name: _flops(model, flops) for name, (model, _) in variants.items()}
    rates = {name: row["n"] / median(t) for name, t in times.items()}
    cpu_rates = {name: row["n"] / median(v[1].timer.cpu_times[-repeats:]) for name, v in variants.items()}
    out = []
    for name, (model, _) in variants.items():
        gflops, cpu_gflops = rates[name] * flops[name] / 1e9, cpu_rates[name] * flops[name] / 1e9
        out.append({"model": row["label"], "variant": name, "batch": row["batch"],
                    "XLA": "on" if _jit(model) else "off",
                    "steps/exec": _spe(model), "images/s": round(rates[name]),
                    "x plain": round(rates[name] / rates["plain Keras"], 2),
                    "images/CPU-s": round(cpu_rates[name]),
                    "x plain (CPU)": round(cpu_rates[name] / cpu_rates["plain Keras"], 2),
                    "GFLOP/s": round(gflops, 1), "% of peak": round(100 * gflops / peak["wall"], 1),
                    "% of peak (CPU)": round(100 * cpu_gflops / peak["cpu"], 1), "peak GFLOP/s": round(peak["wall"]),
                    "rounds": [round(row["n"] / t) for t in times[name]]})
    return out, {"keras_ae": ka}


def _compile_kwargs(model: keras.Model, **overrides) -> dict:
    """Arguments to compile ``model`` again as before (same family defaults) with ``overrides``."""
    if hasattr(model, "d_optimizer"):
        return overrides
    return {"optimizer": "adam", **overrides}


# -- section 4: inference ------------------------------------------------------------------------
def _savedmodel_throughput(model, x: np.ndarray, out: Path, name: str, repeats: int) -> dict[str, float]:
    path = model.export_for_serving(name, base_dir=str(out / "saved_models"), overwrite=True, version=1)
    loaded = tf.saved_model.load(str(path))
    rates = {}
    for signature in ("encode", "reconstruct"):
        fn = loaded.signatures[signature]
        arg = next(iter(fn.structured_input_signature[1]))
        batches = [tf.constant(x[i:i + 256]) for i in range(0, len(x), 256)]

        def run():
            for b in batches:
                next(iter(fn(**{arg: b}).values())).numpy()

        rates[signature] = len(x) / median(time_call(run, repeats=repeats, warmup=1))
    return rates


def measure_inference(models: dict[str, keras.Model], x_test: np.ndarray, out: Path, repeats: int) -> list[dict]:
    """Encode / reconstruct images per second: Keras ``predict`` (batch 256) vs the SavedModel.

    Example:
        >>> measure_inference({"dense": model}, x_test, Path("runs/benchmark"), 3)  # doctest: +SKIP
    """
    rows = []
    for name, model in models.items():
        keras_rates = {
            "encode": len(x_test) / median(time_call(lambda: model.encode(x_test, batch_size=256), repeats, 1)),
            "reconstruct": len(x_test) / median(time_call(lambda: model.reconstruct(x_test, batch_size=256),
                                                          repeats, 1)),
        }
        saved = _savedmodel_throughput(model, x_test, out, f"bench_{name}", repeats)
        for signature in ("encode", "reconstruct"):
            rows.append({"model": name, "call": signature, "Keras predict images/s": round(keras_rates[signature]),
                         "SavedModel images/s": round(saved[signature]),
                         "SavedModel / Keras": round(saved[signature] / keras_rates[signature], 2)})
    return rows


# -- section 5: scaling ----------------------------------------------------------------------------
def measure_scaling(x: np.ndarray, sizes: tuple, repeats: int) -> tuple[list[dict], dict]:
    """Epoch time of keras_ae's default dense AE at growing data sizes, with peak memory.

    Returns the table rows and a least-squares fit ``seconds = fixed + per_image * n``:
    a fixed per-epoch cost makes small epochs slower per image than linear scaling.

    Example:
        >>> rows, fit = measure_scaling(x_train, (1000, 2000), 3)  # doctest: +SKIP
    """
    model = build_dense_ae(x.shape[1:])
    model.compile()
    model.fit(x[: sizes[-1]], epochs=math.ceil(XLA_MIN_EXAMPLES / sizes[-1]), batch_size=256, verbose=0)  # a user's run
    rows, seconds = [], []
    for n in sizes:
        run = _epoch_seconds(model, (x[:n],), {"batch_size": 256})
        run()  # a new data size: a new last-batch shape to trace
        reset_peak_rss()
        seconds.append(median([run() for _ in range(repeats)]))
        rows.append({"images": n, "XLA": "on" if _jit(model) else "off", "s/epoch": round(seconds[-1], 4),
                     "us/image": round(1e6 * seconds[-1] / n, 1), "peak RSS MiB": round(peak_rss_mb())})
    if len(sizes) > 1:
        per_image, fixed = np.polyfit(np.array(sizes, float), np.array(seconds), 1)
    else:
        per_image, fixed = seconds[0] / sizes[0], 0.0
    for row, n in zip(rows, sizes):
        if per_image > 0:
            row["x linear"] = round(row["s/epoch"] / (per_image * n), 2)  # 1.0: no fixed cost
    return rows, {"fixed_ms_per_epoch": round(1e3 * float(fixed), 2), "us_per_image": round(1e6 * float(per_image), 2)}


# -- section 6: per-topic rows ---------------------------------------------------------------------
def _load_recipe(name: str):
    spec = importlib.util.spec_from_file_location(f"keras_ae_recipe_{name}", RECIPES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def measure_topics(x: np.ndarray, cfg: dict, repeats: int, seed: int, verbose: int) -> list[dict]:
    """The contractive, IWAE, Hamming-search and PixelCNN-sampling rows of the topic issues.

    Example:
        >>> measure_topics(x_train, settings(True), 2, 0, 0)  # doctest: +SKIP
    """
    rows = []
    # Contractive: train step of a contractive AE (auto Jacobian) vs a plain AE, same encoder (bench_contractive.py).
    bench = _load_recipe("bench_contractive")
    flat = tf.constant(x[:128].reshape(128, -1))
    steps = {}
    for variant in ("plain", "auto"):
        model = bench.make_model((500, 250), 30, variant, 1e-3, seed)
        step = bench.step_function(model, False)
        steps[variant] = (model, step)
    times = interleaved({v: (lambda s=s: [s(flat) for _ in range(4)][-1]["loss"].numpy())
                         for v, (_, s) in steps.items()},
                        repeats=repeats, warmup=2, verbose=verbose)
    resolved = steps["auto"][0].resolved_jacobian
    ratio = median(times["auto"]) / median(times["plain"])
    rows.append({"topic": "contractive", "measure": f"train step 784-500-250-30, batch 128, auto -> {resolved}",
                 "value": round(1e3 * median(times["auto"]) / 4, 2), "unit": "ms/step",
                 "note": f"{ratio:.2f}x plain AE step"})
    # IWAE: importance-weighted log-likelihood of a (untrained) default VAE.
    vae = build_vae(x.shape[1:], seed=seed)
    xb = binarize(x[: cfg["iwae_n"]], seed=seed)
    k = cfg["iwae_k"]
    seconds = median(time_call(lambda: vae.log_likelihood(xb, k=k, verbose=0), repeats=max(1, repeats // 2), warmup=1))
    rows.append({"topic": "IWAE", "measure": f"log_likelihood, k={k}, default VAE",
                 "value": round(1e3 * seconds / len(xb), 2),
                 "unit": "ms/image", "note": f"{len(xb)} images"})
    # Hamming search: one query against n random 32-bit codes, top 100.
    rng = np.random.default_rng(seed)
    n = cfg["hamming"]
    index = HammingIndex(32).add(pack_bits(rng.integers(0, 2, (n, 32), dtype=np.uint8)))
    query = pack_bits(rng.integers(0, 2, (1, 32), dtype=np.uint8))[0]
    ms = 1e3 * median(time_call(lambda: index.search(query, k=100), repeats=max(5, 5 * repeats), warmup=3))
    rows.append({"topic": "Hamming search", "measure": f"top 100 of {n:,} 32-bit codes, one query",
                 "value": round(ms, 2),
                 "unit": "ms/query", "note": "target < 20 ms at 1M"})
    # PixelCNN sampling: the compiled sampler (vertical stack once per row) on a small gated model.
    model = build_pixelcnn(x.shape[1:], filters=32, blocks=3)
    n_samples = cfg["sample_n"]
    seconds = median(time_call(lambda: model.sample(n_samples, seed=seed), repeats=max(1, repeats // 2), warmup=1))
    rows.append({"topic": "PixelCNN sampling",
                 "measure": f"sample({n_samples}), gated 32x3, {'x'.join(map(str, x.shape[1:]))}",
                 "value": round(n_samples / seconds, 2), "unit": "images/s", "note": "compiled row-band sampler, XLA"})
    return rows


# -- report ------------------------------------------------------------------------------------------
def _check(value: float, target: float) -> str:
    return f"{'PASS' if value >= target else 'MISS'} ({value:.2f} vs {target})"


def targets(train: list[dict]) -> list[dict]:
    """The benchmark's targets checked against the measured rows.

    Example:
        >>> targets([])
        []
    """
    out = []
    by = {(r["model"], r["variant"]): r for r in train}
    for (model, variant), r in by.items():
        if variant != "keras_ae":
            continue
        need = 1.3 if model.startswith(("dense AE", "conv denoising")) else 1.0
        out.append({"target": f"{model}: keras_ae / plain >= {need}", "wall time": _check(r["x plain"], need),
                    "CPU time": _check(r["x plain (CPU)"], need)})
        if model.startswith("dense AE"):
            out.append({"target": f"{model}: >= 30% of matmul peak", "wall time": _check(r["% of peak"], 30.0),
                        "CPU time": _check(r["% of peak (CPU)"], 30.0)})
    return out


def _row(train: list[dict], model_prefix: str, variant: str) -> dict | None:
    return next((r for r in train if r["model"].startswith(model_prefix) and r["variant"] == variant), None)


def defaults_section(train: list[dict]) -> list[str]:
    """Markdown lines: each default chosen from these measurements, before and after.

    Example:
        >>> defaults_section([])[0]
        '## Defaults chosen from these measurements'
    """
    lines = ["## Defaults chosen from these measurements", ""]

    def pair(prefix, new, old):
        a, b = _row(train, prefix, new), _row(train, prefix, old)
        if a is None or b is None:
            return "(not measured in this run)"
        return (f"{b['images/s']} -> {a['images/s']} images/s ({a['images/s'] / b['images/s']:.2f}x; "
                f"per CPU-second {b['images/CPU-s']} -> {a['images/CPU-s']}, "
                f"{a['images/CPU-s'] / b['images/CPU-s']:.2f}x)")

    lines += [
        "- **XLA for dense auto-encoders on CPU, for long runs** (`keras_ae/training/defaults.py`). "
        "Keras turns XLA off on CPU-only machines. A plain dense `AutoEncoder` (no corruption, no custom loss) of at "
        "most 3M multiply-adds per example gets `jit_compile=True` at its first `fit` when that fit processes "
        "at least 300,000 examples (epochs x examples; compiling costs ~2 s, ~5-8 s under load), unless op "
        "determinism is on. Tutorial dense AE, "
        f"XLA off -> on: {pair('dense AE 784-128', 'keras_ae', 'keras_ae, XLA flipped')}; wide dense AE "
        f"{pair('dense AE 784-1000', 'keras_ae', 'keras_ae, XLA flipped')} (on a machine shared with other jobs "
        "XLA ranged from 0.8x to 1.2x for the wide model). Not for "
        "convolutions (oneDNN's kernels are several times faster than XLA's on CPU), the denoisers (Keras' random "
        "ops are very slow under XLA on CPU) or the VAE.",
        "- **DCGAN without XLA on CPU** (kept; `GAN.compile(jit_compile=\"auto\")`; MLP GANs and GPUs get XLA): "
        f"XLA on -> off {pair('DCGAN', 'keras_ae', 'keras_ae, XLA flipped')} (0.86-0.95x with XLA in earlier runs).",
        "- **64 training steps per execution** (`AutoEncoder.compile` and `GAN.compile`): "
        "1 -> 64 steps per call into the graph (one call per epoch here), "
        f"tutorial dense AE {pair('dense AE 784-128', 'keras_ae', 'keras_ae, steps/exec 1')}; conv denoiser "
        f"{pair('conv denoising', 'keras_ae', 'keras_ae, steps/exec 1')}; "
        f"VAE {pair('VAE', 'keras_ae', 'keras_ae, steps/exec 1')}; "
        f"DCGAN {pair('DCGAN', 'keras_ae', 'keras_ae, steps/exec 1')}. Callbacks' batch hooks fire every 64 steps "
        "(`compile(steps_per_execution=1)` for every step); 1 under `tf.distribute`.",
        "- **NumPy arrays through a `tf.data` pipeline** (`keras_ae.training.pipeline.fit_pipeline`, used by every "
        "family's `fit`; `fit(..., pipeline=False)` switches it off): in-memory arrays up to 1 GiB become a shuffled, "
        "batched, prefetched "
        "dataset instead of going through Keras' array adapter. It also reshuffles every epoch under "
        "`keras.utils.set_random_seed`, where Keras 3's adapter repeats the first epoch's order (seeded recipes' "
        "plain AEs reach a 2-7% lower test error). Keras' adapter -> pipeline: tutorial dense AE "
        f"{pair('dense AE 784-128', 'keras_ae', 'keras_ae, Keras array adapter')}; wide dense AE "
        f"{pair('dense AE 784-1000', 'keras_ae', 'keras_ae, Keras array adapter')}; conv denoiser "
        f"{pair('conv denoising', 'keras_ae', 'keras_ae, Keras array adapter')}; VAE "
        f"{pair('VAE', 'keras_ae', 'keras_ae, Keras array adapter')}; DCGAN "
        f"{pair('DCGAN', 'keras_ae', 'keras_ae, Keras array adapter')}. `sample_weight`, `class_weight`, "
        "`validation_split`, `steps_per_epoch`, `shuffle=\"batch\"` and `tf.distribute` keep Keras' adapter.",
        "- **The generator step reuses the discriminator step's fakes** (`GAN.compile(reuse_fakes=True)`, one "
        "critic step per generator step): the generator runs forward once per step, under a tape, and its update "
        "back-propagates through the updated discriminator into that pass (as the PyTorch DCGAN example does; the "
        "keras.io example draws fresh noise and runs G again). Fresh fakes -> reused: "
        f"{pair('DCGAN', 'keras_ae', 'keras_ae, fresh fakes for G')}. Sample quality unchanged: "
        "`python recipes/gan.py --time-budget-min 10 --checkpoints 5 10 20` (60 epochs on mnist10k) FCD 12.61 with "
        "reused fakes vs 12.29 with fresh ones, KID 0.492 vs 0.482, classifier score 6.40 vs 6.49 (one seed each).",
        "- **Batch size** (not changed): the rows use the tutorials' batch sizes for both sides. A larger default "
        "batch would also have to reach the same test error; for the conv denoiser it is not even faster per image "
        "(batch 256 / 512: 0.96x / 0.94x, `python recipes/bench_conv_rewrites.py`).",
        "",
    ]
    return lines


def misses_section(results: dict) -> list[str]:
    """Markdown lines: what misses its speed target in this run, and why.

    Example:
        >>> misses_section({})[0]
        '## What misses its target, and why'
    """
    missed = [t["target"] for t in results.get("targets", []) if "MISS" in t["wall time"] + t["CPU time"]]
    lines = ["## What misses its target, and why", ""]
    lines += [f"- {t}" for t in missed] or ["- nothing in this run"]
    reasons = {
        "conv denoising": "the **conv denoiser** is bound by oneDNN's convolutions, the same kernels on both sides: "
        "the 14->28 transposed convolution and the 32->1 output convolution take about 75% of its layers' time "
        "(8.6 and 6.5 of 20.6 ms per batch of 128, forward + backward). Rewrites of the same model measured slower, "
        "layer by layer with their gradients (`python recipes/bench_conv_rewrites.py`): the output convolution as "
        "a channel matmul plus shifted sums 0.16x, with its output channels zero-padded to 4-16 (oneDNN's blocked "
        "kernels) 0.71-0.82x, the input convolution the same ways 0.34-0.58x, the transposed convolutions as one "
        "stride-1 convolution plus depth_to_space (sub-pixel) 0.60-0.65x; XLA is 0.4x for the whole step. The levers "
        "that change the batch or the arithmetic do not reach it either (same script, whole epochs): batch 256 / 512 "
        "0.96x / 0.94x, `mixed_bfloat16` 1.19x (bfloat16 arithmetic: not a default). Per-step savings (64 steps "
        "per execution, the `tf.data` pipeline) give the 1.05-1.1x.",
        "DCGAN": "the **DCGAN** is compute-bound (about 55% of peak on both sides); keras_ae runs the "
        "discriminator on the real and the fake batch separately (their own batch-norm statistics, Radford et al.), "
        "the keras.io example on one stacked batch of 128, and keeps a generator EMA (about 3% of a step).",
        "dense AE 784-128": "the **tutorial dense AE**'s matmuls (256 x 784 x 128 and smaller) are too small for "
        "oneDNN to split over two cores: about one core is busy, so its share of the 2-core peak stays near half "
        "of its '% of peak (CPU)' (the per-CPU-second fraction); the wide dense AE, whose matmuls do use both "
        "cores, shows the fraction of peak a dense AE reaches.",
        "gated PixelCNN": "the **gated PixelCNN** is compute-bound in oneDNN's convolutions on both sides "
        "(about 48% of peak; 300 ms steps, so per-step savings do not show): the ratio is 1.0 within the "
        "run-to-run noise of a few percent.",
    }
    notes = [text for prefix, text in reasons.items() if any(t.startswith(prefix) for t in missed)]
    lines += ["", "Known reasons: " + " ".join(notes) if notes else "", ""]
    lines += [
        "**Peak** is the 2048x2048 float32 matmul of this run; on a machine shared with other jobs it drops "
        "(about 230-245 GFLOP/s instead of about 480 idle), then the '% of peak (CPU)' column is the "
        "load-independent fraction.",
        "",
    ]
    return lines


def write_markdown(path: Path, results: dict, args: argparse.Namespace) -> None:
    """Writes the BENCHMARKS.md report: machine, command, load, every table."""
    m = results["machine"]
    lines = [
        "# keras_ae benchmarks",
        "",
        f"Written by `{COMMAND}{' --quick' if args.quick else ''}` on {results['written']}. Every number in a table "
        "comes from that one process run: each row's variants were warmed up, then timed in turn, round after round "
        f"({args.repeats} rounds), and the median is shown, so background load hits all variants alike. Data: "
        f"{results['data']}.",
        "",
        "## Machine",
        "",
        f"- CPU: {m['cpu']}, {m['cpus']} cores, no GPU; {m['platform']}",
        f"- Python {m['python']}, TensorFlow {m.get('tensorflow')}, Keras {m.get('keras')}",
        f"- float32 2048x2048 `tf.matmul` peak, measured in this run: {results['peak_runs'][0]:.0f} GFLOP/s at the "
        f"start, {results['peak_runs'][-1]:.0f} at the end ({results['cpu_peak_runs'][0]:.0f} and "
        f"{results['cpu_peak_runs'][-1]:.0f} GFLOP per CPU-second); each training row's '% of peak' uses the higher "
        "of two peaks measured right before and after its rounds ('peak GFLOP/s' column), '% of peak (CPU)' the "
        "same per CPU-second",
        f"- load average (1, 5, 15 min) at start {results['load_start']}, at end {results['load_end']}"
        + (": other jobs shared the cores, so absolute numbers are low and noisy; the ratios are measured side by side."
           if max(results['load_start'][0], results['load_end'][0]) > (os.cpu_count() or 1) + 0.5 else
           " (the machine was otherwise idle)."),
        "",
        NOTES,
        "",
        *defaults_section(results.get("train") or []),
        *misses_section(results),
        "## Reproduce",
        "",
        f"`{COMMAND}` (about 10 minutes on 2 busy cores; `--quick` for a one-minute smoke run that writes no report, "
        f"`--from-json runs/benchmark/results.json` to re-write this file from the last run's numbers). The JSON "
        "holds every round of every variant.",
        "",
    ]
    for title, key in (("Training throughput (sections 1-3)", "train"), ("Targets", "targets"),
                       ("Inference: Keras vs exported SavedModel", "inference"),
                       ("Scaling: epoch time and peak memory vs data size (keras_ae dense AE)", "scaling"),
                       ("Per-topic rows", "topics")):
        if results.get(key):
            rows = [{k: v for k, v in r.items() if k != "rounds"} for r in results[key]]
            lines += [f"## {title}", "", format_table(rows), ""]
            if key == "scaling":
                fit = results["scaling_fit"]
                lines += [f"Least-squares fit: {fit['fixed_ms_per_epoch']} ms fixed per epoch + "
                          f"{fit['us_per_image']} us "
                          "per image. Peak RSS is the whole process (TensorFlow included), reset before each size.", ""]
    if results.get("quality"):
        lines += quality_lines(results["quality"], args)
    lines += other_sections(path, lines)
    path.write_text("\n".join(lines) + "\n")
    print(f"report: {path}")


def other_sections(path: Path, lines: list[str]) -> list[str]:
    """The ``## `` sections of the report at ``path`` that ``lines`` does not write, kept as they are.

    Other recipes write sections of BENCHMARKS.md too (``recipes/time_to_quality.py``,
    ``recipes/bench_fit_overhead.py``); a run of this recipe keeps them.

    Example:
        >>> old = tmp_dir / "old.md"
        >>> _ = old.write_text("# report\\n\\n## Machine\\n\\nold\\n\\n## Time to quality\\n\\nrows\\n")
        >>> other_sections(old, ["# report", "", "## Machine", "", "new"])
        ['', '## Time to quality', '', 'rows']
    """
    if not path.is_file():
        return []
    written = {line for line in lines if line.startswith("## ")}
    kept, keep = [], False
    for line in path.read_text().splitlines():
        if line.startswith("## "):
            while kept and not kept[-1]:  # one blank line between sections
                kept.pop()
            keep = line not in written
            if keep:
                kept.append("")
        if keep:
            kept.append(line)
    while kept and not kept[-1]:
        kept.pop()
    return kept


# -- time to quality (recipes/time_to_quality.py) --------------------------------------------------
def measure_quality(args: argparse.Namespace) -> list[dict]:
    """The time-to-quality races (seeds ``--seed`` and ``--seed`` + 1; ``--rows`` picks families).

    Example:
        >>> measure_quality(parse_args(["--quick", "--rows", "dense"]))  # doctest: +SKIP
    """
    families = [f for f in (args.rows.split(",") if args.rows else ttq.FAMILIES) if f in ttq.FAMILIES]
    dataset = "digits" if args.quick else args.dataset
    data = load_recipe_data(argparse.Namespace(dataset=dataset, data_dir=args.data_dir))
    races = ttq.run_races(families, [args.seed, args.seed + 1], data, quick=args.quick, dataset=dataset)
    ttq.save_curves(races, Path(args.out) / "time_to_quality")
    print(format_table([ttq.table_row(r) for r in races]))
    return races


def quality_lines(races: list[dict], args: argparse.Namespace) -> list[str]:
    """The "Time to quality" section of BENCHMARKS.md."""
    return ttq.quality_markdown(races, f"{COMMAND} --sections quality{' --quick' if args.quick else ''}",
                                f"{args.out}/time_to_quality")


NOTES = """\
How to read the training table: `keras_ae` is the builder with the defaults a user gets from `model.compile()`
and `model.fit(x, batch_size=...)`; `plain Keras` is the identical architecture written the keras.io way
(`Sequential` + `compile("adam", "binary_crossentropy")`, or the keras.io VAE / DCGAN `train_step`) with Keras'
defaults (on a CPU-only machine Keras resolves `jit_compile="auto"` to off, one step per execution). Images/s
are from epoch times (`EpochTimer`: `on_epoch_begin` to `on_epoch_end`); GFLOP/s count the matmuls and
convolutions of three forward passes per example (forward + backward), traced from the model's graph by
`keras_ae.benchmarking.training_flops`. The denoising row's plain model trains on inputs noised once up front
(the tutorial way); keras_ae draws fresh noise every step. Numbers for MNIST use the mnist10k split
(8,000 training / 2,000 test images), not full MNIST."""


def main(argv: list[str] | None = None) -> dict:
    """Runs the benchmark, prints the tables, writes ``results.json`` and the Markdown report.

    Example:
        >>> main(["--quick", "--out", "runs/benchmark_quick"])  # doctest: +SKIP
    """
    args = parse_args(argv)
    if args.from_json:
        saved = json.loads(Path(args.from_json).read_text())
        for key in ("quick", "repeats"):
            setattr(args, key, saved["args"].get(key, getattr(args, key)))
        write_markdown(Path(args.markdown or "BENCHMARKS.md"), saved["results"], args)
        return saved["results"]
    cfg = settings(args.quick)
    sections = set(args.sections.split(","))
    load_start = load_average()
    started = time.perf_counter()
    try:
        (x, _), (x_test, _) = load_recipe_data(args)
        data = describe_recipe_data(args)
    except DatasetNotAvailableError as error:
        print(f"{error}\nFalling back to scikit-learn's digits (8x8), which ship offline.")
        args.dataset = "digits"
        (x, _), (x_test, _) = load_recipe_data(args)
        data = "digits (8x8, fallback: mnist not found)"
    x_test = x_test[: cfg["test"]]
    peak_runs = [matmul_peak_gflops()]
    cpu_peak_runs = [matmul_peak_gflops(clock="cpu")]
    print(f"matmul peak {peak_runs[0]:.0f} GFLOP/s ({cpu_peak_runs[0]:.0f} GFLOP per CPU-second); "
          f"load average {load_start}")
    results: dict[str, Any] = {"data": data, "quick": args.quick, "load_start": load_start}
    trained = {}
    if "train" in sections:
        results["train"] = []
        names = args.rows.split(",") if args.rows else None
        for row in training_rows(x, cfg, names, args.seed):
            table, models = measure_training(row, args.repeats, args.verbose, args.quick)
            results["train"] += table
            print(format_table([{k: v for k, v in r.items() if k != "rounds"} for r in table]))
            if row["name"] in ("dense", "conv_denoising"):
                trained[row["name"]] = models["keras_ae"]
        results["targets"] = targets(results["train"])
    if "inference" in sections:
        if not trained:
            for name, build in (("dense", build_dense_ae), ("conv_denoising", build_denoising_ae)):
                trained[name] = build(x.shape[1:])
                trained[name].compile()
                trained[name].fit(x[:512], epochs=1, batch_size=256, verbose=0)
        results["inference"] = measure_inference(trained, x_test, Path(args.out), args.repeats)
    if "scaling" in sections:
        sizes = tuple(n for n in cfg["scaling"] if n <= len(x))
        results["scaling"], results["scaling_fit"] = measure_scaling(x, sizes, args.repeats)
    if "topics" in sections:
        results["topics"] = measure_topics(x, cfg, args.repeats, args.seed, args.verbose)
    if "quality" in sections:
        results["quality"] = measure_quality(args)
    peak_runs.append(matmul_peak_gflops())
    cpu_peak_runs.append(matmul_peak_gflops(clock="cpu"))
    results.update(peak_runs=peak_runs, peak_gflops=median(peak_runs), cpu_peak_runs=cpu_peak_runs,
                   load_end=load_average(),
                   seconds=round(time.perf_counter() - started, 1),
                   machine={**machine_description(), "cpu": cpu_model()},
                   written=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))
    for key in ("inference", "scaling", "topics", "targets"):
        if results.get(key):
            print(f"\n{key}\n{format_table(results[key])}")
    write_results(args.out, results, results.get("train"), args)
    if args.markdown and sections == {"quality"}:  # only this section of the existing report changes
        ttq.replace_section(Path(args.markdown), quality_lines(results["quality"], args))
    elif args.markdown:
        write_markdown(Path(args.markdown), results, args)
    print(f"total {results['seconds']} s; load average {load_start} -> {results['load_end']}")
    return results


if __name__ == "__main__":
    sys.exit(main() and 0)
