"""The one registry of model families: export, safe loading, the CLI and the tests read it.

A model class declares its family once, with :func:`register_family`::

    @register_family("vae", serving_default="reconstruct")
    class VAE(AutoEncoder):
        def serving_endpoints(self, options): ...   # the export signatures, beside the class

The decorator registers the class with Keras (``.keras`` files load it, in safe mode too)
and records it here; :func:`register_builder` names a builder for ``keras-ae train NAME``.
Lookups walk the class hierarchy (:func:`family_of`), so a subclass is served by its
closest registered base and moving a class to another module changes nothing. Adding a
family = its module(s) + one import line in ``keras_ae/models/__init__.py``.

This module imports no keras_ae model, so every other module may import it.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Callable

import keras

from keras_ae.errors import InputValidationError

_FAMILY_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}\Z")


@dataclasses.dataclass
class Family:
    """One registered model family.

    Attributes:
        name: Family name (``"vae"``): recorded in export metadata, listed by the CLI.
        cls: The class that declared it; its subclasses belong to it unless they declare
            a family of their own.
        serving_default: The export signature served as ``serving_default`` (``None``:
            the parent family's).
        endpoints: ``(model, ExportOptions) -> list[Endpoint]`` for classes that are not
            keras_ae models; keras_ae models define ``serving_endpoints(options)`` instead.
        describe: ``model -> dict`` of facts for the export metadata (default: the
            model's ``serving_metadata()`` if it has one).

    Example:
        >>> family = family_of(VAE)
        >>> family.name, family.serving_default, family.cls is VAE
        ('vae', 'reconstruct', True)
    """

    name: str
    cls: type
    serving_default: str | None = None
    endpoints: Callable[..., list] | None = None
    describe: Callable[[Any], dict] | None = None

    @property
    def qualified_name(self) -> str:
        """``module.Class`` of the declaring class."""
        return f"{self.cls.__module__}.{self.cls.__qualname__}"


# Declaring class -> its family, in registration order.
FAMILIES: dict[type, Family] = {}
# ``keras-ae train NAME`` -> builder function.
BUILDERS: dict[str, Callable[..., keras.Model]] = {}


def register_family(name: str, serving_default: str | None = None, describe: Callable[[Any], dict] | None = None,
                    serializable: bool = True) -> Callable[[type], type]:
    """Class decorator: ``cls`` (and its subclasses) form the model family ``name``.

    Args:
        name: Lower-case family name (``"vae"``), unique among registered families.
        serving_default: Name of the export signature that is also ``serving_default``;
            ``None`` inherits the parent family's.
        describe: Optional ``model -> dict`` of export metadata facts.
        serializable: Also register the class with Keras (package ``keras_ae``), so
            ``.keras`` files that hold it load.

    Returns:
        The decorator; it sets ``cls.family = name`` and returns ``cls``.

    Example:
        >>> @register_family("doc_toy", serving_default="reconstruct")
        ... class DocToy(keras.Model):
        ...     pass
        >>> family_of(DocToy()).name, DocToy.family
        ('doc_toy', 'doc_toy')
        >>> unregister_family(DocToy)
    """
    if not isinstance(name, str) or not _FAMILY_NAME.match(name):
        raise InputValidationError(
            f"A family name is lower-case letters, digits and '_' (e.g. 'my_vae'), got {name!r:.60}.")

    def decorator(cls: type) -> type:
        for other in FAMILIES.values():
            if other.name == name and other.cls.__qualname__ != cls.__qualname__:
                raise InputValidationError(f"Family {name!r} is already declared by {other.qualified_name}; "
                                           "choose another name or unregister_family() the other class first.")
        if serializable:
            keras.saving.register_keras_serializable(package="keras_ae")(cls)
        cls.family = name
        FAMILIES[cls] = Family(name, cls, serving_default, describe=describe)
        return cls

    return decorator


def register_serving(cls: type, name: str, default: str, describe: Callable[[Any], dict] | None = None
                     ) -> Callable[[Callable[..., list]], Callable[..., list]]:
    """Registers export signatures for a class that does not define ``serving_endpoints``.

    For model classes outside keras_ae (any ``keras.Model``); keras_ae's own families
    define the signatures as a ``serving_endpoints(options)`` method instead.

    Args:
        cls: The model class (its subclasses are served too).
        name: Family name for the export metadata.
        default: The endpoint served as ``serving_default``.
        describe: Optional ``model -> dict`` of metadata facts.

    Returns:
        A decorator for the ``(model, options) -> list[Endpoint]`` function.

    Example:
        >>> class Mine(keras.Model):
        ...     pass
        >>> @register_serving(Mine, "mine", default="predict")
        ... def my_endpoints(model, options):
        ...     return []
        >>> family_of(Mine()).name
        'mine'
        >>> unregister_family(Mine)
    """
    def decorator(fn):
        FAMILIES[cls] = Family(name, cls, default, endpoints=fn, describe=describe)
        return fn

    return decorator


def unregister_family(cls: type) -> None:
    """Removes ``cls``'s family and the builders registered with it (for tests and notebooks).

    Example:
        >>> unregister_family(type("NotRegistered", (), {}))  # nothing to remove: no error
    """
    family = FAMILIES.pop(cls, None)
    if family is None:
        return
    for key, builder in list(BUILDERS.items()):
        if getattr(builder, "_keras_ae_family", None) is cls:
            del BUILDERS[key]


def register_builder(name: str, family: type | None = None) -> Callable:
    """Function decorator: ``keras-ae train NAME`` builds a model with this function.

    The builder takes the dataset's example shape first and keyword arguments (``-p``
    flags, a config file's ``params``) after it.

    Args:
        name: The command-line name (``"denoising"``).
        family: The family's class, so that :func:`unregister_family` removes the builder too.

    Returns:
        The decorator (returns the function unchanged).

    Example:
        >>> @register_builder("doc_dense")
        ... def build_doc_dense(input_shape, units=4):
        ...     return keras.Sequential([keras.Input(input_shape), keras.layers.Dense(units)])
        >>> BUILDERS.pop("doc_dense") is build_doc_dense
        True
    """
    if not isinstance(name, str) or not _FAMILY_NAME.match(name):
        raise InputValidationError(
            f"A builder name is lower-case letters, digits and '_' (e.g. 'my_dense'), got {name!r:.60}.")

    def decorator(fn: Callable) -> Callable:
        if name in BUILDERS and BUILDERS[name].__qualname__ != fn.__qualname__:
            raise InputValidationError(f"Builder {name!r} is already registered ({BUILDERS[name].__qualname__}); "
                                       "choose another name.")
        if family is not None:
            fn._keras_ae_family = family
        BUILDERS[name] = fn
        return fn

    return decorator


def _families_along_mro(obj: Any):
    """The registered families of ``obj``'s class and its bases, closest first."""
    cls = obj if isinstance(obj, type) else type(obj)
    return (FAMILIES[base] for base in cls.__mro__ if base in FAMILIES)


def family_of(obj: Any) -> Family | None:
    """The family of a model (or class): its closest registered class in the MRO.

    Args:
        obj: A model instance or a class.

    Returns:
        The :class:`Family`, or ``None`` for a class with no registered base.

    Example:
        >>> family_of(keras.Model) is None
        True
    """
    return next(_families_along_mro(obj), None)


def serving_default_of(obj: Any) -> str | None:
    """The ``serving_default`` signature of a model: its family's, else the closest base family's.

    Args:
        obj: A model instance or a class.

    Returns:
        The first ``serving_default`` that is not ``None`` along the class hierarchy (closest
        family first), or ``None`` when no registered family sets one.

    Example:
        >>> serving_default_of(GAN), serving_default_of(VAE)
        ('generate', 'reconstruct')
        >>> serving_default_of(keras.Model) is None
        True
    """
    return next((f.serving_default for f in _families_along_mro(obj) if f.serving_default is not None), None)


def families() -> list[Family]:
    """Every registered family, in registration order.

    Returns:
        A fresh list of the :class:`Family` records (changing it leaves the registry as it is).

    Example:
        >>> {"autoencoder", "vae", "gan"} <= {f.name for f in families()}  # after import keras_ae
        True
    """
    return list(FAMILIES.values())


__all__ = ["BUILDERS", "FAMILIES", "Family", "families", "family_of", "register_builder", "register_family",
           "register_serving", "serving_default_of", "unregister_family"]
