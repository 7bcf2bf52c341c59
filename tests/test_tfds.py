"""TensorFlow Datasets names, streaming ``as_dataset`` and dataset availability (all offline).

TFDS is mocked with its own ``tfds.testing.mock_data``: the installed package has no dummy
data, so each test writes the real builders' metadata (``dataset_info.json`` with the split
names) into a tmp folder and mocks with ``MockPolicy.USE_FILES``: the split names are then
checked by TFDS exactly as for prepared data.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest

tfds = pytest.importorskip("tensorflow_datasets")
import tensorflow as tf  # noqa: E402

from keras_ae.data import (  # noqa: E402
    TFDS_DATASETS, dataset_status, is_prebinarized, load_dataset, stream_keras_npz,
)
from keras_ae.errors import DatasetNotAvailableError, InputValidationError, UnknownNameError  # noqa: E402

SPLITS = {"mnist": ("train", "test"), "binarized_mnist": ("train", "validation", "test"),
          "celeb_a": ("train", "validation", "test")}
N = {"train": 6, "test": 4, "validation": 3}
FILL = {"train": 255, "test": 0, "validation": 51}  # one pixel value per split: shows which split was read


def _write_metadata(root: Path, name: str, splits: tuple[str, ...]) -> None:
    """The builder's ``dataset_info.json`` with ``splits``, as ``download_and_prepare`` leaves it."""
    builder = tfds.builder(name, data_dir=str(root))
    def template(split: str):
        return tfds.core.ShardedFileTemplate(
            data_dir=builder.data_path, template="{DATASET}-{SPLIT}.{FILEFORMAT}-{SHARD_X_OF_Y}",
            dataset_name=name, split=split, filetype_suffix="tfrecord")

    builder.info.set_splits(tfds.core.SplitDict([
        tfds.core.SplitInfo(name=s, shard_lengths=[N[s]], num_bytes=0, filename_template=template(s))
        for s in splits]))
    Path(builder.data_dir).mkdir(parents=True, exist_ok=True)
    builder.info.write_to_directory(builder.data_dir)


@pytest.fixture
def metadata_dir(tmp_path) -> Path:
    root = tmp_path / "tfds_metadata"
    for name, splits in SPLITS.items():
        _write_metadata(root, name, splits)
    return root


@pytest.fixture
def mocked(metadata_dir):
    """TFDS mocked with known data: split ``s`` has ``N[s]`` images filled with ``FILL[s]``.

    Yields the list of split names the code read.
    """
    calls: list[str] = []

    def as_dataset(self, split, decoders=None, read_config=None, **kwargs):
        name = str(split).split("[")[0]
        calls.append(str(split))
        n, features = N.get(name, 2), self.info.features
        fill = FILL.get(name, 7)
        if self.name == "binarized_mnist":  # stored pixels are 0/1
            fill = int(fill > 0)
        example = {"image": np.full((n, *features["image"].shape), fill, np.uint8)}
        if "label" in features:
            example["label"] = np.arange(n, dtype=np.int64) % 10
        return tf.data.Dataset.from_tensor_slices(example)

    with tfds.testing.mock_data(policy=tfds.testing.MockPolicy.USE_FILES, data_dir=str(metadata_dir),
                                as_dataset_fn=as_dataset):
        yield calls


# -- labelled, unlabelled, pre-binarized ------------------------------------------------------
def test_tfds_mnist_loads_like_keras_mnist(mocked, tmp_path):
    (x, y), (xt, yt) = load_dataset("tfds:mnist", data_dir=tmp_path)
    assert mocked == ["train", "test"]
    assert x.shape == (6, 28, 28, 1) and xt.shape == (4, 28, 28, 1)
    assert x.dtype == xt.dtype == np.float32
    assert (x == 1.0).all() and (xt == 0.0).all()  # 255 -> 1.0 (train), 0 -> 0.0 (test)
    assert y.dtype == np.int64 and y.tolist() == [0, 1, 2, 3, 4, 5] and yt.tolist() == [0, 1, 2, 3]
    assert load_dataset("tfds:mnist", data_dir=tmp_path, flatten=True).train.x.shape == (6, 784)
    assert not is_prebinarized("tfds:mnist")


