"""Export for serving: TF-only reload matching Keras, named signatures, in-graph checks,
atomic versioned folders, metadata, TFSMLayer and the family registry."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_ae.export.exporter as exporter
from keras_ae import registry
from keras_ae.data import binarize, corrupt
from keras_ae.errors import InputValidationError
from keras_ae.export import (
    ExportError, ExportExistsError, existing_versions, export, make_endpoint, read_metadata, tensor_spec,
)
from keras_ae.models import (
    BUILDERS, build_dense_ae, build_denoising_ae, build_hashing_ae, build_sparse_ae, build_tied_ae, fit_pca,
)
from keras_ae.models.contractive import build_contractive_ae
from keras_ae.models.gan import build_conditional_gan, build_dcgan
from keras_ae.models.pixelcnn import build_pixelcnn
from keras_ae.models.rae import build_rae
from keras_ae.models.vae import build_beta_tcvae, build_factor_vae, build_vae
from keras_ae.models.wae import build_wae

SHAPE = (8, 8, 1)
N = 5  # examples sent through every signature
FAST = {"uint8": False}  # fewer signatures to trace where only the folder mechanics matter


def _trained(model, x, epochs: int = 1):
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    model.fit(x[:256], epochs=epochs, batch_size=64, verbose=0)
    return model


def _as_uint8(images: np.ndarray) -> np.ndarray:
    """What an image file stores: round(clip(x, 0, 1) * 255)."""
    return np.round(np.clip(images, 0.0, 1.0) * 255.0).astype(np.uint8)


UNTRAINED = {"vae", "vae_vamp", "beta_tcvae", "factor_vae", "gan", "conditional_gan", "pixelcnn", "hashing"}


@pytest.fixture(scope="module")
def models(digits):
    """One model per family. The auto-encoders are trained briefly; the other families are
    compared untrained (random weights test the graph just as well, and their training
    steps are slow to compile)."""
    (x, _), _ = digits
    keras.utils.set_random_seed(1)
    return {
        "dense": _trained(build_dense_ae(SHAPE, hidden=(32,), code_dim=6), x),
        "denoiser": _trained(build_denoising_ae(SHAPE, noise="gaussian", level=0.3, filters=(8,), code_dim=6), x),
        "tied": _trained(build_tied_ae(SHAPE, hidden=(32,), code_dim=6), x),
        "k_sparse": _trained(build_sparse_ae(SHAPE, hidden=(32,), code_dim=16, k=4, l1=0.0), x),
        "pca": fit_pca(x, 6),
        "contractive": _trained(build_contractive_ae(SHAPE, code_dim=6, contraction=1e-2, tied=True), x),
        "vae": build_vae(SHAPE, latent_dim=3, hidden=(16,)),
        "gan": build_dcgan(SHAPE, latent_dim=4, filters=(8, 4)),
        "conditional_gan": build_conditional_gan(SHAPE, num_classes=10, latent_dim=4, architecture="mlp",
                                                 generator_units=(16,), discriminator_units=(16,)),
        "pixelcnn": build_pixelcnn(SHAPE, filters=8, blocks=1),
        "hashing": build_hashing_ae(SHAPE, n_bits=12, hidden=(16,)),
        "rae": _trained(build_rae(SHAPE, hidden=(16,), code_dim=4, jacobian="exact"), x),
        "wae": _trained(build_wae(SHAPE, hidden=(16,), code_dim=4, seed=0), x),
        "vae_vamp": build_vae(SHAPE, latent_dim=3, hidden=(16,), prior="vamp", num_pseudo_inputs=5, seed=0),
        "beta_tcvae": build_beta_tcvae(SHAPE, latent_dim=3, hidden=(16,), seed=0),
        "factor_vae": build_factor_vae(SHAPE, latent_dim=3, hidden=(16,), discriminator_hidden=(8,), seed=0),
    }


@pytest.fixture(scope="module")
def dense(digits):
    """The trained dense auto-encoder alone, for the export-folder tests (cheaper than ``models``)."""
    keras.utils.set_random_seed(1)
    return _trained(build_dense_ae(SHAPE, hidden=(32,), code_dim=6), digits[0][0])


@pytest.fixture(scope="module")
def exports(models, tmp_path_factory):
    base = tmp_path_factory.mktemp("exports")
    return base, {label: export(model, label, base_dir=base, allow_untrained=label in UNTRAINED)
                  for label, model in models.items()}


@pytest.fixture(scope="module")
def saved_model_cli_listing(exports):
    """`saved_model_cli show --all` of the denoiser, started in the background (it imports
    TensorFlow for seconds) so it overlaps with the TensorFlow-only subprocess test."""
    _, paths = exports
    proc = subprocess.Popen(["saved_model_cli", "show", "--dir", str(paths["denoiser"]), "--all"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    yield proc
    if proc.poll() is None:
        proc.kill()
        proc.communicate()


def image_cases(functions: dict, x: np.ndarray, uint8: bool) -> dict:
    """signature -> (inputs, expected outputs) for signatures taking images, plus the uint8
    twins: 0-255 images in, expected = the Keras function of x8 / 255, image outputs as uint8.

    ``functions``: name -> (keras_fn(images) -> outputs, image output names[, own input]).
    """
    cases = {}
    for name, (fn, image_outputs, *own) in functions.items():
        images = own[0] if own else x
        cases[name] = ({"images": images}, fn(images))
        if uint8:
            x8 = _as_uint8(images)
            expected = fn(x8.astype(np.float32) / 255.0)
            cases[f"{name}_uint8"] = ({"images": x8}, {k: _as_uint8(v) if k in image_outputs else v
                                                       for k, v in expected.items()})
    return cases


def autoencoder_cases(model, x: np.ndarray) -> dict:
    """Every auto-encoder signature with its expected outputs, from the Keras model's API."""
    functions = {"reconstruct": (lambda v: {"reconstruction": model.reconstruct(v)}, ["reconstruction"]),
                 "encode": (lambda v: {"code": model.encode(v)}, [])}
    if model.corruption is not None:
        noisy = corrupt(x, model.corruption.noise, model.corruption.level, seed=3)
        functions["denoise"] = (lambda v: {"denoised": model.reconstruct(v)}, ["denoised"], noisy)
    cases = image_cases(functions, x, uint8=model.input_range == (0.0, 1.0))
    code = model.encode(x)
    cases["decode"] = ({"code": code}, {"images": model.decode(code)})
    cases["serving_default"] = cases["reconstruct"]
    return cases


