"""Export keras_ae models as self-contained TensorFlow SavedModels for serving.

``export(model, "mnist_denoiser")`` writes ``saved_models/mnist_denoiser/<version>/``,
the layout TensorFlow Serving polls. The SavedModel holds only TensorFlow graphs and
variables: a process that imports nothing but ``tensorflow`` loads it with
``tf.saved_model.load`` (no keras, no keras_ae). Each model family contributes named
signatures with named inputs and outputs and a free batch dimension; the auto-encoder
family exports::

    serving_default = reconstruct   images -> reconstruction
    encode                          images -> code
    decode                          code   -> images
    denoise                         images -> denoised        (denoisers only)
    reconstruct_uint8, encode_uint8, denoise_uint8             (uint8 [0, 255] images)

Signatures check their inputs inside the graph (shape, finite values, value range), so a
client that sends a wrong shape gets an error naming the expected shape instead of a
crash deep inside a convolution. ``assets/keras_ae_metadata.json`` records the family,
input shape/dtype/range, code size, library versions and training metrics.

The export is atomic: it is written to a temporary sibling folder and renamed into
place, so an interrupted export never leaves a half-written version for a server to
load. New families plug in with :func:`register_family`.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import platform
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import keras
import numpy as np
import tensorflow as tf

from keras_ae.errors import InputValidationError, KerasAEError

DEFAULT_BASE_DIR = "saved_models"
METADATA_FILE = "keras_ae_metadata.json"
METADATA_FORMAT = "keras_ae.export/1"
_TMP_PREFIX = ".keras_ae-tmp-"
_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class ExportError(KerasAEError, ValueError):
    """A model that cannot be exported as asked (unbuilt, untrained, unknown family)."""


class ExportExistsError(KerasAEError, FileExistsError):
    """The export version folder exists already (pass ``overwrite=True`` to replace it)."""


# -- endpoints: one named signature each ------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Endpoint:
    """One exported signature: a ``tf.function`` with a fixed input signature.

    Attributes:
        name: Signature name (``"reconstruct"``).
        function: The ``tf.function``; its inputs are named after the ``TensorSpec`` names
            and it returns a dict, whose keys name the outputs.
        doc: One line for the metadata and the README.
        ranges: Value range of each float input that is checked in the graph.
    """

    name: str
    function: Any
    doc: str
    ranges: Mapping[str, tuple[float, float] | None] = dataclasses.field(default_factory=dict)


def tensor_spec(shape: Sequence[int | None], name: str, dtype: tf.DType = tf.float32) -> tf.TensorSpec:
    """A batched ``TensorSpec`` ``(None, *shape)`` named ``name``.

    Example:
        >>> tensor_spec((8, 8, 1), "images")
        TensorSpec(shape=(None, 8, 8, 1), dtype=tf.float32, name='images')
    """
    return tf.TensorSpec((None, *shape), dtype, name=name)


def _check_input(x: tf.Tensor, spec: tf.TensorSpec, value_range: tuple[float, float] | None, hint: str) -> tf.Tensor:
    """In-graph checks before any model op sees ``x``.

    The signature's ``TensorSpec`` alone is not enough: a served or graph-mode call with a
    tensor of the wrong shape reaches the kernels (e.g. oneDNN convolutions abort the
    process on a wrong rank), so ``EnsureShape`` runs first and names the expected shape.
    """
    x = tf.ensure_shape(x, spec.shape, name=f"check_{spec.name}_shape")
    if not x.dtype.is_floating:
        return x
    x = tf.debugging.assert_all_finite(x, f"`{spec.name}` contains NaN or infinite values.")
    if value_range is None:
        return x
    lo, hi = value_range
    message = f"`{spec.name}` must lie in [{lo:g}, {hi:g}].{(' ' + hint) if hint else ''}"
    checks = [
        tf.debugging.assert_greater_equal(x, tf.cast(lo, x.dtype), message=message),
        tf.debugging.assert_less_equal(x, tf.cast(hi, x.dtype), message=message),
    ]
    with tf.control_dependencies(checks):
        return tf.identity(x)


def make_endpoint(
    name: str,
    fn: Callable[..., Mapping[str, tf.Tensor]],
    inputs: Mapping[str, tf.TensorSpec],
    doc: str,
    ranges: Mapping[str, tuple[float, float] | None] | None = None,
    range_hint: str = "",
) -> Endpoint:
    """Wraps ``fn(**inputs) -> {output_name: tensor}`` as a checked, named signature.

    Args:
        name: Signature name.
        fn: Builds the outputs from keyword tensors named like ``inputs``.
        inputs: Input name -> ``TensorSpec`` (use ``None`` for the batch dimension).
        doc: One-line description.
        ranges: Input name -> inclusive value range checked in the graph.
        range_hint: Advice appended to a range error (e.g. "use reconstruct_uint8").

    Returns:
        An :class:`Endpoint`.

    Example:
        >>> ep = make_endpoint("double", lambda x: {"y": 2 * x},
        ...                    {"x": tensor_spec((3,), "x")}, "Doubles x.")
        >>> ep.function(tf.ones((1, 3)))["y"].numpy().tolist()
        [[2.0, 2.0, 2.0]]
    """
    ranges = dict(ranges or {})
    specs = [tf.TensorSpec(spec.shape, spec.dtype, name=key) for key, spec in inputs.items()]

    def signature(*args):
        checked = {s.name: _check_input(a, s, ranges.get(s.name), range_hint) for s, a in zip(specs, args)}
        outputs = fn(**checked)
        # Served outputs are float32 even under a mixed-precision policy.
        return {k: tf.identity(tf.cast(v, tf.float32) if v.dtype.is_floating else v, name=k) for k, v in outputs.items()}

    signature.__name__ = name
    return Endpoint(name, tf.function(signature, input_signature=specs, autograph=False), doc, ranges)


def to_uint8(images: tf.Tensor) -> tf.Tensor:
    """[0, 1] floats -> uint8 [0, 255] (clipped and rounded, as image files store them).

    Example:
        >>> to_uint8(tf.constant([0.0, 0.5, 1.2])).numpy().tolist()
        [0, 128, 255]
    """
    return tf.cast(tf.round(tf.clip_by_value(tf.cast(images, tf.float32), 0.0, 1.0) * 255.0), tf.uint8)


def uint8_endpoint(endpoint_name: str, fn: Callable, inputs: Mapping[str, tf.TensorSpec], image_inputs: Sequence[str],
                   image_outputs: Sequence[str], doc: str) -> Endpoint:
    """The uint8 variant of an image signature: 0-255 images in, scaled to [0, 1] in the graph.

    Args:
        endpoint_name: Signature name (by convention ``<name>_uint8``).
        fn: The float function, taking [0, 1] images.
        inputs: The float signature's inputs; ``image_inputs`` among them become uint8.
        image_inputs: Inputs sent as uint8 images.
        image_outputs: Outputs returned as uint8 images (others stay float32).
        doc: One-line description.

    Returns:
        An :class:`Endpoint`.

    Example:
        >>> ep = uint8_endpoint("id_uint8", lambda images: {"images": images},
        ...                     {"images": tensor_spec((2,), "images")}, ["images"], ["images"], "Identity.")
        >>> ep.function(tf.constant([[0, 255]], tf.uint8))["images"].numpy().tolist()
        [[0, 255]]
    """
    specs = {k: (tf.TensorSpec(s.shape, tf.uint8, name=k) if k in image_inputs else s) for k, s in inputs.items()}

    def scaled(**kwargs):
        kwargs = {k: (tf.cast(v, tf.float32) / 255.0 if k in image_inputs else v) for k, v in kwargs.items()}
        outputs = fn(**kwargs)
        return {k: (to_uint8(v) if k in image_outputs else v) for k, v in outputs.items()}

    return make_endpoint(endpoint_name, scaled, specs, doc)


# -- model families ----------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class ExportOptions:
    """Choices that apply to every family.

    Attributes:
        uint8: Add ``*_uint8`` signatures; ``None`` adds them when the model expects [0, 1] data.
        check_values: Check NaN/inf and the value range of float inputs in the graph.
    """

    uint8: bool | None = None
    check_values: bool = True


@dataclasses.dataclass(frozen=True)
class Family:
    """How to export one model family.

    Attributes:
        name: Family name recorded in the metadata (``"autoencoder"``).
        endpoints: ``(model, ExportOptions) -> list[Endpoint]``.
        default: The endpoint that is also ``serving_default``.
        describe: ``model -> dict`` of facts for the metadata (input, code size, ...).
    """

    name: str
    endpoints: Callable[[keras.Model, ExportOptions], list[Endpoint]]
    default: str
    describe: Callable[[keras.Model], dict] | None = None


# "module:QualName" of a model class -> its Family. Keys are strings so that exporting
# one family never imports the others (VAE/PixelCNN pull in TensorFlow Probability).
_FAMILIES: dict[str, Family] = {}


def _class_key(cls: type | str) -> str:
    return cls if isinstance(cls, str) else f"{cls.__module__}:{cls.__qualname__}"


def register_family(cls: type | str, name: str, default: str, describe: Callable[[keras.Model], dict] | None = None):
    """Registers the signatures of a model class (and its subclasses) for :func:`export`.

    Args:
        cls: The model class, or ``"module:ClassName"`` to avoid importing it.
        name: Family name for the metadata.
        default: Name of the endpoint served as ``serving_default``.
        describe: Optional ``model -> dict`` of metadata facts.

    Returns:
        A decorator for the ``(model, options) -> list[Endpoint]`` function.

    Example:
        >>> @register_family("my_pkg.models:MyModel", "mine", default="predict")
        ... def my_endpoints(model, options):
        ...     return [make_endpoint("predict", lambda x: {"y": model(x)},
        ...                           {"x": tensor_spec((4,), "x")}, "Predicts.")]
    """
    def decorator(fn):
        _FAMILIES[_class_key(cls)] = Family(name, fn, default, describe)
        return fn

    return decorator


def family_for(model: keras.Model) -> Family:
    """The registered family of ``model``: the closest registered class in its MRO.

    A model class that is not loaded cannot have instances, so this never imports.

    Raises:
        ExportError: no registered class among the model's bases.

    Example:
        >>> family_for(build_dense_ae(64)).name  # doctest: +SKIP
        'autoencoder'
    """
    for cls in type(model).__mro__:
        family = _FAMILIES.get(_class_key(cls))
        if family is not None:
            return family
    known = ", ".join(sorted(k.replace(":", ".") for k in _FAMILIES))
    raise ExportError(
        f"No export signatures are registered for {type(model).__name__}; exportable classes (and their "
        f"subclasses): {known}. Register yours with keras_ae.export.register_family."
    )


def _use_uint8(options: ExportOptions, value_range: tuple[float, float] | None) -> bool:
    return options.uint8 if options.uint8 is not None else tuple(value_range or ()) == (0.0, 1.0)


def _data_name(shape: Sequence[int | None]) -> str:
    return "images" if len(shape) == 3 else "inputs"


def _describe_autoencoder(model) -> dict:
    x_shape, code_shape = model.example_shape, model.code_shape
    corruption = model.corruption
    return {
        "input": {"name": _data_name(x_shape), "shape": [None, *x_shape], "dtype": "float32",
                  "range": list(model.input_range) if model.input_range else None},
        "code_shape": [None, *code_shape],
        "code_size": int(np.prod(code_shape)),
        "reconstruction_loss": model.loss_kind,
        "denoiser": corruption is not None,
        "corruption": None if corruption is None else {"noise": corruption.noise, "level": corruption.level,
                                                       "clip": list(corruption.clip) if corruption.clip else None},
    }


@register_family("keras_ae.models.base:AutoEncoder", "autoencoder", default="reconstruct", describe=_describe_autoencoder)
def autoencoder_endpoints(model, options: ExportOptions) -> list[Endpoint]:
    """Signatures of every :class:`~keras_ae.models.AutoEncoder` (dense, conv, tied, sparse,
    denoising, PCA, contractive): ``reconstruct``, ``encode``, ``decode``, ``denoise`` for
    denoisers, and ``*_uint8`` variants for [0, 1] image models.

    Example:
        >>> [e.name for e in autoencoder_endpoints(model, ExportOptions())]  # doctest: +SKIP
        ['reconstruct', 'encode', 'decode', 'reconstruct_uint8', 'encode_uint8']
    """
    x = _data_name(model.example_shape)
    x_spec = {x: tensor_spec(model.example_shape, x)}
    code_spec = {"code": tensor_spec(model.code_shape, "code")}
    value_range = model.input_range if options.check_values else None
    uint8 = _use_uint8(options, model.input_range)
    hint = "Send 0-255 images to the *_uint8 signatures, or divide by 255." if uint8 else ""

    def reconstruct(**inputs):
        return {"reconstruction": model(inputs[x], training=False)}  # corruption is off at inference

    def denoise(**inputs):
        return {"denoised": model(inputs[x], training=False)}

    def encode(**inputs):
        return {"code": model.encoder(inputs[x], training=False)}

    def decode(code):
        return {x: model.decoder(code, training=False)}

    image_fns = [("reconstruct", reconstruct, "reconstruction", f"{x} -> reconstruction (the auto-encoder's output)"),
                 ("encode", encode, None, f"{x} -> code"),]
    if model.corruption is not None:
        image_fns.append(("denoise", denoise, "denoised", f"noisy {x} -> denoised {x}"))
    endpoints = [make_endpoint(n, fn, x_spec, doc, {x: value_range}, hint) for n, fn, _, doc in image_fns]
    endpoints.append(make_endpoint("decode", decode, code_spec, f"code -> {x}"))
    if uint8:
        endpoints += [uint8_endpoint(f"{n}_uint8", fn, x_spec, [x], [out] if out else [],
                                     f"{doc}; uint8 [0, 255] {x} in" + (", uint8 out" if out else ""))
                      for n, fn, out, doc in image_fns]
    return endpoints


# -- metadata ------------------------------------------------------------------------------
def _spec_json(spec: tf.TensorSpec) -> dict:
    return {"shape": spec.shape.as_list() if spec.shape.rank is not None else None, "dtype": spec.dtype.name}


def describe_endpoint(endpoint: Endpoint) -> dict:
    """Inputs, outputs (shape, dtype, range) and doc of an endpoint, for metadata and CLIs.

    Example:
        >>> describe_endpoint(ep)["inputs"]  # doctest: +SKIP
        {'images': {'shape': [None, 8, 8, 1], 'dtype': 'float32', 'range': [0.0, 1.0]}}
    """
    concrete = endpoint.function.get_concrete_function()
    inputs = {}
    for spec in concrete.structured_input_signature[0]:
        value_range = endpoint.ranges.get(spec.name)
        inputs[spec.name] = {**_spec_json(spec), "range": list(value_range) if value_range else None}
    outputs = {k: _spec_json(v) for k, v in concrete.structured_outputs.items()}
    return {"doc": endpoint.doc, "inputs": inputs, "outputs": outputs}


def _history_dict(history: Any) -> dict[str, list[float]]:
    if history is None:
        return {}
    if isinstance(history, (str, os.PathLike)):
        history = json.loads(Path(history).read_text())
    history = getattr(history, "history", history)  # keras.callbacks.History
    if not isinstance(history, Mapping):
        raise InputValidationError(f"history must be a keras History, a dict of lists or a JSON file, got {type(history).__name__}.")
    return {str(k): [float(v) for v in np.ravel(vals)] for k, vals in history.items() if k != "epoch"}


def _optimizer_steps(model: keras.Model) -> int:
    """Steps taken by the model's optimizers (``optimizer`` and e.g. ``g_optimizer``)."""
    optimizers = {id(o): o for o in [getattr(model, "optimizer", None), *vars(model).values()]
                  if isinstance(o, keras.optimizers.Optimizer)}
    return int(sum(int(keras.ops.convert_to_numpy(o.iterations)) for o in optimizers.values()))


