"""One code API and one loss hook in every family.

``codes(x)`` returns a NumPy array in every family that has codes (the VAEs' distribution
is ``posterior(x)``); every family's ``train_step`` / ``test_step`` go through a hook named
``compute_losses``; configs keep their base class's keys; ``GAN.compile`` goes through
``Trainer.compile`` and the CLI asks the class, not ``compile``'s signature, how to compile.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import tensorflow as tf

from keras_ae.errors import InputValidationError, UnknownNameError
from keras_ae.training import Trainer
from tests.scripts.families import FAMILIES

# Family row -> (dtype kind, shape of one code) of ``codes(x)``.
CODE_ROWS = {
    "dense_ae": ("f", (8,)),
    "conv_dae": ("f", None),  # the conv encoder's code map, whatever code_shape says
    "sparse_ae": ("f", (16,)),
    "contractive_ae": ("f", (16,)),
    "vae": ("f", (4,)),
    "vae_iaf": ("f", (4,)),
    "vqvae": ("i", (4, 4)),
    "realnvp": ("f", (64,)),
}


def _row(name):
    build, data, compile_kwargs = FAMILIES[name]
    return build(), data(16)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CODE_ROWS))
def test_codes_are_a_numpy_array_of_the_documented_shape_for_arrays_and_datasets(name):
    model, x = _row(name)
    kind, shape = CODE_ROWS[name]
    codes = model.codes(x, batch_size=5)  # several batches, the last one short
    assert isinstance(codes, np.ndarray)
    assert codes.dtype.kind == kind and codes.dtype.itemsize == 4
    assert codes.shape == (len(x), *(shape or model.code_shape))
    for dataset in (tf.data.Dataset.from_tensor_slices(x), tf.data.Dataset.from_tensor_slices(x).batch(3)):
        np.testing.assert_allclose(model.codes(dataset, batch_size=5), codes, rtol=1e-5, atol=1e-6)


def test_the_gaussian_vaes_codes_are_its_posterior_mean_and_posterior_is_the_distribution():
    model, x = _row("vae")
    q = model.posterior(x)
    np.testing.assert_allclose(model.codes(x), q.mean().numpy(), rtol=1e-5, atol=1e-6)
    assert q.batch_shape == [len(x)] and q.event_shape == [4]
    np.testing.assert_allclose(model.encode(x).mean(), q.mean(), rtol=1e-6)  # encode: the documented name, kept


def test_a_flow_vaes_codes_are_the_flow_of_the_base_mean():
    model, x = _row("vae_iaf")
    loc = model.posterior_params(x)[0]
    context = model._parts(x)[2]
    expected = model.flow.forward_and_log_det(loc, context)[0].numpy()
    np.testing.assert_allclose(model.codes(x), expected, rtol=1e-5, atol=1e-6)
    assert not np.allclose(model.codes(x), loc.numpy())  # the flow moved the point


def test_vqvae_codes_are_its_indices_or_the_codebook_vectors_of_them():
    model, x = _row("vqvae")
    indices = model.codes(x)
    np.testing.assert_array_equal(indices, model.encode(x))
    embeddings = model.codes(x, kind="embeddings")
    assert embeddings.dtype == np.float32 and embeddings.shape == (*indices.shape, 4)
    np.testing.assert_allclose(embeddings, model.quantizer.lookup(indices).numpy())
    with pytest.raises(UnknownNameError, match="kind 'vectors'"):
        model.codes(x, kind="vectors")


@pytest.mark.parametrize("name", ["dense_ae", "vae", "vqvae", "realnvp"])
def test_codes_refuse_a_bad_batch_size_and_bad_data_with_a_clear_error(name):
    model, x = _row(name)
    with pytest.raises(InputValidationError, match="batch_size"):
        model.codes(x, batch_size=0)
    with pytest.raises(InputValidationError, match="shape"):
        model.codes(np.zeros((2, 5, 5, 1), "float32"))
    assert model.codes(x[:2]).shape[0] == 2  # still usable


@pytest.mark.slow
@pytest.mark.parametrize("name", ["vae_iaf", "vqvae", "realnvp"])
def test_the_embedding_projector_reads_codes_of_every_family(name):
    from keras_ae.training.callbacks.embedding_projector import EmbeddingProjector, model_codes

    model, x = _row(name)
    assert EmbeddingProjector.applies(model, x)
    flat = model_codes(model, x, batch_size=7)
    assert flat.dtype == np.float32 and flat.shape == (len(x), int(np.prod(model.codes(x).shape[1:])))


# -- one loss hook ---------------------------------------------------------------------------------
# One row per train_step implementation.
HOOK_ROWS = ["dense_ae", "contractive_ae", "vae", "vqvae", "pixelcnn", "realnvp", "diffusion", "gan"]


@pytest.mark.slow
@pytest.mark.parametrize("name", HOOK_ROWS)
def test_every_family_trains_and_evaluates_through_its_compute_losses_hook(name, monkeypatch):
    build, data, compile_kwargs = FAMILIES[name]
    model, x = build(), data(32)
    cls = type(model)
    calls = []
    original = cls.compute_losses

    def spy(self, *args, **kwargs):
        calls.append(kwargs.get("training"))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(cls, "compute_losses", spy)
    model.compile(**compile_kwargs(), steps_per_execution=1)
    model.fit(x, epochs=1, batch_size=16, verbose=0)
    if name == "gan":  # two losses, two optimizers: train_step updates one network at a time
        assert calls == []
    else:
        assert True in calls
    calls.clear()
    model.evaluate((x > 0.5).astype("float32"), batch_size=16, verbose=0)  # binary: every family scores it
    assert False in calls


# -- configs keep their base keys --------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("name", ["vae", "vae_iaf", "vqvae"])
def test_a_vae_config_keeps_the_autoencoder_keys_and_loads_with_or_without_them(name):
    model, x = _row(name)
    config = model.get_config()
    assert {"loss", "corruption", "sparsity_l1", "encoder", "decoder", "info", "name"} <= set(config)
    for cfg in (config, {k: v for k, v in config.items() if k not in ("loss", "corruption", "sparsity_l1")}):
        clone = type(model).from_config(copy.deepcopy(cfg))  # deserializing consumes nested configs
        clone.set_weights(model.get_weights())
        np.testing.assert_allclose(clone.codes(x), model.codes(x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("key, value, match", [("loss", "mse", "follows its likelihood"),
                                               ("sparsity_l1", 0.5, "sparsity_l1"),
                                               ("corruption", "masking", "corruption")])
def test_a_vae_refuses_base_settings_it_would_ignore(key, value, match):
    from keras_ae.data import Corruption

    model, _ = _row("vae")
    config = model.get_config()
    config[key] = Corruption("masking", 0.2) if key == "corruption" else value
    with pytest.raises(InputValidationError, match=match):
        type(model).from_config(config)


def test_tied_decoders_keep_the_decoder_key_and_rebuild_it_on_load():
    from keras_ae.models import build_contractive_ae, build_tied_ae

    x = FAMILIES["dense_ae"][1]()[:8]
    for model in (build_tied_ae((8, 8, 1), hidden=(16,), code_dim=4),
                  build_contractive_ae((8, 8, 1), hidden=(16,), code_dim=4, tied=True)):
        config = model.get_config()
        assert "decoder" in config and config["decoder"] is None
        clone = type(model).from_config(config)
        clone.set_weights(model.get_weights())
        np.testing.assert_allclose(clone.reconstruct(x), model.reconstruct(x), rtol=1e-5, atol=1e-6)


def test_masked_conv_config_keeps_the_conv_keys_and_round_trips():
    from keras_ae.layers.masked_conv import MaskedConv2D

    layer = MaskedConv2D(4, 3, mask_type="A")
    layer.build((None, 8, 8, 1))
    config = layer.get_config()
    assert config["padding"] == "same" and tuple(config["strides"]) == (1, 1)
    clone = MaskedConv2D.from_config(config)
    assert clone.get_config() == config
    older = {k: v for k, v in config.items() if k not in ("padding", "strides")}
    assert MaskedConv2D.from_config(older).mask_type == "A"


# -- GAN.compile and the CLI --------------------------------------------------------------------------
def test_gan_compile_goes_through_trainer_compile(monkeypatch):
    build, _, compile_kwargs = FAMILIES["gan"]
    gan = build()
    seen = []
    original = Trainer.compile

    def spy(self, *args, **kwargs):
        seen.append(kwargs)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Trainer, "compile", spy)
    gan.compile(**compile_kwargs())
    assert len(seen) == 1 and seen[0].get("optimizer") is None
    assert gan.optimizer is None and gan.steps_per_execution == 64  # no default Adam of Trainer's
    with pytest.raises(InputValidationError, match="steps_per_execution"):
        gan.compile(steps_per_execution=0)
    assert gan.loss_name == "non_saturating"  # the refused compile changed nothing


def test_the_cli_asks_the_class_whether_compile_takes_one_optimizer(capsys):
    from keras_ae import cli

    class TwoOptimizers:
        single_optimizer = False

        def compile(self, optimizer=None, steps_per_execution=None, **kwargs):  # optimizer= in the signature
            self.given = {"optimizer": optimizer, "steps_per_execution": steps_per_execution, **kwargs}

    model = TwoOptimizers()
    cli._compile(model, 1e-3, steps_per_execution=4)
    assert model.given == {"optimizer": None, "steps_per_execution": 4}
    assert "--learning-rate is not used" in capsys.readouterr().out

    ae = FAMILIES["dense_ae"][0]()
    cli._compile(ae, 0.01)
    assert float(ae.optimizer.learning_rate) == pytest.approx(0.01)
