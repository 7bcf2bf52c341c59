"""Property-based input checks: random shapes, dtypes, NaN/inf, empty and out-of-range inputs.

Every public entry point either works or raises a readable error of a documented type
(``keras_ae.errors.*``, or a ``ValueError``/``TypeError`` with a message for argument
types); nothing hangs, and no TensorFlow runtime error (``tf.errors.*``) leaks out. Data
entry points are held to the stricter rule: bad data raises ``InputValidationError``
before any TensorFlow work.
"""

from __future__ import annotations

import contextlib
import math
import signal
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from keras_ae.data import DATASETS, corrupt, load_dataset, make_tf_dataset
from keras_ae.errors import InputValidationError, KerasAEError, UnknownNameError
from keras_ae.models import (
    build_conv_ae,
    build_dense_ae,
    build_denoising_ae,
    build_sparse_ae,
    build_tied_ae,
    fit_pca,
)
from keras_ae.validation import check_array

FUZZ = settings(max_examples=30, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                       HealthCheck.filter_too_much])
FEW = settings(FUZZ, max_examples=15)
EXAMPLE = (2, 2, 1)  # per-example shape of the fuzzed models: tiny, so each call is cheap
HALF = np.full((3, *EXAMPLE), 0.5, "float32")  # valid data, for the explicit success examples


@contextlib.contextmanager
def _time_limit(seconds: int):
    """A hang is a failure: raise in the test instead of blocking the suite."""
    def expire(signum, frame):
        raise TimeoutError(f"call did not return within {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def outcome(fn, *args, strict: bool = False, **kwargs):
    """Calls ``fn``: returns its result, or the readable error it raised.

    Args:
        strict: Only ``keras_ae.errors`` types are acceptable (data entry points).
    """
    try:
        with _time_limit(60):
            result = fn(*args, **kwargs)
    except tf.errors.OpError as exc:  # a crash inside a TensorFlow kernel
        pytest.fail(f"{fn.__name__} leaked {type(exc).__name__}: {exc}")
    except (KerasAEError, ValueError, TypeError) as exc:
        if strict and not isinstance(exc, KerasAEError):
            pytest.fail(f"{fn.__name__} raised {type(exc).__name__} instead of a keras_ae error: {exc}")
        assert len(str(exc)) > 10, f"unhelpful message: {exc!r}"
        event(f"{fn.__name__}: {type(exc).__name__}")  # --hypothesis-show-statistics lists them
        return exc
    event(f"{fn.__name__}: ok")
    return result


def failed(result) -> bool:
    return isinstance(result, Exception)


# -- strategies ---------------------------------------------------------------------------
NUMERIC = [np.float16, np.float32, np.float64, np.int8, np.int32, np.int64, np.uint8, np.bool_,
           np.complex64]


def _elements(dtype):
    if np.issubdtype(dtype, np.floating):  # NaN, inf, huge and tiny values included
        return st.floats(width=np.finfo(dtype).bits, allow_nan=True, allow_infinity=True)
    if np.issubdtype(dtype, np.complexfloating):
        return st.complex_numbers(allow_nan=False, allow_infinity=False, max_magnitude=2)
    return None  # the dtype's full range


def mostly(valid, anything):
    """Valid about three times in four, so the success paths get fuzzed too. (``one_of``
    would not do: Hypothesis avoids repeating examples, so few distinct valid values get
    crowded out by the many invalid ones.)"""
    return st.tuples(st.integers(0, 3), valid, anything).map(lambda t: t[2] if t[0] == 3 else t[1])


@st.composite
def numeric_arrays(draw, example_shapes=(EXAMPLE, (4,), (2, 2), (2, 2, 2), (1, 2, 2, 1), ())):
    """Batches of numeric arrays of any dtype, often of the first (the model's) example shape,
    often with values in [0, 1], else with anything (NaN, inf, huge, negative)."""
    dtype = np.dtype(draw(mostly(st.sampled_from([np.float32, np.float64]), st.sampled_from(NUMERIC))))
    shape = (draw(mostly(st.integers(1, 4), st.just(0))),
             *draw(mostly(st.just(example_shapes[0]), st.sampled_from(example_shapes))))
    if draw(mostly(st.just(True), st.just(False))):  # in [0, 1]: the interesting "almost valid" case
        if np.issubdtype(dtype, np.floating):
            return draw(hnp.arrays(dtype, shape, elements=st.floats(0, 1, width=np.finfo(dtype).bits)))
        if dtype == np.bool_ or np.issubdtype(dtype, np.integer):
            return draw(hnp.arrays(dtype, shape, elements=st.integers(0, 1))).astype(dtype)
    return draw(hnp.arrays(dtype, shape, elements=_elements(dtype)))


ODD_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.floats(allow_nan=True), st.text(max_size=4),
    st.just("2,2"), st.just([1, "a"]), st.just([[1, 2], [3]]), st.just({"a": 1}),
    st.just(np.array(["a", "b"])), st.just(np.array([1, None], dtype=object)),
    st.just(np.array([[1 + 2j]])), st.just(np.empty((0,))), st.just(np.float32(np.nan)),
)
ANY_ARRAY = mostly(numeric_arrays(), ODD_VALUES)