def is_trained(model: keras.Model, history: Any = None) -> bool:
    """Whether ``model`` has been fitted: optimizer steps, a history, or a closed-form fit
    recorded in ``model.info["method"]`` (PCA).

    Example:
        >>> is_trained(build_dense_ae(64))  # doctest: +SKIP
        False
    """
    info = getattr(model, "info", None) or {}
    return _optimizer_steps(model) > 0 or bool(_history_dict(history)) or bool(info.get("method"))


def _json_safe(value: Any) -> Any:
    return json.loads(json.dumps(value, default=lambda v: v.tolist() if hasattr(v, "tolist") else str(v)))


def export_metadata(model: keras.Model, family: Family, endpoints: Sequence[Endpoint], name: str,
                    history: Any = None, extra: Mapping[str, Any] | None = None) -> dict:
    """The ``assets/keras_ae_metadata.json`` contents.

    Args:
        model: The exported model.
        family: Its :class:`Family`.
        endpoints: The exported endpoints.
        name: Export (model) name.
        history: A keras ``History``, a dict of per-epoch lists or a history JSON file.
        extra: User facts, stored under ``"user"``.

    Returns:
        A JSON-serializable dict.

    Example:
        >>> export_metadata(model, family_for(model), eps, "digits_ae")["family"]  # doctest: +SKIP
        'autoencoder'
    """
    from keras_ae import __version__

    hist = _history_dict(history if history is not None else getattr(model, "history", None))
    info = getattr(model, "info", None)
    return _json_safe({
        "format": METADATA_FORMAT,
        "name": name,
        "family": family.name,
        "model_class": f"{type(model).__module__}.{type(model).__qualname__}",
        "model_name": model.name,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "serving_default": family.default,
        **(family.describe(model) if family.describe else {}),
        "signatures": {e.name: describe_endpoint(e) for e in endpoints},
        "training": {
            "trained": is_trained(model, hist),
            "optimizer_steps": _optimizer_steps(model),
            "epochs": max((len(v) for v in hist.values()), default=0),
            "final_metrics": {k: v[-1] for k, v in hist.items() if v},
            "history": hist,
            "info": dict(info) if isinstance(info, Mapping) else {},
        },
        "versions": {"keras_ae": __version__, "tensorflow": tf.__version__, "keras": keras.__version__,
                     "python": platform.python_version()},
        "user": dict(extra or {}),
    })


