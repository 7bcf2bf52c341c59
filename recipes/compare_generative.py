"""One table for every generative model in keras_ae: likelihood, sample quality and cost.

Loads the models the other recipes saved and scores them on the same test split (the
mnist10k test images, binarized once with seed 0 as in the VAE and PixelCNN recipes):

* **data**: what the likelihood is of. Binary models (VAEs, VQ-VAE, PixelCNN, PixelRNN)
  score the binarized test images in nats; RealNVP and the diffusion model score the
  8-bit test images, dequantized, best read in bits/dim. The two are never comparable.
  The GAN and the latent samplers have no likelihood ("grey, no likelihood");
* **NLL** in nats per image and bits/dim: exact for PixelCNN / PixelRNN and RealNVP, the
  IWAE bound L_k (k=5000, Burda et al. 2016) for VAEs, the VampPrior VAE included (read
  from the VAE recipe's results.json unless ``--recompute-iwae``), the bound
  log p(x|z_q(x)) + log p(z_q(x)) for the VQ-VAE, the variational bound (Ho et al. 2020,
  Eq. 5) for the diffusion model (read from its recipe's results.json), "n/a" for the GAN
  and the latent samplers;
* **Frechet classifier distance** (FCD) and **mode coverage** (class histogram of the
  samples under a classifier trained on the training labels) of ``--n-samples`` samples,
  next to the real-data floor (training vs test images in the same space: binary draws
  are compared with binarized images, grey images with grey ones);
* **Parzen-window log-likelihood** of the binarized test images under a Gaussian kernel
  density on the samples, bandwidth chosen on a validation split (the last 5% of the
  training images, binarized with seed 1, which the PixelCNN recipe holds out). This is
  printed with a warning: Parzen estimates are unreliable (Theis et al. 2016);
* **training time** (from each recipe's results.json; other jobs shared the CPU, see
  there) and **sampling time** of the samples scored here.

The latent samplers are the files ``recipes/latent_samplers.py`` saves: a dense AE and an RAE
decoding draws of a Gaussian mixture fitted to their training codes, a VAE decoding draws of
its aggregate posterior (Bernoulli means), and a WAE-MMD decoding its prior N(0, I); their
training time is the auto-encoder's training plus the density's fit.

Missing models stop the recipe with the command that makes them; the models marked optional
(every one but the dense VAE, the DCGAN, PixelCNN and PixelRNN) are left out with a note.

Usage:
    python recipes/compare_generative.py                       # all models at their default paths (~10 min)
    python recipes/compare_generative.py --pixelrnn-samples 2000 --skip conv_vae
    python recipes/compare_generative.py --gan-model runs/gan/wasserstein_gp/dcgan.keras
    python recipes/compare_generative.py --wae-model runs/latent_samplers/wae.keras --skip ae_gmm rae_gmm
"""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path
from typing import NamedTuple

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras_ae  # noqa: F401  (first: it hides TensorFlow's C++ start-up lines, keras_ae.quiet)

import keras
import numpy as np

import keras_ae.models.gan  # noqa: F401  (registers the classes the saved models need)
import keras_ae.models.latent_sampler  # noqa: F401
import keras_ae.models.pixelcnn  # noqa: F401
import keras_ae.models.pixelrnn  # noqa: F401
import keras_ae.models.vae  # noqa: F401
import keras_ae.models.wae  # noqa: F401
from keras_ae.data import binarize
from keras_ae.evaluation.likelihood import bits_per_dim
from keras_ae.evaluation.parzen import UNRELIABLE, ParzenWarning, parzen_evaluation
from keras_ae.evaluation import SampleQuality, dataset_classifier
from keras_ae.experiment import format_table, load_recipe_data, read_results, recipe_parser, write_results
from keras_ae.plotting import save_image_rows
from keras_ae.validation import label_arguments


class Entry(NamedTuple):
    """One model of the comparison: where it is saved and which recipe makes it."""

    key: str
    label: str
    family: str  # "vae", "gan", "sampler", "autoregressive", "vqvae", "flow" or "diffusion"
    path: str
    recipe: str
    optional: bool = False  # skipped (with a note) instead of an error when missing


