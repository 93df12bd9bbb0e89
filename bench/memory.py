"""Peak memory of one training step against the batch size.

CUDA: the caching allocator's peak over one step (after a warm-up step).  CPU: the peak resident
set of a fresh subprocess (``python -m bench --probe SPEC``) running two steps on one synthetic
batch, minus its resident set before them: coarse (allocator retention included).
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Callable

import torch

from bench.setting import ROOT, Setting, build_method, sync

__all__ = ["memory_table", "probe_memory"]


def _peak_step_memory_cuda(method, x, y, device) -> float:
    method.train_step(x, y)
    sync(device)
    torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device)
    method.train_step(x, y)
    sync(device)
    return (torch.cuda.max_memory_allocated(device) - before) / 2**20


def _rss_mb(field: str) -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def probe_memory(args) -> None:
    """Subprocess entry (``--probe``): peak resident memory of two steps of one method on one
    synthetic batch, printed as JSON on the last line."""
    spec = json.loads(args.probe)
    n = spec["batch"]
    setting = Setting.from_spec(args, spec["overrides"], spec["task"], spec["input_shape"], spec["num_outputs"], n)
    method = build_method(spec["method"], setting, spec["epsilon"])
    x, y = setting.x, setting.y
    base = _rss_mb("VmRSS")
    for _ in range(2):
        method.train_step(x, y)
    print(json.dumps({"peak_mb": _rss_mb("VmHWM") - base}))


def memory_table(setting: Setting, methods: list[str], batches: list[int], epsilon: float,
                 log: Callable = print) -> dict:
    """``{method: {batch: MiB}}`` (None where a probe failed)."""
    out: dict[str, dict] = {}
    for name in methods:
        out[name] = {}
        for n in batches:
            if setting.device.type == "cuda":
                method = build_method(name, setting, epsilon)
                x, y, _ = next(iter(setting.loader(n)))
                out[name][n] = _peak_step_memory_cuda(method, x, y, setting.device)
                del method
            else:
                spec = {"method": name, "batch": n, "epsilon": epsilon, "overrides": setting.overrides,
                        "task": setting.task, "input_shape": list(setting.input_shape),
                        "num_outputs": setting.num_outputs}
                cmd = [sys.executable, "-m", "bench", "--probe", json.dumps(spec)]
                if getattr(setting.args, "threads", None):
                    cmd += ["--threads", str(setting.args.threads)]
                res = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=str(ROOT))
                try:
                    out[name][n] = json.loads(res.stdout.strip().splitlines()[-1])["peak_mb"]
                except (IndexError, ValueError, KeyError):
                    out[name][n] = None
                    log(f"  memory probe {name} @ {n} failed: {res.stderr.strip().splitlines()[-1:]}")
            log(f"  memory {name} @ batch {n}: {out[name][n]}")
    return out
