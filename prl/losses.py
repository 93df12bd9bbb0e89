"""Drop-in selection losses: usable in any training loop, without Hydra.

Conventions
-----------
* ``output``: the network output for a mini-batch, shape ``(N, C)`` (class logits) or
  ``(N, D)`` / ``(N,)`` (regression predictions).
* ``target``: integer class labels of shape ``(N,)`` (classification) or float targets with
  the shape of ``output`` (regression).  The task is inferred from ``target``'s dtype unless
  ``task`` is given.
* ``epsilon``: the fraction of the batch to *drop* (``0 <= epsilon < 1``).  The number kept is
  ``max(1, int((1 - epsilon) * N))``, the formula of the co-teaching / PRL reference code
  (floored), never fewer than one sample.
* Kept indices are positions in the batch, ordered by increasing score; ties are broken by
  batch position (stable sort), so the selection equals sorting the scores.

PRL-L scores each sample by the norm of its *loss-layer gradient*: the gradient of the
per-sample loss with respect to the network output.  For softmax cross-entropy that is
``softmax(z) - onehot(y)``; for the squared error ``0.5 * ||f(x) - y||^2`` it is
``f(x) - y``.  Samples with the largest norms are dropped and the step is taken on the mean
loss of the rest.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "infer_task",
    "per_sample_loss",
    "loss_layer_grad_norm",
    "num_kept",
    "select_lowest",
    "prl_l_loss",
    "small_loss",
    "epsilon_schedule",
]

CLASSIFICATION = "classification"
REGRESSION = "regression"
#: the shapes of :func:`epsilon_schedule`
RAMPS = ("smooth", "reference")


def infer_task(target: Tensor, task: Optional[str] = None) -> str:
    """``task`` if given, else ``classification`` for integer targets, ``regression`` otherwise."""
    if task is not None:
        if task not in (CLASSIFICATION, REGRESSION):
            raise ValueError(f"task must be 'classification' or 'regression', got {task!r}")
        return task
    return REGRESSION if target.is_floating_point() else CLASSIFICATION


def per_sample_loss(output: Tensor, target: Tensor, task: Optional[str] = None) -> Tensor:
    """Per-sample loss, shape ``(N,)``.

    Classification: cross-entropy of the logits.  Regression: ``0.5 * ||f(x) - y||^2`` summed
    over output dimensions (its gradient with respect to ``f(x)`` is exactly ``f(x) - y``).
    """
    if infer_task(target, task) == CLASSIFICATION:
        return F.cross_entropy(output, target, reduction="none")
    diff = (output - target.reshape(output.shape)).reshape(output.shape[0], -1)
    return 0.5 * diff.pow(2).sum(dim=1)


def loss_layer_grad_norm(output: Tensor, target: Tensor, task: Optional[str] = None) -> Tensor:
    """L2 norm of d(per-sample loss)/d(output), shape ``(N,)``; no autograd graph is built.

    Classification: ``||softmax(z) - onehot(y)||``.  Regression: ``||f(x) - y||`` (the norm
    over output dimensions; for 1-D targets it ranks like the loss).
    """
    with torch.no_grad():
        if infer_task(target, task) == CLASSIFICATION:
            grad = torch.softmax(output.detach().float(), dim=1)
            grad[torch.arange(grad.shape[0], device=grad.device), target] -= 1.0
        else:
            grad = (output.detach().float() - target.reshape(output.shape).float())
            grad = grad.reshape(output.shape[0], -1)
        return torch.linalg.vector_norm(grad, dim=1)


def num_kept(batch_size: int, epsilon: float) -> int:
    """How many samples of a batch of ``batch_size`` are kept when dropping ``epsilon``.

    ``int((1 - epsilon) * batch_size)`` as in the reference code, but at least 1 (an empty
    selection would make the mean loss NaN on a tiny last batch).
    """
    if batch_size <= 0:
        return 0
    return max(1, int((1.0 - float(epsilon)) * batch_size))


def select_lowest(scores: Tensor, k: int) -> Tensor:
    """Indices of the ``k`` lowest scores, in increasing score order (stable for ties)."""
    if k >= scores.shape[0]:
        return torch.argsort(scores, stable=True)
    return torch.argsort(scores, stable=True)[:k]


def prl_l_loss(
    output: Tensor, target: Tensor, epsilon: float, task: Optional[str] = None
) -> tuple[Tensor, Tensor]:
    """PRL-L: mean loss over the samples with the smallest loss-layer gradient norm.

    Returns ``(loss, kept)``: the scalar mean of the per-sample losses of the kept samples
    (differentiable) and their batch indices, shape ``(num_kept(N, epsilon),)``.
    """
    task = infer_task(target, task)
    scores = loss_layer_grad_norm(output, target, task)
    kept = select_lowest(scores, num_kept(output.shape[0], epsilon))
    return per_sample_loss(output[kept], target[kept], task).mean(), kept


def small_loss(
    output: Tensor, target: Tensor, epsilon: float, task: Optional[str] = None
) -> tuple[Tensor, Tensor]:
    """Trimmed loss (self-paced / co-teaching's small-loss rule): keep the smallest losses.

    Returns ``(loss, kept)`` like :func:`prl_l_loss`.
    """
    task = infer_task(target, task)
    losses = per_sample_loss(output, target, task)
    kept = select_lowest(losses.detach(), num_kept(output.shape[0], epsilon))
    return losses[kept].mean(), kept


def epsilon_schedule(epoch: int, epsilon: float, num_gradual: int = 10, exponent: float = 1.0,
                     ramp: str = "smooth") -> float:
    """The drop fraction used in (0-based) ``epoch``.

    ``ramp="smooth"`` (default): a ramp from 0 at epoch 0 to ``epsilon`` at epoch
    ``num_gradual - 1``, then constant; ``epsilon * (t / (num_gradual - 1)) ** exponent``
    (co-teaching's R(T) with T^c).  With ``exponent=1`` it is exactly the reference code's
    ``np.linspace(0, epsilon, num_gradual)`` (so ``num_gradual=1`` gives 0 in epoch 0).

    ``ramp="reference"``: the co-teaching / PRL reference code's schedule,
    ``np.linspace(0, epsilon ** exponent, num_gradual)`` for the first ``num_gradual`` epochs and
    ``epsilon`` after them; with ``exponent != 1`` it ramps to ``epsilon ** exponent`` and then
    jumps to ``epsilon`` (exponent 2, epsilon 0.45: 0.2025, then 0.45).  The same as ``smooth``
    for ``exponent=1``.

    ``num_gradual=0`` uses ``epsilon`` from the start.
    """
    if ramp not in RAMPS:
        raise ValueError(f"ramp must be one of {', '.join(RAMPS)}, got {ramp!r}")
    t = max(int(epoch), 0)
    if num_gradual <= 0 or t >= num_gradual:
        return float(epsilon)
    if ramp == "reference":
        return float(np.linspace(0, float(epsilon) ** float(exponent), num_gradual)[t])
    if num_gradual == 1:
        return 0.0
    if t == num_gradual - 1:
        return float(epsilon)
    if exponent == 1:
        # bit-identical to np.linspace(0, epsilon, num_gradual)[t]
        return float(t * (float(epsilon) / (num_gradual - 1)))
    return float(epsilon) * (t / (num_gradual - 1)) ** float(exponent)
