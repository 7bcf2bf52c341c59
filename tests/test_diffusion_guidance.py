"""Class-conditional diffusion with classifier-free guidance (Ho & Salimans 2022)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_ae.errors import InputValidationError, KerasAEError
from keras_ae.export import export, read_metadata
from keras_ae.models.diffusion import build_diffusion
from keras_ae.models.diffusion.guidance import DEFAULT_GUIDANCE, drop_labels

K = 10


def tiny(num_classes=K, timesteps=20, **kwargs):
    # 16 channels in 8 groups: with one channel per group the group norm after the embedding's
    # per-channel shift would cancel it (the timestep and the class alike).
    return build_diffusion((8, 8, 1), channels=(16,), attention=False, timesteps=timesteps, seed=0,
                           num_classes=num_classes, **kwargs)


def randomize(model, scale=0.2, seed=0):
    """Random weights everywhere (the U-Net's zero-initialized output ignores the labels at first)."""
    rng = np.random.default_rng(seed)
    for layer in model.network.layers:
        std = 1.0 if layer.name == "class_embedding" else scale
        layer.set_weights([rng.normal(0, std, w.shape).astype(w.dtype) for w in layer.get_weights()])
    if model.ema_network is not None:
        model.ema_network.set_weights(model.network.get_weights())
    return model


def weights(model):
    return [w.numpy().copy() for w in model.weights]


def assert_unchanged(model, before):
    for a, b in zip(before, weights(model)):
        np.testing.assert_array_equal(a, b)


@pytest.fixture(scope="module")
def digits():
    from keras_ae.data import load_dataset

    (x, y), _ = load_dataset("digits")
    return np.round(x[:64] * 255) / 255, y[:64].astype(np.int32)


@pytest.fixture(scope="module")
def model():
    return randomize(tiny(sample_steps=4))


# -- (1) the guided prediction ------------------------------------------------------------------


def test_guidance_mixes_the_conditional_and_null_predictions_from_one_network_call(model):
    rng = np.random.default_rng(1)
    x = tf.constant(rng.normal(size=(5, 8, 8, 1)), tf.float32)
    t = tf.constant([0, 3, 7, 12, 19])
    labels = tf.constant([0, 3, 9, 3, 5])
    net = model.network
    eps_c = net([x, tf.cast(t, tf.float32), labels]).numpy()  # two separate calls, by hand
    eps_u = net([x, tf.cast(t, tf.float32), tf.fill([5], K)]).numpy()
    assert np.abs(eps_c - eps_u).mean() > 1e-2  # the labels matter, so the checks below can fail
    calls = []

    def counting(inputs, training=False):
        calls.append(int(inputs[0].shape[0]))
        return net(inputs, training=training)

    for w in (0.0, 1.0, 2.5, 7.0):
        got = model.guided_noise(counting, x, t, labels, w).numpy()
        np.testing.assert_allclose(got, eps_u + w * (eps_c - eps_u), atol=2e-5)
    np.testing.assert_allclose(model.guided_noise(net, x, t, labels, 0.0).numpy(), eps_u, atol=1e-6)
    np.testing.assert_allclose(model.guided_noise(net, x, t, labels, 1.0).numpy(), eps_c, atol=1e-6)
    assert calls == [10, 10, 10, 10]  # one batched call of the batch and its null-label copy per prediction


@pytest.mark.slow
def test_guidance_0_samples_the_unconditional_model_whatever_the_labels(model):
    a = model.sample(4, labels=[0, 1, 2, 3], guidance=0.0, seed=5)
    b = model.sample(4, labels=[9, 8, 7, 6], guidance=0.0, seed=5)
    np.testing.assert_allclose(a, b, atol=1e-6)
    c = model.sample(4, labels=[9, 8, 7, 6], guidance=1.0, seed=5)
    assert np.abs(a - c).mean() > 1e-3
    # The default guidance is the model's.
    np.testing.assert_array_equal(model.sample(2, labels=[1, 2], seed=3),
                                  model.sample(2, labels=[1, 2], guidance=DEFAULT_GUIDANCE, seed=3))
    assert model.guidance == DEFAULT_GUIDANCE == 3.0


# -- (2) label dropout --------------------------------------------------------------------------


def test_label_dropout_nulls_a_fraction_p_of_the_labels():
    labels = tf.constant(np.arange(20_000) % K, tf.int32)
    for rate in (0.1, 0.5):
        fractions = [float(tf.reduce_mean(tf.cast(drop_labels(labels, rate, K, tf.constant([s, 1])) == K,
                                                  tf.float32))) for s in range(3)]
        assert all(abs(f - rate) < 0.015 for f in fractions), (rate, fractions)
    kept = drop_labels(labels, 0.0, K, tf.constant([0, 1])).numpy()
    np.testing.assert_array_equal(kept, labels.numpy())
    assert (drop_labels(labels, 1.0, K, tf.constant([0, 1])).numpy() == K).all()


@pytest.mark.parametrize("rate", [1.0, 0.0])
@pytest.mark.slow
def test_training_step_loss_with_label_dropout_1_is_the_null_label_loss_and_0_the_label_loss(digits, rate):
    x, y = tf.constant(digits[0][:16], tf.float32), tf.constant(digits[1][:16])
    trained, twin = randomize(tiny(label_dropout=rate)), randomize(tiny(label_dropout=rate))
    trained.compile(optimizer=keras.optimizers.SGD(0.0))
    t, noise = twin._noise_and_steps(x)  # the same seed: the draws train_step makes first
    expected = {"null": twin.compute_losses(x, t, noise, labels=tf.fill([16], K))["loss"],
                "labels": twin.compute_losses(x, t, noise, labels=y)["loss"]}
    assert abs(float(expected["null"] - expected["labels"])) > 1e-3
    loss = float(trained.train_step((x, y))["loss"])
    np.testing.assert_allclose(loss, float(expected["null" if rate == 1.0 else "labels"]), rtol=1e-5)


# -- (3) a conditional model on the 8x8 digits ----------------------------------------------------


@pytest.mark.slow
def test_guided_samples_of_a_conditional_model_on_digits_are_recognised_by_a_classifier():
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression

    data = load_digits()
    x, y = (data.images / 16.0).astype("float32")[..., None], data.target
    keras.utils.set_random_seed(0)
    model = build_diffusion((8, 8, 1), channels=(16, 32), attention=False, timesteps=100, num_classes=10, seed=0,
                            sample_steps=20, ema_decay=0.99)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    model.fit(x, y, epochs=12, batch_size=64, verbose=0)  # about a minute on 2 shared CPU cores
    classifier = LogisticRegression(max_iter=2000).fit(x.reshape(len(x), -1), y)
    labels = np.arange(200) % 10
    accuracy = {w: float(np.mean(classifier.predict(model.sample(200, labels=labels, guidance=w, seed=0)
                                                    .reshape(200, -1)) == labels)) for w in (0.0, 3.0)}
    assert accuracy[3.0] > 0.4, accuracy  # chance is 0.1 (measured: 0.1 at w = 0, 0.4 at w = 1, 0.75 at w = 3)
    assert accuracy[3.0] > accuracy[0.0] + 0.2, accuracy  # w = 0 ignores the labels


# -- (4) errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, match", [
    ({}, "class-conditional"),
    ({"labels": [0, 10]}, "outside"),
    ({"labels": [0, -1]}, "outside"),
    ({"labels": [0, 1, 2]}, "shape"),
    ({"labels": [0.5, 1]}, "whole numbers"),
    ({"labels": [0, 1], "guidance": -1.0}, "guidance"),
    ({"labels": [0, 1], "guidance": float("nan")}, "guidance"),
    ({"labels": [0, 1], "guidance": "strong"}, "guidance"),
])
def test_bad_labels_and_guidance_are_refused_by_sample(model, kwargs, match):
    with pytest.raises(InputValidationError, match=match):
        model.sample(2, **kwargs)
    with pytest.raises(InputValidationError, match=match):
        model.sample_naive(2, **kwargs)


