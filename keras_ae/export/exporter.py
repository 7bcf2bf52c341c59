"""``export()``: a keras_ae model as a self-contained TensorFlow SavedModel for serving.

The model's family (:mod:`keras_ae.registry`) names the signature served by default;
the model's ``serving_endpoints(options)`` gives the signatures. The SavedModel holds only
TensorFlow graphs and variables: a process that imports nothing but ``tensorflow`` loads
it with ``tf.saved_model.load``. ``assets/keras_ae_metadata.json`` records the family,
input shape/dtype/range, code size, library versions and training metrics.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import shutil
import tempfile
from pathlib import Path
from typing import Any, Mapping, Sequence

import keras
import numpy as np
import tensorflow as tf

from keras_ae import registry
from keras_ae.errors import InputValidationError, KerasAEError
from keras_ae.export.endpoints import Endpoint, ExportOptions, describe_endpoint
from keras_ae.export.versions import (_TMP_PREFIX, DEFAULT_BASE_DIR, _check_version, _exists, _publish,
                                      _publish_next, model_directory, remove_stale_temporaries)
from keras_ae.validation import check_choice
from keras_ae.version import __version__

METADATA_FILE = "keras_ae_metadata.json"
METADATA_FORMAT = "keras_ae.export/1"
FORMATS = ("savedmodel", "tflite")


class ExportError(KerasAEError, ValueError):
    """A model that cannot be exported as asked (unbuilt, untrained, unknown family)."""


def family_for(model: keras.Model) -> registry.Family:
    """The family that exports ``model``: its closest registered class in the MRO.

    Args:
        model: The model to export.

    Returns:
        The registered :class:`~keras_ae.registry.Family` of ``model``.

    Raises:
        ExportError: no registered class among the model's bases.

    Example:
        >>> family_for(keras.Sequential())
        Traceback (most recent call last):
        ...
        keras_ae.export.exporter.ExportError: No export signatures are registered for Sequential; ...
    """
    family = registry.family_of(model)
    if family is None or (family.endpoints is None and not hasattr(model, "serving_endpoints")):
        known = ", ".join(sorted(f.qualified_name for f in registry.families()))
        raise ExportError(
            f"No export signatures are registered for {type(model).__name__}; exportable classes (and their "
            f"subclasses): {known}. Register yours with @keras_ae.registry.register_family and a "
            "serving_endpoints method (keras_ae.registry.register_serving for a class you cannot edit)."
        )
    return family


def _endpoints(model: keras.Model, family: registry.Family, options: ExportOptions) -> list[Endpoint]:
    return family.endpoints(model, options) if family.endpoints is not None else model.serving_endpoints(options)


def _describe(model: keras.Model, family: registry.Family) -> dict:
    if family.describe is not None:
        return family.describe(model)
    return model.serving_metadata() if hasattr(model, "serving_metadata") else {}


def _history_dict(history: Any) -> dict[str, list[float]]:
    if history is None:
        return {}
    if isinstance(history, (str, os.PathLike)):
        history = json.loads(Path(history).read_text())
    history = getattr(history, "history", history)  # keras.callbacks.History
    if not isinstance(history, Mapping):
        raise InputValidationError(
            f"history must be a keras History, a dict of lists or a JSON file, got {type(history).__name__}.")
    return {str(k): [float(v) for v in np.ravel(vals)] for k, vals in history.items() if k != "epoch"}


def _optimizer_steps(model: keras.Model) -> int:
    """Steps taken by the model's optimizers (``optimizer`` and e.g. ``g_optimizer``)."""
    optimizers = {id(o): o for o in [getattr(model, "optimizer", None), *vars(model).values()]
                  if isinstance(o, keras.optimizers.Optimizer)}
    return int(sum(int(keras.ops.convert_to_numpy(o.iterations)) for o in optimizers.values()))


def is_trained(model: keras.Model, history: Any = None) -> bool:
    """Whether ``model`` has been fitted: optimizer steps, a history, a closed-form fit
    recorded in ``model.info["method"]`` (PCA), or a trained ``model.wrapped_model`` (an
    :class:`~keras_ae.applications.AnomalyDetector`).

    Args:
        model: The model to check.
        history: A keras ``History``, a dict of per-epoch lists, a history JSON file or ``None``; non-empty: trained.

    Returns:
        ``True`` if any of the above shows training, else ``False``.

    Raises:
        InputValidationError: ``history`` is none of the accepted types.

    Example:
        >>> model = build_dense_ae((8, 8, 1), hidden=(16,), code_dim=4)
        >>> is_trained(model), is_trained(model, history={"loss": [0.7, 0.6]})
        (False, True)
        >>> model.compile()
        >>> _ = model.fit(x_digits, epochs=1, batch_size=64, verbose=0)
        >>> is_trained(model)
        True
    """
    info = getattr(model, "info", None) or {}
    wrapped = getattr(model, "wrapped_model", None)  # an anomaly detector is as trained as the model it wraps
    return (_optimizer_steps(model) > 0 or bool(_history_dict(history)) or bool(info.get("method"))
            or (isinstance(wrapped, keras.Model) and wrapped is not model and is_trained(wrapped)))


