"""A run directory belongs to one run from its first write.

* :class:`RunLock`: an exclusive ``flock`` on ``<run dir>/.prl.lock`` for the life of a run.  A
  second process that finds the lock held refuses to start (it would interleave its writes with
  a live run); the operating system releases the lock when the holder dies, whatever the
  signal, so a crash never leaves it stuck.  A finished run removes the file.
* :func:`previous_run`: what the directory already holds.  Its ``config.yaml`` (the first file
  a run writes) names the owner: a run of another config is refused from then on, whether or
  not it got as far as a checkpoint.
* :func:`write_hydra_files`: Hydra's own ``.hydra/`` record (config, hydra config, overrides),
  written by the run once it owns the directory.  ``conf/config.yaml`` sets
  ``hydra.output_subdir: null`` so that Hydra does not write it before the ownership check, and
  ``hydra/job_logging=prl`` so that the log file is opened only then (:func:`log_to_file`).
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
from typing import Any, Callable, Optional

from omegaconf import DictConfig, OmegaConf

from prl import outputs
from prl.config import EXECUTION_KEYS, matches
from prl.errors import RunDirError

__all__ = ["RunLock", "previous_run", "write_hydra_files", "log_to_file", "differences", "LOCK", "LOG",
           "RUN_FILES"]

LOCK = ".prl.lock"
LOG = "run.log"
HYDRA_DIR = outputs.HYDRA_DIR
RUN_FILES = outputs.RUN_FILES

log = logging.getLogger("prl")


class RunLock:
    """``with RunLock(run_dir):`` holds an exclusive lock on ``run_dir`` or raises
    :class:`RunDirError` naming the live process that holds it.

    The lock file exists only while a run holds it (it is removed, still locked, on exit; a
    killed holder leaves an unlocked file behind, which the next run simply takes over).
    Taking the lock checks that the locked file is still the one at the path, so a holder that
    removes it while another process waits cannot let two runs in.
    """

    def __init__(self, run_dir: str):
        self.path = os.path.join(run_dir, LOCK)
        self.fd: Optional[int] = None

    def __enter__(self) -> "RunLock":
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                holder = os.read(fd, 64).decode(errors="replace").strip() or "?"
                os.close(fd)
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                raise RunDirError(
                    f"{os.path.dirname(self.path)} is in use by another live run (pid {holder}); wait for it to "
                    f"finish, or choose another hydra.run.dir", "hydra.run.dir") from None
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)  # the holder removed it between our open and our lock: take the new one
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self.fd = fd
        outputs.remove_temporaries(os.path.dirname(self.path))  # a killed run's half-written files: ours now
        return self

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


_ABSENT = "(absent)"


def differences(a: Any, b: Any) -> list[str]:
    """``key: old -> new`` for every setting that differs (:data:`prl.config.EXECUTION_KEYS`
    aside): top-level keys and the ``name`` / ``_target_`` of each group first (what a user
    chose), then the rest; a key only one side has shows ``(absent)`` on the other."""
    found = _differences(a, b, "")
    return [text for key, text in found if "." not in key or key.rsplit(".", 1)[1] in ("name", "_target_")] + \
        [text for key, text in found if "." in key and key.rsplit(".", 1)[1] not in ("name", "_target_")]


def _differences(a: Any, b: Any, prefix: str) -> list[tuple[str, str]]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b), key=str):
            key = f"{prefix}.{k}" if prefix else str(k)
            if not matches(key, EXECUTION_KEYS):
                out += _differences(a.get(k, _ABSENT), b.get(k, _ABSENT), key)
        return out
    if a == b:
        return []
    return [(prefix, f"{prefix}: {_ABSENT if a is _ABSENT else repr(a)} -> {_ABSENT if b is _ABSENT else repr(b)}")]


def previous_run(run_dir: str, config: dict, force: bool,
                 load_checkpoint: Callable[[str], Optional[dict]]) -> tuple[Optional[dict], Optional[dict]]:
    """What ``run_dir`` already holds: ``(summary, checkpoint)``, both None for a fresh start.

    A completed run comes back as its summary (to skip), an unfinished one with a checkpoint as
    that checkpoint (to resume); a run of the same config without a checkpoint starts over.  A
    directory that holds another config's run (its ``config.yaml``), or run files without a
    ``config.yaml``, is refused.  ``force=true`` ignores all of it.
    """
    paths = {name: os.path.join(run_dir, name) for name in RUN_FILES}
    if force:
        return None, None
    if not os.path.exists(paths[outputs.CONFIG]):
        found = [n for n in RUN_FILES if os.path.exists(paths[n])]
        summary = outputs.read_json(paths[outputs.SUMMARY]) or {}
        if found and not (found == [outputs.SUMMARY] and summary.get("status") == "failed"):
            raise RunDirError(f"{run_dir} holds run files ({', '.join(found)}) but no {outputs.CONFIG} to say whose; "
                              f"choose another hydra.run.dir, or add force=true to start over", "hydra.run.dir")
        return None, None
    diff = differences(OmegaConf.to_container(OmegaConf.load(paths[outputs.CONFIG])), config)
    if diff:
        raise RunDirError(
            f"{run_dir} holds a run with a different config ({'; '.join(diff[:5])}"
            f"{f'; and {len(diff) - 5} more' if len(diff) > 5 else ''}); rerun it with the "
            f"same settings, choose another hydra.run.dir, or add force=true to start over", "resume")
    previous = outputs.read_json(paths[outputs.SUMMARY])
    if previous and previous.get("status") == "completed":
        return previous, None
    return previous, load_checkpoint(paths[outputs.CHECKPOINT])


def write_hydra_files(run_dir: str, cfg: DictConfig) -> None:
    """Hydra's ``.hydra/config.yaml``, ``hydra.yaml`` and ``overrides.yaml`` for this job (as Hydra
    writes them when ``hydra.output_subdir`` is set); nothing outside a Hydra app."""
    try:
        from hydra.core.hydra_config import HydraConfig

        hydra_cfg = HydraConfig.instance().cfg
    except Exception:
        return
    if hydra_cfg is None:
        return
    folder = os.path.join(run_dir, HYDRA_DIR)
    outputs.write_text(os.path.join(folder, "config.yaml"), OmegaConf.to_yaml(cfg))
    outputs.write_text(os.path.join(folder, "hydra.yaml"), OmegaConf.to_yaml(hydra_cfg))
    outputs.write_text(os.path.join(folder, "overrides.yaml"), OmegaConf.to_yaml(hydra_cfg.hydra.overrides.task))


def log_to_file(run_dir: str) -> Callable[[], None]:
    """Append the ``prl`` log (and the root logger's) to ``<run dir>/run.log``; returns the undo."""
    handler = logging.FileHandler(os.path.join(run_dir, LOG))
    handler.setFormatter(logging.Formatter("[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)

    def remove() -> None:
        root.removeHandler(handler)
        handler.close()

    return remove
