"""The training loop: setup (all checks, nothing written), then epochs, then a summary.

Outputs in the run directory (Hydra's ``hydra.run.dir`` / the job dir of a multirun):

``metrics.jsonl``   one line per epoch (1-based ``epoch``): ``epsilon``, ``train_loss``,
                    ``test_accuracy`` (mean over networks, top-1 %, all test samples) and
                    ``test_accuracy_net{i}``, ``label_precision`` / ``label_recall`` (% of the
                    kept samples that are clean / % of the clean samples seen that were kept;
                    mean over networks, and per network), ``seconds``, ``samples_per_s``.
``summary.json``    ``status`` (completed | interrupted | diverged | failed), the primary
                    metric after the last epoch (``*_final``), at its best epoch (``*_best``)
                    and averaged over the last 10 epochs (``*_last10_mean``), the expected and
                    realised corrupted fractions, epsilon and where it came from
                    (``epsilon_source``), wall time.
``labels.npz``      ``clean`` and ``noisy`` training targets, in dataset order (after ``trim``,
                    if it removed samples).
``config.yaml``     the resolved config.
``checkpoint.pt``   networks, optimizers, schedulers, epoch, RNG and data-order state:
                    re-running into the same directory continues from it.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import random
import signal
import sys
import time
import traceback
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from prl import outputs
from prl.algorithms import Algorithm
from prl.algorithms import get as get_algorithm
from prl.config import build, check
from prl.data import BatchIterator, Data
from prl.errors import ConfigError
from prl.models import has_batchnorm
from prl.noise import TailTrim, trim_training_set
from prl.tasks import get_task
from prl.rundir import RunLock, log_to_file, previous_run, write_hydra_files

log = logging.getLogger("prl")



# ----------------------------------------------------------------------------- setup


@dataclass
class Run:
    """Everything built before the first epoch."""

    cfg: DictConfig
    data: Data
    noisy_y: torch.Tensor
    clean_mask: torch.Tensor
    algorithm: Algorithm
    schedulers: list
    loader: BatchIterator
    test_loader: BatchIterator
    generator: torch.Generator
    device: torch.device
    logger: Any
    noise_info: dict
    logger_id: Optional[str] = None


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"trainer.device={name} but no CUDA device is available; use trainer.device=cpu or auto",
                          "trainer.device")
    return dev


def corrupt(noise: Any, data: Data) -> tuple[np.ndarray, dict]:
    """The noisy training targets and a description of the noise: its parameters, the expected
    corrupted fraction of the noise model (``rate_expected``, None when it does not say) and the
    realised one (``rate_realised``)."""
    if getattr(noise, "task", "classification") != data.task:
        options = ("the noise=target-* options" if data.task == "regression"
                   else "noise=clean, symmetric, pairflip, asymmetric, labelfile, cifar10n or cifar100n")
        raise ConfigError(
            f"noise={noise.__class__.__name__} corrupts {noise.task} targets, but dataset {data.name} is a "
            f"{data.task} task; pick a {data.task} noise ({options})",
            "noise",
        )
    clean = data.train_y.numpy()
    try:
        if data.task == "classification":
            noisy = noise.apply(clean, data.num_classes, inputs=data.train_x, dataset=data.name)
        else:
            noisy = noise.apply(clean, inputs=data.train_x, dataset=data.name)
        expected = noise.expected_corruption(clean, data.num_classes)
    except ConfigError as exc:
        raise exc.with_prefix("noise") from None
    changed = noisy != clean if data.task == "classification" else np.any(
        np.abs(noisy - clean).reshape(len(clean), -1) > 0, axis=1)
    info = {**noise.describe(), "rate_expected": expected,
            "rate_realised": float(changed.mean()) if len(changed) else 0.0}
    return noisy, info


#: where ``algorithm.epsilon`` came from (``summary.json``'s ``epsilon_source``)
EPSILON_SOURCES = {
    "user": "set in the config (algorithm.epsilon)",
    "expected_corruption": "the noise model's expected corrupted fraction, sum_c p(c) (1 - T[c, c])",
    "realised_corruption": "the realised corrupted fraction, measured against the clean labels (oracle: the noise "
                           "model does not say, e.g. a label file)",
}


def resolve_epsilon(value: Any, noise_info: dict) -> tuple[float, str]:
    """``(epsilon, source)`` for ``algorithm.epsilon=value``: the value itself (``user``), else the
    noise model's expected corrupted fraction, else the realised one (oracle)."""
    if value is not None:
        return value, "user"
    if noise_info.get("rate_expected") is not None:
        return noise_info["rate_expected"], "expected_corruption"
    return noise_info["rate_realised"], "realised_corruption"


