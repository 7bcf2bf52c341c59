"""Training-step time of contractive auto-encoders vs a plain auto-encoder, side by side.

Two sigmoid encoders at batch 128, each with a mirrored sigmoid decoder:

* (a) deep:  784-500-250-30 (auto picks ``stochastic``: one random projection per example)
* (b) wide:  784-1000, one layer, overcomplete (auto picks ``closed_form``)

For each, one process times a plain auto-encoder step, the contractive step with
``jacobian="auto"`` and the other methods, and the naive reference (a nested
``GradientTape`` with ``batch_jacobian``), all compiled with ``tf.function`` and
interleaved (median over repeats after warm-up), optionally also with XLA. Ratios are
against the plain step with the same compilation.

    python recipes/bench_contractive.py                 # ~5 minutes on 2 CPU cores
    python recipes/bench_contractive.py --xla --repeats 9
"""

from __future__ import annotations

import argparse
import os
import time

import keras_ae  # noqa: F401  (first: it hides TensorFlow's C++ start-up lines, keras_ae.quiet)

import keras
import numpy as np
import tensorflow as tf

from keras_ae.errors import DatasetNotAvailableError
from keras_ae.experiment import describe_recipe_data, load_recipe_data, recipe_parser, write_results
from keras_ae.jacobian import tape_exact_sq_norms
from keras_ae.models.base import AutoEncoder
from keras_ae.models.contractive import ContractiveAutoEncoder
from keras_ae.models.dense import get_dense_decoder, get_dense_encoder

ARCHITECTURES = {"a: 784-500-250-30": ((500, 250), 30), "b: 784-1000": ((), 1000)}


class NestedTapeContractiveAE(ContractiveAutoEncoder):
    """The naive reference: the full Jacobian from a nested tape's ``batch_jacobian``."""

    def compute_penalties(self, inputs, code, training=False, outputs=None):
        penalties = AutoEncoder.compute_penalties(self, inputs, code, training)
        sq = tape_exact_sq_norms(self.encoder, inputs, training)
        penalties["contraction"] = self.contraction * tf.reduce_mean(sq)
        return penalties


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line arguments.

    Example:
        >>> parse_args([]).batch_size
        128
    """
    parser = recipe_parser("bench_contractive", __doc__.split("\n\n")[0], dataset="mnist", epochs=0)
    parser.add_argument("--batch-size", type=int, default=128, help="examples per training step")
    parser.add_argument("--repeats", type=int, default=7, help="timed repeats per variant (median reported)")
    parser.add_argument("--steps", type=int, default=10, help="training steps per timed repeat")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps after compilation")
    parser.add_argument("--xla", action="store_true", help="also time XLA-compiled (jit_compile=True) steps")
    parser.add_argument("--contraction", type=float, default=1e-3, help="penalty weight (does not affect timing)")
    parser.add_argument("--verbose", type=int, default=1, help="progress bar (0 to turn it off)")
    return parser.parse_args(argv)


def make_model(hidden: tuple, code_dim: int, variant: str, contraction: float, seed: int) -> AutoEncoder:
    """One sigmoid auto-encoder of the benchmark; ``variant`` is plain, naive or a jacobian method.

    Example:
        >>> model = make_model((500, 250), 30, "auto", 1e-3, 0)  # doctest: +SKIP
    """
    keras.utils.set_random_seed(seed)
    encoder = get_dense_encoder(784, hidden, code_dim, "sigmoid", "sigmoid")
    decoder = get_dense_decoder(code_dim, tuple(reversed(hidden)), 784, "sigmoid", "sigmoid")
    if variant == "plain":
        model = AutoEncoder(encoder, decoder, name="plain")
    elif variant == "naive":
        model = NestedTapeContractiveAE(encoder, decoder, contraction=contraction, jacobian="stochastic", name="naive")
    else:
        model = ContractiveAutoEncoder(encoder, decoder, contraction=contraction, jacobian=variant, seed=seed,
                                       name=variant)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), steps_per_execution=1)
    model.optimizer.build(model.trainable_variables)
    return model


def step_function(model: AutoEncoder, jit: bool):
    """The model's ``train_step`` compiled like ``fit`` compiles it (optionally with XLA)."""
    return tf.function(model.train_step, jit_compile=jit)


