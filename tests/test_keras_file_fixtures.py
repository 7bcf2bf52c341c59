"""`.keras` files written by an earlier keras_ae load and give the numbers they gave when saved.

The files in tests/fixtures/keras_files/ were written by the main branch of 2026-12-05 with
tests/scripts/keras_fixtures.py (one small trained model of each kind); ``expected.npz``
holds that keras_ae's outputs of the same calls. A change to a class's config, its weight
names or a sampler's seed convention that breaks users' saved files fails here.
"""

from pathlib import Path

import keras
import numpy as np
import pytest

import keras_ae  # noqa: F401  (registers the classes, as a user's script does)
from tests.scripts.families import FAMILIES
from tests.scripts.keras_fixtures import FIXTURES, outputs

FOLDER = Path(__file__).parent / "fixtures" / "keras_files"


@pytest.fixture(scope="module")
def expected():
    with np.load(FOLDER / "expected.npz") as archive:
        return dict(archive)


@pytest.mark.slow
@pytest.mark.parametrize("name", FIXTURES)
def test_a_file_saved_by_an_earlier_keras_ae_loads_and_gives_the_same_outputs(name, expected):
    model = keras.models.load_model(FOLDER / f"{name}.keras")  # safe_mode and compile, as users load
    x = FAMILIES[name][1]()
    got = outputs(name, model, x)
    assert set(got) == {key.split("/")[1] for key in expected if key.startswith(f"{name}/")}
    for key, value in got.items():
        np.testing.assert_allclose(np.asarray(value), expected[f"{name}/{key}"], rtol=1e-5, atol=1e-5,
                                   err_msg=f"{name}: {key}")
    # The loaded model keeps training: its optimizer state came with the file.
    model.fit(x, epochs=1, batch_size=32, verbose=0)
