"""Your own images: a folder of class folders (torchvision's ImageFolder layout).

``dataset=imagefolder`` (``conf/dataset/imagefolder.yaml``) builds :func:`image_folder`; it is a
plain function and works the same from Python::

    from prl.data.folder import image_folder
    data = image_folder("~/photos", size=32)

Layouts (class folders are the sorted sub-folder names, as torchvision sorts them; folders whose
name starts with ``.`` are ignored):

* ``root/train/<class>/*.jpg`` and ``root/test/<class>/*.jpg`` (``root/val`` is used when there
  is no ``root/test``): the given split.  Every test class must also be a training class.
* ``root/<class>/*.jpg``: a fixed random split holding out ``test_fraction`` (default 0.2) of the
  images with ``numpy.random.RandomState(split_seed)`` (:func:`prl.data.transforms.random_split`).

Image files are found recursively below each class folder, by extension (torchvision's list:
``.jpg .jpeg .png .ppm .bmp .pgm .tif .tiff .webp``, any case); other files are ignored.

Each image is decoded once with PIL, converted to RGB (or to grayscale, ``grayscale=true``) and
resized to ``size`` x ``size`` (bilinear; the aspect ratio is not kept; large JPEGs are decoded
at a reduced scale first with ``Image.draft``).  The images are held in memory as float32
``(N, C, size, size)`` in [0, 1] (``C`` = 3, or 1 with ``grayscale``), like the built-in sets;
``normalize=true`` standardises each channel with the training images' mean and std.  Labels are
int64 ``(N,)``; ``classes`` the class folder names; ``train_ids`` each training image's path
relative to ``root`` (``/``-separated, e.g. ``train/cat/001.jpg``); ``name`` the folder's name.

Cache: the decoded uint8 images are saved next to the data as
``root/.prl-cache-<options>-<files>.npz`` (plain arrays, no pickle), keyed by the list of files
with their sizes and modification times and by the decoding options (``size``, ``grayscale``), so
the next load reads that file instead of decoding.  It is written atomically (a temporary file and
``os.replace``) and only after a successful decode; a changed, added or removed image makes a new
one (older caches of the same options are removed).  ``cache=false`` neither reads nor writes it;
a folder that cannot be written to only logs a warning.

Unreadable images: an image PIL cannot decode is an error naming the file (all such files are
listed, up to 10).  With ``skip_unreadable=true`` they are left out instead, a warning lists them,
and the returned Data carries them as ``data.skipped``: a list of ``(path relative to root,
reason)`` pairs (empty when none).

Errors (:class:`~prl.errors.DatasetError` / :class:`~prl.errors.ConfigValueError`) start with the
parameter at fault (the runner prefixes ``dataset.``): a missing ``root``, no class folders, an
empty class folder (named), a test class unknown to training, unreadable images, both a
train/test layout and ``test_fraction``.
"""

from __future__ import annotations

import glob
import hashlib
import json
import logging
import os
import sys
import tempfile
from typing import Optional

import numpy as np
import torch

from prl.data.dataset import Data
from prl.data.transforms import check_fraction, random_split
from prl.errors import ConfigValueError, DatasetError

__all__ = ["image_folder", "IMG_EXTENSIONS", "CACHE_PREFIX"]

log = logging.getLogger(__name__)

#: torchvision's ImageFolder extensions (matched case-insensitively)
IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
CACHE_PREFIX = ".prl-cache-"
#: bump when decoding changes, so old caches are not reused
_DECODER_VERSION = 1
_MAX_LISTED = 10


# ----------------------------------------------------------------------------- scanning


def _class_folders(folder: str) -> list[str]:
    return sorted(e.name for e in os.scandir(folder) if e.is_dir() and not e.name.startswith("."))


