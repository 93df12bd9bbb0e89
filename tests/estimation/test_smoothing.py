"""EpsilonSmoother: clipping, running median, exponential smoothing, dead band, warm-up."""

from __future__ import annotations

import pytest

from prl.estimation import EpsilonSmoother, smooth


def test_exponential_smoothing_starts_at_the_first_estimate():
    assert smooth([0.2, 0.4, 0.4], alpha=0.5, window=1) == pytest.approx([0.2, 0.3, 0.35])
    assert smooth([0.2, 0.4], alpha=1.0, window=1) == pytest.approx([0.2, 0.4])


def test_running_median_ignores_one_spike():
    assert smooth([0.3, 0.3, 0.8, 0.3, 0.3], window=3) == pytest.approx([0.3] * 5)
    assert smooth([0.0, 0.0, 0.8, 0.0, 0.0]) == [0.0] * 5
    assert smooth([0.0, 0.8, 0.0], window=1)[1] == pytest.approx(0.4)


def test_clipping():
    assert smooth([0.95], max_fraction=0.9) == [0.9]
    assert smooth([1.0, 1.0], max_fraction=0.5) == [0.5, 0.5]
    assert smooth([-0.2]) == [0.0]


def test_clean_data_stays_exactly_zero():
    out = smooth([0.0] * 5)
    assert out == [0.0] * 5 and all(type(x) is float for x in out)
    assert smooth([0.01, 0.015, 0.01], zero_below=0.02) == [0.0, 0.0, 0.0]
    assert smooth([0.01, 0.3, 0.3], zero_below=0.02, window=1)[2] > 0.2


def test_warmup_ignores_the_first_estimates():
    assert smooth([0.8, 0.8, 0.2, 0.2], warmup=2, window=1) == pytest.approx([0.0, 0.0, 0.2, 0.2])


def test_state_dict_round_trip():
    a = EpsilonSmoother(alpha=0.3, window=3, warmup=1)
    for r in [0.5, 0.2, 0.4, 0.3]:
        a.update(r)
    b = EpsilonSmoother(alpha=0.3, window=3, warmup=1)
    b.load_state_dict(a.state_dict())
    assert b.update(0.25) == a.update(0.25)
    with pytest.raises(ValueError, match="^alpha:"):
        EpsilonSmoother(alpha=0.9).load_state_dict(a.state_dict())


@pytest.mark.parametrize("kwargs, param", [
    (dict(alpha=0.0), "alpha"), (dict(alpha=1.5), "alpha"), (dict(max_fraction=1.0), "max_fraction"),
    (dict(zero_below=0.95), "zero_below"), (dict(window=0), "window"), (dict(warmup=-1), "warmup"),
])
def test_bad_parameters(kwargs, param):
    with pytest.raises(ValueError, match=rf"^{param}:"):
        EpsilonSmoother(**kwargs)


def test_nan_estimate_is_refused():
    with pytest.raises(ValueError, match="^raw:"):
        EpsilonSmoother().update(float("nan"))
