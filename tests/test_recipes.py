"""Smoke tests of the denoising, deep_ae, pca_vs_ae, conditional and latent_samplers recipes (each runs
as a script on digits with tiny settings) and of the disentanglement recipe (on sprites).

The three scripts start together in subprocesses (they are independent), then each test
checks what its recipe wrote: results.json, the figures and the saved model, with numbers
recomputed here where that is cheap.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REPO

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

RECIPE_ARGS = {
    "denoising": ["--dataset", "digits", "--epochs", "3"],  # the default, mnist10k, is test_mnist10k's
    "deep_ae": ["--dataset", "digits", "--epochs", "15", "--batch-size", "32", "--hidden", "32", "--code-dim", "8"],
    "pca_vs_ae": ["--dataset", "digits", "--quick", "--code-dim", "10", "--hidden", "64", "32"],
    "conditional": ["--dataset", "digits", "--families", "cvae", "pixelcnn", "pixelrnn", "gan", "--epochs", "cvae=20",
                    "pixelcnn=1", "pixelrnn=1", "gan=1", "--per-class", "6"],
    "latent_samplers": ["--dataset", "digits", "--epochs", "5", "--vae-epochs", "5", "--samples", "300",
                        "--hidden", "64"],
    "disentanglement": ["--seeds", "0", "--n-samples", "1000", "--epochs", "3", "--batch-size", "16", "--filters", "16",
                        "16", "32", "32", "--metric-samples", "600", "--score-points", "30", "--score-batch", "16",
                        "--dci-estimators", "5", "--progress", "0"],
}


@pytest.fixture(scope="module")
def recipe_runs(tmp_path_factory) -> dict[str, Path]:
    """Runs every recipe once (in parallel) and returns name -> output folder."""
    root = tmp_path_factory.mktemp("recipes")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(REPO)}
    procs = {}
    for name, extra in RECIPE_ARGS.items():
        out = root / name
        cmd = [sys.executable, str(REPO / "recipes" / f"{name}.py"), "--out", str(out), "--verbose", "0", *extra]
        procs[name] = (out, subprocess.Popen(cmd, cwd=root, env=env, stdout=subprocess.PIPE,
                                             stderr=subprocess.STDOUT, text=True))
    outs = {}
    for name, (out, proc) in procs.items():
        log, _ = proc.communicate(timeout=1500)
        assert proc.returncode == 0, f"{name}.py failed:\n{log[-3000:]}"
        outs[name] = out
    return outs


def _results(out: Path) -> dict:
    payload = json.loads((out / "results.json").read_text())
    assert payload["rows"], "the recipe printed no table rows"
    return payload["results"]


def _assert_png(path: Path) -> None:
    assert path.is_file() and path.stat().st_size > 1000
    assert path.read_bytes()[:8] == PNG_MAGIC


@pytest.mark.slow
def test_denoising_on_digits_scores_the_saved_model(recipe_runs):
    import keras

    from keras_ae.data import corrupt, load_dataset
    from keras_ae.evaluation import psnr

    out = recipe_runs["denoising"]
    res = _results(out)
    assert res["dataset"] == "digits" and res["noise"] == "gaussian" and res["level"] == 0.5
    _assert_png(out / "denoising.png")

    # The recipe's noisy test set is corrupt(x_test, seed=seed + 1) with the default seed 0.
    (_, _), (x_test, _) = load_dataset("digits")
    noisy = corrupt(x_test, "gaussian", 0.5, seed=1)
    assert res["psnr_noisy_db"] == pytest.approx(psnr(x_test, noisy).mean(), abs=1e-6)
    assert 8.0 < res["psnr_noisy_db"] < 11.0  # std 0.5 clipped noise on [0, 1] images

    model = keras.saving.load_model(out / "denoising_ae.keras")
    assert model.info["psnr_gain_db"] == pytest.approx(res["psnr_gain_db"])
    assert psnr(x_test, model.reconstruct(noisy)).mean() == pytest.approx(res["psnr_denoised_db"], abs=1e-3)
    # Even 3 epochs of training remove much of the noise (about +4 dB).
    assert res["psnr_gain_db"] > 2.0


@pytest.mark.slow
def test_deep_ae_reports_test_error_and_pca_baseline(recipe_runs):
    import keras

    from keras_ae.data import load_dataset
    from keras_ae.evaluation import reconstruction_error
    from keras_ae.models import fit_pca

    out = recipe_runs["deep_ae"]
    res = _results(out)
    _assert_png(out / "reconstructions.png")
    assert res["architecture"] == "64-32-8"
    (x_train, _), (x_test, _) = load_dataset("digits")
    pca_error = reconstruction_error(fit_pca(x_train, 8), x_test).mean()
    assert res["pca_test_sse_per_image"] == pytest.approx(pca_error, rel=1e-4)
    model = keras.saving.load_model(out / "deep_ae.keras")
    assert reconstruction_error(model, x_test).mean() == pytest.approx(res["test_sse_per_image"], rel=1e-4)
    # The mean image is what a model that learnt nothing outputs; 15 epochs do far better
    # (about 0.35x of its error; 20 epochs even beat PCA-8).
    mean_image_error = ((x_test - x_train.mean(axis=0)) ** 2).sum(axis=(1, 2, 3)).mean()
    assert res["test_sse_per_image"] < 0.6 * mean_image_error


@pytest.mark.slow
def test_pca_vs_ae_table_linear_check_and_codes(recipe_runs):
    out = recipe_runs["pca_vs_ae"]
    res = _results(out)
    assert res["pca_relative_gap"] < 1e-4  # PCA's error is the sum of discarded eigenvalues
    assert res["ae_over_pca"] == pytest.approx(res["ae_test_sse"] / res["pca_test_sse"])
    assert np.isfinite(res["linear_train_sse"]) and res["linear_over_pca"] >= 1.0 - 1e-4  # PCA is optimal
    _assert_png(out / "codes_2d.png")
    scores = res["codes_2d"]
    assert set(scores) == {"PCA-2", "AE 64-64-32-2"}
    # Two principal components separate digits classes far above chance (0.1).
    assert scores["PCA-2"]["knn_accuracy"] > 0.4
    assert all(0.5 < s["trustworthiness"] <= 1.0 for s in scores.values())
    assert (out / "deep_ae_10.keras").is_file()


@pytest.mark.slow
def test_conditional_judges_each_family_on_the_classes_it_was_asked_for(recipe_runs):
    out = recipe_runs["conditional"]
    results = _results(out)
    assert set(results["families"]) == {"cvae", "pixelcnn", "pixelrnn", "gan"} and results["per_class"] == 6
    for family, scores in results["families"].items():
        assert 0.0 <= scores["worst_class_accuracy"] <= scores["accuracy"] <= 1.0
        assert np.isfinite(scores["fcd"]) and scores["fcd"] > scores["fcd_real_floor"] >= 0
        assert scores["train_seconds"] > 0 and scores["epochs"] == (20 if family == "cvae" else 1)
        _assert_png(out / f"{family}_samples.png")
    # The saved models are class-conditional and sample the class asked for, as the table did.
    from keras_ae.saving import load_model

    cvae = load_model(out / "cvae.keras")
    assert cvae.conditional and cvae.num_classes == 10
    assert cvae.sample(3, seed=0, labels=4).shape == (3, 8, 8, 1)
    # 20 epochs on the digits: the judge sees the requested class far more often than chance.
    assert results["families"]["cvae"]["accuracy"] > 0.3


def _load_recipe(name: str):
    spec = importlib.util.spec_from_file_location(f"recipe_{name}", REPO / "recipes" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_latent_samplers_score_every_sampler_and_mixtures_beat_the_vae_prior(recipe_runs):
    out = recipe_runs["latent_samplers"]
    results = _results(out)
    fcd = {row["sampler"]: row["FCD"] for row in results["rows"]}
    assert set(fcd) == {"VAE, prior N(0, I)", "VAE, aggregate posterior", "VAE, GMM on posterior means",
                        "AE, one Gaussian", "AE, GMM-10", "RAE, one Gaussian", "RAE, GMM-10", "WAE, prior N(0, I)"}
    assert all(np.isfinite(v) and v > 0 for v in fcd.values())
    # Measured on digits (5 epochs, 300 samples): AE / RAE with a GMM 1.13 / 1.42, the VAE's prior 14.64.
    assert fcd["AE, GMM-10"] < fcd["VAE, prior N(0, I)"] and fcd["RAE, GMM-10"] < fcd["VAE, prior N(0, I)"]
    assert set(results["test_mse"]) == {"ae", "rae", "wae"}
    _assert_png(out / "samples.png")


@pytest.mark.slow
def test_latent_samplers_saves_each_fitted_sampler_with_its_training_time(recipe_runs):
    import keras

    from keras_ae.data import load_dataset
    from keras_ae.models.latent_sampler import LatentSampler, fit_latent_sampler

    out = recipe_runs["latent_samplers"]
    results = _results(out)
    saved, seconds = results["saved"], results["train_seconds"]
    assert set(saved) == {"ae_gaussian.keras", "ae_gmm.keras", "rae_gaussian.keras", "rae_gmm.keras",
                          "vae_aggregate.keras", "vae_gmm.keras", "wae.keras"}
    assert set(seconds) == {"ae", "rae", "wae", "vae"} and all(s > 0 for s in seconds.values())
    # Each file's time is its auto-encoder's training plus the density's fit (none for the WAE's prior).
    for file, owner in (("ae_gmm.keras", "ae"), ("rae_gmm.keras", "rae"), ("vae_aggregate.keras", "vae")):
        assert saved[file]["train_seconds"] == pytest.approx(seconds[owner] + saved[file]["fit_seconds"], abs=0.11)
    assert saved["wae.keras"] == {"sampler": "WAE, prior N(0, I)", "train_seconds": seconds["wae"], "fit_seconds": 0}
    # The saved AE + GMM is the fitted sampler: refitting the mixture on its auto-encoder's codes of the
    # training digits with the recipe's seed gives its means again.
    sampler = keras.saving.load_model(out / "ae_gmm.keras")
    assert isinstance(sampler, LatentSampler) and sampler.density.num_components == 10
    (x_train, _), _ = load_dataset("digits")
    refit = fit_latent_sampler(sampler.autoencoder, x_train, kind="gmm", n_components=10, seed=0)
    np.testing.assert_allclose(sampler.density.means.numpy(), refit.density.means.numpy(), atol=1e-4)
    for file in ("vae_aggregate.keras", "wae.keras"):
        images = keras.saving.load_model(out / file).sample(4, seed=0)
        assert images.shape == (4, 8, 8, 1) and 0 <= images.min() and images.max() <= 1


@pytest.mark.slow
def test_disentanglement_tables_four_models_and_its_best_model_rescores_the_same(recipe_runs):
    import keras

    from keras_ae.data import load_dataset
    from keras_ae.data.sprites import Sprites
    from keras_ae.evaluation import mig

    out = recipe_runs["disentanglement"]
    payload = json.loads((out / "results.json").read_text())
    results, models = payload["results"], ["vae", "beta_vae", "beta_tcvae", "factor_vae"]
    assert [(run["model"], run["seed"]) for run in results["runs"]] == [(name, 0) for name in models]
    assert [row["model"] for row in payload["rows"]] == ["VAE", "beta-VAE", "beta-TCVAE", "FactorVAE"]
    for run in results["runs"]:
        for key in ("mig", "sap", "dci", "factor_vae_score", "beta_vae_score"):
            assert 0.0 <= run[key] <= 1.0
            # One seed: the summary's mean is the run's number and its spread 0.
            assert results["summary"][run["model"]][key] == {"mean": pytest.approx(run[key]), "std": 0.0}
        assert 0 <= run["active_units"] <= 10 and run["epochs"] == 3
        # 189 steps: about 1570 nats (measured), far below the 4096 log 2 = 2839 of an untrained decoder's
        # p = 0.5, not yet at the mean image's 475.
        assert run["reconstruction"] < 0.75 * 4096 * np.log(2)
    (x_train, _), (x_test, _) = load_dataset("sprites", n_samples=1000, seed=0)
    p = np.clip(x_train.mean(axis=0), 1e-6, 1 - 1e-6)
    mean_image = -(x_test * np.log(p) + (1 - x_test) * np.log1p(-p)).sum(axis=(1, 2, 3)).mean()
    assert results["mean_image_nats"] == pytest.approx(mean_image, rel=1e-6)
    assert results["beta_tcvae_mig_above_vae"] == (results["summary"]["beta_tcvae"]["mig"]["mean"]
                                                   > results["summary"]["vae"]["mig"]["mean"])
    # best.keras is the run of the highest MIG; its codes of the recipe's metric sprites (the draw
    # default_rng([seed, 1]); MIG reads the first two thirds) give that MIG again.
    best = results["best"]
    assert best["mig"] == max(run["mig"] for run in results["runs"])
    model = keras.saving.load_model(out / "best.keras")
    assert model.name == best["model"]
    sprites = Sprites()
    factors = sprites.sample_factors(600, np.random.default_rng([0, 1]))
    codes = model.codes(sprites.images_from_factors(factors))
    assert mig(codes[:400], factors[:400])["mig"] == pytest.approx(best["mig"], abs=1e-6)
    _assert_png(out / "traversal.png")
    _assert_png(out / "reconstructions.png")


@pytest.mark.parametrize("name", sorted(RECIPE_ARGS))
def test_recipe_help_lists_the_shared_flags(name, capsys):
    with pytest.raises(SystemExit) as exit_info:
        _load_recipe(name).parse_args(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert all(flag in text for flag in ("--dataset", "--data-dir", "--epochs", "--out", "--seed"))


def test_denoising_defaults_are_per_dataset():
    recipe = _load_recipe("denoising")
    default = recipe.parse_args([])
    assert default.dataset == "mnist" and default.epochs == recipe.DEFAULTS["mnist"]["epochs"]  # embedded mnist10k
    digits = recipe.parse_args(["--dataset", "digits"])
    assert digits.epochs == recipe.DEFAULTS["digits"]["epochs"] and digits.batch_size == 32
    mnist = recipe.parse_args(["--dataset", "mnist", "--batch-size", "7"])
    assert mnist.loss == recipe.DEFAULTS["mnist"]["loss"] and mnist.batch_size == 7
