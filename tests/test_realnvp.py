"""RealNVP (keras_ae.models.flow): exact log-dets, the dequantized likelihood by hand, learning, saving, export."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_ae.data import load_dataset
from keras_ae.errors import InputValidationError
from keras_ae.export import export
from keras_ae.layers.coupling import AffineCoupling
from keras_ae.models import build_realnvp
from keras_ae.models.flow.networks import get_coupling_network
from keras_ae.saving import load_model


def _eight_bit(x):
    return (np.round(np.asarray(x, np.float64) * 255) / 255).astype("float32")


@pytest.fixture(scope="module")
def digits():
    (x, _), (x_test, _) = load_dataset("digits")
    return _eight_bit(x), _eight_bit(x_test)


def _randomize_outputs(layers, seed=0, std=0.3):
    """Gives the zero-initialised last convolution of each coupling network random weights: a non-trivial flow."""
    rng = np.random.default_rng(seed)
    for layer in layers:
        last = layer.network.get_layer("log_scale_shift")
        last.kernel.assign(rng.normal(0.0, std, last.kernel.shape).astype("float32"))
        last.bias.assign(rng.normal(0.0, std, last.bias.shape).astype("float32"))


def _numerical_log_det(fn, x):
    """log |det d fn(x) / dx| per example from the full Jacobian (GradientTape), x of shape (n, ...)."""
    x = tf.constant(x)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = fn(x)
    jac = tape.batch_jacobian(y, x, experimental_use_pfor=False)  # (n, *y_shape, *x_shape); no pfor: faster to build
    n, d = x.shape[0], int(np.prod(x.shape[1:]))
    jac = tf.reshape(tf.cast(jac, tf.float64), (n, d, d))
    return tf.linalg.slogdet(jac)[1].numpy()


@pytest.mark.parametrize("mask,parity", [("checkerboard", 0), ("checkerboard", 1), ("channel", 0), ("channel", 1)])
def test_coupling_layer_inverts_to_1e4_and_its_log_det_is_the_numerical_jacobians(mask, parity):
    c = 2
    inputs, outputs = ((2, 2, c + 1), c) if mask == "checkerboard" else ((2, 2, c // 2), c // 2)
    layer = AffineCoupling(get_coupling_network(inputs, outputs, filters=4, blocks=1), mask=mask, parity=parity)
    _randomize_outputs([layer], seed=parity)
    x = np.random.default_rng(1).normal(size=(3, 2, 2, c)).astype("float32")
    y, log_det = layer.forward(x)
    x_back, inverse_log_det = layer.inverse(y)
    assert float(tf.reduce_max(tf.abs(x_back - x))) < 1e-4
    assert float(tf.reduce_max(tf.abs(y - x))) > 1e-2  # not the identity
    np.testing.assert_allclose(inverse_log_det, -log_det, atol=1e-5)
    numerical = _numerical_log_det(lambda t: layer.forward(t)[0], x)
    assert np.abs(numerical).max() > 0.1  # a volume change worth checking
    np.testing.assert_allclose(log_det.numpy(), numerical, atol=1e-4)


@pytest.mark.slow
def test_whole_flow_is_a_bijection_and_its_log_density_is_the_change_of_variables():
    flow = build_realnvp((4, 4, 1), scales=2, couplings=2, final_couplings=2, filters=4, blocks=1)
    _randomize_outputs(flow.flow_layers, std=0.2)
    y = np.random.default_rng(0).uniform(0.02, 0.98, (2, 4, 4, 1)).astype("float32")
    z, log_det = flow.forward(y)
    assert z.shape == (2, 16)
    assert float(tf.reduce_max(tf.abs(flow.inverse(z) - y))) < 1e-4
    # Logit transform, squeeze, factor-out and every coupling: against the full 16x16 Jacobian.
    np.testing.assert_allclose(log_det.numpy(), _numerical_log_det(lambda t: flow.forward(t)[0], y),
                               rtol=1e-4, atol=1e-3)
    base = -0.5 * (z.numpy() ** 2).sum(-1) - 8 * math.log(2 * math.pi)
    np.testing.assert_allclose(flow.log_density(y).numpy(), base + log_det.numpy(), rtol=1e-6)


@pytest.mark.parametrize("level", [0, 100, 255])
def test_dequantized_likelihood_of_a_constant_image_matches_a_hand_computation(level):
    # One zero-initialised coupling is the identity: log p is the Gaussian of the logit
    # plus the logit transform's log-det, minus D log 256 for the dequantization bins.
    flow = build_realnvp((4, 4, 1), scales=1, final_couplings=1, filters=4, blocks=0, alpha=0.05)
    x = np.full((1, 4, 4, 1), level / 255, np.float32)
    u = 0.3
    log_p = float(flow.log_prob(x, noise=np.full_like(x, u))[0])
    alpha, d = 0.05, 16
    y = (level + u) / 256
    s = alpha + (1 - 2 * alpha) * y
    h = math.log(s / (1 - s))
    per_dim = -0.5 * h * h - 0.5 * math.log(2 * math.pi) + math.log(1 - 2 * alpha) - math.log(s) - math.log(1 - s)
    expected = d * per_dim - d * math.log(256)
    assert math.isfinite(log_p)
    assert log_p == pytest.approx(expected, rel=1e-5)
    # The estimator over random u: finite, and the bits/dim are its conversion.
    ll = flow.log_likelihood(x, num_samples=3)
    assert np.isfinite(ll).all()
    np.testing.assert_allclose(flow.bits_per_dim(x, num_samples=3), -ll / (d * math.log(2)))


@pytest.mark.slow
def test_tiny_flow_learns_digits(digits):
    x, x_test = digits
    keras.utils.set_random_seed(0)
    flow = build_realnvp((8, 8, 1), scales=1, final_couplings=2, filters=16, blocks=1, seed=0)
    before = flow.bits_per_dim(x_test).mean()
    flow.compile(optimizer=keras.optimizers.Adam(3e-3))
    history = flow.fit(x, epochs=6, batch_size=64, verbose=0)
    after = flow.bits_per_dim(x_test).mean()
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert after < before - 1.0, (before, after)


@pytest.mark.slow
def test_keras_round_trip_and_export_signatures(digits, tmp_path):
    x, x_test = digits
    flow = build_realnvp((8, 8, 1), scales=1, final_couplings=2, filters=4, blocks=0, seed=3)
    _randomize_outputs(flow.flow_layers, std=0.1)
    flow.save(tmp_path / "flow.keras")
    loaded = load_model(tmp_path / "flow.keras")
    assert type(loaded) is type(flow) and loaded.get_config()["filters"] == 4
    np.testing.assert_array_equal(loaded.log_likelihood(x_test, seed=5), flow.log_likelihood(x_test, seed=5))
    np.testing.assert_array_equal(loaded.sample(4, seed=1), flow.sample(4, seed=1))

    path = export(flow, "flow", base_dir=tmp_path / "saved", allow_untrained=True)
    served = tf.saved_model.load(str(path)).signatures
    batch = tf.constant(x_test[:16])
    out = served["log_likelihood"](images=batch)
    np.testing.assert_allclose(out["log_likelihood"].numpy(), flow.log_likelihood(x_test[:16], seed=0), rtol=1e-5)
    np.testing.assert_allclose(out["bits_per_dim"].numpy(), flow.bits_per_dim(x_test[:16], seed=0), rtol=1e-5)
    uint8 = served["log_likelihood_uint8"](images=tf.constant(np.round(x_test[:16] * 255).astype(np.uint8)))
    np.testing.assert_allclose(uint8["log_likelihood"].numpy(), out["log_likelihood"].numpy(), rtol=1e-6)
    latents = served["encode"](images=batch)["latents"]
    np.testing.assert_allclose(latents.numpy(), flow.encode(x_test[:16]), atol=1e-5)
    np.testing.assert_array_equal(served["decode"](latents=latents)["images"].numpy(), x_test[:16])
    drawn = served["sample"](count=tf.constant(3), seed=tf.constant(7, tf.int64))
    np.testing.assert_array_equal(drawn["images"].numpy(), flow.sample(3, seed=7))
    with pytest.raises(tf.errors.InvalidArgumentError, match="8-bit"):
        served["log_likelihood"](images=tf.fill((1, 8, 8, 1), 0.5))


@pytest.mark.parametrize("bad,match", [
    (np.zeros((2, 8, 8, 2), np.float32), "per-image shape"),
    (np.full((2, 8, 8, 1), 1.5, np.float32), "outside"),
    (np.full((2, 8, 8, 1), -1 / 255, np.float32), "outside"),
    (np.full((2, 8, 8, 1), np.nan, np.float32), "NaN"),
    (np.full((2, 8, 8, 1), 0.5, np.float32), "off the 8-bit grid"),
])
def test_bad_images_are_refused_with_the_problem_named(bad, match):
    flow = build_realnvp((8, 8, 1), couplings=1, final_couplings=1, filters=4, blocks=0)
    for call in (flow.log_likelihood, flow.encode):
        with pytest.raises(InputValidationError, match=match):
            call(bad)
    flow.compile()
    with pytest.raises(InputValidationError, match=match):
        flow.fit(bad, verbose=0)


def test_bad_arguments_are_refused():
    flow = build_realnvp((8, 8, 1), couplings=1, final_couplings=1, filters=4, blocks=0)
    with pytest.raises(InputValidationError, match="latents are"):
        flow.decode(np.zeros((2, 10), np.float32))
    with pytest.raises(InputValidationError, match="temperature"):
        flow.sample(2, temperature=0.0)
    with pytest.raises(InputValidationError, match="without y"):
        flow.compile()
        flow.fit(np.zeros((2, 8, 8, 1), np.float32), np.zeros((2, 8, 8, 1), np.float32), verbose=0)
    with pytest.raises(InputValidationError, match="divisible by 4"):
        build_realnvp((6, 6, 1), scales=3)
    with pytest.raises(InputValidationError, match="alpha"):
        build_realnvp((8, 8, 1), alpha=0.5)
    # uint8 images are 8-bit images too
    x = np.arange(64, dtype=np.uint8).reshape(1, 8, 8, 1)
    np.testing.assert_array_equal(flow.log_likelihood(x), flow.log_likelihood(x.astype(np.float32) / 255))
