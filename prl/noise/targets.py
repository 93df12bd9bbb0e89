"""Corruptions of regression targets (``noise=target-*``), each an object with its own seed.

Every corruption picks *exactly* ``round(rate * N)`` training samples uniformly without
replacement with ``numpy.random.RandomState(seed)`` (so ``rate`` is the exact corrupted
fraction up to rounding, and the expected one), sorts their indices, then draws the new values
for those samples, in index order, from the same random stream.  The other targets are left
bit-for-bit unchanged, which is how the runner's clean mask (``noisy == clean``) finds them.
A sample with a vector target is corrupted in every output dimension.  Statistics
("range", "std") are those of the *clean training* targets passed to ``apply``, per output
dimension.  The noise seed is independent of the training seed.

* :class:`RandomTargets` -- replace by ``Uniform(min, max)`` of the clean targets, or by
  ``Normal(mean, std)`` (``distribution=gaussian``).
* :class:`HeavyTailedTargets` -- add ``scale * std * T``, ``T ~ Student-t(df)``; ``df=1`` is
  the Cauchy distribution.
* :class:`LinearAdversary` -- replace by ``a(x) = w . x + b`` with one fixed random direction
  ``w`` per output dimension, rescaled so that ``a`` over the training inputs has the clean
  targets' mean and std: plausible values that follow a consistent but wrong rule.
* :class:`ConstantShift` -- add ``shift * std``.
* :class:`CleanTargets` -- nothing (the regression counterpart of ``noise=clean``).
"""

from __future__ import annotations

from typing import Optional

import numpy as np
from torch import Tensor

from prl.errors import ConfigValueError
from prl.noise.base import Corruption, check_rate

__all__ = ["TargetNoise", "CleanTargets", "RandomTargets", "HeavyTailedTargets", "LinearAdversary", "ConstantShift"]

REGRESSION = "regression"



class TargetNoise(Corruption):
    """Base of the target corruptions: picks the corrupted samples, subclasses fill them in.

    ``apply(targets, inputs)`` takes the clean training targets, float ``(N,)`` or ``(N, D)``,
    and returns a float32 array of the same shape.  Exactly ``round(rate * N)`` samples are
    corrupted, chosen uniformly without replacement by ``RandomState(seed)``; their indices are
    sorted, and :meth:`corrupt` draws their new values from the same stream.
    """

    task = REGRESSION
    #: the ``type`` reported by :meth:`describe` (the config name)
    kind = "target-noise"
    rate: float
    seed: int

    def __init__(self, rate: float = 0.0, seed: int = 0):
        self.rate = check_rate(rate)
        self.seed = int(seed)

    def corrupt(self, rng: np.random.RandomState, targets: np.ndarray, index: np.ndarray,
                inputs: Optional[np.ndarray]) -> np.ndarray:
        """New values ``(len(index), D)`` for the rows ``index`` of ``targets`` ``(N, D)``."""
        raise NotImplementedError

    def needs_inputs(self) -> bool:
        return False

    def chosen(self, n: int, rng: np.random.RandomState) -> np.ndarray:
        """The sorted indices of the ``round(rate * n)`` corrupted samples (draws from ``rng``)."""
        k = int(round(self.rate * n))
        return np.sort(rng.choice(n, size=k, replace=False)) if k else np.zeros(0, dtype=np.int64)

    def expected_corruption(self, clean, num_classes=None) -> float:
        """``rate``: exactly ``round(rate * N)`` targets are corrupted (so ``rate`` up to rounding)."""
        return self.rate

    def apply(self, targets, num_classes: Optional[int] = None, inputs=None, dataset: Optional[str] = None) -> np.ndarray:
        """Noisy copy of the clean training ``targets`` ``(N,)`` or ``(N, D)``; ``inputs`` ``(N, ...)``
        only for input-based noise; ``num_classes`` is unused (the signature of every corruption)."""
        self.check_dataset(dataset)
        clean = np.asarray(targets, dtype=np.float32)
        if clean.ndim not in (1, 2):
            raise ValueError(f"regression targets must have shape (N,) or (N, D), got {clean.shape}")
        flat = clean.reshape(len(clean), -1)
        noisy = flat.copy()
        rng = np.random.RandomState(self.seed)
        index = self.chosen(len(flat), rng)
        x = None
        if self.needs_inputs():
            if inputs is None:
                raise ValueError(f"noise {self.kind} needs the training inputs: apply(targets, inputs=train_x)")
            x = inputs.numpy() if isinstance(inputs, Tensor) else np.asarray(inputs)
            x = x.reshape(len(flat), -1)
        if len(index):
            noisy[index] = self.corrupt(rng, flat.astype(np.float64), index, x).astype(np.float32)
        return noisy.reshape(clean.shape)

    def describe(self) -> dict:
        return {"type": self.kind, "rate": self.rate, "seed": self.seed}


