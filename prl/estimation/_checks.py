"""Input checks shared by the estimators: every error names the parameter and what is allowed."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from prl.errors import ConfigValueError


class EstimationValueError(ConfigValueError, ValueError):
    """A bad argument to an estimator: a ``ValueError`` that also carries the parameter name
    (``key``) like the other ``prl`` constructors, so the runner can prefix the config path."""


def fail(param: str, message: str) -> EstimationValueError:
    """An error whose message starts with the parameter name."""
    return EstimationValueError(f"{param}: {message}", param)


def to_numpy(x: Any) -> np.ndarray:
    """A numpy view / copy of an array-like or a (possibly CUDA, possibly grad-tracking) tensor."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def check_choice(param: str, value: Any, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise fail(param, f"must be one of {', '.join(repr(a) for a in allowed)}; got {value!r}")
    return value


def check_fraction(param: str, value: Any, low: float = 0.0, high: float = 1.0,
                   low_open: bool = False, high_open: bool = False) -> float:
    """``value`` as a float in the interval ``[low, high]`` (ends open where asked)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = float("nan")
    ok = np.isfinite(v) and (v > low if low_open else v >= low) and (v < high if high_open else v <= high)
    if not ok:
        lo, hi = "(" if low_open else "[", ")" if high_open else "]"
        raise fail(param, f"must be a number in {lo}{low}, {high}{hi}; got {value!r}")
    return v


def check_1d(param: str, x: Any, *, dtype: Any = np.float64) -> np.ndarray:
    """``x`` as a 1-D numpy array of ``dtype``."""
    arr = to_numpy(x)
    if arr.ndim != 1:
        raise fail(param, f"must be a 1-D array of shape (N,); got shape {tuple(arr.shape)}")
    if dtype is np.float64:
        if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
            raise fail(param, f"must hold numbers; got dtype {arr.dtype}")
        return arr.astype(np.float64, copy=False)
    return arr


def check_labels(param: str, labels: Any, num_classes: int, n: int) -> np.ndarray:
    """Integer class labels of shape ``(n,)`` in ``[0, num_classes)``."""
    arr = to_numpy(labels)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise fail(param, f"must have shape ({n},) to match the predictions; got shape {tuple(arr.shape)}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        if not np.issubdtype(arr.dtype, np.floating) or not np.all(arr == np.round(arr)):
            raise fail(param, f"must hold integer class labels; got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    if arr.size and (arr.min() < 0 or arr.max() >= num_classes):
        raise fail(param, f"labels must be in [0, {num_classes}); got values in [{arr.min()}, {arr.max()}]")
    return arr


def check_probs(param: str, pred_probs: Any, num_classes: int | None = None) -> np.ndarray:
    """Class probabilities of shape ``(N, K)``, finite, in [0, 1], rows summing to ~1."""
    p = to_numpy(pred_probs)
    if p.ndim != 2 or p.shape[1] < 2:
        raise fail(param, f"must have shape (N, K) with K >= 2 classes; got shape {tuple(p.shape)}")
    if num_classes is not None and p.shape[1] != num_classes:
        raise fail(param, f"must have num_classes={num_classes} columns; got shape {tuple(p.shape)}")
    p = p.astype(np.float64, copy=False)
    if not np.all(np.isfinite(p)) or (p < 0).any() or (p > 1).any():
        raise fail(param, "must hold finite probabilities in [0, 1] (apply softmax to logits first)")
    if p.size and not np.allclose(p.sum(axis=1), 1.0, atol=1e-3):
        raise fail(param, "rows must sum to 1 (apply softmax to logits first)")
    return p
