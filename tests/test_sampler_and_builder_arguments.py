"""Absurd sample counts and bad builder arguments are refused up front.

Every Python sampler checks its count with ``keras_ae.validation.check_count`` (the result's
size against ``MAX_RESULT_BYTES``) before drawing anything; every builder argument of the
VAE, VQ-VAE, RealNVP, diffusion, GAN and PixelCNN / PixelRNN families goes through the shared
checkers, so a bad value is an ``InputValidationError`` naming the argument.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
import warnings

import numpy as np
import pytest

from keras_ae.errors import InputValidationError, KerasAEError
from keras_ae.models.diffusion import DiffusionModel, build_diffusion
from keras_ae.models.flow import build_realnvp
from keras_ae.models.gan import build_conditional_gan, build_dcgan, build_gan
from keras_ae.models.pixelcnn import build_pixelcnn
from keras_ae.models.pixelrnn import build_pixelrnn
from keras_ae.models.vae import build_vae
from keras_ae.models.vqvae import build_vqvae
from keras_ae.validation import MAX_RESULT_BYTES, check_count, check_float, check_model_seed
from tests.memory import HIGH_WATER_MARK

SHAPE = (8, 8, 1)
BUILDERS = {
    "vae": lambda **kw: build_vae(SHAPE, **{"latent_dim": 2, "hidden": (8,), **kw}),
    "iaf_vae": lambda **kw: build_vae(SHAPE, **{"latent_dim": 2, "hidden": (8,), "posterior_flow": "iaf",
                                                "flow_steps": 1, **kw}),
    "vqvae": lambda **kw: build_vqvae(SHAPE, **{"num_codes": 4, "code_dim": 2, "filters": (4,), "prior_filters": 4,
                                                "prior_blocks": 0, **kw}),
    "realnvp": lambda **kw: build_realnvp(SHAPE, **{"filters": 4, "blocks": 0, "couplings": 1, "final_couplings": 1,
                                                    **kw}),
    "diffusion": lambda **kw: build_diffusion(SHAPE, **{"channels": (8,), "attention": False, "timesteps": 10,
                                                        "sample_steps": 2, **kw}),
    "gan": lambda **kw: build_gan(SHAPE, **{"latent_dim": 4, "generator_units": (8,), "discriminator_units": (8,),
                                            **kw}),
    "dcgan": lambda **kw: build_dcgan(SHAPE, **{"latent_dim": 4, "filters": (8, 8), **kw}),
    "conditional_gan": lambda **kw: build_conditional_gan(SHAPE, **{"num_classes": 3, "latent_dim": 4,
                                                                    "filters": (8, 8), **kw}),
    "pixelcnn": lambda **kw: build_pixelcnn(SHAPE, **{"filters": 4, "blocks": 1, **kw}),
    "pixelrnn": lambda **kw: build_pixelrnn(SHAPE, **{"kind": "row_lstm", "units": 4, "layers": 1, **kw}),
}


# -- the shared checks ---------------------------------------------------------------------------
def test_check_count_refuses_a_result_beyond_the_limit_with_an_estimate_and_the_largest_count():
    assert check_count(1000, "n", 4 * 784) == 1000
    with pytest.raises(InputValidationError, match=r"`n` = 1,000,000,000 images would take about 3,136.0 GB") as err:
        check_count(10**9, "n", 4 * 784)
    assert f"at most {MAX_RESULT_BYTES // (4 * 784):,} images" in str(err.value)
    with pytest.raises(InputValidationError, match="one call draws; use sample"):
        check_count(10_001, "n", 4, maximum=10_000, advice="use sample")
    for bad in ("a", 1.5, True, -1, None):
        with pytest.raises(InputValidationError, match="`n` must be"):
            check_count(bad, "n", 4)


def test_check_float_refuses_strings_nan_bools_and_values_out_of_range():
    assert check_float(0.5, "decay", 0.0, 1.0, include_maximum=False) == 0.5
    assert check_float(None, "ema_decay", 0.0, 1.0, allow_none=True) is None
    for bad in ("a", float("nan"), float("inf"), True, 1.0, -0.1, 10**400, [0.5]):
        with pytest.raises(InputValidationError, match=r"`decay` must be a finite number in \[0, 1\)"):
            check_float(bad, "decay", 0.0, 1.0, include_maximum=False)


def test_check_float_takes_numpy_scalars_of_every_width_without_a_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # np.float32(x) < 1e308 would warn "overflow encountered in cast"
        for value in (np.float16(0.5), np.float32(0.5), np.float64(0.5), np.longdouble(0.5), np.int8(0)):
            assert check_float(value, "decay", 0.0, 1.0, include_maximum=False) == float(value)
        for bad in (np.float16(np.inf), np.float32(np.nan), np.float32(1.0), np.longdouble(1e400)):
            with pytest.raises(InputValidationError, match=r"`decay` must be a finite number in \[0, 1\)"):
                check_float(bad, "decay", 0.0, 1.0, include_maximum=False)


def test_a_model_seed_beyond_int64_wraps_and_an_ordinary_one_is_unchanged():
    assert check_model_seed(12345) == 12345 and check_model_seed(-1) == -1
    assert check_model_seed(2**70) == 0 and check_model_seed(2**64 + 3) == 3
    assert -2**63 <= check_model_seed(2**63) < 2**63


# -- finding 4: sampler counts -------------------------------------------------------------------
@pytest.fixture(scope="module")
def models():
    return {name: BUILDERS[name](seed=0) for name in ("vae", "iaf_vae", "vqvae", "realnvp", "diffusion", "gan",
                                                     "pixelcnn")}


SAMPLERS = {
    "vae.sample": ("vae", lambda m, n: m.sample(n, seed=0)),
    "iaf_vae.sample": ("iaf_vae", lambda m, n: m.sample(n, seed=0)),
    "iaf_vae.interpolate": ("iaf_vae", lambda m, n: m.interpolate(np.zeros(SHAPE, "float32"), np.ones(SHAPE, "float32"),
                                                                  steps=n)),
    "vae.interpolate(batch)": ("vae", lambda m, n: m.interpolate(np.zeros((3, *SHAPE), "float32"),
                                                                 np.ones((3, *SHAPE), "float32"), steps=n)),
    "realnvp.sample": ("realnvp", lambda m, n: m.sample(n, seed=0)),
    "vqvae.sample": ("vqvae", lambda m, n: m.sample(n, seed=0)),
    "vqvae.sample_codes": ("vqvae", lambda m, n: m.sample_codes(n, seed=0)),
    "diffusion.sample": ("diffusion", lambda m, n: m.sample(n, steps=2, seed=0)),
    "diffusion.sample_naive": ("diffusion", lambda m, n: m.sample_naive(n, steps=2, seed=0)),
    "gan.sample": ("gan", lambda m, n: m.sample(n, seed=0, verbose=0)),
    "pixelcnn.sample": ("pixelcnn", lambda m, n: m.sample(n, seed=0, jit_compile=False)),
    "pixelcnn.sample_naive": ("pixelcnn", lambda m, n: m.sample_naive(n, seed=0)),
}


@pytest.mark.slow
@pytest.mark.parametrize("sampler", sorted(SAMPLERS))
def test_an_absurd_sample_count_is_refused_at_once_and_the_model_still_samples(models, sampler):
    family, draw = SAMPLERS[sampler]
    model = models[family]
    start = time.perf_counter()
    with pytest.raises(InputValidationError, match=r"(`n`|`steps`) = 1,000,000,000 ") as err:
        draw(model, 10**9)
    assert time.perf_counter() - start < 1.0
    assert len(str(err.value)) < 400
    out = draw(model, 2)
    assert out.shape[-3:] == SHAPE or out.shape == (2, 4, 4)  # images, or the VQ-VAE's 4x4 code maps
    assert np.isfinite(out).all()


@pytest.mark.parametrize("sampler", ["diffusion.sample_naive", "pixelcnn.sample_naive"])
def test_the_one_batch_baselines_refuse_more_than_the_exported_count_and_point_to_sample(models, sampler):
    family, draw = SAMPLERS[sampler]
    with pytest.raises(InputValidationError, match=r"`n` = 10,001 images is more than the 10,000 .*sample\(\)"):
        draw(models[family], 10_001)


def test_batched_interpolation_equals_the_points_decoded_one_by_one(models):
    vae = models["vae"]
    a, b = np.zeros(SHAPE, "float32"), np.full(SHAPE, 0.5, "float32")
    path = vae.interpolate(a, b, steps=1500)  # more points than one decoding batch
    assert path.shape == (1500, *SHAPE)
    np.testing.assert_allclose(path[[0, 999, 1000, 1499]], vae.interpolate(a, b, steps=1500)[[0, 999, 1000, 1499]])
    ends = vae.interpolate(a, b, steps=2)
    np.testing.assert_allclose(path[[0, -1]], ends, atol=1e-6)


MEMORY_SCRIPT = HIGH_WATER_MARK + textwrap.dedent("""
    import json, time
    import numpy as np
    from keras_ae.errors import InputValidationError
    from keras_ae.models.diffusion import build_diffusion
    from keras_ae.models.flow import build_realnvp
    from keras_ae.models.vae import build_vae
    from keras_ae.models.vqvae import build_vqvae

    shape = (8, 8, 1)
    flow_vae = build_vae(shape, latent_dim=2, hidden=(8,), posterior_flow="iaf", flow_steps=1, seed=0)
    realnvp = build_realnvp(shape, filters=4, blocks=0, couplings=1, final_couplings=1, seed=0)
    vqvae = build_vqvae(shape, num_codes=4, code_dim=2, filters=(4,), prior_filters=4, prior_blocks=0, seed=0)
    diffusion = build_diffusion(shape, channels=(8,), attention=False, timesteps=10, sample_steps=2, seed=0)
    calls = {
        "flow_vae.sample": lambda: flow_vae.sample(10**9, seed=0),
        "flow_vae.interpolate": lambda: flow_vae.interpolate(np.zeros(shape), np.ones(shape), steps=10**9),
        "realnvp.sample": lambda: realnvp.sample(10**9, seed=0),
        "vqvae.sample": lambda: vqvae.sample(10**9, seed=0),
        "diffusion.sample": lambda: diffusion.sample(10**9, seed=0),
    }
    for call in calls.values():  # warm-up: what a first small call allocates is not the refusal's
        try:
            call()
        except InputValidationError:
            pass
    baseline = high_water_mark()
    result = {}
    for name, call in calls.items():
        start = time.perf_counter()
        try:
            call()
            result[name] = "accepted"
        except InputValidationError:
            result[name] = time.perf_counter() - start
    print(json.dumps({"baseline": baseline, "peak": high_water_mark(), "result": result}))
