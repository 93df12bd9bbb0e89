"""The README stays true: its snippet runs, and its config table names every option."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import CONF, ROOT

README = (ROOT / "README.md").read_text()


def python_blocks():
    return re.findall(r"```python\n(.*?)```", README, flags=re.S)


def test_drop_in_snippet_runs_and_filters():
    snippet = next(b for b in python_blocks() if "prl.prl_l_loss" in b)
    res = subprocess.run([sys.executable, "-c", snippet], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert res.returncode == 0, res.stderr
    kept = [int(m) for m in re.findall(r"kept (\d+)/128", res.stdout)]
    assert kept == [128, 121, 115]  # epsilon 0, 0.05, 0.1 of the ramp: 128, int(0.95*128), int(0.9*128)


@pytest.mark.parametrize("group", ["algorithm", "noise", "dataset", "model", "optimizer", "scheduler", "logger", "protocol"])
def test_config_table_lists_every_option(group):
    row = next(line for line in README.splitlines() if line.startswith(f"| `{group}` |"))
    for option in sorted(p.stem for p in Path(CONF, group).glob("*.yaml")):
        assert f"`{option}`" in row, f"README's {group} row misses `{option}`"


def test_quick_start_has_exactly_two_commands():
    block = README.split("## Quick start", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    commands = [line for line in block.splitlines() if line.strip()]
    assert len(commands) == 2 and "run.py" in commands[0] and "make test" in commands[1]
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_estimator_snippet_runs_and_estimates_the_corrupted_fraction():
    snippet = next(b for b in python_blocks() if "prl.EpsilonEstimator" in b)
    res = subprocess.run([sys.executable, "-c", snippet], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert res.returncode == 0, res.stderr
    estimate = float(re.findall(r"estimate (\d\.\d+)", res.stdout)[-1])
    corrupted = float(re.search(r"corrupted: (\d\.\d+)", res.stdout).group(1))
    assert abs(estimate - corrupted) < 0.03
    assert f"estimate {estimate:.3f}" in README  # the number the README quotes


def test_no_placeholder_is_left_for_a_number():
    """Every number the README states was measured: no MEASURED-* / TESTS-TIME / TODO markers."""
    assert not re.findall(r"MEASURED-[A-Z-]+|TESTS-TIME|\bTODO\b|\bTBD\b|XX\.X", README)


def test_every_bench_command_names_the_bench_outside_the_library():
    assert "prl.bench" not in README and "python -m bench" in README
