"""One checkpoint per run directory (``checkpoint.pt``), saved atomically after every epoch.

It holds everything a resumed run needs to continue exactly as an uninterrupted one: the
algorithm (networks, optimizers, its keep rule's state), the schedulers, the epoch, the RNG
states (python, numpy, torch, CUDA), the data-order generator, the metric history, the config and
the logger's run id.
"""

from __future__ import annotations

import os
import random
from typing import Any, Optional

import numpy as np
import torch

from prl import outputs
from prl.errors import ConfigError

__all__ = ["save_checkpoint", "load_checkpoint", "restore"]


def _rng_state() -> dict:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str, run: Any, epoch: int, history: list[dict], config: dict) -> None:
    """Write ``run``'s state after ``epoch`` (1-based: epochs done) to ``path``, atomically."""
    state = {
        "epoch": epoch,
        "algorithm": run.algorithm.state_dict(),
        "samples": run.ledger.state_dict(),
        "logger_run_id": run.logger_id,
        "schedulers": [s.state_dict() for s in run.schedulers],
        "rng": _rng_state(),
        "data_order": run.generator.get_state(),
        "history": history,
        "config": config,
    }
    outputs.atomic_write(path, lambda fh: torch.save(state, fh))


def load_checkpoint(path: str) -> Optional[dict]:
    """The checkpoint at ``path``, or None when there is none; :class:`ConfigError` if unreadable."""
    if not os.path.isfile(path):
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:
        raise ConfigError(f"checkpoint {path} cannot be read ({exc}); delete it or run with force=true") from None


def restore(run: Any, ckpt: dict) -> tuple[list[dict], int]:
    """Load ``ckpt`` into ``run``; returns the metric history and the next (0-based) epoch."""
    run.algorithm.load_state_dict(ckpt["algorithm"])
    if "samples" in ckpt:
        run.ledger.load_state_dict(ckpt["samples"])
    for s, state in zip(run.schedulers, ckpt["schedulers"]):
        s.load_state_dict(state)
    _set_rng_state(ckpt["rng"])
    run.generator.set_state(ckpt["data_order"])
    run.logger_id = ckpt.get("logger_run_id")
    return list(ckpt["history"]), int(ckpt["epoch"])
