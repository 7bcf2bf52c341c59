"""Building blocks of exported signatures: checked, named ``tf.function`` endpoints.

A model family's ``serving_endpoints(options)`` returns a list of :class:`Endpoint`
built with these helpers; :func:`keras_ae.export.export` writes them into a SavedModel.
Signatures check their inputs inside the graph (shape, finite values, value range), so a
client that sends a wrong shape gets an error naming the expected shape instead of a
crash deep inside a convolution. A request for no examples (``count=0`` or a batch of zero
rows) gets empty outputs of the declared shapes without running the model.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping, Sequence

import tensorflow as tf

# A cap on `count` for the sample signatures: one request must not exhaust the server.
MAX_SAMPLE_COUNT = 10_000


@dataclasses.dataclass(frozen=True)
class Endpoint:
    """One exported signature: a ``tf.function`` with a fixed input signature.

    Attributes:
        name: Signature name (``"reconstruct"``).
        function: The ``tf.function``; its inputs are named after the ``TensorSpec`` names
            and it returns a dict, whose keys name the outputs.
        doc: One line for the metadata and the docs.
        ranges: Inclusive value range of each input that is checked in the graph.

    Example:
        >>> ep = Endpoint("double", tf.function(lambda x: {"y": 2 * x}), "x -> 2 x", {"x": (0.0, 1.0)})
        >>> ep.name, ep.doc, ep.ranges["x"]
        ('double', 'x -> 2 x', (0.0, 1.0))
    """

    name: str
    function: Any
    doc: str
    ranges: Mapping[str, tuple[float, float] | None] = dataclasses.field(default_factory=dict)


def tensor_spec(shape: Sequence[int | None], name: str, dtype: tf.DType = tf.float32) -> tf.TensorSpec:
    """A batched ``TensorSpec`` ``(None, *shape)`` named ``name``.

    Args:
        shape: Shape of one example, without the batch dimension (``None`` for a free size).
        name: Spec name; it names the signature's input.
        dtype: Element type.

    Returns:
        A ``tf.TensorSpec`` of shape ``(None, *shape)``.

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
    if x.dtype.is_floating:
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


def _examples_requested(specs: Sequence[tf.TensorSpec], inputs: Sequence[tf.Tensor]) -> tf.Tensor | None:
    """How many examples a call asks for: a scalar integer ``count`` input, else the rows of
    the batched inputs (which must agree); ``None`` when the signature has neither."""
    for spec, x in zip(specs, inputs):
        if spec.name == "count" and spec.shape.rank == 0 and spec.dtype.is_integer:
            return tf.cast(x, tf.int64)
    rows = [(spec.name, tf.shape(x, out_type=tf.int64)[0]) for spec, x in zip(specs, inputs)
            if spec.shape.rank and spec.shape[0] is None]
    if not rows:
        return None
    first_name, first = rows[0]
    checks = [tf.debugging.assert_equal(n, first, message=f"`{other}` and `{first_name}` must have the same number "
                                                          "of rows (one per example).") for other, n in rows[1:]]
    with tf.control_dependencies(checks):
        return tf.identity(first)


def _unless_empty(examples: tf.Tensor, compute: Callable[[], Mapping[str, tf.Tensor]]) -> dict[str, tf.Tensor]:
    """``compute()`` when ``examples > 0``; otherwise empty outputs ``(0, *shape per example)``.

    The model never sees an empty batch: convolutions fail on one ("must be evenly divisible
    by filter depth", or a wrong trailing shape under oneDNN) and a sampling loop over zero
    images breaks its shape invariants, while an empty request is well-formed and is answered
    with empty outputs of the declared shapes. Outputs that are not one row per example with a
    known shape per example (e.g. a scalar) cannot be made empty: then both cases run ``compute``.
    """
    declared: dict[str, tf.TensorSpec] = {}

    def run():
        outputs = dict(compute())
        if all(v.shape.rank and v.shape[1:].is_fully_defined() for v in outputs.values()):
            declared.update({k: tf.TensorSpec(v.shape, v.dtype) for k, v in outputs.items()})
        return outputs

    def empty():
        # tf.cond traces the true branch first, so `declared` holds the output shapes here.
        if not declared:
            return dict(compute())
        return {key: tf.zeros([0, *spec.shape[1:]], spec.dtype) for key, spec in declared.items()}

    return tf.cond(examples > 0, run, empty)


