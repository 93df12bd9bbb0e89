"""Co-teaching+ (Yu et al., ICML 2019, "How does disagreement help generalization against label
corruption?"): co-teaching restricted to the samples on which the two networks disagree.

The rule, per mini-batch of ``N`` samples with drop fraction ``epsilon_t`` (the co-teaching
ramp, :meth:`Algorithm.epsilon_at`), as in the official code (``xingruiyu/coteaching_plus``,
``loss.py``: ``loss_coteaching_plus``):

1. epochs ``< init_epoch``: plain co-teaching on the whole batch (each network keeps its
   ``num_kept(N, epsilon_t)`` smallest cross-entropies, the *other* network steps on them).
2. later epochs: both networks predict the batch; ``D`` = the ``m`` positions where
   ``argmax z1 != argmax z2``.

   * ``m > 0``: each network ranks ``D`` by its own per-sample cross-entropy and keeps the
     ``k = int((1 - epsilon_t) * m)`` smallest (``k = m`` when that is 0: the official fallback,
     *not* ``num_kept``'s 1); network 1 steps on the mean loss of network 2's pick and vice versa.
   * ``m = 0`` (the networks agree on every sample): while the step counter is below
     ``warmup_steps`` (official: 5000), each network steps on the mean loss of the whole batch;
     afterwards each network takes an optimizer step on a zero loss (zero gradients), as the
     official code does: no sample is learnt from, but stateful optimizers still move (Adam's
     moments, momentum, weight decay).  ``kept`` is then empty.

Hyper-parameters: ``init_epoch`` (official: MNIST 0, CIFAR-10 20, CIFAR-100 5, Tiny-ImageNet
100, news 0), ``warmup_steps`` (5000), and the co-teaching ones ``epsilon``, ``num_gradual``,
``exponent``.

Quirks of the official code, off by default:

* ``double_softmax``: in step 2 the official code passes *softmax probabilities* to
  ``F.cross_entropy`` (which applies log-softmax again), both to rank and to train; ``true``
  reproduces that (the paper's loss is the plain cross-entropy).
* ``official_step``: the official code compares ``epoch * i`` (epoch number times the batch
  index within the epoch) with 5000, not a global step; ``true`` uses that product, with the
  official 1-based epoch ``epoch + 1``.  By default the step is the number of updates since the
  start of training (kept in the checkpoint).
* ``double_divide`` (the family's switch): the official co-teaching loss is the kept mean
  divided by ``k`` once more (also in step 2, with the ``k`` above); in the all-agree full-batch
  case the official code does not divide again, and neither does this one.

The other family settings (``reforward``, ``logging_forward``, ``mixup_alpha``) apply in both
phases; the official code uses none of them (it steps on the logits of its single forward).
A faithful preset is therefore ``double_divide: true, double_softmax: true, official_step: true``
with the dataset's ``init_epoch``.

Epoch numbering: the official loop trains epochs 1..199 (epoch 0 only evaluates), so its
``init_epoch=20`` means 19 epochs of co-teaching; here epochs are 0-based and ``init_epoch=20``
means 20.  The paper's Algorithm 1 keeps a fraction ``lambda(e)`` of the disagreement set, as
here, and lets the drop fraction grow on after ``E_k`` (to ``2 * tau`` at the last epoch, the
official code's commented-out ``fr_type='type_2'``); the official runs use ``type_1`` (constant
after the ramp), which is what ``epsilon_at`` gives.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from typing import Optional

from prl.algorithms.loss_layer import CoTeaching
from prl.algorithms.registry import register
from prl.errors import ConfigValueError
from prl.losses import CLASSIFICATION, select_lowest

__all__ = ["CoTeachingPlus", "disagreement", "disagreement_kept"]


def disagreement(output1: Tensor, output2: Tensor) -> Tensor:
    """Batch positions (increasing) where the two networks' top-1 predictions differ, shape ``(m,)``."""
    with torch.no_grad():
        return torch.nonzero(output1.argmax(dim=1) != output2.argmax(dim=1)).flatten()


def disagreement_kept(m: int, epsilon: float) -> int:
    """How many of ``m`` disagreement samples each network keeps: ``int((1 - epsilon) * m)``, or
    all ``m`` when that is 0 (the official fallback)."""
    k = int((1.0 - float(epsilon)) * int(m))
    return k if k > 0 else int(m)


