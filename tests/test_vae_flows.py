"""VAE flow posteriors (IAF, RealNVP) and IWAE training: exact log-determinants and densities,
the IWAE objective against hand computations, learning, saving, export and bad arguments."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_ae.data import binarize
from keras_ae.errors import InputValidationError, UnknownNameError
from keras_ae.export import export, read_metadata
from keras_ae.layers.made import MADE
from keras_ae.models.vae import FlowVAE, PosteriorFlow, build_vae


def _randomize(layer, scale: float = 0.7, seed: int = 0) -> None:
    """Weights far from the near-identity initialization, so every term of the flow matters."""
    rng = np.random.default_rng(seed)
    layer.set_weights([scale * rng.standard_normal(w.shape).astype("float32") for w in layer.get_weights()])


def _flow_vae(**kwargs) -> FlowVAE:
    kwargs = {"latent_dim": 3, "hidden": (16,), "posterior_flow": "iaf", "flow_steps": 2, "flow_hidden": (8,),
              "flow_context_dim": 2, "seed": 0, **kwargs}
    return build_vae((8, 8, 1), **kwargs)


@pytest.fixture(scope="module")
def x_bin(digits):
    (x_train, _), (x_test, _) = digits
    return binarize(x_train[:512], seed=0), binarize(x_test[:64], seed=0)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["iaf", "realnvp"])
def test_flow_log_det_equals_the_log_det_of_the_autodiff_jacobian(kind):
    flow = PosteriorFlow(3, kind=kind, steps=2, hidden_units=(8,), context_dim=2)
    flow.build((None, 3))
    _randomize(flow)
    rng = np.random.default_rng(1)
    z0 = tf.constant(rng.standard_normal((2, 3)), tf.float32)
    h = tf.constant(rng.standard_normal((2, 2)), tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(z0)
        z, log_det = flow.forward_and_log_det(z0, h)
    jacobian = tape.batch_jacobian(z, z0).numpy().astype(np.float64)  # (batch, 3, 3)
    numerical = np.linalg.slogdet(jacobian)[1]
    np.testing.assert_allclose(log_det.numpy(), numerical, atol=1e-5)
    assert np.all(np.abs(numerical) > 0.1)  # a real change of volume, not the identity
    # A central finite difference of z on z0 agrees with the autodiff Jacobian too.
    eps, fd = 1e-2, np.zeros_like(jacobian)
    for j in range(3):
        step = np.zeros((2, 3), np.float32)
        step[:, j] = eps
        plus, _ = flow.forward_and_log_det(z0 + step, h)
        minus, _ = flow.forward_and_log_det(z0 - step, h)
        fd[:, :, j] = (plus.numpy() - minus.numpy()) / (2 * eps)
    np.testing.assert_allclose(fd, jacobian, atol=2e-3)


def test_one_iaf_step_is_autoregressive_with_the_gate_as_diagonal():
    flow = PosteriorFlow(4, kind="iaf", steps=1, hidden_units=(8,))
    flow.build((None, 4))
    _randomize(flow, seed=2)
    z0 = tf.constant(np.random.default_rng(3).standard_normal((1, 4)), tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(z0)
        z, log_det = flow.forward_and_log_det(z0)
    jacobian = tape.batch_jacobian(z, z0)[0].numpy()
    assert np.allclose(np.triu(jacobian, 1), 0)  # z_i depends on z0_j for j <= i only
    params = flow.nets[0](z0)[0].numpy()  # (4, 2): m, s
    gate = 1 / (1 + np.exp(-(params[:, 1] + 2.0)))
    np.testing.assert_allclose(np.diag(jacobian), gate, rtol=1e-5)
    np.testing.assert_allclose(z[0].numpy(), gate * z0[0].numpy() + (1 - gate) * params[:, 0], rtol=1e-5)
    np.testing.assert_allclose(log_det[0], np.log(gate).sum(), rtol=1e-5)


def test_made_outputs_see_only_earlier_inputs_and_the_context():
    made = MADE(4, hidden_units=(6, 6), params=2, context_size=3)
    z = tf.constant(np.random.default_rng(0).standard_normal((1, 4)), tf.float32)
    h = tf.constant(np.random.default_rng(1).standard_normal((1, 3)), tf.float32)
    made(z, context=h)
    _randomize(made)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([z, h])
        out = made(z, context=h)[0, :, 0]
    dz, dh = tape.jacobian(out, z)[:, 0].numpy(), tape.jacobian(out, h)[:, 0].numpy()
    assert np.allclose(np.triu(dz), 0) and np.all(np.abs(np.tril(dz, -1))[np.tril_indices(4, -1)] > 0)
    assert np.all(np.abs(dh[1:]) > 0)  # outputs 1..3 have hidden units, hence the context


def test_flow_log_q_is_the_change_of_variables_of_the_base_gaussian(x_bin):
    vae = _flow_vae()
    _randomize(vae.flow, scale=0.5)
    x, seed = tf.constant(x_bin[1][:2]), tf.constant([3, 4])
    z, log_q = vae.posterior_sample(x, seed)
    # By hand: the encoder's outputs, the base Gaussian's density at z0, the flow's Jacobian.
    params = vae.encoder(x).numpy().astype(np.float64)
    loc, raw, h = params[:, :3], params[:, 3:6], params[:, 6:]
    scale = np.log1p(np.exp(raw)) + vae.min_scale
    eps = vae.posterior_noise(tf.constant(loc, tf.float32), seed).numpy()
    z0 = tf.constant(loc + scale * eps, tf.float32)
    log_q0 = np.sum(-0.5 * eps**2 - np.log(scale) - 0.5 * np.log(2 * np.pi), axis=1)
    with tf.GradientTape() as tape:
        tape.watch(z0)
        z_again = vae.flow(z0, tf.constant(h, tf.float32))
    log_det = np.linalg.slogdet(tape.batch_jacobian(z_again, z0).numpy().astype(np.float64))[1]
    np.testing.assert_allclose(z.numpy(), z_again.numpy(), atol=1e-5)
    np.testing.assert_allclose(log_q.numpy(), log_q0 - log_det, atol=1e-4)
    # encode(x) is the same q(z|x) as a TFP distribution: log_prob inverts the flow (MAF's sequential pass).
    np.testing.assert_allclose(vae.encode(x).log_prob(z).numpy(), log_q.numpy(), atol=1e-4)


def _losses_with_seed_of(model, x, seed_state):
    model.seed_generator.state.assign(seed_state)
    return {k: float(v) for k, v in model.compute_losses(x, training=True).items()}


@pytest.mark.parametrize("flow", [None, "iaf"])
def test_iwae_objective_with_k1_is_the_one_sample_elbo_for_the_same_noise(flow, x_bin):
    x = tf.constant(x_bin[0][:32])
    elbo_model = _flow_vae(posterior_flow=flow)
    iwae_model = _flow_vae(posterior_flow=flow, objective="iwae", k=1)
    iwae_model.set_weights(elbo_model.get_weights())
    state = elbo_model.seed_generator.state.numpy()
    elbo, iwae = _losses_with_seed_of(elbo_model, x, state), _losses_with_seed_of(iwae_model, x, state)
    assert iwae["reconstruction"] == pytest.approx(elbo["reconstruction"], abs=1e-5)  # the same z
    if flow:  # both use the sampled KL log q - log p: the same number
        assert iwae["loss"] == pytest.approx(elbo["loss"], abs=1e-5)
    else:  # the ELBO's KL is analytic: the sampled one differs for one draw
        assert iwae["loss"] != pytest.approx(elbo["loss"], abs=1e-3)


@pytest.mark.slow
@pytest.mark.parametrize("flow", [None, "iaf"])
def test_iwae_loss_is_minus_logmeanexp_of_the_log_weights_and_tighter_than_k1(flow, x_bin):
    x = tf.constant(x_bin[0][:32])
    model = _flow_vae(posterior_flow=flow, objective="iwae", k=8)
    state = model.seed_generator.state.numpy()
    loss = _losses_with_seed_of(model, x, state)["loss"]
    model.seed_generator.state.assign(state)
    log_w = model.log_weights(x, 8, model._next_seed(), training=True).numpy().astype(np.float64)  # (8, 32)
    by_hand = -np.mean(np.log(np.mean(np.exp(log_w - log_w.max(0)), axis=0)) + log_w.max(0))
    assert loss == pytest.approx(by_hand, abs=1e-3)
    assert -np.mean(log_w) > by_hand + 0.3  # the k=1 objective on the same draws: -L_1 > -L_8 (Jensen)
    k1 = _flow_vae(posterior_flow=flow, objective="iwae", k=1)
    k1.set_weights(model.get_weights())
    mean_k1 = np.mean([_losses_with_seed_of(k1, x, state + i)["loss"] for i in range(4)])
    mean_k8 = np.mean([_losses_with_seed_of(model, x, state + i)["loss"] for i in range(4)])
    assert mean_k8 < mean_k1 - 0.3  # L_8 >= L_1 on average


@pytest.mark.slow
@pytest.mark.parametrize("options", [{"posterior_flow": "iaf"}, {"objective": "iwae", "k": 4},
                                     {"posterior_flow": "realnvp", "objective": "iwae", "k": 2}])
def test_tiny_flow_and_iwae_vaes_learn(options, x_bin):
    x_train, x_test = x_bin
    vae = _flow_vae(**{"posterior_flow": None, "latent_dim": 4, "hidden": (32,), "flow_hidden": (16,), **options})
    before = vae.log_likelihood(x_test, k=20, verbose=0).mean()
    flow = vae.flow.weights if isinstance(vae, FlowVAE) else []
    flow_before = [w.numpy().copy() for w in flow]
    vae.compile(optimizer=keras.optimizers.Adam(1e-2))
    history = vae.fit(x_train, epochs=6, batch_size=64, verbose=0).history  # 45 -> 26-27 nats measured
    after = vae.log_likelihood(x_test, k=20, verbose=0).mean()
    assert history["loss"][-1] < 0.8 * history["loss"][0]
    assert after > before + 10.0, (before, after)
    assert np.isfinite(history["kl"]).all()
    assert all(not np.allclose(a, b.numpy()) for a, b in zip(flow_before, flow))  # the flow trains


@pytest.mark.slow
def test_keras_round_trip_gives_identical_log_likelihoods(tmp_path, x_bin):
    vae = _flow_vae(objective="iwae", k=3)
    _randomize(vae.flow, scale=0.3)
    path = tmp_path / "flow.keras"
    vae.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded) is FlowVAE and (loaded.objective, loaded.k) == ("iwae", 3)
    assert (loaded.flow.kind, loaded.flow.steps, loaded.flow.context_dim) == ("iaf", 2, 2)
    x = x_bin[1][:16]
    np.testing.assert_array_equal(loaded.log_likelihood(x, k=10, verbose=0), vae.log_likelihood(x, k=10, verbose=0))
    np.testing.assert_array_equal(loaded.reconstruct(x), vae.reconstruct(x))


@pytest.mark.slow
def test_flow_vae_exports_the_vae_signatures(tmp_path, x_bin):
    vae = _flow_vae()
    _randomize(vae.flow, scale=0.3)
    path = export(vae, "iaf", base_dir=tmp_path, allow_untrained=True, uint8=False)
    meta = read_metadata(path)
    assert meta["family"] == "flow_vae" and (meta["posterior_flow"], meta["flow_steps"]) == ("iaf", 2)
    loaded = tf.saved_model.load(str(path))
    x = x_bin[1][:4]
    out = loaded.signatures["reconstruct"](images=tf.constant(x))
    np.testing.assert_allclose(out["reconstruction"].numpy(), vae.reconstruct(x), atol=1e-5)
    sample = loaded.signatures["sample"](count=tf.constant(3), seed=tf.constant(7, tf.int64))
    np.testing.assert_allclose(sample["images"].numpy(), vae.sample(3, seed=7), atol=1e-5)
    mean = loaded.signatures["encode"](images=tf.constant(x))["mean"].numpy()
    np.testing.assert_allclose(mean, vae.posterior_params(x)[0].numpy(), atol=1e-5)  # the base Gaussian's


@pytest.mark.parametrize("kwargs, message", [
    ({"posterior_flow": "maf"}, "posterior_flow"),
    ({"posterior_flow": "iaf", "flow_steps": 0}, "flow_steps"),
    ({"posterior_flow": "iaf", "flow_hidden": ()}, "flow_hidden"),
    ({"posterior_flow": "iaf", "flow_context_dim": -1}, "flow_context_dim"),
    ({"posterior_flow": "realnvp", "latent_dim": 1}, "latent_dim >= 2"),
    ({"objective": "iwae", "k": 0}, "k"),
    ({"objective": "wake_sleep"}, "objective"),
    ({"k": 5}, "objective='iwae'"),
    ({"objective": "iwae", "k": 5, "beta": 0.5}, "beta"),
])
def test_bad_flow_and_objective_arguments_are_refused(kwargs, message):
    with pytest.raises((InputValidationError, UnknownNameError), match=message):
        build_vae((8, 8, 1), **{"latent_dim": 2, "hidden": (8,), **kwargs})
