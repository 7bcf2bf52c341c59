"""Every public name has type hints and a docstring with Args, Returns and an example.

Two sets are checked. The documented API is what the documentation site's API pages list:
the ``__all__`` of ``keras_ae`` and of its public sub-packages (``docs/api/*.md``), which
mkdocstrings renders, so a missing section is a hole in the reference a user reads. The public
names of every module (its ``__all__``, else every name without a leading underscore defined
there) are what ``help()`` and an editor show a user of a sub-module such as
``keras_ae.data.tfds`` or ``keras_ae.random``; they meet the same standard.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

PACKAGES = ("keras_ae", "keras_ae.models", "keras_ae.data", "keras_ae.evaluation", "keras_ae.export",
            "keras_ae.layers", "keras_ae.plotting", "keras_ae.training", "keras_ae.applications")


def _documented_objects() -> dict[str, object]:
    """``qualified name -> function or class`` of every name the API pages list (each object once)."""
    found = {}
    for package in PACKAGES:
        module = importlib.import_module(package)
        for name in module.__all__:
            obj = getattr(module, name)
            if (inspect.isfunction(obj) or inspect.isclass(obj)) and obj.__module__.startswith("keras_ae"):
                found.setdefault(f"{obj.__module__}.{obj.__qualname__}", obj)
    return found


OBJECTS = _documented_objects()


def _public_objects() -> dict[str, object]:
    """``qualified name -> function or class`` of the public names of every keras_ae module."""
    import keras_ae

    found = {}
    for info in pkgutil.walk_packages(keras_ae.__path__, "keras_ae."):
        if info.name == "keras_ae.__main__":  # importing it runs the command line
            continue
        module = importlib.import_module(info.name)
        names = getattr(module, "__all__", None)
        for name in names if names is not None else [n for n in vars(module) if not n.startswith("_")]:
            obj = getattr(module, name)
            if (inspect.isfunction(obj) or inspect.isclass(obj)) and obj.__module__ == module.__name__:
                found.setdefault(f"{obj.__module__}.{obj.__qualname__}", obj)
    return found


PUBLIC = _public_objects()


def _problems(obj) -> list[str]:
    doc = inspect.getdoc(obj) or ""
    if not doc:
        return ["no docstring"]
    problems = []
    if not (inspect.isclass(obj) and issubclass(obj, BaseException)) and ">>>" not in doc and "```" not in doc:
        problems.append("no example")
    if inspect.isfunction(obj):
        signature = inspect.signature(inspect.unwrap(obj))
        parameters = [p for p in signature.parameters.values() if p.name not in ("self", "cls")]
        if parameters and "Args:" not in doc:
            problems.append("no Args:")
        if signature.return_annotation not in (None, "None") and "Returns:" not in doc and "Yields:" not in doc:
            problems.append("no Returns:")
        unannotated = [p.name for p in parameters if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
                       and p.annotation is inspect.Parameter.empty]
        if unannotated:
            problems.append(f"parameters without a type hint: {unannotated}")
        if signature.return_annotation is inspect.Signature.empty:
            problems.append("no return annotation")
    return problems


def test_the_documented_api_is_large_enough_to_mean_something():
    # Guards the collection: an import that stopped exporting names would make the next test vacuous.
    assert len(OBJECTS) > 150
    assert "keras_ae.models.dense.build_dense_ae" in OBJECTS


@pytest.mark.parametrize("name", sorted(OBJECTS))
def test_documented_name_has_hints_args_returns_and_an_example(name):
    assert not _problems(OBJECTS[name]), f"{name}: {_problems(OBJECTS[name])}"


def test_every_module_is_walked():
    # Guards the walk: sub-modules that no package __all__ lists are part of it.
    assert len(PUBLIC) > 500 and set(OBJECTS) <= set(PUBLIC)
    walked = {"keras_ae.data.tfds.prepare_command", "keras_ae.random.wrap_int", "keras_ae.atomic.write_atomically"}
    assert walked <= set(PUBLIC)


@pytest.mark.parametrize("name", sorted(set(PUBLIC) - set(OBJECTS)))
def test_public_name_of_every_module_has_hints_args_returns_and_an_example(name):
    assert not _problems(PUBLIC[name]), f"{name}: {_problems(PUBLIC[name])}"


def test_the_check_finds_each_missing_part():
    def bare(x, y=1):
        return x

    def documented(x: int) -> int:
        """One line.

        Args:
            x: A number.

        Returns:
            ``x``.

        Example:
            >>> documented(1)
            1
        """
        return x

    assert _problems(documented) == []
    assert _problems(bare) == ["no docstring"]
    bare.__doc__ = "One line, no sections."
    assert _problems(bare) == ["no example", "no Args:", "no Returns:",
                               "parameters without a type hint: ['x', 'y']", "no return annotation"]
