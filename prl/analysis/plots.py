"""Curves over epochs and plots: of a whole table (:func:`curves`, :func:`plot_curves`), of one run
(:func:`plot_run`) and of its realised label noise (:func:`noise_transition`,
:func:`plot_transition`).  Every plot returns a :class:`matplotlib.figure.Figure` (no pyplot
state); matplotlib is imported only when a plot is made."""

from __future__ import annotations

import math
import os
from typing import Optional, Sequence

import numpy as np
import pandas as pd

from prl import outputs
from prl.analysis.common import AnalysisError, primary_metric, short_path
from prl.analysis.runs import run_metrics
from prl.analysis.tables import column_order

__all__ = ["curves", "plot_curves", "plot_run", "noise_transition", "plot_transition"]

#: the run keys :func:`curves` puts on every epoch row
CURVE_KEYS = ["dataset", "dataset_name", "noise", "column", "algorithm", "seed", "noise_seed", "task",
              "noise_rate_realised", "run_dir"]
_YLABEL = {"test_accuracy": "test accuracy (%)", "label_precision": "label precision (%)",
           "label_recall": "label recall (%)", "test_mse": "test MSE", "train_loss": "training loss",
           "epsilon": "epsilon (fraction dropped)"}


def curves(runs: pd.DataFrame, statuses: Sequence[str] = ("completed",)) -> pd.DataFrame:
    """Per-epoch metrics of the (non-duplicate) runs with one of ``statuses``: one row per run
    and epoch, with the run's table keys (dataset_name, noise, column, seed, task, ...)."""
    sel = runs[runs["status"].isin(statuses) & ~runs["duplicate"]]
    parts = []
    for _, r in sel.iterrows():
        m = run_metrics(r["run_dir"])
        if m.empty:
            continue
        for k in CURVE_KEYS:
            m[k] = r[k]
        parts.append(m)
    if not parts:
        return pd.DataFrame(columns=CURVE_KEYS + ["epoch"])
    out = pd.concat(parts, ignore_index=True)
    return out[CURVE_KEYS + [c for c in out.columns if c not in CURVE_KEYS]]


