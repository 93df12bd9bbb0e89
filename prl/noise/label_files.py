"""Noisy labels read from a file: your own, or a published set such as CIFAR-10N / CIFAR-100N.

Files are read without unpickling arbitrary objects: ``.npy`` / ``.npz`` with
``allow_pickle=False``, ``.pt`` / ``.pth`` with ``torch.load(weights_only=True)`` and only numpy's
array types added to the allowed globals (the CIFAR-N files are a ``dict`` of numpy ``int64``
arrays), text / CSV with ``numpy.loadtxt``.  A container of several arrays (``.npz``, a ``.pt``
dict) needs ``key``; when it also holds ``clean_label`` (the CIFAR-N layout), that array must
equal the dataset's training labels, so a file that belongs to another dataset, or is in
another order, is refused before training.
"""

from __future__ import annotations

import os
from typing import Optional, Union

import numpy as np

from prl.errors import ConfigValueError, DatasetError
from prl.noise.base import Corruption

__all__ = ["LabelFile", "CifarN", "load_label_container", "CIFAR10N_LABELS", "CIFAR100N_LABELS"]

#: ``noise=cifar10n noise.label=<name>`` -> the array of ``CIFAR-10_human.pt``
CIFAR10N_LABELS = {"aggre": "aggre_label", "random1": "random_label1", "random2": "random_label2",
                   "random3": "random_label3", "worst": "worse_label", "clean": "clean_label"}
#: ``noise=cifar100n noise.label=<name>`` -> the array of ``CIFAR-100_human.pt``
CIFAR100N_LABELS = {"noisy": "noisy_label", "clean": "clean_label"}
CLEAN_KEY = "clean_label"


def _numpy_safe_globals() -> list:
    """numpy's array reconstruction and numeric dtypes, under numpy 2's and numpy 1's names."""
    import numpy.dtypes as dt

    core = np._core.multiarray._reconstruct
    dtypes = [getattr(dt, n) for n in dir(dt) if n.endswith("DType") and n not in ("ObjectDType", "StringDType")
              and isinstance(getattr(dt, n), type)]
    return [core, (core, "numpy.core.multiarray._reconstruct"), np.ndarray, np.dtype, *dtypes]


def load_label_container(path: str) -> Union[np.ndarray, dict]:
    """The array, or ``{name: array}``, that ``path`` holds (see the module docstring).

    Raises :class:`DatasetError` (key ``path``) for a missing or unreadable file, or one that
    holds anything but numeric arrays.
    """
    if not os.path.isfile(path):
        raise DatasetError(f"path: label file {path!r} does not exist", "path")
    ext = os.path.splitext(path)[1].lower()
    try:
        if ext == ".npy":
            return np.load(path, allow_pickle=False)
        if ext == ".npz":
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        if ext in (".pt", ".pth"):
            import torch

            with torch.serialization.safe_globals(_numpy_safe_globals()):
                obj = torch.load(path, map_location="cpu", weights_only=True)
            if isinstance(obj, dict):
                return {str(k): np.asarray(v) for k, v in obj.items()}
            return np.asarray(obj)
        return np.loadtxt(path, delimiter="," if ext == ".csv" else None, dtype=np.float64)
    except Exception as exc:  # unreadable or unsafe file: one clear message
        text = str(exc).strip().splitlines()
        detail = next((line for line in text if "GLOBAL" in line or "pickle" in line.lower()), text[0] if text else "")
        raise DatasetError(f"path: cannot read labels from {path!r} ({type(exc).__name__}: {detail}); a label "
                           f"file holds numeric arrays only (.npy, .npz, .pt of tensors / numpy arrays, .csv, .txt)",
                           "path") from None


def _as_labels(arr: np.ndarray, path: str, what: str) -> np.ndarray:
    arr = np.asarray(arr)
    if arr.dtype.kind not in "iufb":
        raise DatasetError(f"path: {what} in {path!r} is not numeric (dtype {arr.dtype})", "path")
    arr = arr.reshape(-1)
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or not np.all(np.equal(np.mod(arr, 1), 0)):
            raise DatasetError(f"path: {what} in {path!r} holds non-integer labels", "path")
    return arr.astype(np.int64)


