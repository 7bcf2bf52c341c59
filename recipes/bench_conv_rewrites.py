"""Where a convolutional denoiser's training step goes, and rewrites of its slowest layers.

The conv denoising AE (28x28x1, 32-32 filters, batch 128) spends most of a step in two
layers: the 14->28 transposed convolution and the 32->1 output convolution. This script
times every layer's forward + backward pass (as in training: weight gradients, and the
input gradient where a layer below needs it) and, for the slow ones, mathematically
identical rewrites that a "fused layer" default could use:

* ``shift-sum``: a convolution with one input or one output channel as a matmul over
  channels plus shifted slices (no oneDNN convolution at all);
* ``padded-N``: the one-channel side zero-padded to N channels (oneDNN's blocked kernels);
* ``sub-pixel``: a stride-2 transposed convolution as one stride-1 convolution with
  ``s*s*filters`` outputs followed by ``depth_to_space`` (Shi et al. 2016).

Each rewrite is checked against the layer (outputs and gradients) before it is timed;
all variants of a layer are timed side by side (warm-up, interleaved rounds, medians).
A rewrite faster than its layer would become the builder's default; on a 2-core AVX-512
machine none was (BENCHMARKS.md, "What misses its target"). A second table times whole
training epochs of ``build_denoising_ae`` at larger batches and under ``mixed_bfloat16``
(the levers left that change the batch or the arithmetic, not the model).

    python recipes/bench_conv_rewrites.py            # ~1 minute on 2 CPU cores
"""

from __future__ import annotations

import argparse
import os
from typing import Callable

import numpy as np
import keras_ae  # noqa: F401  (first: it hides TensorFlow's C++ start-up lines, keras_ae.quiet)

import tensorflow as tf

from keras_ae.benchmarking import interleaved, median
from keras_ae.experiment import format_table, write_results


