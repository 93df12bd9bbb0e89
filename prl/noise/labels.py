"""Class-conditional label noise given by a transition matrix.

Transition matrices are **row-stochastic**: ``T[i, j] = P(noisy = j | clean = i)``, so each
row sums to 1 (co-teaching's convention; cleanlab's noise matrices are the transpose).

Sampling follows the co-teaching / PRL reference code exactly: one
``numpy.random.RandomState(seed)`` draws ``multinomial(1, T[y_i])`` for every training label
in dataset order, and nothing is drawn when the rate is 0.  With ``seed=0`` the noisy labels
are identical to the reference code's.  The noise seed is independent of the training seed.

``rate`` is the noise model's parameter.  The *expected corrupted fraction*
(:meth:`LabelNoise.expected_corruption`) is ``sum_c p(c) * (1 - T[c, c])`` with ``p`` the clean
class frequencies: ``rate`` for symmetric and pair-flip noise, less for a class map that leaves
some classes clean.  The realised fraction is measured and recorded by the runner.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Union

import numpy as np

from prl.errors import ConfigValueError
from prl.noise.base import Corruption, check_rate

__all__ = [
    "LabelNoise",
    "Clean",
    "Symmetric",
    "PairFlip",
    "ClassMap",
    "NamedClassMap",
    "CLASS_MAPS",
    "CIFAR10_ASYMMETRIC",
    "CIFAR100_SUPERCLASSES",
    "sample_from_transition",
]

# truck -> automobile, bird -> airplane, deer -> horse, cat <-> dog (Patrini et al. 2017)
CIFAR10_ASYMMETRIC = {9: 1, 2: 0, 4: 7, 3: 5, 5: 3}
# 7 -> 1, 2 -> 7, 5 <-> 6, 3 -> 8 (Patrini et al. 2017; the co-teaching / JoCoR code)
MNIST_ASYMMETRIC = {7: 1, 2: 7, 5: 6, 6: 5, 3: 8}
#: CIFAR-100's 20 superclasses (its ``coarse_labels``), each as its 5 fine label indices
CIFAR100_SUPERCLASSES = (
    (4, 30, 55, 72, 95), (1, 32, 67, 73, 91), (54, 62, 70, 82, 92), (9, 10, 16, 28, 61), (0, 51, 53, 57, 83),
    (22, 39, 40, 86, 87), (5, 20, 25, 84, 94), (6, 7, 14, 18, 24), (3, 42, 43, 88, 97), (12, 17, 37, 68, 76),
    (23, 33, 49, 60, 71), (15, 19, 21, 31, 38), (34, 63, 64, 66, 75), (26, 45, 77, 79, 99), (2, 11, 35, 46, 98),
    (27, 29, 44, 78, 93), (36, 50, 65, 74, 80), (47, 52, 56, 59, 96), (8, 13, 48, 58, 90), (41, 69, 81, 85, 89),
)


def _cycles(groups) -> dict[int, int]:
    """Each class to the next class of its group (the last to the first)."""
    return {int(g[i]): int(g[(i + 1) % len(g)]) for g in groups for i in range(len(g))}


@dataclass(frozen=True)
class NamedClassMap:
    """An established class map: the dataset it is defined for (a :attr:`prl.data.Data.name`),
    ``{source: target}`` and where it comes from."""

    dataset: str
    mapping: dict
    source: str


#: the established class maps, by the name ``noise.mapping`` takes
CLASS_MAPS: dict[str, NamedClassMap] = {
    "cifar10": NamedClassMap("CIFAR-10", CIFAR10_ASYMMETRIC,
                             "truck->automobile, bird->airplane, deer->horse, cat<->dog (Patrini et al. 2017)"),
    "mnist": NamedClassMap("MNIST", MNIST_ASYMMETRIC, "7->1, 2->7, 5<->6, 3->8 (Patrini et al. 2017; JoCoR code)"),
    "cifar100": NamedClassMap("CIFAR-100", _cycles(CIFAR100_SUPERCLASSES),
                              "each class to the next class of its superclass (CIFAR-100's coarse labels)"),
    "cifar100-blocks": NamedClassMap("CIFAR-100", _cycles([range(i, i + 5) for i in range(0, 100, 5)]),
                                     "the reference code's version: blocks of 5 consecutive fine indices, "
                                     "which are not CIFAR-100's superclasses"),
}


def sample_from_transition(labels: np.ndarray, T: np.ndarray, seed: int) -> np.ndarray:
    """Draw ``noisy[i] ~ Categorical(T[labels[i]])`` in order with ``RandomState(seed)``.

    The per-sample ``multinomial(1, row)`` loop is kept on purpose: it reproduces the
    reference code's random stream draw for draw.
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


