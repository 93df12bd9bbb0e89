"""How well a per-sample suspect score ranks the corrupted samples first.

Convention: a *higher* suspect score means *more likely corrupted* (a PRL-L gradient norm, a
loss, ``1 - label quality``).  Samples whose score is NaN (not scored yet) are left out of
both metrics, together with their flags.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
from sklearn.metrics import roc_auc_score

from prl.estimation._checks import check_1d, fail, to_numpy

__all__ = ["auroc", "precision_at_k"]


def _scored(suspect_scores: Any, is_corrupted: Any) -> tuple[np.ndarray, np.ndarray]:
    s = check_1d("suspect_scores", suspect_scores)
    y = to_numpy(is_corrupted)
    if y.ndim != 1 or y.shape[0] != s.shape[0]:
        raise fail("is_corrupted", f"must have shape ({s.shape[0]},) like suspect_scores; got {tuple(y.shape)}")
    if y.size and not np.isin(y, (0, 1)).all():
        raise fail("is_corrupted", "must hold booleans or 0/1")
    keep = ~np.isnan(s)
    if np.isinf(s[keep]).any():
        raise fail("suspect_scores", "must be finite or NaN (NaN = not scored, left out); got +-inf")
    return s[keep], y[keep].astype(bool)


def auroc(suspect_scores: Any, is_corrupted: Any) -> float:
    """Area under the ROC curve of ``suspect_scores`` for detecting ``is_corrupted``.

    The probability that a random corrupted sample scores higher than a random clean one,
    ties counting one half (``sklearn.metrics.roc_auc_score``).  1 = perfect, 0.5 = chance.

    Parameters
    ----------
    suspect_scores : shape ``(N,)``, higher = more suspect; NaN entries are left out.
    is_corrupted : shape ``(N,)``, bool or 0/1.

    Raises ``ValueError`` when the scored samples are all corrupted or all clean.
    """
    s, y = _scored(suspect_scores, is_corrupted)
    if y.all() or not y.any():
        raise fail("is_corrupted", f"AUROC needs both corrupted and clean samples among the scored ones; "
                                   f"got {int(y.sum())} corrupted of {y.size}")
    return float(roc_auc_score(y, s))


def precision_at_k(suspect_scores: Any, is_corrupted: Any, k: Optional[int] = None) -> float:
    """Fraction of corrupted samples among the ``k`` highest suspect scores.

    Ties are broken by index: among equal scores the lower position is ranked first.

    Parameters
    ----------
    suspect_scores : shape ``(N,)``, higher = more suspect; NaN entries are left out.
    is_corrupted : shape ``(N,)``, bool or 0/1.
    k : int in ``[1, number scored]``, default the number of corrupted scored samples (then
        precision@k equals recall@k, the "R-precision").
    """
    s, y = _scored(suspect_scores, is_corrupted)
    if k is None:
        k = int(y.sum())
        if k == 0:
            raise fail("k", "defaults to the number of corrupted samples, but there are none among the scored ones")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= s.size:
        raise fail("k", f"must be an integer in [1, {s.size}] (the number of scored samples); got {k!r}")
    top = np.argsort(-s, kind="stable")[:k]
    return float(y[top].mean())
