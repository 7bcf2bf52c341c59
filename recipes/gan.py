"""Recipe: train a DCGAN (or WGAN-GP) on MNIST and measure its samples.

Trains ``build_dcgan`` on the mnist10k split, and at a few checkpoints (including the
untrained generator, epoch 0) scores 10,000 samples against the test split with the
Frechet classifier distance (FCD), the kernel distance (KID), the classifier score and
the class histogram, each next to its real-data floor (train vs test). Saves a
fixed-noise sample grid every few epochs, the final model, and results.json. With
``--vae-model`` it scores that VAE's samples on the same metrics.

Usage:
    python recipes/gan.py                                  # DCGAN, non-saturating loss
    python recipes/gan.py --loss wasserstein_gp            # WGAN-GP (layer-norm critic, 5 critic steps)
    python recipes/gan.py --vae-model runs/vae/vae.keras   # also score a VAE's samples
"""

from __future__ import annotations

import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras_ae  # noqa: F401  (first: it hides TensorFlow's C++ start-up lines, keras_ae.quiet)

import keras
import numpy as np
import tensorflow as tf

from keras_ae.errors import TrainingDivergedError
from keras_ae.evaluation import SampleQuality, dataset_classifier
from keras_ae.experiment import fit_recipe_model, format_table, load_recipe_data, recipe_parser, write_results
from keras_ae.models.gan import GANMonitor, build_dcgan
from keras_ae.plotting import save_image_grid



class CheckpointEvaluator(keras.callbacks.Callback):
    """Times training (excluding evaluation), scores samples at checkpoints, enforces a time budget."""

    def __init__(self, quality: SampleQuality, checkpoints: set[int], n_samples: int, budget_s: float, seed: int):
        super().__init__()
        self.quality, self.checkpoints, self.n_samples = quality, checkpoints, n_samples
        self.budget_s, self.seed = budget_s, seed
        self.train_s = 0.0
        self.train_cpu_s = 0.0
        self.rows: list[dict] = []
        self.epochs_done = 0

    def evaluate(self, epoch: int) -> dict:
        samples = self.model.sample(self.n_samples, seed=self.seed, unit_range=True, verbose=0)
        metrics = self.quality.evaluate(samples, verbose=0)
        row = {"epoch": epoch, "train_min": self.train_s / 60, "train_cpu_min": self.train_cpu_s / 60, **metrics}
        self.rows.append(row)
        floor = metrics.get("frechet_distance_real", float("nan"))
        print(f"\n[epoch {epoch}] FCD {metrics['frechet_distance']:.3f} (real {floor:.3f})"
              f"  KID {metrics['kernel_distance']:.4f}  score {metrics['classifier_score']:.2f}"
              f"  classes {metrics['min_class_fraction']:.3f}-{metrics['max_class_fraction']:.3f}"
              f"  train {self.train_s / 60:.1f} min")
        return row

    def on_epoch_begin(self, epoch, logs=None):
        self._t0, self._c0 = time.perf_counter(), time.process_time()

    def on_epoch_end(self, epoch, logs=None):
        self.train_s += time.perf_counter() - self._t0
        self.train_cpu_s += time.process_time() - self._c0
        self.epochs_done = epoch + 1
        over_budget = self.train_s >= self.budget_s
        if over_budget:
            print(f"\nTime budget reached after epoch {epoch + 1} ({self.train_s / 60:.1f} min of training).")
            self.model.stop_training = True
        if epoch + 1 in self.checkpoints or over_budget or epoch + 1 == self.params.get("epochs"):
            self.evaluate(epoch + 1)


def load_vae(path: str):
    """Loads a keras_ae VAE saved as ``.keras`` (its classes register on import)."""
    try:
        import keras_ae.models.vae  # noqa: F401  (registers the VAE classes for loading)
    except ImportError as exc:
        raise SystemExit(f"--vae-model needs keras_ae.models.vae, which is not installed here ({exc}).")
    if not os.path.isfile(path):
        raise SystemExit(f"--vae-model: no such file {path}")
    return keras.models.load_model(path)


