"""KL warm-up of the VAE (``kl_warmup_steps``): the weight's ramp, the loss it weights, saving, bad values."""

import keras
import numpy as np
import pytest

from keras_ae.errors import InputValidationError
from keras_ae.models.vae import build_vae


@pytest.fixture
def x():
    return np.random.default_rng(0).uniform(size=(64, 8, 8, 1)).astype("float32")


def _vae(**kwargs):
    return build_vae((8, 8, 1), hidden=(16,), latent_dim=2, dynamic_binarization=True, seed=0, **kwargs)


@pytest.mark.slow
def test_the_weight_rises_linearly_with_the_optimizer_steps_then_stays_at_one(x):
    vae = _vae(kl_warmup_steps=8)
    vae.compile(optimizer=keras.optimizers.Adam(1e-3), steps_per_execution=1)
    seen = []
    vae.fit(x, epochs=3, batch_size=16, verbose=0,  # 4 steps per epoch, 12 in all
            callbacks=[keras.callbacks.LambdaCallback(
                on_train_batch_begin=lambda b, logs: seen.append(float(vae.kl_weight(training=True))))])
    np.testing.assert_allclose(seen, [min(1.0, (s + 1) / 8) for s in range(12)], rtol=1e-6)
    assert float(vae.kl_weight(training=False)) == 1.0  # evaluation is always the true ELBO


@pytest.mark.slow
def test_the_training_loss_weights_the_kl_term_and_evaluation_does_not(x):
    vae = _vae(kl_warmup_steps=100)
    vae.compile(optimizer=keras.optimizers.Adam(1e-3))
    vae.fit(x, epochs=1, batch_size=16, verbose=0)  # 4 steps: the weight is now 5 / 100
    terms = vae.compute_losses(x, training=True)
    expected = float(terms["reconstruction"]) + 0.05 * float(terms["kl"])
    assert float(terms["loss"]) == pytest.approx(expected, rel=1e-5)
    terms = vae.compute_losses(x, training=False)
    assert float(terms["loss"]) == pytest.approx(float(terms["reconstruction"]) + float(terms["kl"]), rel=1e-5)


def test_no_warm_up_is_the_plain_elbo(x):
    vae = _vae()
    vae.compile(optimizer=keras.optimizers.Adam(1e-3))
    assert vae.kl_warmup_steps == 0 and vae.kl_weight(training=True) == 1.0
    terms = vae.compute_losses(x, training=True)
    assert float(terms["loss"]) == pytest.approx(float(terms["reconstruction"]) + float(terms["kl"]), rel=1e-5)


@pytest.mark.slow
def test_a_saved_vae_resumes_the_ramp_where_it_stopped(x, tmp_path):
    vae = _vae(kl_warmup_steps=40)
    vae.compile(optimizer=keras.optimizers.Adam(1e-3))
    vae.fit(x, epochs=2, batch_size=16, verbose=0)  # 8 steps
    vae.save(tmp_path / "vae.keras")
    loaded = keras.saving.load_model(tmp_path / "vae.keras")
    assert loaded.kl_warmup_steps == 40
    assert float(loaded.kl_weight(training=True)) == pytest.approx(9 / 40)


@pytest.mark.slow
def test_the_flow_vae_takes_the_warm_up_too(x):
    vae = _vae(kl_warmup_steps=10, posterior_flow="iaf", flow_steps=1)
    vae.compile(optimizer=keras.optimizers.Adam(1e-3))
    vae.fit(x, epochs=1, batch_size=16, verbose=0)
    terms = vae.compute_losses(x, training=True)
    assert float(terms["loss"]) == pytest.approx(float(terms["reconstruction"]) + 0.5 * float(terms["kl"]), rel=1e-5)


@pytest.mark.parametrize("bad", [-1, 2.5, "10", True])
def test_bad_warm_up_lengths_are_refused(bad):
    with pytest.raises(InputValidationError, match="kl_warmup_steps"):
        _vae(kl_warmup_steps=bad)


def test_the_iwae_objective_refuses_a_warm_up():
    with pytest.raises(InputValidationError, match="warm-up"):
        _vae(objective="iwae", k=3, kl_warmup_steps=10)
