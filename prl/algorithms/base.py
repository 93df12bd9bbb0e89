"""The algorithm registry and the base class every algorithm derives from."""

from __future__ import annotations

import contextlib
import logging
from typing import Callable, ClassVar, Optional

import numpy as np
import torch
import torch.nn as nn
from torch import Tensor

from prl.errors import ConfigError, ConfigValueError
from prl.losses import (
    CLASSIFICATION,
    RAMPS,
    REGRESSION,
    epsilon_schedule,
    num_kept,
    per_sample_loss,
    select_lowest,
)
from prl.models import sample_independent

__all__ = ["REGISTRY", "register", "available", "get", "Algorithm", "check_epsilon", "SCORE_PASSES"]

#: values of ``algorithm.score_pass`` (see :class:`Algorithm`)
SCORE_PASSES = ("shared", "separate")

log = logging.getLogger("prl")

REGISTRY: dict[str, type["Algorithm"]] = {}


def register(name: str):
    """Class decorator: make an algorithm available as ``algorithm=<name>``."""

    def deco(cls):
        if name in REGISTRY:
            raise ValueError(f"algorithm {name!r} registered twice")
        cls.name = name
        REGISTRY[name] = cls
        return cls

    return deco


def available() -> list[str]:
    return sorted(REGISTRY)


def get(name: str) -> type["Algorithm"]:
    try:
        return REGISTRY[name]
    except KeyError:
        raise ConfigError(
            f"algorithm.name={name!r} is not a registered algorithm; allowed: {', '.join(available())}",
            "algorithm.name",
        ) from None


