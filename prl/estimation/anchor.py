"""Corrupted fraction from the transition matrix read off anchor points (Patrini et al., "Making
deep neural networks robust to label noise: a loss correction approach", CVPR 2017; Xia et al.,
NeurIPS 2019).

A network trained on noisy labels estimates ``p(noisy = j | x)``.  An *anchor* of class ``i`` is
a sample that surely belongs to class ``i``; there ``p(noisy = j | x) = T[i, j]``, the row of the
transition matrix.  The samples the network finds most typical of label ``i`` (the highest
``p(noisy = i | x)``) stand in for the anchors: row ``i`` of the estimate is the mean predicted
distribution of the top ``100 - percentile`` % of them (Patrini takes the single sample at the
97th percentile; the mean of the top 3% is steadier on a few thousand held-out samples).  The
expected corrupted fraction is then ``sum_c p(c) * (1 - T[c, c])`` with ``p`` the label
frequencies of the split.

Use held-out probabilities (the network must not have memorised the labels of the samples it
is read on), from a network that models the *noisy* labels: once a selection method filters the
corrupted samples out, the network models the clean labels and the estimate falls towards 0 (a
training loop should keep the estimate it reached before filtering took hold, as
:class:`prl.algorithms.keep.EstimatedFraction` does with its running maximum).  A near-chance
network overestimates (its most confident samples are not yet typical).

Conventions: ``T`` is row-stochastic, ``T[i, j] = P(noisy = j | clean = i)`` (as
:mod:`prl.noise`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from prl.estimation._checks import check_fraction, check_labels, fail, to_numpy

__all__ = ["anchor_transition", "anchor_fraction", "DEFAULT_PERCENTILE"]

#: each class row averages the held-out samples at or above this percentile of that class's probability
DEFAULT_PERCENTILE = 97.0


def _probabilities(pred_probs: Any) -> np.ndarray:
    p = to_numpy(pred_probs).astype(np.float64)
    if p.ndim != 2 or p.shape[1] < 2 or p.shape[0] == 0:
        raise fail("pred_probs", f"must have shape (n, num_classes) with n >= 1 and num_classes >= 2; "
                                 f"got {tuple(p.shape)}")
    if not np.all(np.isfinite(p)) or (p < 0).any():
        raise fail("pred_probs", "must hold finite probabilities >= 0")
    return p / p.sum(axis=1, keepdims=True)


def anchor_transition(pred_probs: Any, percentile: float = DEFAULT_PERCENTILE) -> np.ndarray:
    """The estimated transition matrix ``(C, C)``, rows summing to 1 (our convention).

    ``pred_probs``: ``(n, C)`` held-out probabilities of a network trained on the noisy labels.
    Row ``i``: the mean of ``pred_probs`` over the samples whose ``pred_probs[:, i]`` is at or above
    its ``percentile``-th percentile.
    """
    p = _probabilities(pred_probs)
    percentile = check_fraction("percentile", percentile, 0.0, 100.0, high_open=True)
    T = np.empty((p.shape[1], p.shape[1]))
    for i in range(p.shape[1]):
        col = p[:, i]
        T[i] = p[col >= np.percentile(col, percentile)].mean(axis=0)
    return T


def anchor_fraction(pred_probs: Any, noisy_labels: Any, percentile: float = DEFAULT_PERCENTILE) -> float:
    """``sum_c p(c) * (1 - T[c, c])``: the expected corrupted fraction under the anchor estimate
    :func:`anchor_transition` of ``T``, ``p`` the label frequencies of ``noisy_labels`` ``(n,)``."""
    p = _probabilities(pred_probs)
    labels = check_labels("noisy_labels", noisy_labels, p.shape[1], p.shape[0])
    T = anchor_transition(p, percentile)
    freq = np.bincount(labels, minlength=p.shape[1])[: p.shape[1]] / len(labels)
    return float(np.clip(np.dot(freq, 1.0 - np.diag(T)), 0.0, 1.0))