def read_metadata(export_dir: str | os.PathLike) -> dict:
    """Reads the metadata of an export (needs only the standard library).

    Example:
        >>> read_metadata("saved_models/digits_ae/1")["signatures"].keys()  # doctest: +SKIP
    """
    return json.loads((Path(export_dir) / "assets" / METADATA_FILE).read_text())


# -- where the export goes ---------------------------------------------------------------
def check_export_name(name: str) -> str:
    """Returns ``name`` if it is a single, safe folder name; raises otherwise.

    Example:
        >>> check_export_name("mnist_denoiser")
        'mnist_denoiser'
    """
    if not isinstance(name, str) or not _NAME_PATTERN.match(name) or ".." in name:
        raise InputValidationError(
            f"Export name {name!r} must be one folder name: letters, digits, '.', '_' and '-', starting with a "
            "letter or digit, no path separators and no '..' (e.g. 'mnist_denoiser')."
        )
    return name


def model_directory(base_dir: str | os.PathLike, name: str) -> Path:
    """``base_dir/name``, refusing any path that resolves outside ``base_dir`` (symlinks too).

    Example:
        >>> model_directory("saved_models", "digits_ae")
        PosixPath('saved_models/digits_ae')
    """
    base = Path(base_dir)
    path = base / check_export_name(name)
    real_base, real_path = os.path.realpath(base), os.path.realpath(path)
    if os.path.commonpath([real_base, real_path]) != real_base or real_path == real_base:
        raise InputValidationError(f"Export path {path} resolves to {real_path}, outside {real_base}.")
    return path