def test_tfds_random_mock_data_is_scaled_to_unit_range(metadata_dir, tmp_path):
    # TFDS' own random example generator (uint8 0..255): scaled exactly like x / 255.
    with tfds.testing.mock_data(num_examples=20, policy=tfds.testing.MockPolicy.USE_FILES,
                                data_dir=str(metadata_dir)):
        (x, y), _ = load_dataset("tfds:mnist", data_dir=tmp_path)
        raw = np.stack([e["image"] for e in tfds.as_numpy(tfds.builder("mnist").as_dataset(split="train"))])
        train_ds, _ = load_dataset("tfds:mnist", data_dir=tmp_path, as_dataset=True)
        streamed = np.stack([image.numpy() for image, _ in train_ds])
    assert x.shape == (20, 28, 28, 1) and 0.0 <= x.min() and x.max() <= 1.0 and x.std() > 0.1
    np.testing.assert_array_equal(x, raw.astype(np.float32) / 255.0)
    np.testing.assert_array_equal(streamed, x)
    assert y.dtype == np.int64 and set(y.tolist()) <= set(range(10))


def test_tfds_unlabelled_dataset_has_no_labels(mocked, tmp_path):
    (x, y), (xt, yt) = load_dataset("tfds:celeb_a", data_dir=tmp_path)
    assert x.shape == (6, 218, 178, 3) and xt.shape == (4, 218, 178, 3) and x.dtype == np.float32
    assert y is None and yt is None
    train_ds, test_ds = load_dataset("tfds:celeb_a", data_dir=tmp_path, as_dataset=True)
    labels = [int(label) for _, label in test_ds]
    assert labels == [-1] * 4


def test_binarized_mnist_is_prebinarized_with_validation_and_test_splits(mocked, tmp_path):
    (x, y), (xt, yt) = load_dataset("binarized_mnist", data_dir=tmp_path)
    assert mocked == ["train", "test"]  # test, not validation, when both exist
    assert x.shape == (6, 28, 28, 1) and xt.shape == (4, 28, 28, 1)
    assert set(np.unique(x).tolist()) == {1.0} and set(np.unique(xt).tolist()) == {0.0}  # 0/1 stay 0/1
    assert y is None and yt is None
    assert is_prebinarized("binarized_mnist") and is_prebinarized("tfds:binarized_mnist")
    _, (xv, _) = load_dataset("tfds:binarized_mnist", data_dir=tmp_path, split=("train", "validation"))
    assert xv.shape == (3, 28, 28, 1) and set(np.unique(xv).tolist()) == {1.0}


def test_validation_is_the_test_split_when_there_is_no_test_split(tmp_path):
    root = tmp_path / "meta"
    _write_metadata(root, "celeb_a", ("train", "validation"))
    seen = []

    def as_dataset(self, split, **kwargs):
        seen.append(str(split))
        return tf.data.Dataset.from_tensor_slices({"image": np.zeros((2, 218, 178, 3), np.uint8)})

    with tfds.testing.mock_data(policy=tfds.testing.MockPolicy.USE_FILES, data_dir=str(root),
                                as_dataset_fn=as_dataset):
        load_dataset("tfds:celeb_a", data_dir=tmp_path)
    assert seen == ["train", "validation"]


def test_split_override_and_bad_splits(mocked, tmp_path):
    (x, _), (xt, _) = load_dataset("tfds:mnist", data_dir=tmp_path, split=("train[:50%]", "train[50%:]"))
    assert mocked == ["train[:50%]", "train[50%:]"]
    with pytest.raises(InputValidationError, match="train_split, test_split"):
        load_dataset("tfds:mnist", data_dir=tmp_path, split="train")
    with pytest.raises(InputValidationError, match="TFDS datasets only"):
        load_dataset("digits", split=("train", "test"))
    with pytest.raises(InputValidationError, match=r"no split\(s\) \['validation'\]; its splits are \['train', 'test"):
        load_dataset("tfds:mnist", data_dir=tmp_path, split=("train+validation", "test"))


