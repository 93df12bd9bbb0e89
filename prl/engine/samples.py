"""The per-sample record of a run and its list of suspect labels.

During training a :class:`SampleLedger` keeps, per training sample and on the device, how often
a network saw it and stepped on it, and its PRL-L score (the loss-layer gradient norm, mean over
networks: ``||softmax(z) - onehot(y)||`` or the residual norm ``||f(x) - y||``) at every visit.
After the last epoch one no-grad pass of the trained networks over the training set (eval
mode) gives each sample's final score and prediction, and :func:`write_records` writes

``samples.csv.gz``   every training sample: ``index``, ``id`` (the dataset's own ids, else the
                     index), the given (noisy) target, ``seen`` / ``kept`` (network-steps that saw
                     it / stepped on it), ``kept_fraction``, ``score_last``, ``score_mean``,
                     ``score_final``, the networks' ``prediction``, ``suspicion`` and its
                     ``rank`` (1 = most suspect); with ``clean_label`` / ``corrupted`` when the
                     truth is known (synthetic noise on a curated dataset);
``suspect_labels.csv`` the most suspect samples first: the ``ceil(epsilon * N)`` the run itself
                     took for corrupted, at least 100 (or all), ``flagged`` saying which.

The suspicion of a sample is its final score (:data:`SUSPICION`): measured on Fashion-MNIST it
ranks the corrupted samples best (README, "Suspect labels").  With the truth known the summary
gets the ranking's AUROC and precision at the realised corrupted count, next to cleanlab's
ranking of the same end-of-training probabilities (classification; in-sample probabilities,
where confident learning would want held-out ones).
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from prl import outputs
from prl.data import BatchIterator

__all__ = ["SampleLedger", "final_pass", "write_records", "SUSPICION", "MIN_SUSPECTS"]

#: the per-sample statistic that ranks the suspect labels
SUSPICION = "score_final"
#: the suspect list holds at least this many samples (or all)
MIN_SUSPECTS = 100


class SampleLedger:
    """Per-sample counts and scores over a run, on the device (no host sync per step)."""

    def __init__(self, num_samples: int, device: torch.device):
        self.seen = torch.zeros(num_samples, dtype=torch.int32, device=device)
        self.kept = torch.zeros(num_samples, dtype=torch.int32, device=device)
        self.score_sum = torch.zeros(num_samples, dtype=torch.float64, device=device)
        self.score_count = torch.zeros(num_samples, dtype=torch.int32, device=device)
        self.score_last = torch.full((num_samples,), math.nan, dtype=torch.float32, device=device)

    def add(self, index: Tensor, out: dict) -> None:
        """One step: ``index`` (training-set positions of the batch) and the step's output."""
        self.seen.index_add_(0, index, torch.full_like(index, len(out["kept"]), dtype=torch.int32))
        ones = torch.ones_like(index, dtype=torch.int32)
        for idx in out["kept"]:
            if idx is None:
                self.kept.index_add_(0, index, ones)
            elif idx.numel():
                self.kept.index_add_(0, index.index_select(0, idx), ones[: idx.shape[0]])
        scores = out.get("scores")
        if scores is not None:
            scores = scores.detach().float()
            self.score_sum.index_add_(0, index, scores.double())
            self.score_count.index_add_(0, index, ones)
            self.score_last.index_copy_(0, index, scores)

    def state_dict(self) -> dict:
        return {k: getattr(self, k).cpu() for k in ("seen", "kept", "score_sum", "score_count", "score_last")}

    def load_state_dict(self, state: dict) -> None:
        for k, v in state.items():
            getattr(self, k).copy_(v.to(getattr(self, k).device))