# -- tiny models, built once ----------------------------------------------------------------
@pytest.fixture(scope="module")
def dense_ae():
    keras.utils.set_random_seed(0)
    model = build_dense_ae(EXAMPLE, hidden=(4,), code_dim=2)
    model.compile()
    return model


@pytest.fixture(scope="module")
def mse_ae():
    keras.utils.set_random_seed(0)
    model = build_dense_ae(EXAMPLE, hidden=(4,), code_dim=2, loss="mse")
    model.compile()
    return model


# -- validation -------------------------------------------------------------------------------
@FUZZ
@given(x=ANY_ARRAY, expected=st.sampled_from([None, EXAMPLE, (None, 2, 1)]),
       value_range=st.sampled_from([None, (0.0, 1.0), (-1.0, 1.0)]), allow_empty=st.booleans())
def test_check_array_accepts_exactly_clean_data(x, expected, value_range, allow_empty):
    result = outcome(check_array, x, "x", expected_shape=expected, value_range=value_range,
                     allow_empty=allow_empty, strict=True)
    if failed(result):
        assert isinstance(result, InputValidationError)
        return
    # what it accepts is float32, finite, in range, of the right shape, and equal to the input
    assert result.dtype == np.float32 and np.isfinite(result).all() and result.ndim >= 1
    assert allow_empty or len(result) > 0
    if expected is not None:
        assert len(result.shape) == len(expected) + 1
        assert all(e is None or e == g for e, g in zip(expected, result.shape[1:]))
    if value_range is not None and result.size:
        assert value_range[0] <= result.min() and result.max() <= value_range[1]
    np.testing.assert_array_equal(result, np.asarray(x).astype(np.float32))


# -- builders ---------------------------------------------------------------------------------
# Each argument: often a valid value (so models do get built and checked), else anything.
SHAPES = mostly(st.sampled_from([4, (4,), (3, 3), (3, 3, 1), (4, 4, 2)]),
                st.one_of(st.integers(-2, 6), st.lists(st.integers(-1, 5), max_size=4).map(tuple), ODD_VALUES))
UNITS = mostly(st.lists(st.integers(1, 4), max_size=2).map(tuple),
               st.one_of(st.lists(st.integers(-1, 5), max_size=3), ODD_VALUES))
SIZES = mostly(st.integers(1, 4), st.one_of(st.integers(-2, 0), ODD_VALUES))


LEVELS = mostly(st.floats(0, 1), st.one_of(st.floats(-1, 2), ODD_VALUES))
CLIPS = mostly(st.sampled_from([None, (0.0, 1.0)]), st.one_of(st.tuples(st.floats(-1, 1), st.floats(0, 2)), ODD_VALUES))


def names(*valid: str):
    return mostly(st.sampled_from(valid), st.one_of(st.text(max_size=6), ODD_VALUES))


def _check_built(model, input_shape):
    """A model that builds must run on a batch of its declared shape."""
    if failed(model):
        return
    shape = tuple(model.example_shape)
    assert all(isinstance(d, int) and d > 0 for d in shape)
    x = np.random.default_rng(0).random((2, *shape)).astype("float32")
    out = model(x)
    assert tuple(out.shape) == (2, *shape)


