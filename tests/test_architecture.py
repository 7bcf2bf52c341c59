"""The package's shape: one family registry, a training package that imports no model,
no import circles, and a family that plugs in from outside without editing keras_ae."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_ae
from keras_ae import cli, registry
from keras_ae.errors import TrainingDivergedError
from keras_ae.export import ExportOptions, export, image_endpoints, read_metadata
from keras_ae.models import AutoEncoder, build_dense_ae, build_pixelcnn
from keras_ae.models.dense import get_dense_decoder, get_dense_encoder
from keras_ae.saving import load_model

PACKAGE = Path(keras_ae.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _top_level_imports(path: Path) -> set[str]:
    """keras_ae modules imported at module level (function-level imports are lazy, not edges)."""
    found = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("keras_ae"):
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("keras_ae"))
    return found


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        edges = set()
        for target in _top_level_imports(path):
            while target and target not in modules:  # `from pkg import name` names an attribute
                target = target.rpartition(".")[0]
            if target and target != name:
                edges.add(target)
        # importing a.b.c runs a/__init__ and a/b/__init__ first
        parent = name.rpartition(".")[0]
        while parent:
            if parent in modules and parent != name:
                edges.add(parent)
            parent = parent.rpartition(".")[0]
        graph[name] = edges
    return graph


def test_no_import_circle_in_the_package():
    graph = _graph()
    # Edges from a package to its own submodules (an __init__ re-exporting) are not circles
    # with the implicit child -> parent edge: Python runs the parent first, then the child.
    state: dict[str, int] = {}
    cycles = []

    def visit(node, stack):
        state[node] = 1
        for nxt in sorted(graph[node]):
            if node.startswith(nxt + "."):
                continue  # implicit child -> parent edge
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    # A package importing its own submodule and that submodule importing a sibling through
    # the package is the one allowed shape: drop cycles that only pass through parents.
    real = [c for c in cycles if not all(b.startswith(a + ".") or a.startswith(b + ".") for a, b in zip(c, c[1:]))]
    assert not real, f"import circles: {real}"


@pytest.mark.slow
def test_every_family_is_declared_once_and_found_through_the_class_hierarchy():
    from keras_ae.models import GAN, VAE, ContractiveAutoEncoder, PixelCNN, PixelRNN, SemanticHashingAE, TiedAutoEncoder

    names = [f.name for f in registry.families()]
    assert len(names) == len(set(names))
    expected = {AutoEncoder: "autoencoder", VAE: "vae", GAN: "gan", PixelCNN: "pixelcnn", PixelRNN: "pixelrnn",
                SemanticHashingAE: "hashing", TiedAutoEncoder: "tied", ContractiveAutoEncoder: "contractive"}
    for cls, name in expected.items():
        assert cls.family == name and registry.family_of(cls).name == name
        assert keras.saving.get_registered_object(f"keras_ae>{cls.__name__}") is cls

    class Unregistered(VAE):  # a user's subclass: served by its closest registered base
        pass

    assert registry.family_of(Unregistered).name == "vae"
    assert registry.serving_default_of(PixelCNN) == "log_likelihood"  # inherited from the autoregressive family
    for name, builder in registry.BUILDERS.items():
        shape = (8, 1) if name == "conv1d" else (8, 8, 1)  # conv1d takes windows (length, channels) of a series
        assert registry.family_of(builder(shape)) is not None, name


@pytest.mark.slow
def test_reliability_scripts_cover_every_registered_family():
    from tests.scripts.families import uncovered_families

    assert uncovered_families() == []


# -- a family added from outside keras_ae -------------------------------------------------
@pytest.fixture
def toy_family():
    """A new family in a test file: a subclass with its family, one export signature and a builder."""

    @registry.register_family("toy_scaled", serving_default="scaled")
    class ScaledAutoEncoder(AutoEncoder):
        """An auto-encoder whose serving signature returns twice the reconstruction."""

        def serving_endpoints(self, options: ExportOptions) -> list:
            fns = [("scaled", lambda inputs: {"scaled": 2.0 * self(inputs, training=False)}, [], "inputs -> 2 x")]
            return image_endpoints("inputs", self.example_shape, self.input_range, options, fns)[:1]

    @registry.register_builder("toy_scaled", family=ScaledAutoEncoder)
    def build_toy(input_shape=(64,), code_dim: int = 4):
        encoder = get_dense_encoder(input_shape, (16,), code_dim, "relu", "linear")
        decoder = get_dense_decoder(code_dim, (16,), input_shape, "relu", "sigmoid")
        return ScaledAutoEncoder(encoder, decoder, name="toy_scaled")

    yield ScaledAutoEncoder, build_toy
    registry.unregister_family(ScaledAutoEncoder)
    assert "toy_scaled" not in registry.BUILDERS


@pytest.mark.slow
def test_a_new_family_exports_loads_safely_and_trains_from_the_cli(toy_family, tmp_path, monkeypatch, capsys):
    cls, build = toy_family
    model = build((8, 8, 1))
    model.compile()
    x = np.random.default_rng(0).random((32, 8, 8, 1)).astype("float32")
    model.fit(x, epochs=1, verbose=0)

    path = export(model, "toy", base_dir=tmp_path / "saved", uint8=False)
    meta = read_metadata(path)
    assert meta["family"] == "toy_scaled" and meta["serving_default"] == "scaled"
    served = tf.saved_model.load(str(path)).signatures["serving_default"](inputs=tf.constant(x[:3]))["scaled"]
    np.testing.assert_allclose(served.numpy(), 2.0 * model.predict(x[:3], verbose=0), atol=1e-5)

    model.save(tmp_path / "toy.keras")
    loaded = load_model(tmp_path / "toy.keras")  # safe mode: the class is known through the registry
    assert type(loaded) is cls
    np.testing.assert_allclose(loaded.reconstruct(x[:3]), model.reconstruct(x[:3]), atol=1e-6)

    monkeypatch.chdir(tmp_path)
    code = cli.main(["train", "toy_scaled", "--dataset", "digits", "--epochs", "1", "--out", "runs/toy",
                     "--limit", "64", "-p", "code_dim=3"])
    assert code == 0, capsys.readouterr()
    trained = load_model(tmp_path / "runs/toy/model.keras")
    assert type(trained) is cls and trained.code_shape == (3,)
    assert json.loads((tmp_path / "runs/toy/config.json").read_text())["model"] == "toy_scaled"


# -- one fit for every family: PixelCNN gets what the others have ----------------------------
def _binary(n=64, seed=0):
    return (np.random.default_rng(seed).random((n, 8, 8, 1)) < 0.3).astype("float32")


def test_pixelcnn_fit_has_the_nan_guard():
    model = build_pixelcnn((8, 8, 1), filters=8, blocks=1)
    model.compile(optimizer=keras.optimizers.SGD(float("nan")))
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(TrainingDivergedError, match="restored"):
        model.fit(_binary(), epochs=2, batch_size=16, verbose=0)
    for w, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(w, b)


@pytest.mark.slow
def test_pixelcnn_fit_uses_the_pipeline_unless_switched_off(monkeypatch):
    from keras_ae.training import trainer

    seen = []
    original = trainer.through_fit_pipeline

    def spy(*args):
        out = original(*args)
        seen.append(type(out[0]).__name__)
        return out

    monkeypatch.setattr(trainer, "through_fit_pipeline", spy)
    model = build_pixelcnn((8, 8, 1), filters=8, blocks=1)
    model.compile()
    model.fit(_binary(), epochs=1, batch_size=16, verbose=0)
    assert seen and "Dataset" in seen[-1]
    seen.clear()
    model.fit(_binary(), epochs=1, batch_size=16, verbose=0, pipeline=False)
    assert not seen  # Keras' own array adapter


@pytest.mark.slow
def test_pipeline_switch_trains_like_keras_adapter_without_shuffling():
    x = np.random.default_rng(1).random((48, 8, 8, 1)).astype("float32")
    losses = []
    for pipeline in (True, False):
        keras.utils.set_random_seed(3)
        model = build_dense_ae((8, 8, 1), hidden=(16,), code_dim=4)
        model.compile(optimizer=keras.optimizers.SGD(0.5))
        history = model.fit(x, epochs=2, batch_size=16, shuffle=False, verbose=0, pipeline=pipeline)
        losses.append(history.history["loss"])
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-6)


@pytest.mark.slow
def test_pixelcnn_steps_per_epoch_is_exact_whatever_the_steps_per_execution():
    model = build_pixelcnn((8, 8, 1), filters=8, blocks=1)
    model.compile()  # 64 steps per execution by default, like every family
    assert model.steps_per_execution == 64
    dataset = tf.data.Dataset.from_tensor_slices(_binary(200)).batch(8).repeat()
    model.fit(dataset, epochs=2, steps_per_epoch=3, verbose=0)
    assert int(model.optimizer.iterations.numpy()) == 6
    assert model.steps_per_execution == 64


# -- serialization: base keys survive --------------------------------------------------------
def _family_models():
    from keras_ae.models import (build_conditional_gan, build_contractive_ae, build_denoising_ae, build_hashing_ae,
                                 build_pixelrnn, build_realnvp, build_tied_ae, build_vae, build_vqvae)
    from keras_ae.models import build_diffusion

    return {
        "autoencoder": lambda: build_denoising_ae((8, 8, 1), noise="masking", level=0.2, filters=(4,)),
        "tied": lambda: build_tied_ae((8, 8, 1), hidden=(8,), code_dim=4),
        "contractive": lambda: build_contractive_ae((8, 8, 1), code_dim=4),
        "vae": lambda: build_vae((8, 8, 1), latent_dim=2, hidden=(8,)),
        "flow_vae": lambda: build_vae((8, 8, 1), latent_dim=2, hidden=(8,), posterior_flow="iaf", flow_hidden=(4,)),
        "gan": lambda: build_conditional_gan((8, 8, 1), num_classes=3, latent_dim=4, generator_units=(8,),
                                             discriminator_units=(8,)),
        "pixelcnn": lambda: build_pixelcnn((8, 8, 1), filters=4, blocks=1),
        "pixelrnn": lambda: build_pixelrnn((8, 8, 1), kind="row_lstm", units=4, layers=1),
        "hashing": lambda: build_hashing_ae((8, 8, 1), n_bits=8, hidden=(8,)),
        "diffusion": lambda: build_diffusion((8, 8, 1), channels=(8, 16), attention=False, timesteps=20),
        "vqvae": lambda: build_vqvae((8, 8, 1), num_codes=8, code_dim=2, filters=(4,), residual_blocks=0,
                                     prior_filters=4, prior_blocks=0),
        "flow": lambda: build_realnvp((8, 8, 1), couplings=1, final_couplings=1, filters=4, blocks=0),
    }


@pytest.mark.slow
@pytest.mark.parametrize("family", sorted(_family_models()))
def test_mixed_bfloat16_model_of_each_family_round_trips_through_keras_file(family, tmp_path):
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = _family_models()[family]()
    finally:
        keras.mixed_precision.set_global_policy(previous)
    assert model.family == family and model.dtype_policy.name == "mixed_bfloat16"
    model.save(tmp_path / "m.keras")
    loaded = load_model(tmp_path / "m.keras")  # under the float32 global policy
    assert type(loaded) is type(model)
    assert loaded.dtype_policy.name == "mixed_bfloat16"
    assert loaded.get_config()["trainable"] is True
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)
