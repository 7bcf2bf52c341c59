"""Requests for no examples: ``count=0`` and zero-row batches get empty results.

Exported signatures answer them with empty outputs of the declared shapes and dtypes (in a
TensorFlow-only process, for one small model of every registered family); in Python,
``sample(0)`` is an empty array in every family, and an empty batch of data is refused.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from keras_ae import registry
from keras_ae.errors import InputValidationError
from keras_ae.export import export, make_endpoint, read_metadata, tensor_spec
from keras_ae.models import (
    build_contractive_ae, build_dense_ae, build_denoising_ae, build_diffusion, build_realnvp, build_tied_ae,
    build_vqvae,
)
from keras_ae.models.gan import build_conditional_gan, build_dcgan, build_gan
from keras_ae.models.hashing import build_hashing_ae
from keras_ae.models.pixelcnn import build_pixelcnn
from keras_ae.models.pixelrnn import build_pixelrnn
from keras_ae.models.rae import build_rae
from keras_ae.models.vae import build_factor_vae, build_vae
from keras_ae.models.wae import build_wae

SHAPE = (8, 8, 1)

# One small model per registered family, plus the variants whose signatures differ: a
# convolutional denoiser (`denoise`; oneDNN gives empty convolution batches a wrong trailing
# shape), a convolutional and a conditional GAN (two batched inputs).
MODELS = {
    "dense": lambda: build_dense_ae(SHAPE, hidden=(16,), code_dim=4),
    "conv_denoiser": lambda: build_denoising_ae(SHAPE, noise="masking", level=0.3, filters=(8,)),
    "tied": lambda: build_tied_ae(SHAPE, hidden=(16,), code_dim=4),
    "contractive": lambda: build_contractive_ae(SHAPE, code_dim=8),
    "hashing": lambda: build_hashing_ae(SHAPE, n_bits=8, hidden=(16,)),
    "vae": lambda: build_vae(SHAPE, latent_dim=3, hidden=(16,), seed=0),
    "flow_vae": lambda: build_vae(SHAPE, latent_dim=3, hidden=(16,), posterior_flow="iaf", flow_steps=1,
                                  flow_hidden=(8,), seed=0),
    "gan": lambda: build_gan(SHAPE, latent_dim=4, generator_units=(8,), discriminator_units=(8,)),
    "dcgan": lambda: build_dcgan(SHAPE, latent_dim=4, filters=(8, 4)),
    "conditional_gan": lambda: build_conditional_gan(SHAPE, num_classes=10, latent_dim=4, architecture="mlp",
                                                     generator_units=(8,), discriminator_units=(8,)),
    "pixelcnn": lambda: build_pixelcnn(SHAPE, filters=8, blocks=1),
    "pixelrnn": lambda: build_pixelrnn(SHAPE, kind="row_lstm", units=8, layers=1),
    "vqvae": lambda: build_vqvae(SHAPE, num_codes=8, code_dim=2, filters=(4,), residual_blocks=0, prior_filters=4,
                                 prior_blocks=0, seed=0),
    "realnvp": lambda: build_realnvp(SHAPE, filters=4, blocks=0, couplings=1, final_couplings=1, seed=0),
    "diffusion": lambda: build_diffusion(SHAPE, channels=(8,), attention=False, timesteps=4, sample_steps=2, seed=0),
    "rae": lambda: build_rae(SHAPE, hidden=(8,), code_dim=2, jacobian="exact"),
    "wae": lambda: build_wae(SHAPE, hidden=(8,), code_dim=2, seed=0),
    "factor_vae": lambda: build_factor_vae(SHAPE, latent_dim=2, hidden=(8,), discriminator_hidden=(4,), seed=0),
}
# Registered families without a model here: their signatures are a subclass's.
ABSTRACT = {"autoregressive": "the base of PixelCNN and PixelRNN, both exported above",
            "anomaly_detector": "wraps the families above; its empty batches are in tests/test_detectors.py",
            "latent_sampler": "fitted on the families above; its count=0 request is in tests/test_latent_sampler.py"}
SAMPLERS = ["vae", "flow_vae", "gan", "dcgan", "conditional_gan", "pixelcnn", "pixelrnn", "vqvae", "realnvp",
            "diffusion", "wae", "factor_vae"]


@pytest.fixture(scope="module")
def models():
    return {label: build() for label, build in MODELS.items()}


@pytest.mark.slow
def test_every_registered_family_has_a_model_in_the_empty_input_test(models):
    covered = {registry.family_of(model).name for model in models.values()}
    assert sorted(f.name for f in registry.families() if f.name not in covered | set(ABSTRACT)) == []


def test_a_signature_asked_for_no_examples_returns_empty_outputs_without_running_the_model():
    def draw(count, seed):
        # What a model's sampling loop does with 0 images: an op that needs at least one.
        with tf.control_dependencies([tf.debugging.assert_positive(count, "ran on an empty request")]):
            images = tf.random.stateless_uniform(tf.stack([count, 8, 8, 1]), tf.stack([seed, seed]))
        return {"images": images, "labels": tf.zeros([count], tf.int32)}

    ep = make_endpoint("draw", draw, {"count": tf.TensorSpec((), tf.int32, name="count"),
                                      "seed": tf.TensorSpec((), tf.int64, name="seed")}, "count -> images")
    out = ep.function(tf.constant(0), tf.constant(3, tf.int64))
    assert out["images"].shape == (0, 8, 8, 1) and out["images"].dtype == tf.float32
    assert out["labels"].shape == (0,) and out["labels"].dtype == tf.int32
    assert ep.function(tf.constant(2), tf.constant(3, tf.int64))["images"].shape == (2, 8, 8, 1)


def test_a_signature_with_an_output_per_batch_still_runs_on_an_empty_batch():
    # A scalar output has no empty form: the function runs as it is.
    ep = make_endpoint("total", lambda x: {"total": tf.reduce_sum(x), "doubled": 2 * x},
                       {"x": tensor_spec((3,), "x")}, "x -> sum of x, 2 x")
    out = ep.function(tf.zeros((0, 3)))
    assert out["total"].numpy() == 0.0 and out["doubled"].shape == (0, 3)
    assert ep.function(tf.ones((2, 3)))["total"].numpy() == 6.0


def test_a_signature_with_two_batched_inputs_refuses_unequal_rows_naming_both():
    ep = make_endpoint("add", lambda a, b: {"sum": a + b}, {"a": tensor_spec((2,), "a"), "b": tensor_spec((2,), "b")},
                       "a, b -> a + b")
    with pytest.raises(tf.errors.InvalidArgumentError, match="`b` and `a` must have the same number of rows"):
        ep.function(tf.zeros((0, 2)), tf.ones((3, 2)))
    assert ep.function(tf.zeros((0, 2)), tf.zeros((0, 2)))["sum"].shape == (0, 2)


@pytest.mark.slow
@pytest.mark.parametrize("label", SAMPLERS)
def test_sample_of_zero_is_an_empty_float32_array_in_every_generative_family(models, label):
    model = models[label]
    # A conditional model takes its labels (one int for all, here for none) under the one labels contract.
    images = model.sample(0, seed=1, **({"labels": 0} if getattr(model, "conditional", False) else {}))
    assert isinstance(images, np.ndarray) and images.dtype == np.float32
    assert images.shape == (0, *SHAPE)


# Python methods that take a batch of data, with one example of the right shape.
def _data_methods(label, model):
    x = np.zeros((1, *SHAPE), np.float32)
    calls = {}
    for method in ("encode", "reconstruct", "log_likelihood", "hash"):
        if hasattr(model, method):
            calls[method] = (getattr(model, method), x)
    if label in ("dense", "conv_denoiser", "tied", "contractive", "hashing"):
        calls["decode"] = (model.decode, model.encode(x))
    if label in ("vae", "flow_vae"):
        calls["decode"] = (model.decode, np.zeros((1, model.latent_dim), np.float32))
    if label == "realnvp":
        calls["decode"] = (model.decode, np.zeros((1, model.num_dims), np.float32))
    if "gan" in label:
        calls = {"generate": (model.generate, np.zeros((1, model.latent_dim), np.float32))}
    return calls


@pytest.mark.parametrize("label", sorted(MODELS))
def test_python_methods_refuse_an_empty_batch_of_data_by_name(models, label):
    """An empty array of data is almost always a slicing mistake: the Python API refuses it
    (the shared ``check_array``), where a server answers the well-formed empty request."""
    model = models[label]
    calls = _data_methods(label, model)
    assert calls, label
    for method, (fn, one) in calls.items():
        with pytest.raises(InputValidationError, match="is empty .*at least one example"):
            fn(one[:0])


def test_vqvae_decode_of_no_code_maps_is_empty_like_its_export(models):
    """VQ-VAE decodes code maps, which ``sample(0)`` produces: zero maps give zero images."""
    model = models["vqvae"]
    assert model.decode(np.zeros((0, *model.code_map_shape), np.int32)).shape == (0, *SHAPE)


# Runs where keras, tf_keras and keras_ae cannot be imported: every signature of every
# export (serving_default and the uint8 twins too) with count=0 or zero-row batches.
TF_ONLY_CHILD = textwrap.dedent("""
    import json, sys
    for blocked in ("keras", "tf_keras", "keras_ae"):
        sys.modules[blocked] = None
    import tensorflow as tf

    report = {}
    for label, path in json.load(open(sys.argv[1])).items():
        loaded = tf.saved_model.load(path)
        report[label] = {}
        for name, fn in loaded.signatures.items():
            kwargs = {}
            for key, spec in fn.structured_input_signature[1].items():
                if spec.shape.rank == 0:  # count -> 0; seed -> any value
                    kwargs[key] = tf.constant(0 if key == "count" else 7, spec.dtype)
                else:
                    kwargs[key] = tf.zeros([0, *spec.shape[1:]], spec.dtype)
            try:
                report[label][name] = {k: [v.shape.as_list(), v.dtype.name] for k, v in fn(**kwargs).items()}
            except Exception as exc:  # reported per signature, so one run shows every failure
                report[label][name] = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:300]}"
    blocked = [m for m in sys.modules if m.split(".")[0] in ("keras", "tf_keras", "keras_ae") and sys.modules[m]]
    print(json.dumps({"report": report, "keras_modules": blocked}))