@FEW
@given(input_shape=SHAPES, hidden=UNITS, code_dim=SIZES, loss=names("mse", "bce"),
       activation=names("relu", "tanh"))
@example(input_shape=(3, 3, 1), hidden=(4,), code_dim=2, loss="bce", activation="relu")
def test_build_dense_and_tied_ae(input_shape, hidden, code_dim, loss, activation):
    for builder in (build_dense_ae, build_tied_ae):
        model = outcome(builder, input_shape, hidden=hidden, code_dim=code_dim, loss=loss, activation=activation)
        _check_built(model, input_shape)


@FEW
@given(input_shape=SHAPES, filters=UNITS, code_dim=st.one_of(st.none(), SIZES), kernel_size=SIZES,
       loss=names("mse", "bce"))
@example(input_shape=(4, 4, 2), filters=(2,), code_dim=2, kernel_size=3, loss="mse")
@example(input_shape=(5, 3), filters=(2, 2), code_dim=None, kernel_size=1, loss="bce")
def test_build_conv_ae(input_shape, filters, code_dim, kernel_size, loss):
    _check_built(outcome(build_conv_ae, input_shape, filters=filters, code_dim=code_dim,
                         kernel_size=kernel_size, loss=loss), input_shape)


@FEW
@given(input_shape=SHAPES, noise=names("gaussian", "masking", "salt_pepper"),
       level=LEVELS, architecture=names("conv", "dense"), clip=CLIPS)
@example(input_shape=(4, 4, 1), noise="gaussian", level=0.3, architecture="conv", clip=(0.0, 1.0))
@example(input_shape=(4,), noise="masking", level=0.5, architecture="dense", clip=None)
def test_build_denoising_ae(input_shape, noise, level, architecture, clip):
    dense = isinstance(architecture, str) and architecture == "dense"
    size = {"code_dim": 2, "hidden": (3,)} if dense else {"filters": (2,)}
    _check_built(outcome(build_denoising_ae, input_shape, noise=noise, level=level, architecture=architecture,
                         clip=clip, **size), input_shape)


@FEW
@given(input_shape=SHAPES, code_dim=SIZES, l1=mostly(st.floats(0, 0.1), st.one_of(st.floats(), ODD_VALUES)),
       k=mostly(st.none(), SIZES))
@example(input_shape=(4,), code_dim=3, l1=0.01, k=None)
@example(input_shape=(2, 2), code_dim=3, l1=0.0, k=2)
def test_build_sparse_ae(input_shape, code_dim, l1, k):
    _check_built(outcome(build_sparse_ae, input_shape, hidden=(3,), code_dim=code_dim, l1=l1, k=k), input_shape)


@FUZZ
@given(x=ANY_ARRAY, code_dim=SIZES)
@example(x=np.random.default_rng(0).random((5, *EXAMPLE)), code_dim=2)
def test_fit_pca(x, code_dim):
    model = outcome(fit_pca, x, code_dim)
    if not failed(model):
        assert model.code_shape == (code_dim,)
        assert np.isfinite(model.info["eigenvalues"]).all()


# -- data ---------------------------------------------------------------------------------------
@FUZZ
@given(name=st.one_of(st.sampled_from(DATASETS), st.text(max_size=12), ODD_VALUES))
def test_load_dataset_names(name, tmp_path):
    # offline: a real name without its file must fail fast instead of trying a download
    result = outcome(load_dataset, name, data_dir=tmp_path, download=False, n_samples=50, strict=True)
    if isinstance(name, str) and name in ("digits", "sprites", "swiss_roll", "broken_swiss_roll", "twin_peaks",
                                          "helix"):
        (x, y), (x_test, _) = result
        assert len(x) and np.isfinite(x).all()
    else:
        assert failed(result)
        assert isinstance(result, KerasAEError)
        if not (isinstance(name, str) and name in DATASETS):
            assert isinstance(result, UnknownNameError)


NPZ_ARRAYS = st.one_of(numeric_arrays(example_shapes=((8, 8), (8, 8, 1), (3,), ())), st.just(np.array(["a", "b"])),
                       st.just(np.float32(1.0)))


