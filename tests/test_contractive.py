"""Contractive auto-encoders: the Jacobian penalties agree, train, guard memory and round-trip."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_ae.errors import InputValidationError
from keras_ae.jacobian import (
    JacobianPenalty,
    JacobianTooLargeError,
    finite_difference_jacobian,
    jacobian_sq_norms,
    tape_exact_sq_norms,
    tape_stochastic_sq_norms,
)
from keras_ae.manifold import jacobian_norm
from keras_ae.models.contractive import ContractiveAutoEncoder, build_contractive_ae
from keras_ae.models.conv import get_conv_encoder
from keras_ae.models.dense import get_dense_encoder


def _rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b) / np.abs(b)))


@pytest.fixture(scope="module")
def x_digits(digits):
    return digits[0][0][:32]


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu", "softplus"])
def test_closed_form_matches_exact(x_digits, activation):
    encoder = get_dense_encoder((8, 8, 1), hidden=(), code_dim=40, code_activation=activation)
    closed = jacobian_sq_norms(encoder, x_digits, "closed_form").numpy()
    chain = jacobian_sq_norms(encoder, x_digits, "exact").numpy()  # the full (batch, 40, 64) Jacobian
    tape = tape_exact_sq_norms(encoder, tf.constant(x_digits)).numpy()
    assert closed.min() > 0
    assert _rel(closed, tape) < 1e-4
    assert _rel(chain, tape) < 1e-4


@pytest.mark.parametrize("hidden,code_dim", [((48, 24), 12), ((32,), 100)])
def test_deep_exact_matches_tape_and_finite_differences(x_digits, hidden, code_dim):
    # (48, 24) -> 12 propagates from the code side, 32 -> 100 from the input side.
    encoder = get_dense_encoder((8, 8, 1), hidden=hidden, code_dim=code_dim, activation="sigmoid",
                                code_activation="tanh")
    exact = jacobian_sq_norms(encoder, x_digits, "exact").numpy()
    assert _rel(exact, tape_exact_sq_norms(encoder, tf.constant(x_digits)).numpy()) < 1e-4
    fd = (finite_difference_jacobian(encoder, x_digits[:4], eps=1e-2) ** 2).sum(axis=(1, 2))
    assert _rel(exact[:4], fd) < 1e-2


def test_conv_exact_matches_finite_differences(x_digits):
    encoder = get_conv_encoder((8, 8, 1), filters=(4, 8), code_dim=6, activation="tanh")
    fd_jac = finite_difference_jacobian(encoder, x_digits[:3], eps=1e-2)
    exact = jacobian_sq_norms(encoder, x_digits[:3], "exact").numpy()
    assert _rel(exact, (fd_jac**2).sum(axis=(1, 2))) < 1e-2


@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_stochastic_with_64_projections_within_5_percent(x_digits, kind):
    if kind == "dense":
        encoder = get_dense_encoder((8, 8, 1), hidden=(48, 24), code_dim=12, activation="sigmoid",
                                    code_activation="sigmoid")
        estimate = jacobian_sq_norms(encoder, x_digits, "stochastic", n_projections=64, seed=3).numpy()
    else:
        encoder = get_conv_encoder((8, 8, 1), filters=(4,), code_dim=10, activation="tanh")
        estimate = tape_stochastic_sq_norms(encoder, tf.constant(x_digits), n_projections=64, seed=3).numpy()
    exact = tape_exact_sq_norms(encoder, tf.constant(x_digits)).numpy()
    assert abs(estimate.mean() / exact.mean() - 1) < 0.05
    # Different seeds give different (noisy) estimates of the same number.
    other = jacobian_sq_norms(encoder, x_digits, "stochastic", n_projections=64, seed=4).numpy()
    assert not np.allclose(other, estimate)


def test_penalty_gradients_match_nested_tape(x_digits):
    # The fast formulations must give the nested-tape reference's gradients, not just its value.
    x = tf.constant(x_digits)
    for hidden, method in [((), "closed_form"), ((24,), "exact")]:
        encoder = get_dense_encoder((8, 8, 1), hidden=hidden, code_dim=10, activation="sigmoid",
                                    code_activation="sigmoid")
        penalty = JacobianPenalty(encoder, method)
        with tf.GradientTape(persistent=True) as tape:
            fast = tf.reduce_mean(penalty.squared_norms(x))
            naive = tf.reduce_mean(tape_exact_sq_norms(encoder, x))
        for g_fast, g_naive in zip(tape.gradient(fast, encoder.trainable_weights),
                                   tape.gradient(naive, encoder.trainable_weights)):
            np.testing.assert_allclose(g_fast.numpy(), g_naive.numpy(), rtol=1e-3, atol=1e-6)


def test_auto_picks_per_encoder():
    assert build_contractive_ae(784, code_dim=1000).resolved_jacobian == "closed_form"
    assert build_contractive_ae(784, hidden=(500, 250), code_dim=30).resolved_jacobian == "stochastic"
    assert build_contractive_ae(3, hidden=(16,), code_dim=2, loss="mse").resolved_jacobian == "exact"
    conv = build_contractive_ae((8, 8, 1), architecture="conv", filters=(4,), code_dim=16)
    assert conv.resolved_jacobian == "stochastic"


def test_closed_form_refuses_unsupported_encoders():
    with pytest.raises(InputValidationError, match=r"one-layer dense encoder.*2 Dense layers.*'exact'.*'stochastic'"):
        build_contractive_ae(64, hidden=(16,), code_dim=8, jacobian="closed_form")
    with pytest.raises(InputValidationError, match=r"sigmoid.*activation 'gelu'.*'exact'.*'stochastic'"):
        build_contractive_ae(64, code_dim=8, code_activation="gelu", jacobian="closed_form")
    # Unsupported activations still work with the general methods.
    assert build_contractive_ae(64, code_dim=16, code_activation="gelu").resolved_jacobian == "stochastic"


def test_memory_guard_refuses_before_training(digits):
    (x_train, _), _ = digits
    model = build_contractive_ae((8, 8, 1), hidden=(32,), code_dim=16, jacobian="exact", jacobian_memory_limit=100_000)
    model.compile()
    before = [w.numpy().copy() for w in model.weights]
    with pytest.raises(JacobianTooLargeError,
                       match=r"batch 64 x code 16 x input 64.*256\.0 KiB.*jacobian='stochastic'"):
        model.fit(x_train, batch_size=64, epochs=1, verbose=0)
    assert all(np.array_equal(a, w.numpy()) for a, w in zip(before, model.weights))
    # The default limit (1 GiB) refuses CIFAR-sized Jacobians: 256 x 1024 x 3072 floats = 3 GiB.
    big = build_contractive_ae((32, 32, 3), code_dim=1024, hidden=(8,), jacobian="exact")
    with pytest.raises(MemoryError, match=r"3\.0 GiB"):
        big.jacobian_penalty.check_memory(256)
    # Random projections need no Jacobian: the same model with 'stochastic' passes the check.
    stochastic = build_contractive_ae((32, 32, 3), code_dim=1024, hidden=(8,), jacobian="stochastic")
    stochastic.jacobian_penalty.check_memory(256)


@pytest.mark.slow
def test_contraction_lowers_the_jacobian(digits):
    (x_train, _), (x_test, _) = digits
    norms, recs = {}, {}
    for lam in (0.0, 0.1):
        keras.utils.set_random_seed(1)
        model = build_contractive_ae((8, 8, 1), code_dim=64, contraction=lam, tied=True, seed=1)
        model.compile(optimizer=keras.optimizers.Adam(3e-3))
        history = model.fit(x_train, epochs=8, batch_size=64, verbose=0)
        assert set(history.history) == {"loss", "reconstruction", "contraction"}
        np.testing.assert_allclose(history.history["loss"][-1],
                                   history.history["reconstruction"][-1] + history.history["contraction"][-1],
                                   rtol=1e-5)
        norms[lam] = jacobian_norm(model, x_test).mean()
        recs[lam] = history.history["reconstruction"][-1]
    assert norms[0.1] < 0.6 * norms[0.0]
    assert recs[0.1] < recs[0.0] * 1.5  # it still reconstructs


@pytest.mark.slow
def test_deep_stochastic_training_lowers_the_jacobian(digits):
    (x_train, _), (x_test, _) = digits
    norms = {}
    for lam in (0.0, 0.3):
        keras.utils.set_random_seed(2)
        model = build_contractive_ae((8, 8, 1), hidden=(48,), code_dim=16, contraction=lam, jacobian="stochastic",
                                     seed=2)
        model.compile(optimizer=keras.optimizers.Adam(3e-3))
        model.fit(x_train, epochs=6, batch_size=64, verbose=0)
        norms[lam] = jacobian_norm(model, x_test).mean()
    assert norms[0.3] < 0.6 * norms[0.0]


ROUND_TRIP = textwrap.dedent("""
    import json, sys, numpy as np, keras
    import keras_ae.models.contractive  # registers the classes
    for case in json.loads(sys.argv[1]):
        model = keras.saving.load_model(case["path"])
        np.testing.assert_array_equal(model.predict(np.load(case["x"]), verbose=0), np.load(case["y"]))
        print(model.resolved_jacobian, model.contraction, model.jacobian_penalty.n_projections,
              model.tied_decoder is not None)
