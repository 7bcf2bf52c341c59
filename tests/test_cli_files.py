"""``keras-ae sample`` and ``keras-ae reconstruct`` (keras_ae/cli_files.py), run in-process.

Every generative family samples byte-identical files for one seed, other files for another
seed, and its samples.npz holds ``model.sample(n, seed=...)`` in [0, 1]. A denoiser run over
a folder of noisy digits gains PSNR against the clean ones. Bad input is one line on stderr,
exit 2 (1 for a missing file), and leaves no folder behind.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import keras_ae
from keras_ae.cli import main
from keras_ae.saving import load_model, save_model
from tests.scripts.families import FAMILIES

N = 4


def _vqvae_with_fitted_prior():
    model = FAMILIES["vqvae"][0]()
    x = FAMILIES["vqvae"][1]()
    model.fit_prior(keras_ae.data.binarize(x, seed=0), epochs=1, batch_size=32, verbose=0)
    return model


# family -> build(); the rows of tests/scripts/families.py where there is one.
GENERATIVE = {
    "vae": FAMILIES["vae"][0],
    "vae_iaf": FAMILIES["vae_iaf"][0],
    "vae_iwae": FAMILIES["vae_iwae"][0],
    "gan": FAMILIES["gan"][0],
    # data_range (-1, 1): written in [0, 1] (unit_range=True).
    "dcgan": lambda: keras_ae.build_dcgan((8, 8, 1), latent_dim=4, filters=(8,), data_range=(-1, 1), seed=0),
    "conditional_gan": lambda: keras_ae.build_conditional_gan(
        (8, 8, 1), num_classes=10, latent_dim=4, architecture="mlp", generator_units=(16,),
        discriminator_units=(16,), seed=0),
    "pixelcnn": FAMILIES["pixelcnn"][0],
    "pixelrnn": lambda: keras_ae.build_pixelrnn((8, 8, 1), kind="row_lstm", units=4, layers=1, seed=0),
    "vqvae": _vqvae_with_fitted_prior,
    "realnvp": FAMILIES["realnvp"][0],
    "diffusion": FAMILIES["diffusion"][0],
}
# Class-conditional models of the other families (one labels contract, `--label`).
CONDITIONAL = {
    "cvae": lambda: keras_ae.build_vae((8, 8, 1), latent_dim=2, hidden=(16,), num_classes=10, seed=0),
    "conditional_pixelcnn": lambda: keras_ae.build_pixelcnn((8, 8, 1), filters=8, blocks=1, num_classes=10, seed=0),
    "conditional_diffusion": lambda: keras_ae.build_diffusion((8, 8, 1), channels=(16,), attention=False,
                                                              timesteps=10, num_classes=10, seed=0),
}
GENERATIVE.update(CONDITIONAL)
# Families sampled by the fast tier; the others (slower samplers, or variants of a tested
# sampler) are marked slow.
FAST = ("vae", "gan", "dcgan")  # the others sample for seconds: slow tier


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """``saved(family)``: the path of that family's tiny model, built and saved once per module."""
    folder, paths = tmp_path_factory.mktemp("models"), {}

    def path(family: str) -> Path:
        if family not in paths:
            paths[family] = save_model(GENERATIVE[family](), folder / f"{family}.keras")
        return paths[family]

    return path


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _error(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def _png(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image, np.float32) / 255.0


@pytest.mark.parametrize("family", [pytest.param(f, marks=() if f in FAST else pytest.mark.slow)
                                    for f in GENERATIVE])
@pytest.mark.slow
def test_sample_gives_identical_bytes_for_a_seed_and_writes_model_samples(family, saved, tmp_path, capsys):
    model_path = saved(family)
    runs = {name: tmp_path / name for name in ("a", "b", "other")}
    diffusion = family in ("diffusion", "conditional_diffusion")
    steps = ["--steps", "3"] if diffusion else []  # --steps reaches the sampler
    if family == "conditional_gan" or family in CONDITIONAL:  # a conditional model needs --label (cycled)
        steps += ["--label", "0", "1", "2"]
    for name, seed in (("a", 0), ("b", 0), ("other", 1)):
        assert main(["sample", str(model_path), "-n", str(N), "--seed", str(seed), "--out", str(runs[name]),
                     *steps]) == 0
    first = _files(runs["a"])
    numbered = [f"{i:08d}.png" for i in range(N)]
    assert sorted(first) == sorted([*numbered, "grid.png", "samples.npz"])  # no temporary file left
    assert first == _files(runs["b"])  # byte-identical, the grid and the npz too
    other = _files(runs["other"])
    assert other["samples.npz"] != first["samples.npz"]
    assert any(other[name] != first[name] for name in numbered)

    model = load_model(model_path)
    extra = {"unit_range": True} if family.endswith("gan") else {"steps": 3} if diffusion else {}
    if family == "conditional_gan" or family in CONDITIONAL:
        extra["labels"] = np.arange(N) % 3
    expected = np.clip(model.sample(N, seed=0, **extra), 0.0, 1.0)
    with np.load(runs["a"] / "samples.npz") as npz:
        images = npz["images"]
        assert images.dtype == np.float32 and int(npz["seed"]) == 0
        assert ("labels" in npz) == (family in ("conditional_gan", *CONDITIONAL))
    np.testing.assert_array_equal(images, expected)
    for i, name in enumerate(numbered):
        assert np.abs(_png(runs["a"] / name) - images[i, ..., 0]).max() <= 0.5 / 255 + 1e-6
    assert f"Wrote {N} samples" in capsys.readouterr().out


@pytest.mark.parametrize("family", [pytest.param(f, marks=() if f == "cvae" else pytest.mark.slow)
                                    for f in CONDITIONAL])
def test_conditional_families_take_label_and_refuse_what_they_cannot_do(family, saved, tmp_path, capsys):
    path = saved(family)
    model = load_model(path)
    extra = {"steps": 3} if family == "conditional_diffusion" else {}
    options = ["--steps", "3"] if extra else []
    assert main(["sample", str(path), "-n", "3", "--label", "7", "--out", str(tmp_path / "sevens"), *options]) == 0
    with np.load(tmp_path / "sevens" / "samples.npz") as npz:
        assert npz["labels"].tolist() == [7, 7, 7]
        np.testing.assert_array_equal(npz["images"], np.clip(model.sample(3, seed=0, labels=7, **extra), 0, 1))
    for bad, words in ((["--label", "10"], "class 10"), ([], "pass --label")):
        assert main(["sample", str(path), "-n", "3", *bad, "--out", str(tmp_path / "bad"), *options]) == 2
        assert words in _error(capsys) and not (tmp_path / "bad").exists()
    guided = ["sample", str(path), "-n", "2", "--label", "1", "--guidance", "0", "--out", str(tmp_path / "w0"),
              *options]
    if family == "conditional_diffusion":  # w=0: the unconditional model, whatever the label
        assert main(guided) == 0
        with np.load(tmp_path / "w0" / "samples.npz") as npz:
            np.testing.assert_array_equal(npz["images"], np.clip(model.sample(2, seed=0, labels=5, guidance=0.0,
                                                                              **extra), 0, 1))
    else:
        assert main(guided) == 2
        assert "--guidance" in _error(capsys) and not (tmp_path / "w0").exists()


@pytest.mark.slow
def test_conditional_gan_samples_the_classes_of_label(saved, tmp_path, capsys):
    path = saved("conditional_gan")
    model = load_model(path)
    assert main(["sample", str(path), "-n", "4", "--label", "3", "--out", str(tmp_path / "threes")]) == 0
    with np.load(tmp_path / "threes" / "samples.npz") as npz:
        assert npz["labels"].tolist() == [3, 3, 3, 3]
        np.testing.assert_array_equal(npz["images"], model.sample(4, seed=0, labels=[3] * 4, unit_range=True))
    assert main(["sample", str(path), "-n", "5", "--label", "1", "2", "--out", str(tmp_path / "cycled")]) == 0
    with np.load(tmp_path / "cycled" / "samples.npz") as npz:
        assert npz["labels"].tolist() == [1, 2, 1, 2, 1]

    assert main(["sample", str(path), "-n", "4", "--label", "10", "--out", str(tmp_path / "bad")]) == 2
    line = _error(capsys)
    assert "--label" in line and "class 10" in line and "0 to 9" in line and not (tmp_path / "bad").exists()
    assert main(["sample", str(path), "-n", "4", "--out", str(tmp_path / "bad")]) == 2
    assert "pass --label" in _error(capsys) and not (tmp_path / "bad").exists()
    assert main(["sample", str(saved("vae")), "-n", "4", "--label", "1", "--out", str(tmp_path / "bad")]) == 2
    assert "unconditional" in _error(capsys) and not (tmp_path / "bad").exists()

@pytest.mark.slow

def test_steps_beyond_the_diffusion_schedule_or_for_other_samplers_are_refused(saved, tmp_path, capsys):
    path = saved("diffusion")
    assert main(["sample", str(path), "-n", "2", "--steps", "10000", "--out", str(tmp_path / "bad")]) == 2
    assert "steps" in _error(capsys) and not (tmp_path / "bad").exists()
    assert main(["sample", str(saved("vae")), "-n", "2", "--steps", "3", "--out", str(tmp_path / "bad")]) == 2
    assert "diffusion" in _error(capsys) and not (tmp_path / "bad").exists()


@pytest.mark.parametrize("count", ["0", "-3", "10001"])
def test_a_refused_count_writes_nothing(count, saved, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["sample", str(saved("vae")), "-n", count, "--out", str(out)]) == 2
    assert "-n" in _error(capsys) and not out.exists()


def test_existing_files_are_kept_unless_overwrite(saved, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["sample", str(saved("vae")), "-n", "3", "--out", str(out)]) == 0
    before = _files(out)
    assert main(["sample", str(saved("vae")), "-n", "3", "--seed", "1", "--out", str(out)]) == 2
    assert f"{out / '00000000.png'} exists" in _error(capsys) and _files(out) == before
    assert main(["sample", str(saved("vae")), "-n", "3", "--seed", "1", "--out", str(out), "--overwrite"]) == 0
    assert _files(out)["samples.npz"] != before["samples.npz"]


@pytest.mark.slow
def test_sample_refuses_models_that_do_not_sample(tmp_path, capsys):
    dense = save_model(keras_ae.build_dense_ae((8, 8, 1), hidden=(8,), code_dim=2), tmp_path / "dense.keras")
    assert main(["sample", str(dense), "-n", "2", "--out", str(tmp_path / "out")]) == 2
    line = _error(capsys)
    assert "does not sample" in line and all(f in line for f in ("vae", "gan", "pixelcnn", "diffusion", "flow"))
    no_prior = save_model(keras_ae.build_vqvae((8, 8, 1), num_codes=8, code_dim=2, filters=(4,), prior=False),
                          tmp_path / "vq.keras")
    assert main(["sample", str(no_prior), "-n", "2", "--out", str(tmp_path / "out")]) == 2
    assert "prior=True" in _error(capsys)
    unfitted = save_model(keras_ae.build_vqvae((8, 8, 1), num_codes=8, code_dim=2, filters=(4,), prior_filters=4,
                                               prior_blocks=0), tmp_path / "vq_unfitted.keras")
    assert main(["sample", str(unfitted), "-n", "2", "--out", str(tmp_path / "out")]) == 2
    assert "never fitted" in (line := _error(capsys)) and "fit_prior" in line
    assert main(["sample", str(tmp_path / "missing.keras"), "-n", "2", "--out", str(tmp_path / "out")]) == 1
    assert "No such model file" in _error(capsys)
    assert main(["sample", str(dense), "-n", "2", "--seed", "-1", "--out", str(tmp_path / "out")]) == 2
    assert "--seed" in _error(capsys)
    assert not (tmp_path / "out").exists()


# -- reconstruct ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def denoiser(tmp_path_factory):
    """A dense denoiser trained on the digits (Gaussian noise 0.3), saved; and the test digits."""
    (x_train, _), (x_test, _) = keras_ae.load_dataset("digits")
    model = keras_ae.build_denoising_ae((8, 8, 1), noise="gaussian", level=0.3, architecture="dense", hidden=(64,),
                                        code_dim=16)
    model.compile(optimizer="adam")
    model.fit(x_train, epochs=30, batch_size=64, verbose=0)
    return save_model(model, tmp_path_factory.mktemp("denoiser") / "dae.keras"), x_test[:40]


def _write_pngs(images, folder: Path, names) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for image, name in zip(images, names):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.round(image[..., 0] * 255).astype(np.uint8), mode="L").save(folder / name)


