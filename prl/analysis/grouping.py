"""Which runs are repeats of one setting: the table keys each run gets.

* ``noise``: the row's noise label (``pair-flip 45%``), ``column``: the algorithm.
* **Variants**: runs of one row (or one cell) that differ in a setting other than the keys in
  :data:`IGNORED_KEYS` are split, not averaged: ``row_variant`` / ``variant`` name the
  settings (``optimizer.lr=0.01``), and the noise label / column get them in brackets.
* **Duplicates**: of two runs of the same cell and replicate, the best status wins, then the
  newest; the other gets ``duplicate=True`` and is not counted.
"""

from __future__ import annotations

import pandas as pd

from prl.analysis.common import STATUSES, is_missing
from prl.config import EXECUTION_KEYS, PERFORMANCE_KEYS, REPLICATE_KEYS, matches

__all__ = ["IGNORED_KEYS", "VARIANT_CHOICES", "ROW_KEYS", "add_table_keys", "noise_label"]

#: config keys (flattened, prefix match) that never make two runs different settings:
#: replicate keys, how a run is executed, performance knobs (one source: :mod:`prl.config`)
IGNORED_KEYS = REPLICATE_KEYS + EXECUTION_KEYS + PERFORMANCE_KEYS
#: Hydra group choices that can split a column (model=..., optimizer=..., ...)
VARIANT_CHOICES = ("model", "optimizer", "scheduler", "protocol")
#: the columns that make a table row
ROW_KEYS = ["dataset", "noise_type", "noise_rate", "row_variant"]
_NOISE_NAMES = {"pairflip": "pair-flip", "classmap": "class-map", "labelfile": "label file"}
_STATUS_RANK = {s: i for i, s in enumerate(STATUSES)}


def add_table_keys(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with ``row_variant``, ``variant``, ``column``, ``noise`` and ``duplicate`` set."""
    df = df.copy()
    df["row_variant"] = _variant_labels(df, ["dataset", "noise_type", "noise_rate"], _row_candidates(df))
    df["variant"] = ""
    for _, part in df.groupby("algorithm", sort=False):
        df.loc[part.index, "variant"] = _variant_labels(part, ROW_KEYS, _column_candidates(df))
    df["column"] = [a if not v else f"{a} [{v}]" for a, v in zip(df["algorithm"], df["variant"])]
    df["noise"] = [noise_label(t, r, v) for t, r, v in zip(df["noise_type"], df["noise_rate"], df["row_variant"])]
    df["duplicate"] = _duplicates(df)
    return df


def noise_label(kind: str, rate: float, variant: str = "") -> str:
    """``("pairflip", 0.45)`` -> ``pair-flip 45%``; a row variant follows in brackets."""
    name = _NOISE_NAMES.get(kind, kind)
    if kind == "clean":
        text = "clean"
    elif is_missing(rate):
        text = name
    else:
        text = f"{name} {100 * rate:.4g}%"
    return f"{text} [{variant}]" if variant else text


def _ignored(column: str) -> bool:
    return matches(column[len("cfg."):], IGNORED_KEYS)


def _row_candidates(df: pd.DataFrame) -> list[str]:
    """Settings that may split a row: dataset and noise keys."""
    return sorted(c for c in df.columns
                  if c.startswith(("cfg.dataset.", "cfg.noise.")) and not _ignored(c)
                  and c not in ("cfg.noise.rate", "cfg.noise._target_", "cfg.dataset._target_"))


def _column_candidates(df: pd.DataFrame) -> list[str]:
    """Settings that may split a column: group choices first, then every other config key."""
    cfg = sorted(c for c in df.columns
                 if c.startswith("cfg.") and not c.startswith(("cfg.dataset.", "cfg.noise.")) and not _ignored(c)
                 and c != "cfg.algorithm.name")
    return [f"choice.{g}" for g in VARIANT_CHOICES if f"choice.{g}" in df.columns] + cfg


def _variant_labels(df: pd.DataFrame, group: list[str], candidates: list[str]) -> pd.Series:
    """Greedy: a candidate key joins the split when it still takes more than one value in
    some group of ``group`` + the keys chosen so far; returns ``key=value, ...`` per run."""
    chosen: list[str] = []
    if len(df) > 1:
        keys = df[group].map(str).agg("\x1f".join, axis=1)
        for key in candidates:
            if key not in df.columns or df[key].isna().all():
                continue
            labels = keys
            for c in chosen:
                labels = labels + "\x1f" + df[c].map(str)
            if (df[key].groupby(labels).nunique(dropna=True) > 1).any():
                chosen.append(key)
    if not chosen:
        return pd.Series([""] * len(df), index=df.index)
    return df.apply(lambda row: ", ".join(f"{c.split('.', 1)[1]}={row[c]}" for c in chosen if not is_missing(row[c])),
                    axis=1)


def _duplicates(df: pd.DataFrame) -> pd.Series:
    """True for every run but the best (status, then newest) of its cell and replicate."""
    key = ROW_KEYS + ["column", "seed", "noise_seed"]
    order = df.assign(_rank=df["status"].map(_STATUS_RANK), _neg=-df["mtime"]).sort_values(["_rank", "_neg"])
    first = ~order.duplicated(subset=key, keep="first")
    return ~first.reindex(df.index)