def existing_versions(model_dir: str | os.PathLike) -> list[int]:
    """Integer version folders under ``model_dir``, ascending.

    Example:
        >>> existing_versions("saved_models/digits_ae")  # doctest: +SKIP
        [1, 2]
    """
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        return []
    return sorted(int(p.name) for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit())


def _check_version(version: Any) -> int:
    if isinstance(version, bool) or not isinstance(version, (int, np.integer)) or version < 0:
        raise InputValidationError(f"version must be a non-negative integer (TensorFlow Serving's layout), got {version!r}.")
    return int(version)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def remove_stale_temporaries(model_dir: str | os.PathLike) -> list[Path]:
    """Deletes temporary folders left by exports whose process died (e.g. killed).

    Temporary folders are named ``.keras_ae-tmp-<pid>-...``; those of live processes stay.

    Returns:
        The removed folders.

    Example:
        >>> remove_stale_temporaries("saved_models/digits_ae")  # doctest: +SKIP
        []
    """
    removed = []
    model_dir = Path(model_dir)
    for path in model_dir.glob(f"{_TMP_PREFIX}*") if model_dir.is_dir() else []:
        pid = path.name[len(_TMP_PREFIX):].split("-", 1)[0]
        if pid.isdigit() and not _pid_alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _write_savedmodel(directory: Path, endpoints: Sequence[Endpoint], default: str, metadata: dict) -> None:
    """Writes the SavedModel and its metadata asset into the (empty) ``directory``."""
    root = tf.Module()
    concrete = {e.name: e.function.get_concrete_function() for e in endpoints}
    # Track exactly the variables the signatures read (a GAN exports its generator only).
    used = {id(v): v for fn in concrete.values() for v in fn.variables}
    root.model_variables = list(used.values())
    for e in endpoints:  # attributes too: TFSMLayer(call_endpoint=...) and loaded.encode(x) use them
        setattr(root, e.name, e.function)
    with tempfile.TemporaryDirectory() as scratch:
        source = Path(scratch) / METADATA_FILE
        source.write_text(json.dumps(metadata, indent=2))
        root.metadata_file = tf.saved_model.Asset(str(source))  # copied into assets/
        tf.saved_model.save(root, str(directory), signatures={"serving_default": concrete[default], **concrete})