@FEW
@given(x_train=NPZ_ARRAYS, y_train=NPZ_ARRAYS, drop=st.sampled_from([None, "x_test", "y_train"]),
       garbage=st.one_of(st.none(), st.binary(max_size=64)))
def test_load_dataset_from_malformed_files(x_train, y_train, drop, garbage, tmp_path):
    path = tmp_path / "mnist.npz"
    if garbage is not None:
        path.write_bytes(garbage)
    else:
        arrays = {"x_train": x_train, "y_train": y_train, "x_test": x_train, "y_test": y_train}
        arrays.pop(drop, None)
        np.savez(path, **arrays)
    result = outcome(load_dataset, "mnist", data_dir=tmp_path, download=False, strict=True)
    if not failed(result):
        (x, y), _ = result
        assert x.dtype == np.float32 and x.shape[1:] == (28, 28, 1) and len(x) == len(y)


@FUZZ
@given(x=ANY_ARRAY, noise=names("gaussian", "masking", "salt_pepper"), level=LEVELS,
       seed=mostly(st.integers(0, 100), st.one_of(st.none(), st.integers(-5, 2**40), ODD_VALUES)), clip=CLIPS)
@example(x=HALF, noise="salt_pepper", level=0.5, seed=0, clip=(0.0, 1.0))
def test_corrupt(x, noise, level, seed, clip):
    result = outcome(corrupt, x, noise, level, seed=seed, clip=clip)
    if failed(result):
        return
    assert result.dtype == np.float32 and result.shape == np.shape(x)
    if clip is not None and result.size:
        assert clip[0] - 1e-6 <= result.min() and result.max() <= clip[1] + 1e-6


@FUZZ
@given(x=ANY_ARRAY, batch_size=SIZES)
@example(x=HALF, batch_size=2)
def test_make_tf_dataset(x, batch_size):
    ds = outcome(make_tf_dataset, x, batch_size=batch_size)
    if not failed(ds):
        assert sum(int(b.shape[0]) for b in ds) == len(x)


# -- the fit wrappers ---------------------------------------------------------------------------
@pytest.mark.slow
@FUZZ
@given(x=ANY_ARRAY, y=st.one_of(st.none(), ANY_ARRAY))
@example(x=HALF, y=None)
@example(x=HALF, y=HALF)
@example(x=HALF, y=HALF[:2])  # found by the fuzzer: Keras' "Data cardinality is ambiguous"
def test_fit_and_evaluate(dense_ae, x, y):
    history = outcome(dense_ae.fit, x, y, epochs=1, batch_size=2, verbose=0, strict=True)
    if not failed(history):
        assert np.isfinite(history.history["loss"]).all()
    scores = outcome(dense_ae.evaluate, x, y, verbose=0, return_dict=True, strict=True)
    assert failed(scores) == failed(history)  # the same data checks for both
    if not failed(scores):
        assert math.isfinite(scores["loss"])


@pytest.mark.slow
@FUZZ
@given(validation=ANY_ARRAY)
@example(validation=HALF)
def test_fit_validation_data(mse_ae, validation):
    history = outcome(mse_ae.fit, HALF, epochs=1, verbose=0, validation_data=validation, strict=True)
    if not failed(history) and validation is not None:
        assert np.isfinite(history.history["val_loss"]).all()


@pytest.mark.slow
@FUZZ
@given(x=ANY_ARRAY, batch_size=SIZES)
@example(x=HALF, batch_size=2)
def test_encode_reconstruct(dense_ae, x, batch_size):
    codes = outcome(dense_ae.encode, x, batch_size=batch_size, strict=True)
    recon = outcome(dense_ae.reconstruct, x, batch_size=batch_size, strict=True)
    assert failed(codes) == failed(recon)
    if not failed(codes):
        assert codes.shape == (len(x), 2) and recon.shape == np.shape(x) and np.isfinite(recon).all()