def setup(cfg: DictConfig) -> Run:
    """Validate and build everything; raises :class:`ConfigError` on bad input, writes nothing."""
    check(cfg)
    t = cfg.trainer
    device = resolve_device(t.device)
    if t.threads:
        torch.set_num_threads(int(t.threads))
    if cfg.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
    algo_cls = get_algorithm(cfg.algorithm.name)
    logger = build(cfg.logger, "logger")
    noise = build(cfg.noise, "noise")  # range checks before the (slow) data load
    trim = _build_trim(cfg)

    data: Data = build(cfg.dataset, "dataset")
    noisy, noise_info = corrupt(noise, data)
    clean_mask = torch.from_numpy(np.asarray(noisy == data.train_y.numpy()).reshape(len(noisy), -1).all(axis=1))
    if trim.quantile is not None:  # after the clean mask: a clipped clean target stays clean
        try:
            data, noisy, clean_mask, noise_info["trim"] = trim_training_set(trim, data, noisy, clean_mask)
        except ConfigError as exc:
            raise exc.with_prefix("trim") from None

    seed_everything(int(cfg.seed))

    def model_fn() -> torch.nn.Module:
        net = build(cfg.model, "model", input_shape=data.input_shape, num_outputs=data.num_outputs)
        return net.to(device, memory_format=torch.channels_last if t.channels_last else torch.preserve_format)

    probe = model_fn()
    if algo_cls.per_sample_gradients and has_batchnorm(probe):
        raise ConfigError(
            f"algorithm={cfg.algorithm.name} needs per-sample gradients, which BatchNorm makes ill-defined "
            f"(it mixes the samples of a batch); use a GroupNorm model: model=resnet32-gn, model=cnn-small-gn, "
            f"or model=mlp",
            "model",
        )
    try:
        with torch.no_grad():
            probe.eval()(data.train_x[:2].to(device))
    except RuntimeError as exc:
        raise ConfigError(
            f"model does not fit the inputs of dataset {data.name} (one input is {tuple(data.input_shape)}): "
            f"{str(exc).splitlines()[0]}",
            "model",
        ) from None
    del probe
    seed_everything(int(cfg.seed))  # the probe must not shift the initialisation

    algo_kwargs = {}
    if "epsilon" in cfg.algorithm:
        algo_kwargs["epsilon"], noise_info["epsilon_source"] = resolve_epsilon(cfg.algorithm.epsilon, noise_info)
    optimizer_fn = build(cfg.optimizer, "optimizer")
    algorithm = _build_algorithm(cfg, algo_cls, model_fn, optimizer_fn, data.task, algo_kwargs)
    scheduler_fn = build(cfg.scheduler, "scheduler")
    schedulers = [s for s in (scheduler_fn(optimizer=opt) for opt in algorithm.optimizers) if s is not None]
    if t.compile:
        algorithm.networks = torch.nn.ModuleList(torch.compile(n) for n in algorithm.networks)

    generator = torch.Generator().manual_seed(int(cfg.seed))
    x, y = data.train_x.to(device), torch.as_tensor(noisy).to(device)
    if t.channels_last and x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    loader = BatchIterator(x, y, t.batch_size, shuffle=True, drop_last=t.drop_last, generator=generator,
                           max_steps=t.max_steps_per_epoch)
    test_loader = BatchIterator(data.test_x.to(device), data.test_y.to(device), t.eval_batch_size, shuffle=False,
                                drop_last=t.test_drop_last)
    if len(test_loader) == 0:
        raise ConfigError(f"trainer.test_drop_last=true with trainer.eval_batch_size={t.eval_batch_size} drops all "
                          f"{data.test_x.shape[0]} test samples; lower trainer.eval_batch_size", "trainer.test_drop_last")
    return Run(cfg, data, torch.as_tensor(noisy), clean_mask.to(device), algorithm, schedulers, loader,
               test_loader, generator, device, logger, noise_info)


