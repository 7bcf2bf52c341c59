"""Public names say what they are: keras_ae.export is the package and the call, one
register_family, every family's builder at the package top, every layer in keras_ae.layers,
the version in a foundation module."""

from __future__ import annotations

import ast
import doctest
import importlib
import inspect
import pickle
import pkgutil
import sys
import types
from pathlib import Path

import pytest

import keras_ae
import keras_ae.models
from keras_ae import registry

PACKAGE = Path(keras_ae.__file__).parent


def test_import_keras_ae_export_as_m_gives_the_package_module():
    import keras_ae.export as m
    import keras_ae.export.exporter as exporter

    assert isinstance(m, types.ModuleType) and m.__name__ == "keras_ae.export"
    assert m is sys.modules["keras_ae.export"] is keras_ae.export
    assert exporter is sys.modules["keras_ae.export.exporter"]
    assert m.export is exporter.export and m.read_metadata is exporter.read_metadata


def test_keras_ae_export_called_as_documented_writes_a_servable_version(tmp_path):
    from keras_ae.export import export, read_metadata

    assert inspect.isfunction(export)  # `from keras_ae.export import export` is the function
    model = keras_ae.build_dense_ae((8, 8, 1), hidden=(8,), code_dim=2)
    path = keras_ae.export(model, "tiny_ae", base_dir=tmp_path, allow_untrained=True, uint8=False)
    assert path == tmp_path / "tiny_ae" / "1" and (path / "saved_model.pb").is_file()
    assert read_metadata(path)["family"] == "autoencoder"


def test_keras_ae_export_shows_the_exporters_signature_pickles_as_itself_and_collects_its_doctests():
    import keras_ae.export as m

    assert list(inspect.signature(keras_ae.export).parameters)[:2] == ["model", "name"]
    assert pickle.loads(pickle.dumps(keras_ae.export)) is m
    assert inspect.ismodule(m) and "export(" in inspect.getdoc(m)
    names = {test.name for test in doctest.DocTestFinder().find(m)}
    assert "keras_ae.export" in names  # the package's own example


def test_there_is_one_register_family_the_registrys():
    import keras_ae.export as m

    assert not hasattr(m, "register_family") and not hasattr(m.exporter, "register_family")
    defined = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            targets = [t.id for t in getattr(node, "targets", []) if isinstance(t, ast.Name)]
            if (isinstance(node, ast.FunctionDef) and node.name == "register_family") or "register_family" in targets:
                defined.append(str(path.relative_to(PACKAGE)))
    assert defined == ["registry.py"]


def test_every_builder_of_every_family_is_importable_from_keras_ae():
    builders = {name for name in keras_ae.models.__all__ if name.startswith("build_")}
    builders |= {builder.__name__ for builder in registry.BUILDERS.values()}  # the `keras-ae train` builders
    assert {"build_vqvae", "build_realnvp", "build_diffusion"} <= builders
    missing = sorted(builders - set(keras_ae.__all__))
    assert not missing, f"builders missing from keras_ae.__all__: {missing}"
    for name in builders:
        assert getattr(keras_ae, name) is getattr(keras_ae.models, name)
    namespace: dict = {}
    exec("from keras_ae import *", namespace)
    assert builders <= set(namespace)


def test_the_version_lives_in_a_foundation_module_that_no_module_bypasses():
    from keras_ae.version import __version__

    assert keras_ae.__version__ == __version__
    pyproject = (PACKAGE.parent / "pyproject.toml").read_text()
    assert f'version = "{__version__}"' in pyproject  # the installed distribution says the same
    submodules = {info.name for info in pkgutil.iter_modules([str(PACKAGE)])}
    # The command line (the top floor) may read the package top; no other module may.
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.name in ("__init__.py", "__main__.py", "cli.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "keras_ae" and node.level == 0:
                offenders += [f"{path.relative_to(PACKAGE)}: {a.name}" for a in node.names if a.name not in submodules]
    assert not offenders, offenders


@pytest.mark.parametrize("module, gone", [
    ("keras_ae.applications.visualization", ["vae_builder", "available_methods"]),
    ("keras_ae.applications.pretraining", ["contractive_builder", "pretraining_kinds", "comparison_kinds"]),
    ("keras_ae.applications.hashing", ["BinaryCode", "SemanticHashingAE", "build_hashing_ae", "ops"]),
    ("keras_ae.experiment", ["prebinarized"]),
    ("keras_ae.training.checkpoints", ["_normalized"]),
    ("keras_ae.cli", ["MAX_CONFIG_BYTES", "check_train_config", "read_config", "check_config_out"]),
])
def test_fallbacks_for_the_packages_own_modules_and_compatibility_aliases_are_gone(module, gone):
    module = importlib.import_module(module)
    assert [name for name in gone if hasattr(module, name)] == []


def test_every_application_method_and_pretraining_kind_is_available():
    from keras_ae.applications.pretraining import COMPARISON_KINDS, PRETRAINING_KINDS, build_pretraining_ae
    from keras_ae.applications.visualization import METHODS

    assert METHODS == ("pca", "autoencoder", "vae")
    assert COMPARISON_KINDS == PRETRAINING_KINDS + ("stacked",) and "contractive" in PRETRAINING_KINDS
    for kind in PRETRAINING_KINDS:
        assert build_pretraining_ae(kind, (8, 8, 1), hidden=(4,), code_dim=2).code_shape == (2,)


def test_every_layer_class_is_importable_from_keras_ae_layers():
    import keras

    import keras_ae.layers

    defined = set()
    for info in pkgutil.iter_modules([str(PACKAGE / "layers")]):
        module = importlib.import_module(f"keras_ae.layers.{info.name}")
        defined |= {name for name, obj in vars(module).items() if inspect.isclass(obj)
                    and issubclass(obj, keras.layers.Layer) and obj.__module__ == module.__name__}
    assert {"ClassBias", "ClassMap", "MaskedConv2D", "VectorQuantizer"} <= defined
    missing = sorted(defined - set(keras_ae.layers.__all__))
    assert not missing, f"layers missing from keras_ae.layers.__all__: {missing}"
    for name in keras_ae.layers.__all__:
        layer = getattr(keras_ae.layers, name)
        # Registered: a model using the layer loads from .keras without custom_objects.
        assert keras.saving.get_registered_object(keras.saving.get_registered_name(layer)) is layer, name
