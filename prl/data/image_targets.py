"""Image regression datasets: a known rotation angle of Fashion-MNIST, CelebA's facial landmarks.

Each loader returns a :class:`~prl.data.dataset.Data` with ``task="regression"``: float32 images
``(N, C, H, W)`` in [0, 1] (standardised with training statistics when ``normalize``) and
float32 targets ``(N,)`` or ``(N, 10)``, z-scored with the clean training targets' statistics
when ``standardize_targets`` (see :mod:`prl.data.tabular` for what that means for ``test_mse``).
Both keep their official train / test split, capped to the first ``max_train`` / ``max_test``
images for CPU budgets.

====================  ===========================================  ===============  ==========================
``dataset=``          source                                       one input        one target
====================  ===========================================  ===============  ==========================
``fmnist-rotation``   Fashion-MNIST, each image rotated            ``(1, 28, 28)``  ``()`` rotation angle
``celeba-landmarks``  CelebA aligned faces (your own copy)         ``(3, S, S)``    ``(10,)`` landmark x / y
====================  ===========================================  ===============  ==========================
"""

from __future__ import annotations

import os
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from prl.data.dataset import Data
from prl.data.images import fashion_mnist
from prl.data.transforms import check_cap, zscore
from prl.errors import ConfigValueError, DatasetError

__all__ = ["fmnist_rotation", "celeba_landmarks", "rotate_images", "CELEBA_LANDMARKS"]

REGRESSION = "regression"



def rotate_images(images: Tensor, degrees: Tensor, chunk: int = 4096) -> Tensor:
    """Rotate each image of ``images`` ``(N, C, H, W)`` by ``degrees[i]`` about its centre.

    Positive angles turn the content counter-clockwise as displayed (row 0 at the top).
    Bilinear interpolation, zeros outside the source image (the black background of
    Fashion-MNIST).  Vectorised with ``affine_grid`` / ``grid_sample`` in chunks of ``chunk``
    images; nothing is computed per sample in Python.
    """
    out = torch.empty_like(images)
    for s in range(0, images.shape[0], chunk):
        x = images[s:s + chunk]
        a = torch.deg2rad(degrees[s:s + chunk].to(torch.float32))
        cos, sin = torch.cos(a), torch.sin(a)
        # output (x, y) samples the input at R(-a)(x, y) in a y-down frame, i.e. the content
        # turns by +a counter-clockwise on screen
        theta = torch.stack([torch.stack([cos, -sin, torch.zeros_like(a)], 1),
                             torch.stack([sin, cos, torch.zeros_like(a)], 1)], 1)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        out[s:s + chunk] = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out


def fmnist_rotation(root: Optional[str] = None, download: bool = False, max_angle: float = 45.0,
                    rotation_seed: int = 0, max_train: Optional[int] = 20000, max_test: Optional[int] = 5000,
                    normalize: bool = True, standardize_targets: bool = True) -> Data:
    """Fashion-MNIST images rotated by a known angle; the target is that angle.

    The first ``max_train`` training and ``max_test`` test images of Fashion-MNIST (in file
    order; ``null`` = all 60,000 / 10,000) are each rotated once, when the dataset is built, by
    an angle drawn from ``Uniform(-max_angle, max_angle)`` degrees with
    ``numpy.random.RandomState(rotation_seed)`` (training angles first, then test angles), see
    :func:`rotate_images`.  ``max_angle`` must be in (0, 90]: beyond 90 degrees an upside-down
    garment becomes ambiguous.  Inputs ``(N, 1, 28, 28)`` in [0, 1], standardised with the
    training mean / std after rotation when ``normalize``; targets ``(N,)``: the angle in
    degrees, z-scored with the training angles' statistics when ``standardize_targets``.  The
    class labels are not used.  Files are found as for ``dataset=fashion-mnist``.
    """
    max_angle = float(max_angle)
    if not 0.0 < max_angle <= 90.0:
        raise ConfigValueError(f"max_angle must be in (0, 90] degrees, got {max_angle}", "max_angle")
    max_train, max_test = check_cap(max_train, "max_train"), check_cap(max_test, "max_test")
    base = fashion_mnist(root=root, download=download, normalize=False)
    x_tr, x_te = base.train_x[:max_train], base.test_x[:max_test]
    rng = np.random.RandomState(int(rotation_seed))
    angles = torch.from_numpy(rng.uniform(-max_angle, max_angle, size=x_tr.shape[0] + x_te.shape[0]))
    a_tr, a_te = angles[:x_tr.shape[0]], angles[x_tr.shape[0]:]
    x_tr, x_te = rotate_images(x_tr, a_tr), rotate_images(x_te, a_te)
    if normalize:
        mean, std = x_tr.mean(), x_tr.std().clamp_min(1e-8)
        x_tr, x_te = (x_tr - mean) / std, (x_te - mean) / std
    y_tr, y_te = a_tr.numpy(), a_te.numpy()
    if standardize_targets:
        y_tr, y_te = zscore(y_tr, y_te)
    return Data("fmnist-rotation", x_tr.contiguous(), torch.from_numpy(y_tr.astype(np.float32)),
                x_te.contiguous(), torch.from_numpy(y_te.astype(np.float32)), task=REGRESSION, num_classes=None)


