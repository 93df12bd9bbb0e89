"""Scaling and splitting helpers shared by the loaders (one place for how data is standardised)."""

from __future__ import annotations

from typing import Optional

import numpy as np
import torch
from torch import Tensor

from prl.errors import ConfigValueError

__all__ = ["zscore", "random_split", "check_fraction", "check_cap", "as_float32"]


def check_fraction(value: float, name: str) -> float:
    """``value`` as a float in (0, 1); :class:`ConfigValueError` naming ``name`` otherwise."""
    value = float(value)
    if not 0.0 < value < 1.0:
        raise ConfigValueError(f"{name} must be in (0, 1), got {value}", name)
    return value


def check_cap(value: Optional[int], name: str) -> Optional[int]:
    """``value`` as an int >= 1, or None (no cap); :class:`ConfigValueError` naming ``name`` otherwise."""
    if value is not None and int(value) < 1:
        raise ConfigValueError(f"{name} must be >= 1 or null (no cap), got {value}", name)
    return None if value is None else int(value)


def zscore(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Standardise both arrays per column with ``train``'s mean and std (std 0 -> 1)."""
    mean = train.mean(axis=0)
    std = train.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return (train - mean) / std, (test - mean) / std


def random_split(n: int, test_fraction: float, split_seed: int,
                 max_train: Optional[int] = None) -> tuple[np.ndarray, np.ndarray]:
    """``(train_index, test_index)``, each sorted: a fixed random split of ``range(n)``.

    The test set is the first ``round(n * test_fraction)`` entries of
    ``RandomState(split_seed).permutation(n)``, the training set the next ``max_train`` (all
    the rest when ``None``), so a cap keeps a random subset and never changes the test set.
    """
    perm = np.random.RandomState(int(split_seed)).permutation(n)
    n_test = int(round(n * test_fraction))
    train = perm[n_test:] if max_train is None else perm[n_test:n_test + max_train]
    return np.sort(train), np.sort(perm[:n_test])


def as_float32(a: np.ndarray) -> Tensor:
    """A contiguous float32 tensor of ``a``."""
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))
