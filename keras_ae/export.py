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
import math
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
        ranges: Inclusive value range of each input that is checked in the graph.
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
        return {k: tf.identity(tf.cast(v, tf.float32) if v.dtype.is_floating else v, name=k)
                for k, v in outputs.items()}

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


def image_endpoints(
    data_name: str,
    shape: Sequence[int],
    value_range: tuple[float, float] | None,
    options: ExportOptions,
    functions: Sequence[tuple[str, Callable, Sequence[str], str]],
) -> list[Endpoint]:
    """Signatures that take data (images), plus their ``*_uint8`` twins for [0, 1] data.

    Args:
        data_name: Input name (``"images"``, or ``"inputs"`` for vectors).
        shape: Shape of one example.
        value_range: Range the float input is checked against (``None``: no check).
        options: Export options (``uint8``, ``check_values``).
        functions: ``(name, fn(**{data_name: x}) -> outputs, image outputs, doc)``; the
            image outputs become uint8 in the ``*_uint8`` twin.

    Returns:
        The float endpoints, then the uint8 ones.

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
    if uint8:
        endpoints += [uint8_endpoint(f"{name}_uint8", fn, spec, [data_name], outputs,
                                     f"{doc}; uint8 [0, 255] {data_name} in" + (", uint8 out" if outputs else ""))
                      for name, fn, outputs, doc in functions]
    return endpoints


def _describe_data(name: str, shape: Sequence[int | None], value_range, dtype: str = "float32") -> dict:
    return {"name": name, "shape": [None, *shape], "dtype": dtype, "range": list(value_range) if value_range else None}


def _describe_autoencoder(model) -> dict:
    corruption = model.corruption
    return {
        "input": _describe_data(_data_name(model.example_shape), model.example_shape, model.input_range),
        "code_shape": [None, *model.code_shape],
        "code_size": int(np.prod(model.code_shape)),
        "reconstruction_loss": model.loss_kind,
        "denoiser": corruption is not None,
        "corruption": None if corruption is None else {"noise": corruption.noise, "level": corruption.level,
                                                       "clip": list(corruption.clip) if corruption.clip else None},
    }


@register_family("keras_ae.models.base:AutoEncoder", "autoencoder", default="reconstruct",
                 describe=_describe_autoencoder)
def autoencoder_endpoints(model, options: ExportOptions) -> list[Endpoint]:
    """Signatures of every :class:`~keras_ae.models.AutoEncoder` (dense, conv, tied, sparse,
    denoising, PCA, contractive): ``reconstruct``, ``encode``, ``denoise`` for denoisers,
    ``decode``, and ``*_uint8`` variants of the image signatures for [0, 1] data.

    Example:
        >>> [e.name for e in autoencoder_endpoints(model, ExportOptions())]  # doctest: +SKIP
        ['reconstruct', 'encode', 'decode', 'reconstruct_uint8', 'encode_uint8']
    """
    x = _data_name(model.example_shape)

    def reconstruct(**inputs):
        return {"reconstruction": model(inputs[x], training=False)}  # corruption is off at inference

    def denoise(**inputs):
        return {"denoised": model(inputs[x], training=False)}

    def encode(**inputs):
        return {"code": model.encoder(inputs[x], training=False)}

    def decode(code):
        return {x: model.decoder(code, training=False)}

    functions = [("reconstruct", reconstruct, ["reconstruction"], f"{x} -> reconstruction (the auto-encoder's output)"),
                 ("encode", encode, [], f"{x} -> code")]
    if model.corruption is not None:
        functions.append(("denoise", denoise, ["denoised"], f"noisy {x} -> denoised {x}"))
    endpoints = image_endpoints(x, model.example_shape, model.input_range, options, functions)
    decoder = make_endpoint("decode", decode, {"code": tensor_spec(model.code_shape, "code")}, f"code -> {x}")
    return [*endpoints[:len(functions)], decoder, *endpoints[len(functions):]]


def _describe_vae(model) -> dict:
    return {
        "input": _describe_data(_data_name(model.example_shape), model.example_shape, model.input_range),
        "code_size": model.latent_dim,
        "latent_dim": model.latent_dim,
        "likelihood": model.likelihood,
        "beta": model.beta,
        "prior": "standard_normal" if model.prior_layer is None else type(model.prior_layer).__name__,
        "max_sample_count": MAX_SAMPLE_COUNT,
    }


# A cap on `count` for the sample signatures: one request must not exhaust the server.
MAX_SAMPLE_COUNT = 10_000


@register_family("keras_ae.models.vae:VAE", "vae", default="reconstruct", describe=_describe_vae)
def vae_endpoints(model, options: ExportOptions) -> list[Endpoint]:
    """Signatures of a :class:`~keras_ae.models.vae.VAE`: ``reconstruct`` (mean of p(x|z) at
    the posterior mean), ``encode`` (posterior ``mean`` and ``stddev``), ``decode`` (latents
    -> mean of p(x|z)), ``sample`` (``count`` + ``seed`` -> images and their latents, the
    same draws as ``VAE.sample(count, seed)``), and ``*_uint8`` variants of the image inputs.

    Example:
        >>> loaded.signatures["sample"](count=tf.constant(16), seed=tf.constant(0, tf.int64))  # doctest: +SKIP
    """
    x = _data_name(model.example_shape)

    def reconstruct(**inputs):
        return {"reconstruction": model(inputs[x], training=False)}

    def encode(**inputs):
        mean, stddev = model.posterior_params(inputs[x])
        return {"mean": mean, "stddev": stddev}

    def decode(latents):
        return {x: model.decode(latents).mean()}

    def sample(count, seed):
        # VAE.sample's seeding: the int seed becomes the stateless pair (seed mod (2^31 - 1), 0),
        # split in two; the first half draws z from the prior.
        pair = tf.stack([tf.cast(tf.math.floormod(seed, 2**31 - 1), tf.int32), 0])
        z = model.prior.sample(count, seed=tf.random.experimental.stateless_split(pair, 2)[0])
        return {x: model.decode(z).mean(), "latents": z}

    functions = [("reconstruct", reconstruct, ["reconstruction"], f"{x} -> reconstruction (decoded posterior mean)"),
                 ("encode", encode, [], f"{x} -> mean, stddev of q(z|x)")]
    endpoints = image_endpoints(x, model.example_shape, model.input_range, options, functions)
    generative = [
        make_endpoint("decode", decode, {"latents": tensor_spec((model.latent_dim,), "latents")},
                      f"latents -> {x} (mean of p(x|z))"),
        make_endpoint("sample", sample, {"count": tf.TensorSpec((), tf.int32, name="count"),
                                         "seed": tf.TensorSpec((), tf.int64, name="seed")},
                      f"count, seed -> {x}, latents (z ~ prior; count <= {MAX_SAMPLE_COUNT})",
                      {"count": (0, MAX_SAMPLE_COUNT)}),
    ]
    return [*endpoints[:len(functions)], *generative, *endpoints[len(functions):]]


def _describe_gan(model) -> dict:
    return {
        "input": _describe_data("latents", (model.latent_dim,), None),
        "code_size": model.latent_dim,
        "latent_dim": model.latent_dim,
        "output": _describe_data("images", model.example_shape, model.data_range),
        "conditional": model.conditional,
        "num_classes": model.num_classes,
        "generator": "ema_generator" if model.ema_generator is not None else "generator",
    }


@register_family("keras_ae.models.gan:GAN", "gan", default="generate", describe=_describe_gan)
def gan_endpoints(model, options: ExportOptions) -> list[Endpoint]:
    """The ``generate`` signature of a :class:`~keras_ae.models.gan.GAN`: latents (and
    ``labels`` for a conditional GAN) -> images in the model's data range, computed by the
    generator ``GAN.sample`` uses (the EMA generator when there is one). The discriminator
    is not exported.

    Example:
        >>> loaded.signatures["generate"](latents=tf.random.normal((4, 64)))["images"]  # doctest: +SKIP
    """
    network = model.sampling_generator
    inputs = {"latents": tensor_spec((model.latent_dim,), "latents")}
    ranges = {}
    if model.conditional:
        inputs["labels"] = tf.TensorSpec((None,), tf.int32, name="labels")
        ranges["labels"] = (0, model.num_classes - 1)

    def generate(latents, labels=None):
        if labels is None:
            return {"images": network(latents, training=False)}
        return {"images": network([latents, tf.reshape(labels, [-1, 1])], training=False)}

    doc = "latents" + (", labels" if model.conditional else "") + " -> images"
    return [make_endpoint("generate", generate, inputs, doc, ranges)]


def _describe_hashing(model) -> dict:
    return {**_describe_autoencoder(model), "n_bits": model.n_bits, "hash_bytes": -(-model.n_bits // 8)}


@register_family("keras_ae.applications.hashing:SemanticHashingAE", "hashing", default="hash",
                 describe=_describe_hashing)
def hashing_endpoints(model, options: ExportOptions) -> list[Endpoint]:
    """A semantic-hashing auto-encoder: ``hash`` (images -> packed ``hash`` bytes, the
    ``np.packbits`` layout of ``model.hash``, and the 0/1 ``bits``), its uint8 twin, and
    every auto-encoder signature.

    Example:
        >>> loaded.signatures["hash"](images=x)["hash"]  # uint8 (n, ceil(n_bits / 8))  # doctest: +SKIP
    """
    x = _data_name(model.example_shape)

    def hash_(**inputs):
        return {"hash": model.hash_tensor(inputs[x]),
                "bits": tf.cast(model.encoder(inputs[x], training=False) > 0.5, tf.uint8)}

    functions = [("hash", hash_, [], f"{x} -> hash (packed uint8 bytes), bits (uint8 0/1)")]
    return [*image_endpoints(x, model.example_shape, model.input_range, options, functions),
            *autoencoder_endpoints(model, options)]


def _describe_autoregressive(model) -> dict:
    return {"input": _describe_data("images", model.image_shape, (0.0, 1.0)), "levels": model.levels,
            "num_dims": model.num_dims}


@register_family("keras_ae.models.autoregressive:AutoregressiveModel", "autoregressive", default="log_likelihood",
                 describe=_describe_autoregressive)
def autoregressive_endpoints(model, options: ExportOptions) -> list[Endpoint]:
    """PixelCNN / PixelRNN: ``log_likelihood`` (images -> exact ``log_likelihood`` in nats and
    ``bits_per_dim``) and its uint8 twin. Images must lie on the model's grid of levels
    (0/1 for a binary model), which the signature checks.

    Example:
        >>> loaded.signatures["log_likelihood"](images=x_binary)["bits_per_dim"]  # doctest: +SKIP
    """
    steps = model.levels - 1

    def log_likelihood(images):
        scaled = images * steps
        on_grid = tf.reduce_all(tf.abs(scaled - tf.round(scaled)) <= 1e-3)
        grid = "0 or 1 (binarize them first)" if model.binary else f"multiples of 1/{steps}"
        with tf.control_dependencies([tf.debugging.Assert(on_grid, [f"`images` must be {grid} for this model."])]):
            images = tf.identity(images)
        log_p = model.log_prob(images, model(images, training=False))
        return {"log_likelihood": log_p, "bits_per_dim": -log_p / (model.num_dims * math.log(2.0))}

    functions = [("log_likelihood", log_likelihood, [], "images -> log_likelihood (nats), bits_per_dim")]
    return image_endpoints("images", model.image_shape, (0.0, 1.0), options, functions)


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
        raise InputValidationError(
            f"history must be a keras History, a dict of lists or a JSON file, got {type(history).__name__}.")
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
        raise InputValidationError(
            f"version must be a non-negative integer (TensorFlow Serving's layout), got {version!r}.")
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


def _exists(target: Path) -> ExportExistsError:
    return ExportExistsError(f"{target} exists already; pass overwrite=True (CLI: --overwrite) or another version.")


def _publish(temporary: Path, target: Path, overwrite: bool) -> None:
    """Renames the finished export into place (atomic on one file system)."""
    if target.exists():
        if not overwrite:
            raise _exists(target)
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
        if (model_dir / str(version)).exists() and not overwrite:  # fail before the slow tracing
            raise _exists(model_dir / str(version))
    _ensure_built(model, input_shape)
    if not allow_untrained and not is_trained(model, history):
        raise ExportError(
            f"Model {model.name!r} has never been trained (no optimizer steps, no history, no closed-form fit). "
            "Train it first, pass history=..., or pass allow_untrained=True (CLI: --allow-untrained)."
        )
    # Trace everything before touching the disk: a model that cannot be traced writes nothing.
    endpoints = family.endpoints(model, ExportOptions(uint8=uint8, check_values=check_values))
    if family.default not in {e.name for e in endpoints}:
        raise ExportError(
            f"Family {family.name!r} declares serving_default={family.default!r} but has no such endpoint.")
    meta = export_metadata(model, family, endpoints, name, history, metadata)

    created = not model_dir.exists()
    model_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(model_dir)
    target = model_dir / str(version if version is not None else (existing_versions(model_dir) or [0])[-1] + 1)
    if target.exists() and not overwrite:
        raise _exists(target)
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
    "DEFAULT_BASE_DIR", "MAX_SAMPLE_COUNT", "METADATA_FILE", "Endpoint", "ExportError", "ExportExistsError",
    "ExportOptions", "Family", "autoencoder_endpoints", "autoregressive_endpoints", "check_export_name",
    "describe_endpoint", "existing_versions", "export", "export_metadata", "family_for", "gan_endpoints",
    "hashing_endpoints", "image_endpoints", "is_trained", "make_endpoint", "model_directory", "read_metadata",
    "register_family", "remove_stale_temporaries", "tensor_spec", "to_uint8", "uint8_endpoint", "vae_endpoints",
]
