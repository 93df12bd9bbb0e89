"""Load times of your own data: ``python -m bench.own_data`` from the repository root.

Writes, in a temporary folder, a CSV of ``--rows`` rows and ``--columns`` numeric feature
columns plus a label column, and an image folder of ``--images`` 32x32 JPEGs in 10 class
folders, then times (``timeit``, best of ``--repeats``, each in this one process):

* ``dataset=csv``: :func:`prl.data.table_dataset` (read, split, standardise);
* ``dataset=imagefolder`` the first time: :func:`prl.data.image_folder` decoding every image
  (and writing its cache);
* ``dataset=imagefolder`` again: the same call reading the cache.

These are absolute seconds of this machine (the targets of the own-data issue are absolute:
under 5 s, 60 s and 2 s); the README's Performance section has the measured numbers.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import timeit

import numpy as np
import pandas as pd


def write_csv(path: str, rows: int, columns: int, seed: int = 0) -> None:
    """``rows`` x (``columns`` float features + an integer ``label`` in 0..9)."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(rows, columns)), columns=[f"x{j}" for j in range(columns)])
    frame["label"] = rng.integers(0, 10, rows)
    frame.to_csv(path, index=False)


def write_folder(root: str, images: int, size: int = 32, seed: int = 0) -> None:
    """``images`` random RGB JPEGs of ``size`` x ``size`` in ``root/c0 .. root/c9``."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for i in range(images):
        folder = os.path.join(root, f"c{i % 10}")
        os.makedirs(folder, exist_ok=True)
        pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(os.path.join(folder, f"{i:05d}.jpg"), quality=90)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.own_data", description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--columns", type=int, default=50)
    p.add_argument("--images", type=int, default=10_000)
    p.add_argument("--repeats", type=int, default=3, help="best of this many (the first decode is timed once)")
    args = p.parse_args(argv)

    import torch

    from prl.data import image_folder, table_dataset

    torch.set_num_threads(1)
    tmp = tempfile.mkdtemp(prefix="prl-bench-own-data-")
    try:
        csv, root = os.path.join(tmp, "table.csv"), os.path.join(tmp, "photos")
        write_csv(csv, args.rows, args.columns)
        write_folder(root, args.images)
        csv_s = min(timeit.repeat(lambda: table_dataset(csv, label="label"), number=1, repeat=args.repeats))
        decode_s = timeit.timeit(lambda: image_folder(root, size=32), number=1)
        cached_s = min(timeit.repeat(lambda: image_folder(root, size=32), number=1, repeat=args.repeats))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("| input | seconds | target |\n|---|---|---|")
    print(f"| CSV, {args.rows:,} rows x {args.columns} columns (`dataset=csv`) | {csv_s:.2f} | < 5 |")
    print(f"| image folder, {args.images:,} 32x32 JPEGs, first run (decode + cache) | {decode_s:.2f} | < 60 |")
    print(f"| the same folder from its cache | {cached_s:.2f} | < 2 |")


if __name__ == "__main__":
    main()
