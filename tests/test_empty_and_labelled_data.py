"""Empty datasets, labels and streamed inference: one rule for every family.

* An empty ``tf.data`` dataset is an ``InputValidationError`` wherever a dataset is taken
  (``fit``, ``evaluate``, ``validation_data``, ``encode`` / ``reconstruct`` / likelihoods),
  up front when its length is known and when a pass ends before its first batch otherwise;
  the model is left as it was and trains afterwards.
* ``y`` is treated the same as an array (``fit(x, y)``) and inside a dataset (``(x, y)``
  elements) by every family; the unlabelled families without targets refuse it in both.
* ``encode(dataset)`` (VQ-VAE, RealNVP) and ``VQVAE.fit_prior(dataset)`` equal the array results.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import keras
from keras_ae.cli import main
from keras_ae.errors import InputValidationError
from tests.scripts.families import FAMILIES


def _vae_warmup():
    from keras_ae.models import build_vae

    return build_vae((8, 8, 1), latent_dim=4, hidden=(16,), dynamic_binarization=True, seed=0, kl_warmup_steps=10)


ROWS = {**FAMILIES, "vae_warmup": (_vae_warmup, FAMILIES["vae"][1], FAMILIES["vae"][2])}
# One row per train_step / test_step implementation: the runs that trace a step.
TRACED = ["dense_ae", "vae_iwae", "vae_warmup", "vqvae", "gan", "realnvp", "diffusion", "pixelcnn"]


def _model(name):
    build, data, compile_kwargs = ROWS[name]
    model = build()
    model.compile(**compile_kwargs())
    return model, np.asarray(data(16), np.float32)


def _weights(model) -> list[np.ndarray]:
    return [np.array(w) for w in model.weights]


def _same(before, after) -> bool:
    return len(before) == len(after) and all(np.array_equal(a, b) for a, b in zip(before, after))


def _filtered_empty(x) -> tf.data.Dataset:
    """Batches of ``x`` through a filter that drops all: its length is unknown until read."""
    return tf.data.Dataset.from_tensor_slices(x).filter(lambda e: tf.reduce_all(e < -1.0)).batch(8)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(ROWS))
def test_an_empty_dataset_of_known_length_is_refused_before_anything_runs(name):
    model, x = _model(name)
    empty = tf.data.Dataset.from_tensor_slices(x[:0]).batch(8)
    before = _weights(model)
    calls = {"fit": lambda: model.fit(empty, epochs=2, verbose=0),
             "evaluate": lambda: model.evaluate(empty, verbose=0),
             "validation_data": lambda: model.fit(x, validation_data=empty, verbose=0)}
    for call, run in calls.items():
        with pytest.raises(InputValidationError, match="is an empty dataset .*at least one example") as caught:
            run()
        assert ("validation_data" in str(caught.value)) == (call == "validation_data"), call
    assert _same(before, _weights(model))
    assert model.train_function is None  # refused before Keras traced a step


@pytest.mark.slow
@pytest.mark.parametrize("name", TRACED)
def test_a_dataset_that_ends_before_its_first_batch_is_refused_and_the_model_trains_after(name):
    model, x = _model(name)
    before = _weights(model)
    with pytest.raises(InputValidationError, match=r"`x` is an empty dataset \(it ended before its first batch\) "
                                                   r"in epoch 1; it needs at least one example"):
        model.fit(_filtered_empty(x), epochs=2, verbose=0)
    assert _same(before, _weights(model))
    # Found after epoch 1 trained: the weights of the start of training come back.
    with pytest.raises(InputValidationError, match="`validation_data` is an empty dataset .*were restored"):
        model.fit(x, validation_data=_filtered_empty(x), epochs=2, verbose=0)
    assert _same(before, _weights(model))
    with pytest.raises(InputValidationError, match="`x` is an empty dataset .* in evaluate"):
        model.evaluate(_filtered_empty(x), verbose=0)
    history = model.fit(tf.data.Dataset.from_tensor_slices(x).batch(8), epochs=1, verbose=0).history
    assert history and all(np.isfinite(v[-1]) for v in history.values())


def _inference_calls(model, data):
    """The methods of ``model`` that take a dataset of images, each called on ``data``."""
    calls = {}
    for method in ("encode", "reconstruct", "log_likelihood", "codebook_usage", "fit_prior"):
        if hasattr(model, method):
            calls[method] = (lambda m: lambda: getattr(model, m)(data))(method)
    return calls


@pytest.mark.slow
@pytest.mark.parametrize("name", ["dense_ae", "vae", "vqvae", "realnvp", "diffusion", "pixelcnn"])
def test_inference_methods_refuse_an_empty_dataset(name):
    model, x = _model(name)
    for empty in (tf.data.Dataset.from_tensor_slices(x[:0]).batch(8), _filtered_empty(x)):
        calls = _inference_calls(model, empty)
        assert calls
        for method, run in calls.items():
            with pytest.raises(InputValidationError, match="`x` is an empty dataset"):
                run()


@pytest.mark.slow  # runs the command line in-process: seconds
@pytest.mark.parametrize("empty_split", ["train", "test"])
def test_the_cli_exits_2_on_a_streamed_npz_with_an_empty_split(tmp_path, capsys, empty_split):
    data = tmp_path / "data"
    data.mkdir()
    sizes = {"train": 4, "test": 4, empty_split: 0}
    np.savez(data / "mnist.npz", x_train=np.zeros((sizes["train"], 28, 28), "uint8"),
             y_train=np.zeros(sizes["train"], "uint8"), x_test=np.zeros((sizes["test"], 28, 28), "uint8"),
             y_test=np.zeros(sizes["test"], "uint8"))
    out = tmp_path / "run"
    code = main(["train", "dense", "--dataset", "mnist", "--data-dir", str(data), "--stream", "--epochs", "1",
                 "--out", str(out), "-p", "hidden=[16]", "-p", "code_dim=4", "--verbose", "0"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "empty" in err and "StopIteration" not in err and len(err.strip().splitlines()) == 1, err
    assert not (out / "model.keras").exists()


# -- labels ---------------------------------------------------------------------------------
def _outcome(run) -> str:
    try:
        run()
    except InputValidationError as error:
        return f"refused: {error}"
    return "trained"


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_fit_x_y_and_a_dataset_of_x_y_pairs_get_the_same_answer(name):
    model, x = _model(name)
    labels = np.arange(len(x)) % 4
    as_arrays = _outcome(lambda: model.fit(x, labels, epochs=1, batch_size=8, verbose=0))
    as_dataset = _outcome(lambda: model.fit(tf.data.Dataset.from_tensor_slices((x, labels)).batch(8), verbose=0))
    assert as_arrays.split(":")[0] == as_dataset.split(":")[0], (as_arrays, as_dataset)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["vqvae", "realnvp", "diffusion", "pixelcnn"])
def test_families_that_train_on_x_alone_refuse_y_in_every_form_with_one_rule(name):
    model, x = _model(name)
    pairs = tf.data.Dataset.from_tensor_slices((x, np.zeros(len(x), "int64"))).batch(8)
    rule = r"this model trains on x alone \(its target is x itself\)"
    for run in (lambda: model.fit(x, x, verbose=0), lambda: model.evaluate(x, x, verbose=0),
                lambda: model.fit(x, validation_data=(x, x), verbose=0)):
        with pytest.raises(InputValidationError, match=rf"was given, but {rule}: pass x without y"):
            run()
    for run in (lambda: model.fit(pairs, verbose=0), lambda: model.evaluate(pairs, verbose=0),
                lambda: model.fit(x, validation_data=pairs, verbose=0)):
        with pytest.raises(InputValidationError, match=rf"yields \(x, y\) pairs; {rule}"):
            run()
    assert model.train_function is None


# -- inference on datasets -----------------------------------------------------------------
def _datasets(x):
    labels = np.zeros(len(x), "int64")
    return {"batched": tf.data.Dataset.from_tensor_slices(x).batch(5),
            "unbatched": tf.data.Dataset.from_tensor_slices(x),
            "pairs": tf.data.Dataset.from_tensor_slices((x, labels)).batch(3),
            "unknown length": tf.data.Dataset.from_tensor_slices(x).filter(lambda e: True).batch(4)}


@pytest.mark.slow
@pytest.mark.parametrize("name", ["vqvae", "realnvp"])
def test_encode_of_a_dataset_equals_encode_of_the_array(name):
    model, x = _model(name)
    x = np.round(x) if name == "vqvae" else x  # binary: the VQ-VAE's bound scores 0/1 images
    methods = ["encode"] + (["reconstruct", "log_likelihood", "codebook_usage"] if name == "vqvae" else [])
    for method in methods:
        want = getattr(model, method)(x)
        for kind, dataset in _datasets(x).items():
            got = getattr(model, method)(dataset)
            for key in (want if isinstance(want, dict) else [None]):
                a, b = (want, got) if key is None else (want[key], got[key])
                np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-6, err_msg=f"{method} {kind} {key}")


@pytest.mark.slow
def test_fit_prior_on_a_dataset_equals_fit_prior_on_the_array():
    build = ROWS["vqvae"][0]
    x = np.round(np.asarray(ROWS["vqvae"][1](32), np.float32))
    results = []
    for source in ("array", "dataset"):
        keras.utils.set_random_seed(3)
        model = build()
        data = x if source == "array" else tf.data.Dataset.from_tensor_slices((x, np.zeros(len(x)))).batch(7)
        val = x[:8] if source == "array" else tf.data.Dataset.from_tensor_slices(x[:8]).batch(3)
        history = model.fit_prior(data, epochs=2, batch_size=8, validation_data=val, verbose=0).history
        results.append((_weights(model.prior), history))
    (w_array, h_array), (w_dataset, h_dataset) = results
    assert sorted(h_array) == sorted(h_dataset) and "val_loss" in h_array
    for key in h_array:
        np.testing.assert_allclose(h_dataset[key], h_array[key], rtol=1e-5, err_msg=key)
    for a, b in zip(w_array, w_dataset):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