def test_unconditional_models_refuse_labels_and_guidance(digits):
    plain = build_diffusion((8, 8, 1), channels=(8,), attention=False, timesteps=20, seed=0)
    assert not plain.conditional and plain.guidance is None and plain.get_config()["num_classes"] is None
    with pytest.raises(InputValidationError, match="unconditional"):
        plain.sample(2, labels=[0, 1])
    with pytest.raises(InputValidationError, match="guidance.*unconditional"):
        plain.sample(2, guidance=2.0)
    with pytest.raises(InputValidationError, match="unconditional"):
        plain.log_likelihood(digits[0][:2], labels=[0, 1])
    with pytest.raises(KerasAEError, match="guidance"):
        build_diffusion((8, 8, 1), channels=(8,), attention=False, timesteps=20, guidance=2.0)
    for bad in ({"label_dropout": 1.5}, {"num_classes": 1}, {"guidance": -0.5}):
        with pytest.raises(KerasAEError, match=next(iter(bad))):
            tiny(**bad)


@pytest.mark.slow  # fits and bounds; sample's refusals are in the fast tier
def test_bad_labels_are_refused_by_the_bound_and_fit_with_the_model_unchanged(digits):
    x, y = digits
    fresh = tiny()
    fresh.compile(optimizer=keras.optimizers.Adam(1e-2))
    before = weights(fresh)
    for kwargs, match in [({}, "class-conditional"), ({"labels": y[:3] + 10}, "outside"),
                          ({"labels": [0]}, "shape")]:
        with pytest.raises(InputValidationError, match=match):
            fresh.log_likelihood(x[:3], **kwargs)
    with pytest.raises(InputValidationError, match="None when `x` is a tf.data dataset"):
        fresh.log_likelihood(tf.data.Dataset.from_tensor_slices((x[:3], y[:3])).batch(2), labels=y[:3])
    with pytest.raises(InputValidationError, match="images only"):
        fresh.log_likelihood(tf.data.Dataset.from_tensor_slices(x[:3]).batch(2))
    with pytest.raises(InputValidationError, match="outside"):
        fresh.log_likelihood(tf.data.Dataset.from_tensor_slices((x[:3], y[:3] + K)).batch(2))
    with pytest.raises(InputValidationError, match="class-conditional"):
        fresh.fit(x[:16], epochs=1, verbose=0)
    with pytest.raises(InputValidationError, match="outside"):
        fresh.fit(x[:16], y[:16] + K, epochs=1, verbose=0)
    with pytest.raises(InputValidationError, match="whole numbers"):
        fresh.fit(x[:16], y[:16] + 0.5, epochs=1, verbose=0)
    with pytest.raises(InputValidationError, match="images only"):
        fresh.fit(tf.data.Dataset.from_tensor_slices(x[:16]).batch(8), epochs=1, verbose=0)
    with pytest.raises(InputValidationError, match="outside"):
        fresh.fit(tf.data.Dataset.from_tensor_slices((x[:16], y[:16] + K)).batch(8), epochs=1, verbose=0)
    with pytest.raises(InputValidationError, match="labels exactly when"):
        fresh.compute_losses(tf.constant(x[:2], tf.float32), tf.constant([1, 2]), tf.zeros((2, 8, 8, 1)))
    assert_unchanged(fresh, before)


