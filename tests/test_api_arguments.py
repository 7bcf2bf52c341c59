"""Arguments of the public API: builders, samplers and likelihood estimators refuse bad values clearly.

Every refusal is a keras_ae ``InputValidationError`` whose message names the argument,
shows the (truncated) value and says what is accepted; and the progress bars of the
likelihood estimators end on the mean of what they return.
"""

from __future__ import annotations

import math
import re

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keras_ae.errors import InputValidationError
from keras_ae.evaluation.likelihood import importance_weighted_bound
from keras_ae.models import (build_conv_ae, build_dense_ae, build_denoising_ae, build_pixelcnn, build_pixelrnn,
                             build_sparse_ae, build_tied_ae, build_vae)
from keras_ae.models.common import MAX_PARAMETERS, check_parameter_budget, short_repr
from keras_ae.models.conv import conv_ae_parameter_count
from keras_ae.models.dense import dense_ae_parameter_count

FEW = settings(max_examples=15, deadline=None, derandomize=True, database=None,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
SHAPE = (4, 4, 1)

# Values that are not an int: each must be refused where an int is expected.
NOT_INTS = st.one_of(st.none(), st.booleans(), st.floats(allow_nan=True), st.text(max_size=5),
                     st.lists(st.integers(1, 3), max_size=2), st.just(np.float32(2.0)), st.just(1j))

DENSE_BUILDERS = {
    "dense": build_dense_ae,
    "tied": build_tied_ae,
    "sparse": build_sparse_ae,
    "denoising_dense": lambda *a, **kw: build_denoising_ae(*a, architecture="dense", **kw),
}
ALL_BUILDERS = {
    **DENSE_BUILDERS,
    "conv": build_conv_ae,
    "denoising_conv": lambda *a, **kw: build_denoising_ae(*a, architecture="conv", **kw),
}


def refused(match: str):
    """``pytest.raises`` for an InputValidationError whose message contains ``match`` (literally)."""
    return pytest.raises(InputValidationError, match=re.escape(match))


# -- builders -----------------------------------------------------------------------------


def test_conv_ae_with_no_filters_is_refused_not_an_index_error():
    with refused("`filters` must be a non-empty sequence"):
        build_conv_ae((8, 8, 1), filters=())


@pytest.mark.parametrize("name", sorted(ALL_BUILDERS))
@FEW
@given(input_shape=st.one_of(
    st.none(), st.booleans(), st.floats(), st.text(max_size=4), st.just(()),
    st.lists(st.integers(max_value=0), min_size=1, max_size=3),
    st.lists(st.floats(1, 8), min_size=1, max_size=3)))
def test_builders_refuse_malformed_input_shapes(name, input_shape):
    with refused("`input_shape` must be a positive int or a tuple of positive ints"):
        ALL_BUILDERS[name](input_shape)


def test_dense_builders_accept_numpy_integer_shapes():
    model = build_dense_ae(np.int64(16), hidden=(np.int32(4),), code_dim=np.int64(2))
    assert model.encoder.input_shape == (None, 16)


@FEW
@given(kernel_size=st.one_of(st.integers(max_value=0), st.floats(), st.none(), st.text(max_size=3),
                             st.just((3,)), st.just((0, 3)), st.just((3, 3, 3)), st.just(True)))
def test_conv_builders_refuse_bad_kernel_sizes(kernel_size):
    for builder in (build_conv_ae, ALL_BUILDERS["denoising_conv"]):
        with refused("`kernel_size` must be a positive int or a pair of positive ints"):
            builder(SHAPE, filters=(2,), kernel_size=kernel_size)


def test_conv_builder_accepts_a_kernel_size_pair():
    assert build_conv_ae(SHAPE, filters=(2,), kernel_size=(3, 1)).encoder.output_shape == (None, 2, 2, 2)


@FEW
@given(l1=st.one_of(st.floats(max_value=-1e-12), st.just(math.nan), st.just(math.inf), st.just(-math.inf),
                    st.text(max_size=3), st.none(), st.booleans(), st.just([0.1])))
def test_sparse_builder_refuses_bad_l1(l1):
    with refused("`l1` must be a finite number >= 0"):
        build_sparse_ae(SHAPE, hidden=(4,), code_dim=8, l1=l1)


@pytest.mark.parametrize("builder", [build_dense_ae, build_conv_ae, build_tied_ae])
@pytest.mark.parametrize("value", ["a", -0.5, math.nan, None])
def test_builders_refuse_bad_sparsity_l1(builder, value):
    size = {"filters": (2,)} if builder is build_conv_ae else {"hidden": (4,), "code_dim": 2}
    with refused("`sparsity_l1` must be a finite number >= 0"):
        builder(SHAPE, sparsity_l1=value, **size)


@FEW
@given(k=st.one_of(NOT_INTS.filter(lambda k: k is not None), st.integers(max_value=0), st.integers(9, 10**30)))
def test_sparse_builder_refuses_bad_k(k):
    with pytest.raises(InputValidationError, match=r"`k` must be an integer"):
        build_sparse_ae(SHAPE, hidden=(4,), code_dim=8, k=k, l1=0.0)


def test_k_larger_than_the_code_names_code_dim():
    with refused("`k` must be an integer in [1, code_dim=8]"):
        build_sparse_ae(SHAPE, hidden=(4,), code_dim=8, k=9)


@pytest.fixture
def no_weights_allowed(monkeypatch):
    """Fails at once if a layer starts allocating weights (instead of allocating gigabytes first)."""
    def boom(self, *args, **kwargs):
        raise AssertionError(f"{type(self).__name__} was built: the size check came too late")

    for layer in (keras.layers.Dense, keras.layers.Conv2D, keras.layers.Conv2DTranspose):
        monkeypatch.setattr(layer, "build", boom)


@pytest.mark.parametrize("name", sorted(ALL_BUILDERS))
@FEW
@given(where=st.sampled_from(["input", "hidden", "code"]), size=st.integers(10**8, 10**12))
def test_absurd_sizes_are_refused_before_building(name, where, size, no_weights_allowed):
    conv = "conv" in name
    if where == "input":
        kwargs = {"input_shape": (size, 64, 1) if conv else size}
        if conv:
            kwargs["code_dim"] = 64  # a dense bottleneck over a huge feature map
    elif where == "hidden":
        kwargs = {"input_shape": (8, 8, 1), ("filters" if conv else "hidden"): (64, size)}
    else:
        kwargs = {"input_shape": (8, 8, 1), "code_dim": size, ("filters" if conv else "hidden"): (2048,)}
        if name == "sparse":
            kwargs["l1"] = 1e-3
    shape = kwargs.pop("input_shape")
    with pytest.raises(InputValidationError, match=r"would have about .* parameters \(~[\d,.]+ GB"):
        ALL_BUILDERS[name](shape, **kwargs)


def test_build_dense_ae_of_a_billion_inputs_is_refused_with_an_estimate(no_weights_allowed):
    with pytest.raises(InputValidationError) as info:
        build_dense_ae(10**9)
    message = str(info.value)
    assert "dense auto-encoder" in message and "GB" in message and "input_shape" in message
    estimate = sum(dense_ae_parameter_count((10**9,), (128, 64), 32))
    assert f"{estimate * 4 / 1e9:,.1f} GB" in message


def test_check_parameter_budget():
    assert check_parameter_budget(MAX_PARAMETERS, "model") == MAX_PARAMETERS
    with refused("~8.6 GB"):
        check_parameter_budget(MAX_PARAMETERS + 1, "model")


@FEW
@given(shape=st.tuples(st.integers(1, 9), st.integers(1, 9), st.integers(1, 3)),
       hidden=st.lists(st.integers(1, 6), max_size=2), code_dim=st.integers(1, 5))
def test_dense_parameter_estimate_is_exact(shape, hidden, code_dim):
    model = build_dense_ae(shape, hidden=tuple(hidden), code_dim=code_dim)
    assert dense_ae_parameter_count(shape, hidden, code_dim) == (model.encoder.count_params(),
                                                                 model.decoder.count_params())


@FEW
@given(shape=st.tuples(st.integers(1, 9), st.integers(1, 9), st.integers(1, 3)),
       filters=st.lists(st.integers(1, 4), min_size=1, max_size=3), code_dim=st.one_of(st.none(), st.integers(1, 5)),
       kernel_size=st.one_of(st.integers(1, 4), st.tuples(st.integers(1, 4), st.integers(1, 4))))
def test_conv_parameter_estimate_is_exact(shape, filters, code_dim, kernel_size):
    model = build_conv_ae(shape, filters=tuple(filters), code_dim=code_dim, kernel_size=kernel_size)
    assert conv_ae_parameter_count(shape, filters, code_dim, kernel_size) == (model.encoder.count_params(),
                                                                              model.decoder.count_params())


def test_messages_truncate_long_values():
    with pytest.raises(InputValidationError) as info:
        build_dense_ae("x" * 10_000)
    assert "input_shape" in str(info.value) and len(str(info.value)) < 250
    assert len(short_repr(list(range(10_000)))) <= 80


# -- samplers -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def vae():
    return build_vae(SHAPE, latent_dim=2, hidden=(8,), seed=1)


@pytest.fixture(scope="module")
def pixelcnn():
    return build_pixelcnn(SHAPE, filters=8, blocks=2, first_kernel_size=3, seed=1)


@pytest.fixture(scope="module")
def pixelrnn():
    return build_pixelrnn(SHAPE, kind="row_lstm", units=4, layers=1, first_kernel_size=3, seed=1)


@pytest.mark.slow
def test_seed_none_means_a_fresh_seed_for_every_sampler(vae, pixelcnn):
    # The VAE accepted None, PixelCNN raised a TypeError: both now draw from the model's stream.
    for sample in (vae.sample, pixelcnn.sample, pixelcnn.sample_naive):
        first, second = sample(3, seed=None), sample(3, seed=None)
        assert first.shape == second.shape == (3, *SHAPE)
        assert not np.array_equal(first, second), sample
    filled = pixelcnn.complete(np.ones((2, *SHAPE), np.float32), rows_observed=2, seed=None)
    assert filled.shape == (2, *SHAPE) and np.all(filled[:, :2] == 1)


@pytest.mark.slow
def test_int_seeds_of_any_size_are_accepted_and_reproducible(vae, pixelcnn):
    for seed in (2**31, -(2**70), 10**30):
        np.testing.assert_array_equal(vae.sample(2, seed=seed), vae.sample(2, seed=seed))
        np.testing.assert_array_equal(pixelcnn.sample(2, seed=seed, batch_size=1),
                                      pixelcnn.sample(2, seed=seed, batch_size=1))
        np.testing.assert_array_equal(pixelcnn.sample(1, seed=seed), pixelcnn.sample_naive(1, seed=seed))
    # Ordinary seeds keep their streams: batch b of seed s is s * 1_000_003 + b, as before.
    assert pixelcnn._batch_seed(7, 2) == 7 * 1_000_003 + 2


SEED_METHODS = {
    "vae.sample": lambda m, seed: m["vae"].sample(2, seed=seed),
    "vae.elbo": lambda m, seed: m["vae"].elbo(np.ones((2, *SHAPE), np.float32), seed=seed),
    "vae.log_likelihood": lambda m, seed: m["vae"].log_likelihood(np.ones((2, *SHAPE), np.float32), k=2,
                                                                     seed=seed, verbose=0),
    "pixelcnn.sample": lambda m, seed: m["pixelcnn"].sample(2, seed=seed),
    "pixelcnn.sample_naive": lambda m, seed: m["pixelcnn"].sample_naive(2, seed=seed),
    "pixelcnn.complete": lambda m, seed: m["pixelcnn"].complete(np.ones((2, *SHAPE), np.float32), 2, seed=seed),
}


@pytest.mark.parametrize("method", sorted(SEED_METHODS))
@FEW
@given(seed=st.one_of(st.text(max_size=4), st.floats(), st.booleans(), st.just([1, 2]), st.just(np.float64(1.0))))
def test_bad_seeds_are_refused(method, seed, vae, pixelcnn):
    with refused("`seed` must be an integer or None"):
        SEED_METHODS[method]({"vae": vae, "pixelcnn": pixelcnn}, seed)


def test_seed_message_shows_the_value(vae):
    with refused("got 'a' (str)"):
        vae.sample(3, seed="a")


def test_zero_samples_give_empty_arrays_of_the_right_shape(vae, pixelcnn, pixelrnn):
    assert vae.sample(0).shape == (0, *SHAPE)
    assert vae.sample(0, seed=3, binary=True).shape == (0, *SHAPE)
    for model in (pixelcnn, pixelrnn):
        out = model.sample(0, seed=0)
        assert out.shape == (0, *SHAPE) and out.dtype == np.float32
    assert pixelcnn.sample_naive(0).shape == (0, *SHAPE)


N_METHODS = {
    "vae.sample": lambda m, n: m["vae"].sample(n, seed=0),
    "pixelcnn.sample": lambda m, n: m["pixelcnn"].sample(n, seed=0),
    "pixelrnn.sample": lambda m, n: m["pixelrnn"].sample(n, seed=0),
    "pixelcnn.sample_naive": lambda m, n: m["pixelcnn"].sample_naive(n, seed=0),
}


@pytest.mark.parametrize("method", sorted(N_METHODS))
@FEW
@given(n=st.one_of(NOT_INTS, st.integers(max_value=-1)))
def test_bad_sample_counts_are_refused(method, n, vae, pixelcnn, pixelrnn):
    with refused("`n` must be an integer >= 0"):
        N_METHODS[method]({"vae": vae, "pixelcnn": pixelcnn, "pixelrnn": pixelrnn}, n)


BATCH_METHODS = {
    "vae.sample": lambda m, b: m["vae"].sample(2, seed=0, batch_size=b),
    "vae.elbo": lambda m, b: m["vae"].elbo(np.ones((2, *SHAPE), np.float32), batch_size=b),
    "vae.log_likelihood": lambda m, b: m["vae"].log_likelihood(np.ones((2, *SHAPE), np.float32), k=2,
                                                                  batch_size=b, verbose=0),
    "pixelcnn.sample": lambda m, b: m["pixelcnn"].sample(2, batch_size=b),
    "pixelcnn.sample(n=0)": lambda m, b: m["pixelcnn"].sample(0, batch_size=b),
    "pixelcnn.complete": lambda m, b: m["pixelcnn"].complete(np.ones((2, *SHAPE), np.float32), 2, batch_size=b),
    "pixelcnn.log_likelihood": lambda m, b: m["pixelcnn"].log_likelihood(np.ones((2, *SHAPE), np.float32),
                                                                        batch_size=b),
}


@pytest.mark.parametrize("method", sorted(BATCH_METHODS))
@FEW
@given(batch_size=st.one_of(NOT_INTS, st.integers(max_value=0)))
def test_bad_batch_sizes_are_refused(method, batch_size, vae, pixelcnn):
    with refused("`batch_size` must be an integer >= 1"):
        BATCH_METHODS[method]({"vae": vae, "pixelcnn": pixelcnn}, batch_size)


# -- progress bars ----------------------------------------------------------------------------


def _last_shown(text: str, label: str) -> float:
    shown = re.findall(rf"{label}: (-?[\d.]+(?:e[-+]?\d+)?)", text)
    assert shown, f"the progress bar shows no {label}: {text!r}"
    return float(shown[-1])


@pytest.fixture
def recorded_bars(monkeypatch):
    """Every keras.utils.Progbar created during the test, to read the values it holds."""
    bars = []
    original = keras.utils.Progbar

    class Recorder(original):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            bars.append(self)

    monkeypatch.setattr(keras.utils, "Progbar", Recorder)
    return bars


@pytest.mark.slow
@FEW
@given(n=st.integers(2, 23), batch_size=st.integers(1, 8), reduction=st.sampled_from(["mean", "logmeanexp"]))
def test_likelihood_bar_ends_on_the_mean_of_all_examples(n, batch_size, reduction, recorded_bars):
    # Log weights equal to each example's value: the estimate of example i is exactly x_i.
    def log_weights(x, num_samples, seed):
        return tf.broadcast_to(x[None, :, 0], tf.stack([num_samples, tf.shape(x)[0]]))

    x = np.arange(n, dtype=np.float32)[:, None] ** 2  # batch means differ from the overall mean
    recorded_bars.clear()
    out = importance_weighted_bound(log_weights, x, k=3, batch_size=batch_size, reduction=reduction,
                                    verbose=0, label="ll")
    np.testing.assert_allclose(out, x[:, 0], rtol=1e-6)
    total, count = recorded_bars[-1]._values["ll"]
    assert total / count == pytest.approx(out.mean(), rel=1e-9)


@pytest.mark.slow
def test_vae_bars_show_the_returned_mean(vae, capsys):
    x = (np.random.default_rng(0).random((7, *SHAPE)) < np.linspace(0.1, 0.9, 7)[:, None, None, None]).astype("float32")
    capsys.readouterr()
    ll = vae.log_likelihood(x, k=20, batch_size=3, verbose=1)
    assert _last_shown(capsys.readouterr().out, "log_likelihood") == pytest.approx(ll.mean(), abs=1e-4)
    elbo = vae.elbo(x, num_samples=2, batch_size=3, verbose=1)
    assert _last_shown(capsys.readouterr().out, "elbo") == pytest.approx(elbo.mean(), abs=1e-4)
    assert abs(ll[6:].mean() - ll.mean()) > 1e-3  # the last batch's mean would have been wrong


def test_pixelcnn_bar_shows_the_returned_mean(pixelcnn, capsys):
    x = (np.random.default_rng(1).random((7, *SHAPE)) < 0.5).astype("float32")
    capsys.readouterr()
    ll = pixelcnn.log_likelihood(x, batch_size=3, verbose=1)
    assert _last_shown(capsys.readouterr().out, "log_likelihood") == pytest.approx(ll.mean(), abs=1e-4)
    bpd = pixelcnn.bits_per_dim(x, batch_size=3, verbose=1)
    assert _last_shown(capsys.readouterr().out, "log_likelihood") == pytest.approx(ll.mean(), abs=1e-4)
    np.testing.assert_allclose(bpd, -ll / (np.prod(SHAPE) * np.log(2)))


def test_importance_weighted_bound_accepts_any_int_seed_and_none():
    def log_weights(x, num_samples, seed):
        return tf.random.stateless_normal(tf.stack([num_samples, tf.shape(x)[0]]), seed=seed)

    x = np.zeros((3, 1), np.float32)
    a = importance_weighted_bound(log_weights, x, k=4, seed=2**40, verbose=0)
    np.testing.assert_array_equal(a, importance_weighted_bound(log_weights, x, k=4, seed=2**40, verbose=0))
    assert importance_weighted_bound(log_weights, x, k=4, seed=None, verbose=0).shape == (3,)
    with refused("`verbose` must be an integer in [0, 2]"):
        importance_weighted_bound(log_weights, x, k=4, verbose="yes")
