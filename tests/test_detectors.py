"""AnomalyDetector: the scikit-learn / PyOD API, a .keras round trip, SavedModel and TFLite exports that agree
with Python, hostile requests refused by the signatures, and one detector per scoring rule.

Setup: a dense auto-encoder trained on digits 0-8 (digits train split), calibrated on the normal half of
the test split; the other half (digits 0-8 and every 9) is the evaluation set, digit 9 the anomaly.
``pytest -s tests/test_detectors.py`` prints the measured rates, AUCs and the TFLite parity table.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from sklearn.exceptions import NotFittedError
from sklearn.metrics import roc_auc_score

import keras
import keras_ae
from keras_ae.applications import AnomalyDetector
from keras_ae.data import binarize, window_scores_to_series, windows
from keras_ae.errors import InputValidationError, UnknownNameError
from keras_ae.export import ExportError, read_metadata, run_tflite
from keras_ae.saving import load_model, save_model
from tests.test_export import run_tf_only

ANOMALY = 9


@pytest.fixture(scope="module")
def split(digits):
    """``x_train`` (digits 0-8), ``x_cal`` (normal test half), ``x_eval`` and ``y_eval`` (1 = digit 9)."""
    (x_train, y_train), (x_test, y_test) = digits
    rng = np.random.default_rng(0)
    order = rng.permutation(len(x_test))
    x_test, y_test = x_test[order], y_test[order]
    half = len(x_test) // 2
    cal = x_test[:half][y_test[:half] != ANOMALY]
    return x_train[y_train != ANOMALY], cal, x_test[half:], (y_test[half:] == ANOMALY).astype(int)


@pytest.fixture(scope="module")
def dense_ae(split):
    keras.utils.set_random_seed(0)
    model = keras_ae.build_dense_ae((8, 8, 1), hidden=(32,), code_dim=8)
    model.compile()
    model.fit(split[0], epochs=20, batch_size=32, verbose=0)
    return model


@pytest.fixture(scope="module")
def detector(dense_ae, split):
    return AnomalyDetector(dense_ae).fit(split[1])


@pytest.fixture(scope="module")
def report():
    """Measured numbers, printed when the module ends (``pytest -s``)."""
    rows: dict[str, str] = {}
    yield rows
    print("\n\nAnomalyDetector measurements (digits; digit 9 = anomaly unless said otherwise)")
    for key, value in rows.items():
        print(f"  {key:<58}{value}")


# -- the scikit-learn / PyOD API ------------------------------------------------------------------
@pytest.mark.slow
def test_fit_sets_pyod_attributes_and_flags_about_the_false_positive_rate(detector, split, report):
    _, x_cal, x_eval, y_eval = split
    assert detector.decision_scores_.shape == (len(x_cal),) and detector.decision_scores_.dtype == np.float64
    np.testing.assert_array_equal(detector.calibration_, np.sort(detector.decision_scores_))
    assert detector.threshold_ == float(np.float32(detector.threshold_))  # float32, as the exported graph compares
    fpr_cal = detector.labels_.mean()
    assert abs(fpr_cal - 0.05) <= 1 / len(x_cal) + 1e-9, fpr_cal
    flags = detector.predict(x_eval)
    assert flags.dtype == np.int64 and set(np.unique(flags)) <= {0, 1}
    fpr_heldout = flags[y_eval == 0].mean()
    assert fpr_heldout < 0.15, fpr_heldout  # normal data the calibration never saw: about 5% as well
    metrics = detector.evaluate(x_eval, y_eval)
    assert metrics["roc_auc"] > 0.7 and metrics["false_positive_rate"] == pytest.approx(fpr_heldout)
    report["FPR at threshold: calibration / held-out normal"] = f"{fpr_cal:.3f} / {fpr_heldout:.3f}"
    report["dense AE, reconstruction: ROC AUC (digit 9)"] = f"{metrics['roc_auc']:.3f}"


def test_inverted_digits_are_found_almost_perfectly(detector, split, report):
    _, _, x_eval, y_eval = split
    normal = x_eval[y_eval == 0]
    scores = detector.decision_function(np.concatenate([normal, 1 - normal]))
    auc = roc_auc_score(np.repeat([0, 1], len(normal)), scores)
    assert auc > 0.99
    report["dense AE, reconstruction: ROC AUC (inverted digits)"] = f"{auc:.3f}"


def test_contamination_puts_the_threshold_at_its_quantile(dense_ae, split):
    x_cal = split[1]
    detector = AnomalyDetector(dense_ae, contamination=0.2).fit(x_cal)
    assert abs(detector.labels_.mean() - 0.2) <= 1 / len(x_cal) + 1e-9
    assert detector.threshold_ == pytest.approx(np.quantile(detector.decision_scores_, 0.8), rel=1e-6)
    with pytest.raises(InputValidationError, match="not both"):
        AnomalyDetector(dense_ae, contamination=0.1, false_positive_rate=0.1)
    with pytest.raises(InputValidationError, match="contamination"):
        AnomalyDetector(dense_ae, contamination=0.7)


def test_p_values_are_conformal_and_predict_proba_rows_sum_to_one(detector, split):
    _, x_cal, x_eval, _ = split
    p = detector.p_value(x_eval)
    assert p.shape == (len(x_eval),) and p.min() > 0 and p.max() <= 1
    scores = detector.decision_function(x_eval)
    hand = [(1 + np.sum(detector.decision_scores_ >= s)) / (len(x_cal) + 1) for s in scores]
    np.testing.assert_allclose(p, hand, rtol=0, atol=0)
    proba = detector.predict_proba(x_eval)
    assert proba.shape == (len(x_eval), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_allclose(proba[:, 1], 1 - p)
    # calibration scores against themselves: about uniform p-values
    assert abs(detector.p_value(x_cal).mean() - 0.5) < 0.05


def test_score_map_sums_to_the_score_per_pixel(detector, split):
    x_eval = split[2][:10]
    maps = detector.score_map(x_eval)
    assert maps.shape == (10, 8, 8) and maps.dtype == np.float32
    np.testing.assert_allclose(maps.sum(axis=(1, 2)), detector.decision_function(x_eval), rtol=1e-5)


def test_bad_input_gets_clear_errors_and_the_detector_stays_usable(dense_ae, split, tmp_path):
    x_eval = split[2]
    fresh = AnomalyDetector(dense_ae)
    for method in (fresh.predict, fresh.p_value, fresh.predict_proba):
        with pytest.raises(NotFittedError, match="call fit"):
            method(x_eval)
    with pytest.raises(NotFittedError):
        keras_ae.export(fresh, "unfitted", base_dir=tmp_path)
    fresh.fit(split[1])
    with pytest.raises(InputValidationError, match="NaN"):
        fresh.predict(np.full((2, 8, 8, 1), np.nan, np.float32))
    with pytest.raises(InputValidationError, match="shape"):
        fresh.decision_function(np.zeros((2, 8, 8, 3), np.float32))
    with pytest.raises(InputValidationError, match=r"outside"):
        fresh.score_map(x_eval * 255)
    with pytest.raises(InputValidationError, match="needs a VAE"):
        AnomalyDetector(dense_ae, score="elbo")
    with pytest.raises(UnknownNameError, match="Unknown score 'mahalanobis'; choose one of: reconstruction"):
        AnomalyDetector(dense_ae, score="mahalanobis")
    assert fresh.predict(x_eval).shape == (len(x_eval),)  # still usable
    assert fresh.decision_function(x_eval[:0]).shape == (0,)


# -- saving and serving ------------------------------------------------------------------------------
def test_keras_file_round_trip_gives_identical_scores_flags_and_p_values(detector, split, tmp_path):
    x_eval = split[2]
    path = save_model(detector, tmp_path / "detector.keras")
    loaded = load_model(path)
    assert isinstance(loaded, AnomalyDetector) and loaded.threshold_ == detector.threshold_
    np.testing.assert_array_equal(loaded.decision_scores_, detector.decision_scores_)
    np.testing.assert_array_equal(loaded.decision_function(x_eval), detector.decision_function(x_eval))
    np.testing.assert_array_equal(loaded.predict(x_eval), detector.predict(x_eval))
    np.testing.assert_array_equal(loaded.p_value(x_eval), detector.p_value(x_eval))
    unfitted = load_model(save_model(AnomalyDetector(detector.model), tmp_path / "unfitted.keras"))
    assert not unfitted.is_fitted


def _cases(detector, x):
    """Inputs and expected outputs of every signature of ``detector``'s export, for run_tf_only."""
    scores = detector.decision_function(x).astype(np.float32)
    name = "images" if x.ndim == 4 else "inputs"
    expected = {"anomaly_score": {"score": scores},
                "is_anomaly": {"is_anomaly": detector.predict(x).astype(np.int32), "score": scores},
                "p_value": {"p_value": detector.p_value(x).astype(np.float32), "score": scores}}
    if detector.has_score_map:
        expected["score_map"] = {"score_map": detector.score_map(x)}
    cases = {sig: ({name: x.astype(np.float32)}, out) for sig, out in expected.items()}
    cases["serving_default"] = cases["anomaly_score"]
    if detector.input_range == (0.0, 1.0):
        as_uint8 = np.round(x * 255).astype(np.uint8)
        cases.update({f"{sig}_uint8": ({name: as_uint8}, {k: None for k in out}) for sig, out in expected.items()})
    return cases


