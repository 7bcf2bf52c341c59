"""k-sparse auto-encoders: the k schedule callback, alpha * k test-time codes, saving."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from keras_ae.errors import InputValidationError
from keras_ae.layers.k_sparse import KSparse
from keras_ae.models.sparse import build_sparse_ae, encode_k_sparse, k_sparse_layer
from keras_ae.training.callbacks.k_schedule import KSchedule, scheduled_k


def _model(k: int = 3, alpha: float = 1.0, code_dim: int = 24):
    model = build_sparse_ae((8, 8, 1), hidden=(16,), code_dim=code_dim, k=k, alpha=alpha, l1=0.0)
    model.compile()
    return model


def test_scheduled_k_formula():
    for initial, target, anneal in [(100, 25, 10), (40, 5, 3), (7, 7, 2), (50, 10, 0)]:
        for e in range(anneal + 3):
            expected = target if anneal == 0 else round(initial + (target - initial) * min(e / anneal, 1.0))
            assert scheduled_k(e, target, initial, anneal) == expected
    assert scheduled_k(0, 25, 100, 10) == 100 and scheduled_k(10, 25, 100, 10) == 25


@pytest.mark.slow
def test_each_epoch_trains_with_the_scheduled_k(digits, monkeypatch):
    """The train function is retraced with each epoch's k (recorded at trace time), and k is logged."""
    (x, _), _ = digits
    model = _model(k=3)
    traced: list[int] = []
    original = KSparse.call

    def recording_call(self, inputs, training=False):
        if training:
            traced.append(self.k)
        return original(self, inputs, training=training)

    monkeypatch.setattr(KSparse, "call", recording_call)
    schedule = KSchedule(initial_k=24, anneal_epochs=3)
    history = model.fit(x[:256], epochs=5, batch_size=64, verbose=0, callbacks=[schedule])
    expected = [scheduled_k(e, 3, 24, 3) for e in range(5)]  # [24, 17, 10, 3, 3]
    assert history.history["k"] == [float(k) for k in expected]
    assert sorted(set(traced)) == sorted(set(expected))  # every scheduled k was traced into a train step
    assert traced[-1] == 3 and k_sparse_layer(model).k == 3  # ends at the target


@pytest.mark.slow
def test_schedule_caps_initial_k_at_the_code_size(digits):
    (x, _), _ = digits
    model = _model(k=2, code_dim=8)
    history = model.fit(x[:128], epochs=2, batch_size=64, verbose=0,
                        callbacks=[KSchedule(initial_k=100, anneal_epochs=1)])
    assert history.history["k"] == [100.0, 2.0]  # the schedule's k; the layer kept min(k, 8) units
    with pytest.raises(InputValidationError, match="KSparse"):
        plain = build_sparse_ae((8, 8, 1), hidden=(16,), code_dim=8)
        plain.compile()
        plain.fit(x[:64], epochs=1, verbose=0, callbacks=[KSchedule(2)])


def test_alpha_k_keeps_exactly_alpha_k_nonzeros_at_test_time(digits):
    (x, _), _ = digits
    model = _model(k=3, alpha=2.0)
    codes = model.encode(x[:50])
    assert np.all((codes != 0).sum(axis=1) == 6)
    assert np.all((encode_k_sparse(model, x[:50], alpha=1.0) != 0).sum(axis=1) == 3)
    assert np.all((encode_k_sparse(model, x[:50], alpha=100.0) != 0).sum(axis=1) == 24)  # capped at code_dim
    # The alpha * k units are the largest ones: they include the k of training.
    small = encode_k_sparse(model, x[:50], alpha=1.0)
    np.testing.assert_array_equal(codes[small != 0], small[small != 0])
    # In training mode the layer keeps k.
    layer = KSparse(3, alpha=2.0)
    z = np.random.default_rng(0).standard_normal((10, 24)).astype("float32")
    assert np.all((keras.ops.convert_to_numpy(layer(z, training=True)) != 0).sum(1) == 3)
    assert np.all((keras.ops.convert_to_numpy(layer(z)) != 0).sum(1) == 6)


def test_alpha_is_validated_and_default_behaviour_unchanged():
    with pytest.raises(InputValidationError, match="alpha"):
        build_sparse_ae((8, 8, 1), code_dim=8, k=2, alpha=0.5)
    with pytest.raises(InputValidationError, match="alpha"):
        build_sparse_ae((8, 8, 1), code_dim=8, alpha=2.0)  # no k
    assert "alpha" not in KSparse(2).get_config()  # old configs unchanged
    assert KSparse.from_config(KSparse(2, alpha=3).get_config()).alpha == 3.0


@pytest.mark.slow
def test_k_sparse_model_trained_with_the_schedule_saves_and_loads(digits, tmp_path):
    (x, _), _ = digits
    model = _model(k=3, alpha=2.0)
    model.fit(x[:128], epochs=2, batch_size=64, verbose=0, callbacks=[KSchedule(initial_k=12, anneal_epochs=1)])
    path = tmp_path / "k_sparse.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    layer = k_sparse_layer(loaded)
    assert (layer.k, layer.alpha) == (3, 2.0)
    np.testing.assert_allclose(loaded.encode(x[:20]), model.encode(x[:20]), atol=1e-6)
    assert np.all((loaded.encode(x[:20]) != 0).sum(axis=1) == 6)
    # And it trains on with the schedule after loading.
    loaded.compile()
    history = loaded.fit(x[:64], epochs=2, verbose=0, callbacks=[KSchedule(initial_k=6, anneal_epochs=1)])
    assert history.history["k"] == [6.0, 3.0]


def test_kschedule_anneals_any_layer_that_declares_a_schedulable_k():
    """KSchedule finds its layers by their ``schedulable_k`` attribute, not by class (training/
    imports no layer), so a layer of another library that declares it is annealed too."""

    class TopK(keras.layers.Layer):
        schedulable_k = True

        def __init__(self, k, **kwargs):
            super().__init__(**kwargs)
            self.k = k

        def call(self, x):
            return x

    layer = TopK(2)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(8), layer])
    model.compile(optimizer="sgd", loss="mse")
    x = np.random.default_rng(0).random((32, 8)).astype("float32")
    history = model.fit(x, x, epochs=3, batch_size=16, verbose=0, callbacks=[KSchedule(initial_k=6, anneal_epochs=2)])
    assert history.history["k"] == [6.0, 4.0, 2.0] and layer.k == 2
    assert KSparse.schedulable_k is True