def parse_args(argv=None):
    parser = recipe_parser("compare_generative", __doc__.splitlines()[0], dataset="mnist", epochs=0)
    parser.add_argument("--vae-model", default="runs/vae/vae_dense.keras", help="dense VAE (recipes/vae.py)")
    parser.add_argument("--conv-vae-model", default="runs/vae_conv/vae_conv.keras",
                        help="convolutional VAE; included when the file exists")
    parser.add_argument("--gan-model", default="runs/gan/non_saturating/dcgan.keras", help="DCGAN (recipes/gan.py)")
    parser.add_argument("--pixelcnn-model", default="runs/pixelcnn/pixelcnn.keras", help="recipes/pixelcnn.py")
    parser.add_argument("--pixelrnn-model", default="runs/pixelcnn/pixelrnn.keras", help="recipes/pixelcnn.py")
    parser.add_argument("--vae-iaf-model", default="runs/vae_iaf/vae_dense_iaf.keras",
                        help="VAE with an IAF posterior (recipes/vae.py --posterior-flow iaf); included when it exists")
    parser.add_argument("--vae-iwae-model", default="runs/vae_iwae/vae_dense_iwae.keras",
                        help="IWAE-trained VAE (recipes/vae.py --objective iwae); included when it exists")
    parser.add_argument("--vae-vamp-model", default="runs/vae_vamp_data/vae_dense_vamp.keras",
                        help="VAE with a VampPrior (recipes/vae.py --prior vamp); included when it exists")
    parser.add_argument("--vqvae-model", default="runs/vqvae/vqvae.keras",
                        help="VQ-VAE with its PixelCNN prior (recipes/vqvae.py); included when it exists")
    parser.add_argument("--flow-model", default="runs/flow/realnvp.keras",
                        help="RealNVP (recipes/flow.py); included when it exists")
    parser.add_argument("--diffusion-model", default="runs/diffusion/diffusion.keras",
                        help="diffusion model (recipes/diffusion.py); included when it exists")
    for key, label in SAMPLERS.items():
        parser.add_argument(f"--{key.replace('_', '-')}-model", default=f"runs/latent_samplers/{key}.keras",
                            help=f"{label} (recipes/latent_samplers.py); included when it exists")
    for key, label in CONDITIONAL.items():  # class-conditional rows: sampled with labels cycling 0..K-1
        parser.add_argument(f"--{key.replace('_', '-')}-model", default=f"runs/conditional/{key.split('_')[0]}.keras",
                            help=f"{label} (recipes/conditional.py); included when it exists")
    parser.add_argument("--skip", nargs="+", default=[], choices=KEYS, help="models left out of the table")
    parser.add_argument("--n-samples", type=int, default=10_000, help="samples per model for FCD, coverage and Parzen")
    parser.add_argument("--pixelcnn-samples", type=int, default=None, help="fewer PixelCNN samples (slow sampler)")
    parser.add_argument("--pixelrnn-samples", type=int, default=200,
                        help="fewer PixelRNN samples: its sampler runs the whole network per pixel "
                             "(~1 s per image on CPU)")
    parser.add_argument("--sample-batch", type=int, default=500, help="images sampled in parallel (autoregressive)")
    parser.add_argument("--diffusion-steps", type=int, default=20,
                        help="DDIM steps of the diffusion samples (as recipes/diffusion.py)")
    parser.add_argument("--diffusion-bound-examples", type=int, default=200,
                        help="test images of the diffusion bound when its recipe recorded none")
    parser.add_argument("--iwae-k", type=int, default=5000, help="importance samples of the VAE's NLL bound")
    parser.add_argument("--recompute-iwae", action="store_true",
                        help="recompute the VAE bound instead of reading it from the VAE recipe's results.json")
    parser.add_argument("--iwae-examples", type=int, default=None,
                        help="test images for a recomputed bound (default all)")
    parser.add_argument("--val-fraction", type=float, default=0.05,
                        help="last part of the training images used to choose the Parzen bandwidth")
    parser.add_argument("--cache-dir", default=None, help="feature-classifier cache (default ~/.cache/keras_ae)")
    args = parser.parse_args(argv)
    if args.n_samples < 2:
        parser.error("--n-samples must be at least 2")
    return args


# The class-conditional models of recipes/conditional.py (key: its file name before "_").
CONDITIONAL = {"cvae_conditional": "conditional VAE", "pixelcnn_conditional": "conditional PixelCNN",
               "vqvae_conditional": "VQ-VAE + conditional prior", "diffusion_conditional": "diffusion, guided"}