def _build_trim(cfg: DictConfig) -> TailTrim:
    try:
        return TailTrim(**OmegaConf.to_container(cfg.trim, resolve=True))
    except ConfigError as exc:
        raise exc.with_prefix("trim") from None


def _build_algorithm(cfg, algo_cls, model_fn, optimizer_fn, task, extra) -> Algorithm:
    kwargs = {k: v for k, v in OmegaConf.to_container(cfg.algorithm, resolve=True).items() if k != "name"}
    kwargs.update(extra)
    try:
        return algo_cls(model_fn=model_fn, optimizer_fn=optimizer_fn, task=task, **kwargs)
    except ConfigError as exc:
        raise exc.with_prefix("algorithm") from None


# ----------------------------------------------------------------------------- evaluation


@torch.inference_mode()
def evaluate(networks, loader: BatchIterator, task: str) -> list[dict]:
    """Test metrics of each network: top-1 accuracy in % (classification) or MSE / MAE per
    output (regression), over every test sample (unless ``test_drop_last``)."""
    was_training = [n.training for n in networks]
    for n in networks:
        n.eval()
    totals = [torch.zeros(2, device=loader.x.device, dtype=torch.float64) for _ in networks]
    count = 0
    for x, y, _ in loader:
        count += y.shape[0]
        for i, net in enumerate(networks):
            out = net(x).float()
            if task == "classification":
                totals[i][0] += (out.argmax(dim=1) == y).sum()
            else:
                diff = out - y.reshape(out.shape)
                totals[i][0] += diff.pow(2).mean(dim=tuple(range(1, diff.dim())) or None).sum() if diff.dim() > 1 else diff.pow(2).sum()
                totals[i][1] += diff.abs().mean(dim=tuple(range(1, diff.dim())) or None).sum() if diff.dim() > 1 else diff.abs().sum()
    for n, mode in zip(networks, was_training):
        n.train(mode)
    out = []
    for tot in totals:
        tot = tot.tolist()
        if task == "classification":
            out.append({"test_accuracy": 100.0 * tot[0] / max(count, 1)})
        else:
            out.append({"test_mse": tot[0] / max(count, 1), "test_mae": tot[1] / max(count, 1)})
    return out


class EpochStats:
    """Device-side sums over an epoch; one host sync in :meth:`result`."""

    def __init__(self, num_networks: int, device: torch.device):
        self.loss = torch.zeros(num_networks, device=device)
        self.clean_kept = torch.zeros(num_networks, device=device)
        self.clean_seen = torch.zeros((), device=device)
        self.kept = [0] * num_networks
        self.seen = 0
        self.steps = 0

    def add(self, out: dict, clean: torch.Tensor) -> None:
        self.loss += out["loss"].float()
        self.steps += 1
        n = clean.shape[0]
        self.seen += n
        self.clean_seen += clean.sum()
        for i, idx in enumerate(out["kept"]):
            if idx is None:
                self.clean_kept[i] += clean.sum()
                self.kept[i] += n
            else:
                self.clean_kept[i] += clean.index_select(0, idx).sum()
                self.kept[i] += idx.shape[0]

    def result(self) -> dict:
        loss = (self.loss / max(self.steps, 1)).tolist()
        clean_kept = self.clean_kept.tolist()
        clean_seen = float(self.clean_seen)
        res: dict[str, Any] = {"train_loss": float(np.mean(loss))}
        prec, rec = [], []
        for i, (ck, k) in enumerate(zip(clean_kept, self.kept)):
            prec.append(100.0 * ck / k if k else float("nan"))
            rec.append(100.0 * ck / clean_seen if clean_seen else float("nan"))
            res[f"train_loss_net{i + 1}"] = loss[i]
        res["label_precision"] = float(np.mean(prec))
        res["label_recall"] = float(np.mean(rec))
        for i, (p, r) in enumerate(zip(prec, rec)):
            res[f"label_precision_net{i + 1}"] = p
            res[f"label_recall_net{i + 1}"] = r
        res["kept_fraction"] = float(np.mean(self.kept)) / max(self.seen, 1)
        return res


