"""Image classification datasets: Fashion-MNIST, MNIST, CIFAR-10, CIFAR-100, digits.

Each loader returns a :class:`~prl.data.dataset.Data`: float32 images ``(N, C, H, W)`` scaled to
[0, 1] (standardised per channel with training statistics when ``normalize``), int64 labels
``(N,)``.

File formats are read here (idx for (Fashion-)MNIST, the python pickles for CIFAR); torchvision
is used only to *download* (``download=true``), so files recompressed by a distribution (the
Debian package ``dataset-fashion-mnist``) load without checksum failures.
"""

from __future__ import annotations

import gzip
import os
import pickle
from typing import Optional, Sequence

import numpy as np
import torch
from torch import Tensor

from prl.data.dataset import Data
from prl.errors import DatasetError

__all__ = [
    "fashion_mnist",
    "mnist",
    "cifar10",
    "cifar100",
    "digits",
    "read_idx",
    "FASHION_MNIST_SYSTEM_DIR",
]

FASHION_MNIST_SYSTEM_DIR = "/usr/share/datasets/fashion-mnist"
IDX_FILES = {
    "train_x": "train-images-idx3-ubyte",
    "train_y": "train-labels-idx1-ubyte",
    "test_x": "t10k-images-idx3-ubyte",
    "test_y": "t10k-labels-idx1-ubyte",
}


# ----------------------------------------------------------------------------- file readers


def _open_maybe_gz(path: str):
    with open(path, "rb") as fh:
        magic = fh.read(2)
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")


def read_idx(path: str) -> np.ndarray:
    """Read an idx file (``.gz`` or plain), checking its header against its length.

    Raises :class:`DatasetError` naming the file when it is truncated or not an idx file.
    """
    try:
        with _open_maybe_gz(path) as fh:
            raw = fh.read()
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DatasetError(f"dataset file {path} is corrupt or truncated ({exc}); delete it and reinstall/re-download") from None
    if len(raw) < 8 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DatasetError(f"dataset file {path} is not an idx file of unsigned bytes (bad header); delete it and reinstall/re-download")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    offset = 4 + 4 * ndim
    expected = int(np.prod(dims))
    if len(raw) - offset != expected:
        raise DatasetError(
            f"dataset file {path} is corrupt or truncated: header promises {expected} bytes of "
            f"data, found {len(raw) - offset}; delete it and reinstall/re-download"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=offset).reshape(dims).copy()


def _find(dirs: Sequence[str], stem: str) -> Optional[str]:
    for d in dirs:
        for name in (stem, stem + ".gz"):
            p = os.path.join(d, name)
            if os.path.isfile(p):
                return p
    return None


def _resolve_root(root: Optional[str], download: bool) -> str:
    """``root`` as given (it must exist unless ``download``), or ``$PRL_DATA`` / ``./data``."""
    if root is None or root == "":
        return os.path.abspath(os.path.expanduser(os.environ.get("PRL_DATA", "data")))
    root = os.path.abspath(os.path.expanduser(str(root)))
    if not os.path.isdir(root) and not download:
        raise DatasetError(
            f"dataset.root={root} does not exist; point dataset.root at the folder that holds the "
            f"dataset, or add dataset.download=true to download it there",
            "dataset.root",
        )
    return root


def _to_images(x: np.ndarray) -> Tensor:
    """uint8 ``(N, H, W)`` or ``(N, H, W, C)`` -> float32 ``(N, C, H, W)`` in [0, 1]."""
    t = torch.from_numpy(np.ascontiguousarray(x))
    if t.dim() == 3:
        t = t.unsqueeze(1)
    else:
        t = t.permute(0, 3, 1, 2)
    return t.float().div_(255.0).contiguous()


def _standardise(data: Data) -> Data:
    dims = [0] + list(range(2, data.train_x.dim()))
    mean = data.train_x.mean(dim=dims, keepdim=True)
    std = data.train_x.std(dim=dims, keepdim=True).clamp_min(1e-8)
    data.train_x = (data.train_x - mean) / std
    data.test_x = (data.test_x - mean) / std
    return data