# The samplers of recipes/latent_samplers.py (key: its file name): an auto-encoder's decoder on codes
# drawn from a density, ``sample(n, seed=)`` giving [0, 1] images; none has a likelihood.
SAMPLERS = {"ae_gmm": "AE + GMM on its codes", "rae_gmm": "RAE + GMM on its codes",
            "vae_aggregate": "VAE + aggregate posterior (Bernoulli means)", "wae": "WAE-MMD, prior N(0, I)"}
KEYS = ("vae", "conv_vae", "vae_iaf", "vae_iwae", "vae_vamp", "vqvae", "gan", *SAMPLERS, "pixelcnn", "pixelrnn",
        "flow", "diffusion", *CONDITIONAL)

# What each family's likelihood is of (the table's "data" column).
BINARIZED, GREY, EIGHT_BIT = "binarized (seed 0)", "grey, no likelihood", "8-bit, dequantized"
DATA = {"vae": BINARIZED, "vqvae": BINARIZED, "autoregressive": BINARIZED, "gan": GREY, "sampler": GREY,
        "flow": EIGHT_BIT, "diffusion": EIGHT_BIT}


def model_entries(args) -> list[Entry]:
    """The models to compare, in table order, with the commands that create them."""
    entries = [
        Entry("vae", "VAE (dense)", "vae", args.vae_model, "python recipes/vae.py"),
        Entry("conv_vae", "VAE (conv)", "vae", args.conv_vae_model,
              "python recipes/vae.py --variant conv --epochs 100 --out runs/vae_conv", optional=True),
        Entry("vae_iaf", "VAE + IAF posterior", "vae", args.vae_iaf_model,
              "python recipes/vae.py --posterior-flow iaf --manifold-epochs 0 --out runs/vae_iaf", optional=True),
        Entry("vae_iwae", "VAE, IWAE-trained", "vae", args.vae_iwae_model,
              "python recipes/vae.py --objective iwae --manifold-epochs 0 --out runs/vae_iwae", optional=True),
        Entry("vae_vamp", "VAE + VampPrior", "vae", args.vae_vamp_model,
              "python recipes/vae.py --prior vamp --kl-warmup-epochs 100 --manifold-epochs 0 --out runs/vae_vamp_data",
              optional=True),
        Entry("vqvae", "VQ-VAE + PixelCNN prior", "vqvae", args.vqvae_model, "python recipes/vqvae.py",
              optional=True),
        Entry("gan", "DCGAN", "gan", args.gan_model, "python recipes/gan.py"),
        *(Entry(key, label, "sampler", getattr(args, f"{key}_model"),
                "python recipes/latent_samplers.py --vae-model runs/vae/vae_dense.keras", optional=True)
          for key, label in SAMPLERS.items()),
        Entry("pixelcnn", "PixelCNN", "autoregressive", args.pixelcnn_model, "python recipes/pixelcnn.py"),
        Entry("pixelrnn", "PixelRNN", "autoregressive", args.pixelrnn_model, "python recipes/pixelcnn.py"),
        Entry("flow", "RealNVP", "flow", args.flow_model, "python recipes/flow.py", optional=True),
        Entry("diffusion", "Diffusion (DDIM samples)", "diffusion", args.diffusion_model,
              "python recipes/diffusion.py", optional=True),
    ]
    families = {"cvae": "vae", "pixelcnn": "autoregressive", "vqvae": "vqvae", "diffusion": "diffusion"}
    entries += [Entry(key, label, families[key.split("_")[0]], getattr(args, f"{key}_model"),
                      "python recipes/conditional.py", optional=True) for key, label in CONDITIONAL.items()]
    return [e for e in entries if e.key not in args.skip]


def check_models_exist(entries: list[Entry]) -> tuple[list[Entry], list[str]]:
    """Keeps the entries whose file exists; a missing required model stops with the recipe to run.

    Returns:
        ``(entries to evaluate, notes about skipped optional models)``.
    """
    kept, notes, missing = [], [], []
    for entry in entries:
        if Path(entry.path).is_file():
            kept.append(entry)
        elif entry.optional:
            notes.append(f"{entry.label}: no saved model at {entry.path} (make it with `{entry.recipe}`); left out.")
        else:
            missing.append(f"  {entry.label}: {entry.path} not found; run `{entry.recipe}` "
                           f"(or pass its path, or --skip {entry.key})")
    if missing:  # all at once, so one look tells what is left to run
        raise SystemExit("compare_generative: saved models are missing:\n" + "\n".join(missing))
    return kept, notes