@pytest.mark.slow  # the variational bound over every timestep, twice
def test_conditional_bound_takes_labels_from_arrays_and_datasets(model, digits):
    x, y = digits
    ll = model.log_likelihood(x[:6], labels=y[:6], timesteps=3, batch_size=4)
    dataset = tf.data.Dataset.from_tensor_slices((x[:6], y[:6]))
    np.testing.assert_allclose(ll, model.log_likelihood(dataset.batch(4), timesteps=3), rtol=1e-5)
    np.testing.assert_allclose(ll, model.log_likelihood(dataset, timesteps=3, batch_size=4), rtol=1e-5)  # unbatched
    other = model.log_likelihood(x[:6], labels=(y[:6] + 1) % K, timesteps=3, batch_size=4)
    assert np.abs(ll - other).max() > 1e-3  # the bound is conditional
    np.testing.assert_allclose(model.bits_per_dim(x[:6], labels=y[:6], timesteps=3, batch_size=4),
                               -ll / (64 * np.log(2)), rtol=1e-6)


# -- (5) saving, (6) export, (7) samplers -----------------------------------------------------------


@pytest.mark.slow  # save, load and sample a U-Net
def test_keras_round_trip_keeps_classes_dropout_guidance_and_samples(tmp_path):
    original = randomize(tiny(label_dropout=0.2, guidance=2.0, sample_steps=3))
    original.save(tmp_path / "c.keras")
    loaded = keras.saving.load_model(tmp_path / "c.keras")
    config = loaded.get_config()
    assert (config["num_classes"], config["label_dropout"], config["guidance"]) == (K, 0.2, 2.0)
    assert loaded.conditional and loaded.guidance == 2.0
    for kwargs in ({}, {"guidance": 0.5, "method": "dpm++2m"}):
        np.testing.assert_array_equal(original.sample(3, labels=[1, 5, 9], seed=4, **kwargs),
                                      loaded.sample(3, labels=[1, 5, 9], seed=4, **kwargs))


