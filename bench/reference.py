"""Reference-style baselines: imitations of how the PRL / co-teaching reference code
(github.com/illidanlab/PRL, ``main.py`` + ``loss.py``) steps two networks, written here.

These are *imitations*, not the reference code: the numbers they give are labelled
``ref-*`` everywhere.  Per step and network (F = forward of the batch, B = its backward,
k = kept fraction):

``ref-co-prl-l``       a no-grad logging forward (``main.py``'s ``elif args.algorithm ==
                       'co-IGFilter' or 'double-robust'`` is always true), a scoring forward whose
                       graph is dropped, then forward + backward of the kept subset:
                       ``F + F + k (F + B)``.
``ref-co-teaching``    one forward + backward per network, logging accuracy from the same logits.
``ref-co-prl-g``       logging forward, forward + full backward that materialises per-sample
                       gradients through Opacus ``GradSampleModule`` hooks (the reference vendors an
                       older Opacus, ``torchdp``), then forward + backward on the kept subset.
``ref-co-prl-g-func``  the same with ``torch.func`` per-sample gradients.

``bookkeeping=True`` also redoes the reference's per-step label-precision bookkeeping
(``torch.Tensor(noise_or_not).cuda()`` of the whole training set, every step).
"""

from __future__ import annotations

import functools
from typing import Callable, Optional

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from prl.grad_norms import functorch_grad_norms
from prl.losses import CLASSIFICATION, num_kept, per_sample_loss

__all__ = ["REFERENCES", "Reference", "out_of_place"]

REFERENCES = ("ref-co-prl-l", "ref-co-teaching", "ref-co-prl-g", "ref-co-prl-g-func")


def out_of_place(module: nn.Module) -> nn.Module:
    """Turn off ``inplace`` activations (Opacus' backward hooks refuse in-place ops on hooked
    outputs); the numbers are unchanged."""
    for m in module.modules():
        if hasattr(m, "inplace") and isinstance(m.inplace, bool):
            m.inplace = False
    return module


