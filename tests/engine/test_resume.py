"""Checkpoint and resume, signals, determinism, divergence, skipping completed runs."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from prl import outputs
from prl.algorithms import Selection
from prl.errors import ConfigError
from prl.runner import expand_resume
from prl.engine import train

from ..conftest import ROOT, TINY

TIMING = ("seconds", "samples_per_s")
ARGS = [*TINY, "trainer.epochs=12", "algorithm=co-prl-l", "noise=pairflip45"]


def metrics(run_dir):
    return [{k: v for k, v in json.loads(x).items() if k not in TIMING}
            for x in (run_dir / "metrics.jsonl").read_text().splitlines()]


def launch(args):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, str(ROOT / "run.py"), *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_for_epochs(run_dir, n, proc, timeout=240):
    deadline = time.time() + timeout
    path = run_dir / "metrics.jsonl"
    while time.time() < deadline:
        if path.exists() and len(path.read_text().splitlines()) >= n:
            return
        if proc.poll() is not None:
            pytest.fail(f"run ended before epoch {n}: {proc.stdout.read()}")
        time.sleep(0.05)
    pytest.fail("timed out")


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("full")
    proc = launch([*ARGS, f"hydra.run.dir={out}"])
    assert proc.wait(timeout=600) == 0, proc.stdout.read()
    return out


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_killed_run_resumes_to_the_same_result(sig, tmp_path, uninterrupted):
    out = tmp_path / "run"
    proc = launch([*ARGS, f"hydra.run.dir={out}"])
    wait_for_epochs(out, 3, proc)
    proc.send_signal(sig)
    assert proc.wait(timeout=120) == 128 + sig
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["signal"] == sig.name
    state = torch.load(out / "checkpoint.pt", weights_only=False)
    assert state["epoch"] == summary["epochs_completed"] >= 3
    assert {"algorithm", "schedulers", "rng", "data_order", "config", "logger_run_id"} <= set(state)
    assert len(metrics(out)) >= state["epoch"]  # maybe one partial epoch more is never written

    proc = launch([*ARGS, f"hydra.run.dir={out}"])  # the same command again
    log = proc.stdout.read()
    assert proc.wait(timeout=600) == 0, log
    assert f"resuming {out} from epoch {state['epoch']}" in log
    assert [r["epoch"] for r in metrics(out)] == list(range(1, 13))  # no duplicates, none missing
    assert metrics(out) == metrics(uninterrupted)  # bit-identical on CPU
    assert json.loads((out / "summary.json").read_text())["status"] == "completed"
    assert not [p for p in os.listdir(out) if p.endswith(".tmp")]


def test_completed_run_is_skipped_unless_forced(tiny_cfg, tmp_path):
    cfg = tiny_cfg("trainer.epochs=1")
    first = train(cfg, str(tmp_path))
    mtime = (tmp_path / "summary.json").stat().st_mtime_ns
    assert train(cfg, str(tmp_path)) == first
    assert (tmp_path / "summary.json").stat().st_mtime_ns == mtime
    forced = train(tiny_cfg("trainer.epochs=1", "force=true"), str(tmp_path))
    assert forced["status"] == "completed" and (tmp_path / "summary.json").stat().st_mtime_ns != mtime


def test_rerun_with_another_config_into_the_same_dir_is_refused(tiny_cfg, tmp_path):
    train(tiny_cfg("trainer.epochs=1"), str(tmp_path))
    with pytest.raises(ConfigError, match=r"different config \(seed: 0 -> 1\).*force=true"):
        train(tiny_cfg("trainer.epochs=1", "seed=1"), str(tmp_path))


def test_same_seed_same_metrics_other_seed_other_metrics(tiny_cfg, tmp_path):
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        train(tiny_cfg(f"seed={seed}", "algorithm=co-teaching", "noise=symmetric50"), str(tmp_path / name))
    assert metrics(tmp_path / "a") == metrics(tmp_path / "b")
    assert metrics(tmp_path / "a") != metrics(tmp_path / "c")


def test_resume_argument_reuses_the_saved_overrides(tmp_path):
    run_dir = tmp_path / "r"
    (run_dir / ".hydra").mkdir(parents=True)
    (run_dir / ".hydra" / "overrides.yaml").write_text("- dataset=digits\n- seed=3\n- hydra.run.dir=/elsewhere\n")
    argv = expand_resume(["run.py", f"resume={run_dir}", "trainer.epochs=5"])
    assert argv == ["run.py", "dataset=digits", "seed=3", "trainer.epochs=5", f"hydra.run.dir={run_dir}",
                    f"resume={run_dir}"]


def test_diverged_run_stops_and_keeps_the_last_good_checkpoint(tiny_cfg, tmp_path, monkeypatch):
    original = Selection.train_step
    calls = {"n": 0}

    def poisoned(self, x, y, index=None):
        calls["n"] += 1
        out = original(self, x, y, index)
        if calls["n"] > 2 * 22:  # digits: 22 steps an epoch at batch 64 -> NaN from epoch 3 on
            out["loss"] = out["loss"] * float("nan")
        return out

    monkeypatch.setattr(Selection, "train_step", poisoned)
    summary = train(tiny_cfg("trainer.epochs=5"), str(tmp_path))
    assert summary["status"] == "diverged" and summary["epochs_completed"] == 2
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=False)["epoch"] == 2
    assert len(metrics(tmp_path)) == 2


def test_failure_inside_training_is_recorded(tiny_cfg, tmp_path, monkeypatch):
    def broken(self, x, y, index=None):
        raise RuntimeError("boom")

    monkeypatch.setattr(Selection, "train_step", broken)
    with pytest.raises(RuntimeError, match="boom"):
        train(tiny_cfg(), str(tmp_path))
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "failed" and "boom" in summary["error"]


def test_jsonl_reader_ignores_a_torn_last_line(tmp_path):
    path = tmp_path / "m.jsonl"
    outputs.append_jsonl(str(path), {"epoch": 1})
    with open(path, "a") as fh:
        fh.write('{"epoch": 2, "te')
    assert outputs.read_jsonl(str(path)) == [{"epoch": 1}]


def test_atomic_write_leaves_old_file_on_failure(tmp_path):
    path = tmp_path / "summary.json"
    outputs.write_json(str(path), {"status": "completed"})

    def fail(fh):
        fh.write("{half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        outputs.atomic_write(str(path), fail, binary=False)
    assert json.loads(path.read_text()) == {"status": "completed"}
    assert os.listdir(tmp_path) == ["summary.json"]
