"""TFLite export of the auto-encoder families, run with LiteRT.

``keras_ae.export(model, name, format="tflite", quantize=None | "float16" | "dynamic")``
writes ``base_dir/name/<version>/model.tflite`` and ``assets/keras_ae_metadata.json``
(so :func:`~keras_ae.export.read_metadata` reads both formats), with the SavedModel's
versions and crash-safe publishing. The ``.tflite`` file holds one named signature per
endpoint of the SavedModel (``reconstruct``, ``encode``, ``decode``, ``denoise`` and the
``*_uint8`` twins): the same checked ``tf.function`` endpoints are saved to a temporary
SavedModel and converted with ``TFLiteConverter.from_saved_model(..., signature_keys=...)``.
Converting the concrete functions directly keeps the weights as uninitialized resource
variables inside the empty-batch ``tf.cond`` branch, and LiteRT then fails on ``READ_VARIABLE``.

The in-graph checks do not survive conversion: the converter drops ``EnsureShape``, ``Assert``
and ``CheckNumerics``, so a ``.tflite`` model runs on any shape, NaN or range it is given.
:func:`run_tflite` therefore checks in Python, before invoking: input names, dtype, shape,
NaN/inf, and the value range recorded in the export's metadata. LiteRT cannot allocate a
zero-row batch, so :func:`run_tflite` answers an empty batch with empty outputs itself.

Quantization (``converter.optimizations = [tf.lite.Optimize.DEFAULT]``): ``"float16"`` stores
float16 weights (``target_spec.supported_types = [tf.float16]``), ``"dynamic"`` int8 weights
with float activations (dynamic range). Tensors of fewer than 1024 values stay float32 under
``"dynamic"``, and ``"float16"`` adds a dequantize op per weight, so a model of a few thousand
weights does not shrink; see ``tests/test_tflite.py`` for measured sizes and differences.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Sequence

import keras
import numpy as np
import tensorflow as tf

from keras_ae import registry
from keras_ae.errors import InputValidationError
from keras_ae.export.endpoints import Endpoint
from keras_ae.export.exporter import METADATA_FILE, ExportError, _write_savedmodel, export, read_metadata
from keras_ae.validation import check_array, check_choice

TFLITE_FILE = "model.tflite"
QUANTIZATIONS = (None, "float16", "dynamic")
# Families whose every signature converts to builtin TFLite ops (auto-encoders: dense, conv,
# denoising, sparse, k-sparse, tied, contractive; anomaly detectors over them, reconstruction scores).
TFLITE_FAMILIES = ("autoencoder", "tied", "contractive", "anomaly_detector")


def check_tflite_export(model: keras.Model, family: registry.Family, format: str, quantize: str | None) -> None:
    """Refuses a ``quantize`` without ``format="tflite"``, an unknown ``quantize``, and a family
    that TFLite export does not support; called by :func:`~keras_ae.export.export` before it
    traces anything or touches the disk.

    Args:
        model: The model to export.
        family: Its :class:`~keras_ae.registry.Family`.
        format: ``"savedmodel"`` or ``"tflite"``.
        quantize: ``None``, ``"float16"`` or ``"dynamic"``.

    Raises:
        InputValidationError: ``quantize`` with ``format="savedmodel"``.
        UnknownNameError: an unknown ``quantize``.
        ExportError: a family other than :data:`TFLITE_FAMILIES`, or a model whose
            ``tflite_refusal()`` gives a reason (e.g. an anomaly detector over a VAE).

    Example:
        >>> model = build_dense_ae((8, 8, 1), hidden=(8,), code_dim=2)
        >>> check_tflite_export(model, keras_ae.export.family_for(model), "tflite", "float16")
        >>> check_tflite_export(model, keras_ae.export.family_for(model), "tflite", "int4")
        Traceback (most recent call last):
        ...
        keras_ae.errors.UnknownNameError: Unknown quantize 'int4'; choose one of: None, float16, dynamic.
    """
    if format != "tflite":
        if quantize is not None:
            raise InputValidationError(
                f"quantize={quantize!r} applies to format='tflite' only; a SavedModel keeps float32 weights.")
        return
    check_choice(quantize, "quantize", QUANTIZATIONS)
    if family.name not in TFLITE_FAMILIES:
        raise ExportError(
            f"TFLite export supports the auto-encoder families ({', '.join(TFLITE_FAMILIES)}: dense, conv, "
            f"denoising, sparse, tied, contractive; anomaly detectors over them), not {type(model).__name__} "
            f"(family {family.name!r}). "
            "Export a SavedModel instead (format='savedmodel')."
        )
    refusal = getattr(model, "tflite_refusal", None)  # a family member that cannot convert says why
    reason = refusal() if callable(refusal) else None
    if reason:
        raise ExportError(reason)


def convert(endpoints: Sequence[Endpoint], default: str, metadata: dict, quantize: str | None = None) -> bytes:
    """The ``.tflite`` flatbuffer of ``endpoints``: one named signature each.

    Args:
        endpoints: The checked endpoints of the SavedModel export.
        default: The ``serving_default`` endpoint (kept in the temporary SavedModel only).
        metadata: The metadata asset of the temporary SavedModel.
        quantize: ``None``, ``"float16"`` or ``"dynamic"``.

    Returns:
        The model as bytes.

    Raises:
        ExportError: the converter refused a signature (its message is included).

    Example:
        ```python
        from keras_ae.export import ExportOptions
        endpoints = model.serving_endpoints(ExportOptions())
        flatbuffer = convert(endpoints, "reconstruct", {}, quantize="float16")
        ```
    """
    with tempfile.TemporaryDirectory() as scratch:
        saved = Path(scratch) / "savedmodel"
        _write_savedmodel(saved, endpoints, default, metadata)
        converter = tf.lite.TFLiteConverter.from_saved_model(str(saved), signature_keys=[e.name for e in endpoints])
        if quantize is not None:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if quantize == "float16":
            converter.target_spec.supported_types = [tf.float16]
        try:
            return converter.convert()
        except Exception as exc:  # the converter raises ConverterError or plain exceptions, with MLIR text
            raise ExportError(f"The TFLite converter refused the signatures {[e.name for e in endpoints]}: {exc}") \
                from exc


def write_tflite(directory: Path, endpoints: Sequence[Endpoint], default: str, metadata: dict,
                 quantize: str | None = None) -> None:
    """Writes ``model.tflite`` and ``assets/keras_ae_metadata.json`` into the (empty) ``directory``.

    Args:
        directory: The export's temporary folder (published by :func:`~keras_ae.export.export`).
        endpoints: The endpoints to convert.
        default: The ``serving_default`` endpoint name.
        metadata: The metadata; a ``"tflite"`` entry (file, quantization, checks) is added.
        quantize: ``None``, ``"float16"`` or ``"dynamic"``.

    Example:
        ```python
        write_tflite(Path("scratch"), endpoints, "reconstruct", metadata, quantize="dynamic")
        ```
    """
    flatbuffer = convert(endpoints, default, metadata, quantize)
    metadata = {**metadata, "tflite": {"file": TFLITE_FILE, "quantize": quantize, "size_bytes": len(flatbuffer),
                                       "checks": "in Python by keras_ae.export.tflite.run_tflite (dtype, shape, "
                                                 "NaN/inf, range); the converter drops the in-graph checks"}}
    directory.mkdir(parents=True, exist_ok=True)
    (directory / TFLITE_FILE).write_bytes(flatbuffer)
    (directory / "assets").mkdir(exist_ok=True)
    (directory / "assets" / METADATA_FILE).write_text(json.dumps(metadata, indent=2))


def _model_file(path: str | os.PathLike) -> Path:
    path = Path(path)
    file = path / TFLITE_FILE if path.is_dir() else path
    if not file.is_file():
        raise FileNotFoundError(f"No TFLite model at {file}; pass the .tflite file or the version folder that "
                                "keras_ae.export(..., format='tflite') returned.")
    return file


def _metadata(file: Path) -> dict:
    """The metadata of the export ``file`` belongs to; ``{}`` for a ``.tflite`` file on its own."""
    return read_metadata(file.parent) if (file.parent / "assets" / METADATA_FILE).is_file() else {}


def _ranges(file: Path, signature: str) -> dict[str, Any]:
    """Input name -> value range recorded in the export's metadata."""
    inputs = _metadata(file).get("signatures", {}).get(signature, {}).get("inputs", {})
    return {name: spec.get("range") for name, spec in inputs.items()}


