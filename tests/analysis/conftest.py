"""Helpers shared by the prl.analysis tests: an editable copy of the fixture sweep (made once per
session by ``tests/conftest.py``) and readers of a run's files.

The fixture is a real multirun of ``experiment=digits-quick`` (3 epochs): noise {pair-flip 45%,
symmetric 20%} x algorithm {standard, co-prl-l, prl-g} x seed {0, 1} = 12 jobs on the BatchNorm
small CNN, so the 4 prl-g jobs fail (per-sample gradients need a model without BatchNorm) while
the 8 others complete.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ..conftest import summary


@pytest.fixture
def sweep_copy(fixture_sweep, tmp_path) -> Path:
    """A private copy of the fixture sweep to edit."""
    dst = tmp_path / "sweep"
    shutil.copytree(fixture_sweep, dst, ignore=shutil.ignore_patterns("analysis", "checkpoint.pt"))
    return dst


def edit_summary(run_dir: Path, **changes) -> None:
    s = summary(run_dir)
    s.update(changes)
    (Path(run_dir) / "summary.json").write_text(json.dumps(s))


def metrics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (Path(run_dir) / "metrics.jsonl").read_text().splitlines()]
