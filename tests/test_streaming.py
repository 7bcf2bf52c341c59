"""tf.data datasets through every data consumer: same numbers as arrays, bounded memory, checked values."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_ae
from keras_ae.errors import InputValidationError
from keras_ae.evaluation.feature_extractors import FeatureExtractor
from keras_ae.evaluation.sample_quality import SampleQuality
from keras_ae.models import build_dense_ae, build_gan, build_pixelcnn, build_vae
from tests.memory import HIGH_WATER_MARK


@pytest.fixture(scope="module")
def data(digits):
    (x_train, y_train), (x_test, y_test) = digits
    binary = keras_ae.data.binarize(x_train[:200], seed=0)
    return x_train[:256], y_train[:256], binary


def _ds(x, *others, batch=None):
    ds = tf.data.Dataset.from_tensor_slices((x, *others) if others else x)
    return ds if batch is None else ds.batch(batch)


# -- fit / evaluate on a tf.data source equal the in-memory run ------------------------------------
FAMILIES = {
    "dense_ae": lambda: build_dense_ae((8, 8, 1), hidden=(16,), code_dim=4),
    "vae": lambda: build_vae((8, 8, 1), latent_dim=2, hidden=(16,), seed=0),
    "gan": lambda: build_gan((8, 8, 1), latent_dim=4, generator_units=(16,), discriminator_units=(16,),
                             maxout_pieces=2, dropout=0.0, seed=0),
}


def _run(family: str, x, source: str):
    keras.utils.set_random_seed(0)
    model = FAMILIES[family]()
    model.compile(jit_compile=False)
    if source == "dataset":
        history = model.fit(_ds(x, batch=32), epochs=1, verbose=0)
        evaluated = model.evaluate(_ds(x, batch=32), verbose=0, return_dict=True)
    else:
        history = model.fit(x, batch_size=32, epochs=1, shuffle=False, verbose=0, pipeline=source == "pipeline")
        evaluated = model.evaluate(x, batch_size=32, verbose=0, return_dict=True)
    return {k: v[-1] for k, v in history.history.items()}, evaluated


@pytest.mark.slow
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_streaming_fit_and_evaluate_equal_the_in_memory_run(data, family):
    x = data[2] if family == "vae" else data[0]  # a Bernoulli VAE trains on binary images
    streamed = _run(family, x, "dataset")
    for source in ("pipeline", "adapter"):
        in_memory = _run(family, x, source)
        for got, want in zip(streamed, in_memory):
            assert sorted(got) == sorted(want)
            for key in want:
                assert got[key] == pytest.approx(want[key], abs=1e-5), (family, source, key)


# -- inference consumers on a dataset equal their NumPy results ------------------------------------
@pytest.mark.slow
def test_autoencoder_encode_reconstruct_decode_stream(data):
    x, y, _ = data
    model = build_dense_ae((8, 8, 1), hidden=(16,), code_dim=4)
    codes = model.encode(x, batch_size=32)
    for ds in (_ds(x, batch=32), _ds(x, y, batch=50), _ds(x)):  # batched, (x, labels), unbatched
        np.testing.assert_allclose(model.encode(ds, batch_size=32), codes, rtol=0, atol=1e-6)
        np.testing.assert_allclose(model.reconstruct(ds), model.reconstruct(x), rtol=0, atol=1e-6)
    np.testing.assert_allclose(model.decode(_ds(codes, batch=20)), model.decode(codes), rtol=0, atol=1e-6)


@pytest.mark.slow
def test_vae_posterior_reconstruct_elbo_and_iwae_stream(data):
    _, y, binary = data
    vae = build_vae((8, 8, 1), latent_dim=2, hidden=(16,), seed=0)
    ds = _ds(binary, y[:200], batch=64)  # batches of 64 are re-cut to the estimator's batch_size
    q_array, q_stream = vae.encode(binary), vae.encode(ds)
    np.testing.assert_allclose(q_stream.mean(), q_array.mean(), atol=1e-6)
    np.testing.assert_allclose(q_stream.stddev(), q_array.stddev(), atol=1e-6)
    np.testing.assert_allclose(vae.reconstruct(ds), vae.reconstruct(binary), atol=1e-6)
    np.testing.assert_allclose(vae.elbo(ds, num_samples=3, batch_size=30, seed=1),
                               vae.elbo(binary, num_samples=3, batch_size=30, seed=1), rtol=1e-6)
    for stream in (ds, _ds(binary)):  # batched and unbatched
        np.testing.assert_allclose(vae.log_likelihood(stream, k=8, batch_size=16, seed=3, verbose=0),
                                   vae.log_likelihood(binary, k=8, batch_size=16, seed=3, verbose=0), rtol=1e-6)


@pytest.mark.slow
def test_streamed_progress_bar_has_no_total_and_ends_on_the_mean(data, capsys):
    _, _, binary = data
    vae = build_vae((8, 8, 1), latent_dim=2, hidden=(16,), seed=0)
    ll = vae.log_likelihood(_ds(binary, batch=64), k=4, batch_size=16, verbose=1)
    out = capsys.readouterr().out
    assert "Unknown" in out  # Progbar(target=None)
    assert out.rstrip().endswith(f"log_likelihood: {ll.mean():.4f}")
    pixelcnn = build_pixelcnn((8, 8, 1), filters=8, blocks=1)
    ll = pixelcnn.log_likelihood(_ds(binary, batch=64), verbose=1)
    assert capsys.readouterr().out.rstrip().endswith(f"log_likelihood: {ll.mean():.4f}")


def test_pixelcnn_log_likelihood_and_bits_per_dim_stream(data):
    _, y, binary = data
    model = build_pixelcnn((8, 8, 1), filters=8, blocks=1)
    want = model.log_likelihood(binary, batch_size=64)
    for ds in (_ds(binary, batch=64), _ds(binary, y[:200], batch=17), _ds(binary)):
        np.testing.assert_allclose(model.log_likelihood(ds, batch_size=64), want, rtol=1e-6)
    np.testing.assert_allclose(model.bits_per_dim(_ds(binary, batch=64)), model.bits_per_dim(binary), rtol=1e-6)


def _extractor():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 1))
    features = keras.layers.Dense(16)(keras.layers.Flatten()(inputs))
    net = keras.Model(inputs, [features, keras.layers.Dense(10, activation="softmax")(features)])
    return FeatureExtractor(net, "classifier", input_shape=(8, 8, 1))


def test_sample_quality_streams_real_and_generated_images(digits):
    (x_train, y_train), (x_test, y_test) = digits
    extractor = _extractor()
    arrays = SampleQuality(extractor, x_test, x_train[:600], kid_subsets=5, kid_subset_size=100, verbose=0)
    streamed = SampleQuality(extractor, _ds(x_test, y_test, batch=50), _ds(x_train[:600]), kid_subsets=5,
                             kid_subset_size=100, verbose=0)
    samples = x_train[600:800]
    want, got = arrays.evaluate(samples), streamed.evaluate(_ds(samples, batch=33))
    assert sorted(got) == sorted(want)
    # Running moments vs np.cov agree to float64 round-off; the float32 features do not: a Dense
    # layer's matmul on batches of 33 and of 500 can differ in the last bit on some CPUs (oneDNN
    # picks kernels by shape; seen on AMD EPYC: FID relative difference 3e-8). A wrong moment
    # update would be off by far more than 1e-6.
    for key, value in want.items():
        if isinstance(value, float):
            assert got[key] == pytest.approx(value, rel=1e-6, abs=1e-9), key
        else:
            assert got[key] == value, key
    # Past the reservoir, moments and class counts still cover every image.
    small = SampleQuality(extractor, _ds(x_test, batch=50), kid_subsets=5, kid_subset_size=50, verbose=0,
                          reservoir_size=100)
    assert small.n_reference == len(x_test) and small.reference_features.shape == (100, 16)
    assert small.floor["class_fractions"] == arrays.floor["class_fractions"]
    assert small.evaluate(samples)["frechet_distance"] == pytest.approx(want["frechet_distance"], rel=1e-6)


# -- bad datasets ---------------------------------------------------------------------------------
@pytest.mark.slow
def test_bad_datasets_raise_input_validation_errors(data):
    x, _, binary = data
    ae = build_dense_ae((8, 8, 1), hidden=(16,), code_dim=4)
    vae = build_vae((8, 8, 1), latent_dim=2, hidden=(16,))
    pixelcnn = build_pixelcnn((8, 8, 1), filters=8, blocks=1)
    extractor = _extractor()
    scaled = _ds((binary * 255).astype("float32"), batch=32)  # 0-255 values
    uint8 = _ds((binary * 255).astype("uint8"), batch=32)
    wrong_shape = _ds(np.zeros((8, 4, 4, 1), "float32"), batch=4)
    grey = _ds(x, batch=32)  # not binary
    calls = {
        "encode": ae.encode, "reconstruct": ae.reconstruct,
        "elbo": lambda d: vae.elbo(d), "iwae": lambda d: vae.log_likelihood(d, k=2, verbose=0),
        "pixelcnn": pixelcnn.log_likelihood, "features": lambda d: SampleQuality(extractor, d, verbose=0),
    }
    for name, call in calls.items():
        for bad, match in ((scaled, r"outside \[0, 1\]"), (uint8, "0-255"), (wrong_shape, "shape")):
            with pytest.raises(InputValidationError, match=match):
                call(bad)
    for call in (calls["elbo"], calls["iwae"], calls["pixelcnn"]):
        with pytest.raises(InputValidationError, match="not 0 or 1"):
            call(grey)
    with pytest.raises(InputValidationError, match="sample weights"):
        ae.encode(_ds(x, x, x, batch=8))


# -- memory: a dataset ~4x the budget streams through ------------------------------------------------
MEMORY_SCRIPT = HIGH_WATER_MARK + textwrap.dedent("""
    import json, resource, sys
    import numpy as np, tensorflow as tf
    from keras_ae.models import build_dense_ae

    batches, batch = int(sys.argv[1]), int(sys.argv[2])
    model = build_dense_ae((28, 28, 1), hidden=(8,), code_dim=2)

    def images(n):  # 28x28 float32 images in [0, 1] made inside the pipeline: nothing held in memory
        return tf.data.Dataset.range(n).map(
            lambda i: tf.random.stateless_uniform((batch, 28, 28, 1), tf.stack([i, 0])))

    model.encode(images(2))  # warm-up: traces, allocator pools
    baseline = high_water_mark()
    codes = model.encode(images(batches))
    peak = high_water_mark()
    print(json.dumps({"n": len(codes), "baseline": baseline, "peak": peak, "finite": bool(np.isfinite(codes).all())}))
""")


@pytest.mark.slow
def test_streaming_memory_stays_bounded(tmp_path):
    batch = 1000
    batches = 383  # 383 x 1000 x 28 x 28 x 4 bytes = 1.2 GB of images, 4x the budget
    budget = 300_000_000  # bytes above the baseline
    script = tmp_path / "stream_memory.py"
    script.write_text(MEMORY_SCRIPT)
    done = subprocess.run([sys.executable, str(script), str(batches), str(batch)], capture_output=True, text=True,
                          timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    total = batches * batch * 28 * 28 * 4
    print(f"streamed {total / 2**30:.2f} GiB; RSS baseline {result['baseline'] / 2**20:.0f} MiB, "
          f"peak {result['peak'] / 2**20:.0f} MiB, growth {(result['peak'] - result['baseline']) / 2**20:.0f} MiB")
    assert result["n"] == batches * batch and result["finite"]
    assert total >= 4 * budget * 0.99
    assert result["peak"] - result["baseline"] < budget