@register("co-teaching-plus")
class CoTeachingPlus(CoTeaching):
    """Co-teaching+: small-loss exchange between two networks on their disagreement set, after
    ``init_epoch`` epochs of plain co-teaching.  Classification only.  See the module docstring
    for the exact rule and the official code's quirks."""

    separate_scoring = False  # the disagreement rule needs both networks' outputs
    tasks = (CLASSIFICATION,)

    def __init__(
        self,
        *args,
        init_epoch: int = 0,
        warmup_steps: int = 5000,
        official_step: bool = False,
        double_softmax: bool = False,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        if int(init_epoch) < 0:
            raise ConfigValueError(f"init_epoch must be >= 0, got {init_epoch}", "init_epoch")
        if int(warmup_steps) < 0:
            raise ConfigValueError(f"warmup_steps must be >= 0, got {warmup_steps}", "warmup_steps")
        self.init_epoch = int(init_epoch)
        self.warmup_steps = int(warmup_steps)
        self.official_step = bool(official_step)
        self.double_softmax = bool(double_softmax)
        self.epoch = 0  # current 0-based epoch (set by start_epoch)
        self.batch = 0  # updates so far in this epoch
        self.step = 0  # updates since the start of training (checkpointed)

    # ------------------------------------------------------------------ epoch / step
    def start_epoch(self, epoch: int) -> None:
        """Tell the algorithm that (0-based) ``epoch`` starts; idempotent within an epoch."""
        super().start_epoch(epoch)
        epoch = int(epoch)
        if epoch != self.epoch:
            self.epoch = epoch
            self.batch = 0

    def warmup_step(self) -> int:
        """The step number compared with ``warmup_steps`` for the current batch."""
        return (self.epoch + 1) * self.batch if self.official_step else self.step

    # ------------------------------------------------------------------ selection
    def _losses(self, output: Tensor, target: Tensor) -> Tensor:
        """Per-sample cross-entropy of the disagreement phase (of softmax(z) with ``double_softmax``)."""
        return F.cross_entropy(output.softmax(dim=1) if self.double_softmax else output, target, reduction="none")

    def objective(self, i, output, target, losses, idx):
        if self.double_softmax and self.epoch >= self.init_epoch:
            losses = self._losses(output, target)  # ``reforward`` passes the plain cross-entropy
        return super().objective(i, output, target, losses, idx)

    def train_step(self, x: Tensor, y: Tensor, index: Optional[Tensor] = None) -> dict:
        """One update of both networks; plain co-teaching before ``init_epoch``."""
        if self.epoch < self.init_epoch:
            out = super().train_step(x, y, index)
        else:
            out = self._plus_step(x, y, index)
        self.step += 1
        self.batch += 1
        return out

    def _plus_step(self, x: Tensor, y: Tensor, index: Optional[Tensor]) -> dict:
        self.log_forward(x)
        outputs = [self.forward(i, x) for i in range(2)]
        losses = [self._losses(out, y) for out in outputs]
        scores = self.observe(outputs, y, index)
        dis = disagreement(outputs[0], outputs[1])
        m = int(dis.numel())
        if m > 0:
            k = disagreement_kept(m, self.rule.epsilon_t)
            picks: list[Tensor | None] = [
                dis.index_select(0, select_lowest(ls.detach().index_select(0, dis), k)) for ls in losses
            ]
            picks = picks[::-1]  # network i steps on what network 1 - i picked
            step_losses = [self.update(i, outputs[i], losses[i], x, y, picks[i]) for i in range(2)]
        elif self.warmup_step() < self.warmup_steps:
            picks = [None, None]  # the whole batch, without a second division, as officially
            step_losses = [self.update(i, outputs[i], losses[i], x, y, None, divide=False) for i in range(2)]
        else:
            # the official step on 0 * loss: zero gradients, but the optimizers still step
            picks = [dis, dis]  # empty, long, on the device
            step_losses = []
            for i in range(2):
                zero = losses[i].sum() * 0.0
                self.optimize([i], zero)
                step_losses.append(zero.detach())
        return {"loss": torch.stack(step_losses), "kept": picks, "scores": scores}

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict:
        return {**super().state_dict(), "step": self.step}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.step = int(state.get("step", 0))