def _interpreter(file: Path):
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # LiteRT not installed: TensorFlow's own (deprecated) copy of the same runtime
        Interpreter = tf.lite.Interpreter
    return Interpreter(model_path=str(file))


def _checked(name: str, value: Any, detail: dict, value_range: Any, hint: str) -> np.ndarray:
    """``value`` as the array the signature expects; raises naming the expected dtype and shape."""
    expected_dtype = np.dtype(detail["dtype"])
    expected_shape = tuple(None if d < 0 else int(d) for d in detail["shape_signature"])
    shown = f"({', '.join('None' if d is None else str(d) for d in expected_shape)})"
    arr = np.asarray(value)
    if arr.dtype != expected_dtype:
        raise InputValidationError(
            f"`{name}` has dtype {arr.dtype}, but the TFLite signature expects {expected_dtype.name} of shape "
            f"{shown}; convert it with x.astype(np.{expected_dtype.name}).")
    if arr.ndim != len(expected_shape) or any(e is not None and e != g for e, g in zip(expected_shape, arr.shape)):
        raise InputValidationError(
            f"`{name}` has shape {arr.shape}, but the TFLite signature expects {expected_dtype.name} of shape {shown}.")
    if np.issubdtype(arr.dtype, np.floating):  # the checks the converter dropped from the graph
        check_array(arr, name, value_range=tuple(value_range) if value_range else None, allow_empty=True,
                    range_hint=hint)
    return arr


