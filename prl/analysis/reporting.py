"""The report: collect the runs, tabulate them and write every output into one folder
(``<first dir>/analysis/`` unless told otherwise)."""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from typing import Optional, Sequence

import pandas as pd

from prl import outputs
from prl.analysis.common import primary_metric
from prl.analysis.plots import curves, plot_curves
from prl.analysis.runs import collect
from prl.analysis.tables import Table, paper_table

__all__ = ["Report", "report"]


@dataclass
class Report:
    """What :func:`report` read, tabulated and wrote."""

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
            wanted = [primary_metric(t)[0] for t in c["task"].unique()] + ["label_precision"]
            for name in dict.fromkeys(wanted):
                if name not in c.columns or c[name].isna().all():
                    continue
                fig = plot_curves(c, name)
                path = os.path.join(out, f"curves_{name}.png")
                outputs.atomic_write(path, lambda fh, fig=fig: fig.savefig(fh, format="png", dpi=120))
                files.append(path)
    return Report(runs, table, out, files)
