"""Regularized auto-encoders (RAE) and Wasserstein auto-encoders (WAE-MMD), and the in-graph MMD.

Penalties against hand / NumPy / finite-difference computations, a WAE whose codes end up closer
to N(0, I) than the same auto-encoder without the penalty, ``.keras`` round trips, seeded
sampling shared with the export's ``sample`` signature, refused arguments and the NaN guard.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_ae.errors import InputValidationError, TrainingDivergedError, UnknownNameError
from keras_ae.evaluation.sample_quality import mmd2_unbiased as numpy_mmd2_unbiased
from keras_ae.jacobian import finite_difference_jacobian
from keras_ae.mmd import PAPER_SCALES, get_kernel, mmd2_unbiased
from keras_ae.models.rae import RegularizedAutoEncoder, build_rae, decoder_kernels
from keras_ae.models.wae import WassersteinAutoEncoder, build_wae
from keras_ae.saving import load_model, save_model

SHAPE = (8, 8, 1)


def _numpy_imq_mmd2(a: np.ndarray, b: np.ndarray, scales=PAPER_SCALES) -> float:
    """Tolstikhin et al.'s estimate written out in NumPy: IMQ kernel, C = 2 d s, diagonals left out."""
    def gram(u, v):
        dist = ((u[:, None, :] - v[None, :, :]) ** 2).sum(-1)
        return sum(2 * a.shape[1] * s / (2 * a.shape[1] * s + dist) for s in scales)

    m, n = len(a), len(b)
    kaa, kbb, kab = gram(a, a), gram(b, b), gram(a, b)
    return ((kaa.sum() - np.trace(kaa)) / (m * (m - 1)) + (kbb.sum() - np.trace(kbb)) / (n * (n - 1))
            - 2 * kab.mean())


# -- the MMD -----------------------------------------------------------------------------
def test_in_graph_mmd_matches_a_numpy_unbiased_estimate():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(40, 5)), rng.normal(0.3, 1.2, size=(50, 5))
    got = mmd2_unbiased(a, b, get_kernel("imq"))
    assert got.dtype == tf.float64
    np.testing.assert_allclose(float(got), _numpy_imq_mmd2(a, b), rtol=1e-10)
    # The KID kernel gives evaluation's NumPy estimate: evaluation could call the in-graph one.
    np.testing.assert_allclose(float(mmd2_unbiased(a, b, get_kernel("polynomial"))), numpy_mmd2_unbiased(a, b),
                               rtol=1e-10)


def test_mmd_is_zero_in_expectation_for_one_distribution_and_positive_for_a_shifted_one():
    rng = np.random.default_rng(1)
    kernel = get_kernel("imq")
    same = [float(mmd2_unbiased(rng.normal(size=(64, 8)), rng.normal(size=(64, 8)), kernel)) for _ in range(30)]
    shifted = [float(mmd2_unbiased(rng.normal(0.5, 1.0, size=(64, 8)), rng.normal(size=(64, 8)), kernel))
               for _ in range(30)]
    standard_error = np.std(same) / np.sqrt(len(same))
    assert abs(np.mean(same)) < 3 * standard_error, (np.mean(same), standard_error)
    assert min(shifted) > 0 and np.mean(shifted) > 10 * np.std(same), (np.mean(shifted), np.std(same))


def test_mmd_of_samples_with_fewer_than_two_rows_is_zero_and_its_gradient_finite():
    a = tf.Variable([[1.0, 2.0]])
    with tf.GradientTape() as tape:
        value = mmd2_unbiased(a, tf.zeros((5, 2)))
    assert float(value) == 0.0
    assert np.all(np.isfinite(tape.gradient(value, a).numpy()))


@pytest.mark.parametrize("kwargs", [{"scales": ()}, {"scales": (0.0, 1.0)}, {"scales": "1"},
                                    {"prior_variance": -1.0}])
def test_bad_kernel_settings_are_refused(kwargs):
    with pytest.raises(InputValidationError, match="scales|prior_variance"):
        get_kernel("imq", **kwargs)