# ----------------------------------------------------------------------------- checkpoints


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


def save_checkpoint(path: str, run: Run, epoch: int, history: list[dict], config: dict) -> None:
    algo = run.algorithm
    state = {
        "epoch": epoch,
        "algorithm": algo.state_dict(),
        "logger_run_id": run.logger_id,
        "schedulers": [s.state_dict() for s in run.schedulers],
        "rng": _rng_state(),
        "data_order": run.generator.get_state(),
        "history": history,
        "config": config,
    }
    outputs.atomic_write(path, lambda fh: torch.save(state, fh))


def load_checkpoint(path: str) -> Optional[dict]:
    if not os.path.isfile(path):
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:
        raise ConfigError(f"checkpoint {path} cannot be read ({exc}); delete it or run with force=true") from None


# ----------------------------------------------------------------------------- the loop


class StopFlag:
    """Turns SIGTERM / SIGINT into a request to stop at the next step (second SIGINT: abort)."""

    def __init__(self):
        self.signum: Optional[int] = None
        self._old: dict = {}

    def __enter__(self):
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

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)


def _progress(iterable, total: int, desc: str, enabled: bool):
    if not enabled or not sys.stderr.isatty():
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc=desc, leave=False, dynamic_ncols=True)


def _summary(run: Run, history: list[dict], status: str, wall: float, config_choices: dict) -> dict:
    task = get_task(run.data.task)
    key, higher = task.primary, task.higher_is_better
    values = [h[key] for h in history]
    summary: dict[str, Any] = {"status": status, "epochs_completed": len(history), "epochs": int(run.cfg.trainer.epochs)}
    if values:
        best_i = int(np.argmax(values) if higher else np.argmin(values))
        summary.update({
            f"{key}_final": values[-1],
            f"{key}_best": values[best_i],
            f"{key}_best_epoch": history[best_i]["epoch"],
            f"{key}_last10_mean": float(np.mean(values[-10:])),
            "label_precision_final": history[-1]["label_precision"],
            "label_precision_last10_mean": float(np.mean([h["label_precision"] for h in history[-10:]])),
        })
        if run.data.task == "regression":
            summary["test_mae_final"] = history[-1]["test_mae"]
    algo = run.algorithm
    summary.update({
        "definitions": {
            f"{key}_final": f"mean over the {len(algo.networks)} network(s) after the last completed epoch",
            f"{key}_best": "best epoch of that mean (optimistic: selected on the test set)",
            f"{key}_last10_mean": "mean of that mean over the last 10 epochs (or fewer, if fewer ran)",
            "test set": "every test sample" if not run.cfg.trainer.test_drop_last else "last incomplete batch dropped",
            "noise_rate_expected": "the noise model's expected corrupted fraction, sum_c p(c) (1 - T[c, c]) "
                                   "(null: the model does not say, e.g. a label file)",
            "noise_rate_realised": "the fraction of training targets the noise changed",
            **({"epsilon_source": EPSILON_SOURCES[run.noise_info["epsilon_source"]]}
               if algo.selects and "epsilon_source" in run.noise_info else {}),
        },
        "noise_rate_expected": run.noise_info.get("rate_expected"),
        "noise_rate_realised": run.noise_info["rate_realised"],
        "epsilon": algo.epsilon if algo.selects else 0.0,
        "epsilon_source": run.noise_info.get("epsilon_source") if algo.selects else None,
        "wall_time_s": wall,
        "task": run.data.task,
        "dataset": run.data.name,
        "choices": config_choices,
        "algorithm": run.cfg.algorithm.name,
        "noise": run.noise_info,
        "seed": int(run.cfg.seed),
        "networks": len(algo.networks),
        "device": str(run.device),
    })
    if history:
        summary["samples_per_s"] = float(np.mean([h["samples_per_s"] for h in history]))
    return summary


