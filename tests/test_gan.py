"""GANs: loss formulas against hand computations, which network each step updates, the EMA
generator, conditioning, input checks, divergence handling, saving and the sample monitor."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_ae.errors import InputValidationError, TrainingDivergedError, UnknownNameError
from keras_ae.models.gan import losses as L
from keras_ae.models.gan import (
    GAN,
    GANMonitor,
    build_conditional_gan,
    build_dcgan,
    build_gan,
    get_mlp_discriminator,
    get_mlp_generator,
)

REAL = [2.0, -1.0, 0.3]
FAKE = [0.5, -3.0, 1.2]
N = 3


def sigmoid(v):
    return 1.0 / (1.0 + math.exp(-v))


def softplus(v):
    return math.log1p(math.exp(v))


def value_and_grads(fn, *args):
    """Value of ``fn`` and its gradient with respect to each (list) argument."""
    tensors = [tf.constant(a, tf.float32) for a in args]
    with tf.GradientTape() as tape:
        tape.watch(tensors)
        value = fn(*tensors)
    return float(value), [g.numpy().tolist() for g in tape.gradient(value, tensors)]


# ---------------------------------------------------------------------------------------
# Losses: value and gradient on tiny fixed inputs against hand computation
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_cross_entropy_discriminator_loss_value_and_gradient(smoothing):
    t = 1.0 - smoothing
    loss = lambda r, f: L.cross_entropy_discriminator_loss(r, f, smoothing)  # noqa: E731
    value, (g_real, g_fake) = value_and_grads(loss, REAL, FAKE)
    expected = (sum(t * softplus(-r) + (1 - t) * softplus(r) for r in REAL) / N
                + sum(softplus(f) for f in FAKE) / N)
    assert value == pytest.approx(expected, rel=1e-6)
    assert g_real == pytest.approx([(sigmoid(r) - t) / N for r in REAL], abs=1e-6)
    assert g_fake == pytest.approx([sigmoid(f) / N for f in FAKE], abs=1e-6)


def test_minimax_and_non_saturating_generator_losses():
    value, (grad,) = value_and_grads(L.minimax_generator_loss, FAKE)
    assert value == pytest.approx(sum(math.log(1 - sigmoid(f)) for f in FAKE) / N, rel=1e-6)
    assert grad == pytest.approx([-sigmoid(f) / N for f in FAKE], abs=1e-6)
    value, (grad,) = value_and_grads(L.non_saturating_generator_loss, FAKE)
    assert value == pytest.approx(sum(-math.log(sigmoid(f)) for f in FAKE) / N, rel=1e-6)
    assert grad == pytest.approx([(sigmoid(f) - 1) / N for f in FAKE], abs=1e-6)
    # Why non-saturating is the default: at a confidently rejected sample (logit -3) the
    # minimax gradient is ~20x smaller.
    assert abs(value_and_grads(L.minimax_generator_loss, [-3.0])[1][0][0]) * 19 < abs(
        value_and_grads(L.non_saturating_generator_loss, [-3.0])[1][0][0])


def test_least_squares_losses():
    value, (g_real, g_fake) = value_and_grads(lambda r, f: L.least_squares_discriminator_loss(r, f, 0.2), REAL, FAKE)
    expected = sum(0.5 * (r - 0.8) ** 2 for r in REAL) / N + sum(0.5 * f * f for f in FAKE) / N
    assert value == pytest.approx(expected, rel=1e-6)
    assert g_real == pytest.approx([(r - 0.8) / N for r in REAL], abs=1e-6)
    assert g_fake == pytest.approx([f / N for f in FAKE], abs=1e-6)
    value, (grad,) = value_and_grads(L.least_squares_generator_loss, FAKE)
    assert value == pytest.approx(sum(0.5 * (f - 1) ** 2 for f in FAKE) / N, rel=1e-6)
    assert grad == pytest.approx([(f - 1) / N for f in FAKE], abs=1e-6)


def test_hinge_losses():
    value, (g_real, g_fake) = value_and_grads(L.hinge_discriminator_loss, REAL, FAKE)
    assert value == pytest.approx(sum(max(0, 1 - r) for r in REAL) / N + sum(max(0, 1 + f) for f in FAKE) / N, rel=1e-6)
    assert g_real == pytest.approx([(-1.0 if r < 1 else 0.0) / N for r in REAL], abs=1e-6)
    assert g_fake == pytest.approx([(1.0 if f > -1 else 0.0) / N for f in FAKE], abs=1e-6)
    value, (grad,) = value_and_grads(L.critic_generator_loss, FAKE)
    assert value == pytest.approx(-sum(FAKE) / N, rel=1e-6)
    assert grad == pytest.approx([-1 / N] * N, abs=1e-7)


def test_wasserstein_critic_loss_and_gradient_penalty():
    value, (g_real, g_fake) = value_and_grads(L.wasserstein_critic_loss, REAL, FAKE)
    assert value == pytest.approx(sum(FAKE) / N - sum(REAL) / N, rel=1e-6)
    assert g_real == pytest.approx([-1 / N] * N) and g_fake == pytest.approx([1 / N] * N)
    grads = [[3.0, 4.0], [0.6, 0.8]]  # norms 5 and 1
    value, (g,) = value_and_grads(L.gradient_penalty, grads)
    assert value == pytest.approx(((5 - 1) ** 2 + 0.0) / 2, rel=1e-5)
    # d/dg (||g|| - 1)^2 / n = 2 (||g|| - 1) g / ||g|| / n
    np.testing.assert_allclose(g, [[2 * 4 * 3 / 5 / 2, 2 * 4 * 4 / 5 / 2], [0.0, 0.0]], atol=1e-4)


def test_gradient_penalty_of_a_linear_critic_through_double_backprop():
    # critic(x) = x . w has input gradient w everywhere: penalty (||w|| - 1)^2 and
    # d penalty / dw = 2 (||w|| - 1) w / ||w||, which needs the gradient of a gradient.
    w = tf.Variable([1.0, 2.0, 2.0])  # ||w|| = 3
    real, fake = tf.constant([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]), tf.constant([[0.0, 0.0, 1.0], [1.0, 1.0, 1.0]])
    with tf.GradientTape() as outer:
        x_hat = L.interpolate(real, fake, tf.constant([0.3, 0.9]))
        with tf.GradientTape() as inner:
            inner.watch(x_hat)
            critic = tf.reduce_sum(tf.linalg.matvec(x_hat, w))
        penalty = L.gradient_penalty(inner.gradient(critic, x_hat))
    assert float(penalty) == pytest.approx(4.0, rel=1e-5)
    assert outer.gradient(penalty, w).numpy() == pytest.approx([2 * 2 * v / 3 for v in (1.0, 2.0, 2.0)], rel=1e-5)
    assert x_hat.numpy()[0] == pytest.approx([0.3, 0.0, 0.7])


def test_loss_registry_and_bad_options():
    assert set(L.GAN_LOSSES) == {"minimax", "non_saturating", "least_squares", "hinge", "wasserstein_gp"}
    with pytest.raises(UnknownNameError, match="wasserstein_gp"):
        L.get_gan_loss("wasserstein")
    with pytest.raises(InputValidationError, match="label_smoothing"):
        L.hinge_discriminator_loss(REAL, FAKE, label_smoothing=0.1)
    with pytest.raises(InputValidationError, match="label_smoothing"):
        L.cross_entropy_discriminator_loss(REAL, FAKE, label_smoothing=1.0)


# ---------------------------------------------------------------------------------------
# The GAN model
# ---------------------------------------------------------------------------------------


def tiny_mlp_gan(**kwargs) -> GAN:
    """An MLP GAN on 8x8 digits without stateful layers (no batch norm, no dropout)."""
    kwargs.setdefault("seed", 0)
    return build_gan((8, 8, 1), latent_dim=4, generator_units=(16,), discriminator_units=(16,), maxout_pieces=2,
                     dropout=0.0, **kwargs)


def tiny_dcgan(**kwargs) -> GAN:
    kwargs.setdefault("seed", 0)
    return build_dcgan((8, 8, 1), latent_dim=4, filters=(8, 4), **kwargs)


def values(variables) -> list[np.ndarray]:
    return [np.array(v.numpy(), copy=True) for v in variables]


def same(a, b) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(a, b))


def test_each_step_updates_only_its_network(digits):
    (x, _), _ = digits
    gan = tiny_mlp_gan()
    gan.compile(jit_compile=False)
    batch = tf.constant(x[:32])
    g0, d0 = values(gan.generator.weights), values(gan.discriminator.weights)
    gan.discriminator_step(batch)
    g1, d1 = values(gan.generator.weights), values(gan.discriminator.weights)
    assert same(g0, g1), "a discriminator step changed the generator"
    assert not same(d0, d1)
    gan.generator_step(32)
    assert same(d1, values(gan.discriminator.weights)), "a generator step changed the discriminator"
    assert not same(g1, values(gan.generator.weights))
    assert int(gan.d_optimizer.iterations) == 1 and int(gan.g_optimizer.iterations) == 1


def test_each_step_updates_only_its_network_with_batch_norm(digits):
    # With batch norm, a forward pass in training mode also moves the moving statistics of
    # the other network (that is what training mode means); its trainable weights stay.
    (x, _), _ = digits
    gan = tiny_dcgan()
    gan.compile(jit_compile=False)
    g0 = values(gan.generator.trainable_weights)
    d0 = values(gan.discriminator.trainable_weights)
    gan.discriminator_step(tf.constant(x[:16]))
    assert same(g0, values(gan.generator.trainable_weights))
    d1 = values(gan.discriminator.trainable_weights)
    assert not same(d0, d1)
    gan.generator_step(16)
    assert same(d1, values(gan.discriminator.trainable_weights))
    assert not same(g0, values(gan.generator.trainable_weights))


@pytest.mark.slow
@pytest.mark.parametrize("builder", ["mlp", "dcgan"])
def test_shared_fake_step_equals_a_discriminator_then_a_generator_step_on_the_same_noise(builder, digits):
    # train_step's default (reuse_fakes): one generator forward pass serves both updates.
    # It must give the weights of discriminator_step + generator_step fed the same z.
    (x, _), _ = digits
    make = (lambda: tiny_mlp_gan(ema_decay=None)) if builder == "mlp" else (lambda: tiny_dcgan(ema_decay=None))
    shared, separate = make(), make()
    separate.set_weights(shared.get_weights())
    for gan in (shared, separate):
        # label smoothing and a generator regularizer exercise every term of both losses
        gan.generator.layers[1].kernel.regularizer = keras.regularizers.L2(1e-2)
        assert len(gan.generator.losses) == 1
        gan.compile(label_smoothing=0.1, jit_compile=False)
    z = tf.random.stateless_normal((16, shared.latent_dim), seed=[3, 4])
    shared.latent_noise = separate.latent_noise = lambda n: z
    batch = tf.constant(x[:16])
    d_terms, g_terms = shared.shared_fake_step(batch)
    d_ref = separate.discriminator_step(batch)
    g_ref = separate.generator_step(16)
    np.testing.assert_allclose(float(d_terms["d_loss"]), float(d_ref["d_loss"]), rtol=1e-6)
    np.testing.assert_allclose(float(g_terms["g_loss"]), float(g_ref["g_loss"]), rtol=1e-6)
    for net in ("generator", "discriminator"):
        moved = [np.abs(a - b).max() for a, b in zip(values(getattr(shared, net).trainable_weights),
                                                         values(getattr(separate, net).trainable_weights))]
        assert max(moved) < 1e-6, (net, moved)
    assert not same(values(shared.generator.trainable_weights), values(make().generator.trainable_weights))
    # fit's step takes that path by default, fresh noise for the generator when asked
    assert shared.reuse_fakes and shared.get_compile_config()["reuse_fakes"] is True
    fresh = make()
    fresh.compile(reuse_fakes=False, jit_compile=False)
    assert fresh.get_compile_config()["reuse_fakes"] is False


@pytest.mark.slow
def test_n_critic_steps_per_generator_step(digits):
    (x, _), _ = digits
    gan = tiny_mlp_gan()
    gan.compile(loss="wasserstein_gp", n_critic=3, jit_compile=False)
    logs = gan.train_on_batch(x[:16], return_dict=True)
    assert int(gan.d_optimizer.iterations) == 3 and int(gan.g_optimizer.iterations) == 1
    assert set(logs) == {"d_loss", "g_loss", "real_score", "fake_score", "gradient_penalty"}
    assert all(np.isfinite(v) for v in logs.values())


def test_ema_follows_its_formula_and_is_what_sample_uses(digits):
    (x, _), _ = digits
    gan = tiny_mlp_gan(ema_decay=0.9)
    gan.compile(jit_compile=False)
    w0 = values(gan.generator.weights)
    assert same(w0, values(gan.ema_generator.weights))  # the EMA starts at the initial weights
    gan.train_on_batch(x[:32])
    w1 = values(gan.generator.weights)
    decay = min(0.9, (1 + 1) / (10 + 1))  # warm-up after one generator update
    for ema, a, b in zip(gan.ema_generator.weights, w0, w1):
        np.testing.assert_allclose(ema.numpy(), decay * a + (1 - decay) * b, rtol=1e-5, atol=1e-7)
    for _ in range(5):
        gan.train_on_batch(x[:32])
    assert not same(values(gan.generator.weights), values(gan.ema_generator.weights))
    z = gan.latents(6, seed=7)  # what sample(6, seed=7) decodes
    samples = gan.sample(6, seed=7)
    np.testing.assert_allclose(samples, gan.ema_generator(z, training=False).numpy(), rtol=1e-6)
    raw = gan.generator(z, training=False).numpy()
    assert np.abs(samples - raw).max() > 1e-4
    np.testing.assert_allclose(gan.sample(6, seed=7, use_ema=False), raw, rtol=1e-6)
    np.testing.assert_array_equal(gan.sample(6, seed=7), samples)  # same seed, same samples


@pytest.mark.slow
def test_default_compile_is_xla_and_trains_through_fit(digits):
    (x, _), _ = digits
    gan = tiny_mlp_gan()
    gan.compile()
    assert gan.jit_compile is True
    history = gan.fit(x[:128], epochs=1, batch_size=64, verbose=0)
    assert set(history.history) == {"d_loss", "g_loss", "real_score", "fake_score"}
    assert all(np.isfinite(v[0]) for v in history.history.values())
    assert 0.0 < history.history["real_score"][0] < 1.0  # a probability for the cross-entropy losses


@pytest.mark.slow
@pytest.mark.parametrize("loss", sorted(L.GAN_LOSSES))
def test_discriminator_steps_lower_its_loss_and_generator_steps_lower_theirs(loss, digits):
    (x, _), _ = digits
    gan = tiny_mlp_gan()
    gan.compile(keras.optimizers.Adam(1e-2), keras.optimizers.Adam(1e-2), loss=loss, jit_compile=False)
    batch = tf.constant(x[:64])
    d_before = float(gan.discriminator_terms(batch, training=False)["d_loss"])
    for _ in range(15):
        gan.discriminator_step(batch)
    d_after = float(gan.discriminator_terms(batch, training=False)["d_loss"])
    assert d_after < d_before - 0.1, (loss, d_before, d_after)
    g_before = float(gan.generator_terms(256, training=False)["g_loss"])
    for _ in range(15):
        gan.generator_step(64)
    g_after = float(gan.generator_terms(256, training=False)["g_loss"])
    assert g_after < g_before - 0.1, (loss, g_before, g_after)


@pytest.mark.slow
def test_gan_learns_a_one_dimensional_distribution():
    # Data: N(0.7, 0.05^2). The generator starts near 0.5; its EMA average ends near 0.7.
    rng = np.random.default_rng(0)
    x = np.clip(rng.normal(0.7, 0.05, size=(2048, 1)), 0, 1).astype("float32")
    g = get_mlp_generator(1, latent_dim=2, units=(16,))
    d = get_mlp_discriminator(1, units=(16,), maxout_pieces=None, dropout=0.0)
    gan = GAN(g, d, ema_decay=0.95, seed=0)
    gan.compile(keras.optimizers.Adam(5e-3, beta_1=0.5), keras.optimizers.Adam(5e-3, beta_1=0.5), jit_compile=False)
    before = gan.sample(2000, seed=1).mean()
    gan.fit(x, epochs=12, batch_size=128, verbose=0)
    after = gan.sample(2000, seed=1)
    assert abs(before - 0.7) > 0.15
    assert abs(after.mean() - 0.7) < 0.06, after.mean()


def test_label_smoothing_and_instance_noise_reach_the_losses(digits):
    (x, _), _ = digits
    batch = tf.constant(x[:32])
    plain, smooth = tiny_mlp_gan(), tiny_mlp_gan()
    smooth.set_weights(plain.get_weights())
    plain.compile(jit_compile=False)
    smooth.compile(label_smoothing=0.2, jit_compile=False)
    a = plain.discriminator_terms(batch)
    b = smooth.discriminator_terms(batch)
    # Same weights and noise stream: only the real target differs (1 vs 0.8).
    assert float(b["real_score"]) == pytest.approx(float(a["real_score"]), abs=1e-6)
    assert float(b["d_loss"]) != pytest.approx(float(a["d_loss"]), abs=1e-4)
    noisy = tiny_mlp_gan()
    noisy.compile(instance_noise=0.5, instance_noise_steps=10, jit_compile=False)
    clean_x = noisy._with_instance_noise(batch)
    assert 0.3 < float(tf.math.reduce_std(clean_x - batch)) < 0.7
    noisy.g_optimizer.iterations.assign(10)  # annealed to zero after 10 generator updates
    np.testing.assert_array_equal(noisy._with_instance_noise(batch).numpy(), batch.numpy())


@pytest.mark.slow
def test_conditional_gan_trains_on_labels_and_samples_requested_classes(digits):
    (x, y), _ = digits
    cgan = build_conditional_gan((8, 8, 1), num_classes=10, latent_dim=4, filters=(8, 4), seed=0)
    cgan.compile(jit_compile=False)
    history = cgan.fit(x[:128], y[:128], epochs=1, batch_size=64, verbose=0)
    assert np.isfinite(history.history["d_loss"][0])
    z = np.zeros((3, 4), "float32")
    a = cgan.generate(z, labels=[1, 1, 7])
    assert np.allclose(a[0], a[1]) and not np.allclose(a[0], a[2])  # the label changes the output
    assert cgan.sample(20, labels=np.arange(20) % 10).shape == (20, 8, 8, 1)
    with pytest.raises(InputValidationError, match="class-conditional"):
        cgan.sample(4)  # a conditional model needs labels
    with pytest.raises(InputValidationError, match="labels"):
        cgan.fit(x[:64], epochs=1, verbose=0)
    with pytest.raises(InputValidationError, match=r"outside \[0, 9\]"):
        cgan.fit(x[:64], np.full(64, 10), epochs=1, verbose=0)


def test_bad_inputs_fail_before_training(digits):
    (x, _), _ = digits
    tanh_gan = tiny_dcgan(data_range=(-1, 1))
    tanh_gan.compile(jit_compile=False)
    with pytest.raises(InputValidationError, match=r"outside the expected range \[-1, 1\].*x \* 2 - 1"):
        tanh_gan.fit(x * 255.0, epochs=1, verbose=0)
    with pytest.warns(UserWarning, match="tanh"):
        tanh_gan.validate_inputs(x)
    assert int(tanh_gan.d_optimizer.iterations) == 0
    with pytest.raises(InputValidationError, match="shape"):
        tanh_gan.fit(x.reshape(len(x), 64), epochs=1, verbose=0)
    with pytest.raises(InputValidationError, match="z"):
        tanh_gan.generate(np.zeros((2, 5)))  # latent size mismatch
    g = get_mlp_generator((8, 8, 1), latent_dim=4, units=(8,))
    two_logits = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(2)])
    with pytest.raises(InputValidationError, match="one logit per example"):
        GAN(g, two_logits)
    wrong_size = get_mlp_discriminator((7, 7, 1), units=(8,))
    with pytest.raises(InputValidationError, match=r"\(8, 8, 1\).*\(7, 7, 1\)"):
        GAN(g, wrong_size)
    with pytest.raises(InputValidationError, match="layer"):
        tiny_dcgan().compile(loss="wasserstein_gp")  # batch norm in a WGAN-GP critic
    opt = keras.optimizers.Adam()
    with pytest.raises(InputValidationError, match="different"):
        tiny_mlp_gan().compile(opt, opt)
    with pytest.raises(InputValidationError, match="compile"):
        tiny_mlp_gan().fit(x, epochs=1, verbose=0)


@pytest.mark.parametrize("batch_size", [0, -3, 2.5, "8", True, None])
def test_generate_refuses_a_batch_size_that_is_not_a_positive_int(batch_size):
    gan = tiny_mlp_gan()
    z = np.zeros((4, gan.latent_dim), np.float32)
    with pytest.raises(InputValidationError, match="batch_size"):
        gan.generate(z, batch_size=batch_size)
    with pytest.raises(InputValidationError, match="batch_size"):
        gan.sample(4, seed=0, batch_size=batch_size, verbose=0)
    assert gan.generate(z, batch_size=3).shape == (4, *gan.example_shape)  # a valid size still splits the batch


@pytest.mark.parametrize("seed", ["a", 1.5, True, [1, 2]])
def test_sample_refuses_a_seed_that_is_not_an_int(seed):
    gan = tiny_mlp_gan()
    with pytest.raises(InputValidationError, match="seed"):
        gan.sample(4, seed=seed, verbose=0)
    np.testing.assert_array_equal(gan.sample(4, seed=np.int64(5), verbose=0), gan.sample(4, seed=5, verbose=0))


def test_any_int_seeds_sample_as_every_family_does_and_none_draws_fresh_latents():
    gan = tiny_mlp_gan()
    negative, huge = gan.sample(4, seed=-1, verbose=0), gan.sample(4, seed=2**40, verbose=0)
    assert not np.array_equal(negative, huge)
    np.testing.assert_array_equal(negative, gan.sample(4, seed=-1, verbose=0))
    assert not np.array_equal(gan.latents(4), gan.latents(4))  # fresh seeds from the model's generator


@pytest.mark.slow
def test_nan_batch_stops_training_and_keeps_last_good_weights(digits):
    (x, _), _ = digits
    gan = tiny_mlp_gan()
    gan.compile(jit_compile=False, steps_per_execution=1)  # the guard sees every step
    good = values(gan.generator.weights) + values(gan.ema_generator.weights) + values(gan.discriminator.weights)
    bad = x[:96].copy()
    bad[64:] = np.nan  # the third batch of a tf.data pipeline (which fit cannot check up front)
    ds = tf.data.Dataset.from_tensor_slices(bad).batch(32)
    with pytest.raises(TrainingDivergedError, match=r"d_loss.*epoch 1, step 3.*restored") as info:
        gan.fit(ds, epochs=3, verbose=0)
    assert len(info.value.history.history["d_loss"]) == 1  # stopped in the first of 3 epochs
    restored = values(gan.generator.weights) + values(gan.ema_generator.weights) + values(gan.discriminator.weights)
    assert same(restored, good)  # the last finite weights (here: from the start), generator and EMA included


@pytest.mark.slow
def test_absurd_learning_rate_diverges_and_keeps_finite_weights(digits):
    (x, _), _ = digits
    gan = tiny_mlp_gan()
    gan.compile(keras.optimizers.SGD(1e30), keras.optimizers.SGD(1e30), jit_compile=False)
    with pytest.raises(TrainingDivergedError, match="learning rate"):
        gan.fit(x[:512], epochs=2, batch_size=32, verbose=0)
    assert all(np.isfinite(w).all() for w in values(gan.weights))


@pytest.mark.slow
def test_keras_round_trip_in_a_fresh_process(tmp_path, digits):
    (x, _), _ = digits
    gan = tiny_dcgan()
    gan.compile(loss="least_squares", label_smoothing=0.1, jit_compile=False)
    gan.fit(x[:128], epochs=1, batch_size=64, verbose=0)
    path = tmp_path / "dcgan.keras"
    gan.save(path)
    np.save(tmp_path / "expected.npy", gan.sample(8, seed=3))
    np.save(tmp_path / "expected_raw.npy", gan.sample(8, seed=3, use_ema=False))
    code = textwrap.dedent(f"""
        import numpy as np, keras
        import keras_ae.models.gan  # registers the classes
        gan = keras.models.load_model({str(path)!r})
        assert gan.generator.name == "generator" and gan.discriminator.name == "discriminator"
        assert gan.loss_name == "least_squares" and gan.label_smoothing == 0.1
        assert int(gan.g_optimizer.iterations) == 2, int(gan.g_optimizer.iterations)
        np.testing.assert_array_equal(gan.sample(8, seed=3), np.load({str(tmp_path / 'expected.npy')!r}))
        raw = np.load({str(tmp_path / 'expected_raw.npy')!r})
        np.testing.assert_array_equal(gan.sample(8, seed=3, use_ema=False), raw)
        print("ok")
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "ok" in result.stdout


