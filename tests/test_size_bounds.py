"""One size bound for VQ-VAE, RealNVP, diffusion, flow-posterior VAEs and IWAE.

Every config-declared size is refused before anything is built, with the same
InputValidationError from the three ways a config reaches a constructor: a builder call, a
hand-edited ``config.json`` inside a saved ``.keras`` file, and ``keras-ae train -p key=value``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import pytest

from keras_ae import cli
from keras_ae.errors import InputValidationError
from keras_ae.models import build_diffusion, build_realnvp, build_vae, build_vqvae
from keras_ae.models.diffusion.unet import build_unet, unet_size
from keras_ae.models.flow.model import realnvp_size
from keras_ae.models.vae.flows import PosteriorFlow, flow_parameter_count
from keras_ae.models.vqvae.builders import vqvae_size
from keras_ae.saving import load_model, save_model
from keras_ae.validation import MAX_LAYERS, MAX_PARAMETERS
from tests.memory import HIGH_WATER_MARK

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(REPO)}

# A small model of each family: builder name, builder arguments (8x8 digits, the CLI's default data).
SMALL = {
    "vqvae": (build_vqvae, dict(num_codes=8, code_dim=4, filters=[8], residual_blocks=1, prior_filters=4,
                                prior_blocks=0)),
    "realnvp": (build_realnvp, dict(filters=4, blocks=1, couplings=1, final_couplings=1)),
    "diffusion": (build_diffusion, dict(channels=[8, 16], attention=False, timesteps=50)),
    "flow_vae": (build_vae, dict(latent_dim=2, hidden=[16], posterior_flow="iaf", flow_steps=2, flow_hidden=[8])),
    "iwae": (build_vae, dict(latent_dim=2, hidden=[16], objective="iwae", k=5)),
}
IMAGE = (8, 8, 1)

# (family, builder argument, absurd value, path of the same size in config.json, expected message)
CASES = [
    ("vqvae", "num_codes", 10**9, ("quantizer", "config", "num_codes"),
     r"`num_codes` must be an integer in \[2, 65536\]"),
    ("vqvae", "code_dim", 10**9, ("quantizer", "config", "code_dim"),
     r"VQ-VAE codebook would have about 1.6e\+10 param"),
    ("realnvp", "couplings", 10**6, ("couplings",), r"RealNVP would have about .* layers, more than the 2000"),
    ("realnvp", "final_couplings", 10**6, ("final_couplings",), r"RealNVP would have about .* layers"),
    ("realnvp", "blocks", 10**5, ("blocks",), r"RealNVP would have about .* layers"),
    ("realnvp", "filters", 30_000, ("filters",), r"RealNVP would have about .* parameters \(~[\d,.]+ GB"),
    ("realnvp", "scales", 10**6, ("scales",), r"`scales` must be an integer in \[1, 32\]"),
    ("realnvp", "image_shape", [65536, 65536, 1], ("image_shape",), r"`image_shape` .* values per example"),
    ("diffusion", "timesteps", 10**9, ("timesteps",), r"`timesteps` must be an integer in \[2, 100000\]"),
    ("diffusion", "image_shape", [65536, 65536, 1], ("image_shape",), r"`image_shape` .* values per example"),
    ("flow_vae", "flow_steps", 10**6, ("flow", "config", "steps"), r"posterior flow would have about 2e\+06 layers"),
    ("flow_vae", "flow_hidden", [10**8], ("flow", "config", "hidden_units"),
     r"posterior flow \(weights and MADE masks\) would have about .* parameters"),
    ("iwae", "k", 10**9, ("k",), r"`k` must be an integer in \[1, 10000\]"),
]
IDS = [f"{family}-{name}" for family, name, *_ in CASES]
SHAPE_ARGUMENT = {"vqvae": "image_shape", "realnvp": "image_shape", "diffusion": "image_shape",
                  "flow_vae": "input_shape", "iwae": "input_shape"}


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> dict[str, dict[str, bytes]]:
    """The members of a saved small ``.keras`` file of each family."""
    folder = tmp_path_factory.mktemp("saved")
    members = {}
    for family, (builder, kwargs) in SMALL.items():
        path = save_model(builder(IMAGE, **kwargs), folder / f"{family}.keras")
        with zipfile.ZipFile(path) as archive:
            members[family] = {name: archive.read(name) for name in archive.namelist()}
    return members


def _edited(members: dict[str, bytes], key_path: tuple[str, ...], value, path: Path) -> Path:
    """A copy of the saved file whose config.json has ``value`` at ``key_path`` (under the model's config)."""
    config = json.loads(members["config.json"])
    node = config["config"]
    for key in key_path[:-1]:
        node = node[key]
    assert key_path[-1] in node, sorted(node)
    node[key_path[-1]] = value
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, json.dumps(config) if name == "config.json" else data)
    return path


