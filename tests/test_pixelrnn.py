"""PixelRNN: exact receptive fields (every output/input pixel pair on 8x8) and the row-by-row sampler."""

from __future__ import annotations

import importlib.util

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_ae.layers.pixel_rnn import DiagonalBiLSTM, RowLSTM
from keras_ae.models.pixelrnn import PixelRNN, build_pixelrnn, pixelrnn_dependencies

SHAPE = (8, 8, 1)


def dependencies(fn, shape, seed: int = 0) -> np.ndarray:
    """``dep[p, q]``: does output ``p`` (summed over its channels) have a non-zero gradient w.r.t. input ``q``?

    Raster order over pixels and colours. One backward pass: a batch of ``D`` copies of
    one random image, where copy ``p`` back-propagates only from output ``p``.
    """
    h, w, c = shape
    d = h * w * c
    x = tf.constant(np.repeat(np.random.default_rng(seed).random((1, h, w, c), dtype=np.float32), d, axis=0))
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = fn(x)
        if len(out.shape) == 5:  # softmax logits: any level counts
            out = tf.reduce_sum(out, axis=-1)
        if out.shape[-1] != c:  # features: a random mix per colour group (channel k is colour k % c)
            groups = tf.reshape(out, (d, h, w, out.shape[-1] // c, c))
            mix = tf.constant(np.random.default_rng(1).normal(size=(out.shape[-1] // c, 1)), tf.float32)
            out = tf.reduce_sum(groups * mix, axis=-2)
        picked = tf.reduce_sum(tf.reshape(out, (d, -1)) * tf.eye(d))
    return np.abs(tape.gradient(picked, x).numpy().reshape(d, d)) > 0


def trunk(model: PixelRNN) -> keras.Model:
    """The network up to the output head: no ReLU, so no gradient is zero by accident."""
    return keras.Model(model.network.input, model.network.get_layer("head").input)


CONFIGS = [
    dict(kind="row_lstm", layers=1, first_kernel_size=7),
    dict(kind="row_lstm", layers=2, first_kernel_size=7),
    dict(kind="row_lstm", layers=2, first_kernel_size=3),
    dict(kind="diagonal_bilstm", layers=1, first_kernel_size=7),
    dict(kind="diagonal_bilstm", layers=2, first_kernel_size=3),
    dict(kind="diagonal_bilstm", layers=1, first_kernel_size=7, full_context=False),
    dict(kind="diagonal_bilstm", layers=2, first_kernel_size=3, full_context=False),
]


@pytest.mark.slow
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "-".join(str(v) for v in c.values()))
def test_receptive_field_is_exactly_as_documented(config):
    """For every (output, input) pixel pair on 8x8: causal, and reachable exactly as documented."""
    expected = pixelrnn_dependencies(SHAPE, **config)
    assert not np.triu(expected).any()  # the documented set itself is causal
    union = np.zeros_like(expected)
    for seed in range(3):
        keras.utils.set_random_seed(seed)
        model = build_pixelrnn(SHAPE, units=4, **config)
        np.testing.assert_array_equal(dependencies(trunk(model), SHAPE, seed), expected)
        end_to_end = dependencies(model, SHAPE, seed)
        assert not np.triu(end_to_end).any(), "an output depends on its own or a later pixel"
        assert not (end_to_end & ~expected).any()
        union |= end_to_end
    # The head's ReLUs may zero a gradient for one set of weights, not for all three.
    np.testing.assert_array_equal(union, expected)


def test_diagonal_bilstm_sees_every_earlier_pixel_and_the_paper_layer_does_not():
    earlier = np.tril(np.ones((64, 64), bool), -1)
    assert pixelrnn_dependencies(SHAPE, "diagonal_bilstm")[earlier].all()
    paper = pixelrnn_dependencies(SHAPE, "diagonal_bilstm", full_context=False)
    gaps = [(divmod(p, 8), divmod(q, 8)) for p, q in np.argwhere(earlier & ~paper)]
    # Only the last pixel of the row above, from the first w - 1 - r = 4 pixels of a row.
    assert gaps == [((i, j), (i - 1, 7)) for i in range(1, 8) for j in range(4)]
    assert ((4, 3), (3, 7)) in gaps  # the tracker's example


def test_row_lstm_receptive_field_is_a_triangle():
    dep = pixelrnn_dependencies((8, 12), "row_lstm", layers=1, first_kernel_size=7).reshape(8, 12, 8, 12)
    assert dep[7, 5, 7].nonzero()[0].tolist() == [1, 2, 3, 4]  # j - L - r .. j - 1
    for e in range(1, 8):  # e rows up: j - L - e - r .. j + e + 2
        assert dep[7, 5, 7 - e].nonzero()[0].tolist() == list(range(max(0, 5 - 4 - e), min(12, 5 + e + 3)))
    assert not dep[7, 0, 6, 11]  # out of the triangle: one row up, far right


@pytest.mark.parametrize("channels", [1, 3])
def test_full_context_diagonal_bilstm_is_causal_per_colour(channels):
    shape = (5, 5, channels)
    model = build_pixelrnn(shape, units=6, layers=1, first_kernel_size=3, levels=2 if channels == 1 else 4)
    dep = dependencies(model, shape) | dependencies(trunk(model), shape)
    assert not np.triu(dep).any()
    assert model.network.get_layer("diagonal_bilstm_0").pixel_kernel is not None


def test_diagonal_bilstm_layer_accepts_features_or_features_and_images():
    x, images = np.zeros((1, 4, 4, 2), "float32"), np.zeros((1, 4, 4, 1), "float32")
    plain, fed = DiagonalBiLSTM(4), DiagonalBiLSTM(4)
    assert plain(x).shape == fed([x, images]).shape == (1, 4, 4, 4)
    assert plain.pixel_kernel is None and tuple(fed.pixel_kernel.shape) == (1, 16)
    assert len(fed.weights) == len(plain.weights) + 1


def test_row_lstm_step_matches_the_scan():
    layer = RowLSTM(4)
    x = tf.constant(np.random.default_rng(0).random((2, 5, 6, 3), dtype=np.float32))
    out = layer(x)
    hs, cs = layer.scan(x)
    np.testing.assert_array_equal(out.numpy(), hs.numpy())
    z = layer.input_to_state(x)
    h, c = tf.zeros_like(hs[:, 0]), tf.zeros_like(cs[:, 0])
    for row in range(5):
        h, c = layer.step(z[:, row], layer.recurrent(h), c)
        np.testing.assert_allclose(h.numpy(), hs[:, row].numpy(), atol=1e-6)
        np.testing.assert_allclose(c.numpy(), cs[:, row].numpy(), atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("shape,levels,layers", [((8, 8, 1), 2, 2), ((6, 5, 3), 4, 1)])
def test_row_by_row_sampler_equals_naive_sampler(shape, levels, layers):
    model = build_pixelrnn(shape, kind="row_lstm", units=6, layers=layers, levels=levels)
    assert model._row_lstm_parts() is not None  # the row-by-row path is the one under test
    fast = model.sample(3, seed=7)  # XLA
    np.testing.assert_array_equal(fast, model.sample(3, seed=7, jit_compile=False))
    np.testing.assert_array_equal(fast, model.sample_naive(3, seed=7))
    assert not np.array_equal(fast, model.sample(3, seed=8, jit_compile=False))
    generic = build_pixelrnn(shape, kind="row_lstm", units=6, layers=layers, levels=levels)
    generic.set_weights(model.get_weights())
    generic.row_by_row = False
    assert generic._row_lstm_parts() is None
    np.testing.assert_array_equal(fast, generic.sample(3, seed=7, jit_compile=False))


def test_row_by_row_rows_match_the_full_network():
    model = build_pixelrnn((9, 7, 1), kind="row_lstm", units=4, layers=2, first_kernel_size=5)
    x = tf.constant(np.random.default_rng(1).random((2, 9, 7, 1), dtype=np.float32))
    full = model(x).numpy()
    state = model._initial_row_state(x, tf.constant(0))
    for row in range(9):
        cache = model._begin_row_with_state(x, tf.constant(row), state)
        np.testing.assert_allclose(model._row_logits(x, tf.constant(row), cache).numpy(), full[:, row], atol=1e-5)
        state = model._end_row(x, tf.constant(row), cache, state)
    for first_row in (1, 4, 8):  # complete(): the carried state of the last observed row, from one pass
        state = model._initial_row_state(x, tf.constant(first_row))
        cache = model._begin_row_with_state(x, tf.constant(first_row), state)
        np.testing.assert_allclose(model._row_logits(x, tf.constant(first_row), cache).numpy(), full[:, first_row],
                                   atol=1e-5)


@pytest.mark.slow
def test_row_by_row_completion_equals_the_generic_sampler():
    model = build_pixelrnn((7, 6, 1), kind="row_lstm", units=4, layers=2, first_kernel_size=3)
    generic = build_pixelrnn((7, 6, 1), kind="row_lstm", units=4, layers=2, first_kernel_size=3)
    generic.set_weights(model.get_weights())
    generic.row_by_row = False
    x = (np.random.default_rng(0).random((4, 7, 6, 1)) > 0.5).astype(np.float32)
    for rows in (1, 3, 7):
        done = model.complete(x, rows_observed=rows, seed=1)
        np.testing.assert_array_equal(done[:, :rows], x[:, :rows])
        np.testing.assert_array_equal(done, generic.complete(x, rows_observed=rows, seed=1, jit_compile=False))


@pytest.mark.slow
def test_diagonal_bilstm_uses_the_generic_sampler_and_matches_naive():
    model = build_pixelrnn((5, 4, 1), kind="diagonal_bilstm", units=4, layers=1, first_kernel_size=3)
    assert model._row_lstm_parts() is None
    np.testing.assert_array_equal(model.sample(2, seed=3, jit_compile=False), model.sample_naive(2, seed=3))


@pytest.mark.slow
@pytest.mark.parametrize("config", [dict(kind="diagonal_bilstm"), dict(kind="diagonal_bilstm", full_context=False),
                                    dict(kind="row_lstm")])
def test_keras_saving_round_trip(config, tmp_path):
    model = build_pixelrnn((6, 5, 1), units=4, layers=2, first_kernel_size=3, **config)
    x = (np.random.default_rng(0).random((8, 6, 5, 1)) > 0.5).astype(np.float32)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert isinstance(loaded, PixelRNN) and loaded.info == model.info
    np.testing.assert_array_equal(loaded.log_likelihood(x), model.log_likelihood(x))
    np.testing.assert_array_equal(loaded.sample(2, seed=4, jit_compile=False),
                                  model.sample(2, seed=4, jit_compile=False))
    if config["kind"] == "diagonal_bilstm":
        has_pixels = loaded.network.get_layer("diagonal_bilstm_0").pixel_kernel is not None
        assert has_pixels == config.get("full_context", True)


@pytest.mark.slow
def test_benchmark_script_runs(capsys):
    spec = importlib.util.spec_from_file_location("bench", "recipes/bench_pixelrnn_sampler.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    rows = bench.main(["--size", "5", "--n", "2", "--units", "4"])
    assert [r["sampler"] for r in rows][-1] == "sample_naive (compiled forward)"
    assert "identical images from every sampler" in capsys.readouterr().out