""")


@pytest.mark.slow
def test_keras_round_trip_in_fresh_process(tmp_path, digits):
    (x_train, _), (x_test, _) = digits
    cases, expected = [], []
    for i, (kwargs, method) in enumerate([({"tied": True}, "closed_form"),
                                          ({"hidden": (16,), "jacobian": "stochastic", "n_projections": 3},
                                           "stochastic")]):
        model = build_contractive_ae((8, 8, 1), code_dim=12, contraction=0.05, **kwargs)
        model.compile()
        model.fit(x_train[:128], epochs=1, batch_size=64, verbose=0)
        case = {k: str(tmp_path / f"{k}{i}.{ext}") for k, ext in [("path", "keras"), ("x", "npy"), ("y", "npy")]}
        model.save(case["path"])
        np.save(case["x"], x_test[:16])
        np.save(case["y"], model.predict(x_test[:16], verbose=0))
        cases.append(case)
        expected.append(f"{method} 0.05 {kwargs.get('n_projections', 1)} {bool(kwargs.get('tied'))}")
    out = subprocess.run([sys.executable, "-c", ROUND_TRIP, json.dumps(cases)], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-2:] == expected


def test_bad_arguments():
    with pytest.raises(InputValidationError, match="contraction"):
        build_contractive_ae(64, code_dim=8, contraction=-1.0)
    with pytest.raises(ValueError, match="jacobian method 'fast'"):
        build_contractive_ae(64, code_dim=8, jacobian="fast")
    with pytest.raises(InputValidationError, match="n_projections"):
        build_contractive_ae(64, code_dim=8, n_projections=0)
    with pytest.raises(InputValidationError, match="needs a decoder"):
        ContractiveAutoEncoder(get_dense_encoder(64, hidden=(), code_dim=4))