def vae_cases(vae, x: np.ndarray) -> dict:
    def encode(v):
        q = vae.encode(v)
        return {"mean": q.mean().numpy(), "stddev": q.stddev().numpy()}

    cases = image_cases({"reconstruct": (lambda v: {"reconstruction": vae.reconstruct(v)}, ["reconstruction"]),
                         "encode": (encode, [])}, x, uint8=True)
    z = encode(x)["mean"]
    cases["decode"] = ({"latents": z}, {"images": vae.decode(z).mean().numpy()})
    # latents: checked below against decode (VAE.sample does not return them)
    cases["sample"] = ({"count": np.int32(4), "seed": np.int64(7)}, {"images": vae.sample(4, seed=7), "latents": None})
    cases["serving_default"] = cases["reconstruct"]
    return cases


def wae_cases(wae, x: np.ndarray) -> dict:
    """The auto-encoder's signatures and ``sample``: the images of ``WAE.sample`` for the same seed."""
    cases = autoencoder_cases(wae, x)
    cases["sample"] = ({"count": np.int32(4), "seed": np.int64(7)}, {"images": wae.sample(4, seed=7), "latents": None})
    return cases


def gan_cases(gan, rng) -> dict:
    z = rng.standard_normal((N, gan.latent_dim)).astype(np.float32)
    if gan.conditional:
        labels = np.array([0, 9, 3, 3, 7], np.int32)
        case = ({"latents": z, "labels": labels}, {"images": gan.generate(z, labels)})
    else:
        case = ({"latents": z}, {"images": gan.generate(z)})
    # The same seed gives the images of GAN.sample in the TF-only process.
    sample_inputs = {"count": np.int32(4), "seed": np.int64(7)}
    if gan.conditional:
        sample_inputs["labels"] = np.array([2, 0, 9, 2], np.int32)
    sample = ({**sample_inputs}, {"images": gan.sample(4, seed=7, labels=sample_inputs.get("labels"), verbose=0),
                                  "latents": gan.latents(4, seed=7)})
    return {"generate": case, "serving_default": case, "sample": sample}


