"""Is an auto-encoder a generative model? Sample quality of fitted latent samplers (Ghosh et al. 2020).

Trains a plain dense auto-encoder and an RAE (same 784-200-200-16 networks, same epochs), fits a
density over each one's training codes with :func:`keras_ae.fit_latent_sampler` (a 10-component
Gaussian mixture; a single Gaussian as the baseline) and scores 10,000 decoded samples by their FCD
against the test images (the project's classifier as the judge, grey images against grey images).
The VAE row samples a VAE's prior and, with the same decoder, its aggregate posterior and a GMM on
its posterior means (``--vae-model`` loads one, e.g. the README's ``recipes/vae.py`` model;
otherwise a VAE with the same networks trains for ``--vae-epochs``).

    python recipes/latent_samplers.py --vae-model runs/vae/vae_dense.keras
    python recipes/latent_samplers.py --dataset digits --epochs 5 --vae-epochs 5 --samples 500   # smoke run

Writes ``results.json`` and ``samples.png`` (one row of samples per sampler) to ``--out``.
"""

from __future__ import annotations

import os
import time

import keras
import numpy as np

from keras_ae import build_dense_ae, build_rae, build_vae, fit_latent_sampler
from keras_ae.evaluation import SampleQuality, dataset_classifier
from keras_ae.experiment import describe_recipe_data, load_recipe_data, recipe_parser, write_results
from keras_ae.plotting import save_image_rows


def parse_args(argv=None):
    parser = recipe_parser("latent_samplers", __doc__.splitlines()[0], dataset="mnist", epochs=100)
    parser.add_argument("--hidden", type=int, nargs="+", default=[200, 200], help="dense hidden widths")
    parser.add_argument("--code-dim", type=int, default=16, help="code size of the AE and the RAE")
    parser.add_argument("--components", type=int, default=10, help="Gaussian mixture components")
    parser.add_argument("--samples", type=int, default=10_000, help="samples scored per sampler")
    parser.add_argument("--vae-model", default=None, help="a saved .keras VAE (default: train one)")
    parser.add_argument("--vae-epochs", type=int, default=500, help="epochs of the VAE when none is given")
    parser.add_argument("--cache-dir", default=None, help="where the judge classifier is cached")
    return parser.parse_args(argv)


def train_autoencoders(x_train, args) -> dict:
    """The plain AE and the RAE (gradient penalty on the decoder), same networks and epochs."""
    models = {}
    for name, builder in (("ae", build_dense_ae), ("rae", build_rae)):
        model = builder(x_train.shape[1:], hidden=tuple(args.hidden), code_dim=args.code_dim)
        model.compile()
        start = time.perf_counter()
        model.fit(x_train, epochs=args.epochs, batch_size=100, verbose=2)
        print(f"{name}: {args.epochs} epochs in {time.perf_counter() - start:.0f} s", flush=True)
        models[name] = model
    return models


def vae_of(x_train, args):
    if args.vae_model:
        return keras.saving.load_model(args.vae_model)
    vae = build_vae(x_train.shape[1:], hidden=tuple(args.hidden), dynamic_binarization=True, seed=args.seed)
    vae.compile()
    vae.fit(x_train, epochs=args.vae_epochs, batch_size=100, verbose=2)
    return vae


def main(argv=None) -> dict:
    args = parse_args(argv)
    keras.utils.set_random_seed(args.seed)
    (x_train, y_train), (x_test, y_test) = load_recipe_data(args)
    print(f"data: {describe_recipe_data(args)}")
    extractor = dataset_classifier(x_train, y_train, dataset=f"{args.dataset}{len(x_train)}", x_test=x_test,
                                   y_test=y_test, cache_dir=args.cache_dir, seed=args.seed)
    quality = SampleQuality(extractor, x_test, x_train, verbose=0)
    models = train_autoencoders(x_train, args)
    vae = vae_of(x_train, args)
    samplers = {
        "VAE, prior N(0, I)": lambda n: vae.sample(n, seed=args.seed),
        "VAE, aggregate posterior": fit_latent_sampler(vae, x_train, kind="aggregate", seed=args.seed).sample,
        "VAE, GMM on posterior means": fit_latent_sampler(
            vae, x_train, kind="gmm", n_components=args.components, seed=args.seed).sample,
    }
    for name, model in models.items():
        for kind, components in (("one Gaussian", 1), (f"GMM-{args.components}", args.components)):
            sampler = fit_latent_sampler(model, x_train, kind="gmm", n_components=components, seed=args.seed)
            samplers[f"{name.upper()}, {kind}"] = lambda n, s=sampler: s.sample(n, seed=args.seed)
    rows, figure, floor = [], {}, None
    for name, sample in samplers.items():
        start = time.perf_counter()
        images = np.clip(np.asarray(sample(args.samples), np.float32), 0.0, 1.0)
        seconds = time.perf_counter() - start
        metrics = quality.evaluate(images, verbose=0)
        floor = float(metrics["frechet_distance_real"])  # train vs test images: the FCD no sampler beats
        rows.append({"sampler": name, "samples": len(images), "FCD": round(float(metrics["frechet_distance"]), 3),
                     "sample s": round(seconds, 1)})
        figure[name] = images[:10]
        print(f"{name}: FCD {rows[-1]['FCD']}", flush=True)
    reconstruction = {name: float(np.mean((model.reconstruct(x_test) - x_test) ** 2)) for name, model in models.items()}
    os.makedirs(args.out, exist_ok=True)
    save_image_rows(figure, os.path.join(args.out, "samples.png"), title="decoded samples, one row per sampler")
    results = {"split": describe_recipe_data(args), "code_dim": args.code_dim, "epochs": args.epochs,
               "vae_model": args.vae_model, "test_mse": reconstruction,
               "fcd_real_floor": floor,
               "rows": rows}
    write_results(args.out, results, rows, args=args)
    return results


if __name__ == "__main__":
    main()