def _restore(run: Run, ckpt: dict) -> tuple[list[dict], int]:
    """Load a checkpoint into ``run``; returns the metric history and the next epoch."""
    run.algorithm.load_state_dict(ckpt["algorithm"])
    for s, state in zip(run.schedulers, ckpt["schedulers"]):
        s.load_state_dict(state)
    _set_rng_state(ckpt["rng"])
    run.generator.set_state(ckpt["data_order"])
    return list(ckpt["history"]), int(ckpt["epoch"])


def run_epoch(run: Run, epoch: int, stop: "StopFlag") -> Optional[dict]:
    """Train (0-based) ``epoch`` and evaluate; the epoch's metrics record, or None when a
    signal asked to stop mid-epoch.  A non-finite training loss returns before evaluating."""
    t0 = time.perf_counter()
    algo, t = run.algorithm, run.cfg.trainer
    eps = algo.epsilon_at(epoch)
    algo.start_epoch(epoch)
    algo.train()
    stats = EpochStats(len(algo.networks), run.device)
    autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if t.precision == "bf16" and run.device.type == "cuda"
                else contextlib.nullcontext())
    for x, y, idx in _progress(run.loader, len(run.loader), f"epoch {epoch + 1}/{t.epochs}", t.progress):
        with autocast:
            out = algo.train_step(x, y, eps)
        stats.add(out, run.clean_mask.index_select(0, idx))
        if stop.signum is not None:
            return None
    train_time = time.perf_counter() - t0
    record = {"epoch": epoch + 1, "epsilon": eps, **stats.result()}
    if not math.isfinite(record["train_loss"]):
        return record
    for s in run.schedulers:
        s.step()
    tests = evaluate(algo.networks, run.test_loader, run.data.task)
    for key in tests[0]:
        record[key] = float(np.mean([r[key] for r in tests]))
        for i, r in enumerate(tests):
            record[f"{key}_net{i + 1}"] = r[key]
    record["lr"] = algo.optimizers[0].param_groups[0]["lr"]
    record["seconds"] = time.perf_counter() - t0
    record["samples_per_s"] = stats.seen / max(train_time, 1e-9)
    return record


def train(cfg: DictConfig, run_dir: str, choices: Optional[dict] = None) -> dict:
    """Run (or resume, or skip if complete) one experiment into ``run_dir``; returns the summary.

    Raises :class:`ConfigError` before anything is written when the input is bad, when another
    live process runs in ``run_dir``, or when ``run_dir`` holds another config's run.
    """
    choices = dict(choices or {})
    config = OmegaConf.to_container(cfg, resolve=True)
    paths = {name: os.path.join(run_dir, name) for name in (outputs.METRICS, outputs.SUMMARY, outputs.LABELS, outputs.CHECKPOINT, outputs.CONFIG)}
    with RunLock(run_dir):
        previous, ckpt = previous_run(run_dir, config, bool(cfg.force), load_checkpoint)
        if previous is not None and ckpt is None:
            log.info("%s already holds a completed run (add force=true to retrain); skipping", run_dir)
            return previous

        run = setup(cfg)  # every check; nothing written before this returns

        # the directory is this run's from its first file on: config.yaml
        outputs.write_text(paths[outputs.CONFIG], OmegaConf.to_yaml(cfg, resolve=True))
        write_hydra_files(run_dir, cfg)
        stop_logging = log_to_file(run_dir)
        try:
            return _train(run, cfg, config, paths, run_dir, choices, previous, ckpt)
        finally:
            stop_logging()


