"""Tail trimming of regression targets, applied by the runner right after the corruption.

:class:`TailTrim` removes (or clips) the training samples whose *observed*, i.e. corrupted,
target lies beyond a quantile, before training; :func:`trim_training_set` applies it to a
dataset and its noisy targets.  It cannot be a dataset option (the loader never sees the noisy
targets) nor a noise option (a noise cannot drop samples).
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import numpy as np
import torch
from torch import Tensor

from prl.data.dataset import Data
from prl.errors import ConfigValueError

__all__ = ["TailTrim", "trim_training_set"]

REGRESSION = "regression"



class TailTrim:
    """Remove (or clip) training samples whose observed target lies beyond a quantile.

    Bounds come from the *observed* (noisy) training targets, per output dimension ``d``:
    ``upper_d = quantile(y_d, q)`` and ``lower_d = quantile(y_d, 1 - q)``.  ``tails`` picks
    which bounds apply (``both``, ``upper``, ``lower``).  ``mode=remove`` drops every sample
    with a target outside the bounds in any dimension (so ``tails=upper, q=0.99`` drops about
    the top 1%, ``tails=both`` about 1% at each end); ``mode=clip`` keeps every sample and
    clips its targets to the bounds.  ``quantile=None`` does nothing.  Test data is untouched.
    """

    MODES = ("remove", "clip")
    TAILS = ("both", "upper", "lower")

    def __init__(self, quantile: Optional[float] = None, mode: str = "remove", tails: str = "both"):
        if quantile is not None:
            quantile = float(quantile)
            if not 0.5 < quantile < 1.0:
                raise ConfigValueError(f"quantile must be in (0.5, 1) or null (no trimming), got {quantile}",
                                       "quantile")
        if mode not in self.MODES:
            raise ConfigValueError(f"mode must be one of {', '.join(self.MODES)}, got {mode!r}", "mode")
        if tails not in self.TAILS:
            raise ConfigValueError(f"tails must be one of {', '.join(self.TAILS)}, got {tails!r}", "tails")
        self.quantile, self.mode, self.tails = quantile, mode, tails

    def bounds(self, observed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(lower, upper)``, each ``(D,)``; ``-inf`` / ``inf`` where a tail is not trimmed."""
        y = np.asarray(observed, dtype=np.float64).reshape(len(observed), -1)
        lower = np.full(y.shape[1], -np.inf)
        upper = np.full(y.shape[1], np.inf)
        if self.quantile is not None and len(y):
            if self.tails in ("both", "upper"):
                upper = np.quantile(y, self.quantile, axis=0)
            if self.tails in ("both", "lower"):
                lower = np.quantile(y, 1.0 - self.quantile, axis=0)
        return lower, upper

    def apply(self, observed) -> tuple[np.ndarray, np.ndarray, dict]:
        """``(keep, targets, info)`` for the observed targets ``(N,)`` or ``(N, D)``.

        ``keep``: bool ``(N,)``, the samples to train on; ``targets``: their (possibly clipped)
        targets, float32, shape ``(keep.sum(), ...)``; ``info``: settings, bounds and counts.
        """
        y = np.asarray(observed, dtype=np.float32)
        flat = y.reshape(len(y), -1)
        lower, upper = self.bounds(flat)
        keep = np.ones(len(y), dtype=bool)
        out = flat
        outside = ((flat < lower) | (flat > upper)).any(axis=1)
        if self.quantile is not None:
            if self.mode == "remove":
                keep = ~outside
                out = flat[keep]
            else:
                out = np.clip(flat, lower, upper).astype(np.float32)
        info = {"quantile": self.quantile, "mode": self.mode, "tails": self.tails,
                "lower": lower.tolist(), "upper": upper.tolist(), "outside": int(outside.sum()),
                "removed": int((~keep).sum())}
        return keep, out.reshape((len(out),) + y.shape[1:]), info


def trim_training_set(trim: TailTrim, data: Data, noisy: np.ndarray,
                      clean_mask: Tensor) -> tuple[Data, np.ndarray, Tensor, dict]:
    """Apply ``trim`` to the training set: ``(data, noisy, clean_mask, info)`` after trimming.

    ``clean_mask`` (bool ``(N,)``, target left uncorrupted) is computed by the caller *before*
    trimming, so a clipped clean target still counts as clean.  ``info`` adds the fraction of
    corrupted samples among those kept (``rate_after_trim``): with ``mode=remove`` it is
    usually below the noise rate, and a selection method's ``algorithm.epsilon`` may be set
    to it.  Regression only.
    """
    if data.task != REGRESSION:
        raise ConfigValueError(f"trimming target tails applies to regression targets; dataset {data.name} is a "
                               f"{data.task} task (leave quantile null)", "quantile")
    keep, targets, info = trim.apply(noisy)
    mask = clean_mask
    if not keep.all():
        index = torch.from_numpy(np.flatnonzero(keep))
        data = dataclasses.replace(data, train_x=data.train_x.index_select(0, index),
                                   train_y=data.train_y.index_select(0, index))
        mask = clean_mask.index_select(0, index.to(clean_mask.device))
    info["kept"] = int(keep.sum())
    info["rate_after_trim"] = float(1.0 - mask.float().mean()) if len(mask) else 0.0
    return data, targets, mask, info