def batch_of(args: argparse.Namespace) -> tuple[tf.Tensor, str]:
    """A real training batch when the dataset is available, else uniform noise (same cost).

    Example:
        >>> x, source = batch_of(parse_args([]))  # doctest: +SKIP
    """
    try:
        (x_train, _), _ = load_recipe_data(args, flatten=True)
        x, source = x_train[: args.batch_size], describe_recipe_data(args)
    except DatasetNotAvailableError:
        x, source = np.random.default_rng(args.seed).random((args.batch_size, 784), dtype=np.float32), "uniform noise"
    if x.shape[1:] != (784,) or len(x) < args.batch_size:
        raise SystemExit(f"The benchmark needs at least {args.batch_size} flat 784-pixel images, got {x.shape}.")
    return tf.constant(x), source


def main(argv: list[str] | None = None) -> dict:
    """Runs the benchmark, prints the table and writes ``results.json``.

    Example:
        >>> main(["--repeats", "3"])  # doctest: +SKIP
    """
    args = parse_args(argv)
    x, source = batch_of(args)
    print(f"batch {args.batch_size} of {source}; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    variants = []
    for arch, (hidden, code_dim) in ARCHITECTURES.items():
        for jit in ([False, True] if args.xla else [False]):
            names = ["plain", "auto", "exact", "stochastic"] + ([] if jit else ["naive"])
            if not hidden:
                names.insert(2, "closed_form")
            for name in names:
                model = make_model(hidden, code_dim, name, args.contraction, args.seed)
                step = step_function(model, jit)
                started = time.perf_counter()
                for _ in range(1 + args.warmup):
                    float(step(x)["loss"])
                compile_s = time.perf_counter() - started
                contractive = isinstance(model, ContractiveAutoEncoder) and name != "naive"
                resolved = model.resolved_jacobian if contractive else None
                variants.append({"arch": arch, "jit": jit, "name": name, "resolved": resolved, "model": model,
                                 "step": step, "compile_s": compile_s, "times": [], "cpu_times": []})
    progbar = keras.utils.Progbar(args.repeats, verbose=args.verbose, unit_name="repeat")
    for r in range(args.repeats):
        for v in variants:  # interleaved, so load changes hit every variant alike
            # The full-Jacobian steps are 5-500x slower: fewer steps keep the run short.
            steps = max(1, args.steps // 4) if v["name"] in ("naive", "exact") else args.steps
            started, cpu_started = time.perf_counter(), time.process_time()
            for _ in range(steps - 1):
                v["step"](x)
            float(v["step"](x)["loss"])  # waits for the last step
            v["times"].append((time.perf_counter() - started) / steps)
            v["cpu_times"].append((time.process_time() - cpu_started) / steps)
        progbar.update(r + 1)

    rows, results = [], {}
    for v in variants:
        plain = next(p for p in variants if p["arch"] == v["arch"] and p["jit"] == v["jit"] and p["name"] == "plain")
        ms = 1e3 * float(np.median(v["times"]))
        ratio = ms / (1e3 * float(np.median(plain["times"])))
        # CPU time of the process: less sensitive than wall time to other jobs on the machine.
        cpu_ms = 1e3 * float(np.median(v["cpu_times"]))
        cpu_ratio = cpu_ms / (1e3 * float(np.median(plain["cpu_times"])))
        label = {"plain": "plain AE", "naive": "naive nested tape (batch_jacobian)"}.get(v["name"],
                                                                                        f"contractive {v['name']}")
        if v["name"] == "auto":
            label += f" -> {v['resolved']}"
        rows.append({"encoder": v["arch"], "xla": "yes" if v["jit"] else "no", "step": label,
                     "ms/step": round(ms, 2), "x plain": round(ratio, 2),
                     "cpu ms/step": round(cpu_ms, 2), "cpu x plain": round(cpu_ratio, 2),
                     "first call s": round(v["compile_s"], 1)})
        results[f"{v['arch']}|{'xla' if v['jit'] else 'graph'}|{v['name']}"] = {
            "ms": ms, "ratio": ratio, "cpu_ms": cpu_ms, "cpu_ratio": cpu_ratio, "resolved": v["resolved"]}
    results["load_average"] = list(os.getloadavg())
    results["batch_size"] = args.batch_size
    results["data"] = source
    write_results(args.out, results, rows, args)
    return results


if __name__ == "__main__":
    main()
