"""Curves over epochs and plots: of a whole table (:func:`curves`, :func:`plot_curves`), of
``epsilon=auto`` against the truth (:func:`plot_estimates`), of one run (:func:`plot_run`) and of
its realised label noise (:func:`noise_transition`, :func:`plot_transition`); the small views the
notebooks show beside them (:func:`compare_metrics`, :func:`with_estimates`, :func:`pick_run`).
Every plot returns a :class:`matplotlib.figure.Figure` (no pyplot state); matplotlib is imported
only when a plot is made."""

from __future__ import annotations

import math
import os
from typing import Optional, Sequence, Union

import numpy as np
import pandas as pd

from prl import outputs
from prl.analysis.common import AnalysisError, number, primary_metric, short_path
from prl.analysis.runs import run_metrics
from prl.analysis.tables import column_order, paper_table

__all__ = ["curves", "plot_curves", "plot_estimates", "plot_run", "noise_transition", "plot_transition",
           "compare_metrics", "with_estimates", "pick_run"]

#: the run keys :func:`curves` puts on every epoch row
CURVE_KEYS = ["dataset", "dataset_name", "noise", "column", "algorithm", "seed", "noise_seed", "task",
              "noise_rate_realised", "run_dir"]
_YLABEL = {"test_accuracy": "test accuracy (%)", "label_precision": "label precision (%)",
           "label_recall": "label recall (%)", "test_mse": "test MSE", "train_loss": "training loss",
           "epsilon": "epsilon (fraction dropped)"}
#: how :func:`plot_estimates` and :func:`plot_run` name the per-epoch fractions of epsilon=auto
_FRACTIONS = {"epsilon_estimate": "estimate (smoothed)",
              "epsilon_target": "target (running max of the estimate; epsilon ramps to it)",
              "epsilon": "epsilon (fraction dropped in the epoch)"}
_FRACTION_COLORS = {"epsilon_estimate": "C0", "epsilon_target": "C1", "epsilon": "C2"}
_REALISED = "realised corrupted fraction"
_STYLES = ("-", "--", "-.", ":")


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


