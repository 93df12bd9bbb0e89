"""Regression under corrupted targets: offline datasets, target corruptions, tail trimming.

Datasets
--------
Each loader returns a :class:`prl.data.Data` with ``task="regression"`` and
``num_classes=None``: float32 inputs ``(N, D)`` (tabular) or ``(N, C, H, W)`` (images), float32
targets ``(N,)`` (one target) or ``(N, D)`` (several).  Conventions shared by all of them:

* **Fixed splits.**  Tabular sets are split at random with ``numpy.random.RandomState(split_seed)``
  (``test_fraction`` held out); image sets keep their official split (below).
* **Inputs** are standardised with *training* statistics: tabular features to zero mean and
  unit variance per column (``standardize_inputs``), images per channel (``normalize``) after
  being scaled to [0, 1].
* **Targets** are z-scored per output dimension with the *clean training* targets' mean and
  standard deviation (``standardize_targets``, on by default).  The runner corrupts these
  standardised targets, so every noise parameter given "in target std units" is simply in
  units of the z-scored targets, and ``test_mse`` is in squared standard deviations of the
  training targets (1.0 is about what predicting the training mean scores).  The test targets
  use the same (training) statistics and are never corrupted.

====================  ===========================================  ===============  ==========================
``dataset=``          source                                       one input        one target
====================  ===========================================  ===============  ==========================
``diabetes``          scikit-learn's bundled diabetes (442 rows)   ``(10,)``        ``()`` disease progression
``randhie``           statsmodels' bundled RAND HIE (20,190 rows)  ``(9,)``         ``()`` ``mdvis`` (visits)
``fmnist-rotation``   Fashion-MNIST, each image rotated            ``(1, 28, 28)``  ``()`` rotation angle
``celeba-landmarks``  CelebA aligned faces (your own copy)         ``(3, S, S)``    ``(10,)`` landmark x / y
====================  ===========================================  ===============  ==========================

Image sets keep their official train / test split, capped to the first ``max_train`` /
``max_test`` images for CPU budgets.  For the squared error the loss-layer gradient norm
``||f(x) - y||`` is a monotone function of the loss ``0.5 ||f(x) - y||^2``, so on these
datasets PRL-L keeps exactly the samples the trimmed loss (``algorithm=spl``) keeps, and
co-PRL-L those of co-teaching.

Target corruptions (``noise=target-*``)
---------------------------------------
Every corruption picks *exactly* ``round(rate * N)`` training samples uniformly without
replacement with ``numpy.random.RandomState(seed)`` (so ``rate`` is the exact corrupted
fraction up to rounding, and the expected one), sorts their indices, then draws the new values
for those samples, in index order, from the same random stream.  The other targets are left
bit-for-bit unchanged, which is how the runner's clean mask (``noisy == clean``) finds them.
A sample with a vector target is corrupted in every output dimension.  Statistics
("range", "std") are those of the *clean training* targets passed to ``apply``, per output
dimension.  The noise seed is independent of the training seed.

* :class:`RandomTargets` -- replace by ``Uniform(min, max)`` of the clean targets, or by
  ``Normal(mean, std)`` (``distribution=gaussian``).
* :class:`HeavyTailedTargets` -- add ``scale * std * T``, ``T ~ Student-t(df)``; ``df=1`` is
  the Cauchy distribution.
* :class:`LinearAdversary` -- replace by ``a(x) = w . x + b`` with one fixed random direction
  ``w`` per output dimension, rescaled so that ``a`` over the training inputs has the clean
  targets' mean and std: plausible values that follow a consistent but wrong rule.
* :class:`ConstantShift` -- add ``shift * std``.
* :class:`CleanTargets` -- nothing (the regression counterpart of ``noise=clean``).

Tail trimming
-------------
:class:`TailTrim` removes (or clips) the training samples whose *observed*, i.e. corrupted,
target lies beyond a quantile, before training; :func:`trim_training_set` applies it to a
dataset and its noisy targets.  It cannot be a dataset option (the loader never sees the noisy
targets) nor a noise option (a noise cannot drop samples), so the runner calls it right after
corrupting the targets.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from prl.data import Data, fashion_mnist
from prl.errors import ConfigValueError, DatasetError
from prl.noise import _check_rate

__all__ = [
    "diabetes",
    "randhie",
    "fmnist_rotation",
    "celeba_landmarks",
    "rotate_images",
    "CELEBA_LANDMARKS",
    "TargetNoise",
    "CleanTargets",
    "RandomTargets",
    "HeavyTailedTargets",
    "LinearAdversary",
    "ConstantShift",
    "TailTrim",
    "trim_training_set",
]

REGRESSION = "regression"


# ============================================================================= datasets


def _check_fraction(value: float, name: str) -> float:
    value = float(value)
    if not 0.0 < value < 1.0:
        raise ConfigValueError(f"{name} must be in (0, 1), got {value}", name)
    return value


def _check_cap(value: Optional[int], name: str) -> Optional[int]:
    if value is not None and int(value) < 1:
        raise ConfigValueError(f"{name} must be >= 1 or null (no cap), got {value}", name)
    return None if value is None else int(value)


def _zscore(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Standardise both arrays per column with ``train``'s mean and std (std 0 -> 1)."""
    mean = train.mean(axis=0)
    std = train.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return (train - mean) / std, (test - mean) / std


