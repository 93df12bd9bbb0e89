"""auroc and precision_at_k against hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from prl.estimation import auroc, precision_at_k


def test_auroc_by_hand():
    # corrupted {0.35, 0.8} vs clean {0.1, 0.4}: 0.35 > 0.1, 0.35 < 0.4, 0.8 > both -> 3 / 4
    assert auroc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == pytest.approx(0.75)
    assert auroc([0.1, 0.2, 0.3, 0.4], [0, 0, 1, 1]) == 1.0
    assert auroc([0.4, 0.3, 0.2, 0.1], [0, 0, 1, 1]) == 0.0


def test_auroc_ties_count_one_half():
    # corrupted {0.5, 0.9} vs clean {0.5, 0.2}: tie 0.5 (1/2) + 1 + 1 + 1 -> 3.5 / 4
    assert auroc([0.5, 0.5, 0.2, 0.9], [True, False, False, True]) == pytest.approx(0.875)
    assert auroc([0.3, 0.3, 0.3, 0.3], [1, 0, 1, 0]) == pytest.approx(0.5)


def test_nan_scores_are_left_out():
    s = [0.1, np.nan, 0.4, 0.35, np.nan, 0.8]
    y = [0, 1, 0, 1, 0, 1]
    assert auroc(s, y) == pytest.approx(0.75)
    assert precision_at_k(s, y) == pytest.approx(0.5)  # k = 2 corrupted among the scored


def test_auroc_needs_both_classes():
    with pytest.raises(ValueError, match=r"^is_corrupted:.*both"):
        auroc([0.1, 0.2, 0.3], [1, 1, 1])
    with pytest.raises(ValueError, match=r"^is_corrupted:"):
        auroc([0.1, 0.2, np.nan], [0, 0, 1])  # the only corrupted sample is unscored


def test_precision_at_k_by_hand_with_ties_by_index():
    s = [0.9, 0.5, 0.5, 0.1]
    # top 2: index 0, then index 1 (tie with index 2, lower index first)
    assert precision_at_k(s, [1, 0, 1, 0]) == pytest.approx(0.5)
    assert precision_at_k(s, [1, 1, 0, 0]) == pytest.approx(1.0)
    assert precision_at_k(s, [1, 0, 1, 0], k=3) == pytest.approx(2 / 3)
    assert precision_at_k(s, [1, 0, 1, 0], k=1) == 1.0
    assert precision_at_k(s, [0, 0, 0, 1], k=4) == 0.25


@pytest.mark.parametrize("kwargs, param", [
    (dict(suspect_scores=[0.1, 0.2], is_corrupted=[0, 1], k=0), "k"),
    (dict(suspect_scores=[0.1, 0.2], is_corrupted=[0, 1], k=3), "k"),
    (dict(suspect_scores=[0.1, 0.2], is_corrupted=[0, 0]), "k"),
    (dict(suspect_scores=[0.1, 0.2], is_corrupted=[0, 1, 1]), "is_corrupted"),
    (dict(suspect_scores=[0.1, 0.2], is_corrupted=[0, 2]), "is_corrupted"),
    (dict(suspect_scores=[[0.1, 0.2]], is_corrupted=[0, 1]), "suspect_scores"),
    (dict(suspect_scores=[0.1, np.inf], is_corrupted=[0, 1]), "suspect_scores"),
])
def test_precision_at_k_bad_input(kwargs, param):
    with pytest.raises(ValueError, match=rf"^{param}:"):
        precision_at_k(**kwargs)
