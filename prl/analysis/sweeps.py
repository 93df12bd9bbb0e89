"""What a sweep was supposed to run, so that a job that never started is listed, not forgotten.

A sweep directory holds Hydra's ``multirun.yaml`` (written by the basic sweeper before the first
job) and one folder per job, ``<sweep>/<job number>/``.  Each job writes its own ``.hydra/``
record (``overrides.yaml``: the overrides it ran with) once it owns its directory, so a job
that was queued, or killed before that, has no run directory.

:func:`sweep_grid` expands the grid the way Hydra's ``BasicSweeper`` does, with Hydra's public
override parser only: the preset's ``hydra.sweeper.params`` first, then the command line; a key
given twice keeps its first position and takes its last value; every comma list, ``range()``
or ``choice()`` is a sweep axis; the jobs are the cartesian product with the first key slowest.
"""

from __future__ import annotations

import itertools
import os
from typing import Any, Mapping, Optional, Sequence

import pandas as pd

from prl.analysis.common import AnalysisError, load_yaml, short_path

__all__ = ["SWEEP_FILE", "sweep_grid", "sweep_jobs", "sweep_dir", "latest_sweep", "unstarted_jobs"]

#: the file Hydra's basic sweeper writes into the sweep directory
SWEEP_FILE = "multirun.yaml"


def sweep_grid(params: Optional[Mapping[str, Any]], overrides: Sequence[str] = ()) -> list[list[str]]:
    """The jobs Hydra's basic sweeper launches for ``hydra.sweeper.params`` plus command-line
    ``overrides`` (a command-line key replaces the preset's), in job-number order: one list of
    ``key=value`` overrides per job.  A sweep the basic sweeper cannot enumerate (an
    ``interval()``) raises :class:`hydra.errors.HydraException`, as Hydra does."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    args = [f"{k}={v}" for k, v in (params or {}).items()] + [str(o) for o in overrides]
    axes: dict[str, list[str]] = {}  # key -> its "key=value" options; a later key keeps the first position
    for override in OverridesParser.create().parse_overrides(args):
        key = override.get_key_element()
        if not override.is_sweep_override():
            axes[key] = [f"{key}={override.get_value_element_as_str()}"]
        elif override.is_discrete_sweep():
            axes[key] = [f"{key}={value}" for value in override.sweep_string_iterator()]
        else:
            raise HydraException(f"BasicSweeper does not support sweep type : {override.value_type.name}")
    return [list(job) for job in itertools.product(*axes.values())]


def sweep_jobs(sweep_dir: str) -> Optional[list[list[str]]]:
    """The job overrides of the sweep in ``sweep_dir`` (from its ``multirun.yaml``), or None
    when they cannot be known (another sweeper, a glob sweep, no file)."""
    conf = load_yaml(os.path.join(sweep_dir, SWEEP_FILE))
    try:
        hydra = conf["hydra"]
        if not str(hydra["sweeper"]["_target_"]).endswith("BasicSweeper"):
            return None
        return sweep_grid(hydra["sweeper"].get("params"), hydra["overrides"]["task"])
    except Exception:
        return None


def sweep_dir(run_dir: str) -> Optional[str]:
    """The sweep ``run_dir`` is a job of: the nearest ancestor (3 levels at most) holding
    ``multirun.yaml``; None for a single run."""
    d = os.path.abspath(run_dir)
    for _ in range(3):
        d = os.path.dirname(d)
        if os.path.isfile(os.path.join(d, SWEEP_FILE)):
            return d
    return None


def latest_sweep(root: str = "multirun") -> str:
    """The most recently started sweep directory (one holding ``multirun.yaml``) under ``root``."""
    best, best_t = None, -1.0
    for dirpath, dirnames, filenames in os.walk(root):
        if SWEEP_FILE in filenames:
            t = os.path.getmtime(os.path.join(dirpath, SWEEP_FILE))
            if t > best_t:
                best, best_t = dirpath, t
            dirnames[:] = []
        dirnames[:] = [d for d in dirnames if not d.startswith(".") and d != "wandb"]
    if best is None:
        raise AnalysisError(f"no sweep (a folder with multirun.yaml) under {root}")
    return best


def unstarted_jobs(runs: pd.DataFrame) -> list[dict]:
    """One ``not started`` entry of :attr:`prl.analysis.Table.missing` per job of each sweep in
    ``runs`` (its ``sweep`` and ``job`` columns) that has no run directory, described by the
    overrides that vary across the sweep."""
    missing = []
    for sweep in sorted(runs["sweep"].dropna().unique()):
        jobs = sweep_jobs(sweep)
        if jobs is None:
            continue
        found = set(runs.loc[runs["sweep"] == sweep, "job"].dropna().astype(int))
        varying = _varying_keys(jobs)
        for i in range(len(jobs)):
            if i in found:
                continue
            desc = " ".join(o for o in jobs[i] if o.split("=", 1)[0] in varying)
            missing.append({"dataset": None, "dataset_name": None, "noise": None, "column": None, "seed": float("nan"),
                            "noise_seed": float("nan"), "status": "not started", "job": f"job #{i} ({desc})",
                            "reason": f"no directory in {short_path(sweep)} (queued, or the sweep was stopped)",
                            "run_dir": None})
    return missing


def _varying_keys(jobs: list[list[str]]) -> set[str]:
    """The override keys that take more than one value across ``jobs``."""
    values: dict[str, set] = {}
    for job in jobs:
        for o in job:
            k, _, v = o.partition("=")
            values.setdefault(k, set()).add(v)
    return {k for k, v in values.items() if len(v) > 1}
