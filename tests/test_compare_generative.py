"""recipes/compare_generative.py: one table of every generative model, from the models the recipes save."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import keras
import numpy as np
import pytest

from keras_ae.data import binarize
from keras_ae.evaluation import SampleQuality, dataset_classifier
from keras_ae.models import build_dense_ae, build_wae
from keras_ae.models.gan import build_dcgan
from keras_ae.models.latent_sampler import fit_latent_sampler
from keras_ae.models.pixelcnn import build_pixelcnn
from keras_ae.models.pixelrnn import build_pixelrnn
from keras_ae.models.diffusion import build_diffusion
from keras_ae.models.flow import build_realnvp
from keras_ae.models.vae import build_vae
from keras_ae.models.vqvae import build_vqvae

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "compare_generative.py"


def load_recipe():
    spec = importlib.util.spec_from_file_location("compare_generative", RECIPE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def save_with_results(model, folder: Path, filename: str, results: dict, rows=()) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    model.save(folder / filename)
    (folder / "results.json").write_text(json.dumps({"results": results, "rows": list(rows)}))
    return str(folder / filename)


@pytest.fixture(scope="module")
def saved_models(tmp_path_factory, digits):
    """Tiny models trained for one epoch on digits, saved as the recipes save them."""
    keras.utils.set_random_seed(0)
    root = tmp_path_factory.mktemp("runs")
    x_train = digits[0][0][:256]  # an epoch of a few batches: a trained, saved model is all the table needs
    shape = x_train.shape[1:]
    vae = build_vae(shape, latent_dim=2, hidden=(16,), dynamic_binarization=True, seed=0)
    vae.compile(optimizer="adam")
    vae.fit(x_train, epochs=1, batch_size=128, verbose=0)
    gan = build_dcgan(shape, latent_dim=4, filters=(8, 4), seed=0)
    gan.compile(loss="non_saturating")
    gan.fit(x_train, epochs=1, batch_size=128, verbose=0)
    cnn = build_pixelcnn(shape, filters=8, blocks=1, first_kernel_size=3, dynamic_binarization=True, seed=0)
    rnn = build_pixelrnn(shape, kind="row_lstm", units=4, layers=1, first_kernel_size=3, dynamic_binarization=True,
                         seed=0)
    for model in (cnn, rnn):
        model.compile()
        model.fit(x_train, epochs=1, batch_size=128, verbose=0)
    # The families on other data: a VQ-VAE with its prior (binary), RealNVP and a diffusion model (8-bit).
    vq = build_vqvae(shape, num_codes=8, code_dim=2, filters=(4,), residual_blocks=1, prior_filters=4, prior_blocks=0,
                     seed=0)
    vq.compile()
    vq.fit(binarize(x_train, seed=0), epochs=1, batch_size=128, verbose=0)
    vq.fit_prior(binarize(x_train, seed=0), epochs=1, batch_size=128, verbose=0)
    x_8bit = np.round(x_train * 255) / 255
    flow = build_realnvp(shape, couplings=1, final_couplings=1, filters=4, blocks=1, seed=0)
    diffusion = build_diffusion(shape, channels=(8, 8), attention=False, timesteps=20, sample_steps=5, seed=0)
    for model in (flow, diffusion):
        model.compile()
        model.fit(x_8bit, epochs=1, batch_size=128, verbose=0)
    # Class-conditional models as recipes/conditional.py saves them (one results.json, a row per family).
    y_train = digits[0][1][:256]
    cvae = build_vae(shape, latent_dim=2, hidden=(16,), num_classes=10, seed=0)
    ccnn = build_pixelcnn(shape, filters=8, blocks=1, first_kernel_size=3, num_classes=10, seed=0)
    for model in (cvae, ccnn):
        model.compile()
        model.fit(binarize(x_train, seed=0), y_train, epochs=1, batch_size=128, verbose=0)
    conditional = {"families": {"cvae": {"train_seconds": 2.0}, "pixelcnn": {"train_seconds": 6.0}}}
    save_with_results(cvae, root / "conditional", "cvae.keras", conditional)
    ccnn.save(root / "conditional" / "pixelcnn.keras")
    # The VAE recipe's row for the IWAE bound on a subset of the test images (as the conv VAE's).
    iwae_row = {"bound": "IWAE L_k", "k": 5000, "test images": 50, "NLL (nats)": 31.5, "+/- (sem)": 0.4}
    (root / "pixelcnn").mkdir(parents=True)
    rnn.save(root / "pixelcnn" / "pixelrnn.keras")
    return {
        "vae": save_with_results(vae, root / "vae", "vae_dense.keras", {"train_seconds": 12.0}, [iwae_row]),
        "gan": save_with_results(gan, root / "gan", "dcgan.keras", {"train_minutes": 0.5}),
        "pixelcnn": save_with_results(cnn, root / "pixelcnn", "pixelcnn.keras",
                                      {"pixelcnn": {"train time (s)": 7.0}, "pixelrnn": {"train time (s)": 9.0}}),
        "pixelrnn": str(root / "pixelcnn" / "pixelrnn.keras"),
        "vqvae": save_with_results(vq, root / "vqvae", "vqvae.keras", {"train_seconds": 3.0}),
        "flow": save_with_results(flow, root / "flow", "realnvp.keras", {"train time (s)": 4.0}),
        "diffusion": save_with_results(diffusion, root / "diffusion", "diffusion.keras",
                                       {"train_seconds": 5.0, "bits_per_dim_bound": 2.5, "bits_per_dim_sem": 0.1,
                                        "bound_images": 20}),
        "root": root,
        "cnn": cnn,
        "vq": vq,
        "realnvp": flow,
        "cvae": cvae,
        "ccnn": ccnn,
    }


def paths(saved: dict) -> list[str]:
    return ["--vae-model", saved["vae"], "--gan-model", saved["gan"], "--pixelcnn-model", saved["pixelcnn"],
            "--pixelrnn-model", saved["pixelrnn"], "--conv-vae-model", str(saved["root"] / "absent.keras"),
            "--vae-iaf-model", str(saved["root"] / "absent.keras"),
            "--vae-iwae-model", str(saved["root"] / "absent.keras"),
            "--vae-vamp-model", str(saved["root"] / "absent.keras"),
            *[arg for key in ("ae_gmm", "rae_gmm", "vae_aggregate", "wae")
              for arg in (f"--{key.replace('_', '-')}-model", str(saved["root"] / "absent.keras"))],
            "--vqvae-model", saved["vqvae"], "--flow-model", saved["flow"], "--diffusion-model", saved["diffusion"],
            "--cvae-conditional-model", str(saved["root"] / "conditional" / "cvae.keras"),
            "--pixelcnn-conditional-model", str(saved["root"] / "conditional" / "pixelcnn.keras"),
            "--vqvae-conditional-model", str(saved["root"] / "absent.keras"),
            "--diffusion-conditional-model", str(saved["root"] / "absent.keras"),
            "--diffusion-steps", "5", "--iwae-examples", "20"]


@pytest.mark.slow
def test_table_has_every_model_with_its_numbers(saved_models, digits, tmp_path):
    recipe = load_recipe()
    out = tmp_path / "compare"
    results = recipe.main(["--dataset", "digits", "--n-samples", "60", "--pixelrnn-samples", "20",
                           "--sample-batch", "30", "--out", str(out), "--cache-dir", str(tmp_path / "cache"),
                           *paths(saved_models)])
    payload = json.loads((out / "results.json").read_text())
    rows = {row["model"]: row for row in payload["rows"]}
    assert list(rows) == ["VAE (dense)", "VAE (dense), Bernoulli means", "VQ-VAE + PixelCNN prior",
                          "VQ-VAE + PixelCNN prior, Bernoulli means", "DCGAN", "PixelCNN", "PixelRNN", "RealNVP",
                          "Diffusion (DDIM samples)", "conditional VAE", "conditional VAE, Bernoulli means",
                          "conditional PixelCNN"]
    # The "data" column keeps nats of binarized images apart from bits/dim of 8-bit ones.
    assert {m: r["data"] for m, r in rows.items() if "means" not in m} == {
        "VAE (dense)": "binarized (seed 0)", "VQ-VAE + PixelCNN prior": "binarized (seed 0)",
        "DCGAN": "grey, no likelihood", "PixelCNN": "binarized (seed 0)", "PixelRNN": "binarized (seed 0)",
        "RealNVP": "8-bit, dequantized", "Diffusion (DDIM samples)": "8-bit, dequantized",
        "conditional VAE": "binarized (seed 0)", "conditional PixelCNN": "binarized (seed 0)"}
    # Conditional rows: the NLL is -log p(x | y) with the test labels; the samples are asked for
    # classes 0, 1, ..., 9, 0, ... and the judge's agreement with them is a column (n/a elsewhere).
    y_test = digits[1][1]
    nll_given_y = -saved_models["ccnn"].log_likelihood(binarize(digits[1][0], seed=0), labels=y_test).mean()
    assert results["models"]["pixelcnn_conditional"]["nll"]["nll"] == pytest.approx(nll_given_y, rel=1e-5)
    assert 0 <= rows["conditional PixelCNN"]["requested class %"] <= 100 and rows["DCGAN"]["requested class %"] == "n/a"
    assert [rows[m]["train time (s)"] for m in ("conditional VAE", "conditional PixelCNN")] == [2, 6]
    x_test_8bit = np.round(digits[1][0] * 255) / 255
    flow_nll = -saved_models["realnvp"].log_likelihood(x_test_8bit).mean()
    assert results["models"]["flow"]["nll"]["nll"] == pytest.approx(flow_nll, rel=1e-5)
    vq_nll = -saved_models["vq"].log_likelihood(binarize(digits[1][0], seed=0)).mean()
    assert results["models"]["vqvae"]["nll"]["nll"] == pytest.approx(vq_nll, rel=1e-5)
    assert rows["Diffusion (DDIM samples)"]["bits/dim"] == pytest.approx(2.5, abs=1e-4)  # the recipe's bound

    # The exact NLL is the model's own log-likelihood of the binarized (seed 0) test images.
    x_test_bin = binarize(digits[1][0], seed=0)
    nll = -saved_models["cnn"].log_likelihood(x_test_bin).mean()
    assert results["models"]["pixelcnn"]["nll"]["nll"] == pytest.approx(nll, rel=1e-5)
    assert rows["PixelCNN"]["bits/dim"] == pytest.approx(nll / (64 * np.log(2)), abs=1e-4)
    # The VAE's bound is read from its recipe's results; the GAN has none.
    assert rows["VAE (dense)"]["NLL (nats)"].startswith("31.50")
    assert "n/a" in rows["DCGAN"]["NLL (nats)"] and rows["DCGAN"]["bits/dim"] == "n/a"
    # Training times from the recipes, sample counts as requested.
    assert [rows[m]["train time (s)"] for m in ("VAE (dense)", "DCGAN", "PixelCNN", "PixelRNN",
                                                  "VQ-VAE + PixelCNN prior", "RealNVP", "Diffusion (DDIM samples)")
            ] == [12, 30, 7, 9, 3, 4, 5]
    assert rows["PixelRNN"]["samples"] == 20 and rows["PixelCNN"]["samples"] == 60
    timed = [row["sampling time (s)"] for name, row in rows.items() if "means" not in name]
    assert all(t > 0 for t in timed)
    # Models trained for one epoch are far from the data: every FCD is above its real-data floor,
    # and binary samples are held against binarized images, grey ones against grey (other floors).
    assert all(row["FCD"] > row["FCD real"] >= 0 for row in rows.values())
    assert rows["PixelCNN"]["FCD real"] == rows["VAE (dense)"]["FCD real"] != rows["DCGAN"]["FCD real"]
    bandwidth = results["models"]["gan"]["grey"]["parzen_bandwidth"]
    assert 0 < bandwidth <= 1

    markdown = (out / "results.md").read_text()
    assert "| PixelRNN |" in markdown and "Theis et al. 2016" in markdown
    assert "first 50 test images" in markdown  # exact NLLs on the VAE's subset, to compare like with like
    assert "VAE (conv): no saved model" in markdown


def test_missing_model_names_the_recipe_to_run(tmp_path):
    recipe = load_recipe()
    with pytest.raises(SystemExit, match=r"recipes/gan\.py[\s\S]*recipes/pixelcnn\.py"):
        recipe.main(["--dataset", "digits", "--out", str(tmp_path), "--vae-model", str(tmp_path / "none.keras"),
                     "--gan-model", str(tmp_path / "none.keras"), "--pixelcnn-model", str(tmp_path / "none.keras"),
                     "--skip", "vae", "pixelrnn"])


@pytest.fixture(scope="module")
def latent_models(tmp_path_factory, digits):
    """A VampPrior VAE and the three kinds of latent sampler, tiny, saved as recipes/vae.py and
    recipes/latent_samplers.py save them."""
    keras.utils.set_random_seed(0)
    root = tmp_path_factory.mktemp("latent_runs")
    x_train = digits[0][0][:256]
    shape = x_train.shape[1:]
    vamp = build_vae(shape, latent_dim=2, hidden=(16,), prior="vamp", num_pseudo_inputs=4, pseudo_inputs=x_train,
                     dynamic_binarization=True, seed=0)
    ae = build_dense_ae(shape, hidden=(16,), code_dim=2)
    wae = build_wae(shape, hidden=(16,), code_dim=2, seed=0)
    for model in (vamp, ae, wae):
        model.compile()
        model.fit(x_train, epochs=1, batch_size=128, verbose=0)
    iwae_row = {"bound": "IWAE L_k", "k": 5000, "test images": 359, "NLL (nats)": 30.25, "+/- (sem)": 0.3}
    samplers = {"ae_gmm": fit_latent_sampler(ae, x_train, kind="gmm", n_components=3, seed=0),
                "vae_aggregate": fit_latent_sampler(vamp, x_train, kind="aggregate", seed=0), "wae": wae}
    folder = root / "latent_samplers"
    # recipes/latent_samplers.py's record: None when the VAE it loaded had no recorded training time.
    saved = {"ae_gmm.keras": {"train_seconds": 3.0}, "vae_aggregate.keras": {"train_seconds": None},
             "wae.keras": {"train_seconds": 4.0}}
    for key, model in samplers.items():
        save_with_results(model, folder, f"{key}.keras", {"saved": saved})
    return {"vae_vamp": save_with_results(vamp, root / "vae_vamp", "vae_dense_vamp.keras", {"train_seconds": 8.0},
                                          [iwae_row]),
            **{key: str(folder / f"{key}.keras") for key in samplers}, "rae_gmm": str(folder / "rae_gmm.keras"),
            "wae_model": wae}


@pytest.mark.slow
def test_vampprior_and_latent_sampler_rows(latent_models, digits, tmp_path):
    recipe = load_recipe()
    out, cache = tmp_path / "compare", tmp_path / "cache"
    given = ("vae_vamp", "ae_gmm", "rae_gmm", "vae_aggregate", "wae")  # rae_gmm: no file, left out with a note
    results = recipe.main(["--dataset", "digits", "--n-samples", "60", "--out", str(out), "--cache-dir", str(cache),
                           "--skip", *[key for key in recipe.KEYS if key not in given],
                           *[arg for key in given for arg in (f"--{key.replace('_', '-')}-model", latent_models[key])]])
    rows = {row["model"]: row for row in json.loads((out / "results.json").read_text())["rows"]}
    samplers = ["AE + GMM on its codes", "VAE + aggregate posterior (Bernoulli means)", "WAE-MMD, prior N(0, I)"]
    assert list(rows) == ["VAE + VampPrior", "VAE + VampPrior, Bernoulli means", *samplers]
    # The VampPrior VAE is a VAE row: its IWAE bound read from its recipe's results, binary draws.
    vamp = rows["VAE + VampPrior"]
    assert vamp["NLL (nats)"] == "30.25 ± 0.30" and vamp["sample space"] == "binary"
    assert vamp["bits/dim"] == pytest.approx(30.25 / (64 * np.log(2)), abs=1e-4)
    # The samplers have no likelihood; their grey samples are held against grey images.
    for name in samplers:
        assert rows[name]["data"] == "grey, no likelihood" and rows[name]["sample space"] == "grey"
        assert rows[name]["NLL (nats)"] == rows[name]["bits/dim"] == "n/a"
        assert rows[name]["FCD real"] == rows["VAE + VampPrior, Bernoulli means"]["FCD real"]
    assert all(np.isfinite(row["FCD"]) and row["FCD"] > row["FCD real"] >= 0 for row in rows.values())
    assert [rows[name]["train time (s)"] for name in ("VAE + VampPrior", *samplers)] == [8, 3, "n/a", 4]
    # A sampler row scores model.sample(n, seed=--seed): the WAE's 60 prior samples under the same judge.
    (x_train, y_train), (x_test, y_test) = digits
    judge = dataset_classifier(x_train, y_train, dataset=f"digits{len(x_train)}", x_test=x_test, y_test=y_test,
                               cache_dir=cache, seed=0)
    fcd = SampleQuality(judge, x_test, x_train, verbose=0).evaluate(latent_models["wae_model"].sample(60, seed=0))
    assert results["models"]["wae"]["grey"]["fcd"] == pytest.approx(fcd["frechet_distance"], rel=1e-5)
    markdown = (out / "results.md").read_text()
    assert "RAE + GMM on its codes: no saved model" in markdown
    assert "Latent samplers (recipes/latent_samplers.py)" in markdown
