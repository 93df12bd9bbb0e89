"""Label and target corruption, each kind an object with its own seed.

Transition matrices are **row-stochastic**: ``T[i, j] = P(noisy = j | clean = i)``, so each
row sums to 1 (co-teaching's convention; cleanlab's noise matrices are the transpose).

Sampling follows the co-teaching / PRL reference code exactly: one
``numpy.random.RandomState(seed)`` draws ``multinomial(1, T[y_i])`` for every training label
in dataset order, and nothing is drawn when the rate is 0.  With ``seed=0`` the noisy labels
are identical to the reference code's.  The noise seed is independent of the training seed.

``rate`` is the *expected* fraction of corrupted labels; the realised fraction is measured and
recorded by the runner.
"""

from __future__ import annotations

import os
from typing import Optional

import numpy as np

from prl.errors import ConfigValueError, DatasetError

__all__ = [
    "LabelNoise",
    "Clean",
    "Symmetric",
    "PairFlip",
    "ClassMap",
    "LabelFile",
    "sample_from_transition",
    "CIFAR10_ASYMMETRIC",
]

# truck -> automobile, bird -> airplane, deer -> horse, cat <-> dog (Patrini et al. 2017)
CIFAR10_ASYMMETRIC = {9: 1, 2: 0, 4: 7, 3: 5, 5: 3}


def _check_rate(rate: float) -> float:
    try:
        rate = float(rate)
    except (TypeError, ValueError):
        raise ConfigValueError(f"rate must be a number in [0, 1), got {rate!r}", "rate") from None
    if not (0.0 <= rate < 1.0):
        raise ConfigValueError(f"rate must be in [0, 1), got {rate}", "rate")
    return rate


def sample_from_transition(labels: np.ndarray, T: np.ndarray, seed: int) -> np.ndarray:
    """Draw ``noisy[i] ~ Categorical(T[labels[i]])`` in order with ``RandomState(seed)``.

    The per-sample ``multinomial(1, row)`` loop is kept on purpose: it reproduces the
    reference code's random stream draw for draw (about 0.3 s for 60k labels).
    """
    labels = np.asarray(labels, dtype=np.int64)
    if labels.size and labels.max() >= T.shape[0]:
        raise ValueError(f"label {labels.max()} out of range for a {T.shape[0]}-class matrix")
    if not np.allclose(T.sum(axis=1), 1.0) or (T < 0).any():
        raise ValueError("transition matrix must be row-stochastic (rows sum to 1, entries >= 0)")
    rng = np.random.RandomState(seed)
    noisy = labels.copy()
    rows = [T[i] for i in range(T.shape[0])]
    for idx in range(labels.shape[0]):
        noisy[idx] = int(np.flatnonzero(rng.multinomial(1, rows[labels[idx]], 1)[0])[0])
    return noisy


class LabelNoise:
    """Base of class-conditional label noise given by a transition matrix.

    Subclasses implement :meth:`transition_matrix`.  ``apply`` returns the noisy label
    vector; test labels are never passed here.
    """

    task = "classification"
    #: whether ``rate`` is the expected fraction of flipped labels (used as epsilon's default)
    rate: Optional[float]

    def __init__(self, rate: float = 0.0, seed: int = 0):
        self.rate = _check_rate(rate)
        self.seed = int(seed)

    def transition_matrix(self, num_classes: int) -> np.ndarray:
        raise NotImplementedError

    def check(self, num_classes: int) -> None:
        """Refuse a matrix under which a wrong label is at least as likely as the true one.

        Such noise carries no information about the true class (e.g. pair-flip with rate
        >= 0.5, or symmetric with rate >= (C-1)/C); every method would learn the flip.
        """
        T = self.transition_matrix(num_classes)
        off = T - np.diag(np.diag(T))
        bad = np.flatnonzero(off.max(axis=1) >= np.diag(T)) if num_classes > 1 else []
        if self.rate and len(bad):
            i = int(bad[0])
            j = int(off[i].argmax())
            raise ConfigValueError(
                f"rate={self.rate} makes a wrong label at least as likely as the true one "
                f"(class {i}: P(stay)={T[i, i]:.3f}, P(->{j})={T[i, j]:.3f}) with {num_classes} "
                f"classes, so the noisy labels say nothing about the true class; "
                f"allowed: {self.allowed_rates(num_classes)}",
                "rate",
            )

    def allowed_rates(self, num_classes: int) -> str:
        return "a smaller rate"

    def apply(self, labels: np.ndarray, num_classes: int, inputs=None) -> np.ndarray:
        """Noisy copy of ``labels`` (int array, shape ``(N,)``)."""
        self.check(num_classes)
        if not self.rate:
            return np.asarray(labels, dtype=np.int64).copy()
        return sample_from_transition(labels, self.transition_matrix(num_classes), self.seed)

    def describe(self) -> dict:
        return {"type": type(self).__name__.lower(), "rate": self.rate, "seed": self.seed}


