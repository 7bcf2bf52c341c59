"""One home per shared utility: the grid check and its in-graph twin, one integer validator,
one array pipeline, one label-conditioning helper for the GAN networks, one batch runner."""

from __future__ import annotations

import pathlib
import re

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_ae
from keras_ae import validation
from keras_ae.errors import InputValidationError

PACKAGE = pathlib.Path(keras_ae.__file__).parent

GRID_CASES = [
    (np.array([0.0, 1 / 255, 254 / 255, 1.0]), 256, True),
    (np.array([0.0, 0.5 / 255]), 256, False),
    (np.array([0.0, 1 / 3, 2 / 3, 1.0]), 4, True),
    (np.array([0.0, 0.5]), 4, False),
    (np.array([0.0, 1.0]), 2, True),
    (np.array([0.0, 0.5]), 2, False),
    (np.array([0.2 + 1e-4]), 6, True),  # within the tolerance of 1/5
]


@pytest.mark.parametrize("x, levels, on", GRID_CASES)
def test_the_numpy_grid_check_and_its_in_graph_twin_agree(x, levels, on):
    from keras_ae.graph_checks import on_grid

    assert bool(on_grid(tf.constant(x, tf.float32), levels)) is on
    if on:
        validation.check_on_grid(x.astype(np.float32), levels)
    else:
        with pytest.raises(InputValidationError, match=f"off the .*grid of {levels} levels"):
            validation.check_on_grid(x.astype(np.float32), levels)


def test_an_off_grid_message_names_the_fix_and_one_value_not_the_array():
    x = np.full((1000, 28, 28, 1), 0.5, np.float32)
    with pytest.raises(InputValidationError) as info:
        validation.check_on_grid(x, 256, "images")
    message = str(info.value)
    assert "np.round(x * 255) / 255" in message and "e.g. 0.5" in message and len(message) < 300
    with pytest.raises(InputValidationError, match="Binarize it first"):
        validation.check_on_grid(x, 2)


def test_the_in_graph_grid_assertion_stops_a_compiled_call():
    from keras_ae.graph_checks import assert_on_grid

    f = tf.function(lambda x: assert_on_grid(x, 256, "images"))
    assert f(tf.constant([0.0, 1.0])).shape == (2,)
    with pytest.raises(tf.errors.InvalidArgumentError, match="`images` must be multiples of 1/255"):
        f(tf.constant([0.5 / 255]))


def test_the_grid_comparison_is_written_once_in_numpy_and_once_in_tensorflow():
    pattern = re.compile(r"\bround\(\s*scaled\s*\)")
    homes = sorted(str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
                   for _ in pattern.finditer(p.read_text()))
    assert homes == ["graph_checks.py", "validation.py"]


def test_integer_arguments_are_checked_by_one_validator_with_one_message():
    from keras_ae.layers.maxout import Maxout

    assert not hasattr(validation, "check_positive_int")
    with pytest.raises(InputValidationError, match=r"`units` must be an integer >= 1, got 0\."):
        Maxout(0)
    with pytest.raises(InputValidationError, match=r"`pieces` must be an integer >= 1, got '2' \(str\)\."):
        Maxout(3, pieces="2")


def test_pca_refuses_bad_input_with_input_validation_errors():
    from keras_ae.models.pca import fit_pca

    with pytest.raises(InputValidationError, match="at least two examples"):
        fit_pca(np.zeros((1, 4), np.float32), 2)
    with pytest.raises(InputValidationError, match="pass code_dim <= 4"):
        fit_pca(np.random.default_rng(0).normal(size=(10, 4)), 5)


def test_the_registry_refuses_bad_names_with_input_validation_errors_that_stay_short():
    import keras_ae.models  # noqa: F401  (registers the builders)
    from keras_ae.registry import register_builder, register_family

    with pytest.raises(InputValidationError) as info:
        register_builder("Bad-" + "x" * 10_000)
    assert len(str(info.value)) < 200
    with pytest.raises(InputValidationError, match="family name"):
        register_family("")
    with pytest.raises(InputValidationError, match="already registered"):
        register_builder("dense")(lambda: None)


