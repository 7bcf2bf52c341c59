"""Layers point down: every import in keras_ae/, module-level or inside a function, goes to
the same floor or a lower one.

From the ground up: the foundation (``errors``, ``registry``, ``validation`` and its in-graph
twin ``graph_checks``, ``version``, ``random``, ``replicas``); ``data/`` and ``layers/``;
``training/``; ``models/``; then ``evaluation/``, ``applications/``, ``export/``, the CLI. The
checker reads the source with ``ast`` (``import x``, ``from x import y``, relative imports
resolved, at any depth: inside functions, classes, ``if TYPE_CHECKING:`` blocks), so a lazy
import inside a function counts like one at the top of the file.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

import keras_ae

PACKAGE = Path(keras_ae.__file__).parent
TOP = "keras_ae"  # the package itself: importing it imports every family

FOUNDATION = ("keras_ae.errors", "keras_ae.registry", "keras_ae.validation", "keras_ae.graph_checks",
              "keras_ae.version", "keras_ae.random", "keras_ae.replicas", "keras_ae.atomic")


@dataclass(frozen=True)
class Rule:
    """Modules under ``sources`` may import (of keras_ae) only ``allowed``, or anything but ``forbidden``."""

    text: str
    sources: tuple[str, ...]
    allowed: tuple[str, ...] | None = None
    forbidden: tuple[str, ...] = ()

    def applies_to(self, module: str) -> bool:
        return _under(module, self.sources)

    def refuses(self, target: str) -> bool:
        if self.allowed is not None:
            return not _under(target, self.allowed)
        return target == TOP or _under(target, self.forbidden)


RULES = (
    Rule("the foundation (errors, registry, validation, graph_checks, version, random, replicas) imports nothing "
         "of keras_ae above it", sources=FOUNDATION, allowed=FOUNDATION),
    Rule("data/ and layers/ import neither training/ nor models/ (only the foundation, data/ and layers/)",
         sources=("keras_ae.data", "keras_ae.layers"),
         allowed=(*FOUNDATION, "keras_ae.data", "keras_ae.layers")),
    Rule("training/ imports no models/, layers/ or plotting/ (only the foundation, data/ and training/)",
         sources=("keras_ae.training",), allowed=(*FOUNDATION, "keras_ae.data", "keras_ae.training")),
    Rule("evaluation/ imports no models/ (nor the keras_ae package itself, which imports every family)",
         sources=("keras_ae.evaluation",), forbidden=("keras_ae.models",)),
)


@dataclass(frozen=True)
class Violation:
    path: str
    line: int
    module: str
    target: str
    rule: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.module} imports {self.target}, but {self.rule}"


def _under(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def module_name(path: Path, root: Path = PACKAGE) -> str:
    """``keras_ae/training/trainer.py`` -> ``keras_ae.training.trainer``; a package's ``__init__`` -> the package."""
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_modules(root: Path = PACKAGE) -> dict[str, Path]:
    """Every module of the package, by dotted name."""
    return {module_name(p, root): p for p in sorted(root.rglob("*.py"))}


def imported_modules(source: str, module: str, is_package: bool, known: set[str]) -> list[tuple[int, str]]:
    """``(line, keras_ae module)`` for every import in ``source``, at any depth.

    ``from pkg import name`` names the submodule ``pkg.name`` when one exists, else ``pkg``
    itself (an attribute of it); relative imports are resolved against ``module``.

    Example:
        >>> imported_modules("def f():\\n    from ..models import base\\n", "keras_ae.data.x", False,
        ...                  {"keras_ae.models", "keras_ae.models.base"})
        [(2, 'keras_ae.models.base')]
    """
    package = module if is_package else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                origin = f"{base}.{node.module}" if node.module else base
            else:
                origin = node.module or ""
            for alias in node.names:
                submodule = f"{origin}.{alias.name}"
                found.append((node.lineno, submodule if submodule in known else origin))
    return sorted({(line, target) for line, target in found if target == TOP or target.startswith(TOP + ".")})


def violations(source: str, module: str, path: str, is_package: bool = False,
               known: set[str] | None = None) -> list[Violation]:
    """The layering rules ``source`` (the text of ``module``) breaks, one per import and rule."""
    known = set(package_modules()) if known is None else known
    imports = imported_modules(source, module, is_package, known)
    return [Violation(path, line, module, target, rule.text)
            for rule in RULES if rule.applies_to(module)
            for line, target in imports if rule.refuses(target)]


