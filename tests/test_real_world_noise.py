"""Label files in the formats people have (CIFAR-N's dict of numpy arrays, .npz, .pt of tensors),
class maps that belong to a dataset, and epsilon's default: the expected corrupted fraction."""

from __future__ import annotations

import json
import os
import pickle

import numpy as np
import pytest
import torch

from prl.data import digits
from prl.errors import ConfigError
from prl.noise import CLASS_MAPS, CifarN, ClassMap, LabelFile, PairFlip, Symmetric
from prl.noise.labels import CIFAR100_SUPERCLASSES
from prl.engine import setup

from .conftest import TINY, run_cli, summary
from .test_data import write_cifar


@pytest.fixture(scope="module")
def cifar_n_files(tmp_path_factory):
    """The issue's repro: digits' 1,348 training labels, 40% made wrong with RandomState(123),
    saved as CIFAR-N does (a dict of numpy int64 arrays) and as an .npz."""
    folder = tmp_path_factory.mktemp("labelfiles")
    y = digits().train_y.numpy()
    rng = np.random.RandomState(123)
    worse = y.copy()
    f = rng.rand(len(y)) < 0.4
    worse[f] = (y[f] + 1 + rng.randint(0, 9, f.sum())) % 10
    torch.save({"clean_label": y, "worse_label": worse}, folder / "n.pt")
    np.savez(folder / "n.npz", clean_label=y, worse_label=worse)
    torch.save({"clean_label": torch.from_numpy(y), "worse_label": torch.from_numpy(worse)}, folder / "t.pt")
    return folder, y, worse


def test_cifar_n_layout_loads_safely_with_its_key(cifar_n_files):
    folder, y, worse = cifar_n_files
    for name in ("n.pt", "n.npz", "t.pt"):
        got = LabelFile(str(folder / name), key="worse_label").apply(y, 10, dataset="digits")
        np.testing.assert_array_equal(got, worse)
    assert (worse != y).mean() == pytest.approx(0.4154, abs=5e-5)


@pytest.mark.parametrize("name", ["n.pt", "n.npz", "t.pt"])
def test_several_arrays_without_a_key_are_refused_with_the_keys(cifar_n_files, name):
    folder, y, _ = cifar_n_files
    with pytest.raises(ConfigError, match="holds 2 arrays \\(clean_label, worse_label\\); choose one with noise.key"):
        LabelFile(str(folder / name)).apply(y, 10)
    with pytest.raises(ConfigError, match="key='noisy' is not in .* it holds: clean_label, worse_label"):
        LabelFile(str(folder / name), key="noisy").apply(y, 10)


def test_a_single_array_container_needs_no_key(tmp_path):
    y = np.arange(30) % 10
    np.savez(tmp_path / "one.npz", labels=(y + 1) % 10)
    np.testing.assert_array_equal(LabelFile(str(tmp_path / "one.npz")).apply(y, 10), (y + 1) % 10)
    np.save(tmp_path / "plain.npy", y)
    with pytest.raises(ConfigError, match="holds a single array"):
        LabelFile(str(tmp_path / "plain.npy"), key="worse_label").apply(y, 10)


