"""Recipe: train a DDPM on MNIST, sample it with DDIM, and measure samples, bound and sampler speed.

Trains ``build_diffusion`` (a small U-Net noise predictor, cosine schedule, EMA weights) on
the mnist10k split under a time budget, then reports:

* **FCD and class coverage** of ``--n-samples`` DDIM samples (``--sample-steps`` steps),
  scored exactly as ``recipes/compare_generative.py`` scores the DCGAN: the cached
  classifier trained on the training labels, grey samples against the grey test images
  (``SampleQuality(extractor, x_test, x_train)``);
* **the variational bound** (Ho et al. Eq. 5, discretized decoder) in bits/dim on the
  first ``--bpd-images`` test images, all ``T`` terms;
* **sampler speed**: seconds per image of the compiled DDIM loop (one ``tf.while_loop``)
  against the Python loop over steps (``sample_naive``), same images, same steps, at a
  small batch where Python's per-step overhead shows;
* training time; figures ``samples.png`` and ``trajectory.png`` (denoising strips).

Usage:
    python recipes/diffusion.py                            # ~30 min of training on 2 CPU cores
    python recipes/diffusion.py --time-budget-min 5 --n-samples 1000 --bpd-images 20   # a quick look
    python recipes/diffusion.py --resume runs/diffusion/diffusion.keras --out runs/diffusion2   # train on
"""

from __future__ import annotations

import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras_ae  # noqa: F401  (first: it hides TensorFlow's C++ start-up lines, keras_ae.quiet)

import keras
import numpy as np

from keras_ae.evaluation import SampleQuality, dataset_classifier
from keras_ae.experiment import TimeBudget, load_recipe_data, read_results, recipe_parser, write_results
from keras_ae.models.diffusion import build_diffusion
from keras_ae.plotting import save_image_grid, save_image_rows

DCGAN_FCD = 12.6  # docs/results.md: recipes/gan.py on the same split, scored by compare_generative.py


def parse_args(argv=None):
    parser = recipe_parser("diffusion", __doc__.splitlines()[0], dataset="mnist", epochs=200)
    parser.add_argument("--channels", type=int, nargs="+", default=[16, 32, 64], help="U-Net channels per level")
    parser.add_argument("--no-attention", action="store_true", help="no self-attention at the lowest resolution")
    parser.add_argument("--timesteps", type=int, default=1000, help="T")
    parser.add_argument("--schedule", default="cosine", choices=("cosine", "linear"))
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate after the warm-up")
    parser.add_argument("--warmup-steps", type=int, default=200)
    parser.add_argument("--ema-decay", type=float, default=0.999)
    parser.add_argument("--time-budget-min", type=float, default=25.0, help="stop training after this many minutes")
    parser.add_argument("--n-samples", type=int, default=10_000, help="DDIM samples scored (FCD, coverage)")
    parser.add_argument("--sample-steps", type=int, default=20, help="DDIM steps of the scored samples (<= 100)")
    parser.add_argument("--sample-batch", type=int, default=500)
    parser.add_argument("--bpd-images", type=int, default=50, help="test images of the bits/dim bound")
    parser.add_argument("--bench-images", type=int, default=8, help="batch of the sampler speed comparison")
    parser.add_argument("--cache-dir", default=None, help="feature-classifier cache (default ~/.cache/keras_ae)")
    parser.add_argument("--resume", default=None, metavar="MODEL",
                        help="continue training this saved model (its results.json's training time is added)")
    return parser.parse_args(argv)


def sampler_speed(model, n: int, steps: int, seed: int) -> dict:
    """Seconds per image of the compiled loop and of the Python loop (same images), after a warm-up."""
    model.sample(n, steps=steps, seed=seed)  # traces the compiled loop
    model.sample_naive(n, steps=2, seed=seed)
    compiled_s, naive_s = [], []
    for _ in range(2):  # the faster of two runs each: other jobs share the CPU
        start = time.perf_counter()
        compiled = model.sample(n, steps=steps, seed=seed)
        compiled_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        naive = model.sample_naive(n, steps=steps, seed=seed)
        naive_s.append(time.perf_counter() - start)
    compiled_s, naive_s = min(compiled_s), min(naive_s)
    return {"images": n, "steps": steps, "compiled_s_per_image": compiled_s / n, "python_loop_s_per_image": naive_s / n,
            "speedup": naive_s / compiled_s, "max_abs_difference": float(np.abs(compiled - naive).max())}