def _check_tf_only(outputs: dict, label: str, cases: dict) -> float:
    """Flags equal, p-values within 1e-6, scores within 1e-5 (relative); returns the max |score diff|."""
    worst = 0.0
    for sig, (_, expected) in cases.items():
        for key, want in expected.items():
            got = outputs[f"{label}__{sig}__{key}"]
            if want is None:
                continue
            assert got.shape == want.shape and got.dtype == want.dtype, (label, sig, key, got.dtype)
            if key == "is_anomaly":
                np.testing.assert_array_equal(got, want)
            elif key == "p_value":
                assert np.abs(got - want).max() <= 1e-6, (label, sig)
            else:
                np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
                worst = max(worst, float(np.abs(got - want).max()))
    return worst

@pytest.mark.slow

def test_export_in_a_tensorflow_only_process_matches_python(detector, split, tmp_path, report):
    x_eval = split[2]
    path = keras_ae.export(detector, "digit_detector", base_dir=tmp_path)
    meta = read_metadata(path)
    assert meta["family"] == "anomaly_detector" and meta["serving_default"] == "anomaly_score"
    assert meta["training"]["trained"] and meta["calibration_size"] == len(detector.calibration_)
    assert meta["threshold"] == detector.threshold_ and meta["model_family"] == "autoencoder"
    cases = _cases(detector, x_eval)
    result, outputs = run_tf_only({"det": path}, {"det": cases}, tmp_path)
    assert result["keras_modules"] == []
    assert set(result["signatures"]["det"]) == {*cases, "serving_default"}
    worst = _check_tf_only(outputs, "det", cases)
    uint8_flags = outputs["det__is_anomaly_uint8__is_anomaly"]
    assert (uint8_flags == cases["is_anomaly"][1]["is_anomaly"]).mean() > 0.97  # rounding to 8 bits moves a few
    report["TF-only export vs Python: max |score diff|"] = f"{worst:.1e} (flags equal on {len(x_eval)} examples)"


