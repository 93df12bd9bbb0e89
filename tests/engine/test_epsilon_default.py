"""epsilon's default: the noise model's expected corrupted fraction, and where epsilon came from."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from prl.noise import ClassMap, PairFlip, Symmetric

from ..conftest import run_cli, summary


def test_expected_corruption_of_each_noise_model():
    balanced = np.repeat(np.arange(10), 50)
    assert ClassMap(0.4, mapping="cifar10").expected_corruption(balanced, 10) == pytest.approx(0.2)  # JoCoR: rate / 2
    assert Symmetric(0.5).expected_corruption(balanced, 10) == 0.5
    assert Symmetric(0.5, include_true_class=True).expected_corruption(balanced, 10) == pytest.approx(0.45)
    assert PairFlip(0.45).expected_corruption(balanced, 10) == 0.45
    skewed = np.array([9] * 90 + [0] * 10)  # 90% trucks: the map flips 90% of them
    assert ClassMap(0.4, mapping="cifar10").expected_corruption(skewed, 10) == pytest.approx(0.36)
    T = Symmetric(0.3).transition_matrix(4)
    p = np.array([0.1, 0.2, 0.3, 0.4])
    assert float(p @ (1 - np.diag(T))) == pytest.approx(Symmetric(0.3).expected_corruption(np.repeat(range(4), [1, 2, 3, 4]), 4))


@pytest.mark.parametrize("overrides, epsilon, source", [
    (["noise=pairflip45", "algorithm=prl-l"], 0.45, "expected_corruption"),
    (["noise=symmetric50", "algorithm=co-teaching"], 0.5, "expected_corruption"),
    (["noise=pairflip45", "algorithm=prl-l", "algorithm.epsilon=0.3"], 0.3, "user"),
    (["dataset=diabetes", "model=mlp", "noise=target-shift", "noise.rate=0.3", "algorithm=spl"], 0.3,
     "expected_corruption"),
])
def test_epsilon_source_is_recorded(tiny_cfg, tmp_path, overrides, epsilon, source):
    from prl.engine import train

    s = train(tiny_cfg("trainer.epochs=1", *overrides), str(tmp_path / "run"))
    assert s["epsilon"] == epsilon and s["epsilon_source"] == source
    assert "epsilon_is_noise_rate" not in s
    saved = (tmp_path / "run" / "config.yaml").read_text()
    assert ("epsilon: null" in saved) == (source != "user")


def test_mnist_asymmetric_expected_corruption_via_the_runner(tmp_path):
    from ..data.test_images import write_mnist_like

    write_mnist_like(tmp_path / "MNIST" / "raw", n_train=200, n_test=20)
    out = tmp_path / "run"
    res = run_cli(["dataset=mnist", f"dataset.root={tmp_path}", "model=cnn-small", "noise=asymmetric",
                   "logger=none", "trainer.epochs=1", "trainer.progress=false", "algorithm=co-prl-l",
                   f"hydra.run.dir={out}"])
    assert res.returncode == 0, res.stderr
    s = summary(out)
    y = np.load(out / "labels.npz")["clean"]
    assert s["epsilon"] == pytest.approx(0.4 * np.isin(y, [7, 2, 5, 6, 3]).mean())
    assert s["noise"]["mapping"] == "mnist" and s["epsilon_source"] == "expected_corruption"
    cfg = json.loads(json.dumps(s["noise"]))
    assert cfg["rate_expected"] == s["noise_rate_expected"] == s["epsilon"]
    assert os.path.exists(out / "config.yaml")