def _split(n: int, test_fraction: float, split_seed: int,
           max_train: Optional[int] = None) -> tuple[np.ndarray, np.ndarray]:
    """``(train_index, test_index)``, each sorted: a fixed random split of ``range(n)``.

    The test set is the first ``round(n * test_fraction)`` entries of
    ``RandomState(split_seed).permutation(n)``, the training set the next ``max_train`` (all
    the rest when ``None``), so a cap keeps a random subset and never changes the test set.
    """
    perm = np.random.RandomState(int(split_seed)).permutation(n)
    n_test = int(round(n * test_fraction))
    train = perm[n_test:] if max_train is None else perm[n_test:n_test + max_train]
    return np.sort(train), np.sort(perm[:n_test])


def _tabular(name: str, x: np.ndarray, y: np.ndarray, test_fraction: float, split_seed: int,
             standardize_inputs: bool, standardize_targets: bool, max_train: Optional[int] = None) -> Data:
    test_fraction = _check_fraction(test_fraction, "test_fraction")
    max_train = _check_cap(max_train, "max_train")
    train, test = _split(len(y), test_fraction, split_seed, max_train)
    x_tr, x_te = x[train].astype(np.float64), x[test].astype(np.float64)
    y_tr, y_te = y[train].astype(np.float64), y[test].astype(np.float64)
    if standardize_inputs:
        x_tr, x_te = _zscore(x_tr, x_te)
    if standardize_targets:
        y_tr, y_te = _zscore(y_tr, y_te)
    return Data(name, _f32(x_tr), _f32(y_tr), _f32(x_te), _f32(y_te), task=REGRESSION, num_classes=None)


def _f32(a: np.ndarray) -> Tensor:
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))


def diabetes(test_fraction: float = 0.2, split_seed: int = 0, standardize_inputs: bool = True,
             standardize_targets: bool = True) -> Data:
    """scikit-learn's bundled diabetes data: 442 patients, 10 features, one target.

    The target is a measure of disease progression one year after baseline (25..346).  A fixed
    random split (``split_seed``) holds out ``test_fraction`` (default 20%: 354 train / 88 test).
    Inputs ``(N, 10)`` and targets ``(N,)`` are z-scored with training statistics (see the
    module docstring).  Needs ``model=mlp``.
    """
    from sklearn.datasets import load_diabetes

    bunch = load_diabetes()
    return _tabular("diabetes", bunch.data, bunch.target, test_fraction, split_seed,
                    standardize_inputs, standardize_targets)


def randhie(test_fraction: float = 0.2, split_seed: int = 0, log1p_target: bool = False,
            standardize_inputs: bool = True, standardize_targets: bool = True,
            max_train: Optional[int] = None) -> Data:
    """statsmodels' bundled RAND Health Insurance Experiment data: 20,190 person-years.

    Target: ``mdvis``, the number of outpatient visits (a long-tailed count: median 1, 99th
    percentile 21, max 77); ``log1p_target=true`` predicts ``log(1 + mdvis)`` instead.  Inputs:
    the 9 covariates ``lncoins, idp, lpi, fmde, physlm, disea, hlthg, hlthf, hlthp``.  A fixed
    random split (``split_seed``) holds out ``test_fraction`` (default 20%: 16,152 / 4,038);
    ``max_train`` keeps a random subset of that many training rows (same split, same test
    set).  Inputs ``(N, 9)``
    and targets ``(N,)`` are z-scored with training statistics.  Needs ``model=mlp`` and the
    ``statsmodels`` package.
    """
    try:
        from statsmodels.datasets import randhie as source
    except ImportError:
        raise DatasetError("dataset=randhie needs statsmodels, which bundles the data: pip install statsmodels",
                           "dataset") from None
    frame = source.load_pandas()
    x = frame.exog.to_numpy(dtype=np.float64)
    y = frame.endog.to_numpy(dtype=np.float64).reshape(-1)
    if log1p_target:
        y = np.log1p(y)
    return _tabular("randhie", x, y, test_fraction, split_seed, standardize_inputs, standardize_targets,
                    max_train)


