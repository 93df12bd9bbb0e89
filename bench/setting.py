"""What every timed method shares: the composed config, the data on the device, the model and
optimizer factories, and how a method is built from its name.

A method name is a registered algorithm (``prl-l``), a registered algorithm with settings on
top (``prl-g:grad_norm=functorch``, ``standard:networks=2``) or a reference-style baseline
(``ref-co-prl-l``, :mod:`bench.reference`).  Selecting methods are built at the steady state
after the ramp: ``epsilon=--epsilon, num_gradual=0``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import torch
import torch.nn as nn
import yaml

from prl import algorithms
from prl.data import BatchIterator
from prl.engine.setup import build_algorithm
from prl.losses import CLASSIFICATION
from prl.models import has_batchnorm

from bench.reference import REFERENCES, Reference

ROOT = Path(__file__).resolve().parents[1]
CONF = str(ROOT / "conf")


def compose(overrides: list[str]):
    """The config ``run.py`` would build for ``overrides`` (no Hydra run directory)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    import prl.config  # noqa: F401  (registers the schema)

    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        return hydra_compose(config_name="config", overrides=list(overrides))


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


class Setting:
    """Data on the device, a model factory and an optimizer factory, shared by every method.

    ``Setting(args)`` reads ``device``, ``dataset``, ``model``, ``override``, ``synthetic``,
    ``classes`` and ``batch_size`` from the parsed command line; :meth:`from_spec` rebuilds one
    from plain values (the memory probe's subprocess).
    """

    def __init__(self, args):
        from prl.config import build

        self.args = args
        self.device = resolve_device(args.device)
        self.overrides = [f"dataset={args.dataset}", f"model={args.model}", "logger=none", *args.override]
        self.cfg = compose(self.overrides)
        self.channels_last = False
        if args.synthetic:  # random inputs of a given shape: timing only, no dataset needed
            shape = tuple(int(v) for v in args.synthetic.split(","))
            g = torch.Generator().manual_seed(0)
            n = max(10 * args.batch_size, 1000)
            self.task, self.input_shape, self.num_outputs = CLASSIFICATION, shape, int(args.classes)
            self.dataset_name = (f"synthetic {'x'.join(map(str, shape))}, {args.classes} classes "
                                 f"(presets of {args.dataset})")
            self.x = torch.rand(n, *shape, generator=g).to(self.device)
            self.y = torch.randint(0, self.num_outputs, (n,), generator=g).to(self.device)
        else:
            data = build(self.cfg.dataset, "dataset")
            self.task, self.input_shape, self.num_outputs = data.task, tuple(data.input_shape), data.num_outputs
            self.dataset_name = data.name
            self.x = data.train_x.to(self.device)
            self.y = data.train_y.to(self.device)
        self.optimizer_fn = build(self.cfg.optimizer, "optimizer")

    @classmethod
    def from_spec(cls, args, overrides: list[str], task: str, input_shape, num_outputs: int, n: int,
                  device: str = "cpu") -> "Setting":
        """A setting on ``n`` random samples of the given shape (no dataset read)."""
        from prl.config import build

        self = cls.__new__(cls)
        self.args, self.device, self.overrides = args, torch.device(device), list(overrides)
        self.cfg = compose(self.overrides)
        self.task, self.input_shape, self.num_outputs = task, tuple(input_shape), int(num_outputs)
        self.dataset_name = "synthetic"
        self.channels_last = False
        g = torch.Generator().manual_seed(0)
        self.x = torch.rand(n, *self.input_shape, generator=g).to(self.device)
        self.y = (torch.randint(0, self.num_outputs, (n,), generator=g) if task == CLASSIFICATION
                  else torch.randn(n, self.num_outputs, generator=g)).to(self.device)
        self.optimizer_fn = build(self.cfg.optimizer, "optimizer")
        return self

    def model_fn(self) -> nn.Module:
        from prl.config import build

        net = build(self.cfg.model, "model", input_shape=self.input_shape, num_outputs=self.num_outputs)
        fmt = torch.channels_last if self.channels_last else torch.preserve_format
        return net.to(self.device, memory_format=fmt)

    def loader(self, batch_size: int, seed: int = 0) -> BatchIterator:
        x = self.x.contiguous(memory_format=torch.channels_last) if self.channels_last and self.x.dim() == 4 else self.x
        return BatchIterator(x, self.y, batch_size, shuffle=True, generator=torch.Generator().manual_seed(seed))

    def batches(self, batch_size: int, count: int, seed: int = 0) -> list[tuple]:
        """``count`` pre-drawn batches ``(x, y, index)`` (repeated when an epoch has fewer)."""
        out: list[tuple] = []
        while len(out) < count:
            for b in self.loader(batch_size, seed=seed + len(out)):
                out.append(b)
                if len(out) >= count:
                    break
        return out


