"""``tf.data`` input gets the same checks as NumPy arrays, for every family, and a refused
dataset leaves the model usable."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_ae.errors import InputValidationError
from keras_ae.models import build_conditional_gan, build_dense_ae, build_pixelcnn, build_vae
from keras_ae.training import DataSpec, check_dataset

RNG = np.random.default_rng(0)
X = RNG.random((64, 8, 8, 1)).astype("float32")
BINARY = (X > 0.5).astype("float32")
LABELS = RNG.integers(0, 3, 64).astype("int32")


def ds(*arrays, batch=16):
    data = arrays[0] if len(arrays) == 1 else tuple(arrays)
    return tf.data.Dataset.from_tensor_slices(data).batch(batch)


def _dense():
    model = build_dense_ae((8, 8, 1), hidden=(16,), code_dim=4)
    model.compile()
    return model


def _vae():
    model = build_vae((8, 8, 1), latent_dim=2, hidden=(16,))
    model.compile()
    return model


def _cgan():
    model = build_conditional_gan((8, 8, 1), num_classes=3, latent_dim=4, generator_units=(16,),
                                  discriminator_units=(16,))
    model.compile()
    return model


def _pixelcnn():
    model = build_pixelcnn((8, 8, 1), filters=8, blocks=1)
    model.compile()
    return model


# family -> (model factory, a valid dataset, bad datasets with the words the error must contain)
CASES = {
    "dense_ae": (_dense, lambda: ds(X), [
        (lambda: ds(X * 255), "outside [0, 1]"),  # trained to loss -992 before
        (lambda: ds(X, LABELS), "targets of shape"),  # (x, labels) tuples
        (lambda: ds((X * 255).astype("uint8")), "uint8"),
        (lambda: ds(np.where(X > 0.9, np.inf, X).astype("float32")), "outside [0, 1]"),
    ]),
    "vae": (_vae, lambda: ds(BINARY), [
        (lambda: ds(BINARY * 255), "outside [0, 1]"),  # loss -1555 before
        (lambda: ds(X), "not 0 or 1"),  # grey data for a Bernoulli likelihood
    ]),
    "conditional_gan": (_cgan, lambda: ds(X, LABELS), [
        (lambda: ds(X, np.full(64, 12, "int32")), "outside [0, 2]"),
        (lambda: ds(X, np.full(64, -5, "int32")), "outside [0, 2]"),
        (lambda: ds(X), "(images, labels)"),
        (lambda: ds(X, LABELS.astype("float32") + 0.5), "whole numbers"),
    ]),
    "pixelcnn": (_pixelcnn, lambda: ds(BINARY), [
        (lambda: ds(X), "not 0 or 1"),  # grey images
        (lambda: ds(np.round(X * 3) / 3), "not 0 or 1"),  # off the binary grid
    ]),
}
BAD = [(family, i) for family, (_, _, bad) in CASES.items() for i in range(len(bad))]


@pytest.mark.slow
@pytest.mark.parametrize("family,case", BAD)
def test_bad_dataset_is_refused_and_the_model_stays_usable(family, case):
    make, good, bad = CASES[family]
    model = make()
    dataset, words = bad[case]
    with pytest.raises(InputValidationError) as info:
        model.fit(dataset(), epochs=1, verbose=0)
    assert words in str(info.value)
    assert len(str(info.value)) < 600
    for w in model.get_weights():
        assert np.isfinite(w).all()
    history = model.fit(good(), epochs=1, verbose=0)  # the same model trains on valid data
    assert all(np.isfinite(v[-1]) for v in history.history.values())
    with pytest.raises(InputValidationError):
        model.evaluate(dataset(), verbose=0)


@pytest.mark.slow
def test_nan_batch_stops_through_the_nan_guard_naming_the_step():
    from keras_ae.errors import TrainingDivergedError

    model = build_dense_ae((8, 8, 1), hidden=(16,), code_dim=4)
    model.compile(steps_per_execution=1)
    bad = X.copy()
    bad[40:] = np.nan
    with pytest.raises(TrainingDivergedError, match=r"epoch 1, step 3.*restored"):
        model.fit(ds(bad), epochs=2, verbose=0)
    assert all(np.isfinite(w).all() for w in model.get_weights())


@pytest.mark.slow
def test_bad_batch_mid_epoch_restores_the_last_finished_epoch():
    model = _dense()
    model.fit(ds(X), epochs=1, verbose=0)
    after_first = [w.copy() for w in model.get_weights()]
    mixed = tf.data.Dataset.from_tensor_slices(np.concatenate([X, X[:16] * 255])).batch(16)
    with pytest.raises(InputValidationError, match="epoch 1.*restored"):
        model.fit(mixed, epochs=1, verbose=0, steps_per_epoch=None)
    for w, b in zip(model.get_weights(), after_first):
        np.testing.assert_array_equal(w, b)


@pytest.mark.slow
@pytest.mark.parametrize("fitted", [False, True])
def test_unbatched_or_wrongly_shaped_dataset_is_refused_before_any_trace(fitted):
    model = _dense()
    if fitted:
        model.fit(X, epochs=1, verbose=0)
    with pytest.raises(InputValidationError, match="dataset.batch"):
        model.fit(tf.data.Dataset.from_tensor_slices(X), epochs=1, verbose=0)
    with pytest.raises(InputValidationError, match=r"\(batch, 8, 8, 1\)"):
        model.fit(ds(X.reshape(64, 64)), epochs=1, verbose=0)
    # Before: "Creating variables on a non-first call to a function decorated with tf.function",
    # then "as_list() is not defined on an unknown TensorShape". Now the model is untouched.
    history = model.fit(X, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][-1])
    history = model.fit(ds(X), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][-1])


@pytest.mark.slow
def test_dataset_of_unknown_shape_is_checked_per_batch():
    model = _dense()
    gen = tf.data.Dataset.from_generator(lambda: iter([X[:16].reshape(16, 64)]),
                                         output_signature=tf.TensorSpec(None, tf.float32))
    with pytest.raises(InputValidationError):
        model.fit(gen, epochs=1, verbose=0)
    assert np.isfinite(model.fit(ds(X), epochs=1, verbose=0).history["loss"][-1])


def test_checked_dataset_yields_the_same_batches():
    spec = DataSpec((8, 8, 1), (0.0, 1.0), targets="same")
    raw = list(ds(X, X))
    checked = list(check_dataset(ds(X, X), spec))
    assert len(raw) == len(checked)
    for (a, b), (c, d) in zip(raw, checked):
        np.testing.assert_array_equal(a.numpy(), c.numpy())
        np.testing.assert_array_equal(b.numpy(), d.numpy())


@pytest.mark.slow
def test_streaming_fit_equals_in_memory_fit():
    losses = []
    for data in (X, ds(X)):
        keras.utils.set_random_seed(5)
        model = build_dense_ae((8, 8, 1), hidden=(16,), code_dim=4)
        model.compile(optimizer=keras.optimizers.SGD(0.5))
        losses.append(model.fit(data, epochs=2, batch_size=16, shuffle=False, verbose=0).history["loss"])
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-6)
