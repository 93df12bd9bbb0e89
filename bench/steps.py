"""The training-step table: every method built on the same setting, stepped on the same
pre-drawn batches, timed interleaved against one-network ``standard`` (one variant at a time:
fp32, bf16 autocast, channels_last, ``torch.compile``)."""

from __future__ import annotations

import contextlib
import functools
from typing import Callable, Optional

import torch
import torch.nn as nn

from bench.reference import REFERENCES
from bench.setting import Setting, build_method
from bench.timing import Timed, Timings, count_forwards, estimate, interleave

__all__ = ["VARIANTS", "time_variant", "step_rows"]

VARIANTS = ("fp32", "bf16", "channels_last", "compile")
BASELINE = "standard"


def _variant_batches(batches: list, channels_last: bool) -> list:
    return [(x.contiguous(memory_format=torch.channels_last) if channels_last and x.dim() == 4 else x, y, idx)
            for x, y, idx in batches]


def time_variant(variant: str, names: list[str], setting: Setting, batches: list, epsilon: float, rounds: int,
                 paired: bool = True, log: Callable = print) -> tuple[Timings, dict[str, list[int]]]:
    """Build every method of ``names`` for ``variant``, count its forwards per network in one
    step, and time them (:func:`bench.timing.interleave`, baseline ``standard``)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r} (allowed: {', '.join(VARIANTS)})")
    device = setting.device
    setting.channels_last = variant == "channels_last"
    try:
        vb = _variant_batches(batches, setting.channels_last)
        context = (functools.partial(torch.autocast, device.type, dtype=torch.bfloat16) if variant == "bf16"
                   else contextlib.nullcontext)
        blocks: dict[str, Timed] = {}
        forwards: dict[str, list[int]] = {}
        for name in names:
            if variant == "compile" and name in REFERENCES:
                continue
            m = build_method(name, setting, epsilon)
            if variant == "compile":
                m.networks = nn.ModuleList(torch.compile(n) for n in m.networks)
            m.train()
            x0, y0, i0 = vb[0]
            with context():
                forwards[name] = count_forwards(m, x0, y0, run=lambda m=m: m.train_step(x0, y0, i0))
            blocks[name] = Timed(lambda m=m: [m.train_step(x, y, idx) for x, y, idx in vb], calls=len(vb),
                                 context=context)
        timings = interleave(blocks, rounds, device, BASELINE, paired=paired, log=log)
    finally:
        setting.channels_last = False
    return timings, forwards


def step_rows(timings: Timings, batch_size: int, steps_per_epoch: int, data_s: float,
              forwards: dict[str, list[int]], estimator: str = "median",
              fp32: Optional[Timings] = None) -> dict[str, dict]:
    """One row per method: median step time, the ratio to ``standard`` and its spread over
    rounds, throughput, an epoch estimate, the data share, forwards per network, the raw rounds
    and, for a non-fp32 variant, the speed-up over fp32."""
    rows = {}
    for name in timings.times:
        step = timings.seconds(name)
        ratios = timings.ratios(name)
        est = estimate(ratios, estimator)
        rows[name] = {
            "step_ms": step * 1e3,
            "ratio": est["value"],
            "spread": est,
            "ratio_rounds": ratios,
            "rounds_ms": [t * 1e3 for t in timings.times[name]],
            "baseline_rounds_ms": [t * 1e3 for t in timings.base[name]],
            "samples_per_s": batch_size / step,
            "epoch_s_est": steps_per_epoch * (step + data_s),
            "data_fraction": data_s / step,
            "forwards_per_network": forwards.get(name),
        }
        if fp32 is not None and name in fp32.times:
            rows[name]["vs_fp32"] = fp32.seconds(name) / step
    return rows