""")


@pytest.mark.slow
def test_every_exported_signature_of_every_family_answers_an_empty_request_with_empty_outputs(models, tmp_path):
    paths = {label: export(model, label, base_dir=tmp_path / "exports", allow_untrained=True)
             for label, model in models.items()}
    (tmp_path / "job.json").write_text(json.dumps({k: str(v) for k, v in paths.items()}))
    (tmp_path / "child.py").write_text(TF_ONLY_CHILD)
    proc = subprocess.run([sys.executable, str(tmp_path / "child.py"), str(tmp_path / "job.json")],
                          capture_output=True, text=True, timeout=600, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["keras_modules"] == []

    failures = []
    for label, path in paths.items():
        meta = read_metadata(path)
        declared = {**meta["signatures"], "serving_default": meta["signatures"][meta["serving_default"]]}
        got = result["report"][label]
        assert sorted(got) == sorted(declared), label
        for name, signature in declared.items():
            outputs = got[name]
            expected = {k: [[0, *spec["shape"][1:]], spec["dtype"]] for k, spec in signature["outputs"].items()}
            if outputs != expected:
                failures.append(f"{label}/{name}: got {outputs}, expected {expected}")
    assert failures == [], "\n".join(failures)
    # The uint8 twins and the count signatures were among those called.
    called = {name for label in result["report"] for name in result["report"][label]}
    assert {"sample", "reconstruct_uint8", "log_likelihood_uint8", "encode_uint8", "decode", "generate"} <= called
