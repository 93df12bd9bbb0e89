"""Training-step benchmark: every registered algorithm against one-network ERM, in one process.

Usage::

    python -m prl.bench                                   # small CNN (GroupNorm), Fashion-MNIST, batch 128
    python -m prl.bench --device cuda --variants fp32,bf16,channels_last,compile
    python -m prl.bench --threads 1 --rounds 7 --main-job  # + the default job (python run.py) end to end
    python -m prl.bench --memory                           # + peak memory against the batch size

Everything is timed in one process on the same model, batch size and batches.  Methods are
interleaved: every round times ``--steps`` training steps of each method (in a rotated order)
on the same pre-drawn batches, and a method's *ratio* is its step time divided by the
one-network ``standard`` step time *of the same round*; the reports give the median over
rounds, so a load spike on a shared machine hits numerator and denominator alike.

What is timed
-------------
* every registered algorithm (``prl.algorithms.available()``), built from its
  ``conf/algorithm/<name>.yaml`` with ``epsilon`` set to ``--epsilon`` and stepped with that drop
  fraction (the steady state after the ramp); ``prl-g`` also with ``grad_norm=functorch``,
  ``prl-l`` and ``co-prl-l`` also with ``score_pass=separate``;
* reference-style baselines, written here the way the PRL / co-teaching reference code runs
  them (``illidanlab/PRL``): ``ref-co-prl-l`` (a no-grad logging forward, a scoring forward
  whose graph is dropped, and a second forward + backward on the kept subset, per network),
  ``ref-co-teaching`` (one forward + backward per network, logging from the same logits),
  ``ref-co-prl-g`` (logging forward, a forward + full backward that materialises per-sample
  gradients through Opacus ``GradSampleModule`` hooks, then forward + backward on the kept
  subset) and ``ref-co-prl-g-func`` (the same with ``torch.func`` per-sample gradients);
* per-sample gradient-norm engines alone (forward + norms of one batch, no update) as a ratio to
  one ERM step: the ghost engine in each conv form, ``torch.func``, and Opacus'
  ``GradSampleModuleFastGradientClipping`` (ghost clipping) and ``GradSampleModule``;
* data time: slicing the batches with :class:`prl.data.BatchIterator`, as a fraction of the
  step time;
* with ``--memory``: peak memory of one step against the batch size (CUDA: the allocator's
  peak; CPU: the peak resident set of a fresh subprocess, coarse);
* with ``--main-job``: the default job (``python run.py``, logger off) end to end.

``--variants`` adds bf16 autocast, channels_last and ``torch.compile`` tables (ratios to
``standard`` in the same variant, and the speed-up of each cell over fp32); they are meant for
CUDA (and run on CPU too).  Outputs: ``bench.md`` and ``bench.json`` in ``--out`` (device,
date, torch version, arguments).

Cost model, per network (F = forward of the batch, B = backward = B_in (input gradients) +
B_w (weight gradients), k = kept fraction):

=====================  ===========================================================
standard               F + B
spl, prl-l             F + B (scores from the logits: softmax, argsort)
co-teaching, co-prl-l  F + B per network; both graphs live at once
score_pass=separate    F (no grad) + k (F + B): scores from a no-grad pass, the step
                       forwards and backpropagates the kept rows only
prl-g (ghost)          F + B_in + per-layer norms + k B_w (gradients of the kept rows
                       only, from the recorded tensors; no second backward)
prl-g (functorch)      F + vmap(F + B) per sample + B
ref-co-prl-l           F (no grad) + F (graph dropped) + k (F + B)
ref-co-prl-g           F (no grad) + F + B + per-sample materialisation + k (F + B)
=====================  ===========================================================

So ``ref-co-prl-l / co-prl-l = (2F + k(F + B)) / (F + B)``: 1.55 for k = 0.55 when B = F,
1.22 when B = 2F; the reference's extra forwards are the whole difference.  With
``score_pass=separate`` it is ``(2F + k(F + B)) / (F + k(F + B))``: the separate pass beats the
shared one once ``k < 1 - F_ng / (F + B)``, i.e. on models whose backward outweighs the forward.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import datetime
import functools
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch
import torch.nn as nn
import yaml
import torch.nn.functional as F
from torch import Tensor

from prl import algorithms
from prl.data import BatchIterator
from prl.grad_norms import GhostNorms, functorch_grad_norms
from prl.losses import CLASSIFICATION, num_kept, per_sample_loss
from prl.models import has_batchnorm

# Opacus' full backward hooks warn on every backward whose inputs need no gradient (the images)
warnings.filterwarnings("ignore", message="Full backward hook is firing")

CONF = str(Path(__file__).resolve().parents[1] / "conf")
REFERENCES = ("ref-co-prl-l", "ref-co-teaching", "ref-co-prl-g", "ref-co-prl-g-func")
VARIANTS = ("fp32", "bf16", "channels_last", "compile")
#: (name, limit, kind): ratio <= limit ("max") or speed-up >= limit ("min")
TARGETS = (
    ("prl-l / standard", 1.05, "max"),
    ("spl / standard", 1.05, "max"),
    ("co-prl-l / standard", 2.1, "max"),
    ("co-teaching / standard", 2.1, "max"),
    ("co-prl-l / co-teaching", 1.05, "max"),
    ("co-prl-l / standard:networks=2", 1.05, "max"),
    ("prl-g / standard", 2.5, "max"),
    ("ref-co-prl-l / co-prl-l", 1.6, "min"),
    ("ref-co-prl-l / co-prl-l:score_pass=separate", 1.6, "min"),
    ("ref-co-prl-g per network / prl-g", 5.0, "min"),
)


# ----------------------------------------------------------------------------- setting


def compose(overrides: list[str]):
    """The config ``run.py`` would build for ``overrides`` (no Hydra run directory)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    import prl.config  # noqa: F401  (registers the schema)

    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        return hydra_compose(config_name="config", overrides=list(overrides))


