"""VQ-VAE with a PixelCNN prior on binarized MNIST: reconstruction, codebook usage, NLL bound, sample quality.

Protocol (shared with the VAE and PixelCNN recipes): training images are binarized afresh
every batch (dynamic binarization), the test images once with seed 0. The VQ-VAE
(van den Oord et al. 2017; 28x28 -> 7x7 code maps, EMA codebook, dead-code restarts) is
trained first; then a gated PixelCNN prior is fit on the code maps of the training images
(binarized with ``--prior-binarizations`` seeds: more code maps of the same digits).

Printed and saved:

* test **reconstruction error** per image: ``-log p(x | z_q(x))``, the Bernoulli
  cross-entropy summed over the 784 pixels in nats, the same measure as the VAE's
  reconstruction term ``-E_q log p(x|z)`` (which is estimated here for a saved VAE,
  ``--vae-model``, with ``--vae-samples`` posterior samples);
* **codebook usage** on the test images: perplexity (the effective number of codes) and
  the percentage of codes in use;
* the **NLL bound** ``-log p(x | z_q(x)) - log p_prior(z_q(x))`` in nats per image
  (deterministic posterior), the column the VAE's IWAE bound and PixelCNN's exact NLL share;
* **FCD and class coverage** of ``--n-samples`` prior samples with the classifier and the
  setup of ``recipes/compare_generative.py`` (binary draws x ~ p(x|z) vs binarized images,
  Bernoulli means vs grey images), for the VQ-VAE and for the reference VAE.

Figures: reconstructions, the codebook usage histogram, prior samples.

Usage:
    python recipes/vqvae.py                                         # the docs/results.md numbers
    python recipes/vqvae.py --vae-model runs/vae/vae_dense.keras    # a reference VAE (default path below)
    python recipes/vqvae.py --dataset digits --epochs 3 --prior-epochs 2 --n-samples 500   # a quick smoke run
"""

from __future__ import annotations

import time
from pathlib import Path

import keras_ae  # noqa: F401  (first: it hides TensorFlow's C++ start-up lines, keras_ae.quiet)

import keras
import numpy as np

from keras_ae.data import binarize, is_prebinarized
from keras_ae.evaluation.likelihood import bits_per_dim
from keras_ae.evaluation import SampleQuality, dataset_classifier
from keras_ae.experiment import (TimeBudget, describe_recipe_data, fit_recipe_model, load_recipe_data, recipe_parser,
                                 write_results)
from keras_ae.models.vqvae import build_vqvae
from keras_ae.plotting import save_image_grid, save_image_rows


def parse_args(argv=None):
    parser = recipe_parser("vqvae", __doc__.splitlines()[0], dataset="mnist", epochs=40)
    parser.add_argument("--num-codes", type=int, default=128, help="codebook size K")
    parser.add_argument("--code-dim", type=int, default=16, help="dimension of each code vector")
    parser.add_argument("--filters", type=int, nargs="+", default=[32, 64], help="stride-2 conv channels")
    parser.add_argument("--residual-blocks", type=int, default=2)
    parser.add_argument("--beta", type=float, default=0.25, help="commitment loss weight")
    parser.add_argument("--codebook-update", choices=("ema", "loss"), default="ema")
    parser.add_argument("--decay", type=float, default=0.99, help="EMA decay")
    parser.add_argument("--dead-after", type=int, default=20, help="steps without use before a code is restarted")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3,
                        help="initial Adam learning rate (cosine decay to --lr-final)")
    parser.add_argument("--lr-final", type=float, default=1e-4)
    parser.add_argument("--time-budget-min", type=float, default=15.0, help="stop VQ-VAE training after this long")
    parser.add_argument("--prior-epochs", type=int, default=30)
    parser.add_argument("--prior-time-budget-min", type=float, default=12.0, help="stop prior training after this long")
    parser.add_argument("--prior-filters", type=int, default=64)
    parser.add_argument("--prior-blocks", type=int, default=4)
    parser.add_argument("--prior-batch-size", type=int, default=128)
    parser.add_argument("--prior-dropout", type=float, default=0.1)
    parser.add_argument("--prior-binarizations", type=int, default=2,
                        help="binarizations of the training images whose code maps train the prior")
    parser.add_argument("--n-samples", type=int, default=10_000, help="prior samples for FCD and class coverage")
    parser.add_argument("--sample-batch", type=int, default=500)
    parser.add_argument("--vae-model", default="runs/vqvae/vae_reference/vae_dense.keras",
                        help="reference VAE (recipes/vae.py) for the reconstruction term and FCD; skipped if absent")
    parser.add_argument("--vae-samples", type=int, default=10,
                        help="posterior samples of the VAE's reconstruction term")
    parser.add_argument("--cache-dir", default=None, help="feature-classifier cache (default ~/.cache/keras_ae)")
    parser.add_argument("--model", default=None, help="evaluate this saved .keras VQ-VAE instead of training one")
    return parser.parse_args(argv)