class Clean(LabelNoise):
    """No corruption."""

    def __init__(self, rate: float = 0.0, seed: int = 0):
        if rate:
            raise ConfigValueError(f"rate must be 0 for clean labels, got {rate}; use noise=symmetric or noise=pairflip", "rate")
        super().__init__(0.0, seed)

    def transition_matrix(self, num_classes: int) -> np.ndarray:
        return np.eye(num_classes)


class Symmetric(LabelNoise):
    """Uniform flips.

    Default (``include_true_class=False``, the co-teaching convention): the label moves to
    each *other* class with probability ``rate / (C - 1)``, so the expected flip rate is
    ``rate``.  With ``include_true_class=True`` the label is replaced, with probability
    ``rate``, by a class drawn uniformly from all C classes (the true one included), so only
    ``rate * (C - 1) / C`` of the labels actually change.
    """

    def __init__(self, rate: float = 0.2, seed: int = 0, include_true_class: bool = False):
        super().__init__(rate, seed)
        self.include_true_class = bool(include_true_class)

    def transition_matrix(self, num_classes: int) -> np.ndarray:
        C, n = num_classes, self.rate
        if C < 2:
            raise ConfigValueError(f"symmetric noise needs at least 2 classes, the dataset has {C}", "rate")
        if self.include_true_class:
            P = np.full((C, C), n / C)
            P[np.diag_indices(C)] = 1.0 - n + n / C
            return P
        # built exactly as the reference code builds it, so the random stream matches
        P = (n / (C - 1)) * np.ones((C, C))
        if n > 0.0:
            for i in range(C):
                P[i, i] = 1.0 - n
        return P

    def allowed_rates(self, num_classes: int) -> str:
        limit = (num_classes - 1) / num_classes
        return f"0 <= rate < {limit:.4g} for symmetric noise with {num_classes} classes"

    def describe(self) -> dict:
        return {**super().describe(), "include_true_class": self.include_true_class}


class PairFlip(LabelNoise):
    """Class ``i`` flips to ``(i + 1) mod C`` with probability ``rate``."""

    def __init__(self, rate: float = 0.45, seed: int = 0):
        super().__init__(rate, seed)

    def transition_matrix(self, num_classes: int) -> np.ndarray:
        C, n = num_classes, self.rate
        if C < 2:
            raise ConfigValueError(f"pair-flip noise needs at least 2 classes, the dataset has {C}", "rate")
        P = np.eye(C)
        if n > 0.0:
            for i in range(C):
                P[i, i], P[i, (i + 1) % C] = 1.0 - n, n
        return P

    def allowed_rates(self, num_classes: int) -> str:
        return "0 <= rate < 0.5 for pair-flip noise"