def _cli_params(family: str, name: str, value) -> list[str]:
    _, kwargs = SMALL[family]
    params = []
    for key, setting in {**kwargs, name: value}.items():
        params += ["-p", f"{key}={json.dumps(setting)}"]
    return params


def _refusal(call) -> tuple[str, float]:
    start = time.monotonic()
    with pytest.raises(InputValidationError) as info:
        call()
    return str(info.value), time.monotonic() - start


@pytest.mark.slow
@pytest.mark.parametrize("family, name, value, key_path, expected", CASES, ids=IDS)
def test_an_absurd_size_gets_the_same_refusal_from_the_builder_a_saved_file_and_the_cli(
        saved, tmp_path, capsys, family, name, value, key_path, expected):
    builder, kwargs = SMALL[family]
    arguments = {**kwargs, name: value} if name != "image_shape" else dict(kwargs)
    shape = value if name == "image_shape" else IMAGE
    from_builder, built_in = _refusal(lambda: builder(**{SHAPE_ARGUMENT[family]: shape}, **arguments))
    bomb = _edited(saved[family], key_path, value, tmp_path / "edited.keras")
    from_file, loaded_in = _refusal(lambda: load_model(bomb))

    assert re.search(expected, from_builder), from_builder
    assert from_file in (from_builder, f"Could not load {bomb}: {from_builder}")
    assert built_in < 5 and loaded_in < 5, (built_in, loaded_in)
    assert len(from_builder) < 400  # the value is named, never echoed at length
    if name == "image_shape":
        return  # the CLI takes the image shape from the data
    code = cli.main(["train", family if family in ("vqvae", "realnvp", "diffusion") else "vae",
                     *_cli_params(family, name, value), "--limit", "64", "--epochs", "1", "--verbose", "0",
                     "--out", str(tmp_path / "out")])
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1, lines
    assert lines[0] == f"keras-ae train: error: {from_builder}"
    assert not (tmp_path / "out" / "model.keras").exists()



@pytest.mark.slow
def test_the_recipe_and_default_sizes_are_accepted():
    # RealNVP of docs/results.md: 2 scales, 3 + 3 + 4 couplings, 64 filters, 28x28 (counted, then built).
    parameters, layers = realnvp_size((28, 28, 1), 2, 3, 4, 64, 2)
    assert parameters < MAX_PARAMETERS and layers < MAX_LAYERS
    assert build_realnvp((28, 28, 1), filters=64, blocks=2).count_params() == parameters
    # The diffusion U-Nets: default (32, 64, 128) and the recipe's 16-32-64, T = 1000.
    for channels in ((32, 64, 128), (16, 32, 64)):
        parameters, layers = unet_size((28, 28, 1), channels, blocks=1, attention=True)
        assert parameters < MAX_PARAMETERS / 100 and layers < MAX_LAYERS / 10
    unet = build_unet((28, 28, 1), channels=(16, 32, 64))
    assert (unet.count_params(), len(unet.layers)) == unet_size((28, 28, 1), (16, 32, 64))
    build_diffusion((8, 8, 1), channels=(8, 16), attention=False, timesteps=1000)
    # VQ-VAE, K = 128 (the default model, prior included).
    assert build_vqvae().count_params() == vqvae_size((28, 28, 1), 128, 16, (32, 64), 2)[0]
    # IAF with 2 and 4 steps of MADE 200 units, latent 50; IWAE k = 50.
    for steps in (2, 4):
        flow = PosteriorFlow(50, kind="iaf", steps=steps, hidden_units=(200,), context_dim=50)
        flow.build((None, 50))
        assert flow.count_params() == flow_parameter_count(50, "iaf", steps, (200,), 50)
    build_vae((28, 28, 1), objective="iwae", k=50)


@pytest.mark.slow
def test_the_size_estimates_are_exact_on_small_models():
    flow = build_realnvp((8, 8, 3), scales=3, couplings=2, final_couplings=1, filters=4, blocks=0)
    assert realnvp_size((8, 8, 3), 3, 2, 1, 4, 0) == (flow.count_params(), 45)
    vqvae = build_vqvae((8, 8, 1), num_codes=8, code_dim=4, filters=(8,), residual_blocks=1, prior_filters=8,
                        prior_blocks=1)
    assert vqvae_size((8, 8, 1), 8, 4, (8,), 1, True, 8, 1)[0] == vqvae.count_params()
    conditional = build_vqvae((12, 12, 1), num_codes=8, code_dim=4, filters=(8, 8), residual_blocks=1, prior_filters=8,
                              prior_blocks=1, num_classes=3)  # 3x3 code maps: the class maps' size follows them
    assert vqvae_size((12, 12, 1), 8, 4, (8, 8), 1, True, 8, 1, num_classes=3)[0] == conditional.count_params()
    unet = build_unet((8, 8, 3), channels=(8, 16, 24), blocks=2)
    assert unet_size((8, 8, 3), (8, 16, 24), blocks=2) == (unet.count_params(), len(unet.layers))


