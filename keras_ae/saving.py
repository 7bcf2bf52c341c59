"""Safe loading and atomic saving of ``.keras`` model files.

``load_model`` always deserializes in Keras' safe mode: a file whose config holds Python
code (a ``Lambda`` layer's lambda, a marshalled function) is refused with a message that
names the risk, even if ``keras.config.enable_unsafe_deserialization()`` was called
elsewhere in the process. ``save_model`` writes to a temporary sibling and renames it into
place, so a process killed mid-save never leaves a truncated ``.keras`` file behind.

Before Keras reads anything, ``load_model`` checks the archive: a bounded number and size
of zip members, a ``config.json`` that builds a model (in safe mode), and a
``model.weights.h5`` whose every dataset fits that model's variables. A crafted file
(a tiny archive declaring a multi-gigabyte dataset, garbage bytes, a missing member) is
refused with one :class:`~keras_ae.errors.InputValidationError` before any large
allocation.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import zipfile
import zlib
from pathlib import Path
from typing import Any

import keras

from keras_ae.atomic import write_atomically
from keras_ae.errors import InputValidationError, KerasAEError

CONFIG_FILE, WEIGHTS_FILE = "config.json", "model.weights.h5"
MAX_CONFIG_BYTES = 64 * 2**20  # a config.json is a few KiB; 64 MiB leaves room for any real model
MAX_MEMBERS = 1_000  # Keras writes 3 members (plus assets of e.g. lookup layers)
MAX_OTHER_BYTES = 256 * 2**20  # metadata.json and assets/, in total
MAX_H5_OBJECTS = 1_000_000  # groups and datasets walked in model.weights.h5
# Saved state per model parameter: the weight, Adam's two slots, AMSGrad's third, an EMA copy.
WEIGHTS_SLACK = 5
WEIGHTS_OVERHEAD = 16 * 2**20  # HDF5 headers, scalars (step counters, learning rates), metric state
SMALL_DATASET = 2**16  # elements: state this small may have any shape (metrics, scalars)
IN_MEMORY_WEIGHTS = 256 * 2**20  # read model.weights.h5 into memory for the check up to this size
# Compressed chunks inflated (in bounded pieces) by the check: h5py's automatic chunks hold 8 KiB to
# 1 MiB, so 100,000 chunks cover gigabytes of compressed weights; a walk of that many takes about a second.
MAX_FILTERED_CHUNKS = 100_000
INFLATE_PIECE = 2**20  # bytes inflated at a time when checking a compressed chunk

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
        InputValidationError: not a ``.keras`` file; a broken one (not a zip, truncated,
            missing or garbage members, a config that does not build); members or weight
            datasets larger than the model needs; or a config naming a class or
            function that is not Keras', keras_ae's or registered.
        UnsafeModelError: the file needs code execution to load (safe mode).

    Example:
        >>> path = save_model(build_dense_ae((8, 8, 1), code_dim=4), tmp_dir / "model.keras")
        >>> model = load_model(path)
        >>> type(model).__name__, model.encode(x_digits_test[:2]).shape
        ('AutoEncoder', (2, 4))
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
            check_keras_file(path, compile=compile, safe_mode=safe_mode)
            return keras.saving.load_model(path, compile=compile, safe_mode=safe_mode)
    # What Keras, zipfile, json and h5py raise on a broken or hostile file (RecursionError:
    # a deeply nested config; RuntimeError covers it). Our own errors pass through unchanged.
    except (TypeError, ValueError, KeyError, IndexError, AttributeError, OSError, EOFError, RuntimeError,
            zipfile.BadZipFile, zlib.error) as exc:
        if isinstance(exc, KerasAEError):
            raise
        cause = _root_cause(exc)
        if isinstance(cause, KerasAEError):
            # A keras_ae constructor refused a value of the config (e.g. a size bound): Keras wraps
            # errors of nested objects in a TypeError; the refusal is the message, whatever the nesting.
            raise type(cause)(f"Could not load {path}: {cause}") from exc
        if safe_mode and "safe_mode" in str(cause):
            raise UnsafeModelError(
                f"Refused to load {path}: it contains Python code (e.g. a Lambda layer) that would run on "
                "loading, which can execute arbitrary code. keras_ae loads models in safe mode. If you trust "
                f"the file's source, pass safe_mode=False. (Keras: {_short(cause)})"
            ) from exc
        # Keras nests one "could not be deserialized" per level; the innermost names the problem.
        raise InputValidationError(
            f"Could not load {path}: {type(cause).__name__}: {_short(cause)} (a broken .keras file, or a class "
            "or function that is not Keras', keras_ae's or registered with "
            "keras.saving.register_keras_serializable)."
        ) from exc


def _short(value: Any, limit: int = 1000) -> str:
    """``str(value)`` cut to ``limit`` characters: a hostile file must not fill the terminal."""
    text = str(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _refuse(path: Path, problem: str) -> InputValidationError:
    return InputValidationError(f"Could not load {path}: {problem}. Re-save the model with model.save('name.keras').")


def _object_sharing_scope():
    """Keras' loader shares objects (e.g. one dtype policy) across the config; so does the check."""
    try:
        from keras.src.saving.serialization_lib import ObjectSharingScope
    except ImportError:  # pragma: no cover - other Keras layouts
        return contextlib.nullcontext()
    return ObjectSharingScope()


