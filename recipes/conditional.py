"""Recipe: class-conditional generation in every family, judged by the project's classifier.

Trains the class-conditional models on the mnist10k split (``fit(x_train, y_train)``), then
draws ``--per-class`` samples of every class from each and reports, per family:

* **accuracy**: the fraction of samples that the project's classifier (the cached mnist10k
  classifier of ``recipes/compare_generative.py``) recognises as the class asked for;
* **FCD** of all the samples against the test split, scored as ``recipes/compare_generative.py``
  scores that sample space (the VAE's and the VQ-VAE's Bernoulli means against the grey test
  images, the PixelCNN's binary draws against the binarized ones);
* for diffusion, a **guidance sweep** (``--guidance-sweep``, classifier-free guidance weight
  ``w``: 0 is the unconditional model, 1 the conditional one): accuracy and FCD per ``w``.

Families (``--families``): ``cvae`` (``build_vae(num_classes=10)``, dynamically binarized
training images as ``recipes/vae.py``), ``pixelcnn`` (``build_pixelcnn(num_classes=10)``, the
same binarization), ``pixelrnn`` (``build_pixelrnn(kind="row_lstm", num_classes=10)``, the same
binarization; the Row LSTM, whose sampler carries its state from row to row: the Diagonal
BiLSTM's re-runs the network per pixel, about a second per image), ``vqvae``
(``build_vqvae(prior=True, num_classes=10)``: an unconditional VQ-VAE with a class-conditional
PixelCNN prior over its codes), ``diffusion`` (``build_diffusion(num_classes=10)``,
classifier-free guidance) and ``gan`` (``build_conditional_gan``, ``recipes/gan.py``'s DCGAN
64-32 with its generator EMA). A saved model is evaluated
instead of trained with ``--model FAMILY=PATH``. Writes ``<out>/<family>.keras``, one grid
per family (``<family>_samples.png``: a row per class), ``results.json`` and ``results.md``.

Usage:
    python recipes/conditional.py                                   # every family (about 3 h on 2 cores)
    python recipes/conditional.py --families cvae --epochs cvae=20 --per-class 100   # a quick look
    python recipes/conditional.py --families diffusion --model diffusion=runs/conditional/diffusion.keras
"""

from __future__ import annotations

import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras_ae  # noqa: F401  (first: it hides TensorFlow's C++ start-up lines, keras_ae.quiet)

import keras
import numpy as np

from keras_ae.data import binarize
from keras_ae.evaluation import SampleQuality, dataset_classifier
from keras_ae.experiment import TimeBudget, describe_recipe_data, load_recipe_data, recipe_parser, write_results
from keras_ae.plotting import save_image_grid

FAMILIES = ("cvae", "pixelcnn", "pixelrnn", "vqvae", "diffusion", "gan")
# Epochs per family, and a time budget that may stop training sooner: the unconditional recipes'
# settings (recipes/vae.py, recipes/pixelcnn.py, recipes/vqvae.py's budgets, recipes/diffusion.py's
# 45 epochs of its U-Net 16-32-64, FCD 13.46, recipes/gan.py's 60 epochs or 15 minutes).
EPOCHS = {"cvae": 500, "pixelcnn": 30, "pixelrnn": 30, "vqvae": 30, "diffusion": 45, "gan": 60}
BUDGET_MIN = {"cvae": None, "pixelcnn": 20.0, "pixelrnn": 20.0, "vqvae": 15.0, "diffusion": 60.0, "gan": 15.0}
BATCH = {"diffusion": 64, "gan": 64}  # recipes/diffusion.py's and recipes/gan.py's; the others 128
# Sample spaces, as compare_generative.py scores them: the PixelCNN and the PixelRNN draw binary
# images (scored against the binarized test images); the VAE and the VQ-VAE decode Bernoulli means,
# the diffusion model and the GAN grey images (scored against the grey test images).
BINARY = ("pixelcnn", "pixelrnn")


def _pairs(items: list[str], what: str, cast) -> dict:
    out = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or key not in FAMILIES:
            raise SystemExit(f"{what} expects FAMILY=VALUE with FAMILY one of {', '.join(FAMILIES)}, got {item[:60]!r}")
        out[key] = cast(value)
    return out


