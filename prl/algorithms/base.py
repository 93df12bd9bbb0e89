"""The root of every algorithm: its networks and optimizers, the one place they step, its state.

An algorithm is built from ``conf/algorithm/<name>.yaml``: ``name`` picks the class in the
registry, every other key is a constructor argument; ``model_fn``, ``optimizer_fn`` and ``task``
are passed by the runner.  The object owns its networks (one per ``networks``) and one optimizer
each.  :meth:`Algorithm.train_step` updates every network once on a batch and returns::

    {"loss": (num_networks,),      # the loss each network stepped on (detached)
     "kept": [Tensor | None, ...],      # per network: the batch positions it stepped on
                                        # (None = the whole batch; empty = no update)
     "scores": (N,) | None}        # the batch's per-sample PRL-L score (mean over networks)

The runner, not the algorithm, turns ``kept`` into label precision / recall with the clean mask.
"""

from __future__ import annotations

from typing import Callable, ClassVar, Optional, Sequence

import numpy as np
import torch
import torch.nn as nn
from torch import Tensor

from prl.errors import ConfigError, ConfigValueError
from prl.losses import CLASSIFICATION, REGRESSION
from prl.tasks import get_task

__all__ = ["Algorithm", "rows"]


def rows(x: Tensor, y: Tensor, idx: Optional[Tensor]) -> tuple[Tensor, Tensor]:
    """``(x[idx], y[idx])``; the whole batch when ``idx`` is None."""
    return (x, y) if idx is None else (x.index_select(0, idx), y.index_select(0, idx))


