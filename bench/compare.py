"""Do repeated runs agree?  ``python -m bench.compare OUT1 OUT2 ...`` (folders holding a
``bench.json``, or the files): per ratio, its value in each run, the median over runs and the
across-run range ``(max - min) / median``.

    for i in 1 2 3 4; do python -m bench --threads 1 --no-engines --rows none --out /tmp/bench-$i; done
    python -m bench.compare /tmp/bench-*
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path


def load(paths: list[str]) -> list[dict]:
    out = []
    for p in paths:
        path = Path(p)
        out.append(json.loads((path / "bench.json" if path.is_dir() else path).read_text()))
    return out


def compare(reports: list[dict], variant: str = "fp32") -> list[dict]:
    """One row per ratio (step rows, then targets): ``name``, ``values``, ``median``, ``range_pct``."""
    rows = []
    series: dict[str, list] = {}
    for r in reports:
        for name, row in r["steps"].get(variant, {}).items():
            series.setdefault(name, []).append(row["ratio"])
    for t in (reports[0].get("targets") or []):
        series.setdefault(f"target: {t['target']}", [])
    for r in reports:
        for t in r.get("targets") or []:
            series[f"target: {t['target']}"].append(t["value"])
    for name, values in series.items():
        vals = [v for v in values if v is not None]
        if len(vals) < 1:
            continue
        med = statistics.median(vals)
        rows.append({"name": name, "values": vals, "median": med,
                     "range_pct": (max(vals) - min(vals)) / med * 100 if med else None})
    return rows


def main(argv=None) -> list[dict]:
    p = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", help="bench output folders or bench.json files")
    p.add_argument("--variant", default="fp32")
    args = p.parse_args(argv)
    reports = load(args.runs)
    rows = compare(reports, args.variant)
    loads = [r["meta"].get("load", [None])[0] for r in reports]
    print(f"{len(reports)} runs; 1-min load before each: {', '.join('n/a' if v is None else f'{v:.2f}' for v in loads)}")
    print(f"| ratio | {' | '.join(f'run {i + 1}' for i in range(len(reports)))} | median | range |")
    print("|---|" + "---|" * (len(reports) + 2))
    for r in rows:
        cells = " | ".join(f"{v:.3f}" for v in r["values"])
        print(f"| {r['name']} | {cells} | {r['median']:.3f} | {r['range_pct']:.1f}% |")
    if rows:
        ranges = [r["range_pct"] for r in rows if r["range_pct"] is not None and not r["name"].startswith("target")]
        print(f"step ratios: mean range {statistics.mean(ranges):.1f}%, max {max(ranges):.1f}%")
    return rows


if __name__ == "__main__":
    main()
