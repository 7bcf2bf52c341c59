"""recipes/compare_generative.py: one table of every generative model, from the models the recipes save."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import keras
import numpy as np
import pytest

from keras_ae.data import binarize
from keras_ae.models.gan import build_dcgan
from keras_ae.models.pixelcnn import build_pixelcnn
from keras_ae.models.pixelrnn import build_pixelrnn
from keras_ae.models.vae import build_vae

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
    rnn = build_pixelrnn(shape, kind="row_lstm", units=4, layers=1, first_kernel_size=3, dynamic_binarization=True, seed=0)
    for model in (cnn, rnn):
        model.compile()
        model.fit(x_train, epochs=1, batch_size=128, verbose=0)
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
        "root": root,
        "cnn": cnn,
    }


def paths(saved: dict) -> list[str]:
    return ["--vae-model", saved["vae"], "--gan-model", saved["gan"], "--pixelcnn-model", saved["pixelcnn"],
            "--pixelrnn-model", saved["pixelrnn"], "--conv-vae-model", str(saved["root"] / "absent.keras")]


@pytest.mark.slow
def test_table_has_every_model_with_its_numbers(saved_models, digits, tmp_path):
    recipe = load_recipe()
    out = tmp_path / "compare"
    results = recipe.main(["--dataset", "digits", "--n-samples", "60", "--pixelrnn-samples", "20", "--sample-batch", "30",
                           "--out", str(out), "--cache-dir", str(tmp_path / "cache"), *paths(saved_models)])
    payload = json.loads((out / "results.json").read_text())
    rows = {row["model"]: row for row in payload["rows"]}
    assert list(rows) == ["VAE (dense)", "VAE (dense), Bernoulli means", "DCGAN", "PixelCNN", "PixelRNN"]

    # The exact NLL is the model's own log-likelihood of the binarized (seed 0) test images.
    x_test_bin = binarize(digits[1][0], seed=0)
    nll = -saved_models["cnn"].log_likelihood(x_test_bin).mean()
    assert results["models"]["pixelcnn"]["nll"]["nll"] == pytest.approx(nll, rel=1e-5)
    assert rows["PixelCNN"]["bits/dim"] == pytest.approx(nll / (64 * np.log(2)), abs=1e-4)
    # The VAE's bound is read from its recipe's results; the GAN has none.
    assert rows["VAE (dense)"]["NLL (nats)"].startswith("31.50")
    assert "n/a" in rows["DCGAN"]["NLL (nats)"] and rows["DCGAN"]["bits/dim"] == "n/a"
    # Training times from the recipes, sample counts as requested.
    assert [rows[m]["train time (s)"] for m in ("VAE (dense)", "DCGAN", "PixelCNN", "PixelRNN")] == [12, 30, 7, 9]
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
