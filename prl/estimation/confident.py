"""Corrupted fraction, transition matrix and per-sample suspicion from confident learning.

Confident learning (Northcutt, Jiang & Chuang, JAIR 2021; the ``cleanlab`` package) counts
the samples whose out-of-sample probability of some class ``j`` exceeds that class's average
self-confidence, giving the *confident joint* of (noisy label, true label); calibrated to the
noisy label counts it estimates the joint distribution ``Q[i, j] = P(noisy = i, true = j)``
(``cleanlab.count.estimate_joint``; rows = noisy label, columns = true label).  Its
off-diagonal mass is the corrupted fraction.

``pred_probs`` must be **out-of-sample**: predicted by a network that was not trained on these
samples (a held-out split, or cross-validation).  A network's probabilities on its own
training samples reproduce the memorised noisy labels and make every estimate ~0.

Matrix convention: :func:`confident_learning_transition` returns OUR row-stochastic
``T[i, j] = P(noisy = j | clean = i)`` (as :mod:`prl.noise`), the transpose of cleanlab's
column-stochastic ``noise_matrix[i, j] = P(given = i | true = j)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from prl.estimation._checks import check_choice, check_labels, check_probs, fail

__all__ = ["CL_METHODS", "RANKING_METHODS", "confident_learning_fraction", "confident_learning_transition",
           "confident_learning_ranking"]

#: ``joint``: off-diagonal mass of ``estimate_joint``; ``num_issues``: ``num_label_issues / n``
CL_METHODS = ("joint", "num_issues")
#: ``cleanlab.rank.get_label_quality_scores`` methods (suspect = 1 - quality)
RANKING_METHODS = ("self_confidence", "normalized_margin", "confidence_weighted_entropy")


def _inputs(pred_probs: Any, noisy_labels: Any) -> tuple[np.ndarray, np.ndarray]:
    p = check_probs("pred_probs", pred_probs)
    labels = check_labels("noisy_labels", noisy_labels, p.shape[1], p.shape[0])
    if p.shape[0] < p.shape[1]:
        raise fail("pred_probs", f"must hold at least as many samples as classes ({p.shape[1]}); got {p.shape[0]}")
    return p, labels


def _joint(p: np.ndarray, labels: np.ndarray) -> np.ndarray:
    from cleanlab.count import estimate_joint

    return estimate_joint(labels, p)


def confident_learning_fraction(pred_probs: Any, noisy_labels: Any, *, method: str = "joint") -> float:
    """Estimated corrupted fraction of a held-out split by confident learning.

    Parameters
    ----------
    pred_probs : array-like or tensor, shape ``(n, C)``
        Out-of-sample class probabilities (softmax outputs, rows sum to 1) of held-out samples.
    noisy_labels : array-like or tensor, shape ``(n,)``
        Their (possibly corrupted) labels in ``[0, C)``.
    method : ``"joint"`` or ``"num_issues"``
        ``joint`` (default): ``1 - trace(Q)`` of ``cleanlab.count.estimate_joint``;
        ``num_issues``: ``cleanlab.count.num_label_issues / n``.

    Returns
    -------
    float in ``[0, 1]``.
    """
    check_choice("method", method, CL_METHODS)
    p, labels = _inputs(pred_probs, noisy_labels)
    if method == "joint":
        return float(np.clip(1.0 - np.trace(_joint(p, labels)), 0.0, 1.0))
    from cleanlab.count import num_label_issues

    return float(num_label_issues(labels, p) / labels.shape[0])


def confident_learning_transition(pred_probs: Any, noisy_labels: Any) -> np.ndarray:
    """Estimated transition matrix in OUR convention, shape ``(C, C)``, row-stochastic:
    ``T[i, j] = P(noisy = j | clean = i)`` (the transpose of cleanlab's noise matrix).

    Derived from the estimated joint ``Q[noisy, true]``: ``T = (Q / Q.sum(axis=0)).T``; a
    class that never appears as a true class gets the identity row.  Inputs as for
    :func:`confident_learning_fraction` (out-of-sample ``pred_probs``).
    """
    p, labels = _inputs(pred_probs, noisy_labels)
    Q = _joint(p, labels)
    col = Q.sum(axis=0)
    T = np.eye(Q.shape[0])
    seen = col > 0
    T[seen] = (Q[:, seen] / col[seen]).T
    return T


def confident_learning_ranking(pred_probs: Any, noisy_labels: Any, *, method: str = "self_confidence") -> np.ndarray:
    """Per-sample suspect score, shape ``(n,)``, in ``[0, 1]``: higher = more likely mislabeled.

    ``1 - cleanlab.rank.get_label_quality_scores(noisy_labels, pred_probs, method=method)``;
    with the default ``self_confidence`` that is ``1 - pred_probs[i, noisy_labels[i]]``.
    Inputs as for :func:`confident_learning_fraction` (out-of-sample ``pred_probs``).
    """
    check_choice("method", method, RANKING_METHODS)
    p, labels = _inputs(pred_probs, noisy_labels)
    from cleanlab.rank import get_label_quality_scores

    return 1.0 - np.asarray(get_label_quality_scores(labels, p, method=method), dtype=np.float64)
