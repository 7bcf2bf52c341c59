"""Root pytest configuration: the namespace of the docstring examples in ``keras_ae/``.

``setup.cfg`` runs ``--doctest-modules`` over ``keras_ae/`` next to ``tests/``. Each
docstring example runs with the names below already defined (cheap to build: no training).
Fixtures of ``tests/`` live in ``tests/conftest.py``.
"""

from __future__ import annotations

import gc
import os
import re

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def pytest_collection_finish(session: pytest.Session) -> None:
    """Moves what collection loaded (TensorFlow, Keras, keras_ae: about 500,000 objects) out of the collector.

    Every full garbage collection walks every tracked object; a test process that has
    imported TensorFlow spends about a second per collection on objects that live as long
    as the process (measured on this 2-core machine, ``gc.collect()`` after the imports:
    1.5 s). Frozen, they are never walked again, and the suite's later collections only
    see what the tests themselves allocate.

    Args:
        session: the pytest session (unused).
    """
    gc.collect()
    gc.freeze()

# --doctest-modules imports every .py file under the test paths. Not these: the
# ``python -m keras_ae`` entry point (no examples), and the scripts tests run as
# subprocesses (they train and write files as soon as they are imported).
collect_ignore = ["keras_ae/__main__.py"]
collect_ignore_glob = ["tests/scripts/*.py"]

# A docstring example that trains, exports, samples or scores a model (a call whose name holds
# fit, train, tune, export, sample, likelihood, bits_per_dim, elbo, bound, complete, daes or
# contraction) takes 0.5 to 6 s on two cores, most of it Keras and TensorFlow tracing; the other
# examples take 0.1 s on average. The fast tier leaves those to the full suite, as it does the
# unit tests that train.
_HEAVY = re.compile(r"\b\w*(fit|train|tune|export|sample|likelihood|bits_per_dim|elbo|bound|complete|daes|"
                    r"contraction)\w*\(|\bdataset_classifier\(")


@pytest.hookimpl(tryfirst=True)  # before -m deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Marks the docstring examples that train, export, sample or score a model ``slow`` (see ``_HEAVY``).

    Args:
        items: the collected tests (marked in place).
    """
    for item in items:
        examples = getattr(getattr(item, "dtest", None), "examples", ())
        if any(_HEAVY.search(example.source) for example in examples):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def _doctest_data():
    """The digits (float32, (n, 8, 8, 1), in [0, 1]) shared by every docstring example."""
    import keras_ae

    (x_train, y_train), (x_test, y_test) = keras_ae.load_dataset("digits")
    return x_train[:256], y_train[:256], x_test[:64], y_test[:64]


@pytest.fixture(autouse=True)
def _doctest_namespace(request, doctest_namespace):
    """Names every docstring example can use, re-seeded before each docstring (``tmp_dir``: a fresh folder)."""
    if not request.node.__class__.__name__.startswith("Doctest"):
        return
    import keras
    import numpy as np
    import tensorflow as tf

    import keras_ae
    import keras_ae.models as models

    keras.utils.set_random_seed(0)
    x_digits, y_digits, x_digits_test, y_digits_test = request.getfixturevalue("_doctest_data")
    doctest_namespace.update(
        np=np, tf=tf, keras=keras, keras_ae=keras_ae, tmp_dir=request.getfixturevalue("tmp_path"),
        x_digits=x_digits, y_digits=y_digits, x_digits_test=x_digits_test, y_digits_test=y_digits_test,
        **{name: getattr(models, name) for name in models.__all__},
    )
