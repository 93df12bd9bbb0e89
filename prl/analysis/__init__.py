"""Collect run directories into a tidy DataFrame; pivot it into paper-style tables and plots.

Command line (prints the table, writes ``<first dir>/analysis/`` or ``--out``)::

    python -m prl.analysis multirun/fmnist-table              # every sweep below it
    python -m prl.analysis multirun/2026-11-28/12-00-00-1a2b3c outputs --metric final --out results

Library (the notebooks in ``analysis/`` call only this)::

    runs = collect("multirun/fmnist-table")    # one row per run directory
    table = paper_table(runs)                  # rows dataset x noise, columns algorithm
    print(table); table.to_latex()
    fig = plot_curves(curves(runs), "test_accuracy")

Where each concept lives
------------------------
=====================  =====================================================================
``runs.py``            finding run directories, reading one run / all of them into the tidy
                       per-run frame (:func:`find_runs`, :func:`read_run`, :func:`collect`,
                       :func:`run_summary`, :func:`run_metrics`, :data:`RUN_COLUMNS`)
``grouping.py``        which runs are repeats of one setting: noise labels, variants that
                       split a row or cell, duplicates (:data:`IGNORED_KEYS`)
``sweeps.py``          what a sweep was supposed to run, from its ``multirun.yaml``
                       (:func:`sweep_grid`, :func:`sweep_jobs`, :func:`latest_sweep`) and
                       the jobs that never started
``metrics.py``         the metric protocols (:func:`resolve_metric`)
``tables.py``          the paper-style :class:`Table` (:func:`paper_table`) and its Markdown,
                       LaTeX and CSV output
``plots.py``           curves over epochs and plots (:func:`curves`, :func:`plot_curves`,
                       :func:`plot_estimates`, :func:`plot_run`, :func:`noise_transition`,
                       :func:`plot_transition`) and the notebooks' small views
                       (:func:`compare_metrics`, :func:`with_estimates`, :func:`pick_run`)
``reporting.py``       :func:`report`: everything written into ``DIR/analysis/``
``results.py``         :func:`export_results` / :func:`load_results`: tidy results to commit, read back
``cli.py``             the command line (:func:`main`; ``__main__.py`` runs it)
``common.py``          :class:`AnalysisError` and small helpers the others share
=====================  =====================================================================

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

from prl.analysis.cli import main
from prl.analysis.common import STATUSES, AnalysisError
from prl.analysis.grouping import IGNORED_KEYS, VARIANT_CHOICES
from prl.analysis.metrics import PROTOCOLS, Metric, resolve_metric
from prl.analysis.plots import (compare_metrics, curves, noise_transition, pick_run, plot_curves, plot_estimates,
                                plot_run, plot_transition, with_estimates)
from prl.analysis.reporting import Report, report
from prl.analysis.results import export_results, load_results
from prl.analysis.runs import RUN_COLUMNS, collect, find_runs, read_run, run_metrics, run_summary
from prl.analysis.sweeps import latest_sweep, sweep_grid, sweep_jobs
from prl.analysis.tables import DATASET_ORDER, NOISE_ORDER, Table, paper_table

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
    "plot_estimates",
    "run_summary",
    "run_metrics",
    "plot_run",
    "noise_transition",
    "plot_transition",
    "compare_metrics",
    "with_estimates",
    "pick_run",
    "report",
    "export_results",
    "load_results",
    "main",
    "RUN_COLUMNS",
    "IGNORED_KEYS",
]
# also importable from here, as before the split: Metric, STATUSES, PROTOCOLS, VARIANT_CHOICES,
# DATASET_ORDER, NOISE_ORDER
