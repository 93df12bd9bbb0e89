"""EpsilonEstimator: per-batch updates, per-epoch estimates, checkpointing, bad input."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

import prl.estimation as E
from prl.estimation import EpsilonEstimator
from prl.estimation.synthetic import beta_scores, softmax_outputs

N = 12000


def feed(est: EpsilonEstimator, scores: np.ndarray, seed: int, batch: int = 500, as_numpy: bool = False) -> None:
    """One epoch of shuffled mini-batches: update(scores[index], index)."""
    perm = torch.randperm(len(scores), generator=torch.Generator().manual_seed(seed))
    s = torch.as_tensor(scores, dtype=torch.float32)
    for start in range(0, len(scores), batch):
        idx = perm[start:start + batch]
        est.update(s[idx], idx.numpy() if as_numpy else idx)


def test_update_keeps_the_latest_score_per_index():
    est = EpsilonEstimator(6)
    assert torch.isnan(est.scores).all() and est.scores.shape == (6,)
    est.update(torch.tensor([0.1, 0.2]), torch.tensor([4, 1]))
    est.update(np.array([0.3]), np.array([4]))  # numpy is accepted, and the later score wins
    expected = torch.tensor([float("nan"), 0.2, float("nan"), float("nan"), 0.3, float("nan")])
    torch.testing.assert_close(est.scores, expected, equal_nan=True)
    assert est.scores.dtype == torch.float32


def test_epoch_estimates_a_known_fraction():
    scores, _ = beta_scores(N, 0.2, seed=21)
    est = EpsilonEstimator(N)
    feed(est, scores, seed=0, as_numpy=True)
    torch.testing.assert_close(est.scores, torch.as_tensor(scores, dtype=torch.float32))
    assert est.epsilon() == pytest.approx(0.2, abs=0.02)
    h = est.history[-1]
    assert h["step"] == 0 and h["method"] == "mixture" and h["num_scored"] == N and not h["clean"]
    assert h["raw"] == pytest.approx(h["epsilon"])


def test_unseen_samples_are_ignored():
    scores, _ = beta_scores(N, 0.2, seed=22)
    est = EpsilonEstimator(2 * N)  # half of the training set is never scored
    feed(est, scores, seed=0)
    assert int(torch.isnan(est.scores).sum()) == N
    assert est.epsilon() == pytest.approx(0.2, abs=0.02)
    assert est.history[-1]["num_scored"] == N


def test_clean_data_gives_exactly_zero_every_epoch():
    o = softmax_outputs(N, 0.0, seed=23)
    est = EpsilonEstimator(N)
    out = []
    for epoch in range(3):
        feed(est, o.scores, seed=epoch)
        out.append(est.epsilon())
    assert out == [0.0, 0.0, 0.0]
    assert all(h["clean"] for h in est.history)


def test_smoothing_and_clipping_as_documented():
    est = EpsilonEstimator(N, max_fraction=0.3, alpha=0.5, window=1, fit_on="all")
    first, _ = beta_scores(N, 0.45, seed=24)
    feed(est, first, seed=0)
    assert est.epsilon() == pytest.approx(0.3)  # 0.45 clipped to max_fraction
    second, _ = beta_scores(N, 0.1, seed=25)
    feed(est, second, seed=1)
    eps = est.epsilon()
    raw = est.history[-1]["raw"]
    assert raw == pytest.approx(0.1, abs=0.02)
    assert eps == pytest.approx(0.5 * raw + 0.5 * 0.3)
    assert est.epsilon() == pytest.approx(0.5 * raw + 0.5 * eps)  # same scores again
    assert [h["step"] for h in est.history] == [0, 1, 2]


def test_fit_on_epoch_ignores_scores_of_earlier_epochs():
    """fit_on="epoch" (the default): a fit sees only the scores recorded since the previous
    one, so stale scores of a younger network never mix in; "all" keeps every latest score."""
    clean, _ = beta_scores(N, 0.0, seed=40)
    noisy, _ = beta_scores(N, 0.3, seed=41)
    per_epoch, keep_all = EpsilonEstimator(N, window=1, alpha=1.0), EpsilonEstimator(N, window=1, alpha=1.0,
                                                                                     fit_on="all")
    for est in (per_epoch, keep_all):
        feed(est, noisy, seed=0)
        assert est.epsilon() == pytest.approx(0.3, abs=0.03)
        half = np.arange(N // 2)  # the next epoch visits half of the samples, all clean now
        est.update(torch.as_tensor(clean[half]), torch.as_tensor(half))
    assert per_epoch.epsilon() == 0.0  # only this epoch's (clean) scores
    assert keep_all.epsilon() == pytest.approx(0.15, abs=0.03)  # the other half still holds old scores
    assert per_epoch.epsilon() == 0.0 and per_epoch.history[-1]["num_scored"] == 0  # nothing new: nothing to fit


def test_state_dict_round_trip_gives_the_same_next_epsilon():
    a = EpsilonEstimator(N, window=3)
    epochs = [beta_scores(N, w, seed=30 + i)[0] for i, w in enumerate([0.1, 0.2, 0.3])]
    feed(a, epochs[0], seed=0)
    a.epsilon()
    feed(a, epochs[1], seed=1)
    a.epsilon()
    feed(a, epochs[2][: N // 2], seed=2)  # mid-epoch checkpoint
    buf = io.BytesIO()
    torch.save(a.state_dict(), buf)
    buf.seek(0)
    b = EpsilonEstimator(N, window=3)
    b.load_state_dict(torch.load(buf))
    torch.testing.assert_close(b.scores, a.scores, equal_nan=True)
    assert b.history == a.history
    assert b.epsilon() == a.epsilon()
    assert b.history == a.history


def test_load_state_dict_refuses_another_configuration():
    a = EpsilonEstimator(N)
    with pytest.raises(ValueError, match="^num_samples:"):
        EpsilonEstimator(N + 1).load_state_dict(a.state_dict())
    with pytest.raises(ValueError, match="^method:"):
        EpsilonEstimator(N, "agreement", num_classes=3).load_state_dict(a.state_dict())


@pytest.mark.parametrize("method", ["agreement", "confident"])
def test_heldout_methods(method):
    o = softmax_outputs(4000, 0.25, num_classes=10, margin=6.0, seed=26)
    est = EpsilonEstimator(N, method, num_classes=10)
    with pytest.raises(RuntimeError, match="update_heldout"):
        est.epsilon()
    probs = torch.as_tensor(o.probs)
    est.update_heldout(probs[:1500], torch.as_tensor(o.noisy[:1500]))  # batches are collected
    est.update_heldout(probs[1500:], o.noisy[1500:])
    assert est.epsilon() == pytest.approx(o.fraction, abs=0.03)
    assert est.history[-1]["num_heldout"] == 4000
    with pytest.raises(RuntimeError):
        est.epsilon()  # the held-out predictions were used up
    if method == "agreement":
        est.update_heldout(o.probs.argmax(1), o.noisy)  # predicted classes also work
        assert est.epsilon() > 0


def test_heldout_state_round_trip():
    o = softmax_outputs(3000, 0.25, num_classes=10, margin=6.0, seed=27)
    a = EpsilonEstimator(N, "confident", num_classes=10)
    a.update_heldout(o.probs, o.noisy)
    b = EpsilonEstimator(N, "confident", num_classes=10)
    b.load_state_dict(a.state_dict())
    assert b.epsilon() == a.epsilon()


def test_bad_input():
    with pytest.raises(ValueError, match=r"^method:.*'mixture', 'agreement', 'confident'.*'em'"):
        EpsilonEstimator(N, method="em")
    with pytest.raises(ValueError, match="^num_samples:"):
        EpsilonEstimator(0)
    with pytest.raises(ValueError, match="^num_classes:"):
        EpsilonEstimator(N, "confident")
    with pytest.raises(ValueError, match="^transform:"):
        EpsilonEstimator(N, transform="sqrt")
    with pytest.raises(ValueError, match="^max_fraction:"):
        EpsilonEstimator(N, max_fraction=1.2)
    with pytest.raises(ValueError, match="^upper:"):
        EpsilonEstimator(N, upper=None)  # logit needs the score bound: checked at construction
    with pytest.raises(ValueError, match="^min_separation:"):
        EpsilonEstimator(N, min_separation=-1)
    est = EpsilonEstimator(N)
    with pytest.raises(ValueError, match="^scores:"):
        est.update(torch.zeros(4, 2), torch.arange(4))
    with pytest.raises(ValueError, match="^index:"):
        est.update(torch.zeros(4), torch.arange(3))
    with pytest.raises(ValueError, match="^index:"):
        est.update(torch.zeros(4), torch.zeros(4))
    with pytest.raises(ValueError, match="^method:"):
        est.update_heldout(torch.zeros(4, 3), torch.zeros(4, dtype=torch.long))
    held = EpsilonEstimator(N, "confident", num_classes=3)
    with pytest.raises(ValueError, match="^outputs:"):
        held.update_heldout(torch.zeros(4), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="^noisy_labels:"):
        held.update_heldout(torch.full((4, 3), 1 / 3), torch.zeros(5, dtype=torch.long))


def test_public_names():
    for name in E.__all__:
        assert getattr(E, name) is not None
    assert E.METHODS == ("mixture", "agreement", "confident", "anchor")
    assert issubclass(E.EstimationValueError, ValueError)
