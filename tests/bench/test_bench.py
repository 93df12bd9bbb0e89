"""The benchmark's structural claims (not timings): one forward per network per step, no host
sync inside ``train_step``, the reference-style baselines do what they claim, the timing
scheme pairs every block with the baseline beside it, rows can be added, ``python -m bench``
runs on a tiny setting and writes its reports, and nothing in ``prl`` imports the bench."""

from __future__ import annotations

import ast
import itertools
import json
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch
from torch.overrides import TorchFunctionMode

from prl import algorithms
from prl.models import SmallCNN
from prl.optim import adam

from bench.reference import Reference
from bench.timing import Timed, count_forwards, estimate, interleave, pair

from ..conftest import ROOT, step

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
        opt_step = opt.step

        def exempt_step(*a, _step=opt_step, **k):
            spy.exempt += 1
            try:
                return _step(*a, **k)
            finally:
                spy.exempt -= 1

        opt.step = exempt_step


METHODS = ["standard", "spl", "prl-l", "co-teaching", "co-prl-l", "prl-g", "co-prl-g"]


def net():
    return SmallCNN((1, 8, 8), 10, padding=2, norm="gn")


def make(name: str):
    """``name`` or ``name:key=value`` (one extra setting)."""
    base, _, extra = name.partition(":")
    kwargs = dict([extra.split("=")]) if extra else {}
    torch.manual_seed(0)  # the drop fraction is set per step (conftest.step)
    return algorithms.get(base)(model_fn=net, optimizer_fn=lambda p: adam(p, lr=1e-3), **kwargs)


def batch(n: int = 32):
    g = torch.Generator().manual_seed(0)
    return torch.randn(n, 1, 8, 8, generator=g), torch.randint(0, 10, (n,), generator=g)


@pytest.mark.parametrize("name", METHODS)
def test_one_forward_per_network_per_step(name):
    algo = make(name)
    x, y = batch()
    for eps in (0.0, 0.4):  # the ERM start of the ramp and a selecting step
        assert count_forwards(algo, x, y, run=lambda: step(algo, x, y, eps)) == [1] * algo.num_networks


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
    ref = Reference(name, net, lambda p: adam(p, lr=1e-3), "classification", epsilon=0.4, bookkeeping=True,
                    dataset_size=100)
    x, y = batch()
    assert count_forwards(ref, x, y) == [forwards, forwards]
    before = [p.detach().clone() for p in ref.networks.parameters()]
    out = ref.train_step(x, y)
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
        ref = Reference(name, net, lambda p: adam(p, lr=1e-3), "classification", epsilon=0.5)
        norms = [per_sample_grad_norms(n, per_sample_loss, x, y) for n in ref.networks]
        for kept, n in zip(ref.train_step(x, y)["kept"], norms):  # same set (the reference's sort is not stable)
            assert torch.equal(kept.sort().values, select_lowest(n, 12).sort().values)


def test_methods_are_built_from_their_composed_config_at_the_steady_state():
    from bench.setting import Setting, build_method

    args = SimpleNamespace(ref_bookkeeping=False)
    setting = Setting.from_spec(args, ["dataset=digits", "model=cnn-small-gn", "model.padding=2", "logger=none"],
                                "classification", (1, 8, 8), 10, n=32)
    prl_l = build_method("prl-l", setting, 0.45)
    assert prl_l.rule.epsilon_t == 0.45 and prl_l.rule.drops(128)  # no ramp: selecting from the first step
    assert build_method("prl-g:grad_norm=functorch", setting, 0.3).grad_norm == "functorch"
    assert len(build_method("standard:networks=2", setting, 0.45).networks) == 2
    assert not hasattr(build_method("bootstrapping", setting, 0.45), "rule")  # ERM: no drop fraction
    assert build_method("ref-co-prl-l", setting, 0.45).epsilon == 0.45


