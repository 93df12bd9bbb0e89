"""Small pieces every part of the analysis shares: its error type, number parsing, the task's
primary metric and how a path is shown to the user."""

from __future__ import annotations

import math
import os
from typing import Any, Optional


#: a run's status, best first (``summary.json``'s ``status``; ``incomplete`` when it has none)
STATUSES = ("completed", "interrupted", "diverged", "failed", "incomplete")


class AnalysisError(ValueError):
    """Bad input to the analysis (no such directory, no runs, unknown metric)."""


def primary_metric(task: str) -> tuple[str, bool]:
    """``(metric key, higher is better)`` of ``task`` (classification for unknown tasks), from
    :data:`prl.tasks.TASKS`."""
    from prl.tasks import TASKS  # here, not at the top: prl.tasks loads torch

    t = TASKS.get(task, TASKS["classification"])
    return t.primary, t.higher_is_better


def number(v: Any) -> Optional[float]:
    """``v`` as a finite float, else None."""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def is_missing(v: Any) -> bool:
    """None or NaN."""
    return v is None or (isinstance(v, float) and math.isnan(v))


def last_part(target: Optional[str]) -> Optional[str]:
    """``prl.data.digits`` -> ``digits`` (None stays None)."""
    return target.rsplit(".", 1)[-1] if isinstance(target, str) else None


def short_path(path: str) -> str:
    """``path`` relative to the working directory, unless that climbs more than one level."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return rel if not rel.startswith("../..") else path


def load_yaml(path: str) -> Optional[Any]:
    """The parsed YAML file, or None when it is missing or not valid YAML."""
    import yaml

    try:
        with open(path) as fh:
            return yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (OSError, yaml.YAMLError):
        return None
