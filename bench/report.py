"""The bench's outputs: the targets of the issue checked against the measured ratios, and
``bench.md`` / ``bench.json``."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Optional

import torch

from bench.timing import Timings, estimate, pair

__all__ = ["TARGETS", "check_targets", "device_name", "markdown", "write"]

#: (name, numerator, denominator, scale, limit, kind): scale * a / b <= limit ("max"), >= limit ("min"),
#: no limit ("info").  ``ref-*`` are the imitations of bench/reference.py, not the reference code.
TARGETS = (
    ("prl-l / standard", "prl-l", "standard", 1.0, 1.05, "max"),
    ("spl / standard", "spl", "standard", 1.0, 1.05, "max"),
    ("co-prl-l / standard", "co-prl-l", "standard", 1.0, 2.1, "max"),
    ("co-teaching / standard", "co-teaching", "standard", 1.0, 2.1, "max"),
    ("co-prl-l / co-teaching", "co-prl-l", "co-teaching", 1.0, 1.05, "max"),
    ("co-prl-l / standard:networks=2", "co-prl-l", "standard:networks=2", 1.0, 1.05, "max"),
    ("prl-g / standard", "prl-g", "standard", 1.0, 2.5, "max"),
    ("ref-co-prl-l / co-prl-l", "ref-co-prl-l", "co-prl-l", 1.0, 1.6, "min"),
    ("ref-co-prl-l / co-prl-l:score_pass=separate", "ref-co-prl-l", "co-prl-l:score_pass=separate", 1.0, 1.6, "min"),
    ("ref-co-prl-g per network / prl-g", "ref-co-prl-g", "prl-g", 0.5, 5.0, "min"),
    ("ref-co-prl-g-func per network / prl-g", "ref-co-prl-g-func", "prl-g", 0.5, None, "info"),
)

IMITATION_NOTE = ("`ref-*` rows are imitations of the reference code's steps written in `bench/reference.py`, "
                  "not the reference code itself (the README's Performance section compares them with the real one).")


def check_targets(timings: Optional[Timings], estimator: str = "median") -> list[dict]:
    out = []
    for name, a, b, scale, limit, kind in TARGETS:
        if timings is None:
            est = None
        elif b == timings.baseline:
            est = estimate([scale * r for r in timings.ratios(a)], estimator) if a in timings.times else None
        else:
            est = pair(timings, a, b, scale, estimator)
        v = None if est is None else est["value"]
        ok = None if v is None or limit is None else (v <= limit if kind == "max" else v >= limit)
        out.append({"target": name, "value": v, "spread": est, "limit": limit, "kind": kind, "ok": ok,
                    "imitation": a.startswith("ref-")})
    return out


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return f"CPU: {line.split(':', 1)[1].strip()} ({os.cpu_count()} cores)"
    except OSError:
        pass
    return f"CPU: {platform.processor() or platform.machine()}"


def _f(v, fmt="{:.2f}") -> str:
    return "n/a" if v is None or (isinstance(v, float) and v != v) else fmt.format(v)


def _spread(s: Optional[dict], fmt="{:.2f}") -> str:
    """``q1–q3 (min–max)`` of the per-round values."""
    if not s or s.get("q1") is None:
        return "n/a"
    return f"{_f(s['q1'], fmt)}–{_f(s['q3'], fmt)} ({_f(s['min'], fmt)}–{_f(s['max'], fmt)})"


def markdown(report: dict) -> str:
    m = report["meta"]
    load = m.get("load")
    lines = [
        "# prl training-step benchmark", "",
        f"{m['device']} | torch {m['torch']} | {m['threads']} thread(s) | {m['date']}"
        + (f" | load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} before the run" if load else ""), "",
        f"{m['dataset']}, model `{m['model']}`, batch {m['batch_size']}, drop fraction {m['epsilon']}; "
        f"{m['rounds']} rounds of {m['steps']}-step blocks, each block's time divided by the `standard` blocks "
        f"timed beside it ({'paired' if m.get('paired', True) else 'same round, unpaired'}); ratio = "
        f"{m.get('estimator', 'median')} over rounds, spread = quartiles (min–max) of the per-round ratios.  "
        f"Data: {_f(report['data_ms'], '{:.2f}')} ms per batch (BatchIterator).", "",
    ]
    for variant, rows in report["steps"].items():
        lines += [f"## Training step ({variant})", "",
                  "| method | forwards / network | step (ms) | ratio to standard | spread over rounds | samples/s "
                  "| epoch (s, est.) | data / step |", "|---|---|---|---|---|---|---|---|"]
        for name, r in rows.items():
            fw = "/".join(str(c) for c in r["forwards_per_network"]) if r.get("forwards_per_network") else "n/a"
            speed = f" ({_f(r.get('vs_fp32'))}x fp32)" if r.get("vs_fp32") is not None else ""
            lines.append(f"| {name} | {fw} | {_f(r['step_ms'], '{:.1f}')}{speed} | {_f(r['ratio'])}x | "
                         f"{_spread(r.get('spread'))} | {_f(r['samples_per_s'], '{:.0f}')} | "
                         f"{_f(r['epoch_s_est'], '{:.1f}')} | {_f(100 * r['data_fraction'], '{:.1f}')}% |")
        lines.append("")
    if report.get("skipped"):
        lines += ["Not timed: " + "; ".join(f"`{k}` ({v})" for k, v in report["skipped"].items()), ""]
    lines += ["## Targets (fp32)", "", "| target | measured | spread over rounds | limit | met |", "|---|---|---|---|---|"]
    for t in report["targets"]:
        limit = "" if t["limit"] is None else ("<= " if t["kind"] == "max" else ">= ") + f"{t['limit']}"
        met = {True: "yes", False: "**no**", None: "-"}[t["ok"]]
        lines.append(f"| {t['target']} | {_f(t['value'], '{:.2f}x')} | {_spread(t.get('spread'))} | {limit} | {met} |")
    lines += ["", IMITATION_NOTE, ""]
    if report.get("rows"):
        lines += ["## Other costs", "", "| row | ms | baseline | baseline ms | value | spread over rounds |",
                  "|---|---|---|---|---|---|"]
        for name, r in report["rows"].items():
            fmt = "{:.1f}" if r["unit"] == "%" else "{:.2f}"
            lines.append(f"| {name} | {_f(r['ms'], '{:.2f}')} | {r['baseline']} | {_f(r['baseline_ms'], '{:.2f}')} | "
                         f"{_f(r['value'], fmt)}{r['unit']} | {_spread(r['spread'], fmt)} |")
        lines.append("")
    if report.get("engines"):
        lines += ["## Per-sample gradient norms of one batch (forward + norms, no update)", "",
                  "| engine | ms | ratio to one ERM step | spread over rounds | max rel. diff. vs ghost |",
                  "|---|---|---|---|---|"]
        for name, r in report["engines"].items():
            lines.append(f"| {name} | {_f(r['ms'], '{:.1f}')} | {_f(r['ratio_to_erm_step'])}x | "
                         f"{_spread(r.get('spread'))} | {_f(r['max_rel_diff_vs_ghost'], '{:.1e}')} |")
        lines.append("")
    if report.get("memory"):
        batches = sorted({int(b) for v in report["memory"].values() for b in v})
        how = "CUDA allocator peak" if m["device_type"] == "cuda" else "peak RSS of a fresh process, coarse"
        lines += [f"## Peak memory of a step (MiB, {how})", "",
                  "| method | " + " | ".join(f"batch {b}" for b in batches) + " |",
                  "|---|" + "---|" * len(batches)]
        for name, row in report["memory"].items():
            lines.append(f"| {name} | " + " | ".join(_f(row.get(b, row.get(str(b))), "{:.0f}") for b in batches) + " |")
        lines.append("")
    if report.get("main_job"):
        j = report["main_job"]
        lines += ["## Main job end to end", "",
                  f"`python run.py` ({j['algorithm']}, {j['epochs']} epochs, logger off, a fresh process with "
                  f"torch's default threads): {_f(j['wall_s'], '{:.0f}')} s wall, "
                  f"{_f(j['samples_per_s'], '{:.0f}')} samples/s (training, all networks), final test accuracy "
                  f"{_f(j['test_accuracy_final'])}%.", ""]
    return "\n".join(lines)


def write(report: dict, out_dir: Path) -> tuple[Path, Path]:
    """``bench.json`` and ``bench.md`` in ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    js, md = out_dir / "bench.json", out_dir / "bench.md"
    js.write_text(json.dumps(report, indent=2, default=str))
    md.write_text(markdown(report))
    return md, js
