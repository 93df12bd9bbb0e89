"""What one epoch measures: the training statistics of the kept samples and the test metrics.

Definitions (``metrics.jsonl``; ``_net{i}`` keys per network, the plain key their mean):

* ``train_loss``: the mean over steps of the loss a network stepped on (steps where it kept
  nothing are left out).
* ``label_precision``: % of the samples a network stepped on whose training target is clean;
  ``label_recall``: % of the clean samples seen that it stepped on; ``kept_fraction``: the
  fraction of the samples seen that it stepped on (mean over networks).
* test metrics (:class:`prl.tasks.Task`): top-1 accuracy in % (classification) or MSE / MAE per
  output dimension (regression), over every test sample unless ``trainer.test_drop_last``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from prl.data import BatchIterator
from prl.tasks import Task

__all__ = ["EpochStats", "evaluate", "epoch_line"]


@torch.inference_mode()
def evaluate(networks, loader: BatchIterator, task: Task) -> list[dict]:
    """Test metrics of each network (module docstring), in eval mode; training mode is restored."""
    was_training = [n.training for n in networks]
    for n in networks:
        n.eval()
    sums = [torch.zeros(len(task.test_keys), device=loader.x.device, dtype=torch.float64) for _ in networks]
    count = 0
    for x, y, _ in loader:
        count += y.shape[0]
        for i, net in enumerate(networks):
            sums[i] += task.test_sums(net(x).float(), y)
    for n, mode in zip(networks, was_training):
        n.train(mode)
    return [task.test_metrics(s.tolist(), count) for s in sums]


class EpochStats:
    """Device-side sums over an epoch's steps; one host sync in :meth:`result`."""

    def __init__(self, num_networks: int, device: torch.device):
        self.loss = torch.zeros(num_networks, device=device)
        self.clean_kept = torch.zeros(num_networks, device=device)
        self.clean_seen = torch.zeros((), device=device)
        self.kept = [0] * num_networks
        self.stepped = [0] * num_networks
        self.seen = 0

    def add(self, out: dict, clean: torch.Tensor) -> None:
        """One step's output (``{"loss", "kept"}``) and the clean mask of its batch."""
        self.loss += out["loss"].float()
        n = clean.shape[0]
        self.seen += n
        self.clean_seen += clean.sum()
        for i, idx in enumerate(out["kept"]):
            if idx is None:
                self.clean_kept[i] += clean.sum()
                self.kept[i] += n
                self.stepped[i] += 1
            elif idx.shape[0]:
                self.clean_kept[i] += clean.index_select(0, idx).sum()
                self.kept[i] += idx.shape[0]
                self.stepped[i] += 1

    def result(self) -> dict[str, Any]:
        loss = [float(self.loss[i] / max(s, 1)) for i, s in enumerate(self.stepped)]
        clean_kept = self.clean_kept.tolist()
        clean_seen = float(self.clean_seen)
        res: dict[str, Any] = {"train_loss": float(np.mean(loss))}
        prec, rec = [], []
        for i, (ck, k) in enumerate(zip(clean_kept, self.kept)):
            prec.append(100.0 * ck / k if k else float("nan"))
            rec.append(100.0 * ck / clean_seen if clean_seen else float("nan"))
            res[f"train_loss_net{i + 1}"] = loss[i]
        res["label_precision"] = float(np.mean(prec))
        res["label_recall"] = float(np.mean(rec))
        for i, (p, r) in enumerate(zip(prec, rec)):
            res[f"label_precision_net{i + 1}"] = p
            res[f"label_recall_net{i + 1}"] = r
        res["kept_fraction"] = float(np.mean(self.kept)) / max(self.seen, 1)
        return res


def epoch_line(record: dict, task: Task) -> str:
    """The one-line log of an epoch."""
    eps = f"eps {record['epsilon']:.3f} | " if "epsilon" in record else ""
    if "epsilon_estimate" in record:
        eps = (f"eps {record['epsilon']:.3f} (ramping to {record['epsilon_target']:.3f}; estimate "
               f"{record['epsilon_estimate']:.3f}) | ")
    return (f"epoch {record['epoch']:3d} | {eps}loss {record['train_loss']:.4f} | {task.describe_metric(record)} | "
            f"precision {record['label_precision']:.1f}% recall {record['label_recall']:.1f}% | "
            f"{record['seconds']:.1f}s ({record['samples_per_s']:.0f} samples/s)")
