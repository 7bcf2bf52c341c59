"""Anomaly detection, fairly measured: a table, a time series, and each digit held out in turn.

One run, three data sets, one table of ROC AUCs (``results.json``'s ``table``):

* **breast cancer** (scikit-learn's table, 30 features on scales from 0.001 to 4,254): benign
  tumours are normal, malignant ones the anomalies. The detectors train on 70% of the benign
  rows (seeded split) and score the other benign rows and every malignant one: the dense
  auto-encoder and the Gaussian VAE standardize the raw rows inside the model
  (``standardize=x_train``), PCA scores the standardized rows, IsolationForest the raw ones.
  The keras_ae detectors are :class:`~keras_ae.applications.detectors.AnomalyDetector` s (mean
  and spread over ``--table-seeds`` seeds).
* **a seasonal series** (a daily and a weekly sine and noise; seeded) with spikes,
  level shifts and flat stretches injected in its test part: windows of ``--window``
  timesteps, a window is anomalous when it holds an injected timestep. The Conv1D
  auto-encoder's detector (windows standardized with the training statistics, a 12-number
  bottleneck) against PCA and IsolationForest on the same windows.
* **mnist10k, leave one digit out**: one held-out class is a lottery (the AUC depends on which
  digit it is), so every class is held out in turn: each detector is fitted on the training
  images of the other nine classes and scores the whole test split, with the held-out class as
  the anomalies. Detectors: a dense auto-encoder (squared reconstruction error), a VAE
  (negative ELBO, Bernoulli likelihood with dynamic binarization, grey test images scored by
  the expected log-likelihood of their binarizations), and two baselines with nothing to learn by gradient descent: PCA
  reconstruction error (same code size as the auto-encoder) and scikit-learn's
  IsolationForest on pixels. Per-class and mean AUCs, and a grouped bar chart of the
  per-class AUCs.

Example:
    python recipes/app_anomaly.py     # MNIST: the embedded mnist10k split, load_dataset("mnist10k")
    python recipes/app_anomaly.py --classes 0 1 --epochs 2   # a quick run
"""

from __future__ import annotations

import time
from pathlib import Path

import keras_ae  # noqa: F401  (first: it hides TensorFlow's C++ start-up lines, keras_ae.quiet)

import keras
import numpy as np

from keras_ae.applications.anomaly import isolation_forest_detector, leave_one_class_out, pca_detector
from keras_ae.applications.detectors import AnomalyDetector
from keras_ae.experiment import describe_recipe_data, load_recipe_data, recipe_parser, write_results
from keras_ae.models.dense import build_dense_ae
from keras_ae.models.vae import build_vae


def save_per_class_auc(result: dict, path: Path, title: str) -> Path:
    """Grouped bars: one group per held-out class, one bar per detector, chance line at 0.5."""
    from keras_ae.plotting._common import _pyplot, _save

    plt = _pyplot()
    names, classes = list(result["auc"]), result["classes"]
    width = 0.8 / len(names)
    fig, ax = plt.subplots(figsize=(11, 4))
    for i, name in enumerate(names):
        ax.bar(np.arange(len(classes)) + i * width - 0.4 + width / 2, result["auc"][name], width,
               label=f"{name} (mean {result['mean_auc'][name]:.3f})")
    ax.axhline(0.5, color="grey", linestyle=":", linewidth=1)
    ax.set_xticks(np.arange(len(classes)), [str(c) for c in classes])
    ax.set_xlabel("held-out (anomalous) class")
    ax.set_ylabel("test ROC AUC")
    ax.set_ylim(0.0, 1.12)  # headroom for the legend above the bars
    ax.legend(loc="upper center", ncol=len(names), fontsize=8)
    ax.set_title(title)
    return _save(fig, path)


def _auc(is_anomaly: np.ndarray, scores: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(is_anomaly, scores))


def _baselines(x_fit: np.ndarray, x_score: np.ndarray, code_dim: int, seed: int) -> dict[str, np.ndarray]:
    """PCA reconstruction error and IsolationForest scores of ``x_score`` (rows), fitted on ``x_fit``."""
    from sklearn.decomposition import PCA
    from sklearn.ensemble import IsolationForest

    pca = PCA(code_dim, random_state=seed).fit(x_fit)
    pca_error = ((pca.inverse_transform(pca.transform(x_score)) - x_score) ** 2).sum(axis=1)
    forest = IsolationForest(n_estimators=200, random_state=seed).fit(x_fit)
    return {f"PCA-{code_dim} reconstruction error": pca_error, "IsolationForest": -forest.score_samples(x_score)}


