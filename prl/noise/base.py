"""What every corruption has: the task it corrupts, the datasets it is defined for, its
expected corrupted fraction, and a description for ``summary.json``."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from prl.errors import ConfigValueError

__all__ = ["Corruption", "AsGiven", "check_rate"]


def check_rate(rate: Any) -> float:
    """``rate`` as a float in [0, 1); :class:`ConfigValueError` naming ``rate`` otherwise."""
    try:
        rate = float(rate)
    except (TypeError, ValueError):
        raise ConfigValueError(f"rate must be a number in [0, 1), got {rate!r}", "rate") from None
    if not (0.0 <= rate < 1.0):
        raise ConfigValueError(f"rate must be in [0, 1), got {rate}", "rate")
    return rate


class Corruption:
    """Base of every noise object (``noise=<option>``).

    * ``task``: ``"classification"`` (class labels) or ``"regression"`` (float targets).
    * :meth:`check_dataset` refuses a dataset the corruption is not defined for (a class map of
      CIFAR-10 on digits, a CIFAR-10N label file on CIFAR-100); by default any dataset.
    * :meth:`expected_corruption`: the fraction of training samples the corruption is expected
      to change, from the noise model alone (no look at which samples it changed), or ``None``
      when the model does not say (a label file).  It is the default ``algorithm.epsilon``.
    """

    task = "classification"

    def check_dataset(self, dataset: Optional[str]) -> None:
        """Raise :class:`ConfigValueError` when this corruption is not defined for ``dataset``
        (a :attr:`prl.data.Data.name`); ``None`` (dataset unknown) is accepted."""

    def apply(self, clean: np.ndarray, num_classes: Optional[int] = None, inputs: Any = None,
              dataset: Optional[str] = None) -> np.ndarray:
        """The corrupted copy of the clean training targets ``clean``: int ``(N,)`` labels in
        ``0..num_classes-1``, or float ``(N,)`` / ``(N, D)`` targets; ``inputs``: the training
        inputs ``(N, ...)`` (for input-dependent corruption); ``dataset``: its name, checked with
        :meth:`check_dataset`."""
        raise NotImplementedError

    def expected_corruption(self, clean: np.ndarray, num_classes: Optional[int] = None) -> Optional[float]:
        """Expected fraction of corrupted training samples, given the clean targets ``clean``."""
        return None

    def describe(self) -> dict:
        return {"type": type(self).__name__.lower()}


class AsGiven(Corruption):
    """``noise=none``: the training targets as the dataset gives them, for either task (your own
    data, whose labels may already be wrong in ways nobody has counted).  Nothing is injected, so
    there is no expected corrupted fraction: a selecting method with ``algorithm.epsilon`` unset
    estimates it while training (``epsilon=auto``)."""

    task = None  # any task

    def apply(self, clean: np.ndarray, num_classes: Optional[int] = None, inputs: Any = None,
              dataset: Optional[str] = None) -> np.ndarray:
        return np.array(clean, copy=True)

    def describe(self) -> dict:
        return {"type": "none"}
