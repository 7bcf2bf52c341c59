"""Dataset edge cases: TFDS splits and damaged files, Keras
``.npz`` headers and values, and the arguments of the generated datasets. All offline.

TFDS: a three-class 8x8 dataset is really prepared on disk once per module (``download_and_prepare``
of a tiny builder, about a second), then each test damages its own copy.
"""

from __future__ import annotations

import io
import math
import shutil
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from keras_ae.data import dataset_status, load_dataset
from keras_ae.data.curves import circle, spiral
from keras_ae.data.manifolds import MANIFOLDS, MAX_POINTS
from keras_ae.errors import DatasetNotAvailableError, InputValidationError

tfds = pytest.importorskip("tensorflow_datasets")

TINY = "keras_ae_edge_tiny"


class KerasAeEdgeTiny(tfds.core.GeneratorBasedBuilder):
    """20 train and 10 test random 8x8x1 uint8 images, labels 0-2."""

    VERSION = tfds.core.Version("1.0.0")
    # A one-part module name: TFDS then skips looking for the builder's package resources
    # (that path needs the optional importlib_resources package).
    __module__ = "keras_ae_edge_tiny_builder"

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self, supervised_keys=("image", "label"),
            features=tfds.features.FeaturesDict({"image": tfds.features.Image(shape=(8, 8, 1)),
                                                 "label": tfds.features.ClassLabel(num_classes=3)}))

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples(20), "test": self._generate_examples(10)}

    def _generate_examples(self, n):
        rng = np.random.default_rng(n)
        for i in range(n):
            yield i, {"image": rng.integers(0, 256, (8, 8, 1), dtype=np.uint8), "label": i % 3}


