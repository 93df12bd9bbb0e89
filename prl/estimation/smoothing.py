"""Turn the raw per-epoch estimates into the epsilon a training run uses.

:class:`EpsilonSmoother` applies, in this order, to every raw estimate ``r_t``:

0. the first ``warmup`` estimates return 0.0 and are otherwise ignored (held-out estimators
   see a near-chance network in the first epochs and overestimate; off by default);
1. clip to ``[0, max_fraction]`` (NaN is refused);
2. a running median of the last ``window`` clipped estimates (fewer at the start): one
   outlying epoch does not move epsilon.  Half-trained networks produce such outliers (the
   mixture sees two modes inside the clean scores for an epoch; see ``docs/estimation.md``);
3. exponential smoothing of the medians, ``s_t = alpha * m_t + (1 - alpha) * s_{t-1}``,
   started at the first one (``s_1 = m_1``, no pull towards 0);
4. the clean rule: the returned epsilon is exactly ``0.0`` while ``s_t < zero_below``, else
   ``s_t``.  The mixture estimator already returns exactly 0.0 for one-mode (clean) scores,
   so a clean run stays at 0.0; the dead band also absorbs small spurious estimates (a few
   hard clean samples), for which PRL would only drop clean data.

``max_fraction`` defaults to 0.9: benchmarks go up to 80-90% symmetric noise (DivideMix
reports CIFAR-10 at 90%), so a lower cap (say 0.5) would refuse real settings, while the cap
still keeps a tenth of every batch.  Pair-flip noise is below 0.5 by definition: pass
``max_fraction=0.5`` when you know the noise is of that kind.
"""

from __future__ import annotations

import math
from typing import Any, Optional, Sequence

import numpy as np

from prl.estimation._checks import check_fraction, fail

__all__ = ["EpsilonSmoother", "smooth"]


class EpsilonSmoother:
    """Clip, running median, exponential smoothing, dead band at 0 (see the module docstring).

    Parameters
    ----------
    alpha : float in (0, 1]
        Weight of the newest (median-filtered) estimate; 1 = no exponential smoothing.
    max_fraction : float in (0, 1)
        Upper clip of the raw estimates (and so of the output).
    zero_below : float in [0, max_fraction)
        Smoothed values below this are returned as exactly 0.0.
    window : int >= 1
        Length of the running median; 1 = no median filter.
    warmup : int >= 0
        Number of first updates that return 0.0 and are not folded in.
    """

    def __init__(self, alpha: float = 0.5, max_fraction: float = 0.9, zero_below: float = 0.02, window: int = 3,
                 warmup: int = 0):
        self.alpha = check_fraction("alpha", alpha, 0.0, 1.0, low_open=True)
        self.max_fraction = check_fraction("max_fraction", max_fraction, 0.0, 1.0, low_open=True, high_open=True)
        self.zero_below = check_fraction("zero_below", zero_below, 0.0, self.max_fraction, high_open=True)
        if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 1:
            raise fail("window", f"must be an integer >= 1 (1 = no median filter); got {window!r}")
        self.window = int(window)
        if isinstance(warmup, bool) or not isinstance(warmup, (int, np.integer)) or warmup < 0:
            raise fail("warmup", f"must be an integer >= 0; got {warmup!r}")
        self.warmup = int(warmup)
        #: number of updates so far (warm-up ones included)
        self.count = 0
        #: the smoothed value s_t (before the dead band); None before the first update
        self.value: Optional[float] = None
        #: the last ``window`` clipped raw estimates
        self.recent: list[float] = []

    def update(self, raw: float) -> float:
        """Fold in one raw estimate and return the epsilon to use (a float in ``[0, max_fraction]``)."""
        try:
            r = float(raw)
        except (TypeError, ValueError):
            r = math.nan
        if math.isnan(r):
            raise fail("raw", f"must be a number; got {raw!r}")
        self.count += 1
        if self.count <= self.warmup:
            return self.epsilon
        self.recent = (self.recent + [min(max(r, 0.0), self.max_fraction)])[-self.window:]
        m = float(np.median(self.recent))
        self.value = m if self.value is None else self.alpha * m + (1.0 - self.alpha) * self.value
        return self.epsilon

    @property
    def epsilon(self) -> float:
        """The current epsilon: 0.0 before any update or while in the dead band."""
        if self.value is None or self.value < self.zero_below:
            return 0.0
        return self.value

    def state_dict(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "max_fraction": self.max_fraction, "zero_below": self.zero_below,
                "window": self.window, "warmup": self.warmup, "count": self.count, "value": self.value,
                "recent": list(self.recent)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key in ("alpha", "max_fraction", "zero_below", "window", "warmup"):
            if key in state and state[key] != getattr(self, key):
                raise fail(key, f"the state was saved with {key}={state[key]!r}, "
                                f"this smoother has {getattr(self, key)!r}")
        self.value = None if state.get("value") is None else float(state["value"])
        self.recent = [float(r) for r in state.get("recent", [])]
        self.count = int(state.get("count", 0))


def smooth(raw: Sequence[float], alpha: float = 0.5, max_fraction: float = 0.9, zero_below: float = 0.02,
           window: int = 3, warmup: int = 0) -> list[float]:
    """The epsilons an :class:`EpsilonSmoother` returns for the sequence ``raw``."""
    sm = EpsilonSmoother(alpha, max_fraction, zero_below, window, warmup)
    return [sm.update(r) for r in raw]