@pytest.mark.slow  # exports the detector and loads it back
def test_hostile_requests_are_refused_by_the_signature_with_a_clear_message(detector, tmp_path):
    loaded = tf.saved_model.load(str(keras_ae.export(detector, "hostile", base_dir=tmp_path)))
    flags = loaded.signatures["is_anomaly"]
    p_value = loaded.signatures["p_value_uint8"]
    hostile = [
        (flags, np.full((2, 8, 8, 1), np.nan, np.float32), "NaN or infinite"),
        (flags, np.zeros((2, 8, 8, 3), np.float32), "check_images_shape"),
        (flags, np.full((2, 8, 8, 1), 3.0, np.float32), r"must lie in \[0, 1\]"),
        (flags, np.zeros((2, 8, 8, 1), np.float64), "expected to be a float tensor but is a double"),
        (p_value, np.zeros((2, 8, 8, 1), np.float32), "expected to be a uint8 tensor but is a float"),
    ]
    for signature, value, message in hostile:
        with pytest.raises(tf.errors.InvalidArgumentError, match=message):
            signature(images=tf.constant(value))
    ok = flags(images=tf.zeros((2, 8, 8, 1)))["is_anomaly"]  # still serving
    assert ok.dtype == tf.int32 and ok.shape == (2,)
    assert flags(images=tf.zeros((0, 8, 8, 1)))["is_anomaly"].shape == (0,)


