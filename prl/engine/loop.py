"""The training loop: claim the run directory, set up, then epochs of train + evaluate + log +
checkpoint, then the summary.  Read this file to know what a run does.

Outputs in the run directory (Hydra's ``hydra.run.dir`` / the job dir of a multirun):
``config.yaml`` (written first: it says whose directory it is), ``.hydra/``, ``metrics.jsonl``
(one line per epoch, :mod:`prl.engine.metrics`), ``labels.npz`` (``clean`` and ``noisy``
training targets in dataset order, after ``trim``), ``checkpoint.pt``
(:mod:`prl.engine.checkpoint`), ``summary.json`` (:mod:`prl.engine.summary`), ``run.log``.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import time
import traceback
from typing import Optional

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from prl import outputs
from prl.engine.checkpoint import load_checkpoint, restore, save_checkpoint
from prl.engine.metrics import EpochStats, epoch_line, evaluate
from prl.engine.rundir import RunLock, log_to_file, previous_run, write_hydra_files
from prl.engine.setup import Run, setup
from prl.data import BatchIterator
from prl.engine.samples import final_pass, write_records
from prl.engine.signals import StopFlag, progress
from prl.engine.summary import summarise
from prl.tasks import get_task

__all__ = ["train", "run_epoch"]

log = logging.getLogger("prl")


def train(cfg: DictConfig, run_dir: str, choices: Optional[dict] = None) -> dict:
    """Run (or resume, or skip if complete) one experiment into ``run_dir``; returns the summary.

    Raises :class:`~prl.errors.ConfigError` before anything is written when the input is bad,
    when another live process runs in ``run_dir``, or when ``run_dir`` holds another config's run.
    """
    choices = dict(choices or {})
    config = OmegaConf.to_container(cfg, resolve=True)
    path = {name: os.path.join(run_dir, name) for name in outputs.RUN_FILES}
    with RunLock(run_dir):
        previous, ckpt = previous_run(run_dir, config, bool(cfg.force), load_checkpoint)
        if previous is not None and ckpt is None:
            log.info("%s already holds a completed run (add force=true to retrain); skipping", run_dir)
            return previous

        run = setup(cfg)  # every check; nothing written before this returns

        outputs.write_text(path[outputs.CONFIG], OmegaConf.to_yaml(cfg, resolve=True))  # the directory is ours
        write_hydra_files(run_dir, cfg)
        stop_logging = log_to_file(run_dir)
        try:
            history, start, wall_before = [], 0, 0.0
            if ckpt is not None:
                history, start = restore(run, ckpt)
                wall_before = float((previous or {}).get("wall_time_s", 0.0))
                log.info("resuming %s from epoch %d", run_dir, start)
            else:
                for name in (outputs.METRICS, outputs.SUMMARY, outputs.CHECKPOINT, outputs.SAMPLES, outputs.SUSPECTS):
                    if os.path.exists(path[name]):
                        os.unlink(path[name])
            outputs.write_jsonl(path[outputs.METRICS], history)  # drops epochs logged after the checkpoint
            outputs.write_npz(path[outputs.LABELS], clean=run.data.train_y.numpy(), noisy=run.noisy_y.numpy())
            return _epochs(run, config, path, run_dir, choices, history, start, wall_before)
        finally:
            stop_logging()


def _epochs(run: Run, config: dict, path: dict, run_dir: str, choices: dict, history: list[dict], start: int,
            wall_before: float) -> dict:
    """Epochs ``start..`` with logging and checkpoints; the summary is written whatever happens."""
    cfg = run.cfg
    run.logger_id = run.logger.start(config, run_dir, _run_name(choices, cfg.seed), _sweep_group(),
                                     _tags(choices, cfg.seed), run_id=run.logger_id)
    status, summary, stop, t_start, extra = "completed", None, StopFlag(), time.perf_counter(), {}
    try:
        with stop:
            for epoch in range(start, int(cfg.trainer.epochs)):
                record = run_epoch(run, epoch, stop)
                if record is None:
                    status = "interrupted"
                    break
                if not math.isfinite(record["train_loss"]):
                    status = "diverged"
                    log.error("epoch %d: training loss is %s; stopping (the last good checkpoint is kept)",
                              epoch + 1, record["train_loss"])
                    break
                history.append(record)
                outputs.append_jsonl(path[outputs.METRICS], record)
                run.logger.log(record, step=record["epoch"])
                log.info(epoch_line(record, run.task))
                if cfg.trainer.checkpoint:
                    save_checkpoint(path[outputs.CHECKPOINT], run, epoch + 1, history, config)
            if status == "completed":
                extra = records(run, run_dir)
    except BaseException as exc:
        status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        summary = summarise(run, history, status, wall_before + time.perf_counter() - t_start, choices)
        summary.update(error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc(limit=20))
        raise
    finally:  # the summary is written and the logger closed whatever happened
        if summary is None:
            summary = summarise(run, history, status, wall_before + time.perf_counter() - t_start, choices)
            summary.update(extra)
            if stop.signum is not None:
                summary["signal"] = stop.name
        outputs.write_json(path[outputs.SUMMARY], summary)
        run.logger.summary(summary)
        run.logger.finish(exit_code=0 if status == "completed" else 1, preempted=status == "interrupted")
    final = summary.get(f"{run.task.primary}_final")
    log.info("%s: %s_final=%s after %d epoch(s), %.1fs", status, run.task.primary,
             "n/a" if final is None else f"{final:.2f}", len(history), summary["wall_time_s"])
    if status == "completed":
        log.info("most suspect labels first: %s (every sample: %s)", path[outputs.SUSPECTS], path[outputs.SAMPLES])
    return summary


def run_epoch(run: Run, epoch: int, stop: StopFlag) -> Optional[dict]:
    """Train (0-based) ``epoch`` and evaluate; the epoch's metrics record, or None when a signal
    asked to stop mid-epoch.  A non-finite training loss returns before evaluating."""
    t0 = time.perf_counter()
    algo, t = run.algorithm, run.cfg.trainer
    algo.start_epoch(epoch)
    algo.train()
    stats = EpochStats(len(algo.networks), run.device)
    autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if t.precision == "bf16" and run.device.type == "cuda"
                else contextlib.nullcontext())
    for x, y, idx in progress(run.loader, len(run.loader), f"epoch {epoch + 1}/{t.epochs}", t.progress):
        with autocast:
            out = algo.train_step(x, y, idx)
        stats.add(out, run.clean_mask.index_select(0, idx))
        run.ledger.add(idx, out)
        if stop.signum is not None:
            return None
    if run.heldout is not None:
        algo.observe_heldout(*heldout_probabilities(algo.networks, *run.heldout, t.eval_batch_size))
    algo.end_epoch()
    train_time = time.perf_counter() - t0
    record = {"epoch": epoch + 1, **algo.record(), **stats.result()}
    if not math.isfinite(record["train_loss"]):
        return record
    for s in run.schedulers:
        s.step()
    tests = evaluate(algo.networks, run.test_loader, run.task)
    for key in tests[0]:
        record[key] = float(np.mean([r[key] for r in tests]))
        for i, r in enumerate(tests):
            record[f"{key}_net{i + 1}"] = r[key]
    record["lr"] = algo.optimizers[0].param_groups[0]["lr"]
    record["seconds"] = time.perf_counter() - t0
    record["samples_per_s"] = stats.seen / max(train_time, 1e-9)
    return record


def records(run: Run, run_dir: str) -> dict:
    """After the last epoch: the per-sample record and the suspect list (:mod:`prl.engine.samples`);
    returns their summary fields."""
    loader = BatchIterator(run.data.train_x.to(run.device), run.noisy_y.to(run.device), run.cfg.trainer.eval_batch_size,
                           shuffle=False)
    score, output = final_pass(run.algorithm.networks, loader, run.task)
    epsilon = run.algorithm.summary().get("epsilon", 0.0)
    return write_records(run_dir, run.ledger, score, output, run.data, run.task, run.noisy_y.numpy(),
                         run.data.train_y.numpy(), epsilon, truth_known(run))


def heldout_probabilities(networks, x, y, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The networks' mean softmax probabilities on the held-out split, and its noisy labels."""
    _, probs = final_pass(networks, BatchIterator(x, y, batch_size, shuffle=False), get_task("classification"))
    return torch.from_numpy(probs), y.cpu()


def truth_known(run: Run) -> bool:
    """Whether the run knows which training targets are corrupted: the dataset's own targets are
    correct (a curated benchmark), whatever noise was injected on top."""
    return bool(run.data.clean_known)


def _run_name(choices: dict, seed: int) -> str:
    return "-".join(str(choices.get(g, "")) for g in ("dataset", "noise", "algorithm")) + f"-s{seed}"


def _tags(choices: dict, seed: int) -> list[str]:
    return [f"{g}={choices[g]}" for g in ("dataset", "noise", "algorithm", "model", "experiment", "protocol")
            if choices.get(g) not in (None, "none")] + [f"seed={seed}"]


def _sweep_group() -> Optional[str]:
    """Inside a multirun, the sweep directory's last two path parts (e.g.
    ``fmnist-table/2026-11-29_10-00-00-1a2b3c``): the same group wherever the sweep is launched from."""
    try:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        hc = HydraConfig.get()
        if hc.mode == RunMode.MULTIRUN:
            parts = os.path.normpath(os.path.abspath(hc.sweep.dir)).split(os.sep)
            return "/".join(p for p in parts[-2:] if p)
    except Exception:
        pass
    return None