# -- RAE penalties -----------------------------------------------------------------------
def test_rae_code_penalty_and_weight_decay_match_a_hand_computation(digits):
    (x, _), _ = digits
    model = build_rae(SHAPE, hidden=(16,), code_dim=4, beta=0.3, decoder_regularization="l2", lam=0.02)
    z = model.encoder(x[:10]).numpy().astype(np.float64)
    kernels = [w.numpy().astype(np.float64) for w in decoder_kernels(model.decoder)]
    assert len(kernels) == 2  # the decoder's two Dense kernels, not their biases
    terms = {k: float(v) for k, v in model.compute_losses(tf.constant(x[:10]), tf.constant(x[:10])).items()}
    np.testing.assert_allclose(terms["code_penalty"], 0.3 * np.mean(0.5 * (z ** 2).sum(1)), rtol=1e-5)
    np.testing.assert_allclose(terms["weight_decay"], 0.02 * sum((w ** 2).sum() for w in kernels), rtol=1e-5)
    np.testing.assert_allclose(terms["loss"], terms["reconstruction"] + terms["code_penalty"] + terms["weight_decay"],
                               rtol=1e-6)


@pytest.mark.parametrize("architecture", ["dense", "conv"])
def test_rae_gradient_penalty_matches_finite_differences_of_the_decoder(architecture, digits):
    (x, _), _ = digits
    # tanh: a smooth decoder, so central differences are accurate (ReLU kinks are not)
    model = build_rae(SHAPE, architecture=architecture, hidden=(16,), filters=(4,), code_dim=3, beta=0.0,
                      decoder_regularization="gp", lam=0.5, jacobian="exact", activation="tanh", loss="mse")
    z = model.encoder(x[:6]).numpy()
    jac = finite_difference_jacobian(model.decoder, z, eps=1e-2)  # (6, 64, 3)
    want = 0.5 * np.mean((jac ** 2).sum((1, 2)))
    got = float(model.compute_penalties(tf.constant(x[:6]), tf.constant(z))["gradient_penalty"])
    np.testing.assert_allclose(got, want, rtol=1e-2)
    assert got > 0


@pytest.mark.slow
def test_rae_gradient_penalty_smooths_the_decoder_compared_to_no_decoder_term(digits):
    """Trained alike, the decoder of RAE-GP has a smaller Jacobian at the test codes."""
    (x, _), (xt, _) = digits
    norms = {}
    for reg in ("gp", None):
        keras.utils.set_random_seed(0)
        model = build_rae(SHAPE, hidden=(32,), code_dim=4, decoder_regularization=reg, lam=0.05, jacobian="exact")
        model.compile(optimizer=keras.optimizers.Adam(3e-3))
        model.fit(x[:512], epochs=3, batch_size=64, verbose=0)
        jac = finite_difference_jacobian(model.decoder, model.codes(xt[:16]))
        norms[reg] = float(np.mean((jac ** 2).sum((1, 2))))
    assert norms["gp"] < 0.7 * norms[None], norms


# -- WAE ---------------------------------------------------------------------------------
def test_wae_penalty_is_lam_times_the_mmd_to_the_prior_draws_it_samples(digits):
    (x, _), _ = digits
    model = build_wae(SHAPE, hidden=(16,), code_dim=3, lam=4.0, seed=5)
    z = model.encoder(x[:20])
    seed_state = model.seed_generator.state.numpy().copy()
    got = float(model.compute_penalties(tf.constant(x[:20]), z)["mmd"])
    # the same stateless seed the penalty took from the stream: the same prior draws
    from keras_ae.models.wae import prior_draws
    from keras_ae.random import next_stateless_seed

    model.seed_generator.state.assign(seed_state)
    prior = prior_draws(20, 3, next_stateless_seed(model.seed_generator)).numpy()
    np.testing.assert_allclose(got, 4.0 * _numpy_imq_mmd2(z.numpy().astype(np.float64), prior.astype(np.float64)),
                               rtol=1e-4)


@pytest.mark.slow
def test_wae_codes_are_closer_to_the_prior_than_without_the_mmd_penalty(digits):
    (x, _), (xt, _) = digits
    prior = np.random.default_rng(0).normal(size=(len(xt), 4))
    mmd = {}
    for lam in (10.0, 0.0):
        keras.utils.set_random_seed(0)
        model = build_wae(SHAPE, hidden=(32,), code_dim=4, lam=lam, seed=0)
        model.compile(optimizer=keras.optimizers.Adam(3e-3))
        history = model.fit(x, epochs=5, batch_size=64, verbose=0).history
        assert history["reconstruction"][-1] < history["reconstruction"][0]  # still an auto-encoder
        mmd[lam] = float(mmd2_unbiased(model.codes(xt).astype(np.float64), prior, get_kernel("imq")))
    assert mmd[10.0] < 0.2 * mmd[0.0], mmd