def test_interleave_times_the_baseline_beside_every_block():
    """Paired rounds: order rotated, the baseline between every two blocks, each block divided by
    the mean of its two neighbours, so a linear drift cancels (a fake clock whose readings grow
    by one per block: every ratio comes out exactly 1; no timing is involved)."""
    calls: list[str] = []
    blocks = {n: Timed(lambda n=n: calls.append(n)) for n in ("base", "a", "b")}
    ticks = itertools.count(1)

    def clock(block, device):  # the n-th block timed takes n seconds
        block.run()
        return float(next(ticks))

    t = interleave(blocks, rounds=2, device=torch.device("cpu"), baseline="base", warmup=1, clock=clock)
    assert calls == ["base", "a", "b"] + ["base", "a", "base", "b", "base"] + ["base", "b", "base", "a", "base"]
    # round 1: base 1, a 2, base 3, b 4, base 5; round 2: base 6, b 7, base 8, a 9, base 10
    assert t.times["a"] == [2.0, 9.0] and t.base["a"] == [2.0, 9.0]
    assert t.times["b"] == [4.0, 7.0] and t.base["b"] == [4.0, 7.0]
    assert t.ratios("base") == [1.0, 1.0]
    assert t.ratios("a") == [1.0, 1.0] and pair(t, "a", "b")["value"] == 1.0
    unpaired = interleave(blocks, rounds=1, device=torch.device("cpu"), baseline="base", paired=False, clock=clock)
    assert set(unpaired.times) == {"base", "a", "b"} and all(len(v) == 1 for v in unpaired.times.values())


def test_estimate_reports_the_spread_of_the_rounds():
    e = estimate([1.0, 1.1, 0.9, 5.0, 1.05])
    assert e["value"] == 1.05 and e["min"] == 0.9 and e["max"] == 5.0 and e["n"] == 5
    assert e["q1"] == 1.0 and e["q3"] == 1.1
    assert estimate([1.0, 1.1, 0.9, 5.0, 1.05], "trimmed")["value"] == pytest.approx((1.0 + 1.05 + 1.1) / 3)
    assert estimate([])["value"] is None


def test_a_row_is_a_timed_callable_against_a_baseline():
    from bench.rows import ROWS, Context, row, time_rows

    name = "test: sum vs sort"
    try:
        @row(name, baseline="a sort of 10k floats", unit="%", scale=lambda ctx: 2.0)
        def _rowfn(ctx):
            v = torch.rand(10_000)
            return Timed(lambda: v.sum(), calls=1), Timed(lambda: [v.sort() for _ in range(3)], calls=3)

        with pytest.raises(ValueError):
            row(name, baseline="again")(_rowfn)
        ctx = Context(SimpleNamespace(device=torch.device("cpu")), None, [], 0.45, 10)
        out = time_rows([name], ctx, rounds=3, log=lambda m: None)[name]
        assert out["unit"] == "%" and out["baseline"] == "a sort of 10k floats" and out["spread"]["n"] == 3
        assert out["value"] > 0 and out["ms"] > 0 and out["baseline_ms"] > 0
    finally:
        ROWS.pop(name, None)


def test_nothing_in_prl_imports_the_bench():
    for path in (ROOT / "prl").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                assert not any(a.name == "bench" or a.name.startswith("bench.") for a in node.names), path
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                assert not (node.module == "bench" or node.module.startswith("bench.")), path
    assert not (ROOT / "prl" / "bench.py").exists()


def test_compare_reports_the_across_run_range(tmp_path, capsys):
    from bench.compare import main as compare_main

    for i, ratio in enumerate((2.0, 2.1)):
        d = tmp_path / f"run{i}"
        d.mkdir()
        (d / "bench.json").write_text(json.dumps({
            "meta": {"load": [0.5, 0.5, 0.5]},
            "steps": {"fp32": {"standard": {"ratio": 1.0}, "co-prl-l": {"ratio": ratio}}},
            "targets": [{"target": "co-prl-l / standard", "value": ratio}]}))
    rows = {r["name"]: r for r in compare_main([str(tmp_path / "run0"), str(tmp_path / "run1" / "bench.json")])}
    assert rows["co-prl-l"]["values"] == [2.0, 2.1] and rows["co-prl-l"]["range_pct"] == pytest.approx(100 * 0.1 / 2.05)
    assert rows["target: co-prl-l / standard"]["median"] == pytest.approx(2.05)
    assert "| co-prl-l | 2.000 | 2.100 | 2.050 | 4.9% |" in capsys.readouterr().out


