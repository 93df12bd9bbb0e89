"""Datasets held in memory as tensors, and the batch iterator of the training loop.

Every loader returns a :class:`Data` (the contract: shapes, dtypes and what each field means
are in its docstring).  Nothing is transformed per sample in the training loop: batches are
slices of pre-built tensors, on the training device.

* :mod:`prl.data.images` -- image classification: Fashion-MNIST, MNIST, CIFAR-10/100, digits.
* :mod:`prl.data.tabular` -- tabular regression: diabetes, randhie.
* :mod:`prl.data.image_targets` -- image regression: fmnist-rotation, celeba-landmarks.
* :mod:`prl.data.table` (with :mod:`prl.data.table_columns`) -- your own table (CSV, Parquet).
* :mod:`prl.data.folder` -- your own images in torchvision's ImageFolder layout.
* :mod:`prl.data.transforms` -- the standardisation and split helpers the loaders share.
* :mod:`prl.data.batches` -- :class:`BatchIterator`.

``conf/dataset/<name>.yaml`` names a loader as ``_target_: prl.data.<loader>``; a loader of your
own is any importable function returning a :class:`Data` (README, "Your own data").
"""

from prl.data.batches import BatchIterator
from prl.data.dataset import Data
from prl.data.folder import image_folder
from prl.data.image_targets import CELEBA_LANDMARKS, celeba_landmarks, fmnist_rotation, rotate_images
from prl.data.images import FASHION_MNIST_SYSTEM_DIR, cifar10, cifar100, digits, fashion_mnist, mnist, read_idx
from prl.data.table import table_dataset
from prl.data.tabular import diabetes, randhie

__all__ = [
    "Data",
    "BatchIterator",
    "fashion_mnist",
    "mnist",
    "cifar10",
    "cifar100",
    "digits",
    "diabetes",
    "randhie",
    "fmnist_rotation",
    "celeba_landmarks",
    "table_dataset",
    "image_folder",
    "rotate_images",
    "read_idx",
    "CELEBA_LANDMARKS",
    "FASHION_MNIST_SYSTEM_DIR",
]
