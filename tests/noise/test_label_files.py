"""Label files in the formats people have: CIFAR-N's dict of numpy arrays, .npz, .pt of tensors;
the official CIFAR-10N / CIFAR-100N files checked against their dataset."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from prl.data import digits
from prl.errors import ConfigError
from prl.noise import CifarN, LabelFile

from ..conftest import TINY, run_cli, summary
from ..data.test_images import write_cifar


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