def run_tflite(path: str | os.PathLike, signature: str, **inputs: Any) -> dict[str, np.ndarray]:
    """Runs one signature of a ``.tflite`` export with LiteRT (``ai_edge_litert``).

    Inputs are checked in Python before the interpreter runs (the converted graph has no
    checks): names, exact dtype, shape (any batch size: the signature runner resizes the
    batch dimension), NaN/inf, and the value range in the export's metadata. Without the
    ``ai-edge-litert`` package this falls back to ``tf.lite.Interpreter``, TensorFlow's
    deprecated copy of the same runtime.

    Args:
        path: The version folder returned by ``export(..., format="tflite")``, or the ``.tflite`` file.
        signature: Signature name (``"reconstruct"``, ``"encode"``, ...).
        **inputs: One array per signature input (e.g. ``images=x``), batch first.

    Returns:
        Output name -> array (e.g. ``{"reconstruction": ...}``).

    Raises:
        FileNotFoundError: no ``.tflite`` file at ``path``.
        InputValidationError: unknown signature, missing or unexpected inputs, wrong dtype or
            shape (naming the expected ones), NaN/inf or out-of-range values.

    Example:
        >>> model = build_dense_ae((8, 8, 1), hidden=(16,), code_dim=4)
        >>> path = keras_ae.export(model, "digits_ae", base_dir=str(tmp_dir), format="tflite",
        ...                        allow_untrained=True, uint8=False)
        >>> out = run_tflite(path, "encode", images=x_digits[:3])
        >>> out["code"].shape, bool(np.allclose(out["code"], model.encode(x_digits[:3]), atol=1e-5))
        ((3, 4), True)
        >>> run_tflite(path, "encode", images=x_digits[:3].astype(np.float64))
        Traceback (most recent call last):
        ...
        keras_ae.errors.InputValidationError: `images` has dtype float64, but the TFLite signature expects ...
    """
    file = _model_file(path)
    interpreter = _interpreter(file)
    signatures = interpreter.get_signature_list()
    if signature not in signatures:
        raise InputValidationError(
            f"{file} has no signature {signature!r}; it has: {', '.join(sorted(signatures))}.")
    runner = interpreter.get_signature_runner(signature)
    details = runner.get_input_details()
    if set(inputs) != set(details):
        raise InputValidationError(
            f"Signature {signature!r} takes the inputs {sorted(details)}, got {sorted(inputs)}; "
            f"e.g. run_tflite(path, {signature!r}, {next(iter(details), 'x')}=x).")
    ranges = _ranges(file, signature)
    twin = f"{signature}_uint8"
    hint = f"Send 0-255 images to {twin!r}, or divide by 255." if twin in signatures else "Divide 0-255 images by 255."
    arrays = {name: _checked(name, value, details[name], ranges.get(name), hint) for name, value in inputs.items()}
    rows = {len(a) for a in arrays.values() if a.ndim}
    if len(rows) > 1:
        raise InputValidationError(f"The inputs of {signature!r} must have the same number of rows, got {rows}.")
    if rows == {0}:  # LiteRT cannot allocate a zero-row tensor: run one zero row for the output shapes
        one = {k: np.zeros((1, *a.shape[1:]), a.dtype) if a.ndim else a for k, a in arrays.items()}
        return {k: np.asarray(v)[:0] for k, v in runner(**one).items()}
    return {k: np.asarray(v) for k, v in runner(**arrays).items()}