class Setting:
    """Data on the device, a model factory and an optimizer factory, shared by every method."""

    def __init__(self, args):
        from prl.config import build

        self.args = args
        self.device = torch.device(args.device if args.device != "auto" else
                                   ("cuda" if torch.cuda.is_available() else "cpu"))
        self.overrides = [f"dataset={args.dataset}", f"model={args.model}", "logger=none", *args.override]
        self.cfg = compose(self.overrides)
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
        self.channels_last = False

    def model_fn(self) -> nn.Module:
        from prl.config import build

        net = build(self.cfg.model, "model", input_shape=self.input_shape, num_outputs=self.num_outputs)
        fmt = torch.channels_last if self.channels_last else torch.preserve_format
        return net.to(self.device, memory_format=fmt)

    def loader(self, batch_size: int, seed: int = 0) -> BatchIterator:
        x = self.x.contiguous(memory_format=torch.channels_last) if self.channels_last and self.x.dim() == 4 else self.x
        return BatchIterator(x, self.y, batch_size, shuffle=True, generator=torch.Generator().manual_seed(seed))


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def out_of_place(module: nn.Module) -> nn.Module:
    """Turn off ``inplace`` activations (Opacus' backward hooks refuse in-place ops on hooked
    outputs); the numbers are unchanged."""
    for m in module.modules():
        if hasattr(m, "inplace") and isinstance(m.inplace, bool):
            m.inplace = False
    return module


# ----------------------------------------------------------------------------- reference-style steps