class Algorithm:
    """Base class.  Subclasses set the class attributes and override :meth:`score`
    (and, for a different objective, :meth:`objective`)."""

    name: ClassVar[str] = ""
    num_networks: ClassVar[int] = 1
    exchange: ClassVar[bool] = False
    selects: ClassVar[bool] = False
    tasks: ClassVar[tuple[str, ...]] = (CLASSIFICATION, REGRESSION)
    #: True when the score needs per-sample parameter gradients (no BatchNorm allowed)
    per_sample_gradients: ClassVar[bool] = False
    #: True when score and objective are per-sample functions of the output rows, so scoring in
    #: a separate no-grad pass and stepping on a forward of the kept rows is exact
    #: (``score_pass``); subclasses with joint or cross-network objectives leave it False
    separate_scoring: ClassVar[bool] = False

    def __init__(
        self,
        model_fn: Callable[[], nn.Module],
        optimizer_fn: Callable,
        task: str = CLASSIFICATION,
        epsilon: Optional[float] = 0.0,
        num_gradual: int = 10,
        exponent: float = 1.0,
        networks: Optional[int] = None,
        reforward: bool = False,
        double_divide: bool = False,
        logging_forward: bool = False,
        mixup_alpha: float = 0.0,
        score_pass: str = "shared",
        ramp: str = "smooth",
    ):
        """Common settings (every key of ``conf/algorithm/*.yaml`` but ``name``).

        * ``epsilon``: fraction dropped per batch once the ramp is over (``None``: 0 here; the
          runner passes the realised noise rate when no expected rate is known).
        * ``num_gradual``, ``exponent``, ``ramp``: the ramp (:func:`prl.losses.epsilon_schedule`;
          ``ramp=reference`` is the reference code's schedule, used by ``protocol=faithful``).
        * ``networks``: how many networks to train (default: the method's own count); 2 for a
          one-network method trains two independent copies and reports their mean.
        * ``reforward`` (selection methods): re-run each network on its kept subset and step on
          that output, as the reference code does for the PRL family (BatchNorm statistics
          then come from the kept samples only; one more forward per network).
        * ``double_divide`` (selection methods): divide the kept mean loss by the kept count
          once more, a quirk of the reference code (a smaller effective learning rate).
        * ``logging_forward``: an extra no-grad forward of every network in training mode
          before the step, as the reference code runs to log training accuracy (it updates
          BatchNorm running statistics and draws dropout masks once more).
        * ``mixup_alpha`` > 0: step on mixup (Zhang et al. 2018, ``lam ~ Beta(a, a)``) of the
          kept samples instead of their plain loss (one more forward per network).
        * ``score_pass`` (methods with ``separate_scoring``: spl, prl-l, co-teaching,
          co-prl-l): where the scores come from.  ``shared`` (default): one forward per network
          with autograd on; scores from its output, the step backpropagates the kept rows of
          that graph (cost ``F + B``, F / B: forward / backward of the batch).  ``separate``:
          scores from a no-grad forward of the batch, then a forward and backward of the kept
          rows only (``F_ng + k (F + B)``, k: the kept fraction), which pays once many samples
          are dropped and the backward costs more than the forward (prl-l on CPU at k = 0.55:
          0.80-0.90x an ERM step on ResNet-32-GN; 1.10-1.17x on the small CNN, whose forward is
          dominated by pooling and normalisation).  The two give the same update, up to float rounding, when the
          network treats the samples independently and deterministically
          (:attr:`sample_independent`: no BatchNorm, no dropout); otherwise ``separate`` takes
          BatchNorm statistics of the kept rows and draws new dropout masks (as ``reforward``).
          Steps that run their own forward anyway (``reforward``, ``mixup_alpha``) always score
          without autograd.
        """
        if task not in self.tasks:
            raise ConfigError(
                f"algorithm={self.name} does not support {task} (it works for: {', '.join(self.tasks)}); "
                f"pick another algorithm for this dataset",
                "algorithm.name",
            )
        self.task = task
        self.epsilon = check_epsilon(epsilon)
        if int(num_gradual) < 0:
            raise ConfigValueError(f"num_gradual must be >= 0, got {num_gradual}", "num_gradual")
        self.num_gradual = int(num_gradual)
        self.exponent = float(exponent)
        if self.exponent <= 0:
            raise ConfigValueError(f"exponent must be > 0, got {exponent}", "exponent")
        if ramp not in RAMPS:
            raise ConfigValueError(f"ramp must be one of {', '.join(RAMPS)}, got {ramp!r}", "ramp")
        self.ramp = ramp
        count = self.num_networks if networks is None else int(networks)
        if count < self.num_networks or count < 1 or (self.exchange and count != 2):
            raise ConfigValueError(
                f"networks={count} is not possible for {self.name} (it trains "
                f"{'exactly 2' if self.exchange else f'at least {self.num_networks}'})",
                "networks",
            )
        self.reforward = bool(reforward)
        self.double_divide = bool(double_divide)
        self.logging_forward = bool(logging_forward)
        if float(mixup_alpha) < 0:
            raise ConfigValueError(f"mixup_alpha must be >= 0 (0 = off), got {mixup_alpha}", "mixup_alpha")
        self.mixup_alpha = float(mixup_alpha)
        if score_pass not in SCORE_PASSES:
            raise ConfigValueError(f"score_pass must be one of {', '.join(SCORE_PASSES)}; got {score_pass!r}",
                                   "score_pass")
        if score_pass == "separate" and not self.separate_scoring:
            allowed = ", ".join(n for n, c in sorted(REGISTRY.items()) if c.separate_scoring)
            raise ConfigValueError(
                f"score_pass=separate is not possible for {self.name} (its score or objective is not a "
                f"per-sample function of the output; possible for: {allowed}); use score_pass=shared",
                "score_pass",
            )
        self.score_pass = score_pass
        self.networks = nn.ModuleList(model_fn() for _ in range(count))
        self.optimizers = [optimizer_fn(net.parameters()) for net in self.networks]
        #: every network treats the samples of a batch independently (no BatchNorm, no dropout)
        self.sample_independent = all(sample_independent(net) for net in self.networks)
        if score_pass == "separate" and not self.sample_independent:
            log.warning("score_pass=separate on a network with BatchNorm or dropout: the step's forward of the "
                        "kept rows takes their own batch statistics / dropout masks (not those of the scores)")

    # ------------------------------------------------------------------ schedule
    def epsilon_at(self, epoch: int) -> float:
        """Drop fraction for 0-based ``epoch`` (0 for methods that do not select)."""
        if not self.selects:
            return 0.0
        return epsilon_schedule(epoch, self.epsilon, self.num_gradual, self.exponent, self.ramp)

    def start_epoch(self, epoch: int) -> None:
        """Called by the loop before the first step of (0-based) ``epoch``, also after a resume."""

    # ------------------------------------------------------------------ hooks
    def score(self, i: int, output: Tensor, target: Tensor, losses: Tensor) -> Tensor:
        """Per-sample score of network ``i`` (lower = more trusted), shape ``(N,)``."""
        raise NotImplementedError

    def objective(self, i: int, output: Tensor, target: Tensor, losses: Tensor, idx: Optional[Tensor]) -> Tensor:
        """Loss network ``i`` steps on: the mean per-sample loss over ``idx`` (all if None)."""
        return losses.mean() if idx is None else losses.index_select(0, idx).mean()

    # ------------------------------------------------------------------ step
    def separate_pass(self, k: int, n: int) -> bool:
        """True when this step scores in a no-grad forward and the update runs its own forward
        (``k`` of ``n`` samples kept; see ``score_pass`` in :meth:`__init__`)."""
        if self.per_sample_gradients:
            return False  # the scores themselves need the graph
        if self.mixup_alpha > 0 or (self.reforward and self.selects):
            return True  # the step runs its own forward anyway
        return self.score_pass == "separate" and k < n

    def forward(self, i: int, x: Tensor) -> Tensor:
        """Output of network ``i`` on the batch (override to attach hooks, e.g. for PRL-G)."""
        return self.networks[i](x)

    def select(self, outputs: list[Tensor], losses: list[Tensor], x: Tensor, y: Tensor, k: int) -> list[Optional[Tensor]]:
        """Per network, the ``k`` batch positions it keeps (lowest :meth:`score` first)."""
        return [select_lowest(self.score(i, out, y, ls).detach(), k) for i, (out, ls) in enumerate(zip(outputs, losses))]

    def update(self, i: int, output: Tensor, losses: Tensor, x: Tensor, y: Tensor, idx: Optional[Tensor], k: int) -> Tensor:
        """Step network ``i`` on the samples ``idx`` (all if None); returns the detached loss."""
        if self.mixup_alpha > 0:
            loss = self.mixup_loss(i, x, y, idx)
        elif (self.reforward and self.selects) or not output.requires_grad:  # forward the kept rows
            xi, yi = (x, y) if idx is None else (x.index_select(0, idx), y.index_select(0, idx))
            out = self.networks[i](xi)
            loss = self.objective(i, out, yi, per_sample_loss(out, yi, self.task), None)
        else:
            loss = self.objective(i, output, y, losses, idx)
        if self.double_divide and self.selects:
            loss = loss / k
        opt = self.optimizers[i]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.detach()

    def mixup_loss(self, i: int, x: Tensor, y: Tensor, idx: Optional[Tensor]) -> Tensor:
        """Mixup of the kept samples: ``lam * L(f(x_mix), y) + (1 - lam) * L(f(x_mix), y[perm])``
        with ``x_mix = lam * x + (1 - lam) * x[perm]`` (for MSE the gradient equals that of the
        mixed target).  ``lam`` comes from numpy's global RNG, ``perm`` from torch's."""
        xi, yi = (x, y) if idx is None else (x.index_select(0, idx), y.index_select(0, idx))
        lam = float(np.random.beta(self.mixup_alpha, self.mixup_alpha))
        perm = torch.randperm(xi.shape[0], device=xi.device)
        out = self.networks[i](lam * xi + (1.0 - lam) * xi.index_select(0, perm))
        return (lam * per_sample_loss(out, yi, self.task).mean()
                + (1.0 - lam) * per_sample_loss(out, yi.index_select(0, perm), self.task).mean())

    def train_step(self, x: Tensor, y: Tensor, epsilon: float) -> dict:
        """One update of every network on the batch ``(x, y)`` with drop fraction ``epsilon``."""
        if self.logging_forward:
            with torch.no_grad():
                for net in self.networks:
                    net(x)
        n = x.shape[0]
        k = num_kept(n, epsilon) if self.selects else n
        with torch.no_grad() if self.separate_pass(k, n) else contextlib.nullcontext():
            outputs = [self.forward(i, x) for i in range(len(self.networks))]
            losses = [per_sample_loss(out, y, self.task) for out in outputs]
        picks: list[Optional[Tensor]] = self.select(outputs, losses, x, y, k) if k < n else [None] * len(outputs)
        updates = picks[::-1] if self.exchange else picks
        step_losses = [self.update(i, outputs[i], losses[i], x, y, idx, k) for i, idx in enumerate(updates)]
        return {"loss": torch.stack(step_losses), "kept": picks}

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

    def eval(self) -> "Algorithm":
        return self.train(False)


def check_epsilon(epsilon) -> float:
    if epsilon is None:
        return 0.0
    try:
        value = float(epsilon)
    except (TypeError, ValueError):
        raise ConfigValueError(f"epsilon must be a number in [0, 1), got {epsilon!r}", "epsilon") from None
    if not 0.0 <= value < 1.0:
        raise ConfigValueError(f"epsilon must be in [0, 1), got {value}", "epsilon")
    return value


