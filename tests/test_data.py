"""Datasets, offline loading, manifolds, corruption and tf.data pipelines."""

from __future__ import annotations

import numpy as np
import pytest

from keras_ae.data import (
    DATA_DIR_ENV, Corruption, broken_swiss_roll, corrupt, dataset_status, helix, load_dataset,
    make_tf_dataset, read_keras_npz, swiss_roll, twin_peaks,
)
from keras_ae.errors import DatasetNotAvailableError, InputValidationError, UnknownNameError


def test_digits_is_float_images_in_unit_range(digits):
    (x, y), (xt, yt) = digits
    assert x.dtype == np.float32 and x.shape[1:] == (8, 8, 1)
    assert 0.0 <= x.min() and x.max() == 1.0
    assert len(x) + len(xt) == 1797 and set(np.unique(y)) == set(range(10))
    flat = load_dataset("digits", flatten=True)
    np.testing.assert_array_equal(flat.train.x, x.reshape(len(x), 64))


def test_mnist10k_offline_matches_raw_file(mnist10k_dir, monkeypatch):
    (x, y), (xt, yt) = load_dataset("mnist", data_dir=mnist10k_dir)
    with np.load(mnist10k_dir / "mnist.npz") as raw:
        np.testing.assert_allclose(x[..., 0], raw["x_train"] / 255.0, atol=1e-7)
        np.testing.assert_array_equal(yt, raw["y_test"])
    assert x.shape == (8000, 28, 28, 1) and xt.shape == (2000, 28, 28, 1)
    # The environment variable and a direct file path work too.
    monkeypatch.setenv(DATA_DIR_ENV, str(mnist10k_dir))
    assert load_dataset("mnist").train.x.shape == (8000, 28, 28, 1)
    assert load_dataset("mnist", data_dir=mnist10k_dir / "mnist.npz", flatten=True).test.x.shape == (2000, 784)


def test_missing_offline_file_names_the_file(tmp_path, monkeypatch):
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    with pytest.raises(DatasetNotAvailableError, match="fashion_mnist.npz"):
        load_dataset("fashion_mnist", data_dir=tmp_path)
    with pytest.raises(DatasetNotAvailableError, match="KERAS_AE_DATA_DIR"):
        load_dataset("cifar10", download=False)
    assert dataset_status("digits") == "offline"
    assert dataset_status("mnist", tmp_path) == "download needed"