def sync(device: torch.device) -> None:
    """Wait for the device (CUDA); nothing on CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def build_method(name: str, setting: Setting, epsilon: float, seed: int = 0):
    """A registered algorithm (``name`` or ``name:key=value,...``), built from its composed
    ``conf/algorithm/<name>.yaml`` with :func:`prl.engine.setup.build_algorithm` at the steady
    state after the ramp, or a reference-style baseline."""
    torch.manual_seed(seed)
    if name in REFERENCES:
        return Reference(name, setting.model_fn, setting.optimizer_fn, setting.task, epsilon=epsilon,
                         bookkeeping=getattr(setting.args, "ref_bookkeeping", False), dataset_size=setting.x.shape[0])
    base, _, extra = name.partition(":")
    node = compose(setting.overrides + [f"algorithm={base}"]).algorithm
    overrides: dict = {}
    if "epsilon" in node:  # a selecting method: a fixed drop fraction, no ramp
        overrides.update(epsilon=epsilon, num_gradual=0)
    for item in filter(None, extra.split(",")):
        key, _, value = item.partition("=")
        overrides[key] = yaml.safe_load(value)
    torch.manual_seed(seed)
    return build_algorithm(node, setting.model_fn, setting.optimizer_fn, setting.task, **overrides)


def has_opacus() -> bool:
    try:
        import opacus  # noqa: F401
    except ImportError:
        return False
    return True


def method_names(methods: str, setting: Setting) -> tuple[list[str], dict[str, str]]:
    """Methods to time for ``--methods`` and, for those left out, why.  ``all``: every registered
    algorithm in :data:`prl.algorithms.ORDER`, the variants worth a row, the reference-style
    baselines and the two-network ERM baseline."""
    skipped: dict[str, str] = {}
    every = methods == "all"
    names = list(algorithms.ORDER) + sorted(set(algorithms.available()) - set(algorithms.ORDER)) if every else \
        [m for m in methods.split(",") if m]
    bn = has_batchnorm(setting.model_fn())
    out: list[str] = []
    for name in names:
        base = name.partition(":")[0]
        if base in REFERENCES:
            _add_unless(name, _reference_skip(base, bn), out, skipped)
            continue
        cls = algorithms.get(base)
        if setting.task not in cls.tasks:
            skipped[name] = f"{setting.task} not supported"
        elif cls.per_sample_gradients and bn:
            skipped[name] = "needs a GroupNorm model (per-sample gradients)"
        else:
            out.append(name)
            if every and cls.per_sample_gradients and cls.num_networks == 1:
                out.append(f"{base}:grad_norm=functorch")
            if every and getattr(cls, "separate_scoring", False) and base in ("prl-l", "co-prl-l"):
                out.append(f"{base}:score_pass=separate")
    if every:
        for ref in REFERENCES:
            _add_unless(ref, _reference_skip(ref, bn), out, skipped)
        out.append("standard:networks=2")  # the two-network baseline of the co- methods
    if "standard" not in out:
        out.insert(0, "standard")
    return out, skipped


def _add_unless(name: str, reason: Optional[str], out: list[str], skipped: dict[str, str]) -> None:
    """Append ``name`` to ``out``, or record why it is skipped."""
    if reason:
        skipped[name] = reason
    else:
        out.append(name)


def _reference_skip(name: str, bn: bool) -> Optional[str]:
    if name.startswith("ref-co-prl-g") and bn:
        return "needs a GroupNorm model (per-sample gradients)"
    if name == "ref-co-prl-g" and not has_opacus():
        return "opacus is not installed"
    return None
