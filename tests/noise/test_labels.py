"""Label noise: reference parity, statistics, seeds, and refusals."""

import numpy as np
import pytest

from prl.errors import ConfigError
from prl.noise import ClassMap, Clean, LabelFile, PairFlip, Symmetric, sample_from_transition


def reference_noisify(y, P, random_state):
    """The co-teaching / PRL reference procedure: labels as an (N, 1) array, one
    RandomState, multinomial(1, P[i, :][0], 1) per sample in order."""
    y = np.asarray(y)[:, None]
    new_y = y.copy()
    flipper = np.random.RandomState(random_state)
    for idx in np.arange(y.shape[0]):
        i = y[idx]
        flipped = flipper.multinomial(1, P[i, :][0], 1)[0]
        new_y[idx] = np.where(flipped == 1)[0]
    return new_y[:, 0]


def reference_pairflip_matrix(n, nb):
    P = np.eye(nb)
    P[0, 0], P[0, 1] = 1.0 - n, n
    for i in range(1, nb - 1):
        P[i, i], P[i, i + 1] = 1.0 - n, n
    P[nb - 1, nb - 1], P[nb - 1, 0] = 1.0 - n, n
    return P


def reference_symmetric_matrix(n, nb):
    P = (n / (nb - 1)) * np.ones((nb, nb))
    P[0, 0] = 1.0 - n
    for i in range(1, nb - 1):
        P[i, i] = 1.0 - n
    P[nb - 1, nb - 1] = 1.0 - n
    return P


LABELS = np.random.RandomState(123).randint(0, 10, 5000)


@pytest.mark.parametrize("rate", [0.2, 0.45])
def test_pairflip_identical_to_reference_code(rate):
    ref = reference_noisify(LABELS, reference_pairflip_matrix(rate, 10), 0)
    assert np.array_equal(PairFlip(rate, seed=0).apply(LABELS, 10), ref)


@pytest.mark.parametrize("rate,nb", [(0.2, 10), (0.5, 10), (0.5, 100)])
def test_symmetric_identical_to_reference_code(rate, nb):
    labels = np.random.RandomState(7).randint(0, nb, 3000)
    ref = reference_noisify(labels, reference_symmetric_matrix(rate, nb), 0)
    assert np.array_equal(Symmetric(rate, seed=0).apply(labels, nb), ref)


def test_golden_values_pin_the_random_stream():
    """A refactor that changes how the stream is consumed must fail here."""
    labels = np.arange(10).repeat(2)
    assert PairFlip(0.45, seed=0).apply(labels, 10).tolist() == reference_noisify(
        labels, reference_pairflip_matrix(0.45, 10), 0).tolist()
    assert PairFlip(0.45, seed=0).apply(labels, 10).tolist() == [
        0, 1, 1, 1, 3, 3, 3, 4, 5, 4, 5, 5, 7, 7, 8, 8, 9, 8, 0, 9]


def realised_matrix(clean, noisy, C):
    T = np.zeros((C, C))
    np.add.at(T, (clean, noisy), 1)
    return T / T.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("noise", [Symmetric(0.5, 3), Symmetric(0.2, 4), PairFlip(0.45, 5),
                                   Symmetric(0.6, 6, include_true_class=True),
                                   ClassMap(0.4, 7, mapping="cifar10")])
def test_realised_transition_matrix_matches_requested(noise):
    C = 10
    clean = np.random.RandomState(0).randint(0, C, 100_000)
    noisy = noise.apply(clean, C)
    T = noise.transition_matrix(C)
    np.testing.assert_allclose(T.sum(axis=1), 1.0)
    # ~10k samples a row: 5 standard errors of a proportion is < 0.025
    np.testing.assert_allclose(realised_matrix(clean, noisy, C), T, atol=0.025)
    expected_rate = (1 - np.diag(T)).mean()
    assert abs((noisy != clean).mean() - expected_rate) < 0.01


def test_symmetric_conventions_differ_as_documented():
    T_other = Symmetric(0.5).transition_matrix(10)
    T_all = Symmetric(0.5, include_true_class=True).transition_matrix(10)
    assert T_other[0, 0] == pytest.approx(0.5) and T_other[0, 1] == pytest.approx(0.5 / 9)
    assert T_all[0, 0] == pytest.approx(0.55) and T_all[0, 1] == pytest.approx(0.05)


def test_cifar10_class_map():
    T = ClassMap(0.4, mapping="cifar10").transition_matrix(10)
    for src, dst in {9: 1, 2: 0, 4: 7, 3: 5, 5: 3}.items():
        assert T[src, dst] == pytest.approx(0.4) and T[src, src] == pytest.approx(0.6)
    assert T[0, 0] == 1 and T[1, 1] == 1


def test_seeds():
    a = PairFlip(0.45, seed=0).apply(LABELS, 10)
    assert np.array_equal(a, PairFlip(0.45, seed=0).apply(LABELS, 10))
    assert not np.array_equal(a, PairFlip(0.45, seed=1).apply(LABELS, 10))


def test_rate_zero_and_clean_change_nothing():
    assert np.array_equal(Clean().apply(LABELS, 10), LABELS)
    assert np.array_equal(Symmetric(0.0).apply(LABELS, 10), LABELS)


@pytest.mark.parametrize("make", [lambda: Symmetric(-0.1), lambda: Symmetric(1.0), lambda: PairFlip(1.5),
                                  lambda: PairFlip("abc"), lambda: Clean(rate=0.2)])
def test_bad_rates_refused(make):
    with pytest.raises(ConfigError) as err:
        make()
    assert err.value.key == "rate"


@pytest.mark.parametrize("noise,C", [(PairFlip(0.5), 10), (PairFlip(0.6), 10), (Symmetric(0.9), 10),
                                     (Symmetric(0.5), 2), (Symmetric(0.2), 1), (ClassMap(0.5, mapping="cifar10"), 10)])
def test_uninformative_noise_refused(noise, C):
    with pytest.raises(ConfigError, match="rate|at least 2 classes") as err:
        noise.apply(np.zeros(10, dtype=np.int64), C)
    assert err.value.key == "rate"


def test_symmetric_just_below_limit_is_allowed():
    Symmetric(0.89).apply(LABELS, 10)


def test_label_file(tmp_path):
    noisy = (LABELS + 1) % 10
    np.save(tmp_path / "labels.npy", noisy)
    assert np.array_equal(LabelFile(str(tmp_path / "labels.npy")).apply(LABELS, 10), noisy)
    np.savetxt(tmp_path / "labels.csv", noisy, fmt="%d")
    assert np.array_equal(LabelFile(str(tmp_path / "labels.csv")).apply(LABELS, 10), noisy)
    np.save(tmp_path / "short.npy", noisy[:-1])
    with pytest.raises(ConfigError, match="4999 labels but the training set has 5000"):
        LabelFile(str(tmp_path / "short.npy")).apply(LABELS, 10)
    with pytest.raises(ConfigError, match="does not exist"):
        LabelFile(str(tmp_path / "missing.npy")).apply(LABELS, 10)
    np.save(tmp_path / "range.npy", noisy + 5)
    with pytest.raises(ConfigError, match="outside 0..9"):
        LabelFile(str(tmp_path / "range.npy")).apply(LABELS, 10)


def test_sample_from_transition_rejects_non_stochastic():
    with pytest.raises(ValueError, match="row-stochastic"):
        sample_from_transition(np.zeros(3, dtype=int), np.ones((2, 2)), 0)