def _idx_dataset(name: str, dirs: Sequence[str], missing_hint: str, num_classes: int, classes, normalize: bool) -> Data:
    paths = {k: _find(dirs, stem) for k, stem in IDX_FILES.items()}
    missing = [IDX_FILES[k] for k, p in paths.items() if p is None]
    if missing:
        looked = ", ".join(dirs)
        raise DatasetError(
            f"{name} not found: looked for {missing[0]}[.gz] in {looked}. {missing_hint}", "dataset.root"
        )
    arrays = {k: read_idx(p) for k, p in paths.items()}
    for split in ("train", "test"):
        nx, ny = arrays[f"{split}_x"].shape[0], arrays[f"{split}_y"].shape[0]
        if nx != ny:
            raise DatasetError(f"{name}: {split} images ({nx}) and labels ({ny}) differ in length; the files are inconsistent")
    if arrays["train_y"].max() >= num_classes:
        raise DatasetError(f"{name}: labels exceed {num_classes - 1}; wrong files?")
    data = Data(
        name=name,
        train_x=_to_images(arrays["train_x"]),
        train_y=torch.from_numpy(arrays["train_y"].astype(np.int64)),
        test_x=_to_images(arrays["test_x"]),
        test_y=torch.from_numpy(arrays["test_y"].astype(np.int64)),
        task="classification",
        num_classes=num_classes,
        classes=list(classes),
    )
    return _standardise(data) if normalize else data


FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def fashion_mnist(root: Optional[str] = None, download: bool = False, normalize: bool = False) -> Data:
    """Fashion-MNIST, 60k train / 10k test, 1x28x28, 10 classes.

    Looks in ``root`` (or ``$PRL_DATA`` / ``./data`` when unset), in torchvision's layout below
    it (``FashionMNIST/raw``), then in the Debian package's ``/usr/share/datasets/fashion-mnist``.
    ``download=true`` fetches it into ``root`` through torchvision when it is found nowhere.
    """
    explicit = root not in (None, "")
    base = _resolve_root(root, download)
    dirs = [base, os.path.join(base, "FashionMNIST", "raw")]
    if not explicit:
        dirs.append(FASHION_MNIST_SYSTEM_DIR)
    if download and _find(dirs, IDX_FILES["train_x"]) is None:
        from torchvision.datasets import FashionMNIST

        FashionMNIST(base, train=True, download=True)
    hint = (
        "Fix: `sudo apt-get install dataset-fashion-mnist` (Debian/Ubuntu; installs it under "
        f"{FASHION_MNIST_SYSTEM_DIR}), or download it with `python run.py dataset.download=true`."
    )
    return _idx_dataset("Fashion-MNIST", dirs, hint, 10, FASHION_CLASSES, normalize)


def mnist(root: Optional[str] = None, download: bool = False, normalize: bool = False) -> Data:
    """MNIST, 60k/10k, 1x28x28, 10 classes, from torchvision's layout ``root/MNIST/raw``."""
    base = _resolve_root(root, download)
    dirs = [os.path.join(base, "MNIST", "raw"), base]
    if download and _find(dirs, IDX_FILES["train_x"]) is None:
        from torchvision.datasets import MNIST

        MNIST(base, train=True, download=True)
    hint = "Fix: `python run.py dataset=mnist dataset.download=true` (or set dataset.root to where it is)."
    return _idx_dataset("MNIST", dirs, hint, 10, [str(i) for i in range(10)], normalize)


def _unpickle(path: str) -> dict:
    try:
        with open(path, "rb") as fh:
            return pickle.load(fh, encoding="latin1")
    except Exception as exc:
        raise DatasetError(f"dataset file {path} is corrupt or truncated ({type(exc).__name__}); delete it and re-download") from None