def training_seconds(entry: Entry, recorded: dict) -> float | None:
    """Training wall time as recorded by the recipe that trained the model."""
    results = recorded.get("results", {})
    if entry.key in CONDITIONAL:  # recipes/conditional.py: one entry per family
        return results.get("families", {}).get(entry.key.split("_")[0], {}).get("train_seconds")
    if entry.family == "vae":
        return results.get("train_seconds")
    if entry.family == "sampler":  # recipes/latent_samplers.py: the auto-encoder's training + the density's fit
        return results.get("saved", {}).get(Path(entry.path).name, {}).get("train_seconds")
    if entry.family == "gan":
        minutes = results.get("train_minutes")
        return None if minutes is None else 60.0 * minutes
    if entry.family in ("vqvae", "flow", "diffusion"):
        seconds = next((float(results[k]) for k in ("train_seconds", "train time (s)")
                        if results.get(k) is not None), None)
        if seconds is not None and results.get("prior_train_seconds") is not None:  # the VQ-VAE, then its prior
            seconds += float(results["prior_train_seconds"])
        return seconds
    return results.get(entry.key, {}).get("train time (s)")


def recorded_iwae(recorded: dict, k: int) -> dict | None:
    """The VAE recipe's ``IWAE L_k`` row for ``k`` (NLL, sem, test images), if it has one."""
    for row in recorded.get("rows", []):
        if row.get("bound") == "IWAE L_k" and str(row.get("k")) == str(k):
            return row
    return None


def vae_nll(entry: Entry, vae, x_test_bin: np.ndarray, recorded: dict, args, given: dict) -> dict:
    """NLL of a VAE: the recorded IWAE L_k, or a fresh estimate with ``--recompute-iwae``
    (``given``: the test labels of a conditional VAE, whose NLL is -log p(x | y))."""
    row = recorded_iwae(recorded, args.iwae_k)
    if row is not None and not args.recompute_iwae:
        return {"nll": float(row["NLL (nats)"]), "sem": row.get("+/- (sem)"), "images": int(row["test images"]),
                "method": f"IWAE k={args.iwae_k} (from {Path(entry.path).parent / 'results.json'})"}
    n = args.iwae_examples or len(x_test_bin)
    print(f"{entry.label}: IWAE bound with k={args.iwae_k} on {n} test images ...")
    labels = {key: value[:n] for key, value in given.items()}
    ll = vae.log_likelihood(x_test_bin[:n], k=args.iwae_k, seed=args.seed, verbose=1, **labels)
    return {"nll": float(-ll.mean()), "sem": float(ll.std(ddof=1) / np.sqrt(len(ll))), "images": n,
            "method": f"IWAE k={args.iwae_k}"}


def exact_nll(log_likelihood: np.ndarray, method: str) -> dict:
    """The NLL summary of per-image log-likelihoods (nats)."""
    ll = np.asarray(log_likelihood, np.float64)
    return {"nll": float(-ll.mean()), "sem": float(ll.std(ddof=1) / np.sqrt(len(ll))), "images": len(ll),
            "method": method}


def diffusion_nll(entry: Entry, model, x_test: np.ndarray, recorded: dict, args, given: dict) -> dict:
    """The diffusion model's variational bound: recorded by its recipe, else on a test subset."""
    results = recorded.get("results", {})
    if results.get("bits_per_dim_bound") is not None:  # recorded in bits/dim by recipes/diffusion.py
        nats_per_bit = int(np.prod(x_test.shape[1:])) * np.log(2.0)
        sem = results.get("bits_per_dim_sem")
        return {"nll": float(results["bits_per_dim_bound"]) * nats_per_bit,
                "sem": None if sem is None else float(sem) * nats_per_bit, "images": int(results["bound_images"]),
                "method": f"variational bound (from {Path(entry.path).parent / 'results.json'})"}
    n = min(args.diffusion_bound_examples, len(x_test))
    print(f"{entry.label}: variational bound on {n} test images ...")
    labels = {key: value[:n] for key, value in given.items()}
    return exact_nll(model.log_likelihood(x_test[:n], verbose=1, **labels), "variational bound")


