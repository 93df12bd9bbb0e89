"""The drop-in object a training loop uses to estimate epsilon while it trains.

::

    est = EpsilonEstimator(num_samples=N, method="mixture")
    for epoch in range(E):
        for x, y, index in loader:                       # index: positions in the training set
            logits = model(x)
            est.update(prl.loss_layer_grad_norm(logits, y), index)
            ...
        epsilon = est.epsilon()                          # once per epoch

Methods (:data:`METHODS`):

``mixture``    Training-set scores (:func:`prl.estimation.mixture.fit_mixture`).  ``update``
               keeps the latest score of every sample in a ``(N,)`` tensor on the scores'
               device (one ``index_copy_``, no host sync); ``epsilon()`` moves it to the host
               once and fits.  ``fit_on="epoch"`` (default) fits the scores recorded since the
               previous ``epoch()`` call only, so a loop that visits part of the training set
               per epoch never mixes in scores of a network several epochs younger;
               ``fit_on="all"`` fits the latest score of every sample seen so far.  Samples
               never scored are NaN and ignored.
``agreement``  Held-out split: ``update_heldout(predictions, noisy_labels)`` with the
               network's predicted classes ``(n,)`` or scores ``(n, C)`` on samples it does
               not train on (:func:`prl.estimation.agreement.agreement_fraction`).
``confident``  Held-out split: ``update_heldout(pred_probs, noisy_labels)`` with softmax
               probabilities ``(n, C)`` (:func:`prl.estimation.confident.confident_learning_fraction`).
``anchor``     Held-out split, probabilities ``(n, C)``: the transition matrix read off the
               samples most typical of each label (:func:`prl.estimation.anchor.anchor_fraction`).

Held-out batches passed to ``update_heldout`` are collected until the next ``epsilon()``,
which uses them all and then forgets them (call it again for every evaluation of the split).
``update`` works with every method (the scores are kept for ranking / diagnostics), but only
``mixture`` uses them.  Every ``epsilon()`` call goes through an
:class:`~prl.estimation.smoothing.EpsilonSmoother` (clip, exponential smoothing, dead band).
"""

from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np
import torch
from torch import Tensor

from prl.estimation._checks import check_choice, fail, to_numpy
from prl.estimation.agreement import agreement_fraction, predicted_classes
from prl.estimation.anchor import anchor_fraction
from prl.estimation.confident import confident_learning_fraction
from prl.estimation.mixture import fit_mixture
from prl.estimation.smoothing import EpsilonSmoother

__all__ = ["METHODS", "EpsilonEstimator"]

METHODS = ("mixture", "agreement", "confident", "anchor")
#: which training scores the mixture fits (``fit_on``)
FIT_ON = ("epoch", "all")
_STATE_VERSION = 1


