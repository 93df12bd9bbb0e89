"""``python -m prl.analysis DIR...``: print the table and write the report.

Exit status: 0, or 1 with ``--strict`` when anything is missing from the table, or 2 on bad
input (one ``Error:`` line on stderr).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Optional, Sequence

from prl.analysis.common import AnalysisError, short_path
from prl.analysis.reporting import report
from prl.analysis.results import export_results

__all__ = ["main"]


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m prl.analysis",
        description="Print the paper-style table of every run under the given directories and write it "
                    "(Markdown, LaTeX, CSV) with plots of the curves over epochs.")
    parser.add_argument("paths", nargs="+", help="sweep directories (multirun/...), run directories or folders of them")
    parser.add_argument("--out", help="where to write (default: <first path>/analysis)")
    parser.add_argument("--metric", default="last10",
                        help="final | best | last10 (default; mean of the last 10 epochs) | estimate (epsilon=auto's "
                             "estimate against the realised corrupted fraction) or a summary column, e.g. "
                             "label_precision_last10_mean, suspect_auroc, epsilon_estimate_error")
    parser.add_argument("--decimals", type=int, default=None, help="digits after the point")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    parser.add_argument("--strict", action="store_true", help="exit with status 1 when anything is missing")
    parser.add_argument("--export", metavar="FOLDER",
                        help="also write the tidy results (runs.csv, curves.csv.gz: no checkpoints) into FOLDER, "
                             "for the notebooks' PRL_RESULTS or to commit")
    args = parser.parse_args(argv)
    try:
        if args.export:
            print("Exported " + ", ".join(short_path(f) for f in export_results(args.paths, args.export)))
        rep = report(args.paths, out=args.out, metric=args.metric, decimals=args.decimals, plots=not args.no_plots)
    except AnalysisError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    counts = rep.runs[~rep.runs["duplicate"]]["status"].value_counts()
    try:
        print(f"{len(rep.runs)} run(s): " + ", ".join(f"{n} {s}" for s, n in counts.items()) + "\n")
        print(rep.table.to_markdown())
        print("Wrote " + ", ".join(short_path(f) for f in rep.files))
        sys.stdout.flush()
    except BrokenPipeError:  # `| head`: the files are written all the same
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 1 if args.strict and len(rep.table.missing) else 0
