"""``fit`` / ``evaluate`` arguments are checked once, in the shared Trainer, for every family."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_ae.errors import InputValidationError
from keras_ae.models import build_dense_ae, build_gan, build_pixelcnn

X = (np.random.default_rng(0).random((40, 8, 8, 1)) > 0.5).astype("float32")
FAMILIES = {
    "dense_ae": lambda: build_dense_ae((8, 8, 1), hidden=(8,), code_dim=2),
    "gan": lambda: build_gan((8, 8, 1), latent_dim=2, generator_units=(8,), discriminator_units=(8,)),
    "pixelcnn": lambda: build_pixelcnn((8, 8, 1), filters=4, blocks=1),
}


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def model(request):
    m = FAMILIES[request.param]()
    m.compile()
    return m


@settings(max_examples=12, deadline=None, derandomize=True, database=None)
@given(batch_size=st.one_of(st.integers(-5, 0), st.floats(0.5, 4.5).filter(lambda v: v != int(v)),
                            st.sampled_from(["8", True, [8]])))
def test_batch_size_must_be_a_positive_int(model, batch_size):
    # Before: 0 / -1 raised TensorFlow's InvalidArgumentError, 2.5 became 2, PixelCNN silently used 32.
    with pytest.raises(InputValidationError, match="batch_size"):
        model.fit(X, batch_size=batch_size, epochs=1, verbose=0)
    with pytest.raises(InputValidationError, match="batch_size"):
        model.evaluate(X, batch_size=batch_size, verbose=0)


@pytest.mark.parametrize("split", [1.5, 1.0, -0.1, "half"])
def test_validation_split_must_be_a_fraction(model, split):
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(InputValidationError, match="validation_split"):
        model.fit(X, validation_split=split, epochs=1, verbose=0)  # before: 1.5 trained
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


@pytest.mark.slow
def test_validation_data_as_a_list_is_read_like_a_tuple(model):
    with pytest.raises(InputValidationError) as info:
        model.fit(X, validation_data=[X[:, :4]], epochs=1, verbose=0)
    # before: "`validation_data` has shape (1, 40, 8, 8, 1)" (the list read as one array)
    assert "(40, 4, 8, 1)" in str(info.value) or "per-image shape (4, 8, 1)" in str(info.value)
    history = model.fit(X, validation_data=[X[:8]], epochs=1, batch_size=8, verbose=0)
    assert any(k.startswith("val_") for k in history.history)