class CleanTargets(TargetNoise):
    """No corruption of regression targets (``noise=target-clean``)."""

    kind = "target-clean"

    def __init__(self, rate: float = 0.0, seed: int = 0):
        if rate:
            raise ConfigValueError(f"rate must be 0 for clean targets, got {rate}; pick a noise=target-* "
                                   f"corruption to corrupt them", "rate")
        super().__init__(0.0, seed)


class RandomTargets(TargetNoise):
    """Replace the chosen targets by random values unrelated to the input.

    ``distribution=uniform``: ``Uniform(min_d, max_d)`` with the range of the clean training
    targets in each output dimension ``d``.  ``distribution=gaussian``: ``Normal(mean_d,
    std_d)`` with their mean and standard deviation.  Dimensions are drawn independently.
    """

    kind = "target-random"
    DISTRIBUTIONS = ("uniform", "gaussian")

    def __init__(self, rate: float = 0.3, seed: int = 0, distribution: str = "uniform"):
        super().__init__(rate, seed)
        if distribution not in self.DISTRIBUTIONS:
            raise ConfigValueError(f"distribution must be one of {', '.join(self.DISTRIBUTIONS)}, got "
                                   f"{distribution!r}", "distribution")
        self.distribution = distribution

    def corrupt(self, rng, targets, index, inputs):
        size = (len(index), targets.shape[1])
        if self.distribution == "uniform":
            return rng.uniform(targets.min(axis=0), targets.max(axis=0), size=size)
        return rng.normal(targets.mean(axis=0), targets.std(axis=0), size=size)

    def describe(self) -> dict:
        return {**super().describe(), "distribution": self.distribution}


class HeavyTailedTargets(TargetNoise):
    """Add heavy-tailed noise: ``y + scale * std_d * T`` with ``T ~ Student-t(df)``.

    ``std_d`` is the clean training targets' standard deviation in output dimension ``d``
    (1 for z-scored targets).  ``df=1`` is the standard Cauchy distribution (no mean, no
    variance); larger ``df`` has lighter tails (``df > 2``: variance ``df / (df - 2)``).
    """

    kind = "target-heavy-tailed"

    def __init__(self, rate: float = 0.3, seed: int = 0, df: float = 1.0, scale: float = 1.0):
        super().__init__(rate, seed)
        if not float(df) > 0:
            raise ConfigValueError(f"df must be > 0 (1 = Cauchy), got {df}", "df")
        if not float(scale) > 0:
            raise ConfigValueError(f"scale must be > 0 (target std units), got {scale}", "scale")
        self.df, self.scale = float(df), float(scale)

    def corrupt(self, rng, targets, index, inputs):
        noise = rng.standard_t(self.df, size=(len(index), targets.shape[1]))
        return targets[index] + self.scale * targets.std(axis=0) * noise

    def describe(self) -> dict:
        return {**super().describe(), "df": self.df, "scale": self.scale}


class LinearAdversary(TargetNoise):
    """Replace the chosen targets by a fixed random linear function of the inputs.

    After choosing the samples, one direction ``w_d ~ Normal(0, I)`` over the flattened inputs
    is drawn per output dimension ``d`` (shape ``(D_in, D)``).  The projections
    ``p = x . w_d`` of *all* training inputs are standardised and mapped to the clean
    targets' mean and std, ``a_d(x) = mean_d + std_d * (p - mean(p)) / std(p)``, and the
    chosen samples get ``a(x)``.  The corrupted values are in range and consistent with each
    other (a learnable wrong rule), which range checks and small-loss rules do not catch easily.
    """

    kind = "target-linear"

    def needs_inputs(self) -> bool:
        return True

    def corrupt(self, rng, targets, index, inputs):
        x = inputs.astype(np.float64)
        w = rng.standard_normal(size=(x.shape[1], targets.shape[1]))
        p = x @ w
        p_std = p.std(axis=0)
        p = (p - p.mean(axis=0)) / np.where(p_std > 0, p_std, 1.0)
        return targets.mean(axis=0) + targets.std(axis=0) * p[index]


class ConstantShift(TargetNoise):
    """Add a constant: ``y + shift * std_d`` (``std_d``: the clean targets' std per dimension)."""

    kind = "target-shift"

    def __init__(self, rate: float = 0.3, seed: int = 0, shift: float = 2.0):
        super().__init__(rate, seed)
        if not np.isfinite(float(shift)) or float(shift) == 0.0:
            raise ConfigValueError(f"shift must be a non-zero number (target std units), got {shift}", "shift")
        self.shift = float(shift)

    def corrupt(self, rng, targets, index, inputs):
        return targets[index] + self.shift * targets.std(axis=0)

    def describe(self) -> dict:
        return {**super().describe(), "shift": self.shift}
