"""PixelCNN / PixelRNN: causality, exact normalized likelihoods, samplers, input checks, saving."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_ae.data import binarize
from keras_ae.errors import InputValidationError
from keras_ae.layers.gated_pixelcnn import GatedPixelCNNBlock
from keras_ae.layers.masked_conv import MaskedConv2D, causal_mask
from keras_ae.models.autoregressive import counter_uniform
from keras_ae.models.pixelcnn import PixelCNN, build_pixelcnn
from keras_ae.models.pixelrnn import PixelRNN, build_pixelrnn

MODELS = {
    "pixelcnn": lambda shape, levels=2: build_pixelcnn(shape, filters=12, blocks=4, gated=False, levels=levels,
                                                       first_kernel_size=3),
    "gated_pixelcnn": lambda shape, levels=2: build_pixelcnn(shape, filters=12, blocks=4, levels=levels,
                                                             first_kernel_size=3),
    "row_lstm": lambda shape, levels=2: build_pixelrnn(shape, kind="row_lstm", units=6, layers=1, levels=levels,
                                                       first_kernel_size=3),
    "diagonal_bilstm": lambda shape, levels=2: build_pixelrnn(shape, kind="diagonal_bilstm", units=6, layers=1,
                                                              levels=levels, first_kernel_size=3),
}


def dependencies(fn, shape, out_channels=None) -> np.ndarray:
    """``dep[p, q]``: does output ``p`` have a non-zero gradient w.r.t. input ``q`` (raster order)?

    One backward pass: a batch of ``D`` copies of one random image, where copy ``p``
    back-propagates only from output ``p``.
    """
    h, w, c = shape
    d = h * w * c
    x = tf.constant(np.repeat(np.random.default_rng(0).random((1, h, w, c), dtype=np.float32), d, axis=0))
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = fn(x)
        if len(out.shape) == 5:  # softmax logits: any level depending on q counts
            out = tf.reduce_sum(out, axis=-1)
        picked = tf.reduce_sum(tf.reshape(out, (d, d)) * tf.eye(d))
    return np.abs(tape.gradient(picked, x).numpy().reshape(d, d)) > 0


def test_causal_mask_values():
    a = causal_mask((3, 3), 1, 1, "A")[..., 0, 0]
    b = causal_mask((3, 3), 1, 1, "B")[..., 0, 0]
    np.testing.assert_array_equal(a, [[1, 1, 1], [1, 0, 0], [0, 0, 0]])
    np.testing.assert_array_equal(b, [[1, 1, 1], [1, 1, 0], [0, 0, 0]])
    # RGB centre tap, channel k in group k % 3: mask A is strictly, mask B weakly lower triangular.
    centre_a = causal_mask((1, 1), 3, 6, "A", color_channels=3)[0, 0]
    centre_b = causal_mask((1, 1), 3, 6, "B", color_channels=3)[0, 0]
    np.testing.assert_array_equal(centre_a[:, :3], np.triu(np.ones((3, 3)), 1))
    np.testing.assert_array_equal(centre_b[:, 3:], np.triu(np.ones((3, 3))))
    with pytest.raises(InputValidationError, match="multiple of color_channels"):
        causal_mask((3, 3), 3, 4, "B", color_channels=3)


@pytest.mark.parametrize("mask_type,channels", [("A", 1), ("B", 1), ("A", 3), ("B", 3)])
def test_masked_conv_layer_is_causal(mask_type, channels):
    layer = MaskedConv2D(channels, 3, mask_type=mask_type, color_channels=channels, bias_initializer="ones")
    dep = dependencies(layer, (4, 4, channels))
    assert not np.triu(dep, 1).any()  # never anything after the output's own position
    diagonal = np.diag(dep)
    assert not diagonal.any() if mask_type == "A" else diagonal.all()  # A hides the pixel itself, B shows it
    # With random weights, every channel of the 3x3 context before pixel (1, 1) is seen.
    context = [(r * 4 + col) * channels + k for r, col in ((0, 0), (0, 1), (0, 2), (1, 0)) for k in range(channels)]
    assert dep[5 * channels, context].all()


def test_mask_is_applied_in_the_product_not_written_into_the_weights(digits):
    layer = MaskedConv2D(4, 3, mask_type="A")
    x = tf.constant(binarize(digits[0][0][:16], seed=0))
    layer(x)
    kernel_before = layer.kernel.numpy().copy()
    expected = tf.nn.conv2d(x, kernel_before * layer.mask, 1, "SAME") + layer.bias
    np.testing.assert_allclose(layer(x).numpy(), expected.numpy(), atol=1e-6)
    assert (kernel_before * (1 - layer.mask) != 0).any()  # the masked taps keep their (unused) values
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(x) ** 2)
    grad = tape.gradient(loss, layer.kernel).numpy()
    assert (grad[layer.mask == 0] == 0).all() and (grad[layer.mask == 1] != 0).any()


@pytest.mark.slow
@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("channels", [1, 3])
def test_models_are_causal(name, channels):
    """Output for pixel (and colour) p has zero gradient w.r.t. every input q >= p in raster order."""
    shape = (5, 5, channels)
    model = MODELS[name](shape, levels=2 if channels == 1 else 4)
    dep = dependencies(lambda x: model(x), shape)
    assert not np.triu(dep).any(), "an output depends on its own or a later pixel"
    assert dep[-1, :-1].sum() > 0.6 * (dep.shape[0] - 1)  # but it does use the context


@pytest.mark.parametrize("gated", [True, False])
def test_dropout_is_causal_and_only_active_in_training(gated):
    shape = (4, 4, 1)
    model = build_pixelcnn(shape, filters=8, blocks=2, gated=gated, dropout=0.5, first_kernel_size=3)
    x = tf.constant(np.random.default_rng(0).random((2, *shape), dtype=np.float32))
    np.testing.assert_array_equal(model(x).numpy(), model(x).numpy())
    assert not np.allclose(model(x, training=True).numpy(), model(x).numpy())
    assert not np.triu(dependencies(lambda b: model(b, training=True), shape)).any()


def test_gated_pixelcnn_has_no_blind_spot_unlike_plain_pixelcnn():
    shape = (5, 5, 1)
    prior = np.tril(np.ones((25, 25), bool), -1)
    gated = dependencies(lambda x: MODELS["gated_pixelcnn"](shape)(x), shape)
    plain = dependencies(lambda x: MODELS["pixelcnn"](shape)(x), shape)
    assert gated[prior].all()  # every earlier pixel reaches every output
    blind = prior & ~plain
    assert blind[6, 3] and blind[10, 7]  # (1, 1) never sees (0, 3), (2, 0) never sees (1, 2): up-right
    rows = dependencies(lambda x: MODELS["row_lstm"](shape)(x), shape)
    diag = dependencies(lambda x: MODELS["diagonal_bilstm"](shape)(x), shape)
    assert (prior & ~diag).sum() < (prior & ~rows).sum()  # diagonal BiLSTM sees more than Row LSTM's triangle


@pytest.mark.slow
@pytest.mark.parametrize("name,shape,levels", [
    ("gated_pixelcnn", (2, 2, 1), 2), ("pixelcnn", (2, 2, 1), 3), ("diagonal_bilstm", (2, 2, 1), 2),
    ("row_lstm", (2, 2, 1), 2), ("gated_pixelcnn", (1, 2, 3), 2),
])
def test_log_likelihood_is_exact_and_normalized(name, shape, levels):
    """exp(log p(x)) sums to 1 over every possible image: the likelihood is exact."""
    model = MODELS[name](shape, levels=levels)
    d = int(np.prod(shape))
    everything = (np.array(list(itertools.product(range(levels), repeat=d)), np.float32).reshape(-1, *shape)
                  / (levels - 1))
    log_p = model.log_likelihood(everything)
    assert np.exp(log_p).sum() == pytest.approx(1.0, abs=1e-5)
    assert model.bits_per_dim(everything[:3]) == pytest.approx(-log_p[:3] / (d * np.log(2)), rel=1e-6)


@pytest.mark.slow
def test_sampler_draws_from_the_model_distribution():
    shape = (2, 2, 1)
    model = MODELS["gated_pixelcnn"](shape)
    logits = model.network.get_layer("head").get_layer("logits")
    logits.kernel.assign(logits.kernel * 6.0)  # a peaked, far from uniform distribution
    logits.bias.assign([1.5])
    everything = np.array(list(itertools.product((0.0, 1.0), repeat=4)), np.float32).reshape(-1, *shape)
    p = np.exp(model.log_likelihood(everything))
    samples = model.sample(4000, seed=3, batch_size=1000, jit_compile=False).reshape(-1, 4)
    codes = samples @ (2.0 ** np.arange(3, -1, -1))
    freq = np.bincount(codes.astype(int), minlength=16) / len(codes)
    assert p.max() > 0.3 and p.min() < 0.01  # far from uniform (1/16)
    assert 0.5 * np.abs(freq - p).sum() < 0.04  # total variation distance


@pytest.mark.slow
@pytest.mark.parametrize("name,levels", [("gated_pixelcnn", 2), ("pixelcnn", 2), ("gated_pixelcnn", 256)])
def test_sampler_rows_match_the_full_network(name, levels):
    """The sampler's per-row shortcut (a band of rows; for gated: cached vertical stack) is exact."""
    channels = 1 if levels == 2 else 3
    model = MODELS[name]((12, 7, channels), levels=levels)
    assert model.receptive_rows < 11  # so the band really is narrower than the image
    x = tf.constant(np.random.default_rng(1).random((2, 12, 7, channels), dtype=np.float32))
    full = model(x).numpy()
    for row in range(12):
        cached = model._row_logits(x, tf.constant(row), model._begin_row(x, tf.constant(row)))
        np.testing.assert_allclose(cached.numpy(), full[:, row], atol=2e-5)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["gated_pixelcnn", "row_lstm"])
