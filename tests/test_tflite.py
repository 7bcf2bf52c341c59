"""TFLite export run by LiteRT: parity with Keras per quantization, file sizes, refused inputs.

``pytest -s tests/test_tflite.py`` prints the parity table (digits test split, 359 images).
The conv denoiser's exports are ``slow`` (about 15 s of conversion each on 2 shared cores).
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

import keras_ae
from keras_ae.errors import InputValidationError, UnknownNameError
from keras_ae.export import ExportError, read_metadata, run_tflite, tflite_parity
from keras_ae.export import tflite
from keras_ae.export.endpoints import to_uint8

QUANTIZATIONS = [None, "float16", "dynamic"]
# quantize -> (max |diff| reconstruction, mean |diff| reconstruction, max |diff| code).
# Measured on the digits test split (dense 64-128-16 AE, 3 epochs; conv (16, 32) denoiser, 3 epochs):
#   float32  max 2.7e-7 / 2.4e-7, mean 3e-8, code 1.4e-6
#   float16  max 2.7e-4 / 1.7e-4, mean 4e-5, code 7.9e-4 / 5.7e-4
#   dynamic  max 8.8e-3 / 5.3e-3, mean 1e-3 / 7e-4, code 1.9e-2 / 1.2e-2
TOLERANCES = {None: (1e-5, 1e-6, 1e-5), "float16": (1e-2, 1e-3, 1e-2), "dynamic": (5e-2, 5e-3, 1e-1)}


@pytest.fixture(scope="module")
def parity_table():
    """Rows of the parity table, printed when the module ends (shown with ``pytest -s``)."""
    rows: dict[tuple[str, str], dict] = {}
    yield rows
    print("\n\nTFLite (LiteRT) vs Keras on the digits test split")
    print(f"{'model':<15}{'quantize':<10}{'max |dx|':>10}{'mean |dx|':>11}{'max |dcode|':>13}{'mean |dcode|':>14}"
          f"{'bytes':>9}")
    for (model, quantize), r in rows.items():
        print(f"{model:<15}{quantize:<10}{r['max_abs_diff_reconstruction']:>10.1e}"
              f"{r['mean_abs_diff_reconstruction']:>11.1e}{r['max_abs_diff_code']:>13.1e}"
              f"{r['mean_abs_diff_code']:>14.1e}{r['size_bytes']:>9}")


def _trained(model, digits, epochs):
    (x_train, _), _ = digits
    model.compile()
    model.fit(x_train, epochs=epochs, batch_size=64, verbose=0)
    return model


@pytest.fixture(scope="module")
def dense(digits):
    return _trained(keras_ae.build_dense_ae((8, 8, 1), hidden=(128,), code_dim=16), digits, epochs=3)


@pytest.fixture(scope="module")
def denoiser(digits):
    model = keras_ae.build_denoising_ae((8, 8, 1), architecture="conv", filters=(16, 32), code_dim=16)
    return _trained(model, digits, epochs=3)


def _exports(model, tmp_path_factory, name):
    base = tmp_path_factory.mktemp(name)
    cache: dict = {}

    def get(quantize):
        if quantize not in cache:
            cache[quantize] = keras_ae.export(model, name, base_dir=base, format="tflite", quantize=quantize)
        return cache[quantize]

    return get


@pytest.fixture(scope="module")
def dense_exports(dense, tmp_path_factory):
    return _exports(dense, tmp_path_factory, "dense_ae")


@pytest.fixture(scope="module")
def small():
    """An untrained dense AE (code of 16): the refusals and run_tflite's own checks need no training."""
    return keras_ae.build_dense_ae((8, 8, 1), hidden=(16,), code_dim=16)


@pytest.fixture(scope="module")
def small_file(small, tmp_path_factory):
    """``small``'s float32 ``model.tflite``."""
    return keras_ae.export(small, "small_ae", base_dir=tmp_path_factory.mktemp("small_ae"), format="tflite",
                           allow_untrained=True)


