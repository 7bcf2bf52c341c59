"""Numeric tables as datasets (``csv:`` / ``npy:`` / ``npz:``) and models that standardize raw rows inside."""

from __future__ import annotations

import csv
import os
import warnings
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_ae
from keras_ae.data import tables
from keras_ae.export.endpoints import data_name
from keras_ae.errors import DatasetNotAvailableError, InputValidationError, UnknownNameError
from keras_ae.models import build_dense_ae
from keras_ae.models.vae import build_vae
from keras_ae.saving import load_model
from tests.test_export import run_tf_only


def write_csv(path: Path, header: list[str], rows: list[list]) -> Path:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
def cancer_csv(tmp_path_factory) -> Path:
    """scikit-learn's breast cancer table (30 features from 0.001 to 4,254) with a ``diagnosis`` label column."""
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    names = [name.replace(" ", "_") for name in data.feature_names]
    rows = [[*map(repr, map(float, x)), ("malignant", "benign")[t]] for x, t in zip(data.data, data.target)]
    return write_csv(tmp_path_factory.mktemp("cancer") / "cancer.csv", [*names, "diagnosis"], rows)


@pytest.fixture(scope="module")
def cancer(cancer_csv):
    return keras_ae.load_dataset(f"csv:{cancer_csv}", label_column="diagnosis", seed=0)


def standardized_mse(model, x: np.ndarray, x_train: np.ndarray) -> float:
    """Mean squared reconstruction error in standardized units (1.0 = predicting the column means)."""
    std = x_train.astype(np.float64).std(axis=0)
    return float(np.mean(((model.reconstruct(x) - x) / std) ** 2))


@pytest.fixture(scope="module")
def trained_ae(cancer):
    (x_train, _), (x_test, _) = cancer
    keras.utils.set_random_seed(0)
    model = build_dense_ae((30,), hidden=(16,), code_dim=4, loss="mse", standardize=x_train)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    before = standardized_mse(model, x_test, x_train)
    history = model.fit(x_train, epochs=30, batch_size=32, verbose=0)
    return model, before, history.history["loss"]


# -- loading -----------------------------------------------------------------------------------
def test_csv_table_loads_like_every_dataset_with_text_labels_mapped_in_sorted_order(cancer, cancer_csv):
    (x_train, y_train), (x_test, y_test) = cancer
    assert x_train.dtype == np.float32 and x_train.shape == (456, 30) and x_test.shape == (113, 30)
    assert y_train.dtype == np.int64 and set(np.unique(y_train)) == {0, 1}
    table = tables.read_table(cancer_csv, label_column="diagnosis")
    assert table.classes == ("benign", "malignant") and table.columns[0] == "mean_radius"
    assert int((table.y == 0).sum()) == 357  # 357 benign tumours in the data set
    again = keras_ae.load_dataset(f"csv:{cancer_csv}", label_column="diagnosis", seed=0)
    np.testing.assert_array_equal(again.train.x, x_train)  # the split follows the seed
    other = keras_ae.load_dataset(f"csv:{cancer_csv}", label_column="diagnosis", seed=1)
    assert not np.array_equal(other.train.x, x_train)


def test_csv_without_label_column_has_no_labels_and_integer_labels_stay(tmp_path):
    rows = [[i, i * i, i % 3] for i in range(10)]
    path = write_csv(tmp_path / "t.csv", ["a", "b", "group"], rows)
    (x, y), (x_test, y_test) = keras_ae.load_dataset(f"csv:{path}", validation_split=0.3)
    assert y is None and y_test is None and x.shape == (7, 3) and x_test.shape == (3, 3)
    (x, y), _ = keras_ae.load_dataset(f"csv:{path}", label_column="group")
    assert x.shape[1] == 2 and y.dtype == np.int64 and set(y) <= {0, 1, 2}
    assert tables.read_table(path, label_column="group").classes is None