def pixelcnn_cases(model, x: np.ndarray) -> dict:
    def log_likelihood(v):
        ll = model.log_likelihood(v).astype(np.float32)
        return {"log_likelihood": ll, "bits_per_dim": -ll / np.float32(model.num_dims * np.log(2.0))}

    cases = image_cases({"log_likelihood": (log_likelihood, [])}, binarize(x, seed=0), uint8=True)
    cases["sample"] = ({"count": np.int32(3), "seed": np.int64(7)}, {"images": model.sample(3, seed=7)})
    cases["serving_default"] = cases["log_likelihood"]
    return cases


def hashing_cases(model, x: np.ndarray) -> dict:
    cases = autoencoder_cases(model, x)

    def hash_(v):
        return {"hash": model.hash(v), "bits": (model.encode(v) > 0.5).astype(np.uint8)}

    cases.update(image_cases({"hash": (hash_, [])}, x, uint8=True))
    cases["serving_default"] = cases["hash"]
    return cases


def all_cases(models: dict, x: np.ndarray) -> dict:
    rng = np.random.default_rng(0)
    special = {"vae": vae_cases, "vae_vamp": vae_cases, "beta_tcvae": vae_cases, "factor_vae": vae_cases,
               "pixelcnn": pixelcnn_cases, "hashing": hashing_cases, "wae": wae_cases}
    return {label: (gan_cases(model, rng) if "gan" in label else special.get(label, autoencoder_cases)(model, x))
            for label, model in models.items()}


# Runs in a fresh interpreter where keras, tf_keras and keras_ae cannot be imported at all.
TF_ONLY_CHILD = textwrap.dedent("""
    import json, os, sys
    for blocked in ("keras", "tf_keras", "keras_ae"):
        sys.modules[blocked] = None  # any import of them now raises ImportError
    import numpy as np
    import tensorflow as tf

    job = json.load(open(sys.argv[1]))
    inputs = np.load(job["inputs"])
    results, signatures = {}, {}
    for label, path in job["exports"].items():
        loaded = tf.saved_model.load(path)
        signatures[label] = sorted(loaded.signatures)
        for name, fn in loaded.signatures.items():
            kwargs = {k: tf.constant(inputs[f"{label}__{name}__{k}"]) for k in fn.structured_input_signature[1]}
            for out, value in fn(**kwargs).items():
                results[f"{label}__{name}__{out}"] = value.numpy()
    np.savez(job["outputs"], **results)
    loaded_modules = [m for m in sys.modules if m.split(".")[0] in ("keras", "tf_keras", "keras_ae")
                      and sys.modules[m] is not None]
    print(json.dumps({"signatures": signatures, "keras_modules": loaded_modules}))
""")