@pytest.mark.slow
@FUZZ
@given(codes=mostly(numeric_arrays(example_shapes=((2,), (3,), (), (2, 1))), ODD_VALUES))
@example(codes=np.zeros((3, 2), "float32"))
def test_decode(dense_ae, codes):
    images = outcome(dense_ae.decode, codes, strict=True)
    if not failed(images):
        assert images.shape == (len(codes), *EXAMPLE)


# -- transformers --------------------------------------------------------------------------------
reduction = pytest.importorskip("keras_ae.applications.reduction")


@pytest.fixture(scope="module")
def fitted_transformer():
    x = np.random.default_rng(0).random((16, 4)).astype("float32")
    return reduction.AutoEncoderTransformer(code_dim=2, builder_kwargs={"hidden": (3,)}, epochs=1,
                                            random_state=0).fit(x)


@pytest.mark.slow
@settings(FUZZ, max_examples=10)
@given(x=mostly(numeric_arrays(example_shapes=((4,), (3,), (2, 2), ())), ODD_VALUES),
       code_dim=SIZES, loss=names("auto", "mse", "bce"))
@example(x=np.full((6, 4), 0.5, "float32"), code_dim=2, loss="auto")
def test_transformer_fit(x, code_dim, loss):
    transformer = reduction.AutoEncoderTransformer(code_dim=code_dim, loss=loss, builder_kwargs={"hidden": (3,)},
                                                   epochs=1, random_state=0)
    result = outcome(transformer.fit, x)
    if not failed(result):
        assert result.transform(x).shape == (len(x), code_dim)


@pytest.mark.slow
@FUZZ
@given(x=mostly(numeric_arrays(example_shapes=((4,), (2,), (2, 2), ())), ODD_VALUES))
@example(x=np.full((3, 4), 0.5, "float32"))
@example(x=np.zeros((3, 2), "float32"))
def test_transformer_transform_and_inverse(fitted_transformer, x):
    codes = outcome(fitted_transformer.transform, x, strict=True)
    if not failed(codes):
        assert codes.shape == (len(x), 2)
    back = outcome(fitted_transformer.inverse_transform, x, strict=True)
    if not failed(back):
        assert back.shape == (len(x), 4)
    score = outcome(fitted_transformer.score, x, strict=True)
    assert failed(score) == failed(codes)  # score = transform, then inverse_transform


# -- export ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def export_base(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz_exports")


@settings(FUZZ, max_examples=20)
@given(name=st.one_of(st.from_regex(r"\A[a-z][a-z0-9_.-]{0,6}\Z"), st.text(max_size=8), ODD_VALUES),
       version=mostly(st.one_of(st.none(), st.integers(1, 3)), st.one_of(st.integers(-2, 0), ODD_VALUES)),
       metadata=st.one_of(st.none(), st.dictionaries(st.text(max_size=3), st.floats() | st.text(max_size=3),
                                                     max_size=2), ODD_VALUES),
       input_shape=st.one_of(st.none(), SHAPES))
@example(name="fuzz_ok", version=None, metadata={"a": "b"}, input_shape=None)
@pytest.mark.slow
def test_export(mse_ae, export_base, name, version, metadata, input_shape):
    from keras_ae.export import export, read_metadata

    path = outcome(export, mse_ae, name, base_dir=export_base, version=version, metadata=metadata, uint8=False,
                   overwrite=True, input_shape=input_shape, allow_untrained=True)
    if failed(path):
        assert not any(p.name.startswith(".keras_ae-tmp") for p in export_base.rglob("*"))
        return
    assert Path(path).parent.parent == export_base  # never outside the base folder
    assert read_metadata(path)["name"] == name


