"""Golden metrics: refactors must not change a single number.

Each case trains a few epochs on digits (or diabetes) at a fixed seed with one torch thread and
compares the whole ``metrics.jsonl`` (timing columns aside) with the values stored in
``tests/golden/metrics.json`` -- exactly, float for float.  The stored values were produced by
the code before the redesign; a change that moves them is either a bug or an intentional change
that gets its own commit (regenerate with ``PRL_GOLDEN=update pytest tests/test_golden.py``).

Float results depend on the torch build and the CPU: on another torch version or CPU than the one
recorded the comparison is skipped with the reason (regenerate there from a commit known to be
good).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from .conftest import compose

GOLDEN = Path(__file__).parent / "golden" / "metrics.json"
#: columns that measure time, not maths
TIMING = {"seconds", "samples_per_s"}

BASE = ["dataset=digits", "logger=none", "trainer.epochs=3", "trainer.progress=false", "trainer.batch_size=64",
        "trainer.threads=1", "trainer.checkpoint=false", "seed=0"]
RAMP = ["algorithm.num_gradual=2"]

#: case name -> overrides (on top of BASE)
CASES: dict[str, list[str]] = {
    "standard": ["algorithm=standard"],
    "bootstrapping": ["algorithm=bootstrapping"],
    "spl": ["algorithm=spl", *RAMP],
    "prl-l": ["algorithm=prl-l", *RAMP],
    "co-teaching": ["algorithm=co-teaching", *RAMP],
    "co-prl-l": ["algorithm=co-prl-l", *RAMP],
    "prl-g": ["algorithm=prl-g", "model=cnn-small-gn", *RAMP],
    "co-prl-g": ["algorithm=co-prl-g", "model=cnn-small-gn", *RAMP],
    "prl-g-functorch": ["algorithm=prl-g", "model=cnn-small-gn", "algorithm.grad_norm=functorch", *RAMP],
    "co-teaching-plus": ["algorithm=co-teaching-plus", *RAMP],
    "jocor": ["algorithm=jocor", "noise=symmetric50", *RAMP],
    "faithful-co-prl-l": ["protocol=faithful", "algorithm=co-prl-l", "trainer.epochs=3", *RAMP],
    "faithful-co-teaching": ["protocol=faithful", "algorithm=co-teaching", "trainer.epochs=3", *RAMP],
    "faithful-standard": ["protocol=faithful", "algorithm=standard", "trainer.epochs=3"],
    "faithful-jocor": ["protocol=faithful", "algorithm=jocor", "trainer.epochs=3", *RAMP],
    "faithful-co-teaching-plus": ["protocol=faithful", "algorithm=co-teaching-plus", "trainer.epochs=3", *RAMP],
    "faithful-prl-g": ["protocol=faithful", "algorithm=prl-g", "model=cnn-small-gn", "trainer.epochs=3", *RAMP],
    "mixup-prl-l": ["algorithm=prl-l", "+algorithm.mixup_alpha=0.4", *RAMP],
    "separate-co-prl-l": ["algorithm=co-prl-l", "model=cnn-small-gn", "algorithm.score_pass=separate", *RAMP],
    "two-networks-standard": ["algorithm=standard", "+algorithm.networks=2"],
    "regression-prl-l": ["dataset=diabetes", "model=mlp", "noise=target-heavy-tailed", "noise.rate=0.3",
                         "algorithm=prl-l", *RAMP],
    "regression-co-prl-l-trim": ["dataset=diabetes", "model=mlp", "noise=target-shift", "noise.rate=0.3",
                                 "algorithm=co-prl-l", "trim.quantile=0.95", *RAMP],
    "regression-co-prl-g": ["dataset=diabetes", "model=mlp", "noise=target-random", "noise.rate=0.3",
                            "algorithm=co-prl-g", *RAMP],
}


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            return next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), "")
    except OSError:
        return ""


def environment() -> dict:
    """What float results depend on: the torch build, the CPU's vector unit and its make (the same
    seed gives other floats on an Intel Xeon than on an AMD EPYC, both AVX-512)."""
    return {"torch": torch.__version__.split("+")[0], "cpu": torch.backends.cpu.get_cpu_capability(),
            "cpu_model": _cpu_model()}


def run_case(name: str, run_dir: Path) -> list[dict]:
    from prl.engine import train

    cfg = compose(*BASE, *CASES[name])
    summary = train(cfg, str(run_dir), choices={})
    assert summary["status"] == "completed", summary
    lines = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k not in TIMING} for r in lines]


def _stored() -> dict:
    return json.loads(GOLDEN.read_text()) if GOLDEN.is_file() else {"environment": environment(), "cases": {}}


@pytest.mark.parametrize("name", sorted(CASES))
def test_metrics_equal_the_golden_values(name, tmp_path):
    threads = torch.get_num_threads()
    try:
        got = run_case(name, tmp_path / name)
    finally:
        torch.set_num_threads(threads)
    if os.environ.get("PRL_GOLDEN") == "update":
        stored = _stored()
        stored["environment"] = environment()
        stored["cases"][name] = {"overrides": CASES[name], "metrics": got}
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(stored, indent=1, sort_keys=True) + "\n")
        return
    stored = _stored()
    if stored["environment"] != environment():
        pytest.skip(f"golden values were made with {stored['environment']}, this is {environment()}: regenerate "
                    f"them here from a known-good commit with PRL_GOLDEN=update")
    assert name in stored["cases"], f"no golden values for {name}: run PRL_GOLDEN=update pytest {__file__}"
    case = stored["cases"][name]
    assert case["overrides"] == CASES[name], "the case's overrides changed: regenerate its golden values"
    want = case["metrics"]
    assert len(got) == len(want)
    for epoch, (g, w) in enumerate(zip(got, want), start=1):
        assert g == w, f"epoch {epoch}: " + ", ".join(
            f"{k}: {w.get(k)!r} -> {g.get(k)!r}" for k in sorted(set(g) | set(w)) if g.get(k) != w.get(k))