def run_tf_only(exports: dict[str, Path], cases: dict[str, dict], tmp_path: Path) -> tuple[dict, dict]:
    """Calls every signature of every export in a TensorFlow-only subprocess."""
    arrays = {f"{label}__{sig}__{k}": v for label, sigs in cases.items() for sig, (inputs, _) in sigs.items()
              for k, v in inputs.items()}
    np.savez(tmp_path / "inputs.npz", **arrays)
    job = {"exports": {k: str(v) for k, v in exports.items()}, "inputs": str(tmp_path / "inputs.npz"),
           "outputs": str(tmp_path / "outputs.npz")}
    (tmp_path / "job.json").write_text(json.dumps(job))
    (tmp_path / "child.py").write_text(TF_ONLY_CHILD)
    proc = subprocess.run([sys.executable, str(tmp_path / "child.py"), str(tmp_path / "job.json")],
                          capture_output=True, text=True, timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    with np.load(tmp_path / "outputs.npz") as f:
        return report, {k: f[k] for k in f.files}


IMAGE_OUTPUTS = {"reconstruction", "denoised", "images"}


def assert_outputs_match(label: str, cases: dict, outputs: dict) -> None:
    for sig, (_, expected) in cases.items():
        for key, want in expected.items():
            got = outputs[f"{label}__{sig}__{key}"]
            if want is None:
                continue
            assert got.shape == want.shape and got.dtype == want.dtype, (label, sig, key, got.dtype, want.dtype)
            if want.dtype == np.uint8 and key in IMAGE_OUTPUTS:  # x.5 boundaries may round either way
                assert np.abs(got.astype(int) - want.astype(int)).max() <= 1, (label, sig, key)
                assert (got == want).mean() > 0.99, (label, sig, key)
            else:
                np.testing.assert_allclose(got, want, atol=1e-5, rtol=0, err_msg=f"{label}/{sig}/{key}")


@pytest.mark.slow
def test_every_signature_matches_keras_in_a_tensorflow_only_process(models, exports, digits, tmp_path,
                                                                    saved_model_cli_listing):
    _, (xt, _) = digits
    _, paths = exports
    cases = all_cases(models, xt[:N])
    report, outputs = run_tf_only(paths, cases, tmp_path)
    assert report["keras_modules"] == []
    for label in models:
        # every exported signature was called and checked against Keras, and vice versa
        assert report["signatures"][label] == sorted(cases[label]), label
        assert_outputs_match(label, cases[label], outputs)
    vae = models["vae"]
    np.testing.assert_allclose(vae.decode(outputs["vae__sample__latents"]).mean().numpy(),
                               outputs["vae__sample__images"], atol=1e-5)
    assert outputs["vae__sample__latents"].shape == (4, 3)
    assert "denoise" in cases["denoiser"] and "denoise" not in cases["dense"]
    assert "reconstruct_uint8" not in cases["pca"]  # squared-error model of unbounded data: floats only


@pytest.mark.slow
def test_conditional_exports_take_labels_in_a_tensorflow_only_process(digits, tmp_path):
    """The class-conditional PixelCNN and diffusion model, served without Keras: labels in,
    the images of ``model.sample(count, seed=, labels=)`` out, log p(x | y) per label."""
    from keras_ae.models.diffusion import build_diffusion

    _, (xt, _) = digits
    keras.utils.set_random_seed(2)
    cnn = build_pixelcnn(SHAPE, filters=8, blocks=1, num_classes=10)
    diffusion = build_diffusion(SHAPE, channels=(16,), attention=False, timesteps=10, sample_steps=4, num_classes=10)
    paths = {label: export(model, label, base_dir=tmp_path / "exports", allow_untrained=True)
             for label, model in (("conditional_pixelcnn", cnn), ("conditional_diffusion", diffusion))}
    labels, count, seed = np.array([3, 0, 9], np.int32), np.int32(3), np.int64(7)
    x = binarize(xt[:3], seed=0)
    ll = cnn.log_likelihood(x, labels=labels).astype(np.float32)
    likelihood = {"log_likelihood": ll, "bits_per_dim": -ll / np.float32(64 * np.log(2.0))}
    sampled = {"images": diffusion.sample(3, seed=7, labels=labels)}
    x8 = _as_uint8(xt[:3])  # the diffusion model scores 8-bit images
    cases = {
        "conditional_pixelcnn": {
            "sample": ({"count": count, "seed": seed, "labels": labels},
                       {"images": cnn.sample(3, seed=7, labels=labels)}),
            "log_likelihood": ({"images": x, "labels": labels}, likelihood),
            "log_likelihood_uint8": ({"images": _as_uint8(x), "labels": labels}, likelihood),
            "serving_default": ({"images": x, "labels": labels}, likelihood)},
        "conditional_diffusion": {  # sampled with the guidance the model was exported with
            "sample": ({"count": count, "seed": seed, "labels": labels}, sampled),
            "serving_default": ({"count": count, "seed": seed, "labels": labels}, sampled),
            "log_likelihood": ({"images": x8 / np.float32(255), "labels": labels}, {"log_likelihood": None}),
            "log_likelihood_uint8": ({"images": x8, "labels": labels}, {"log_likelihood": None})},
    }
    report, outputs = run_tf_only(paths, cases, tmp_path)
    assert report["keras_modules"] == []
    for label in cases:
        assert report["signatures"][label] == sorted(cases[label]), label
        assert_outputs_match(label, cases[label], outputs)
    # The labels matter: another class gives another likelihood (the untrained diffusion model's
    # samples saturate at 0 and 1 whatever the class; tests/test_diffusion_guidance.py trains one).
    assert not np.allclose(cnn.log_likelihood(x, labels=[1, 1, 1]), ll)


@pytest.mark.slow
def test_metadata_records_family_shapes_versions_and_training(models, exports):
    base, paths = exports
    meta = read_metadata(paths["denoiser"])
    model = models["denoiser"]
    assert paths["denoiser"] == base / "denoiser" / "1"
    assert meta["family"] == "autoencoder" and meta["serving_default"] == "reconstruct"
    assert meta["input"] == {"name": "images", "shape": [None, 8, 8, 1], "dtype": "float32", "range": [0.0, 1.0]}
    assert meta["code_size"] == 6 and meta["denoiser"] is True
    assert meta["corruption"] == {"noise": "gaussian", "level": 0.3, "clip": [0.0, 1.0]}
    assert meta["versions"]["tensorflow"] == tf.__version__ and meta["versions"]["keras"] == keras.__version__
    history = model.history.history
    assert meta["training"]["epochs"] == 1 and meta["training"]["trained"] is True
    assert meta["training"]["final_metrics"]["loss"] == pytest.approx(history["loss"][-1])
    assert meta["training"]["optimizer_steps"] == 4  # 256 examples / 64 per batch
    assert meta["signatures"]["denoise_uint8"]["inputs"]["images"]["dtype"] == "uint8"
    assert meta["signatures"]["decode"]["inputs"]["code"]["shape"] == [None, 6]
    assert read_metadata(paths["pca"])["training"]["info"]["method"] == "pca"


@pytest.mark.slow
def test_saved_model_cli_lists_every_signature(exports, saved_model_cli_listing):
    _, paths = exports
    meta = read_metadata(paths["denoiser"])
    stdout, stderr = saved_model_cli_listing.communicate(timeout=300)
    assert saved_model_cli_listing.returncode == 0, stderr[-2000:]
    for name in [*meta["signatures"], "serving_default"]:
        assert f"signature_def['{name}']" in stdout
    assert "inputs['images'] tensor_info:\n        dtype: DT_UINT8" in stdout
    assert "outputs['denoised'] tensor_info:" in stdout
    assert "shape: (-1, 8, 8, 1)" in stdout  # free batch dimension


@pytest.mark.slow
def test_signatures_reject_bad_inputs_naming_the_expected_shape(exports):
    _, paths = exports
    loaded = tf.saved_model.load(str(paths["denoiser"]))
    fn = loaded.signatures["denoise"]
    ok = fn(images=tf.fill((2, 8, 8, 1), 0.5))["denoised"]
    assert ok.shape == (2, 8, 8, 1)
    # A flat batch used to abort the whole process inside a oneDNN convolution.
    for bad in (tf.zeros((2, 9, 9, 1)), tf.zeros((2, 64)), tf.zeros((2, 8, 8, 1, 1))):
        with pytest.raises(tf.errors.InvalidArgumentError, match=r"expected shape \[\?,8,8,1\]"):
            fn(images=bad)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"\[0, 1\].*_uint8"):
        fn(images=tf.fill((1, 8, 8, 1), 255.0))
    with pytest.raises(tf.errors.InvalidArgumentError, match="NaN or infinite"):
        fn(images=tf.fill((1, 8, 8, 1), float("nan")))
    with pytest.raises(tf.errors.InvalidArgumentError, match="expected to be a float tensor but is a double"):
        fn(images=tf.zeros((1, 8, 8, 1), tf.float64))
    with pytest.raises(tf.errors.InvalidArgumentError, match="expected to be a uint8 tensor"):
        loaded.signatures["denoise_uint8"](images=tf.zeros((1, 8, 8, 1)))