#: the 10 target columns of ``celeba_landmarks``, in order (CelebA's own column order)
CELEBA_LANDMARKS = ["lefteye_x", "lefteye_y", "righteye_x", "righteye_y", "nose_x", "nose_y",
                    "leftmouth_x", "leftmouth_y", "rightmouth_x", "rightmouth_y"]
CELEBA_SPLITS = {"train": (0,), "train+valid": (0, 1), "valid": (1,), "test": (2,)}


def _celeba_dir(root: Optional[str]) -> str:
    base = os.path.abspath(os.path.expanduser(str(root if root not in (None, "") else os.environ.get("PRL_DATA", "data"))))
    for d in (os.path.join(base, "celeba"), base):
        if os.path.isfile(os.path.join(d, "list_landmarks_align_celeba.txt")):
            return d
    raise DatasetError(
        f"CelebA not found: looked for list_landmarks_align_celeba.txt in {os.path.join(base, 'celeba')} and {base}. "
        f"Fix: set dataset.root to the folder holding torchvision's layout celeba/img_align_celeba/*.jpg, "
        f"celeba/list_landmarks_align_celeba.txt and celeba/list_eval_partition.txt (e.g. downloaded once with "
        f"torchvision.datasets.CelebA(root, download=True)).",
        "dataset.root",
    )


