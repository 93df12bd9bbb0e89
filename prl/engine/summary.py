"""``summary.json``: a run's outcome in one file, with the definition of each number."""

from __future__ import annotations

from typing import Any

import numpy as np

from prl.engine.setup import EPSILON_SOURCES

__all__ = ["summarise"]


def _estimate_error(algo_summary: dict, run: Any) -> dict:
    """``epsilon_estimate_error``: the final estimate minus the realised corrupted fraction, when
    the run estimated epsilon and knows the truth."""
    if "epsilon_estimate_final" not in algo_summary or not run.data.clean_known:
        return {}
    rate = run.noise_info.get("trim", {}).get("rate_after_trim", run.noise_info["rate_realised"])
    return {"epsilon_estimate_error": algo_summary["epsilon_estimate_final"] - rate}


def summarise(run: Any, history: list[dict], status: str, wall: float, choices: dict) -> dict:
    """The summary of ``run`` after the epochs in ``history``: ``status`` (completed |
    interrupted | diverged | failed), the primary test metric after the last epoch (``*_final``),
    at its best epoch (``*_best``, optimistic) and over the last 10 (``*_last10_mean``), the
    noise, epsilon and where it came from, and ``definitions`` of these."""
    task, algo = run.task, run.algorithm
    key = task.primary
    values = [h[key] for h in history]
    summary: dict[str, Any] = {"status": status, "epochs_completed": len(history), "epochs": int(run.cfg.trainer.epochs)}
    if values:
        best_i = int(np.argmax(values) if task.higher_is_better else np.argmin(values))
        summary.update({
            f"{key}_final": values[-1],
            f"{key}_best": values[best_i],
            f"{key}_best_epoch": history[best_i]["epoch"],
            f"{key}_last10_mean": float(np.mean(values[-10:])),
            "label_precision_final": history[-1]["label_precision"],
            "label_precision_last10_mean": float(np.mean([h["label_precision"] for h in history[-10:]])),
        })
        summary.update({f"{k}_final": history[-1][k] for k in task.test_keys if k != key})
    source = run.noise_info.get("epsilon_source")
    summary.update({
        "definitions": {
            f"{key}_final": f"mean over the {len(algo.networks)} network(s) after the last completed epoch",
            f"{key}_best": "best epoch of that mean (optimistic: selected on the test set)",
            f"{key}_last10_mean": "mean of that mean over the last 10 epochs (or fewer, if fewer ran)",
            "test set": "every test sample" if not run.cfg.trainer.test_drop_last else "last incomplete batch dropped",
            "noise_rate_expected": "the noise model's expected corrupted fraction, sum_c p(c) (1 - T[c, c]) "
                                   "(null: the model does not say, e.g. a label file)",
            "noise_rate_realised": "the fraction of training targets the noise changed",
            **({"epsilon_source": EPSILON_SOURCES[source]} if source else {}),
            **({"epsilon_estimate_final": "the epsilon the ramp led to: the running maximum of the driving "
                                          "estimator's smoothed estimates",
                "epsilon_estimate_<name>_final": "each estimator's last smoothed estimate (it falls once the "
                                                 "selection filters the corrupted samples out)"}
               if source == "auto" else {}),
            **({"epsilon_estimate_error": "the final estimate minus the realised corrupted fraction (after trimming)",
                "suspect_auroc": "AUROC of the suspect ranking (score_final) for the corrupted training samples",
                "suspect_precision_at_k": "precision of the top-k suspects, k = the realised corrupted count",
                "cleanlab_auroc": "AUROC of cleanlab's self-confidence ranking of the same end-of-training "
                                  "probabilities (in-sample)"} if run.data.clean_known else {}),
        },
        "noise_rate_expected": run.noise_info.get("rate_expected"),
        "noise_rate_realised": run.noise_info["rate_realised"],
        **algo.summary(),
        **_estimate_error(algo.summary(), run),
        "epsilon_source": source,
        "wall_time_s": wall,
        "task": task.name,
        "dataset": run.data.name,
        "choices": choices,
        "algorithm": run.cfg.algorithm.name,
        "noise": run.noise_info,
        "seed": int(run.cfg.seed),
        "networks": len(algo.networks),
        "device": str(run.device),
    })
    if history:
        summary["samples_per_s"] = float(np.mean([h["samples_per_s"] for h in history]))
    return summary