@pytest.fixture(scope="module")
def prepared_tfds(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tfds_prepared")
    KerasAeEdgeTiny(data_dir=str(root)).download_and_prepare()
    return root


@pytest.fixture
def tfds_copy(prepared_tfds, tmp_path) -> tuple[Path, Path]:
    """``(data_dir, version folder)`` of a fresh copy of the prepared dataset."""
    root = tmp_path / "tfds"
    shutil.copytree(prepared_tfds, root)
    return root, root / TINY / "1.0.0"


def _load_all_ways(data_dir):
    """Array mode, then streaming mode (reading every element): both must raise."""
    yield lambda: load_dataset(f"tfds:{TINY}", data_dir=data_dir)
    yield lambda: [len(list(ds)) for ds in load_dataset(f"tfds:{TINY}", data_dir=data_dir, as_dataset=True)]


def test_the_prepared_tiny_tfds_dataset_loads_in_both_modes(tfds_copy):
    root, _ = tfds_copy
    (x, y), (x_test, _) = load_dataset(f"tfds:{TINY}", data_dir=root)
    assert x.shape == (20, 8, 8, 1) and x_test.shape == (10, 8, 8, 1) and 0 <= x.min() and x.max() <= 1
    assert [len(list(ds)) for ds in load_dataset(f"tfds:{TINY}", data_dir=root, as_dataset=True)] == [20, 10]
    assert dataset_status(f"tfds:{TINY}", root).startswith("local: ")


@pytest.mark.parametrize("as_dataset", [False, True])
@pytest.mark.parametrize("spec, reason", [
    ("train[:200%]", "percent slice boundaries"),
    ("train[:abc]", "Unrecognized split format"),
    ("train[:0]", "selects no examples"),
    ("train[50%:10%]", "selects no examples"),
])
def test_a_tfds_split_that_tfds_cannot_parse_or_that_selects_nothing_is_refused_naming_it(
        tfds_copy, spec, reason, as_dataset):
    root, _ = tfds_copy
    with pytest.raises(InputValidationError, match=reason) as info:
        load_dataset(f"tfds:{TINY}", data_dir=root, split=(spec, "test"), as_dataset=as_dataset)
    assert repr(spec) in str(info.value) and "tensorflow.org/datasets/splits" in str(info.value)


def test_a_valid_tfds_slice_still_loads(tfds_copy):
    root, _ = tfds_copy
    (x, _), (x_test, _) = load_dataset(f"tfds:{TINY}", data_dir=root, split=("train[:50%]", "train[-5:]"))
    assert len(x) == 10 and len(x_test) == 5


def test_a_deleted_tfds_shard_is_reported_naming_the_file_in_every_mode(tfds_copy):
    root, folder = tfds_copy
    shard = next(folder.glob(f"{TINY}-train.tfrecord-*"))
    shard.unlink()
    for load in _load_all_ways(root):
        with pytest.raises(DatasetNotAvailableError, match="is missing") as info:
            load()
        assert shard.name in str(info.value) and "split 'train'" in str(info.value)
    assert dataset_status(f"tfds:{TINY}", root).startswith("unusable: ")


def test_a_truncated_tfds_shard_is_reported_before_reading_in_every_mode(tfds_copy):
    root, folder = tfds_copy
    shard = next(folder.glob(f"{TINY}-train.tfrecord-*"))
    shard.write_bytes(shard.read_bytes()[:-100])
    for load in _load_all_ways(root):
        with pytest.raises(DatasetNotAvailableError, match="truncated") as info:
            load()
        assert "split 'train'" in str(info.value) and "prepare it again" in str(info.value)
    status = dataset_status(f"tfds:{TINY}", root)
    assert status.startswith("unusable: ") and "truncated" in status


def test_a_corrupted_tfds_record_is_reported_naming_the_split_in_array_mode(tfds_copy):
    root, folder = tfds_copy
    shard = next(folder.glob(f"{TINY}-train.tfrecord-*"))
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size: only reading the record finds it
    shard.write_bytes(bytes(data))
    with pytest.raises(DatasetNotAvailableError, match="reading split 'train' failed with DataLossError"):
        load_dataset(f"tfds:{TINY}", data_dir=root)


@pytest.mark.parametrize("content, reason", [("garbage{", "is not valid JSON"), ("{}", "names no dataset or version")])
def test_a_garbage_or_empty_dataset_info_json_is_a_damaged_dataset_not_an_unknown_one(tfds_copy, content, reason):
    root, folder = tfds_copy
    (folder / "dataset_info.json").write_text(content)
    for load in _load_all_ways(root):
        with pytest.raises(DatasetNotAvailableError, match=reason) as info:
            load()
        assert "dataset_info.json" in str(info.value) and "Unknown" not in str(info.value)
    status = dataset_status(f"tfds:{TINY}", root)
    assert status.startswith("unusable: ") and "dataset_info.json" in status


# -- Keras-format .npz -------------------------------------------------------------------------
def _npz(folder: Path, **arrays) -> Path:
    base = {"x_train": np.zeros((3, 28, 28), np.uint8), "y_train": np.arange(3, dtype=np.uint8),
            "x_test": np.zeros((2, 28, 28), np.uint8), "y_test": np.arange(2, dtype=np.uint8)}
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(folder / "mnist.npz", **{**base, **arrays})
    return folder


def _load_npz_all_ways(folder):
    yield lambda: load_dataset("mnist", data_dir=folder, download=False)
    yield lambda: [len(list(ds)) for ds in load_dataset("mnist", data_dir=folder, download=False, as_dataset=True)]


def test_an_npz_header_declaring_a_huge_array_over_1kb_of_data_is_called_truncated_in_every_mode(tmp_path):
    from numpy.lib import format as npy

    header = io.BytesIO()
    npy.write_array_header_1_0(header, {"descr": "|u1", "fortran_order": False, "shape": (10**8, 28, 28)})
    with zipfile.ZipFile(tmp_path / "mnist.npz", "w") as archive:
        archive.writestr("x_train.npy", header.getvalue() + b"\0" * 1024)
        for key, array in (("y_train", np.zeros(10**8, np.uint8)), ("x_test", np.zeros((2, 28, 28), np.uint8)),
                           ("y_test", np.zeros(2, np.uint8))):
            member = io.BytesIO()
            np.save(member, array)
            archive.writestr(f"{key}.npy", member.getvalue(), compress_type=zipfile.ZIP_DEFLATED)
    start = time.perf_counter()
    for load in _load_npz_all_ways(tmp_path):
        with pytest.raises(DatasetNotAvailableError, match="x_train is truncated"):
            load()
    assert time.perf_counter() - start < 10  # refused from the headers, nothing allocated
    assert "x_train is truncated" in dataset_status("mnist", tmp_path)


def test_an_npz_too_large_for_memory_is_refused_with_the_advice_to_stream(tmp_path, monkeypatch):
    import keras_ae.data.images as images

    folder = _npz(tmp_path, x_train=np.zeros((1000, 28, 28), np.uint8), y_train=np.zeros(1000, np.uint8))
    monkeypatch.setattr(images, "_memory_bytes", lambda: 1 << 20)  # a machine with 1 MB
    with pytest.raises(DatasetNotAvailableError, match="as_dataset=True"):
        load_dataset("mnist", data_dir=folder, download=False)
    train_ds, _ = load_dataset("mnist", data_dir=folder, download=False, as_dataset=True)
    assert len(list(train_ds)) == 1000  # streaming is the way out


@pytest.mark.parametrize("key, array, reason", [
    ("x_train", np.full((3, 28, 28), 200.0, np.float32), r"float32 pixels in \[200, 200\].*divide them by 255"),
    ("x_train", np.full((3, 28, 28), np.nan, np.float32), "2352 NaN"),
    ("x_test", np.zeros((2, 28, 28), np.complex64), "complex64"),
    ("x_train", np.full((3, 28, 28), 4095, np.int16), r"int16 pixels in \[4095, 4095\]"),
    ("x_train", np.full((3, 28, 28), -3, np.int8), r"int8 pixels in \[-3, -3\]"),
    ("y_train", np.array([0, -1, 2]), "negative labels"),
    ("y_test", np.array([0.0, 1.5]), "not whole numbers"),
], ids=["float_0_255", "all_nan", "complex", "int16_12bit", "negative_pixels", "negative_labels", "fractional_labels"])
def test_npz_values_outside_the_loader_rule_are_refused_naming_file_and_key_in_both_modes(tmp_path, key, array, reason):
    folder = _npz(tmp_path, **{key: array})
    for load in _load_npz_all_ways(folder):
        with pytest.raises(DatasetNotAvailableError, match=reason) as info:
            load()
        assert "mnist.npz" in str(info.value) and key in str(info.value)


@pytest.mark.parametrize("array", [np.full((3, 28, 28), 255, np.int16), np.ones((3, 28, 28), bool),
                                   np.full((3, 28, 28), 0.5, np.float32)], ids=["int16_8bit", "bool", "unit_float"])
def test_npz_pixels_inside_the_rule_load_as_unit_floats_in_both_modes(tmp_path, array):
    folder = _npz(tmp_path, x_train=array)
    (x, y), _ = load_dataset("mnist", data_dir=folder, download=False)
    expected = 0.5 if array.dtype == np.float32 else 1.0
    assert x.dtype == np.float32 and float(x.max()) == expected and y.dtype == np.int64
    train_ds, _ = load_dataset("mnist", data_dir=folder, download=False, as_dataset=True)
    assert float(max(float(image.numpy().max()) for image, _ in train_ds)) == expected


@pytest.mark.parametrize("name", ["mnist", "tfds:mnist", "swiss_roll"])
def test_a_data_dir_that_is_not_a_path_is_refused(name):
    with pytest.raises(InputValidationError, match="data_dir must be a folder or file path"):
        load_dataset(name, data_dir=5)
    with pytest.raises(InputValidationError, match="data_dir"):
        dataset_status(name, data_dir=[1, 2])


# -- generated datasets -------------------------------------------------------------------------
@pytest.mark.parametrize("test_fraction", [1.5, 1.0, 0.0, -0.1, float("nan"), "a", True, 0.0001])
def test_a_test_fraction_leaving_a_split_empty_is_refused(test_fraction):
    with pytest.raises(InputValidationError, match="test_fraction"):
        load_dataset("swiss_roll", n_samples=100, test_fraction=test_fraction)


def test_a_fraction_in_range_splits_as_before():
    (x, _), (x_test, _) = load_dataset("helix", n_samples=100, test_fraction=0.25)
    assert (len(x), len(x_test)) == (75, 25)


GENERATORS = [*MANIFOLDS.values(), circle, spiral]


@pytest.mark.parametrize("fn", GENERATORS, ids=lambda fn: fn.__name__)
@pytest.mark.parametrize("noise", [float("nan"), math.inf, -0.1, "a"])
def test_nan_infinite_or_negative_noise_is_refused_by_every_generated_dataset(fn, noise):
    with pytest.raises(InputValidationError, match="noise"):
        fn(50, noise=noise)


def test_load_dataset_refuses_nan_noise_instead_of_returning_nan_points():
    with pytest.raises(InputValidationError, match="noise"):
        load_dataset("swiss_roll", noise=float("nan"))


@pytest.mark.parametrize("fn", GENERATORS, ids=lambda fn: fn.__name__)
def test_generated_datasets_refuse_absurd_counts_before_allocating_and_take_any_integer_seed(fn):
    start = time.perf_counter()
    with pytest.raises(InputValidationError, match=str(MAX_POINTS)):
        fn(10**12)
    assert time.perf_counter() - start < 1
    with pytest.raises(InputValidationError, match="seed"):
        fn(10, seed="a")
    first, _ = fn(10, seed=-1)  # a negative seed is a seed like any other
    again, _ = fn(10, seed=-1)
    np.testing.assert_array_equal(first, again)
    assert np.isfinite(first).all()


def test_a_circle_radius_must_be_positive_and_finite():
    for radius in (0.0, -1.0, float("nan"), "a"):
        with pytest.raises(InputValidationError, match="radius"):
            circle(10, radius=radius)