def plot_curves(curve_df: pd.DataFrame, metric: str = "test", ncols: int = 3, title: Optional[str] = None):
    """One panel per row of the table (dataset x noise), one line per algorithm: the mean of
    ``metric`` (a column of ``metrics.jsonl``; ``test``: the task's primary test metric) over
    seeds at each epoch, with a band of ± one sample std (when n > 1).
    For ``label_precision`` a dotted line marks the precision of keeping every sample
    (100 x (1 - realised noise rate)).  Returns a :class:`matplotlib.figure.Figure` (no pyplot)."""
    from matplotlib import colormaps
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    if metric == "test":
        tasks = list(curve_df["task"].dropna().unique())
        if len(tasks) != 1:
            raise AnalysisError(f"metric='test' needs runs of one task, these are {tasks or 'none'}; filter them "
                                f"or name the metric (test_accuracy, test_mse)")
        metric = primary_metric(tasks[0])[0]
    if metric not in curve_df.columns:
        raise AnalysisError(f"no per-epoch {metric!r} in these runs; available: "
                            f"{', '.join(c for c in curve_df.columns if c not in ('run_dir', 'dataset'))}")
    data = curve_df.dropna(subset=[metric])
    panels = list(dict.fromkeys(zip(data["dataset_name"], data["noise"])))
    if not panels:
        raise AnalysisError(f"no completed run has per-epoch {metric}")
    columns = column_order(data["column"].unique())
    ncols = max(1, min(ncols, len(panels)))
    nrows = math.ceil(len(panels) / ncols)
    fig = Figure(figsize=(4.6 * ncols + 1.8, 3.3 * nrows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    cmap = colormaps["tab10" if len(columns) <= 10 else "tab20"]
    colors = {c: cmap(i % cmap.N) for i, c in enumerate(columns)}
    handles = {}
    for ax, (ds, noise) in zip(axes, panels):
        part = data[(data["dataset_name"] == ds) & (data["noise"] == noise)]
        for col in columns:
            sub = part[part["column"] == col]
            if sub.empty:
                continue
            g = sub.groupby("epoch")[metric].agg(["mean", "std", "count"]).reset_index()
            line, = ax.plot(g["epoch"], g["mean"], color=colors[col], lw=1.6, label=col)
            band = g["count"] > 1
            if band.any():
                ax.fill_between(g["epoch"][band], (g["mean"] - g["std"])[band], (g["mean"] + g["std"])[band],
                                color=colors[col], alpha=0.18, lw=0)
            handles[col] = line
        if metric == "label_precision" and part["noise_rate_realised"].notna().any():
            ref = 100.0 * (1.0 - float(part["noise_rate_realised"].mean()))
            h = ax.axhline(ref, color="0.4", ls=":", lw=1.2, label="every sample kept")
            handles["every sample kept"] = h
        ax.set_title(f"{ds}, {noise}", fontsize=10)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel(_YLABEL.get(metric, metric))
        ax.grid(alpha=0.3)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    order = [c for c in columns if c in handles] + [k for k in handles if k not in columns]
    fig.legend([handles[k] for k in order], order, loc="outside right upper", fontsize=9,
               title="mean ± std over seeds", title_fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


def plot_run(run_dir: str):
    """One run over epochs: test metric (mean and per network), label precision (solid) and
    recall (dashed) per network, epsilon and training loss.  Returns a Figure."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    m = run_metrics(run_dir)
    if m.empty:
        raise AnalysisError(f"{run_dir} has no metrics.jsonl lines (no epoch completed)")
    key = "test_accuracy" if "test_accuracy" in m else "test_mse"
    nets = sorted(c[len(key) + 4:] for c in m.columns if c.startswith(key + "_net"))
    fig = Figure(figsize=(13, 3.4), layout="constrained")
    a1, a2, a3 = fig.subplots(1, 3)
    for i, n in enumerate(nets):
        a1.plot(m["epoch"], m[f"{key}_net{n}"], color=f"C{i}", lw=1, alpha=0.7, label=f"net{n}")
        for base, style in (("label_precision", "-"), ("label_recall", "--")):
            if f"{base}_net{n}" in m:
                a2.plot(m["epoch"], m[f"{base}_net{n}"], color=f"C{i}", ls=style, label=f"{base[6:]} net{n}")
    a1.plot(m["epoch"], m[key], color="k", lw=1.8, label="mean")
    a1.set_ylabel(_YLABEL.get(key, key))
    a2.set_ylabel("precision / recall (%)")
    a3.plot(m["epoch"], m["train_loss"], color="C3", label="train loss")
    a3.set_ylabel("training loss")
    ax_eps = a3.twinx()
    ax_eps.plot(m["epoch"], m["epsilon"], color="0.4", ls=":", label="epsilon")
    ax_eps.set_ylabel("epsilon (fraction dropped)")
    for ax in (a1, a2, a3):
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    a1.legend(fontsize=8)
    a2.legend(fontsize=8)
    h1, l1 = a3.get_legend_handles_labels()
    h2, l2 = ax_eps.get_legend_handles_labels()
    a3.legend(h1 + h2, l1 + l2, fontsize=8)
    fig.suptitle(short_path(run_dir), fontsize=10)
    return fig


def noise_transition(run_dir: str) -> pd.DataFrame:
    """The realised label-noise matrix of a run, from its ``labels.npz``: row-stochastic,
    ``T[i, j]`` = fraction of the training samples of clean class i labelled j."""
    path = os.path.join(run_dir, outputs.LABELS)
    try:
        with np.load(path) as z:
            clean, noisy = z["clean"], z["noisy"]
    except (OSError, KeyError, ValueError) as exc:
        raise AnalysisError(f"cannot read clean/noisy labels from {path} ({exc})") from None
    if clean.ndim != 1 or not np.issubdtype(clean.dtype, np.integer):
        raise AnalysisError(f"{path} holds regression targets; a transition matrix needs class labels")
    k = int(max(clean.max(), noisy.max())) + 1 if len(clean) else 0
    counts = np.zeros((k, k))
    np.add.at(counts, (clean, noisy), 1)
    with np.errstate(invalid="ignore"):
        t = counts / counts.sum(axis=1, keepdims=True)
    return pd.DataFrame(t, index=pd.RangeIndex(k, name="clean"), columns=pd.RangeIndex(k, name="noisy"))


def plot_transition(t: pd.DataFrame, title: str = "realised noise T[clean, noisy]"):
    """Heatmap of :func:`noise_transition` with the values written in."""
    from matplotlib.figure import Figure

    k = len(t)
    fig = Figure(figsize=(0.45 * k + 2.2, 0.45 * k + 1.6), layout="constrained")
    ax = fig.subplots()
    im = ax.imshow(t.to_numpy(), vmin=0, vmax=1, cmap="Blues")
    if k <= 20:
        for i in range(k):
            for j in range(k):
                v = t.iat[i, j]
                if v >= 0.005:
                    ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7,
                            color="white" if v > 0.6 else "black")
    ax.set_xlabel("noisy label")
    ax.set_ylabel("clean label")
    ax.set_title(title, fontsize=10)
    fig.colorbar(im, ax=ax, shrink=0.8)
    return fig
