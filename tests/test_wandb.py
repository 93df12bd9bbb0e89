"""wandb offline into a temporary directory (no network, no account): one offline run per job,
grouped by sweep, tagged and configured with dataset / noise / algorithm / seed, and a job that
fails mid-training is finished before the next job starts (its metrics never leak).

The offline ``run-<id>.wandb`` files are read back with wandb's own protobuf ``Record`` type;
the framing is wandb's LevelDB-style log (7-byte header, 32 KiB blocks, 7-byte chunk headers)."""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import pytest

from .conftest import run_cli

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
        assert run["group"] == os.path.join("multirun", "wb")  # the sweep directory, relative to the cwd
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
