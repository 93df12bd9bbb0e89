"""Keep rules: which samples of a scored batch a selection method steps on.

A rule sees the scores of a batch (lower = more trusted) and returns the batch positions kept,
lowest score first, or ``None`` for all of them.  How many is the rule's own business, decided
at run time: a fixed fraction, a threshold, an estimate.  A rule may hold per-epoch state
(:meth:`KeepRule.start_epoch`), report per-epoch values for ``metrics.jsonl``
(:meth:`KeepRule.record`) and run-level values for ``summary.json`` (:meth:`KeepRule.summary`),
and is saved in the checkpoint (:meth:`KeepRule.state_dict`).
"""

from __future__ import annotations

import logging
import math
from typing import Any, Optional

from torch import Tensor

from prl.errors import ConfigValueError
from prl.estimation.anchor import DEFAULT_PERCENTILE as ANCHOR_PERCENTILE
from prl.losses import RAMPS, epsilon_schedule, num_kept, select_lowest

__all__ = ["KeepRule", "DropFraction", "EstimatedFraction", "check_epsilon", "ESTIMATORS"]


class KeepRule:
    """Base of the keep rules (see the module docstring): keeps everything."""

    #: whether the rule wants every step's per-sample scores (:meth:`observe`)
    observes = False
    #: fraction of the training set to hold out for the rule (:meth:`observe_heldout`); 0: none
    heldout_fraction = 0.0

    def observe(self, scores: Tensor, index: Tensor) -> None:
        """Per step: the per-sample scores of the batch (``(N,)``) at training-set positions ``index``."""

    def observe_heldout(self, probs: Tensor, noisy: Tensor) -> None:
        """Per epoch: the networks' probabilities ``(n, C)`` on the held-out split and its labels ``(n,)``."""

    def end_epoch(self) -> None:
        """Called after the last step of an epoch (and after :meth:`observe_heldout`)."""

    def start_epoch(self, epoch: int) -> None:
        """Called before the first step of (0-based) ``epoch``, also after a resume."""

    def drops(self, n: int) -> bool:
        """Whether a batch of ``n`` samples may lose any this step (False: nothing is scored and
        the step is plain ERM)."""
        return False

    def keep(self, scores: Tensor) -> Optional[Tensor]:
        """Kept positions of ``scores`` ``(N,)``, lowest score first (int64, may be empty), or None: all."""
        return None

    def record(self) -> dict[str, Any]:
        """Per-epoch values for ``metrics.jsonl``."""
        return {}

    def summary(self) -> dict[str, Any]:
        """Run-level values for ``summary.json``."""
        return {}

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


def check_epsilon(epsilon: Any) -> float:
    """``epsilon`` as a float in [0, 1); :class:`ConfigValueError` naming ``epsilon`` otherwise."""
    try:
        value = float(epsilon)
    except (TypeError, ValueError):
        raise ConfigValueError(f"epsilon must be a number in [0, 1) or auto (estimated while training), got "
                               f"{epsilon!r}", "epsilon") from None
    if not 0.0 <= value < 1.0:
        raise ConfigValueError(f"epsilon must be in [0, 1), got {value}", "epsilon")
    return value


class DropFraction(KeepRule):
    """Drop the ``epsilon_t`` fraction with the largest scores: keep ``num_kept(N, epsilon_t)``.

    ``epsilon_t`` follows :func:`prl.losses.epsilon_schedule` (``epsilon``, ``num_gradual``,
    ``exponent``, ``ramp``) from 0 to ``epsilon``: the co-teaching / PRL rule.
    """

    def __init__(self, epsilon: float, num_gradual: int = 10, exponent: float = 1.0, ramp: str = "smooth"):
        self.epsilon = check_epsilon(epsilon)
        if int(num_gradual) < 0:
            raise ConfigValueError(f"num_gradual must be >= 0, got {num_gradual}", "num_gradual")
        self.num_gradual = int(num_gradual)
        self.exponent = float(exponent)
        if self.exponent <= 0:
            raise ConfigValueError(f"exponent must be > 0, got {exponent}", "exponent")
        if ramp not in RAMPS:
            raise ConfigValueError(f"ramp must be one of {', '.join(RAMPS)}, got {ramp!r}", "ramp")
        self.ramp = ramp
        self.epsilon_t = self.at(0)

    def at(self, epoch: int) -> float:
        """The drop fraction of (0-based) ``epoch``."""
        return epsilon_schedule(epoch, self.epsilon, self.num_gradual, self.exponent, self.ramp)

    def start_epoch(self, epoch: int) -> None:
        self.epsilon_t = self.at(epoch)

    def drops(self, n: int) -> bool:
        return num_kept(n, self.epsilon_t) < n

    def keep(self, scores: Tensor) -> Optional[Tensor]:
        n = scores.shape[0]
        k = num_kept(n, self.epsilon_t)
        return select_lowest(scores, k) if k < n else None

    def record(self) -> dict[str, Any]:
        return {"epsilon": self.epsilon_t}

    def summary(self) -> dict[str, Any]:
        return {"epsilon": self.epsilon}


