"""Collect run directories into a tidy DataFrame; pivot it into paper-style tables and plots.

Command line (prints the table, writes ``<first dir>/analysis/`` or ``--out``)::

    python -m prl.analysis multirun/fmnist-table              # every sweep below it
    python -m prl.analysis multirun/2026-11-28/12-00-00 outputs --metric final --out results

Library (the notebooks in ``analysis/`` call only this)::

    runs = collect("multirun/fmnist-table")    # one row per run directory
    table = paper_table(runs)                  # rows dataset x noise, columns algorithm
    print(table); table.to_latex()
    fig = plot_curves(curves(runs), "test_accuracy")

Conventions
-----------
* A **run** is a directory holding ``summary.json`` or ``.hydra/``: one single run
  (``outputs/...``) or one job of a multirun.  A run without ``summary.json`` is
  ``incomplete`` (still running, killed, or crashed before training).
* **Status** (from ``summary.json``): ``completed`` | ``interrupted`` | ``diverged`` |
  ``failed`` | ``incomplete``.  Only completed runs with a finite metric enter a cell's
  statistics; every other run, and every expected run that has no directory, is listed in
  :attr:`Table.missing` with its reason.  Nothing is averaged in silently.
* **Metric protocols** (``metric=``), all of the mean over a run's networks, on every test
  sample: ``final`` (after the last epoch), ``best`` (best epoch, selected on the test set:
  optimistic), ``last10`` (mean over the last 10 epochs, the protocol of the co-teaching and
  PRL papers; the default).  Classification rows report ``test_accuracy_*`` (%, higher is
  better), regression rows ``test_mse_*`` (lower is better, see :class:`prl.tasks.Task`).
  Any numeric summary column (e.g. ``label_precision_last10_mean``) can be tabulated too.
* **Cells**: rows are dataset x noise (type and expected rate), columns the algorithm
  (its config choice).  Cell text is ``mean ± std (n)``: mean and *sample* standard
  deviation (ddof=1; no std for n=1) over completed runs; ``(n/m)`` when only n of the m
  expected replicates completed.  The best mean of each row is marked (bold).
* **Replicates** are the distinct (``seed``, ``noise.seed``) pairs.  A row expects every
  replicate that any run of that row used (whatever its status); a cell missing one lists it.
* **Variants**: when runs in one cell differ in a setting other than the replicate keys
  and :data:`IGNORED_KEYS` (e.g. two models, or an ``algorithm.epsilon`` sweep), the cell is
  split instead of averaged: columns become ``algorithm [key=value]`` (noise / dataset
  settings split rows the same way).
* **Duplicates**: two runs of the same cell and replicate (a sweep run twice): the best
  status wins, then the newest; the other is flagged ``duplicate`` and not counted.
* **Sweeps**: a sweep directory's ``multirun.yaml`` gives the grid Hydra's basic sweeper
  launched; jobs with no directory are listed as ``not started``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import sys
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Optional, Sequence

import numpy as np
import pandas as pd

from prl import outputs
from prl.algorithms import ORDER
from prl.config import EXECUTION_KEYS, PERFORMANCE_KEYS, REPLICATE_KEYS
from prl.tasks import TASKS


def _primary(task: str) -> tuple[str, bool]:
    """``(metric key, higher is better)`` of ``task`` (classification for unknown tasks)."""
    t = TASKS.get(task, TASKS["classification"])
    return t.primary, t.higher_is_better


__all__ = [
    "AnalysisError",
    "Table",
    "Report",
    "find_runs",
    "read_run",
    "collect",
    "paper_table",
    "resolve_metric",
    "sweep_grid",
    "sweep_jobs",
    "latest_sweep",
    "curves",
    "plot_curves",
    "run_summary",
    "run_metrics",
    "plot_run",
    "noise_transition",
    "plot_transition",
    "report",
    "main",
    "RUN_COLUMNS",
    "IGNORED_KEYS",
]

STATUSES = ("completed", "interrupted", "diverged", "failed", "incomplete")
_STATUS_RANK = {s: i for i, s in enumerate(STATUSES)}
#: metric protocols: name -> summary suffix
PROTOCOLS = {"final": "_final", "best": "_best", "last10": "_last10_mean", "last10_mean": "_last10_mean"}
_PROTOCOL_TEXT = {
    "_final": "after the last epoch",
    "_best": "at the best epoch (selected on the test set: optimistic)",
    "_last10_mean": "mean over the last 10 epochs (co-teaching / PRL protocol)",
}
#: display order of known algorithms (others follow alphabetically): the registry's order
ALGORITHM_ORDER = ORDER
DATASET_ORDER = ("digits", "mnist", "fashion-mnist", "cifar10", "cifar100")
NOISE_ORDER = ("clean", "pairflip", "symmetric", "classmap", "labelfile")
_NOISE_NAMES = {"pairflip": "pair-flip", "classmap": "class-map", "labelfile": "label file"}
#: config keys (flattened, prefix match) that never make two runs different settings:
#: replicate keys, how a run is executed, performance knobs (one source: :mod:`prl.config`)
IGNORED_KEYS = REPLICATE_KEYS + EXECUTION_KEYS + PERFORMANCE_KEYS
#: Hydra group choices that can split a column (model=..., optimizer=..., ...)
VARIANT_CHOICES = ("model", "optimizer", "scheduler", "protocol")
_ROW = ["dataset", "noise_type", "noise_rate", "row_variant"]

#: the tidy per-run columns, in order (``cfg.*`` columns with the flattened config follow)
RUN_COLUMNS = [
    "dataset", "dataset_name", "noise", "noise_type", "noise_rate", "algorithm", "column", "model", "seed",
    "noise_seed", "status", "duplicate", "task", "epochs", "epochs_completed",
    "test_accuracy_final", "test_accuracy_best", "test_accuracy_last10_mean",
    "test_mse_final", "test_mse_best", "test_mse_last10_mean",
    "label_precision_final", "label_precision_last10_mean", "noise_rate_realised", "epsilon",
    "wall_time_s", "row_variant", "variant", "error", "overrides", "run_dir", "sweep", "job", "mtime",
]


class AnalysisError(ValueError):
    """Bad input to the analysis (no such directory, no runs, unknown metric)."""


# ============================================================================= reading runs


def _load_yaml(path: str) -> Optional[Any]:
    import yaml

    try:
        with open(path) as fh:
            return yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (OSError, yaml.YAMLError):
        return None


def _job_config(run_dir: str) -> dict:
    """The run's config: ``config.yaml`` (resolved by the runner) or, for a run that failed
    before writing it, Hydra's ``.hydra/config.yaml`` resolved here when possible."""
    cfg = _load_yaml(os.path.join(run_dir, outputs.CONFIG))
    if isinstance(cfg, dict):
        return cfg
    path = os.path.join(run_dir, ".hydra", "config.yaml")
    if not os.path.isfile(path):
        return {}
    from omegaconf import OmegaConf

    try:
        node = OmegaConf.load(path)
        try:
            return OmegaConf.to_container(node, resolve=True)
        except Exception:
            return OmegaConf.to_container(node, resolve=False)
    except Exception:
        return {}


