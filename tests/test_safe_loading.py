"""Safe loading: no code runs from model or config files, and outputs stay inside their folders."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest

from keras_ae.cli import main
from keras_ae.errors import InputValidationError
from keras_ae.export import export, model_directory
from keras_ae.models import build_dense_ae
from keras_ae.saving import UnsafeModelError, is_inside, load_model, save_model


@pytest.fixture(scope="module")
def lambda_model_file(tmp_path_factory) -> Path:
    inputs = keras.Input((3,))
    outputs = keras.layers.Lambda(lambda t: t * 2.0)(inputs)  # code stored in the file
    path = tmp_path_factory.mktemp("unsafe") / "lambda.keras"
    keras.Model(inputs, outputs).save(path)
    return path


def test_lambda_model_is_refused_even_after_a_global_unsafe_switch(lambda_model_file):
    with pytest.raises(UnsafeModelError, match=r"Refused to load .*lambda\.keras: it contains Python code"):
        load_model(lambda_model_file)
    from keras.src.backend.common import global_state

    keras.config.enable_unsafe_deserialization()  # e.g. set by some other library in the process
    try:
        assert keras.saving.load_model(lambda_model_file) is not None  # plain Keras now loads it
        with pytest.raises(UnsafeModelError):
            load_model(lambda_model_file)  # ours still refuses
    finally:
        global_state.set_global_attribute("safe_mode_saving", None)
    # an explicit opt-in for a trusted file works, and the function is the real one
    model = load_model(lambda_model_file, safe_mode=False)
    np.testing.assert_allclose(model(np.ones((1, 3), "float32")), 2.0)


def test_cli_refuses_an_unsafe_model_with_exit_2(lambda_model_file, tmp_path, capsys):
    assert main(["evaluate", str(lambda_model_file)]) == 2
    assert "contains Python code" in capsys.readouterr().err
    assert main(["export", str(lambda_model_file), "--base-dir", str(tmp_path)]) == 2
    assert "safe mode" in capsys.readouterr().err and not any(tmp_path.iterdir())


def test_model_config_naming_a_non_keras_function_is_refused(tmp_path):
    """A hand-edited config.json pointing an activation at os.system-like code."""
    model = build_dense_ae((4,), hidden=(3,), code_dim=2)
    good = save_model(model, tmp_path / "good.keras")
    with zipfile.ZipFile(good) as z:
        files = {n: z.read(n) for n in z.namelist()}
    config = files["config.json"].decode()
    assert '"activation": "relu"' in config
    evil = config.replace('"activation": "relu"', json.dumps(
        {"activation": {"module": "os", "class_name": "function", "config": "getcwd", "registered_name": "function"}}
    )[1:-1], 1)
    with zipfile.ZipFile(tmp_path / "evil.keras", "w") as z:
        for name, data in files.items():
            z.writestr(name, evil if name == "config.json" else data)
    with pytest.raises(InputValidationError, match="Could not locate function 'getcwd'"):
        load_model(tmp_path / "evil.keras")


def test_only_keras_files_load(tmp_path):
    legacy = tmp_path / "model.h5"
    legacy.write_bytes(b"\x89HDF\r\n")
    with pytest.raises(InputValidationError, match="not a .keras file"):
        load_model(legacy)
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "missing.keras")


def test_save_model_round_trips_and_leaves_no_temporary(tmp_path):
    model = build_dense_ae((4,), hidden=(3,), code_dim=2)
    x = np.random.default_rng(0).random((5, 4)).astype("float32")
    path = save_model(model, tmp_path / "sub" / "m.keras")
    np.testing.assert_allclose(load_model(path).reconstruct(x), model.reconstruct(x), atol=1e-6)
    assert [p.name for p in path.parent.iterdir()] == ["m.keras"]


YAML_PAYLOADS = [
    "model: !!python/object/apply:os.system ['touch {marker}']\n",
    "!!python/object/new:os.system ['touch {marker}']\n",
    "model: dense\nparams: {{hidden: !!python/name:os.system }}\n",
]


@pytest.mark.parametrize("payload", YAML_PAYLOADS)
def test_yaml_config_with_python_tags_is_refused_exit_2(payload, tmp_path, capsys):
    marker = tmp_path / "pwned"
    config = tmp_path / "evil.yaml"
    config.write_text(payload.format(marker=marker))
    assert main(["train", "--config", str(config)]) == 2
    assert "would build a Python object" in capsys.readouterr().err
    assert not marker.exists()


def test_param_values_with_python_tags_are_refused(tmp_path, capsys):
    marker = tmp_path / "pwned"
    assert main(["train", "dense", "-p", f"hidden=!!python/object/apply:os.system ['touch {marker}']"]) == 2
    assert "reads plain data only" in capsys.readouterr().err and not marker.exists()


def test_config_file_cannot_send_outputs_outside(tmp_path, monkeypatch, capsys):
    work = tmp_path / "work"
    (work / "configs").mkdir(parents=True)
    monkeypatch.chdir(work)
    for out in ["../escaped", str(tmp_path / "elsewhere"), "runs/../../escaped"]:
        (work / "configs" / "run.json").write_text(json.dumps({"model": "dense", "out": out}))
        assert main(["train", "--config", "configs/run.json"]) == 2
        assert "points outside the current folder" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["work"]  # nothing written outside
    # an explicit --out is the user's choice; the config's own folder and subfolders are fine
    from keras_ae.cli_config import check_config_out

    assert check_config_out("runs/x", "configs/run.json") == "runs/x"
    own = str(tmp_path / "old_run")  # e.g. `--config /data/old_run/config.json` reruns in place
    assert check_config_out(own, f"{own}/config.json") == own


def test_export_paths_cannot_escape_the_base_dir(tmp_path):
    base, outside = tmp_path / "saved_models", tmp_path / "outside"
    base.mkdir()
    outside.mkdir()
    (base / "link").symlink_to(outside, target_is_directory=True)
    for name in ["../x", "a/b", "..", "/etc", "link"]:
        with pytest.raises(InputValidationError):
            model_directory(base, name)
    assert is_inside(base / "ok", base) and not is_inside(base / "link" / "x", base)
    model = build_dense_ae((4,), hidden=(3,), code_dim=2)
    with pytest.raises(InputValidationError, match="one folder name"):
        export(model, "../../escape", base_dir=base, allow_untrained=True)
    assert not any(outside.iterdir()) and not (tmp_path / "escape").exists()
    assert os.listdir(base) == ["link"]
