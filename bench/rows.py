"""Extra rows: "this timed callable against that baseline", one function each.

A row is a function decorated with :func:`row` that receives a :class:`Context` and returns
``(candidate, baseline)``, two :class:`bench.timing.Timed` blocks (a zero-argument callable and
how many units one call does).  The bench times the two interleaved and paired, like the
training steps, and reports the candidate's time per unit, the baseline's, and
``candidate / (scale * baseline)`` with its spread over rounds, as ``x`` or ``%``.  See
``bench/__main__.py``'s docstring for a worked example.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import torch

from bench.setting import Setting, build_method
from bench.timing import Timed, estimate, interleave

__all__ = ["Context", "Row", "ROWS", "row", "time_rows"]


@dataclass
class Context:
    """What a row may use: the setting (data on the device, model and optimizer factories), the
    parsed command line, the pre-drawn batches ``(x, y, index)`` of the step timings, the drop
    fraction, the steps of one epoch, and :meth:`method` to build a training method by name."""

    setting: Setting
    args: object
    batches: list
    epsilon: float
    steps_per_epoch: int

    def method(self, name: str = "standard"):
        m = build_method(name, self.setting, self.epsilon)
        m.train()
        return m

    def steps(self, name: str = "standard") -> Timed:
        """A block of training steps of method ``name`` over the batches (one unit = one step)."""
        m = self.method(name)
        return Timed(lambda: [m.train_step(x, y, idx) for x, y, idx in self.batches], calls=len(self.batches))


@dataclass
class Row:
    name: str
    build: Callable[[Context], tuple[Timed, Timed]]
    baseline: str  # what the baseline is, in words (the table's column)
    unit: str = "x"  # "x": a ratio; "%": a percentage
    #: the baseline's unit is ``scale`` of its timed units (e.g. an epoch = steps_per_epoch steps)
    scale: Callable[[Context], float] = lambda ctx: 1.0
    note: str = ""


#: name -> Row, in registration order
ROWS: dict[str, Row] = {}


def row(name: str, baseline: str, unit: str = "x", scale: Optional[Callable[[Context], float]] = None,
        note: str = ""):
    """Register ``fn(ctx) -> (candidate, baseline)`` as the row ``name`` (module docstring)."""
    if unit not in ("x", "%"):
        raise ValueError(f"unit must be 'x' or '%', got {unit!r}")

    def deco(fn):
        if name in ROWS:
            raise ValueError(f"bench row {name!r} registered twice")
        ROWS[name] = Row(name, fn, baseline, unit, scale or (lambda ctx: 1.0), note)
        return fn

    return deco


def time_rows(names: list[str], ctx: Context, rounds: int, estimator: str = "median",
              log: Callable = print) -> dict[str, dict]:
    """Time each named row (candidate and baseline interleaved, paired) and report it."""
    out = {}
    for name in names:
        r = ROWS[name]
        candidate, baseline = r.build(ctx)
        timings = interleave({"candidate": candidate, "baseline": baseline}, rounds, ctx.setting.device,
                             "baseline", log=None)
        scale = float(r.scale(ctx))
        est = estimate(timings.ratios("candidate", scale), estimator)
        if r.unit == "%":
            est = {k: (v * 100 if isinstance(v, float) else v) for k, v in est.items()}
        out[name] = {"ms": timings.seconds("candidate") * 1e3, "baseline": r.baseline,
                     "baseline_ms": timings.seconds("baseline") * 1e3 * scale, "unit": r.unit,
                     "value": est["value"], "spread": est, "note": r.note}
        log(f"  row {name}: {out[name]['value']:.3g}{r.unit} of {r.baseline}")
    return out


# ----------------------------------------------------------------------------- built-in rows


@row("data: one batch (BatchIterator)", baseline="one standard step", unit="%",
     note="slicing a shuffled batch from tensors already on the device")
def _data_batch(ctx: Context) -> tuple[Timed, Timed]:
    loader = ctx.setting.loader(ctx.args.batch_size, seed=1)
    state = {"it": iter(loader)}

    def one_batch():
        try:
            return next(state["it"])
        except StopIteration:
            state["it"] = iter(loader)
            return next(state["it"])

    n = len(ctx.batches)
    return Timed(lambda: [one_batch() for _ in range(n)], calls=n), ctx.steps("standard")


@row("epsilon=auto: estimation at the end of an epoch", baseline="one epoch of co-prl-l", unit="%",
     scale=lambda ctx: ctx.steps_per_epoch,
     note="both networks on a 5% held-out split, the anchor estimate (drives epsilon) and the mixture fit on "
          "one epoch of scores; the per-step cost (scores written into a device buffer) is in the auto/ step rows")
def _estimation(ctx: Context) -> tuple[Timed, Timed]:
    from prl.algorithms.keep import DEFAULT_HELDOUT_FRACTION, EstimatedFraction, min_heldout_fraction
    from prl.engine.loop import heldout_probabilities

    n = int(ctx.setting.x.shape[0])
    # the default 5%, or the least the anchor estimator takes on a small set (digits, in the tests)
    fraction = max(DEFAULT_HELDOUT_FRACTION, min_heldout_fraction("anchor", ctx.setting.num_outputs, n))
    rule = EstimatedFraction(n, "classification", ctx.setting.num_outputs, estimator="anchor",
                             heldout_fraction=fraction)
    g = torch.Generator().manual_seed(0)
    scores = torch.rand(n, generator=g).to(ctx.setting.device)
    rule.observe(scores, torch.arange(n, device=ctx.setting.device))
    held = torch.randperm(n, generator=g)[: int(round(fraction * n))].to(ctx.setting.device)
    xh, yh = ctx.setting.x.index_select(0, held), ctx.setting.y.index_select(0, held)
    networks = ctx.method("co-prl-l").networks

    def end_of_epoch():
        probs, noisy = heldout_probabilities(networks, xh, yh, ctx.args.batch_size)
        rule.observe_heldout(probs, noisy)
        rule.end_epoch()

    return Timed(end_of_epoch), ctx.steps("co-prl-l")