def model_nll(entry: Entry, model, x_test: np.ndarray, x_test_bin: np.ndarray, recorded: dict, args,
              y_test: np.ndarray | None = None) -> dict | None:
    """NLL (nats per image) of one model on its data (see ``DATA``), or None for the GAN and the samplers.

    ``x_test`` are the 8-bit test images (for RealNVP and diffusion), ``x_test_bin`` the
    binarized ones (for the binary models); a class-conditional model scores -log p(x | y)
    with the test labels ``y_test``.
    """
    given = label_arguments(model, y_test)
    if entry.family == "vae":
        return vae_nll(entry, model, x_test_bin, recorded, args, given)
    if entry.family == "autoregressive":
        ll = model.log_likelihood(x_test_bin, verbose=1, **given)
        return {**exact_nll(ll, "exact"), "per_image": -ll}
    if entry.family == "vqvae":
        # No '|' in the method: it is a table cell.
        return exact_nll(model.log_likelihood(x_test_bin, verbose=1, **given), "bound: reconstruction + prior")
    if entry.family == "flow":  # exact density of the dequantized images; E_u over one noise draw
        return exact_nll(model.log_likelihood(x_test, verbose=1), "exact (dequantized, 1 noise draw)")
    if entry.family == "diffusion":
        return diffusion_nll(entry, model, x_test, recorded, args, given)
    return None


def draw_samples(entry: Entry, model, n: int, args) -> tuple[dict[str, np.ndarray], float]:
    """Samples of a model, by sample space (``binary`` or ``grey``), and the seconds they took.

    VAEs give two sets: draws ``x ~ p(x|z)`` (binary, the model's distribution) and the
    Bernoulli means usually shown (grey); only the draws are timed. A class-conditional model
    is asked for the classes :func:`requested_classes` (``0, 1, ..., K-1, 0, ...``).
    """
    given = label_arguments(model, requested_classes(model, n))
    start = time.perf_counter()
    if entry.family == "vae":
        images = {"binary": model.sample(n, seed=args.seed, binary=True, **given)}
        seconds = time.perf_counter() - start
        images["grey"] = np.clip(model.sample(n, seed=args.seed, **given), 0.0, 1.0)
    elif entry.family == "gan":
        images = {"grey": model.sample(n, seed=args.seed, unit_range=True, verbose=1)}
        seconds = time.perf_counter() - start
    elif entry.family == "sampler":  # codes from a prior or a fitted density, decoded to [0, 1] images
        images = {"grey": model.sample(n, seed=args.seed)}
        seconds = time.perf_counter() - start
    elif entry.family == "vqvae":  # prior code maps, decoded to Bernoulli means; draws x ~ p(x|z_q) from them
        means = model.sample(n, seed=args.seed, batch_size=args.sample_batch, verbose=1, **given)
        seconds = time.perf_counter() - start
        draws = np.random.default_rng(args.seed).random(means.shape) < means
        images = {"binary": draws.astype(np.float32), "grey": np.clip(means, 0.0, 1.0)}
    elif entry.family == "flow":
        images = {"grey": model.sample(n, seed=args.seed, verbose=1)}
        seconds = time.perf_counter() - start
    elif entry.family == "diffusion":
        model.sample(2, steps=args.diffusion_steps, method="ddim", seed=args.seed + 1,  # compile outside the timing
                     **label_arguments(model, requested_classes(model, 2)))
        start = time.perf_counter()
        images = {"grey": model.sample(n, steps=args.diffusion_steps, method="ddim", seed=args.seed, verbose=1,
                                       **given)}
        seconds = time.perf_counter() - start
    else:
        model.sample(2, seed=args.seed + 1, batch_size=2,  # compile the pixel loop outside the timing
                     **label_arguments(model, requested_classes(model, 2)))
        start = time.perf_counter()
        images = {"binary": model.sample(n, seed=args.seed, batch_size=args.sample_batch, verbose=1, **given)}
        seconds = time.perf_counter() - start
    shape = model.image_shape if entry.family == "autoregressive" else None
    images = {space: x.reshape((len(x), *(shape or x.shape[1:]))) for space, x in images.items()}
    return images, seconds


