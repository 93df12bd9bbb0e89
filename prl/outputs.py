"""The files of a run directory: their names, and writes that a reader never sees half of.

``summary.json``, ``labels.npz`` and checkpoints are written to a temporary file in the same
folder and renamed over the target (atomic on POSIX).  ``metrics.jsonl`` gets whole lines,
flushed and fsynced one epoch at a time.
"""

from __future__ import annotations

import io as _io
import glob
import json
import math
import os
import tempfile
from typing import Any, Callable, Optional

import numpy as np

METRICS = "metrics.jsonl"
SUMMARY = "summary.json"
LABELS = "labels.npz"
CHECKPOINT = "checkpoint.pt"
CONFIG = "config.yaml"
#: Hydra's record of a job (config.yaml, hydra.yaml, overrides.yaml), written by the run itself
HYDRA_DIR = ".hydra"
SAMPLES = "samples.csv.gz"
SUSPECTS = "suspect_labels.csv"
#: the files a run writes (``config.yaml`` first); any of them makes a directory a run's
RUN_FILES = (CONFIG, METRICS, SUMMARY, LABELS, CHECKPOINT, SAMPLES, SUSPECTS)

_UMASK = os.umask(0)
os.umask(_UMASK)


def _clean(obj: Any) -> Any:
    """JSON-safe copy: numpy scalars to Python, NaN/inf to None."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        v = float(obj)
        return v if math.isfinite(v) else None
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj


def remove_temporaries(folder: str) -> list[str]:
    """Remove the temporary files :func:`atomic_write` leaves in ``folder`` when its process is
    killed mid-write (``.<name>.<random>.tmp``); call it only while no other process writes there.
    Returns the removed paths."""
    removed = sorted(glob.glob(os.path.join(glob.escape(folder), ".*.tmp")))
    for path in removed:
        os.remove(path)
    return removed


def atomic_write(path: str, write: Callable[[Any], None], binary: bool = True) -> None:
    """Call ``write(fileobj)`` on a temporary file next to ``path``, then rename it over ``path``."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)
        with os.fdopen(fd, "wb" if binary else "w") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_json(path: str, obj: Any) -> None:
    text = json.dumps(_clean(obj), indent=2, sort_keys=False) + "\n"
    atomic_write(path, lambda fh: fh.write(text), binary=False)


def read_json(path: str) -> Optional[dict]:
    """The parsed file, or None when it is missing or not valid JSON."""
    try:
        with open(path) as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


def write_npz(path: str, **arrays: np.ndarray) -> None:
    buf = _io.BytesIO()
    np.savez_compressed(buf, **arrays)
    atomic_write(path, lambda fh: fh.write(buf.getvalue()))


def write_text(path: str, text: str) -> None:
    atomic_write(path, lambda fh: fh.write(text), binary=False)


def append_jsonl(path: str, record: dict) -> None:
    line = json.dumps(_clean(record)) + "\n"
    with open(path, "a") as fh:
        fh.write(line)
        fh.flush()
        os.fsync(fh.fileno())


def write_jsonl(path: str, records: list[dict]) -> None:
    text = "".join(json.dumps(_clean(r)) + "\n" for r in records)
    write_text(path, text)


def read_jsonl(path: str) -> list[dict]:
    """Complete lines of ``path``; a torn last line (a crash mid-write) is ignored."""
    out = []
    try:
        with open(path) as fh:
            for line in fh:
                if not line.endswith("\n"):
                    break
                try:
                    out.append(json.loads(line))
                except ValueError:
                    break
    except OSError:
        pass
    return out