class ClassMap(LabelNoise):
    """Asymmetric noise: each mapped class ``i`` flips to ``mapping[i]`` with probability ``rate``.

    ``mapping='cifar10'`` is the usual CIFAR-10 map (truck->automobile, bird->airplane,
    deer->horse, cat<->dog); any ``{source: target}`` dict works.  Unmapped classes stay clean,
    so the realised flip rate is below ``rate`` (``rate`` times the fraction of mapped labels).
    """

    def __init__(self, rate: float = 0.4, seed: int = 0, mapping="cifar10"):
        super().__init__(rate, seed)
        if isinstance(mapping, str):
            if mapping != "cifar10":
                raise ConfigValueError(f"mapping must be 'cifar10' or a {{source: target}} dict, got {mapping!r}", "mapping")
            mapping = CIFAR10_ASYMMETRIC
        self.mapping = {int(k): int(v) for k, v in dict(mapping).items()}

    def transition_matrix(self, num_classes: int) -> np.ndarray:
        P = np.eye(num_classes)
        for src, dst in self.mapping.items():
            if not (0 <= src < num_classes and 0 <= dst < num_classes):
                raise ConfigValueError(
                    f"mapping {src}->{dst} is outside the dataset's classes 0..{num_classes - 1}", "mapping"
                )
            if src != dst and self.rate > 0:
                P[src, src], P[src, dst] = 1.0 - self.rate, self.rate
        return P

    def allowed_rates(self, num_classes: int) -> str:
        return "0 <= rate < 0.5 for a class map"

    @property
    def expected_rate_known(self) -> bool:
        return False


class LabelFile(LabelNoise):
    """Noisy labels read from a file, e.g. a published set such as CIFAR-10N.

    ``path`` holds one integer label per training sample, in dataset order: ``.npy``, ``.npz``
    (array ``key``), ``.pt`` (a tensor or a dict with ``key``), or text/CSV (one per line).
    ``rate`` is unknown up front (``None``); the runner measures the realised rate.
    """

    def __init__(self, path: str, key: Optional[str] = None):
        self.path = os.path.expanduser(str(path))
        self.key = key
        self.rate = None
        self.seed = 0

    def transition_matrix(self, num_classes: int) -> np.ndarray:  # not defined for a file
        return np.eye(num_classes)

    def check(self, num_classes: int) -> None:
        return None

    def load(self) -> np.ndarray:
        if not os.path.isfile(self.path):
            raise DatasetError(f"path: label file {self.path!r} does not exist", "path")
        ext = os.path.splitext(self.path)[1].lower()
        try:
            if ext == ".npy":
                arr = np.load(self.path)
            elif ext == ".npz":
                with np.load(self.path) as z:
                    arr = z[self.key or list(z.keys())[0]]
            elif ext in (".pt", ".pth"):
                import torch

                obj = torch.load(self.path, map_location="cpu", weights_only=True)
                arr = obj[self.key] if isinstance(obj, dict) else obj
                arr = np.asarray(arr)
            else:
                arr = np.loadtxt(self.path, delimiter="," if ext == ".csv" else None, dtype=np.int64)
        except Exception as exc:  # unreadable file: one clear message
            raise DatasetError(f"path: cannot read labels from {self.path!r}: {exc}", "path") from None
        return np.asarray(arr).reshape(-1)

    def apply(self, labels: np.ndarray, num_classes: int, inputs=None) -> np.ndarray:
        arr = self.load()
        if arr.shape[0] != len(labels):
            raise DatasetError(
                f"path: label file {self.path!r} has {arr.shape[0]} labels but the training set has "
                f"{len(labels)} samples (one label per training sample, in dataset order)",
                "path",
            )
        if not np.issubdtype(arr.dtype, np.integer):
            if not np.all(np.equal(np.mod(arr, 1), 0)):
                raise DatasetError(f"path: label file {self.path!r} holds non-integer labels", "path")
            arr = arr.astype(np.int64)
        if arr.min() < 0 or arr.max() >= num_classes:
            raise DatasetError(
                f"path: label file {self.path!r} has labels outside 0..{num_classes - 1}", "path"
            )
        return arr.astype(np.int64)

    def describe(self) -> dict:
        return {"type": "labelfile", "path": self.path, "rate": None}
