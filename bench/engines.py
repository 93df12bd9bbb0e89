"""Per-sample gradient-norm engines alone: forward + per-sample norms of one batch, no update,
as a ratio to one ERM step, and how far each engine's norms are from the ghost engine's."""

from __future__ import annotations

import copy
import functools
from typing import Callable

import torch

from prl.grad_norms import GhostNorms, functorch_grad_norms
from prl.losses import per_sample_loss

from bench.reference import out_of_place
from bench.setting import Setting, has_opacus
from bench.timing import Timed, estimate, interleave

__all__ = ["norm_engines", "time_engines"]


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
    if has_opacus():
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
                 estimator: str = "median", log: Callable = print) -> dict[str, dict]:
    """Per engine: median ms per batch, its ratio to one ERM step of ``standard`` (paired rounds)
    with the spread, and the largest relative difference of its norms from the ghost engine's."""
    x0, y0 = batches[0][:2]
    ref = engines["ghost (auto)"](x0, y0)
    agree = {}
    for name, fn in engines.items():
        got = fn(x0, y0)
        agree[name] = float(((got.double() - ref.double()).abs() / ref.double()).max())

    def block(fn):
        return Timed(lambda: [fn(b[0], b[1]) for b in batches], calls=len(batches))

    blocks = {"standard": block(lambda x, y: standard.train_step(x, y))}
    blocks.update({name: block(fn) for name, fn in engines.items()})
    timings = interleave(blocks, rounds, device, "standard", log=lambda m: log("  engines" + m[1:]))
    out = {}
    for name in engines:
        est = estimate(timings.ratios(name), estimator)
        out[name] = {"ms": timings.seconds(name) * 1e3, "ratio_to_erm_step": est["value"], "spread": est,
                     "max_rel_diff_vs_ghost": agree.get(name)}
    return out
