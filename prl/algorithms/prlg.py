"""PRL-G and co-PRL-G: keep the samples with the smallest per-sample *parameter* gradient norm.

The score of sample ``i`` is ``||grad_theta l_i||_2`` over every trainable parameter of the
network (:mod:`prl.grad_norms`); the step keeps the ``num_kept(N, epsilon_t)`` lowest, like
PRL-L, and co-PRL-G exchanges the selections of two networks like co-PRL-L.  Classification
and regression both.  Needs per-sample gradients, so setup refuses BatchNorm models.

Engines (``grad_norm``):

``ghost``      one recorded forward, one backward to the layer outputs, exact per-layer norms
               (:class:`prl.grad_norms.GhostNorms`); the update gradient is assembled from the
               same tensors on the kept rows (no second backward, no second forward).  Dropout
               masks are those of the step's own forward.
``functorch``  ``torch.func`` ``vmap(grad)`` over chunks of ``chunk_size`` samples, then the
               usual backward of the kept mean: any model ``torch.func`` supports, slower,
               dropout masks of the norm pass differ from the step's forward.
``auto``       ``ghost`` when every parametrised layer has an exact rule
               (:func:`prl.grad_norms.unsupported_layers`), else ``functorch``.

While the drop fraction is 0 (the start of the schedule) nothing is scored and the step is
plain ERM.
"""

from __future__ import annotations

import logging
from typing import Optional

from torch import Tensor

from prl.algorithms.registry import register
from prl.algorithms.selection import RampedSelection, Selection
from prl.errors import ConfigValueError
from prl.grad_norms import GhostNorms, functorch_grad_norms, unsupported_layers

log = logging.getLogger("prl")

ENGINES = ("auto", "ghost", "functorch")


@register("prl-g")
class PRLG(RampedSelection):
    """PRL-G: keep the samples with the smallest full per-sample gradient norm.

    ``grad_norm``: ``auto`` | ``ghost`` | ``functorch`` (module docstring).  ``chunk_size``:
    samples per ``torch.func`` chunk (default: from ``scratch_mb``).  ``scratch_mb``: bound on
    the per-sample products one chunk may build, in MiB of float32 (both engines).
    ``last_scores``: the norms of the last scored step, one ``(N,)`` tensor per network.
    """

    per_sample_gradients = True

    def __init__(self, *args, grad_norm: str = "auto", chunk_size: Optional[int] = None,
                 scratch_mb: float = 64.0, **kwargs):
        super().__init__(*args, **kwargs)
        if grad_norm not in ENGINES:
            raise ConfigValueError(f"grad_norm must be one of {', '.join(ENGINES)}; got {grad_norm!r}", "grad_norm")
        if chunk_size is not None and int(chunk_size) < 1:
            raise ConfigValueError(f"chunk_size must be >= 1 or null, got {chunk_size}", "chunk_size")
        if not float(scratch_mb) > 0:
            raise ConfigValueError(f"scratch_mb must be > 0, got {scratch_mb}", "scratch_mb")
        self.chunk_size = None if chunk_size is None else int(chunk_size)
        self.budget = max(1, int(float(scratch_mb) * 2**20 / 4))  # elements of float32
        problems = unsupported_layers(self.networks[0])
        if grad_norm == "ghost" and problems:
            raise ConfigValueError(
                f"grad_norm=ghost cannot handle this model ({'; '.join(problems)}); use grad_norm=functorch",
                "grad_norm",
            )
        if grad_norm == "auto":
            grad_norm = "functorch" if problems else "ghost"
            if problems:
                log.info("prl-g: per-sample norms with torch.func (%s)", "; ".join(problems))
        self.grad_norm = grad_norm
        # the ghost update reproduces Selection.objective (a mean over the kept samples) only
        self._assemble = type(self).objective is Selection.objective
        self._tapes: dict[int, GhostNorms] = {}
        self._x: Optional[Tensor] = None
        self.last_scores: list[Optional[Tensor]] = [None] * len(self.networks)

    def _tape(self, i: int) -> GhostNorms:
        net = getattr(self.networks[i], "_orig_mod", self.networks[i])  # unwrap torch.compile
        tape = self._tapes.get(i)
        if tape is None or tape.model is not net:  # first use, or networks replaced
            if tape is not None:
                tape.remove()
            tape = self._tapes[i] = GhostNorms(net, self.budget)
        return tape

    # ------------------------------------------------------------------ step hooks
    def forward(self, i: int, x: Tensor) -> Tensor:
        """The ordinary forward of network ``i``; the ghost engine records it.

        A ``torch.compile``d network runs its original module here: compiled code may skip the
        recording hooks (Dynamo reuses graphs across instances and does not guard on hooks).
        """
        if self.grad_norm != "ghost":
            self._x = x
            return self.networks[i](x)
        with self._tape(i).record():
            return self._tape(i).model(x)

    def score(self, i: int, output: Tensor, target: Tensor, losses: Tensor) -> Tensor:
        """``(N,)``: per-sample gradient norms of network ``i`` on the batch of the last
        :meth:`forward` (``losses`` are its per-sample losses).  The ghost engine frees the graph
        (the update is assembled from the recorded tensors) unless a subclass changes the
        objective."""
        if self.grad_norm == "ghost":
            scores = self._tape(i).norms(losses, retain_graph=not self._assemble)
        else:
            loss_fn = self.task.per_sample_loss
            scores = functorch_grad_norms(self.networks[i], loss_fn, self._x, target,
                                          chunk_size=self.chunk_size, budget=self.budget)
        self.last_scores[i] = scores.detach()
        return scores

    def update(self, i: int, output: Tensor, losses: Tensor, x: Tensor, y: Tensor, idx: Optional[Tensor],
               divide: bool = True) -> Tensor:
        """Step network ``i`` on the mean loss of ``idx``; with the ghost engine and a scored batch,
        the gradient comes from the recorded tensors (equal to the backward of that mean).
        ``reforward`` / ``mixup_alpha`` run the family's extra forward instead."""
        tape = self._tapes.get(i) if self.grad_norm == "ghost" else None
        if (tape is None or idx is None or idx.numel() == 0 or self.reforward or self.mixup_alpha > 0
                or not self._assemble or not tape.ready):
            if tape is not None:
                tape.clear()
            return super().update(i, output, losses, x, y, idx, divide)
        scale = 1.0 / idx.shape[0]
        if self.double_divide and divide:
            scale /= idx.shape[0]
        self.optimize([i], backward=lambda: tape.backward(idx, scale))
        return losses.detach().index_select(0, idx).sum() * scale

    def train_step(self, x: Tensor, y: Tensor, index: Optional[Tensor] = None) -> dict:
        try:
            return super().train_step(x, y, index)
        finally:
            self._x = None
            for tape in self._tapes.values():
                tape.clear()


@register("co-prl-g")
class CoPRLG(PRLG):
    """Co-PRL-G: PRL-G scores with the co-teaching exchange between two networks."""

    num_networks = 2
    fixed_networks = True
    exchange = True