@pytest.mark.slow
def test_family_signatures_check_their_own_inputs(exports, digits):
    _, (xt, _) = digits
    _, paths = exports
    sample = tf.saved_model.load(str(paths["vae"])).signatures["sample"]
    assert sample(count=tf.constant(3), seed=tf.constant(1, tf.int64))["images"].shape == (3, 8, 8, 1)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"`count` must lie in \[0, 10000\]"):
        sample(count=tf.constant(10**6), seed=tf.constant(1, tf.int64))
    generate = tf.saved_model.load(str(paths["conditional_gan"])).signatures["generate"]
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"`labels` must lie in \[0, 9\]"):
        generate(latents=tf.zeros((2, 4)), labels=tf.constant([1, 10]))
    sample_gan = tf.saved_model.load(str(paths["conditional_gan"])).signatures["sample"]
    with pytest.raises(tf.errors.InvalidArgumentError, match="`labels` must have `count` entries"):
        sample_gan(count=tf.constant(3), seed=tf.constant(1, tf.int64), labels=tf.constant([1, 2]))
    assert sample_gan(count=tf.constant(2), seed=tf.constant(1, tf.int64),
                      labels=tf.constant([1, 2]))["images"].shape == (2, 8, 8, 1)
    log_likelihood = tf.saved_model.load(str(paths["pixelcnn"])).signatures["log_likelihood"]
    with pytest.raises(tf.errors.InvalidArgumentError, match="must be 0 or 1"):
        log_likelihood(images=tf.constant(xt[:2]))  # grey images for a binary model


