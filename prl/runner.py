"""The Hydra entry point behind ``run.py``: error reporting and multirun semantics.

* Bad input (:class:`~prl.errors.ConfigError`): a single run prints one paragraph to stderr,
  exits with status 2 and removes the run directory Hydra had just created (nothing is left
  that could pass for a run).  Inside a multirun the job is recorded as failed in its
  directory (``summary.json`` with ``status: failed``) and the other jobs still run.
* A run stopped by SIGTERM/SIGINT exits with 128 + the signal number (inside a multirun this
  stops the sweep too); a diverged run exits with 1.
* ``resume=<run_dir>`` on the command line reruns that directory's overrides into it.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import sys
from typing import Optional

from omegaconf import DictConfig, OmegaConf

from prl import config as _schema  # noqa: F401  (registers prl_schema in the ConfigStore)
from prl import outputs
from prl.engine import rundir
from prl.errors import ConfigError, RunDirError

log = logging.getLogger("prl")


def _is_fresh(run_dir: str) -> bool:
    """True when ``run_dir`` holds nothing but a lock file and what Hydra may write before the job starts."""
    try:
        entries = os.listdir(run_dir)
    except OSError:
        return False
    return all(e in (outputs.HYDRA_DIR, rundir.LOCK) or e.endswith(".log") for e in entries)


def main(cfg: DictConfig) -> Optional[float]:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from prl.tasks import TASKS
    from prl.engine import train

    hc = HydraConfig.get()
    run_dir = hc.runtime.output_dir
    multirun = hc.mode == RunMode.MULTIRUN
    try:
        summary = train(cfg, run_dir, choices=dict(hc.runtime.choices))
    except ConfigError as exc:
        message = f"Config error: {exc}"
        if multirun:
            log.error(message)
            if _is_fresh(run_dir) and not isinstance(exc, RunDirError):
                outputs.write_json(os.path.join(run_dir, outputs.SUMMARY),
                              {"status": "failed", "error": message, "choices": dict(hc.runtime.choices)})
                rundir.write_hydra_files(run_dir, cfg)
            raise
        if _is_fresh(run_dir) and not isinstance(exc, RunDirError):
            logging.shutdown()
            shutil.rmtree(run_dir, ignore_errors=True)
        print(message, file=sys.stderr)
        sys.exit(2)
    except Exception as exc:  # a crash before training wrote anything: still record the job
        if multirun and _is_fresh(run_dir):
            outputs.write_json(os.path.join(run_dir, outputs.SUMMARY), {"status": "failed", "error": f"{type(exc).__name__}: {exc}",
                                                              "choices": dict(hc.runtime.choices)})
            rundir.write_hydra_files(run_dir, cfg)
        raise
    status = summary.get("status")
    if status == "interrupted":
        code = 128 + int(getattr(signal, summary.get("signal", "SIGINT"), signal.SIGINT))
        # a SystemExit is not caught by Hydra's job runner, so it stops a sweep too; rerun the
        # sweep with the same hydra.sweep.dir to continue
        sys.exit(code)
    if status == "diverged":
        message = (f"Training diverged (non-finite loss) after epoch {summary.get('epochs_completed')}; the last good "
                   f"checkpoint is kept in {run_dir}. Lower optimizer.lr or check the data.")
        if not multirun:
            print(message, file=sys.stderr)
            sys.exit(1)
        raise RuntimeError(message)
    task = TASKS.get(summary.get("task"), TASKS["classification"])
    return summary.get(f"{task.primary}_final")


def expand_resume(argv: list[str]) -> list[str]:
    """``resume=DIR`` -> DIR's saved overrides + ``hydra.run.dir=DIR`` (+ the user's others)."""
    given = [a for a in argv[1:] if a.startswith("resume=")]
    if not given:
        return argv
    run_dir = given[-1].split("=", 1)[1]
    saved = os.path.join(run_dir, outputs.HYDRA_DIR, "overrides.yaml")
    if not os.path.isfile(saved):
        print(f"Config error: resume={run_dir} is not a run directory (no {saved}); pass the directory a run "
              f"wrote into (outputs/<date>/<time> or multirun/<date>/<time>/<job>)", file=sys.stderr)
        sys.exit(2)
    old = [o for o in OmegaConf.load(saved) if not str(o).startswith(("hydra.run.dir=", "resume="))]
    new = [a for a in argv[1:] if not a.startswith("resume=")]
    keys = {a.split("=", 1)[0].lstrip("+~") for a in new}
    merged = [o for o in old if str(o).split("=", 1)[0].lstrip("+~") not in keys] + new
    return [argv[0]] + merged + [f"hydra.run.dir={run_dir}", f"resume={run_dir}"]
