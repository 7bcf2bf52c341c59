"""TensorBoard summaries: Keras' scalars, image summaries, the embedding projector, ``--tensorboard``.

Event files are read back with ``tf.compat.v1.train.summary_iterator`` on tiny models
trained on the scikit-learn digits.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

import keras_ae
import keras_ae.cli
import keras_ae.cli_config
import keras_ae.data
from keras_ae.training.callbacks import ImageSummaries, tensorboard_callbacks


@pytest.fixture(scope="module")
def digits():
    (x_train, y_train), (x_test, y_test) = keras_ae.load_dataset("digits")
    return x_train[:128], y_train[:128], x_test[:40], y_test[:40]


def read_events(run_dir: Path) -> dict[str, list]:
    """tag -> [(step, value)], value a float for scalars, a decoded image array for images."""
    tags: dict[str, list] = {}
    for path in sorted(run_dir.glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                tensor = tf.make_ndarray(value.tensor)
                if value.metadata.plugin_data.plugin_name == "images":  # [width, height, png, ...]
                    width, height = int(tensor[0]), int(tensor[1])
                    image = tf.io.decode_png(tensor[2]).numpy()
                    assert image.shape[:2] == (height, width)
                    tags.setdefault(value.tag, []).append((event.step, image))
                else:
                    tags.setdefault(value.tag, []).append((event.step, float(tensor)))
    return tags


def fit_logged(model, x, log_dir: Path, x_test, y_test, epochs: int = 3, every: int = 2, **fit_kwargs):
    callbacks = tensorboard_callbacks(log_dir, model, x_test, y_test, every=every, images=4)
    model.fit(x, epochs=epochs, batch_size=32, verbose=0, callbacks=callbacks, **fit_kwargs)
    return [type(c).__name__ for c in callbacks]


def check_projector(log_dir: Path, n: int, dim: int, image_side: int = 8) -> None:
    config = (log_dir / "projector_config.pbtxt").read_text()
    assert "embedding/.ATTRIBUTES/VARIABLE_VALUE" in config and "metadata.tsv" in config
    assert "sprite.png" in config and f"single_image_dim: {image_side}" in config
    assert len((log_dir / "metadata.tsv").read_text().splitlines()) == n  # one row per point, no header
    sprite = tf.io.decode_png(tf.io.read_file(str(log_dir / "sprite.png"))).numpy()
    side = int(np.ceil(np.sqrt(n)))
    assert sprite.shape == (side * image_side, side * image_side, 1)
    assert (log_dir / "checkpoint").is_file()
    codes = tf.train.load_variable(str(log_dir / "embedding.ckpt-1"), "embedding/.ATTRIBUTES/VARIABLE_VALUE")
    assert codes.shape == (n, dim)


@pytest.mark.slow
def test_dense_autoencoder_writes_scalars_reconstructions_and_projector(tmp_path, digits):
    x, _, x_test, y_test = digits
    model = keras_ae.build_dense_ae((8, 8, 1), hidden=(16,), code_dim=3)
    model.compile()
    names = fit_logged(model, x, tmp_path, x_test, y_test, validation_data=(x_test,))
    assert names == ["TensorBoard", "ImageSummaries", "EmbeddingProjector"]
    train, validation = read_events(tmp_path / "train"), read_events(tmp_path / "validation")
    assert {"epoch_loss", "epoch_reconstruction"} <= set(train)
    assert [step for step, _ in train["epoch_loss"]] == [0, 1, 2]
    assert "epoch_loss" in validation
    images = read_events(tmp_path / "images")
    assert set(images) == {"reconstructions"}
    # Epochs 2 (every=2) and 3 (the last); 4 pairs input | reconstruction, 2 per row.
    assert [step for step, _ in images["reconstructions"]] == [1, 2]
    assert images["reconstructions"][0][1].shape == (2 * 8, 2 * 16, 1)
    check_projector(tmp_path, n=len(x_test), dim=3)


@pytest.mark.slow
def test_vae_writes_reconstructions_fixed_samples_and_projector(tmp_path, digits):
    x, _, x_test, y_test = digits
    vae = keras_ae.build_vae((8, 8, 1), latent_dim=2, hidden=(16,), dynamic_binarization=True)
    vae.compile()
    fit_logged(vae, x, tmp_path, x_test, y_test, epochs=2, every=1)
    images = read_events(tmp_path / "images")
    assert set(images) == {"reconstructions", "samples"}
    assert images["samples"][0][1].shape == (2 * 8, 2 * 8, 1)
    check_projector(tmp_path, n=len(x_test), dim=2)  # the posterior means


def test_vae_samples_use_the_same_z_every_time(digits):
    vae = keras_ae.build_vae((8, 8, 1), latent_dim=2, hidden=(16,))
    first = keras_ae.training.callbacks.model_images(vae, None, n=4, seed=3)["samples"]
    np.testing.assert_array_equal(first, keras_ae.training.callbacks.model_images(vae, None, n=4, seed=3)["samples"])


@pytest.mark.slow
def test_gan_writes_sample_grids_and_no_projector(tmp_path, digits):
    x, _, x_test, _ = digits
    gan = keras_ae.build_gan((8, 8, 1), latent_dim=4, generator_units=(8,), discriminator_units=(8,))
    gan.compile(jit_compile=False)
    names = fit_logged(gan, gan.from_unit_range(x), tmp_path, x_test, None, epochs=2, every=1)
    assert names == ["TensorBoard", "ImageSummaries"]
    assert any(tag.startswith("epoch_") for tag in read_events(tmp_path / "train"))
    samples = read_events(tmp_path / "images")["samples"]
    assert [step for step, _ in samples] == [0, 1] and samples[0][1].shape == (16, 16, 1)
    assert not (tmp_path / "projector_config.pbtxt").exists()


def test_a_conditional_vae_draws_a_row_per_class_and_reconstructs_given_the_labels(tmp_path, digits):
    _, _, x_test, y_test = digits
    cvae = keras_ae.build_vae((8, 8, 1), latent_dim=2, hidden=(16,), num_classes=10, seed=0)
    callback = ImageSummaries(tmp_path, x_test, n=10, y=y_test)
    callback.set_model(cvae)
    callback.on_train_begin()
    grids = callback.write(0)
    assert grids["samples"].shape[:2] == (10 * 8, 8)  # 10 rows (classes) of one image
    expected = np.clip(cvae.sample(10, seed=0, labels=np.arange(10)), 0, 1)
    np.testing.assert_allclose(grids["samples"][8 * 3:8 * 4, :, 0], expected[3, ..., 0], atol=1e-6)  # row 3: class 3
    recon = cvae.reconstruct(x_test[:10], labels=y_test[:10])
    np.testing.assert_allclose(grids["reconstructions"][:8, 8:16, 0], np.clip(recon[0, ..., 0], 0, 1), atol=1e-6)
    # Without the test labels a conditional model has no reconstructions to show (nor codes).
    bare = ImageSummaries(tmp_path / "bare", x_test, n=10)
    bare.set_model(cvae)
    assert sorted(bare.write(0)) == ["samples"]
    assert [type(c).__name__ for c in tensorboard_callbacks(tmp_path / "tb", cvae, x_test)] == [
        "TensorBoard", "ImageSummaries"]


def test_conditional_gan_draws_one_row_per_class(tmp_path):
    cgan = keras_ae.build_conditional_gan((8, 8, 1), num_classes=3, latent_dim=4, architecture="mlp")
    callback = ImageSummaries(tmp_path, n=5)
    callback.set_model(cgan)
    callback.on_train_begin()
    assert callback._labels.tolist() == [0, 0, 1, 1, 2, 2]
    grid = callback.write(0)["samples"]
    assert grid.shape[:2] == (3 * 8, 2 * 8)  # 3 rows (classes) of 2 images
    rows = [grid[8 * r:8 * (r + 1), :8, 0] for r in range(3)]
    expected = cgan.generate(callback._z, callback._labels, unit_range=True)
    for r in range(3):  # row r holds class r
        np.testing.assert_allclose(rows[r], np.clip(expected[2 * r, ..., 0], 0, 1), atol=1e-6)


@pytest.mark.slow
def test_pixelcnn_writes_samples(tmp_path, digits):
    x, _, x_test, y_test = digits
    x, x_test = keras_ae.data.binarize(x, seed=0), keras_ae.data.binarize(x_test, seed=1)
    model = keras_ae.build_pixelcnn((8, 8, 1), filters=8, blocks=1)
    model.compile()
    names = fit_logged(model, x, tmp_path, x_test, y_test, epochs=1, every=1)
    assert names == ["TensorBoard", "ImageSummaries"]  # no codes: no projector
    assert "epoch_loss" in read_events(tmp_path / "train")
    samples = read_events(tmp_path / "images")["samples"]
    assert samples[0][1].shape == (16, 16, 1) and set(np.unique(samples[0][1])) <= {0, 255}


def test_projector_skips_the_sprite_for_non_images(tmp_path):
    keras_ae.training.callbacks.write_projector(tmp_path, np.zeros((5, 2)), labels=list("abcde"),
                                                images=np.zeros((5, 3)))
    assert not (tmp_path / "sprite.png").exists()
    assert (tmp_path / "metadata.tsv").read_text() == "a\nb\nc\nd\ne\n"


@pytest.mark.slow
def test_cli_train_tensorboard_flag(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = keras_ae.cli.main(["train", "dense", "-p", "code_dim=3", "--epochs", "2", "--limit", "128",
                              "--out", "run", "--tensorboard", "tb", "--verbose", "0"])
    assert code == 0
    assert "epoch_loss" in read_events(tmp_path / "tb" / "train")
    assert "epoch_loss" in read_events(tmp_path / "tb" / "validation")
    assert read_events(tmp_path / "tb" / "images")["reconstructions"][0][0] == 1  # the last epoch
    check_projector(tmp_path / "tb", n=359, dim=3)
    assert keras_ae.cli_config.read_config(tmp_path / "run" / "config.json")["tensorboard"] == "tb"


def test_cli_tensorboard_config_value_is_checked():
    config = {**keras_ae.cli_config.TRAIN_DEFAULTS, "model": "dense", "tensorboard": ""}
    with pytest.raises(keras_ae.cli_config.UsageError, match="tensorboard must be a non-empty folder path"):
        keras_ae.cli_config.check_train_config(config)
    with pytest.raises(keras_ae.cli_config.UsageError, match="stream must be true or false"):
        keras_ae.cli_config.check_train_config({**config, "tensorboard": None, "stream": "yes"})


@pytest.mark.slow
def test_recipe_parser_tensorboard_and_fit_recipe_model(tmp_path, digits):
    from keras_ae.experiment import fit_recipe_model, recipe_parser

    x, _, x_test, y_test = digits
    args = recipe_parser("demo", "Demo.", dataset="digits").parse_args(
        ["--out", str(tmp_path / "out"), "--tensorboard", str(tmp_path / "tb")])
    model = keras_ae.build_dense_ae((8, 8, 1), hidden=(16,), code_dim=3, name="small")
    model.compile()
    fit_recipe_model(model, x, args, x_test=x_test, y_test=y_test, epochs=1, batch_size=32, verbose=0)
    assert "epoch_loss" in read_events(tmp_path / "tb" / "small" / "train")
    check_projector(tmp_path / "tb" / "small", n=len(x_test), dim=3)


@pytest.mark.slow
@pytest.mark.skipif("as_dataset" not in inspect.signature(keras_ae.load_dataset).parameters,
                    reason="keras_ae.load_dataset(..., as_dataset=True) has not landed yet (keras_ae/data)")
@pytest.mark.parametrize("model", ["dense", "conditional_gan"])
def test_cli_train_stream(tmp_path, monkeypatch, model):
    monkeypatch.chdir(tmp_path)
    params = ["-p", "latent_dim=4", "-p", "architecture=mlp"] if model == "conditional_gan" else []
    code = keras_ae.cli.main(["train", model, *params, "--stream", "--epochs", "1", "--limit", "128",
                              "--batch-size", "32", "--out", "run", "--verbose", "0"])
    assert code == 0
    assert (tmp_path / "run" / "model.keras").is_file()