def tflite_parity(model: keras.Model, x: Any, quantize: str | None = None, *,
                  path: str | os.PathLike | None = None) -> dict[str, Any]:
    """How closely the LiteRT model follows the Keras model on ``x``: ``reconstruct`` and ``encode``.

    Args:
        model: An auto-encoder (a family in :data:`TFLITE_FAMILIES`).
        x: Examples, float32 of the model's input shape and range.
        quantize: ``None``, ``"float16"`` or ``"dynamic"``, for the temporary export.
        path: Measure this ``.tflite`` export instead of exporting ``model`` into a temporary
            folder (default signatures, so ``size_bytes`` is a default export's; untrained models too).

    Returns:
        ``{"quantize", "examples", "max_abs_diff_reconstruction", "mean_abs_diff_reconstruction",
        "max_abs_diff_code", "mean_abs_diff_code", "size_bytes"}`` (differences as floats).

    Example:
        ```python
        model = keras_ae.build_dense_ae((8, 8, 1), hidden=(16,), code_dim=4)
        parity = tflite_parity(model, x_test, quantize="float16")  # tests/test_tflite.py runs this
        print(parity["max_abs_diff_reconstruction"], parity["size_bytes"])
        ```
    """
    if path is None:
        with tempfile.TemporaryDirectory() as scratch:
            exported = export(model, "parity", base_dir=scratch, format="tflite", quantize=quantize,
                              allow_untrained=True)
            return tflite_parity(model, x, path=exported)
    file = _model_file(path)
    x = model.validate_inputs(x)  # float32, at least one example
    data = next(iter(_interpreter(file).get_signature_runner("encode").get_input_details()))
    reconstruction = run_tflite(file, "reconstruct", **{data: x})["reconstruction"]
    code = run_tflite(file, "encode", **{data: x})["code"]
    diff_x = np.abs(reconstruction - model.reconstruct(x))
    diff_code = np.abs(code - model.encode(x))
    return {
        "quantize": _metadata(file).get("tflite", {}).get("quantize", quantize),
        "examples": len(x),
        "max_abs_diff_reconstruction": float(diff_x.max()),
        "mean_abs_diff_reconstruction": float(diff_x.mean()),
        "max_abs_diff_code": float(diff_code.max()),
        "mean_abs_diff_code": float(diff_code.mean()),
        "size_bytes": file.stat().st_size,
    }


__all__ = ["QUANTIZATIONS", "TFLITE_FAMILIES", "TFLITE_FILE", "check_tflite_export", "convert", "run_tflite",
           "tflite_parity", "write_tflite"]