def check_keras_file(path: str | os.PathLike, compile: bool = True, safe_mode: bool = True) -> None:
    """Checks a ``.keras`` archive before Keras reads it; raises on anything off.

    Bounds the zip (member count, declared sizes), builds the model from ``config.json``
    (safe mode applies), then compares every dataset of ``model.weights.h5`` with that
    model's variables: a dataset larger than :data:`SMALL_DATASET` elements must have a
    variable's shape, and all together must fit ``WEIGHTS_SLACK`` times the model's
    parameter bytes (weights plus optimizer state) plus :data:`WEIGHTS_OVERHEAD`. Each
    dataset's storage is checked too: no external data, no resizable dataset, no chunk larger
    than its dataset, only gzip / shuffle / fletcher32 filters, and no compressed chunk that
    inflates past its declared size. Only metadata (and compressed chunks, a piece at a time)
    is read from the weights file, so a declared-but-empty huge dataset costs nothing.

    Args:
        path: The ``.keras`` file.
        compile: Whether the model will be compiled (its optimizer built) on loading.
        safe_mode: Keras' safe mode for building the model from its config.

    Raises:
        InputValidationError: the problem, named.

    Example:
        >>> folder = tmp_dir
        >>> check_keras_file(save_model(build_dense_ae((8, 8, 1), code_dim=4), folder / "model.keras"))
        >>> _ = (folder / "broken.keras").write_bytes(b"not a zip")
        >>> check_keras_file(folder / "broken.keras")
        Traceback (most recent call last):
        ...
        keras_ae.errors.InputValidationError: ...
    """
    path = Path(path)
    if not zipfile.is_zipfile(path):
        raise _refuse(path, "it is not a zip archive (a .keras file is one; truncated or not a Keras 3 file)")
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
        raise _refuse(path, f"a broken zip archive ({_short(exc, 200)})") from exc
    with archive:
        infos = archive.infolist()
        if len(infos) > MAX_MEMBERS:
            raise _refuse(path, f"the archive has {len(infos)} members, more than the {MAX_MEMBERS} allowed")
        members = {info.filename: info for info in infos}
        for name in (CONFIG_FILE, WEIGHTS_FILE):
            if name not in members:
                raise _refuse(path, f"the archive has no {name}")
        if members[CONFIG_FILE].file_size > MAX_CONFIG_BYTES:
            raise _refuse(path, f"{CONFIG_FILE} declares {members[CONFIG_FILE].file_size} bytes, more than the "
                                f"{MAX_CONFIG_BYTES} allowed")
        others = sum(info.file_size for name, info in members.items() if name not in (CONFIG_FILE, WEIGHTS_FILE))
        if others > MAX_OTHER_BYTES:
            raise _refuse(path, f"its metadata and assets declare {others} bytes, more than the {MAX_OTHER_BYTES} "
                                "allowed")
        try:
            # zipfile reads at most the declared size, which is bounded above.
            config = json.loads(archive.read(CONFIG_FILE))
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, UnicodeDecodeError, ValueError,
                RecursionError) as exc:
            raise _refuse(path, f"{CONFIG_FILE} is unreadable or not JSON ({type(exc).__name__}: "
                                f"{_short(exc, 200)})") from exc
        if not isinstance(config, dict) or not isinstance(config.get("class_name"), str):
            raise _refuse(path, f"{CONFIG_FILE} is not a Keras object config (a JSON object with a class_name)")
        if not compile:
            config["compile_config"] = None  # as Keras does: no optimizer state is built
        with _object_sharing_scope():
            model = keras.saving.deserialize_keras_object(config, safe_mode=safe_mode)
        if not isinstance(model, keras.Model):
            raise _refuse(path, f"{CONFIG_FILE} describes a {type(model).__name__:.100}, not a model")
        shapes, parameter_bytes = _variable_shapes(model)
        limit = WEIGHTS_SLACK * parameter_bytes + WEIGHTS_OVERHEAD
        declared = members[WEIGHTS_FILE].file_size
        if declared > limit + WEIGHTS_OVERHEAD:  # a few bytes of HDF5 structure per dataset on top
            raise _refuse(path, f"{WEIGHTS_FILE} declares {declared} bytes, far more than this model's "
                                f"{parameter_bytes} bytes of parameters need")
        try:
            source = (io.BytesIO(archive.read(WEIGHTS_FILE)) if declared <= IN_MEMORY_WEIGHTS
                      else archive.open(WEIGHTS_FILE))
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
            raise _refuse(path, f"{WEIGHTS_FILE} is unreadable ({type(exc).__name__}: {_short(exc, 200)})") from exc
        with source:
            problem = _weights_problem(source, shapes, limit, parameter_bytes)
        if problem:
            raise _refuse(path, problem)


