"""Dataset loaders on small files the tests write themselves, and the batch iterator."""

import gzip
import os
import pickle

import numpy as np
import pytest
import torch

from prl import data as D
from prl.errors import ConfigError


def write_idx(path, array, compress):
    array = np.asarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    raw = header + array.tobytes()
    with (gzip.open(path, "wb") if compress else open(path, "wb")) as fh:
        fh.write(raw)


def write_mnist_like(folder, n_train=20, n_test=10, compress=True, seed=0):
    os.makedirs(folder, exist_ok=True)
    rng = np.random.RandomState(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.randint(0, 256, (n_train, 28, 28)),
        "train-labels-idx1-ubyte": rng.randint(0, 10, n_train),
        "t10k-images-idx3-ubyte": rng.randint(0, 256, (n_test, 28, 28)),
        "t10k-labels-idx1-ubyte": rng.randint(0, 10, n_test),
    }
    for name, arr in arrays.items():
        write_idx(os.path.join(folder, name + (".gz" if compress else "")), arr, compress)
    return arrays


def test_fashion_mnist_reads_gz_files_in_root(tmp_path):
    arrays = write_mnist_like(tmp_path, compress=True)
    d = D.fashion_mnist(root=str(tmp_path))
    assert d.train_x.shape == (20, 1, 28, 28) and d.test_x.shape == (10, 1, 28, 28)
    assert d.train_x.dtype == torch.float32 and 0.0 <= d.train_x.min() and d.train_x.max() <= 1.0
    np.testing.assert_array_equal(d.train_y.numpy(), arrays["train-labels-idx1-ubyte"])
    np.testing.assert_allclose(d.train_x[3, 0].numpy(), arrays["train-images-idx3-ubyte"][3] / 255.0, rtol=1e-6)
    assert d.num_classes == 10 and d.input_shape == (1, 28, 28) and d.task == "classification"


def test_fashion_mnist_torchvision_layout_uncompressed(tmp_path):
    write_mnist_like(tmp_path / "FashionMNIST" / "raw", compress=False)
    assert D.fashion_mnist(root=str(tmp_path)).train_x.shape[0] == 20


def test_normalize_uses_training_statistics(tmp_path):
    write_mnist_like(tmp_path)
    d = D.fashion_mnist(root=str(tmp_path), normalize=True)
    assert abs(float(d.train_x.mean())) < 1e-5 and abs(float(d.train_x.std()) - 1) < 1e-3


def test_missing_dataset_says_where_it_looked_and_how_to_fix(tmp_path):
    with pytest.raises(ConfigError) as err:
        D.fashion_mnist(root=str(tmp_path))
    msg = str(err.value)
    assert str(tmp_path) in msg and "apt-get install dataset-fashion-mnist" in msg and "dataset.download=true" in msg


def test_root_that_does_not_exist(tmp_path):
    with pytest.raises(ConfigError, match="dataset.root=.*does not exist") as err:
        D.mnist(root=str(tmp_path / "nope"))
    assert err.value.key == "dataset.root"


def test_truncated_file_is_reported(tmp_path):
    write_mnist_like(tmp_path, compress=False)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ConfigError, match="corrupt or truncated"):
        D.fashion_mnist(root=str(tmp_path))


def test_corrupt_gzip_is_reported(tmp_path):
    write_mnist_like(tmp_path, compress=True)
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:20])
    with pytest.raises(ConfigError, match="corrupt or truncated"):
        D.fashion_mnist(root=str(tmp_path))


def test_not_an_idx_file(tmp_path):
    write_mnist_like(tmp_path, compress=False)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(b"hello world, not idx")
    with pytest.raises(ConfigError, match="not an idx file"):
        D.fashion_mnist(root=str(tmp_path))


def test_mnist_torchvision_layout(tmp_path):
    write_mnist_like(tmp_path / "MNIST" / "raw", compress=False, seed=3)
    d = D.mnist(root=str(tmp_path))
    assert d.name == "MNIST" and d.train_x.shape == (20, 1, 28, 28)


def write_cifar(root, folder, train_files, test_file, label_key, n=6, classes=10):
    d = root / folder
    d.mkdir(parents=True)
    rng = np.random.RandomState(0)
    for f in list(train_files) + [test_file]:
        batch = {"data": rng.randint(0, 256, (n, 3072)).astype(np.uint8), label_key: rng.randint(0, classes, n).tolist()}
        with open(d / f, "wb") as fh:
            pickle.dump(batch, fh)
    return d


def test_cifar10_pickles(tmp_path):
    write_cifar(tmp_path, "cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], "test_batch", "labels")
    d = D.cifar10(root=str(tmp_path))
    assert d.train_x.shape == (30, 3, 32, 32) and d.test_x.shape == (6, 3, 32, 32) and d.num_classes == 10


def test_cifar100_pickles_and_corrupt_batch(tmp_path):
    folder = write_cifar(tmp_path, "cifar-100-python", ["train"], "test", "fine_labels", classes=100)
    d = D.cifar100(root=str(tmp_path))
    assert d.num_classes == 100 and d.train_x.shape == (6, 3, 32, 32)
    (folder / "test").write_bytes(b"\x80\x04garbage")
    with pytest.raises(ConfigError, match="corrupt or truncated"):
        D.cifar100(root=str(tmp_path))


def test_cifar_missing_names_the_fix(tmp_path):
    with pytest.raises(ConfigError, match="dataset.download=true"):
        D.cifar10(root=str(tmp_path))


def test_digits_split_is_fixed():
    a, b = D.digits(), D.digits()
    assert torch.equal(a.test_y, b.test_y) and a.train_x.shape == (1348, 1, 8, 8) and a.test_x.shape == (449, 1, 8, 8)
    assert not torch.equal(D.digits(split_seed=1).test_y, a.test_y)


@pytest.mark.skipif(not os.path.isdir(D.FASHION_MNIST_SYSTEM_DIR), reason="dataset-fashion-mnist not installed")
def test_real_fashion_mnist_from_the_system_package(monkeypatch, tmp_path):
    monkeypatch.setenv("PRL_DATA", str(tmp_path))  # nothing there: falls back to the system dir
    d = D.fashion_mnist()
    assert d.train_x.shape == (60000, 1, 28, 28) and d.test_x.shape == (10000, 1, 28, 28)
    assert torch.bincount(d.train_y).tolist() == [6000] * 10


def test_batch_iterator_shuffles_reproducibly_and_covers_everything():
    x, y = torch.arange(10).float()[:, None], torch.arange(10)
    it = D.BatchIterator(x, y, 4, generator=torch.Generator().manual_seed(0))
    assert len(it) == 3
    first = [idx.tolist() for _, _, idx in it]
    assert sorted(sum(first, [])) == list(range(10)) and [len(b) for b in first] == [4, 4, 2]
    again = D.BatchIterator(x, y, 4, generator=torch.Generator().manual_seed(0))
    assert [idx.tolist() for _, _, idx in again] == first
    for xb, yb, idx in D.BatchIterator(x, y, 4, generator=torch.Generator().manual_seed(0)):
        assert torch.equal(yb, idx) and torch.equal(xb[:, 0].long(), idx)


def test_batch_iterator_drop_last_and_max_steps():
    x, y = torch.zeros(10, 1), torch.zeros(10)
    assert len(D.BatchIterator(x, y, 4, drop_last=True)) == 2
    assert len(D.BatchIterator(x, y, 4, max_steps=1)) == 1
    assert [len(b[2]) for b in D.BatchIterator(x, y, 4, shuffle=False)] == [4, 4, 2]
