"""Keep rules: which samples of a scored batch a selection method steps on.

A rule sees the scores of a batch (lower = more trusted) and returns the batch positions kept,
lowest score first, or ``None`` for all of them.  How many is the rule's own business, decided
at run time: a fixed fraction, a threshold, an estimate.  A rule may hold per-epoch state
(:meth:`KeepRule.start_epoch`), report per-epoch values for ``metrics.jsonl``
(:meth:`KeepRule.record`) and run-level values for ``summary.json`` (:meth:`KeepRule.summary`),
and is saved in the checkpoint (:meth:`KeepRule.state_dict`).
"""

from __future__ import annotations

from typing import Any, Optional

from torch import Tensor

from prl.errors import ConfigValueError
from prl.losses import RAMPS, epsilon_schedule, num_kept, select_lowest

__all__ = ["KeepRule", "DropFraction", "check_epsilon"]


class KeepRule:
    """Base of the keep rules (see the module docstring): keeps everything."""

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
        raise ConfigValueError(f"epsilon must be a number in [0, 1), got {epsilon!r}", "epsilon") from None
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