class Algorithm:
    """Root class: networks, optimizers, :meth:`optimize`, state.  Subclasses implement
    :meth:`train_step`; :class:`prl.algorithms.erm.ERM` and
    :class:`prl.algorithms.selection.Selection` are the two families."""

    name: ClassVar[str] = ""
    #: the networks the method trains (``networks`` may ask for more copies of a one-network method)
    num_networks: ClassVar[int] = 1
    #: whether ``networks`` must equal ``num_networks`` (the networks interact)
    fixed_networks: ClassVar[bool] = False
    tasks: ClassVar[tuple[str, ...]] = (CLASSIFICATION, REGRESSION)
    #: True when the method needs per-sample parameter gradients (no BatchNorm allowed)
    per_sample_gradients: ClassVar[bool] = False

    def __init__(self, model_fn: Callable[[], nn.Module], optimizer_fn: Callable, task: str = CLASSIFICATION,
                 networks: Optional[int] = None, logging_forward: bool = False, mixup_alpha: float = 0.0,
                 num_samples: Optional[int] = None, num_classes: Optional[int] = None):
        """``model_fn``, ``optimizer_fn``, ``task``, ``num_samples`` (training-set size) and
        ``num_classes`` (None for regression) are passed by the runner.  Settings every method has
        (keys of ``conf/algorithm/*.yaml``):

        * ``networks``: how many networks to train (default: the method's own count); 2 for a
          one-network method trains two independent copies and reports their mean.
        * ``logging_forward``: an extra no-grad forward of every network in training mode before
          the step, as the reference code runs to log training accuracy (it updates BatchNorm
          running statistics and draws dropout masks once more).
        * ``mixup_alpha`` > 0: step on mixup (Zhang et al. 2018, ``lam ~ Beta(a, a)``) of the
          samples a network steps on, instead of their plain loss (one more forward per network).
        """
        if task not in self.tasks:
            raise ConfigError(
                f"algorithm={self.name} does not support {task} (it works for: {', '.join(self.tasks)}); "
                f"pick another algorithm for this dataset", "algorithm.name")
        self.task = get_task(task)
        self.num_samples = None if num_samples is None else int(num_samples)
        self.num_classes = None if num_classes is None else int(num_classes)
        count = self.num_networks if networks is None else int(networks)
        if count < self.num_networks or (self.fixed_networks and count != self.num_networks):
            exact = "exactly" if self.fixed_networks else "at least"
            raise ConfigValueError(f"networks={count} is not possible for {self.name} (it trains {exact} "
                                   f"{self.num_networks})", "networks")
        self.logging_forward = bool(logging_forward)
        if float(mixup_alpha) < 0:
            raise ConfigValueError(f"mixup_alpha must be >= 0 (0 = off), got {mixup_alpha}", "mixup_alpha")
        self.mixup_alpha = float(mixup_alpha)
        self.networks = nn.ModuleList(model_fn() for _ in range(count))
        self.optimizers = [optimizer_fn(net.parameters()) for net in self.networks]

    # ------------------------------------------------------------------ the step
    def train_step(self, x: Tensor, y: Tensor, index: Optional[Tensor] = None) -> dict:
        """Update every network once on the batch ``(x, y)`` (``index``: the samples' positions
        in the training set); returns ``{"loss", "kept", "scores"}`` (module docstring)."""
        raise NotImplementedError

    def sample_scores(self, outputs: Sequence[Tensor], y: Tensor) -> Tensor:
        """The per-sample PRL-L score of the batch, ``(N,)``, the mean over the networks' outputs
        (no graph): what the per-sample record and the epsilon estimators see."""
        scores = self.task.score(outputs[0], y)
        for out in outputs[1:]:
            scores = scores + self.task.score(out, y)
        return scores / len(outputs) if len(outputs) > 1 else scores

    def optimize(self, networks: Sequence[int], loss: Optional[Tensor] = None,
                 backward: Optional[Callable[[], None]] = None) -> None:
        """The one place an optimizer steps: zero the gradients of ``networks``, back-propagate
        ``loss`` (or call ``backward()``, which fills the gradients itself), step each optimizer."""
        for i in networks:
            self.optimizers[i].zero_grad(set_to_none=True)
        if backward is None:
            loss.backward()
        else:
            backward()
        for i in networks:
            self.optimizers[i].step()

    def log_forward(self, x: Tensor) -> None:
        """The reference code's no-grad forward of every network before the step (``logging_forward``)."""
        if self.logging_forward:
            with torch.no_grad():
                for net in self.networks:
                    net(x)

    def mixup_loss(self, i: int, x: Tensor, y: Tensor, idx: Optional[Tensor]) -> Tensor:
        """Mixup of the rows ``idx``: ``lam * L(f(x_mix), y) + (1 - lam) * L(f(x_mix), y[perm])``
        with ``x_mix = lam * x + (1 - lam) * x[perm]`` (for MSE the gradient equals that of the
        mixed target).  ``lam`` comes from numpy's global RNG, ``perm`` from torch's."""
        xi, yi = rows(x, y, idx)
        lam = float(np.random.beta(self.mixup_alpha, self.mixup_alpha))
        perm = torch.randperm(xi.shape[0], device=xi.device)
        out = self.networks[i](lam * xi + (1.0 - lam) * xi.index_select(0, perm))
        return (lam * self.task.per_sample_loss(out, yi).mean()
                + (1.0 - lam) * self.task.per_sample_loss(out, yi.index_select(0, perm)).mean())

    # ------------------------------------------------------------------ epochs and outputs
    def start_epoch(self, epoch: int) -> None:
        """Called by the loop before the first step of (0-based) ``epoch``, also after a resume."""

    def end_epoch(self) -> None:
        """Called by the loop after the last step of an epoch (before the test evaluation)."""

    #: fraction of the training set the runner holds out for the method (``observe_heldout``); 0: none
    heldout_fraction: float = 0.0

    def observe_heldout(self, probs: Tensor, noisy: Tensor) -> None:
        """After each epoch: the networks' mean probabilities ``(n, C)`` on the held-out split."""

    def record(self) -> dict:
        """Values of the current epoch for ``metrics.jsonl`` (e.g. ``epsilon``)."""
        return {"epsilon": 0.0}

    def summary(self) -> dict:
        """Run-level values for ``summary.json`` (e.g. ``epsilon``)."""
        return {"epsilon": 0.0}

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict:
        return {
            "networks": [net.state_dict() for net in self.networks],
            "optimizers": [opt.state_dict() for opt in self.optimizers],
        }

    def load_state_dict(self, state: dict) -> None:
        for net, s in zip(self.networks, state["networks"]):
            net.load_state_dict(s)
        for opt, s in zip(self.optimizers, state["optimizers"]):
            opt.load_state_dict(s)

    def train(self, mode: bool = True) -> "Algorithm":
        self.networks.train(mode)
        return self