@pytest.mark.slow
def test_reconstruct_denoises_a_folder_and_gains_psnr(denoiser, tmp_path, capsys):
    path, clean = denoiser
    noisy = keras_ae.data.corrupt(clean, "gaussian", 0.3, seed=1)
    names = [f"{'a' if i % 2 else 'b'}/digit_{i}.png" for i in range(len(clean))]  # sub-folders keep their names
    _write_pngs(noisy, tmp_path / "noisy", names)
    _write_pngs(clean, tmp_path / "clean", names)
    out = tmp_path / "denoised"
    assert main(["reconstruct", str(path), "--input", str(tmp_path / "noisy"), "--clean", str(tmp_path / "clean"),
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"Reconstructed {len(clean)} images" in printed and "gain" in printed
    scores = json.loads((out / "psnr.json").read_text())
    print(f"PSNR: input {scores['input_psnr_db']:.2f} dB, reconstruction {scores['reconstruction_psnr_db']:.2f} dB, "
          f"gain {scores['gain_db']:.2f} dB")
    assert scores["images"] == len(clean) and scores["gain_db"] > 0
    assert scores["gain_db"] == pytest.approx(scores["reconstruction_psnr_db"] - scores["input_psnr_db"], abs=1e-5)
    with np.load(out / "reconstructions.npz") as npz:
        assert npz["names"].tolist() == sorted(names) and len(npz["images"]) == len(names)  # the files' order
        for name, image in zip(npz["names"].tolist(), npz["images"]):
            assert np.abs(_png(out / name) - image[..., 0]).max() <= 0.5 / 255 + 1e-6

@pytest.mark.slow

def test_reconstruct_reads_an_npz_and_writes_numbered_files(denoiser, tmp_path, capsys):
    path, clean = denoiser
    np.savez(tmp_path / "x.npz", x=(clean[:6] * 255).round().astype(np.uint8))
    out = tmp_path / "out"
    assert main(["reconstruct", str(path), "--input", str(tmp_path / "x.npz"), "--out", str(out),
                 "--batch-size", "4"]) == 0
    assert sorted(p.name for p in out.iterdir()) == [f"{i:08d}.png" for i in range(6)] + ["reconstructions.npz"]
    x = (clean[:6] * 255).round() / 255
    with np.load(out / "reconstructions.npz") as npz:
        np.testing.assert_allclose(npz["images"], np.clip(load_model(path).reconstruct(x.astype(np.float32)), 0, 1),
                                   atol=1e-6)
    assert "Reconstructed 6 images" in capsys.readouterr().out


def test_reconstruct_gives_a_conditional_model_the_classes_of_label(saved, tmp_path, capsys):
    path = saved("cvae")
    x = (np.random.default_rng(0).random((4, 8, 8, 1)) * 255).round().astype(np.uint8)
    np.savez(tmp_path / "x.npz", x=x)
    out = tmp_path / "out"
    assert main(["reconstruct", str(path), "--input", str(tmp_path / "x.npz"), "--out", str(out),
                 "--label", "2", "5"]) == 0
    expected = load_model(path).reconstruct(x.astype(np.float32) / 255, labels=[2, 5, 2, 5])
    with np.load(out / "reconstructions.npz") as npz:
        assert npz["labels"].tolist() == [2, 5, 2, 5]
        np.testing.assert_allclose(npz["images"], np.clip(expected, 0, 1), atol=1e-6)
    for bad, words in (([], "pass --label"), (["--label", "11"], "class 11")):
        assert main(["reconstruct", str(path), "--input", str(tmp_path / "x.npz"), "--out", str(tmp_path / "bad"),
                     *bad]) == 2
        assert words in _error(capsys) and not (tmp_path / "bad").exists()


@pytest.mark.slow

def test_reconstruct_refuses_bad_input_with_one_line(denoiser, saved, tmp_path, capsys):
    path, clean = denoiser
    out = tmp_path / "out"

    def run(*args):
        return main(["reconstruct", str(path), "--out", str(out), *args])

    assert main(["reconstruct", str(tmp_path / "missing.keras"), "--input", "x.npz", "--out", str(out)]) == 1
    assert "No such model file" in _error(capsys)
    assert run("--input", str(tmp_path / "missing.npz")) == 1
    assert "missing.npz" in _error(capsys)
    (tmp_path / "empty").mkdir()
    assert run("--input", str(tmp_path / "empty")) == 1
    assert "holds no images" in _error(capsys)
    np.savez(tmp_path / "none.npz", x=np.zeros((0, 8, 8, 1), np.float32))
    assert run("--input", str(tmp_path / "none.npz")) == 2
    assert "empty" in _error(capsys)
    np.savez(tmp_path / "shape.npz", x=np.zeros((3, 7, 7, 1), np.float32))
    assert run("--input", str(tmp_path / "shape.npz")) == 2
    assert "(3, 7, 7, 1)" in (line := _error(capsys)) and "(batch, 8, 8, 1)" in line
    nan = clean[:3].copy()
    nan[1, 2, 2, 0] = np.nan
    np.savez(tmp_path / "nan.npz", x=nan)
    assert run("--input", str(tmp_path / "nan.npz")) == 2
    assert "NaN" in _error(capsys)
    _write_pngs(np.zeros((2, 6, 6, 1)), tmp_path / "small", ["0.png", "1.png"])
    assert run("--input", str(tmp_path / "small")) == 2
    assert "smaller than image_size" in _error(capsys)
    np.savez(tmp_path / "x.npz", x=clean[:3])
    assert run("--input", str(tmp_path / "x.npz"), "--clean", str(tmp_path / "nan.npz")) == 2
    assert "NaN" in _error(capsys)
    np.savez(tmp_path / "two.npz", x=clean[:2])
    assert run("--input", str(tmp_path / "x.npz"), "--clean", str(tmp_path / "two.npz")) == 2
    assert "pair up" in _error(capsys)
    assert main(["reconstruct", str(saved("gan")), "--input", str(tmp_path / "x.npz"), "--out", str(out)]) == 2
    assert "does not reconstruct" in (line := _error(capsys)) and "vae" in line
    assert not out.exists()
    _write_pngs(clean[:2], tmp_path / "in", ["0.png", "1.png"])
    assert main(["reconstruct", str(path), "--input", str(tmp_path / "in"), "--out", str(tmp_path / "in")]) == 2
    assert "replace an input image" in _error(capsys)


def test_reconstruct_resizes_larger_images_as_the_folder_loader_does(saved, tmp_path, capsys):
    path = saved("vae")  # any model that reconstructs (built once for the sampling tests): no training needed
    _write_pngs(np.full((2, 16, 16, 1), 0.5), tmp_path / "large", ["0.png", "1.png"])
    assert main(["reconstruct", str(path), "--input", str(tmp_path / "large"), "--out", str(tmp_path / "out")]) == 0
    with Image.open(tmp_path / "out" / "0.png") as image:
        assert image.size == (8, 8) and image.mode == "L"
