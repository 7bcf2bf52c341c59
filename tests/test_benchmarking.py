"""keras_ae.benchmarking: FLOP counts against hand counts, the timing helpers, a benchmark smoke run."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_ae.benchmarking import (EpochTimer, count_flops, forward_flops, interleaved, matmul_peak_gflops, median,
                                   peak_rss_mb, reset_peak_rss, time_call, training_flops)
from keras_ae.models.conv import build_conv_ae
from keras_ae.models.dense import build_dense_ae
from keras_ae.models.gan import GAN

RECIPES = Path(__file__).resolve().parents[1] / "recipes"


# -- FLOPs ---------------------------------------------------------------------------------------
def test_dense_ae_flops_match_a_hand_count():
    # 784-128-64-32-64-128-784: one multiply-add (2 FLOPs) per weight per example.
    widths = [784, 128, 64, 32, 64, 128, 784]
    macs = sum(a * b for a, b in zip(widths[:-1], widths[1:]))
    model = build_dense_ae((28, 28, 1))
    assert forward_flops(model) == 2 * macs
    assert forward_flops(model, batch_size=5) == 5 * 2 * macs
    assert training_flops(model, batch_size=2) == 3 * 2 * 2 * macs


def test_conv_ae_flops_match_a_hand_count():
    # 8x8x1 -> conv 3x3 s2 (4x4x4) -> conv 3x3 s2 (2x2x6) -> deconv (4x4x6) -> deconv (8x8x4) -> conv 3x3 (8x8x1)
    model = build_conv_ae((8, 8, 1), filters=(4, 6))
    k = 9
    hand = (4 * 4 * 4 * k * 1          # conv_0: output positions x channels x kernel x in-channels
            + 2 * 2 * 6 * k * 4        # conv_1
            + 2 * 2 * 6 * k * 6        # deconv_0: each input position x in-channels scatters kernel x out-channels
            + 4 * 4 * 6 * k * 4        # deconv_1
            + 8 * 8 * 1 * k * 4)       # output conv
    assert forward_flops(model) == 2 * hand


def test_matmul_and_gradient_flops():
    # Forward matmul (4x3)(3x5), then both gradients: dA = dC B^T, dB = A^T dC, each 2*4*3*5.
    a, b = tf.TensorSpec((4, 3)), tf.TensorSpec((3, 5))
    assert count_flops(tf.matmul, a, b) == 2 * 4 * 3 * 5

    def with_gradients(x, y):
        with tf.GradientTape() as tape:
            tape.watch([x, y])
            out = tf.reduce_sum(tf.matmul(x, y))
        return tape.gradient(out, [x, y])

    assert count_flops(with_gradients, a, b) == 3 * 2 * 4 * 3 * 5


def test_conv_gradient_flops_equal_forward_flops():
    conv = keras.layers.Conv2D(3, 3, padding="same")
    conv.build((None, 6, 6, 2))
    spec = tf.TensorSpec((1, 6, 6, 2))
    forward = count_flops(conv, spec)
    assert forward == 2 * 6 * 6 * 3 * 9 * 2

    def step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            out = tf.reduce_sum(conv(x))
        return tape.gradient(out, [x, conv.kernel])

    assert count_flops(step, spec) == 3 * forward  # Conv2D + Conv2DBackpropInput + Conv2DBackpropFilter


def test_gan_training_flops_follow_the_stated_rule():
    g_in = keras.Input((3,))
    generator = keras.Model(g_in, keras.layers.Dense(4, activation="sigmoid")(keras.layers.Dense(5)(g_in)))
    d_in = keras.Input((4,))
    discriminator = keras.Model(d_in, keras.layers.Dense(1)(keras.layers.Dense(7)(d_in)))
    gan = GAN(generator, discriminator, ema_decay=None)
    gan.compile()
    g, d = 2 * (3 * 5 + 5 * 4), 2 * (4 * 7 + 7 * 1)
    assert forward_flops(gan) == g + d
    # default: the generator update reuses the discriminator step's fakes (one G forward less)
    assert training_flops(gan) == (g + 6 * d) + 3 * (g + d) - g
    gan.compile(reuse_fakes=False)
    assert training_flops(gan) == (g + 6 * d) + 3 * (g + d)
    gan.compile(loss="wasserstein_gp", n_critic=3)  # fresh noise for G after several critic steps
    assert training_flops(gan) == 3 * (g + 6 * d) + 3 * (g + d)


def test_dynamic_shapes_are_refused():
    with pytest.raises(ValueError, match="dynamic shape"):
        count_flops(tf.matmul, tf.TensorSpec((None, 3)), tf.TensorSpec((3, 2)))


# -- timing ----------------------------------------------------------------------------------------
def test_time_call_warms_up_then_times_each_call():
    calls = []

    def work():
        calls.append(time.perf_counter())
        time.sleep(0.01)

    times = time_call(work, repeats=3, warmup=2)
    assert len(calls) == 5 and len(times) == 3
    assert all(0.009 <= t < 0.5 for t in times)
    assert median([3.0, 1.0, 2.0, 10.0]) == 2.5


def test_interleaved_runs_variants_in_turn():
    order = []
    variants = {name: (lambda name=name: order.append(name)) for name in ("a", "b", "c")}
    times = interleaved(variants, repeats=3, warmup=1, verbose=0)
    assert order[:3] == ["a", "b", "c"]  # warm-up
    assert order[3:] == ["a", "b", "c"] * 3  # round robin, not a, a, a, b, ...
    assert {k: len(v) for k, v in times.items()} == {"a": 3, "b": 3, "c": 3}
    # A custom timer's value is what gets recorded (e.g. an epoch time from a callback).
    fixed = interleaved({"x": lambda: 0.25}, repeats=2, warmup=0, verbose=0, timer=lambda fn: fn())
    assert fixed == {"x": [0.25, 0.25]}


@pytest.mark.slow
def test_epoch_timer_records_every_epoch(digits):
    (x, _), _ = digits
    model = build_dense_ae((8, 8, 1), hidden=(16,), code_dim=4)
    model.compile()
    timer = EpochTimer()
    started = time.perf_counter()
    model.fit(x[:256], epochs=3, batch_size=64, verbose=0, callbacks=[timer])
    total = time.perf_counter() - started
    assert len(timer.times) == 3 and len(timer.cpu_times) == 3
    assert all(t > 0 for t in timer.times) and sum(timer.times) <= total


def test_matmul_peak_is_a_plausible_rate():
    gflops = matmul_peak_gflops(256, repeats=3, warmup=1)
    assert 0.1 < gflops < 1e5  # between a slow laptop core and a large GPU


@pytest.mark.slow  # allocates and touches a large buffer
def test_peak_memory_sees_a_large_allocation():
    if not reset_peak_rss():
        pytest.skip("peak RSS cannot be reset on this platform")
    before = peak_rss_mb()
    block = np.ones(200 * 2**20 // 8)  # 200 MiB, touched
    assert peak_rss_mb() - before > 150
    del block


# -- the benchmark recipe ----------------------------------------------------------------------------
@pytest.mark.slow
def test_benchmark_smoke_run_writes_results_and_report(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(RECIPES))
    sys.modules.pop("benchmark", None)
    import benchmark

    monkeypatch.setattr(benchmark, "XLA_MIN_EXAMPLES", 3000)  # short first fits: this is a smoke run
    report = tmp_path / "BENCH.md"
    results = benchmark.main(["--quick", "--dataset", "digits", "--sections", "train,scaling", "--rows", "dense",
                              "--repeats", "1", "--out", str(tmp_path / "out"), "--markdown", str(report),
                              "--verbose", "0"])
    rows = results["train"]
    assert {r["variant"] for r in rows} >= {"keras_ae", "plain Keras"}
    plain = next(r for r in rows if r["variant"] == "plain Keras")
    assert plain["x plain"] == 1.0 and all(r["images/s"] > 0 and r["GFLOP/s"] > 0 for r in rows)
    assert [r["images"] for r in results["scaling"]] == [256, 512, 1024]
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    assert saved["results"]["peak_gflops"] > 0
    text = report.read_text()
    assert "## Machine" in text and "load average" in text and "| keras_ae |" not in text.split("## Machine")[0]


# -- the defaults chosen from the benchmark -----------------------------------------------------------
def test_xla_is_preferred_only_for_small_dense_autoencoders():
    from keras_ae.training.defaults import prefers_xla
    from keras_ae.models.denoising import build_denoising_ae
    from keras_ae.models.vae import build_vae

    if tf.config.list_physical_devices("GPU"):
        pytest.skip("the rule is for CPU-only machines")
    assert prefers_xla(build_dense_ae((28, 28, 1)))  # 221k multiply-adds: overhead-bound
    assert prefers_xla(build_dense_ae((28, 28, 1), hidden=(1000, 500, 250), code_dim=30))  # 2.8M: still fused faster
    assert not prefers_xla(build_dense_ae((28, 28, 1), hidden=(2000, 1000), code_dim=30))  # 7.2M: oneDNN-bound
    assert not prefers_xla(build_conv_ae((28, 28, 1)))
    assert not prefers_xla(build_denoising_ae((28, 28, 1), architecture="dense"))  # random ops under XLA
    assert not prefers_xla(build_vae((28, 28, 1)))


def test_op_determinism_keeps_keras_choice():
    from tensorflow.python.framework.config import disable_op_determinism, is_op_determinism_enabled

    from keras_ae.training.defaults import prefers_xla

    if tf.config.list_physical_devices("GPU") or is_op_determinism_enabled():
        pytest.skip("the rule is for CPU-only machines; determinism already on")
    model = build_dense_ae((28, 28, 1))
    assert prefers_xla(model)
    tf.config.experimental.enable_op_determinism()
    try:
        assert not prefers_xla(model)  # bit-identical reruns: no compiler switch behind the user's back
    finally:
        disable_op_determinism()


@pytest.mark.slow
def test_first_long_fit_turns_xla_on_and_still_learns(digits, monkeypatch):
    from keras_ae.training import defaults as compile_defaults

    if tf.config.list_physical_devices("GPU"):
        pytest.skip("the rule is for CPU-only machines")
    (x, _), _ = digits
    short = build_dense_ae((8, 8, 1), hidden=(32,), code_dim=8)
    short.compile()
    short.fit(x[:256], epochs=1, batch_size=64, verbose=0)
    assert short.jit_compile is False  # 256 examples: compiling would not pay off

    explicit = build_dense_ae((8, 8, 1), hidden=(32,), code_dim=8)
    explicit.compile(jit_compile=False)
    assert not compile_defaults.choose_jit_compile(explicit, x, epochs=10**6)  # the user's choice stands

    monkeypatch.setattr(compile_defaults, "XLA_MIN_EXAMPLES", 2 * len(x))
    model = build_dense_ae((8, 8, 1), hidden=(32,), code_dim=8)
    model.compile()
    before = model.evaluate(x, verbose=0)[0]
    history = model.fit(x, epochs=3, batch_size=64, verbose=0)
    assert model.jit_compile is True
    assert history.history["loss"][-1] < 0.9 * before


def test_dcgan_compiles_without_xla_on_cpu_and_mlp_gan_with_it():
    from keras_ae.models.gan import build_dcgan, build_gan

    if tf.config.list_physical_devices("GPU"):
        pytest.skip("the rule is for CPU-only machines")
    dcgan = build_dcgan((8, 8, 1), latent_dim=4, filters=(8, 4))
    dcgan.compile()
    assert dcgan.jit_compile is False  # oneDNN's convolutions beat XLA's on CPU
    mlp = build_gan(16, latent_dim=4, generator_units=(8,), discriminator_units=(8,))
    mlp.compile()
    assert mlp.jit_compile is True
    dcgan.compile(jit_compile=True)
    assert dcgan.jit_compile is True
