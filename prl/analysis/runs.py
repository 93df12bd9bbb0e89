"""Reading run directories: find them, read one into a flat dict, read all into the tidy frame.

A **run** is a directory holding ``summary.json`` or ``.hydra/`` (one single run under
``outputs/`` or one job of a multirun).  Without ``summary.json`` it is ``incomplete``.  The
file names and readers are :mod:`prl.outputs`'s; which runs share a table row or cell is
:mod:`prl.analysis.grouping`'s business.
"""

from __future__ import annotations

import json
import os
from typing import Any, Optional

import numpy as np
import pandas as pd

from prl import outputs
from prl.analysis import grouping
from prl.analysis.common import STATUSES, AnalysisError, last_part, load_yaml, number
from prl.analysis.sweeps import sweep_dir

__all__ = ["RUN_COLUMNS", "find_runs", "read_run", "collect", "run_summary", "run_metrics"]

#: Hydra's record of a job, in its directory
HYDRA_DIR = outputs.HYDRA_DIR

#: numeric summary fields read into the tidy frame, by prefix: test metrics, label precision /
#: recall, epsilon and its estimates, the suspect ranking's quality and cleanlab's
SUMMARY_NUMBERS = ("test_", "label_", "epsilon_", "suspect", "cleanlab_", "noise_rate_expected")

#: the tidy per-run columns, in order (``cfg.*`` columns with the flattened config follow)
RUN_COLUMNS = [
    "dataset", "dataset_name", "noise", "noise_type", "noise_rate", "algorithm", "column", "model", "seed",
    "noise_seed", "status", "duplicate", "task", "epochs", "epochs_completed",
    "test_accuracy_final", "test_accuracy_best", "test_accuracy_last10_mean",
    "test_mse_final", "test_mse_best", "test_mse_last10_mean",
    "label_precision_final", "label_precision_last10_mean", "noise_rate_realised", "epsilon",
    "wall_time_s", "row_variant", "variant", "error", "overrides", "run_dir", "sweep", "job", "mtime",
]


def find_runs(*paths: str) -> list[str]:
    """Every run directory at or below ``paths`` (sorted; ``wandb/`` and hidden folders skipped)."""
    found = []
    for p in paths:
        if not os.path.isdir(p):
            raise AnalysisError(f"{p} is not a directory; pass a sweep directory (multirun/...), a run "
                                f"directory (outputs/...) or a folder holding them")
        for dirpath, dirnames, filenames in os.walk(p):
            if outputs.SUMMARY in filenames or HYDRA_DIR in dirnames:
                found.append(os.path.abspath(dirpath))
                dirnames[:] = []
                continue
            dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d != "wandb")
    return sorted(set(found), key=_natural_key)


def _natural_key(path: str) -> list:
    """Sort key that puts job ``2`` before job ``10``."""
    return [int(t) if t.isdigit() else t for t in path.replace(os.sep, "/").split("/")]


def read_run(run_dir: str) -> dict:
    """One run directory as a flat dict (the columns of :data:`prl.analysis.RUN_COLUMNS`, before
    the table-wide fields ``noise``, ``column``, ``variant`` and ``duplicate`` are filled in,
    plus ``cfg.<key>`` for every flattened config key)."""
    summary = outputs.read_json(os.path.join(run_dir, outputs.SUMMARY)) or {}
    hydra_cfg = (load_yaml(os.path.join(run_dir, HYDRA_DIR, "hydra.yaml")) or {}).get("hydra", {}) or {}
    config = _job_config(run_dir)
    choices = dict(summary.get("choices") or hydra_cfg.get("runtime", {}).get("choices") or {})
    noise_cfg = _section(config, "noise")
    noise_info = _section(summary, "noise")
    status = summary.get("status") or "incomplete"
    if status not in STATUSES:
        status = "failed"
    metrics_path = os.path.join(run_dir, outputs.METRICS)
    epochs_completed = summary.get("epochs_completed")
    if epochs_completed is None and os.path.isfile(metrics_path):
        epochs_completed = len(outputs.read_jsonl(metrics_path))
    error = summary.get("error")
    if status == "incomplete":
        error = "no summary.json (still running, killed, or crashed before training)"
    row = {
        "dataset": (choices.get("dataset") or summary.get("dataset")
                    or last_part(_section(config, "dataset").get("_target_"))),
        "dataset_name": summary.get("dataset"),
        "noise_type": noise_info.get("type"),
        "noise_target": noise_cfg.get("_target_"),
        "noise_rate": number(noise_info["rate"]) if "rate" in noise_info else number(noise_cfg.get("rate")),
        "algorithm": choices.get("algorithm") or _section(config, "algorithm").get("name") or summary.get("algorithm"),
        "model": choices.get("model"),
        "seed": _int(summary.get("seed", config.get("seed"))),
        "noise_seed": _int(noise_info.get("seed", noise_cfg.get("seed"))),
        "status": status,
        "task": summary.get("task"),
        "epochs": _int(summary.get("epochs", _section(config, "trainer").get("epochs"))),
        "epochs_completed": _int(epochs_completed),
        "noise_rate_realised": number(summary.get("noise_rate_realised")),
        "epsilon": number(summary.get("epsilon")),
        "wall_time_s": number(summary.get("wall_time_s")),
        "error": (str(error).strip().splitlines() or [""])[0] if error else None,
        "overrides": " ".join(str(o) for o in (hydra_cfg.get("overrides", {}) or {}).get("task", []) or []),
        "run_dir": os.path.abspath(run_dir),
        "sweep": sweep_dir(run_dir),
        "job": _int((hydra_cfg.get("job") or {}).get("num")),
        "mtime": os.path.getmtime(os.path.join(run_dir, outputs.SUMMARY) if summary else run_dir),
    }
    for key, value in summary.items():
        if key.startswith(SUMMARY_NUMBERS) and isinstance(value, (int, float)) and not isinstance(value, bool):
            row[key] = number(value)
    for group in grouping.VARIANT_CHOICES:
        row[f"choice.{group}"] = choices.get(group)
    for key, value in _flatten(config).items():
        row[f"cfg.{key}"] = value
    return row