@pytest.fixture(scope="module")
def denoiser_exports(denoiser, tmp_path_factory):
    return _exports(denoiser, tmp_path_factory, "conv_denoiser")


def _check_parity(model, path, quantize, digits, table, label):
    _, (x_test, _) = digits
    parity = tflite_parity(model, x_test, path=path)
    table[(label, str(quantize))] = parity
    max_x, mean_x, max_code = TOLERANCES[quantize]
    assert parity["quantize"] == quantize and parity["examples"] == len(x_test)
    assert parity["max_abs_diff_reconstruction"] < max_x
    assert parity["mean_abs_diff_reconstruction"] < mean_x
    assert parity["max_abs_diff_code"] < max_code
    return parity


@pytest.mark.slow  # converts and runs in LiteRT: seconds per quantization
@pytest.mark.parametrize("quantize", [None, *QUANTIZATIONS[1:]])
def test_dense_ae_in_litert_matches_keras_within_the_measured_tolerance(dense, dense_exports, digits, parity_table,
                                                                        quantize):
    path = dense_exports(quantize)
    assert (path / tflite.TFLITE_FILE).is_file()
    _check_parity(dense, path, quantize, digits, parity_table, "dense AE")


@pytest.mark.slow
def test_float16_and_dynamic_files_are_smaller_than_float32(dense_exports):
    size = {q: (dense_exports(q) / tflite.TFLITE_FILE).stat().st_size for q in QUANTIZATIONS}
    assert size["float16"] < 0.9 * size[None] and size["dynamic"] < size["float16"], size


@pytest.mark.slow  # seconds: fits or converts; the full suite runs it
def test_every_savedmodel_signature_converts_under_its_name_uint8_twins_too(dense, dense_exports, digits):
    path = dense_exports(None)
    meta = read_metadata(path)  # the metadata asset of a SavedModel, read the same way
    assert meta["family"] == "autoencoder" and meta["tflite"]["quantize"] is None
    assert list(meta["signatures"]) == ["reconstruct", "encode", "decode", "reconstruct_uint8", "encode_uint8"]
    _, (x_test, _) = digits
    pixels = np.round(x_test[:16] * 255).astype(np.uint8)
    out = run_tflite(path, "reconstruct_uint8", images=pixels)["reconstruction"]
    expected = to_uint8(dense.reconstruct(pixels.astype("float32") / 255)).numpy()
    assert out.dtype == np.uint8 and np.abs(out.astype(int) - expected).max() <= 1
    codes = dense.encode(x_test[:16])
    np.testing.assert_allclose(run_tflite(path, "decode", code=codes)["images"], dense.decode(codes), atol=1e-5)

@pytest.mark.slow

def test_versions_follow_the_savedmodel_rules(dense_exports):
    # One version folder per export, numbered in the order the exports were made (any test may make the first).
    assert sorted(dense_exports(q).name for q in QUANTIZATIONS) == ["1", "2", "3"]


@pytest.mark.slow
def test_run_tflite_checks_inputs_in_python_naming_the_expected_dtype_and_shape(small_file, digits):
    path = small_file
    _, (x_test, _) = digits
    x = x_test[:4]
    with pytest.raises(InputValidationError, match=r"dtype float64.*expects float32 of shape \(None, 8, 8, 1\)"):
        run_tflite(path, "reconstruct", images=x.astype(np.float64))
    with pytest.raises(InputValidationError, match=r"shape \(4, 8, 8\).*float32 of shape \(None, 8, 8, 1\)"):
        run_tflite(path, "reconstruct", images=x[..., 0])
    with pytest.raises(InputValidationError, match=r"shape \(4, 4, 4, 1\)"):
        run_tflite(path, "encode", images=x[:, :4, :4])
    with pytest.raises(InputValidationError, match="expects uint8"):
        run_tflite(path, "reconstruct_uint8", images=x)
    with pytest.raises(InputValidationError, match="no signature 'denoise'; it has: decode, encode"):
        run_tflite(path, "denoise", images=x)
    with pytest.raises(InputValidationError, match=r"takes the inputs \['images'\], got \['x'\]"):
        run_tflite(path, "reconstruct", x=x)
    # The converter drops the graph's NaN and range checks: run_tflite makes them.
    with pytest.raises(InputValidationError, match="NaN"):
        run_tflite(path, "reconstruct", images=np.where(x > 0.5, np.nan, x).astype(np.float32))
    with pytest.raises(InputValidationError, match=r"outside the expected range \[0, 1\]. Send 0-255 images to "
                                                   "'reconstruct_uint8'"):
        run_tflite(path, "reconstruct", images=x * 255)
    with pytest.raises(FileNotFoundError, match="No TFLite model"):
        run_tflite(path / "missing.tflite", "reconstruct", images=x)