# -- as_dataset ----------------------------------------------------------------------------
def test_as_dataset_element_specs_and_values_match_the_arrays(mocked, tmp_path):
    train_ds, test_ds = load_dataset("tfds:mnist", data_dir=tmp_path, as_dataset=True)
    image_spec, label_spec = train_ds.element_spec
    assert image_spec == tf.TensorSpec((28, 28, 1), tf.float32) and label_spec == tf.TensorSpec((), tf.int64)
    images, labels = zip(*[(image.numpy(), int(label)) for image, label in test_ds])
    (_, _), (xt, yt) = load_dataset("tfds:mnist", data_dir=tmp_path)
    np.testing.assert_array_equal(np.stack(images), xt)
    assert list(labels) == yt.tolist()
    flat_ds, _ = load_dataset("binarized_mnist", data_dir=tmp_path, flatten=True, as_dataset=True)
    assert flat_ds.element_spec[0] == tf.TensorSpec((784,), tf.float32)
    assert flat_ds.element_spec[1] == tf.TensorSpec((), tf.int64)


def test_as_dataset_for_digits_manifolds_and_npz(tmp_path):
    train_ds, test_ds = load_dataset("digits", as_dataset=True)
    (x, y), (xt, yt) = load_dataset("digits")
    assert train_ds.element_spec == (tf.TensorSpec((8, 8, 1), tf.float32), tf.TensorSpec((), tf.int64))
    assert len(train_ds) == len(x) and len(test_ds) == len(xt)
    m_train, _ = load_dataset("swiss_roll", n_samples=100, as_dataset=True)
    assert m_train.element_spec[0].shape == (3,) and len(m_train) == 80
    # A Keras-format cifar10.npz: uint8 images, (n, 1) labels, streamed in tiny chunks.
    rng = np.random.default_rng(0)
    arrays = {"x_train": rng.integers(0, 256, (37, 32, 32, 3), dtype=np.uint8),
              "y_train": rng.integers(0, 10, (37, 1), dtype=np.uint8),
              "x_test": rng.integers(0, 256, (5, 32, 32, 3), dtype=np.uint8),
              "y_test": rng.integers(0, 10, (5, 1), dtype=np.uint8)}
    np.savez_compressed(tmp_path / "cifar10.npz", **arrays)
    (x, y), (xt, yt) = load_dataset("cifar10", data_dir=tmp_path)
    train_ds, test_ds = stream_keras_npz(tmp_path / "cifar10.npz", (32, 32, 3), chunk_bytes=10 * 3072)
    images, labels = map(np.stack, zip(*[(image.numpy(), label.numpy()) for image, label in train_ds]))
    np.testing.assert_array_equal(images, x)  # bit-identical to the in-memory loader
    np.testing.assert_array_equal(labels, y)
    assert len(test_ds) == 5
    train_ds, _ = load_dataset("cifar10", data_dir=tmp_path, as_dataset=True, flatten=True)
    assert train_ds.element_spec == (tf.TensorSpec((3072,), tf.float32), tf.TensorSpec((), tf.int64))
    np.testing.assert_array_equal(np.stack([i.numpy() for i, _ in train_ds]), x.reshape(37, -1))


def test_grey_npz_gets_a_channel_axis_and_repeats_every_epoch(mnist10k_dir):
    train_ds, test_ds = load_dataset("mnist", data_dir=mnist10k_dir, as_dataset=True)
    assert test_ds.element_spec[0].shape == (28, 28, 1) and len(train_ds) == 8000
    (_, _), (xt, yt) = load_dataset("mnist", data_dir=mnist10k_dir)
    for _ in range(2):  # each pass re-reads the file from the start
        batch_x, batch_y = next(iter(test_ds.batch(2000)))
        np.testing.assert_array_equal(batch_x.numpy(), xt)
        np.testing.assert_array_equal(batch_y.numpy(), yt)


# -- offline errors and availability --------------------------------------------------------
@pytest.mark.parametrize("name, tfds_name", [("tfds:mnist", "mnist"), ("binarized_mnist", "binarized_mnist"),
                                             ("tfds:svhn_cropped", "svhn_cropped")])