def summary_row(name: str, m: dict) -> dict:
    return {"model": name, "epoch": m.get("epoch", ""), "train min": m.get("train_min", ""),
            "FCD": m["frechet_distance"], "FCD real": m.get("frechet_distance_real", ""),
            "KID": m["kernel_distance"], "KID real": m.get("kernel_distance_real", ""),
            "score": m["classifier_score"], "score real": m.get("classifier_score_real", ""),
            "min class %": 100 * m["min_class_fraction"], "max class %": 100 * m["max_class_fraction"],
            "entropy": m["class_entropy"]}


def main(argv=None) -> dict:
    parser = recipe_parser("gan", __doc__.splitlines()[0], epochs=60)
    parser.add_argument("--loss", default="non_saturating",
                        choices=["non_saturating", "minimax", "least_squares", "hinge", "wasserstein_gp"],
                        help="GAN loss (wasserstein_gp: layer-norm critic, 5 critic steps per generator step)")
    parser.add_argument("--batch-size", type=int, default=64, help="examples per step")
    parser.add_argument("--latent-dim", type=int, default=100, help="size of z")
    parser.add_argument("--filters", type=int, nargs="+", default=[64, 32], help="DCGAN generator filters")
    parser.add_argument("--data-range", default="0,1", choices=["0,1", "-1,1"],
                        help="generator output range: 0,1 (sigmoid) or -1,1 (tanh, data rescaled)")
    parser.add_argument("--ema-decay", type=float, default=0.99, help="generator weight EMA (0 disables)")
    parser.add_argument("--lr", type=float, default=None, help="learning rate of both optimizers (default per loss)")
    parser.add_argument("--jit-compile", default="auto", choices=["auto", "true", "false"],
                        help="XLA for the train step; auto: only with a GPU (bench_gan.py: XLA is slower on CPU)")
    parser.add_argument("--checkpoints", type=int, nargs="+", default=[5, 10, 20, 40],
                        help="epochs at which samples are scored (plus epoch 0 and the last)")
    parser.add_argument("--grid-every", type=int, default=5, help="save a fixed-noise grid every N epochs")
    parser.add_argument("--n-samples", type=int, default=10_000, help="samples scored per checkpoint")
    parser.add_argument("--time-budget-min", type=float, default=15.0, help="stop training after this many minutes")
    parser.add_argument("--vae-model", default=None, help="a VAE .keras file whose samples are scored too")
    parser.add_argument("--cache-dir", default=None, help="feature-classifier cache (default ~/.cache/keras_ae)")
    args = parser.parse_args(argv)
    out = os.path.join(args.out, args.loss)
    keras.utils.set_random_seed(args.seed)

    (x_train, y_train), (x_test, y_test) = load_recipe_data(args)
    split = f"{args.dataset} ({len(x_train)} train / {len(x_test)} test)"
    print(f"data: {split}")
    extractor = dataset_classifier(x_train, y_train, dataset=f"{args.dataset}{len(x_train)}", x_test=x_test,
                                   y_test=y_test, cache_dir=args.cache_dir, seed=args.seed)
    print(f"feature classifier: test accuracy {extractor.info.get('test_accuracy', float('nan')):.4f} "
          f"({'cached' if extractor.info['from_cache'] else 'trained'}: {extractor.info['cache_file']})")
    quality = SampleQuality(extractor, x_test, x_train)

    wgan = args.loss == "wasserstein_gp"
    data_range = (0.0, 1.0) if args.data_range == "0,1" else (-1.0, 1.0)
    gan = build_dcgan(x_train.shape[1:], latent_dim=args.latent_dim, filters=tuple(args.filters),
                      data_range=data_range, discriminator_norm="layer" if wgan else "batch",
                      ema_decay=args.ema_decay or None, seed=args.seed)
    optimizers = {}
    if args.lr:
        betas = dict(beta_1=0.0, beta_2=0.9) if wgan else dict(beta_1=0.5)
        optimizers = {"d_optimizer": keras.optimizers.Adam(args.lr, **betas),
                      "g_optimizer": keras.optimizers.Adam(args.lr, **betas)}
    jit = args.jit_compile == "true" or (args.jit_compile == "auto" and bool(tf.config.list_physical_devices("GPU")))
    gan.compile(loss=args.loss, jit_compile=jit, **optimizers)
    gan.generator.summary()

    evaluator = CheckpointEvaluator(quality, set(args.checkpoints), args.n_samples, args.time_budget_min * 60,
                                    args.seed)
    evaluator.set_model(gan)
    untrained = evaluator.evaluate(0)
    monitor = GANMonitor(os.path.join(out, "grids"), every=args.grid_every, seed=args.seed)
    monitor.set_model(gan)
    monitor.save(0)
    diverged = None
    try:
        # No best.keras: GAN losses do not rank generators (the evaluator scores samples).
        history = fit_recipe_model(gan, gan.from_unit_range(x_train), args, monitor=None, epochs=args.epochs,
                                   batch_size=args.batch_size, callbacks=[evaluator, monitor], verbose=2)
    except TrainingDivergedError as exc:  # weights are already restored to the last finite ones
        print(f"\n{exc}")
        diverged, history = str(exc), exc.history.history
        evaluator.evaluate(evaluator.epochs_done)
    final = evaluator.rows[-1]
    raw_samples = gan.sample(args.n_samples, seed=args.seed, use_ema=False, unit_range=True, verbose=0)
    raw = quality.evaluate(raw_samples, verbose=0)
    save_image_grid(gan.sample(100, seed=args.seed + 1, unit_range=True), os.path.join(out, "samples.png"),
                    title=f"DCGAN ({args.loss}) samples, epoch {final['epoch']}")
    gan.save(os.path.join(out, "dcgan.keras"))

    rows = [summary_row(f"DCGAN {args.loss}", r) for r in evaluator.rows]
    rows.append(summary_row("DCGAN raw G (no EMA)", {**raw, "epoch": final["epoch"]}))
    vae_metrics = None
    if args.vae_model:
        vae = load_vae(args.vae_model)
        vae_samples = np.clip(np.asarray(vae.sample(args.n_samples, seed=args.seed), np.float32), 0.0, 1.0)
        vae_samples = vae_samples.reshape((len(vae_samples), *x_test.shape[1:]))
        vae_metrics = quality.evaluate(vae_samples, verbose=0)
        save_image_grid(vae_samples[:100], os.path.join(out, "vae_samples.png"), title="VAE samples")
        rows.append(summary_row(f"VAE ({os.path.basename(args.vae_model)})", vae_metrics))

    fractions = np.array(final["class_fractions"])
    fcds = [r["frechet_distance"] for r in evaluator.rows]
    checks = {
        "fcd_at_most_tenth_of_untrained": fcds[-1] <= fcds[0] / 10,
        "every_class_5_to_15_percent": bool(((fractions >= 0.05) & (fractions <= 0.15)).all()),
        "no_nan": diverged is None and all(np.isfinite(v).all() for v in history.values()),
        "fcd_improves_checkpoint_to_checkpoint": all(b < a for a, b in zip(fcds, fcds[1:])),
    }
    if vae_metrics is not None:
        checks["fcd_below_vae"] = final["frechet_distance"] < vae_metrics["frechet_distance"]
    results = {
        "split": split, "loss": args.loss, "epochs": evaluator.epochs_done, "train_minutes": evaluator.train_s / 60,
        "train_cpu_minutes": evaluator.train_cpu_s / 60, "fcd_untrained": untrained["frechet_distance"],
        "fcd_final": final["frechet_distance"], "fcd_real_floor": final["frechet_distance_real"],
        "fcd_ratio_final_to_untrained": final["frechet_distance"] / untrained["frechet_distance"],
        "kid_final": final["kernel_distance"], "kid_real_floor": final["kernel_distance_real"],
        "classifier_score_final": final["classifier_score"], "classifier_score_real": final["classifier_score_real"],
        "class_fractions_final": final["class_fractions"], "fcd_raw_generator": raw["frechet_distance"],
        "classifier_test_accuracy": extractor.info.get("test_accuracy"),
        "vae": vae_metrics, "checks": checks, "diverged": diverged, "checkpoints": evaluator.rows,
        "history": history,
        "grids": [str(p) for p in monitor.paths],
    }
    write_results(out, results, rows, args)
    print(f"\nclass fractions at epoch {final['epoch']}: " + " ".join(f"{f:.3f}" for f in fractions))
    print(format_table([{"check": k, "passed": v} for k, v in checks.items()]))
    return results


if __name__ == "__main__":
    main()
