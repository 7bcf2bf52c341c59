"""Image folders as datasets: ``load_dataset("dir:PATH")`` and ``keras-ae train --dataset dir:PATH``."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import keras_ae
from keras_ae.cli import main
from keras_ae.errors import DatasetNotAvailableError, InputValidationError

SMALL = ["-p", "hidden=[16]", "-p", "code_dim=4", "--verbose", "0"]


def write_digits(folder: Path, n: int, classes: bool = True) -> Path:
    """The first ``n`` mnist10k training digits as 28x28 grey PNGs (class folders even / odd)."""
    (x, y), _ = keras_ae.load_dataset("mnist10k")
    pixels = np.round(x[:n, ..., 0] * 255).astype(np.uint8)
    for i in range(n):
        target = folder / ("even" if y[i] % 2 == 0 else "odd") if classes else folder
        target.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels[i]).save(target / f"{i:05d}.png")
    return folder


def truncate(path: Path) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


@pytest.fixture()
def digits(tmp_path) -> Path:
    return write_digits(tmp_path / "digits", 40)


def test_labelled_folder_loads_as_arrays(digits):
    (x, y), (x_test, y_test) = keras_ae.load_dataset(f"dir:{digits}", validation_split=0.25)
    assert x.shape == (30, 28, 28, 1) and x_test.shape == (10, 28, 28, 1)
    assert x.dtype == np.float32 and 0.0 <= x.min() and x.max() <= 1.0 and x.max() > 0.9
    assert y.dtype == np.int64 and set(y.tolist()) | set(y_test.tolist()) == {0, 1}
    (x_flat, _), _ = keras_ae.load_dataset(f"dir:{digits}", flatten=True, image_size=(14, 14), color_mode="rgb")
    assert x_flat.shape == (32, 14 * 14 * 3)  # default validation_split 0.2 of 40


def test_the_split_is_seeded(digits):
    first = keras_ae.load_dataset(f"dir:{digits}", seed=3).test.x
    again = keras_ae.load_dataset(f"dir:{digits}", seed=3).test.x
    other = keras_ae.load_dataset(f"dir:{digits}", seed=4).test.x
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_unlabelled_folder(tmp_path):
    folder = write_digits(tmp_path / "flat", 10, classes=False)
    (x, y), (x_test, y_test) = keras_ae.load_dataset(f"dir:{folder}")
    assert x.shape == (8, 28, 28, 1) and y is None and y_test is None
    train_ds, _ = keras_ae.load_dataset(f"dir:{folder}", as_dataset=True)
    assert {int(label) for _, label in train_ds} == {-1}


def test_test_folder_is_the_test_split(tmp_path):
    write_digits(tmp_path / "data" / "train", 20)
    write_digits(tmp_path / "data" / "test", 6)
    (x, y), (x_test, y_test) = keras_ae.load_dataset(f"dir:{tmp_path / 'data'}")
    assert len(x) == 20 and len(x_test) == 6 and y_test is not None
    shutil.move(tmp_path / "data" / "train" / "even", tmp_path / "data" / "even")  # classes next to test/
    shutil.move(tmp_path / "data" / "train" / "odd", tmp_path / "data" / "odd")
    (tmp_path / "data" / "train").rmdir()
    (x, _), (x_test, _) = keras_ae.load_dataset(f"dir:{tmp_path / 'data'}")
    assert len(x) == 20 and len(x_test) == 6


def test_as_dataset_elements(digits):
    train_ds, test_ds = keras_ae.load_dataset(f"dir:{digits}", as_dataset=True)
    image_spec, label_spec = train_ds.element_spec
    assert tuple(image_spec.shape) == (28, 28, 1) and image_spec.dtype.name == "float32"
    assert tuple(label_spec.shape) == () and label_spec.dtype.name == "int64"
    images = np.stack([x.numpy() for x, _ in test_ds])
    assert images.shape == (8, 28, 28, 1) and 0.0 <= images.min() and images.max() <= 1.0


def _one_line_naming(exc: pytest.ExceptionInfo, text: str) -> None:
    message = str(exc.value)
    assert "\n" not in message and text in message, message


@pytest.mark.parametrize("as_dataset", [False, True])
def test_corrupt_and_non_image_files_are_named(digits, as_dataset):
    victim = sorted((digits / "odd").iterdir())[0]
    original = victim.read_bytes()
    truncate(victim)
    with pytest.raises(DatasetNotAvailableError, match="truncated or corrupt") as exc:
        keras_ae.load_dataset(f"dir:{digits}", as_dataset=as_dataset)
    _one_line_naming(exc, str(victim))
    victim.write_bytes(b"this is no image" * 8)
    with pytest.raises(DatasetNotAvailableError, match="not an image") as exc:
        keras_ae.load_dataset(f"dir:{digits}", as_dataset=as_dataset)
    _one_line_naming(exc, str(victim))
    victim.write_bytes(original)
    notes = digits / "even" / "notes.txt"
    notes.write_text("not a picture")
    with pytest.raises(DatasetNotAvailableError, match="not an image file") as exc:
        keras_ae.load_dataset(f"dir:{digits}", as_dataset=as_dataset)
    _one_line_naming(exc, str(notes))
    notes.unlink()
    (digits / "even" / ".DS_Store").write_bytes(b"\0")  # hidden files are skipped
    assert len(keras_ae.load_dataset(f"dir:{digits}").train.x) == 32


def test_missing_empty_and_odd_folders(tmp_path, digits):
    with pytest.raises(DatasetNotAvailableError, match="No such image folder"):
        keras_ae.load_dataset(f"dir:{tmp_path / 'nowhere'}")
    (tmp_path / "empty" / "a").mkdir(parents=True)
    with pytest.raises(DatasetNotAvailableError, match="holds no images"):
        keras_ae.load_dataset(f"dir:{tmp_path / 'empty'}")
    with pytest.raises(DatasetNotAvailableError, match="is not a folder"):
        keras_ae.load_dataset(f"dir:{next((digits / 'odd').iterdir())}")
    with pytest.raises(InputValidationError, match="Empty folder"):
        keras_ae.load_dataset("dir:")
    shutil.copy(next((digits / "odd").iterdir()), digits / "loose.png")
    with pytest.raises(DatasetNotAvailableError, match="class folders and the file") as exc:
        keras_ae.load_dataset(f"dir:{digits}")
    _one_line_naming(exc, "loose.png")


def test_image_size_rules(digits):
    with pytest.raises(InputValidationError, match="smaller than image_size") as exc:
        keras_ae.load_dataset(f"dir:{digits}", image_size=(32, 28))
    _one_line_naming(exc, str(digits))
    Image.new("L", (30, 30)).save(digits / "odd" / "big.png")
    with pytest.raises(InputValidationError, match="differ in size"):
        keras_ae.load_dataset(f"dir:{digits}")
    (x, _), _ = keras_ae.load_dataset(f"dir:{digits}", image_size=(28, 28))  # the larger one is resized
    assert x.shape[1:] == (28, 28, 1)
    for bad in ((0, 28), (28,), "28x28"):
        with pytest.raises(InputValidationError, match="image_size"):
            keras_ae.load_dataset(f"dir:{digits}", image_size=bad)
    with pytest.raises(InputValidationError, match="validation_split"):
        keras_ae.load_dataset(f"dir:{digits}", image_size=(28, 28), validation_split=0.01)  # no test image
    with pytest.raises(InputValidationError, match="only"):
        keras_ae.load_dataset("digits", image_size=(8, 8))


def test_arrays_larger_than_the_bound_are_refused_before_decoding_and_stream_instead(digits, monkeypatch):
    import keras_ae.data.folders as folders

    monkeypatch.setattr(folders, "MAX_RESULT_BYTES", 40 * 28 * 28 * 4 - 1)  # one float32 byte short of 40 digits
    decoded = []
    monkeypatch.setattr(folders, "_keras_datasets", lambda *a: decoded.append(a))
    with pytest.raises(InputValidationError, match=r"as_dataset=True") as exc:
        keras_ae.load_dataset(f"dir:{digits}")
    _one_line_naming(exc, str(digits))
    assert decoded == []  # refused before any image was decoded into arrays
    monkeypatch.undo()
    monkeypatch.setattr(folders, "MAX_RESULT_BYTES", 40 * 28 * 28 * 4 - 1)
    train_ds, _ = keras_ae.load_dataset(f"dir:{digits}", as_dataset=True)  # streaming is not bounded by it
    assert sum(1 for _ in train_ds) == 32


def test_unreadable_file_is_named(digits, monkeypatch):
    import PIL.Image

    victim = sorted((digits / "even").iterdir())[1]
    real_open = PIL.Image.open

    def guarded(path, *args, **kwargs):  # root reads any file: simulate the permission error
        if Path(path) == victim:
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(PIL.Image, "open", guarded)
    with pytest.raises(DatasetNotAvailableError, match="permission denied") as exc:
        keras_ae.load_dataset(f"dir:{digits}")
    _one_line_naming(exc, str(victim))


def test_cli_reports_a_bad_folder_in_one_line(digits, tmp_path, capsys):
    victim = truncate(sorted((digits / "even").iterdir())[2])
    code = main(["train", "dense", "--dataset", f"dir:{digits}", "--epochs", "1", "--out", str(tmp_path / "run"),
                 *SMALL])
    err = capsys.readouterr().err.strip()
    assert code == 1 and "\n" not in err and str(victim) in err, err
    code = main(["train", "dense", "--dataset", f"dir:{tmp_path / 'nowhere'}", "--out", str(tmp_path / "run")])
    assert code == 1 and "No such image folder" in capsys.readouterr().err
    config = tmp_path / "config.yaml"
    config.write_text("dataset: digits\nimage_size: [8, 8]\n")
    code = main(["train", "dense", "--config", str(config), "--out", str(tmp_path / "run")])
    assert code == 2 and "image folders" in capsys.readouterr().err
    config.write_text(f"dataset: 'dir:{digits}'\nimage_size: 8x8\n")
    code = main(["train", "dense", "--config", str(config), "--out", str(tmp_path / "run")])
    assert code == 2 and "image_size must be" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_trains_on_a_thousand_digit_pngs(tmp_path, capsys):
    good = write_digits(tmp_path / "good", 1000)
    config = tmp_path / "config.yaml"
    config.write_text("image_size: [28, 28]\ncolor_mode: grayscale\nvalidation_split: 0.2\n")
    code = main(["train", "dense", "--config", str(config), "--dataset", f"dir:{good}", "--epochs", "1",
                 "--out", str(tmp_path / "run"), *SMALL])
    assert code == 0, capsys.readouterr().err
    assert (tmp_path / "run" / "model.keras").is_file()
    assert "800 train / 200 test" in capsys.readouterr().out
    bad = tmp_path / "bad"
    shutil.copytree(good, bad)
    victim = truncate(bad / "odd" / sorted(p.name for p in (bad / "odd").iterdir())[-1])
    code = main(["train", "dense", "--dataset", f"dir:{bad}", "--epochs", "1", "--out", str(tmp_path / "run2"),
                 *SMALL])
    err = capsys.readouterr().err.strip()
    assert code in (1, 2) and "\n" not in err and str(victim) in err, err
    with pytest.raises(DatasetNotAvailableError, match="truncated or corrupt") as exc:
        keras_ae.load_dataset(f"dir:{bad}")
    _one_line_naming(exc, str(victim))


@pytest.mark.slow
def test_a_folder_streams_through_fit(tmp_path, capsys):
    folder = write_digits(tmp_path / "stream", 300)
    train_ds, test_ds = keras_ae.load_dataset(f"dir:{folder}", as_dataset=True)
    model = keras_ae.build_dense_ae((28, 28, 1), hidden=(16,), code_dim=4)
    model.compile(optimizer="adam")
    history = model.fit(train_ds.map(lambda x, y: x).batch(64), epochs=1, verbose=0,
                        validation_data=test_ds.map(lambda x, y: x).batch(64))
    assert np.isfinite(history.history["loss"][-1])
    code = main(["train", "dense", "--dataset", f"dir:{folder}", "--stream", "--epochs", "1",
                 "--out", str(tmp_path / "run"), *SMALL])
    assert code == 0, capsys.readouterr().err


@pytest.mark.slow
def test_cli_folder_flags_resize_split_and_are_refused_for_other_datasets(digits, tmp_path):
    import json

    import keras

    out = tmp_path / "flags"
    code = main(["train", "dense", "--dataset", f"dir:{digits}", "--image-size", "14", "14", "--color-mode",
                 "grayscale", "--validation-split", "0.25", "--epochs", "1", "--out", str(out), *SMALL])
    assert code == 0
    config = json.loads((out / "config.json").read_text())
    assert (config["image_size"], config["color_mode"], config["validation_split"]) == ([14, 14], "grayscale", 0.25)
    assert keras.models.load_model(out / "model.keras").encoder.input_shape == (None, 14, 14, 1)
    # `evaluate` loads the folder as `train` did: 14x14, the same 25% test split (10 of 40 files).
    assert main(["evaluate", str(out / "model.keras"), "--json", str(out / "eval.json")]) == 0
    assert json.loads((out / "eval.json").read_text())["results"]["loss"] == pytest.approx(
        json.loads((out / "history.json").read_text())["val_loss"][-1], rel=1e-4)
    other = write_digits(tmp_path / "other", 10, classes=False)  # 28x28 files: read at the model's 14x14
    assert main(["evaluate", str(out / "model.keras"), "--dataset", f"dir:{other}"]) == 0
    assert main(["train", "dense", "--dataset", "digits", "--image-size", "14", "14", "--epochs", "1",
                 "--out", str(tmp_path / "refused"), *SMALL]) == 2
