"""keras_ae.random.seeded: library calls that take a seed reproduce and leave the caller's global seeds alone."""

import random

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_ae.applications.pretraining import layerwise_daes
from keras_ae.applications.reduction import AutoEncoderTransformer
from keras_ae.errors import InputValidationError
from keras_ae.random import seeded


@pytest.fixture(scope="module")
def x_digits(digits):
    return digits[0][0][:64]


def _caller_draws():
    """The next draws of every global generator a user's script may rely on."""
    layer = keras.layers.Dense(3)
    layer.build((None, 2))
    return (random.random(), float(np.random.rand()), float(tf.random.uniform(())),
            float(keras.random.normal(())), layer.kernel.numpy().copy())


def _assert_same_draws(a, b):
    for left, right in zip(a, b):
        np.testing.assert_array_equal(left, right)


@pytest.mark.parametrize("library_call", [
    lambda x: layerwise_daes(x, hidden=(8,), epochs=1, seed=3),
    lambda x: AutoEncoderTransformer(code_dim=2, epochs=1, random_state=5,
                                     builder_kwargs={"hidden": (8,)}).fit(x.reshape(len(x), -1)),
], ids=["layerwise_daes", "AutoEncoderTransformer"])
@pytest.mark.slow
def test_a_seeded_library_call_leaves_the_callers_global_streams_where_they_were(library_call, x_digits):
    keras.utils.set_random_seed(123)
    expected = _caller_draws()
    keras.utils.set_random_seed(123)
    library_call(x_digits)
    _assert_same_draws(_caller_draws(), expected)


def test_the_same_seed_gives_the_same_weights_and_another_seed_does_not(x_digits):
    weights = [layerwise_daes(x_digits, hidden=(8,), epochs=0, seed=s)[0].get_weights()[0] for s in (3, 3, 4)]
    np.testing.assert_array_equal(weights[0], weights[1])
    assert not np.allclose(weights[0], weights[2])


def test_seeded_none_runs_on_the_callers_state_and_bad_seeds_are_refused():
    np.random.seed(1)
    expected = np.random.rand(2)
    np.random.seed(1)
    with seeded(None):
        first = np.random.rand()
    assert first == expected[0] and np.random.rand() == expected[1]  # one stream, untouched
    for bad in (-1, 2**32, 1.5, "1"):
        with pytest.raises(InputValidationError, match="seed"):
            with seeded(bad):
                pass


def test_the_callers_state_is_restored_when_the_block_raises():
    np.random.seed(2)
    expected = np.random.rand()
    np.random.seed(2)
    with pytest.raises(RuntimeError):
        with seeded(9):
            np.random.rand(5)
            raise RuntimeError("boom")
    assert np.random.rand() == expected