def breast_cancer_table(seeds: int, epochs: int, seed: int) -> dict:
    """ROC AUCs on scikit-learn's breast-cancer table (benign normal, malignant anomalous)."""
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    x, malignant = data.data.astype(np.float32), data.target == 0
    benign = np.flatnonzero(~malignant)
    order = np.random.default_rng(seed).permutation(benign)
    n_train = int(0.7 * len(benign))
    train, test = order[:n_train], np.concatenate([order[n_train:], np.flatnonzero(malignant)])
    x_train, x_test, is_anomaly = x[train], x[test], malignant[test]
    auc: dict[str, list[float]] = {"dense AE reconstruction error": [], "VAE negative ELBO": []}
    for s in range(seed, seed + seeds):
        keras.utils.set_random_seed(s)
        ae = build_dense_ae((30,), hidden=(16,), code_dim=4, loss="mse", standardize=x_train)
        ae.compile(optimizer=keras.optimizers.Adam(3e-3))
        ae.fit(x_train, epochs=epochs, batch_size=32, verbose=0)
        auc["dense AE reconstruction error"].append(_auc(is_anomaly, AnomalyDetector(ae).decision_function(x_test)))
        # tanh units: ROC AUC 0.956 against 0.949 with build_vae's dense default (ELU), 3 seeds each.
        vae = build_vae((30,), latent_dim=4, hidden=(32,), likelihood="gaussian", standardize=x_train, seed=s,
                        activation="tanh")
        vae.compile(optimizer=keras.optimizers.Adam(3e-3))
        vae.fit(x_train, epochs=epochs, batch_size=32, verbose=0)
        auc["VAE negative ELBO"].append(_auc(is_anomaly, AnomalyDetector(vae, score="elbo").decision_function(x_test)))
    mean, std = x_train.mean(axis=0), x_train.std(axis=0)
    for name, scores in _baselines((x_train - mean) / std, (x_test - mean) / std, 4, seed).items():
        if name == "IsolationForest":  # trees split raw values as well as standardized ones
            scores = _baselines(x_train, x_test, 4, seed)[name]
        auc[name] = [_auc(is_anomaly, scores)]
    return {"split": f"benign rows: {n_train} train / {len(benign) - n_train} test; {malignant.sum()} malignant test",
            "auc": {name: float(np.mean(v)) for name, v in auc.items()},
            "auc_std": {name: float(np.std(v)) for name, v in auc.items()}, "runs": {n: len(v) for n, v in auc.items()}}


