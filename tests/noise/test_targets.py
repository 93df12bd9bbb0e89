"""Target corruptions (noise=target-*): exact rate, seeded, the rest untouched; tail trimming."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from prl.errors import ConfigError, ConfigValueError
from prl.data import diabetes
from prl.noise import (
    CleanTargets,
    ConstantShift,
    HeavyTailedTargets,
    LinearAdversary,
    RandomTargets,
    TailTrim,
    trim_training_set,
)

#: a short regression run: diabetes, MLP, 30% uniform target replacement, no logger
SHORT = ["dataset=diabetes", "model=mlp", "noise=target-random", "noise.rate=0.3", "logger=none",
         "trainer.epochs=2", "trainer.batch_size=64", "trainer.progress=false", "trainer.checkpoint=false"]

from ..conftest import compose


def changed_rows(clean: np.ndarray, noisy: np.ndarray) -> np.ndarray:
    return np.any(clean.reshape(len(clean), -1) != noisy.reshape(len(noisy), -1), axis=1)


# ============================================================================= corruptions

N = 20000


@pytest.fixture(scope="module")
def targets():
    rng = np.random.RandomState(123)
    return (rng.standard_normal(N) * 2.0 + 1.0).astype(np.float32)


ALL = [
    lambda seed=0: RandomTargets(0.3, seed),
    lambda seed=0: RandomTargets(0.3, seed, distribution="gaussian"),
    lambda seed=0: HeavyTailedTargets(0.3, seed, df=1.0),
    lambda seed=0: LinearAdversary(0.3, seed),
    lambda seed=0: ConstantShift(0.3, seed, shift=2.0),
]


@pytest.mark.parametrize("make", ALL, ids=["uniform", "gaussian", "cauchy", "linear", "shift"])
def test_exact_rate_seeded_and_the_rest_untouched(make, targets):
    x = np.random.RandomState(0).standard_normal((N, 5)).astype(np.float32)
    noise = make()
    noisy = noise.apply(targets, inputs=x)
    assert noisy.shape == targets.shape and noisy.dtype == np.float32
    changed = changed_rows(targets, noisy)
    assert changed.sum() == round(0.3 * N)
    assert np.array_equal(noisy[~changed], targets[~changed])  # bit-identical
    # which samples: RandomState(seed).choice(N, k, replace=False)
    chosen = np.sort(np.random.RandomState(0).choice(N, round(0.3 * N), replace=False))
    assert np.array_equal(np.flatnonzero(changed), chosen)
    assert np.array_equal(make().apply(targets, inputs=x), noisy)  # same seed, same targets
    assert not np.array_equal(make(seed=1).apply(targets, inputs=x), noisy)
    desc = noise.describe()
    assert desc["rate"] == 0.3 and desc["seed"] == 0 and desc["type"].startswith("target-")
    assert type(noise)(0.0).apply(targets, inputs=x).tolist() == targets.tolist()  # rate 0: a copy


def _corrupted(noise, targets, inputs=None):
    noisy = noise.apply(targets, inputs=inputs)
    changed = changed_rows(targets, noisy)
    return noisy[changed].astype(np.float64), targets[changed].astype(np.float64)


def test_random_uniform_over_the_target_range(targets):
    new, _ = _corrupted(RandomTargets(0.3), targets)
    lo, hi = float(targets.min()), float(targets.max())
    assert lo <= new.min() and new.max() <= hi
    assert stats.kstest(new, stats.uniform(lo, hi - lo).cdf).pvalue > 1e-3


def test_random_gaussian_with_the_target_moments(targets):
    new, _ = _corrupted(RandomTargets(0.3, distribution="gaussian"), targets)
    mean, std = float(targets.mean()), float(targets.std())
    assert stats.kstest(new, stats.norm(mean, std).cdf).pvalue > 1e-3


@pytest.mark.parametrize("df,scale", [(1.0, 1.0), (3.0, 0.5)])
def test_heavy_tailed_additive_student_t(targets, df, scale):
    new, old = _corrupted(HeavyTailedTargets(0.3, df=df, scale=scale), targets)
    z = (new - old) / (scale * float(targets.std()))
    assert stats.kstest(z, stats.t(df).cdf).pvalue > 1e-3
    assert stats.kstest(z, stats.norm.cdf).pvalue < 1e-6  # not Gaussian


def test_linear_adversary_is_one_linear_function_in_range(targets):
    x = np.random.RandomState(0).standard_normal((N, 5))
    new, old = _corrupted(LinearAdversary(0.3), targets, x)
    changed = changed_rows(targets, LinearAdversary(0.3).apply(targets, inputs=x))
    design = np.column_stack([x[changed], np.ones(changed.sum())])
    coef, *_ = np.linalg.lstsq(design, new, rcond=None)
    assert np.abs(design @ coef - new).max() < 1e-4  # exactly linear in the inputs
    assert abs(new.mean() - targets.mean()) < 0.1 and abs(new.std() - targets.std()) < 0.1  # in range
    assert abs(np.corrcoef(new, old)[0, 1]) < 0.05  # unrelated to the true targets
    with pytest.raises(ValueError, match="inputs"):
        LinearAdversary(0.3).apply(targets)


def test_linear_adversary_on_images_and_vector_targets():
    x = torch.randn(400, 1, 4, 4)
    y = np.random.RandomState(0).standard_normal((400, 3)).astype(np.float32)
    noisy = LinearAdversary(0.25).apply(y, inputs=x)
    changed = changed_rows(y, noisy)
    assert changed.sum() == 100
    assert (noisy[changed] != y[changed]).all()  # every dimension of a corrupted row


def test_constant_shift_in_std_units(targets):
    new, old = _corrupted(ConstantShift(0.3, shift=-1.5), targets)
    assert np.allclose(new - old, -1.5 * float(targets.std()), atol=1e-4)


@pytest.mark.parametrize("make,key", [
    (lambda: RandomTargets(1.0), "rate"),
    (lambda: RandomTargets(-0.1), "rate"),
    (lambda: RandomTargets(0.3, distribution="laplace"), "distribution"),
    (lambda: HeavyTailedTargets(0.3, df=0), "df"),
    (lambda: HeavyTailedTargets(0.3, scale=-1), "scale"),
    (lambda: ConstantShift(0.3, shift=0.0), "shift"),
    (lambda: CleanTargets(0.2), "rate"),
    (lambda: TailTrim(0.3), "quantile"),
    (lambda: TailTrim(0.9, mode="drop"), "mode"),
    (lambda: TailTrim(0.9, tails="left"), "tails"),
])
def test_bad_parameters_name_their_key(make, key):
    with pytest.raises(ConfigValueError) as exc:
        make()
    assert exc.value.key == key


def test_bad_noise_parameter_through_the_config(tmp_path):
    from prl.engine import train

    cfg = compose(*SHORT, "noise.distribution=laplace")
    with pytest.raises(ConfigError, match="noise.distribution") as exc:
        train(cfg, run_dir=str(tmp_path))
    assert "uniform, gaussian" in str(exc.value)
    assert not list(tmp_path.iterdir())  # nothing written


# ============================================================================= tail trimming


def test_tail_trim_remove_and_clip():
    y = np.concatenate([np.linspace(-1, 1, 98), [50.0, -40.0]]).astype(np.float32)
    keep, out, info = TailTrim(0.99, tails="upper").apply(y)
    assert not keep[98] and keep[99] and keep.sum() == 99 and out.shape == (99,)
    assert info["removed"] == 1 and np.isinf(info["lower"][0])
    keep, out, info = TailTrim(0.99).apply(y)
    assert keep.sum() == 98 and not keep[98:].any()
    keep, out, info = TailTrim(0.99, mode="clip").apply(y)
    assert keep.all() and out.shape == y.shape and info["removed"] == 0 and info["outside"] == 2
    assert out[98] == np.float32(info["upper"][0]) and out[99] == np.float32(info["lower"][0])
    assert np.array_equal(out[:98], y[:98])
    keep, out, _ = TailTrim(None).apply(y)
    assert keep.all() and np.array_equal(out, y)
    # vector targets: a row goes if any coordinate is outside
    yy = np.zeros((100, 2), dtype=np.float32)
    yy[:, 0] = np.arange(100)
    yy[0, 1] = 100.0
    keep, out, _ = TailTrim(0.95, tails="upper").apply(yy)  # bounds 94.05 and 0
    assert out.shape == (keep.sum(), 2) and np.array_equal(np.flatnonzero(keep), np.arange(1, 95))


def test_trim_training_set_keeps_data_consistent():
    d = diabetes()
    noisy = ConstantShift(0.2, shift=8.0).apply(d.train_y.numpy())
    clean_mask = torch.from_numpy(noisy == d.train_y.numpy())
    trimmed, y, mask, info = trim_training_set(TailTrim(0.8, tails="upper"), d, noisy, clean_mask)
    n = trimmed.train_x.shape[0]
    assert trimmed.train_y.shape == (n,) and y.shape == (n,) and mask.shape == (n,) and n == info["kept"]
    assert torch.equal(mask, torch.from_numpy(y == trimmed.train_y.numpy()))
    # shifted by 8 std, the corrupted targets are the top 20%: trimming there removes most of them
    assert info["rate_after_trim"] < 0.05
    assert trimmed.test_x is d.test_x
    with pytest.raises(ConfigValueError, match="regression"):
        from prl.data import digits

        dg = digits()
        trim_training_set(TailTrim(0.9), dg, dg.train_y.numpy(), torch.ones(len(dg.train_y), dtype=torch.bool))


def test_trim_end_to_end(tmp_path):
    cfg = compose(*SHORT)
    if "trim" not in cfg:
        pytest.skip("the runner has no trim option yet (train.py / config.py diff pending)")
    from prl.engine import train

    cfg = compose(*SHORT, "noise=target-shift", "noise.shift=8", "trim.quantile=0.75", "trim.tails=upper")
    summary = train(cfg, run_dir=str(tmp_path))
    trim = summary["noise"]["trim"]
    assert trim["removed"] == 354 - trim["kept"] and trim["rate_after_trim"] < 0.1
    labels = np.load(tmp_path / "labels.npz")
    assert labels["noisy"].shape == (trim["kept"],) == labels["clean"].shape
    with pytest.raises(ConfigError, match="trim"):
        train(compose("dataset=digits", "logger=none", "trim.quantile=0.9"), run_dir=str(tmp_path / "c"))


# ============================================================================= PRL-L on the squared error