def test_truncated_or_incomplete_npz_is_reported(tmp_path, mnist10k_dir):
    good = (mnist10k_dir / "mnist.npz").read_bytes()
    (tmp_path / "mnist.npz").write_bytes(good[: len(good) // 3])
    with pytest.raises(DatasetNotAvailableError, match="truncated"):
        load_dataset("mnist", data_dir=tmp_path)
    np.savez(tmp_path / "partial.npz", x_train=np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(DatasetNotAvailableError, match="missing key"):
        read_keras_npz(tmp_path / "partial.npz")


def test_unknown_dataset_lists_valid_names():
    with pytest.raises(UnknownNameError, match="swiss_roll"):
        load_dataset("imagenet")


@pytest.mark.parametrize("fn", [swiss_roll, broken_swiss_roll, twin_peaks, helix])
def test_manifolds_are_generated_by_their_intrinsic_coordinates(fn):
    x, t = fn(500, noise=0.0, seed=1)
    assert x.shape == (500, 3) and len(t) == 500
    if fn in (swiss_roll, broken_swiss_roll):
        np.testing.assert_allclose(x[:, 0], t[:, 0] * np.cos(t[:, 0]), rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(x[:, 1], t[:, 1], atol=1e-5)
    elif fn is twin_peaks:
        np.testing.assert_allclose(x[:, 2], np.sin(np.pi * t[:, 0]) * np.tanh(3 * t[:, 1]), atol=1e-5)
    else:
        np.testing.assert_allclose(x[:, 2], np.sin(8 * t[:, 0]), atol=1e-5)
    if fn is broken_swiss_roll:  # the band u in [0.4, 0.6) of the angle range is missing
        u = (t[:, 0] / (1.5 * np.pi) - 1) / 2
        assert not np.any((u > 0.41) & (u < 0.59))
    x2, _ = fn(500, noise=0.0, seed=1)
    np.testing.assert_array_equal(x, x2)


def test_manifold_dataset_split():
    (x, t), (xt, tt) = load_dataset("swiss_roll", n_samples=1000, test_fraction=0.25)
    assert x.shape == (750, 3) and xt.shape == (250, 3) and t.shape == (750, 2)


def test_gaussian_noise_has_requested_std_and_is_clipped():
    x = np.full((200, 28, 28, 1), 0.5, np.float32)
    noisy = corrupt(x, "gaussian", 0.1, seed=0, clip=None)
    assert abs((noisy - x).std() - 0.1) < 0.002 and abs((noisy - x).mean()) < 0.002
    clipped = corrupt(x, "gaussian", 0.5, seed=0)
    assert clipped.min() == 0.0 and clipped.max() == 1.0
    np.testing.assert_array_equal(clipped, corrupt(x, "gaussian", 0.5, seed=0))  # seeded


def test_masking_and_salt_pepper_fractions():
    x = np.full((100, 32, 32, 1), 0.5, np.float32)
    masked = corrupt(x, "masking", 0.3, seed=0)
    assert abs((masked == 0).mean() - 0.3) < 0.01 and set(np.unique(masked)) == {0.0, 0.5}
    sp = corrupt(x, "salt_pepper", 0.2, seed=0)
    assert abs((sp != 0.5).mean() - 0.2) < 0.01
    assert abs((sp == 1.0).mean() - 0.1) < 0.01 and abs((sp == 0.0).mean() - 0.1) < 0.01


def test_corruption_layer_only_acts_in_training():
    x = np.random.default_rng(0).random((8, 16)).astype(np.float32)
    layer = Corruption("masking", 0.5, seed=3)
    np.testing.assert_array_equal(np.asarray(layer(x, training=False)), x)
    y = np.asarray(layer(x, training=True))
    assert 0.3 < (y == 0).mean() < 0.7
    assert Corruption.from_config(layer.get_config()).level == 0.5


def test_bad_noise_arguments():
    with pytest.raises(UnknownNameError, match="gaussian"):
        corrupt(np.zeros((1, 4)), "poisson", 0.1)
    with pytest.raises(InputValidationError, match=r"\[0, 1\]"):
        Corruption("masking", 1.5)


def test_tf_dataset_batches_every_example_once():
    x = np.arange(10, dtype=np.float32)[:, None]
    ds = make_tf_dataset(x, batch_size=4, seed=0)
    batches = [b.numpy() for b in ds]
    assert [len(b) for b in batches] == [4, 4, 2]
    np.testing.assert_array_equal(np.sort(np.concatenate(batches)[:, 0]), np.arange(10))
    pairs = make_tf_dataset(x, np.arange(10), batch_size=5, shuffle=False)
    xb, yb = next(iter(pairs))
    np.testing.assert_array_equal(xb.numpy()[:, 0], yb.numpy())


# ---------------------------------------------------------------------------------------
# fit's input pipeline for in-memory arrays
# ---------------------------------------------------------------------------------------


def _epoch(ds) -> np.ndarray:
    return np.concatenate([np.asarray(b[0] if isinstance(b, tuple) else b) for b in ds]).ravel()


def test_fit_pipeline_gives_every_example_once_per_epoch_reshuffled_and_reproducible():
    import keras

    from keras_ae.training.pipeline import fit_pipeline

    x = np.arange(50, dtype="float32").reshape(50, 1)
    keras.utils.set_random_seed(1)
    ds = fit_pipeline(x, batch_size=16)
    first, second = _epoch(ds), _epoch(ds)
    assert sorted(first) == sorted(second) == list(range(50))
    assert not np.array_equal(first, second), "the order must change from epoch to epoch"
    assert [len(b) for b in ds] == [16, 16, 16, 2]
    keras.utils.set_random_seed(1)
    assert np.array_equal(_epoch(fit_pipeline(x, batch_size=16)), first), "a seeded run must see the same order"
    for bx, by in fit_pipeline(x, 2 * x, batch_size=16):  # pairs stay together
        np.testing.assert_array_equal(by.numpy(), 2 * bx.numpy())
    assert np.array_equal(_epoch(fit_pipeline(x, batch_size=16, shuffle=False)), np.arange(50))


@pytest.mark.parametrize("case", ["sample_weight", "class_weight", "validation_split", "steps_per_epoch",
                                  "shuffle_batch", "list", "too_big", "strategy"])
def test_fit_pipeline_leaves_what_it_does_not_implement_to_keras(case, monkeypatch):
    import tensorflow as tf

    from keras_ae.training import pipeline

    x = np.zeros((8, 3), "float32")
    kwargs = {"sample_weight": {"sample_weight": np.ones(8)}, "class_weight": {"class_weight": {0: 1.0}},
              "validation_split": {"validation_split": 0.25}, "steps_per_epoch": {"steps_per_epoch": 2},
              "shuffle_batch": {"shuffle": "batch"}}.get(case, {})
    if case == "list":
        x = x.tolist()
    if case == "too_big":
        monkeypatch.setattr(pipeline, "FIT_PIPELINE_MAX_BYTES", x.nbytes - 1)
    if case == "strategy":
        with tf.distribute.OneDeviceStrategy("/cpu:0").scope():
            assert pipeline.fit_pipeline(x, batch_size=4) is None
        return
    assert pipeline.fit_pipeline(x, batch_size=4, **kwargs) is None
    if case != "too_big":  # the same arrays without that argument do take the pipeline
        assert pipeline.fit_pipeline(np.zeros((8, 3), "float32"), batch_size=4) is not None


@pytest.mark.slow
def test_fit_through_the_pipeline_trains_exactly_like_keras_array_adapter(digits, monkeypatch):
    # Same batches in the same order (shuffle=False): the pipeline must not change what is learned.
    import keras

    from keras_ae.training import pipeline
    from keras_ae.models import build_dense_ae

    (x, _), _ = digits
    x = x[:300]

    def train(max_bytes):
        monkeypatch.setattr(pipeline, "FIT_PIPELINE_MAX_BYTES", max_bytes)
        keras.utils.set_random_seed(0)
        model = build_dense_ae(x.shape[1:], hidden=(32,), code_dim=8)
        model.compile(optimizer=keras.optimizers.Adam(1e-2))
        history = model.fit(x, batch_size=64, epochs=3, shuffle=False, verbose=0)
        return model.get_weights(), history.history["loss"]

    (w_pipe, loss_pipe), (w_keras, loss_keras) = train(1 << 30), train(0)
    assert loss_pipe[-1] < loss_pipe[0]
    np.testing.assert_allclose(loss_pipe, loss_keras, rtol=1e-6)
    for a, b in zip(w_pipe, w_keras):
        np.testing.assert_allclose(a, b, atol=1e-6)
