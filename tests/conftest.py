"""Shared fixtures. Real data: scikit-learn digits (always) and ../shared/data/mnist10k."""

from __future__ import annotations

import importlib
import os
import sys
import types
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]
MNIST10K = REPO.parent / "shared" / "data" / "mnist10k"


def import_recipe(name: str) -> types.ModuleType:
    """``recipes/<name>.py`` as a module, for tests of a recipe's functions.

    ``recipes/`` is not a package: it is on ``sys.path`` only while the module loads, so the
    recipe's own sibling imports (``keras_io_reference``, ``time_to_quality``) resolve as they do
    when it runs as a script.
    """
    sys.path.insert(0, str(REPO / "recipes"))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(REPO / "recipes"))


@pytest.fixture(scope="session")
def digits():
    """scikit-learn digits as ``(x_train, y_train), (x_test, y_test)``, 8x8x1 in [0, 1]."""
    from keras_ae.data import load_dataset

    return load_dataset("digits")


@pytest.fixture(scope="session")
def mnist10k_dir() -> Path:
    """Folder with the offline MNIST split (skips only where ../shared is absent).

    A test that asks for it is marked ``slow`` (see ``pytest_collection_modifyitems``).
    """
    if not (MNIST10K / "mnist.npz").is_file():
        pytest.skip(f"{MNIST10K}/mnist.npz not present")
    return MNIST10K


@pytest.hookimpl(tryfirst=True)  # before -m deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Marks every test that reads ../shared/data/mnist10k ``slow``, so ``-m "not slow"`` needs no MNIST.

    Args:
        items: the collected tests (marked in place).
    """
    for item in items:
        if "mnist10k_dir" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def _seed():
    import keras

    keras.utils.set_random_seed(0)
    np.random.seed(0)