@pytest.mark.slow  # seconds: a round trip, an export or training; the full suite runs it
def test_seeded_samples_are_deterministic_and_equal_the_export_sample_signature():
    from keras_ae.export import ExportOptions

    model = build_wae(SHAPE, hidden=(16,), code_dim=3, seed=0)
    first, again, other = model.sample(6, seed=7), model.sample(6, seed=7), model.sample(6, seed=8)
    assert first.shape == (6, *SHAPE) and first.dtype == np.float32
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)
    endpoint = {e.name: e for e in model.serving_endpoints(ExportOptions())}["sample"]
    served = endpoint.function(tf.constant(6), tf.constant(7, tf.int64))
    np.testing.assert_allclose(served["images"].numpy(), first, atol=1e-6)
    np.testing.assert_allclose(model.decode(served["latents"].numpy()), first, atol=1e-6)
    assert model.sample(0, seed=1).shape == (0, *SHAPE)
    fresh = [model.sample(2) for _ in range(2)]  # seed=None: the model's stream moves on
    assert not np.allclose(*fresh)


@pytest.mark.slow
def test_wae_export_samples_the_images_of_sample_in_a_loaded_saved_model(digits, tmp_path):
    (x, _), _ = digits
    model = build_wae(SHAPE, hidden=(16,), code_dim=3, seed=0)
    model.compile()
    model.fit(x[:128], epochs=1, verbose=0)
    path = model.export_for_serving("wae", base_dir=tmp_path)
    loaded = tf.saved_model.load(str(path))
    assert {"sample", "reconstruct", "encode", "decode"} <= set(loaded.signatures)
    served = loaded.signatures["sample"](count=tf.constant(5), seed=tf.constant(3, tf.int64))
    np.testing.assert_allclose(served["images"].numpy(), model.sample(5, seed=3), atol=1e-5)


# -- both families -----------------------------------------------------------------------
FAMILIES = {
    "rae_gp": lambda: build_rae(SHAPE, hidden=(16,), code_dim=3, decoder_regularization="gp", jacobian="exact"),
    "rae_l2": lambda: build_rae(SHAPE, architecture="conv", filters=(4,), code_dim=3, decoder_regularization="l2"),
    "wae": lambda: build_wae(SHAPE, hidden=(16,), code_dim=3, seed=0),
}


@pytest.mark.slow  # seconds: a round trip, an export or training; the full suite runs it
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_keras_file_round_trip_gives_bit_identical_outputs_and_settings(family, digits, tmp_path):
    _, (xt, _) = digits
    model = FAMILIES[family]()
    loaded = load_model(save_model(model, tmp_path / f"{family}.keras"))
    assert type(loaded) is type(model)
    np.testing.assert_array_equal(loaded.reconstruct(xt[:16]), model.reconstruct(xt[:16]))
    keys = ("beta", "decoder_regularization", "lam", "jacobian", "kernel", "scales", "seed")
    settings = {k: v for k, v in model.get_config().items() if k in keys}
    assert len(settings) >= 4 and {k: v for k, v in loaded.get_config().items() if k in keys} == settings
    assert sorted(m.name for m in loaded.metrics) == sorted(m.name for m in model.metrics)
    if isinstance(model, WassersteinAutoEncoder):
        np.testing.assert_array_equal(loaded.sample(4, seed=2), model.sample(4, seed=2))


@pytest.mark.parametrize("builder,kwargs,match", [
    (build_rae, {"beta": -1.0}, "beta"),
    (build_rae, {"lam": float("nan")}, "lam"),
    (build_rae, {"decoder_regularization": "spectral"}, "decoder_regularization"),
    (build_rae, {"jacobian": "closed_form"}, "jacobian"),
    (build_rae, {"architecture": "rnn"}, "architecture"),
    (build_rae, {"code_dim": 0}, "code_dim"),
    (build_rae, {"seed": 1.5}, "seed"),
    (build_wae, {"lam": -0.1}, "lam"),
    (build_wae, {"kernel": "laplace"}, "kernel"),
    (build_wae, {"scales": ()}, "scales"),
    (build_wae, {"scales": (1.0, -2.0)}, "scales"),
    (build_wae, {"hidden": (0,)}, "hidden"),
    (build_wae, {"seed": "a"}, "seed"),
])
def test_bad_builder_arguments_are_refused_naming_the_argument(builder, kwargs, match):
    with pytest.raises((InputValidationError, UnknownNameError), match=match):
        builder(SHAPE, **kwargs)


