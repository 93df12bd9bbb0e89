"""The selection rules of the paper's comparison: ERM, trimmed loss, PRL-L, co-teaching,
co-PRL-L, hard bootstrapping."""

from __future__ import annotations

import torch.nn.functional as F

from prl.algorithms.base import Algorithm, register
from prl.errors import ConfigValueError
from prl.losses import CLASSIFICATION, loss_layer_grad_norm


@register("standard")
class Standard(Algorithm):
    """Plain empirical risk minimisation on every sample."""


@register("spl")
class SPL(Algorithm):
    """Self-paced learning / trimmed loss: keep the smallest per-sample losses, no exchange."""

    selects = True
    separate_scoring = True

    def score(self, i, output, target, losses):
        return losses


@register("prl-l")
class PRLL(Algorithm):
    """PRL-L: keep the samples with the smallest loss-layer gradient norm."""

    selects = True
    separate_scoring = True

    def score(self, i, output, target, losses):
        return loss_layer_grad_norm(output, target, self.task)


@register("co-teaching")
class CoTeaching(SPL):
    """Co-teaching (Han et al. 2018): two networks, each updated on the other's small-loss samples."""

    num_networks = 2
    exchange = True


@register("co-prl-l")
class CoPRLL(PRLL):
    """Co-PRL-L: PRL-L scores with the co-teaching exchange between two networks."""

    num_networks = 2
    exchange = True


@register("bootstrapping")
class Bootstrapping(Algorithm):
    """Hard bootstrapping (Reed et al. 2015): target ``beta * y + (1 - beta) * onehot(argmax p)``,
    i.e. loss ``beta * CE(z, y) + (1 - beta) * CE(z, argmax z)``.  Classification only."""

    tasks = (CLASSIFICATION,)

    def __init__(self, *args, beta: float = 0.8, **kwargs):
        super().__init__(*args, **kwargs)
        if not 0.0 <= float(beta) <= 1.0:
            raise ConfigValueError(f"beta must be in [0, 1], got {beta}", "beta")
        self.beta = float(beta)

    def objective(self, i, output, target, losses, idx):
        pred = output.detach().argmax(dim=1)
        return self.beta * losses.mean() + (1.0 - self.beta) * F.cross_entropy(output, pred)
