"""Training-step benchmark: every registered algorithm against one-network ERM, in one process.

Run from the repository root::

    python -m bench --threads 1                            # small CNN (GroupNorm), Fashion-MNIST, batch 128
    python -m bench --device cuda --variants fp32,bf16,channels_last,compile
    python -m bench --dataset cifar10 --synthetic 3,32,32 --model resnet32-gn --rounds 10
    python -m bench --memory                               # + peak memory against the batch size
    python -m bench --main-job                             # + the default job (python run.py) end to end
    python -m bench --methods standard,prl-l,co-prl-l --rows none --no-engines   # a quick look

How it times (:mod:`bench.timing`)
----------------------------------
Everything runs in one process on the same model, batch size and pre-drawn batches.  A method's
*block* is ``--steps`` training steps (default 1 on CPU, 10 on CUDA); every round times each
method's block once, in an order rotated per round, and times the one-network ``standard``
block between every two of them (``paired``), so a method's per-round ratio is its block time
over the mean of the two ``standard`` blocks beside it.  The reported ratio is the median of the
``--rounds`` (default 100) per-round ratios (``--estimator``), with their quartiles and min-max
as the spread; a ratio between two methods (the targets) divides their per-round ratios.
``--unpaired`` times ``standard`` once per round instead (the old scheme, whose ratios moved
more between runs: README, Performance).  ``python -m bench.compare OUT1 OUT2 ...`` prints the
across-run range of every ratio.

What is timed
-------------
* every registered algorithm (:data:`prl.algorithms.ORDER`), built from its composed
  ``conf/algorithm/<name>.yaml`` through :func:`prl.engine.setup.build_algorithm`, selecting
  methods at the steady state after the ramp (``epsilon=--epsilon, num_gradual=0``); ``prl-g``
  also with ``grad_norm=functorch``, ``prl-l`` and ``co-prl-l`` also with
  ``score_pass=separate``; two independent ERM networks (``standard:networks=2``);
* reference-style baselines (:mod:`bench.reference`): *imitations* of the PRL reference code's
  steps, labelled ``ref-*``;
* per-sample gradient-norm engines alone (:mod:`bench.engines`) as a ratio to one ERM step;
* extra rows (:mod:`bench.rows`), e.g. the data time of one batch as a % of a step;
* ``--memory``: peak memory of one step against the batch size (:mod:`bench.memory`);
* ``--main-job``: the default job (``python run.py``, logger off) end to end.

``--variants`` adds bf16 autocast, channels_last and ``torch.compile`` tables (ratios to
``standard`` in the same variant, and the speed-up of each cell over fp32); meant for CUDA, they
run on CPU too.  Outputs: ``bench.md`` and ``bench.json`` in ``--out`` (device, date, torch
version, load average, arguments, raw per-round times).

Adding a row: a timed callable against a baseline
-------------------------------------------------
Write a function in ``bench/rows.py`` (or in any module imported there) that returns two
:class:`bench.timing.Timed` blocks, the candidate and the baseline, and decorate it with
:func:`bench.rows.row`::

    @row("estimator: fit on one epoch of scores", baseline="one epoch of co-prl-l", unit="%",
         scale=lambda ctx: ctx.steps_per_epoch)
    def _estimator_cost(ctx):
        scores = torch.rand(ctx.steps_per_epoch * ctx.args.batch_size)
        candidate = Timed(lambda: my_estimator(scores))          # 1 unit = one fit
        return candidate, ctx.steps("co-prl-l")                  # 1 unit = one step; x scale = an epoch

``Timed(fn, calls=n)``: ``fn()`` does ``n`` units and the time per unit is reported.  ``unit``
is ``"x"`` (a ratio) or ``"%"``; ``scale`` multiplies the baseline's unit (here: steps per
epoch, so the value is the estimator's cost as a % of an epoch).  :class:`bench.rows.Context`
gives the setting (data on the device, model and optimizer factories), the parsed arguments, the
pre-drawn batches, the drop fraction, the steps per epoch, ``ctx.method(name)`` and
``ctx.steps(name)``.  A CSV load time is ``Timed(lambda: load_csv(path))`` against, say,
``Timed(lambda: np.load(npy_path))``.  The row is timed interleaved and paired like the steps,
appears under "Other costs" in ``bench.md`` and ``rows`` in ``bench.json``, and
``--rows NAME,...`` / ``--rows none`` picks rows.  Add a structural test to
``tests/bench/test_bench.py`` (the row builds and its blocks run), not a timing test.

Cost model, per network (F = forward of the batch, B = backward = B_in (input gradients) +
B_w (weight gradients), k = kept fraction):

=====================  ===========================================================
standard               F + B
spl, prl-l             F + B (scores from the logits: softmax, argsort)
co-teaching, co-prl-l  F + B per network; both graphs live at once
score_pass=separate    F (no grad) + k (F + B)
prl-g (ghost)          F + B_in + per-layer norms + k B_w (no second backward)
prl-g (functorch)      F + vmap(F + B) per sample + B
ref-co-prl-l           F (no grad) + F (graph dropped) + k (F + B)
ref-co-prl-g           F (no grad) + F + B + per-sample materialisation + k (F + B)
=====================  ===========================================================

So ``ref-co-prl-l / co-prl-l = (2F + k(F + B)) / (F + B)``: 1.55 for k = 0.55 when B = F,
1.22 when B = 2F.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import warnings
from pathlib import Path

import torch

# Opacus' full backward hooks warn on every backward whose inputs need no gradient (the images)
warnings.filterwarnings("ignore", message="Full backward hook is firing")

from prl.models import has_batchnorm  # noqa: E402

from bench.engines import norm_engines, time_engines  # noqa: E402
from bench.main_job import main_job  # noqa: E402
from bench.memory import memory_table, probe_memory  # noqa: E402
from bench.report import check_targets, device_name, markdown, write  # noqa: E402
from bench.rows import ROWS, Context, time_rows  # noqa: E402
from bench.setting import Setting, build_method, method_names  # noqa: E402
from bench.steps import VARIANTS, step_rows, time_variant  # noqa: E402
from bench.timing import ESTIMATORS, time_data  # noqa: E402

#: defaults of the schedule (README, "Performance"): one-step blocks on CPU (measured
#: best), ten-step blocks on CUDA (the launch queue stays full, as in training), 100 paired rounds
STEPS = {"cpu": 1, "cuda": 10}
ROUNDS = 100


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--dataset", default="fashion-mnist")
    p.add_argument("--model", default="cnn-small-gn", help="a conf/model option (GroupNorm for PRL-G)")
    p.add_argument("--synthetic", default=None, metavar="C,H,W",
                   help="random inputs of this shape instead of the dataset (timing only; --dataset picks presets)")
    p.add_argument("--classes", type=int, default=10, help="classes of --synthetic")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--steps", type=int, default=None,
                   help=f"training steps per timed block (default: {STEPS['cpu']} on CPU, {STEPS['cuda']} on CUDA)")
    p.add_argument("--rounds", type=int, default=ROUNDS, help="rounds (each method's block once per round)")
    p.add_argument("--estimator", default="median", choices=sorted(ESTIMATORS),
                   help="per-round ratios -> one number")
    p.add_argument("--unpaired", action="store_true",
                   help="time standard once per round, not beside every block (the old scheme)")
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
    p.add_argument("--rows", default="all", help=f"extra rows: all, none, or a comma list of {', '.join(ROWS)}")
    p.add_argument("--memory", action="store_true", help="peak memory of a step against the batch size")
    p.add_argument("--memory-batches", default="64,128,256,512")
    p.add_argument("--memory-methods", default="standard,prl-g,prl-g:grad_norm=functorch,ref-co-prl-g")
    p.add_argument("--main-job", action="store_true", help="also run the default job end to end")
    p.add_argument("--main-job-override", action="append", default=[], help="extra override for the main job")
    p.add_argument("--override", action="append", default=[], help="extra config override (model.*, optimizer.*)")
    p.add_argument("--out", default="bench-results", help="output folder (bench.md, bench.json)")
    p.add_argument("--probe", default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def _rows(spec: str) -> list[str]:
    if spec == "all":
        return list(ROWS)
    if spec == "none":
        return []
    names = [r for r in spec.split(",") if r]
    unknown = [r for r in names if r not in ROWS]
    if unknown:
        raise SystemExit(f"--rows: unknown {', '.join(unknown)} (allowed: {', '.join(ROWS)}, all, none)")
    return names


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.probe:
        probe_memory(args)
        return {}
    variants = [v for v in args.variants.split(",") if v]
    for v in variants:
        if v not in VARIANTS:
            raise SystemExit(f"--variants: unknown {v!r} (allowed: {', '.join(VARIANTS)})")
    rows_wanted = _rows(args.rows)
    out_dir = Path(args.out)

    def log(msg: str) -> None:
        print(msg, flush=True)

    load_before = os.getloadavg()
    setting = Setting(args)
    device = setting.device
    if args.steps is None:
        args.steps = STEPS.get(device.type, STEPS["cpu"])
    names, skipped = method_names(args.methods, setting)
    steps_per_epoch = len(setting.loader(args.batch_size))
    batches = setting.batches(args.batch_size, args.steps)
    data_s = time_data(setting.loader(args.batch_size, seed=1), max(10, args.steps), max(3, args.rounds // 5), device)
    log(f"{device_name(device)}, torch {torch.__version__}, {torch.get_num_threads()} threads, load "
        f"{load_before[0]:.2f}; {setting.dataset_name} {args.model} batch {args.batch_size}; "
        f"methods: {', '.join(names)}")
    report: dict = {
        "meta": {"device": device_name(device), "device_type": device.type, "torch": torch.__version__,
                 "python": platform.python_version(), "date": datetime.datetime.now().isoformat(timespec="seconds"),
                 "threads": torch.get_num_threads(), "dataset": setting.dataset_name, "model": args.model,
                 "batch_size": args.batch_size, "epsilon": args.epsilon, "steps": args.steps, "rounds": args.rounds,
                 "paired": not args.unpaired, "estimator": args.estimator, "steps_per_epoch": steps_per_epoch,
                 "load": list(load_before), "argv": sys.argv[1:] if argv is None else list(argv)},
        "data_ms": data_s * 1e3, "steps": {}, "skipped": skipped,
    }
    fp32 = None
    for variant in variants:
        log(f"variant {variant}")
        timings, forwards = time_variant(variant, names, setting, batches, args.epsilon, args.rounds,
                                         paired=not args.unpaired, log=log)
        report["steps"][variant] = step_rows(timings, args.batch_size, steps_per_epoch, data_s, forwards,
                                             args.estimator, fp32=fp32 if variant != "fp32" else None)
        if variant == "fp32":
            fp32 = timings
    report["targets"] = check_targets(fp32, args.estimator)
    if rows_wanted:
        log("rows")
        ctx = Context(setting, args, batches, args.epsilon, steps_per_epoch)
        report["rows"] = time_rows(rows_wanted, ctx, args.rounds, args.estimator, log)
    if args.engines and not has_batchnorm(setting.model_fn()):
        log("per-sample norm engines")
        standard = build_method("standard", setting, args.epsilon)
        report["engines"] = time_engines(norm_engines(setting, args.naive), standard, batches,
                                         max(5, args.rounds // 4), device, args.estimator, log)
    if args.memory:
        log("memory")
        mem_methods = [m for m in args.memory_methods.split(",") if m and m not in skipped]
        report["memory"] = memory_table(setting, mem_methods, [int(b) for b in args.memory_batches.split(",")],
                                        args.epsilon, log)
    if args.main_job:
        report["main_job"] = main_job(args.device, args.main_job_override, out_dir, log)
    report["meta"]["load_after"] = list(os.getloadavg())
    md, js = write(report, out_dir)
    log(markdown(report))
    log(f"wrote {md} and {js}")
    return report


if __name__ == "__main__":
    main()