def _flatten(obj: Any, prefix: str = "", encode: bool = True) -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``.  With ``encode``, lists become JSON text and None
    becomes ``"null"`` (hashable, and a key set to null differs from a key that is absent)."""
    out: dict[str, Any] = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k), encode))
    elif encode and isinstance(obj, (list, tuple)):
        out[prefix] = json.dumps(obj)
    elif encode and obj is None:
        out[prefix] = "null"
    else:
        out[prefix] = obj
    return out


def _number(v: Any) -> Optional[float]:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _int(v: Any) -> Optional[int]:
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def _sweep_dir(run_dir: str) -> Optional[str]:
    """The nearest ancestor (3 levels at most) holding Hydra's ``multirun.yaml``."""
    d = os.path.abspath(run_dir)
    for _ in range(3):
        d = os.path.dirname(d)
        if os.path.isfile(os.path.join(d, "multirun.yaml")):
            return d
    return None


def find_runs(*paths: str) -> list[str]:
    """Every run directory at or below ``paths`` (sorted; ``wandb/`` and hidden folders skipped)."""
    found = []
    for p in paths:
        if not os.path.isdir(p):
            raise AnalysisError(f"{p} is not a directory; pass a sweep directory (multirun/...), a run "
                                f"directory (outputs/...) or a folder holding them")
        for dirpath, dirnames, filenames in os.walk(p):
            if outputs.SUMMARY in filenames or ".hydra" in dirnames:
                found.append(os.path.abspath(dirpath))
                dirnames[:] = []
                continue
            dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d != "wandb")
    return sorted(set(found), key=_natural_key)


def _natural_key(path: str) -> list:
    return [int(t) if t.isdigit() else t for t in path.replace(os.sep, "/").split("/")]


def read_run(run_dir: str) -> dict:
    """One run directory as a flat dict (the columns of :data:`RUN_COLUMNS`, before the
    table-wide fields ``noise``, ``column``, ``variant`` and ``duplicate`` are filled in,
    plus ``cfg.<key>`` for every flattened config key)."""
    summary = outputs.read_json(os.path.join(run_dir, outputs.SUMMARY)) or {}
    hydra_cfg = (_load_yaml(os.path.join(run_dir, ".hydra", "hydra.yaml")) or {}).get("hydra", {}) or {}
    config = _job_config(run_dir)
    choices = dict(summary.get("choices") or hydra_cfg.get("runtime", {}).get("choices") or {})
    noise_cfg = config.get("noise") if isinstance(config.get("noise"), dict) else {}
    noise_info = summary.get("noise") if isinstance(summary.get("noise"), dict) else {}
    algo_cfg = config.get("algorithm") if isinstance(config.get("algorithm"), dict) else {}
    trainer_cfg = config.get("trainer") if isinstance(config.get("trainer"), dict) else {}
    status = summary.get("status") or "incomplete"
    if status not in _STATUS_RANK:
        status = "failed"
    metrics_path = os.path.join(run_dir, outputs.METRICS)
    epochs_completed = summary.get("epochs_completed")
    if epochs_completed is None and os.path.isfile(metrics_path):
        epochs_completed = len(outputs.read_jsonl(metrics_path))
    error = summary.get("error")
    if status == "incomplete":
        error = "no summary.json (still running, killed, or crashed before training)"
    target = noise_cfg.get("_target_")
    row = {
        "dataset": choices.get("dataset") or summary.get("dataset") or _last(config.get("dataset", {}).get("_target_")
                                                                             if isinstance(config.get("dataset"), dict) else None),
        "dataset_name": summary.get("dataset"),
        "noise_type": noise_info.get("type"),
        "noise_target": target,
        "noise_rate": _number(noise_info["rate"]) if "rate" in noise_info else _number(noise_cfg.get("rate")),
        "algorithm": choices.get("algorithm") or algo_cfg.get("name") or summary.get("algorithm"),
        "model": choices.get("model"),
        "seed": _int(summary.get("seed", config.get("seed"))),
        "noise_seed": _int(noise_info.get("seed", noise_cfg.get("seed"))),
        "status": status,
        "task": summary.get("task"),
        "epochs": _int(summary.get("epochs", trainer_cfg.get("epochs"))),
        "epochs_completed": _int(epochs_completed),
        "noise_rate_realised": _number(summary.get("noise_rate_realised")),
        "epsilon": _number(summary.get("epsilon")),
        "wall_time_s": _number(summary.get("wall_time_s")),
        "error": (str(error).strip().splitlines() or [""])[0] if error else None,
        "overrides": " ".join(str(o) for o in (hydra_cfg.get("overrides", {}) or {}).get("task", []) or []),
        "run_dir": os.path.abspath(run_dir),
        "sweep": _sweep_dir(run_dir),
        "job": _int((hydra_cfg.get("job") or {}).get("num")),
        "mtime": os.path.getmtime(os.path.join(run_dir, outputs.SUMMARY) if summary else run_dir),
    }
    for key, value in summary.items():
        if key.startswith(("test_", "label_")) and isinstance(value, (int, float)) and not isinstance(value, bool):
            row[key] = _number(value)
    for group in VARIANT_CHOICES:
        row[f"choice.{group}"] = choices.get(group)
    for key, value in _flatten(config).items():
        row[f"cfg.{key}"] = value
    return row


