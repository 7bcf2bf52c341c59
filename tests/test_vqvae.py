"""VQ-VAE: the vector quantizer (straight-through gradient, EMA codebook, dead-code restarts),
the model (learning, the likelihood bound, .keras round trip, export) and its PixelCNN prior."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import keras_ae
from keras_ae.errors import InputValidationError, UnknownNameError
from keras_ae.export import ExportOptions, export
from keras_ae.layers.vector_quantizer import VectorQuantizer
from keras_ae.models import build_pixelcnn, build_vqvae
from keras_ae.saving import load_model


def _quantizer(codebook, **kwargs) -> VectorQuantizer:
    codebook = np.asarray(codebook, np.float32)
    vq = VectorQuantizer(len(codebook), codebook.shape[1], **kwargs)
    vq.build((None, 1, 1, codebook.shape[1]))
    vq.codebook.assign(codebook)
    if vq.codebook_update == "ema":
        vq.ema_sums.assign(codebook)
    return vq


CODEBOOK = [[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]]


def test_quantizer_gradient_is_straight_through_plus_commitment():
    vq = _quantizer(CODEBOOK, beta=0.25, codebook_update="loss")
    z_e = tf.constant([[[[0.2, 0.1], [0.9, 0.3]], [[0.1, 1.5], [-0.3, 0.2]]]])  # (1, 2, 2, 2)
    weights = tf.constant(np.arange(8, dtype=np.float32).reshape(1, 2, 2, 2))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(z_e)
        indices, z_q = vq.discretize(z_e)
        terms = vq.loss_terms(z_e, z_q)
        loss = tf.reduce_sum(weights * vq.straight_through(z_e, z_q)) + vq.beta * tf.reduce_sum(terms["commitment"])
        codebook_loss = tf.reduce_sum(terms["codebook"])
    # Hand computation: nearest codes, then d loss / d z_e = weights + 2 beta (z_e - e_k).
    z = z_e.numpy()
    np.testing.assert_array_equal(indices.numpy(), [[[0, 1], [2, 0]]])
    e = np.asarray(CODEBOOK, np.float32)[[0, 1, 2, 0]].reshape(z.shape)
    np.testing.assert_allclose(z_q.numpy(), e)
    np.testing.assert_allclose(tape.gradient(loss, z_e).numpy(), weights.numpy() + 2 * 0.25 * (z - e), rtol=1e-6)
    # The straight-through path gives the codebook no gradient; the codebook loss moves e_k towards its z_e.
    assert tape.gradient(loss, vq.codebook) is None or not np.any(tape.gradient(loss, vq.codebook))
    expected = np.zeros((3, 2), np.float32)
    for zi, k in zip(z.reshape(-1, 2), [0, 1, 2, 0]):
        expected[k] += 2 * (np.asarray(CODEBOOK[k]) - zi)
    np.testing.assert_allclose(tf.convert_to_tensor(tape.gradient(codebook_loss, vq.codebook)).numpy(), expected,
                               rtol=1e-5, atol=1e-6)


def test_ema_codebook_update_matches_its_formula():
    decay, eps = 0.5, 0.1
    vq = _quantizer(CODEBOOK, decay=decay, epsilon=eps, dead_after=1000)
    # Two real examples of two vectors each, and one padding example (weight 0) that must not count.
    z = np.array([[[[0.1, 0.1], [0.9, 0.1]]], [[[1.1, -0.1], [0.2, 1.8]]], [[[0.0, 2.0], [0.0, 2.0]]]], np.float32)
    indices, _ = vq.discretize(tf.constant(z))
    usage = vq.update(tf.constant(z), indices, tf.constant([1.0, 1.0, 0.0]))
    # By hand: n = (1, 2, 1); sums of the assigned vectors; N = d * 1 + (1 - d) n; m = d e0 + (1 - d) sums;
    # Laplace smoothing N~ = (N + eps) / (sum N + K eps) * sum N; e = m / N~.
    e0 = np.asarray(CODEBOOK, np.float64)
    n = np.array([1.0, 2.0, 1.0])
    sums = np.array([[0.1, 0.1], [0.9 + 1.1, 0.1 - 0.1], [0.2, 1.8]])
    counts = decay * 1.0 + (1 - decay) * n
    m = decay * e0 + (1 - decay) * sums
    smoothed = (counts + eps) / (counts.sum() + 3 * eps) * counts.sum()
    np.testing.assert_allclose(vq.ema_counts.numpy(), counts, rtol=1e-6)
    np.testing.assert_allclose(vq.ema_sums.numpy(), m, rtol=1e-6)
    np.testing.assert_allclose(vq.codebook.numpy(), m / smoothed[:, None], rtol=1e-5)
    p = n / n.sum()
    assert float(usage["perplexity"]) == pytest.approx(np.exp(-(p * np.log(p)).sum()), rel=1e-5)
    assert float(usage["codes_in_use"]) == 1.0 and float(usage["dead_codes"]) == 0.0


@pytest.mark.parametrize("update", ["ema", "loss"])
def test_a_code_unused_for_dead_after_steps_is_restarted_from_an_encoder_output(update):
    vq = _quantizer([*CODEBOOK, [50.0, 50.0]], dead_after=2, codebook_update=update, seed=3)
    z = tf.constant(np.random.default_rng(0).normal(size=(4, 2, 2, 2)).astype(np.float32))
    weights = tf.ones(4)
    for step, dead in enumerate([0.0, 1.0]):
        indices, _ = vq.discretize(z)
        assert not np.any(indices.numpy() == 3)  # the far code is never chosen
        usage = vq.update(z, indices, weights)
        assert float(usage["dead_codes"]) == dead, step
    restarted = vq.codebook.numpy()[3]
    # Now one of the batch's encoder outputs, its "unused" clock reset.
    assert np.min(np.abs(z.numpy().reshape(-1, 2) - restarted).sum(axis=1)) < 1e-6
    assert vq.unused_steps.numpy()[3] == 0.0
    if update == "ema":
        assert vq.ema_counts.numpy()[3] == 1.0
    # Restarts off: the dead code stays where it was.
    still = _quantizer([*CODEBOOK, [50.0, 50.0]], dead_after=1, restart_dead_codes=False, codebook_update=update)
    still.update(z, still.discretize(z)[0], weights)
    np.testing.assert_allclose(still.codebook.numpy()[3], [50.0, 50.0], rtol=1e-5)  # (Laplace smoothing: ~1e-6)


@pytest.fixture(scope="module")
def trained(digits):
    """A tiny VQ-VAE trained on 8x8 digits, with its prior trained on the code maps."""
    tf.keras.utils.set_random_seed(0)
    (x, _), (x_test, _) = digits
    model = build_vqvae((8, 8, 1), num_codes=16, code_dim=4, filters=(16,), residual_blocks=1, dead_after=20,
                        dynamic_binarization=True, prior_filters=8, prior_blocks=1, seed=0)
    model.compile(optimizer="adam")
    history = model.fit(x, epochs=5, batch_size=64, verbose=0)
    x_bin = keras_ae.data.binarize(x, seed=0)
    model.fit_prior(x_bin, epochs=1, batch_size=64, verbose=0)
    return model, history.history, keras_ae.data.binarize(x_test[:64], seed=0)


@pytest.mark.slow
def test_tiny_vqvae_learns_and_uses_several_codes(trained):
    model, history, x_test = trained
    assert history["loss"][-1] < 0.8 * history["loss"][0]
    assert history["perplexity"][-1] > 2.0 and history["codes_in_use"][-1] > 0.3
    usage = model.codebook_usage(x_test)
    assert usage["counts"].sum() == len(x_test) * 16 and usage["perplexity"] > 2.0


@pytest.mark.slow
def test_bound_is_decoder_log_likelihood_at_the_quantized_code_plus_a_log_prior_below_zero(trained):
    model, _, x = trained
    terms = model.bound_terms(x)
    # log p(x | z_q(x)) computed independently from decode(encode(x)).
    probs = np.clip(model.decode(model.encode(x)).astype(np.float64), 1e-7, 1 - 1e-7)
    log_px = (x * np.log(probs) + (1 - x) * np.log1p(-probs)).sum(axis=(1, 2, 3))
    np.testing.assert_allclose(terms["log_px_given_z"], log_px, rtol=1e-3, atol=1e-2)
    # log p_prior(z_q(x)) is the prior's exact log-likelihood of the code maps, <= 0.
    np.testing.assert_allclose(terms["log_prior"], model.prior.log_likelihood(model.code_maps(x)), rtol=1e-5)
    assert np.all(terms["log_prior"] <= 0)
    bound = model.log_likelihood(x)
    assert np.all(bound <= terms["log_px_given_z"] + 1e-9)
    np.testing.assert_allclose(bound, terms["log_px_given_z"] + terms["log_prior"])


@pytest.mark.slow
def test_code_prior_compiled_sampler_equals_the_naive_loop_with_one_hot_inputs():
    prior = build_pixelcnn((2, 3, 1), filters=4, blocks=0, levels=5, input_encoding="one_hot")
    fast = prior.sample(3, seed=1, jit_compile=False)
    np.testing.assert_array_equal(fast, prior.sample_naive(3, seed=1))
    assert set(np.round(np.unique(fast) * 4)) <= set(range(5))


@pytest.mark.slow
def test_keras_round_trip_and_export_signatures_give_the_same_outputs(trained, tmp_path):
    model, _, x = trained
    model.save(tmp_path / "vq.keras")
    loaded = load_model(tmp_path / "vq.keras")
    for a, b in zip(model.weights, loaded.weights):  # EMA state, prior and all
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
    assert any("ema_sums" in w.path for w in loaded.weights)
    np.testing.assert_array_equal(loaded.encode(x), model.encode(x))
    np.testing.assert_array_equal(loaded.sample(4, seed=5), model.sample(4, seed=5))
    np.testing.assert_allclose(loaded.log_likelihood(x), model.log_likelihood(x), rtol=1e-6)

    path = export(model, "vq", base_dir=tmp_path)
    served = tf.saved_model.load(str(path))
    codes = served.signatures["encode"](images=tf.constant(x[:8]))["indices"].numpy()
    np.testing.assert_array_equal(codes, model.encode(x[:8]))
    images = served.signatures["decode"](indices=tf.constant(codes))["images"].numpy()
    np.testing.assert_allclose(images, model.decode(codes), atol=1e-6)
    drawn = served.signatures["sample"](count=tf.constant(4), seed=tf.constant(5, tf.int64))
    np.testing.assert_array_equal(drawn["indices"].numpy(), model.sample_codes(4, seed=5))
    np.testing.assert_allclose(drawn["images"].numpy(), model.sample(4, seed=5), atol=1e-6)
    with pytest.raises(tf.errors.InvalidArgumentError, match="indices"):
        served.signatures["decode"](indices=tf.fill([1, *model.code_map_shape], 16))


@pytest.mark.slow
def test_bad_inputs_are_refused_with_clear_errors(trained, digits):
    model, _, x = trained
    grey = digits[0][0][:4]
    with pytest.raises(InputValidationError, match="codes 0..15"):
        model.decode(np.full((1, 4, 4), 16))
    with pytest.raises(InputValidationError, match=r"expected code maps \(n, 4, 4\)"):
        model.decode(np.zeros((1, 3, 4), "int32"))
    with pytest.raises(InputValidationError, match="integer code indices"):
        model.decode(np.full((1, 4, 4), 0.5))
    with pytest.raises(InputValidationError, match="not binary"):
        model.log_likelihood(grey)
    with pytest.raises(InputValidationError, match="without y"):
        model.fit(x, x, epochs=1, verbose=0)
    with pytest.raises(InputValidationError, match="outside the expected range"):
        model.encode(x * 3)
    no_prior = build_vqvae((8, 8, 1), num_codes=4, code_dim=2, filters=(4,), residual_blocks=0, prior=False)
    with pytest.raises(InputValidationError, match="needs a prior"):
        no_prior.sample(2)
    assert "sample" not in [e.name for e in no_prior.serving_endpoints(ExportOptions())]
    with pytest.raises(InputValidationError, match="not divisible by 2 \\*\\* len\\(filters\\) = 4"):
        build_vqvae((10, 10, 1), filters=(4, 4))
    with pytest.raises(UnknownNameError, match="codebook_update"):
        build_vqvae((8, 8, 1), codebook_update="kmeans")
    with pytest.raises(InputValidationError, match="decay"):
        VectorQuantizer(4, 2, decay=1.0)
    with pytest.raises(InputValidationError, match="dynamic_binarization needs likelihood='bernoulli'"):
        build_vqvae((8, 8, 1), likelihood="gaussian", dynamic_binarization=True)