def test_fit_and_make_tf_dataset_share_one_array_pipeline():
    from keras_ae.data import pipeline as data_pipeline
    from keras_ae.training import pipeline as fit_pipeline_module

    assert fit_pipeline_module.array_dataset is data_pipeline.array_dataset
    x = np.arange(10, dtype=np.uint8).reshape(10, 1)
    fed = fit_pipeline_module.fit_pipeline(x, batch_size=4, shuffle=False)
    assert [b.dtype for b in fed] == [tf.uint8] * 3  # fit's pipeline passes arrays as given
    made = keras_ae.data.make_tf_dataset(x, np.arange(10), batch_size=4, shuffle=False)
    assert [(b[0].dtype, b[0].shape[0]) for b in made] == [(tf.float32, 4), (tf.float32, 4), (tf.float32, 2)]


def _conditional_networks():
    from keras_ae.models.gan import networks

    return {
        "mlp_generator": lambda: networks.get_mlp_generator((8, 8, 1), 4, (8,), num_classes=3),
        "mlp_discriminator": lambda: networks.get_mlp_discriminator((8, 8, 1), (8,), maxout_pieces=2, num_classes=3),
        "dcgan_generator": lambda: networks.get_dcgan_generator((8, 8, 1), 4, (8, 4), num_classes=3),
        "dcgan_discriminator": lambda: networks.get_dcgan_discriminator((8, 8, 1), (4, 8), num_classes=3),
    }


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(_conditional_networks()))
def test_conditional_gan_networks_append_the_one_hot_label_and_survive_a_save_load(name, tmp_path):
    keras.utils.set_random_seed(0)
    model = _conditional_networks()[name]()
    label_layers = [type(layer).__name__ for layer in model.layers if not layer.weights][:6]
    assert "CategoryEncoding" in label_layers and "Concatenate" in label_layers
    inputs = [np.random.default_rng(0).uniform(size=(2, *model.inputs[0].shape[1:])).astype("float32"),
              np.array([[0], [2]], np.int32)]
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert [w.shape for w in loaded.weights] == [w.shape for w in model.weights]
    np.testing.assert_array_equal(loaded.predict(inputs, verbose=0), model.predict(inputs, verbose=0))
    other = [inputs[0], np.array([[1], [1]], np.int32)]
    assert not np.allclose(model.predict(other, verbose=0), model.predict(inputs, verbose=0))  # the label matters


def test_the_label_helper_broadcasts_the_one_hot_label_over_an_image():
    from keras_ae.models.gan.networks import _with_labels

    image = keras.Input((3, 2, 1))
    labels, h = _with_labels(image, 4, as_maps=True)
    out = keras.Model([image, labels], h)(
        [np.zeros((2, 3, 2, 1), np.float32), np.array([[1], [3]], np.int32)]).numpy()
    assert out.shape == (2, 3, 2, 5)
    np.testing.assert_array_equal(out[0, :, :, 1:], np.broadcast_to([0, 1, 0, 0], (3, 2, 4)))
    np.testing.assert_array_equal(out[1, :, :, 1:], np.broadcast_to([0, 0, 0, 1], (3, 2, 4)))


@pytest.mark.slow
def test_flow_and_vqvae_inference_run_through_the_one_batch_runner(monkeypatch):
    from keras_ae.models.flow import sampling as flow_module
    from keras_ae.models.flow.builders import build_realnvp
    from keras_ae.models.vqvae import model as vqvae_module
    from keras_ae.models.vqvae.builders import build_vqvae
    from keras_ae.training import batches

    calls = []

    def spy(fn, data, batch_size, spec, where, *args, **kwargs):
        calls.append(where)
        return batches.run_batches(fn, data, batch_size, spec, where, *args, **kwargs)

    monkeypatch.setattr(flow_module, "run_batches", spy)
    monkeypatch.setattr(vqvae_module, "run_batches", spy)
    x = np.round(np.random.default_rng(0).uniform(size=(5, 8, 8, 1)) * 255) / 255
    flow = build_realnvp((8, 8, 1), filters=4, blocks=0, couplings=1, final_couplings=1)
    z = flow.encode(x, batch_size=2)
    np.testing.assert_array_equal(flow.decode(z, batch_size=3), x.astype(np.float32))
    vqvae = build_vqvae((8, 8, 1), num_codes=4, code_dim=2, filters=(4,), residual_blocks=0)
    assert vqvae.encode(x, batch_size=2).shape[0] == 5
    assert calls == ["encode", "decode", "encode"]