# ----------------------------------------------------------------------------- images


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
    max_train, max_test = _check_cap(max_train, "max_train"), _check_cap(max_test, "max_test")
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
        y_tr, y_te = _zscore(y_tr, y_te)
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
    max_train, max_test = _check_cap(max_train, "max_train"), _check_cap(max_test, "max_test")
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
        y_tr, y_te = _zscore(y_tr, y_te)
    return Data("celeba-landmarks", x_tr, torch.from_numpy(y_tr.astype(np.float32)), x_te,
                torch.from_numpy(y_te.astype(np.float32)), task=REGRESSION, num_classes=None,
                classes=list(CELEBA_LANDMARKS))


# ============================================================================= corruptions


class TargetNoise:
    """Base of the target corruptions: picks the corrupted samples, subclasses fill them in.

    ``apply(targets, inputs)`` takes the clean training targets, float ``(N,)`` or ``(N, D)``,
    and returns a float32 array of the same shape.  Exactly ``round(rate * N)`` samples are
    corrupted, chosen uniformly without replacement by ``RandomState(seed)``; their indices are
    sorted, and :meth:`corrupt` draws their new values from the same stream.
    """

    task = REGRESSION
    #: the ``type`` reported by :meth:`describe` (the config name)
    kind = "target-noise"
    rate: float
    seed: int

    def __init__(self, rate: float = 0.0, seed: int = 0):
        self.rate = _check_rate(rate)
        self.seed = int(seed)

    def corrupt(self, rng: np.random.RandomState, targets: np.ndarray, index: np.ndarray,
                inputs: Optional[np.ndarray]) -> np.ndarray:
        """New values ``(len(index), D)`` for the rows ``index`` of ``targets`` ``(N, D)``."""
        raise NotImplementedError

    def needs_inputs(self) -> bool:
        return False

    def chosen(self, n: int, rng: np.random.RandomState) -> np.ndarray:
        """The sorted indices of the ``round(rate * n)`` corrupted samples (draws from ``rng``)."""
        k = int(round(self.rate * n))
        return np.sort(rng.choice(n, size=k, replace=False)) if k else np.zeros(0, dtype=np.int64)

    def apply(self, targets, inputs=None) -> np.ndarray:
        """Noisy copy of the clean training ``targets``; ``inputs`` (N, ...) only for input-based noise."""
        clean = np.asarray(targets, dtype=np.float32)
        if clean.ndim not in (1, 2):
            raise ValueError(f"regression targets must have shape (N,) or (N, D), got {clean.shape}")
        flat = clean.reshape(len(clean), -1)
        noisy = flat.copy()
        rng = np.random.RandomState(self.seed)
        index = self.chosen(len(flat), rng)
        x = None
        if self.needs_inputs():
            if inputs is None:
                raise ValueError(f"noise {self.kind} needs the training inputs: apply(targets, inputs=train_x)")
            x = inputs.numpy() if isinstance(inputs, Tensor) else np.asarray(inputs)
            x = x.reshape(len(flat), -1)
        if len(index):
            noisy[index] = self.corrupt(rng, flat.astype(np.float64), index, x).astype(np.float32)
        return noisy.reshape(clean.shape)

    def describe(self) -> dict:
        return {"type": self.kind, "rate": self.rate, "seed": self.seed}


class CleanTargets(TargetNoise):
    """No corruption of regression targets (``noise=target-clean``)."""

    kind = "target-clean"

    def __init__(self, rate: float = 0.0, seed: int = 0):
        if rate:
            raise ConfigValueError(f"rate must be 0 for clean targets, got {rate}; pick a noise=target-* "
                                   f"corruption to corrupt them", "rate")
        super().__init__(0.0, seed)


