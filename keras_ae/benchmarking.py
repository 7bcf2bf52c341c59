"""Measuring speed honestly: warm-up, interleaved repeats, medians, FLOPs and the machine's peak.

Benchmarks on a shared machine are noisy. Every comparison in keras_ae is therefore
measured side by side in one process: each variant is warmed up (tracing, XLA
compilation), then the variants run in turn, round after round, so that background
load hits all of them alike, and the median of the rounds is reported.

Achieved GFLOP/s are counted from the traced TensorFlow graph (matrix multiplications
and convolutions, which dominate the work) and put next to the peak of a large
``tf.matmul`` measured in the same run, to say how far a model is from the machine's
limit.
"""

from __future__ import annotations

import os
import platform
import resource
import statistics
import time
from typing import Any, Callable, Mapping, Sequence

import keras
import numpy as np
import tensorflow as tf

from keras_ae.validation import check_choice, check_int

# Ops whose FLOPs are counted: they hold nearly all of a dense or conv network's work.
_MATMUL_OPS = ("MatMul", "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3")
_CONV_OPS = ("Conv2D", "Conv2DBackpropInput", "Conv2DBackpropFilter")


# -- timing ---------------------------------------------------------------------------------
def median(values: Sequence[float]) -> float:
    """The median of ``values`` (``nan`` for an empty sequence).

    Args:
        values: Numbers, e.g. the times of :func:`time_call`.

    Returns:
        The median as a float (the mean of the two middle values for an even count).

    Example:
        >>> median([3.0, 1.0, 2.0])
        2.0
    """
    return float(statistics.median(values)) if len(values) else float("nan")


CLOCKS: dict[str, Callable[[], float]] = {"wall": time.perf_counter, "cpu": time.process_time}


def time_call(fn: Callable[[], Any], repeats: int = 5, warmup: int = 1, clock: str = "wall") -> list[float]:
    """Times in seconds of ``repeats`` calls of ``fn()`` after ``warmup`` untimed calls.

    ``fn`` must wait for its result (e.g. call ``.numpy()``): TensorFlow runs ops
    asynchronously only inside a graph, so an eager call returning a tensor is done.

    Args:
        fn: The work to time, called without arguments.
        repeats: Timed calls.
        warmup: Untimed calls first (tracing, compilation, caches).
        clock: ``"wall"`` (elapsed time) or ``"cpu"`` (CPU time of all this process's
            threads: less sensitive to other jobs sharing the cores).

    Returns:
        The ``repeats`` durations in seconds.

    Example:
        >>> times = time_call(lambda: sum(range(1000)), repeats=3)
        >>> len(times)
        3
    """
    repeats = check_int(repeats, "repeats", minimum=1)
    now = CLOCKS[check_choice(clock, "clock", tuple(CLOCKS))]
    for _ in range(check_int(warmup, "warmup", minimum=0)):
        fn()
    times = []
    for _ in range(repeats):
        start = now()
        fn()
        times.append(now() - start)
    return times


def interleaved(variants: Mapping[str, Callable[[], Any]], repeats: int = 5, warmup: int = 1,
                verbose: int = 1, timer: Callable[[Callable[[], Any]], float] | None = None) -> dict[str, list[float]]:
    """Times several variants side by side: warm each up, then run them in turn, round after round.

    Args:
        variants: Name -> callable doing one unit of work (e.g. one training epoch).
        repeats: Rounds; each round times every variant once.
        warmup: Untimed calls of each variant before the first round.
        verbose: 1 shows a ``keras.utils.Progbar`` over the rounds.
        timer: ``timer(fn) -> seconds`` to use instead of the wall time of ``fn()``
            (e.g. an epoch time read from a callback, without ``fit``'s set-up).

    Returns:
        Name -> list of ``repeats`` durations in seconds; take :func:`median` of each.

    Example:
        >>> times = interleaved({"a": lambda: None, "b": lambda: None}, repeats=2, verbose=0)
        >>> sorted(times), len(times["a"])
        (['a', 'b'], 2)
    """
    repeats = check_int(repeats, "repeats", minimum=1)
    for fn in variants.values():
        for _ in range(check_int(warmup, "warmup", minimum=0)):
            fn()

    def wall(fn):
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start

    timer = timer or wall
    times: dict[str, list[float]] = {name: [] for name in variants}
    bar = keras.utils.Progbar(repeats, verbose=verbose, unit_name="round")
    for r in range(repeats):
        for name, fn in variants.items():
            times[name].append(timer(fn))
        bar.update(r + 1)
    return times


