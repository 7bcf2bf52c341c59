"""The embedded MNIST test set split, ``load_dataset("mnist10k")``: contents, streaming, refusals, CLI and recipes.

The package file must be the very arrays of ``../shared/data/mnist10k/mnist.npz`` (numbers
measured on either stay comparable): the fast tier checks them against checksums recorded
from that file, the slow tier (where ../shared exists) compares them array for array.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

import keras_ae
from keras_ae import cli
from keras_ae.data import DATASETS, IMAGE_DATASETS, dataset_status, embedded_npz, load_dataset
from keras_ae.errors import InputValidationError
from keras_ae.experiment import describe_recipe_data, load_recipe_data, recipe_data_source, recipe_parser
from tests.conftest import REPO

# sha256 of each array's uint8 bytes, recorded from ../shared/data/mnist10k/mnist.npz.
CHECKSUMS = {
    "x_train": "698228a2fa6114c1e39cf2034640abbed83cdb830c393e7b9169f5e02a86d498",
    "y_train": "a28e2a86a4ad2e8e9341663426c7dbbe31ef53d0dea3173be20dae79c2fc38bb",
    "x_test": "dc3b270d4ba091deb6e5a458cb5d456041371c0eb507c33cdfa4803485beac60",
    "y_test": "2d2bd4d0816d446a77b225fa3fa51b38bccd07a4eaa9afb92bfcf4d6d4d0e28f",
}
SHAPES = {"x_train": (8000, 28, 28), "y_train": (8000,), "x_test": (2000, 28, 28), "y_test": (2000,)}
PACKAGE_FILES = ("keras_ae/data/mnist10k.npz", "keras_ae/data/mnist10k_LICENSE.txt")


@pytest.fixture(scope="module")
def mnist10k():
    return load_dataset("mnist10k")


# -- contents -------------------------------------------------------------------------------------
def test_mnist10k_loads_offline_as_28x28_float_images_in_the_unit_range(mnist10k):
    (x, y), (xt, yt) = mnist10k
    assert x.shape == (8000, 28, 28, 1) and xt.shape == (2000, 28, 28, 1)
    assert x.dtype == xt.dtype == np.float32 and y.dtype == yt.dtype == np.int64
    assert y.shape == (8000,) and yt.shape == (2000,)
    for images in (x, xt):
        assert float(images.min()) == 0.0 and float(images.max()) == 1.0
        assert 0.1 < float(images.mean()) < 0.15  # MNIST's ink share (about 0.13)
    for labels in (y, yt):
        assert sorted(np.unique(labels).tolist()) == list(range(10))


def test_the_package_file_holds_the_recorded_uint8_arrays_compressed():
    path = embedded_npz("mnist10k")
    assert path.parent == Path(keras_ae.__file__).parent / "data"
    assert 1_400_000 < path.stat().st_size < 2_100_000  # compressed: 7.9 MB of pixels in about 1.6 MB
    with np.load(path, allow_pickle=False) as f:
        assert sorted(f.files) == sorted(SHAPES)
        for key, shape in SHAPES.items():
            array = f[key]
            assert array.shape == shape and array.dtype == np.uint8, key
            assert hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest() == CHECKSUMS[key], key
    notice = path.with_name("mnist10k_LICENSE.txt").read_text()
    assert all(name in notice for name in ("Yann LeCun", "Corinna Cortes", "Burges", "CC BY-SA 3.0"))


def test_flatten_gives_784_pixel_vectors_equal_to_the_images(mnist10k):
    (x, y), (xt, _) = load_dataset("mnist10k", flatten=True)
    assert x.shape == (8000, 784) and xt.shape == (2000, 784)
    np.testing.assert_array_equal(x, mnist10k.train.x.reshape(8000, -1))
    np.testing.assert_array_equal(y, mnist10k.train.y)


def test_as_dataset_streams_the_same_values_through_the_npz_streamer(mnist10k, monkeypatch):
    import tensorflow as tf

    from keras_ae.data import images

    calls = []
    original = images.stream_keras_npz
    monkeypatch.setattr(images, "stream_keras_npz", lambda path, *a, **k: calls.append(path) or original(path, *a, **k))
    train_ds, test_ds = load_dataset("mnist10k", as_dataset=True)
    assert calls == [embedded_npz("mnist10k")]  # the one Keras-npz streamer, no second reader
    assert train_ds.element_spec == (tf.TensorSpec((28, 28, 1), tf.float32), tf.TensorSpec((), tf.int64))
    assert int(train_ds.cardinality()) == 8000 and int(test_ds.cardinality()) == 2000
    xt, yt = next(iter(test_ds.batch(2000)))
    np.testing.assert_array_equal(xt.numpy(), mnist10k.test.x)
    np.testing.assert_array_equal(yt.numpy(), mnist10k.test.y)
    flat_ds, _ = load_dataset("mnist10k", as_dataset=True, flatten=True)
    assert flat_ds.element_spec[0].shape == (784,)


@pytest.mark.slow  # reads ../shared/data/mnist10k (the fixture skips where it is absent)
def test_the_embedded_split_is_identical_to_the_shared_mnist10k_file(mnist10k, mnist10k_dir):
    # tests run from the repository root: ../shared/data/mnist10k, as the recipes used to read it
    shared = load_dataset("mnist", data_dir=mnist10k_dir)
    for ours, theirs in zip((*mnist10k.train, *mnist10k.test), (*shared.train, *shared.test)):
        assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
        np.testing.assert_array_equal(ours, theirs)
    with np.load(embedded_npz("mnist10k")) as ours, np.load(mnist10k_dir / "mnist.npz") as theirs:
        for key in SHAPES:
            np.testing.assert_array_equal(ours[key], theirs[key])


# -- names and refusals ---------------------------------------------------------------------------
def test_mnist10k_is_listed_with_the_image_datasets():
    assert "mnist10k" in DATASETS and IMAGE_DATASETS["mnist10k"][0] == (28, 28, 1)
    assert dataset_status("mnist10k") == "offline"


def test_a_data_dir_for_mnist10k_is_refused_naming_the_alternative(tmp_path):
    for as_dataset in (False, True):
        with pytest.raises(InputValidationError, match=r"'mnist10k' ships inside keras_ae and reads no data_dir") \
                as info:
            load_dataset("mnist10k", data_dir=tmp_path, as_dataset=as_dataset)
        assert str(tmp_path) in str(info.value) and "load_dataset('mnist', data_dir=...)" in str(info.value)
    with pytest.raises(InputValidationError, match="data_dir must be a folder or file path"):
        load_dataset("mnist10k", data_dir=5)
    with pytest.raises(InputValidationError, match="split= applies to TFDS datasets only"):
        load_dataset("mnist10k", split=("train", "test"))
    assert dataset_status("mnist10k", tmp_path) == "offline"  # `keras-ae datasets --data-dir DIR` lists it


def test_the_data_dir_environment_variable_does_not_redirect_mnist10k(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_AE_DATA_DIR", str(tmp_path))  # an empty folder: 'mnist' would fail
    (x, _), _ = load_dataset("mnist10k", flatten=True)
    assert x.shape == (8000, 784)


# -- command line ---------------------------------------------------------------------------------
def test_the_cli_lists_mnist10k_offline_and_in_the_train_help(capsys):
    assert cli.main(["datasets"]) == 0
    assert "| mnist10k | image | (28, 28, 1) | offline |" in capsys.readouterr().out
    assert cli.main(["train", "--help"]) == 0
    assert "mnist10k" in capsys.readouterr().out


def test_cli_train_with_a_data_dir_for_mnist10k_is_a_usage_error(tmp_path, capsys):
    argv = ["train", "dense", "--dataset", "mnist10k", "--data-dir", str(tmp_path), "--epochs", "1",
            "--out", str(tmp_path / "run")]
    assert cli.main(argv) == 2
    assert "reads no data_dir" in capsys.readouterr().err
    assert not (tmp_path / "run" / "model.keras").exists()


@pytest.mark.slow
@pytest.mark.parametrize("stream", [False, True], ids=["arrays", "stream"])
def test_cli_trains_a_tiny_model_on_mnist10k(tmp_path, capsys, stream):
    out = tmp_path / "run"
    argv = ["train", "dense", "--dataset", "mnist10k", "-p", "hidden=[16]", "-p", "code_dim=4", "--limit", "256",
            "--epochs", "1", "--verbose", "0", "--out", str(out), *(["--stream"] if stream else [])]
    assert cli.main(argv) == 0, capsys.readouterr().err
    config = json.loads((out / "config.json").read_text())
    assert config["dataset"] == "mnist10k" and config["data_dir"] is None
    assert len(json.loads((out / "history.json").read_text())["loss"]) == 1
    assert (out / "model.keras").is_file()
    if not stream:
        assert "256 train / 2000 test examples of shape (28, 28, 1)" in capsys.readouterr().out


# -- recipes --------------------------------------------------------------------------------------
def _tiny_mnist_npz(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(folder / "mnist.npz", x_train=np.full((3, 28, 28), 255, np.uint8), y_train=np.arange(3),
             x_test=np.zeros((2, 28, 28), np.uint8), y_test=np.arange(2))
    return folder


def test_recipes_load_the_embedded_split_unless_a_data_dir_is_given(mnist10k, tmp_path, monkeypatch):
    import keras_ae.experiment as experiment

    monkeypatch.setattr(experiment, "DEFAULT_DATA_DIR", None)  # as without $KERAS_AE_DATA_DIR
    args = recipe_parser("demo", "Demo.").parse_args([])
    assert (args.dataset, args.data_dir) == ("mnist", None)
    assert recipe_data_source(args) == ("mnist10k", None)
    assert describe_recipe_data(args).startswith("mnist10k (embedded")
    (x, _), (xt, _) = load_recipe_data(args)
    np.testing.assert_array_equal(x, mnist10k.train.x)
    np.testing.assert_array_equal(xt, mnist10k.test.x)

    # An explicit --data-dir reads that folder's mnist.npz, as before.
    folder = _tiny_mnist_npz(tmp_path / "mine")
    args = recipe_parser("demo", "Demo.").parse_args(["--data-dir", str(folder)])
    (x, _), (xt, _) = load_recipe_data(args)
    assert x.shape == (3, 28, 28, 1) and float(x.max()) == 1.0 and len(xt) == 2
    assert describe_recipe_data(args) == f"mnist ({folder})"
    # ... and a folder without it is an error naming the file, not a silent fallback.
    args = recipe_parser("demo", "Demo.").parse_args(["--data-dir", str(tmp_path / "empty")])
    with pytest.raises(keras_ae.errors.DatasetNotAvailableError, match="mnist.npz"):
        load_recipe_data(args)
    # Other names are untouched.
    assert recipe_data_source(argparse.Namespace(dataset="digits", data_dir=None)) == ("digits", None)


def test_recipes_take_the_data_dir_environment_default_for_mnist_but_not_for_mnist10k(tmp_path, monkeypatch):
    import keras_ae.experiment as experiment

    folder = str(_tiny_mnist_npz(tmp_path / "env"))
    monkeypatch.setattr(experiment, "DEFAULT_DATA_DIR", folder)  # as with KERAS_AE_DATA_DIR=<folder>
    args = recipe_parser("demo", "Demo.").parse_args([])
    assert recipe_data_source(args) == ("mnist", folder)
    args = recipe_parser("demo", "Demo.").parse_args(["--dataset", "mnist10k"])
    assert recipe_data_source(args) == ("mnist10k", None)
    args = recipe_parser("demo", "Demo.").parse_args(["--dataset", "mnist10k", "--data-dir", str(tmp_path)])
    with pytest.raises(InputValidationError, match="reads no data_dir"):
        load_recipe_data(args)


def _load_recipe(name: str):
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"recipe_{name}_mnist10k", REPO / "recipes" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_denoising_recipe_defaults_to_the_embedded_28x28_split(monkeypatch):
    import keras_ae.experiment as experiment

    monkeypatch.setattr(experiment, "DEFAULT_DATA_DIR", None)
    recipe = _load_recipe("denoising")
    args = recipe.parse_args([])
    assert recipe_data_source(args) == ("mnist10k", None)
    assert args.epochs == recipe.DEFAULTS["mnist"]["epochs"] and args.batch_size == 64
    quick = recipe.parse_args(["--dataset", "digits"])
    assert quick.epochs == recipe.DEFAULTS["digits"]["epochs"]


# -- packaging ------------------------------------------------------------------------------------
def test_pyproject_declares_the_data_files_as_package_data():
    # A non-editable install (`pip install .`) copies only the package data pyproject.toml names.
    # (Checked statically: building a wheel offline needs a setuptools that reads this pyproject.)
    import fnmatch
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    patterns = config["package-data"]["keras_ae.data"]
    for file in PACKAGE_FILES:
        assert (REPO / file).is_file(), file
        assert any(fnmatch.fnmatch(Path(file).name, pattern) for pattern in patterns), file
    assert any(fnmatch.fnmatch("keras_ae.data", pattern) for pattern in config["packages"]["find"]["include"])
