"""The VAE's default optimizer averages its weights (Adam's EMA); ``ema_weights``."""

import keras
import numpy as np
import pytest

from keras_ae.errors import InputValidationError
from keras_ae.models.dense import build_dense_ae
from keras_ae.models.vae import build_vae
from keras_ae.training.ema import ema_weights


@pytest.fixture
def x():
    return np.random.default_rng(0).uniform(size=(96, 8, 8, 1)).astype("float32")


def _vae():
    return build_vae((8, 8, 1), hidden=(16,), latent_dim=2, dynamic_binarization=True, seed=0)


def test_the_vae_default_averages_and_other_families_and_explicit_optimizers_do_not():
    vae = _vae()
    vae.compile()
    assert vae.optimizer.use_ema and vae.optimizer.ema_momentum == pytest.approx(0.99)
    ae = build_dense_ae((8, 8, 1), hidden=(16,), code_dim=4)
    ae.compile()
    assert not ae.optimizer.use_ema
    for given in ("adam", keras.optimizers.Adam(5e-4)):
        vae = _vae()
        vae.compile(optimizer=given)
        assert not vae.optimizer.use_ema  # exactly what the user passed


@pytest.mark.slow
def test_fit_leaves_the_exponential_average_of_every_step_in_the_model(x):
    # Record the weights after every step, average them by hand (Keras' rule: the first step
    # copies, then avg = 0.99 avg + 0.01 w) and compare with what fit leaves in the model.
    vae = _vae()
    vae.compile(steps_per_execution=1)
    seen = []
    record = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: seen.append([v.numpy().copy() for v in vae.trainable_variables]))
    vae.fit(x, epochs=3, batch_size=32, callbacks=[record], verbose=0)
    assert len(seen) == 9
    average = [w.copy() for w in seen[0]]
    for step in seen[1:]:
        average = [0.99 * a + 0.01 * w for a, w in zip(average, step)]
    for final, expected, last in zip(vae.trainable_variables, average, seen[-1]):
        np.testing.assert_allclose(final.numpy(), expected, rtol=1e-4, atol=1e-6)
    assert any(not np.allclose(a, w, atol=1e-6) for a, w in zip(average, seen[-1]))  # not just the last step


@pytest.mark.slow
def test_ema_weights_swaps_the_averages_in_and_restores_the_weights_even_on_error(x):
    vae = _vae()
    vae.compile()
    vae.fit(x, epochs=2, batch_size=32, verbose=0)
    averages = [a.numpy().copy() for a in vae.optimizer._model_variables_moving_average]
    live = [np.full(v.shape, 0.25, "float32") for v in vae.trainable_variables]
    for v, value in zip(vae.trainable_variables, live):
        v.assign(value)
    with pytest.raises(RuntimeError, match="inside"):
        with ema_weights(vae):
            for v, a in zip(vae.trainable_variables, averages):
                np.testing.assert_array_equal(v.numpy(), a)
            raise RuntimeError("inside")
    for v, value in zip(vae.trainable_variables, live):
        np.testing.assert_array_equal(v.numpy(), value)
    for a, before in zip(vae.optimizer._model_variables_moving_average, averages):
        np.testing.assert_array_equal(a.numpy(), before)  # the averages are untouched too


@pytest.mark.slow
def test_ema_weights_is_a_no_op_without_averages(x):
    ae = build_dense_ae((8, 8, 1), hidden=(16,), code_dim=4)
    ae.compile()
    ae.fit(x, epochs=1, batch_size=32, verbose=0)
    before = ae.get_weights()
    with ema_weights(ae):
        inside = ae.get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(before, inside))
    fresh = _vae()
    fresh.compile()  # averaging, but no step taken yet: nothing to swap
    with ema_weights(fresh):
        pass


@pytest.mark.slow
def test_a_saved_vae_keeps_averaging_after_loading(x, tmp_path):
    vae = _vae()
    vae.compile()
    vae.fit(x, epochs=1, batch_size=32, verbose=0)
    vae.save(tmp_path / "vae.keras")
    loaded = keras.saving.load_model(tmp_path / "vae.keras")
    assert loaded.optimizer.use_ema and loaded.optimizer.ema_momentum == pytest.approx(0.99)
    for a, b in zip(vae.optimizer._model_variables_moving_average, loaded.optimizer._model_variables_moving_average):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    loss = loaded.fit(x, epochs=2, batch_size=32, verbose=0).history["loss"]
    assert np.all(np.isfinite(loss))


@pytest.mark.slow
def test_ema_weights_pairs_each_average_with_its_variable_after_a_sub_model_is_frozen(x):
    vae = _vae()
    vae.compile()
    vae.fit(x, epochs=2, batch_size=32, verbose=0)
    optimizer = vae.optimizer
    averages = {id(v): a.numpy().copy() for v, a in zip(optimizer._trainable_variables,
                                                        optimizer._model_variables_moving_average)}
    everything = vae.encoder.trainable_variables + vae.decoder.trainable_variables
    for v in everything:  # the live weights move off the averages
        v.assign(np.full(v.shape, 0.5, "float32"))
    vae.encoder.trainable = False  # model.trainable_variables: the decoder's only, not the optimizer's order
    assert len(vae.trainable_variables) < len(averages)
    with ema_weights(vae):
        for v in everything:
            np.testing.assert_array_equal(v.numpy(), averages[id(v)])  # the frozen encoder's too
    for v in everything:
        np.testing.assert_array_equal(v.numpy(), np.full(v.shape, 0.5, "float32"))
    assert np.all(np.isfinite(vae.evaluate(x, batch_size=32, verbose=0)))