def test_bench_runs_and_writes_its_files(tmp_path):
    out = tmp_path / "bench"
    cmd = [sys.executable, "-m", "bench", "--dataset", "digits", "--batch-size", "16", "--steps", "1",
           "--rounds", "1", "--threads", "1", "--methods", "standard,prl-l,co-prl-l,prl-g,ref-co-prl-l,ref-co-prl-g",
           "--memory", "--memory-batches", "8", "--memory-methods", "standard,prl-g", "--out", str(out)]
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    report = json.loads((out / "bench.json").read_text())
    meta = report["meta"]
    assert meta["torch"] == torch.__version__ and meta["device"] and meta["date"] and meta["batch_size"] == 16
    assert len(meta["load"]) == 3 and meta["paired"] is True and meta["estimator"] == "median"
    rows = report["steps"]["fp32"]
    expected = {"standard", "prl-l", "co-prl-l", "prl-g", "ref-co-prl-l", "ref-co-prl-g"}
    assert set(rows) | set(report["skipped"]) == expected
    assert set(report["skipped"]) <= {"ref-co-prl-g"}  # only without opacus
    assert rows["standard"]["ratio"] == 1.0
    assert rows["co-prl-l"]["forwards_per_network"] == [1, 1] and rows["ref-co-prl-l"]["forwards_per_network"] == [3, 3]
    assert all(r["step_ms"] > 0 and 0 < r["data_fraction"] < 1 for r in rows.values())
    assert all({"q1", "q3", "min", "max", "n"} <= set(r["spread"]) and len(r["ratio_rounds"]) == 1
               for r in rows.values())
    targets = {t["target"]: t for t in report["targets"]}
    assert {"prl-g / standard", "ref-co-prl-l / co-prl-l"} <= set(targets)
    assert targets["ref-co-prl-l / co-prl-l"]["imitation"] and not targets["prl-g / standard"]["imitation"]
    assert "ghost (auto)" in report["engines"] and report["engines"]["functorch"]["max_rel_diff_vs_ghost"] < 1e-4
    assert all(v is not None and v >= 0 for v in report["memory"]["prl-g"].values())
    assert report["rows"]["data: one batch (BatchIterator)"]["unit"] == "%"
    md = (out / "bench.md").read_text()
    assert "| prl-g |" in md and "## Targets" in md and "## Other costs" in md and torch.__version__ in md
    assert "| spl / standard | n/a | n/a | <= 1.05 | - |" in md  # a target whose method was not timed
    assert "imitations" in md


def test_bench_main_job_runs_run_py_in_a_fresh_process(tmp_path):
    out = tmp_path / "bench"
    cmd = [sys.executable, "-m", "bench", "--dataset", "digits", "--batch-size", "16", "--steps", "1",
           "--rounds", "1", "--threads", "1", "--methods", "standard", "--no-engines", "--rows", "none",
           "--main-job", "--main-job-override", "dataset=digits", "--main-job-override", "trainer.epochs=1",
           "--main-job-override", "model=cnn-small", "--main-job-override", "model.padding=2", "--out", str(out)]
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    job = json.loads((out / "bench.json").read_text())["main_job"]
    assert job["status"] == "completed" and job["algorithm"] == "co-prl-l" and job["epochs"] == 1
    assert job["wall_s"] > 0 and job["samples_per_s"] > 0
    assert (out / "main-job" / "summary.json").exists()
    assert "## Main job end to end" in (out / "bench.md").read_text()


def test_the_estimation_row_runs_the_held_out_pass_and_the_rule_it_times():
    """The epsilon=auto row builds on a small setting and each of its blocks runs (structure, not time)."""
    from bench.rows import ROWS, Context
    from bench.setting import Setting

    args = SimpleNamespace(device="cpu", dataset="digits", model="cnn-small-gn", override=[], synthetic=None,
                           classes=10, batch_size=32)
    setting = Setting(args)
    x, y = setting.x[:32], setting.y[:32]
    ctx = Context(setting, args, [(x, y, torch.arange(32))], 0.45, 10)
    candidate, baseline = ROWS["epsilon=auto: estimation at the end of an epoch"].build(ctx)
    candidate.run()
    baseline.run()


def test_own_data_load_times_print_one_row_per_input(capsys):
    from bench.own_data import main

    main(["--rows", "200", "--columns", "3", "--images", "30", "--repeats", "1"])
    out = capsys.readouterr().out
    assert "CSV, 200 rows x 3 columns" in out and "30 32x32 JPEGs, first run" in out and "from its cache" in out