def _images_below(folder: str) -> list[str]:
    """Image files below ``folder`` (recursive, sorted as torchvision walks), absolute paths."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        found.append((dirpath, filenames))
    out = []
    for dirpath, filenames in sorted(found):
        out += [os.path.join(dirpath, f) for f in sorted(filenames)
                if f.lower().endswith(IMG_EXTENSIONS) and not f.startswith(".")]
    return out


def _scan(root: str, test_fraction: Optional[float]):
    """``(classes, files, labels, is_test, presplit)``: every image below ``root``."""
    test_dir = next((os.path.join(root, d) for d in ("test", "val") if os.path.isdir(os.path.join(root, d))), None)
    presplit = os.path.isdir(os.path.join(root, "train")) and test_dir is not None
    if presplit and test_fraction is not None:
        raise ConfigValueError(
            f"test_fraction={test_fraction}, but root {root} has train/ and {os.path.basename(test_dir)}/ folders, "
            "which already split the images; leave dataset.test_fraction unset (or move the class folders up "
            "into root to split them at random)", "test_fraction")
    class_root = os.path.join(root, "train") if presplit else root
    classes = _class_folders(class_root)
    layout = ("root/<class>/<image> (split at random with test_fraction), or root/train/<class>/<image> and "
              "root/test/<class>/<image>")
    if not classes:
        raise DatasetError(f"root: no class folders in {class_root}; expected {layout}", "root")
    if len(classes) < 2:
        raise DatasetError(f"root: only one class folder ({os.path.join(class_root, classes[0])}); classification "
                           f"needs at least two; expected {layout}", "root")
    splits = [(class_root, False)]
    if presplit:
        unknown = [c for c in _class_folders(test_dir) if c not in classes]
        if unknown:
            raise DatasetError(f"root: test class folder {os.path.join(test_dir, unknown[0])} has no training "
                               f"folder of that name in {class_root} (training classes: {', '.join(classes)})",
                               "root")
        splits.append((test_dir, True))
    files, labels, is_test = [], [], []
    for folder, test in splits:
        present = _class_folders(folder)
        for k, c in enumerate(classes):
            if c not in present:
                continue
            found = _images_below(os.path.join(folder, c))
            if not found:
                raise DatasetError(f"root: class folder {os.path.join(folder, c)} holds no image "
                                   f"({' '.join(IMG_EXTENSIONS)}); add images or remove the folder", "root")
            files += found
            labels += [k] * len(found)
            is_test += [test] * len(found)
    loose = [f for f in os.listdir(class_root) if f.lower().endswith(IMG_EXTENSIONS)]
    if loose:
        log.warning("%d image(s) directly in %s (e.g. %s) belong to no class folder and are ignored",
                    len(loose), class_root, loose[0])
    return classes, files, np.asarray(labels, dtype=np.int64), np.asarray(is_test, dtype=bool), presplit


# ----------------------------------------------------------------------------- decoding


def _decode(path: str, size: int, grayscale: bool) -> np.ndarray:
    """One image as uint8 ``(C, size, size)``; raises whatever PIL raises for a bad file."""
    from PIL import Image

    mode = "L" if grayscale else "RGB"
    with Image.open(path) as img:
        img.draft(mode, (size, size))  # JPEG: decode at a reduced scale (still >= size)
        img.load()
        if img.mode.startswith("I;16"):  # 16-bit grayscale: keep the top 8 bits (convert would clip)
            img = Image.fromarray((np.asarray(img, dtype=np.uint16) >> 8).astype(np.uint8), "L")
        elif img.mode in ("P", "PA") and "transparency" in img.info:
            img = img.convert("RGBA")
        if img.mode != mode:
            img = img.convert(mode)
        if img.size != (size, size):
            img = img.resize((size, size), Image.BILINEAR)
        a = np.asarray(img, dtype=np.uint8)
    return a[None] if a.ndim == 2 else a.transpose(2, 0, 1)


def _decode_all(files: list[str], size: int, grayscale: bool, root: str):
    """``(images uint8 (N, C, size, size), reasons)``; ``reasons[i]`` is ``""`` for a good image."""
    from concurrent.futures import ThreadPoolExecutor

    from tqdm.auto import tqdm

    channels = 1 if grayscale else 3
    images = np.zeros((len(files), channels, size, size), dtype=np.uint8)
    reasons = [""] * len(files)

    def one(i: int) -> None:
        try:
            images[i] = _decode(files[i], size, grayscale)
        except Exception as exc:  # PIL raises many kinds (OSError, SyntaxError, ValueError, ...)
            reasons[i] = f"{type(exc).__name__}: {exc}".strip()

    workers = max(1, min(4, os.cpu_count() or 1))
    bar = tqdm(total=len(files), desc=f"decoding {os.path.basename(root)}", unit="img",
               disable=not sys.stderr.isatty(), leave=False)
    with bar, ThreadPoolExecutor(workers) as pool:  # PIL releases the GIL while decoding and resizing
        step = 256
        for start in range(0, len(files), step):
            idx = range(start, min(start + step, len(files)))
            list(pool.map(one, idx))
            bar.update(len(idx))
    return images, reasons


# ----------------------------------------------------------------------------- cache


def _cache_names(root: str, rel: list[str], files: list[str], size: int, grayscale: bool) -> tuple[str, str]:
    """``(cache file, glob of the caches with the same options)``."""
    options = json.dumps({"v": _DECODER_VERSION, "size": size, "grayscale": grayscale}, sort_keys=True)
    h = hashlib.sha256()
    for r, f in zip(rel, files):
        st = os.stat(f)
        h.update(f"{r}\0{st.st_size}\0{st.st_mtime_ns}\n".encode("utf-8", "surrogateescape"))
    opt = hashlib.sha256(options.encode()).hexdigest()[:8]
    name = f"{CACHE_PREFIX}{opt}-{h.hexdigest()[:16]}.npz"
    return os.path.join(root, name), os.path.join(glob.escape(root), f"{CACHE_PREFIX}{opt}-*.npz")


def _read_cache(path: str, rel: list[str], shape: tuple[int, ...]):
    if not os.path.isfile(path):
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            paths, images, reasons = z["paths"], z["images"], z["reasons"]
        if images.shape != shape or images.dtype != np.uint8 or paths.tolist() != rel or len(reasons) != len(rel):
            raise ValueError("contents do not match the folder")
        return images, [str(r) for r in reasons]
    except Exception as exc:
        log.warning("ignoring the image cache %s (%s); decoding again", path, exc)
        return None


def _write_cache(path: str, pattern: str, rel: list[str], images: np.ndarray, reasons: list[str]) -> None:
    folder = os.path.dirname(path)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=CACHE_PREFIX, suffix=".tmp", dir=folder)
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, paths=np.asarray(rel, dtype=str), images=images, reasons=np.asarray(reasons, dtype=str))
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        log.warning("could not write the image cache %s (%s); the next run decodes again", path, exc)
        return
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.remove(tmp)
    for old in glob.glob(pattern):  # caches of the same options for an older file list
        if os.path.abspath(old) != os.path.abspath(path):
            try:
                os.remove(old)
            except OSError:
                pass


# ----------------------------------------------------------------------------- the loader


def image_folder(root: Optional[str] = None, size: int = 32, grayscale: bool = False,
                 test_fraction: Optional[float] = None, split_seed: int = 0, normalize: bool = False,
                 skip_unreadable: bool = False, cache: bool = True) -> Data:
    """A folder of class folders as a :class:`~prl.data.dataset.Data` (see the module docstring).

    Args:
        root: the folder: ``root/<class>/...`` or ``root/train/<class>/...`` + ``root/test/<class>/...``.
        size: images are resized to ``size`` x ``size``.
        grayscale: one channel (PIL mode ``L``) instead of three (RGB).
        test_fraction: for ``root/<class>/...``: the share of images held out (default 0.2), chosen
            by ``split_seed``; an error with a train/test layout.
        split_seed: the seed of that split.
        normalize: standardise each channel with the training images' mean and std.
        skip_unreadable: leave out images PIL cannot decode (listed in a warning and in
            ``data.skipped``) instead of stopping with an error that names them.
        cache: read / write the decoded images as ``root/.prl-cache-*.npz``.

    Returns:
        ``Data(name=<folder name>, train_x/test_x float32 (N, C, size, size), train_y/test_y int64
        (N,), task="classification", num_classes, classes=<class folder names>,
        train_ids=<paths relative to root>)``, plus ``skipped``: ``[(relative path, reason), ...]``.

    Raises:
        ConfigValueError: a bad ``size`` / ``test_fraction``, or ``test_fraction`` with a
            train/test layout.
        DatasetError: no such folder, no class folders, an empty class folder, a test class
            without a training folder, unreadable images (without ``skip_unreadable``).
    """
    if root in (None, ""):
        raise ConfigValueError("root: set dataset.root=<a folder of class folders>", "root")
    size = int(size)
    if size < 1:
        raise ConfigValueError(f"size must be >= 1 (pixels), got {size}", "size")
    root = os.path.abspath(os.path.expanduser(str(root)))
    if not os.path.isdir(root):
        raise DatasetError(f"root: no folder {root}" + (" (it is a file; a table is dataset=csv)"
                                                        if os.path.isfile(root) else ""), "root")
    classes, files, labels, is_test, presplit = _scan(root, test_fraction)
    if not presplit:
        test_fraction = check_fraction(0.2 if test_fraction is None else test_fraction, "test_fraction")
    rel = [os.path.relpath(f, root).replace(os.sep, "/") for f in files]
    shape = (len(files), 1 if grayscale else 3, size, size)

    cache_file = pattern = None
    loaded = None
    if cache:
        cache_file, pattern = _cache_names(root, rel, files, size, bool(grayscale))
        loaded = _read_cache(cache_file, rel, shape)
        if loaded is not None:
            log.info("read %d decoded images from the cache %s", len(files), cache_file)
    if loaded is None:
        images, reasons = _decode_all(files, size, bool(grayscale), root)
    else:
        images, reasons = loaded
    bad = [i for i, r in enumerate(reasons) if r]
    if bad and not skip_unreadable:
        listed = "; ".join(f"{files[i]} ({reasons[i]})" for i in bad[:_MAX_LISTED])
        more = f"; and {len(bad) - _MAX_LISTED} more" if len(bad) > _MAX_LISTED else ""
        raise DatasetError(f"root: {len(bad)} image{'s' * (len(bad) > 1)} cannot be read: {listed}{more}. Fix or "
                           "delete them, or set dataset.skip_unreadable=true to leave them out", "root")
    if cache and loaded is None:
        _write_cache(cache_file, pattern, rel, images, reasons)
    skipped = [(rel[i], reasons[i]) for i in bad]
    if skipped:
        log.warning("skipped %d unreadable image(s) below %s: %s", len(skipped), root,
                    "; ".join(f"{p} ({r})" for p, r in skipped))
        keep = np.asarray([not r for r in reasons])
        for k, c in enumerate(classes):
            if not (keep & (labels == k) & ~is_test).any():
                raise DatasetError(f"root: no readable training image is left in class {c!r} (all were "
                                   "skipped as unreadable)", "root")
        images, labels, is_test = images[keep], labels[keep], is_test[keep]
        rel = [r for r, k in zip(rel, keep) if k]

    if presplit:
        train_idx, test_idx = np.flatnonzero(~is_test), np.flatnonzero(is_test)
    else:
        train_idx, test_idx = random_split(len(labels), test_fraction, split_seed)
        if len(test_idx) == 0:
            raise ConfigValueError(f"test_fraction={test_fraction} of {len(labels)} images leaves no test image",
                                   "test_fraction")
    if len(test_idx) == 0:
        raise DatasetError(f"root: the test folder below {root} holds no image", "root")

    def floats(idx: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(images[idx]).float().div_(255.0)

    train_x, test_x = floats(train_idx), floats(test_idx)
    if normalize:
        dims = [0, 2, 3]
        mean = train_x.mean(dim=dims, keepdim=True)
        std = train_x.std(dim=dims, keepdim=True).clamp_min(1e-8)
        train_x = (train_x - mean) / std
        test_x = (test_x - mean) / std
    data = Data(os.path.basename(root.rstrip(os.sep)) or root, train_x, torch.from_numpy(labels[train_idx]),
                test_x, torch.from_numpy(labels[test_idx]), task="classification", num_classes=len(classes),
                classes=list(classes), train_ids=[rel[i] for i in train_idx], clean_known=False)
    data.skipped = skipped
    return data
