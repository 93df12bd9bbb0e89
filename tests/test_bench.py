"""The benchmark's structural claims (not timings): one forward per network per step, no host
sync inside ``train_step``, the reference-style baselines do what they claim, and
``python -m prl.bench`` runs on a tiny setting and writes its reports."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from torch.overrides import TorchFunctionMode

from prl import algorithms
from prl.bench import Reference, count_forwards
from prl.models import SmallCNN
from prl.optim import adam

from .conftest import ROOT, step

# Opacus' full backward hooks (reference baselines) warn when the inputs need no gradient
pytestmark = pytest.mark.filterwarnings("ignore:Full backward hook is firing")

#: Python-level calls that copy device data to the host (a sync on CUDA), whatever the device
SYNCS = {
    torch.Tensor.item, torch.Tensor.tolist, torch.Tensor.numpy, torch.Tensor.cpu, torch.Tensor.__bool__,
    torch.Tensor.__float__, torch.Tensor.__int__, torch.Tensor.__index__, torch.Tensor.nonzero, torch.nonzero,
    torch.Tensor.argwhere, torch.argwhere, torch.Tensor.masked_select, torch.masked_select, torch.Tensor.unique,
    torch.unique, torch.unique_consecutive,
}


class HostSyncSpy(TorchFunctionMode):
    """Records host syncs, boolean-mask indexing (a nonzero in disguise) and ``.to(cpu)``;
    the optimizers' own ``step`` is exempt (Adam reads its step count, a CPU tensor)."""

    def __init__(self):
        super().__init__()
        self.calls: list[str] = []
        self.exempt = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if not self.exempt:
            name = getattr(func, "__name__", str(func))
            if func in SYNCS:
                self.calls.append(name)
            elif name in ("__getitem__", "__setitem__", "index_put", "index_put_") and len(args) > 1 and any(
                    isinstance(a, torch.Tensor) and a.dtype == torch.bool
                    for a in (args[1] if isinstance(args[1], (tuple, list)) else (args[1],))):
                self.calls.append(f"{name}[bool mask]")
            elif name == "to" and any(str(a) == "cpu" for a in (*args[1:], *kwargs.values())):
                self.calls.append("to(cpu)")
        return func(*args, **kwargs)


def guard_optimizers(algo, spy: HostSyncSpy) -> None:
    for opt in algo.optimizers:
        step = opt.step

        def exempt_step(*a, _step=step, **k):
            spy.exempt += 1
            try:
                return _step(*a, **k)
            finally:
                spy.exempt -= 1

        opt.step = exempt_step


METHODS = ["standard", "spl", "prl-l", "co-teaching", "co-prl-l", "prl-g", "co-prl-g"]


def make(name: str):
    """``name`` or ``name:key=value`` (one extra setting)."""
    base, _, extra = name.partition(":")
    kwargs = dict([extra.split("=")]) if extra else {}
    torch.manual_seed(0)
    return algorithms.get(base)(model_fn=lambda: SmallCNN((1, 8, 8), 10, padding=2, norm="gn"),
                                optimizer_fn=lambda p: adam(p, lr=1e-3), epsilon=0.4, **kwargs)


def batch(n: int = 32):
    g = torch.Generator().manual_seed(0)
    return torch.randn(n, 1, 8, 8, generator=g), torch.randint(0, 10, (n,), generator=g)


@pytest.mark.parametrize("name", METHODS)
def test_one_forward_per_network_per_step(name):
    algo = make(name)
    x, y = batch()
    for eps in (0.0, 0.4):  # the ERM start of the ramp and a selecting step
        assert count_forwards(algo, x, y, eps) == [1] * algo.num_networks


@pytest.mark.parametrize("name", METHODS + ["prl-l:score_pass=separate", "co-prl-l:score_pass=separate"])
def test_no_host_sync_inside_train_step(name):
    algo = make(name)
    x, y = batch()
    step(algo, x, y, 0.4)  # lazy set-up (hooks) outside the spy
    spy = HostSyncSpy()
    guard_optimizers(algo, spy)
    if torch.cuda.is_available():  # the real thing where it exists
        algo.networks.cuda()
        x, y = x.cuda(), y.cuda()
        torch.cuda.set_sync_debug_mode("error")
    try:
        with spy:
            out = step(algo, x, y, 0.4)
            step(algo, x, y, 0.0)
    finally:
        if torch.cuda.is_available():
            torch.cuda.set_sync_debug_mode("default")
    assert spy.calls == []
    assert out["loss"].shape == (algo.num_networks,)


def test_the_spy_sees_syncs():
    spy = HostSyncSpy()
    t = torch.arange(4.0)
    with spy:
        t.sum().item()
        t[t > 1]
        t.to("cpu")
        bool(t[0])
    assert spy.calls == ["item", "__getitem__[bool mask]", "to(cpu)", "__bool__"]


