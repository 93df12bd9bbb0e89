"""Optimizers and learning-rate schedules, built from ``_partial_`` configs.

``optimizer`` configs are partials called with the parameters of each network (a
two-network algorithm calls the same partial twice); ``scheduler`` configs are partials
called with an optimizer.  Schedules step once per epoch.
"""

from __future__ import annotations

from typing import Iterable, Optional, Sequence

import torch

from prl.errors import ConfigValueError

__all__ = ["adam", "sgd", "constant", "cosine", "multistep", "coteaching_decay"]


def _positive(name: str, value: float) -> float:
    value = float(value)
    if not value > 0:
        raise ConfigValueError(f"{name} must be > 0, got {value}", name)
    return value


def adam(params: Iterable, lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999,
         weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """Adam; the paper's setting is ``lr=1e-3``, no weight decay."""
    return torch.optim.Adam(params, lr=_positive("lr", lr), betas=(float(beta1), float(beta2)),
                            weight_decay=float(weight_decay))


def sgd(params: Iterable, lr: float = 0.1, momentum: float = 0.9, weight_decay: float = 5e-4,
        nesterov: bool = False) -> torch.optim.Optimizer:
    """SGD with momentum."""
    return torch.optim.SGD(params, lr=_positive("lr", lr), momentum=float(momentum),
                           weight_decay=float(weight_decay), nesterov=bool(nesterov))


def constant(optimizer: torch.optim.Optimizer) -> Optional[torch.optim.lr_scheduler.LRScheduler]:
    """No schedule: the learning rate stays at ``optimizer.lr``."""
    return None


def cosine(optimizer: torch.optim.Optimizer, epochs: int, min_lr: float = 0.0):
    """Cosine annealing from ``lr`` to ``min_lr`` over ``epochs``."""
    return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(int(epochs), 1), eta_min=float(min_lr))


def multistep(optimizer: torch.optim.Optimizer, milestones: Sequence[int] = (50, 75), gamma: float = 0.1):
    """Multiply the learning rate by ``gamma`` at each epoch in ``milestones``."""
    return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[int(m) for m in milestones], gamma=float(gamma))


def coteaching_decay(optimizer: torch.optim.Optimizer, epochs: int, decay_start: int = 80):
    """Co-teaching's schedule: from ``decay_start`` the learning rate falls linearly to 0 at
    ``epochs`` (Adam's beta1 drop to 0.1 of the original code is not reproduced)."""
    epochs, decay_start = int(epochs), int(decay_start)

    def factor(epoch: int) -> float:
        if epoch < decay_start or epochs <= decay_start:
            return 1.0
        return float(epochs - epoch) / (epochs - decay_start)

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