def _variable_shapes(model: keras.Model) -> tuple[set[tuple[int, ...]], int]:
    """Shapes of every variable the file may store for ``model``, and its parameter bytes."""
    variables = list(model.variables)
    state = list(variables)
    optimizer = getattr(model, "optimizer", None)
    if isinstance(optimizer, keras.optimizers.Optimizer):
        state += list(optimizer.variables)
    state += list(getattr(model, "metrics_variables", []))
    shapes = {tuple(int(d) for d in v.shape) for v in state}
    parameter_bytes = sum(math.prod(int(d) for d in v.shape) * _itemsize(v.dtype) for v in variables)
    return shapes, parameter_bytes


def _itemsize(dtype: Any) -> int:
    import numpy as np

    try:
        return np.dtype(keras.backend.standardize_dtype(dtype)).itemsize
    except (TypeError, ValueError):
        return 8


def _weights_problem(source, shapes: set[tuple[int, ...]], limit: int, parameter_bytes: int) -> str | None:
    """What is wrong with the weights file (metadata only), or None."""
    import h5py

    try:
        weights = h5py.File(source, "r")
    except (OSError, ValueError) as exc:
        return f"{WEIGHTS_FILE} is not a valid HDF5 file ({_short(exc, 200)})"
    problems: list[str] = []
    state = {"objects": 0, "bytes": 0, "chunks": 0}

    def visit(name: str, obj) -> bool | None:
        state["objects"] += 1
        if state["objects"] > MAX_H5_OBJECTS:
            problems.append(f"{WEIGHTS_FILE} holds more than {MAX_H5_OBJECTS} objects")
            return True  # stops the walk
        if not isinstance(obj, h5py.Dataset):
            return None
        shape = obj.shape or ()  # None: an empty dataspace
        size = math.prod(shape)
        if size > SMALL_DATASET and tuple(shape) not in shapes:
            problems.append(f"dataset {name!r:.100} in {WEIGHTS_FILE} has shape {_short(shape, 100)}, which "
                            "matches none of the model's variables")
            return True
        state["bytes"] += size * obj.dtype.itemsize
        if state["bytes"] > limit:
            problems.append(f"the datasets of {WEIGHTS_FILE} declare more than {limit} bytes (at {name!r:.100}), "
                            f"far more than this model's {parameter_bytes} bytes of parameters and optimizer state")
            return True
        storage = _storage_problem(name, obj, state)  # after the cheap checks: it may inflate chunks
        if storage:
            problems.append(storage)
            return True
        return None

    with weights:
        try:
            weights.visititems(visit)
        except (OSError, ValueError, KeyError, RuntimeError) as exc:  # corrupt object headers
            return f"{WEIGHTS_FILE} is corrupt ({type(exc).__name__}: {_short(exc, 200)})"
    return problems[0] if problems else None