def _read_table(path: str, header_lines: int, columns: int, kind: str) -> tuple[list[str], np.ndarray]:
    """Rows ``<file name> <int> ...`` after ``header_lines`` lines -> (names, int64 array)."""
    if not os.path.isfile(path):
        raise DatasetError(f"CelebA file {path} is missing; the folder needs torchvision's CelebA layout", "dataset.root")
    names, values = [], []
    with open(path) as fh:
        for _ in range(header_lines):
            fh.readline()
        for lineno, line in enumerate(fh, start=header_lines + 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != columns + 1:
                raise DatasetError(f"CelebA {kind} file {path}, line {lineno}: expected a file name and {columns} "
                                   f"integers, got {line.strip()!r}", "dataset.root")
            names.append(parts[0])
            try:
                values.append([int(p) for p in parts[1:]])
            except ValueError:
                raise DatasetError(f"CelebA {kind} file {path}, line {lineno}: non-integer value in "
                                   f"{line.strip()!r}", "dataset.root") from None
    return names, np.asarray(values, dtype=np.int64).reshape(len(names), columns)


def _load_jpegs(folder: str, names: list[str], size: int) -> tuple[np.ndarray, np.ndarray]:
    """uint8 ``(N, size, size, 3)`` resized images and float ``(N, 2)`` original (width, height)."""
    from PIL import Image

    out = np.empty((len(names), size, size, 3), dtype=np.uint8)
    dims = np.empty((len(names), 2), dtype=np.float64)
    for i, name in enumerate(names):
        path = os.path.join(folder, name)
        try:
            with Image.open(path) as img:
                dims[i] = img.size
                img.draft("RGB", (2 * size, 2 * size))  # JPEG DCT downscale: fast decode of big images
                out[i] = np.asarray(img.convert("RGB").resize((size, size), Image.BILINEAR))
        except (OSError, ValueError) as exc:
            raise DatasetError(f"CelebA image {path} is missing or unreadable ({exc})", "dataset.root") from None
    return out, dims


def celeba_landmarks(root: Optional[str] = None, image_size: int = 32, train_split: str = "train",
                     max_train: Optional[int] = 20000, max_test: Optional[int] = 5000,
                     normalize: bool = True, standardize_targets: bool = True) -> Data:
    """Five facial landmarks of CelebA's aligned faces from the image: 10 regression targets.

    Reads torchvision's layout below ``root`` (or ``$PRL_DATA`` / ``./data``):
    ``celeba/img_align_celeba/*.jpg`` (178x218), ``celeba/list_landmarks_align_celeba.txt``
    (a count line, a header line, then ``<file> lefteye_x lefteye_y ... rightmouth_y``) and
    ``celeba/list_eval_partition.txt`` (``<file> 0|1|2`` = train | valid | test); ``root`` may
    also be the ``celeba`` folder itself.  Training images come from the official
    ``train_split`` (``train``, ``train+valid`` or ``valid``), test images from the official
    test partition; only the first ``max_train`` / ``max_test`` of each, in file order, are
    decoded (``null`` = all; the full set takes minutes to decode).

    Each image is resized (bilinear, aspect ratio not kept) to ``image_size`` x ``image_size``,
    inputs ``(N, 3, S, S)`` in [0, 1], standardised per channel with training statistics when
    ``normalize``.  Targets ``(N, 10)`` in :data:`CELEBA_LANDMARKS` order: the landmark pixel
    coordinates mapped into the resized image (``x * S / width``, ``y * S / height``), then
    z-scored per coordinate with the training statistics when ``standardize_targets``.
    """
    image_size = int(image_size)
    if not 8 <= image_size <= 256:
        raise ConfigValueError(f"image_size must be between 8 and 256 pixels, got {image_size}", "image_size")
    if train_split not in CELEBA_SPLITS or train_split == "test":
        allowed = ", ".join(s for s in CELEBA_SPLITS if s != "test")
        raise ConfigValueError(f"train_split must be one of {allowed} (the test partition is the test set), "
                               f"got {train_split!r}", "train_split")
    max_train, max_test = check_cap(max_train, "max_train"), check_cap(max_test, "max_test")
    folder = _celeba_dir(root)
    names, marks = _read_table(os.path.join(folder, "list_landmarks_align_celeba.txt"), 2, 10, "landmark")
    part_names, parts = _read_table(os.path.join(folder, "list_eval_partition.txt"), 0, 1, "partition")
    partition = dict(zip(part_names, parts[:, 0].tolist()))
    missing = [n for n in names if n not in partition]
    if missing:
        raise DatasetError(f"CelebA: {missing[0]} has landmarks but no entry in list_eval_partition.txt "
                           f"({len(missing)} such files)", "dataset.root")
    split_of = np.asarray([partition[n] for n in names])
    tr = np.flatnonzero(np.isin(split_of, CELEBA_SPLITS[train_split]))[:max_train]
    te = np.flatnonzero(split_of == 2)[:max_test]
    if len(tr) == 0 or len(te) == 0:
        raise DatasetError(f"CelebA in {folder}: the {'training' if len(tr) == 0 else 'test'} partition is empty",
                           "dataset.root")
    images = os.path.join(folder, "img_align_celeba")

    def load(index: np.ndarray) -> tuple[Tensor, np.ndarray]:
        pixels, dims = _load_jpegs(images, [names[i] for i in index], image_size)
        scale = np.tile(image_size / dims, (1, 5))  # (N, 10): x, y, x, y, ... scale factors
        x = torch.from_numpy(pixels).permute(0, 3, 1, 2).float().div_(255.0).contiguous()
        return x, marks[index].astype(np.float64) * scale

    x_tr, y_tr = load(tr)
    x_te, y_te = load(te)
    if normalize:
        mean = x_tr.mean(dim=(0, 2, 3), keepdim=True)
        std = x_tr.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-8)
        x_tr, x_te = (x_tr - mean) / std, (x_te - mean) / std
    if standardize_targets:
        y_tr, y_te = zscore(y_tr, y_te)
    return Data("celeba-landmarks", x_tr, torch.from_numpy(y_tr.astype(np.float32)), x_te,
                torch.from_numpy(y_te.astype(np.float32)), task=REGRESSION, num_classes=None,
                classes=list(CELEBA_LANDMARKS))
