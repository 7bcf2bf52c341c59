"""Small charts for the application recipes: curves, bars and histograms."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Sequence

from keras_ae.plotting._common import _pyplot, _save


def save_curves(curves: Mapping[str, tuple[Sequence[float], Sequence[float]]], path: str | os.PathLike,
                xlabel: str, ylabel: str, title: str | None = None, logx: bool = False, logy: bool = False) -> Path:
    """One line per method, e.g. precision@k against k, or a test score against training time.

    Args:
        curves: Method name -> ``(x values, y values)``.
        path: Output PNG.
        xlabel: x-axis label.
        ylabel: y-axis label.
        title: Figure title.
        logx: Logarithmic x axis.
        logy: Logarithmic y axis.

    Returns:
        The written path.

    Example:
        >>> save_curves({"AE": ([10, 100], [0.9, 0.8])}, tmp_dir / "p_at_k.png", "k", "precision").name
        'p_at_k.png'
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, (xs, ys) in curves.items():
        ax.plot(xs, ys, marker="o" if len(xs) <= 30 else ".", label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend()
    if title:
        ax.set_title(title)
    return _save(fig, path)


def save_bars(values: Mapping[str, float], path: str | os.PathLike, ylabel: str, title: str | None = None) -> Path:
    """A labelled bar chart (one bar per method, value printed on top).

    Args:
        values: Method name -> value (one bar each, in the mapping's order).
        path: Output PNG.
        ylabel: y-axis label.
        title: Figure title.

    Returns:
        The written path.

    Example:
        >>> save_bars({"scratch": 0.12, "pretrained": 0.08}, tmp_dir / "errors.png", "test error").name
        'errors.png'
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(1.4 * len(values) + 2, 4))
    bars = ax.bar(list(values), list(values.values()), color="tab:blue")
    ax.bar_label(bars, fmt="%.3g")
    ax.set_ylabel(ylabel)
    ax.tick_params(axis="x", rotation=20)
    if title:
        ax.set_title(title)
    return _save(fig, path)


def save_histograms(samples: Mapping[str, Sequence[float]], path: str | os.PathLike, xlabel: str,
                    title: str | None = None, threshold: float | None = None, bins: int = 60) -> Path:
    """Overlaid density histograms (e.g. anomaly scores of normal vs anomalous data).

    Args:
        samples: Label -> values.
        path: Output PNG.
        xlabel: x-axis label.
        title: Figure title.
        threshold: Optional vertical line (a decision threshold).
        bins: Number of bins shared by all histograms.

    Returns:
        The written path.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> scores = {"normal": rng.normal(1.0, 0.2, 500), "anomaly": rng.normal(2.0, 0.5, 100)}
        >>> save_histograms(scores, tmp_dir / "scores.png", "error", threshold=1.5).name
        'scores.png'
    """
    import numpy as np

    plt = _pyplot()
    everything = np.concatenate([np.asarray(v, dtype=float) for v in samples.values()])
    edges = np.linspace(everything.min(), np.quantile(everything, 0.995), bins)
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, values in samples.items():
        ax.hist(values, edges, alpha=0.6, density=True, label=label)
    if threshold is not None:
        ax.axvline(threshold, color="k", ls="--", label="threshold")
    ax.set_xlabel(xlabel)
    ax.legend()
    if title:
        ax.set_title(title)
    return _save(fig, path)