def _publish(temporary: Path, target: Path, overwrite: bool) -> None:
    """Renames the finished export into place (atomic on one file system)."""
    if target.exists():
        if not overwrite:
            raise ExportExistsError(f"{target} exists already; pass overwrite=True (CLI: --overwrite) or another version.")
        old = temporary.with_name(temporary.name + "-old")
        os.rename(target, old)
        try:
            os.rename(temporary, target)
        except BaseException:
            os.rename(old, target)
            raise
        shutil.rmtree(old, ignore_errors=True)
        return
    try:
        os.rename(temporary, target)
    except OSError as exc:  # another process published this version first
        if target.exists():
            raise ExportExistsError(f"{target} was created by another export meanwhile.") from exc
        raise


def _ensure_built(model: keras.Model, input_shape: Sequence[int] | None) -> None:
    if model.built:
        return
    if input_shape is None:
        raise ExportError(
            f"Model {model.name!r} is not built, so its input shape is unknown. Train it or call it on a batch first, "
            "or pass input_shape=(height, width, channels) to export() to build it."
        )
    try:
        model.build((None, *tuple(input_shape)))
    except Exception as exc:
        raise ExportError(f"Could not build {model.name!r} for input shape {tuple(input_shape)}: {exc}") from exc


def export(
    model: keras.Model,
    name: str,
    base_dir: str | os.PathLike = DEFAULT_BASE_DIR,
    version: int | None = None,
    overwrite: bool = False,
    metadata: Mapping[str, Any] | None = None,
    *,
    history: Any = None,
    uint8: bool | None = None,
    check_values: bool = True,
    input_shape: Sequence[int] | None = None,
    allow_untrained: bool = False,
) -> Path:
    """Exports ``model`` as a TensorFlow Serving SavedModel in ``base_dir/name/version/``.

    Args:
        model: A keras_ae model of a registered family (see :func:`register_family`).
        name: Model name: one folder name (no path separators, no ``..``).
        base_dir: Model base path (what TensorFlow Serving's ``--model_base_path`` points
            at, minus the name).
        version: Integer version; ``None`` takes the next free one (1 for a new name).
        overwrite: Replace an existing version (atomically) instead of refusing.
        metadata: Extra JSON facts stored under ``"user"`` in the metadata asset.
        history: Training history (keras ``History``, dict of lists or JSON file); by
            default ``model.history`` from the last ``fit``, if any.
        uint8: Add ``*_uint8`` signatures for 0-255 images (default: when the model
            expects [0, 1] data).
        check_values: Check NaN/inf and the value range of float inputs in the graph.
        input_shape: Builds an unbuilt model for this per-example shape.
        allow_untrained: Export a model that was never trained (e.g. for a smoke test).

    Returns:
        The version folder, e.g. ``saved_models/mnist_denoiser/1``.

    Raises:
        InputValidationError: bad name or version.
        ExportError: unbuilt model without ``input_shape``, untrained model, unknown family.
        ExportExistsError: the version exists and ``overwrite`` is False.

    Example:
        >>> path = export(model, "digits_denoiser")  # doctest: +SKIP
        >>> loaded = tf.saved_model.load(str(path))  # doctest: +SKIP
        >>> loaded.signatures["denoise"](images=noisy)["denoised"]  # doctest: +SKIP
    """
    family = family_for(model)
    model_dir = model_directory(base_dir, name)
    if version is not None:
        version = _check_version(version)
    _ensure_built(model, input_shape)
    if not allow_untrained and not is_trained(model, history):
        raise ExportError(
            f"Model {model.name!r} has never been trained (no optimizer steps, no history, no closed-form fit). "
            "Train it first, pass history=..., or pass allow_untrained=True (CLI: --allow-untrained)."
        )
    # Trace everything before touching the disk: a model that cannot be traced writes nothing.
    endpoints = family.endpoints(model, ExportOptions(uint8=uint8, check_values=check_values))
    if family.default not in {e.name for e in endpoints}:
        raise ExportError(f"Family {family.name!r} declares serving_default={family.default!r} but has no such endpoint.")
    meta = export_metadata(model, family, endpoints, name, history, metadata)

    created = not model_dir.exists()
    model_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(model_dir)
    target = model_dir / str(version if version is not None else (existing_versions(model_dir) or [0])[-1] + 1)
    if target.exists() and not overwrite:
        raise ExportExistsError(f"{target} exists already; pass overwrite=True (CLI: --overwrite) or another version.")
    temporary = Path(tempfile.mkdtemp(prefix=f"{_TMP_PREFIX}{os.getpid()}-", dir=model_dir))
    try:
        os.chmod(temporary, 0o755)  # mkdtemp makes it owner-only; a server may run as another user
        _write_savedmodel(temporary, endpoints, family.default, meta)
        _publish(temporary, target, overwrite)
    except BaseException:  # KeyboardInterrupt too: never leave a half-written export behind
        shutil.rmtree(temporary, ignore_errors=True)
        if created and not any(model_dir.iterdir()):
            model_dir.rmdir()
        raise
    return target


__all__ = [
    "DEFAULT_BASE_DIR", "METADATA_FILE", "Endpoint", "ExportError", "ExportExistsError", "ExportOptions", "Family",
    "autoencoder_endpoints", "check_export_name", "describe_endpoint", "existing_versions", "export",
    "export_metadata", "family_for", "is_trained", "make_endpoint", "model_directory", "read_metadata",
    "register_family", "remove_stale_temporaries", "tensor_spec", "to_uint8", "uint8_endpoint",
]
