"""Sequences: windows of a series and back, the Conv1D auto-encoder, per-timestep errors that find an anomaly."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_ae
from keras_ae.data import window_scores_to_series, windows
from keras_ae.errors import InputValidationError
from keras_ae.evaluation import reconstruction_error, squared_error_per_example, timestep_errors
from keras_ae.export import read_metadata
from keras_ae.models import BUILDERS, build_conv1d_ae
from keras_ae.saving import load_model

LENGTH = 48
PERIOD = 24
ANOMALY = slice(600, 620)  # 20 timesteps of the test part


def _hand_windows(series: np.ndarray, length: int, stride: int) -> np.ndarray:
    series = series.reshape(len(series), -1)
    return np.stack([series[start:start + length] for start in range(0, len(series) - length + 1, stride)])


# -- windows ------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(11,), (11, 3)])
@pytest.mark.parametrize("length, stride", [(1, 1), (4, 1), (4, 2), (4, 3), (3, 5), (11, 1), (11, 4)])
def test_windows_match_a_hand_loop(shape, length, stride):
    series = np.arange(np.prod(shape), dtype=np.float64).reshape(shape) * 0.5
    got = windows(series, length, stride)
    expected = _hand_windows(series, length, stride)
    assert got.dtype == np.float32
    assert got.shape == ((shape[0] - length) // stride + 1, length, shape[1] if len(shape) == 2 else 1)
    np.testing.assert_array_equal(got, expected.astype(np.float32))


def test_windows_are_a_writable_copy_independent_of_the_series():
    series = np.arange(10, dtype=np.float32)
    w = windows(series, 4, 2)
    w[0, 0, 0] = 100.0  # overlapping windows of a view would share this value with the series
    assert series[0] == 0 and w[0, 2, 0] == 2 and w[1, 0, 0] == 2
    series[2] = -1.0
    assert w[1, 0, 0] == 2
    assert w.flags.c_contiguous and w.flags.owndata


def test_windows_take_integer_and_boolean_series():
    np.testing.assert_array_equal(windows(np.array([1, 2, 3], np.int64), 2)[:, :, 0], [[1, 2], [2, 3]])
    assert windows(np.array([True, False, True]), 3).dtype == np.float32


# -- back to the series -------------------------------------------------------------------------
def test_window_scores_to_series_averages_the_overlapping_windows():
    scores = np.array([[1.0, 2.0, 3.0, 4.0], [10.0, 20.0, 30.0, 40.0], [5.0, 6.0, 7.0, 8.0]])  # length 4, stride 2
    got = window_scores_to_series(scores, series_length=9, stride=2)
    # t:     0  1  2              3              4             5              6  7  8
    expected = [1, 2, (3 + 10) / 2, (4 + 20) / 2, (30 + 5) / 2, (40 + 6) / 2, 7, 8, np.nan]
    np.testing.assert_allclose(got, expected)
    assert got.dtype == np.float64 and got.shape == (9,)


@pytest.mark.parametrize("length, stride", [(5, 1), (5, 2), (5, 5), (1, 1)])
def test_window_scores_to_series_inverts_windows(length, stride):
    series = np.random.default_rng(0).standard_normal(23)
    back = window_scores_to_series(windows(series, length, stride)[:, :, 0], len(series), stride)
    covered = ((len(series) - length) // stride) * stride + length
    np.testing.assert_allclose(back[:covered], series[:covered], rtol=1e-6)
    assert np.isnan(back[covered:]).all()  # the tail no window reaches


def test_timesteps_between_windows_are_nan():
    back = window_scores_to_series(np.ones((3, 2)), series_length=8, stride=3)  # windows at 0, 3, 6
    np.testing.assert_array_equal(np.isnan(back), [False, False, True, False, False, True, False, False])


# -- bad inputs ---------------------------------------------------------------------------------
@pytest.mark.parametrize("series, length, stride, match", [
    (np.zeros(5), 6, 1, r"5 timesteps, fewer than one window of length=6"),
    (np.zeros(0), 1, 1, r"0 timesteps"),
    (np.zeros(10), 0, 1, r"`length` must be an integer >= 1, got 0"),
    (np.zeros(10), 2.5, 1, r"`length` must be an integer >= 1, got 2.5"),
    (np.zeros(10), True, 1, r"`length` must be an integer"),
    (np.zeros(10), 3, 0, r"`stride` must be an integer >= 1, got 0"),
    (np.zeros(10), 3, "2", r"`stride` must be an integer >= 1, got '2'"),
    (np.zeros(10), 3, -1, r"`stride`"),
    (np.where(np.arange(30) == 17, np.nan, 0.0), 4, 1, r"1 NaN or infinite values \(first at timestep 17\)"),
    (np.where(np.arange(30) >= 21, np.inf, 0.0), 4, 1, r"9 NaN or infinite .*timestep 21\)"),
    (np.where(np.arange(20).reshape(10, 2) == 7, np.nan, 0.0), 4, 1, r"timestep 3, channel 1"),
    (np.zeros((10, 2, 2)), 3, 1, r"1-D \(T,\) or 2-D \(T, channels\), got shape \(10, 2, 2\)"),
    (np.float64(1.0), 1, 1, r"1-D \(T,\) or 2-D"),
    (np.array(["a", "b", "c"]), 2, 1, r"dtype <U1; expected a numeric array"),
    (np.array([1, "b", None], dtype=object), 2, 1, r"dtype object"),
    (np.zeros((10, 0)), 3, 1, r"no channels"),
    (np.zeros(10, np.complex64), 3, 1, r"complex"),
    (np.full(4, 1e300), 2, 1, r"beyond the float32 range"),
    (np.zeros(1_000_000), 10_000, 1, r"990,001 windows would take about 39.6 GB.*larger stride"),
])
def test_windows_refuse_bad_input_naming_the_problem(series, length, stride, match):
    with pytest.raises(InputValidationError, match=match):
        windows(series, length, stride)


@pytest.mark.parametrize("scores, series_length, stride, match", [
    (np.ones(5), 5, 1, r"2-D \(n_windows, length\), got shape \(5,\)"),
    (np.ones((2, 3, 1)), 4, 1, r"2-D \(n_windows, length\)"),
    (np.ones((3, 4)), 9, 1, r"holds 3 windows, but .* of a series of 9 timesteps gives 6"),
    (np.ones((3, 4)), 3, 1, r"`series_length` must be an integer >= 4"),
    (np.ones((3, 4)), 6, 0, r"`stride` must be an integer >= 1"),
    (np.ones((3, 4)), 6.0, 1, r"`series_length` must be an integer"),
    (np.array([[1.0, np.nan]]), 2, 1, r"NaN"),
    (np.ones((0, 4)), 4, 1, r"empty"),
    (np.ones((2, 4)), 10**12, 10**12, r"`series_length` = 1,000,000,000,000 timesteps would take"),
])
def test_window_scores_to_series_refuses_bad_input(scores, series_length, stride, match):
    with pytest.raises(InputValidationError, match=match):
        window_scores_to_series(scores, series_length, stride)


# -- the builder --------------------------------------------------------------------------------
@pytest.mark.parametrize("shape, filters, strides", [
    ((48, 1), (16, 8), 2), ((47, 3), (16, 8), 2), ((50, 2), (8, 4, 4), 2), ((7, 1), (4, 4, 4), 2),
    ((30, 1), (4,), 3), ((31, 1), (4, 4), 3), ((12, 1), (4, 4), 1),
])
def test_any_window_length_reconstructs_to_its_own_length(shape, filters, strides):
    model = build_conv1d_ae(shape, filters=filters, strides=strides, kernel_size=3)
    assert model.encoder.name == "encoder" and model.decoder.name == "decoder"
    assert model.decoder.output_shape == (None, *shape)
    x = np.random.default_rng(0).standard_normal((2, *shape)).astype(np.float32)
    assert model.reconstruct(x).shape == (2, *shape)


def test_the_default_follows_the_keras_io_timeseries_example():
    model = build_conv1d_ae((288, 1))
    kinds = [type(layer).__name__ for layer in model.encoder.layers[1:] + model.decoder.layers[1:]]
    assert kinds == ["Conv1D", "Dropout", "Conv1D", "Conv1DTranspose", "Dropout", "Conv1DTranspose", "Conv1D"]
    assert model.encoder.output_shape == (None, 72, 16) and model.loss_kind == "mse"
    assert model.decoder.get_layer("output").activation.__name__ == "linear"


def test_conv1d_is_a_registered_builder_importable_from_the_package():
    assert BUILDERS["conv1d"] is build_conv1d_ae is keras_ae.build_conv1d_ae is keras_ae.models.build_conv1d_ae
    assert "build_conv1d_ae" in keras_ae.__all__ and "build_conv1d_ae" in keras_ae.models.__all__


@pytest.mark.parametrize("kwargs, match", [
    ({"input_shape": (8, 8, 1)}, r"needs windows, input_shape = \(length, channels\); got \(8, 8, 1\)"),
    ({"input_shape": (48,)}, r"\(length, channels\); got \(48,\)"),
    ({"input_shape": (48, 0)}, r"input_shape"),
    ({"input_shape": (2**24, 2)}, r"values per example"),
    ({"filters": ()}, r"`filters` must be a non-empty sequence"),
    ({"filters": (8, 0)}, r"`filters`"),
    ({"kernel_size": 0}, r"`kernel_size` must be an integer >= 1"),
    ({"kernel_size": (3, 3)}, r"`kernel_size` must be an integer"),
    ({"strides": 0}, r"`strides` must be an integer >= 1"),
    ({"strides": 1.5}, r"`strides`"),
    ({"dropout": 1.0}, r"`dropout` must be a finite number in \[0, 1\)"),
    ({"dropout": -0.1}, r"`dropout`"),
    ({"loss": "mae"}, r"Unknown reconstruction loss 'mae'"),
    ({"input_shape": (8, 1), "filters": (4,) * 5}, r"strides \*\* len\(filters\) = 2\*\*5 .* one timestep"),
    ({"filters": (2**20, 2**20)}, r"parameters"),
    ({"strides": 1, "filters": (4,) * 1000}, r"layers"),
    ({"strides": 10**9, "filters": (4,) * 400}, r"strides \*\* len\(filters\) = 1000000000\*\*400"),
])
def test_the_builder_refuses_bad_arguments_before_building(kwargs, match, monkeypatch):
    monkeypatch.setattr(keras, "Input", lambda *a, **k: pytest.fail("built before refusing"))
    with pytest.raises(ValueError, match=match):
        build_conv1d_ae(**kwargs)


# -- per-timestep errors ------------------------------------------------------------------------
def test_timestep_errors_are_squared_errors_averaged_over_channels():
    model = build_conv1d_ae((10, 3), filters=(4,), kernel_size=3)
    x = np.random.default_rng(1).standard_normal((5, 10, 3)).astype(np.float32)
    errors = timestep_errors(model, x, batch_size=2)
    expected = np.mean((x.astype(np.float64) - model.predict(x, verbose=0)) ** 2, axis=-1)
    assert errors.shape == (5, 10)
    np.testing.assert_allclose(errors, expected, rtol=1e-6)
    # the same numbers as the per-example error, kept per timestep
    np.testing.assert_allclose(errors.sum(axis=1) * 3, reconstruction_error(model, x), rtol=1e-6)


def test_the_per_example_error_keeps_its_default_and_can_average():
    x, r = np.ones((2, 4, 3)), np.zeros((2, 4, 3))
    assert squared_error_per_example(x, r).tolist() == [12.0, 12.0]
    assert squared_error_per_example(x, r, reduce="mean").tolist() == [1.0, 1.0]
    assert squared_error_per_example(x, r, keep_axes=2).shape == (2, 4)
    with pytest.raises(ValueError, match="reduce"):
        squared_error_per_example(x, r, reduce="max")
    with pytest.raises(InputValidationError, match="keep_axes"):
        squared_error_per_example(x, r, keep_axes=4)


@pytest.mark.parametrize("bad, match", [
    (np.zeros((5, 10)), r"3-D \(n_windows, length, channels\)"),
    (np.zeros((5, 12, 3)), r"the model takes windows \(batch, 10, 3\)"),
    (np.full((5, 10, 3), np.nan), r"NaN"),
])
def test_timestep_errors_refuse_windows_the_model_does_not_take(bad, match):
    model = build_conv1d_ae((10, 3), filters=(4,), kernel_size=3)
    with pytest.raises(InputValidationError, match=match):
        timestep_errors(model, bad)


# -- the anomaly example, end to end ------------------------------------------------------------
def _seasonal_series(n: int = 3000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.sin(2 * np.pi * np.arange(n) / PERIOD) + 0.05 * rng.standard_normal(n)


@pytest.fixture(scope="module")
def seasonal():
    """A Conv1D auto-encoder trained on windows of a noisy sine (period 24), and the data it saw.

    5 epochs of 977 windows at Adam(2e-3): about 1 s on a CPU; the standardized normal windows' MSE is about 0.02.
    """
    series = _seasonal_series()
    train, test = series[:2000], series[2000:]
    mean, std = train.mean(), train.std()  # the training statistics standardize every part

    def scale(part):
        return (part - mean) / std

    keras.utils.set_random_seed(0)
    model = build_conv1d_ae((LENGTH, 1), filters=(16, 8))
    model.compile(optimizer=keras.optimizers.Adam(2e-3))
    model.fit(windows(scale(train), LENGTH, stride=2), epochs=5, batch_size=32, verbose=0)
    return model, scale(test)


@pytest.mark.slow
def test_normal_windows_reconstruct_far_below_the_variance(seasonal):
    model, test = seasonal
    mse = float(timestep_errors(model, windows(test, LENGTH)).mean())
    assert mse < 0.1, mse  # the standardized series has variance 1


def _anomaly_score(model, series: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The per-timestep error mapped back to the series, and the mask of the injected segment."""
    score = window_scores_to_series(timestep_errors(model, windows(series, LENGTH)), len(series), stride=1)
    assert not np.isnan(score).any()  # stride 1 covers every timestep
    inside = np.zeros(len(score), bool)
    inside[ANOMALY] = True
    return score, inside