def needs_opacus(name: str) -> None:
    if name == "ref-co-prl-g":
        pytest.importorskip("opacus")


@pytest.mark.parametrize("name,forwards", [("ref-co-prl-l", 3), ("ref-co-teaching", 1), ("ref-co-prl-g", 3),
                                           ("ref-co-prl-g-func", 3)])
def test_reference_baselines_have_the_reference_structure(name, forwards):
    needs_opacus(name)
    torch.manual_seed(0)
    ref = Reference(name, lambda: SmallCNN((1, 8, 8), 10, padding=2, norm="gn"), lambda p: adam(p, lr=1e-3),
                    "classification", bookkeeping=True, dataset_size=100)
    x, y = batch()
    assert count_forwards(ref, x, y, 0.4) == [forwards, forwards]
    before = [p.detach().clone() for p in ref.networks.parameters()]
    out = ref.train_step(x, y, 0.4)
    assert [k.shape[0] for k in out["kept"]] == [19, 19]
    assert all(not torch.equal(p, q) for p, q in zip(before, ref.networks.parameters()))
    assert len(ref.pure_ratios) == 2


def test_reference_co_prl_g_selects_by_per_sample_gradient_norm():
    """Both reference engines (Opacus hooks, torch.func) pick the same samples as the ghost norms."""
    from prl.grad_norms import per_sample_grad_norms
    from prl.losses import per_sample_loss, select_lowest

    x, y = batch(24)
    for name in ("ref-co-prl-g", "ref-co-prl-g-func"):
        needs_opacus(name)
        torch.manual_seed(0)
        ref = Reference(name, lambda: SmallCNN((1, 8, 8), 10, padding=2, norm="gn"), lambda p: adam(p, lr=1e-3),
                        "classification")
        norms = [per_sample_grad_norms(net, per_sample_loss, x, y) for net in ref.networks]
        for kept, n in zip(ref.train_step(x, y, 0.5)["kept"], norms):  # same set (the reference's sort is not stable)
            assert torch.equal(kept.sort().values, select_lowest(n, 12).sort().values)


def test_bench_runs_and_writes_its_files(tmp_path):
    out = tmp_path / "bench"
    cmd = [sys.executable, "-m", "prl.bench", "--dataset", "digits", "--batch-size", "16", "--steps", "1",
           "--rounds", "1", "--threads", "1", "--methods", "standard,prl-l,co-prl-l,prl-g,ref-co-prl-l,ref-co-prl-g",
           "--memory", "--memory-batches", "8", "--memory-methods", "standard,prl-g", "--out", str(out)]
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    report = json.loads((out / "bench.json").read_text())
    meta = report["meta"]
    assert meta["torch"] == torch.__version__ and meta["device"] and meta["date"] and meta["batch_size"] == 16
    rows = report["steps"]["fp32"]
    expected = {"standard", "prl-l", "co-prl-l", "prl-g", "ref-co-prl-l", "ref-co-prl-g"}
    assert set(rows) | set(report["skipped"]) == expected
    assert set(report["skipped"]) <= {"ref-co-prl-g"}  # only without opacus
    assert rows["standard"]["ratio"] == 1.0
    assert rows["co-prl-l"]["forwards_per_network"] == [1, 1] and rows["ref-co-prl-l"]["forwards_per_network"] == [3, 3]
    assert all(r["step_ms"] > 0 and 0 < r["data_fraction"] < 1 for r in rows.values())
    assert {t["target"] for t in report["targets"]} >= {"prl-g / standard", "ref-co-prl-l / co-prl-l"}
    assert "ghost (auto)" in report["engines"] and report["engines"]["functorch"]["max_rel_diff_vs_ghost"] < 1e-4
    assert all(v is not None and v >= 0 for v in report["memory"]["prl-g"].values())
    md = (out / "bench.md").read_text()
    assert "| prl-g |" in md and "## Targets" in md and torch.__version__ in md
    assert "| spl / standard | n/a | <= 1.05 | - |" in md  # a target whose method was not timed


def test_bench_main_job_runs_run_py_in_a_fresh_process(tmp_path):
    out = tmp_path / "bench"
    cmd = [sys.executable, "-m", "prl.bench", "--dataset", "digits", "--batch-size", "16", "--steps", "1",
           "--rounds", "1", "--threads", "1", "--methods", "standard", "--no-engines", "--main-job",
           "--main-job-override", "dataset=digits", "--main-job-override", "trainer.epochs=1",
           "--main-job-override", "model=cnn-small", "--main-job-override", "model.padding=2", "--out", str(out)]
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    job = json.loads((out / "bench.json").read_text())["main_job"]
    assert job["status"] == "completed" and job["algorithm"] == "co-prl-l" and job["epochs"] == 1
    assert job["wall_s"] > 0 and job["samples_per_s"] > 0
    assert (out / "main-job" / "summary.json").exists()
    assert "## Main job end to end" in (out / "bench.md").read_text()