@pytest.mark.slow
def test_metadata_of_the_generative_families(exports):
    _, paths = exports
    vae, gan = read_metadata(paths["vae"]), read_metadata(paths["conditional_gan"])
    assert (vae["family"], vae["latent_dim"], vae["code_size"], vae["likelihood"]) == ("vae", 3, 3, "bernoulli")
    assert vae["signatures"]["sample"]["outputs"]["latents"]["shape"] == [None, 3]
    assert (gan["family"], gan["serving_default"], gan["num_classes"]) == ("gan", "generate", 10)
    assert gan["output"]["range"] == [0.0, 1.0] and gan["generator"] == "ema_generator"
    assert set(gan["signatures"]["generate"]["inputs"]) == {"latents", "labels"}
    pixelcnn = read_metadata(paths["pixelcnn"])["signatures"]["log_likelihood"]
    assert pixelcnn["outputs"]["bits_per_dim"]["shape"] == [None]
    hashing = read_metadata(paths["hashing"])
    assert (hashing["family"], hashing["serving_default"], hashing["hash_bytes"]) == ("hashing", "hash", 2)


@pytest.mark.slow
def test_tfsm_layer_loads_the_export_back_into_keras(models, exports, digits):
    _, (xt, _) = digits
    _, paths = exports
    model = models["denoiser"]
    noisy = corrupt(xt[:N], "gaussian", 0.3, seed=1)
    layer = keras.layers.TFSMLayer(str(paths["denoiser"]), call_endpoint="denoise")
    np.testing.assert_allclose(layer(noisy)["denoised"].numpy(), model.reconstruct(noisy), atol=1e-5)
    served = keras.layers.TFSMLayer(str(paths["denoiser"]), call_endpoint="serving_default")
    inputs = keras.Input(SHAPE)
    wrapped = keras.Model(inputs, served(inputs)["reconstruction"])  # usable inside a new Keras model
    np.testing.assert_allclose(wrapped.predict(noisy, verbose=0), model.reconstruct(noisy), atol=1e-5)


def _interrupt_after_writing(original):
    def write_then_fail(directory, *args, **kwargs):
        original(directory, *args, **kwargs)
        assert (Path(directory) / "saved_model.pb").is_file()  # the temporary export is complete
        raise KeyboardInterrupt  # e.g. Ctrl-C between writing and publishing
    return write_then_fail


