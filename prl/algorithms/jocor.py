"""JoCoR (Wei et al., CVPR 2020, "Combating noisy labels by agreement: a joint training method
with co-regularization"): two networks trained jointly on the small-*joint*-loss samples.

Per sample, with logits ``z1``, ``z2``, ``p_j = softmax(z_j)`` and ``lambda = co_lambda``::

    l(x, y) = (1 - lambda) * (CE(z1, y) + CE(z2, y)) + lambda * (KL(p1 || p2) + KL(p2 || p1))

``KL(p || q) = sum_c p_c (log p_c - log q_c)``, summed over classes (not averaged), per sample,
gradients flowing into *both* arguments: the official ``kl_loss_compute(pred, soft_targets)`` is
``F.kl_div(log_softmax(pred), softmax(soft_targets)).sum(1)`` = ``KL(softmax(soft_targets) ||
softmax(pred))`` and the loss adds it both ways (``hongxin001/JoCoR``, ``algorithm/loss.py``).
Here it is computed from log-softmaxes, ``sum_c (p1 - p2)(log p1 - log p2)``: the same value,
without ``F.kl_div``'s infinite gradient where a probability underflows to 0.

Each batch keeps the ``num_kept(N, epsilon_t)`` samples with the smallest joint loss (one
selection, shared by both networks: no exchange) and takes **one** step of both networks on the
mean joint loss of the kept samples.  The official code steps a single optimizer built over
``model1.parameters() + model2.parameters()``; here each network keeps its own optimizer (the
runner's convention: one optimizer and one scheduler per network, same config), and both are
zeroed, the loss is back-propagated once, and both step.  For optimizers that update every
parameter from its own gradient and state (SGD, momentum, weight decay, Adam, AdamW; all of
``prl.optim``) this is exactly the single-optimizer update; it would not be for an optimizer that
couples parameters (L-BFGS, clipping by a global gradient norm).

Hyper-parameters: ``co_lambda`` (official code default 0.1; the official README reports 0.9 best
for CIFAR-10 with symmetric 20%/50% and asymmetric 40% noise, 0.65 for 80% noise, 0.85 for
CIFAR-100), and the co-teaching schedule ``epsilon``, ``num_gradual``, ``exponent``.  The
official code uses ``epsilon = noise_rate / 2`` for asymmetric noise (the expected corrupted
fraction, our default) and drops ``noise_rate`` otherwise; its ramp is
``linspace(0, epsilon ** exponent, num_gradual)`` (``ramp=reference``).  ``reforward``,
``double_divide`` and ``logging_forward`` (the family's switches) apply to the joint step; the
official JoCoR code uses none of them (its loss is the plain kept mean).  ``mixup_alpha`` is
refused.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from typing import Optional

from prl.algorithms.base import rows
from prl.algorithms.registry import register
from prl.algorithms.selection import RampedSelection
from prl.errors import ConfigValueError
from prl.losses import CLASSIFICATION

__all__ = ["JoCoR", "jocor_loss", "symmetric_kl"]


def symmetric_kl(output1: Tensor, output2: Tensor) -> Tensor:
    """``KL(p1 || p2) + KL(p2 || p1)`` per sample, ``p_j = softmax(output_j)``, shape ``(N,)``."""
    log1 = F.log_softmax(output1, dim=1)
    log2 = F.log_softmax(output2, dim=1)
    return ((log1.exp() - log2.exp()) * (log1 - log2)).sum(dim=1)


def jocor_loss(output1: Tensor, output2: Tensor, target: Tensor, co_lambda: float) -> Tensor:
    """JoCoR's per-sample joint loss, shape ``(N,)``:
    ``(1 - co_lambda) * (CE(z1, y) + CE(z2, y)) + co_lambda * symmetric_kl(z1, z2)``."""
    ce = F.cross_entropy(output1, target, reduction="none") + F.cross_entropy(output2, target, reduction="none")
    return (1.0 - co_lambda) * ce + co_lambda * symmetric_kl(output1, output2)


@register("jocor")
class JoCoR(RampedSelection):
    """JoCoR: small-loss selection on the joint loss with co-regularization, both networks
    stepped together on the kept mean.  Classification only; exactly two networks."""

    num_networks = 2
    fixed_networks = True
    tasks = (CLASSIFICATION,)

    def __init__(self, *args, co_lambda: float = 0.1, **kwargs):
        super().__init__(*args, **kwargs)
        if not 0.0 <= float(co_lambda) <= 1.0:
            raise ConfigValueError(f"co_lambda must be in [0, 1], got {co_lambda}", "co_lambda")
        self.co_lambda = float(co_lambda)
        if self.mixup_alpha > 0:
            raise ConfigValueError(
                f"mixup_alpha={self.mixup_alpha} is not supported by jocor (its joint loss has no mixup form); "
                f"leave it at 0", "mixup_alpha")

    def joint_loss(self, x: Tensor, y: Tensor) -> Tensor:
        return jocor_loss(self.forward(0, x), self.forward(1, x), y, self.co_lambda)

    def train_step(self, x: Tensor, y: Tensor, index: Optional[Tensor] = None) -> dict:
        """One joint step of both networks on the kept samples of the batch (one selection)."""
        self.log_forward(x)
        outputs = [self.forward(0, x), self.forward(1, x)]
        losses = jocor_loss(outputs[0], outputs[1], y, self.co_lambda)
        scores = self.observe(outputs, y, index)
        idx = self.rule.keep(losses.detach()) if self.rule.drops(x.shape[0]) else None
        if self.reforward:
            loss = self.joint_loss(*rows(x, y, idx)).mean()
        else:
            loss = losses.mean() if idx is None else losses.index_select(0, idx).mean()
        loss = self.divide(loss, idx, x.shape[0])
        self.optimize([0, 1], loss)
        loss = loss.detach()
        return {"loss": torch.stack([loss, loss]), "kept": [idx, idx], "scores": scores}