""")


@pytest.mark.slow
def test_absurd_counts_are_refused_in_seconds_with_bounded_memory(tmp_path):
    script = tmp_path / "sample_counts.py"
    script.write_text(MEMORY_SCRIPT)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    growth = result["peak"] - result["baseline"]
    print(f"refusal times {result['result']}; RSS growth {growth / 2**20:.0f} MiB")
    for name, seconds in result["result"].items():
        assert seconds != "accepted" and seconds < 5.0, name
    assert growth < 300_000_000


# -- finding 9: builder arguments ----------------------------------------------------------------
BAD_ARGUMENTS = [
    # (family, argument, bad value)
    *[(family, "seed", bad) for family in BUILDERS for bad in ("a", 1.5, True)],
    ("vae", "beta", "a"), ("vae", "beta", -1.0), ("vae", "min_scale", "a"), ("vae", "max_scale", "a"),
    ("vae", "max_scale", float("nan")), ("vae", "dynamic_binarization", "a"),
    ("vae", "activation", "a"), ("iaf_vae", "flow_hidden", -1), ("iaf_vae", "flow_steps", "a"),
    ("vqvae", "beta", "a"), ("vqvae", "decay", "a"), ("vqvae", "decay", 1.0), ("vqvae", "restart_dead_codes", "no"),
    ("vqvae", "dynamic_binarization", "a"), ("vqvae", "prior", "a"), ("vqvae", "prior_dropout", "a"),
    ("realnvp", "alpha", "a"),
    ("diffusion", "ema_decay", "a"), ("diffusion", "ema_decay", 1.0), ("diffusion", "dropout", "a"),
    ("diffusion", "attention", "a"), ("diffusion", "sample_steps", "a"), ("diffusion", "sample_steps", 0),
    ("gan", "dropout", "a"), ("gan", "dropout", 1.5), ("gan", "ema_decay", "a"),
    ("dcgan", "kernel_size", "a"), ("dcgan", "kernel_size", -1), ("conditional_gan", "kernel_size", 1.5),
    ("pixelcnn", "gated", "a"), ("pixelcnn", "dropout", "a"), ("pixelcnn", "dynamic_binarization", "a"),
    ("pixelrnn", "full_context", "a"),
]


@pytest.mark.slow
@pytest.mark.parametrize("family,argument,bad", BAD_ARGUMENTS,
                         ids=[f"{f}-{a}-{b!r}" for f, a, b in BAD_ARGUMENTS])
def test_a_bad_builder_argument_is_refused_naming_it(family, argument, bad):
    with pytest.raises(InputValidationError, match=f"`?{argument}`?"):
        BUILDERS[family](**{argument: bad})


@pytest.mark.slow
@pytest.mark.parametrize("family", ["vae", "vqvae", "realnvp", "diffusion", "gan", "pixelcnn"])
def test_a_seed_beyond_int64_builds_a_model_that_samples_as_its_wrapped_seed(family):
    big = BUILDERS[family](seed=2**70 + 5)
    small = BUILDERS[family](seed=5)  # 2**70 + 5 wraps to 5 in int64
    assert big.seed == 5
    kwargs = {"seed": 1}
    if family == "gan":
        kwargs["verbose"] = 0
    if family == "pixelcnn":
        kwargs["jit_compile"] = False
    if family == "vqvae":
        np.testing.assert_array_equal(big.sample_codes(2, **kwargs).shape, (2, 4, 4))
    else:
        assert big.sample(2, **kwargs).shape[0] == 2
    assert type(big) is type(small)


def test_every_refusal_is_a_keras_ae_error_for_every_family_and_argument():
    # The raw errors of the issue: out-of-range seeds, 'a' seeds, ema_decay='a'.
    for family in BUILDERS:
        for bad in ("a", float("nan")):
            with pytest.raises(KerasAEError):
                BUILDERS[family](seed=bad)
    with pytest.raises(InputValidationError, match="ema_decay"):
        build_diffusion(SHAPE, ema_decay="a")


# -- finding 16 (part): sample_steps -------------------------------------------------------------
@pytest.mark.slow
def test_sample_steps_above_the_timesteps_are_refused_by_the_builder_as_by_the_class_and_sample():
    with pytest.raises(InputValidationError, match=r"`sample_steps` must be an integer in \[1, 20\]"):
        build_diffusion(SHAPE, channels=(8,), attention=False, timesteps=20, sample_steps=10**9)
    model = build_diffusion(SHAPE, channels=(8,), attention=False, timesteps=20)
    assert model.sample_steps == 20  # the default 50, capped by T: no explicit value is changed
    assert build_diffusion(SHAPE, channels=(8,), attention=False, timesteps=200).sample_steps == 50
    assert build_diffusion(SHAPE, channels=(8,), attention=False, timesteps=20, sample_steps=7).sample_steps == 7
    with pytest.raises(InputValidationError, match=r"`sample_steps` must be an integer in \[1, 20\]"):
        DiffusionModel(model.network, SHAPE, timesteps=20, sample_steps=21)
    with pytest.raises(InputValidationError, match="exceeds the model's 20 diffusion timesteps"):
        model.sample(1, steps=10**9)
    assert model.sample(1, steps=3, seed=0).shape == (1, *SHAPE)
