"""The selection family: score every sample, keep some by a keep rule, step on the kept mean.

:class:`Selection` owns, once for every selecting method, the step, the score pass and the
reference code's switches; a method supplies its :meth:`~Selection.score` and a keep rule
(:mod:`prl.algorithms.keep`).  :class:`RampedSelection` is the co-teaching / PRL family's base:
its rule drops a fraction ``epsilon_t`` that ramps up to ``epsilon``.

The step (``Selection.train_step``)::

    logging forward (logging_forward)
    outputs, per-sample losses of every network   (no autograd with a separate score pass)
    kept_i = rule.keep(score_i)                   (only when the rule may drop anything)
    network i steps on kept_{other} (exchange) or kept_i, through update():
        the loss of the kept rows: from the step's own forward, or a forward of the kept rows
        (reforward / separate pass), or mixup of them; / count again (double_divide)

Reference-code switches (off by default; ``protocol=faithful`` turns on each method's own):

* ``reforward``: re-run each network on its kept rows and step on that output (BatchNorm
  statistics then come from the kept samples only; one more forward per network).
* ``double_divide``: divide the kept mean loss by the kept count once more (a smaller
  effective learning rate).
* ``logging_forward`` (:class:`~prl.algorithms.base.Algorithm`): the extra no-grad forward.

``score_pass`` (methods with :attr:`Selection.separate_scoring`): ``shared`` (default) scores from
the step's own forward with autograd on (cost ``F + B``, F / B: forward / backward of the
batch); ``separate`` scores in a no-grad forward and then forwards and backpropagates only the
kept rows (``F_ng + k (F + B)``, k: the kept fraction), which pays when the backward outweighs
the forward.  Both give the same update (up to float rounding) on networks that treat samples
independently (:func:`prl.models.sample_independent`: no BatchNorm, no dropout); otherwise
``separate`` takes BatchNorm statistics of the kept rows and draws new dropout masks.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any, ClassVar, Optional

import torch
from torch import Tensor

from prl.algorithms.base import Algorithm, rows
from prl.algorithms.keep import AUTO, DropFraction, EstimatedFraction, KeepRule, check_estimator
from prl.algorithms.registry import REGISTRY
from prl.errors import ConfigValueError
from prl.models import sample_independent

__all__ = ["Selection", "RampedSelection", "SCORE_PASSES"]

#: values of ``algorithm.score_pass``
SCORE_PASSES = ("shared", "separate")

log = logging.getLogger("prl")


class Selection(Algorithm):
    """Family base of the selecting methods (module docstring).  Subclasses implement
    :meth:`score` and set ``self.rule`` (a :class:`~prl.algorithms.keep.KeepRule`)."""

    #: network i steps on the samples network 1 - i kept (the co-teaching exchange)
    exchange: ClassVar[bool] = False
    #: score and objective are per-sample functions of the output rows, so scoring in a separate
    #: no-grad pass and stepping on a forward of the kept rows is exact (``score_pass=separate``)
    separate_scoring: ClassVar[bool] = False

    def __init__(self, *args, reforward: bool = False, double_divide: bool = False, score_pass: str = "shared",
                 **kwargs):
        super().__init__(*args, **kwargs)
        self.reforward = bool(reforward)
        self.double_divide = bool(double_divide)
        if score_pass not in SCORE_PASSES:
            raise ConfigValueError(f"score_pass must be one of {', '.join(SCORE_PASSES)}; got {score_pass!r}",
                                   "score_pass")
        if score_pass == "separate" and not self.separate_scoring:
            allowed = ", ".join(n for n, c in sorted(REGISTRY.items()) if getattr(c, "separate_scoring", False))
            raise ConfigValueError(
                f"score_pass=separate is not possible for {self.name} (its score or objective is not a "
                f"per-sample function of the output; possible for: {allowed}); use score_pass=shared",
                "score_pass")
        self.score_pass = score_pass
        if score_pass == "separate" and not all(sample_independent(net) for net in self.networks):
            log.warning("score_pass=separate on a network with BatchNorm or dropout: the step's forward of the "
                        "kept rows takes their own batch statistics / dropout masks (not those of the scores)")
        self.rule: KeepRule = KeepRule()

    # ------------------------------------------------------------------ what a method supplies
    def score(self, i: int, output: Tensor, target: Tensor, losses: Tensor) -> Tensor:
        """Per-sample score of network ``i`` (lower = more trusted), shape ``(N,)``."""
        raise NotImplementedError

    def objective(self, i: int, output: Tensor, target: Tensor, losses: Tensor, idx: Optional[Tensor]) -> Tensor:
        """Loss network ``i`` steps on: the mean per-sample loss over ``idx`` (all if None)."""
        return losses.mean() if idx is None else losses.index_select(0, idx).mean()

    def forward(self, i: int, x: Tensor) -> Tensor:
        """Output of network ``i`` on the batch (override to attach hooks, e.g. for PRL-G)."""
        return self.networks[i](x)

    # ------------------------------------------------------------------ the step
    def separate_pass(self, drops: bool) -> bool:
        """True when this step scores without autograd and each update runs its own forward."""
        if self.per_sample_gradients:
            return False  # the scores themselves need the graph
        if self.mixup_alpha > 0 or self.reforward:
            return True  # the update runs its own forward anyway
        return self.score_pass == "separate" and drops

    def select(self, outputs: list[Tensor], losses: list[Tensor], x: Tensor, y: Tensor) -> list[Optional[Tensor]]:
        """Per network, the positions its rule keeps from its scores."""
        return [self.rule.keep(self.score(i, out, y, ls).detach()) for i, (out, ls) in enumerate(zip(outputs, losses))]

    def train_step(self, x: Tensor, y: Tensor, index: Optional[Tensor] = None) -> dict:
        self.log_forward(x)
        drops = self.rule.drops(x.shape[0])
        with torch.no_grad() if self.separate_pass(drops) else contextlib.nullcontext():
            outputs = [self.forward(i, x) for i in range(len(self.networks))]
            losses = [self.task.per_sample_loss(out, y) for out in outputs]
        scores = self.observe(outputs, y, index)
        picks = self.select(outputs, losses, x, y) if drops else [None] * len(outputs)
        updates = picks[::-1] if self.exchange else picks
        step_losses = [self.update(i, outputs[i], losses[i], x, y, idx) for i, idx in enumerate(updates)]
        return {"loss": torch.stack(step_losses), "kept": updates, "scores": scores}

    def observe(self, outputs: list[Tensor], y: Tensor, index: Optional[Tensor]) -> Tensor:
        """The batch's per-sample PRL-L scores (mean over networks), passed on to the keep rule."""
        scores = self.sample_scores([out.detach() for out in outputs], y)
        if index is not None and self.rule.observes:
            self.rule.observe(scores, index)
        return scores

    def update(self, i: int, output: Tensor, losses: Tensor, x: Tensor, y: Tensor, idx: Optional[Tensor],
               divide: bool = True) -> Tensor:
        """Step network ``i`` on the rows ``idx`` (all if None; none if empty: no step, loss 0);
        returns the detached loss.  ``divide=False`` skips ``double_divide`` for this step."""
        if idx is not None and idx.numel() == 0:
            return losses.new_zeros(())
        if self.mixup_alpha > 0:
            loss = self.mixup_loss(i, x, y, idx)
        elif self.reforward or not output.requires_grad:  # forward the kept rows
            xi, yi = rows(x, y, idx)
            out = self.networks[i](xi)
            loss = self.objective(i, out, yi, self.task.per_sample_loss(out, yi), None)
        else:
            loss = self.objective(i, output, y, losses, idx)
        loss = self.divide(loss, idx, x.shape[0]) if divide else loss
        self.optimize([i], loss)
        return loss.detach()

    def divide(self, loss: Tensor, idx: Optional[Tensor], n: int) -> Tensor:
        """``loss / kept count`` with ``double_divide`` (the reference code's quirk), else ``loss``."""
        if not self.double_divide:
            return loss
        return loss / (n if idx is None else idx.shape[0])

    # ------------------------------------------------------------------ epochs, outputs, state
    def start_epoch(self, epoch: int) -> None:
        self.rule.start_epoch(epoch)

    def end_epoch(self) -> None:
        self.rule.end_epoch()

    @property
    def heldout_fraction(self) -> float:
        return self.rule.heldout_fraction

    def observe_heldout(self, probs: Tensor, noisy: Tensor) -> None:
        self.rule.observe_heldout(probs, noisy)

    def record(self) -> dict:
        return self.rule.record()

    def summary(self) -> dict:
        return self.rule.summary()

    def state_dict(self) -> dict:
        return {**super().state_dict(), "rule": self.rule.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.rule.load_state_dict(state.get("rule", {}))


class RampedSelection(Selection):
    """Selection with the co-teaching / PRL rule: drop the fraction ``epsilon_t`` with the largest
    scores, ``epsilon_t`` ramping from 0 to ``epsilon`` (:class:`~prl.algorithms.keep.DropFraction`).

    ``epsilon``: the fraction of corrupted samples (the runner resolves ``null`` to the noise
    model's expected corrupted fraction), or ``auto``: estimated while training by ``estimator``
    (:class:`~prl.algorithms.keep.EstimatedFraction`; ``null``: :data:`~prl.algorithms.keep.DEFAULT_ESTIMATORS`, the
    anchor points of a 5% held-out split for classification, the mixture of the training scores
    for regression; ``heldout_fraction`` for the held-out estimators); ``num_gradual``,
    ``exponent``, ``ramp``: the ramp
    (:func:`prl.losses.epsilon_schedule`).
    """

    def __init__(self, *args, epsilon: Any = 0.0, num_gradual: int = 10, exponent: float = 1.0,
                 ramp: str = "smooth", estimator: Optional[str] = None, heldout_fraction: Optional[float] = None,
                 **kwargs):
        super().__init__(*args, **kwargs)
        check_estimator(estimator)  # a typo fails even when epsilon is not auto
        if epsilon == AUTO:
            if self.num_samples is None:
                raise ConfigValueError("epsilon=auto needs num_samples (the training-set size)", "epsilon")
            self.rule = EstimatedFraction(self.num_samples, self.task.name, self.num_classes, estimator,
                                          heldout_fraction, num_gradual, exponent, ramp)
        else:
            self.rule = DropFraction(epsilon, num_gradual, exponent, ramp)
