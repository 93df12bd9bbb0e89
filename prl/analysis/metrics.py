"""Which number a table reports: the metric protocols (``final``, ``best``, ``last10``) and the
task's primary metric (:data:`prl.tasks.TASKS`), or any numeric summary column."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from prl.analysis.common import AnalysisError, primary_metric

__all__ = ["PROTOCOLS", "Metric", "resolve_metric"]

#: metric protocols: name -> summary suffix
PROTOCOLS = {"final": "_final", "best": "_best", "last10": "_last10_mean", "last10_mean": "_last10_mean"}
_PROTOCOL_TEXT = {
    "_final": "after the last epoch",
    "_best": "at the best epoch (selected on the test set: optimistic)",
    "_last10_mean": "mean over the last 10 epochs (co-teaching / PRL protocol)",
}


@dataclass
class Metric:
    """What a table reports for one task: the summary ``column``, its direction and a label."""

    column: str
    higher_is_better: Optional[bool]  # None: no best cell (an estimate is neither better high nor low)
    label: str  # e.g. "Test accuracy (%, higher is better): mean over the last 10 epochs (...)"
    #: a summary column shown next to each cell's mean, e.g. the realised corrupted fraction
    truth: Optional[str] = None


def resolve_metric(metric: str, task: str = "classification") -> Metric:
    """``final`` / ``best`` / ``last10`` -> the task's primary summary column; any other
    name is taken as a summary column (``label_*`` and ``test_accuracy*`` higher is better)."""
    key, higher = primary_metric(task)
    if metric in PROTOCOLS:
        suffix = PROTOCOLS[metric]
        name = {"test_accuracy": "Test accuracy (%", "test_mse": "Test MSE ("}.get(key, key + " (")
        sep = ", " if name.endswith("%") else ""
        return Metric(key + suffix, higher, f"{name}{sep}{'higher' if higher else 'lower'} is better): "
                                            f"{_PROTOCOL_TEXT[suffix]}")
    if metric == "estimate":
        return Metric("epsilon_estimate_final", None, "epsilon=auto: the final estimate of the corrupted fraction "
                      "[the realised corrupted fraction]", truth="noise_rate_realised")
    if metric.startswith(("epsilon_", "noise_rate")):
        return Metric(metric, None, metric)
    if metric.startswith(("test_", "label_", "suspect_auroc", "suspect_precision", "cleanlab_")):
        higher = not metric.startswith(("test_mse", "test_mae"))
        return Metric(metric, higher, f"{metric} ({'higher' if higher else 'lower'} is better)")
    raise AnalysisError(f"unknown metric {metric!r}; use final, best, last10, estimate (epsilon=auto against the "
                        f"truth) or a summary column such as label_precision_last10_mean or suspect_auroc")
