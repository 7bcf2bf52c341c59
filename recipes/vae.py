"""Variational auto-encoder on binarized MNIST: test ELBO and IWAE log-likelihoods, figures.

Protocol (Burda et al. 2016, shared with the PixelCNN recipe): training images are
binarized afresh every batch (dynamic binarization), the test images once with seed 0.
The test log-likelihood is the importance-weighted bound L_k for k in {1, 50, 5000}
(L_1 is a one-sample ELBO; L_5000 is the paper's test NLL estimate), in nats per image
and bits/dim. ``--variant dense`` is the IWAE paper's one-stochastic-layer model,
784-[200, 200]-50, with ELU units (``build_vae``'s dense default) in place of the paper's tanh
(``--activation tanh`` for the paper's); ``--variant conv`` swaps in strided convolutions.
``--posterior-flow iaf`` gives the same networks an inverse autoregressive flow posterior
(Kingma et al. 2016; ``--flow-steps`` steps); ``--objective iwae`` trains on the bound
L_k with ``--iwae-train-k`` samples instead of the ELBO (Burda et al. 2016).

Posterior collapse: active units (Burda et al. 2016), KL per dimension and I(x; z) of the main
model on the first 1,000 test images (``results.json``), and its latent traversal
(``traversal.png``, one row per active unit).

Figures: samples, reconstructions, interpolations and the latent traversal of the main model; the 2-D
latent scatter by label and the decoded latent grid ("manifold") of a second VAE with
latent_dim=2 (``--manifold-epochs 0`` skips it).

Usage:
    python recipes/vae.py                                   # dense, the defaults behind the docs/results.md number
    python recipes/vae.py --variant conv --epochs 100 --manifold-epochs 20
    python recipes/vae.py --posterior-flow iaf --flow-steps 2 --manifold-epochs 0 --out runs/vae_iaf
    python recipes/vae.py --objective iwae --iwae-train-k 5 --manifold-epochs 0 --out runs/vae_iwae
    python recipes/vae.py --model runs/vae/vae_dense.keras --manifold-epochs 0   # evaluate a saved VAE
    python recipes/vae.py --dataset digits --epochs 5 --manifold-epochs 5 --k 1 50   # a quick smoke run
"""

from __future__ import annotations

import resource
import time
from pathlib import Path

import keras_ae  # noqa: F401  (first: it hides TensorFlow's C++ start-up lines, keras_ae.quiet)

import keras
import numpy as np

from keras_ae.data import binarize, is_prebinarized
from keras_ae.evaluation.likelihood import bits_per_dim
from keras_ae.evaluation.posterior_collapse import collapse_report
from keras_ae.experiment import describe_recipe_data, fit_recipe_model, load_recipe_data, recipe_parser, write_results
from keras_ae.models.vae import build_vae
from keras_ae.plotting import (plot_latent_traversal, save_image_rows, save_interpolations, save_latent_manifold,
                               save_latent_scatter, save_samples)



def parse_args(argv=None):
    parser = recipe_parser("vae", __doc__.splitlines()[0], dataset="mnist", epochs=500)
    parser.add_argument("--variant", choices=("dense", "conv"), default="dense", help="encoder / decoder architecture")
    parser.add_argument("--latent-dim", type=int, default=50)
    parser.add_argument("--hidden", type=int, nargs="+", default=[200, 200], help="dense hidden widths")
    parser.add_argument("--filters", type=int, nargs="+", default=[32, 64], help="conv channels")
    parser.add_argument("--activation", default=None, help="hidden activation (default elu for dense, relu for conv)")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--lr", type=float, default=1e-3,
                        help="initial Adam learning rate (cosine decay to --lr-final)")
    parser.add_argument("--lr-final", type=float, default=1e-4)
    parser.add_argument("--beta", type=float, default=1.0, help="KL weight")
    parser.add_argument("--posterior-flow", choices=("none", "iaf", "realnvp"), default="none",
                        help="flow on the Gaussian posterior (a FlowVAE)")
    parser.add_argument("--flow-steps", type=int, default=2, help="flow steps")
    parser.add_argument("--flow-hidden", type=int, nargs="+", default=None,
                        help="hidden widths of each flow step's network (default 4 * latent_dim)")
    parser.add_argument("--flow-context-dim", type=int, default=None,
                        help="width of the encoder's context h for the flow (default latent_dim; 0: none)")
    parser.add_argument("--prior", choices=("standard_normal", "vamp"), default="standard_normal",
                        help="p(z): N(0, I), or the VampPrior (a mixture of the posteriors of learned pseudo-inputs)")
    parser.add_argument("--num-pseudo-inputs", type=int, default=500, help="pseudo-inputs of --prior vamp")
    parser.add_argument("--vamp-init", choices=("data", "noise"), default="data",
                        help="where the pseudo-inputs start: random training images, or noise around grey")
    parser.add_argument("--objective", choices=("elbo", "iwae"), default="elbo", help="training objective")
    parser.add_argument("--kl-warmup-epochs", type=float, default=0.0,
                        help="epochs over which the KL weight rises linearly to 1 (KL annealing; ELBO only)")
    parser.add_argument("--iwae-train-k", type=int, default=5, help="importance samples of --objective iwae")
    parser.add_argument("--k", type=int, nargs="+", default=[1, 50, 5000], help="importance samples for L_k")
    parser.add_argument("--ll-examples", type=int, default=None,
                        help="test images used for the L_k estimates (default: all for dense, 200 for conv)")
    parser.add_argument("--elbo-samples", type=int, default=10, help="Monte Carlo samples per image for the ELBO")
    parser.add_argument("--manifold-epochs", type=int, default=50, help="epochs of the 2-D VAE for the latent figures")
    parser.add_argument("--max-train", type=int, default=None, help="use only this many training images (smoke runs)")
    parser.add_argument("--model", default=None, help="evaluate this saved .keras VAE instead of training one")
    return parser.parse_args(argv)