@torch.inference_mode()
def final_pass(networks, loader: BatchIterator, task: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(score, output)`` of every sample of ``loader`` (in order): the PRL-L score and the
    networks' mean output, softmax probabilities ``(N, C)`` (classification) or predictions
    ``(N, D)`` (regression), in eval mode; training mode is restored."""
    was_training = [n.training for n in networks]
    for n in networks:
        n.eval()
    scores, outs = [], []
    for x, y, _ in loader:
        raw = [net(x).float() for net in networks]
        scores.append(torch.stack([task.score(o, y) for o in raw]).mean(0).cpu())
        combined = torch.stack([o.softmax(dim=1) if task.name == "classification" else o for o in raw]).mean(0)
        outs.append(combined.reshape(combined.shape[0], -1).cpu())
    for n, mode in zip(networks, was_training):
        n.train(mode)
    return torch.cat(scores).numpy(), torch.cat(outs).numpy()


def _names(values: np.ndarray, names) -> np.ndarray:
    names = list(names or [])
    if not names:
        return values
    return np.asarray([names[int(v)] if 0 <= int(v) < len(names) else str(v) for v in values], dtype=object)


def write_records(run_dir: str, ledger: SampleLedger, final_score: np.ndarray, final_output: np.ndarray,
                  data: Any, task: Any, noisy: np.ndarray, clean: np.ndarray, epsilon: float,
                  truth_known: bool) -> dict:
    """Write ``samples.csv.gz`` and ``suspect_labels.csv`` (module docstring); returns the summary
    fields (ranking quality when ``truth_known``)."""
    from prl.estimation import auroc, confident_learning_ranking, precision_at_k

    n = len(noisy)
    state = {k: v.numpy() for k, v in ledger.state_dict().items()}
    with np.errstate(invalid="ignore", divide="ignore"):
        score_mean = np.where(state["score_count"] > 0, state["score_sum"] / np.maximum(state["score_count"], 1),
                              np.nan)
        kept_fraction = np.where(state["seen"] > 0, state["kept"] / np.maximum(state["seen"], 1), np.nan)
    frame = pd.DataFrame({"index": np.arange(n)})
    frame["id"] = list(data.train_ids) if data.train_ids is not None else np.arange(n)
    classification = task.name == "classification"
    if classification:
        frame["label"] = _names(np.asarray(noisy), data.classes)
        frame["prediction"] = _names(final_output.argmax(axis=1), data.classes)
        frame["prediction_probability"] = final_output.max(axis=1)
        frame["label_probability"] = final_output[np.arange(n), np.asarray(noisy, dtype=np.int64)]
    else:
        target = np.asarray(noisy, dtype=np.float64).reshape(n, -1)
        for j in range(target.shape[1]):
            suffix = "" if target.shape[1] == 1 else f"_{j}"
            frame[f"target{suffix}"] = target[:, j]
            frame[f"prediction{suffix}"] = final_output[:, j]
    frame["seen"], frame["kept"], frame["kept_fraction"] = state["seen"], state["kept"], kept_fraction
    frame["score_last"], frame["score_mean"], frame["score_final"] = state["score_last"], score_mean, final_score
    if truth_known:
        changed = task.changed(noisy, clean)
        if classification:
            frame["clean_label"] = _names(np.asarray(clean), data.classes)
        frame["corrupted"] = changed
    suspicion = frame[SUSPICION].to_numpy(dtype=np.float64)
    frame["suspicion"] = suspicion
    order = np.lexsort((np.arange(n), -np.nan_to_num(suspicion, nan=-np.inf)))  # most suspect first, ties by index
    frame["rank"] = np.empty(n, dtype=np.int64)
    frame.loc[order, "rank"] = np.arange(1, n + 1)
    flagged = int(math.ceil(max(float(epsilon), 0.0) * n - 1e-9))
    outputs.atomic_write(os.path.join(run_dir, outputs.SAMPLES),
                         lambda fh: frame.to_csv(fh, index=False, compression={"method": "gzip", "mtime": 0}))
    top = frame.iloc[order[: min(n, max(flagged, MIN_SUSPECTS))]].copy()
    top.insert(0, "flagged", top["rank"] <= flagged)
    outputs.write_text(os.path.join(run_dir, outputs.SUSPECTS), top.to_csv(index=False))

    out: dict[str, Any] = {"suspects_flagged": flagged}
    if truth_known and changed.any() and not changed.all():
        out["suspect_auroc"] = auroc(suspicion, changed)
        out["suspect_precision_at_k"] = precision_at_k(suspicion, changed)
        for name in ("score_mean", "kept_fraction"):
            values = frame[name].to_numpy(dtype=np.float64)
            values = 1.0 - values if name == "kept_fraction" else values
            out[f"suspect_auroc_{name}"] = auroc(values, changed)
        if classification:
            cl = confident_learning_ranking(final_output, np.asarray(noisy, dtype=np.int64))
            out["cleanlab_auroc"] = auroc(cl, changed)
            out["cleanlab_precision_at_k"] = precision_at_k(cl, changed)
    return out
