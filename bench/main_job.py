"""The default job end to end: ``python run.py`` (logger off) in a fresh process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

from bench.setting import ROOT

__all__ = ["main_job"]


def main_job(device: str, extra_overrides: list[str], out_dir: Path, log: Callable = print) -> dict:
    """Run ``python run.py`` with torch's default thread count (``--threads`` applies to the step
    timings only) into ``out_dir/main-job``; wall time and what its ``summary.json`` says."""
    overrides = ["logger=none", "trainer.progress=false", "force=true", f"trainer.device={device}", *extra_overrides]
    run_dir = (Path(out_dir) / "main-job").resolve()
    log(f"main job: python run.py {' '.join(overrides)} -> {run_dir}")
    env = {**os.environ, "WANDB_MODE": "disabled", "WANDB_SILENT": "true"}
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "run.py", *overrides, f"hydra.run.dir={run_dir}"], cwd=str(ROOT),
                         env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    try:
        summary = json.loads((run_dir / "summary.json").read_text())
    except (OSError, ValueError):
        summary = {"status": f"failed (exit {res.returncode}): {res.stderr.strip().splitlines()[-1:]}"}
    return {"overrides": overrides, "wall_s": wall, "algorithm": summary.get("algorithm"),
            "epochs": summary.get("epochs_completed"), "samples_per_s": summary.get("samples_per_s"),
            "test_accuracy_final": summary.get("test_accuracy_final"), "status": summary.get("status")}