class RandomTargets(TargetNoise):
    """Replace the chosen targets by random values unrelated to the input.

    ``distribution=uniform``: ``Uniform(min_d, max_d)`` with the range of the clean training
    targets in each output dimension ``d``.  ``distribution=gaussian``: ``Normal(mean_d,
    std_d)`` with their mean and standard deviation.  Dimensions are drawn independently.
    """

    kind = "target-random"
    DISTRIBUTIONS = ("uniform", "gaussian")

    def __init__(self, rate: float = 0.3, seed: int = 0, distribution: str = "uniform"):
        super().__init__(rate, seed)
        if distribution not in self.DISTRIBUTIONS:
            raise ConfigValueError(f"distribution must be one of {', '.join(self.DISTRIBUTIONS)}, got "
                                   f"{distribution!r}", "distribution")
        self.distribution = distribution

    def corrupt(self, rng, targets, index, inputs):
        size = (len(index), targets.shape[1])
        if self.distribution == "uniform":
            return rng.uniform(targets.min(axis=0), targets.max(axis=0), size=size)
        return rng.normal(targets.mean(axis=0), targets.std(axis=0), size=size)

    def describe(self) -> dict:
        return {**super().describe(), "distribution": self.distribution}


class HeavyTailedTargets(TargetNoise):
    """Add heavy-tailed noise: ``y + scale * std_d * T`` with ``T ~ Student-t(df)``.

    ``std_d`` is the clean training targets' standard deviation in output dimension ``d``
    (1 for z-scored targets).  ``df=1`` is the standard Cauchy distribution (no mean, no
    variance); larger ``df`` has lighter tails (``df > 2``: variance ``df / (df - 2)``).
    """

    kind = "target-heavy-tailed"

    def __init__(self, rate: float = 0.3, seed: int = 0, df: float = 1.0, scale: float = 1.0):
        super().__init__(rate, seed)
        if not float(df) > 0:
            raise ConfigValueError(f"df must be > 0 (1 = Cauchy), got {df}", "df")
        if not float(scale) > 0:
            raise ConfigValueError(f"scale must be > 0 (target std units), got {scale}", "scale")
        self.df, self.scale = float(df), float(scale)

    def corrupt(self, rng, targets, index, inputs):
        noise = rng.standard_t(self.df, size=(len(index), targets.shape[1]))
        return targets[index] + self.scale * targets.std(axis=0) * noise

    def describe(self) -> dict:
        return {**super().describe(), "df": self.df, "scale": self.scale}


class LinearAdversary(TargetNoise):
    """Replace the chosen targets by a fixed random linear function of the inputs.

    After choosing the samples, one direction ``w_d ~ Normal(0, I)`` over the flattened inputs
    is drawn per output dimension ``d`` (shape ``(D_in, D)``).  The projections
    ``p = x . w_d`` of *all* training inputs are standardised and mapped to the clean
    targets' mean and std, ``a_d(x) = mean_d + std_d * (p - mean(p)) / std(p)``, and the
    chosen samples get ``a(x)``.  The corrupted values are in range and consistent with each
    other (a learnable wrong rule), which range checks and small-loss rules do not catch easily.
    """

    kind = "target-linear"

    def needs_inputs(self) -> bool:
        return True

    def corrupt(self, rng, targets, index, inputs):
        x = inputs.astype(np.float64)
        w = rng.standard_normal(size=(x.shape[1], targets.shape[1]))
        p = x @ w
        p_std = p.std(axis=0)
        p = (p - p.mean(axis=0)) / np.where(p_std > 0, p_std, 1.0)
        return targets.mean(axis=0) + targets.std(axis=0) * p[index]


class ConstantShift(TargetNoise):
    """Add a constant: ``y + shift * std_d`` (``std_d``: the clean targets' std per dimension)."""

    kind = "target-shift"

    def __init__(self, rate: float = 0.3, seed: int = 0, shift: float = 2.0):
        super().__init__(rate, seed)
        if not np.isfinite(float(shift)) or float(shift) == 0.0:
            raise ConfigValueError(f"shift must be a non-zero number (target std units), got {shift}", "shift")
        self.shift = float(shift)

    def corrupt(self, rng, targets, index, inputs):
        return targets[index] + self.shift * targets.std(axis=0)

    def describe(self) -> dict:
        return {**super().describe(), "shift": self.shift}


# ============================================================================= tail trimming


