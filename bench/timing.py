"""How the bench times things: interleaved rounds of short blocks, each ratio taken against the
baseline timed right beside it, a robust estimate over rounds and its spread.

A *block* (:class:`Timed`) is a zero-argument callable that does ``calls`` units of work (for a
training step: ``--steps`` steps over the pre-drawn batches); its time per unit is the block's
wall time (device synchronised) divided by ``calls``.  :func:`interleave` times every block once
per round, in an order rotated from round to round, and with ``paired=True`` (the default) it
times the baseline between every two blocks, so each block's time in a round is divided by the
mean of the baseline blocks just before and just after it: load that comes and goes over
seconds hits numerator and denominator alike, and a linear drift cancels.  :func:`estimate`
turns the per-round ratios into one number (the median by default) with its spread (quartiles,
min-max); :func:`pair` gives a ratio between two non-baseline blocks from the same rounds.

Why these choices: README, "Performance".
"""

from __future__ import annotations

import contextlib
import gc
import statistics
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import torch
from torch import Tensor

from bench.setting import sync

__all__ = ["Timed", "Timings", "interleave", "estimate", "ESTIMATORS", "count_forwards", "time_data", "median"]


@dataclass
class Timed:
    """One block of work: ``run()`` does ``calls`` units (steps, batches, ...)."""

    run: Callable[[], Any]
    calls: int = 1
    #: a context every block runs in (e.g. bf16 autocast)
    context: Callable[[], Any] = contextlib.nullcontext


@dataclass
class Timings:
    """Per name: seconds per unit in each round (``times``) and the baseline seconds per unit it
    is divided by in that round (``base``: the baseline's own block in the round, or, paired, the
    mean of the baseline blocks beside it)."""

    baseline: str
    times: dict[str, list[float]] = field(default_factory=dict)
    base: dict[str, list[float]] = field(default_factory=dict)
    paired: bool = True

    def ratios(self, name: str, scale: float = 1.0) -> list[float]:
        """Per-round ratios ``time(name) / (scale * baseline beside it)``."""
        return [t / (scale * b) for t, b in zip(self.times[name], self.base[name])]

    def seconds(self, name: str) -> float:
        """Median seconds per unit of ``name``."""
        return median(self.times[name])


def median(values) -> float:
    values = [v for v in values if v is not None]
    return float(statistics.median(values)) if values else float("nan")


def _trimmed_mean(values: list[float], cut: float = 0.2) -> float:
    v = sorted(values)
    k = int(len(v) * cut)
    v = v[k: len(v) - k] or v
    return float(sum(v) / len(v)) if v else float("nan")


#: per-round ratios -> one number
ESTIMATORS: dict[str, Callable[[list[float]], float]] = {
    "median": median,
    "trimmed": _trimmed_mean,
    "mean": lambda v: float(sum(v) / len(v)) if v else float("nan"),
}


def _quantile(values: list[float], q: float) -> float:
    v = sorted(values)
    if not v:
        return float("nan")
    pos = q * (len(v) - 1)
    lo, hi = int(pos), min(int(pos) + 1, len(v) - 1)
    return float(v[lo] + (v[hi] - v[lo]) * (pos - lo))


def estimate(ratios: list[float], estimator: str = "median") -> dict:
    """``{"value", "q1", "q3", "min", "max", "n"}`` of per-round ratios: the estimate and the
    spread of the rounds (quartiles and extremes)."""
    if not ratios:
        return {"value": None, "q1": None, "q3": None, "min": None, "max": None, "n": 0}
    return {"value": ESTIMATORS[estimator](ratios), "q1": _quantile(ratios, 0.25), "q3": _quantile(ratios, 0.75),
            "min": float(min(ratios)), "max": float(max(ratios)), "n": len(ratios)}


def pair(timings: Timings, a: str, b: str, scale: float = 1.0, estimator: str = "median") -> Optional[dict]:
    """Estimate of ``scale * time(a) / time(b)`` over rounds, each side taken relative to the
    baseline beside it in the same round (so the baseline's own noise cancels too)."""
    if a not in timings.times or b not in timings.times:
        return None
    ra, rb = timings.ratios(a), timings.ratios(b)
    return estimate([scale * x / y for x, y in zip(ra, rb)], estimator)