def _cifar(name: str, root: Optional[str], download: bool, normalize: bool, folder: str, train_files, test_file, label_key, meta_file, meta_key, tv_class) -> Data:
    base = _resolve_root(root, download)
    d = os.path.join(base, folder)
    paths = [os.path.join(d, f) for f in list(train_files) + [test_file]]
    if download and not all(os.path.isfile(p) for p in paths):
        import torchvision.datasets as tvd

        getattr(tvd, tv_class)(base, train=True, download=True)
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        raise DatasetError(
            f"{name} not found: looked for {missing[0]}. Fix: `python run.py dataset={name.lower().replace('-', '')} "
            f"dataset.download=true` (or set dataset.root to the folder holding {folder}/).",
            "dataset.root",
        )

    def load(files):
        xs, ys = [], []
        for f in files:
            entry = _unpickle(os.path.join(d, f))
            try:
                x = np.asarray(entry["data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
                y = np.asarray(entry[label_key], dtype=np.int64)
            except (KeyError, ValueError) as exc:
                raise DatasetError(f"dataset file {os.path.join(d, f)} is not a {name} batch ({exc}); re-download it") from None
            if x.shape[0] != y.shape[0]:
                raise DatasetError(f"dataset file {os.path.join(d, f)} has {x.shape[0]} images but {y.shape[0]} labels")
            xs.append(x)
            ys.append(y)
        return np.concatenate(xs), np.concatenate(ys)

    tx, ty = load(train_files)
    vx, vy = load([test_file])
    classes = []
    meta = os.path.join(d, meta_file)
    if os.path.isfile(meta):
        classes = list(_unpickle(meta).get(meta_key, []))
    num_classes = 100 if label_key == "fine_labels" else 10
    data = Data(
        name=name,
        train_x=torch.from_numpy(tx).float().div_(255.0),
        train_y=torch.from_numpy(ty),
        test_x=torch.from_numpy(vx).float().div_(255.0),
        test_y=torch.from_numpy(vy),
        task="classification",
        num_classes=num_classes,
        classes=classes,
    )
    return _standardise(data) if normalize else data


def cifar10(root: Optional[str] = None, download: bool = False, normalize: bool = False) -> Data:
    """CIFAR-10, 50k/10k, 3x32x32, from ``root/cifar-10-batches-py`` (torchvision's layout)."""
    return _cifar(
        "CIFAR-10", root, download, normalize, "cifar-10-batches-py",
        [f"data_batch_{i}" for i in range(1, 6)], "test_batch", "labels", "batches.meta", "label_names", "CIFAR10",
    )


def cifar100(root: Optional[str] = None, download: bool = False, normalize: bool = False) -> Data:
    """CIFAR-100 (fine labels), 50k/10k, 3x32x32, from ``root/cifar-100-python``."""
    return _cifar(
        "CIFAR-100", root, download, normalize, "cifar-100-python",
        ["train"], "test", "fine_labels", "meta", "fine_label_names", "CIFAR100",
    )


def digits(test_fraction: float = 0.25, split_seed: int = 0, normalize: bool = False) -> Data:
    """scikit-learn's bundled 8x8 digits (1797 images, 10 classes), for fast runs.

    Pixel values 0..16 are scaled to [0, 1]; a fixed random split (``split_seed``) holds out
    ``test_fraction`` of the images as the test set.
    """
    from sklearn.datasets import load_digits

    if not 0.0 < float(test_fraction) < 1.0:
        from prl.errors import ConfigValueError

        raise ConfigValueError(f"test_fraction must be in (0, 1), got {test_fraction}", "test_fraction")
    bunch = load_digits()
    x = torch.from_numpy(bunch.images.astype(np.float32) / 16.0).unsqueeze(1)
    y = torch.from_numpy(bunch.target.astype(np.int64))
    perm = torch.from_numpy(np.random.RandomState(split_seed).permutation(len(y)))
    n_test = int(round(len(y) * float(test_fraction)))
    test, train = perm[:n_test], perm[n_test:]
    data = Data("digits", x[train], y[train], x[test], y[test], "classification", 10, [str(i) for i in range(10)])
    return _standardise(data) if normalize else data