def test_compiled_sampler_equals_naive_loop(name):
    model = MODELS[name]((5, 4, 1))
    fast = model.sample(3, seed=7, jit_compile=True)
    assert set(np.unique(fast)) <= {0.0, 1.0}
    np.testing.assert_array_equal(fast, model.sample(3, seed=7, jit_compile=False))
    np.testing.assert_array_equal(fast, model.sample_naive(3, seed=7))
    assert not np.array_equal(fast, model.sample(3, seed=8, jit_compile=False))


def test_counter_uniform_is_uniform_and_identical_under_xla():
    u = counter_uniform([20000], tf.constant(5, tf.int64), 3).numpy()
    xla = tf.function(counter_uniform, jit_compile=True)([20000], tf.constant(5, tf.int64), tf.constant(3)).numpy()
    np.testing.assert_array_equal(u, xla)
    assert 0 < u.min() and u.max() < 1
    assert np.histogram(u, bins=10, range=(0, 1))[0].min() > 1800  # ~2000 per bin
    assert abs(np.corrcoef(u, counter_uniform([20000], tf.constant(5, tf.int64), 4).numpy())[0, 1]) < 0.03


@pytest.mark.slow
def test_completion_keeps_observed_rows():
    model = MODELS["gated_pixelcnn"]((6, 5, 1))
    x = (np.random.default_rng(0).random((4, 6, 5, 1)) > 0.5).astype(np.float32)
    done = model.complete(x, rows_observed=3, seed=1, jit_compile=False)
    np.testing.assert_array_equal(done[:, :3], x[:, :3])
    assert set(np.unique(done)) <= {0.0, 1.0}
    top_rows_only = model.complete(x[:, :3], rows_observed=3, seed=1, jit_compile=False)
    np.testing.assert_array_equal(done, top_rows_only)
    assert not np.array_equal(done, model.complete(x, rows_observed=3, seed=2, jit_compile=False))