def test_an_empty_batch_gets_empty_outputs_of_the_declared_shape(small_file):
    out = run_tflite(small_file, "encode", images=np.zeros((0, 8, 8, 1), np.float32))
    assert out["code"].shape == (0, 16) and out["code"].dtype == np.float32


def test_without_litert_tensorflows_interpreter_runs_the_same_file(small_file, digits, monkeypatch):
    _, (x_test, _) = digits
    path = small_file
    litert = run_tflite(path, "encode", images=x_test[:8])["code"]
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)  # import fails as if not installed
    with pytest.warns(UserWarning, match="deprecated"):
        fallback = run_tflite(path, "encode", images=x_test[:8])["code"]
    np.testing.assert_array_equal(fallback, litert)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"format": "onnx"}, UnknownNameError, "Unknown format 'onnx'; choose one of: savedmodel, tflite"),
    ({"format": "tflite", "quantize": "int4"}, UnknownNameError, "Unknown quantize 'int4'"),
    ({"quantize": "float16"}, InputValidationError, "applies to format='tflite' only"),
])
def test_bad_format_or_quantize_is_refused_and_writes_nothing(small, tmp_path, kwargs, error, message):
    with pytest.raises(error, match=message):
        keras_ae.export(small, "ae", base_dir=tmp_path, allow_untrained=True, **kwargs)
    assert not (tmp_path / "ae").exists()


def test_families_without_tflite_support_are_refused_naming_the_supported_ones(tmp_path):
    vae = keras_ae.build_vae((8, 8, 1), latent_dim=2, hidden=(8,))
    with pytest.raises(ExportError, match=r"TFLite export supports the auto-encoder families \(autoencoder, tied"):
        keras_ae.export(vae, "vae", base_dir=tmp_path, format="tflite", allow_untrained=True)
    assert not (tmp_path / "vae").exists()


def test_a_failed_conversion_leaves_no_version_folder(small, tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise ExportError("The TFLite converter refused the signatures: test")

    monkeypatch.setattr(tflite, "convert", refuse)
    with pytest.raises(ExportError, match="converter refused"):
        keras_ae.export(small, "ae", base_dir=tmp_path, format="tflite", uint8=False, allow_untrained=True)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
@pytest.mark.parametrize("quantize", QUANTIZATIONS)
def test_conv_denoiser_in_litert_matches_keras_within_the_measured_tolerance(denoiser, denoiser_exports, digits,
                                                                             parity_table, quantize):
    path = denoiser_exports(quantize)
    _check_parity(denoiser, path, quantize, digits, parity_table, "conv denoiser")
    _, (x_test, _) = digits
    noisy = np.clip(x_test[:32] + 0.5 * np.random.default_rng(0).normal(size=x_test[:32].shape), 0, 1)
    denoised = run_tflite(path, "denoise", images=noisy.astype(np.float32))["denoised"]
    np.testing.assert_allclose(denoised, denoiser.reconstruct(noisy), atol=TOLERANCES[quantize][0])
    if quantize == "dynamic":  # the last of the three: compare the sizes
        size = {q: (denoiser_exports(q) / tflite.TFLITE_FILE).stat().st_size for q in QUANTIZATIONS}
        assert size["float16"] < 0.9 * size[None] and size["dynamic"] < size["float16"], size
