"""agreement_fraction and confident learning on synthetic held-out predictions with a known T."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from prl.estimation import (
    agreement_fraction,
    confident_learning_fraction,
    confident_learning_ranking,
    confident_learning_transition,
    auroc,
)
from prl.estimation.synthetic import softmax_outputs, transition_matrix

N = 6000


@pytest.fixture(scope="module")
def symmetric():
    return softmax_outputs(N, 0.3, noise="symmetric", num_classes=5, margin=6.0, seed=11)


@pytest.fixture(scope="module")
def pairflip():
    return softmax_outputs(N, 0.3, noise="pairflip", num_classes=5, margin=6.0, seed=12)


def test_transition_matrix_is_row_stochastic():
    T = transition_matrix("pairflip", 0.3, 4)
    np.testing.assert_allclose(T.sum(axis=1), 1.0)
    assert T[0, 1] == pytest.approx(0.3) and T[1, 0] == 0.0


def test_agreement_with_perfect_predictions_is_the_realised_fraction(symmetric):
    o = symmetric
    assert agreement_fraction(o.true, o.noisy, 5) == pytest.approx(o.fraction, abs=1e-12)
    onehot = np.eye(5)[o.true]
    assert agreement_fraction(torch.as_tensor(onehot), torch.as_tensor(o.noisy), 5) == pytest.approx(o.fraction)


@pytest.mark.parametrize("name", ["symmetric", "pairflip"])
def test_agreement_good_classifier_within_tolerance(name, request):
    o = request.getfixturevalue(name)
    accuracy = float((o.probs.argmax(1) == o.true).mean())
    assert accuracy > 0.98  # the "good classifier"
    est = agreement_fraction(o.probs, o.noisy, 5)
    # E[1 - agreement] - eps is about (1 - accuracy) * (1 - eps): the documented upward bias
    assert est == pytest.approx(o.fraction, abs=0.02)
    assert est >= o.fraction - 0.005


def test_agreement_is_biased_upwards_by_the_network_error():
    o = softmax_outputs(N, 0.2, num_classes=10, margin=2.0, margin_std=1.5, seed=13)
    a = float((o.probs.argmax(1) == o.true).mean())
    est = agreement_fraction(o.probs, o.noisy, 10)
    eps = o.fraction
    expected = eps + (1 - a) * (1 - eps) - eps * (1 - a) / 9  # uniform errors, symmetric noise
    assert est > eps + 0.1
    assert est == pytest.approx(expected, abs=0.02)


@pytest.mark.parametrize("name", ["symmetric", "pairflip"])
@pytest.mark.parametrize("method", ["joint", "num_issues"])
def test_confident_learning_within_tolerance(name, method, request):
    o = request.getfixturevalue(name)
    tol = 0.03 if method == "joint" else 0.06
    assert confident_learning_fraction(o.probs, o.noisy, method=method) == pytest.approx(o.fraction, abs=tol)


def test_confident_learning_clean_is_near_zero():
    o = softmax_outputs(N, 0.0, num_classes=5, margin=6.0, seed=14)
    assert confident_learning_fraction(o.probs, o.noisy) < 0.01


def test_transition_is_in_our_row_stochastic_convention(pairflip):
    o = pairflip
    T = confident_learning_transition(o.probs, o.noisy)
    assert T.shape == (5, 5)
    np.testing.assert_allclose(T.sum(axis=1), 1.0, atol=1e-9)
    # pair flip i -> i + 1: the mass sits at T[i, i + 1], not at T[i + 1, i] (cleanlab's layout)
    np.testing.assert_allclose(T, o.T, atol=0.05)
    assert T[0, 1] > 0.2 and T[1, 0] < 0.05


def test_ranking_is_one_minus_self_confidence(symmetric):
    o = symmetric
    r = confident_learning_ranking(o.probs, o.noisy)
    assert r.shape == (N,)
    np.testing.assert_allclose(r, 1.0 - o.probs[np.arange(N), o.noisy], atol=1e-12)
    assert auroc(r, o.is_corrupted) > 0.95
    margin = confident_learning_ranking(o.probs, o.noisy, method="normalized_margin")
    assert auroc(margin, o.is_corrupted) > 0.95


@pytest.mark.parametrize("call, param", [
    (lambda o: agreement_fraction(o.probs[:, :4], o.noisy, 5), "predictions"),
    (lambda o: agreement_fraction(o.true, o.noisy[:-1], 5), "noisy_labels"),
    (lambda o: agreement_fraction(o.true, o.noisy + 5, 5), "noisy_labels"),
    (lambda o: agreement_fraction(o.true, o.noisy, 1), "num_classes"),
    (lambda o: agreement_fraction(o.true[:0], o.noisy[:0], 5), "predictions"),
    (lambda o: confident_learning_fraction(o.probs * 2, o.noisy), "pred_probs"),
    (lambda o: confident_learning_fraction(o.probs[:, 0], o.noisy), "pred_probs"),
    (lambda o: confident_learning_fraction(o.probs, o.noisy[:10]), "noisy_labels"),
    (lambda o: confident_learning_fraction(o.probs, o.noisy, method="prune"), "method"),
    (lambda o: confident_learning_ranking(o.probs, o.noisy, method="entropy"), "method"),
])
def test_bad_input_names_the_parameter(call, param, symmetric):
    with pytest.raises(ValueError, match=rf"^{param}:"):
        call(symmetric)


def test_anchor_points_read_the_transition_matrix_back():
    """Probabilities that model a known noisy posterior p(noisy | x) = onehot-ish(true) @ T: the
    rows of the most typical samples of each label are T's rows, so the estimate is T's."""
    from prl.estimation import anchor_fraction, anchor_transition

    rng = np.random.RandomState(0)
    C, n = 4, 4000
    T = np.full((C, C), 0.1 / (C - 1)) + np.eye(C) * (0.9 - 0.1 / (C - 1))  # symmetric 10%
    T[0] = [0.6, 0.4, 0.0, 0.0]                                               # class 0 pair-flips 40%
    clean = rng.randint(0, C, n)
    sharp = rng.dirichlet(np.full(C, 0.05), n) * 0.2 + 0.8 * np.eye(C)[clean]  # a confident, mostly right net
    sharp[:200] = np.eye(C)[clean[:200]]                                       # some anchors: surely their class
    probs = sharp @ T
    noisy = np.array([rng.choice(C, p=T[c]) for c in clean])
    est = anchor_transition(probs, percentile=95)
    assert np.allclose(est.sum(axis=1), 1.0)
    assert np.abs(est - T).max() < 0.05
    expected = float(np.dot(np.bincount(noisy, minlength=C) / n, 1 - np.diag(T)))
    assert anchor_fraction(probs, noisy, percentile=95) == pytest.approx(expected, abs=0.03)
    clean_probs = sharp  # no noise: the diagonal is about 1
    assert anchor_fraction(clean_probs, clean, percentile=95) < 0.03


def test_anchor_checks_its_input():
    from prl.estimation import anchor_fraction

    with pytest.raises(ValueError, match="pred_probs"):
        anchor_fraction(np.ones(5), np.zeros(5, dtype=int))
    with pytest.raises(ValueError, match="percentile"):
        anchor_fraction(np.full((4, 2), 0.5), np.zeros(4, dtype=int), percentile=100)