def warmup_steps(epochs: float, examples: int, batch_size: int) -> int:
    """Training steps of ``epochs`` epochs (the KL warm-up's length), refusing a negative or non-finite count.

    Example:
        >>> warmup_steps(10, 8000, 100)
        800
    """
    if not np.isfinite(epochs) or epochs < 0:
        raise SystemExit(f"--kl-warmup-epochs must be a number >= 0, got {str(epochs)[:40]}.")
    return int(round(epochs * int(np.ceil(examples / batch_size))))


def train(vae, x_train, epochs: int, args, x_test=None, y_test=None) -> tuple[float, dict]:
    """Adam with cosine decay from --lr to --lr-final; returns (seconds, last epoch's logs)."""
    steps = int(np.ceil(len(x_train) / args.batch_size)) * max(epochs, 1)
    schedule = keras.optimizers.schedules.CosineDecay(args.lr, decay_steps=steps, alpha=args.lr_final / args.lr)
    vae.compile(optimizer=keras.optimizers.Adam(schedule, epsilon=1e-4))  # epsilon as in the IWAE paper
    start = time.perf_counter()
    history = fit_recipe_model(vae, x_train, args, x_test=x_test, y_test=y_test, epochs=epochs,
                               batch_size=args.batch_size, verbose=2)
    return time.perf_counter() - start, {k: float(v[-1]) for k, v in history.items()}


def evaluate(vae, x_test, args) -> list[dict]:
    """Test ELBO and L_k rows (nats per image and bits/dim), with wall times."""
    dims = int(np.prod(x_test.shape[1:]))
    n_ll = args.ll_examples or (len(x_test) if args.variant == "dense" else min(200, len(x_test)))
    rows = []

    def row(bound: str, k, values: np.ndarray, seconds: tuple[float, float]) -> dict:
        nll = float(-values.mean())
        return {"bound": bound, "k": k, "test images": len(values), "log p(x) >= (nats)": round(-nll, 2),
                "NLL (nats)": round(nll, 2), "+/- (sem)": round(float(values.std(ddof=1) / np.sqrt(len(values))), 2),
                "bits/dim": round(float(bits_per_dim(nll, dims)), 4), "eval time (s)": round(seconds[0], 1),
                "eval CPU (s)": round(seconds[1], 1)}

    def timed(fn):
        # Wall time, and the process's CPU time: on a shared machine the latter says what
        # the work costs (about twice the wall time an idle 2-core machine would need).
        wall, cpu = time.perf_counter(), _cpu_seconds()
        value = fn()
        return value, (time.perf_counter() - wall, _cpu_seconds() - cpu)

    elbo, seconds = timed(lambda: vae.elbo(x_test, num_samples=args.elbo_samples, verbose=1))
    label = "ELBO (analytic KL)" if vae.has_analytic_kl() else "ELBO (sampled KL)"
    if n_ll < len(x_test):  # the ELBO is cheap: report it on every image, and on the L_k subset to compare
        rows.append(row(label, f"{args.elbo_samples} MC", elbo, seconds))
    rows.append(row(label, f"{args.elbo_samples} MC", elbo[:n_ll], seconds))
    for k in args.k:
        ll, seconds = timed(lambda: vae.log_likelihood(x_test[:n_ll], k=k, seed=args.seed, verbose=1))
        rows.append(row("IWAE L_k", k, ll, seconds))
    model = describe_model(vae)
    return [{"model": model, **r} for r in rows]


def describe_model(vae) -> str:
    """``"vae"``, ``"vae+iaf(2 steps)"``, ``"vae, iwae k=5"``: the posterior and the training objective."""
    name = "vae"
    if getattr(vae, "flow", None) is not None:
        name += f"+{vae.flow.kind}({vae.flow.steps} steps)"
    if getattr(vae.prior_layer, "num_pseudo_inputs", None) is not None:
        name += f", vampprior K={vae.prior_layer.num_pseudo_inputs}"
    return name + (f", iwae k={vae.k}" if vae.objective == "iwae" else "")


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def save_figures(vae, x_test, out: Path, seed: int) -> None:
    save_samples(vae, out / "samples.png", n=100, seed=seed, title="samples: Bernoulli means")
    save_image_rows({"test image": x_test[:10], "reconstruction": vae.reconstruct(x_test[:10])},
                    out / "reconstructions.png", title="test images and reconstructions (posterior mean)")
    save_interpolations(vae, x_test[:6], x_test[6:12], out / "interpolations.png", steps=10,
                        title="decoded straight lines between posterior means")
    plot_latent_traversal(vae, x_test[0], x=x_test[:1000], path=out / "traversal.png", seed=seed,
                          title="rows: active units, most variable first (if none: the most variable unit)")