def parse_args(argv=None):
    parser = recipe_parser("conditional", __doc__.splitlines()[0], dataset="mnist")
    parser.add_argument("--families", nargs="+", choices=FAMILIES, default=list(FAMILIES))
    parser.add_argument("--epochs", nargs="+", default=[], metavar="FAMILY=N",
                        help=f"training epochs per family (default {EPOCHS})")
    parser.add_argument("--time-budget-min", nargs="+", default=[], metavar="FAMILY=MIN",
                        help=f"stop a family's training after this many minutes (default {BUDGET_MIN})")
    parser.add_argument("--model", nargs="+", default=[], metavar="FAMILY=PATH",
                        help="evaluate this saved model instead of training one")
    parser.add_argument("--per-class", type=int, default=1000, help="samples drawn per class")
    parser.add_argument("--guidance", type=float, default=None,
                        help="diffusion: the guidance weight of the table's row (default: the model's)")
    parser.add_argument("--guidance-sweep", type=float, nargs="*", default=[0.0, 1.0, 3.0, 5.0],
                        help="diffusion: guidance weights of the sweep (none: skip it)")
    parser.add_argument("--sweep-per-class", type=int, default=200, help="diffusion sweep: samples per class")
    parser.add_argument("--diffusion-steps", type=int, default=10, help="diffusion: DPM-Solver++(2M) steps")
    parser.add_argument("--precision", default="float32", choices=("float32", "mixed_bfloat16", "mixed_float16"),
                        help="the PixelCNN's training precision (mixed_bfloat16: about 3x faster on CPUs with AMX, "
                             "as recipes/pixelcnn.py); it is sampled and scored in float32")
    parser.add_argument("--cache-dir", default=None, help="feature-classifier cache (default ~/.cache/keras_ae)")
    return parser.parse_args(argv)


def build(family: str, shape: tuple, seed: int):
    """The family's class-conditional model with the builder's defaults, compiled."""
    from keras_ae.models import (build_conditional_gan, build_diffusion, build_pixelcnn, build_pixelrnn, build_vae,
                                 build_vqvae)

    # The binary families binarize every batch afresh (dynamic binarization, as recipes/vae.py and
    # recipes/pixelcnn.py); the test split is binarized once with seed 0.
    if family == "cvae":
        model = build_vae(shape, num_classes=10, dynamic_binarization=True, seed=seed)
    elif family == "pixelcnn":
        model = build_pixelcnn(shape, num_classes=10, dynamic_binarization=True, seed=seed)
    elif family == "pixelrnn":  # the builder's size: 32 units x 2 layers
        model = build_pixelrnn(shape, kind="row_lstm", num_classes=10, dynamic_binarization=True, seed=seed)
    elif family == "gan":
        model = build_conditional_gan(shape, num_classes=10, filters=(64, 32), ema_decay=0.99, seed=seed)
    elif family == "vqvae":
        model = build_vqvae(shape, prior=True, num_classes=10, seed=seed)
    else:  # recipes/diffusion.py's U-Net and optimizer: Adam 1e-3 after a 200-step linear warm-up
        model = build_diffusion(shape, channels=(16, 32, 64), num_classes=10, seed=seed)
        lr = keras.optimizers.schedules.CosineDecay(0.0, decay_steps=1, alpha=1.0, warmup_target=1e-3,
                                                    warmup_steps=200)
        model.compile(optimizer=keras.optimizers.Adam(lr))
        return model
    model.compile()
    return model


def train(family: str, model, x_train, y_train, epochs: int, minutes: float | None, seed: int) -> TimeBudget:
    """Fits ``model`` on ``(x_train, y_train)`` for ``epochs`` or ``minutes``; returns the budget
    (its ``train_s`` and ``epochs`` are the training time and epochs run)."""
    budget = TimeBudget(minutes)
    if family == "vqvae":
        x_bin = binarize(x_train, seed=seed)
        model.fit(x_bin, epochs=epochs, batch_size=128, callbacks=[budget], verbose=2)
        prior = TimeBudget(minutes)
        model.fit_prior(x_bin, y_train, epochs=epochs, callbacks=[prior], verbose=2)
        budget.train_s += prior.train_s  # the training time of the VQ-VAE and of its prior
    else:
        model.fit(x_train, y_train, epochs=epochs, batch_size=BATCH.get(family, 128), callbacks=[budget], verbose=2)
    return budget


def draw(family: str, model, labels: np.ndarray, seed: int, args, guidance: float | None = None) -> np.ndarray:
    """Samples of ``labels`` (one per image) in [0, 1]."""
    options: dict = {"seed": seed, "labels": labels}
    if family == "gan":
        options.update(unit_range=True, verbose=0)
    if family == "diffusion":
        options.update(steps=args.diffusion_steps, method="dpm++2m", batch_size=500)
        if guidance is not None:
            options["guidance"] = guidance
    images = model.sample(len(labels), **options)
    return np.clip(np.asarray(images, np.float32), 0.0, 1.0)