# -- tf.data input: the same checks as arrays, for every family -------------------------------
def _dataset_families():
    from keras_ae.models import build_conditional_gan, build_pixelcnn, build_vae

    def dense():
        m = build_dense_ae(EXAMPLE, hidden=(4,), code_dim=2)
        m.compile()
        return m

    def vae():
        m = build_vae(EXAMPLE, latent_dim=2, hidden=(4,))
        m.compile()
        return m

    def cgan():
        m = build_conditional_gan(EXAMPLE, num_classes=3, latent_dim=2, generator_units=(4,), discriminator_units=(4,))
        m.compile(jit_compile=False)
        return m

    def pixelcnn():
        m = build_pixelcnn(EXAMPLE, filters=4, blocks=1)
        m.compile()
        return m

    binary = (np.arange(4 * 4).reshape(4, *EXAMPLE) % 2).astype("float32")
    return {  # name -> (model, a valid dataset)
        "dense_ae": (dense, lambda: tf.data.Dataset.from_tensor_slices(HALF).batch(2)),
        "vae": (vae, lambda: tf.data.Dataset.from_tensor_slices(binary).batch(2)),
        "conditional_gan": (cgan, lambda: tf.data.Dataset.from_tensor_slices((HALF, np.array([0, 1, 2]))).batch(2)),
        "pixelcnn": (pixelcnn, lambda: tf.data.Dataset.from_tensor_slices(binary).batch(2)),
    }


DATASET_FAMILIES = _dataset_families()


@st.composite
def datasets(draw):
    """A tf.data dataset of random dtype, value range, structure, per-example shape and labels,
    with what was drawn (for the oracle)."""
    shape = draw(st.sampled_from([EXAMPLE, (2, 2), (4,), (2, 2, 2), (3, 2, 1)]))
    n = draw(st.integers(1, 5))
    dtype = draw(st.sampled_from(["float32", "float64", "uint8", "int32", "float16"]))
    scale = draw(st.sampled_from([1.0, 255.0, -1.0, 1e30]))
    values = np.round(np.random.default_rng(draw(st.integers(0, 9))).random((n, *shape)) * 4) / 4 * scale
    with np.errstate(invalid="ignore", over="ignore"):
        x = values.astype(dtype) if dtype != "uint8" else np.clip(values, 0, 255).astype(dtype)
    structure = draw(st.sampled_from(["x", "(x,)", "(x, labels)", "(x, x)", "unbatched"]))
    labels = np.array(draw(st.lists(st.integers(-3, 5), min_size=n, max_size=n)))
    parts = {"x": x, "(x,)": (x,), "(x, labels)": (x, labels), "(x, x)": (x, x), "unbatched": x}[structure]
    ds = tf.data.Dataset.from_tensor_slices(parts)
    drawn = {"shape": shape, "dtype": dtype, "x": x, "structure": structure, "labels": labels}
    return (ds if structure == "unbatched" else ds.batch(2)), drawn


def _valid_for(model, drawn) -> bool:
    """The oracle: whether the family must train on the drawn dataset (else: refuse it)."""
    structures = {"gan": {"(x, labels)"}, "pixelcnn": {"x", "(x,)"}}.get(model.family, {"x", "(x,)", "(x, x)"})
    lo, hi = getattr(model, "data_range", None) or (0.0, 1.0)
    values = drawn["x"].astype("float64")
    binary = model.family == "pixelcnn" or getattr(model, "likelihood", None) == "bernoulli"
    return (drawn["structure"] in structures and drawn["shape"] == EXAMPLE
            and not (drawn["dtype"] == "uint8" and hi <= 1.0)
            and bool(np.all((values >= lo) & (values <= hi)))
            and (not binary or bool(np.all((values == 0) | (values == 1))))
            and (drawn["structure"] != "(x, labels)" or bool(np.all((drawn["labels"] >= 0) & (drawn["labels"] < 3)))))


@pytest.mark.slow
@pytest.mark.parametrize("family", sorted(DATASET_FAMILIES))
def test_fit_on_any_dataset_trains_or_refuses_and_the_model_stays_usable(family):
    make, valid = DATASET_FAMILIES[family]
    model = make()

    @settings(FUZZ, max_examples=10)
    @given(case=datasets())
    def run(case):
        dataset, drawn = case
        result = outcome(model.fit, dataset, epochs=1, verbose=0, strict=True)
        if _valid_for(model, drawn):
            assert not isinstance(result, Exception), f"refused valid data {drawn['structure']}: {result}"
        else:
            assert isinstance(result, InputValidationError), f"trained on bad data ({drawn}): {result}"
        assert all(np.isfinite(w).all() for w in model.get_weights())
        history = model.fit(valid(), epochs=1, verbose=0)  # still trains after whatever came before
        assert all(np.isfinite(v[-1]) for v in history.history.values())

    run()