def _accuracy(logits: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """The reference's logged training accuracy: top-1 and top-5 of the softmax, in %."""
    k = min(5, logits.shape[1])
    pred = F.softmax(logits, dim=1).topk(k, 1, True, True)[1].t()
    correct = pred.eq(y.view(1, -1).expand_as(pred))
    return (correct[:1].reshape(-1).float().sum(0) * (100.0 / y.shape[0]),
            correct[:k].reshape(-1).float().sum(0) * (100.0 / y.shape[0]))


class Reference:
    """Two networks stepped the way the reference code does (see the module docstring).

    The interface of :class:`prl.algorithms.Algorithm`: ``networks``, ``optimizers``,
    ``train_step(x, y, epsilon) -> {"loss", "kept"}``.
    """

    def __init__(self, name: str, model_fn: Callable[[], nn.Module], optimizer_fn: Callable, task: str,
                 bookkeeping: bool = False, dataset_size: int = 60000):
        self.name, self.task = name, task
        #: also the reference's per-step label-precision bookkeeping: the clean mask of the whole
        #: training set re-made into a device tensor, the batch indices too ("pure ratio")
        self.bookkeeping = bool(bookkeeping)
        self.noise_or_not = np.random.RandomState(0).rand(dataset_size) > 0.45
        self.ind: Optional[np.ndarray] = None
        self.pure_ratios: list[Tensor] = []
        self.networks = nn.ModuleList(model_fn() for _ in range(2))
        self.optimizers = [optimizer_fn(net.parameters()) for net in self.networks]
        self.gsm = None
        if name == "ref-co-prl-g":
            from opacus.grad_sample import GradSampleModule

            self.gsm = [GradSampleModule(out_of_place(net), batch_first=True, loss_reduction="sum")
                        for net in self.networks]
            for g in self.gsm:  # like the reference: hooks only around the per-sample backward
                g.remove_hooks()

    def train(self, mode: bool = True):
        self.networks.train(mode)
        return self

    def _log(self, x: Tensor, y: Tensor) -> None:
        with torch.no_grad():  # main.py: `elif args.algorithm == 'co-IGFilter' or 'double-robust'` is always true
            for net in self.networks:
                out = net(x)
                if self.task == CLASSIFICATION:
                    _accuracy(out, y)

    def _scores(self, x: Tensor, y: Tensor) -> list[Tensor]:
        if self.name == "ref-co-prl-l":  # a forward with a graph that is never used
            outs = [net(x) for net in self.networks]
            if self.task == CLASSIFICATION:
                target = F.one_hot(y, outs[0].shape[1]).float()
                return [F.mse_loss(F.softmax(o, dim=1), target, reduction="none").sum(dim=1).detach() for o in outs]
            return [(o - y.reshape(o.shape)).pow(2).reshape(o.shape[0], -1).sum(dim=1).detach() for o in outs]
        loss_fn = functools.partial(per_sample_loss, task=self.task)
        if self.gsm is None:  # torch.func: every per-sample gradient of the batch at once
            return [functorch_grad_norms(net, loss_fn, x, y, chunk_size=x.shape[0]) ** 2 for net in self.networks]
        scores = []
        for g in self.gsm:  # add hooks, forward, backward of the summed loss -> p.grad_sample, remove hooks
            g.add_hooks(loss_reduction="sum", batch_first=True)
            loss_fn(g(x), y).sum().backward()
            g.remove_hooks()
            with torch.no_grad():
                sq = sum(p.grad_sample.reshape(x.shape[0], -1).pow(2).sum(dim=1) for p in g.parameters())
            for p in g.parameters():
                p.grad_sample = None
            scores.append(sq)
        return scores

    def _pure_ratio(self, picks: list[Tensor], k: int) -> None:
        """The reference's ``pure_ratio``: ``torch.Tensor(noise_or_not).cuda()`` of the whole
        training set and ``torch.Tensor(ind).cuda()`` of the batch indices, every step."""
        if not self.bookkeeping:
            return
        n, device = picks[0].shape[0], picks[0].device
        if self.ind is None or self.ind.shape[0] < n:
            self.ind = np.random.RandomState(0).randint(0, self.noise_or_not.shape[0], size=n)
        noise_or_not = torch.Tensor(self.noise_or_not).to(device)
        ind = torch.Tensor(self.ind).to(device).long()
        self.pure_ratios = [100 * torch.sum(noise_or_not[ind[p[:k]]]) / float(k) for p in picks]

    def train_step(self, x: Tensor, y: Tensor, epsilon: float) -> dict:
        n = x.shape[0]
        k = num_kept(n, epsilon)
        if self.name == "ref-co-teaching":
            outs = [net(x) for net in self.networks]
            if self.task == CLASSIFICATION:
                for o in outs:
                    _accuracy(o.detach(), y)
            losses = [per_sample_loss(o, y, self.task) for o in outs]
            picks = [torch.argsort(ls.detach()) for ls in losses]
            self._pure_ratio(picks, k)
            picks = [p[:k] for p in picks]
            steps = [per_sample_loss(outs[i][picks[1 - i]], y[picks[1 - i]], self.task).mean() / k for i in range(2)]
        else:
            self._log(x, y)
            scores = self._scores(x, y)
            picks = [torch.sort(s)[1] for s in scores]
            self._pure_ratio(picks, k)
            picks = [p[:k] for p in picks]
            for opt in self.optimizers:
                opt.zero_grad()
            steps = []
            for i, net in enumerate(self.networks):
                idx = picks[1 - i]
                steps.append(per_sample_loss(net(x[idx]), y[idx], self.task).mean() / k)
        for opt in self.optimizers:
            opt.zero_grad()
        for loss, opt in zip(steps, self.optimizers):
            loss.backward()
            opt.step()
        return {"loss": torch.stack([s.detach() for s in steps]), "kept": picks}


# ----------------------------------------------------------------------------- methods


def build_method(name: str, setting: Setting, epsilon: float, seed: int = 0):
    """A registered algorithm (``name`` or ``name:key=value,...``) or a reference-style baseline."""
    torch.manual_seed(seed)
    if name in REFERENCES:
        return Reference(name, setting.model_fn, setting.optimizer_fn, setting.task,
                         bookkeeping=getattr(setting.args, "ref_bookkeeping", False), dataset_size=setting.x.shape[0])
    base, _, extra = name.partition(":")
    cfg = compose(setting.overrides + [f"algorithm={base}"])
    kwargs = {k: v for k, v in _container(cfg.algorithm).items() if k != "name"}
    if "epsilon" in kwargs:
        kwargs["epsilon"] = epsilon
    for item in filter(None, extra.split(",")):
        key, _, value = item.partition("=")
        kwargs[key] = yaml.safe_load(value)
    torch.manual_seed(seed)
    return algorithms.get(base)(model_fn=setting.model_fn, optimizer_fn=setting.optimizer_fn, task=setting.task,
                                **kwargs)


def _container(node) -> dict:
    from omegaconf import OmegaConf

    return OmegaConf.to_container(node, resolve=True)


def method_names(args, setting: Setting) -> tuple[list[str], dict[str, str]]:
    """Methods to time and, for those left out, why."""
    skipped: dict[str, str] = {}
    names = algorithms.available() if args.methods == "all" else [m for m in args.methods.split(",") if m]
    probe = setting.model_fn()
    bn = has_batchnorm(probe)
    out = []
    for name in names:
        base = name.partition(":")[0]
        if base in REFERENCES:
            if base == "ref-co-prl-g" and not _has_opacus():
                skipped[name] = "opacus is not installed"
            else:
                out.append(name)
            continue
        cls = algorithms.get(base)
        if setting.task not in cls.tasks:
            skipped[name] = f"{setting.task} not supported"
        elif cls.per_sample_gradients and bn:
            skipped[name] = "needs a GroupNorm model (per-sample gradients)"
        else:
            out.append(name)
            if args.methods == "all" and base == "prl-g":
                out.append("prl-g:grad_norm=functorch")
            if args.methods == "all" and base in ("prl-l", "co-prl-l"):
                out.append(f"{base}:score_pass=separate")
    if args.methods == "all":
        for ref in REFERENCES:
            if ref.startswith("ref-co-prl-g") and bn:
                skipped[ref] = "needs a GroupNorm model (per-sample gradients)"
            elif ref == "ref-co-prl-g" and not _has_opacus():
                skipped[ref] = "opacus is not installed"
            else:
                out.append(ref)
    if args.methods == "all":  # the two-network baseline of the co- methods
        out.append("standard:networks=2")
    if "standard" not in out:
        out.insert(0, "standard")
    return out, skipped


def _has_opacus() -> bool:
    try:
        import opacus  # noqa: F401
    except ImportError:
        return False
    return True


# ----------------------------------------------------------------------------- timing


def count_forwards(method, x: Tensor, y: Tensor, epsilon: float) -> list[int]:
    """How many times each network's ``forward`` runs during one ``train_step`` (a
    ``torch.compile``d network counts calls of the wrapper or of the original module, whichever
    saw more)."""
    outer, inner = [0] * len(method.networks), [0] * len(method.networks)
    handles = []
    for i, net in enumerate(method.networks):
        handles.append(net.register_forward_pre_hook(lambda *_, i=i: outer.__setitem__(i, outer[i] + 1)))
        if hasattr(net, "_orig_mod"):
            handles.append(net._orig_mod.register_forward_pre_hook(
                lambda *_, i=i: inner.__setitem__(i, inner[i] + 1)))
    try:
        method.train_step(x, y, epsilon)
    finally:
        for h in handles:
            h.remove()
    return [max(a, b) for a, b in zip(outer, inner)]


def _median(values: list[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def time_steps(methods: dict, batches: list, epsilon: float, rounds: int, device: torch.device,
               autocast: Optional[Callable] = None, log: Callable = print) -> dict[str, list[float]]:
    """Seconds per step of each method in each round (interleaved, order rotated per round)."""
    ctx = autocast or contextlib.nullcontext
    names = list(methods)
    times: dict[str, list[float]] = {n: [] for n in names}
    for name in names:  # warm-up: allocators, kernel caches, lazy hooks, compilation
        with ctx():
            for x, y in batches[:2]:
                methods[name].train_step(x, y, epsilon)
    sync(device)
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            m = methods[name]
            sync(device)
            t0 = time.perf_counter()
            with ctx():
                for x, y in batches:
                    m.train_step(x, y, epsilon)
            sync(device)
            times[name].append((time.perf_counter() - t0) / len(batches))
        base = times["standard"][-1]
        log(f"  round {r + 1}/{rounds}: standard {base * 1e3:.1f} ms | " + ", ".join(
            f"{n} {times[n][-1] / base:.2f}x" for n in names if n != "standard"))
    return times


def time_data(loader: BatchIterator, steps: int, rounds: int, device: torch.device) -> float:
    """Median seconds per batch of slicing batches with the BatchIterator."""
    out = []
    for _ in range(rounds):
        sync(device)
        t0 = time.perf_counter()
        done = 0
        while done < steps:
            for _ in loader:
                done += 1
                if done >= steps:
                    break
        sync(device)
        out.append((time.perf_counter() - t0) / steps)
    return _median(out)


def ratio_rows(times: dict[str, list[float]], batch_size: int, steps_per_epoch: int, data_s: float,
               forwards: dict[str, list[int]]) -> dict[str, dict]:
    base = times["standard"]
    rows = {}
    for name, ts in times.items():
        step = _median(ts)
        rows[name] = {
            "step_ms": step * 1e3,
            "ratio": _median([t / b for t, b in zip(ts, base)]),
            "ratio_rounds": [t / b for t, b in zip(ts, base)],
            "samples_per_s": batch_size / step,
            "epoch_s_est": steps_per_epoch * (step + data_s),
            "data_fraction": data_s / step,
            "forwards_per_network": forwards.get(name),
        }
    return rows


def pair_ratio(times: dict[str, list[float]], a: str, b: str, scale: float = 1.0) -> Optional[float]:
    """Median over rounds of ``scale * time(a) / time(b)`` (same round)."""
    if a not in times or b not in times:
        return None
    return _median([scale * ta / tb for ta, tb in zip(times[a], times[b])])


def check_targets(times: dict[str, list[float]]) -> list[dict]:
    values = {
        "prl-l / standard": pair_ratio(times, "prl-l", "standard"),
        "spl / standard": pair_ratio(times, "spl", "standard"),
        "co-prl-l / standard": pair_ratio(times, "co-prl-l", "standard"),
        "co-teaching / standard": pair_ratio(times, "co-teaching", "standard"),
        "co-prl-l / co-teaching": pair_ratio(times, "co-prl-l", "co-teaching"),
        "co-prl-l / standard:networks=2": pair_ratio(times, "co-prl-l", "standard:networks=2"),
        "prl-g / standard": pair_ratio(times, "prl-g", "standard"),
        "ref-co-prl-l / co-prl-l": pair_ratio(times, "ref-co-prl-l", "co-prl-l"),
        "ref-co-prl-l / co-prl-l:score_pass=separate": pair_ratio(times, "ref-co-prl-l",
                                                                   "co-prl-l:score_pass=separate"),
        "ref-co-prl-g per network / prl-g": pair_ratio(times, "ref-co-prl-g", "prl-g", 0.5),
    }
    out = []
    for name, limit, kind in TARGETS:
        v = values.get(name)
        ok = None if v is None else (v <= limit if kind == "max" else v >= limit)
        out.append({"target": name, "value": v, "limit": limit, "kind": kind, "ok": ok})
    extra = pair_ratio(times, "ref-co-prl-g-func", "prl-g", 0.5)
    if extra is not None:
        out.append({"target": "ref-co-prl-g-func per network / prl-g", "value": extra, "limit": None,
                    "kind": "info", "ok": None})
    return out


# ----------------------------------------------------------------------------- norm engines


def norm_engines(setting: Setting, include_naive: bool = False) -> dict[str, Callable]:
    """name -> ``fn(x, y) -> Tensor[N]``: forward + per-sample gradient norms of one network."""
    torch.manual_seed(0)
    net = setting.model_fn()
    loss_fn = functools.partial(per_sample_loss, task=setting.task)
    engines: dict[str, Callable] = {}

    def ghost(form):
        tape = GhostNorms(net, form=form)

        def fn(x, y):
            with tape.record():
                out = net(x)
            norms = tape.norms(loss_fn(out, y))
            tape.clear()
            return norms

        return fn

    for form in ("auto", "direct", "grouped", "gram"):
        engines[f"ghost ({form})"] = ghost(form)
    engines["functorch"] = lambda x, y: functorch_grad_norms(net, loss_fn, x, y)
    if _has_opacus():
        from opacus.grad_sample import GradSampleModule, GradSampleModuleFastGradientClipping

        fgc = GradSampleModuleFastGradientClipping(out_of_place(copy.deepcopy(net)), batch_first=True,
                                                   loss_reduction="sum", use_ghost_clipping=True)

        def opacus_fgc(x, y):
            loss_fn(fgc(x), y).sum().backward()
            norms = fgc.get_norm_sample()
            fgc.zero_grad(set_to_none=True)
            return norms

        gsm = GradSampleModule(out_of_place(copy.deepcopy(net)), batch_first=True, loss_reduction="sum")

        def opacus_gsm(x, y):
            loss_fn(gsm(x), y).sum().backward()
            with torch.no_grad():
                sq = sum(p.grad_sample.reshape(x.shape[0], -1).pow(2).sum(dim=1) for p in gsm.parameters())
            gsm.zero_grad(set_to_none=True)
            for p in gsm.parameters():
                p.grad_sample = None
            return sq.sqrt()

        engines["opacus ghost clipping"] = opacus_fgc
        engines["opacus grad_sample"] = opacus_gsm
    if include_naive:
        from prl.grad_norms import naive_grad_norms

        engines["naive loop"] = lambda x, y: naive_grad_norms(net, loss_fn, x, y)
    return engines


def time_engines(engines: dict[str, Callable], standard, batches: list, rounds: int, device: torch.device,
                 log: Callable = print) -> dict[str, dict]:
    """Per engine: median seconds per batch, ratio to one ERM step (same round), and the largest
    relative difference of its norms from the ghost engine's."""
    x0, y0 = batches[0]
    ref = engines["ghost (auto)"](x0, y0)
    agree = {}
    for name, fn in engines.items():
        got = fn(x0, y0)  # also the warm-up
        agree[name] = float(((got.double() - ref.double()).abs() / ref.double()).max())
    times: dict[str, list[float]] = {n: [] for n in ["standard", *engines]}
    for r in range(rounds):
        for name in times:
            sync(device)
            t0 = time.perf_counter()
            for x, y in batches:
                if name == "standard":
                    standard.train_step(x, y, 0.0)
                else:
                    engines[name](x, y)
            sync(device)
            times[name].append((time.perf_counter() - t0) / len(batches))
        log(f"  engines round {r + 1}/{rounds}: " + ", ".join(
            f"{n} {times[n][-1] / times['standard'][-1]:.2f}x" for n in engines))
    return {name: {"ms": _median(ts) * 1e3,
                   "ratio_to_erm_step": _median([t / b for t, b in zip(ts, times["standard"])]),
                   "max_rel_diff_vs_ghost": agree.get(name)}
            for name, ts in times.items() if name != "standard"}


# ----------------------------------------------------------------------------- memory


def _peak_step_memory_cuda(method, x, y, epsilon, device) -> float:
    method.train_step(x, y, epsilon)
    sync(device)
    torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device)
    method.train_step(x, y, epsilon)
    sync(device)
    return (torch.cuda.max_memory_allocated(device) - before) / 2**20


def _rss_mb(field: str) -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def probe_memory(args) -> None:
    """Subprocess entry (``--probe``): peak resident memory of two steps of one method on one
    synthetic batch, printed as JSON.  CPU only; coarse (allocator retention included)."""
    spec = json.loads(args.probe)
    setting = Setting.__new__(Setting)
    setting.args = args
    setting.device = torch.device("cpu")
    setting.overrides = spec["overrides"]
    from prl.config import build

    setting.cfg = compose(setting.overrides)
    setting.task, setting.num_outputs = spec["task"], spec["num_outputs"]
    setting.input_shape = tuple(spec["input_shape"])
    setting.optimizer_fn = build(setting.cfg.optimizer, "optimizer")
    setting.channels_last = False
    n = spec["batch"]
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, *setting.input_shape, generator=g)
    y = (torch.randint(0, setting.num_outputs, (n,), generator=g) if setting.task == CLASSIFICATION
         else torch.randn(n, setting.num_outputs, generator=g))
    setting.x, setting.y = x, y
    method = build_method(spec["method"], setting, spec["epsilon"])
    base = _rss_mb("VmRSS")
    for _ in range(2):
        method.train_step(x, y, spec["epsilon"])
    print(json.dumps({"peak_mb": _rss_mb("VmHWM") - base}))


def memory_table(setting: Setting, methods: list[str], batches: list[int], epsilon: float,
                 log: Callable = print) -> dict:
    out: dict[str, dict] = {}
    for name in methods:
        out[name] = {}
        for n in batches:
            if setting.device.type == "cuda":
                method = build_method(name, setting, epsilon)
                loader = setting.loader(n)
                x, y, _ = next(iter(loader))
                out[name][n] = _peak_step_memory_cuda(method, x, y, epsilon, setting.device)
                del method
            else:
                spec = {"method": name, "batch": n, "epsilon": epsilon, "overrides": setting.overrides,
                        "task": setting.task, "input_shape": list(setting.input_shape),
                        "num_outputs": setting.num_outputs}
                cmd = [sys.executable, "-m", "prl.bench", "--probe", json.dumps(spec)]
                if setting.args.threads:
                    cmd += ["--threads", str(setting.args.threads)]
                res = subprocess.run(cmd, capture_output=True, text=True, timeout=900,
                                     cwd=str(Path(CONF).parent))
                try:
                    out[name][n] = json.loads(res.stdout.strip().splitlines()[-1])["peak_mb"]
                except (IndexError, ValueError, KeyError):
                    out[name][n] = None
                    log(f"  memory probe {name} @ {n} failed: {res.stderr.strip().splitlines()[-1:]}")
            log(f"  memory {name} @ batch {n}: {out[name][n]}")
    return out


# ----------------------------------------------------------------------------- main job


def main_job(args, out_dir: Path, log: Callable = print) -> dict:
    """The default job end to end: ``python run.py`` (logger off) in a fresh process, with
    torch's default thread count (``--threads`` applies to the step timings only)."""
    overrides = ["logger=none", "trainer.progress=false", "force=true", f"trainer.device={args.device}",
                 *args.main_job_override]
    run_dir = (out_dir / "main-job").resolve()
    log(f"main job: python run.py {' '.join(overrides)} -> {run_dir}")
    env = {**os.environ, "WANDB_MODE": "disabled", "WANDB_SILENT": "true"}
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "run.py", *overrides, f"hydra.run.dir={run_dir}"], cwd=str(Path(CONF).parent),
                         env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    try:
        summary = json.loads((run_dir / "summary.json").read_text())
    except (OSError, ValueError):
        summary = {"status": f"failed (exit {res.returncode}): {res.stderr.strip().splitlines()[-1:]}"}
    return {"overrides": overrides, "wall_s": wall, "algorithm": summary.get("algorithm"),
            "epochs": summary.get("epochs_completed"), "samples_per_s": summary.get("samples_per_s"),
            "test_accuracy_final": summary.get("test_accuracy_final"), "status": summary.get("status")}


