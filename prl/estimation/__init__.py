"""Estimate the corrupted fraction epsilon of a training set while training.

PRL-style methods drop, in every mini-batch, the fraction epsilon of samples with the largest
score; users with real data do not know epsilon.  These functions estimate it from quantities
the training step already has.  Pure functions on numpy arrays (torch tensors accepted) plus
one stateful object for the training loop, :class:`EpsilonEstimator`.

Conventions
-----------
* A *score* or *suspect score* is per sample, higher = more likely corrupted: the PRL-L
  loss-layer gradient norm ``||softmax(z) - onehot(y)||`` in ``[0, sqrt(2)]``, a per-sample
  loss, a regression residual norm ``||f(x) - y||``, or ``1 - label quality``.
* Training-set scores have shape ``(N,)``; NaN marks a sample not scored yet (ignored).
* Held-out inputs: ``pred_probs`` ``(n, C)`` softmax probabilities or ``predictions`` ``(n,)``
  classes of samples the network was NOT trained on, with their noisy labels ``(n,)``.
* Fractions are floats in ``[0, 1]``.  Transition matrices are row-stochastic,
  ``T[i, j] = P(noisy = j | clean = i)`` (as :mod:`prl.noise`; cleanlab's noise matrix is
  the transpose).
* Bad arguments raise :class:`EstimationValueError` (a ``ValueError``) naming the parameter.

Methods and sources
-------------------
* :func:`mixture_fraction`: two-component Gaussian mixture on the training scores, the
  high-mean component's share (DivideMix: Li, Socher & Hoi, ICLR 2020; Arazo et al., ICML
  2019, who fit a beta mixture), with two clean-data tests: Ashman's D (one mode) and, for
  the bounded gradient norm, a high component below ``sqrt(2) / 2`` (a tail, not a mode).
* :func:`agreement_fraction`: ``1 - agreement`` of held-out predictions with noisy labels.
* :func:`anchor_fraction`, :func:`anchor_transition`: the transition matrix read off anchor
  points of held-out probabilities (Patrini et al., CVPR 2017), ``sum_c p(c) (1 - T[c, c])``.
* :func:`confident_learning_fraction`, :func:`confident_learning_transition`,
  :func:`confident_learning_ranking`: confident learning (Northcutt, Jiang & Chuang, JAIR
  2021) via ``cleanlab``.
* :func:`auroc`, :func:`precision_at_k`: ranking quality of suspect scores.
* :class:`EpsilonSmoother`: clipping, exponential smoothing, exact 0.0 for clean data.

See ``docs/estimation.md`` for measurements and the recommended default.
"""

from prl.estimation._checks import EstimationValueError
from prl.estimation.agreement import agreement_fraction, predicted_classes
from prl.estimation.anchor import anchor_fraction, anchor_transition
from prl.estimation.confident import (
    CL_METHODS,
    RANKING_METHODS,
    confident_learning_fraction,
    confident_learning_ranking,
    confident_learning_transition,
)
from prl.estimation.mixture import OUTPUTS, TRANSFORMS, MixtureFit, fit_mixture, mixture_fraction, transform_scores
from prl.estimation.ranking import auroc, precision_at_k
from prl.estimation.smoothing import EpsilonSmoother, smooth

__all__ = [
    "EstimationValueError",
    "EpsilonEstimator",
    "METHODS",
    "mixture_fraction",
    "fit_mixture",
    "MixtureFit",
    "transform_scores",
    "TRANSFORMS",
    "OUTPUTS",
    "agreement_fraction",
    "anchor_fraction",
    "anchor_transition",
    "predicted_classes",
    "confident_learning_fraction",
    "confident_learning_transition",
    "confident_learning_ranking",
    "CL_METHODS",
    "RANKING_METHODS",
    "auroc",
    "precision_at_k",
    "EpsilonSmoother",
    "smooth",
]

_LAZY = ("EpsilonEstimator", "METHODS")  # need torch: imported on first use


def __getattr__(name: str):
    if name in _LAZY:
        from prl.estimation import estimator

        return getattr(estimator, name)
    raise AttributeError(f"module 'prl.estimation' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_LAZY))