def test_missing_tfds_data_names_dataset_folder_and_command(name, tfds_name, tmp_path):
    with pytest.raises(DatasetNotAvailableError) as info:
        load_dataset(name, data_dir=tmp_path)
    message = str(info.value)
    assert repr(tfds_name) in message and str(tmp_path) in message
    assert (f"tfds.builder({tfds_name!r}, data_dir={str(tmp_path)!r}).download_and_prepare()" in message)
    assert "download=True" in message
    assert not any(tmp_path.rglob("*.tfrecord*"))  # nothing downloaded or written
    with pytest.raises(DatasetNotAvailableError):
        load_dataset(name, data_dir=tmp_path, as_dataset=True)


def test_unknown_tfds_names(tmp_path):
    for name in ("tfds:no_such_dataset", "tfds:", "tfds:mnist:9.9.9", "tfds:a b"):
        with pytest.raises(UnknownNameError):
            load_dataset(name, data_dir=tmp_path)
    with pytest.raises(UnknownNameError, match="tfds:<name>"):
        load_dataset("imagenet")


def test_dataset_status_reports_tfds_and_unusable_npz(mocked, tmp_path):
    assert TFDS_DATASETS == ("tfds:mnist", "tfds:fashion_mnist", "tfds:cifar10", "tfds:svhn_cropped",
                             "tfds:celeb_a", "binarized_mnist")
    # Under the mock every builder reads the metadata folder: mnist is "prepared" there.
    assert dataset_status("tfds:mnist", tmp_path).startswith("local: ")
    assert dataset_status("tfds:mnist", tmp_path).endswith("mnist/3.0.1")


def test_dataset_status_offline(tmp_path):
    for name in TFDS_DATASETS:
        status = dataset_status(name, tmp_path)
        assert status.startswith("missing (prepare: python -c") and str(tmp_path) in status, status
    (tmp_path / "mnist.npz").write_bytes(b"garbage, not a zip")
    assert dataset_status("mnist", tmp_path).startswith(f"unusable: {tmp_path / 'mnist.npz'} (not a readable .npz")
    np.savez(tmp_path / "cifar10.npz", x_train=np.zeros((2, 28, 28), np.uint8), y_train=np.zeros(2),
             x_test=np.zeros((1, 28, 28), np.uint8), y_test=np.zeros(1))
    assert "expected (32, 32, 3)" in dataset_status("cifar10", tmp_path)
    np.savez(tmp_path / "fashion_mnist.npz", x_train=np.zeros((2, 28, 28), np.uint8), y_train=np.zeros(2),
             x_test=np.zeros((1, 28, 28), np.uint8), y_test=np.zeros(1))
    assert dataset_status("fashion_mnist", tmp_path) == f"local: {tmp_path / 'fashion_mnist.npz'}"
    with pytest.raises(DatasetNotAvailableError, match="not a readable"):
        load_dataset("mnist", data_dir=tmp_path, as_dataset=True)


# -- streaming memory -----------------------------------------------------------------------
def _write_big_npz(path: Path, n: int, shape: tuple[int, ...]) -> int:
    """A Keras-format .npz written chunk by chunk (this process never holds the array)."""
    from numpy.lib import format as npy

    rng = np.random.default_rng(0)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for key, rows in (("x_train", n), ("x_test", 10)):
            with archive.open(f"{key}.npy", "w", force_zip64=True) as member:
                npy.write_array_header_1_0(member, {"descr": "|u1", "fortran_order": False,
                                                    "shape": (rows, *shape)})
                for start in range(0, rows, 4096):
                    k = min(4096, rows - start)
                    member.write(rng.integers(0, 256, (k, *shape), dtype=np.uint8).tobytes())
        for key, rows in (("y_train", n), ("y_test", 10)):
            with archive.open(f"{key}.npy", "w") as member:
                npy.write_array(member, (np.arange(rows) % 10).astype(np.uint8))
    return n * int(np.prod(shape))