def _train(run: Run, cfg: DictConfig, config: dict, paths: dict, run_dir: str, choices: dict,
           previous: Optional[dict], ckpt: Optional[dict]) -> dict:
    history, start, wall_before = [], 0, 0.0
    if ckpt is not None:
        history, start = _restore(run, ckpt)
        wall_before = float((previous or {}).get("wall_time_s", 0.0))
        log.info("resuming %s from epoch %d", run_dir, start)
    else:
        for name in (outputs.METRICS, outputs.SUMMARY, outputs.CHECKPOINT):
            if os.path.exists(paths[name]):
                os.unlink(paths[name])
    outputs.write_jsonl(paths[outputs.METRICS], history)  # drops epochs logged after the checkpoint
    outputs.write_npz(paths[outputs.LABELS], clean=run.data.train_y.numpy(), noisy=run.noisy_y.numpy())

    name = "-".join(str(choices.get(g, "")) for g in ("dataset", "noise", "algorithm")) + f"-s{cfg.seed}"
    tags = [f"{g}={choices[g]}" for g in ("dataset", "noise", "algorithm", "model", "experiment", "protocol")
            if choices.get(g)] + [f"seed={cfg.seed}"]
    run.logger_id = run.logger.start(config, run_dir, name, _default_group(), tags,
                                     run_id=(ckpt or {}).get("logger_run_id"))
    status, summary, stop, t_start = "completed", None, StopFlag(), time.perf_counter()
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
                outputs.append_jsonl(paths[outputs.METRICS], record)
                run.logger.log(record, step=record["epoch"])
                log.info(_epoch_line(record, run.data.task))
                if cfg.trainer.checkpoint:
                    save_checkpoint(paths[outputs.CHECKPOINT], run, epoch + 1, history, config)
    except BaseException as exc:
        status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        summary = _summary(run, history, status, wall_before + time.perf_counter() - t_start, choices)
        summary.update(error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc(limit=20))
        raise
    finally:  # the summary is written and the logger closed whatever happened
        if summary is None:
            summary = _summary(run, history, status, wall_before + time.perf_counter() - t_start, choices)
            if stop.signum is not None:
                summary["signal"] = signal.Signals(stop.signum).name
        outputs.write_json(paths[outputs.SUMMARY], summary)
        run.logger.summary(summary)
        run.logger.finish(exit_code=0 if status == "completed" else 1, preempted=status == "interrupted")
    key = get_task(run.data.task).primary
    log.info("%s: %s_final=%s after %d epoch(s), %.1fs", status, key,
             _fmt(summary.get(f"{key}_final")), len(history), summary["wall_time_s"])
    return summary


def _default_group() -> Optional[str]:
    """Inside a multirun, the sweep directory's last two path parts (e.g.
    ``fmnist-table/2026-11-29_10-00-00``): the same group wherever the sweep is launched from."""
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


def _fmt(v) -> str:
    return "n/a" if v is None else f"{v:.2f}"


def _epoch_line(r: dict, task: str) -> str:
    metric = f"test_acc {r['test_accuracy']:.2f}%" if task == "classification" else f"test_mse {r['test_mse']:.4g}"
    return (f"epoch {r['epoch']:3d} | eps {r['epsilon']:.3f} | loss {r['train_loss']:.4f} | {metric} | "
            f"precision {r['label_precision']:.1f}% recall {r['label_recall']:.1f}% | {r['seconds']:.1f}s "
            f"({r['samples_per_s']:.0f} samples/s)")
