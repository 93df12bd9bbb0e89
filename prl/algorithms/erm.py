"""ERM-style methods: every network steps on every sample of the batch (no selection)."""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from prl.algorithms.base import Algorithm
from prl.algorithms.registry import register
from prl.errors import ConfigValueError
from prl.losses import CLASSIFICATION

__all__ = ["ERM", "Standard", "Bootstrapping"]


class ERM(Algorithm):
    """Each network steps on its :meth:`objective` over the whole batch (or on mixup of it)."""

    def objective(self, i: int, output: Tensor, target: Tensor, losses: Tensor) -> Tensor:
        """The loss network ``i`` steps on; default: the mean per-sample loss."""
        return losses.mean()

    def train_step(self, x: Tensor, y: Tensor, index: Optional[Tensor] = None) -> dict:
        self.log_forward(x)
        step_losses, outputs = [], []
        for i, net in enumerate(self.networks):
            if self.mixup_alpha > 0:
                loss = self.mixup_loss(i, x, y, None)
            else:
                out = net(x)
                outputs.append(out.detach())
                loss = self.objective(i, out, y, self.task.per_sample_loss(out, y))
            self.optimize([i], loss)
            step_losses.append(loss.detach())
        return {"loss": torch.stack(step_losses), "kept": [None] * len(self.networks),
                "scores": self.sample_scores(outputs, y) if outputs else None}


@register("standard")
class Standard(ERM):
    """Plain empirical risk minimisation on every sample."""


@register("bootstrapping")
class Bootstrapping(ERM):
    """Hard bootstrapping (Reed et al. 2015): target ``beta * y + (1 - beta) * onehot(argmax p)``,
    i.e. loss ``beta * CE(z, y) + (1 - beta) * CE(z, argmax z)``.  Classification only."""

    tasks = (CLASSIFICATION,)

    def __init__(self, *args, beta: float = 0.8, **kwargs):
        super().__init__(*args, **kwargs)
        if not 0.0 <= float(beta) <= 1.0:
            raise ConfigValueError(f"beta must be in [0, 1], got {beta}", "beta")
        self.beta = float(beta)

    def objective(self, i, output, target, losses):
        pred = output.detach().argmax(dim=1)
        return self.beta * losses.mean() + (1.0 - self.beta) * F.cross_entropy(output, pred)