#: ``epsilon=auto``: estimate the corrupted fraction while training (:class:`EstimatedFraction`)
AUTO = "auto"
#: estimators of ``epsilon=auto``
ESTIMATORS = ("mixture", "anchor", "confident", "agreement")
#: ``estimator=null``: the estimator of each task (measured on Fashion-MNIST and the bundled regression
#: sets: README, "Estimating epsilon")
DEFAULT_ESTIMATORS = {"classification": "anchor", "regression": "mixture"}
#: estimators that need a held-out split with noisy labels (classification only)
HELDOUT_ESTIMATORS = ("anchor", "confident", "agreement")
#: the held-out fraction those take when ``heldout_fraction`` is not set
DEFAULT_HELDOUT_FRACTION = 0.05
#: the fewest held-out samples per class the held-out estimators work with; below it, the default
#: estimator of classification falls back to the mixture (an explicit held-out estimator is refused)
MIN_HELDOUT_PER_CLASS = 5
#: the anchor estimate averages the top ANCHOR_SHARE of the held-out split for each class row; with
#: fewer than MIN_ANCHORS samples there it overestimated by +0.27 to +0.31 (digits, 67 held out, 3 seeds)
ANCHOR_SHARE = (100.0 - ANCHOR_PERCENTILE) / 100.0
MIN_ANCHORS = 10


def heldout_needed(estimator: str, num_classes: Optional[int]) -> int:
    """The fewest held-out samples ``estimator`` works with: :data:`MIN_HELDOUT_PER_CLASS` per
    class, and for ``anchor`` :data:`MIN_ANCHORS` in the top :data:`ANCHOR_SHARE` of each class row."""
    needed = MIN_HELDOUT_PER_CLASS * (num_classes or 0)
    if estimator == "anchor":
        needed = max(needed, math.ceil(MIN_ANCHORS / ANCHOR_SHARE))
    return needed


def min_heldout_fraction(estimator: str, num_classes: Optional[int], num_samples: int) -> float:
    """The smallest ``heldout_fraction`` (rounded up to 0.01) that gives ``estimator`` the
    :func:`heldout_needed` samples of a training set of ``num_samples``."""
    return math.ceil(100 * heldout_needed(estimator, num_classes) / num_samples) / 100


#: epochs after which a regression run whose estimate is still 0 says that the mixture may be blind
REGRESSION_WARN_AFTER = 3
#: warm-up epochs of the held-out estimators and of the classification mixture: a near-chance network
#: overestimates (docs/estimation.md)
HELDOUT_WARMUP = 2


def check_estimator(estimator: Optional[str]) -> None:
    """Raise :class:`ConfigValueError` (key ``estimator``) unless ``estimator`` is one of
    :data:`ESTIMATORS` or None (the task's default, :data:`DEFAULT_ESTIMATORS`)."""
    if estimator is not None and estimator not in ESTIMATORS:
        raise ConfigValueError(f"estimator must be one of {', '.join(ESTIMATORS)} (or null: "
                               f"{DEFAULT_ESTIMATORS['classification']} for classification, "
                               f"{DEFAULT_ESTIMATORS['regression']} for regression), got {estimator!r}", "estimator")


