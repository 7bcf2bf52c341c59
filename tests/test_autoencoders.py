"""The auto-encoder family: learning, exact history means, denoising, sparsity, tied weights, saving."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_ae.data import Corruption, make_tf_dataset
from keras_ae.errors import InputValidationError
from keras_ae.evaluation import reconstruction_error
from keras_ae.models import (
    AutoEncoder, build_conv_ae, build_dense_ae, build_denoising_ae, build_sparse_ae, build_tied_ae,
    count_kernels, reconstruction_loss,
)

SHAPE = (8, 8, 1)

BUILDERS = {
    "dense": lambda: build_dense_ae(SHAPE, hidden=(64,), code_dim=16),
    "conv": lambda: build_conv_ae(SHAPE, filters=(16, 16)),
    "conv_bottleneck": lambda: build_conv_ae(SHAPE, filters=(16,), code_dim=12, loss="mse"),
    "tied": lambda: build_tied_ae(SHAPE, hidden=(64,), code_dim=16),
    "sparse_l1": lambda: build_sparse_ae(SHAPE, hidden=(64,), code_dim=32, l1=1e-3),
    "k_sparse": lambda: build_sparse_ae(SHAPE, hidden=(64,), code_dim=32, k=5, l1=0.0),
    "denoising_conv": lambda: build_denoising_ae(SHAPE, noise="gaussian", level=0.3, filters=(16, 16)),
    "denoising_dense_overcomplete": lambda: build_denoising_ae(
        SHAPE, noise="salt_pepper", level=0.2, architecture="dense", hidden=(128,), code_dim=100),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_every_builder_learns_on_digits(name, digits):
    (x, _), (xt, _) = digits
    model = BUILDERS[name]()
    assert model.get_layer("encoder") is model.encoder and model.get_layer("decoder") is model.decoder
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    before = reconstruction_error(model, xt).mean()
    history = model.fit(x, epochs=8, batch_size=64, verbose=0)
    after = reconstruction_error(model, xt).mean()
    assert after < 0.5 * before, (before, after)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert {"loss", "reconstruction"} <= set(history.history)


@pytest.mark.slow
@pytest.mark.parametrize("family", ["dense", "gan"])
@pytest.mark.parametrize("steps_per_epoch", [3, 100])
def test_steps_per_epoch_is_exact_whatever_the_steps_per_execution(family, steps_per_epoch, digits):
    # Keras runs whole executions: 3 steps per epoch of a repeated dataset with 64 steps per
    # execution would train 64 steps per epoch, 100 would train 128. keras_ae's fit must not.
    from keras_ae.models.gan import build_gan

    (x, _), _ = digits
    ds = tf.data.Dataset.from_tensor_slices(x[:64]).batch(16).repeat()
    if family == "dense":
        model = build_dense_ae(x.shape[1:], hidden=(8,), code_dim=2)
        model.compile()
        counter = model.optimizer
    else:
        model = build_gan(x.shape[1:], latent_dim=2, generator_units=(8,), discriminator_units=(8,), maxout_pieces=2,
                          seed=0)
        model.compile(jit_compile=False)
        counter = model.g_optimizer
    compiled = model.steps_per_execution
    assert compiled > steps_per_epoch % compiled > 0
    history = model.fit(ds, steps_per_epoch=steps_per_epoch, epochs=2, verbose=0, validation_data=ds,
                        validation_steps=steps_per_epoch)
    assert int(counter.iterations) == 2 * steps_per_epoch
    assert len(history.history["val_" + ("loss" if family == "dense" else "g_loss")]) == 2
    assert model.steps_per_execution == compiled  # only that call ran with fewer steps per execution
    model.fit(ds, steps_per_epoch=compiled, epochs=1, verbose=0)
    assert int(counter.iterations) == 2 * steps_per_epoch + compiled


def test_history_loss_is_the_exact_epoch_mean(digits):
    """With a frozen model (learning rate 0) every batch sees the same weights, so the
    reported epoch loss must equal the mean over all examples, last partial batch included."""
    (x, _), _ = digits  # 1437 examples: batches of 100 leave a last batch of 37
    model = build_dense_ae(SHAPE, hidden=(32,), code_dim=8, loss="bce")
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0))
    history = model.fit(x, epochs=1, batch_size=100, shuffle=False, verbose=0)
    per_example = reconstruction_loss(tf.constant(x), model(x), "bce").numpy()
    assert history.history["loss"][0] == pytest.approx(float(per_example.mean()), rel=1e-5)
    # A batch-of-means average would be off: the last batch has 37 examples, not 100.
    batch_means = [per_example[i:i + 100].mean() for i in range(0, len(x), 100)]
    assert abs(np.mean(batch_means) - per_example.mean()) > 1e-6
    evaluated = model.evaluate(x, batch_size=100, verbose=0, return_dict=True)
    assert evaluated["loss"] == pytest.approx(float(per_example.mean()), rel=1e-5)


def test_denoiser_corrupts_only_in_training_and_targets_stay_clean(digits):
    (x, _), _ = digits
    model = build_denoising_ae(SHAPE, noise="masking", level=1.0, architecture="dense", hidden=(32,), code_dim=8)
    # Inference: no corruption, deterministic.
    np.testing.assert_allclose(model(x[:4], training=False), model.decoder(model.encoder(x[:4])), atol=1e-6)
    # Training: masking everything makes the output independent of the input ...
    out = model(x[:4], training=True).numpy()
    np.testing.assert_allclose(out[0], out[3], atol=1e-6)
    # ... while the loss still compares it with the clean input.
    terms = model.compute_losses(tf.constant(x[:4]), tf.constant(x[:4]), training=True)
    expected = reconstruction_loss(x[:4], out, "bce").numpy().mean()
    assert float(terms["reconstruction"]) == pytest.approx(float(expected), rel=1e-5)


@pytest.mark.slow
def test_denoising_improves_psnr_on_noisy_digits(digits):
    from keras_ae.data import corrupt
    from keras_ae.evaluation import psnr

    (x, _), (xt, _) = digits
    model = build_denoising_ae(SHAPE, noise="gaussian", level=0.3, filters=(32, 32))
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    model.fit(x, epochs=15, batch_size=64, verbose=0)
    noisy = corrupt(xt, "gaussian", 0.3, seed=1)
    gain = psnr(xt, model.reconstruct(noisy)).mean() - psnr(xt, noisy).mean()
    assert gain > 3.0, gain


@pytest.mark.slow
def test_k_sparse_codes_have_exactly_k_nonzeros(digits):
    (x, _), (xt, _) = digits
    model = BUILDERS["k_sparse"]()
    model.compile()
    model.fit(x, epochs=2, batch_size=64, verbose=0)
    codes = model.encode(xt)
    assert codes.shape == (len(xt), 32)
    np.testing.assert_array_equal((codes != 0).sum(axis=1), 5)


@pytest.mark.slow
def test_l1_penalty_makes_codes_sparser(digits):
    (x, _), (xt, _) = digits
    fractions = {}
    for l1 in (0.0, 3e-2):
        keras.utils.set_random_seed(1)
        model = build_sparse_ae(SHAPE, hidden=(64,), code_dim=32, l1=l1)
        model.compile(optimizer=keras.optimizers.Adam(3e-3))
        history = model.fit(x, epochs=10, batch_size=64, verbose=0)
        fractions[l1] = float((model.encode(xt) == 0).mean())
        assert ("sparsity" in history.history) == (l1 > 0)
    assert fractions[3e-2] > fractions[0.0] + 0.2, fractions


@pytest.mark.slow
def test_tied_model_shares_one_kernel_per_pair(digits):
    (x, _), _ = digits
    model = build_tied_ae(SHAPE, hidden=(64, 32), code_dim=16)
    untied = build_dense_ae(SHAPE, hidden=(64, 32), code_dim=16)
    assert count_kernels(model) == 3 and count_kernels(untied) == 6
    assert model.count_params() < 0.55 * untied.count_params()
    assert not [w for w in model.decoder.weights if "kernel" in w.path]
    model.compile()
    model.fit(x, epochs=1, batch_size=64, verbose=0)
    # The decoder's first layer computes relu(h @ W_code^T + b) with the encoder's kernel.
    h = model.encoder(x[:3]).numpy()
    w_code = model.encoder.get_layer("code").kernel.numpy()
    tied0 = model.decoder.get_layer("tied_0")
    np.testing.assert_allclose(tied0(h).numpy(), np.maximum(h @ w_code.T + tied0.bias.numpy(), 0), atol=1e-5)


@pytest.mark.slow
def test_fit_accepts_tf_data_and_validation_data(digits):
    (x, _), (xt, _) = digits
    model = BUILDERS["dense"]()
    model.compile()
    history = model.fit(make_tf_dataset(x, batch_size=128), validation_data=xt, epochs=2, verbose=0)
    assert len(history.history["val_loss"]) == 2


@pytest.mark.parametrize(
    "data, message",
    [
        (np.zeros((10, 64), np.float32), r"shape \(10, 64\).*\(batch, 8, 8, 1\).*reshape"),
        (np.zeros((10, 8, 8), np.float32), "shape"),
        (np.full((10, 8, 8, 1), 255, np.uint8), "uint8"),
        (np.full((10, 8, 8, 1), 2.0, np.float32), r"outside the expected range \[0, 1\]"),
        (np.full((10, 8, 8, 1), np.nan, np.float32), "NaN"),
        (np.zeros((0, 8, 8, 1), np.float32), "empty"),
        (np.array([["a"] * 64] * 2), "dtype"),
    ],
)
def test_bad_input_fails_before_training(data, message):
    model = BUILDERS["dense"]()
    model.compile()
    before = [w.numpy().copy() for w in model.weights]
    with pytest.raises(InputValidationError, match=message):
        model.fit(data, epochs=1, verbose=0)
    for w, b in zip(model.weights, before):
        np.testing.assert_array_equal(w.numpy(), b)


@pytest.mark.slow
def test_mse_model_accepts_real_valued_data_and_compile_rejects_a_loss():
    model = build_dense_ae(3, hidden=(8,), code_dim=2, loss="mse")
    assert model.decoder.get_layer("output").activation.__name__ == "linear"
    model.compile()
    model.fit(np.random.default_rng(0).normal(size=(64, 3)) * 10, epochs=1, verbose=0)
    with pytest.raises(InputValidationError, match="loss="):
        model.compile(optimizer="adam", loss="mse")


@pytest.mark.slow
def test_keras_round_trip_in_a_fresh_process(tmp_path, digits):
    (x, _), (xt, _) = digits
    expected = {}
    for name, build in BUILDERS.items():
        model = build()
        model.compile()
        model.fit(x[:256], epochs=1, batch_size=64, verbose=0)
        model.save(tmp_path / f"{name}.keras")
        expected[name] = model.predict(xt[:16], verbose=0)
    np.savez(tmp_path / "expected.npz", x=xt[:16], **expected)
    script = textwrap.dedent(f"""
        import json, numpy as np, keras
        import keras_ae  # registers the serializable classes
        data = np.load({str(tmp_path / 'expected.npz')!r})
        out = {{}}
        for name in {sorted(BUILDERS)!r}:
            model = keras.models.load_model({str(tmp_path)!r} + f"/{{name}}.keras")
            out[name] = [float(np.abs(model.predict(data["x"], verbose=0) - data[name]).max()),
                         type(model).__name__, model.encoder.name, model.decoder.name]
        print(json.dumps(out))
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    for name, (diff, cls, enc, dec) in out.items():
        assert diff == 0.0, (name, diff)
        assert cls in ("AutoEncoder", "TiedAutoEncoder") and (enc, dec) == ("encoder", "decoder")


def test_corruption_survives_save_and_load(tmp_path):
    model = BUILDERS["denoising_conv"]()
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert isinstance(loaded, AutoEncoder) and isinstance(loaded.corruption, Corruption)
    assert (loaded.corruption.noise, loaded.corruption.level) == ("gaussian", 0.3)


def test_divergence_stops_and_keeps_the_last_finite_weights(digits):
    from keras_ae.errors import TrainingDivergedError

    (x, _), _ = digits
    model = build_dense_ae(SHAPE, hidden=(32,), code_dim=8, loss="mse")
    model.compile(optimizer=keras.optimizers.SGD(1.0))
    model.fit(x, epochs=1, verbose=0)  # finite so far
    good = [w.numpy().copy() for w in model.weights]
    model.compile(optimizer=keras.optimizers.SGD(1e12), steps_per_execution=1)  # absurd learning rate
    with pytest.raises(TrainingDivergedError, match=r"epoch 1, step \d+.*learning rate") as info:
        model.fit(x, epochs=3, batch_size=32, verbose=0)
    for w, g in zip(model.weights, good):
        np.testing.assert_array_equal(w.numpy(), g)
    assert len(info.value.history.history.get("loss", [])) <= 1