@pytest.mark.slow
def test_ema_weights_refuses_averages_that_belong_to_another_model(x):
    trained = _vae()
    trained.compile()
    trained.fit(x[:32], epochs=1, batch_size=32, verbose=0)
    other = _vae()
    other.compile(optimizer=trained.optimizer)  # the same shapes: a positional swap would succeed silently
    before = other.get_weights()
    with pytest.raises(InputValidationError, match="not this model's.*fresh optimizer"), ema_weights(other):
        pass
    assert all(np.array_equal(a, b) for a, b in zip(before, other.get_weights()))


def _trained(x, optimizer, epochs_per_call: int, calls: int) -> list[np.ndarray]:
    vae = _vae()
    vae.compile(optimizer=optimizer)
    for _ in range(calls):
        vae.fit(x, epochs=epochs_per_call, batch_size=8, shuffle=False, verbose=0)  # 12 steps per epoch
    return [v.numpy() for v in vae.trainable_variables]


@pytest.mark.slow
def test_fit_called_again_trains_on_from_the_trained_weights_not_from_the_averages(x):
    # Three fit calls of one epoch end where one fit of three epochs ends (both hold the averages
    # of every step); Keras' own Adam(use_ema=True) restarts each call from the averages instead.
    keras.utils.set_random_seed(0)
    once = _trained(x, None, 3, 1)
    keras.utils.set_random_seed(0)
    in_calls = _trained(x, None, 1, 3)
    for a, b in zip(once, in_calls):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    keras.utils.set_random_seed(0)
    restarted = _trained(x, keras.optimizers.Adam(1e-3, use_ema=True, ema_momentum=0.99), 1, 3)
    assert max(np.abs(a - b).max() for a, b in zip(once, restarted)) > 1e-3


@pytest.mark.slow
def test_weights_set_after_fit_are_trained_on_as_they_are(x):
    from keras_ae.training.ema import resume_training_weights

    vae = _vae()
    vae.compile()
    vae.fit(x, epochs=1, batch_size=32, verbose=0)
    vae.set_weights([np.full(w.shape, 0.01, w.dtype) for w in vae.get_weights()])
    assert not resume_training_weights(vae)  # the model no longer holds the averages fit wrote
    assert all(np.all(w == np.float32(0.01)) for w in vae.get_weights())
    vae.fit(x, epochs=1, batch_size=32, verbose=0)
    assert resume_training_weights(vae) and not resume_training_weights(vae)  # kept once, used once


# -- the VQ-VAE: averages its auto-encoder, never its prior, and keeps 1e-3 up to batch 128 --------------
def _vqvae():
    from keras_ae.models.vqvae import build_vqvae

    return build_vqvae((8, 8, 1), num_codes=8, code_dim=4, filters=(8,), residual_blocks=1, prior_filters=4,
                       prior_blocks=1, likelihood="gaussian", seed=0)


@pytest.mark.parametrize("batch, expected", [(128, 1e-3), (32, 1e-3), (512, 2e-3)])
@pytest.mark.slow
def test_the_vqvae_default_averages_at_1e_3_up_to_batch_128(x, batch, expected):
    model = _vqvae()
    model.compile()
    assert model.optimizer.use_ema and model.optimizer.ema_momentum == pytest.approx(0.99)
    model.fit(x[:32], epochs=0, batch_size=batch, verbose=0)  # fit sets the rate before its first step
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(expected, rel=1e-6)


@pytest.mark.slow
def test_the_vqvae_averages_never_reach_its_prior_trained_between_two_fits(x):
    model = _vqvae()
    model.compile()
    model.fit(x, epochs=2, batch_size=32, verbose=0)
    averaged = {id(v) for v in model.optimizer._trainable_variables}
    assert not averaged & {id(v) for v in model.prior.variables}  # the prior has an optimizer of its own
    model.fit_prior(x, epochs=2, verbose=0)
    trained = [v.numpy().copy() for v in model.prior.variables]
    with ema_weights(model):
        unchanged = [np.array_equal(v.numpy(), t) for v, t in zip(model.prior.variables, trained)]
    model.fit(x, epochs=1, batch_size=32, verbose=0)  # ends writing the averages in
    assert all(unchanged)
    for v, t in zip(model.prior.variables, trained):
        np.testing.assert_array_equal(v.numpy(), t)
    # ... while the auto-encoder holds its averages, which differ from the weights it trained
    assert not all(np.array_equal(v.numpy(), t) for v, t in model.optimizer._training_weights)