class EstimatedFraction(DropFraction):
    """``epsilon=auto``: the fraction of corrupted samples is estimated while training and is the
    target of the ramp, ``epsilon_t = epsilon_schedule(t, target_t, ...)``.

    After every epoch each estimator (:class:`prl.estimation.EpsilonEstimator`) turns what it
    saw into a smoothed estimate: ``mixture`` fits a two-component Gaussian mixture to the
    epoch's per-sample loss-layer gradient norms (the PRL-L score, recorded by every step at no
    extra forward; ``log`` of the residual norm for regression); ``anchor`` (anchor-point
    transition matrix, Patrini et al. 2017), ``confident`` (confident learning, cleanlab) and
    ``agreement`` read the networks' probabilities on a held-out split with noisy labels
    (:attr:`heldout_fraction` of the training set, not trained on; classification only).  The
    mixture always runs, the held-out ones whenever a split exists, so a run logs them side by
    side.  ``estimator`` drives epsilon (None: :data:`DEFAULT_ESTIMATORS` of the task).  The
    target is the running maximum of its estimates (once the selection filters the corrupted
    samples out, the network models the clean labels and the anchor estimate falls; a network
    that memorises the corrupted samples it kept lowers the mixture's), and stays 0 while the
    data looks clean.  A training set too small for the held-out split the estimator needs
    (:func:`heldout_needed`) runs the mixture when ``estimator`` is None, and says why in
    :meth:`summary` (``estimator_fallback``).

    Raises :class:`ConfigValueError` for an unknown ``estimator``, a held-out estimator on a
    regression task or with a held-out split smaller than that, or a ``heldout_fraction``
    outside ``[0, 0.5)``.
    """

    def __init__(self, num_samples: int, task: str, num_classes: Optional[int] = None,
                 estimator: Optional[str] = None, heldout_fraction: Optional[float] = None, num_gradual: int = 10,
                 exponent: float = 1.0, ramp: str = "smooth"):
        super().__init__(0.0, num_gradual, exponent, ramp)
        from prl.estimation import EpsilonEstimator

        check_estimator(estimator)
        self.fallback: Optional[str] = None  # why the task's default estimator was replaced by the mixture
        chosen, estimator = estimator, estimator or DEFAULT_ESTIMATORS[task]
        held = round((DEFAULT_HELDOUT_FRACTION if heldout_fraction is None else float(heldout_fraction)) * num_samples)
        needed = heldout_needed(estimator, num_classes)
        if estimator in HELDOUT_ESTIMATORS and task == "classification" and held < needed:
            message = (f"estimator={estimator} needs a held-out split of at least {needed} samples (at least "
                       f"{MIN_HELDOUT_PER_CLASS} per class" + (f" and {MIN_ANCHORS} anchors per class row, the top "
                                                                 f"{ANCHOR_SHARE:.0%}" if estimator == "anchor" else "")
                       + f"); heldout_fraction would hold out {held} of {num_samples} training samples")
            least = min_heldout_fraction(estimator, num_classes, num_samples)
            remedy = (f"heldout_fraction={least:.2f} or more brings {estimator} back" if least < 0.5 else
                      f"this training set is too small for {estimator} (it would need heldout_fraction={least:.2f}, "
                      f"and at most 0.5 can be held out)")
            if chosen is not None:
                raise ConfigValueError(f"{message}: {remedy}; or use estimator=mixture", "estimator")
            self.fallback = (f"{message}, so the mixture of training scores estimates epsilon and nothing is held out "
                             f"({remedy})")
            logging.getLogger("prl").warning("epsilon=auto: %s", self.fallback)
            estimator, heldout_fraction = "mixture", None
        if estimator in HELDOUT_ESTIMATORS and task != "classification":
            raise ConfigValueError(f"estimator={estimator} needs class labels, but this is a {task} task; use "
                                   f"estimator=mixture", "estimator")
        if heldout_fraction is None:
            heldout_fraction = DEFAULT_HELDOUT_FRACTION if estimator in HELDOUT_ESTIMATORS else 0.0
        if not 0.0 <= float(heldout_fraction) < 0.5:
            raise ConfigValueError(f"heldout_fraction must be in [0, 0.5), got {heldout_fraction}", "heldout_fraction")
        if estimator in HELDOUT_ESTIMATORS and not heldout_fraction:
            raise ConfigValueError(f"estimator={estimator} needs a held-out split: set heldout_fraction > 0 "
                                   f"(e.g. {DEFAULT_HELDOUT_FRACTION})", "heldout_fraction")
        self.estimator = estimator
        self.heldout_fraction = float(heldout_fraction) if task == "classification" else 0.0
        regression = task != "classification"
        # classification: the mixture skips the same warm-up as the held-out estimators (a near-chance
        # network's first epoch read 0.9 on a 640-row CSV with 20% wrong labels, and the running maximum kept it)
        self.estimators = {"mixture": EpsilonEstimator(int(num_samples), "mixture",
                                                       transform="log" if regression else "logit",
                                                       upper=None if regression else math.sqrt(2.0),
                                                       warmup=0 if regression else HELDOUT_WARMUP)}
        if self.heldout_fraction:
            for name in HELDOUT_ESTIMATORS:
                self.estimators[name] = EpsilonEstimator(int(num_samples), name, num_classes=num_classes,
                                                         warmup=HELDOUT_WARMUP)
        self.regression = regression
        self.estimate = 0.0  # the driving estimator's last smoothed estimate
        self.target = 0.0  # running maximum of those: the epsilon the ramp leads to
        self.epsilon = 0.0

    observes = True

    def observe(self, scores: Tensor, index: Tensor) -> None:
        """Per step: the batch's per-sample scores (``(N,)``, higher = more suspect) at ``index``."""
        self.estimators["mixture"].update(scores, index)

    def observe_heldout(self, probs: Tensor, noisy: Tensor) -> None:
        """Per epoch: the networks' probabilities ``(n, C)`` on the held-out split and its labels."""
        for name in HELDOUT_ESTIMATORS:
            if name in self.estimators:
                self.estimators[name].update_heldout(probs, noisy)

    def end_epoch(self) -> None:
        estimates = {name: est.epsilon() for name, est in self.estimators.items()}
        self.estimate = estimates[self.estimator]
        self.target = max(self.target, self.estimate)
        self.epsilon = self.target
        seen = len(self.estimators[self.estimator].history)
        if self.regression and seen == REGRESSION_WARN_AFTER and self.target == 0.0:
            logging.getLogger("prl").warning(
                "epsilon=auto: after %d epochs the residuals show no second mode, so nothing is dropped (epsilon 0). "
                "Right for clean targets; but on the bundled regression sets with 30%% corrupted targets the mixture "
                "reads 0 as well (README, 'Estimating epsilon'): if you suspect corrupted targets, set "
                "algorithm.epsilon", seen)

    def start_epoch(self, epoch: int) -> None:
        self.epsilon_t = epsilon_schedule(epoch, self.target, self.num_gradual, self.exponent, self.ramp)

    def record(self) -> dict[str, Any]:
        out = {"epsilon": self.epsilon_t, "epsilon_estimate": self.estimate, "epsilon_target": self.target}
        for name, est in self.estimators.items():
            if est.history:
                out[f"epsilon_estimate_{name}"] = est.history[-1]["epsilon"]
                out[f"epsilon_estimate_{name}_raw"] = est.history[-1]["raw"]
        return out

    def summary(self) -> dict[str, Any]:
        """``epsilon_estimate_final``: the run's estimate of the corrupted fraction, the target it
        ramped to (the running maximum of the smoothed estimates); ``epsilon_estimate_last``: the
        last smoothed estimate."""
        out = {"epsilon": self.target, "epsilon_estimate_final": self.target, "epsilon_estimate_last": self.estimate,
               "estimator": self.estimator, **({"estimator_fallback": self.fallback} if self.fallback else {})}
        for name, est in self.estimators.items():
            if est.history:
                out[f"epsilon_estimate_{name}_final"] = est.history[-1]["epsilon"]
        return out

    def state_dict(self) -> dict:
        return {"estimate": self.estimate, "target": self.target,
                "estimators": {name: est.state_dict() for name, est in self.estimators.items()}}

    def load_state_dict(self, state: dict) -> None:
        self.estimate, self.target = float(state["estimate"]), float(state["target"])
        self.epsilon = self.target
        for name, est in self.estimators.items():
            est.load_state_dict(state["estimators"][name])