def _json_safe(value: Any) -> Any:
    return json.loads(json.dumps(value, default=lambda v: v.tolist() if hasattr(v, "tolist") else str(v)))


def export_metadata(model: keras.Model, family: registry.Family, endpoints: Sequence[Endpoint], name: str,
                    history: Any = None, extra: Mapping[str, Any] | None = None) -> dict:
    """The ``assets/keras_ae_metadata.json`` contents.

    Args:
        model: The exported model.
        family: Its :class:`~keras_ae.registry.Family`.
        endpoints: The exported endpoints.
        name: Export (model) name.
        history: A keras ``History``, a dict of per-epoch lists or a history JSON file.
        extra: User facts, stored under ``"user"``.

    Returns:
        A JSON-serializable dict.

    Example:
        >>> from keras_ae.export.endpoints import ExportOptions
        >>> model = build_dense_ae((8, 8, 1), code_dim=4)
        >>> eps = model.serving_endpoints(ExportOptions())
        >>> meta = export_metadata(model, family_for(model), eps, "digits_ae", history={"loss": [0.7, 0.6]})
        >>> meta["family"], meta["serving_default"], meta["name"]
        ('autoencoder', 'reconstruct', 'digits_ae')
    """
    hist = _history_dict(history if history is not None else getattr(model, "history", None))
    info = getattr(model, "info", None)
    return _json_safe({
        "format": METADATA_FORMAT,
        "name": name,
        "family": family.name,
        "model_class": f"{type(model).__module__}.{type(model).__qualname__}",
        "model_name": model.name,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "serving_default": registry.serving_default_of(model),
        **_describe(model, family),
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

    Args:
        export_dir: A version folder written by :func:`export` (e.g. ``saved_models/digits_ae/1``).

    Returns:
        The ``assets/keras_ae_metadata.json`` contents as a dict (see :func:`export_metadata`).

    Example:
        >>> path = export(build_dense_ae((8, 8, 1), hidden=(16,), code_dim=4), "digits_ae", base_dir=str(tmp_dir),
        ...               allow_untrained=True)
        >>> meta = read_metadata(path)
        >>> meta["name"], list(meta["signatures"])
        ('digits_ae', ['reconstruct', 'encode', 'decode', 'reconstruct_uint8', 'encode_uint8'])
    """
    return json.loads((Path(export_dir) / "assets" / METADATA_FILE).read_text())


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


def _all_built(layer) -> bool:
    return all(sub.built and _all_built(sub) for sub in getattr(layer, "layers", []))


def _ensure_built(model: keras.Model, input_shape: Sequence[int] | None) -> None:
    # A wrapper of functional sub-models (e.g. GAN) has all its weights without being "built".
    if model.built or (model.layers and _all_built(model)):
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
    format: str = "savedmodel",
    quantize: str | None = None,
) -> Path:
    """Exports ``model`` as a TensorFlow Serving SavedModel in ``base_dir/name/version/``.

    Crash safety: the SavedModel is written into a hidden temporary folder
    (``base_dir/name/.keras_ae-tmp-<pid>-...``) and renamed into place, so a version
    folder is always complete. If the process dies at any point (even SIGKILL), no
    partial version is visible: at worst the hidden temporary remains (and, after a killed
    first export, the otherwise empty ``base_dir/name/``); readers such as
    :func:`~keras_ae.export.existing_versions` and TensorFlow Serving ignore it, and the
    next export into ``base_dir/name`` deletes it (see
    :func:`~keras_ae.export.remove_stale_temporaries`). An overwrite swaps old and new in
    one step (Linux ``renameat2``), or parks the old version where that cleanup restores it.

    Concurrency: automatic versions are claimed by the rename itself, so N concurrent
    exports of one name publish N distinct, consecutive versions.

    Args:
        model: A model of a registered family (:mod:`keras_ae.registry`).
        name: Model name: one folder name (no path separators, no ``..``).
        base_dir: Model base path (what TensorFlow Serving's ``--model_base_path`` points
            at, minus the name).
        version: Integer version, 0 to 2**63-1; ``None`` takes the next free one (1 for a
            new name), atomically.
        overwrite: Replace an existing version (atomically) instead of refusing.
        metadata: Extra JSON facts stored under ``"user"`` in the metadata asset.
        history: Training history (keras ``History``, dict of lists or JSON file); by
            default ``model.history`` from the last ``fit``, if any.
        uint8: Add ``*_uint8`` signatures for 0-255 images (default: when the model
            expects [0, 1] data).
        check_values: Check NaN/inf and the value range of float inputs in the graph.
        input_shape: Builds an unbuilt model for this per-example shape.
        allow_untrained: Export a model that was never trained (e.g. for a smoke test).
        format: ``"savedmodel"``, or ``"tflite"`` for ``model.tflite`` with one signature per
            endpoint (auto-encoder families; see :mod:`keras_ae.export.tflite`).
        quantize: TFLite weights: ``None`` (float32), ``"float16"`` or ``"dynamic"`` (int8).

    Returns:
        The version folder, e.g. ``saved_models/mnist_denoiser/1``.

    Raises:
        InputValidationError: bad name or version.
        ExportError: unbuilt model without ``input_shape``, untrained model, unknown family.
        ExportExistsError: the version exists and ``overwrite`` is False.
        UnknownNameError: unknown ``format`` or ``quantize``.

    Example:
        >>> model = build_denoising_ae((8, 8, 1), architecture="dense", hidden=(16,), code_dim=4)
        >>> model.compile()
        >>> _ = model.fit(x_digits, epochs=1, batch_size=64, verbose=0)
        >>> base_dir = str(tmp_dir)  # default: saved_models/ in the current folder
        >>> path = export(model, "digits_denoiser", base_dir=base_dir)
        >>> path.relative_to(base_dir).as_posix()
        'digits_denoiser/1'
        >>> export(model, "digits_denoiser", base_dir=base_dir).name  # the next free version
        '2'
        >>> loaded = tf.saved_model.load(str(path))  # needs only TensorFlow
        >>> noisy = np.clip(x_digits_test[:2] + 0.5 * np.random.default_rng(0).normal(size=(2, 8, 8, 1)), 0, 1)
        >>> loaded.signatures["denoise"](images=tf.constant(noisy, tf.float32))["denoised"].shape
        TensorShape([2, 8, 8, 1])
    """
    family = family_for(model)
    if check_choice(format, "format", FORMATS) == "tflite" or quantize is not None:
        from keras_ae.export import tflite  # same floor; here because tflite.py imports this module

        tflite.check_tflite_export(model, family, format, quantize)
    model_dir = model_directory(base_dir, name)
    if version is not None:
        version = _check_version(version)
        if (model_dir / str(version)).exists() and not overwrite:  # fail before the slow tracing
            raise _exists(model_dir / str(version))
    _ensure_built(model, input_shape)
    if not allow_untrained and not is_trained(model, history):
        raise ExportError(
            f"Model {model.name!r} has never been trained (no optimizer steps, no history, no closed-form fit). "
            "Train it first, pass history=..., or pass allow_untrained=True (CLI: --allow-untrained)."
        )
    # Trace everything before touching the disk: a model that cannot be traced writes nothing.
    endpoints = _endpoints(model, family, ExportOptions(uint8=uint8, check_values=check_values))
    default = registry.serving_default_of(model)
    if default not in {e.name for e in endpoints}:
        raise ExportError(f"Family {family.name!r} declares serving_default={default!r} but has no such endpoint.")
    meta = export_metadata(model, family, endpoints, name, history, metadata)

    temporary, created = _make_temporary(model_dir)
    try:
        os.chmod(temporary, 0o755)  # mkdtemp makes it owner-only; a server may run as another user
        if format == "tflite":
            tflite.write_tflite(temporary, endpoints, default, meta, quantize)
        else:
            _write_savedmodel(temporary, endpoints, default, meta)
        if version is None:
            target = _publish_next(temporary, model_dir)
        else:
            target = model_dir / str(version)
            _publish(temporary, target, overwrite)
    except BaseException:  # KeyboardInterrupt too: never leave a half-written export behind
        shutil.rmtree(temporary, ignore_errors=True)
        if created:
            _remove_if_empty(model_dir)
        raise
    return target


def _make_temporary(model_dir: Path, attempts: int = 5) -> tuple[Path, bool]:
    """Creates ``model_dir`` if needed, cleans stale temporaries and makes this export's one.

    Returns:
        The temporary folder, and whether this call created ``model_dir``.
    """
    for attempt in range(attempts):
        created = not model_dir.exists()
        model_dir.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(model_dir)
        try:
            return Path(tempfile.mkdtemp(prefix=f"{_TMP_PREFIX}{os.getpid()}-", dir=model_dir)), created
        except FileNotFoundError:  # a concurrent failed first export removed the empty model_dir: retry
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def _remove_if_empty(model_dir: Path) -> None:
    """Removes the folder a failed first export created, unless another export uses it now."""
    try:
        model_dir.rmdir()  # fails on a non-empty folder: atomic "if empty"
    except OSError:
        pass




__all__ = ["METADATA_FILE", "ExportError", "export", "export_metadata", "family_for", "is_trained", "read_metadata"]