def test_no_examples_give_empty_results_of_the_right_shapes(detector, split):
    empty = split[2][:0]
    assert detector.decision_function(empty).shape == detector.predict(empty).shape == (0,)
    assert detector.p_value(empty).shape == (0,) and detector.predict_proba(empty).shape == (0, 2)
    assert detector.score_map(empty).shape == (0, 8, 8)


@pytest.mark.slow
def test_keras_ae_export_command_exports_a_saved_detector(detector, tmp_path):
    import subprocess
    import sys

    path = save_model(detector, tmp_path / "detector.keras")
    proc = subprocess.run([sys.executable, "-m", "keras_ae", "export", str(path), "--name", "cli_detector",
                           "--base-dir", str(tmp_path / "served")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "anomaly_score (serving_default)" in proc.stdout
    assert read_metadata(tmp_path / "served" / "cli_detector" / "1")["family"] == "anomaly_detector"


# -- the other scoring rules ----------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("score", ["elbo", "iwae", "nll"])
def test_likelihood_detectors_export_the_scores_python_computes(split, tmp_path, score):
    """Untrained small models (fast); the trained ones, in a TensorFlow-only process, are the slow tests below."""
    x_cal, x_eval = split[1], split[2][:40]
    if score == "nll":
        model = keras_ae.build_pixelcnn((8, 8, 1), filters=8, blocks=0)
        x_cal, x_eval = binarize(x_cal, seed=0), binarize(x_eval, seed=1)
    else:
        model = keras_ae.build_vae((8, 8, 1), latent_dim=2, hidden=(16,))
    detector = AnomalyDetector(model, score=score, samples=4).fit(x_cal)
    loaded = tf.saved_model.load(str(keras_ae.export(detector, score, base_dir=tmp_path, allow_untrained=True)))
    out = loaded.signatures["is_anomaly"](images=tf.constant(x_eval))
    np.testing.assert_array_equal(out["is_anomaly"].numpy(), detector.predict(x_eval))
    np.testing.assert_allclose(out["score"].numpy(), detector.decision_function(x_eval), rtol=1e-6)
    as_uint8 = np.round(x_eval * 255).astype(np.uint8)
    p = loaded.signatures["p_value_uint8"](images=tf.constant(as_uint8))["p_value"]
    assert np.abs(p.numpy() - detector.p_value(as_uint8.astype(np.float32) / 255)).max() <= 1e-6
    maps = loaded.signatures["score_map"](images=tf.constant(x_eval))["score_map"].numpy()
    np.testing.assert_allclose(maps, detector.score_map(x_eval), rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_vae_detectors_score_the_negative_elbo_and_iwae_bound_and_export(split, tmp_path, report):
    x_train, x_cal, x_eval, y_eval = split
    keras.utils.set_random_seed(0)
    vae = keras_ae.build_vae((8, 8, 1), latent_dim=4, hidden=(32,), dynamic_binarization=True)
    vae.compile()
    vae.fit(x_train, epochs=5, batch_size=32, verbose=0)
    elbo = AnomalyDetector(vae, score="elbo").fit(x_cal)  # 16 fixed, moment-matched draws
    iwae = AnomalyDetector(vae, score="iwae").fit(x_cal)
    binary = binarize(x_eval[:16], seed=0)
    # on binary images the score is the negative ELBO estimate; many samples of keras_ae's estimator agree
    np.testing.assert_allclose(elbo.decision_function(binary), -vae.elbo(binary, num_samples=1000), rtol=0.01)
    assert np.all(iwae.decision_function(binary) <= elbo.decision_function(binary) + 1e-4)  # L_k >= ELBO
    assert np.array_equal(elbo.decision_function(x_eval[:5]), elbo.decision_function(x_eval[:5]))  # fixed noise
    assert elbo.score_map(x_eval[:3]).shape == (3, 8, 8)
    auc = {d.score: d.evaluate(x_eval, y_eval)["roc_auc"] for d in (elbo, iwae)}
    assert min(auc.values()) > 0.6, auc
    cases = _cases(elbo, x_eval)
    _, outputs = run_tf_only({"vae": keras_ae.export(elbo, "vae_detector", base_dir=tmp_path)}, {"vae": cases},
                             tmp_path)
    _check_tf_only(outputs, "vae", cases)
    report["VAE, elbo / iwae: ROC AUC (digit 9)"] = f"{auc['elbo']:.3f} / {auc['iwae']:.3f}"
    with pytest.raises(ExportError, match="score='reconstruction'"):
        keras_ae.export(elbo, "vae_tflite", base_dir=tmp_path, format="tflite")


@pytest.mark.slow
def test_pixelcnn_detector_scores_the_exact_nll_with_a_per_pixel_map_and_exports(split, tmp_path, report):
    x_train, x_cal, x_eval, y_eval = split
    keras.utils.set_random_seed(0)
    model = keras_ae.build_pixelcnn((8, 8, 1), filters=16, blocks=1)
    model.compile()
    model.fit(binarize(x_train, seed=0), epochs=3, batch_size=64, verbose=0)
    detector = AnomalyDetector(model, score="nll").fit(binarize(x_cal, seed=1))
    x_bin = binarize(x_eval, seed=2)
    scores = detector.decision_function(x_bin)
    np.testing.assert_allclose(scores, -model.log_likelihood(x_bin), rtol=1e-5)
    np.testing.assert_allclose(detector.score_map(x_bin[:4]).sum(axis=(1, 2)), scores[:4], rtol=1e-5)
    with pytest.raises(InputValidationError, match="not binary"):
        detector.decision_function(x_eval)  # grey images, binary model
    auc = detector.evaluate(x_bin, y_eval)["roc_auc"]
    cases = _cases(detector, x_bin)
    path = keras_ae.export(detector, "pixelcnn_detector", base_dir=tmp_path)
    _, outputs = run_tf_only({"pcnn": path}, {"pcnn": cases}, tmp_path)
    _check_tf_only(outputs, "pcnn", cases)
    with pytest.raises(tf.errors.InvalidArgumentError, match="binarize"):  # the grid check is in the graph
        tf.saved_model.load(str(path)).signatures["anomaly_score"](images=tf.fill((1, 8, 8, 1), 0.5))
    report["PixelCNN, nll: ROC AUC (digit 9, binarized)"] = f"{auc:.3f}"


def test_realnvp_detector_is_deterministic_and_has_no_score_map(split):
    flow = keras_ae.build_realnvp((8, 8, 1), filters=4, blocks=0, couplings=1, final_couplings=1)
    x = np.round(split[1][:20] * 255) / 255
    detector = AnomalyDetector(flow, score="nll").fit(x)
    scores = detector.decision_function(x)
    np.testing.assert_array_equal(scores, detector.decision_function(x))
    np.testing.assert_allclose(detector.decision_function(x[5:7]), scores[5:7], rtol=1e-6)  # per example
    with pytest.raises(InputValidationError, match="couples every pixel"):
        detector.score_map(x)
    from keras_ae.export import ExportOptions
    assert [e.name for e in detector.serving_endpoints(ExportOptions(uint8=False))] == [
        "anomaly_score", "is_anomaly", "p_value"]

@pytest.mark.slow

def test_table_detector_standardizes_rows_and_finds_malignant_tumours(tmp_path, report):
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    x, y = data.data.astype(np.float32), data.target  # target 1 = benign (normal), 0 = malignant
    rng = np.random.default_rng(0)
    benign = rng.permutation(np.flatnonzero(y == 1))
    train, cal, test_normal = benign[:200], benign[200:280], benign[280:]
    x_eval = np.concatenate([x[test_normal], x[y == 0]])
    y_eval = np.repeat([0, 1], [len(test_normal), int((y == 0).sum())])
    keras.utils.set_random_seed(0)
    model = keras_ae.build_dense_ae((30,), hidden=(16,), code_dim=4, loss="mse", standardize=x[train])
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    model.fit(x[train], epochs=30, batch_size=32, verbose=0)
    detector = AnomalyDetector(model).fit(x[cal])
    maps = detector.score_map(x_eval[:5])
    assert maps.shape == (5, 30)
    np.testing.assert_allclose(maps.sum(axis=1), detector.decision_function(x_eval[:5]), rtol=1e-5)
    auc = detector.evaluate(x_eval, y_eval)["roc_auc"]
    assert auc > 0.85, auc
    cases = _cases(detector, x_eval)
    assert "score_map_uint8" not in cases  # raw table rows: no uint8 twins
    _, outputs = run_tf_only({"table": keras_ae.export(detector, "table_detector", base_dir=tmp_path)},
                             {"table": cases}, tmp_path)
    _check_tf_only(outputs, "table", cases)
    report["breast cancer table AE: ROC AUC (malignant)"] = f"{auc:.3f}"

@pytest.mark.slow

def test_sequence_detector_maps_each_timestep_and_finds_a_spike(report):
    length, period = 48, 24
    noise = np.random.default_rng(0).standard_normal(3000)
    series = np.sin(2 * np.pi * np.arange(3000) / period) + 0.05 * noise
    train, test = series[:2000], series[2000:].copy()
    mean, std = train.mean(), train.std()
    keras.utils.set_random_seed(0)
    model = keras_ae.build_conv1d_ae((length, 1), filters=(16, 8))
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.fit(windows((train - mean) / std, length, stride=2), epochs=10, batch_size=32, verbose=0)
    test[600:620] += 2 * std  # a spike of two standard deviations
    test_windows = windows((test - mean) / std, length)
    detector = AnomalyDetector(model).fit(windows((series[1500:2000] - mean) / std, length, stride=4))
    maps = detector.score_map(test_windows)
    assert maps.shape == (len(test_windows), length)
    per_timestep = window_scores_to_series(maps, len(test), stride=1)
    assert 600 <= int(np.argmax(per_timestep)) < 620
    flags = detector.predict(test_windows).astype(bool)
    covering = (np.arange(len(test_windows)) + length > 600) & (np.arange(len(test_windows)) < 620)
    recall, false_alarms = flags[covering].mean(), flags[~covering].mean()
    assert recall > 0.9 and false_alarms < 0.15, (recall, false_alarms)
    report["Conv1D windows: spike windows flagged / others"] = f"{recall:.2f} / {false_alarms:.3f}"


# -- TFLite ------------------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("quantize", [None, "float16", "dynamic"])
def test_tflite_detector_runs_in_litert_close_to_python(detector, split, tmp_path, quantize, report):
    _, _, x_eval, y_eval = split
    path = keras_ae.export(detector, "tflite_detector", base_dir=tmp_path, format="tflite", quantize=quantize)
    scores = run_tflite(path, "anomaly_score", images=x_eval)["score"]
    flags = run_tflite(path, "is_anomaly", images=x_eval)["is_anomaly"]
    p = run_tflite(path, "p_value", images=x_eval)["p_value"]
    maps = run_tflite(path, "score_map_uint8", images=np.round(x_eval * 255).astype(np.uint8))["score_map"]
    python = detector.decision_function(x_eval)
    diff = np.abs(scores - python).max()
    auc_change = roc_auc_score(y_eval, scores) - roc_auc_score(y_eval, python)
    flips = int((flags != detector.predict(x_eval)).sum())
    assert maps.shape == (len(x_eval), 8, 8) and p.min() > 0
    tolerance = {None: 1e-4, "float16": 0.05, "dynamic": 0.5}[quantize]
    assert diff < tolerance and abs(auc_change) < 0.01 and flips <= {None: 0, "float16": 2, "dynamic": 5}[quantize]
    with pytest.raises(InputValidationError, match="NaN"):
        run_tflite(path, "is_anomaly", images=np.full((1, 8, 8, 1), np.nan, np.float32))
    report[f"TFLite {quantize or 'float32'}: max |score diff|, AUC change, flips"] = \
        f"{diff:.1e}, {auc_change:+.4f}, {flips}/{len(x_eval)}"