def make_endpoint(
    name: str,
    fn: Callable[..., Mapping[str, tf.Tensor]],
    inputs: Mapping[str, tf.TensorSpec],
    doc: str,
    ranges: Mapping[str, tuple[float, float] | None] | None = None,
    range_hint: str = "",
) -> Endpoint:
    """Wraps ``fn(**inputs) -> {output_name: tensor}`` as a checked, named signature.

    A call that asks for no examples (a zero-row batch, or a scalar integer input named
    ``count`` equal to 0) returns empty outputs ``(0, *shape)`` without running ``fn``, when
    every output has one row per example. Several batched inputs must have equal rows.

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
        examples = _examples_requested(specs, list(checked.values()))
        outputs = fn(**checked) if examples is None else _unless_empty(examples, lambda: fn(**checked))
        # Served outputs are float32 even under a mixed-precision policy.
        return {k: tf.identity(tf.cast(v, tf.float32) if v.dtype.is_floating else v, name=k)
                for k, v in outputs.items()}

    signature.__name__ = name
    return Endpoint(name, tf.function(signature, input_signature=specs, autograph=False), doc, ranges)


def sample_endpoint(fn: Callable[..., Mapping[str, tf.Tensor]], outputs: str, note: str,
                    num_classes: int | None = None) -> Endpoint:
    """The ``sample`` signature of the generative families: a scalar int32 ``count`` (at most
    :data:`MAX_SAMPLE_COUNT`) and an int64 ``seed`` in, and for a class-conditional model
    int32 ``labels``, one class id per image.

    The labels are checked in the graph: ids outside ``[0, num_classes)`` and a length other
    than ``count`` are refused with a message, before the model runs.

    Args:
        fn: ``fn(count, seed) -> {output_name: tensor}``, or ``fn(count, seed, labels)`` when
            ``num_classes`` is given.
        outputs: The outputs, for the description (e.g. ``"images, latents"``).
        note: How the examples are drawn, for the description (e.g. ``"z ~ N(0, I)"``).
        num_classes: The model's classes ``K`` (class-conditional models), or ``None``.

    Returns:
        An :class:`Endpoint` described as ``count, seed[, labels] -> <outputs> (<note>; count <= MAX_SAMPLE_COUNT)``.

    Example:
        >>> ep = sample_endpoint(lambda count, seed: {"z": tf.zeros(tf.stack([count, 2]))}, "z", "zeros")
        >>> ep.doc, ep.function(tf.constant(3), tf.constant(0, tf.int64))["z"].shape
        ('count, seed -> z (zeros; count <= 10000)', TensorShape([3, 2]))
        >>> ep = sample_endpoint(lambda count, seed, labels: {"y": labels}, "y", "labels", num_classes=10)
        >>> ep.function(tf.constant(2), tf.constant(0, tf.int64), tf.constant([3, 9]))["y"].numpy().tolist()
        [3, 9]
    """
    specs = {"count": tf.TensorSpec((), tf.int32, name="count"), "seed": tf.TensorSpec((), tf.int64, name="seed")}
    ranges: dict[str, tuple[float, float] | None] = {"count": (0, MAX_SAMPLE_COUNT)}
    inputs = "count, seed"
    if num_classes is None:
        call = fn
    else:
        specs["labels"] = tf.TensorSpec((None,), tf.int32, name="labels")
        ranges["labels"] = (0, int(num_classes) - 1)
        inputs += ", labels"

        def call(count, seed, labels):
            # One label per image: the graph refuses labels whose length is not count.
            check = tf.debugging.assert_equal(tf.size(labels), count,
                                              message="`labels` must have `count` entries (one class id per image).")
            with tf.control_dependencies([check]):
                labels = tf.identity(labels)
            return fn(count, seed, labels)

    return make_endpoint("sample", call, specs, f"{inputs} -> {outputs} ({note}; count <= {MAX_SAMPLE_COUNT})",
                         ranges)


def to_uint8(images: tf.Tensor) -> tf.Tensor:
    """[0, 1] floats -> uint8 [0, 255] (clipped and rounded, as image files store them).

    Args:
        images: Numeric tensor of any shape, values expected in [0, 1] (others are clipped).

    Returns:
        A uint8 tensor of the same shape, values in [0, 255].

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


@dataclasses.dataclass(frozen=True)
class ExportOptions:
    """Choices that apply to every family.

    Attributes:
        uint8: Add ``*_uint8`` signatures; ``None`` adds them when the model expects [0, 1] data.
        check_values: Check NaN/inf and the value range of float inputs in the graph.

    Example:
        >>> options = ExportOptions(uint8=False)
        >>> options.uint8, options.check_values
        (False, True)
    """

    uint8: bool | None = None
    check_values: bool = True



def _use_uint8(options: ExportOptions, value_range: tuple[float, float] | None) -> bool:
    return options.uint8 if options.uint8 is not None else tuple(value_range or ()) == (0.0, 1.0)


def data_name(shape: Sequence[int | None]) -> str:
    """The input name for examples of ``shape``: ``"images"`` for rank 3 (height, width, channels), else ``"inputs"``.

    Args:
        shape: Shape of one example, without the batch dimension.

    Returns:
        ``"images"`` or ``"inputs"``.

    Example:
        >>> data_name((8, 8, 1)), data_name((64,))
        ('images', 'inputs')
    """
    return "images" if len(shape) == 3 else "inputs"