def test_npy_and_npz_tables_load(tmp_path):
    rows = np.random.default_rng(0).normal(size=(20, 3)) * [1, 100, 1e4]
    np.save(tmp_path / "rows.npy", rows)
    (x, y), (x_test, _) = keras_ae.load_dataset(f"npy:{tmp_path / 'rows.npy'}")
    assert x.dtype == np.float32 and x.shape == (16, 3) and x_test.shape == (4, 3) and y is None
    np.savez(tmp_path / "rows.npz", x=rows, y=np.arange(20) % 2)
    for prefix in ("npy:", "npz:"):
        (x, y), (x_test, y_test) = keras_ae.load_dataset(f"{prefix}{tmp_path / 'rows.npz'}")
        assert y.dtype == np.int64 and len(y) == 16 and len(y_test) == 4
    train_ds, _ = keras_ae.load_dataset(f"npy:{tmp_path / 'rows.npy'}", as_dataset=True)
    assert train_ds.element_spec[0].shape == (3,) and int(next(iter(train_ds))[1]) == -1


# -- refused inputs: one error each, naming the file, the place and the problem ------------------------
def refused(error, name, match, **kwargs):
    with pytest.raises(error) as info:
        keras_ae.load_dataset(name, **kwargs)
    message = str(info.value)
    for part in match:
        assert part in message, message
    assert len(message) < 400, message
    return message


def test_missing_file_and_folder_are_refused(tmp_path):
    refused(DatasetNotAvailableError, f"csv:{tmp_path / 'nope.csv'}", ["No such table file", "nope.csv"])
    refused(DatasetNotAvailableError, f"npy:{tmp_path}", ["is a folder"])
    refused(InputValidationError, "csv:", ["names no file"])


def test_empty_file_is_refused(tmp_path):
    (tmp_path / "e.csv").write_text("")
    refused(DatasetNotAvailableError, f"csv:{tmp_path / 'e.csv'}", ["e.csv", "empty"])
    (tmp_path / "blank.csv").write_text("\n\n")
    refused(DatasetNotAvailableError, f"csv:{tmp_path / 'blank.csv'}", ["blank.csv", "only blank"])
    (tmp_path / "h.csv").write_text("a,b\n")
    refused(InputValidationError, f"csv:{tmp_path / 'h.csv'}", ["h.csv", "no rows"])


def test_file_without_header_is_refused(tmp_path):
    path = write_csv(tmp_path / "t.csv", ["1.5", "2", "3"], [[4, 5, 6]])
    refused(InputValidationError, f"csv:{path}", ["t.csv", "no header", "column names"])


