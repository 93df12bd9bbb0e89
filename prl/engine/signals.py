"""Stopping on a signal (SIGTERM / SIGINT: what SLURM and submitit send on preemption) and the
per-epoch progress bar."""

from __future__ import annotations

import logging
import signal
import sys
from typing import Optional

__all__ = ["StopFlag", "progress"]

log = logging.getLogger("prl")


class StopFlag:
    """Turns SIGTERM / SIGINT into a request to stop at the next step (second SIGINT: abort)."""

    def __init__(self):
        self.signum: Optional[int] = None
        self._old: dict = {}

    def __enter__(self) -> "StopFlag":
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not in the main thread
                pass
        return self

    def _handle(self, signum, frame):
        if self.signum is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signum = signum
        log.warning("received %s: stopping after this step, the last checkpoint is kept",
                    signal.Signals(signum).name)

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)

    @property
    def name(self) -> Optional[str]:
        return None if self.signum is None else signal.Signals(self.signum).name


def progress(iterable, total: int, desc: str, enabled: bool):
    """``iterable`` with a tqdm bar when ``enabled`` and stderr is a terminal."""
    if not enabled or not sys.stderr.isatty():
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc=desc, leave=False, dynamic_ncols=True)