def image_endpoints(
    data_name: str,
    shape: Sequence[int],
    value_range: tuple[float, float] | None,
    options: ExportOptions,
    functions: Sequence[tuple[str, Callable, Sequence[str], str]],
    generative: Sequence[Endpoint] = (),
) -> list[Endpoint]:
    """Signatures that take data (images), plus their ``*_uint8`` twins for [0, 1] data.

    Args:
        data_name: Input name (``"images"``, or ``"inputs"`` for vectors).
        shape: Shape of one example.
        value_range: Range the float input is checked against (``None``: no check).
        options: Export options (``uint8``, ``check_values``).
        functions: ``(name, fn(**{data_name: x}) -> outputs, image outputs, doc)``; the
            image outputs become uint8 in the ``*_uint8`` twin.
        generative: The family's signatures that take no data (``decode``, ``sample``),
            listed between the float endpoints and the uint8 ones.

    Returns:
        The float endpoints, then ``generative``, then the uint8 ones.

    Example:
        >>> eps = image_endpoints("images", (8, 8, 1), (0.0, 1.0), ExportOptions(),
        ...     [("identity", lambda images: {"images": images}, ["images"], "images -> images")])
        >>> [e.name for e in eps]
        ['identity', 'identity_uint8']
    """
    spec = {data_name: tensor_spec(shape, data_name)}
    uint8 = _use_uint8(options, value_range)
    hint = f"Send 0-255 {data_name} to the *_uint8 signatures, or divide by 255." if uint8 else ""
    checked = {data_name: value_range if options.check_values else None}
    endpoints = [make_endpoint(name, fn, spec, doc, checked, hint) for name, fn, _, doc in functions]
    endpoints += generative
    if uint8:
        endpoints += [uint8_endpoint(f"{name}_uint8", fn, spec, [data_name], outputs,
                                     f"{doc}; uint8 [0, 255] {data_name} in" + (", uint8 out" if outputs else ""))
                      for name, fn, outputs, doc in functions]
    return endpoints


def describe_data(name: str, shape: Sequence[int | None], value_range: tuple[float, float] | None,
                  dtype: str = "float32") -> dict:
    """The metadata entry of a data tensor (a model's input or output): name, batched shape, dtype, range.

    Args:
        name: Tensor name (e.g. ``"images"``).
        shape: Shape of one example; the batch dimension ``None`` is put in front.
        value_range: Inclusive range of the values, or ``None`` when unbounded.
        dtype: Element type name.

    Returns:
        A JSON-serializable dict with keys ``name``, ``shape``, ``dtype`` and ``range`` (a list or ``None``).

    Example:
        >>> describe_data("images", (8, 8, 1), (0.0, 1.0))
        {'name': 'images', 'shape': [None, 8, 8, 1], 'dtype': 'float32', 'range': [0.0, 1.0]}
    """
    return {"name": name, "shape": [None, *shape], "dtype": dtype, "range": list(value_range) if value_range else None}



def _spec_json(spec: tf.TensorSpec) -> dict:
    return {"shape": spec.shape.as_list() if spec.shape.rank is not None else None, "dtype": spec.dtype.name}


def describe_endpoint(endpoint: Endpoint) -> dict:
    """Inputs, outputs (shape, dtype, range) and doc of an endpoint, for metadata and CLIs.

    Args:
        endpoint: The endpoint (its ``tf.function`` is traced to read the output specs).

    Returns:
        A JSON-serializable dict: ``"doc"``, ``"inputs"`` (name -> ``shape``, ``dtype``, ``range``)
        and ``"outputs"`` (name -> ``shape``, ``dtype``); ``None`` marks a free dimension.

    Example:
        >>> ep = make_endpoint("identity", lambda images: {"images": images},
        ...                    {"images": tensor_spec((8, 8, 1), "images")}, "images -> images", {"images": (0.0, 1.0)})
        >>> describe_endpoint(ep)["inputs"]
        {'images': {'shape': [None, 8, 8, 1], 'dtype': 'float32', 'range': [0.0, 1.0]}}
    """
    concrete = endpoint.function.get_concrete_function()
    inputs = {}
    for spec in concrete.structured_input_signature[0]:
        value_range = endpoint.ranges.get(spec.name)
        inputs[spec.name] = {**_spec_json(spec), "range": list(value_range) if value_range else None}
    outputs = {k: _spec_json(v) for k, v in concrete.structured_outputs.items()}
    return {"doc": endpoint.doc, "inputs": inputs, "outputs": outputs}


__all__ = ["MAX_SAMPLE_COUNT", "Endpoint", "ExportOptions", "data_name", "describe_data", "describe_endpoint",
           "image_endpoints", "make_endpoint", "sample_endpoint", "tensor_spec", "to_uint8", "uint8_endpoint"]