# ----------------------------------------------------------------------------- report


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return f"CPU: {line.split(':', 1)[1].strip()} ({os.cpu_count()} cores)"
    except OSError:
        pass
    return f"CPU: {platform.processor() or platform.machine()}"


def _f(v, fmt="{:.2f}") -> str:
    return "n/a" if v is None or (isinstance(v, float) and v != v) else fmt.format(v)


def markdown(report: dict) -> str:
    m = report["meta"]
    lines = [
        "# prl training-step benchmark", "",
        f"{m['device']} | torch {m['torch']} | {m['threads']} thread(s) | {m['date']}", "",
        f"{m['dataset']}, model `{m['model']}`, batch {m['batch_size']}, drop fraction {m['epsilon']}, "
        f"{m['steps']} steps x {m['rounds']} rounds, median over rounds of the per-round ratio to "
        f"one-network `standard`.  Data: {_f(report['data_ms'], '{:.2f}')} ms per batch (BatchIterator).", "",
    ]
    for variant, rows in report["steps"].items():
        lines += [f"## Training step ({variant})", "",
                  "| method | forwards / network | step (ms) | ratio to standard | samples/s | epoch (s, est.) "
                  "| data / step |", "|---|---|---|---|---|---|---|"]
        for name, r in rows.items():
            fw = "/".join(str(c) for c in r["forwards_per_network"]) if r.get("forwards_per_network") else "n/a"
            speed = f" ({_f(r.get('vs_fp32'))}x fp32)" if r.get("vs_fp32") is not None else ""
            lines.append(f"| {name} | {fw} | {_f(r['step_ms'], '{:.1f}')}{speed} | {_f(r['ratio'])}x | "
                         f"{_f(r['samples_per_s'], '{:.0f}')} | {_f(r['epoch_s_est'], '{:.1f}')} | "
                         f"{_f(100 * r['data_fraction'], '{:.1f}')}% |")
        lines.append("")
    if report.get("skipped"):
        lines += ["Not timed: " + "; ".join(f"`{k}` ({v})" for k, v in report["skipped"].items()), ""]
    lines += ["## Targets (fp32)", "", "| target | measured | limit | met |", "|---|---|---|---|"]
    for t in report["targets"]:
        limit = "" if t["limit"] is None else ("<= " if t["kind"] == "max" else ">= ") + f"{t['limit']}"
        met = {True: "yes", False: "**no**", None: "-"}[t["ok"]]
        lines.append(f"| {t['target']} | {_f(t['value'], '{:.2f}x')} | {limit} | {met} |")
    lines.append("")
    if report.get("engines"):
        lines += ["## Per-sample gradient norms of one batch (forward + norms, no update)", "",
                  "| engine | ms | ratio to one ERM step | max rel. diff. vs ghost |", "|---|---|---|---|"]
        for name, r in report["engines"].items():
            lines.append(f"| {name} | {_f(r['ms'], '{:.1f}')} | {_f(r['ratio_to_erm_step'])}x | "
                         f"{_f(r['max_rel_diff_vs_ghost'], '{:.1e}')} |")
        lines.append("")
    if report.get("memory"):
        batches = sorted({int(b) for v in report["memory"].values() for b in v})
        how = "CUDA allocator peak" if m["device_type"] == "cuda" else "peak RSS of a fresh process, coarse"
        lines += [f"## Peak memory of a step (MiB, {how})", "",
                  "| method | " + " | ".join(f"batch {b}" for b in batches) + " |",
                  "|---|" + "---|" * len(batches)]
        for name, row in report["memory"].items():
            lines.append(f"| {name} | " + " | ".join(_f(row.get(b, row.get(str(b))), "{:.0f}") for b in batches) + " |")
        lines.append("")
    if report.get("main_job"):
        j = report["main_job"]
        lines += ["## Main job end to end", "",
                  f"`python run.py` ({j['algorithm']}, {j['epochs']} epochs, logger off, a fresh process with "
                  f"torch's default threads): "
                  f"{_f(j['wall_s'], '{:.0f}')} s "
                  f"wall, {_f(j['samples_per_s'], '{:.0f}')} samples/s (training, both networks), final test accuracy "
                  f"{_f(j['test_accuracy_final'])}%.", ""]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- entry point


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m prl.bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--dataset", default="fashion-mnist")
    p.add_argument("--model", default="cnn-small-gn", help="a conf/model option (GroupNorm for PRL-G)")
    p.add_argument("--synthetic", default=None, metavar="C,H,W",
                   help="random inputs of this shape instead of the dataset (timing only; --dataset picks presets)")
    p.add_argument("--classes", type=int, default=10, help="classes of --synthetic")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--steps", type=int, default=10, help="timed steps per method per round")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--epsilon", type=float, default=0.45, help="drop fraction of the timed steps")
    p.add_argument("--methods", default="all",
                   help="comma list (registered names, name:key=value, ref-*), or all")
    p.add_argument("--ref-bookkeeping", action="store_true",
                   help="reference baselines also redo the reference's per-step label-precision bookkeeping")
    p.add_argument("--variants", default="fp32",
                   help=f"comma list of {', '.join(VARIANTS)} (bf16, compile: meant for CUDA; they run on CPU too)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--no-engines", dest="engines", action="store_false", help="skip the norm-engine table")
    p.add_argument("--naive", action="store_true", help="include the per-sample loop in the engine table")
    p.add_argument("--memory", action="store_true", help="peak memory of a step against the batch size")
    p.add_argument("--memory-batches", default="64,128,256,512")
    p.add_argument("--memory-methods", default="standard,prl-g,prl-g:grad_norm=functorch,ref-co-prl-g")
    p.add_argument("--main-job", action="store_true", help="also run the default job end to end")
    p.add_argument("--main-job-override", action="append", default=[], help="extra override for the main job")
    p.add_argument("--override", action="append", default=[], help="extra config override (model.*, optimizer.*)")
    p.add_argument("--out", default="bench-results", help="output folder (bench.md, bench.json)")
    p.add_argument("--probe", default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.probe:
        probe_memory(args)
        return {}
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)

    def log(msg: str) -> None:
        print(msg, flush=True)

    setting = Setting(args)
    device = setting.device
    names, skipped = method_names(args, setting)
    variants = [v for v in args.variants.split(",") if v]
    for v in variants:
        if v not in VARIANTS:
            raise SystemExit(f"--variants: unknown {v!r} (allowed: {', '.join(VARIANTS)})")
    loader = setting.loader(args.batch_size)
    steps_per_epoch = len(loader)
    batches = []
    for x, y, _ in loader:
        batches.append((x, y))
        if len(batches) >= args.steps:
            break
    data_s = time_data(setting.loader(args.batch_size, seed=1), args.steps, args.rounds, device)
    log(f"{device_name(device)}, torch {torch.__version__}, {torch.get_num_threads()} threads; "
        f"{setting.dataset_name} {args.model} batch {args.batch_size}; methods: {', '.join(names)}")

    report: dict = {
        "meta": {"device": device_name(device), "device_type": device.type, "torch": torch.__version__,
                 "python": platform.python_version(), "date": datetime.datetime.now().isoformat(timespec="seconds"),
                 "threads": torch.get_num_threads(), "dataset": setting.dataset_name, "model": args.model,
                 "batch_size": args.batch_size, "epsilon": args.epsilon, "steps": args.steps, "rounds": args.rounds,
                 "steps_per_epoch": steps_per_epoch, "argv": sys.argv[1:] if argv is None else list(argv)},
        "data_ms": data_s * 1e3, "steps": {}, "skipped": skipped,
    }
    fp32_times = None
    for variant in variants:
        log(f"variant {variant}")
        setting.channels_last = variant == "channels_last"
        vb = [(x.contiguous(memory_format=torch.channels_last) if setting.channels_last and x.dim() == 4 else x, y)
              for x, y in batches]
        methods, forwards = {}, {}
        for name in names:
            if variant == "compile" and name in REFERENCES:
                continue
            m = build_method(name, setting, args.epsilon)
            if variant == "compile":
                m.networks = nn.ModuleList(torch.compile(n) for n in m.networks)
            m.train()
            methods[name] = m
            forwards[name] = count_forwards(m, *vb[0], args.epsilon)
        autocast = (functools.partial(torch.autocast, device.type, dtype=torch.bfloat16) if variant == "bf16" else None)
        times = time_steps(methods, vb, args.epsilon, args.rounds, device, autocast, log)
        rows = ratio_rows(times, args.batch_size, steps_per_epoch, data_s, forwards)
        if variant == "fp32":
            fp32_times = times
        elif fp32_times is not None:
            for name, r in rows.items():
                if name in fp32_times:
                    r["vs_fp32"] = _median(fp32_times[name]) / _median(times[name])
        report["steps"][variant] = rows
        del methods
    setting.channels_last = False
    report["targets"] = check_targets(fp32_times or {})
    if args.engines and not has_batchnorm(setting.model_fn()):
        log("per-sample norm engines")
        standard = build_method("standard", setting, args.epsilon)
        report["engines"] = time_engines(norm_engines(setting, args.naive), standard,
                                         batches[: max(2, args.steps // 2)],
                                         args.rounds, device, log)
    if args.memory:
        log("memory")
        mem_methods = [m for m in args.memory_methods.split(",") if m and m not in skipped]
        report["memory"] = memory_table(setting, mem_methods, [int(b) for b in args.memory_batches.split(",")],
                                        args.epsilon, log)
    if args.main_job:
        report["main_job"] = main_job(args, out_dir, log)
    (out_dir / "bench.json").write_text(json.dumps(report, indent=2, default=str))
    (out_dir / "bench.md").write_text(markdown(report))
    log(markdown(report))
    log(f"wrote {out_dir / 'bench.md'} and {out_dir / 'bench.json'}")
    return report


if __name__ == "__main__":
    main()
