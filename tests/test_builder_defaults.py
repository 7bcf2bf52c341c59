"""A builder and its family class agree on the defaults of the arguments the builder passes on.

``build_vae(beta=...)`` and ``VAE(beta=...)`` both declare a default (the builder for its
signature and docs, the class for ``.keras`` files and direct construction): a default
changed in one place only would make ``build_vae()`` and ``VAE(encoder, decoder, ...)``
different models. The few deliberate differences are listed with their reason.
"""

from __future__ import annotations

import inspect
import typing

import keras
import pytest

import keras_ae  # noqa: F401  (registers every builder)
from keras_ae.registry import BUILDERS

# (builder, argument) -> why the builder's default differs from its class's.
DELIBERATE = {
    ("gan", "data_range"): "the builder makes a sigmoid generator; the class infers the range ('auto')",
    ("dcgan", "data_range"): "the builder makes a sigmoid generator; the class infers the range ('auto')",
    ("conditional_gan", "data_range"): "the builder makes a sigmoid generator; the class infers the range ('auto')",
    ("conditional_gan", "num_classes"): "the builder is class-conditional (MNIST's 10); the class defaults to none",
    ("conv1d", "loss"): "series windows are standardized, so squared error; the AutoEncoder class defaults to BCE",
    ("tied", "output_activation"): "None: the builder derives it from the loss; the class takes the activation",
    ("vqvae", "prior"): "the builder's flag builds a prior; the class takes the prior model or None",
}


def _shared_defaults(name: str):
    builder = BUILDERS[name]
    cls = typing.get_type_hints(builder)["return"]
    built = inspect.signature(builder).parameters
    declared = inspect.signature(cls.__init__).parameters
    for arg, parameter in built.items():
        other = declared.get(arg)
        if arg == "name" or other is None or inspect.Parameter.empty in (parameter.default, other.default):
            continue
        yield arg, parameter.default, other.default


def _model_builders() -> list[str]:
    names = []
    for name, builder in sorted(BUILDERS.items()):
        cls = typing.get_type_hints(builder).get("return")
        if isinstance(cls, type) and issubclass(cls, keras.Model) and cls is not keras.Model:
            names.append(name)
    return names


def test_every_registered_builder_names_its_model_class():
    # The check below reads the class from the return annotation: a builder without one would be skipped.
    assert _model_builders() == sorted(BUILDERS), sorted(set(BUILDERS) - set(_model_builders()))


@pytest.mark.parametrize("name", _model_builders())
def test_builder_and_class_share_their_defaults(name):
    differ = {(arg, mine, theirs) for arg, mine, theirs in _shared_defaults(name)
              if (name, arg) not in DELIBERATE and not (mine is theirs or mine == theirs)}
    assert not differ, f"{BUILDERS[name].__name__} and its class disagree on (argument, builder, class): {differ}"


def test_every_deliberate_difference_still_exists():
    # An entry whose defaults agree again (or whose argument is gone) is removed from DELIBERATE.
    found = {(name, arg) for name in _model_builders() for arg, mine, theirs in _shared_defaults(name)
             if not (mine is theirs or mine == theirs)}
    assert set(DELIBERATE) == found