class EpochTimer(keras.callbacks.Callback):
    """Records the wall and CPU time of every training epoch (``on_epoch_begin`` to ``on_epoch_end``).

    The epoch time excludes ``fit``'s one-off set-up (argument checks, data adapters),
    which a user pays once per ``fit`` call, not once per epoch. The CPU time (all
    threads of this process) is less sensitive than the wall time to other jobs
    competing for the cores.

    Example:
        >>> timer = EpochTimer()
        >>> model = build_dense_ae((8, 8, 1), hidden=(16,), code_dim=4)
        >>> model.compile()
        >>> _ = model.fit(x_digits, epochs=3, callbacks=[timer], verbose=0)
        >>> len(timer.times), len(timer.cpu_times)  # seconds per epoch
        (3, 3)
    """

    def __init__(self):
        super().__init__()
        self.times: list[float] = []
        self.cpu_times: list[float] = []
        self._start = self._cpu_start = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._start, self._cpu_start = time.perf_counter(), time.process_time()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self._start)
        self.cpu_times.append(time.process_time() - self._cpu_start)


# -- the machine -----------------------------------------------------------------------------
def matmul_peak_gflops(n: int = 2048, repeats: int = 10, warmup: int = 2, dtype: str = "float32",
                       clock: str = "wall") -> float:
    """GFLOP/s of an ``n x n`` by ``n x n`` ``tf.matmul`` (median of repeats): the practical peak.

    Args:
        n: Matrix size (2048 keeps both cores of a small machine busy for ~40 ms).
        repeats: Timed multiplications.
        warmup: Untimed multiplications first.
        dtype: Float dtype.
        clock: ``"wall"`` for GFLOP/s, ``"cpu"`` for GFLOP per CPU-second (all cores'
            time summed: compare it with a model's FLOPs per CPU-second).

    Returns:
        ``2 n^3 / median seconds / 1e9``.

    Example:
        >>> matmul_peak_gflops(256, repeats=3) > 0
        True
    """
    n = check_int(n, "n", minimum=1)
    a = tf.random.stateless_normal((n, n), seed=(1, 2), dtype=dtype)
    b = tf.random.stateless_normal((n, n), seed=(3, 4), dtype=dtype)
    matmul = tf.function(lambda: tf.reduce_sum(tf.matmul(a, b)[:1, :1]))  # tiny readback: waits for the product
    seconds = median(time_call(lambda: matmul().numpy(), repeats=repeats, warmup=warmup, clock=clock))
    return 2.0 * n**3 / seconds / 1e9


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages (runnable processes; a 2-core machine is busy at 2).

    Returns:
        Three floats rounded to 2 decimals (three ``nan`` where the platform has no load average).

    Example:
        >>> len(load_average())
        3
    """
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:  # pragma: no cover - not on every platform
        return [float("nan")] * 3


def cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo`` (else ``platform.processor()``).

    Returns:
        The model name, or ``"unknown"`` when neither source names one.

    Example:
        >>> isinstance(cpu_model(), str)
        True
    """
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:  # pragma: no cover - not Linux
        pass
    return platform.processor() or "unknown"


