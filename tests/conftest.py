"""Shared fixtures: tiny configs composed with hydra.compose, on CPU, no logger, outputs in tmp."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONF = str(ROOT / "conf")

# no network, no wandb service noise, wandb files under a temp folder
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("WANDB_ERROR_REPORTING", "false")
os.environ.setdefault("WANDB_DIR", tempfile.mkdtemp(prefix="prl-wandb-"))
os.environ.setdefault("HYDRA_FULL_ERROR", "0")

import prl.config  # noqa: E402,F401  (registers the schema)

#: overrides that make any run tiny: conf/debug/tiny.yaml (digits, 2 epochs of batch 64, no logger, no
#: progress bar, one torch thread), the setting users can type too
TINY = ["debug=tiny"]


def compose(*overrides: str):
    """The config ``run.py`` would build for these overrides (no Hydra run dir)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        return hydra_compose(config_name="config", overrides=list(overrides))


@pytest.fixture
def tiny_cfg():
    """``tiny_cfg("algorithm=prl-l", ...)``: a tiny composed config."""

    def make(*overrides: str):
        return compose(*TINY, *overrides)

    return make


def step(algo, x, y, epsilon: float):
    """One ``train_step`` of ``algo`` on ``(x, y)`` dropping the fraction ``epsilon`` (a selection
    method gets a fixed-fraction rule without a ramp; ERM methods drop nothing anyway)."""
    from prl.algorithms import DropFraction, Selection

    if isinstance(algo, Selection):
        algo.rule = DropFraction(epsilon, num_gradual=0)
    return algo.train_step(x, y)


def run_cli(args: list[str], cwd: Path = ROOT, timeout: float = 300, **env: str):
    """Run ``python run.py args`` in a subprocess (no wandb unless ``env`` says so, short Hydra
    errors); ``env`` adds environment variables.  Returns the CompletedProcess."""
    import subprocess

    full = {**os.environ, "PYTHONUNBUFFERED": "1", "HYDRA_FULL_ERROR": "0", "WANDB_MODE": "disabled",
            "WANDB_SILENT": "true", "WANDB_ERROR_REPORTING": "false", **env}
    return subprocess.run([sys.executable, str(ROOT / "run.py"), *args], cwd=cwd, env=full,
                          capture_output=True, text=True, timeout=timeout)


# ----------------------------------------------------------------------------- a fixture sweep

#: a real multirun of experiment=digits-quick (3 epochs): noise {pair-flip 45%, symmetric 20%} x
#: algorithm {standard, co-prl-l, prl-g} x seed {0, 1} = 12 jobs on the BatchNorm small CNN, so
#: the 4 prl-g jobs fail (per-sample gradients need a model without BatchNorm), 8 complete
FIXTURE_GRID = ["experiment=digits-quick", "model=cnn-small", "trainer.epochs=3", "trainer.threads=1",
                "logger=none", "algorithm=standard,co-prl-l,prl-g", "seed=0,1", "noise=pairflip45,symmetric20"]
FIXTURE_JOBS = 12


def make_fixture_sweep(base: Path) -> Path:
    """Run the fixture multirun into ``base/fixture-sweep`` unless a previous call did."""
    import shutil
    import time

    sweep = Path(base) / "fixture-sweep"
    done = Path(base) / "fixture-sweep.done"
    if done.exists():
        return sweep
    if sweep.exists():
        shutil.rmtree(sweep)
    t0 = time.perf_counter()
    proc = run_cli(["-m", *FIXTURE_GRID, f"hydra.sweep.dir={sweep}"], cwd=Path(base))
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir() and p.name.isdigit())
    assert len(jobs) == FIXTURE_JOBS, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.returncode != 0  # Hydra reports the failed jobs after running all of them
    assert all((j / "summary.json").is_file() for j in jobs), proc.stderr[-3000:]
    done.write_text(f"{time.perf_counter() - t0:.1f} s\n")
    return sweep


@pytest.fixture(scope="session")
def fixture_sweep(tmp_path_factory) -> Path:
    return make_fixture_sweep(tmp_path_factory.getbasetemp())


def summary(run_dir: Path) -> dict:
    import json

    return json.loads((Path(run_dir) / "summary.json").read_text())


def find_job(sweep: Path, algorithm: str, noise: str, seed: int) -> Path:
    """The job directory of ``sweep`` that ran this algorithm, noise choice and seed."""
    for job in sorted(p for p in sweep.iterdir() if p.is_dir() and p.name.isdigit()):
        s = summary(job)
        if (s["choices"]["algorithm"], s["choices"]["noise"]) == (algorithm, noise) and \
                f"seed={seed}" in (job / ".hydra" / "overrides.yaml").read_text():
            return job
    raise AssertionError(f"no job {algorithm} {noise} seed {seed} in {sweep}")