def main(argv=None) -> dict:
    args = parse_args(argv)
    keras.utils.set_random_seed(args.seed)
    (x_train, y_train), (x_test, y_test) = load_recipe_data(args)
    split = f"{args.dataset} ({len(x_train)} train / {len(x_test)} test)"
    print(f"data: {split}")
    # The classifier and real-data setup of compare_generative.py for grey samples (the DCGAN's row).
    extractor = dataset_classifier(x_train, y_train, dataset=f"{args.dataset}{len(x_train)}", x_test=x_test,
                                   y_test=y_test, cache_dir=args.cache_dir, seed=args.seed)
    quality = SampleQuality(extractor, x_test, x_train, verbose=0)

    previous_s, previous_epochs = 0.0, 0
    if args.resume:  # EMA network, optimizer state and step count come with the model
        model = keras.saving.load_model(args.resume)
        model.ema_decay = args.ema_decay
        recorded = read_results(args.resume).get("results", {})
        if "train_seconds" not in recorded or "epochs" not in recorded:
            raise SystemExit(f"--resume {args.resume}: no results.json with train_seconds and epochs beside it "
                             "(the one this recipe writes with the model).")
        previous_s, previous_epochs = recorded["train_seconds"], recorded["epochs"]
        print(f"resuming {args.resume}: {previous_epochs} epochs, {previous_s / 60:.1f} min of training so far")
    else:
        model = build_diffusion(x_train.shape[1:], channels=tuple(args.channels), attention=not args.no_attention,
                                timesteps=args.timesteps, schedule=args.schedule, ema_decay=args.ema_decay,
                                sample_steps=args.sample_steps, seed=args.seed)
        lr = keras.optimizers.schedules.CosineDecay(0.0, decay_steps=1, alpha=1.0, warmup_target=args.lr,
                                                    warmup_steps=args.warmup_steps)  # linear warm-up, then constant
        model.compile(optimizer=keras.optimizers.Adam(lr))
    budget = TimeBudget(args.time_budget_min)
    history = model.fit(x_train, epochs=args.epochs, batch_size=args.batch_size, callbacks=[budget], verbose=2)
    budget.train_s += previous_s
    budget.epochs += previous_epochs
    os.makedirs(args.out, exist_ok=True)
    model.save(os.path.join(args.out, "diffusion.keras"))
    print(f"training: {budget.epochs} epochs, {budget.train_s / 60:.1f} min; "
          f"final loss {history.history['loss'][-1]:.4f}")

    start = time.perf_counter()
    samples = model.sample(args.n_samples, steps=args.sample_steps, method="ddim", seed=args.seed,
                           batch_size=args.sample_batch, verbose=2)
    sample_s = time.perf_counter() - start
    metrics = quality.evaluate(samples, verbose=0)
    save_image_grid(samples[:100], os.path.join(args.out, "samples.png"),
                    title=f"DDPM, {args.sample_steps} DDIM steps (EMA weights)")
    print(f"FCD {metrics['frechet_distance']:.3f} (real floor {metrics['frechet_distance_real']:.3f}, "
          f"DCGAN {DCGAN_FCD}); "
          f"classes covered {metrics['classes_covered']}; sampling {sample_s:.0f} s")

    _, frames = model.sample_naive(6, steps=args.sample_steps, seed=args.seed + 1, return_trajectory=True)
    shown = np.unique(np.linspace(0, len(frames) - 1, 10).round().astype(int))
    save_image_rows({f"image {i + 1}": frames[shown, i] for i in range(frames.shape[1])},
                    os.path.join(args.out, "trajectory.png"), n=len(shown),
                    title=f"denoising: x_T (left) to x_0 (right), DDIM steps {shown.tolist()} of {args.sample_steps}")

    speed = sampler_speed(model, args.bench_images, args.sample_steps, args.seed)
    print(f"sampler: compiled {speed['compiled_s_per_image'] * 1000:.1f} ms/image, Python loop "
          f"{speed['python_loop_s_per_image'] * 1000:.1f} ms/image: {speed['speedup']:.1f}x")

    start = time.perf_counter()
    x_bpd = x_test[:args.bpd_images]
    ll, terms = model.log_likelihood(x_bpd, batch_size=50, verbose=2, return_terms=True)
    bound_s = time.perf_counter() - start
    bpd = -ll / (np.prod(x_test.shape[1:]) * np.log(2.0))
    print(f"bound: {bpd.mean():.4f} bits/dim on {len(x_bpd)} test images ({bound_s:.0f} s)")

    fractions = np.asarray(metrics["class_fractions"])
    rows = [{
        "model": f"DDPM U-Net {'-'.join(map(str, args.channels))} ({model.network.count_params() / 1e6:.2f}M)",
        "epochs": budget.epochs, "train min": round(budget.train_s / 60, 1),
        "samples": args.n_samples, "DDIM steps": args.sample_steps,
        "FCD": round(metrics["frechet_distance"], 3), "FCD real": round(metrics["frechet_distance_real"], 3),
        "classes covered": metrics["classes_covered"],
        "min / max class %": f"{100 * fractions.min():.1f} / {100 * fractions.max():.1f}",
        "bits/dim bound": f"{bpd.mean():.3f} ± {bpd.std(ddof=1) / np.sqrt(len(bpd)):.3f} ({len(bpd)} images)",
        "ms / sample": round(1000 * sample_s / args.n_samples, 2),
        "compiled vs Python loop": f"{speed['speedup']:.1f}x",
    }]
    checks = {
        "fcd_below_dcgan": metrics["frechet_distance"] < DCGAN_FCD,
        "all_classes_covered": metrics["classes_covered"] == 10,
        "compiled_sampler_5x_faster": speed["speedup"] >= 5.0,
        "ddim_steps_at_most_100": args.sample_steps <= 100,
    }
    results = {
        "split": split, "parameters": model.network.count_params(), "epochs": budget.epochs,
        "train_seconds": budget.train_s, "final_loss": history.history["loss"][-1],
        "fcd": metrics["frechet_distance"], "fcd_real_floor": metrics["frechet_distance_real"],
        "dcgan_fcd": DCGAN_FCD, "classes_covered": metrics["classes_covered"],
        "class_fractions": metrics["class_fractions"], "sampling_seconds": sample_s,
        "bits_per_dim_bound": float(bpd.mean()), "bits_per_dim_sem": float(bpd.std(ddof=1) / np.sqrt(len(bpd))),
        "bound_images": len(bpd), "bound_terms_nats": terms, "bound_seconds": bound_s, "sampler_speed": speed,
        "classifier_test_accuracy": extractor.info.get("test_accuracy"), "checks": checks,
        "history": history.history, "load_average": os.getloadavg(), "resumed_from": args.resume,
        "ema_decay": model.ema_decay,
    }
    write_results(args.out, results, rows, args)
    print("checks: " + ", ".join(f"{k}={v}" for k, v in checks.items()))
    return results


if __name__ == "__main__":
    main()