# -- memory ----------------------------------------------------------------------------------
def _status_kb(key: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:  # pragma: no cover - not Linux
        return None
    return None


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MiB (since start or :func:`reset_peak_rss`).

    Counts everything the process holds, TensorFlow's C++ buffers included (``tracemalloc``
    sees only Python objects).

    Returns:
        ``VmHWM`` of ``/proc/self/status`` in MiB (elsewhere ``ru_maxrss``, read as KiB).

    Example:
        >>> peak_rss_mb() > 0
        True
    """
    hwm = _status_kb("VmHWM")
    if hwm is not None:
        return hwm / 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # pragma: no cover - kB on Linux


def reset_peak_rss() -> bool:
    """Resets the peak resident memory to the current one (Linux); returns whether it could.

    Writes ``5`` to ``/proc/self/clear_refs``, which resets ``VmHWM`` (:func:`peak_rss_mb`).

    Returns:
        ``True`` if the reset was written, ``False`` if the file could not be opened or written.

    Example:
        >>> reset_peak_rss() in (True, False)
        True
    """
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


# -- FLOPs -----------------------------------------------------------------------------------
def _num(shape) -> int | None:
    dims = shape.as_list() if hasattr(shape, "as_list") else list(shape)
    if any(d is None for d in dims):
        return None
    return int(np.prod(dims)) if dims else 1


def op_flops(op: tf.Operation) -> int:
    """FLOPs (2 per multiply-add) of one graph op if it is a matmul or a convolution, else 0.

    A convolution's forward pass, its input gradient and its filter gradient all cost
    ``2 * output_elements * kh * kw * in_channels`` with the forward pass's shapes.

    Args:
        op: An operation of a traced graph (``MatMul``, ``BatchMatMul*``, ``Conv2D`` and its
            two backprop ops are counted).

    Returns:
        The op's FLOPs, 0 for any other op type.

    Raises:
        ValueError: For a matmul or convolution with an unknown (dynamic) shape.

    Example:
        >>> g = tf.function(lambda a: tf.matmul(a, a)).get_concrete_function(tf.TensorSpec((3, 3))).graph
        >>> sum(op_flops(op) for op in g.get_operations())
        54
    """
    kind = op.type
    if kind in _MATMUL_OPS:
        a = op.inputs[0].shape
        transpose_a = op.get_attr("transpose_a" if kind == "MatMul" else "adj_x")
        inner = a[-2] if transpose_a else a[-1]
        out = _num(op.outputs[0].shape)
        if out is None or inner is None:
            raise ValueError(f"Cannot count FLOPs of {op.name}: dynamic shape {op.outputs[0].shape}.")
        return 2 * out * int(inner)
    if kind in _CONV_OPS:
        if kind == "Conv2D":
            output, kernel = op.outputs[0].shape, op.inputs[1].shape
        elif kind == "Conv2DBackpropInput":
            output, kernel = op.inputs[2].shape, op.inputs[1].shape
        else:  # Conv2DBackpropFilter: its output is the kernel gradient
            output, kernel = op.inputs[2].shape, op.outputs[0].shape
        out = _num(output)
        if out is None or _num(kernel) is None:
            raise ValueError(f"Cannot count FLOPs of {op.name}: dynamic shape {output} / {kernel}.")
        kh, kw, cin = (int(d) for d in kernel[:3])
        return 2 * out * kh * kw * cin
    return 0


def graph_flops(graph: tf.Graph) -> int:
    """Total matmul and convolution FLOPs of a traced graph, nested function bodies included.

    Args:
        graph: A traced graph, e.g. a concrete function's ``.graph``.

    Returns:
        The sum of :func:`op_flops` over the graph's ops and over the graphs of the functions it holds.

    Raises:
        ValueError: For a matmul or convolution with an unknown (dynamic) shape.

    Example:
        >>> g = tf.function(lambda a: tf.matmul(a, a)).get_concrete_function(tf.TensorSpec((2, 2))).graph
        >>> graph_flops(g)
        16
    """
    total = sum(op_flops(op) for op in graph.get_operations())
    # Functions called from the graph (while bodies, nested tf.functions) hold ops too.
    for function in getattr(graph, "_functions", {}).values():
        inner = getattr(function, "graph", None)
        if inner is not None and inner is not graph:
            total += graph_flops(inner)
    return total


def count_flops(fn: Callable, *input_specs: tf.TensorSpec) -> int:
    """Matmul and convolution FLOPs of one call of ``fn`` on inputs of the given static shapes.

    Args:
        fn: A function of tensors (a Keras model or sub-model works).
        *input_specs: One ``tf.TensorSpec`` per argument, with a fixed batch size.

    Returns:
        FLOPs (2 per multiply-add) of the traced graph.

    Example:
        >>> dense = keras.layers.Dense(4)
        >>> count_flops(dense, tf.TensorSpec((1, 3)))
        24
    """
    concrete = tf.function(fn, autograph=False).get_concrete_function(*input_specs)
    return graph_flops(concrete.graph)


def forward_flops(model: keras.Model, batch_size: int = 1) -> int:
    """Matmul and convolution FLOPs of one forward pass of ``model`` over ``batch_size`` examples.

    For an auto-encoder (``encoder`` and ``decoder`` sub-models, or a VAE) this is
    encoder plus decoder; for a GAN it is generator plus discriminator (one example
    each); otherwise the model's own call (e.g. a PixelCNN's network).

    Args:
        model: A built Keras model with a fixed example shape.
        batch_size: Examples per pass.

    Returns:
        FLOPs of one forward pass.

    Example:
        >>> forward_flops(build_dense_ae((28, 28, 1)))  # 784-128-64-32-64-128-784
        442368
    """
    batch_size = check_int(batch_size, "batch_size", minimum=1)

    def spec_of(sub: keras.Model) -> list[tf.TensorSpec]:
        return [tf.TensorSpec((batch_size, *t.shape[1:]), t.dtype) for t in sub.inputs]

    def flops_of(sub: keras.Model) -> int:
        if len(sub.inputs) == 1:
            return count_flops(lambda x: sub(x, training=False), *spec_of(sub))
        return count_flops(lambda *xs: sub(list(xs), training=False), *spec_of(sub))

    parts = [getattr(model, name, None) for name in ("encoder", "decoder", "generator", "discriminator")]
    parts = [p for p in parts if isinstance(p, keras.Model)]
    if parts:
        return sum(flops_of(p) for p in parts)
    network = getattr(model, "network", None)
    if isinstance(network, keras.Model):
        shape = tuple(getattr(model, "image_shape", network.input_shape[1:]))
        return count_flops(lambda x: network(x, training=False), tf.TensorSpec((batch_size, *shape)))
    return flops_of(model)


def training_flops(model: keras.Model, batch_size: int = 1) -> int:
    """FLOPs of one training step over ``batch_size`` examples: three forward passes' worth.

    The usual rule: the backward pass costs about twice the forward pass (one matmul for
    the input gradient, one for the weight gradient). For a GAN with ``n_critic``
    discriminator steps per generator step, each discriminator step runs G forward and
    D forward and backward on a real and a fake batch, ``G + 3 * 2D``, and the generator
    step runs G and D forward and backward, ``3 * (G + D)``; when it reuses the
    discriminator step's fake batch (``GAN.compile(reuse_fakes=True)``, one critic step)
    the generator runs forward once less.

    Args:
        model: A built Keras model with a fixed example shape (an auto-encoder, a GAN with
            ``generator`` and ``discriminator``, or any model :func:`forward_flops` accepts).
        batch_size: Examples per step.

    Returns:
        FLOPs of one training step: ``3 * forward_flops(model, batch_size)``, or the GAN count above.

    Example:
        >>> training_flops(build_dense_ae((28, 28, 1)))
        1327104
    """
    generator, discriminator = getattr(model, "generator", None), getattr(model, "discriminator", None)
    if isinstance(generator, keras.Model) and isinstance(discriminator, keras.Model):
        g = forward_flops(generator, batch_size)
        d = forward_flops(discriminator, batch_size)
        n_critic = int(getattr(model, "n_critic", 1) or 1)
        shared = n_critic == 1 and bool(getattr(model, "reuse_fakes", False))
        return n_critic * (g + 6 * d) + 3 * (g + d) - (g if shared else 0)
    return 3 * forward_flops(model, batch_size)