def plot_estimates(curve_df: pd.DataFrame, columns: Optional[Sequence[str]] = None,
                   lines: Union[str, Sequence[str]] = ("epsilon_estimate", "epsilon_target", "epsilon"),
                   ncols: int = 2, title: Optional[str] = None):
    """``epsilon=auto`` against the truth: one panel per row of the table (dataset x noise); in
    each, per epoch, the mean over seeds of each quantity in ``lines`` for each table column in
    ``columns``, and the realised corrupted fraction (a wide grey line).

    Per-epoch conventions (``metrics.jsonl``; the row of epoch e): ``epsilon`` is the fraction
    dropped during epoch e (the ramp towards the target); ``epsilon_estimate`` the smoothed
    estimate after epoch e of the estimator that drives epsilon; ``epsilon_target`` the running
    maximum of those, where the ramp leads; ``epsilon_estimate_<name>`` the smoothed estimate of
    each estimator the run logs (``mixture`` always, ``anchor``, ``confident`` and ``agreement``
    when a held-out split exists; ``_raw``: before smoothing).  The held-out estimators report 0
    during their warm-up epochs.  All are fractions of the training set, as is the realised
    corrupted fraction (``noise_rate_realised``: the fraction of training labels the noise
    changed, mean over the panel's runs; drawn when known).

    ``curve_df``: :func:`curves`' frame (or the curves of :func:`prl.analysis.load_results`).
    ``columns``: the table columns to draw (default: every column with a per-epoch
    ``epsilon_estimate``, i.e. the ``epsilon=auto`` ones, see :func:`with_estimates`).
    ``lines``: per-epoch columns; ``"estimators"`` stands for every ``epsilon_estimate_<name>``
    present (raw ones left out).  Colour: the quantity; line style: the table column (solid,
    dashed, dash-dot, dotted, in table order).  Returns a :class:`matplotlib.figure.Figure`;
    raises :class:`AnalysisError` when there is nothing to draw.
    """
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    if columns is None:
        data = with_estimates(curve_df)
        if data.empty:
            raise AnalysisError("no epsilon=auto run in these curves (no per-epoch epsilon_estimate)")
    else:
        unknown = [c for c in columns if c not in set(curve_df.get("column", ()))]
        if unknown:
            raise AnalysisError(f"no column {', '.join(unknown)} in these curves; columns: "
                                f"{', '.join(column_order(curve_df['column'].unique())) if 'column' in curve_df else 'none'}")
        data = curve_df[curve_df["column"].isin(columns)]
    names = _fraction_lines(data, [lines] if isinstance(lines, str) else list(lines))
    cols = column_order(data["column"].unique())
    panels = list(dict.fromkeys(zip(data["dataset_name"], data["noise"])))
    ncols = max(1, min(ncols, len(panels)))
    nrows = math.ceil(len(panels) / ncols)
    fig = Figure(figsize=(4.6 * ncols + 3.2, 3.3 * nrows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    others = [q for q in names if q not in _FRACTION_COLORS]
    colors = {**_FRACTION_COLORS, **{q: f"C{(3 + i) % 10}" for i, q in enumerate(others)}}
    styles = {c: _STYLES[i % len(_STYLES)] for i, c in enumerate(cols)}
    realised_drawn = False
    for ax, (ds, noise) in zip(axes, panels):
        part = data[(data["dataset_name"] == ds) & (data["noise"] == noise)]
        if part["noise_rate_realised"].notna().any():
            ax.axhline(float(part["noise_rate_realised"].mean()), color="k", lw=3, alpha=0.3)
            realised_drawn = True
        for col in cols:
            sub = part[part["column"] == col]
            for q in names:
                g = sub.groupby("epoch")[q].mean().dropna()
                if len(g):
                    ax.plot(g.index, g.to_numpy(), color=colors[q], ls=styles[col], lw=1.6)
        ax.set_title(f"{ds}, {noise}", fontsize=10)
        ax.set_ylim(bottom=-0.02)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel("fraction of the training set")
        ax.grid(alpha=0.3)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    handles = [Line2D([], [], color=colors[q], lw=1.6) for q in names]
    labels = [_FRACTIONS.get(q, q) for q in names]
    handles += [Line2D([], [], color="0.3", ls=styles[c], lw=1.6) for c in cols]
    labels += cols
    if realised_drawn:
        handles.append(Line2D([], [], color="k", lw=3, alpha=0.3))
        labels.append(_REALISED)
    fig.legend(handles, labels, loc="outside right upper", fontsize=9, title="mean over seeds", title_fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


def plot_run(run, title: Optional[str] = None):
    """One run over epochs: test metric (mean and per network); label precision (solid) and
    recall (dashed) per network; training loss and, on a second axis, fractions of the training
    set: epsilon (dropped in the epoch), with ``epsilon=auto`` its estimate and target (see
    :func:`plot_estimates`), and the realised corrupted fraction when known.

    ``run``: a run directory (reads ``metrics.jsonl`` and ``summary.json``) or the rows of one run
    in a :func:`curves` frame (e.g. from :func:`prl.analysis.load_results`).  Returns a Figure."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    if isinstance(run, pd.DataFrame):
        m = run.dropna(axis=1, how="all").sort_values("epoch") if "epoch" in run else run.iloc[0:0]
        if "run_dir" in m and m["run_dir"].nunique() > 1:
            raise AnalysisError(f"plot_run takes the rows of one run; these hold {m['run_dir'].nunique()} runs")
        if m.empty:
            raise AnalysisError("no per-epoch rows for this run")
        first = m.iloc[0]
        realised = number(first.get("noise_rate_realised"))
        where = [str(first[k]) for k in ("dataset_name", "noise", "column") if k in first]
        name = ", ".join(where + ([f"seed {first['seed']}"] if "seed" in first else []))
    else:
        run_dir = os.fspath(run)
        m = run_metrics(run_dir)
        if m.empty:
            raise AnalysisError(f"{run_dir} has no metrics.jsonl lines (no epoch completed)")
        realised = number((outputs.read_json(os.path.join(run_dir, outputs.SUMMARY)) or {}).get("noise_rate_realised"))
        name = short_path(run_dir)
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
    auto = "epsilon_estimate" in m
    for q in _FRACTIONS:
        if q in m and m[q].notna().any():
            ax_eps.plot(m["epoch"], m[q], color=_FRACTION_COLORS[q] if auto else "0.4", ls="-" if auto else ":",
                        lw=1.4, label=_FRACTIONS[q] if auto else "epsilon")
    if realised is not None:  # axhline does not take part in autoscaling: make room for it
        ax_eps.axhline(realised, color="k", lw=2.5, alpha=0.3, label=_REALISED)
        ax_eps.set_ylim(top=max(ax_eps.get_ylim()[1], 1.15 * realised))
    ax_eps.set_ylim(bottom=0)
    ax_eps.set_ylabel("fraction of the training set")
    for ax in (a1, a2, a3):
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    a1.legend(fontsize=8)
    a2.legend(fontsize=8)
    h1, l1 = a3.get_legend_handles_labels()
    h2, l2 = ax_eps.get_legend_handles_labels()
    a3.legend(h1 + h2, l1 + l2, fontsize=7)
    fig.suptitle(title or name, fontsize=10)
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


def compare_metrics(runs: pd.DataFrame, metrics: Sequence[str] = ("suspect_auroc", "cleanlab_auroc"),
                    decimals: Optional[int] = None) -> pd.DataFrame:
    """Several metrics side by side, one row per table cell (dataset, noise, column) that has a
    value, one column per metric; each entry is :func:`prl.analysis.paper_table`'s cell text
    (``mean ± std (n)`` over the same counted runs: completed, not duplicates, finite value).
    Metrics no run reports are left out; raises :class:`AnalysisError` when none is reported."""
    parts = []
    for metric in metrics:
        try:
            cells = paper_table(runs, metric=metric, decimals=decimals).cells
        except AnalysisError:
            continue
        cells = cells[cells["n"] > 0]
        parts.append(cells.set_index(["dataset_name", "noise", "column"])["text"].rename(metric))
    if not parts:
        raise AnalysisError(f"no run reports {', '.join(metrics)}")
    out = pd.concat(parts, axis=1, sort=False).fillna("–")
    out.index.names = ["dataset", "noise", "column"]
    return out


def with_estimates(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of the table columns that estimate epsilon (``epsilon=auto``): every row of a
    column in which some run reports an estimate (``epsilon_estimate_final`` in a runs frame,
    ``epsilon_estimate`` in a curves frame), its failed runs included so that a table still lists
    them as missing.  Empty (same columns) when there is none."""
    key = "epsilon_estimate_final" if "epsilon_estimate_final" in frame else "epsilon_estimate"
    if key not in frame or "column" not in frame:
        return frame.iloc[0:0]
    return frame[frame["column"].isin(frame.loc[frame[key].notna(), "column"].unique())]


def pick_run(runs: pd.DataFrame, **keys) -> pd.Series:
    """One run of a runs frame: the first completed, non-duplicate run whose values equal
    ``keys`` (e.g. ``column="auto/co-prl-l", noise="pair-flip 45%", seed=0``); when none
    matches, the first completed one (else the first run).  Raises :class:`AnalysisError` for
    no runs or a key that is not a column."""
    if runs.empty:
        raise AnalysisError("no runs to pick from")
    unknown = [k for k in keys if k not in runs]
    if unknown:
        raise AnalysisError(f"no column {', '.join(unknown)} in these runs")
    done = runs[(runs["status"] == "completed") & ~runs["duplicate"].astype(bool)]
    match = done
    for k, v in keys.items():
        match = match[match[k] == v]
    return (match if len(match) else done if len(done) else runs).iloc[0]


def _fraction_lines(data: pd.DataFrame, lines: list[str]) -> list[str]:
    """``lines`` with ``"estimators"`` expanded to the ``epsilon_estimate_<name>`` columns that
    hold values; raises :class:`AnalysisError` for one that no row holds."""
    names = []
    for q in lines:
        if q == "estimators":
            found = [c for c in data.columns if c.startswith("epsilon_estimate_") and not c.endswith("_raw")
                     and data[c].notna().any()]
            if not found:
                raise AnalysisError("these runs log no per-estimator epsilon_estimate_<name>")
            names += found
        elif q not in data or data[q].isna().all():
            avail = [c for c in data.columns if c.startswith("epsilon") and data[c].notna().any()]
            raise AnalysisError(f"no per-epoch {q!r} in these runs; available: {', '.join(avail) or 'none'}")
        else:
            names.append(q)
    return list(dict.fromkeys(names))