# -- bounded memory and time, in a fresh process ------------------------------------------------

PEAK = HIGH_WATER_MARK + textwrap.dedent("""
    import json, os, sys, threading, time
    from keras_ae.errors import InputValidationError
    from keras_ae.saving import load_model
    import keras_ae.models as models

    def rss_mib():
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) // 1024 for line in status if line.startswith("VmRSS:"))

    def watchdog(limit_mib, seconds):
        # Stops the process if a bomb is not refused: the machine is shared.
        start = time.monotonic()
        while True:
            time.sleep(0.05)
            if rss_mib() > limit_mib or time.monotonic() - start > seconds:
                print("RUNAWAY", rss_mib(), round(time.monotonic() - start, 1), flush=True)
                os._exit(3)

    good, calls = sys.argv[1:3]
    for path in json.loads(good):
        load_model(path)  # imports and a model of each family built: the baseline
    before = high_water_mark() // 2**20
    threading.Thread(target=watchdog, args=(before + 1500, 120), daemon=True).start()
    for kind, target, arguments in json.loads(calls):
        start = time.monotonic()
        try:
            load_model(target) if kind == "load" else getattr(models, target)(**arguments)
            print("ACCEPTED", kind, target, flush=True)
        except InputValidationError:
            print("REFUSED", kind, round(time.monotonic() - start, 2), flush=True)
    print("PEAK", before, high_water_mark() // 2**20)
""")


@pytest.mark.slow
def test_size_bombs_are_refused_in_seconds_without_allocating(saved, tmp_path):
    goods, calls = [], []
    for family, (builder, kwargs) in SMALL.items():
        path = tmp_path / f"{family}.keras"
        with zipfile.ZipFile(path, "w") as archive:
            for name, data in saved[family].items():
                archive.writestr(name, data)
        goods.append(str(path))
    for i, (family, name, value, key_path, _) in enumerate(CASES):
        builder, kwargs = SMALL[family]
        calls.append(("load", str(_edited(saved[family], key_path, value, tmp_path / f"bomb_{i}.keras")), {}))
        shape = value if name == "image_shape" else list(IMAGE)
        arguments = {**kwargs, SHAPE_ARGUMENT[family]: shape}
        if name != "image_shape":
            arguments[name] = value
        calls.append(("build", builder.__name__, arguments))
    # The issue's builder probes (finding 3), on the builders' other defaults.
    calls += [("build", "build_vqvae", {"image_shape": [8, 8, 1], "num_codes": 10**6}),
              ("build", "build_vqvae", {"image_shape": [8, 8, 1], "code_dim": 10**8}),
              ("build", "build_realnvp", {"image_shape": [8, 8, 1], "filters": 20_000}),
              ("build", "build_realnvp", {"image_shape": [8, 8, 1], "couplings": 10**5}),
              ("build", "build_diffusion", {"image_shape": [8, 8, 1], "channels": [8, 100_000]}),
              ("build", "build_vae", {"input_shape": [8, 8, 1], "posterior_flow": "iaf", "flow_hidden": [10**8]}),
              ("build", "build_vae", {"input_shape": [8, 8, 1], "posterior_flow": "iaf", "flow_steps": 10**5})]
    script = tmp_path / "peak.py"
    script.write_text(PEAK)
    result = subprocess.run([sys.executable, str(script), json.dumps(goods), json.dumps(calls)], env=ENV,
                            capture_output=True, text=True, timeout=600)
    lines = result.stdout.strip().splitlines()
    assert result.returncode == 0 and lines and lines[-1].startswith("PEAK"), (lines[-5:], result.stderr[-2000:])
    verdicts = lines[:-1]
    assert len(verdicts) == len(calls)
    assert all(v.startswith("REFUSED") for v in verdicts), [v for v in verdicts if not v.startswith("REFUSED")]
    assert max(float(v.split()[-1]) for v in verdicts) < 5  # seconds per refusal
    before, after = (int(v) for v in lines[-1].split()[1:])
    slowest = max(float(v.split()[-1]) for v in verdicts)
    print(f"{len(calls)} refusals, slowest {slowest} s, peak {before} -> {after} MiB")
    assert after - before < 300, (before, after)  # MiB over the baseline, for all refusals together