def _clock(block: Timed, device: torch.device) -> float:
    """Seconds per unit of one run of ``block``."""
    sync(device)
    t0 = time.perf_counter()
    with block.context():
        block.run()
    sync(device)
    return (time.perf_counter() - t0) / block.calls


def interleave(blocks: dict[str, Timed], rounds: int, device: torch.device, baseline: str, paired: bool = True,
               warmup: int = 1, log: Optional[Callable[[str], None]] = None,
               clock: Callable[[Timed, torch.device], float] = _clock, gc_off: bool = True) -> Timings:
    """Time every block once per round for ``rounds`` rounds (module docstring).

    ``warmup`` untimed runs of every block first (allocators, kernel caches, lazy hooks,
    compilation).  Python's garbage collector is off inside a round (``gc_off``; it runs
    between rounds).  ``log`` gets one line per round.
    """
    if baseline not in blocks:
        raise ValueError(f"the baseline {baseline!r} is not among the timed blocks")
    others = [n for n in blocks if n != baseline]
    out = Timings(baseline, {n: [] for n in blocks}, {n: [] for n in blocks}, paired)
    for name, block in blocks.items():
        for _ in range(warmup):
            with block.context():
                block.run()
    sync(device)
    enabled = gc.isenabled()
    for r in range(rounds):
        order = others[r % len(others):] + others[: r % len(others)] if others else []
        if gc_off:
            gc.collect()
            gc.disable()
        try:
            if paired:
                base_times = [clock(blocks[baseline], device)]
                for name in order:
                    out.times[name].append(clock(blocks[name], device))
                    base_times.append(clock(blocks[baseline], device))
                for i, name in enumerate(order):
                    out.base[name].append(0.5 * (base_times[i] + base_times[i + 1]))
                out.times[baseline].append(median(base_times))
            else:
                seq = [baseline, *others]
                seq = seq[r % len(seq):] + seq[: r % len(seq)]
                got = {name: clock(blocks[name], device) for name in seq}
                for name in order:
                    out.times[name].append(got[name])
                    out.base[name].append(got[baseline])
                out.times[baseline].append(got[baseline])
            out.base[baseline].append(out.times[baseline][-1])
        finally:
            if enabled:
                gc.enable()
        if log is not None:
            b = out.times[baseline][-1]
            log(f"  round {r + 1}/{rounds}: {baseline} {b * 1e3:.1f} ms | " + ", ".join(
                f"{n} {out.times[n][-1] / out.base[n][-1]:.2f}x" for n in order))
    return out


def count_forwards(method, x: Tensor, y: Tensor, run: Optional[Callable[[], Any]] = None) -> list[int]:
    """How many times each network's ``forward`` runs during one ``method.train_step(x, y)`` (or
    during ``run()``); a ``torch.compile``d network counts calls of the wrapper or of the
    original module, whichever saw more."""
    outer, inner = [0] * len(method.networks), [0] * len(method.networks)
    handles = []
    for i, net in enumerate(method.networks):
        handles.append(net.register_forward_pre_hook(lambda *_, i=i: outer.__setitem__(i, outer[i] + 1)))
        if hasattr(net, "_orig_mod"):
            handles.append(net._orig_mod.register_forward_pre_hook(
                lambda *_, i=i: inner.__setitem__(i, inner[i] + 1)))
    try:
        (run or (lambda: method.train_step(x, y)))()
    finally:
        for h in handles:
            h.remove()
    return [max(a, b) for a, b in zip(outer, inner)]


def time_data(loader, steps: int, rounds: int, device: torch.device) -> float:
    """Median seconds per batch of drawing batches from ``loader`` (a BatchIterator)."""
    out = []
    for _ in range(rounds):
        sync(device)
        t0 = time.perf_counter()
        done = 0
        while done < steps:
            for _ in loader:
                done += 1
                if done >= steps:
                    break
        sync(device)
        out.append((time.perf_counter() - t0) / steps)
    return median(out)
