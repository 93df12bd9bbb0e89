"""Experiment loggers.  The runner calls ``start`` once the run is set up, ``log`` once per
epoch, and ``finish`` in a ``finally`` block, so a crashed job never leaves its run open for
the next job of a multirun to write into.  ``start`` returns the logger's run id, which the
checkpoint keeps: a resumed job passes it back and stays one run."""

from __future__ import annotations

import logging
import os
from typing import Optional, Sequence

log = logging.getLogger(__name__)

__all__ = ["NullLogger", "WandbLogger"]


class NullLogger:
    """Logs nothing (``logger=none``); the run directory still holds every metric."""

    def start(self, config: dict, run_dir: str, name: str, group: Optional[str], tags: Sequence[str],
              run_id: Optional[str] = None) -> Optional[str]:
        """Open the run (``run_id``: the id of the run to continue); returns its id."""
        return None

    def log(self, metrics: dict, step: int) -> None:
        pass

    def summary(self, summary: dict) -> None:
        pass

    def finish(self, exit_code: int = 0, preempted: bool = False) -> None:
        pass


class WandbLogger(NullLogger):
    """Weights & Biases, offline by default (no network, no account needed).

    ``mode``: ``offline`` (default; sync later with ``wandb sync``), ``online`` or
    ``disabled``; the config default reads ``$WANDB_MODE`` first.  ``group`` defaults to the
    sweep directory's last two path parts inside a multirun, so a sweep's runs show up together
    wherever it was launched from; ``tags`` are added to the dataset / noise / algorithm / model /
    seed tags of the run.  Files go to ``dir`` (default: the run directory).

    A resumed job reopens its run (``id`` + ``resume="allow"``): one job is one wandb run.
    Offline, each process writes its own ``offline-run-<time>-<id>`` folder with the same id;
    ``wandb sync`` uploads them in order into that one run.
    """

    def __init__(self, project: str = "prl", mode: str = "offline", entity: Optional[str] = None,
                 group: Optional[str] = None, tags: Sequence[str] = (), dir: Optional[str] = None,
                 job_type: str = "train"):
        mode = {"dryrun": "offline", "run": "online"}.get(mode, mode)
        if mode not in ("offline", "online", "disabled"):
            from prl.errors import ConfigValueError

            raise ConfigValueError(f"mode must be offline, online or disabled; got {mode!r}", "mode")
        self.project, self.mode, self.entity = project, mode, entity
        self.group, self.tags, self.dir, self.job_type = group, list(tags), dir, job_type
        self.run = None

    def start(self, config, run_dir, name, group, tags, run_id=None):
        import wandb

        folder = self.dir or run_dir
        os.makedirs(folder, exist_ok=True)
        self.run = wandb.init(
            id=run_id,
            resume="allow",
            project=self.project,
            entity=self.entity,
            mode=self.mode,
            dir=folder,
            config=config,
            name=name,
            group=self.group or group,
            tags=sorted(set(list(tags) + self.tags)),
            job_type=self.job_type,
            reinit="finish_previous",
        )
        return self.run.id

    def log(self, metrics, step):
        if self.run is not None:
            self.run.log(metrics, step=step)

    def summary(self, summary):
        if self.run is not None:
            for k, v in summary.items():
                if isinstance(v, (int, float, str, bool)) or v is None:
                    self.run.summary[k] = v

    def finish(self, exit_code: int = 0, preempted: bool = False):
        if self.run is not None:
            try:
                if preempted:
                    self.run.mark_preempting()
                self.run.finish(exit_code=exit_code)
            finally:
                self.run = None