def _storage_problem(name: str, dataset, state: dict[str, int]) -> str | None:
    """What is wrong with how ``dataset`` is stored, or None.

    Keras writes fixed-size, contiguous, unfiltered datasets. A hostile file can keep a
    plausible shape and hide the bomb in the storage: HDF5 reads a whole chunk (up to 4 GiB)
    to return any part of it, and its deflate filter inflates a chunk's stream to whatever size
    the stream holds, whatever the chunk's declared size. So: no data outside the file, no
    resizable dataset, no chunk larger than its dataset, only the filters h5py's ``gzip``,
    ``shuffle`` and ``fletcher32`` options write, and every deflated chunk is inflated here,
    a piece at a time, to prove it holds no more than its chunk.
    """
    import h5py

    where = f"dataset {name!r:.100} in {WEIGHTS_FILE}"
    if dataset.external or dataset.is_virtual:
        return f"{where} keeps its data outside the file (external or virtual storage)"
    shape = dataset.shape or ()
    if dataset.maxshape is not None and tuple(dataset.maxshape) != tuple(shape):
        return (f"{where} is resizable (maxshape {_short(dataset.maxshape, 100)}, shape {_short(shape, 100)}); "
                "Keras writes fixed-size datasets")
    chunks = dataset.chunks
    if chunks is None:
        return None
    if any(c > max(d, 1) for c, d in zip(chunks, shape)):
        return (f"{where} has chunks of {_short(chunks, 100)}, larger than the dataset's shape "
                f"{_short(shape, 100)}; reading it would inflate the whole chunk")
    plist = dataset.id.get_create_plist()
    filters = [plist.get_filter(i)[0] for i in range(plist.get_nfilters())]
    allowed = {h5py.h5z.FILTER_DEFLATE, h5py.h5z.FILTER_SHUFFLE, h5py.h5z.FILTER_FLETCHER32}
    if any(f not in allowed for f in filters) or filters.count(h5py.h5z.FILTER_DEFLATE) > 1:
        return (f"{where} uses the HDF5 filters {_short(filters, 100)}; only gzip (once), shuffle and fletcher32 "
                "are accepted (Keras writes none)")
    if h5py.h5z.FILTER_DEFLATE not in filters:
        return None  # shuffle and fletcher32 do not grow the data
    deflate_bit = 1 << filters.index(h5py.h5z.FILTER_DEFLATE)
    # A fletcher32 checksum adds 4 bytes to what deflate holds when it comes first in the pipeline.
    chunk_bytes = math.prod(chunks) * dataset.dtype.itemsize + 4 * filters.count(h5py.h5z.FILTER_FLETCHER32)
    for index in range(dataset.id.get_num_chunks()):
        state["chunks"] += 1
        if state["chunks"] > MAX_FILTERED_CHUNKS:
            return f"{WEIGHTS_FILE} holds more than {MAX_FILTERED_CHUNKS} compressed chunks"
        offset = dataset.id.get_chunk_info(index).chunk_offset
        mask, raw = dataset.id.read_direct_chunk(offset)
        if mask & deflate_bit:
            continue  # stored uncompressed: no larger than what the file holds
        inflated = _inflated_size(raw, chunk_bytes)
        if inflated is None:
            return f"{where} has a chunk at {offset} that is not a valid gzip (zlib) stream"
        if inflated > chunk_bytes:
            return (f"{where} has a chunk at {offset} that inflates from {len(raw)} to more than {chunk_bytes} "
                    "bytes, its declared chunk size (a decompression bomb)")
    return None


def _inflated_size(raw: bytes, limit: int) -> int | None:
    """Bytes the zlib stream ``raw`` inflates to, counted up to just past ``limit`` in
    :data:`INFLATE_PIECE` steps (bounded memory); None for a broken stream."""
    inflater = zlib.decompressobj()
    produced, data = 0, raw
    try:
        while not inflater.eof and produced <= limit:
            piece = inflater.decompress(data, INFLATE_PIECE)
            data = inflater.unconsumed_tail
            if not piece and not data:
                return None  # the stream ends early: HDF5 refuses it too
            produced += len(piece)
    except zlib.error:
        return None
    return produced


def _root_cause(exc: BaseException) -> BaseException:
    seen = {id(exc)}
    while (exc.__cause__ or exc.__context__) is not None and id(exc.__cause__ or exc.__context__) not in seen:
        exc = exc.__cause__ or exc.__context__
        seen.add(id(exc))
    return exc


def is_inside(path: str | os.PathLike, base: str | os.PathLike) -> bool:
    """Whether ``path`` resolves (symlinks followed) to ``base`` or somewhere below it.

    Both are resolved with ``os.path.realpath`` (a relative path against the current folder;
    neither needs to exist), so ``..`` and symbolic links cannot lead out of ``base``.

    Args:
        path: The path to check.
        base: The folder it must stay in.

    Returns:
        ``True`` when the resolved ``path`` is the resolved ``base`` or below it.

    Example:
        >>> is_inside("/srv/data/runs/x", "/srv/data"), is_inside("/srv/data/../x", "/srv/data")
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
        >>> folder = tmp_dir
        >>> save_model(build_dense_ae((8, 8, 1), code_dim=4), folder / "demo" / "model.keras").relative_to(folder)
        PosixPath('demo/model.keras')
        >>> sorted(p.name for p in (folder / "demo").iterdir())  # no temporary file is left
        ['model.keras']
    """
    path = Path(path)
    if path.suffix != ".keras":
        raise InputValidationError(f"Model files must end in .keras, got {path}.")
    return write_atomically(path, model.save)


__all__ = ["UnsafeModelError", "check_keras_file", "is_inside", "load_model", "register_model_classes", "save_model"]
