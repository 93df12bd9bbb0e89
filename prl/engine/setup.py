"""Build a run from its config: every check, nothing written.

:func:`setup` validates the config, builds the noise, the dataset (and corrupts its training
targets), the networks, the algorithm, the schedules and the batch iterators, and returns a
:class:`Run`.  Any bad input raises :class:`~prl.errors.ConfigError` naming the key, before a
file is written.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from prl.algorithms import Algorithm
from prl.algorithms import get as get_algorithm
from prl.algorithms.keep import AUTO
from prl.config import build, check
from prl.data import BatchIterator, Data
from prl.engine.samples import SampleLedger
from prl.errors import ConfigError
from prl.models import has_batchnorm
from prl.noise import trim_training_set
from prl.tasks import Task, get_task

__all__ = ["Run", "setup", "corrupt", "resolve_epsilon", "build_algorithm", "seed_everything", "EPSILON_SOURCES"]


@dataclass
class Run:
    """Everything built before the first epoch."""

    cfg: DictConfig
    data: Data
    task: Task
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
    ledger: SampleLedger
    #: the held-out split the algorithm asked for (``heldout_fraction``): inputs, noisy labels
    heldout: Optional[tuple[torch.Tensor, torch.Tensor]] = None
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
    task = get_task(data.task)
    if noise.task is not None and noise.task != data.task:
        raise ConfigError(
            f"noise={noise.__class__.__name__} corrupts {noise.task} targets, but dataset {data.name} is a "
            f"{data.task} task; pick a {data.task} noise ({task.noise_options})", "noise")
    clean = data.train_y.numpy()
    try:
        noisy = noise.apply(clean, data.num_classes, inputs=data.train_x, dataset=data.name)
        expected = noise.expected_corruption(clean, data.num_classes)
    except ConfigError as exc:
        raise exc.with_prefix("noise") from None
    changed = task.changed(noisy, clean)
    info = {**noise.describe(), "rate_expected": expected,
            "rate_realised": float(changed.mean()) if len(changed) else 0.0}
    return noisy, info


#: where ``algorithm.epsilon`` came from (``summary.json``'s ``epsilon_source``)
EPSILON_SOURCES = {
    "auto": "estimated while training from the data (algorithm.epsilon=auto, algorithm.estimator; the default "
            "with noise=none, the targets as given)",
    "user": "set in the config (algorithm.epsilon)",
    "expected_corruption": "the noise model's expected corrupted fraction, sum_c p(c) (1 - T[c, c])",
    "realised_corruption": "the realised corrupted fraction, measured against the clean labels (oracle: the noise "
                           "model does not say, e.g. a label file)",
}


def resolve_epsilon(value: Any, noise_info: dict) -> tuple[float, str]:
    """``(epsilon, source)`` for ``algorithm.epsilon=value``: the value itself (``user``), else the
    noise model's expected corrupted fraction, else the realised one (oracle); ``auto`` stays, and
    is the default with ``noise=none`` (the targets as given: nothing to read a fraction from)."""
    if value == AUTO or (value is None and noise_info.get("type") == "none"):
        return AUTO, "auto"
    if value is not None:
        return value, "user"
    if noise_info.get("rate_expected") is not None:
        return noise_info["rate_expected"], "expected_corruption"
    return noise_info["rate_realised"], "realised_corruption"


def build_algorithm(node: DictConfig, model_fn: Callable[[], torch.nn.Module], optimizer_fn: Callable, task: str,
                    **overrides: Any) -> Algorithm:
    """The algorithm ``node`` names (``algorithm.name`` through the registry), its other keys as
    constructor arguments, ``overrides`` on top; a ConfigError gets the ``algorithm.`` prefix."""
    cls = get_algorithm(str(node.name))
    kwargs = {k: v for k, v in OmegaConf.to_container(node, resolve=True).items() if k != "name"}
    kwargs.update(overrides)
    try:
        return cls(model_fn=model_fn, optimizer_fn=optimizer_fn, task=task, **kwargs)
    except ConfigError as exc:
        raise exc.with_prefix("algorithm") from None


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
    trim = build(cfg.trim, "trim")

    data: Data = build(cfg.dataset, "dataset")
    task = get_task(data.task)
    noisy, noise_info = corrupt(noise, data)
    clean_mask = torch.from_numpy(~task.changed(noisy, data.train_y.numpy()))
    if trim.quantile is not None:  # after the clean mask: a clipped clean target stays clean
        try:
            data, noisy, clean_mask, noise_info["trim"] = trim_training_set(trim, data, noisy, clean_mask)
        except ConfigError as exc:
            raise exc.with_prefix("trim") from None

    seed_everything(int(cfg.seed))

    def model_fn() -> torch.nn.Module:
        net = build(cfg.model, "model", input_shape=data.input_shape, num_outputs=data.num_outputs)
        return net.to(device, memory_format=torch.channels_last if t.channels_last else torch.preserve_format)

    _probe(model_fn(), data, device, cfg.algorithm.name, algo_cls.per_sample_gradients)
    seed_everything(int(cfg.seed))  # the probe must not shift the initialisation

    extra = {"num_samples": data.train_x.shape[0], "num_classes": data.num_classes}
    if "epsilon" in cfg.algorithm:
        extra["epsilon"], noise_info["epsilon_source"] = resolve_epsilon(cfg.algorithm.epsilon, noise_info)
    algorithm = build_algorithm(cfg.algorithm, model_fn, build(cfg.optimizer, "optimizer"), data.task, **extra)
    scheduler_fn = build(cfg.scheduler, "scheduler")
    schedulers = [s for s in (scheduler_fn(optimizer=opt) for opt in algorithm.optimizers) if s is not None]
    if t.compile:
        algorithm.networks = torch.nn.ModuleList(torch.compile(n) for n in algorithm.networks)

    generator = torch.Generator().manual_seed(int(cfg.seed))
    x, y = data.train_x.to(device), torch.as_tensor(noisy).to(device)
    if t.channels_last and x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    heldout, positions = None, None
    if algorithm.heldout_fraction:  # a noisy held-out split for the epsilon estimators, not trained on
        held, positions = heldout_split(x.shape[0], algorithm.heldout_fraction, int(cfg.seed), device)
        heldout = (x.index_select(0, held), y.index_select(0, held))
        x, y = x.index_select(0, positions), y.index_select(0, positions)
    loader = BatchIterator(x, y, t.batch_size, shuffle=True, drop_last=t.drop_last, generator=generator,
                           max_steps=t.max_steps_per_epoch, positions=positions)
    test_loader = BatchIterator(data.test_x.to(device), data.test_y.to(device), t.eval_batch_size, shuffle=False,
                                drop_last=t.test_drop_last)
    if len(test_loader) == 0:
        raise ConfigError(f"trainer.test_drop_last=true with trainer.eval_batch_size={t.eval_batch_size} drops all "
                          f"{data.test_x.shape[0]} test samples; lower trainer.eval_batch_size", "trainer.test_drop_last")
    return Run(cfg, data, task, torch.as_tensor(noisy), clean_mask.to(device), algorithm, schedulers, loader,
               test_loader, generator, device, logger, noise_info, SampleLedger(data.train_x.shape[0], device),
               heldout)


def heldout_split(n: int, fraction: float, seed: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """``(heldout, train)``: sorted training-set positions, ``round(fraction * n)`` held out,
    drawn with ``numpy.random.RandomState(seed)``."""
    perm = np.random.RandomState(seed).permutation(n)
    k = int(round(fraction * n))
    held, rest = np.sort(perm[:k]), np.sort(perm[k:])
    return torch.from_numpy(held).to(device), torch.from_numpy(rest).to(device)


def _probe(net: torch.nn.Module, data: Data, device: torch.device, name: str, per_sample_gradients: bool) -> None:
    """Refuse a model that does not fit the data or the algorithm, before training."""
    if per_sample_gradients and has_batchnorm(net):
        raise ConfigError(
            f"algorithm={name} needs per-sample gradients, which BatchNorm makes ill-defined (it mixes the samples "
            f"of a batch); use a GroupNorm model: model=resnet32-gn, model=cnn-small-gn, or model=mlp", "model")
    try:
        with torch.no_grad():
            net.eval()(data.train_x[:2].to(device))
    except RuntimeError as exc:
        raise ConfigError(
            f"model does not fit the inputs of dataset {data.name} (one input is {tuple(data.input_shape)}): "
            f"{str(exc).splitlines()[0]}", "model") from None
