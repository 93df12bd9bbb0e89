"""The training engine: from a composed config to a finished run directory.

* :mod:`~prl.engine.loop` -- :func:`train`: claim the directory, set up, epochs, summary (read
  this first).
* :mod:`~prl.engine.setup` -- :func:`setup`: every check and every object of a run, nothing written.
* :mod:`~prl.engine.metrics` -- what an epoch measures (training statistics, test metrics).
* :mod:`~prl.engine.checkpoint` -- save, load and restore the state of a run.
* :mod:`~prl.engine.summary` -- ``summary.json``.
* :mod:`~prl.engine.rundir` -- a run directory belongs to one run (lock, ownership, ``.hydra``).
* :mod:`~prl.engine.signals` -- stopping on SIGTERM / SIGINT, the progress bar.
"""

from prl.engine.loop import run_epoch, train
from prl.engine.setup import Run, setup

__all__ = ["train", "run_epoch", "setup", "Run"]