def test_a_wae_refuses_a_feature_map_code():
    from keras_ae.models import get_conv_decoder, get_conv_encoder

    with pytest.raises(InputValidationError, match="flat codes"):
        WassersteinAutoEncoder(get_conv_encoder(SHAPE, (4,)), get_conv_decoder(SHAPE, (4,)))


@pytest.mark.parametrize("kwargs", [{"n": -1}, {"n": 2.5}, {"n": 2, "seed": 1.5}, {"n": 2, "batch_size": 0}])
def test_bad_sample_arguments_are_refused_and_leave_the_model_unchanged(kwargs):
    model = build_wae(SHAPE, hidden=(16,), code_dim=3, seed=0)
    before = [w.numpy().copy() for w in model.weights]  # the seed stream's state among them
    with pytest.raises(InputValidationError):
        model.sample(**kwargs)
    assert all(np.array_equal(a, w.numpy()) for a, w in zip(before, model.weights))


@pytest.mark.slow
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_nan_batch_stops_training_keeps_the_last_finite_weights_and_the_model_trains_on(family, digits):
    (x, _), _ = digits
    x = x[:96]
    model = FAMILIES[family]()
    model.compile(optimizer=keras.optimizers.Adam(1e-2), steps_per_execution=1)
    model.fit(x[:32], epochs=1, batch_size=32, verbose=0)
    good = [w.numpy().copy() for w in model.weights]
    bad = x.copy()
    bad[64:] = np.nan  # the third batch of a tf.data pipeline, which fit cannot check up front
    with pytest.raises((TrainingDivergedError, InputValidationError), match=r"(?i)nan|not finite|epoch 1") as info:
        model.fit(tf.data.Dataset.from_tensor_slices(bad).batch(32), epochs=3, verbose=0)
    restored = [w.numpy() for w in model.weights]
    assert all(np.all(np.isfinite(w)) for w in restored), info.value
    if isinstance(info.value, TrainingDivergedError):
        assert all(np.array_equal(a, b) for a, b in zip(good, restored)), info.value
    history = model.fit(x, epochs=1, batch_size=32, verbose=0).history
    assert all(np.all(np.isfinite(v)) for v in history.values()), history


def test_both_families_are_registered_for_loading_export_and_the_cli():
    from keras_ae import registry

    assert registry.family_of(RegularizedAutoEncoder).name == "rae"
    assert registry.family_of(WassersteinAutoEncoder).name == "wae"
    assert registry.BUILDERS["rae"] is build_rae and registry.BUILDERS["wae"] is build_wae
    assert registry.serving_default_of(WassersteinAutoEncoder) == "reconstruct"


# -- the command line: train, evaluate and sample from the documented model names ----------------------------
@pytest.mark.slow  # four short trainings in this process
@pytest.mark.parametrize("model, params", [
    ("rae", ["-p", "hidden=[16]", "-p", "code_dim=3"]),
    ("wae", ["-p", "hidden=[16]", "-p", "code_dim=3"]),
    ("beta_tcvae", ["-p", "hidden=[16]", "-p", "latent_dim=3", "--binarize"]),
    ("factor_vae", ["-p", "hidden=[16]", "-p", "latent_dim=3", "--binarize"]),
])
def test_the_command_line_trains_evaluates_and_samples_each_model(tmp_path, monkeypatch, capsys, model, params):
    import json

    from keras_ae.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["train", model, "--dataset", "digits", "--epochs", "1", "--limit", "128", "--verbose", "0",
                 *params, "--out", "run"]) == 0
    loaded = load_model(tmp_path / "run" / "model.keras")
    assert loaded.family == {"rae": "rae", "wae": "wae"}.get(model, loaded.family)
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert len(history["loss"]) == 1 and np.isfinite(history["loss"][0])
    capsys.readouterr()
    assert main(["evaluate", "run/model.keras", "--json", "eval.json"]) == 0
    scores = json.loads((tmp_path / "eval.json").read_text())["results"]
    assert np.isfinite(scores["loss"]) and scores["squared_error_per_example"] > 0
    if callable(getattr(loaded, "sample", None)):  # the RAE has no prior: fit_latent_sampler makes it sample
        assert main(["sample", "run/model.keras", "-n", "4", "--seed", "1", "--out", "drawn"]) == 0
        images = np.load(tmp_path / "drawn" / "samples.npz")["images"]
        assert images.shape == (4, 8, 8, 1) and images.min() >= 0.0 and images.max() <= 1.0