def collapse_results(vae, x_test, seed: int) -> dict:
    """Active units, KL (total and per dimension) and I(x; z) on the first 1,000 test images."""
    report = collapse_report(vae, x_test[:1000], seed=seed)
    return {"active_units": report["active_units"], "active_dims": report["active_dims"],
            "kl_nats": round(report["kl"], 3), "kl_per_dim_nats": [round(float(v), 3) for v in report["kl_per_dim"]],
            "kl_method": report["kl_method"], "mutual_information_nats": round(report["mutual_information"], 3),
            "mutual_information_bound_nats": round(report["mi_upper_bound"], 3)}


def latent_figures(x_train, x_test, y_test, args, out: Path) -> dict:
    """A 2-D VAE for the scatter-by-label and manifold figures."""
    vae2 = build_vae(x_train.shape[1:], latent_dim=2, encoder=args.variant, hidden=tuple(args.hidden),
                     filters=tuple(args.filters), activation=args.activation, dynamic_binarization=True,
                     seed=args.seed, name="vae_2d")
    seconds, logs = train(vae2, x_train, args.manifold_epochs, args, x_test, y_test)
    save_latent_scatter(vae2, x_test, y_test, out / "latent_scatter.png", title="2-D VAE: test posterior means")
    save_latent_manifold(vae2, out / "manifold.png", n=20, title="2-D VAE: decoded latent grid")
    return {"latent2_train_seconds": round(seconds, 1), "latent2_train_loss": logs["loss"]}


def main(argv=None):
    args = parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (x_train, _), (x_test_grey, y_test) = load_recipe_data(args)
    if args.max_train:
        x_train = x_train[: args.max_train]
    # The fixed evaluation binarization (not a second one for an already binary dataset).
    x_test = x_test_grey if is_prebinarized(args.dataset) else binarize(x_test_grey, seed=0)
    keras.utils.set_random_seed(args.seed)
    if args.model:
        vae, seconds, logs = keras.saving.load_model(args.model), 0.0, {"loss": float("nan")}
    else:
        flow = None if args.posterior_flow == "none" else args.posterior_flow
        iwae = args.objective == "iwae"
        vamp = args.prior == "vamp"
        name = (f"vae_{args.variant}" + (f"_{flow}" if flow else "") + ("_iwae" if iwae else "")
                + ("_vamp" if vamp else ""))
        vae = build_vae(x_train.shape[1:], latent_dim=args.latent_dim, encoder=args.variant, hidden=tuple(args.hidden),
                        filters=tuple(args.filters), activation=args.activation, beta=args.beta,
                        dynamic_binarization=True, seed=args.seed, name=name, posterior_flow=flow,
                        flow_steps=args.flow_steps, flow_hidden=args.flow_hidden and tuple(args.flow_hidden),
                        flow_context_dim=args.flow_context_dim, objective=args.objective,
                        k=args.iwae_train_k if iwae else 1,
                        kl_warmup_steps=warmup_steps(args.kl_warmup_epochs, len(x_train), args.batch_size),
                        prior=args.prior, num_pseudo_inputs=args.num_pseudo_inputs if vamp else None,
                        pseudo_inputs=x_train if vamp and args.vamp_init == "data" else None)
        seconds, logs = train(vae, x_train, args.epochs, args, x_test, y_test)
        vae.save(out / f"{name}.keras")  # saved before the (long) evaluation
    rows = evaluate(vae, x_test, args)
    save_figures(vae, x_test, out, args.seed)
    results = {"split": f"{describe_recipe_data(args)}: train dynamically binarized, test binarized with seed 0",
               "variant": args.variant, "model": describe_model(vae), "objective": vae.objective,
               "iwae_train_k": vae.k if vae.objective == "iwae" else None,
               "posterior_flow": vae.flow.kind if getattr(vae, "flow", None) is not None else None,
               "flow_steps": vae.flow.steps if getattr(vae, "flow", None) is not None else None,
               "kl_warmup_steps": vae.kl_warmup_steps,
               "params": vae.count_params(), "epochs": args.epochs,
               "train_seconds": round(seconds, 1), "final_train_loss": logs["loss"],
               **{f"nll_{r['bound'].split()[0].lower()}_{r['k']}_{r['test images']}img".replace(" ", "_"):
                  r["NLL (nats)"] for r in rows}}
    results.update(collapse_results(vae, x_test, args.seed))
    if args.manifold_epochs > 0:
        results.update(latent_figures(x_train, x_test, y_test, args, out))
    write_results(out, results, rows, args)


if __name__ == "__main__":
    main()
