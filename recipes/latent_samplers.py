"""Is an auto-encoder a generative model? Sample quality of fitted latent samplers (Ghosh et al. 2020).

Trains a plain dense auto-encoder, an RAE and a WAE-MMD (same 784-200-200-16 networks, same
epochs), fits a density over the AE's and the RAE's training codes with
:func:`keras_ae.fit_latent_sampler` (a 10-component Gaussian mixture; a single Gaussian as the
baseline), samples the WAE's prior N(0, I) (the prior its MMD penalty matched the codes to), and
scores 10,000 decoded samples of each by their FCD against the test images (the project's
classifier as the judge, grey images against grey images). The VAE rows sample a VAE's prior and,
with the same decoder, its aggregate posterior and a GMM on its posterior means (``--vae-model``
loads one, e.g. the README's ``recipes/vae.py`` model; otherwise a VAE with the same networks
trains for ``--vae-epochs``). Every sampler draws with ``sample(n, seed=--seed)``.

    python recipes/latent_samplers.py --vae-model runs/vae/vae_dense.keras
    python recipes/latent_samplers.py --dataset digits --epochs 5 --vae-epochs 5 --samples 500   # smoke run

Writes to ``--out``: ``results.json`` (the table; ``train_seconds`` of each auto-encoder; ``saved``:
per saved file, its row and ``train_seconds``, the auto-encoder's training plus the density's fit,
None when a loaded VAE's recipe recorded no training time), ``samples.png`` (one row of samples
per sampler) and the samplers as ``.keras`` files (``recipes/compare_generative.py`` scores
``ae_gmm``, ``rae_gmm``, ``vae_aggregate`` and ``wae`` with the other generative models):

| file | sampler |
| --- | --- |
| ``ae_gaussian.keras``, ``ae_gmm.keras`` | the AE with one Gaussian / a ``--components`` GMM (a ``LatentSampler``) |
| ``rae_gaussian.keras``, ``rae_gmm.keras`` | the RAE, the same two densities |
| ``vae_aggregate.keras``, ``vae_gmm.keras`` | the VAE's aggregate posterior / a GMM on its posterior means |
| ``wae.keras`` | the WAE itself (``WassersteinAutoEncoder.sample`` draws its prior) |

Each has ``sample(n, seed=)`` giving images in [0, 1] (a VAE's: Bernoulli means). The VAE's
prior row is the VAE itself, saved by its own recipe (or not at all when trained here).
"""

from __future__ import annotations

import os
import time

import keras
import numpy as np

from keras_ae import build_dense_ae, build_rae, build_vae, build_wae, fit_latent_sampler
from keras_ae.evaluation import SampleQuality, dataset_classifier
from keras_ae.experiment import (describe_recipe_data, load_recipe_data, read_results, recipe_parser,
                                 write_results)
from keras_ae.plotting import save_image_rows


def parse_args(argv=None):
    parser = recipe_parser("latent_samplers", __doc__.splitlines()[0], dataset="mnist", epochs=100)
    parser.add_argument("--hidden", type=int, nargs="+", default=[200, 200], help="dense hidden widths")
    parser.add_argument("--code-dim", type=int, default=16, help="code size of the AE, the RAE and the WAE")
    parser.add_argument("--components", type=int, default=10, help="Gaussian mixture components")
    parser.add_argument("--samples", type=int, default=10_000, help="samples scored per sampler")
    parser.add_argument("--vae-model", default=None, help="a saved .keras VAE (default: train one)")
    parser.add_argument("--vae-epochs", type=int, default=500, help="epochs of the VAE when none is given")
    parser.add_argument("--cache-dir", default=None, help="where the judge classifier is cached")
    return parser.parse_args(argv)


def train_autoencoders(x_train, args) -> tuple[dict, dict]:
    """The plain AE, the RAE (gradient penalty on the decoder) and the WAE-MMD (codes matched to N(0, I)),
    same networks and epochs; returns ``(models, training seconds)`` keyed ``ae``, ``rae``, ``wae``."""
    models, seconds = {}, {}
    for name, builder in (("ae", build_dense_ae), ("rae", build_rae), ("wae", build_wae)):
        model = builder(x_train.shape[1:], hidden=tuple(args.hidden), code_dim=args.code_dim)
        model.compile()
        start = time.perf_counter()
        model.fit(x_train, epochs=args.epochs, batch_size=100, verbose=2)
        seconds[name] = round(time.perf_counter() - start, 1)
        print(f"{name}: {args.epochs} epochs in {seconds[name]:.0f} s", flush=True)
        models[name] = model
    return models, seconds


