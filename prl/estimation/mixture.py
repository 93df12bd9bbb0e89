"""Corrupted fraction from a two-component Gaussian mixture on per-sample scores.

Corrupted samples that the network has not memorised have large scores (PRL-L gradient norm,
cross-entropy, regression residual), clean ones small scores, so the score histogram of the
training set is bimodal.  A two-component Gaussian mixture is fitted to (a transform of) the
scores and the corrupted fraction is read from the component with the larger mean: DivideMix
(Li et al., ICLR 2020) fits a GMM to min-max normalised losses; Arazo et al. (ICML 2019)
fit a beta mixture.  Here the mixture is :class:`sklearn.mixture.GaussianMixture`.

Conventions
-----------
* ``scores``: shape ``(N,)``, one score per training sample, higher = more suspect; NaN marks
  a sample not scored yet and is ignored.  Any other value must be finite (and ``>= 0`` for
  the ``log`` / ``logit`` transforms, ``<= upper`` for ``logit``).
* The transformed scores are standardised (zero mean, unit variance) before the fit, so the
  result does not depend on the units of the scores; ``raw`` and ``minmax`` (DivideMix's
  normalisation) therefore give the same fit.
* One mode is not split in two: when the two fitted components overlap so much that their
  mixture is not bimodal, the data is called clean and the fraction is exactly ``0.0``.  The
  test is Ashman's D = ``sqrt(2) |mu_1 - mu_2| / sqrt(s_1^2 + s_2^2)`` (Ashman, Bird & Zepf,
  AJ 1994): D > 2 is needed for a clean separation (two equal-variance Gaussians with
  ``D <= 2`` make a single-peaked density).  ``min_separation`` sets the threshold.  For the
  bounded classification score a second test applies: the high component must sit above
  ``upper / 2`` (``min_high_score``), where the network gives the label less than half its
  probability; otherwise it is a tail of the clean mode (an over-confident network spreads
  its clean scores over many decades, 1e-12 to 1e-3, and the logit turns that into two
  "modes").
* Defaults, chosen by measurement (``docs/estimation.md``, ``python -m
  bench.estimation``): ``logit`` with ``upper=sqrt(2)`` for the classification gradient
  norm, ``log`` for cross-entropy losses and regression residual norms (the transforms under
  which the clean mode is closest to a Gaussian), and the ``posterior`` output.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Optional

import numpy as np
from sklearn.mixture import GaussianMixture

from prl.estimation._checks import check_1d, check_choice, fail

__all__ = ["TRANSFORMS", "OUTPUTS", "MixtureFit", "fit_mixture", "mixture_fraction", "transform_scores"]

#: score transforms: ``raw`` (none), ``minmax`` (to [0, 1], as DivideMix), ``log`` (natural log,
#: for unbounded scores: losses, residual norms), ``logit`` (``log(u / (1 - u))`` of
#: ``u = score / upper``, for bounded scores: the classification gradient norm, upper=sqrt(2))
TRANSFORMS = ("raw", "minmax", "log", "logit")
#: what is returned: ``posterior`` (fraction of samples whose posterior of the high-mean
#: component exceeds 0.5) or ``weight`` (the mixing weight of that component)
OUTPUTS = ("posterior", "weight")
#: ``logit`` clips ``u = score / upper`` at ``1 - _TOP``: float32 scores resolve ``upper`` to
#: about 1e-7, so every confidently wrong prediction lands on the same value anyway
_TOP = 1e-7
#: a second EM start besides sklearn's k-means one: means at these percentiles of the scores.
#: From k-means, EM can stop in a local optimum that splits the clean mode while a small
#: corrupted mode sits in the upper tail (measured: 1 of 5 seeds at 10% symmetric noise); the
#: start in the upper tail finds the better optimum, and the fit of higher likelihood is kept.
#: (A start in the lower tail was tried and dropped: it wins on 1-D regression residuals by
#: splitting the long lower tail of log|N(0, s^2)|.)  Sklearn's default tol=1e-3 stops EM on
#: the flat likelihood of overlapping modes before it converges, hence tol=1e-5.
_START_PERCENTILES = ((50.0, 99.0),)


def _zeros_to_min_positive(s: np.ndarray) -> np.ndarray:
    """Exact zeros (exp underflow) replaced by the smallest positive value, so that the log
    neither is -inf nor puts them far from the rest of the scores.  No other floor: a floor
    above the smallest scores piles the most confident samples into a spike that one
    component fits alone (measured: an over-confident network on clean data then gave 0.74)."""
    pos = s[s > 0]
    return np.where(s > 0, s, pos.min() if pos.size else 1.0)


def transform_scores(scores: np.ndarray, transform: str, upper: Optional[float] = None) -> np.ndarray:
    """The transformed finite scores, shape ``(n,)`` (see :data:`TRANSFORMS`)."""
    check_choice("transform", transform, TRANSFORMS)
    s = np.asarray(scores, dtype=np.float64)
    if transform == "raw":
        return s
    if transform == "minmax":
        span = s.max() - s.min() if s.size else 0.0
        return (s - s.min()) / span if span > 0 else np.zeros_like(s)
    if s.size and s.min() < 0:
        raise fail("scores", f"must be >= 0 for transform={transform!r}; got min {s.min():.4g}")
    if transform == "log":
        return np.log(_zeros_to_min_positive(s))
    if upper is None or not (float(upper) > 0 and math.isfinite(float(upper))):
        raise fail("upper", f"must be a positive number (the largest possible score, e.g. sqrt(2) for "
                            f"the classification gradient norm) for transform='logit'; got {upper!r}")
    if s.size and s.max() > upper * (1 + 1e-6):
        raise fail("scores", f"must be <= upper={upper:.6g} for transform='logit'; got max {s.max():.6g}")
    u = np.minimum(_zeros_to_min_positive(s / upper), 1.0 - _TOP)
    return np.log(u) - np.log1p(-u)


def _to_score_units(v: float, transform: str, upper: Optional[float], x: np.ndarray) -> float:
    """The inverse of :func:`transform_scores` for one value (``x``: the untransformed scores)."""
    if transform == "minmax":
        return float(x.min() + v * (x.max() - x.min()))
    if transform == "log":
        return float(math.exp(v))
    if transform == "logit":
        return float(upper / (1.0 + math.exp(-v)))
    return float(v)


@dataclass(frozen=True)
class MixtureFit:
    """One two-component fit.  Means and standard deviations are in the *transformed* and
    standardised score space, component 0 = low mean (clean), 1 = high mean (corrupted)."""

    #: the returned corrupted fraction (0.0 when ``clean``)
    fraction: float
    #: mixing weight of the high-mean component
    weight: float
    #: fraction of the scored samples whose posterior of the high-mean component exceeds 0.5
    posterior: float
    #: Ashman's D of the two components
    separation: float
    #: the high-mean component's centre in score units (its mean, transformed back)
    high_center: float
    means: tuple[float, float]
    stds: tuple[float, float]
    #: finite scores used (NaN ignored), and whether the data was called clean (one mode)
    num_scored: int
    clean: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _clean_fit(n: int) -> MixtureFit:
    nan = float("nan")
    return MixtureFit(0.0, 0.0, 0.0, 0.0, nan, (nan, nan), (nan, nan), n, True)


def _best_fit(z: np.ndarray, **kwargs: Any) -> GaussianMixture:
    """The fit of highest likelihood among EM runs started from k-means and from the
    :data:`_START_PERCENTILES` of ``z`` (shape ``(n, 1)``)."""
    # 1-D: "diag" is the same model as "full", and faster in sklearn
    fits = [GaussianMixture(2, covariance_type="diag", **kwargs).fit(z)]
    for q in _START_PERCENTILES:
        means = np.percentile(z, q)[:, None]
        fits.append(GaussianMixture(2, covariance_type="diag", means_init=means, **kwargs).fit(z))
    return max(fits, key=lambda g: g.score(z))  # first wins ties: deterministic


def fit_mixture(scores: Any, *, transform: str = "logit", upper: Optional[float] = math.sqrt(2.0),
                output: str = "posterior", min_separation: float = 2.0, min_high_score: Optional[float] = None,
                max_samples: Optional[int] = 10000, n_init: int = 1, random_state: int = 0,
                min_samples: int = 50, tol: float = 1e-5, max_iter: int = 1000) -> MixtureFit:
    """Fit a two-component Gaussian mixture to ``scores`` and report the high-mean component.

    Parameters: see :func:`mixture_fraction`.  Returns a :class:`MixtureFit`.
    """
    x = check_1d("scores", scores)
    check_choice("output", output, OUTPUTS)
    if n_init < 1:
        raise fail("n_init", f"must be an integer >= 1; got {n_init!r}")
    if max_samples is not None and max_samples < min_samples:
        raise fail("max_samples", f"must be None or an integer >= min_samples={min_samples}; got {max_samples!r}")
    if not min_separation >= 0:
        raise fail("min_separation", f"must be a number >= 0 (Ashman's D; 0 disables the clean test); "
                                     f"got {min_separation!r}")
    finite = isinstance(min_high_score, (int, float)) and math.isfinite(min_high_score)
    if min_high_score is not None and not finite:
        raise fail("min_high_score", f"must be None or a finite score; got {min_high_score!r}")
    x = x[~np.isnan(x)]
    if not np.all(np.isfinite(x)):
        raise fail("scores", "must be finite or NaN (NaN = not scored yet); got +-inf")
    z = transform_scores(x, transform, upper)
    if z.size < min_samples or np.ptp(z) == 0:
        return _clean_fit(int(x.size))
    loc, scale = z.mean(), z.std()
    z = (z - loc) / scale
    rng = np.random.default_rng(random_state)
    fit_on = z if max_samples is None or z.size <= max_samples else rng.choice(z, max_samples, replace=False)
    gmm = _best_fit(fit_on[:, None], n_init=n_init, random_state=random_state, tol=tol, max_iter=max_iter)
    order = np.argsort(gmm.means_.ravel())
    mu = gmm.means_.ravel()[order]
    sd = np.sqrt(gmm.covariances_.ravel()[order])
    weight = float(gmm.weights_[order[1]])
    posterior = float((gmm.predict_proba(z[:, None])[:, order[1]] > 0.5).mean())
    separation = float(math.sqrt(2.0) * (mu[1] - mu[0]) / math.sqrt(sd[0] ** 2 + sd[1] ** 2))
    high_center = _to_score_units(mu[1] * scale + loc, transform, upper, x)
    if min_high_score is None:
        min_high_score = upper / 2.0 if transform == "logit" else -math.inf
    clean = separation <= min_separation or high_center <= min_high_score
    fraction = 0.0 if clean else (posterior if output == "posterior" else weight)
    return MixtureFit(fraction, weight, posterior, separation, high_center, (float(mu[0]), float(mu[1])),
                      (float(sd[0]), float(sd[1])), int(x.size), bool(clean))


def mixture_fraction(scores: Any, *, transform: str = "logit", upper: Optional[float] = math.sqrt(2.0),
                     output: str = "posterior", min_separation: float = 2.0,
                     min_high_score: Optional[float] = None, max_samples: Optional[int] = 10000,
                     n_init: int = 1, random_state: int = 0, min_samples: int = 50, tol: float = 1e-5,
                     max_iter: int = 1000) -> float:
    """Estimated corrupted fraction of a training set from its per-sample scores.

    Fits :class:`sklearn.mixture.GaussianMixture` with two components to the transformed,
    standardised scores (DivideMix, Li et al. ICLR 2020; Arazo et al. ICML 2019) and returns
    the share of the component with the larger mean, or ``0.0`` when the data looks clean:
    the two components are not separated (one mode), or the high one is not high enough.

    Parameters
    ----------
    scores : array-like or tensor, shape ``(N,)``
        One score per training sample, higher = more suspect; NaN = not scored (ignored).
    transform : one of :data:`TRANSFORMS`
        ``logit`` (default) with ``upper=sqrt(2)`` for the classification loss-layer gradient
        norm ``||softmax(z) - onehot(y)||``; ``log`` (and ``upper`` unused) for unbounded
        scores: cross-entropy losses, regression residual norms.
    upper : float
        The largest possible score, used by ``logit`` only.
    output : ``"posterior"`` or ``"weight"``
        Fraction of samples whose posterior of the high-mean component exceeds 0.5
        (default), or that component's mixing weight.
    min_separation : float
        Ashman's D at or below which the data is called clean and ``0.0`` returned; 0 never.
    min_high_score : float or None
        The data is also called clean when the high-mean component's centre (its mean,
        transformed back to score units) is at or below this score.  ``None``: ``upper / 2``
        with ``logit`` (a score above ``sqrt(2) / 2`` needs ``p(label) < 0.5``: a corrupted
        mode is one where the network disagrees with the labels, not a tail of clean samples
        fitted to 1e-5 instead of 1e-9), no check with the other transforms.
    max_samples : int or None
        The mixture is fitted on at most this many scores (a seeded subsample without
        replacement); the posteriors are then evaluated on all of them.  ``None``: all.
    n_init, random_state, tol, max_iter
        Passed to ``GaussianMixture`` (``n_init``: restarts of its k-means start).  Besides
        the k-means start, EM also starts from means at the 50th and 99th percentiles of the
        scores, and the fit of higher likelihood is kept.  The result is deterministic
        for a fixed input.
    min_samples : int
        Fewer scored samples than this give ``0.0``.

    Returns
    -------
    float in ``[0, 1]``: the estimated fraction of corrupted samples among the scored ones.
    """
    return fit_mixture(scores, transform=transform, upper=upper, output=output, min_separation=min_separation,
                       min_high_score=min_high_score, max_samples=max_samples, n_init=n_init,
                       random_state=random_state, min_samples=min_samples, tol=tol, max_iter=max_iter).fraction
