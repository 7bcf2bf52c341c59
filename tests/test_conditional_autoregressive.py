"""Class-conditional PixelCNN / PixelRNN (van den Oord et al. 2016b) and the VQ-VAE's conditional prior.

Causality with labels (gradients), exact normalisation of p(x | y), that a model trained on
the digits prefers the true class, the one labels contract (errors leave the model unchanged),
``.keras`` round trips and the exported ``sample`` / ``log_likelihood`` signatures with labels.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import tensorflow as tf

from keras_ae.errors import InputValidationError
from keras_ae.export import export
from keras_ae.models.pixelcnn import build_pixelcnn
from keras_ae.models.pixelrnn import build_pixelrnn
from keras_ae.models.vqvae import build_vqvae
from keras_ae.saving import load_model, save_model

K = 3


def tiny(kind: str, shape=(4, 4, 1), num_classes=K, filters: int = 6, **kwargs):
    if kind == "gated":
        return build_pixelcnn(shape, filters=filters, blocks=2, first_kernel_size=3, num_classes=num_classes, **kwargs)
    if kind == "plain":
        return build_pixelcnn(shape, filters=filters, blocks=2, gated=False, first_kernel_size=3,
                              num_classes=num_classes, **kwargs)
    return build_pixelrnn(shape, kind=kind, units=6, layers=2, first_kernel_size=3, num_classes=num_classes, **kwargs)


KINDS = ["gated", "plain", "row_lstm", "diagonal_bilstm"]


def randomize(model, seed: int = 0):
    """Generic weights (biases and embeddings included): no unit of a tiny untrained network is dead by chance.
    The masks are constants, not weights, so causality is untouched."""
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(0.0, 0.4, w.shape).astype(w.dtype) for w in model.get_weights()])
    return model


def jacobian(model, x, label):
    """``d logits[p] / d x[q]`` for one image, raster order with colours innermost, in one backward pass:
    copy ``p`` of the image in a batch carries the gradient of output ``p`` (images of a batch are independent)."""
    d = x.size
    xs = tf.constant(np.repeat(x, d, axis=0))
    with tf.GradientTape() as tape:
        tape.watch(xs)
        out = tf.reshape(model.logits(xs, tf.fill([d], label)), [d, d])
        picked = tf.reduce_sum(tf.linalg.diag_part(out))
    return tape.gradient(picked, xs).numpy().reshape(d, d)


# -- (1) causality with labels, and the labels reach every pixel ----------------------------
@pytest.mark.parametrize("kind,shape", [("gated", (4, 4, 3)), ("plain", (4, 4, 3)), ("row_lstm", (4, 4, 1)),
                                        pytest.param("diagonal_bilstm", (4, 4, 1), marks=pytest.mark.slow)])
def test_conditional_models_are_causal_and_every_pixel_depends_on_the_label(kind, shape):
    # 8 hidden units per colour in the output head: none of a colour's logits is cut off by ReLUs alone.
    model = randomize(tiny(kind, shape, filters=24) if kind in ("gated", "plain") else tiny(kind, shape))
    x = np.random.default_rng(0).random((1, *shape)).astype("float32")
    for label in range(K):
        jac = jacobian(model, x, label)
        d = jac.shape[0]
        later = np.triu(np.ones((d, d), bool))  # output p never depends on input q >= p
        assert np.abs(jac[later]).max() == 0.0
        assert np.count_nonzero(np.abs(jac[~later]) > 1e-7) > d  # ... and does depend on earlier ones
    logits = [model.logits(x, np.array([y])).numpy().ravel() for y in range(K)]
    for a, b in itertools.combinations(logits, 2):
        assert np.all(np.abs(a - b) > 1e-6)  # every pixel's distribution moves, the first included


# The recurrent networks' samplers take seconds: the full suite runs them, the fast tier the convolutional ones.
@pytest.mark.parametrize("kind", ["gated", "plain", pytest.param("row_lstm", marks=pytest.mark.slow),
                                  pytest.param("diagonal_bilstm", marks=pytest.mark.slow)])
def test_the_cached_sampler_equals_the_naive_loop_with_labels(kind):
    model = tiny(kind)
    labels = np.array([0, 2, 1, 2])
    fast = model.sample(4, seed=3, labels=labels, jit_compile=False)
    np.testing.assert_array_equal(fast, model.sample_naive(4, seed=3, labels=labels))
    completed = model.complete(fast, rows_observed=2, seed=1, labels=labels, jit_compile=False)
    np.testing.assert_array_equal(completed[:, :2], fast[:, :2])
    if kind == "row_lstm":  # the LSTM states carried into the first completed row are the labels' too
        generic = tiny(kind)
        generic.set_weights(model.get_weights())
        generic.row_by_row = False
        np.testing.assert_array_equal(generic.complete(fast, rows_observed=2, seed=1, labels=labels,
                                                       jit_compile=False), completed)


@pytest.mark.slow
def test_the_class_map_follows_the_rows_of_a_band_smaller_than_the_image():
    # 9 rows, a network that sees 3 rows above: the sampler runs bands of 4 rows at 6 offsets, and the
    # random class maps (zeros at initialisation) differ from row to row, so a shifted slice would show.
    model = randomize(build_pixelcnn((9, 5, 1), filters=6, blocks=1, first_kernel_size=3, num_classes=K), seed=1)
    assert model.receptive_rows == 3 and model.class_code(np.array([0])).shape == (1, 9, 5, K + 8)
    with pytest.raises(InputValidationError, match="whole images of 9 rows; got 4 rows"):
        model.logits(np.zeros((1, 4, 5, 1), "float32"), np.array([0]))
    labels = np.array([2, 0, 1])
    fast = model.sample(3, seed=5, labels=labels, jit_compile=False)
    np.testing.assert_array_equal(fast, model.sample_naive(3, seed=5, labels=labels))
    np.testing.assert_array_equal(model.complete(fast, rows_observed=6, seed=5, labels=labels, jit_compile=False),
                                  model.sample_naive(3, seed=5, labels=labels))  # same draws from row 6 on


def test_class_map_is_the_conditional_gated_default_and_refused_elsewhere(tmp_path):
    assert "class_map" in [layer.name for layer in tiny("gated").network.layers]
    per_image = randomize(tiny("gated", class_map=0))  # the network conditional PixelCNN files without a map hold
    assert "class_map" not in [layer.name for layer in per_image.network.layers]
    assert per_image.class_code(np.array([1])).shape == (1, K)
    save_model(per_image, tmp_path / "per_image.keras")
    loaded = load_model(tmp_path / "per_image.keras")
    labels = np.array([0, 1, 2, 1])
    np.testing.assert_array_equal(loaded.sample(4, seed=2, labels=labels, jit_compile=False),
                                  per_image.sample(4, seed=2, labels=labels, jit_compile=False))
    assert "class_map" not in [layer.name for layer in tiny("plain").network.layers]
    for kwargs in ({"gated": False, "num_classes": K}, {"num_classes": None}):
        with pytest.raises(InputValidationError, match="class_map=4"):
            build_pixelcnn((4, 4, 1), filters=6, blocks=1, class_map=4, **kwargs)


# -- (2) exact likelihood normalised given y --------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_likelihood_sums_to_one_over_all_images_for_every_class(kind):
    model = tiny(kind, (2, 2, 1))
    images = np.array(list(itertools.product([0.0, 1.0], repeat=4)), "float32").reshape(16, 2, 2, 1)
    totals = [np.exp(model.log_likelihood(images, labels=y)).sum() for y in range(K)]
    np.testing.assert_allclose(totals, 1.0, rtol=1e-5)
    per_class = [model.log_likelihood(images, labels=y) for y in range(K)]
    assert not np.allclose(per_class[0], per_class[1])  # the classes are different distributions
    np.testing.assert_allclose(model.bits_per_dim(images, labels=1), -per_class[1] / (4 * np.log(2)))


# -- (3) trained on digits, the true class explains a held-out digit better --------------------
@pytest.mark.slow  # six epochs of training
def test_conditional_pixelcnn_on_digits_prefers_the_true_label():
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.images[..., None] / 16.0 > 0.5).astype("float32")
    y = digits.target.astype("int32")
    order = np.random.default_rng(0).permutation(len(x))
    train, test = order[:1500], order[1500:]
    model = build_pixelcnn((8, 8, 1), filters=16, blocks=2, num_classes=10, seed=0)
    model.compile(optimizer="adam")
    model.fit(x[train], y[train], epochs=6, batch_size=32, verbose=0)
    true = model.log_likelihood(x[test], labels=y[test])
    wrong = model.log_likelihood(x[test], labels=(y[test] + 1 + order[:len(test)] % 9) % 10)
    assert true.mean() > wrong.mean() + 2.0  # nats per image
    scores = np.stack([model.log_likelihood(x[test], labels=c) for c in range(10)], axis=1)
    assert np.mean(scores.argmax(axis=1) == y[test]) > 0.5  # a Bayes classifier far above chance (0.1)


# -- (4) the labels contract -----------------------------------------------------------------
def _weights(model):
    return [w.copy() for w in model.get_weights()]


def _unchanged(model, before):
    return all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


# Every path fits or evaluates the model (seconds): the full suite runs them; the fast tier keeps the
# causality, likelihood and round-trip checks of this file.
@pytest.mark.slow
@pytest.mark.parametrize("kind", ["gated", "row_lstm"])
def test_label_errors_are_input_validation_errors_and_leave_the_model_unchanged(kind):
    model = tiny(kind)
    model.compile(optimizer="adam")
    x = (np.random.default_rng(0).random((8, 4, 4, 1)) > 0.5).astype("float32")
    before = _weights(model)
    for labels, match in [(None, "class-conditional"), (3, "outside"), ([0, 1], "one class id per example"),
                          ([0.5] * 8, "whole numbers"), (-1, "outside")]:
        with pytest.raises(InputValidationError, match=match):
            model.sample(8, seed=0, labels=labels, jit_compile=False)
        with pytest.raises(InputValidationError, match=match):
            model.log_likelihood(x, labels=labels)
    with pytest.raises(InputValidationError, match="class-conditional"):
        model.fit(x, epochs=1, verbose=0)
    with pytest.raises(InputValidationError, match="outside"):
        model.fit(x, np.full(8, K), epochs=1, verbose=0)
    with pytest.raises(InputValidationError, match="images only"):
        model.fit(tf.data.Dataset.from_tensor_slices(x).batch(4), epochs=1, verbose=0)
    bad = tf.data.Dataset.from_tensor_slices((x, np.full(8, K, "int32"))).batch(4)
    with pytest.raises(InputValidationError, match=r"outside \[0, 2\]"):
        model.fit(bad, epochs=1, verbose=0)
    with pytest.raises(InputValidationError, match=r"outside \[0, 2\]"):
        model.log_likelihood(bad)
    assert _unchanged(model, before)
    good = tf.data.Dataset.from_tensor_slices((x, np.arange(8) % K)).batch(4)
    np.testing.assert_allclose(model.log_likelihood(good), model.log_likelihood(x, labels=np.arange(8) % K),
                               rtol=1e-6)
    model.fit(good, epochs=1, verbose=0)
    assert not _unchanged(model, before)
    unconditional = tiny(kind, num_classes=None)
    with pytest.raises(InputValidationError, match="unconditional"):
        unconditional.sample(2, seed=0, labels=1, jit_compile=False)
    with pytest.raises(InputValidationError, match="unconditional"):
        unconditional.log_likelihood(x, labels=1)


# -- (5) .keras round trips ---------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["gated", "plain", pytest.param("row_lstm", marks=pytest.mark.slow),
                                  pytest.param("diagonal_bilstm", marks=pytest.mark.slow)])
@pytest.mark.slow
def test_keras_round_trip_of_conditional_models(kind, tmp_path):
    model = tiny(kind)
    x = (np.random.default_rng(1).random((4, 4, 4, 1)) > 0.5).astype("float32")
    labels = np.array([0, 1, 2, 1])
    loaded = load_model(save_model(model, tmp_path / "model.keras"))
    assert loaded.num_classes == K and loaded.get_config()["num_classes"] == K
    np.testing.assert_array_equal(loaded.log_likelihood(x, labels=labels), model.log_likelihood(x, labels=labels))
    np.testing.assert_array_equal(loaded.sample(4, seed=2, labels=labels, jit_compile=False),
                                  model.sample(4, seed=2, labels=labels, jit_compile=False))


def tiny_vqvae(num_classes=K):
    return build_vqvae((8, 8, 1), num_codes=8, code_dim=2, filters=(4,), residual_blocks=0, prior_filters=4,
                       prior_blocks=1, num_classes=num_classes, seed=0)


@pytest.mark.slow  # builds, saves and reloads a VQ-VAE and its prior: seconds
def test_keras_round_trip_of_a_vqvae_with_a_conditional_prior(tmp_path):
    model = tiny_vqvae()
    x = (np.random.default_rng(2).random((4, 8, 8, 1)) > 0.5).astype("float32")
    loaded = load_model(save_model(model, tmp_path / "vq.keras"))
    assert loaded.num_classes == K
    np.testing.assert_array_equal(loaded.sample(4, seed=1, labels=[0, 1, 2, 0]), model.sample(4, seed=1,
                                                                                            labels=[0, 1, 2, 0]))
    np.testing.assert_array_equal(loaded.log_likelihood(x, labels=1), model.log_likelihood(x, labels=1))


# -- (6) export ---------------------------------------------------------------------------------
@pytest.mark.slow  # exports: seconds of tracing
def test_exported_conditional_signatures_take_labels_and_match_python(tmp_path):
    model = tiny("gated")
    path = export(model, "cond", base_dir=tmp_path, allow_untrained=True)
    loaded = tf.saved_model.load(str(path))
    labels = np.array([2, 0, 1], np.int32)
    out = loaded.signatures["sample"](count=tf.constant(3), seed=tf.constant(7, tf.int64), labels=tf.constant(labels))
    np.testing.assert_array_equal(out["images"].numpy(), model.sample(3, seed=7, labels=labels))
    x = out["images"].numpy()
    ll = loaded.signatures["log_likelihood"](images=tf.constant(x), labels=tf.constant(labels))["log_likelihood"]
    np.testing.assert_allclose(ll.numpy(), model.log_likelihood(x, labels=labels), rtol=1e-5)
    ll8 = loaded.signatures["log_likelihood_uint8"](images=tf.constant((x * 255).astype(np.uint8)),
                                                    labels=tf.constant(labels))["log_likelihood"]
    np.testing.assert_allclose(ll8.numpy(), ll.numpy(), rtol=1e-6)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"labels"):
        loaded.signatures["sample"](count=tf.constant(2), seed=tf.constant(7, tf.int64), labels=tf.constant([0, K]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="count"):
        loaded.signatures["sample"](count=tf.constant(3), seed=tf.constant(7, tf.int64), labels=tf.constant([0, 1]))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"labels"):
        loaded.signatures["log_likelihood_uint8"](images=tf.zeros((1, 4, 4, 1), tf.uint8), labels=tf.constant([K]))


@pytest.mark.slow  # an export
def test_exported_vqvae_sample_takes_labels_and_matches_python(tmp_path):
    model = tiny_vqvae()
    loaded = tf.saved_model.load(str(export(model, "vq", base_dir=tmp_path, allow_untrained=True)))
    labels = np.array([1, 2], np.int32)
    out = loaded.signatures["sample"](count=tf.constant(2), seed=tf.constant(4, tf.int64), labels=tf.constant(labels))
    np.testing.assert_array_equal(out["indices"].numpy(), model.sample_codes(2, seed=4, labels=labels))
    np.testing.assert_allclose(out["images"].numpy(), model.sample(2, seed=4, labels=labels), atol=1e-6)
    with pytest.raises(tf.errors.InvalidArgumentError, match="labels"):
        loaded.signatures["sample"](count=tf.constant(1), seed=tf.constant(4, tf.int64), labels=tf.constant([-1]))


# -- (7) VQ-VAE with a class-conditional prior ----------------------------------------------------
@pytest.mark.slow  # trains a VQ-VAE and its prior
def test_vqvae_conditional_prior_trains_on_labels_and_samples_depend_on_them():
    model = tiny_vqvae()
    rng = np.random.default_rng(3)
    x = (rng.random((32, 8, 8, 1)) > 0.5).astype("float32")
    y = np.arange(32) % K
    before = [w.copy() for w in model.prior.get_weights()]
    with pytest.raises(InputValidationError, match="class-conditional"):
        model.fit_prior(x, epochs=1, verbose=0)
    with pytest.raises(InputValidationError, match="outside"):
        model.fit_prior(x, np.full(32, K), epochs=1, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.prior.get_weights()))
    history = model.fit_prior(x, y, epochs=1, batch_size=16, verbose=0)
    assert np.isfinite(history.history["nll"]).all()
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
    model.fit_prior(ds, epochs=1, verbose=0)
    randomize(model.prior, seed=1)  # a prior whose classes differ clearly (one short epoch barely separates them)
    codes = [model.sample_codes(16, seed=0, labels=c) for c in range(K)]
    assert not np.array_equal(codes[0], codes[1]) and not np.array_equal(codes[1], codes[2])
    images = model.sample(4, seed=0, labels=[0, 1, 2, 0])
    assert images.shape == (4, 8, 8, 1)
    np.testing.assert_array_equal(images[0], model.sample(1, seed=0, labels=[0])[0])
    with pytest.raises(InputValidationError, match="class-conditional"):
        model.sample(2, seed=0)
    with pytest.raises(InputValidationError, match="unconditional"):
        tiny_vqvae(None).sample(2, seed=0, labels=1)
    with pytest.raises(InputValidationError, match="prior=True"):
        build_vqvae((8, 8, 1), num_codes=8, code_dim=2, filters=(4,), prior=False, num_classes=K)
    assert model.encode(x[:2]).shape == (2, 4, 4)  # the auto-encoder itself takes no labels