@pytest.mark.slow
def test_bad_inputs_give_clear_errors():
    model = MODELS["gated_pixelcnn"]((6, 5, 1))
    grey = np.full((2, 6, 5, 1), 0.5, np.float32)
    with pytest.raises(InputValidationError, match="not binary.*binarize"):
        model.log_likelihood(grey)
    model.compile()
    with pytest.raises(InputValidationError, match="not binary"):
        model.fit(grey, epochs=1, verbose=0)
    with pytest.raises(InputValidationError, match="larger than the 6x5x1"):
        model.log_likelihood(np.zeros((2, 8, 8, 1)))
    with pytest.raises(InputValidationError, match="at least one observed row"):
        model.complete(np.zeros((2, 6, 5, 1)), rows_observed=0)
    with pytest.raises(InputValidationError, match="without y"):
        model.fit(np.zeros((2, 6, 5, 1)), np.zeros(2))
    with pytest.raises(InputValidationError, match="grid of 256 levels"):
        MODELS["pixelcnn"]((6, 5, 1), levels=256).log_likelihood(np.full((1, 6, 5, 1), 0.3 / 255))
    with pytest.raises(InputValidationError, match="dynamic_binarization needs a binary"):
        build_pixelcnn((6, 5, 1), levels=256, dynamic_binarization=True)
    # With dynamic binarization grey training images are fine.
    dynamic = build_pixelcnn((6, 5, 1), filters=4, blocks=1, dynamic_binarization=True)
    dynamic.compile()
    assert np.isfinite(dynamic.fit(grey, epochs=1, verbose=0).history["nll"][0])


