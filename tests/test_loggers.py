"""wandb offline into a temporary directory (no network, no account): one offline run per job,
grouped by sweep, tagged and configured with dataset / noise / algorithm / seed, and a job that
fails mid-training is finished before the next job starts (its metrics never leak).

The offline ``run-<id>.wandb`` files are read back with wandb's own protobuf ``Record`` type;
the framing is wandb's LevelDB-style log (7-byte header, 32 KiB blocks, 7-byte chunk headers)."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT, run_cli

BLOCK = 32768
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def wandb_records(path: Path) -> list:
    """Every protobuf Record of an offline ``.wandb`` file."""
    from wandb.proto import wandb_internal_pb2 as pb

    data = path.read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a wandb datastore"
    out, pos, pending = [], 7, b""
    while pos + 7 <= len(data):
        if BLOCK - pos % BLOCK < 7:  # block trailer too short for a chunk header: padding
            pos += BLOCK - pos % BLOCK
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        chunk = data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind == FULL:
            raw = chunk
        elif kind == FIRST:
            pending = chunk
            continue
        elif kind == MIDDLE:
            pending += chunk
            continue
        elif kind == LAST:
            raw, pending = pending + chunk, b""
        else:
            break
        record = pb.Record()
        record.ParseFromString(raw)
        out.append(record)
    return out


def offline_run(records: list) -> dict:
    """The run record, config, history and exit code of one offline run."""
    run = next(r.run for r in records if r.WhichOneof("record_type") == "run")
    config = {}
    for r in records:
        if r.WhichOneof("record_type") == "run":
            config.update({i.key: json.loads(i.value_json) for i in r.run.config.update})
        elif r.WhichOneof("record_type") == "config":
            config.update({i.key: json.loads(i.value_json) for i in r.config.update})
    history = []
    for r in records:
        if r.WhichOneof("record_type") == "history":
            history.append({(i.key or "/".join(i.nested_key)): json.loads(i.value_json) for i in r.history.item})
    exits = [r.exit.exit_code for r in records if r.WhichOneof("record_type") == "exit"]
    config = {k: (v.get("value", v) if isinstance(v, dict) and set(v) <= {"value", "desc"} else v)
              for k, v in config.items()}
    return {"id": run.run_id, "group": run.run_group, "tags": set(run.tags), "name": run.display_name,
            "config": config, "history": history, "exit": exits}


def test_wandb_offline_multirun(tmp_path):
    """Job 0 diverges after wandb.init (its run must be finished with exit code 1 and hold no
    epoch); job 1 then logs its own two epochs into a new run of the same sweep group."""
    files = tmp_path / "wandb-files"
    sweep = tmp_path / "multirun" / "wb"
    proc = run_cli(["-m", "dataset=digits", "trainer.epochs=2", "trainer.threads=1", "trainer.progress=false",
                   "algorithm=standard", "noise=symmetric20", "optimizer=sgd", "optimizer.lr=1e30,0.1",
                   "logger=wandb", f"logger.dir={files}", f"hydra.sweep.dir={sweep}"],
                  cwd=tmp_path, WANDB_MODE="offline", WANDB_DIR=str(tmp_path / "wandb-dir"),
                  WANDB_CACHE_DIR=str(tmp_path / "wandb-cache"), WANDB_CONFIG_DIR=str(tmp_path / "wandb-config"))
    assert proc.returncode == 1, proc.stderr[-3000:]  # the diverged job is reported after both ran
    assert json.loads((sweep / "0" / "summary.json").read_text())["status"] == "diverged"
    assert json.loads((sweep / "1" / "summary.json").read_text())["status"] == "completed"

    run_files = sorted(files.glob("wandb/offline-run-*/run-*.wandb"))
    assert len(run_files) == 2, sorted(str(p) for p in files.rglob("*"))[:20]
    runs = {}
    for path in run_files:
        run = offline_run(wandb_records(path))
        runs[run["config"]["optimizer"]["lr"]] = run
    diverged, completed = runs[1e30], runs[0.1]
    assert diverged["id"] != completed["id"]
    for run in runs.values():
        assert run["group"] == "multirun/wb"  # the sweep directory's last two parts
        assert {"dataset=digits", "noise=symmetric20", "algorithm=standard", "seed=0"} <= run["tags"]
        assert run["config"]["seed"] == 0 and run["config"]["algorithm"]["name"] == "standard"
        assert run["config"]["noise"]["rate"] == 0.2 and run["config"]["dataset"]["_target_"] == "prl.data.digits"
        assert run["name"] == "digits-symmetric20-standard-s0"
    assert diverged["exit"] == [1] and diverged["history"] == []
    assert completed["exit"] == [0]
    epochs = [h for h in completed["history"] if "epoch" in h]
    logged = [json.loads(line) for line in (sweep / "1" / "metrics.jsonl").read_text().splitlines()]
    assert [h["epoch"] for h in epochs] == [1, 2]
    assert [h["test_accuracy"] for h in epochs] == pytest.approx([m["test_accuracy"] for m in logged])
    # nothing went to the default locations
    assert not list((sweep / "1").glob("wandb"))


def test_wandb_mode_is_offline_unless_asked(monkeypatch):
    """Offline by default; online through logger.mode=online or $WANDB_MODE (not started here)."""
    from hydra import compose, initialize_config_dir

    from prl.config import build
    from prl.errors import ConfigError

    conf = str(Path(__file__).resolve().parents[1] / "conf")

    def mode(*overrides):
        with initialize_config_dir(config_dir=conf, version_base="1.3"):
            cfg = compose(config_name="config", overrides=["logger=wandb", *overrides])
        return build(cfg.logger, "logger").mode

    monkeypatch.delenv("WANDB_MODE", raising=False)
    assert mode() == "offline"
    assert mode("logger.mode=online") == "online"
    monkeypatch.setenv("WANDB_MODE", "online")
    assert mode() == "online"
    assert mode("logger.mode=offline") == "offline"
    with pytest.raises(ConfigError, match="logger.mode must be offline, online or disabled"):
        mode("logger.mode=cloud")


def test_a_resumed_job_stays_one_wandb_run(tmp_path):
    """SIGTERM after epoch 2, the same command again: both offline folders carry one run id, the
    first with epochs 1-2 (marked preempting), the second with epochs 3-5."""
    import signal

    from .engine.test_resume import wait_for_epochs

    out = tmp_path / "run"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "WANDB_MODE": "offline", "WANDB_DIR": str(tmp_path / "wd"),
           "WANDB_CACHE_DIR": str(tmp_path / "wc"), "WANDB_CONFIG_DIR": str(tmp_path / "wcfg"),
           "WANDB_SILENT": "true", "WANDB_ERROR_REPORTING": "false"}
    args = [sys.executable, str(ROOT / "run.py"), "dataset=digits", "algorithm=co-prl-l", "trainer.epochs=5",
            "trainer.threads=1", "trainer.progress=false", "trainer.batch_size=16", "logger=wandb",
            f"hydra.run.dir={out}"]
    proc = subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wait_for_epochs(out, 2, proc)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=120) == 128 + signal.SIGTERM
    done = json.loads((out / "summary.json").read_text())["epochs_completed"]
    proc = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]

    files = sorted((out / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(files) == 2
    first, second = (offline_run(wandb_records(p)) for p in files)
    assert first["id"] == second["id"]
    assert [h["epoch"] for h in first["history"] if "epoch" in h] == list(range(1, done + 1))
    assert [h["epoch"] for h in second["history"] if "epoch" in h] == list(range(done + 1, 6))
    assert second["exit"] == [0]


def test_the_sweep_group_does_not_depend_on_the_launch_directory(tmp_path):
    """The same sweep directory launched from two working directories: one wandb group."""
    sweep = tmp_path / "multirun" / "fmnist-table" / "2026-11-29_10-00-00"
    groups = []
    for cwd, seeds in ((tmp_path, "0"), (tmp_path / "multirun", "0,1")):  # the second adds job 1, skips job 0
        files = cwd / "wandb-files"
        proc = run_cli(["-m", "dataset=digits", "trainer.epochs=1", "trainer.threads=1", "trainer.progress=false",
                        "algorithm=standard", "logger=wandb", f"logger.dir={files}", f"hydra.sweep.dir={sweep}",
                        f"seed={seeds}"],
                       cwd=cwd, WANDB_MODE="offline", WANDB_DIR=str(tmp_path / "wd"),
                       WANDB_CACHE_DIR=str(tmp_path / "wc"), WANDB_CONFIG_DIR=str(tmp_path / "wcfg"))
        assert proc.returncode == 0, proc.stderr[-2000:]
        groups += [offline_run(wandb_records(p))["group"] for p in files.glob("wandb/offline-run-*/run-*.wandb")]
    assert groups == ["fmnist-table/2026-11-29_10-00-00"] * 2
