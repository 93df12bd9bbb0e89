"""mixture_fraction / fit_mixture on synthetic score distributions with a known corrupted fraction."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from prl.estimation import fit_mixture, mixture_fraction, transform_scores
from prl.estimation.synthetic import beta_scores, regression_residuals, softmax_outputs

N = 20000


@pytest.mark.parametrize("weight", [0.1, 0.2, 0.45])
@pytest.mark.parametrize("output", ["posterior", "weight"])
def test_beta_mixture_recovers_the_weight(weight, output):
    scores, bad = beta_scores(N, weight, seed=1)
    assert bad.mean() == pytest.approx(weight)
    assert mixture_fraction(scores, output=output) == pytest.approx(weight, abs=0.02)


def test_softmax_scores_symmetric_noise():
    o = softmax_outputs(N, 0.3, seed=2)
    assert mixture_fraction(o.scores) == pytest.approx(o.fraction, abs=0.03)


def test_regression_residuals_with_log_transform():
    scores, bad = regression_residuals(N, 0.3, dim=10, seed=3)
    assert mixture_fraction(scores, transform="log") == pytest.approx(0.3, abs=0.02)


@pytest.mark.parametrize("make", [
    lambda: beta_scores(N, 0.0, seed=4)[0],
    lambda: softmax_outputs(N, 0.0, seed=4).scores,
    lambda: regression_residuals(N, 0.0, seed=4)[0],
])
def test_one_mode_is_clean_exactly_zero(make):
    scores = make()
    transform = "log" if scores.max() > math.sqrt(2) else "logit"
    fit = fit_mixture(scores, transform=transform)
    assert fit.clean and fit.fraction == 0.0
    assert fit.separation <= 2.0
    # without the clean test a 2-component fit splits the one mode: that is what the test is for
    assert fit.posterior > 0.05
    assert mixture_fraction(scores, transform=transform) == 0.0


def test_over_confident_clean_network_is_clean():
    # clean scores spread over many decades (1e-13 .. 1e-2): in logit space that looks like two
    # modes (D > 2), but the high one sits far below upper / 2, where p(label) < 0.5
    o = softmax_outputs(N, 0.0, logit_scale=10.0, seed=9)
    fit = fit_mixture(o.scores)
    assert fit.clean and fit.fraction == 0.0
    assert fit.separation > 2.0 and fit.high_center < 1e-3
    assert fit_mixture(o.scores, min_high_score=0.0).fraction > 0.5  # what the location test prevents
    noisy = softmax_outputs(N, 0.2, logit_scale=10.0, seed=9)
    assert mixture_fraction(noisy.scores) == pytest.approx(noisy.fraction, abs=0.04)


def test_constant_or_too_few_scores_are_clean():
    assert mixture_fraction(np.full(1000, 0.3)) == 0.0
    assert mixture_fraction(beta_scores(40, 0.5, seed=0)[0]) == 0.0  # fewer than min_samples


def test_nan_means_unseen_and_is_ignored():
    scores, _ = beta_scores(N, 0.2, seed=5)
    with_nan = scores.copy()
    unseen = np.random.default_rng(0).random(N) < 0.3
    with_nan[unseen] = np.nan
    fit = fit_mixture(with_nan)
    assert fit.num_scored == int((~unseen).sum())
    assert fit.fraction == mixture_fraction(scores[~unseen])
    assert fit.fraction == pytest.approx(0.2, abs=0.02)
    assert mixture_fraction(np.full(100, np.nan)) == 0.0


def test_deterministic_for_a_fixed_input():
    o = softmax_outputs(N // 2, 0.2, seed=6)
    first = fit_mixture(o.scores)
    assert fit_mixture(o.scores.copy()) == first
    assert fit_mixture(torch.as_tensor(o.scores)).fraction == first.fraction  # tensors are accepted
    other = fit_mixture(o.scores, random_state=1).fraction
    assert other == pytest.approx(first.fraction, abs=0.01)


def test_subsample_and_full_fit_agree():
    scores, _ = beta_scores(30000, 0.2, seed=7)
    assert mixture_fraction(scores, max_samples=None) == pytest.approx(mixture_fraction(scores, max_samples=5000), abs=0.01)


def test_raw_and_minmax_are_the_same_fit():
    scores, _ = beta_scores(N, 0.2, seed=8)
    a = fit_mixture(scores, transform="raw")
    b = fit_mixture(scores, transform="minmax")
    assert a.fraction == pytest.approx(b.fraction, abs=1e-4)
    assert a.separation == pytest.approx(b.separation, rel=1e-4)


def test_transforms():
    s = np.array([0.0, 0.5, math.sqrt(2)])
    assert np.all(np.isfinite(transform_scores(s, "logit", math.sqrt(2))))
    assert np.all(np.isfinite(transform_scores(s, "log")))
    assert transform_scores(s, "logit", math.sqrt(2))[1] == pytest.approx(math.log(0.5 / (math.sqrt(2) - 0.5)))
    np.testing.assert_allclose(transform_scores(s, "minmax"), s / math.sqrt(2))


@pytest.mark.parametrize("kwargs, param", [
    (dict(scores=np.zeros((10, 2))), "scores"),
    (dict(scores=np.array([0.1, np.inf] * 50)), "scores"),
    (dict(scores=np.array([-0.1, 0.2] * 50), transform="log"), "scores"),
    (dict(scores=np.array([0.1, 2.0] * 50)), "scores"),  # > upper=sqrt(2) for logit
    (dict(scores=np.array([0.1, 0.2] * 50), transform="logit", upper=None), "upper"),
    (dict(scores=np.array([0.1, 0.2] * 50), transform="sqrt"), "transform"),
    (dict(scores=np.array([0.1, 0.2] * 50), output="mean"), "output"),
    (dict(scores=np.array([0.1, 0.2] * 50), n_init=0), "n_init"),
    (dict(scores=np.array([0.1, 0.2] * 50), min_separation=-1.0), "min_separation"),
    (dict(scores=np.array([0.1, 0.2] * 50), min_high_score=float("nan")), "min_high_score"),
])
def test_bad_input_names_the_parameter(kwargs, param):
    with pytest.raises(ValueError, match=rf"^{param}:"):
        mixture_fraction(**kwargs)


def test_unknown_transform_lists_the_allowed_values():
    with pytest.raises(ValueError, match="'raw', 'minmax', 'log', 'logit'"):
        mixture_fraction(np.ones(100), transform="sqrt")