class TailTrim:
    """Remove (or clip) training samples whose observed target lies beyond a quantile.

    Bounds come from the *observed* (noisy) training targets, per output dimension ``d``:
    ``upper_d = quantile(y_d, q)`` and ``lower_d = quantile(y_d, 1 - q)``.  ``tails`` picks
    which bounds apply (``both``, ``upper``, ``lower``).  ``mode=remove`` drops every sample
    with a target outside the bounds in any dimension (so ``tails=upper, q=0.99`` drops about
    the top 1%, ``tails=both`` about 1% at each end); ``mode=clip`` keeps every sample and
    clips its targets to the bounds.  ``quantile=None`` does nothing.  Test data is untouched.
    """

    MODES = ("remove", "clip")
    TAILS = ("both", "upper", "lower")

    def __init__(self, quantile: Optional[float] = None, mode: str = "remove", tails: str = "both"):
        if quantile is not None:
            quantile = float(quantile)
            if not 0.5 < quantile < 1.0:
                raise ConfigValueError(f"quantile must be in (0.5, 1) or null (no trimming), got {quantile}",
                                       "quantile")
        if mode not in self.MODES:
            raise ConfigValueError(f"mode must be one of {', '.join(self.MODES)}, got {mode!r}", "mode")
        if tails not in self.TAILS:
            raise ConfigValueError(f"tails must be one of {', '.join(self.TAILS)}, got {tails!r}", "tails")
        self.quantile, self.mode, self.tails = quantile, mode, tails

    def bounds(self, observed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(lower, upper)``, each ``(D,)``; ``-inf`` / ``inf`` where a tail is not trimmed."""
        y = np.asarray(observed, dtype=np.float64).reshape(len(observed), -1)
        lower = np.full(y.shape[1], -np.inf)
        upper = np.full(y.shape[1], np.inf)
        if self.quantile is not None and len(y):
            if self.tails in ("both", "upper"):
                upper = np.quantile(y, self.quantile, axis=0)
            if self.tails in ("both", "lower"):
                lower = np.quantile(y, 1.0 - self.quantile, axis=0)
        return lower, upper

    def apply(self, observed) -> tuple[np.ndarray, np.ndarray, dict]:
        """``(keep, targets, info)`` for the observed targets ``(N,)`` or ``(N, D)``.

        ``keep``: bool ``(N,)``, the samples to train on; ``targets``: their (possibly clipped)
        targets, float32, shape ``(keep.sum(), ...)``; ``info``: settings, bounds and counts.
        """
        y = np.asarray(observed, dtype=np.float32)
        flat = y.reshape(len(y), -1)
        lower, upper = self.bounds(flat)
        keep = np.ones(len(y), dtype=bool)
        out = flat
        outside = ((flat < lower) | (flat > upper)).any(axis=1)
        if self.quantile is not None:
            if self.mode == "remove":
                keep = ~outside
                out = flat[keep]
            else:
                out = np.clip(flat, lower, upper).astype(np.float32)
        info = {"quantile": self.quantile, "mode": self.mode, "tails": self.tails,
                "lower": lower.tolist(), "upper": upper.tolist(), "outside": int(outside.sum()),
                "removed": int((~keep).sum())}
        return keep, out.reshape((len(out),) + y.shape[1:]), info


def trim_training_set(trim: TailTrim, data: Data, noisy: np.ndarray,
                      clean_mask: Tensor) -> tuple[Data, np.ndarray, Tensor, dict]:
    """Apply ``trim`` to the training set: ``(data, noisy, clean_mask, info)`` after trimming.

    ``clean_mask`` (bool ``(N,)``, target left uncorrupted) is computed by the caller *before*
    trimming, so a clipped clean target still counts as clean.  ``info`` adds the fraction of
    corrupted samples among those kept (``rate_after_trim``): with ``mode=remove`` it is
    usually below the noise rate, and a selection method's ``algorithm.epsilon`` may be set
    to it.  Regression only.
    """
    if data.task != REGRESSION:
        raise ConfigValueError(f"trimming target tails applies to regression targets; dataset {data.name} is a "
                               f"{data.task} task (leave quantile null)", "quantile")
    keep, targets, info = trim.apply(noisy)
    mask = clean_mask
    if not keep.all():
        index = torch.from_numpy(np.flatnonzero(keep))
        data = dataclasses.replace(data, train_x=data.train_x.index_select(0, index),
                                   train_y=data.train_y.index_select(0, index))
        mask = clean_mask.index_select(0, index.to(clean_mask.device))
    info["kept"] = int(keep.sum())
    info["rate_after_trim"] = float(1.0 - mask.float().mean()) if len(mask) else 0.0
    return data, targets, mask, info
