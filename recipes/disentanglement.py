"""Recipe: VAE, beta-VAE, beta-TCVAE and FactorVAE on sprites, several seeds, five disentanglement metrics.

Trains the four models on generated sprites (``load_dataset("sprites")``: 64x64 binary images
of a shape at a scale, an orientation and an ``(x, y)`` position, the factor grid of dSprites),
once per seed in ``--seeds``, all with the same convolutional encoder and decoder (stride-2
3x3 convolutions ``--filters``, a Bernoulli likelihood, ``--latent-dim`` 10) and ``compile()``'s
Adam (with its average of the weights, which the model keeps after ``fit``):

| model | builder | objective |
| --- | --- | --- |
| ``vae`` | ``build_vae`` | the ELBO |
| ``beta_vae`` | ``build_vae(beta=4)`` | KL weighted by ``--beta`` (Higgins et al. 2017) |
| ``beta_tcvae`` | ``build_beta_tcvae(beta=6)`` | total correlation weighted by ``--tc-beta`` (Chen et al. 2018) |
| ``factor_vae`` | ``build_factor_vae(gamma=35)`` | ELBO + ``--gamma`` x a discriminator's TC (Kim & Mnih 2018) |

Each trained model is scored by ``keras_ae.evaluation.disentanglement``: MIG, SAP and DCI
disentanglement on the posterior means of ``--metric-samples`` freshly drawn sprites (two
thirds fit the predictors, one third scores them; MIG reads the first two thirds), the
FactorVAE and beta-VAE scores on ``--score-points`` interventions (half as many more to score
them), plus the test split's reconstruction error (summed Bernoulli cross-entropy of the
decoded posterior mean, nats per image), its negative ELBO and the active units. The recipe
prints a row per (model, seed) and the summary, mean +- standard deviation over the seeds.

Writes ``results.json`` (the summary as its table rows, every run under ``runs``),
``traversal.png`` (latent traversals of the run with the highest MIG, saved as
``best.keras``) and ``reconstructions.png`` (test sprites and each model's reconstruction,
first seed) to ``--out``. The data is always the generated sprites: ``--dataset`` takes only
``sprites`` and ``--data-dir`` is unused; ``--seed`` seeds the data and the metrics' draws,
``--seeds`` the models.

Cost: 20 epochs of 16,000 sprites are 5,000 steps of 64 (published dSprites runs train for
300,000); at the 210 ms per step measured on a shared 2-core CPU (load ~6) a model trains in
about 17 min, so the 12 runs take about 3.5 h, plus a minute or two of metrics each
(``--time-budget-min`` caps each model's training). With ``--epochs 8`` (2,000 steps) the 12
runs took 108 min on a shared 2-core CPU (3-9 min of training and 1.3-3 min of metrics each).
One DCI gradient-boosted classifier of the 40 orientations on 3,000 codes took 2.9 s for 10
trees on that machine, hence 50 trees (``--dci-estimators``) on 4,000 codes rather than
disentanglement_lib's 100 on 10,000.

Usage:
    python recipes/disentanglement.py                                # 4 models x 3 seeds, the full table (hours)
    python recipes/disentanglement.py --seeds 0 --n-samples 1000 --epochs 3 --batch-size 16 --filters 16 16 32 32 \\
        --metric-samples 600 --score-points 30 --score-batch 16 --dci-estimators 5   # a quick look (~1 min)
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras_ae  # noqa: F401  (first: it hides TensorFlow's C++ start-up lines, keras_ae.quiet)

import keras
import numpy as np
import tensorflow as tf

from keras_ae import build_beta_tcvae, build_factor_vae, build_vae, load_dataset
from keras_ae.data.sprites import Sprites
from keras_ae.evaluation import active_units, beta_vae_score, dci, factor_vae_score, mig, sap
from keras_ae.experiment import TimeBudget, format_table, recipe_parser, write_results
from keras_ae.plotting import plot_latent_traversal, save_image_rows

MODELS = ("vae", "beta_vae", "beta_tcvae", "factor_vae")
LABELS = {"vae": "VAE", "beta_vae": "beta-VAE", "beta_tcvae": "beta-TCVAE", "factor_vae": "FactorVAE"}
# Table columns: the five metrics, then the test reconstruction error, the negative ELBO and the active units.
METRICS = {"mig": "MIG", "sap": "SAP", "dci": "DCI D", "factor_vae_score": "FactorVAE score",
           "beta_vae_score": "beta-VAE score", "reconstruction": "recon nats", "neg_elbo": "-ELBO nats",
           "active_units": "active units"}
CHUNK = 2048  # sprites rendered and encoded at a time for the metric codes (32 MB of images)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line arguments; ``--dataset`` other than ``sprites`` is refused.

    Example:
        >>> args = parse_args([])
        >>> args.models, args.seeds, args.batch_size
        (['vae', 'beta_vae', 'beta_tcvae', 'factor_vae'], [0, 1, 2], 64)
    """
    parser = recipe_parser("disentanglement", __doc__.splitlines()[0], dataset="sprites", epochs=20)
    parser.add_argument("--dataset", default="sprites",
                        help="only 'sprites': the metrics need the factors that generated each image")
    parser.add_argument("--data-dir", default=None, help="unused: the sprites are generated, not read")
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="one trained model per seed")
    parser.add_argument("--n-samples", type=int, default=20_000, help="sprites drawn, 80%% train / 20%% test")
    parser.add_argument("--batch-size", type=int, default=64, help="mini-batch size")
    parser.add_argument("--time-budget-min", type=float, default=None,
                        help="stop each model's training after the epoch that passes this many minutes")
    parser.add_argument("--latent-dim", type=int, default=10, help="code size of every model")
    parser.add_argument("--filters", type=int, nargs="+", default=[32, 32, 64, 64],
                        help="channels of the stride-2 convolutions (the decoder mirrors them)")
    parser.add_argument("--beta", type=float, default=4.0, help="beta-VAE: KL weight")
    parser.add_argument("--tc-beta", type=float, default=6.0, help="beta-TCVAE: total-correlation weight")
    parser.add_argument("--gamma", type=float, default=35.0, help="FactorVAE: total-correlation weight (the "
                                                                  "paper's dSprites value)")
    parser.add_argument("--metric-samples", type=int, default=6000,
                        help="sprites whose codes MIG, SAP and DCI read (2/3 fit, 1/3 score); also the "
                             "FactorVAE score's variance estimate")
    parser.add_argument("--score-points", type=int, default=500,
                        help="FactorVAE and beta-VAE scores: training points (and half as many to score)")
    parser.add_argument("--score-batch", type=int, default=64, help="FactorVAE and beta-VAE scores: images per point")
    parser.add_argument("--dci-estimators", type=int, default=50, help="DCI: boosted trees per class")
    parser.add_argument("--progress", type=int, default=1, help="progress bars of fit and the scores (0: off)")
    args = parser.parse_args(argv)
    if args.dataset != "sprites":
        parser.error(f"--dataset {args.dataset[:40]!r}: this recipe scores codes against the factors that generated "
                     "each image, so its data is always the generated sprites; pass --dataset sprites or leave it out.")
    if len(set(args.seeds)) != len(args.seeds):
        parser.error(f"--seeds {args.seeds}: each seed once (repeats would count one run twice in the spread).")
    for flag in ("epochs", "n_samples", "batch_size", "latent_dim", "metric_samples", "score_points", "dci_estimators"):
        if getattr(args, flag) < 1:
            parser.error(f"--{flag.replace('_', '-')} must be at least 1, got {getattr(args, flag)}.")
    if args.latent_dim < 2:
        parser.error("--latent-dim must be at least 2: MIG and SAP compare the two best code dimensions.")
    return args