def _last(target: Optional[str]) -> Optional[str]:
    return target.rsplit(".", 1)[-1] if isinstance(target, str) else None


def collect(*paths: str) -> pd.DataFrame:
    """Every run under ``paths`` as one tidy row (see :data:`RUN_COLUMNS` and the module
    docstring); ``cfg.*`` columns hold each run's flattened config.

    Raises :class:`AnalysisError` when a path is missing or holds no run.
    """
    if not paths:
        raise AnalysisError("no directory given")
    run_dirs = find_runs(*paths)
    if not run_dirs:
        raise AnalysisError(f"no run directories (a folder with summary.json or .hydra/) under "
                            f"{', '.join(paths)}")
    df = pd.DataFrame([read_run(d) for d in run_dirs])
    return _finish(df)


def _finish(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    # fill what a failed run lacks from runs of the same kind that have it
    types = df.dropna(subset=["noise_type", "noise_target"]).groupby("noise_target")["noise_type"].first()
    missing = df["noise_type"].isna()
    df.loc[missing, "noise_type"] = df.loc[missing, "noise_target"].map(types)
    missing = df["noise_type"].isna()
    df.loc[missing, "noise_type"] = df.loc[missing, "noise_target"].map(lambda t: (_last(t) or "unknown").lower())
    names = df.dropna(subset=["dataset_name"]).groupby("dataset")["dataset_name"].first()
    df["dataset_name"] = df["dataset"].map(names).fillna(df["dataset"])
    clash = df.groupby("dataset_name")["dataset"].nunique()
    for name in clash[clash > 1].index:  # two dataset configs with one display name
        sel = df["dataset_name"] == name
        df.loc[sel, "dataset_name"] = name + " (" + df.loc[sel, "dataset"].astype(str) + ")"
    tasks = df.dropna(subset=["task"]).groupby("dataset")["task"].first()
    df["task"] = df["dataset"].map(tasks).fillna("classification")
    df["dataset"] = df["dataset"].fillna("unknown")
    df["algorithm"] = df["algorithm"].fillna("unknown")
    df["noise_rate"] = df["noise_rate"].astype(float)
    df = df.drop(columns=["noise_target"])
    # variants: settings that differ inside a row, then inside a cell
    df["row_variant"] = _variant_labels(df, ["dataset", "noise_type", "noise_rate"], _row_candidates(df))
    df["variant"] = ""
    for alg, part in df.groupby("algorithm", sort=False):
        df.loc[part.index, "variant"] = _variant_labels(part, _ROW, _column_candidates(df))
    df["column"] = [a if not v else f"{a} [{v}]" for a, v in zip(df["algorithm"], df["variant"])]
    df["noise"] = [_noise_label(t, r, v) for t, r, v in zip(df["noise_type"], df["noise_rate"], df["row_variant"])]
    df["duplicate"] = _duplicates(df)
    for col in RUN_COLUMNS:
        if col not in df:
            df[col] = np.nan
    cfg_cols = sorted(c for c in df.columns if c.startswith(("cfg.", "choice.")))
    extra = [c for c in df.columns if c not in RUN_COLUMNS and c not in cfg_cols]
    return df[RUN_COLUMNS + extra + cfg_cols].reset_index(drop=True)


def _ignored(key: str) -> bool:
    key = key[len("cfg."):]
    return any(key == k or key.startswith(k + ".") for k in IGNORED_KEYS)


def _row_candidates(df: pd.DataFrame) -> list[str]:
    return sorted(c for c in df.columns
                  if c.startswith(("cfg.dataset.", "cfg.noise.")) and not _ignored(c)
                  and c not in ("cfg.noise.rate", "cfg.noise._target_", "cfg.dataset._target_"))


def _column_candidates(df: pd.DataFrame) -> list[str]:
    cfg = sorted(c for c in df.columns
                 if c.startswith("cfg.") and not c.startswith(("cfg.dataset.", "cfg.noise.")) and not _ignored(c)
                 and c != "cfg.algorithm.name")
    return [f"choice.{g}" for g in VARIANT_CHOICES if f"choice.{g}" in df.columns] + cfg


def _hashable(v: Any) -> Any:
    return v if not isinstance(v, (list, dict)) else json.dumps(v, sort_keys=True)


def _variant_labels(df: pd.DataFrame, group: list[str], candidates: list[str]) -> pd.Series:
    """Greedy: a candidate key joins the split when it still takes more than one value in
    some group of ``group`` + the keys chosen so far; returns ``key=value, ...`` per run."""
    chosen: list[str] = []
    if len(df) > 1:
        keys = df[group].astype(str).agg("\x1f".join, axis=1)
        for key in candidates:
            if key not in df.columns or df[key].isna().all():
                continue
            values = df[key].map(_hashable)
            labels = keys
            for c in chosen:
                labels = labels + "\x1f" + df[c].map(_hashable).astype(str)
            if (values.groupby(labels).nunique(dropna=True) > 1).any():
                chosen.append(key)

    def label(row) -> str:
        parts = []
        for c in chosen:
            v = row[c]
            if v is None or (isinstance(v, float) and math.isnan(v)):
                continue
            parts.append(f"{c.split('.', 1)[1]}={v}")
        return ", ".join(parts)

    if not chosen:
        return pd.Series([""] * len(df), index=df.index)
    return df.apply(label, axis=1)


def _noise_label(kind: str, rate: float, variant: str = "") -> str:
    name = _NOISE_NAMES.get(kind, kind)
    if kind == "clean":
        text = "clean"
    elif rate is None or (isinstance(rate, float) and math.isnan(rate)):
        text = name
    else:
        text = f"{name} {100 * rate:.4g}%"
    return f"{text} [{variant}]" if variant else text


def _duplicates(df: pd.DataFrame) -> pd.Series:
    key = _ROW + ["column", "seed", "noise_seed"]
    order = df.assign(_rank=df["status"].map(_STATUS_RANK), _neg=-df["mtime"]).sort_values(["_rank", "_neg"])
    first = ~order.duplicated(subset=key, keep="first")
    return ~first.reindex(df.index)


# ============================================================================= sweeps


def sweep_grid(params: Optional[Mapping[str, Any]], overrides: Sequence[str] = ()) -> list[list[str]]:
    """The jobs Hydra's basic sweeper launches for ``hydra.sweeper.params`` plus command-line
    ``overrides`` (a command-line key replaces the preset's), in job-number order."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    args = [f"{k}={v}" for k, v in (params or {}).items()] + [str(o) for o in overrides]
    parsed = OverridesParser.create().parse_overrides(args)
    return BasicSweeper.split_arguments(parsed, None)[0]


def sweep_jobs(sweep_dir: str) -> Optional[list[list[str]]]:
    """The job overrides of the sweep in ``sweep_dir`` (from its ``multirun.yaml``), or None
    when they cannot be known (another sweeper, a glob sweep, no file)."""
    conf = _load_yaml(os.path.join(sweep_dir, "multirun.yaml"))
    try:
        hydra = conf["hydra"]
        if not str(hydra["sweeper"]["_target_"]).endswith("BasicSweeper"):
            return None
        return sweep_grid(hydra["sweeper"].get("params"), hydra["overrides"]["task"])
    except Exception:
        return None


def latest_sweep(root: str = "multirun") -> str:
    """The most recently started sweep directory (one holding ``multirun.yaml``) under ``root``."""
    best, best_t = None, -1.0
    for dirpath, dirnames, filenames in os.walk(root):
        if "multirun.yaml" in filenames:
            t = os.path.getmtime(os.path.join(dirpath, "multirun.yaml"))
            if t > best_t:
                best, best_t = dirpath, t
            dirnames[:] = []
        dirnames[:] = [d for d in dirnames if not d.startswith(".") and d != "wandb"]
    if best is None:
        raise AnalysisError(f"no sweep (a folder with multirun.yaml) under {root}")
    return best


# ============================================================================= the table


@dataclass
class Metric:
    """What a table reports for one task: the summary ``column``, its direction and a label."""

    column: str
    higher_is_better: bool
    label: str  # e.g. "Test accuracy (%, higher is better): mean over the last 10 epochs (...)"


def resolve_metric(metric: str, task: str = "classification") -> Metric:
    """``final`` / ``best`` / ``last10`` -> the task's primary summary column; any other
    name is taken as a summary column (``label_*`` and ``test_accuracy*`` higher is better)."""
    key, higher = _primary(task)
    if metric in PROTOCOLS:
        suffix = PROTOCOLS[metric]
        name = {"test_accuracy": "Test accuracy (%", "test_mse": "Test MSE ("}.get(key, key + " (")
        sep = ", " if name.endswith("%") else ""
        return Metric(key + suffix, higher, f"{name}{sep}{'higher' if higher else 'lower'} is better): "
                                            f"{_PROTOCOL_TEXT[suffix]}")
    if metric.startswith(("test_", "label_")):
        higher = not metric.startswith(("test_mse", "test_mae"))
        return Metric(metric, higher, f"{metric} ({'higher' if higher else 'lower'} is better)")
    raise AnalysisError(f"unknown metric {metric!r}; use final, best, last10 or a summary column such as "
                        f"label_precision_last10_mean")


@dataclass
class Table:
    """A paper-style table.  ``cells``: one row per (row, column) with ``mean``, ``std``
    (ddof=1), ``n`` (completed runs counted), ``expected`` (replicates the row expects),
    ``best`` and the rendered ``text``; ``missing``: one row per run that is not counted (or
    cell with no run, or sweep job never started) with its ``status`` and ``reason``."""

    cells: pd.DataFrame
    missing: pd.DataFrame
    rows: list[tuple[str, str]]
    columns: list[str]
    caption: str
    notes: list[str] = field(default_factory=list)

    def wide(self) -> pd.DataFrame:
        """The rendered table: index (dataset, noise), one column per algorithm."""
        if self.cells.empty:
            return pd.DataFrame()
        w = self.cells.pivot(index=["dataset_name", "noise"], columns="column", values="text")
        w = w.reindex(index=pd.MultiIndex.from_tuples(self.rows, names=["dataset", "noise"]), columns=self.columns)
        return w.fillna("–")

    # ------------------------------------------------------------------ renderers
    def to_markdown(self, missing: bool = True) -> str:
        head = ["Dataset", "Noise"] + self.columns
        body = []
        index = self.cells.set_index(["dataset_name", "noise", "column"]) if not self.cells.empty else None
        for ds, noise in self.rows:
            line = [ds, noise]
            for col in self.columns:
                line.append(_cell(index, (ds, noise, col), "**{}**"))
            body.append(line)
        widths = [max(len(r[i]) for r in [head] + body) for i in range(len(head))]

        def fmt(r: list[str]) -> str:
            return "| " + " | ".join(v.ljust(w) for v, w in zip(r, widths)) + " |"

        rule = "|" + "|".join(":" + "-" * (w + 1) if i < 2 else "-" * (w + 1) + ":" for i, w in enumerate(widths)) + "|"
        text = [fmt(head), rule] + [fmt(r) for r in body]
        out = "\n".join(text) + "\n\n" + self.caption + "\n"
        if missing:
            out += "\n" + self.missing_text() + "\n"
        return out

    def missing_text(self) -> str:
        """The missing and excluded runs, one line each, then the notes."""
        lines = []
        if self.missing.empty:
            lines.append("Nothing missing: every cell holds every expected run.")
        else:
            lines.append(f"Missing from the table ({len(self.missing)}; not averaged in):")
            groups: dict[tuple[str, str], list] = {}
            for r in self.missing.itertuples(index=False):
                groups.setdefault((r.status, r.reason), []).append(r)
            for (status, reason), items in groups.items():
                places = []
                for r in items:
                    where = ", ".join(str(x) for x in (r.dataset, r.noise, r.column) if isinstance(x, str) and x) \
                        or str(r.job)
                    rep = "" if pd.isna(r.seed) else f" seed {int(r.seed)}"
                    if not pd.isna(r.noise_seed) and r.noise_seed_varies:
                        rep += f" noise.seed {int(r.noise_seed)}"
                    one = len(items) == 1 and isinstance(r.run_dir, str) and r.run_dir
                    places.append(f"{where}{rep}" + (f" [{_short(r.run_dir)}]" if one else ""))
                if len(places) == 1:
                    lines.append(f"- {places[0]}: {status}: {reason}")
                else:
                    lines.append(f"- {status} ({len(places)}): {reason}")
                    lines += [f"    {p}" for p in places]
        lines += [f"Note: {n}" for n in self.notes]
        return "\n".join(lines)

    def to_latex(self) -> str:
        """A booktabs ``table`` (needs ``\\usepackage{booktabs}``); the missing list follows as
        ``%`` comments."""
        cols = "ll" + "c" * len(self.columns)
        lines = ["% generated by prl.analysis", "\\begin{table}[t]", "\\centering",
                 f"\\caption{{{_tex(self.caption)}}}", f"\\begin{{tabular}}{{{cols}}}", "\\toprule",
                 " & ".join(["Dataset", "Noise"] + [_tex(c) for c in self.columns]) + " \\\\", "\\midrule"]
        index = self.cells.set_index(["dataset_name", "noise", "column"]) if not self.cells.empty else None
        previous = None
        for ds, noise in self.rows:
            if previous is not None and ds != previous:
                lines.append("\\midrule")
            cells = [_tex(ds) if ds != previous else "", _tex(noise)]
            for col in self.columns:
                cells.append(_cell(index, (ds, noise, col), "\\textbf{{{}}}", latex=True))
            lines.append(" & ".join(cells) + " \\\\")
            previous = ds
        lines += ["\\bottomrule", "\\end{tabular}", "\\end{table}"]
        lines += ["% " + line for line in self.missing_text().splitlines()]
        return "\n".join(lines) + "\n"

    def to_csv(self, path: Optional[str] = None) -> Optional[str]:
        """The cells in long form (one line per cell: numbers, n, expected, best, text)."""
        cols = ["dataset", "dataset_name", "noise", "column", "algorithm", "task", "metric", "mean", "std", "n",
                "expected", "best", "text"]
        return self.cells[cols].to_csv(path, index=False)

    def __str__(self) -> str:
        return self.to_markdown()

    def _repr_markdown_(self) -> str:
        return self.to_markdown()


def _short(path: str) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return rel if not rel.startswith("../..") else path


def _cell(index, key, bold: str, latex: bool = False) -> str:
    if index is None or key not in index.index:
        return "–" if not latex else "--"
    c = index.loc[key]
    if c["n"] == 0:
        return "–" if not latex else "--"
    text = c["latex"] if latex else c["text"]
    return bold.format(text) if c["best"] else text


_TEX = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
        "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\\": r"\textbackslash{}", "±": r"$\pm$",
        "–": "--"}


def _tex(s: str) -> str:
    return "".join(_TEX.get(ch, ch) for ch in str(s))


def _order(values: Iterable[str], preferred: Sequence[str]) -> list[str]:
    pos = {v: i for i, v in enumerate(preferred)}
    return sorted(set(values), key=lambda v: (pos.get(v.split(" [")[0], len(pos)), v))


def paper_table(runs: pd.DataFrame, metric: str = "last10", decimals: Optional[int] = None) -> Table:
    """Pivot :func:`collect`'s frame into rows dataset x noise and columns algorithm.

    ``metric``: ``final`` | ``best`` | ``last10`` (see the module docstring) or a summary column.
    ``decimals``: digits after the point (default 2 for accuracy in %, 4 for MSE).
    """
    if runs.empty:
        raise AnalysisError("no runs to tabulate")
    df = runs.copy()
    metrics = {task: resolve_metric(metric, task) for task in df["task"].unique()}
    for task, m in metrics.items():
        if m.column not in df.columns or df.loc[df["task"] == task, m.column].isna().all():
            if (df.loc[df["task"] == task, "status"] == "completed").any():
                avail = sorted(c for c in df.columns if c.startswith(("test_", "label_")) and df[c].notna().any())
                raise AnalysisError(f"no run reports {m.column}; available: {', '.join(avail)}")
    df["_value"] = [_number(r.get(metrics[r["task"]].column)) for _, r in df.iterrows()]
    counted = (df["status"] == "completed") & ~df["duplicate"] & df["_value"].notna()
    live = df[~df["duplicate"]]

    row_keys = live[["dataset", "dataset_name", "noise"]].drop_duplicates()
    row_keys = row_keys.assign(
        _d=row_keys["dataset"].map(lambda d: DATASET_ORDER.index(d) if d in DATASET_ORDER else len(DATASET_ORDER)))
    first = live.drop_duplicates("noise").set_index("noise")
    row_keys["_t"] = row_keys["noise"].map(lambda n: NOISE_ORDER.index(first.loc[n, "noise_type"])
                                           if first.loc[n, "noise_type"] in NOISE_ORDER else len(NOISE_ORDER))
    row_keys["_r"] = row_keys["noise"].map(lambda n: -(first.loc[n, "noise_rate"] if not pd.isna(first.loc[n, "noise_rate"]) else 0))
    row_keys = row_keys.sort_values(["_d", "dataset", "_t", "_r", "noise"])
    columns = _order(live["column"].unique(), ALGORITHM_ORDER)
    noise_seeds_vary = live["noise_seed"].nunique(dropna=True) > 1

    cells, missing = [], []
    rows = []
    for rk in row_keys.itertuples(index=False):
        rows.append((rk.dataset_name, rk.noise))
        in_row = live[(live["dataset"] == rk.dataset) & (live["noise"] == rk.noise)]
        task = in_row["task"].iloc[0]
        m = metrics[task]
        digits = decimals if decimals is not None else (2 if m.column.startswith(("test_acc", "label_")) else 4)
        expected = {(s, ns) for s, ns in zip(in_row["seed"], in_row["noise_seed"])}
        row_cells = []
        for col in columns:
            in_cell = in_row[in_row["column"] == col]
            ok = in_cell[counted.reindex(in_cell.index)]
            vals = ok["_value"].to_numpy(dtype=float)
            n = len(vals)
            mean = float(vals.mean()) if n else float("nan")
            std = float(vals.std(ddof=1)) if n > 1 else float("nan")
            have = {(s, ns) for s, ns in zip(ok["seed"], ok["noise_seed"])}
            base = {"dataset": rk.dataset, "dataset_name": rk.dataset_name, "noise": rk.noise, "column": col}
            if in_cell.empty:
                missing.append({**base, "seed": np.nan, "noise_seed": np.nan, "status": "no run",
                                "reason": "no run of this algorithm for this row", "run_dir": None})
            else:
                for rep in sorted(expected - have, key=lambda r: (_sortable(r[0]), _sortable(r[1]))):
                    runs_rep = in_cell[(in_cell["seed"] == rep[0]) & (in_cell["noise_seed"] == rep[1])] \
                        if rep[0] is not None else in_cell.iloc[0:0]
                    if runs_rep.empty:
                        missing.append({**base, "seed": rep[0], "noise_seed": rep[1], "status": "no run",
                                        "reason": "no run of this seed (other cells of the row have one)",
                                        "run_dir": None})
                    else:
                        r = runs_rep.iloc[0]
                        missing.append({**base, "seed": rep[0], "noise_seed": rep[1], "status": r["status"],
                                        "reason": _reason(r), "run_dir": r["run_dir"]})
            text, latex = "–", "--"
            if n:
                count = f"({n})" if n >= len(expected) else f"({n}/{len(expected)})"
                spread = f" ± {std:.{digits}f}" if n > 1 else ""
                text = f"{mean:.{digits}f}{spread} {count}"
                latex = f"{mean:.{digits}f}" + (f" $\\pm$ {std:.{digits}f}" if n > 1 else "") + \
                        f"\\,{{\\scriptsize {count}}}"
            row_cells.append({**base, "algorithm": col.split(" [")[0], "task": task, "metric": m.column,
                              "mean": mean, "std": std, "n": n, "expected": len(expected), "text": text,
                              "latex": latex, "higher_is_better": m.higher_is_better})
        means = [c["mean"] for c in row_cells if c["n"]]
        target = (max(means) if m.higher_is_better else min(means)) if means else None
        for c in row_cells:
            c["best"] = bool(c["n"] and target is not None and c["mean"] == target)
        cells += row_cells

    notes = []
    for sweep in sorted(s for s in df["sweep"].dropna().unique()):
        jobs = sweep_jobs(sweep)
        if jobs is None:
            continue
        found = set(df.loc[df["sweep"] == sweep, "job"].dropna().astype(int))
        absent = [i for i in range(len(jobs)) if i not in found]
        varying = _varying_keys(jobs)
        for i in absent:
            desc = " ".join(o for o in jobs[i] if o.split("=", 1)[0] in varying)
            missing.append({"dataset": None, "dataset_name": None, "noise": None, "column": None, "seed": np.nan,
                            "noise_seed": np.nan, "status": "not started", "job": f"job #{i} ({desc})",
                            "reason": f"no directory in {_short(sweep)} (queued, or the sweep was stopped)",
                            "run_dir": None})
    dups = df[df["duplicate"]]
    if len(dups):
        notes.append(f"{len(dups)} older run(s) of a cell and seed already covered were not counted "
                     f"(duplicate=True in runs.csv): " + ", ".join(_short(d) for d in dups["run_dir"][:5])
                     + (" ..." if len(dups) > 5 else ""))
    variants = sorted(v for v in df["variant"].unique() if v)
    if variants:
        notes.append("cells were split by settings that differ between runs: " + "; ".join(variants))
    done = df[counted]
    if any(m.column.endswith("_last10_mean") for m in metrics.values()):
        short = done[done["epochs_completed"] < 10]
        if len(short):
            epochs = ", ".join(str(int(e)) for e in sorted(short["epochs_completed"].unique()))
            notes.append(f"{len(short)} counted run(s) trained fewer than 10 epochs ({epochs}): their last-10 mean "
                         f"averages all of their epochs; --metric final may suit them better")
    if len(done):
        notes.append(f"{len(done)} completed run(s) counted, {_duration(done['wall_time_s'].sum())} of training in all")

    labels = sorted({m.label for m in metrics.values()})
    caption = (f"{'; '.join(labels)}; each run reports the mean over its networks. Cells: mean ± sample std "
               f"over seeds (n completed runs; n/m when m were expected); bold: best mean in the row.")
    cells_df = pd.DataFrame(cells)
    missing_df = pd.DataFrame(missing, columns=["dataset", "dataset_name", "noise", "column", "seed", "noise_seed",
                                                "job", "status", "reason", "run_dir"])
    missing_df = missing_df.drop(columns=["dataset"]).rename(columns={"dataset_name": "dataset"})
    missing_df["noise_seed_varies"] = noise_seeds_vary
    return Table(cells_df, missing_df, rows, columns, caption, notes)


def _duration(seconds: float) -> str:
    if not seconds or math.isnan(seconds):
        return "0 s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _sortable(v):
    return (1, 0) if v is None or (isinstance(v, float) and math.isnan(v)) else (0, v)


def _varying_keys(jobs: list[list[str]]) -> set[str]:
    values: dict[str, set] = {}
    for job in jobs:
        for o in job:
            k, _, v = o.partition("=")
            values.setdefault(k, set()).add(v)
    return {k for k, v in values.items() if len(v) > 1}


def _reason(r: pd.Series) -> str:
    status = r["status"]
    done = "" if pd.isna(r["epochs_completed"]) else f"{int(r['epochs_completed'])}"
    total = "" if pd.isna(r["epochs"]) else f"/{int(r['epochs'])}"
    resume = f"; continue it with: python run.py resume={_short(r['run_dir'])}"
    if status == "completed":
        return "completed without a value for the metric"
    if status == "interrupted":
        return f"interrupted after {done}{total} epochs{resume}"
    if status == "diverged":
        return f"diverged (non-finite loss) after {done}{total} epochs"
    if status == "incomplete":
        return f"{r['error']}{resume if done else ''}"
    return str(r["error"] or "failed")


# ============================================================================= curves and plots


def run_summary(run_dir: str) -> pd.Series:
    """``summary.json`` of one run, nested keys flattened (``noise.rate``, ``choices.model``)."""
    summary = outputs.read_json(os.path.join(run_dir, outputs.SUMMARY))
    if summary is None:
        raise AnalysisError(f"{run_dir} has no readable summary.json (still running, killed, or not a run)")
    return pd.Series(_flatten(summary, encode=False), dtype=object)


def run_metrics(run_dir: str) -> pd.DataFrame:
    """``metrics.jsonl`` of one run: one row per epoch (complete lines only)."""
    recs = outputs.read_jsonl(os.path.join(run_dir, outputs.METRICS))
    return pd.DataFrame(recs)


def curves(runs: pd.DataFrame, statuses: Sequence[str] = ("completed",)) -> pd.DataFrame:
    """Per-epoch metrics of the (non-duplicate) runs with one of ``statuses``: one row per run
    and epoch, with the run's table keys (dataset_name, noise, column, seed, task, ...)."""
    keys = ["dataset", "dataset_name", "noise", "column", "algorithm", "seed", "noise_seed", "task",
            "noise_rate_realised", "run_dir"]
    sel = runs[runs["status"].isin(statuses) & ~runs["duplicate"]]
    parts = []
    for _, r in sel.iterrows():
        m = run_metrics(r["run_dir"])
        if m.empty:
            continue
        for k in keys:
            m[k] = r[k]
        parts.append(m)
    if not parts:
        return pd.DataFrame(columns=keys + ["epoch"])
    out = pd.concat(parts, ignore_index=True)
    return out[keys + [c for c in out.columns if c not in keys]]


_YLABEL = {"test_accuracy": "test accuracy (%)", "label_precision": "label precision (%)",
           "label_recall": "label recall (%)", "test_mse": "test MSE", "train_loss": "training loss",
           "epsilon": "epsilon (fraction dropped)"}


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
        metric = _primary(tasks[0])[0]
    if metric not in curve_df.columns:
        raise AnalysisError(f"no per-epoch {metric!r} in these runs; available: "
                            f"{', '.join(c for c in curve_df.columns if c not in ('run_dir', 'dataset'))}")
    data = curve_df.dropna(subset=[metric])
    panels = list(dict.fromkeys(zip(data["dataset_name"], data["noise"])))
    columns = _order(data["column"].unique(), ALGORITHM_ORDER)
    if not panels:
        raise AnalysisError(f"no completed run has per-epoch {metric}")
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
    fig.suptitle(_short(run_dir), fontsize=10)
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


# ============================================================================= report + CLI


@dataclass
class Report:
    runs: pd.DataFrame
    table: Table
    out: str
    files: list[str]


def report(paths: Sequence[str], out: Optional[str] = None, metric: str = "last10",
           decimals: Optional[int] = None, plots: bool = True) -> Report:
    """Collect, tabulate and write everything into ``out`` (default ``<paths[0]>/analysis``):
    ``table.md``, ``table.tex``, ``table.csv`` (long form), ``runs.csv`` (one line per run),
    ``missing.csv`` and, with ``plots``, ``curves_<metric>.png`` per test metric and
    ``curves_label_precision.png``."""
    runs = collect(*paths)
    table = paper_table(runs, metric=metric, decimals=decimals)
    if plots and importlib.util.find_spec("matplotlib") is None:
        plots = False
        table.notes.append("no plots: matplotlib is not installed (pip install matplotlib)")
    out = out or os.path.join(paths[0], "analysis")
    os.makedirs(out, exist_ok=True)
    files = []

    def put(name: str, text: str) -> None:
        path = os.path.join(out, name)
        outputs.write_text(path, text)
        files.append(path)

    put("table.md", f"<!-- prl.analysis of {', '.join(paths)} -->\n\n" + table.to_markdown())
    put("table.tex", table.to_latex())
    put("table.csv", table.to_csv())
    put("runs.csv", runs.to_csv(index=False))
    put("missing.csv", table.missing.drop(columns=["noise_seed_varies"]).to_csv(index=False))
    if plots:
        c = curves(runs)
        if not c.empty:
            wanted = [_primary(t)[0] for t in c["task"].unique()] + ["label_precision"]
            for name in dict.fromkeys(wanted):
                if name not in c.columns or c[name].isna().all():
                    continue
                fig = plot_curves(c, name)
                path = os.path.join(out, f"curves_{name}.png")
                outputs.atomic_write(path, lambda fh, fig=fig: fig.savefig(fh, format="png", dpi=120))
                files.append(path)
    return Report(runs, table, out, files)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m prl.analysis",
        description="Print the paper-style table of every run under the given directories and write it "
                    "(Markdown, LaTeX, CSV) with plots of the curves over epochs.")
    parser.add_argument("paths", nargs="+", help="sweep directories (multirun/...), run directories or folders of them")
    parser.add_argument("--out", help="where to write (default: <first path>/analysis)")
    parser.add_argument("--metric", default="last10",
                        help="final | best | last10 (default; mean of the last 10 epochs) or a summary column, "
                             "e.g. label_precision_last10_mean")
    parser.add_argument("--decimals", type=int, default=None, help="digits after the point")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    parser.add_argument("--strict", action="store_true", help="exit with status 1 when anything is missing")
    args = parser.parse_args(argv)
    try:
        rep = report(args.paths, out=args.out, metric=args.metric, decimals=args.decimals, plots=not args.no_plots)
    except AnalysisError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    counts = rep.runs[~rep.runs["duplicate"]]["status"].value_counts()
    try:
        print(f"{len(rep.runs)} run(s): " + ", ".join(f"{n} {s}" for s, n in counts.items()) + "\n")
        print(rep.table.to_markdown())
        print("Wrote " + ", ".join(_short(f) for f in rep.files))
        sys.stdout.flush()
    except BrokenPipeError:  # `| head`: the files are written all the same
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 1 if args.strict and len(rep.table.missing) else 0


if __name__ == "__main__":
    sys.exit(main())
