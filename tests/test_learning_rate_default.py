"""Adam's learning rate when compile() gets no optimizer: the square-root batch rule."""

import keras
import numpy as np
import pytest

from keras_ae.models.dense import build_dense_ae
from keras_ae.training.defaults import default_learning_rate


@pytest.fixture
def x():
    return np.random.default_rng(0).uniform(size=(512, 8, 8, 1)).astype("float32")


def _model():
    return build_dense_ae((8, 8, 1), hidden=(16,), code_dim=4)


def _rate(model) -> float:
    return float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))


@pytest.mark.slow
@pytest.mark.parametrize("batch, expected", [(256, 2e-3), (1024, 4e-3), (64, 1e-3), (16, 1e-3), (None, 1e-3)])
def test_default_optimizer_takes_the_square_root_rule_at_the_first_fit(x, batch, expected):
    model = _model()
    model.compile()
    assert _rate(model) == pytest.approx(1e-3)
    model.fit(x, epochs=1, batch_size=batch, verbose=0)
    assert _rate(model) == pytest.approx(expected, rel=1e-6)
    assert default_learning_rate(batch) == pytest.approx(expected)


@pytest.mark.slow
def test_later_fits_keep_the_rate_of_the_first(x):
    model = _model()
    model.compile()
    model.fit(x, epochs=1, batch_size=256, verbose=0)
    model.fit(x, epochs=1, batch_size=32, verbose=0)  # mid-training: no jump in the step size
    assert _rate(model) == pytest.approx(2e-3)


@pytest.mark.slow
@pytest.mark.parametrize("optimizer", ["adam", "explicit"])
def test_an_optimizer_given_explicitly_is_used_exactly(x, optimizer):
    model = _model()
    model.compile(optimizer=optimizer if optimizer == "adam" else keras.optimizers.Adam(5e-4))
    model.fit(x, epochs=1, batch_size=256, verbose=0)
    assert _rate(model) == pytest.approx(1e-3 if optimizer == "adam" else 5e-4)


@pytest.mark.slow
def test_the_larger_rate_trains_the_same_model_further_in_the_same_epochs(x):
    # Real behaviour, not only the number: at batch 256 the default moves the loss further
    # than Keras' 1e-3 in the same number of steps on this small problem.
    losses = {}
    for name, optimizer in (("default", None), ("keras", "adam")):
        keras.utils.set_random_seed(0)
        model = _model()
        model.compile(optimizer=optimizer)
        losses[name] = model.fit(x, epochs=20, batch_size=256, verbose=0).history["loss"][-1]
    assert losses["default"] < losses["keras"]


@pytest.mark.slow
def test_a_rate_set_on_the_optimizer_after_compile_is_kept(x):
    model = _model()
    model.compile()
    model.optimizer.learning_rate = 3e-4
    model.fit(x, epochs=1, batch_size=256, verbose=0)
    assert _rate(model) == pytest.approx(3e-4)