def requested_classes(model, n: int) -> np.ndarray | None:
    """The classes asked of a class-conditional model's ``n`` samples (cycling), else ``None``."""
    return np.arange(n, dtype=np.int32) % model.num_classes if getattr(model, "conditional", False) else None


def sample_count(entry: Entry, args) -> int:
    limit = {"pixelcnn": args.pixelcnn_samples, "pixelrnn": args.pixelrnn_samples}.get(entry.key)
    return min(args.n_samples, limit) if limit else args.n_samples


def score_samples(samples: np.ndarray, quality: SampleQuality, x_val_bin, x_test_bin) -> dict:
    """FCD, mode coverage and the Parzen-window test log-likelihood of one sample set."""
    metrics = quality.evaluate(samples, verbose=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ParzenWarning)  # printed once, under the table
        parzen = parzen_evaluation(samples, x_val_bin, x_test_bin, verbose=1)
    return {"fcd": metrics["frechet_distance"], "fcd_real": metrics["frechet_distance_real"],
            "min_class": metrics["min_class_fraction"], "max_class": metrics["max_class_fraction"],
            "class_entropy": metrics["class_entropy"], "classes_covered": metrics["classes_covered"],
            "class_fractions": metrics["class_fractions"], "parzen": parzen["log_likelihood"],
            "parzen_sem": parzen["sem"], "parzen_bandwidth": parzen["bandwidth"]}


def table_row(label: str, nll: dict | None, scores: dict, n: int, space: str, dims: int,
              train_s: float | None, sample_s: float | None, data: str = BINARIZED) -> dict:
    """One row of the printed table (strings and rounded numbers)."""
    def num(value, digits=2):
        return "n/a" if value is None else round(float(value), digits)

    return {
        "model": label,
        "data": data,
        "NLL (nats)": ("n/a" if nll is None
                       else f"{nll['nll']:.2f}" + (f" ± {nll['sem']:.2f}" if nll.get("sem") else "")),
        "bits/dim": "n/a" if nll is None else round(float(bits_per_dim(nll["nll"], dims)), 4),
        "NLL method (test images)": "n/a (no likelihood)" if nll is None else f"{nll['method']} ({nll['images']})",
        "samples": n,
        "sample space": space,
        "FCD": num(scores["fcd"], 3),
        "FCD real": num(scores["fcd_real"], 3),
        "min / max class %": f"{100 * scores['min_class']:.1f} / {100 * scores['max_class']:.1f}",
        "requested class %": num(None if scores.get("requested_class") is None else 100 * scores["requested_class"], 1),
        "class entropy (nats)": num(scores["class_entropy"], 3),
        "Parzen LL (nats)": f"{scores['parzen']:.1f} ± {scores['parzen_sem']:.1f}",
        "Parzen sigma": scores["parzen_bandwidth"],
        "train time (s)": num(train_s, 0),
        "sampling time (s)": num(sample_s, 3),
        "ms / sample": num(None if sample_s is None else 1000 * sample_s / n, 3),
    }


def markdown_report(rows: list[dict], notes: list[str], split: str) -> str:
    """``results.md``: the table, the data split and the caveats."""
    lines = ["# Generative models compared", "", f"Data: {split}.", "", format_table(rows), "", "Notes:", ""]
    lines += [f"- {note}" for note in notes]
    return "\n".join(lines) + "\n"