def collect(*paths: str) -> pd.DataFrame:
    """Every run under ``paths`` as one tidy row (see :data:`prl.analysis.RUN_COLUMNS` and the
    package docstring); ``cfg.*`` columns hold each run's flattened config.

    Raises :class:`AnalysisError` when a path is missing or holds no run.
    """
    if not paths:
        raise AnalysisError("no directory given")
    run_dirs = find_runs(*paths)
    if not run_dirs:
        raise AnalysisError(f"no run directories (a folder with summary.json or .hydra/) under "
                            f"{', '.join(paths)}")
    return _tidy(pd.DataFrame([read_run(d) for d in run_dirs]))


def _tidy(df: pd.DataFrame) -> pd.DataFrame:
    """The frame of :func:`read_run` rows, completed: what a failed run lacks is taken from
    runs of the same kind, the table keys are added (:func:`grouping.add_table_keys`), and the
    columns put in the order of :data:`RUN_COLUMNS`, then the rest, then ``cfg.*`` / ``choice.*``."""
    df = df.copy()
    types = df.dropna(subset=["noise_type", "noise_target"]).groupby("noise_target")["noise_type"].first()
    missing = df["noise_type"].isna()
    df.loc[missing, "noise_type"] = df.loc[missing, "noise_target"].map(types)
    missing = df["noise_type"].isna()
    df.loc[missing, "noise_type"] = df.loc[missing, "noise_target"].map(lambda t: (last_part(t) or "unknown").lower())
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
    df = grouping.add_table_keys(df.drop(columns=["noise_target"]))
    for col in RUN_COLUMNS:
        if col not in df:
            df[col] = np.nan
    cfg_cols = sorted(c for c in df.columns if c.startswith(("cfg.", "choice.")))
    extra = [c for c in df.columns if c not in RUN_COLUMNS and c not in cfg_cols]
    return df[RUN_COLUMNS + extra + cfg_cols].reset_index(drop=True)


def run_summary(run_dir: str) -> pd.Series:
    """``summary.json`` of one run, nested keys flattened (``noise.rate``, ``choices.model``)."""
    summary = outputs.read_json(os.path.join(run_dir, outputs.SUMMARY))
    if summary is None:
        raise AnalysisError(f"{run_dir} has no readable summary.json (still running, killed, or not a run)")
    return pd.Series(_flatten(summary, encode=False), dtype=object)


def run_metrics(run_dir: str) -> pd.DataFrame:
    """``metrics.jsonl`` of one run: one row per epoch (complete lines only)."""
    return pd.DataFrame(outputs.read_jsonl(os.path.join(run_dir, outputs.METRICS)))


# ----------------------------------------------------------------------------- helpers


def _job_config(run_dir: str) -> dict:
    """The run's config: ``config.yaml`` (resolved by the runner) or, for a run that failed
    before writing it, Hydra's ``.hydra/config.yaml`` resolved here when possible."""
    cfg = load_yaml(os.path.join(run_dir, outputs.CONFIG))
    if isinstance(cfg, dict):
        return cfg
    path = os.path.join(run_dir, HYDRA_DIR, "config.yaml")
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


def _section(obj: dict, key: str) -> dict:
    """``obj[key]`` when it is a mapping, else ``{}``."""
    value = obj.get(key)
    return value if isinstance(value, dict) else {}


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


def _int(v: Any) -> Optional[int]:
    try:
        return int(v)
    except (TypeError, ValueError):
        return None
