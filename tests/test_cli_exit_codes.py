"""keras-ae's exit-code contract under hostile or mistaken input.

0 ok; 2 usage error / bad value; 1 failure. Either error is one short line on stderr,
never a traceback, and never an echo of a huge value.
"""

from __future__ import annotations

import json
import math
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keras_ae import cli, cli_config
from keras_ae.cli import main
from keras_ae.errors import DatasetNotAvailableError, InputValidationError

SMALL = ["-p", "hidden=[16]", "-p", "code_dim=4", "--limit", "64", "--verbose", "0"]


def _one_short_line(err: str, limit: int = cli_config.MAX_ERROR_LINE + 100) -> str:
    """The stderr of a failed command: exactly one bounded line, no traceback."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err[:2000]
    assert "Traceback" not in err and len(lines[0]) <= limit
    return lines[0]


def _bomb(levels: int = 8) -> str:
    """The "billion laughs" YAML: each level lists the previous one 9 times."""
    lines = ["model: dense", 'a0: &a0 ["lol"]']
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines) + f"\nepochs: *a{levels}\n"


# -- 1. config size and YAML alias bombs ------------------------------------------------------
def test_yaml_alias_bomb_is_refused_fast_with_a_short_message(tmp_path, capsys):
    config = tmp_path / "bomb.yaml"
    # as reported: the anchors sit inside `epochs:` (unknown top-level keys would be refused first)
    text = "model: dense\nepochs:\n  - &a0 [lol]\n" + "".join(
        f"  - &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]\n" for i in range(1, 9))
    config.write_text(text)
    assert len(config.read_bytes()) < 1000
    start = time.perf_counter()
    assert main(["train", "--config", str(config)]) == 2
    assert time.perf_counter() - start < 10
    line = _one_short_line(capsys.readouterr().err, limit=400)
    assert "more than 10,000 values" in line


def test_alias_bomb_in_a_param_value_is_refused(capsys):
    assert main(["train", "dense", "-p", "hidden=" + _bomb().split("\n", 1)[1].replace("\n", ", ")]) == 2
    _one_short_line(capsys.readouterr().err, limit=400)
    assert main(["train", "dense", "-p", "hidden=[&a [*a, *a, *a]]"]) == 2  # an undefined-alias YAML error
    _one_short_line(capsys.readouterr().err, limit=600)


def test_self_referencing_yaml_is_refused(tmp_path, capsys):
    config = tmp_path / "loop.yaml"
    config.write_text("model: dense\nparams: {hidden: &h [1, *h]}\n")
    assert main(["train", "--config", str(config)]) == 2
    _one_short_line(capsys.readouterr().err, limit=400)


def test_oversized_config_is_refused_before_parsing(tmp_path, capsys):
    config = tmp_path / "big.yaml"
    config.write_text("model: dense\n" + "#" * cli_config.MAX_CONFIG_BYTES)
    assert main(["train", "--config", str(config)]) == 2
    assert "larger than 1,048,576 bytes" in _one_short_line(capsys.readouterr().err)


def test_huge_values_are_never_echoed_in_full(tmp_path, capsys):
    config = tmp_path / "long.yaml"
    config.write_text("model: dense\nseed: " + "x" * 500_000 + "\n")
    assert main(["train", "--config", str(config)]) == 2
    line = _one_short_line(capsys.readouterr().err, limit=300)
    assert "seed must be" in line
    config.write_text(json.dumps({"model": "dense", "x" * 100_000: 1}))
    assert main(["train", "--config", str(config)]) == 2
    _one_short_line(capsys.readouterr().err, limit=400)


# -- 2. bad values: exit 2 with one line ------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("text, key", [
    (b"\xff\xfe\x00model: dense\n", "UTF-8"),
    (b"model: dense\nparams: {hidden: " + b"[" * 5000 + b"]" * 5000 + b"}\n", "nested"),
    (b"model: dense\nparams: {hidden: " + b"[" * 40 + b"1" + b"]" * 40 + b"}\n", "nested"),
    (b"model: dense\nlearning_rate: fast\n", "learning_rate"),
    (b"model: dense\nlearning_rate: .nan\n", "non-finite"),
    (b"model: dense\nseed: x\n", "seed"),
    (b"model: dense\nlimit: x\n", "limit"),
    (b"model: dense\ndata_dir: 5\n", "data_dir"),
    (b"model: dense\nepochs: true\n", "epochs"),
    (b"model: dense\nbinarize: 'no'\n", "binarize"),
    (b"model: dense\nvalidation: 1\n", "validation"),
    (b"model: dense\nseed: 2020-01-01\n", "date"),
    (b"model: 5\n", "model"),
    (b"model: dense\nparams: {1: 2}\n", "params"),
    (b"{1: dense, model: dense}\n", "Unknown key"),
    (b"model: dense\nout: ''\n", "out"),
], ids=lambda v: v[:40].decode("latin-1") if isinstance(v, bytes) else v)
def test_bad_config_values_exit_2(tmp_path, capsys, text, key):
    config = tmp_path / "bad.yaml"
    config.write_bytes(text)
    assert main(["train", "--config", str(config), "--out", str(tmp_path / "out")]
                if b"out:" not in text else ["train", "--config", str(config)]) == 2
    assert key in _one_short_line(capsys.readouterr().err)
    assert not (tmp_path / "out").exists()  # refused before any file is written


@pytest.mark.parametrize("flags, key", [
    (["--steps-per-execution", "0"], "steps_per_execution"),
    (["--seed", "-1"], "seed"),
    (["--seed", str(2**32)], "seed"),
    (["-p", "input_shape=[3]"], "input_shape"),
    (["--learning-rate", "-1"], "learning_rate"),
    (["--learning-rate", "0"], "learning_rate"),
    (["--learning-rate", "inf"], "learning_rate"),
    (["--learning-rate", "nan"], "learning_rate"),
    (["--limit", "-60"], "limit"),
    (["--limit", "0"], "limit"),
    (["--out", ""], "out"),
    (["--data-dir", ""], "data_dir"),
    (["--batch-size", "0"], "batch_size"),
])
def test_bad_train_flags_exit_2(tmp_path, monkeypatch, capsys, flags, key):
    monkeypatch.chdir(tmp_path)  # `--out ''` must not write into the current folder
    assert main(["train", "dense", *SMALL, *flags]) == 2
    assert key in _one_short_line(capsys.readouterr().err)
    assert list(tmp_path.iterdir()) == []


_BAD = {
    "epochs": st.one_of(st.booleans(), st.integers(max_value=0), st.text(max_size=5), st.floats(), st.none()),
    "batch_size": st.one_of(st.booleans(), st.integers(max_value=0), st.floats(allow_nan=False)),
    "limit": st.one_of(st.booleans(), st.integers(max_value=0), st.text(min_size=1, max_size=5), st.floats()),
    "seed": st.one_of(st.booleans(), st.integers(max_value=-1), st.integers(min_value=2**32), st.floats()),
    "learning_rate": st.one_of(st.booleans(), st.floats(max_value=0), st.just(math.inf),
                               st.text(alphabet="abcxyz", min_size=1, max_size=5), st.lists(st.integers(), max_size=2)),
    "binarize": st.one_of(st.integers(), st.text(max_size=5), st.floats(allow_nan=False)),
    "out": st.one_of(st.just(""), st.just("  "), st.integers(), st.lists(st.text(max_size=3), max_size=2)),
}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_bad_setting_in_a_config_exits_2(data, capsys):
    key = data.draw(st.sampled_from(sorted(_BAD)))
    value = data.draw(_BAD[key])
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "run.json"
        config.write_text(json.dumps({"model": "dense", key: value}))
        capsys.readouterr()
        assert main(["train", "--config", str(config), "--out", str(Path(folder) / "out")]
                    if key != "out" else ["train", "--config", str(config)]) == 2
        line = _one_short_line(capsys.readouterr().err)
        assert key in line or "non-finite" in line
        assert not (Path(folder) / "out").exists()


def test_check_train_config_accepts_good_values():
    config = cli_config.check_train_config(
        {**cli_config.TRAIN_DEFAULTS, "model": "dense", "learning_rate": "1e-3", "limit": 5})
    assert config["learning_rate"] == pytest.approx(1e-3) and config["limit"] == 5


@pytest.mark.parametrize("flags, key", [
    (["--batch-size", "-1"], "--batch-size"),
    (["--batch-size", "0"], "--batch-size"),
    (["--seed", "-1"], "--seed"),
    (["--json", ""], "--json"),
])
def test_bad_evaluate_flags_exit_2(tmp_path, capsys, flags, key):
    assert main(["evaluate", str(tmp_path / "missing.keras"), *flags]) == 2
    assert key in _one_short_line(capsys.readouterr().err)


@pytest.mark.parametrize("error, code", [
    (InputValidationError("not a keras_ae model file:\nconfig.json is missing"), 2),
    (DatasetNotAvailableError("mnist.npz is truncated"), 1),
    (OSError("File is not a zip file"), 1),
    (RecursionError("maximum recursion depth exceeded"), 1),
])
def test_model_file_problems_map_to_exit_codes(tmp_path, monkeypatch, capsys, error, code):
    def load(path):
        raise error

    monkeypatch.setattr(cli, "_load_model", load)
    for command in (["evaluate", "m.keras"], ["export", "m.keras", "--base-dir", str(tmp_path)]):
        assert main(command) == code
        line = _one_short_line(capsys.readouterr().err)
        assert str(error).splitlines()[-1] in line


# -- 3. bad values that used to be accepted silently ----------------------------------------
@pytest.mark.parametrize("metadata", ['{"a": NaN}', '{"a": Infinity}', '{"a": [-Infinity]}', '{"a": 1e999}'])
def test_export_refuses_non_finite_metadata(tmp_path, capsys, metadata):
    assert main(["export", str(tmp_path / "missing.keras"), "--metadata", metadata]) == 2
    assert "finite" in _one_short_line(capsys.readouterr().err)


def test_recipes_dir_that_does_not_exist_fails(tmp_path, monkeypatch, capsys):
    # Another recipes folder is available (env var; the checkout's too): it must not be listed instead.
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "decoy.py").write_text('"""A decoy."""\n')
    monkeypatch.setenv(cli.RECIPES_ENV, str(tmp_path / "other"))
    assert main(["recipes", "--recipes-dir", str(tmp_path / "missing")]) == 1
    assert "is not a folder" in _one_short_line(capsys.readouterr().err)
    assert main(["recipes", "--recipes-dir", str(tmp_path / "missing"), "list"]) == 1
    capsys.readouterr()


def _npz(path: Path, n_train: int = 2, shape=(28, 28), **overrides) -> Path:
    arrays = {"x_train": np.zeros((n_train, *shape), "uint8"), "y_train": np.zeros(n_train, "uint8"),
              "x_test": np.zeros((1, *shape), "uint8"), "y_test": np.zeros(1, "uint8")}
    arrays.update(overrides)
    np.savez(path, **arrays)
    return path


def test_datasets_reports_an_unusable_npz(tmp_path, capsys):
    (tmp_path / "mnist.npz").write_bytes(b"not a zip file, just garbage" * 10)
    _npz(tmp_path / "fashion_mnist.npz", shape=(32, 32, 3))  # cifar-shaped images under the wrong name
    _npz(tmp_path / "cifar10.npz", shape=(32, 32, 3))
    assert main(["datasets", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"| mnist | image | (28, 28, 1) | unusable: {tmp_path / 'mnist.npz'} (not a readable .npz" in out
    assert "| fashion_mnist | image | (28, 28, 1) | unusable:" in out and "expected (28, 28, 1)" in out
    assert f"| cifar10 | image | (32, 32, 3) | local: {tmp_path / 'cifar10.npz'} |" in out


def test_check_keras_npz_reads_headers_only(tmp_path):
    from keras_ae.data.images import check_keras_npz

    good = _npz(tmp_path / "good.npz")
    assert check_keras_npz(good, (28, 28, 1)) is None
    compressed = tmp_path / "compressed.npz"
    np.savez_compressed(compressed, **dict(np.load(good)))
    assert check_keras_npz(compressed, (28, 28, 1)) is None
    assert "missing key(s) ['y_test']" in check_keras_npz(_three_keys(tmp_path / "k.npz"))
    assert "lengths differ" in check_keras_npz(_npz(tmp_path / "n.npz", y_train=np.zeros(5, "uint8")))
    assert "not numbers" in check_keras_npz(_npz(tmp_path / "s.npz", y_test=np.array(["a"])))
    assert "no example axis" in check_keras_npz(_npz(tmp_path / "z.npz", y_test=np.array(3)))
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[:1000])
    assert "not a readable .npz" in check_keras_npz(truncated)
    # a member whose header announces more data than it holds
    lying = tmp_path / "lying.npz"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(lying, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            dst.writestr(item.filename, data[:200] if item.filename == "x_train.npy" else data)
    assert "x_train is truncated" in check_keras_npz(lying)


def _three_keys(path: Path) -> Path:
    np.savez(path, x_train=np.zeros((1, 2)), y_train=np.zeros(1), x_test=np.zeros((1, 2)))
    return path


@pytest.mark.slow
def test_resuming_with_fewer_epochs_than_done_is_refused(tmp_path, monkeypatch, capsys):
    import keras_ae.training.checkpoints as checkpoints

    out = tmp_path / "run"
    # Keep the backup as if the run had been killed after its last epoch, before the final save.
    monkeypatch.setattr(checkpoints, "clear_backup", lambda folder: None)
    argv = ["train", "dense", "--dataset", "digits", *SMALL, "--out", str(out)]
    assert main([*argv, "--epochs", "2"]) == 0
    assert checkpoints.read_backup(out / checkpoints.BACKUP_DIR)["epoch"] == 2
    capsys.readouterr()
    assert main([*argv, "--epochs", "1"]) == 2
    line = _one_short_line(capsys.readouterr().err)
    assert "2 epochs done, more than --epochs 1" in line and "--fresh" in line
    assert json.loads((out / "config.json").read_text())["epochs"] == 2  # untouched
    assert len(json.loads((out / "history.json").read_text())["loss"]) == 2
    # the library refuses too (recipes call fit_resumable directly)
    import keras

    from keras_ae.models import build_dense_ae
    from keras_ae.data import load_dataset

    (x, _), _ = load_dataset("digits")
    keras.utils.set_random_seed(0)
    model = build_dense_ae((8, 8, 1), hidden=(16,), code_dim=4)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    with pytest.raises(checkpoints.ResumeMismatchError, match="2 epochs done, more than the 1 epochs"):
        checkpoints.fit_resumable(model, x[:64], out_dir=out, epochs=1, verbose=0)


# -- 4. conditional models --------------------------------------------------------------------
@pytest.mark.slow
def test_evaluate_a_conditional_gan_trained_by_the_cli(tmp_path, capsys):
    out = tmp_path / "cgan"
    assert main(["train", "conditional_gan", "--dataset", "digits", "--epochs", "1", "--limit", "64",
                 "--batch-size", "32", "--verbose", "0", "--out", str(out), "-p", "architecture=mlp",
                 "-p", "latent_dim=4", "-p", "generator_units=[16]", "-p", "discriminator_units=[16]"]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(out / "model.keras"), "--json", str(out / "eval.json")]) == 0, \
        capsys.readouterr().err
    results = json.loads((out / "eval.json").read_text())["results"]
    assert results and all(np.isfinite(list(results.values())))