def seasonal_series(seed: int, length: int = 6_000) -> tuple[np.ndarray, np.ndarray]:
    """A daily (24) and a weekly (168) sine with noise; anomalies injected after 70%.

    Returns:
        ``(series (length,), is_anomaly (length,) bool)``.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(length)
    series = np.sin(2 * np.pi * t / 24) + 0.5 * np.sin(2 * np.pi * t / 168)
    series += 0.1 * rng.standard_normal(length)
    is_anomaly = np.zeros(length, bool)
    starts = rng.choice(np.arange(int(0.7 * length) + 50, length - 60, 60), size=12, replace=False)
    for i, start in enumerate(sorted(starts)):
        span = slice(start, start + int(rng.integers(5, 25)))
        kind = i % 3
        if kind == 0:
            series[span] += rng.choice([-1, 1]) * 1.5  # spike / dip
        elif kind == 1:
            series[span] += 0.8  # level shift
        else:
            series[span] = series[span.start]  # a flat, stuck sensor
        is_anomaly[span] = True
    return series.astype(np.float32), is_anomaly


def series_table(seed: int, window: int, epochs: int) -> dict:
    """Window-level ROC AUCs of the Conv1D detector and the baselines on :func:`seasonal_series`."""
    from keras_ae.data import windows
    from keras_ae.models.conv1d import build_conv1d_ae

    series, is_anomaly = seasonal_series(seed)
    split = int(0.7 * len(series))
    train = windows(series[:split], window, stride=1)
    test = windows(series[split:], window, stride=window // 4)
    labels = windows(is_anomaly[split:].astype(np.float32), window, stride=window // 4).max(axis=(1, 2)) > 0
    mean, std = train.mean(), train.std()
    train, test = (train - mean) / std, (test - mean) / std
    keras.utils.set_random_seed(seed)
    # A bottleneck (6 timesteps x 2 channels for windows of 48): with the builder's keras.io widths
    # (32, 16) the code has more numbers than the window, and the model reconstructs anomalies too
    # (ROC AUC 0.77 against 0.93 here).
    model = build_conv1d_ae((window, 1), filters=(32, 16, 2))
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.fit(train, epochs=epochs, batch_size=64, verbose=0)
    auc = {"Conv1D AE reconstruction error": _auc(labels, AnomalyDetector(model).decision_function(test))}
    flat_train, flat_test = train.reshape(len(train), -1), test.reshape(len(test), -1)
    auc.update({name: _auc(labels, scores) for name, scores in _baselines(flat_train, flat_test, 8, seed).items()})
    return {"split": f"{len(train)} training windows of {window} (first 70%), {len(test)} test windows "
                     f"(stride {window // 4}), {int(labels.sum())} holding an injected anomaly", "auc": auc}


def main(argv: list[str] | None = None) -> dict:
    """Runs the ten held-out-class experiments and writes ``results.json``.

    Example:
        >>> main(["--dataset", "digits", "--epochs", "1"])  # doctest: +SKIP
    """
    parser = recipe_parser("app_anomaly", __doc__.splitlines()[0], epochs=10)
    parser.add_argument("--code-dim", type=int, default=16,
                        help="code size of the AE and of PCA, latent size of the VAE")
    parser.add_argument("--hidden", type=int, nargs="+", default=[256, 64], help="hidden widths (AE and VAE)")
    parser.add_argument("--classes", type=int, nargs="+", default=None, help="classes to hold out (default: all)")
    parser.add_argument("--batch-size", type=int, default=128, help="mini-batch size")
    parser.add_argument("--verbose", type=int, default=0, help="Keras fit verbosity")
    parser.add_argument("--table-seeds", type=int, default=3, help="seeds of the breast-cancer AE and VAE")
    parser.add_argument("--table-epochs", type=int, default=60, help="epochs of the breast-cancer AE and VAE")
    parser.add_argument("--window", type=int, default=48, help="window length of the seasonal series")
    parser.add_argument("--series-epochs", type=int, default=20, help="epochs of the Conv1D auto-encoder")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    cancer = breast_cancer_table(args.table_seeds, args.table_epochs, args.seed)
    print("breast cancer:", cancer["split"])
    for name, value in cancer["auc"].items():
        print(f"  {name}: ROC AUC {value:.3f} +- {cancer['auc_std'][name]:.3f} ({cancer['runs'][name]} runs)")
    series = series_table(args.seed, args.window, args.series_epochs)
    print("seasonal series:", series["split"])
    for name, value in series["auc"].items():
        print(f"  {name}: ROC AUC {value:.3f}")
    tables_seconds = time.perf_counter() - start
    (x_train, y_train), (x_test, y_test) = load_recipe_data(args)
    shape, hidden = x_train.shape[1:], tuple(args.hidden)

    def autoencoder(x_normal: np.ndarray):
        keras.utils.set_random_seed(args.seed)
        model = build_dense_ae(shape, hidden=hidden, code_dim=args.code_dim)
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
        model.fit(x_normal, epochs=args.epochs, batch_size=args.batch_size, shuffle=True, verbose=args.verbose)
        return AnomalyDetector(model).decision_function

    def vae(x_normal: np.ndarray):
        keras.utils.set_random_seed(args.seed)
        model = build_vae(shape, latent_dim=args.code_dim, hidden=hidden, dynamic_binarization=True, seed=args.seed)
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
        model.fit(x_normal, epochs=args.epochs, batch_size=args.batch_size, shuffle=True, verbose=args.verbose)
        return AnomalyDetector(model, score="elbo", seed=args.seed).decision_function

    detectors = {"AE reconstruction error": autoencoder, "VAE negative ELBO": vae,
                 f"PCA-{args.code_dim} reconstruction error": pca_detector(args.code_dim),
                 "IsolationForest (pixels)": isolation_forest_detector(random_state=args.seed)}
    start = time.perf_counter()
    result = leave_one_class_out(detectors, x_train, y_train, x_test, y_test, classes=args.classes)
    total_seconds = time.perf_counter() - start

    ours = ("AE reconstruction error", "VAE negative ELBO")
    best = max(ours, key=lambda n: result["mean_auc"][n])
    baselines = [n for n in detectors if n not in ours]
    rows = [{"held-out class": c, **{n: result["auc"][n][i] for n in detectors}}
            for i, c in enumerate(result["classes"])]
    rows.append({"held-out class": "mean", **result["mean_auc"]})
    rows.append({"held-out class": "seconds", **{n: round(s, 1) for n, s in result["seconds"].items()}})
    figure = save_per_class_auc(result, Path(args.out) / "per_class_auc.png",
                                f"{args.dataset}: leave-one-class-out ROC AUC ({args.epochs} epochs per class)")
    table = [{"data": "breast cancer (malignant = anomaly)", **cancer["auc"]},
             {"data": "seasonal series (windows with an injected anomaly)", **series["auc"]},
             {"data": f"{args.dataset}, leave one digit out (mean)", **result["mean_auc"]}]
    results = {
        "split": f"{describe_recipe_data(args)}: train on the other classes of train, score test",
        "table": table, "breast_cancer": cancer, "series": series, "tables_seconds": tables_seconds,
        "ae_beats_isolation_forest_on_the_table": bool(
            cancer["auc"]["dense AE reconstruction error"] > cancer["auc"]["IsolationForest"]),
        **result, "best_keras_ae": best,
        "best_beats_baselines": bool(all(result["mean_auc"][best] > result["mean_auc"][b] for b in baselines)),
        "total_seconds": total_seconds, "figure": str(figure),
    }
    write_results(args.out, results, rows, args)
    return results


if __name__ == "__main__":
    main()