PROBE = textwrap.dedent("""
    import resource, sys
    import numpy as np
    import tensorflow as tf
    from keras_ae.data import load_dataset

    def maxrss_mb():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    def peak_mb():
        # VmHWM: the address space's RSS high-water mark, which clear_refs resets. ru_maxrss
        # also keeps the peaks of exited threads (TF's), so it cannot be reset reliably.
        try:
            with open("/proc/self/status") as f:
                return next(int(l.split()[1]) for l in f if l.startswith("VmHWM:")) / 1024
        except (OSError, StopIteration):
            return maxrss_mb()

    small, big = sys.argv[1], sys.argv[2]
    # Warm up TF's runtime and this very pipeline on a small file: the baseline.
    for _ in load_dataset("cifar10", data_dir=small, as_dataset=True)[0].batch(256).prefetch(2):
        pass
    # Reset the high-water mark (Linux: clear_refs 5), so the peak is measured from here and
    # what import/warm-up once touched and freed cannot hide the growth below it.
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        reset = 1
    except OSError:
        reset = 0
    base = peak_mb()
    train_ds, _ = load_dataset("cifar10", data_dir=big, as_dataset=True)
    n, total = 0, 0.0
    for x, y in train_ds.batch(256).prefetch(2):
        n += int(x.shape[0])
        total += float(tf.reduce_sum(x[:, 0, 0, 0]))
    streamed = peak_mb()
    # Control: holding the same images once (uint8, as stored) does show in ru_maxrss.
    with np.load(big + "/cifar10.npz") as f:
        x = f["x_train"]
    print(reset, n, base, streamed, peak_mb(), maxrss_mb())
""")


@pytest.mark.slow
def test_as_dataset_streams_an_npz_larger_than_the_memory_budget(tmp_path):
    budget_mb = 64  # peak RSS growth allowed while streaming
    (tmp_path / "small").mkdir()
    (tmp_path / "big").mkdir()
    _write_big_npz(tmp_path / "small" / "cifar10.npz", 2000, (32, 32, 3))
    n = 4 * budget_mb * (1 << 20) // 3072 + 1  # 4x the budget as uint8, 16x as the float32 arrays
    size = _write_big_npz(tmp_path / "big" / "cifar10.npz", n, (32, 32, 3))
    assert size > 4 * budget_mb * (1 << 20)
    out = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path / "small"), str(tmp_path / "big")],
                         capture_output=True, text=True, timeout=300,
                         env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""})
    assert out.returncode == 0, out.stderr[-2000:]
    reset, count, base, peak, loaded, maxrss = map(float, out.stdout.split()[-6:])
    print(f"streamed {size / 2**20:.0f} MB: RSS baseline {base:.0f} MB, peak while streaming {peak:.0f} MB, "
          f"after np.load of the same array {loaded:.0f} MB (ru_maxrss over the whole run {maxrss:.0f} MB)")
    assert int(count) == n
    assert peak - base < budget_mb, (base, peak)
    if reset:  # the control can only show above the old high-water mark otherwise
        assert loaded - peak > 2 * budget_mb, "the measurement must see an array of the data's size"


# -- the command line ---------------------------------------------------------------------------
def test_cli_train_on_missing_tfds_data_exits_1_with_one_line(tmp_path, monkeypatch, capsys):
    from keras_ae import cli

    monkeypatch.chdir(tmp_path)
    code = cli.main(["train", "vae", "--dataset", "tfds:mnist", "--data-dir", str(tmp_path / "empty"),
                     "--epochs", "1", "--out", "runs/vae"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert len(err) == 1 and "mnist" in err[0] and "empty" in err[0] and "download_and_prepare" in err[0]
    assert not (tmp_path / "runs" / "vae" / "model.keras").exists()


@pytest.mark.slow
@pytest.mark.parametrize("stream", [False, True])
def test_cli_trains_a_vae_on_local_tfds_data(mocked, stream, tmp_path, monkeypatch, capsys):
    from keras_ae import cli
    from keras_ae.saving import load_model

    monkeypatch.chdir(tmp_path)
    args = ["train", "vae", "--dataset", "tfds:mnist", "--data-dir", str(tmp_path), "--epochs", "1",
            "--batch-size", "2", "--binarize", "--out", "runs/vae", "-p", "latent_dim=2", "-p", "hidden=[8]"]
    code = cli.main(args + (["--stream"] if stream else []))
    assert code == 0, capsys.readouterr()
    model = load_model(tmp_path / "runs" / "vae" / "model.keras")
    assert model.family == "vae" and model.example_shape == (28, 28, 1)
