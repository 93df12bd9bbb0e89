"""Tidy results that can be committed: one row per run and the per-epoch curves, without the run
directories (no checkpoints), and read back into the frames the tables and plots take.

``export_results(paths, out)`` writes ``out/runs.csv`` (:func:`prl.analysis.collect`'s frame;
paths relative to ``base``) and ``out/curves.csv.gz`` (:func:`prl.analysis.curves`' frame);
``load_results(out)`` returns ``(runs, curves)`` ready for :func:`prl.analysis.paper_table` and
:func:`prl.analysis.plot_curves`.
"""

from __future__ import annotations

import os
from typing import Optional, Sequence

import pandas as pd

from prl import outputs
from prl.analysis.common import AnalysisError
from prl.analysis.plots import curves
from prl.analysis.runs import collect

__all__ = ["export_results", "load_results", "RUNS_FILE", "CURVES_FILE"]

RUNS_FILE = "runs.csv"
CURVES_FILE = "curves.csv.gz"
_PATHS = ("run_dir", "sweep")


def export_results(paths: Sequence[str], out: str, base: Optional[str] = None) -> list[str]:
    """Write the tidy results of the runs under ``paths`` into ``out``; run and sweep paths are
    made relative to ``base`` (default: the common parent of ``paths``).  Returns the files."""
    runs = collect(*paths)
    table_curves = curves(runs)
    base = os.path.abspath(base or os.path.commonpath([os.path.abspath(p) for p in paths]))
    for frame in (runs, table_curves):
        for col in _PATHS:
            if col in frame:
                frame[col] = frame[col].map(lambda p: os.path.relpath(p, base) if isinstance(p, str) else p)
    os.makedirs(out, exist_ok=True)
    files = [os.path.join(out, RUNS_FILE), os.path.join(out, CURVES_FILE)]
    outputs.write_text(files[0], runs.to_csv(index=False))
    outputs.atomic_write(files[1], lambda fh: table_curves.to_csv(fh, index=False,
                                                                   compression={"method": "gzip", "mtime": 0}))
    return files


def load_results(folder: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(runs, curves)`` written by :func:`export_results` into ``folder``."""
    runs_path, curves_path = os.path.join(folder, RUNS_FILE), os.path.join(folder, CURVES_FILE)
    if not os.path.isfile(runs_path):
        raise AnalysisError(f"{folder} holds no {RUNS_FILE}; write one with prl.analysis.export_results")
    runs = pd.read_csv(runs_path, low_memory=False, dtype={c: str for c in _PATHS})
    for col in ("duplicate",):
        runs[col] = runs[col].astype(bool)
    for col in ("variant", "row_variant"):
        runs[col] = runs[col].astype(object).where(runs[col].notna(), "")
    table_curves = (pd.read_csv(curves_path, dtype={c: str for c in _PATHS}) if os.path.isfile(curves_path)
                    else pd.DataFrame())
    return runs, table_curves