def main(argv=None) -> dict:
    args = parse_args(argv)
    out = Path(args.out)
    entries, notes = check_models_exist(model_entries(args))  # before any slow work
    keras.utils.set_random_seed(args.seed)

    (x_train, y_train), (x_test, y_test) = load_recipe_data(args)
    n_val = max(2, int(round(len(x_train) * args.val_fraction)))
    x_val_bin = binarize(x_train[len(x_train) - n_val:], seed=1)  # the PixelCNN recipe's validation images
    x_test_bin = binarize(x_test, seed=0)  # the fixed evaluation binarization of every recipe
    x_test_8bit = np.round(x_test * 255.0) / 255.0  # the 8-bit grid of RealNVP and diffusion (MNIST: unchanged)
    dims = int(np.prod(x_test.shape[1:]))
    split = (f"{args.dataset}{' (mnist10k split)' if args.dataset == 'mnist' else ''}: {len(x_test)} test images "
             f"binarized with seed 0; Parzen bandwidth chosen on the last {n_val} training images binarized with "
             "seed 1")
    print(split)

    extractor = dataset_classifier(x_train, y_train, dataset=f"{args.dataset}{len(x_train)}", x_test=x_test,
                                   y_test=y_test, cache_dir=args.cache_dir, seed=args.seed)
    # Samples are compared with real images in their own space: binary draws with binarized
    # images, grey images with grey ones (binarizing adds noise a grey sample never has).
    quality = {"binary": SampleQuality(extractor, x_test_bin, binarize(x_train, seed=1), verbose=0),
               "grey": SampleQuality(extractor, x_test, x_train, verbose=0)}

    rows, results, pictures = [], {"split": split, "models": {}}, {}
    ar_loglik: dict[str, np.ndarray] = {}
    for entry in entries:
        print(f"\n== {entry.label}: {entry.path}")
        model = keras.saving.load_model(entry.path)
        recorded = read_results(entry.path)
        nll = model_nll(entry, model, x_test_8bit, x_test_bin, recorded, args, y_test)
        if entry.family == "autoregressive":
            ar_loglik[entry.label] = -nll.pop("per_image")
        n = sample_count(entry, args)
        samples, sample_s = draw_samples(entry, model, n, args)
        train_s = training_seconds(entry, recorded)
        info = {"path": entry.path, "nll": nll, "train_seconds": train_s, "sampling_seconds": sample_s, "samples": n}
        for space, images in samples.items():
            label = entry.label if len(samples) == 1 or space == "binary" else f"{entry.label}, Bernoulli means"
            scores = score_samples(images, quality[space], x_val_bin, x_test_bin)
            asked = requested_classes(model, n)  # how often the judge sees the class asked for
            scores["requested_class"] = (None if asked is None
                                         else float((extractor.predict(images)[1].argmax(axis=1) == asked).mean()))
            mean_only = entry.family in ("vae", "vqvae") and space == "grey"
            rows.append(table_row(label, None if mean_only else nll, scores, n, space, dims, train_s,
                                  None if mean_only else sample_s, data=DATA[entry.family]))
            if mean_only:
                rows[-1]["NLL method (test images)"] = "(the model above)"
            info[space] = scores
            pictures[label] = images[:10]
            print(format_table([rows[-1]]))
        results["models"][entry.key] = info

    notes += [
        f"WARNING: {UNRELIABLE}",
        "FCD: Frechet distance of the features of a small CNN trained on the training labels (offline FID); "
        "'FCD real' is training vs test images in the same space (binary or grey), the best a model can expect. "
        "FCD and the Parzen estimate both get worse with fewer samples: compare rows with the same 'samples'.",
        "NLL: exact for the autoregressive models and RealNVP; for VAEs the IWAE bound L_k, for the VQ-VAE "
        "log p(x|z_q(x)) + log p(z_q(x)), for the diffusion model its variational bound: upper bounds on the NLL.",
        "data: binary models are scored on binarized test images (nats), RealNVP and the diffusion model on the "
        "8-bit test images, dequantized (read bits/dim); NLLs of rows with different 'data' are not comparable.",
        "Training times come from each recipe's results.json; other jobs shared the 2 CPU cores, so they are "
        "indicative.",
    ]
    if any(entry.family == "sampler" for entry in entries):
        notes.append("Latent samplers (recipes/latent_samplers.py): an auto-encoder's decoder on codes drawn from a "
                     "density fitted to its training codes, or from the WAE's prior; no likelihood. Their training "
                     "time is the auto-encoder's training plus the density's fit.")
    for entry in entries:  # VAEs scored on a subset: put the exact NLLs on the same images
        nll = results["models"][entry.key]["nll"]
        if entry.family == "vae" and nll["images"] < len(x_test_bin):
            same = ", ".join(f"{name} {-ll[:nll['images']].mean():.2f}" for name, ll in ar_loglik.items())
            if same:
                notes.append(f"{entry.label}'s NLL uses the first {nll['images']} test images; on those, "
                             f"exact NLLs: {same}.")
    if pictures:
        save_image_rows(pictures, out / "samples.png", n=10, title="samples of each model")
    results["notes"] = notes
    print()
    write_results(out, results, rows, args)
    (out / "results.md").write_text(markdown_report(rows, notes, split))
    print("\n".join(f"note: {note}" for note in notes))
    print(f"markdown: {out / 'results.md'}")
    return results


if __name__ == "__main__":
    main()