class EpsilonEstimator:
    """Estimates the corrupted fraction of a training set once per epoch.

    Parameters
    ----------
    num_samples : int
        ``N``, the size of the training set; ``update`` indices are in ``[0, N)``.
    method : one of :data:`METHODS`
    num_classes : int, required for ``agreement``, ``confident`` and ``anchor``
    alpha, max_fraction, zero_below, window, warmup :
        smoothing, see :class:`~prl.estimation.smoothing.EpsilonSmoother`.
    transform, upper, output, min_separation, min_high_score, max_samples, random_state :
        passed to :func:`~prl.estimation.mixture.fit_mixture` (``mixture`` only).  The
        defaults suit the classification gradient norm (``logit``, ``upper=sqrt(2)``); for
        losses or regression residual norms pass ``transform="log"``.
    device : torch device of the score tensor before the first ``update`` (then the scores'
        device is used; the tensor follows the scores if they move).
    fit_on : ``"epoch"`` or ``"all"`` (``mixture``): which scores ``epsilon()`` fits (see above).
    """

    def __init__(self, num_samples: int, method: str = "mixture", *, num_classes: Optional[int] = None,
                 alpha: float = 0.5, max_fraction: float = 0.9, zero_below: float = 0.02, window: int = 3,
                 warmup: int = 0, transform: str = "logit", upper: Optional[float] = math.sqrt(2.0),
                 output: str = "posterior", min_separation: float = 2.0, min_high_score: Optional[float] = None,
                 max_samples: Optional[int] = 10000, random_state: int = 0, device: Any = None,
                 fit_on: str = "epoch"):
        if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)) or num_samples < 1:
            raise fail("num_samples", f"must be an integer >= 1 (the training set size); got {num_samples!r}")
        self.num_samples = int(num_samples)
        self.method = check_choice("method", method, METHODS)
        self.fit_on = check_choice("fit_on", fit_on, FIT_ON)
        bad_classes = isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 2
        if method != "mixture" and bad_classes:
            raise fail("num_classes", f"must be an integer >= 2 for method={method!r}; got {num_classes!r}")
        self.num_classes = None if num_classes is None else int(num_classes)
        self.mixture_kwargs = dict(transform=transform, upper=upper, output=output, min_separation=min_separation,
                                   min_high_score=min_high_score, max_samples=max_samples, random_state=random_state)
        fit_mixture(np.zeros(0), **self.mixture_kwargs)  # checks the arguments now, not at the first epoch
        self.smoother = EpsilonSmoother(alpha, max_fraction, zero_below, window, warmup)
        #: one dict per ``epsilon()`` call: ``step``, ``raw``, ``epsilon`` and diagnostics
        self.history: list[dict[str, Any]] = []
        self._device = torch.device(device) if device is not None else torch.device("cpu")
        self._scores: Optional[Tensor] = None
        self._fresh: Optional[Tensor] = None  # scored since the last epsilon() (fit_on="epoch")
        self._heldout: list[tuple[Tensor, Tensor]] = []

    # ------------------------------------------------------------------ per batch
    def _buffer(self, device: torch.device) -> Tensor:
        if self._scores is None:
            self._scores = torch.full((self.num_samples,), math.nan, dtype=torch.float32, device=device)
            self._fresh = torch.zeros(self.num_samples, dtype=torch.bool, device=device)
        elif self._scores.device != device:
            self._scores = self._scores.to(device)
            self._fresh = self._fresh.to(device)
        return self._scores

    def update(self, scores: Any, index: Any) -> None:
        """Record the latest score of the samples at ``index``.

        ``scores``: ``(B,)`` tensor (any float dtype, any device; detached here), higher =
        more suspect.  ``index``: ``(B,)`` integer positions in ``[0, num_samples)`` (tensor
        or array; moved to the scores' device: pass it on that device, with the batch, to
        save a copy per batch), distinct within a batch.  A later call's score of a sample
        replaces the earlier one.  No host synchronisation: out-of-range indices raise on
        CPU and trigger a device-side assert on CUDA.
        """
        s = scores.detach() if isinstance(scores, Tensor) else torch.as_tensor(np.asarray(scores))
        if s.ndim != 1:
            raise fail("scores", f"must be a 1-D tensor of shape (B,); got shape {tuple(s.shape)}")
        if not s.is_floating_point():
            s = s.float()
        idx = index if isinstance(index, Tensor) else torch.as_tensor(np.asarray(index))
        if idx.ndim != 1 or idx.shape[0] != s.shape[0]:
            raise fail("index", f"must have shape ({s.shape[0]},) like scores; got {tuple(idx.shape)}")
        if idx.dtype.is_floating_point or idx.dtype.is_complex or idx.dtype == torch.bool:
            raise fail("index", f"must hold integer positions; got dtype {idx.dtype}")
        buf = self._buffer(s.device)
        idx = idx.to(device=s.device, dtype=torch.long, non_blocking=True)
        buf.index_copy_(0, idx, s.to(buf.dtype))
        self._fresh.index_fill_(0, idx, True)

    def update_heldout(self, outputs: Any, noisy_labels: Any) -> None:
        """Add held-out predictions for ``agreement`` / ``confident`` / ``anchor`` (used and cleared by the
        next ``epsilon()``).  ``outputs``: ``(n, C)`` probabilities (``confident``; also
        accepted by ``agreement``) or ``(n,)`` predicted classes (``agreement``);
        ``noisy_labels``: ``(n,)`` labels of the same held-out samples."""
        if self.method == "mixture":
            raise fail("method", "update_heldout needs method='agreement', 'confident' or 'anchor'; this estimator "
                                 "has 'mixture'")
        out = outputs.detach() if isinstance(outputs, Tensor) else torch.as_tensor(np.asarray(outputs))
        lab = noisy_labels.detach() if isinstance(noisy_labels, Tensor) else torch.as_tensor(np.asarray(noisy_labels))
        want = "(n, num_classes)" if self.method == "confident" else "(n,) or (n, num_classes)"
        if (out.ndim != 2 and not (out.ndim == 1 and self.method == "agreement")) or \
                (out.ndim == 2 and out.shape[1] != self.num_classes):
            raise fail("outputs", f"must have shape {want} with num_classes={self.num_classes}; got {tuple(out.shape)}")
        if lab.ndim != 1 or lab.shape[0] != out.shape[0]:
            raise fail("noisy_labels", f"must have shape ({out.shape[0]},) like outputs; got {tuple(lab.shape)}")
        if self.method == "agreement" and out.ndim == 2:
            out = out.argmax(dim=1)  # keep classes only
        self._heldout.append((out, lab))

    # ------------------------------------------------------------------ per epoch
    @property
    def scores(self) -> Tensor:
        """Latest score per training sample, ``(N,)`` float32, NaN where not scored yet."""
        return self._buffer(self._device if self._scores is None else self._scores.device)

    def _raw(self) -> tuple[float, dict[str, Any]]:
        if self.method == "mixture":
            host = self.scores.cpu().numpy().astype(np.float64)
            if self.fit_on == "epoch":
                host[~self._fresh.cpu().numpy()] = np.nan
                self._fresh.zero_()
            fit = fit_mixture(host, **self.mixture_kwargs)
            info = {k: v for k, v in fit.as_dict().items() if k not in ("means", "stds", "fraction")}
            return fit.fraction, info
        if not self._heldout:
            raise RuntimeError(f"EpsilonEstimator(method={self.method!r}).epsilon(): no held-out predictions "
                               f"since the last call; call update_heldout(...) first")
        out = np.concatenate([to_numpy(o) for o, _ in self._heldout])
        lab = np.concatenate([to_numpy(y) for _, y in self._heldout])
        self._heldout = []
        if self.method == "agreement":
            raw = agreement_fraction(predicted_classes(out, self.num_classes), lab, self.num_classes)
        elif self.method == "anchor":
            raw = anchor_fraction(out, lab)
        else:
            raw = confident_learning_fraction(out, lab)
        return raw, {"num_heldout": int(lab.shape[0])}

    def epsilon(self) -> float:
        """Estimate, clip, smooth; append to :attr:`history` and return the epsilon to use
        (a float in ``[0, max_fraction]``; exactly 0.0 when the data looks clean)."""
        raw, info = self._raw()
        eps = self.smoother.update(raw)
        self.history.append({"step": len(self.history), "method": self.method, "raw": float(raw),
                             "smoothed": self.smoother.value, "epsilon": eps, **info})
        return eps

    @property
    def last(self) -> float:
        """The epsilon returned by the last ``epsilon()`` call (0.0 before any)."""
        return self.smoother.epsilon

    # ------------------------------------------------------------------ checkpointing
    def state_dict(self) -> dict[str, Any]:
        """Everything a resumed run needs to continue exactly (scores on CPU)."""
        return {"version": _STATE_VERSION, "num_samples": self.num_samples, "method": self.method,
                "scores": None if self._scores is None else self._scores.detach().cpu().clone(),
                "fresh": None if self._fresh is None else self._fresh.cpu().clone(),
                "smoother": self.smoother.state_dict(), "history": [dict(h) for h in self.history],
                "heldout": [(o.cpu().clone(), y.cpu().clone()) for o, y in self._heldout]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict`; the scores go to the device of this estimator's tensor
        (or its ``device``) and follow the next ``update``'s scores if those live elsewhere."""
        for key in ("num_samples", "method"):
            if state.get(key) != getattr(self, key):
                raise fail(key, f"the state was saved with {key}={state.get(key)!r}, "
                                f"this estimator has {getattr(self, key)!r}")
        self.smoother.load_state_dict(state["smoother"])
        device = self._device if self._scores is None else self._scores.device
        saved = state["scores"]
        self._scores = None if saved is None else saved.to(device=device, dtype=torch.float32).clone()
        fresh = state.get("fresh")
        self._fresh = None if saved is None else (
            fresh.to(device).clone() if fresh is not None else torch.zeros_like(self._scores, dtype=torch.bool))
        self.history = [dict(h) for h in state["history"]]
        self._heldout = [(o.clone(), y.clone()) for o, y in state.get("heldout", [])]