def class_frequencies(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """``p(c)``: the fraction of ``labels`` in each class, shape ``(num_classes,)``."""
    labels = np.asarray(labels, dtype=np.int64)
    return np.bincount(labels, minlength=num_classes)[:num_classes] / max(len(labels), 1)


class LabelNoise(Corruption):
    """Base of class-conditional label noise given by a transition matrix.

    Subclasses implement :meth:`transition_matrix`.  ``apply`` returns the noisy label
    vector; test labels are never passed here.
    """

    task = "classification"

    def __init__(self, rate: float = 0.0, seed: int = 0):
        self.rate = check_rate(rate)
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

    def expected_corruption(self, clean: np.ndarray, num_classes: Optional[int] = None) -> Optional[float]:
        """``sum_c p(c) * (1 - T[c, c])``, ``p`` the class frequencies of ``clean`` (int ``(N,)``)."""
        num_classes = int(num_classes if num_classes is not None else np.max(clean) + 1)
        T = self.transition_matrix(num_classes)
        return float(np.dot(class_frequencies(clean, num_classes), 1.0 - np.diag(T)))

    def apply(self, labels: np.ndarray, num_classes: int, inputs=None, dataset: Optional[str] = None) -> np.ndarray:
        """Noisy copy of ``labels`` (int array, shape ``(N,)``)."""
        self.check_dataset(dataset)
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

    def expected_corruption(self, clean, num_classes=None) -> float:
        return 0.0


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

    def expected_corruption(self, clean, num_classes=None) -> float:
        """``rate`` (``rate * (C - 1) / C`` with ``include_true_class``), whatever the class frequencies."""
        if self.include_true_class:
            C = int(num_classes if num_classes is not None else np.max(clean) + 1)
            return self.rate * (C - 1) / C
        return self.rate

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

    def expected_corruption(self, clean, num_classes=None) -> float:
        """``rate``: every class flips with it."""
        return self.rate

    def allowed_rates(self, num_classes: int) -> str:
        return "0 <= rate < 0.5 for pair-flip noise"


def _established() -> str:
    return "; ".join(f"mapping={name} for {m.dataset}" for name, m in CLASS_MAPS.items())


class ClassMap(LabelNoise):
    """Asymmetric noise: each mapped class ``i`` flips to ``mapping[i]`` with probability ``rate``.

    A class map belongs to a dataset.  ``mapping`` is

    * ``auto`` (default): the established map of the dataset being corrupted (:data:`CLASS_MAPS`:
      CIFAR-10, MNIST, CIFAR-100); any other dataset is refused with the list of maps;
    * the name of an established map (``cifar10``, ``mnist``, ``cifar100``, ``cifar100-blocks``),
      refused on any dataset but its own;
    * your own ``{source: target}`` dict (class indices), for any dataset, e.g.
      ``noise.mapping='{0: 6, 2: 4}'`` on the command line.

    Unmapped classes stay clean, so the expected corrupted fraction is ``rate`` times the
    fraction of training labels in mapped classes (0.2 for ``rate=0.4`` on balanced CIFAR-10,
    the official JoCoR code's ``noise_rate / 2``).
    """

    def __init__(self, rate: float = 0.4, seed: int = 0, mapping: Union[str, dict, None] = "auto"):
        super().__init__(rate, seed)
        if mapping is None:
            mapping = "auto"
        if isinstance(mapping, str):
            if mapping != "auto" and mapping not in CLASS_MAPS:
                raise ConfigValueError(
                    f"mapping must be auto, one of {', '.join(CLASS_MAPS)} or a {{source: target}} map, got "
                    f"{mapping!r}", "mapping")
            self.name: Optional[str] = mapping
            self.mapping: Optional[dict[int, int]] = (None if mapping == "auto"
                                                      else dict(CLASS_MAPS[mapping].mapping))
        else:
            try:
                self.mapping = {int(k): int(v) for k, v in dict(mapping).items()}
            except (TypeError, ValueError):
                raise ConfigValueError(f"mapping must map class indices to class indices, got {mapping!r}",
                                       "mapping") from None
            self.name = None

    def check_dataset(self, dataset: Optional[str]) -> None:
        """Resolve ``mapping=auto`` to ``dataset``'s map; refuse a named map of another dataset."""
        if self.name is None or dataset is None:
            return
        if self.name == "auto":
            own = [n for n, m in CLASS_MAPS.items() if m.dataset == dataset]
            if not own:
                raise ConfigValueError(
                    f"mapping=auto: dataset {dataset} has no established class map (noise=asymmetric is "
                    f"defined for: {_established()}); pass your own, e.g. noise.mapping='{{0: 6, 2: 4}}'",
                    "mapping")
            self.name, self.mapping = own[0], dict(CLASS_MAPS[own[0]].mapping)
            return
        named = CLASS_MAPS[self.name]
        if named.dataset != dataset:
            raise ConfigValueError(
                f"mapping={self.name} is the class map of {named.dataset}, not of dataset {dataset} (established "
                f"maps: {_established()}); pass your own {{source: target}} map for {dataset}", "mapping")

    def transition_matrix(self, num_classes: int) -> np.ndarray:
        if self.mapping is None:
            raise ConfigValueError(f"mapping=auto needs the dataset to pick its class map ({_established()}); "
                                   f"name one or pass a {{source: target}} map", "mapping")
        P = np.eye(num_classes)
        for src, dst in self.mapping.items():
            if not (0 <= src < num_classes and 0 <= dst < num_classes):
                raise ConfigValueError(
                    f"mapping {src}->{dst} is outside the dataset's classes 0..{num_classes - 1}", "mapping"
                )
            if src != dst and self.rate > 0:
                P[src, src], P[src, dst] = 1.0 - self.rate, self.rate
        return P

    def expected_corruption(self, clean, num_classes=None) -> float:
        """``rate`` times the fraction of ``clean`` labels whose class is mapped to another class."""
        num_classes = int(num_classes if num_classes is not None else np.max(clean) + 1)
        self.transition_matrix(num_classes)  # range checks
        mapped = [s for s, d in self.mapping.items() if s != d]
        return self.rate * float(class_frequencies(clean, num_classes)[mapped].sum()) if self.rate else 0.0

    def allowed_rates(self, num_classes: int) -> str:
        return "0 <= rate < 0.5 for a class map"

    def describe(self) -> dict:
        out: dict[str, Any] = {**super().describe(), "mapping": self.name or "custom"}
        if self.mapping is not None:
            out["map"] = {str(k): v for k, v in sorted(self.mapping.items())}
        return out
