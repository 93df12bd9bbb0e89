"""Seeded synthetic score distributions with a known corrupted fraction, for tests and
:mod:`bench.estimation`.

Every generator returns numpy arrays and draws from its own ``numpy.random.default_rng(seed)``.
Scores follow the conventions of :mod:`prl.estimation`: higher = more suspect.  Transition
matrices are row-stochastic, ``T[i, j] = P(noisy = j | clean = i)`` (as in :mod:`prl.noise`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "SQRT2",
    "Outputs",
    "transition_matrix",
    "draw_noisy_labels",
    "beta_scores",
    "softmax_outputs",
    "regression_residuals",
]

#: the largest loss-layer gradient norm of softmax cross-entropy, ``||softmax(z) - onehot(y)||``
SQRT2 = math.sqrt(2.0)


def transition_matrix(kind: str, rate: float, num_classes: int) -> np.ndarray:
    """Row-stochastic ``(C, C)`` matrix: ``symmetric`` (off-diagonal ``rate / (C - 1)``) or
    ``pairflip`` (class ``i`` -> ``(i + 1) % C`` with probability ``rate``)."""
    C = num_classes
    if kind == "symmetric":
        T = np.full((C, C), rate / (C - 1))
        np.fill_diagonal(T, 1.0 - rate)
    elif kind == "pairflip":
        T = np.eye(C) * (1.0 - rate)
        T[np.arange(C), (np.arange(C) + 1) % C] += rate
    else:
        raise ValueError(f"kind must be 'symmetric' or 'pairflip'; got {kind!r}")
    return T


def draw_noisy_labels(true: np.ndarray, T: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``noisy[i] ~ Categorical(T[true[i]])`` (vectorised inverse-CDF draw)."""
    cdf = np.cumsum(T, axis=1)[true]
    u = rng.random(true.shape[0])[:, None]
    return np.minimum((u > cdf).sum(axis=1), T.shape[0] - 1)


def _corrupted_mask(n: int, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Exactly ``round(fraction * n)`` corrupted samples at random positions."""
    mask = np.zeros(n, dtype=bool)
    mask[rng.permutation(n)[: int(round(fraction * n))]] = True
    return mask


def beta_scores(n: int, fraction: float, *, clean: tuple[float, float] = (2.0, 20.0),
                noisy: tuple[float, float] = (20.0, 2.0), scale: float = SQRT2,
                seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(scores, is_corrupted)``, shape ``(n,)`` each: ``scale * Beta(*clean)`` for clean
    samples and ``scale * Beta(*noisy)`` for exactly ``round(fraction * n)`` corrupted ones."""
    rng = np.random.default_rng(seed)
    bad = _corrupted_mask(n, fraction, rng)
    scores = np.where(bad, rng.beta(*noisy, size=n), rng.beta(*clean, size=n)) * scale
    return scores, bad


@dataclass
class Outputs:
    """A simulated classifier on one split: ``probs`` ``(n, C)`` softmax outputs, ``true`` and
    ``noisy`` labels ``(n,)``, ``is_corrupted = noisy != true`` and ``scores`` =
    ``||probs - onehot(noisy)||`` (the PRL-L loss-layer gradient norm, in ``[0, sqrt(2)]``,
    float32 as :func:`prl.loss_layer_grad_norm` computes it)."""

    probs: np.ndarray
    true: np.ndarray
    noisy: np.ndarray
    is_corrupted: np.ndarray
    scores: np.ndarray
    T: np.ndarray

    @property
    def fraction(self) -> float:
        """The realised corrupted fraction."""
        return float(self.is_corrupted.mean())


def softmax_outputs(n: int, rate: float, *, noise: str = "symmetric", num_classes: int = 10,
                    margin: float = 5.0, margin_std: float = 1.5, flip_learned: float = 0.0,
                    memorized: float = 0.0, logit_scale: float = 1.0, seed: int = 0) -> Outputs:
    """A network that has learned the clean task (it has not memorised the noise).

    Logits ``z = m_i * onehot(true_i) + b_i * m_i * onehot(flip(true_i)) + N(0, 1)`` with
    margins ``m_i ~ N(margin, margin_std)`` (a negative margin is a misclassified sample) and
    ``b_i ~ Beta`` with mean ``flip_learned`` (0: the flip was not learned; ``flip(i) =
    (i + 1) % C``, the pair-flip target): a network that half-learns pair-flip noise puts
    mass on the flip class of *every* sample of a class, which moves clean scores up and
    corrupted scores down.  Noisy labels are drawn from ``transition_matrix(noise, rate)``.
    ``memorized``: the fraction of corrupted samples whose noisy label the network has
    memorised (training split only): their noisy-label logit gets ``2 * |m_i|`` on top.
    ``logit_scale`` multiplies the logits before the softmax (> 1: an over-confident network).
    """
    rng = np.random.default_rng(seed)
    C = num_classes
    true = rng.integers(0, C, size=n)
    T = transition_matrix(noise, rate, C)
    noisy = draw_noisy_labels(true, T, rng)
    m = rng.normal(margin, margin_std, size=n)
    z = rng.normal(0.0, 1.0, size=(n, C))
    z[np.arange(n), true] += m
    if flip_learned > 0:
        k = 4.0  # Beta(k * mean, k * (1 - mean)): a wide spread of how much was learned
        b = rng.beta(k * flip_learned, k * (1.0 - flip_learned), size=n)
        z[np.arange(n), (true + 1) % C] += b * np.abs(m)
    if memorized > 0:
        mem = (noisy != true) & (rng.random(n) < memorized)
        z[mem, noisy[mem]] += 2.0 * np.abs(m[mem])
    z *= logit_scale
    z -= z.max(axis=1, keepdims=True)
    probs = np.exp(z)
    probs /= probs.sum(axis=1, keepdims=True)
    grad = probs.astype(np.float32)  # float32, as prl.loss_layer_grad_norm computes it
    grad[np.arange(n), noisy] -= 1.0
    return Outputs(probs, true, noisy, noisy != true, np.linalg.norm(grad, axis=1), T)


def regression_residuals(n: int, fraction: float, *, sigma: float = 0.1, cauchy_scale: float = 1.0,
                         dim: int = 1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(scores, is_corrupted)``: residual norms ``||f(x) - y||`` of a regression network.

    Clean residuals ``~ N(0, sigma^2 I_dim)``; exactly ``round(fraction * n)`` targets are
    corrupted by adding ``cauchy_scale * Cauchy`` noise per dimension, so their residual
    norms spread over several orders of magnitude (and some land among the clean ones).
    """
    rng = np.random.default_rng(seed)
    bad = _corrupted_mask(n, fraction, rng)
    r = rng.normal(0.0, sigma, size=(n, dim))
    r[bad] += cauchy_scale * rng.standard_cauchy(size=(int(bad.sum()), dim))
    return np.linalg.norm(r, axis=1), bad
