"""Conditional VAE (Sohn et al. 2015), ``build_vae(..., num_classes=K)``: the ELBO of log p(x|y) by
hand, class-dependent decoders and samples, the labels contract, saving and export."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_ae.data import binarize
from keras_ae.errors import InputValidationError
from keras_ae.export import export
from keras_ae.models.vae import FlowVAE, build_vae
from keras_ae.saving import load_model, save_model

K = 3


def tiny_cvae(**kwargs):
    kwargs.setdefault("latent_dim", 2)
    kwargs.setdefault("hidden", (8,))
    kwargs.setdefault("seed", 0)
    return build_vae(kwargs.pop("shape", (4,)), num_classes=kwargs.pop("num_classes", K), **kwargs)


def _softplus(v):
    return np.logaddexp(0.0, v)


def _hand_terms(vae, x, y, eps):
    """log p(x|z, y) at z = mean + std * eps, and the analytic KL(q(z|x, y) || N(0, I)), in NumPy."""
    params = vae.encoder([tf.constant(x), tf.constant(np.reshape(y, (-1, 1)), tf.int32)]).numpy().astype(np.float64)
    d = vae.latent_dim
    mean = params[:, :d]
    std = np.minimum(_softplus(params[:, d:2 * d]) + vae.min_scale, vae.max_scale)
    z = mean[None] + std[None] * eps  # (samples, batch, d)
    flat = z.reshape(-1, d).astype(np.float32)
    labels = np.tile(np.reshape(y, (1, -1)), (eps.shape[0], 1)).reshape(-1, 1).astype(np.int32)
    logits = vae.decoder([tf.constant(flat), tf.constant(labels)]).numpy().astype(np.float64)
    logits = logits.reshape(eps.shape[0], len(x), -1)
    xf = x.reshape(1, len(x), -1)
    log_px = np.sum(xf * logits - _softplus(logits), axis=-1)  # Bernoulli: x log s(l) + (1 - x) log(1 - s(l))
    kl = 0.5 * np.sum(std ** 2 + mean ** 2 - 1.0 - 2.0 * np.log(std), axis=-1)
    return log_px, kl


# (1) -------------------------------------------------------------------------------------
def test_elbo_of_log_p_x_given_y_matches_a_hand_computation():
    vae = tiny_cvae()
    x = np.array([[1.0, 0.0, 1.0, 1.0]], np.float32)
    y = np.array([2])
    seed = tf.constant([7, 3])
    # Fixed noise: the model's log weights with the analytic KL are log p(x|z, y) - KL at these draws.
    eps = tf.random.stateless_normal([5, 1, 2], seed=seed, alg="philox").numpy().astype(np.float64)
    log_px, kl = _hand_terms(vae, x, y, eps)
    got = vae.log_weights(tf.constant(x), 5, seed, analytic_kl=True, labels=tf.constant(y)).numpy()
    np.testing.assert_allclose(got, log_px - kl[None], rtol=1e-5, atol=1e-4)
    # The public ELBO (its own noise) against a large Monte Carlo estimate of the same expectation.
    big = np.random.default_rng(0).normal(size=(20000, 1, 2))
    log_px, kl = _hand_terms(vae, x, y, big)
    expected = log_px.mean() - kl[0]
    elbo = vae.elbo(x, labels=y, num_samples=4000, batch_size=1, max_rows=4000)
    assert elbo.shape == (1,)
    assert abs(elbo[0] - expected) < 0.05, (elbo, expected)
    # The label matters: the ELBO for another class is a different number.
    other = vae.elbo(x, labels=[0], num_samples=4000, batch_size=1, max_rows=4000)[0]
    log_px0, kl0 = _hand_terms(vae, x, np.array([0]), big)
    assert abs(other - (log_px0.mean() - kl0[0])) < 0.05
    assert abs(other - elbo[0]) > 1e-3


def test_log_likelihood_is_the_importance_sampled_bound_of_log_p_x_given_y():
    vae = tiny_cvae()
    x = binarize(np.random.default_rng(1).random((6, 4)).astype(np.float32), seed=0)
    y = np.array([0, 1, 2, 0, 1, 2])
    ll = vae.log_likelihood(x, labels=y, k=200, verbose=0)
    elbo = vae.elbo(x, labels=y, num_samples=200)
    assert ll.shape == (6,) and np.all(np.isfinite(ll))
    assert np.all(ll >= elbo - 0.05)  # L_k >= L_1 (in expectation; 200 samples make it hold)
    np.testing.assert_array_equal(ll, vae.log_likelihood(x, labels=y, k=200, verbose=0))  # same seed
    assert not np.allclose(ll, vae.log_likelihood(x, labels=(y + 1) % K, k=200, verbose=0))


# (2) -------------------------------------------------------------------------------------
def test_the_decoder_and_the_encoder_depend_on_the_label():
    vae = tiny_cvae(shape=(8, 8, 1), hidden=(16,))
    z = np.random.default_rng(0).normal(size=(4, 2)).astype(np.float32)
    means = [vae.decode_mean(z, labels=c).numpy() for c in range(K)]
    for a in range(K):
        for b in range(a + 1, K):
            assert np.abs(means[a] - means[b]).max() > 1e-3
    # The decoder output is a function of (z, y): the same pair gives the same output.
    np.testing.assert_array_equal(means[1], vae.decode_mean(z, labels=[1, 1, 1, 1]).numpy())
    x = np.random.default_rng(1).random((4, 8, 8, 1)).astype(np.float32)
    assert np.abs(vae.codes(x, labels=0) - vae.codes(x, labels=2)).max() > 1e-4
    # Decoding (samples, batch, latent) codes repeats each example's label over the samples.
    stacked = vae.decoder_output(np.stack([z, z]), labels=[0, 1, 2, 0]).numpy()
    np.testing.assert_allclose(stacked[1, 2], vae.decoder_output(z[2:3], labels=[2]).numpy()[0], atol=1e-6)


@pytest.mark.slow  # seconds: fits or converts; the full suite runs it
@pytest.mark.parametrize("options", [dict(encoder="conv", filters=(8,)), dict(hidden=(16,)),
                                     dict(encoder=None)])
def test_dense_conv_and_custom_networks_take_labels(options):
    if options.get("encoder", "") is None:
        features = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(8)])
        decoder = keras.Sequential([keras.Input((2 + K,)), keras.layers.Dense(64), keras.layers.Reshape((8, 8, 1))])
        options = dict(encoder=features, decoder=decoder)
    vae = tiny_cvae(shape=(8, 8, 1), **options)
    assert len(vae.encoder.inputs) == 2 and len(vae.decoder.inputs) == 2
    x = binarize(np.random.default_rng(0).random((16, 8, 8, 1)).astype(np.float32), seed=0)
    vae.compile()
    history = vae.fit(x, np.arange(16) % K, epochs=1, batch_size=8, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    a, b = vae.sample(2, seed=0, labels=0), vae.sample(2, seed=0, labels=1)
    assert a.shape == (2, 8, 8, 1) and np.abs(a - b).max() > 1e-4


def test_a_custom_decoder_must_take_the_code_and_the_one_hot_label():
    decoder = keras.Sequential([keras.Input((2,)), keras.layers.Dense(4)])
    with pytest.raises(InputValidationError, match=r"latent_dim \+ num_classes\) = \(batch, 5\)"):
        tiny_cvae(decoder=decoder)


# (3) -------------------------------------------------------------------------------------
@pytest.mark.slow  # trains a CVAE and a judge on digits
def test_conditional_samples_of_the_digits_are_recognised_as_their_class(digits):
    from sklearn.linear_model import LogisticRegression

    (x_train, y_train), _ = digits
    keras.utils.set_random_seed(0)
    vae = build_vae((8, 8, 1), latent_dim=4, hidden=(128,), num_classes=10, dynamic_binarization=True, seed=0)
    vae.compile(optimizer=keras.optimizers.Adam(3e-3))
    vae.fit(x_train, y_train, epochs=30, batch_size=64, verbose=0)
    classifier = LogisticRegression(max_iter=500).fit(x_train.reshape(len(x_train), -1), y_train)
    labels = np.repeat(np.arange(10), 20)
    samples = vae.sample(len(labels), seed=1, labels=labels)
    accuracy = (classifier.predict(samples.reshape(len(samples), -1)) == labels).mean()
    assert accuracy > 0.8, accuracy  # chance is 0.1
    # Same z, different class: the class, not the code, decides the digit.
    swapped = vae.sample(len(labels), seed=1, labels=(labels + 5) % 10)
    assert (classifier.predict(swapped.reshape(len(swapped), -1)) == labels).mean() < 0.2


# (4) -------------------------------------------------------------------------------------
def _weights(model):
    return [np.array(w) for w in model.get_weights()]


def _assert_same(before, model):
    for a, b in zip(before, _weights(model)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow  # seconds: fits or converts; the full suite runs it
def test_label_errors_are_clear_and_leave_the_model_unchanged():
    vae = tiny_cvae()
    vae.compile()
    x = binarize(np.random.default_rng(0).random((6, 4)).astype(np.float32), seed=0)
    y = np.array([0, 1, 2, 0, 1, 2])
    before, state = _weights(vae), np.array(vae.seed_generator.state)
    cases = {
        "missing": (dict(), "class-conditional"),
        "out of range": (dict(labels=[0, 1, 2, 0, 1, 3]), r"class 3, outside \[0, 2\]"),
        "float": (dict(labels=[0, 1, 2, 0, 1, 1.5]), "not whole numbers"),
        "length": (dict(labels=[0, 1]), r"one class id per example, shape \(6,\)"),
    }
    for kwargs, message in cases.values():
        with pytest.raises(InputValidationError, match=message):
            vae.sample(6, **kwargs)
        with pytest.raises(InputValidationError, match=message):
            vae.elbo(x, **kwargs)
        with pytest.raises(InputValidationError, match=message):
            vae.log_likelihood(x, k=2, verbose=0, **kwargs)
        with pytest.raises(InputValidationError, match=message):
            vae.codes(x, **kwargs)
        with pytest.raises(InputValidationError, match=message):
            vae.reconstruct(x, **kwargs)
    with pytest.raises(InputValidationError, match=r"not whole numbers"):
        vae.sample(1, labels=1.5)
    with pytest.raises(InputValidationError, match="pass `y`"):
        vae.fit(x, epochs=1, verbose=0)
    with pytest.raises(InputValidationError, match=r"class 3, outside \[0, 2\]"):
        vae.fit(x, y + 1, epochs=1, verbose=0)
    with pytest.raises(InputValidationError, match="not whole numbers"):
        vae.fit(x, y + 0.5, epochs=1, verbose=0)
    with pytest.raises(InputValidationError, match=r"shape \(6,\)"):
        vae.fit(x, y[:5], epochs=1, verbose=0)
    with pytest.raises(InputValidationError, match="yields images only"):
        vae.fit(tf.data.Dataset.from_tensor_slices(x).batch(3), epochs=1, verbose=0)
    with pytest.raises(InputValidationError, match=r"outside \[0, 2\]"):
        vae.fit(tf.data.Dataset.from_tensor_slices((x, y + 1)).batch(3), epochs=1, verbose=0)
    with pytest.raises(InputValidationError, match="not whole numbers"):
        vae.fit(tf.data.Dataset.from_tensor_slices((x, y + 0.5)).batch(3), epochs=1, verbose=0)
    _assert_same(before, vae)
    np.testing.assert_array_equal(state, np.array(vae.seed_generator.state))
    # and the same data with good labels trains
    vae.fit(tf.data.Dataset.from_tensor_slices((x, y)).batch(3), epochs=1, verbose=0)
    assert any(not np.array_equal(a, b) for a, b in zip(before, _weights(vae)))


def test_an_unconditional_vae_refuses_labels_and_is_unchanged():
    vae = build_vae((4,), latent_dim=2, hidden=(8,), seed=0)
    vae.compile()
    x = binarize(np.random.default_rng(0).random((6, 4)).astype(np.float32), seed=0)
    before = _weights(vae)
    with pytest.raises(InputValidationError, match="unconditional"):
        vae.sample(2, labels=[0, 1])
    with pytest.raises(InputValidationError, match="unconditional"):
        vae.elbo(x, labels=np.zeros(6, int))
    with pytest.raises(InputValidationError, match="unconditional"):
        vae.reconstruct(x, labels=np.zeros(6, int))
    with pytest.raises(InputValidationError):
        vae.fit(x, np.zeros(6, int), epochs=1, verbose=0)  # y of an unconditional VAE: clean targets like x
    _assert_same(before, vae)
    assert not vae.conditional and vae.get_config()["num_classes"] is None


def test_an_unconditional_vae_samples_as_before():
    # The unconditional sampler's recipe, unchanged: z from the first of the two seeds split from
    # the int seed's pair, then the decoder's mean; no label enters the decoder.
    vae = build_vae((8, 8, 1), latent_dim=4, hidden=(64,), seed=1)
    assert len(vae.decoder.inputs) == 1 and len(vae.encoder.inputs) == 1
    z_seed = tf.random.experimental.stateless_split(tf.constant([3, 0]), 2)[0]
    np.testing.assert_allclose(vae.sample(5, seed=3), vae.decode_mean(vae.prior.sample(5, seed=z_seed)).numpy(),
                               atol=1e-7)


# (5) -------------------------------------------------------------------------------------
@pytest.mark.slow  # fits, saves and reloads: seconds per flow
@pytest.mark.parametrize("flow", [None, "iaf"])
def test_keras_file_round_trip_gives_identical_outputs(tmp_path, flow):
    vae = tiny_cvae(shape=(8, 8, 1), posterior_flow=flow)
    x = binarize(np.random.default_rng(0).random((6, 8, 8, 1)).astype(np.float32), seed=0)
    y = np.array([0, 1, 2, 0, 1, 2])
    vae.compile()
    vae.fit(x, y, epochs=1, verbose=0)
    loaded = load_model(save_model(vae, tmp_path / "cvae.keras"))
    assert loaded.num_classes == K and loaded.get_config()["num_classes"] == K
    assert isinstance(loaded, FlowVAE) == (flow is not None)
    np.testing.assert_array_equal(loaded.sample(4, seed=2, labels=[0, 1, 2, 1]),
                                  vae.sample(4, seed=2, labels=[0, 1, 2, 1]))
    np.testing.assert_array_equal(loaded.elbo(x, labels=y, num_samples=3), vae.elbo(x, labels=y, num_samples=3))
    np.testing.assert_allclose(loaded.reconstruct(x, labels=y), vae.reconstruct(x, labels=y), atol=1e-6)
    np.testing.assert_allclose(loaded.codes(x, labels=y), vae.codes(x, labels=y), atol=1e-6)
    loaded.fit(x, y, epochs=1, verbose=0)  # still trains with labels


# (6) -------------------------------------------------------------------------------------
@pytest.mark.slow  # an export: seconds of tracing
def test_export_sample_takes_labels_and_matches_vae_sample(tmp_path):
    vae = tiny_cvae(shape=(8, 8, 1))
    path = export(vae, "cvae", base_dir=tmp_path, allow_untrained=True)
    loaded = tf.saved_model.load(str(path))
    assert {"sample", "decode", "encode", "reconstruct", "reconstruct_uint8"} <= set(loaded.signatures)
    sample = loaded.signatures["sample"]
    labels = np.array([2, 0, 1, 2], np.int32)
    served = sample(count=tf.constant(4), seed=tf.constant(11, tf.int64), labels=tf.constant(labels))
    np.testing.assert_allclose(served["images"].numpy(), vae.sample(4, seed=11, labels=labels), atol=1e-6)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"`labels` must lie in \[0, 2\]"):
        sample(count=tf.constant(2), seed=tf.constant(1, tf.int64), labels=tf.constant([0, 3]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="`count` entries"):
        sample(count=tf.constant(3), seed=tf.constant(1, tf.int64), labels=tf.constant([0, 1]))
    x = binarize(np.random.default_rng(0).random((4, 8, 8, 1)).astype(np.float32), seed=0)
    enc = loaded.signatures["encode"](images=tf.constant(x), labels=tf.constant(labels))
    np.testing.assert_allclose(enc["mean"].numpy(), vae.posterior_params(x, labels)[0].numpy(), atol=1e-5)
    rec = loaded.signatures["reconstruct"](images=tf.constant(x), labels=tf.constant(labels))
    np.testing.assert_allclose(rec["reconstruction"].numpy(), vae.reconstruct(x, labels=labels), atol=1e-5)
    with pytest.raises(tf.errors.InvalidArgumentError, match="labels"):
        loaded.signatures["reconstruct_uint8"](images=tf.zeros((2, 8, 8, 1), tf.uint8), labels=tf.constant([0, 5]))
    dec = loaded.signatures["decode"](latents=served["latents"], labels=tf.constant(labels))
    np.testing.assert_allclose(dec["images"].numpy(), served["images"].numpy(), atol=1e-6)


@pytest.mark.slow
def test_export_sample_with_labels_in_a_tensorflow_only_process(tmp_path):
    vae = tiny_cvae(shape=(8, 8, 1))
    path = export(vae, "cvae", base_dir=tmp_path, allow_untrained=True)
    np.save(tmp_path / "expected.npy", vae.sample(3, seed=5, labels=[1, 2, 0]))
    script = textwrap.dedent(f'''
        import sys
        for blocked in ("keras", "tf_keras", "keras_ae"):
            sys.modules[blocked] = None  # TensorFlow alone serves the export
        import numpy as np
        import tensorflow as tf
        fn = tf.saved_model.load({str(path)!r}).signatures["sample"]
        out = fn(count=tf.constant(3), seed=tf.constant(5, tf.int64), labels=tf.constant([1, 2, 0]))
        np.testing.assert_allclose(out["images"].numpy(), np.load({str(tmp_path / "expected.npy")!r}), atol=1e-6)
        try:
            fn(count=tf.constant(1), seed=tf.constant(5, tf.int64), labels=tf.constant([7]))
        except tf.errors.InvalidArgumentError:
            pass
        else:
            sys.exit("label 7 was accepted")
        print("ok")
    ''')
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr[-2000:]


# (7) -------------------------------------------------------------------------------------
# Each option trains for seconds: the full suite runs them.
@pytest.mark.slow
@pytest.mark.parametrize("options", [dict(posterior_flow="iaf", objective="iwae", k=4),
                                     dict(posterior_flow="realnvp", kl_warmup_steps=5),
                                     dict(objective="iwae", k=3)])
def test_flow_posteriors_iwae_and_warmup_train_with_labels(options):
    vae = tiny_cvae(shape=(8, 8, 1), hidden=(16,), **options)
    x = binarize(np.random.default_rng(0).random((24, 8, 8, 1)).astype(np.float32), seed=0)
    y = np.arange(24) % K
    vae.compile()
    history = vae.fit(x, y, epochs=2, batch_size=8, verbose=0, validation_data=(x[:6], y[:6]))
    assert np.all(np.isfinite(history.history["loss"])) and "val_loss" in history.history
    ll = vae.log_likelihood(x[:6], labels=y[:6], k=20, verbose=0)
    assert np.all(np.isfinite(ll))
    assert not np.allclose(ll, vae.log_likelihood(x[:6], labels=(y[:6] + 1) % K, k=20, verbose=0))
    frames = vae.interpolate(x[0], x[1], steps=3, labels=1)
    assert frames.shape == (3, 8, 8, 1)


@pytest.mark.slow  # fits on standardized rows: seconds
def test_standardized_table_rows_condition_on_labels():
    rows = np.random.default_rng(0).normal([0.0, 1e4], [1.0, 1e3], (64, 2)).astype(np.float32)
    vae = build_vae((2,), latent_dim=1, hidden=(8,), likelihood="gaussian", standardize=rows, num_classes=2, seed=0)
    assert vae.standardization is not None
    vae.compile()
    vae.fit(rows, np.arange(64) % 2, epochs=1, verbose=0)
    out = vae.reconstruct(rows[:4], labels=[0, 1, 0, 1])
    assert out.shape == (4, 2) and np.abs(out[:, 1]).mean() > 1e3  # raw units
    assert np.all(np.isfinite(vae.elbo(rows[:4], labels=1)))