@pytest.mark.slow
@pytest.mark.parametrize("existing", [False, True])
def test_interrupted_export_leaves_no_version_and_no_temporary(models, tmp_path, monkeypatch, existing):
    if existing:
        export(models["dense"], "ae", base_dir=tmp_path, **FAST)
    monkeypatch.setattr(exporter, "_write_savedmodel", _interrupt_after_writing(exporter._write_savedmodel))
    with pytest.raises(KeyboardInterrupt):
        export(models["dense"], "ae", base_dir=tmp_path, **FAST)
    if existing:
        assert sorted(p.name for p in (tmp_path / "ae").iterdir()) == ["1"]
    else:
        assert list(tmp_path.iterdir()) == []  # not even an empty ae/ folder


@pytest.mark.slow
def test_rename_failure_also_cleans_up(dense, tmp_path, monkeypatch):
    def fail(*args):
        raise OSError("disk full")
    monkeypatch.setattr(exporter.os, "rename", fail)
    with pytest.raises(OSError, match="disk full"):
        export(dense, "ae", base_dir=tmp_path, **FAST)
    assert list(tmp_path.iterdir()) == []


def test_temporaries_of_killed_exports_are_removed(dense, tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / "ae" / f".keras_ae-tmp-{dead.pid}-x1"
    live = tmp_path / "ae" / f".keras_ae-tmp-{os.getppid()}-x2"  # pytest's parent shell is alive
    for folder in (stale, live):
        folder.mkdir(parents=True)
        (folder / "saved_model.pb").write_bytes(b"half")
    export(dense, "ae", base_dir=tmp_path, **FAST)
    assert not stale.exists() and live.exists()
    assert existing_versions(tmp_path / "ae") == [1]


@pytest.mark.slow
def test_versions_increment_and_existing_versions_are_refused(models, tmp_path):
    model = models["dense"]
    assert export(model, "ae", base_dir=tmp_path, **FAST).name == "1"
    assert export(model, "ae", base_dir=tmp_path, metadata={"run": "second"}, **FAST).name == "2"
    assert export(model, "ae", base_dir=tmp_path, version=10, **FAST).name == "10"
    assert export(model, "ae", base_dir=tmp_path, **FAST).name == "11"
    with pytest.raises(ExportExistsError, match="overwrite"):
        export(model, "ae", base_dir=tmp_path, version=2, metadata={"run": "third"}, **FAST)
    assert read_metadata(tmp_path / "ae" / "2")["user"] == {"run": "second"}
    export(model, "ae", base_dir=tmp_path, version=2, overwrite=True, metadata={"run": "third"}, **FAST)
    assert read_metadata(tmp_path / "ae" / "2")["user"] == {"run": "third"}
    assert sorted(p.name for p in (tmp_path / "ae").iterdir()) == ["1", "10", "11", "2"]
    with pytest.raises(InputValidationError, match="non-negative integer"):
        export(model, "ae", base_dir=tmp_path, version=-1, **FAST)


@pytest.mark.parametrize("name", ["../escape", "a/b", "..", "", ".hidden", "/abs", "a\\b", "x" * 200])
def test_names_that_are_not_one_folder_are_refused(dense, tmp_path, name):
    with pytest.raises(InputValidationError, match="one folder name"):
        export(dense, name, base_dir=tmp_path / "base")
    assert not (tmp_path / "base").exists() and not (tmp_path / "escape").exists()


def test_a_symlink_cannot_lead_the_export_out_of_base_dir(dense, tmp_path):
    (tmp_path / "base").mkdir()
    (tmp_path / "outside").mkdir()
    (tmp_path / "base" / "ae").symlink_to(tmp_path / "outside")
    with pytest.raises(InputValidationError, match="outside"):
        export(dense, "ae", base_dir=tmp_path / "base")
    assert list((tmp_path / "outside").iterdir()) == []


@pytest.mark.slow
def test_untrained_models_are_refused_unless_allowed(tmp_path):
    model = build_dense_ae(SHAPE, hidden=(8,), code_dim=2)
    with pytest.raises(ExportError, match="never been trained.*allow_untrained=True"):
        export(model, "ae", base_dir=tmp_path)
    assert not (tmp_path / "ae").exists()
    path = export(model, "ae", base_dir=tmp_path, allow_untrained=True)
    assert read_metadata(path)["training"]["trained"] is False


class _Unbuilt(keras.Model):
    """A model whose weights exist only once it is built."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = keras.layers.Dense(2)

    def build(self, input_shape):
        self.dense.build(input_shape)

    def call(self, x):
        return self.dense(x)


def test_registry_dispatches_subclasses_and_builds_unbuilt_models(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "FAMILIES", dict(registry.FAMILIES))

    @registry.register_serving(_Unbuilt, "tiny", default="predict")
    def tiny_endpoints(model, options):
        return [make_endpoint("predict", lambda inputs: {"outputs": model(inputs)},
                              {"inputs": tensor_spec((3,), "inputs")}, "inputs -> outputs")]

    class Subclass(_Unbuilt):
        pass

    model = Subclass()
    with pytest.raises(ExportError, match=r"not built.*input_shape="):
        export(model, "tiny", base_dir=tmp_path, allow_untrained=True)
    path = export(model, "tiny", base_dir=tmp_path, allow_untrained=True, input_shape=(3,))
    x = np.arange(6, dtype="float32").reshape(2, 3)
    got = tf.saved_model.load(str(path)).signatures["serving_default"](inputs=tf.constant(x))["outputs"]
    np.testing.assert_allclose(got.numpy(), model(x).numpy(), atol=1e-6)
    assert read_metadata(path)["family"] == "tiny"


def test_unknown_model_types_are_refused_listing_the_exportable_ones(tmp_path):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    with pytest.raises(ExportError, match=r"Sequential.*keras_ae\.models\.base\.AutoEncoder"):
        export(model, "seq", base_dir=tmp_path, allow_untrained=True)


# Defaults that make a smoke test slow without changing what it checks: the diffusion
# bound signature runs the network once per step (1,000 by default); a U-Net of two narrow levels
# (attention and every block kind kept) exports in 12 s instead of 16.
SMOKE_ARGUMENTS = {"diffusion": {"timesteps": 50, "channels": (8, 16)}}
# Builders of other data than images: the example shape they take instead of SHAPE.
SMOKE_SHAPES = {"conv1d": (8, 1)}  # windows (length, channels) of a series
# Families whose signatures take 3-30 CPU seconds to trace: in the full tier only.
@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_every_registered_builder_exports_with_working_signatures(name, tmp_path):
    """Smoke test over keras_ae.models.BUILDERS: each model exports and every signature runs
    on inputs of its declared shape and dtype, returning outputs of the declared shape."""
    model = BUILDERS[name](SMOKE_SHAPES.get(name, SHAPE), **SMOKE_ARGUMENTS.get(name, {}))
    path = export(model, name, base_dir=tmp_path, allow_untrained=True)
    meta = read_metadata(path)
    loaded = tf.saved_model.load(str(path))
    assert set(loaded.signatures) == {*meta["signatures"], "serving_default"}
    rng = np.random.default_rng(0)
    for sig_name, sig in meta["signatures"].items():
        kwargs = {}
        for key, spec in sig["inputs"].items():
            shape = [2 if d is None else d for d in spec["shape"]]
            lo, hi = spec.get("range") or (None, None)
            if spec["dtype"] == "uint8":  # 0 or 255: valid for every model, binary ones included
                value = 255 * rng.integers(0, 2, shape)
            elif spec["dtype"].startswith("int"):
                value = rng.integers(lo or 0, min(hi or 3, (lo or 0) + 3) + 1, shape)
            elif lo is not None:
                value = lo + (hi - lo) * rng.integers(0, 2, shape)
            else:
                value = rng.standard_normal(shape)
            kwargs[key] = tf.constant(value, spec["dtype"])
        outputs = loaded.signatures[sig_name](**kwargs)
        for key, spec in sig["outputs"].items():
            assert outputs[key].shape[1:] == spec["shape"][1:], (sig_name, key)
            assert outputs[key].dtype.name == spec["dtype"]
            assert np.isfinite(outputs[key].numpy()).all()