@pytest.mark.slow
def test_gated_pixelcnn_learns_binarized_digits(digits):
    (x_train, _), (x_test, _) = digits
    test = binarize(x_test, seed=0)
    model = build_pixelcnn((8, 8, 1), filters=16, blocks=2, first_kernel_size=5, dynamic_binarization=True, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    history = model.fit(x_train, epochs=8, batch_size=64, verbose=0)
    nll = -model.log_likelihood(test).mean()
    # Baseline: independent pixels with the training marginals (the best factorized model).
    p = np.clip(x_train.mean(axis=0), 1e-3, 1 - 1e-3)
    independent = -(test * np.log(p) + (1 - test) * np.log(1 - p)).reshape(len(test), -1).sum(axis=1).mean()
    assert history.history["nll"][-1] < history.history["nll"][0]
    assert nll < independent - 1.0, (nll, independent)  # sem of the difference is ~0.2 nats


@pytest.mark.slow
def test_keras_round_trip_in_fresh_process(tmp_path):
    x = (np.random.default_rng(0).random((16, 6, 5, 1)) > 0.5).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    expected = {}
    for name, model in [("gated", MODELS["gated_pixelcnn"]((6, 5, 1))), ("diag", MODELS["diagonal_bilstm"]((6, 5, 1)))]:
        model.compile()
        if name == "gated":  # trained for 2 steps: the optimizer state must come back too
            model.fit(x, epochs=1, batch_size=8, verbose=0)
        model.save(tmp_path / f"{name}.keras")
        expected[name] = (model.log_likelihood(x).tolist(), model.sample(2, seed=4, jit_compile=False).tolist(),
                          type(model).__name__)
    script = textwrap.dedent(f"""
        import json, keras, numpy as np
        import keras_ae.models.pixelcnn, keras_ae.models.pixelrnn
        x = np.load({str(tmp_path / "x.npy")!r})
        out = {{}}
        for name in ("gated", "diag"):
            m = keras.models.load_model({str(tmp_path)!r} + f"/{{name}}.keras")
            out[name] = (m.log_likelihood(x).tolist(), m.sample(2, seed=4, jit_compile=False).tolist(),
                         type(m).__name__, m.network.name, int(m.optimizer.iterations.numpy()))
        print(json.dumps(out))
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    for name, (ll, samples, cls) in expected.items():
        got_ll, got_samples, got_cls, network, iterations = loaded[name]
        assert got_ll == ll and got_samples == samples
        assert got_cls == cls and cls in (PixelCNN.__name__, PixelRNN.__name__)
        assert network == "network" and iterations == (2 if name == "gated" else 0)


def test_gated_block_rejects_mismatched_residual():
    with pytest.raises(InputValidationError, match="residual gated block needs 8"):
        GatedPixelCNNBlock(8)([keras.Input((5, 5, 4)), keras.Input((5, 5, 4))])