def test_conditional_round_trip(tmp_path):
    cgan = build_conditional_gan(64, num_classes=3, latent_dim=4, architecture="mlp", generator_units=(8,),
                                 discriminator_units=(8,), seed=0)
    cgan.compile(jit_compile=False)
    cgan.save(tmp_path / "cgan.keras")
    loaded = keras.models.load_model(tmp_path / "cgan.keras")
    assert loaded.num_classes == 3
    np.testing.assert_array_equal(loaded.sample(6, seed=0, labels=2), cgan.sample(6, seed=0, labels=2))


@pytest.mark.slow
def test_gan_monitor_saves_fixed_noise_grids(tmp_path, digits):
    (x, _), _ = digits
    gan = tiny_mlp_gan()
    gan.compile(jit_compile=False)
    monitor = GANMonitor(tmp_path / "grids", n=20, cols=10, every=2)
    gan.fit(x[:64], epochs=3, batch_size=32, callbacks=[monitor], verbose=0)
    assert [p.name for p in monitor.paths] == ["epoch_002.png", "epoch_003.png"]
    assert all(p.stat().st_size > 1000 for p in monitor.paths)
    # Every grid comes from the same latent vectors, drawn once from the seed: sample(20, seed=0)'s.
    np.testing.assert_array_equal(monitor.z, gan.latents(20, seed=0))
    np.testing.assert_allclose(gan.generate(monitor.z), gan.sample(20, seed=0, verbose=0), rtol=1e-6)