def test_ragged_rows_are_refused_with_their_line(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b,c\n1,2,3\n4,5\n")
    refused(InputValidationError, f"csv:{path}", ["t.csv", "line 3", "2 values", "3 columns"])


def test_missing_values_are_refused_or_dropped_with_a_warning(tmp_path):
    rows = [[i, i * 2.0] for i in range(10)]
    rows[4][1], rows[7][0] = "", "NaN"
    path = write_csv(tmp_path / "t.csv", ["a", "b"], rows)
    refused(InputValidationError, f"csv:{path}", ["t.csv", "line 6", "column 'b'", "missing value", "missing='drop'"])
    with pytest.warns(UserWarning, match="dropped 2 of 10 rows"):
        (x, _), (x_test, _) = keras_ae.load_dataset(f"csv:{path}", missing="drop")
    assert len(x) + len(x_test) == 8
    np.savez(tmp_path / "holes.npz", x=np.array([[1.0, 2.0], [np.nan, 1.0], [3.0, 4.0], [5.0, 7.0], [2.0, 2.0]]))
    refused(InputValidationError, f"npy:{tmp_path / 'holes.npz'}", ["holes.npz", "x[1, 0]", "NaN"])
    with pytest.warns(UserWarning, match="dropped 1 of 5 rows"):
        keras_ae.load_dataset(f"npy:{tmp_path / 'holes.npz'}", missing="drop", validation_split=0.25)
    with pytest.raises(UnknownNameError, match="missing"):
        keras_ae.load_dataset(f"csv:{path}", missing="mean")


def test_text_in_a_numeric_column_is_named_with_a_short_excerpt(tmp_path):
    rows = [[i, i * 2.0] for i in range(5)]
    rows[3][1] = "oops" * 10_000
    path = write_csv(tmp_path / "t.csv", ["a", "weight"], rows)
    message = refused(InputValidationError, f"csv:{path}", ["t.csv", "line 5", "column 'weight'", "is not a number",
                                                            "'oopsoops"])
    assert "oops" * 20 not in message


def test_infinite_values_are_refused(tmp_path):
    path = write_csv(tmp_path / "t.csv", ["a", "b"], [[1, 2], [3, "inf"], [4, 5]])
    refused(InputValidationError, f"csv:{path}", ["t.csv", "line 3", "column 'b'", "infinite"])
    np.save(tmp_path / "big.npy", np.array([[1.0, 2.0], [1e300, 3.0]]))
    refused(InputValidationError, f"npy:{tmp_path / 'big.npy'}", ["big.npy", "[1, 0]", "float32 range"])


def test_constant_columns_are_refused_by_name_or_dropped(tmp_path):
    rows = [[i, 7, i * 3, 0] for i in range(10)]
    path = write_csv(tmp_path / "t.csv", ["a", "seven", "b", "zero"], rows)
    refused(InputValidationError, f"csv:{path}", ["t.csv", "'seven', 'zero'", "constant", "divide by zero"])
    with pytest.warns(UserWarning, match="'seven', 'zero'"):
        (x, _), _ = tables.load_table(path, constant="drop")
    assert x.shape[1] == 2


def test_unknown_label_column_lists_the_columns(tmp_path):
    path = write_csv(tmp_path / "t.csv", ["a", "b"], [[1, 2], [3, 4]])
    refused(InputValidationError, f"csv:{path}", ["'kind'", "t.csv", "'a', 'b'"], label_column="kind")
    refused(InputValidationError, f"npy:{path}", ["label_column"], label_column="a")
    refused(InputValidationError, "digits", ["label_column", "tables"], label_column="a")


def test_files_above_the_size_bound_are_refused_before_reading(tmp_path, monkeypatch):
    path = write_csv(tmp_path / "t.csv", ["a", "b"], [[i, i * i] for i in range(10)])
    monkeypatch.setattr(tables, "MAX_TABLE_BYTES", 16)
    opened = []
    monkeypatch.setattr(tables, "_read_csv", lambda *args: opened.append(args))
    refused(DatasetNotAvailableError, f"csv:{path}", ["t.csv", "GiB"])
    assert not opened


def test_too_many_columns_are_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(tables, "MAX_COLUMNS", 3)
    path = write_csv(tmp_path / "t.csv", ["a", "b", "c", "d"], [[1, 2, 3, 4]])
    refused(InputValidationError, f"csv:{path}", ["t.csv", "4 columns", "more than the 3"])
    np.save(tmp_path / "wide.npy", np.ones((5, 4)))
    refused(InputValidationError, f"npy:{tmp_path / 'wide.npy'}", ["wide.npy", "4 columns"])


def test_unreadable_and_foreign_files_are_refused(tmp_path):
    (tmp_path / "bin.csv").write_bytes(b"\xff\xfe\x00\x01garbage")
    refused(DatasetNotAvailableError, f"csv:{tmp_path / 'bin.csv'}", ["bin.csv", "UTF-8"])
    (tmp_path / "text.npy").write_text("a,b\n1,2\n")
    refused(DatasetNotAvailableError, f"npy:{tmp_path / 'text.npy'}", ["text.npy", "NumPy"])
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    refused(DatasetNotAvailableError, f"npy:{tmp_path / 'objects.npy'}", ["objects.npy", "pickled"])
    np.savez(tmp_path / "nox.npz", rows=np.ones((3, 2)))
    refused(InputValidationError, f"npy:{tmp_path / 'nox.npz'}", ["nox.npz", "no array 'x'", "'rows'"])


# -- models that standardize raw rows ------------------------------------------------------------
@pytest.mark.slow
def test_dense_ae_trains_on_raw_rows_of_very_different_scales(trained_ae, cancer):
    model, before, losses = trained_ae
    (x_train, _), (x_test, _) = cancer
    after = standardized_mse(model, x_test, x_train)
    print(f"breast cancer, standardized test MSE: {before:.3f} before, {after:.3f} after training; "
          f"loss {losses[0]:.3f} -> {losses[-1]:.3f}")
    assert losses[-1] < 0.5 * losses[0]
    assert after < 0.3 < before * 0.5  # 1.0 is the error of predicting the column means
    assert model.encoder.name == "encoder" and model.decoder.name == "decoder"
    recon = model.reconstruct(x_test)
    assert abs(float(recon[:, 23].mean()) - float(x_test[:, 23].mean())) < 100  # 'worst area': raw units, ~880


def test_loss_is_the_squared_error_of_standardized_values(trained_ae, cancer):
    model, _, _ = trained_ae
    (x_train, _), (x_test, _) = cancer
    std = x_train.astype(np.float64).std(axis=0)
    expected = np.mean(((model.reconstruct(x_test) - x_test) / std) ** 2)
    got = model.evaluate(x_test, batch_size=len(x_test), verbose=0, return_dict=True)["reconstruction"]
    np.testing.assert_allclose(got, expected, rtol=1e-3)


def test_keras_file_round_trip_gives_identical_raw_reconstructions(trained_ae, cancer, tmp_path):
    model, _, _ = trained_ae
    x_test = cancer.test.x
    model.save(tmp_path / "cancer.keras")
    loaded = load_model(tmp_path / "cancer.keras")
    np.testing.assert_array_equal(loaded.reconstruct(x_test), model.reconstruct(x_test))
    assert loaded.standardization is not None and loaded.get_config()["loss"] == "mse"


@pytest.mark.slow  # a TensorFlow-only subprocess: 7 s on an idle machine, 20 s on a busy one
def test_export_reconstructs_raw_rows_in_a_tensorflow_only_process(trained_ae, cancer, tmp_path):
    model, _, _ = trained_ae
    x = cancer.test.x[:16]
    path = keras_ae.export(model, "cancer", base_dir=tmp_path / "exports")
    rows, code = data_name(model.example_shape), model.encode(x)
    expected = {"reconstruct": ({rows: x}, {"reconstruction": model.reconstruct(x)}),
                "encode": ({rows: x}, {"code": code}), "decode": ({"code": code}, {rows: model.decode(code)})}
    expected["serving_default"] = expected["reconstruct"]
    report, outputs = run_tf_only({"cancer": path}, {"cancer": expected}, tmp_path)
    assert report["keras_modules"] == [] and report["signatures"]["cancer"] == sorted(expected)
    for signature, (_, want) in expected.items():
        for key, value in want.items():  # raw units up to 4,254: 1e-5 relative, 1e-5 absolute near 0
            np.testing.assert_allclose(outputs[f"cancer__{signature}__{key}"], value, rtol=1e-5, atol=1e-5)


def test_refused_fit_leaves_the_model_usable(trained_ae, cancer):
    model, _, _ = trained_ae
    x_test = cancer.test.x
    before = model.reconstruct(x_test)
    bad = x_test.copy()
    bad[3, 5] = np.nan
    with pytest.raises(InputValidationError, match="NaN"):
        model.fit(bad, epochs=1, verbose=0)
    with pytest.raises(InputValidationError, match="shape"):
        model.fit(x_test[:, :29], epochs=1, verbose=0)
    np.testing.assert_array_equal(model.reconstruct(x_test), before)
    model.fit(x_test, epochs=1, verbose=0)  # still trains

@pytest.mark.slow

def test_vae_on_the_table_trains_and_round_trips(cancer, tmp_path):
    (x_train, _), (x_test, _) = cancer
    keras.utils.set_random_seed(0)
    vae = build_vae((30,), latent_dim=4, hidden=(32,), likelihood="gaussian", standardize=x_train, seed=0)
    vae.compile(optimizer=keras.optimizers.Adam(3e-3))
    before = standardized_mse(vae, x_test, x_train)
    losses = vae.fit(x_train, epochs=20, batch_size=32, verbose=0).history["loss"]
    after = standardized_mse(vae, x_test, x_train)
    print(f"VAE, standardized test MSE: {before:.3f} -> {after:.3f}; loss {losses[0]:.1f} -> {losses[-1]:.1f}")
    assert losses[-1] < losses[0] and after < 0.6
    vae.save(tmp_path / "vae.keras")
    loaded = load_model(tmp_path / "vae.keras")
    np.testing.assert_allclose(loaded.reconstruct(x_test), vae.reconstruct(x_test), rtol=1e-6, atol=1e-4)
    assert vae.sample(3, seed=0).shape == (3, 30)


def test_standardize_refuses_image_losses_and_bad_rows():
    rows = np.random.default_rng(0).normal(size=(20, 3)) * [1, 10, 100]
    with pytest.raises(InputValidationError, match="loss='mse'"):
        build_dense_ae((3,), hidden=(4,), code_dim=2, standardize=rows)  # default loss is "bce"
    with pytest.raises(InputValidationError, match="likelihood='gaussian'"):
        build_vae((3,), latent_dim=2, hidden=(4,), standardize=rows)
    constant = rows.copy()
    constant[:, 1] = 5.0
    with pytest.raises(InputValidationError, match=r"column 1 \(0-based\) is constant"):
        build_dense_ae((3,), hidden=(4,), code_dim=2, loss="mse", standardize=constant)
    holes = rows.copy()
    holes[2, 2] = np.inf
    with pytest.raises(InputValidationError, match="infinite"):
        build_dense_ae((3,), hidden=(4,), code_dim=2, loss="mse", standardize=holes)
    with pytest.raises(InputValidationError, match="input_shape must be"):
        build_dense_ae((3, 1), hidden=(4,), code_dim=2, loss="mse", standardize=rows[..., None])


def test_models_without_standardize_are_unchanged(digits):
    model = build_dense_ae((8, 8, 1), hidden=(8,), code_dim=2)
    assert model.standardization is None
    x = tf.constant(digits.train.x[:4])
    np.testing.assert_array_equal(model.standardized(x).numpy(), x.numpy())
    assert "standardize" not in os.linesep.join(layer.name for layer in model.encoder.layers)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert model.validate_inputs(digits.train.x[:4]).shape == (4, 8, 8, 1)


# -- the command line ----------------------------------------------------------------------------
@pytest.mark.slow
def test_cli_trains_and_evaluates_a_dense_ae_on_a_csv_with_a_label_column(cancer_csv, cancer, tmp_path, capsys):
    import json

    from keras_ae.cli import main

    out = tmp_path / "run"
    small = ["-p", "hidden=[16]", "-p", "code_dim=4", "--verbose", "0", "--epochs", "3", "--out", str(out)]
    assert main(["train", "dense", "--dataset", f"csv:{cancer_csv}", "--label-column", "diagnosis", *small]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["label_column"] == "diagnosis" and "standardize" not in config["params"]  # weights, not config
    model = load_model(out / "model.keras")
    (x_train, _), (x_test, _) = cancer  # the same seeded split as `train` (seed 0, 20%)
    raw = model.reconstruct(x_test)
    assert np.abs(raw).max() > 100  # raw units come back, not standardized ones
    assert standardized_mse(model, x_test, x_train) < 1.0
    assert main(["evaluate", str(out / "model.keras"), "--json", str(out / "eval.json")]) == 0
    evaluated = json.loads((out / "eval.json").read_text())["results"]["loss"]
    assert evaluated == pytest.approx(json.loads((out / "history.json").read_text())["val_loss"][-1], rel=1e-4)


@pytest.mark.parametrize("flags, message", [
    (["train", "conv", "--dataset", "csv:{csv}"], "trains dense or vae"),
    (["train", "dense", "--dataset", "csv:{csv}", "--stream"], "--stream does not apply to tables"),
    (["train", "dense", "--dataset", "digits", "--label-column", "diagnosis"], "applies to tables"),
    (["train", "dense", "--dataset", "dir:{tmp}", "--missing", "drop"], "applies to tables"),
    (["train", "dense", "--dataset", "csv:{csv}", "--image-size", "8", "8"], "applies to image folders"),
    (["train", "dense", "--dataset", "csv:{csv}", "--label-column", "nope"], "nope"),
    (["train", "dense", "--dataset", "csv:{tmp}/absent.csv"], "absent.csv"),
])
def test_cli_refuses_bad_table_settings_in_one_line(cancer_csv, tmp_path, capsys, flags, message):
    from keras_ae.cli import main

    argv = [f.format(csv=cancer_csv, tmp=tmp_path) for f in flags] + ["--epochs", "1", "--out", str(tmp_path / "r")]
    assert main(argv) in (1, 2)
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
    assert not (tmp_path / "r" / "model.keras").exists()