@pytest.mark.slow  # a diffusion export; the conditional VAE's export is in the fast tier
def test_export_sample_takes_labels_and_matches_python_sample(model, tmp_path, digits):
    path = export(model, "cfg", base_dir=tmp_path, allow_untrained=True)
    meta = read_metadata(path)
    assert meta["guidance"] == model.guidance and meta["num_classes"] == K
    assert set(meta["signatures"]) == {"sample", "log_likelihood", "log_likelihood_uint8"}
    loaded = tf.saved_model.load(str(path))
    sample = loaded.signatures["sample"]
    labels = np.array([0, 4, 9], np.int32)
    images = sample(count=tf.constant(3), seed=tf.constant(7, tf.int64), labels=tf.constant(labels))["images"].numpy()
    np.testing.assert_allclose(images, model.sample(3, labels=labels, seed=7), atol=2e-5)
    other = sample(count=tf.constant(3), seed=tf.constant(7, tf.int64), labels=tf.constant([1, 1, 1]))["images"]
    assert np.abs(images - other.numpy()).mean() > 1e-3
    for bad, match in [([0, 4, 10], "labels"), ([0, -1, 2], "labels"), ([0, 1], "count")]:
        with pytest.raises(tf.errors.InvalidArgumentError, match=match):
            sample(count=tf.constant(3), seed=tf.constant(7, tf.int64), labels=tf.constant(bad, tf.int32))
    x, y = digits
    scores = loaded.signatures["log_likelihood"](images=tf.constant(x[:3], tf.float32), labels=tf.constant(y[:3]))
    np.testing.assert_allclose(scores["log_likelihood"].numpy(), model.log_likelihood(x[:3], labels=y[:3]), rtol=1e-4)
    uint8 = loaded.signatures["log_likelihood_uint8"]
    scores8 = uint8(images=tf.constant(np.round(x[:3] * 255), tf.uint8), labels=tf.constant(y[:3]))
    np.testing.assert_allclose(scores8["log_likelihood"].numpy(), scores["log_likelihood"].numpy(), rtol=1e-5)
    for fn, images_in in ((loaded.signatures["log_likelihood"], tf.constant(x[:3], tf.float32)),
                          (uint8, tf.constant(np.round(x[:3] * 255), tf.uint8))):
        with pytest.raises(tf.errors.InvalidArgumentError, match="labels"):
            fn(images=images_in, labels=tf.constant([0, 1, K]))


@pytest.mark.parametrize("method", ["ddim", "dpm++2m", "ddpm"])
@pytest.mark.slow
def test_conditional_samplers_compiled_equal_python_loop_and_follow_the_labels(model, method):
    fast = model.sample(3, labels=[2, 6, 8], guidance=2.0, steps=4, method=method, seed=11)
    slow = model.sample_naive(3, labels=[2, 6, 8], guidance=2.0, steps=4, method=method, seed=11)
    assert fast.shape == (3, 8, 8, 1) and np.isfinite(fast).all()
    np.testing.assert_allclose(fast, slow, atol=1e-5)
    other = model.sample(3, labels=[0, 0, 0], guidance=2.0, steps=4, method=method, seed=11)
    assert np.abs(fast - other).mean() > 1e-3
    # Batches of a conditional walk take their own labels.
    np.testing.assert_allclose(model.sample(3, labels=[2, 6, 8], guidance=2.0, steps=4, method=method, seed=11,
                                            batch_size=1)[0], fast[0], atol=1e-5)


@pytest.mark.slow
def test_fit_on_labelled_datasets_is_deterministic_under_a_seed(digits):
    x, y = digits
    dataset = tf.data.Dataset.from_tensor_slices((x[:32], y[:32])).batch(16)
    trained = []
    for _ in range(2):
        keras.utils.set_random_seed(0)
        fresh = tiny(label_dropout=0.5)
        fresh.compile(optimizer=keras.optimizers.Adam(1e-2))
        before = weights(fresh)
        history = fresh.fit(dataset, epochs=2, verbose=0)
        assert np.isfinite(history.history["loss"]).all()
        assert any(not np.array_equal(a, b) for a, b in zip(before, weights(fresh)))
        trained.append(weights(fresh))
    for a, b in zip(*trained):
        np.testing.assert_array_equal(a, b)
    assert np.isfinite(fresh.evaluate(x[:16], y[:16], verbose=0))