class _Payload:
    """Unpickling this would create a file: a .pt label file must never run it."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_arbitrary_objects_are_never_unpickled(tmp_path):
    marker = tmp_path / "was-unpickled"
    with open(tmp_path / "evil.pt", "wb") as fh:
        pickle.dump({"worse_label": _Payload(str(marker))}, fh)
    torch.save({"worse_label": _Payload(str(marker))}, tmp_path / "evil2.pt")
    marker.unlink(missing_ok=True)
    for name in ("evil.pt", "evil2.pt"):
        with pytest.raises(ConfigError, match="cannot read labels"):
            LabelFile(str(tmp_path / name), key="worse_label").apply(np.zeros(1, dtype=int), 10)
    assert not marker.exists()
    np.save(tmp_path / "objects.npy", np.array([1, "a"], dtype=object), allow_pickle=True)
    with pytest.raises(ConfigError, match="cannot read labels"):
        LabelFile(str(tmp_path / "objects.npy")).apply(np.zeros(2, dtype=int), 10)


def test_clean_labels_of_another_dataset_are_refused(cifar_n_files):
    folder, y, _ = cifar_n_files
    shuffled = np.roll(y, 1)
    with pytest.raises(ConfigError, match="clean_label array .* differs from the training labels"):
        LabelFile(str(folder / "n.pt"), key="worse_label").apply(shuffled, 10, dataset="digits")


def test_label_file_run_from_the_command_line(cifar_n_files, tmp_path):
    folder, _, _ = cifar_n_files
    out = tmp_path / "run"
    res = run_cli([*TINY, "trainer.epochs=1", "noise=labelfile", f"noise.path={folder / 'n.pt'}",
                   "noise.key=worse_label", "algorithm=co-prl-l", f"hydra.run.dir={out}"])
    assert res.returncode == 0, res.stderr
    s = summary(out)
    assert s["noise_rate_realised"] == pytest.approx(0.41543, abs=1e-5)
    assert s["noise_rate_expected"] is None
    assert s["epsilon"] == pytest.approx(0.41543, abs=1e-5) and s["epsilon_source"] == "realised_corruption"
    assert "oracle" in s["definitions"]["epsilon_source"]
    res = run_cli([*TINY, "noise=labelfile", f"noise.path={folder / 'n.npz'}", f"hydra.run.dir={tmp_path / 'b'}"])
    assert res.returncode == 2 and "noise.key" in res.stderr and "clean_label, worse_label" in res.stderr
    assert not (tmp_path / "b").exists()


# ----------------------------------------------------------------------------- CIFAR-N


def write_cifar_n(path, clean, **noisy):
    torch.save({"clean_label": np.asarray(clean, dtype=np.int64),
                **{k: np.asarray(v, dtype=np.int64) for k, v in noisy.items()}}, path)


def test_cifar10n_reads_the_official_layout_and_checks_the_dataset(tmp_path):
    write_cifar(tmp_path, "cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], "test_batch", "labels")
    from prl.data import cifar10, cifar100

    clean = cifar10(root=str(tmp_path)).train_y.numpy()
    aggre, worst = clean.copy(), (clean + 1) % 10
    aggre[0] = (aggre[0] + 1) % 10
    path = tmp_path / "CIFAR-10_human.pt"
    write_cifar_n(path, clean, aggre_label=aggre, worse_label=worst, random_label1=clean, random_label2=clean,
                  random_label3=clean)
    np.testing.assert_array_equal(CifarN("cifar10n", "aggre", str(path)).apply(clean, 10, dataset="CIFAR-10"), aggre)
    np.testing.assert_array_equal(CifarN("cifar10n", "worst", str(path)).apply(clean, 10, dataset="CIFAR-10"), worst)
    with pytest.raises(ConfigError, match="not of dataset CIFAR-100"):
        CifarN("cifar10n", "worst", str(path)).apply(clean, 100, dataset="CIFAR-100")
    with pytest.raises(ConfigError, match="label must be one of aggre, random1, random2, random3, worst, clean"):
        CifarN("cifar10n", "worse", str(path))
    with pytest.raises(ConfigError, match="but the training set has 29 samples \\(CIFAR-10\\)"):
        CifarN("cifar10n", "worst", str(path)).apply(clean[:-1], 10, dataset="CIFAR-10")
    with pytest.raises(ConfigError, match="clean_label array .* differs"):
        CifarN("cifar10n", "worst", str(path)).apply((clean + 1) % 10, 10, dataset="CIFAR-10")

    # through the config: noise=cifar10n noise.label=aggre on dataset=cifar10
    out = tmp_path / "run"
    res = run_cli(["dataset=cifar10", f"dataset.root={tmp_path}", "model=cnn-small", "noise=cifar10n",
                   "noise.label=aggre", f"noise.path={path}", "logger=none", "trainer.epochs=1",
                   "trainer.progress=false", "algorithm=prl-l", f"hydra.run.dir={out}"])
    assert res.returncode == 0, res.stderr
    assert summary(out)["noise_rate_realised"] == pytest.approx(1 / len(clean))
    write_cifar(tmp_path, "cifar-100-python", ["train"], "test", "fine_labels", classes=100)
    cifar100(root=str(tmp_path))
    res = run_cli(["dataset=cifar100", f"dataset.root={tmp_path}", "model=cnn-small", "noise=cifar10n",
                   f"noise.path={path}", "logger=none", f"hydra.run.dir={tmp_path / 'refused'}"])
    assert res.returncode == 2 and "noise" in res.stderr and "CIFAR-10 training set" in res.stderr
    assert not (tmp_path / "refused").exists()


def test_cifar_n_without_the_file_says_where_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("PRL_DATA", str(tmp_path))
    with pytest.raises(ConfigError, match="CIFAR-100_human.pt not found .*github.com/UCSC-REAL/cifar-10-100n"):
        CifarN("cifar100n", "noisy")
    write_cifar_n(tmp_path / "CIFAR-100_human.pt", np.zeros(3), noisy_label=np.ones(3))
    assert CifarN("cifar100n", "noisy").path == str(tmp_path / "CIFAR-100_human.pt")


# ----------------------------------------------------------------------------- class maps


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


# ----------------------------------------------------------------------------- epsilon's default


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
    from .test_data import write_mnist_like

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
