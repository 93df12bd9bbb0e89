"""A run directory belongs to one run from its first write: a killed run's files are never
overwritten by another config, a live run is never joined by a second process, and two jobs
started in the same second get their own default directories."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from prl.errors import ConfigError
from prl.engine.rundir import RunLock
from prl.engine import train

from ..conftest import ROOT, TINY, run_cli
from .test_resume import launch

BASE = ["dataset=digits", "logger=none", "trainer.progress=false", "trainer.threads=1"]
A = [*BASE, "trainer.epochs=30", "trainer.batch_size=16", "algorithm=co-prl-l", "seed=0"]
B = [*BASE, "trainer.epochs=2", "trainer.batch_size=64", "algorithm=standard", "noise=symmetric20", "seed=1"]


def digest(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != ".prl.lock"}


def test_a_killed_runs_files_are_never_overwritten_by_another_config(tmp_path):
    coll = tmp_path / "coll"
    proc = launch([*A, f"hydra.run.dir={coll}"])
    deadline = time.time() + 240
    while not (coll / "labels.npz").exists():  # A has written its first files, epoch 1 runs
        assert proc.poll() is None and time.time() < deadline, proc.stdout.read()
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert not (coll / "checkpoint.pt").exists()  # killed before its first checkpoint
    assert {"config.yaml", "labels.npz", "metrics.jsonl", ".hydra"} <= set(os.listdir(coll))
    before = digest(coll)

    res = run_cli([*B, f"hydra.run.dir={coll}"])
    assert res.returncode == 2, res.stdout[-2000:]
    assert "holds a run with a different config" in res.stderr and "algorithm.name" in res.stderr
    assert digest(coll) == before  # A's files, its .hydra record and its log untouched

    res = run_cli([*B, "force=true", f"hydra.run.dir={coll}"])  # the user's explicit choice
    assert res.returncode == 0, res.stderr
    assert json.loads((coll / "summary.json").read_text())["algorithm"] == "standard"


def test_a_live_run_is_not_joined_by_a_second_process(tmp_path, tiny_cfg):
    run_dir = tmp_path / "live"
    with RunLock(str(run_dir)):
        res = run_cli([*TINY, "trainer.epochs=1", f"hydra.run.dir={run_dir}"])
        assert res.returncode == 2
        assert f"in use by another live run (pid {os.getpid()})" in res.stderr
        with pytest.raises(ConfigError, match="in use by another live run"):
            train(tiny_cfg("trainer.epochs=1"), str(run_dir))
    assert os.listdir(run_dir) == []  # the refused runs wrote nothing; the lock goes with its holder


def test_a_crashed_holder_does_not_leave_the_lock_stuck(tmp_path, tiny_cfg):
    run_dir = tmp_path / "crash"
    code = f"from prl.engine.rundir import RunLock; import os, time; l = RunLock({str(run_dir)!r}).__enter__(); " \
           f"print('locked', flush=True); time.sleep(60)"
    holder = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    with pytest.raises(ConfigError, match=f"pid {holder.pid}"):
        train(tiny_cfg("trainer.epochs=1"), str(run_dir))
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)
    assert train(tiny_cfg("trainer.epochs=1"), str(run_dir))["status"] == "completed"


def test_two_jobs_started_in_the_same_second_get_their_own_directories(tmp_path):
    env = {**os.environ, "WANDB_MODE": "disabled", "PYTHONUNBUFFERED": "1"}
    args = [sys.executable, str(ROOT / "run.py"), *TINY, "trainer.epochs=1", "trainer.threads=1"]
    procs = [subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for _ in range(2)]
    for p in procs:
        assert p.wait(timeout=300) == 0, p.stdout.read()
    runs = sorted((tmp_path / "outputs").glob("*/*"))
    assert len(runs) == 2, runs
    for run in runs:
        assert (run / "summary.json").is_file() and len(json.loads((run / "summary.json").read_text())) > 3


def test_differences_put_what_the_user_chose_first_and_say_absent():
    from prl.engine.rundir import differences

    old = {"seed": 0, "algorithm": {"name": "co-prl-l", "exponent": 1.0}, "noise": {"rate": 0.45}}
    new = {"seed": 1, "algorithm": {"name": "standard"}, "noise": {"rate": 0.2}}
    assert differences(old, new) == ["algorithm.name: 'co-prl-l' -> 'standard'", "seed: 0 -> 1",
                                     "algorithm.exponent: 1.0 -> (absent)", "noise.rate: 0.45 -> 0.2"]


def test_the_owner_removes_the_half_written_files_of_a_killed_run(tmp_path):
    """SIGKILL during an atomic write leaves `.checkpoint.pt.<random>.tmp` (828 KB in a user's
    run dir, still there after the resumed run completed); the next owner removes it, nothing else."""
    from prl.engine.rundir import RunLock

    (tmp_path / ".checkpoint.pt.abc123.tmp").write_bytes(b"x" * 10)
    (tmp_path / "metrics.jsonl").write_text("{}\n")
    with RunLock(str(tmp_path)):
        names = {p.name for p in tmp_path.iterdir()}
    assert ".checkpoint.pt.abc123.tmp" not in names and "metrics.jsonl" in names
