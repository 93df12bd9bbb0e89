"""A class map belongs to a dataset: the established maps, your own, and the rest refused."""

from __future__ import annotations


import numpy as np
import pytest

from prl.errors import ConfigError
from prl.noise import CLASS_MAPS, ClassMap
from prl.noise.labels import CIFAR100_SUPERCLASSES
from prl.engine import setup

from ..conftest import TINY, run_cli


def test_class_maps_belong_to_their_dataset():
    T = ClassMap(0.4, mapping="auto")
    T.check_dataset("MNIST")
    assert T.mapping == {7: 1, 2: 7, 5: 6, 6: 5, 3: 8}  # the JoCoR / co-teaching code's MNIST map
    T = ClassMap(0.4)
    T.check_dataset("CIFAR-10")
    assert T.mapping == {9: 1, 2: 0, 4: 7, 3: 5, 5: 3}
    T = ClassMap(0.4)
    T.check_dataset("CIFAR-100")
    P = T.transition_matrix(100)
    for group in CIFAR100_SUPERCLASSES:  # every flip stays inside the superclass
        rows = P[list(group)]
        assert rows[:, list(group)].sum(axis=1) == pytest.approx(np.ones(5))
    assert sorted(c for g in CIFAR100_SUPERCLASSES for c in g) == list(range(100))
    for dataset in ("digits", "Fashion-MNIST"):
        with pytest.raises(ConfigError, match="no established class map .* mapping=cifar10 for CIFAR-10; "
                                              "mapping=mnist for MNIST; mapping=cifar100 for CIFAR-100"):
            ClassMap(0.4).check_dataset(dataset)
    with pytest.raises(ConfigError, match="mapping=cifar10 is the class map of CIFAR-10, not of dataset MNIST"):
        ClassMap(0.4, mapping="cifar10").check_dataset("MNIST")
    ClassMap(0.4, mapping={2: 7}).check_dataset("digits")  # your own map: any dataset
    assert CLASS_MAPS["cifar100-blocks"].mapping[4] == 0  # the reference code's blocks of 5


def test_asymmetric_on_digits_is_refused_before_any_work(tmp_path):
    out = tmp_path / "run"
    res = run_cli([*TINY, "noise=asymmetric", "algorithm=jocor", f"hydra.run.dir={out}"])
    assert res.returncode == 2, res.stdout[-2000:]
    assert "noise.mapping" in res.stderr and "CIFAR-10" in res.stderr and "MNIST" in res.stderr
    assert not out.exists()


def test_your_own_class_map_from_the_command_line(tiny_cfg):
    run = setup(tiny_cfg("noise=asymmetric", "noise.mapping={2:7,3:8}", "algorithm=co-prl-l"))
    y = run.data.train_y.numpy()
    changed = run.noisy_y.numpy() != y
    assert set(np.unique(y[changed])) <= {2, 3}
    share = np.isin(y, [2, 3]).mean()
    assert run.algorithm.rule.epsilon == pytest.approx(0.4 * share)
    assert run.noise_info["epsilon_source"] == "expected_corruption"