def test_the_per_timestep_error_peaks_inside_an_injected_spike(seasonal):
    model, test = seasonal
    broken = test.copy()
    broken[ANOMALY] += 2.0  # a 20-timestep spike of two standard deviations
    score, inside = _anomaly_score(model, broken)
    assert ANOMALY.start <= int(np.argmax(score)) < ANOMALY.stop
    # measured: 1.33 inside, 0.028 outside
    assert score[inside].mean() > 10 * score[~inside].mean(), (score[inside].mean(), score[~inside].mean())


def test_a_flat_segment_scores_far_above_the_rest_of_the_series(seasonal):
    model, test = seasonal
    broken = test.copy()
    broken[ANOMALY] = broken[ANOMALY.start]  # the signal stalls for 20 timesteps
    score, inside = _anomaly_score(model, broken)
    # measured: 0.28 inside, 0.027 outside. The maximum is 2 timesteps after the segment, where the
    # signal jumps back: a flat stretch's worst timestep is its end, not inside it.
    assert score[inside].mean() > 5 * score[~inside].mean(), (score[inside].mean(), score[~inside].mean())
    assert ANOMALY.start <= int(np.argmax(score)) < ANOMALY.stop + 5


def test_a_keras_file_round_trip_reconstructs_the_same(seasonal, tmp_path):
    model, test = seasonal
    x = windows(test[:200], LENGTH, stride=4)
    model.save(tmp_path / "conv1d.keras")
    loaded = load_model(tmp_path / "conv1d.keras")
    assert loaded.encoder.name == "encoder" and loaded.example_shape == (LENGTH, 1)
    np.testing.assert_array_equal(loaded.reconstruct(x), model.reconstruct(x))


@pytest.mark.slow
def test_the_export_reconstructs_windows_as_keras_does_without_uint8_twins(seasonal, tmp_path):
    model, test = seasonal
    x = windows(test[:200], LENGTH, stride=4)
    path = keras_ae.export(model, "conv1d", base_dir=tmp_path)
    signatures = read_metadata(path)["signatures"]
    assert not any(name.endswith("_uint8") for name in signatures)  # a series is not an image
    assert signatures["reconstruct"]["inputs"] == {"inputs": {"shape": [None, LENGTH, 1], "dtype": "float32",
                                                              "range": None}}
    loaded = tf.saved_model.load(str(path))
    for name in ("reconstruct", "serving_default"):
        got = loaded.signatures[name](inputs=tf.constant(x))["reconstruction"].numpy()
        np.testing.assert_allclose(got, model.reconstruct(x), atol=1e-5)
    code = loaded.signatures["encode"](inputs=tf.constant(x))["code"].numpy()
    np.testing.assert_allclose(code, model.encode(x), atol=1e-5)
