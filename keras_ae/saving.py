"""Safe loading and atomic saving of ``.keras`` model files.

``load_model`` always deserializes in Keras' safe mode: a file whose config holds Python
code (a ``Lambda`` layer's lambda, a marshalled function) is refused with a message that
names the risk, even if ``keras.config.enable_unsafe_deserialization()`` was called
elsewhere in the process. ``save_model`` writes to a temporary sibling and renames it into
place, so a process killed mid-save never leaves a truncated ``.keras`` file behind.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import keras

from keras_ae.errors import InputValidationError, KerasAEError

class UnsafeModelError(InputValidationError):
    """A model file that can only be loaded by running code stored in it (refused)."""


def register_model_classes() -> None:
    """Registers every keras_ae model family with Keras (see :mod:`keras_ae.registry`).

    Importing :mod:`keras_ae.models` runs each family's ``register_family`` decorator,
    which registers the class for ``.keras`` loading; families of other packages register
    when their own module is imported.

    Example:
        >>> register_model_classes()
    """
    import keras_ae.models  # noqa: F401  (the import registers the families)


def _forced_safe_mode():
    """Keras lets a global ``enable_unsafe_deserialization()`` override ``safe_mode=True``;
    its (private) scope restores the guarantee. Without it, plain ``safe_mode=True`` applies."""
    try:
        from keras.src.saving.serialization_lib import SafeModeScope
    except ImportError:  # pragma: no cover - other Keras layouts
        return contextlib.nullcontext()
    return SafeModeScope(True)


def load_model(path: str | os.PathLike, compile: bool = True, safe_mode: bool = True) -> keras.Model:
    """Loads a ``.keras`` file with every keras_ae class registered, in safe mode.

    Args:
        path: A ``.keras`` file (Keras 3 format). Legacy ``.h5`` files and SavedModel
            folders are refused: they are not covered by Keras' safe mode.
        compile: Restore the optimizer and compile state too.
        safe_mode: Refuse files whose config embeds Python code (``Lambda`` layers). Pass
            ``False`` only for files from a source you trust.

    Returns:
        The model.

    Raises:
        FileNotFoundError: the file does not exist.
        InputValidationError: not a ``.keras`` file, or a config naming a class or
            function that is not Keras', keras_ae's or registered.
        UnsafeModelError: the file needs code execution to load (safe mode).

    Example:
        >>> model = load_model("runs/cli_denoising/model.keras")  # doctest: +SKIP
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No such model file: {path}")
    if path.suffix != ".keras":
        raise InputValidationError(
            f"{path} is not a .keras file; keras_ae loads only the Keras 3 format (legacy .h5 and SavedModel "
            "files can run code stored in them). Re-save the model with model.save('name.keras')."
        )
    register_model_classes()
    try:
        with _forced_safe_mode() if safe_mode else contextlib.nullcontext():
            return keras.saving.load_model(path, compile=compile, safe_mode=safe_mode)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, KerasAEError):
            raise
        cause = _root_cause(exc)
        if safe_mode and "safe_mode" in str(cause):
            raise UnsafeModelError(
                f"Refused to load {path}: it contains Python code (e.g. a Lambda layer) that would run on "
                "loading, which can execute arbitrary code. keras_ae loads models in safe mode. If you trust "
                f"the file's source, pass safe_mode=False. (Keras: {cause})"
            ) from exc
        # Keras nests one "could not be deserialized" per level; the innermost names the problem.
        raise InputValidationError(
            f"Could not load {path}: {cause} (only classes of Keras and keras_ae, or ones you register with "
            "keras.saving.register_keras_serializable, can be loaded)."
        ) from exc


def _root_cause(exc: BaseException) -> BaseException:
    seen = {id(exc)}
    while (exc.__cause__ or exc.__context__) is not None and id(exc.__cause__ or exc.__context__) not in seen:
        exc = exc.__cause__ or exc.__context__
        seen.add(id(exc))
    return exc


def is_inside(path: str | os.PathLike, base: str | os.PathLike) -> bool:
    """Whether ``path`` resolves (symlinks followed) to ``base`` or somewhere below it.

    Example:
        >>> is_inside("runs/x", "."), is_inside("../x", ".")
        (True, False)
    """
    real_base, real_path = os.path.realpath(base), os.path.realpath(path)
    return os.path.commonpath([real_base, real_path]) == real_base


def save_model(model: keras.Model, path: str | os.PathLike) -> Path:
    """Saves ``model`` to ``path`` atomically (temporary file, then rename).

    Args:
        model: Any Keras model.
        path: Destination, ending in ``.keras``; its folder is created.

    Returns:
        ``path`` as a ``Path``.

    Example:
        >>> save_model(model, "runs/demo/model.keras")  # doctest: +SKIP
        PosixPath('runs/demo/model.keras')
    """
    path = Path(path)
    if path.suffix != ".keras":
        raise InputValidationError(f"Model files must end in .keras, got {path}.")
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.stem}.{os.getpid()}.partial.keras")
    try:
        model.save(temporary)
        os.replace(temporary, path)  # atomic on one file system
    finally:
        temporary.unlink(missing_ok=True)
    return path


__all__ = ["UnsafeModelError", "is_inside", "load_model", "register_model_classes", "save_model"]