def package_violations(root: Path = PACKAGE) -> list[Violation]:
    modules = package_modules(root)
    known = set(modules)
    found = []
    for name, path in modules.items():
        found += violations(path.read_text(), name, str(path.relative_to(root.parent)),
                            is_package=path.name == "__init__.py", known=known)
    return found


def test_every_import_in_the_package_points_down():
    found = package_violations()
    assert not found, "imports that point up a floor:\n" + "\n".join(map(str, found))


def test_the_checker_reads_every_module_of_every_floor():
    modules = package_modules()
    for floor in (*FOUNDATION, "keras_ae.data", "keras_ae.layers", "keras_ae.training", "keras_ae.evaluation"):
        assert any(_under(m, (floor,)) for m in modules), floor
    assert len(modules) > 50


def test_a_forbidden_import_inside_a_function_is_reported_with_module_line_and_rule():
    source = ('"""A training module."""\n'
              "import keras\n"
              "\n"
              "def helper():\n"
              "    from keras_ae.models.common import check_int\n"
              "    return check_int\n")
    found = violations(source, "keras_ae.training.helper", "keras_ae/training/helper.py")
    assert len(found) == 1
    message = str(found[0])
    assert message.startswith("keras_ae/training/helper.py:5: keras_ae.training.helper imports keras_ae.models.common")
    assert "training/ imports no models/" in message


@pytest.mark.parametrize("module,source,target,rule", [
    ("keras_ae.layers.x", "from ..training import distribute\n", "keras_ae.training.distribute", "data/ and layers/"),
    ("keras_ae.data.x", "import keras_ae.models.base as base\n", "keras_ae.models.base", "data/ and layers/"),
    ("keras_ae.random", "from keras_ae.data import corruption\n", "keras_ae.data.corruption", "the foundation"),
    ("keras_ae.training.callbacks.x", "class C:\n    def f(self):\n        from ...plotting import grids\n",
     "keras_ae.plotting.grids", "training/"),
    ("keras_ae.training.x", "from keras_ae.layers.k_sparse import KSparse\n", "keras_ae.layers.k_sparse", "training/"),
    ("keras_ae.evaluation.x", "from keras_ae import models\n", "keras_ae.models", "evaluation/"),
    ("keras_ae.evaluation.x", "from keras_ae import __version__\n", "keras_ae", "evaluation/"),
])
def test_each_rule_refuses_an_upward_import_however_it_is_spelled(module, source, target, rule):
    found = violations(source, module, module.replace(".", "/") + ".py")
    assert [(v.target, v.rule.split(" ")[0]) for v in found] == [(target, rule.split(" ")[0])], found


def test_imports_on_the_same_floor_or_below_are_accepted():
    cases = [
        ("keras_ae.layers.x", "from keras_ae.random import batch_noise\nfrom keras_ae.data.corruption import C\n"),
        ("keras_ae.training.x", "from .pipeline import p\nfrom keras_ae.replicas import nonempty_batch\n"),
        ("keras_ae.evaluation.x", "def f():\n    from keras_ae.training.batches import iterate_batches\n"),
        ("keras_ae.models.x", "from keras_ae.plotting import save_image_grid\n"),
        ("keras_ae.validation", "from keras_ae.errors import InputValidationError\n"),
    ]
    for module, source in cases:
        assert violations(source, module, "x.py") == [], (module, source)


@pytest.mark.slow
def test_an_upward_import_injected_into_a_real_module_fails_the_package_check(tmp_path):
    import shutil

    copy = tmp_path / "keras_ae"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    corruption = copy / "data" / "corruption.py"
    text = corruption.read_text()
    injected = "\n\ndef _late():\n    from keras_ae.training.trainer import Trainer\n    return Trainer\n"
    corruption.write_text(text + injected)
    line = len(text.splitlines()) + 4
    found = [v for v in package_violations(copy) if v not in package_violations()]
    assert [str(v) for v in found] == [
        f"keras_ae/data/corruption.py:{line}: keras_ae.data.corruption imports keras_ae.training.trainer, "
        f"but {RULES[1].text}"]