def vae_of(x_train, args) -> tuple[keras.Model, float | None]:
    """The VAE and its training seconds (a loaded VAE's as its recipe recorded them, else None)."""
    if args.vae_model:
        results = read_results(args.vae_model).get("results", {})  # written by recipes/vae.py beside the model
        return keras.saving.load_model(args.vae_model), results.get("train_seconds")
    vae = build_vae(x_train.shape[1:], hidden=tuple(args.hidden), dynamic_binarization=True, seed=args.seed)
    vae.compile()
    start = time.perf_counter()
    vae.fit(x_train, epochs=args.vae_epochs, batch_size=100, verbose=2)
    return vae, round(time.perf_counter() - start, 1)


def fit_samplers(models: dict, x_train, args) -> dict[str, tuple[str | None, str, keras.Model, float]]:
    """Every sampler of the table, in table order: row name -> (file stem or None, the auto-encoder's key,
    a model with ``sample(n, seed=)``, seconds of its density's fit)."""
    k = args.components
    plan = [("VAE, aggregate posterior", "vae_aggregate", "vae", {"kind": "aggregate"}),
            ("VAE, GMM on posterior means", "vae_gmm", "vae", {"kind": "gmm", "n_components": k})]
    for name in ("ae", "rae"):
        plan += [(f"{name.upper()}, one Gaussian", f"{name}_gaussian", name, {"kind": "gmm", "n_components": 1}),
                 (f"{name.upper()}, GMM-{k}", f"{name}_gmm", name, {"kind": "gmm", "n_components": k})]
    samplers = {"VAE, prior N(0, I)": (None, "vae", models["vae"], 0.0)}
    for row, file, name, settings in plan:
        start = time.perf_counter()
        sampler = fit_latent_sampler(models[name], x_train, seed=args.seed, **settings)
        samplers[row] = (file, name, sampler, time.perf_counter() - start)
    samplers["WAE, prior N(0, I)"] = ("wae", "wae", models["wae"], 0.0)
    return samplers


def main(argv=None) -> dict:
    args = parse_args(argv)
    keras.utils.set_random_seed(args.seed)
    (x_train, y_train), (x_test, y_test) = load_recipe_data(args)
    print(f"data: {describe_recipe_data(args)}")
    extractor = dataset_classifier(x_train, y_train, dataset=f"{args.dataset}{len(x_train)}", x_test=x_test,
                                   y_test=y_test, cache_dir=args.cache_dir, seed=args.seed)
    quality = SampleQuality(extractor, x_test, x_train, verbose=0)
    models, train_seconds = train_autoencoders(x_train, args)
    models["vae"], train_seconds["vae"] = vae_of(x_train, args)
    os.makedirs(args.out, exist_ok=True)
    rows, figure, saved, floor = [], {}, {}, None
    for row_name, (file, name, model, fit_seconds) in fit_samplers(models, x_train, args).items():
        start = time.perf_counter()
        images = np.clip(np.asarray(model.sample(args.samples, seed=args.seed), np.float32), 0.0, 1.0)
        seconds = time.perf_counter() - start
        metrics = quality.evaluate(images, verbose=0)
        floor = float(metrics["frechet_distance_real"])  # train vs test images: the FCD no sampler beats
        total = None if train_seconds[name] is None else round(train_seconds[name] + fit_seconds, 1)
        rows.append({"sampler": row_name, "samples": len(images), "FCD": round(float(metrics["frechet_distance"]), 3),
                     "train + fit s": "n/a" if total is None else round(total), "sample s": round(seconds, 1)})
        if file is not None:
            model.save(os.path.join(args.out, f"{file}.keras"))
            saved[f"{file}.keras"] = {"sampler": row_name, "train_seconds": total, "fit_seconds": round(fit_seconds, 2)}
        figure[row_name] = images[:10]
        print(f"{row_name}: FCD {rows[-1]['FCD']}", flush=True)
    reconstruction = {name: float(np.mean((model.reconstruct(x_test) - x_test) ** 2))
                      for name, model in models.items() if name != "vae"}
    save_image_rows(figure, os.path.join(args.out, "samples.png"), title="decoded samples, one row per sampler")
    results = {"split": describe_recipe_data(args), "code_dim": args.code_dim, "epochs": args.epochs,
               "vae_model": args.vae_model, "test_mse": reconstruction,
               "fcd_real_floor": floor, "train_seconds": train_seconds, "saved": saved,
               "rows": rows}
    write_results(args.out, results, rows, args=args)
    return results


if __name__ == "__main__":
    main()