class LabelFile(Corruption):
    """Noisy labels read from a file, one integer label per training sample in dataset order.

    ``path``: ``.npy``, ``.npz``, ``.pt`` / ``.pth`` (a tensor or array, or a dict of them, e.g.
    CIFAR-10N's ``CIFAR-10_human.pt``), or text / CSV (one label per line).  ``key``: which array
    of a container holding several (required then; the error lists them).  The noise model is
    unknown, so there is no expected corrupted fraction: ``epsilon``'s default is then the
    realised fraction, measured against the clean labels (oracle knowledge, and said so in
    ``summary.json``).
    """

    task = "classification"

    def __init__(self, path: str, key: Optional[str] = None):
        self.path = os.path.abspath(os.path.expanduser(str(path)))
        self.key = None if key in (None, "") else str(key)
        self.rate = None
        self.seed = 0

    def read(self) -> tuple[np.ndarray, Optional[np.ndarray]]:
        """``(labels, clean)``: the chosen array and the file's ``clean_label`` array (or None)."""
        obj = load_label_container(self.path)
        if not isinstance(obj, dict):
            if self.key is not None:
                raise DatasetError(f"key={self.key!r} but {self.path!r} holds a single array, not named arrays; "
                                   f"leave noise.key unset", "key")
            return _as_labels(obj, self.path, "the array"), None
        keys = sorted(obj)
        if self.key is None:
            if len(keys) != 1:
                raise DatasetError(f"key: {self.path!r} holds {len(keys)} arrays ({', '.join(keys)}); choose one "
                                   f"with noise.key=<name>", "key")
            key = keys[0]
        elif self.key not in obj:
            raise DatasetError(f"key={self.key!r} is not in {self.path!r}; it holds: {', '.join(keys)}", "key")
        else:
            key = self.key
        clean = obj.get(CLEAN_KEY) if key != CLEAN_KEY else None
        return (_as_labels(obj[key], self.path, f"array {key!r}"),
                None if clean is None else _as_labels(clean, self.path, f"array {CLEAN_KEY!r}"))

    def apply(self, labels: np.ndarray, num_classes: int, inputs=None, dataset: Optional[str] = None) -> np.ndarray:
        """The file's labels, checked against the training set's clean ``labels`` (int ``(N,)``)."""
        self.check_dataset(dataset)
        arr, clean = self.read()
        n = len(labels)
        if arr.shape[0] != n:
            raise DatasetError(
                f"path: label file {self.path!r} has {arr.shape[0]} labels but the training set has {n} samples"
                f"{f' ({dataset})' if dataset else ''}: one label per training sample, in dataset order",
                "path")
        if n and (arr.min() < 0 or arr.max() >= num_classes):
            raise DatasetError(f"path: label file {self.path!r} has labels outside 0..{num_classes - 1} "
                               f"({num_classes} classes)", "path")
        if clean is not None:
            diff = np.flatnonzero(clean != np.asarray(labels))
            if clean.shape[0] != n or len(diff):
                where = f"at {len(diff)} positions (first: index {diff[0]})" if clean.shape[0] == n else "in length"
                raise DatasetError(
                    f"path: the {CLEAN_KEY} array of {self.path!r} differs from the training labels of "
                    f"{dataset or 'the dataset'} {where}: the file belongs to another dataset or another order",
                    "path")
        return arr

    def describe(self) -> dict:
        return {"type": "labelfile", "path": self.path, "key": self.key, "rate": None}


class CifarN(LabelFile):
    """CIFAR-10N / CIFAR-100N: human re-annotations of the CIFAR training sets (Wei et al., ICLR
    2022, https://github.com/UCSC-REAL/cifar-10-100n, files ``data/CIFAR-10_human.pt`` and
    ``data/CIFAR-100_human.pt``).

    ``variant``: ``cifar10n`` (labels ``aggre``, ``random1``, ``random2``, ``random3``, ``worst``,
    ``clean``) or ``cifar100n`` (``noisy``, ``clean``).  ``path``: the official file; ``None``
    looks for it as ``$PRL_DATA/<file>`` or ``./data/<file>``.  The file must match the dataset:
    CIFAR-10 (resp. CIFAR-100) only, 50,000 labels in 10 (100) classes, and its ``clean_label``
    equal to the dataset's training labels.
    """

    VARIANTS = {
        "cifar10n": ("CIFAR-10", "CIFAR-10_human.pt", CIFAR10N_LABELS),
        "cifar100n": ("CIFAR-100", "CIFAR-100_human.pt", CIFAR100N_LABELS),
    }

    def __init__(self, variant: str = "cifar10n", label: str = "worst", path: Optional[str] = None):
        if variant not in self.VARIANTS:
            raise ConfigValueError(f"variant must be one of {', '.join(self.VARIANTS)}, got {variant!r}", "variant")
        self.dataset, filename, names = self.VARIANTS[variant]
        if label not in names:
            raise ConfigValueError(f"label must be one of {', '.join(names)} for {variant}, got {label!r}", "label")
        self.variant, self.label = variant, label
        if path in (None, ""):
            path = os.path.join(os.environ.get("PRL_DATA", "data"), filename)
            if not os.path.isfile(path):
                raise DatasetError(
                    f"path: {filename} not found at {os.path.abspath(path)}; download it from "
                    f"https://github.com/UCSC-REAL/cifar-10-100n (data/{filename}) and set noise.path=<file>, or put "
                    f"it in $PRL_DATA or ./data", "path")
        super().__init__(path, names[label])

    def check_dataset(self, dataset: Optional[str]) -> None:
        if dataset is not None and dataset != self.dataset:
            raise ConfigValueError(f"{self.variant} holds labels of the {self.dataset} training set, not of "
                                   f"dataset {dataset}; use it with dataset={self.dataset.lower().replace('-', '')}")

    def describe(self) -> dict:
        return {"type": self.variant, "label": self.label, "path": self.path, "rate": None}