def _same_padding(size: int, kernel: int, stride: int) -> tuple[int, int, int]:
    """TensorFlow's "SAME" padding: (before, after, output size)."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2, out


def shift_sum_conv(x: tf.Tensor, kernel: tf.Tensor, stride: int) -> tf.Tensor:
    """``tf.nn.conv2d(x, kernel, stride, "SAME")`` for one input or one output channel, without a conv op.

    Args:
        x: ``(batch, height, width, in)``.
        kernel: ``(k, k, in, out)`` with ``in == 1`` or ``out == 1``.
        stride: Stride of both spatial axes.

    Returns:
        The convolution's output.

    Example:
        >>> shift_sum_conv(tf.ones((1, 4, 4, 2)), tf.ones((3, 3, 2, 1)), 1).shape
        TensorShape([1, 4, 4, 1])
    """
    k, _, cin, cout = kernel.shape
    top, bottom, oh = _same_padding(x.shape[1], k, stride)
    left, right, ow = _same_padding(x.shape[2], k, stride)

    def shifted(t, dy, dx):
        return t[:, dy:dy + (oh - 1) * stride + 1:stride, dx:dx + (ow - 1) * stride + 1:stride]

    if cin == 1:  # patches of the single channel, then one matmul to all outputs
        xp = tf.pad(x[..., 0], [[0, 0], [top, bottom], [left, right]])
        patches = tf.stack([shifted(xp, dy, dx) for dy in range(k) for dx in range(k)], axis=-1)
        out = tf.matmul(tf.reshape(patches, (-1, k * k)), tf.reshape(kernel, (k * k, cout)))
        return tf.reshape(out, (-1, oh, ow, cout))
    # one output: project the channels onto the k*k taps, then add the shifted tap maps
    taps = tf.reshape(tf.transpose(kernel[..., 0], (2, 0, 1)), (cin, k * k))
    z = tf.reshape(tf.matmul(tf.reshape(x, (-1, cin)), taps), (-1, x.shape[1], x.shape[2], k * k))
    zp = tf.pad(z, [[0, 0], [top, bottom], [left, right], [0, 0]])
    return tf.add_n([shifted(zp, dy, dx)[..., dy * k + dx] for dy in range(k) for dx in range(k)])[..., None]


def padded_conv(x: tf.Tensor, kernel: tf.Tensor, stride: int, channels: int) -> tf.Tensor:
    """The same convolution with its one-channel side zero-padded to ``channels``.

    Example:
        >>> padded_conv(tf.ones((1, 4, 4, 2)), tf.ones((3, 3, 2, 1)), 1, 8).shape
        TensorShape([1, 4, 4, 1])
    """
    k, _, cin, cout = kernel.shape
    if cout == 1:
        wide = tf.pad(kernel, [[0, 0], [0, 0], [0, 0], [0, channels - 1]])
        return tf.nn.conv2d(x, wide, stride, "SAME")[..., :1]
    wide = tf.pad(kernel, [[0, 0], [0, 0], [0, channels - cin], [0, 0]])
    return tf.nn.conv2d(tf.pad(x, [[0, 0], [0, 0], [0, 0], [0, channels - cin]]), wide, stride, "SAME")


def subpixel_conv_transpose(x: tf.Tensor, kernel: tf.Tensor, stride: int) -> tf.Tensor:
    """A "SAME" ``conv2d_transpose`` (Keras kernel layout ``(k, k, out, in)``) as conv + ``depth_to_space``.

    Output pixel ``o`` of phase ``p = o mod stride`` sums the inputs ``i`` with
    ``i * stride + a - pad = o`` over kernel taps ``a``; for each phase those inputs are a
    fixed window of offsets, so one stride-1 convolution with ``stride**2 * out`` channels
    (zeros where a phase has no tap) computes all phases at once.

    Example:
        >>> subpixel_conv_transpose(tf.ones((1, 7, 7, 4)), tf.ones((3, 3, 2, 4)), 2).shape
        TensorShape([1, 14, 14, 2])
    """
    k, _, cout, cin = kernel.shape
    pad = max(k - stride, 0) // 2

    def taps(phase):  # input offset -> kernel tap
        c = phase + pad
        return {(c - a) // stride: a for a in range(k) if (a - c) % stride == 0}

    phases = [taps(p) for p in range(stride)]
    offsets = [d for t in phases for d in t]
    lo, hi = min(offsets), max(offsets)
    zero = tf.zeros((cin, cout), kernel.dtype)
    kt = tf.transpose(kernel, (0, 1, 3, 2))
    window = tf.stack([
        tf.stack([
            tf.concat([kt[phases[py][uy], phases[px][ux]] if uy in phases[py] and ux in phases[px] else zero
                       for py in range(stride) for px in range(stride)], axis=-1)
            for ux in range(lo, hi + 1)])
        for uy in range(lo, hi + 1)])
    xp = tf.pad(x, [[0, 0], [-lo, hi], [-lo, hi], [0, 0]])
    return tf.nn.depth_to_space(tf.nn.conv2d(xp, window, 1, "VALID"), stride)


# (name, input shape without batch, kernel shape, stride, transposed, needs the input gradient)
LAYERS = [
    ("conv_0 1->32 s2 (28->14)", (28, 28, 1), (3, 3, 1, 32), 2, False, False),
    ("conv_1 32->32 s2 (14->7)", (14, 14, 32), (3, 3, 32, 32), 2, False, True),
    ("deconv_0 32->32 s2 (7->14)", (7, 7, 32), (3, 3, 32, 32), 2, True, True),
    ("deconv_1 32->32 s2 (14->28)", (14, 14, 32), (3, 3, 32, 32), 2, True, True),
    ("output 32->1 (28->28)", (28, 28, 32), (3, 3, 32, 1), 1, False, True),
]


def _train_step(fn: Callable, x: tf.Tensor, kernel: tf.Variable, need_dx: bool):
    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = fn(x)
            loss = tf.reduce_sum(y * y)
        return tape.gradient(loss, [x, kernel] if need_dx else [kernel])

    return step


def whole_model_rows(images: int, repeats: int) -> list[dict]:
    """Epoch throughput of the default conv denoiser: batch 128 / 256 / 512, and mixed_bfloat16 at 128."""
    import keras

    from keras_ae.benchmarking import EpochTimer
    from keras_ae.models.denoising import build_denoising_ae

    x = np.random.default_rng(0).random((images, 28, 28, 1), np.float32)
    variants = {}
    for label, batch, policy in (("float32, batch 128 (default)", 128, "float32"),
                                 ("float32, batch 256", 256, "float32"),
                                 ("float32, batch 512", 512, "float32"),
                                 ("mixed_bfloat16, batch 128", 128, "mixed_bfloat16")):
        keras.mixed_precision.set_global_policy(policy)
        try:
            model = build_denoising_ae((28, 28, 1))
            model.compile()
        finally:
            keras.mixed_precision.set_global_policy("float32")
        timer = EpochTimer()

        def run(model=model, batch=batch, timer=timer):
            model.fit(x, batch_size=batch, epochs=1, verbose=0, callbacks=[timer])

        variants[label] = (run, timer)
    print("\nwhole model, training epochs")
    interleaved({k: v[0] for k, v in variants.items()}, repeats=repeats, warmup=1)
    rates = {k: images / median(v[1].times[-repeats:]) for k, v in variants.items()}
    base = rates["float32, batch 128 (default)"]
    return [{"model": "conv denoising AE 32-32", "variant": k, "images/s": round(r), "x default": round(r / base, 2)}
            for k, r in rates.items()]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--steps", type=int, default=20, help="calls per timed round")
    parser.add_argument("--images", type=int, default=4096, help="images per epoch in the whole-model table")
    parser.add_argument("--out", default="runs/bench_conv_rewrites")
    args = parser.parse_args(argv)
    tf.get_logger().setLevel("ERROR")  # one tf.function per variant: retracing warnings are expected
    rng = np.random.default_rng(0)
    rows = []
    for name, shape, kshape, stride, transposed, need_dx in LAYERS:
        x = tf.constant(rng.random((args.batch_size, *shape), np.float32))
        kernel = tf.Variable(rng.normal(size=kshape).astype(np.float32) * 0.1)
        if transposed:
            out_shape = (args.batch_size, shape[0] * stride, shape[1] * stride, kshape[2])
            layer = lambda x, kernel=kernel, o=out_shape, s=stride: tf.nn.conv2d_transpose(x, kernel, o, s, "SAME")  # noqa: E731
            variants = {"sub-pixel": lambda x, kernel=kernel, s=stride: subpixel_conv_transpose(x, kernel, s)}
        else:
            layer = lambda x, kernel=kernel, s=stride: tf.nn.conv2d(x, kernel, s, "SAME")  # noqa: E731
            variants = {}
            if 1 in (kshape[2], kshape[3]):
                variants["shift-sum"] = lambda x, kernel=kernel, s=stride: shift_sum_conv(x, kernel, s)
                for n in (4, 8, 16):
                    variants[f"padded-{n}"] = lambda x, kernel=kernel, s=stride, n=n: padded_conv(x, kernel, s, n)
        steps = {"layer": _train_step(layer, x, kernel, need_dx)}
        reference = steps["layer"](x)
        for label, fn in variants.items():
            steps[label] = _train_step(fn, x, kernel, need_dx)
            got = steps[label](x)  # same function: gradients agree to float32 round-off
            err = max(float(tf.reduce_max(tf.abs(a - b)) / tf.reduce_max(tf.abs(a))) for a, b in zip(reference, got))
            if err > 1e-4:
                raise AssertionError(f"{name}: {label} differs from the layer (relative gradient error {err:.1e})")

        def timed(step):
            def run():
                for _ in range(args.steps):
                    out = step(x)
                out[0].numpy()  # wait for the last call
            return run

        print(f"\n{name}")
        times = interleaved({k: timed(v) for k, v in steps.items()}, repeats=args.repeats, warmup=2)
        base = median(times["layer"])
        for label, t in times.items():
            ms = 1e3 * median(t) / args.steps
            rows.append({"layer": name, "variant": label, "ms/step": round(ms, 3),
                         "speed vs layer": round(base / median(t), 2)})
    total = sum(r["ms/step"] for r in rows if r["variant"] == "layer")
    whole = whole_model_rows(args.images, args.repeats)
    os.makedirs(args.out, exist_ok=True)
    results = {"batch_size": args.batch_size, "layers_ms": round(total, 3), "whole_model": whole}
    write_results(args.out, results, rows=rows, args=args)
    print(format_table(whole))
    print(f"sum of the layers' forward + backward: {total:.2f} ms per batch of {args.batch_size}")
    return results


if __name__ == "__main__":
    main()