def train_vqvae(model, x_train, args) -> dict:
    steps = int(np.ceil(len(x_train) / args.batch_size)) * max(args.epochs, 1)
    schedule = keras.optimizers.schedules.CosineDecay(args.lr, decay_steps=steps, alpha=args.lr_final / args.lr)
    model.compile(optimizer=keras.optimizers.Adam(schedule))
    budget = TimeBudget(args.time_budget_min)
    start = time.perf_counter()
    history = fit_recipe_model(model, x_train, args, name="vqvae", monitor=None, epochs=args.epochs,
                               batch_size=args.batch_size, callbacks=[budget], verbose=2)
    return {"train_seconds": round(time.perf_counter() - start, 1), "epochs_run": len(history["loss"]),
            **{f"final_train_{k}": round(float(v[-1]), 4) for k, v in history.items()}}


def train_prior(model, x_train, args) -> dict:
    n_val = max(1, len(x_train) // 20)  # the last 5% of the training images: the prior's validation set
    x_codes = np.concatenate([binarize(x_train[:-n_val], seed=100 + s) for s in range(args.prior_binarizations)])
    budget = TimeBudget(args.prior_time_budget_min)
    start = time.perf_counter()
    model.prior.compile(optimizer=keras.optimizers.Adam(1e-3))
    history = model.fit_prior(x_codes, epochs=args.prior_epochs, batch_size=args.prior_batch_size, callbacks=[budget],
                              verbose=2, validation_data=binarize(x_train[-n_val:], seed=1))
    return {"prior_train_seconds": round(time.perf_counter() - start, 1),
            "prior_epochs_run": len(history.history["loss"]),
            "prior_final_train_nll": round(float(history.history["nll"][-1]), 3),
            "prior_final_val_nll": round(float(history.history["val_nll"][-1]), 3)}


def vae_reference(path: str, x_test_bin: np.ndarray, quality: dict, args) -> dict | None:
    """The reference VAE's reconstruction term and the FCD / coverage of its samples (None if absent)."""
    if not Path(path).is_file():
        print(f"No reference VAE at {path} (make one with `python recipes/vae.py --k 1 --manifold-epochs 0`); "
              "its columns are left out.")
        return None
    vae = keras.saving.load_model(path)
    elbo = vae.elbo(x_test_bin, num_samples=args.vae_samples, seed=args.seed)
    kl = vae.kl_divergence(vae.encode(x_test_bin)).numpy()
    images = {"binary": vae.sample(args.n_samples, seed=args.seed, binary=True),
              "grey": np.clip(vae.sample(args.n_samples, seed=args.seed), 0.0, 1.0)}
    return {"path": path, "reconstruction_nats": float(-(elbo + kl).mean()), "neg_elbo_nats": float(-elbo.mean()),
            **{space: score(quality[space], x) for space, x in images.items()}}


def score(quality: SampleQuality, samples: np.ndarray) -> dict:
    m = quality.evaluate(samples, verbose=0)
    return {"fcd": round(float(m["frechet_distance"]), 3), "fcd_real": round(float(m["frechet_distance_real"]), 3),
            "classes_covered": int(m["classes_covered"]), "min_class": round(float(m["min_class_fraction"]), 4),
            "max_class": round(float(m["max_class_fraction"]), 4), "class_entropy": round(float(m["class_entropy"]), 3)}


def save_usage_histogram(counts: np.ndarray, path: Path, title: str) -> None:
    from keras_ae.plotting._common import _pyplot, _save

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 3))
    ax.bar(np.arange(len(counts)), np.sort(counts)[::-1] / counts.sum(), width=1.0, color="tab:blue")
    ax.set_xlabel("code (sorted by use)")
    ax.set_ylabel("fraction of test positions")
    ax.set_title(title)
    _save(fig, path)