def build(name: str, args: argparse.Namespace, seed: int, dataset_size: int) -> keras.Model:
    """The model ``name`` on the shared networks, compiled with Adam (the builders' default)."""
    common = dict(latent_dim=args.latent_dim, encoder="conv", filters=tuple(args.filters), likelihood="bernoulli",
                  seed=seed, name=name)
    shape = (64, 64, 1)
    if name == "vae":
        model = build_vae(shape, **common)
    elif name == "beta_vae":
        model = build_vae(shape, beta=args.beta, **common)
    elif name == "beta_tcvae":
        model = build_beta_tcvae(shape, beta=args.tc_beta, dataset_size=dataset_size, **common)
    else:
        model = build_factor_vae(shape, gamma=args.gamma, **common)
    model.compile()  # FactorVAE: and the paper's discriminator optimizer, Adam(1e-4, 0.5, 0.9)
    return model


def reconstruction_nats(model, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """``-log p(x | z = posterior mean)`` per image: the summed Bernoulli cross-entropy of the reconstruction."""
    codes = model.codes(x, batch_size=batch_size)
    return np.concatenate([-model.data_log_prob(tf.constant(codes[i:i + batch_size]),
                                                tf.constant(x[i:i + batch_size])).numpy()
                           for i in range(0, len(x), batch_size)]).astype(np.float64)


def metric_codes(model, sprites: Sprites, factors: np.ndarray) -> np.ndarray:
    """Posterior means of the sprites of ``factors``, rendered :data:`CHUNK` at a time."""
    return np.concatenate([model.codes(sprites.images_from_factors(factors[i:i + CHUNK]))
                           for i in range(0, len(factors), CHUNK)])


def evaluate(model, sprites: Sprites, factors: np.ndarray, x_test: np.ndarray, args: argparse.Namespace) -> dict:
    """The five metrics, the reconstruction error, the negative ELBO and the active units of one model."""
    verbose = args.progress
    codes = metric_codes(model, sprites, factors)
    n_fit = 2 * len(codes) // 3
    fit, score = (codes[:n_fit], factors[:n_fit]), (codes[n_fit:], factors[n_fit:])
    mig_result = mig(*fit)
    sap_result = sap(*fit, *score)
    dci_result = dci(*fit, *score, n_estimators=args.dci_estimators, seed=args.seed)
    points = dict(seed=args.seed, batch_size=args.score_batch, n_train=args.score_points,
                  n_eval=max(1, args.score_points // 2), verbose=verbose)
    factor_score = factor_vae_score(sprites, model.codes, n_variance_estimate=max(2, args.metric_samples), **points)
    beta_score = beta_vae_score(sprites, model.codes, **points)
    units = active_units(model, x_test)
    return {"mig": mig_result["mig"], "sap": sap_result["sap"], "dci": dci_result["disentanglement"],
            "factor_vae_score": factor_score["eval_accuracy"], "beta_vae_score": beta_score["eval_accuracy"],
            "reconstruction": float(reconstruction_nats(model, x_test).mean()),
            "neg_elbo": float(-model.elbo(x_test, seed=args.seed).mean()), "active_units": units["count"],
            "mig_per_factor": mig_result["per_factor"].tolist(), "sap_per_factor": sap_result["per_factor"].tolist(),
            "dci_completeness": dci_result["completeness"], "dci_informativeness": dci_result["informativeness"],
            "factor_vae_active_dims": factor_score["num_active_dims"]}


def spread(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single seed).

    Example:
        >>> spread([1.0, 2.0, 3.0])
        (2.0, 1.0)
    """
    values = np.asarray(values, np.float64)
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0


def summarize(runs: list[dict], models: list[str]) -> tuple[dict, list[dict]]:
    """Per model: mean and standard deviation over seeds of every table metric; and the summary rows."""
    summary, rows = {}, []
    for name in models:
        mine = [run for run in runs if run["model"] == name]
        summary[name] = {key: dict(zip(("mean", "std"), spread([run[key] for run in mine]))) for key in METRICS}
        row = {"model": LABELS[name], "seeds": len(mine)}
        for key, column in METRICS.items():
            mean, std = summary[name][key]["mean"], summary[name][key]["std"]
            row[column] = f"{mean:.1f} ± {std:.1f}" if key in ("reconstruction", "neg_elbo", "active_units") \
                else f"{mean:.3f} ± {std:.3f}"
        rows.append(row)
    return summary, rows


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    (x_train, _), (x_test, _) = load_dataset("sprites", n_samples=args.n_samples, seed=args.seed)
    sprites = Sprites()
    # The metric sprites: one draw shared by every model, apart from the training draw (seed args.seed).
    factors = sprites.sample_factors(args.metric_samples, np.random.default_rng([args.seed % 2**32, 1]))
    print(f"data: sprites {sprites.factor_sizes}, {len(x_train)} train / {len(x_test)} test; metric codes of "
          f"{len(factors)} more", flush=True)
    os.makedirs(args.out, exist_ok=True)
    runs, recon_rows, best = [], {"sprites": x_test[:10]}, None
    for name in args.models:
        for seed in args.seeds:
            keras.utils.set_random_seed(seed)  # the weights' initialization; the model's own stream takes seed=
            model = build(name, args, seed, dataset_size=len(x_train))
            budget = TimeBudget(args.time_budget_min)
            model.fit(x_train, epochs=args.epochs, batch_size=args.batch_size, callbacks=[budget],
                      verbose=args.progress)
            start = time.perf_counter()
            scores = evaluate(model, sprites, factors, x_test, args)
            run = {"model": name, "seed": seed, **scores, "epochs": budget.epochs, "train_s": budget.train_s,
                   "eval_s": time.perf_counter() - start}
            runs.append(run)
            print(f"{LABELS[name]} seed {seed}: " + ", ".join(f"{column} {scores[key]:.3f}"
                                                             for key, column in METRICS.items()), flush=True)
            if seed == args.seeds[0]:
                recon_rows[f"{LABELS[name]} s{seed}"] = model.reconstruct(x_test[:10])
            if best is None or scores["mig"] > best["mig"]:
                best = {"model": name, "seed": seed, "mig": scores["mig"]}
                model.save(os.path.join(args.out, "best.keras"))
                plot_latent_traversal(model, x_test[0], x=x_test[:1000], path=os.path.join(args.out, "traversal.png"),
                                      title=f"{LABELS[name]} (seed {seed}), MIG {scores['mig']:.3f}: the active "
                                            "units, one row each")
            del model
            keras.backend.clear_session()
    save_image_rows(recon_rows, os.path.join(args.out, "reconstructions.png"),
                    title="test sprites and their reconstructions (first seed)")
    table = [{"model": LABELS[run["model"]], "seed": run["seed"],
              **{column: round(float(run[key]), 4) for key, column in METRICS.items()},
              "epochs": run["epochs"], "train s": round(run["train_s"]), "eval s": round(run["eval_s"])}
             for run in runs]
    print(format_table(table))
    summary, rows = summarize(runs, args.models)
    results = {"data": {"dataset": "sprites", "factor_sizes": list(sprites.factor_sizes), "train": len(x_train),
                        "test": len(x_test), "metric_samples": len(factors)},
               "seeds": args.seeds, "summary": summary, "runs": runs, "best": best}
    # What a decoder that ignores z reaches at best: every pixel at its training frequency.
    p = np.clip(x_train.mean(axis=0), 1e-6, 1 - 1e-6)
    results["mean_image_nats"] = float(-(x_test * np.log(p) + (1 - x_test) * np.log1p(-p)).sum(axis=(1, 2, 3)).mean())
    print(f"reference: the mean training image reconstructs every test sprite at {results['mean_image_nats']:.1f} "
          "nats")
    if {"vae", "beta_tcvae"} <= set(args.models):
        tc, plain = summary["beta_tcvae"]["mig"], summary["vae"]["mig"]
        results["beta_tcvae_mig_above_vae"] = bool(tc["mean"] > plain["mean"])
        print(f"MIG over {len(args.seeds)} seed(s): beta-TCVAE {tc['mean']:.3f} ± {tc['std']:.3f}, VAE "
              f"{plain['mean']:.3f} ± {plain['std']:.3f}: beta-TCVAE "
              f"{'above' if results['beta_tcvae_mig_above_vae'] else 'NOT above'} the VAE.")
    print(f"summary: mean ± standard deviation over seeds {args.seeds}")
    write_results(args.out, results, rows, args)
    return results


if __name__ == "__main__":
    main()