def judge(extractor, quality: SampleQuality, images: np.ndarray, labels: np.ndarray) -> dict:
    """Accuracy of the classifier on the requested classes, per-class accuracy and FCD."""
    _, probabilities = extractor.predict(images)
    predicted = probabilities.argmax(axis=1)
    per_class = [float((predicted[labels == c] == c).mean()) for c in np.unique(labels)]
    metrics = quality.evaluate(images, verbose=0)
    return {"accuracy": float((predicted == labels).mean()), "worst_class_accuracy": min(per_class),
            "fcd": float(metrics["frechet_distance"]), "fcd_real_floor": float(metrics["frechet_distance_real"])}


def main(argv=None) -> dict:
    args = parse_args(argv)
    epochs = {**EPOCHS, **_pairs(args.epochs, "--epochs", int)}
    minutes = {**BUDGET_MIN, **_pairs(args.time_budget_min, "--time-budget-min", float)}
    saved = _pairs(args.model, "--model", str)
    keras.utils.set_random_seed(args.seed)
    (x_train, y_train), (x_test, y_test) = load_recipe_data(args)
    print(f"data: {describe_recipe_data(args)}")
    extractor = dataset_classifier(x_train, y_train, dataset=f"{args.dataset}{len(x_train)}", x_test=x_test,
                                   y_test=y_test, cache_dir=args.cache_dir, seed=args.seed)
    # One scorer per sample space, as compare_generative.py: binary draws against binarized images.
    spaces = {"grey": SampleQuality(extractor, x_test, x_train, verbose=0),
              "binary": SampleQuality(extractor, binarize(x_test, seed=0), binarize(x_train, seed=1), verbose=0)}
    os.makedirs(args.out, exist_ok=True)
    labels = np.repeat(np.arange(10, dtype=np.int32), args.per_class)
    rows, results = [], {"split": describe_recipe_data(args), "per_class": args.per_class, "families": {}}
    for family in args.families:
        if family in saved:
            model, seconds, ran = keras.saving.load_model(saved[family]), None, None
            print(f"{family}: loaded {saved[family]}")
        else:
            mixed = family == "pixelcnn" and args.precision != "float32"
            keras.mixed_precision.set_global_policy(args.precision if mixed else "float32")
            model = build(family, x_train.shape[1:], args.seed)
            budget = train(family, model, x_train, y_train, epochs[family], minutes[family], args.seed)
            keras.mixed_precision.set_global_policy("float32")
            if mixed:  # the same network in float32: exact likelihoods and samplers
                twin = build(family, x_train.shape[1:], args.seed)
                twin.network.set_weights(model.network.get_weights())
                model = twin
            seconds, ran = budget.train_s, budget.epochs
            model.save(os.path.join(args.out, f"{family}.keras"))
        start = time.perf_counter()
        images = draw(family, model, labels, args.seed, args, args.guidance)
        sample_s = time.perf_counter() - start
        scores = judge(extractor, spaces["binary" if family in BINARY else "grey"], images, labels)
        grid = np.concatenate([images[labels == c][:10] for c in range(10)])
        save_image_grid(grid, os.path.join(args.out, f"{family}_samples.png"), cols=10,
                        title=f"{family}: one row per class (0-9)")
        results["families"][family] = {**scores, "train_seconds": seconds, "sample_seconds": sample_s, "epochs": ran}
        rows.append({"family": family, "samples": len(labels), "accuracy %": round(100 * scores["accuracy"], 2),
                     "worst class %": round(100 * scores["worst_class_accuracy"], 1),
                     "FCD": round(scores["fcd"], 3), "train s": None if seconds is None else round(seconds),
                     "sample s": round(sample_s)})
        print(f"{family}: accuracy {100 * scores['accuracy']:.2f}%, FCD {scores['fcd']:.3f}", flush=True)
        if family == "diffusion" and args.guidance_sweep:
            sweep_labels = np.repeat(np.arange(10, dtype=np.int32), args.sweep_per_class)
            sweep = []
            for w in args.guidance_sweep:
                s = judge(extractor, spaces["grey"], draw(family, model, sweep_labels, args.seed, args, w),
                          sweep_labels)
                sweep.append({"guidance": w, **s})
                print(f"  guidance {w:g}: accuracy {100 * s['accuracy']:.2f}%, FCD {s['fcd']:.3f}", flush=True)
            results["guidance_sweep"] = sweep
    write_results(args.out, results, rows, args)
    return results


if __name__ == "__main__":
    main()