def _accuracy(logits: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """The reference's logged training accuracy: top-1 and top-5 of the softmax, in %."""
    k = min(5, logits.shape[1])
    pred = F.softmax(logits, dim=1).topk(k, 1, True, True)[1].t()
    correct = pred.eq(y.view(1, -1).expand_as(pred))
    return (correct[:1].reshape(-1).float().sum(0) * (100.0 / y.shape[0]),
            correct[:k].reshape(-1).float().sum(0) * (100.0 / y.shape[0]))


class Reference:
    """Two networks stepped the way the reference code does (module docstring), with the
    interface of :class:`prl.algorithms.Algorithm`: ``networks``, ``optimizers``, ``train()``,
    ``train_step(x, y, index=None) -> {"loss", "kept"}``; the drop fraction is ``epsilon``."""

    def __init__(self, name: str, model_fn: Callable[[], nn.Module], optimizer_fn: Callable, task: str,
                 epsilon: float = 0.45, bookkeeping: bool = False, dataset_size: int = 60000):
        if name not in REFERENCES:
            raise ValueError(f"unknown reference-style baseline {name!r} (allowed: {', '.join(REFERENCES)})")
        self.name, self.task, self.epsilon = name, task, float(epsilon)
        self.bookkeeping = bool(bookkeeping)
        self.noise_or_not = np.random.RandomState(0).rand(dataset_size) > 0.45
        self.ind: Optional[np.ndarray] = None
        self.pure_ratios: list[Tensor] = []
        self.networks = nn.ModuleList(model_fn() for _ in range(2))
        self.optimizers = [optimizer_fn(net.parameters()) for net in self.networks]
        self.gsm = None
        if name == "ref-co-prl-g":
            from opacus.grad_sample import GradSampleModule

            self.gsm = [GradSampleModule(out_of_place(net), batch_first=True, loss_reduction="sum")
                        for net in self.networks]
            for g in self.gsm:  # like the reference: hooks only around the per-sample backward
                g.remove_hooks()

    @property
    def num_networks(self) -> int:
        return len(self.networks)

    def train(self, mode: bool = True) -> "Reference":
        self.networks.train(mode)
        return self

    def _log(self, x: Tensor, y: Tensor) -> None:
        with torch.no_grad():
            for net in self.networks:
                out = net(x)
                if self.task == CLASSIFICATION:
                    _accuracy(out, y)

    def _scores(self, x: Tensor, y: Tensor) -> list[Tensor]:
        if self.name == "ref-co-prl-l":  # a forward with a graph that is never used
            outs = [net(x) for net in self.networks]
            if self.task == CLASSIFICATION:
                target = F.one_hot(y, outs[0].shape[1]).float()
                return [F.mse_loss(F.softmax(o, dim=1), target, reduction="none").sum(dim=1).detach() for o in outs]
            return [(o - y.reshape(o.shape)).pow(2).reshape(o.shape[0], -1).sum(dim=1).detach() for o in outs]
        loss_fn = functools.partial(per_sample_loss, task=self.task)
        if self.gsm is None:  # torch.func: every per-sample gradient of the batch at once
            return [functorch_grad_norms(net, loss_fn, x, y, chunk_size=x.shape[0]) ** 2 for net in self.networks]
        scores = []
        for g in self.gsm:  # add hooks, forward, backward of the summed loss -> p.grad_sample, remove hooks
            g.add_hooks(loss_reduction="sum", batch_first=True)
            loss_fn(g(x), y).sum().backward()
            g.remove_hooks()
            with torch.no_grad():
                sq = sum(p.grad_sample.reshape(x.shape[0], -1).pow(2).sum(dim=1) for p in g.parameters())
            for p in g.parameters():
                p.grad_sample = None
            scores.append(sq)
        return scores

    def _pure_ratio(self, picks: list[Tensor], k: int) -> None:
        """The reference's ``pure_ratio``: ``torch.Tensor(noise_or_not).cuda()`` of the whole
        training set and ``torch.Tensor(ind).cuda()`` of the batch indices, every step."""
        if not self.bookkeeping:
            return
        n, device = picks[0].shape[0], picks[0].device
        if self.ind is None or self.ind.shape[0] < n:
            self.ind = np.random.RandomState(0).randint(0, self.noise_or_not.shape[0], size=n)
        noise_or_not = torch.Tensor(self.noise_or_not).to(device)
        ind = torch.Tensor(self.ind).to(device).long()
        self.pure_ratios = [100 * torch.sum(noise_or_not[ind[p[:k]]]) / float(k) for p in picks]

    def train_step(self, x: Tensor, y: Tensor, index: Optional[Tensor] = None) -> dict:
        n = x.shape[0]
        k = num_kept(n, self.epsilon)
        if self.name == "ref-co-teaching":
            outs = [net(x) for net in self.networks]
            if self.task == CLASSIFICATION:
                for o in outs:
                    _accuracy(o.detach(), y)
            losses = [per_sample_loss(o, y, self.task) for o in outs]
            picks = [torch.argsort(ls.detach()) for ls in losses]
            self._pure_ratio(picks, k)
            picks = [p[:k] for p in picks]
            steps = [per_sample_loss(outs[i][picks[1 - i]], y[picks[1 - i]], self.task).mean() / k for i in range(2)]
        else:
            self._log(x, y)
            scores = self._scores(x, y)
            picks = [torch.sort(s)[1] for s in scores]
            self._pure_ratio(picks, k)
            picks = [p[:k] for p in picks]
            for opt in self.optimizers:
                opt.zero_grad()
            steps = []
            for i, net in enumerate(self.networks):
                idx = picks[1 - i]
                steps.append(per_sample_loss(net(x[idx]), y[idx], self.task).mean() / k)
        for opt in self.optimizers:
            opt.zero_grad()
        for loss, opt in zip(steps, self.optimizers):
            loss.backward()
            opt.step()
        return {"loss": torch.stack([s.detach() for s in steps]), "kept": picks}