def main(argv=None):
    args = parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (x_train, y_train), (x_test_grey, y_test) = load_recipe_data(args)
    x_test = x_test_grey if is_prebinarized(args.dataset) else binarize(x_test_grey, seed=0)
    keras.utils.set_random_seed(args.seed)
    results = {"split": f"{describe_recipe_data(args)}: train dynamically binarized, test binarized with seed 0"}
    if args.model:
        model = keras.saving.load_model(args.model)
    else:
        model = build_vqvae(x_train.shape[1:], num_codes=args.num_codes, code_dim=args.code_dim,
                            filters=tuple(args.filters), residual_blocks=args.residual_blocks, beta=args.beta,
                            codebook_update=args.codebook_update, decay=args.decay, dead_after=args.dead_after,
                            dynamic_binarization=True, prior_filters=args.prior_filters,
                            prior_blocks=args.prior_blocks, prior_dropout=args.prior_dropout, seed=args.seed)
        results.update(train_vqvae(model, x_train, args))
        results.update(train_prior(model, x_train, args))
        model.save(out / "vqvae.keras")
    terms = model.bound_terms(x_test, verbose=1)
    bound = terms["log_px_given_z"] + terms["log_prior"]
    usage = model.codebook_usage(x_test)
    dims = int(np.prod(x_test.shape[1:]))
    results.update(params=model.count_params(), prior_params=model.prior.count_params(),
                   code_map=list(model.code_map_shape), num_codes=model.num_codes,
                   test_reconstruction_nats=round(float(-terms["log_px_given_z"].mean()), 3),
                   test_log_prior_nats=round(float(terms["log_prior"].mean()), 3),
                   test_nll_bound_nats=round(float(-bound.mean()), 3),
                   test_nll_bound_sem=round(float(bound.std(ddof=1) / np.sqrt(len(bound))), 3),
                   test_nll_bound_bits_per_dim=round(float(bits_per_dim(-bound.mean(), dims)), 4),
                   test_perplexity=round(usage["perplexity"], 2),
                   test_codes_in_use_percent=round(100 * usage["codes_in_use"], 1),
                   train_codes_in_use_percent=round(100 * model.codebook_usage(x_train)["codes_in_use"], 1))

    # Sample quality exactly as recipes/compare_generative.py scores the VAE.
    extractor = dataset_classifier(x_train, y_train, dataset=f"{args.dataset}{len(x_train)}", x_test=x_test_grey,
                                   y_test=y_test, cache_dir=args.cache_dir, seed=args.seed)
    quality = {"binary": SampleQuality(extractor, x_test, binarize(x_train, seed=1), verbose=0),
               "grey": SampleQuality(extractor, x_test_grey, x_train, verbose=0)}
    model.sample_codes(2, seed=args.seed + 1, batch_size=2)  # trace the sampler outside the timing
    start = time.perf_counter()
    codes = model.sample_codes(args.n_samples, seed=args.seed, batch_size=args.sample_batch, verbose=1)
    means = model.decode(codes)
    results["sampling_seconds"] = round(time.perf_counter() - start, 2)
    draws = (np.random.default_rng(args.seed).random(means.shape) < means).astype(np.float32)
    results["vqvae_samples"] = {"binary": score(quality["binary"], draws), "grey": score(quality["grey"], means)}
    reference = vae_reference(args.vae_model, x_test, quality, args)
    results["vae_reference"] = reference

    code_maps = "x".join(map(str, model.code_map_shape))
    rows = [{"model": f"VQ-VAE (K={model.num_codes}, {code_maps} codes) + PixelCNN prior",
             "test reconstruction (nats)": results["test_reconstruction_nats"],
             "NLL (nats)": f"{results['test_nll_bound_nats']:.2f} (bound)",
             "perplexity": results["test_perplexity"], "codes in use %": results["test_codes_in_use_percent"],
             "FCD binary draws": results["vqvae_samples"]["binary"]["fcd"],
             "FCD means": results["vqvae_samples"]["grey"]["fcd"],
             "classes covered": results["vqvae_samples"]["binary"]["classes_covered"],
             "min / max class %": "{:.1f} / {:.1f}".format(100 * results["vqvae_samples"]["binary"]["min_class"],
                                                          100 * results["vqvae_samples"]["binary"]["max_class"])}]
    if reference:
        rows.append({"model": "VAE (reference)",
                     "test reconstruction (nats)": round(reference["reconstruction_nats"], 3),
                     "NLL (nats)": f"{reference['neg_elbo_nats']:.2f} (-ELBO)", "perplexity": "n/a",
                     "codes in use %": "n/a", "FCD binary draws": reference["binary"]["fcd"],
                     "FCD means": reference["grey"]["fcd"], "classes covered": reference["binary"]["classes_covered"],
                     "min / max class %": "{:.1f} / {:.1f}".format(100 * reference["binary"]["min_class"],
                                                                  100 * reference["binary"]["max_class"])})

    save_image_rows({"test image": x_test[:10], "reconstruction": model.reconstruct(x_test[:10])},
                    out / "reconstructions.png", title="binarized test images and VQ-VAE reconstructions (means)")
    save_usage_histogram(usage["counts"], out / "codebook_usage.png",
                         f"codebook usage on the test set: perplexity {usage['perplexity']:.1f}, "
                         f"{100 * usage['codes_in_use']:.0f}% of {model.num_codes} codes in use")
    save_image_grid(means[:100], out / "samples.png", cols=10,
                    title="PixelCNN prior samples, decoded (Bernoulli means)")
    write_results(out, results, rows, args)


if __name__ == "__main__":
    main()
