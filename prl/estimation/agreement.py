"""Corrupted fraction from the disagreement between a network and the noisy labels of a
held-out split.

Assumption: on a held-out split (samples the network was *not* trained on, so it cannot have
memorised their labels) the network predicts the clean class.  Then a sample agrees with its
noisy label exactly when the label is clean, and ``1 - agreement`` is the corrupted fraction.

Bias when the network is not perfect.  Let ``a`` be its accuracy against the *clean* labels
of the split, ``eps`` the corrupted fraction and ``c`` the probability that a wrong
prediction of a corrupted sample lands on its (wrong) noisy label (``1 / (C - 1)`` for
uniform errors under symmetric noise, up to 1 for pair-flip noise when the network confuses
exactly the flipped pairs).  Then, if errors are independent of the corruption::

    E[1 - agreement] = eps + (1 - a) * (1 - eps) - eps * (1 - a) * c

so the estimate is too high by about ``(1 - a) * (1 - eps)`` (the network's own errors on
clean samples count as corruption; on clean data it returns the error rate ``1 - a``, never
0), slightly offset by the chance matches.  It is an upper bound in practice; use it with a
network whose held-out accuracy is high, or prefer :mod:`prl.estimation.confident`, which
corrects for per-class confusions.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from prl.estimation._checks import check_labels, fail, to_numpy

__all__ = ["predicted_classes", "agreement_fraction"]


def predicted_classes(predictions: Any, num_classes: int) -> np.ndarray:
    """``(n,)`` int64 classes from ``(n,)`` predicted classes or ``(n, num_classes)`` scores
    (probabilities or logits: the arg-max is taken, ties to the lowest class)."""
    if not isinstance(num_classes, (int, np.integer)) or isinstance(num_classes, bool) or num_classes < 2:
        raise fail("num_classes", f"must be an integer >= 2; got {num_classes!r}")
    p = to_numpy(predictions)
    if p.ndim == 2:
        if p.shape[1] != num_classes:
            raise fail("predictions", f"must have shape (n,) or (n, num_classes={num_classes}); got {tuple(p.shape)}")
        if p.size and not np.all(np.isfinite(p)):
            raise fail("predictions", "must be finite")
        return np.argmax(p, axis=1).astype(np.int64)
    if p.ndim != 1:
        raise fail("predictions", f"must have shape (n,) or (n, num_classes={num_classes}); got {tuple(p.shape)}")
    return check_labels("predictions", p, num_classes, p.shape[0])


def agreement_fraction(predictions: Any, noisy_labels: Any, num_classes: int) -> float:
    """``1 - mean(predicted class == noisy label)`` on a held-out split.

    Parameters
    ----------
    predictions : array-like or tensor, shape ``(n,)`` (classes) or ``(n, num_classes)``
        The network's predictions on held-out samples it was not trained on; with scores
        (probabilities or logits) the arg-max is the predicted class.
    noisy_labels : array-like or tensor, shape ``(n,)``
        The (possibly corrupted) labels of the same samples, in ``[0, num_classes)``.
    num_classes : int
        Number of classes ``C >= 2``.

    Returns
    -------
    float in ``[0, 1]``: the estimated corrupted fraction.  Biased upwards by about
    ``(1 - accuracy) * (1 - eps)`` for an imperfect network (see the module docstring).
    """
    pred = predicted_classes(predictions, num_classes)
    labels = check_labels("noisy_labels", noisy_labels, num_classes, pred.shape[0])
    if pred.size == 0:
        raise fail("predictions", "must hold at least one sample; got 0")
    return float(1.0 - np.mean(pred == labels))
