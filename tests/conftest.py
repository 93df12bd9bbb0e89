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

#: overrides that make any run tiny: digits, 2 epochs, no logger, no progress bar
TINY = ["dataset=digits", "logger=none", "trainer.epochs=2", "trainer.progress=false", "trainer.batch_size=64"]


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


def run_cli(args: list[str], cwd: Path = ROOT, timeout: float = 300, env_extra: dict | None = None):
    """Run ``python run.py args`` in a subprocess; returns the CompletedProcess."""
    import subprocess

    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env_extra or {})}
    return subprocess.run([sys.executable, str(ROOT / "run.py"), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)
