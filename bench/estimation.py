"""Measure the estimators on synthetic score distributions: ``python -m bench.estimation``.

Prints markdown tables (bias and spread of every estimate over seeds, ranking quality, one
simulated training run, time of one fit) for ``docs/estimation.md``.  Everything is seeded;
the timings depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import time
from typing import Callable

import numpy as np

from prl.estimation.agreement import agreement_fraction
from prl.estimation.confident import confident_learning_fraction, confident_learning_ranking
from prl.estimation.mixture import fit_mixture
from prl.estimation.ranking import auroc, precision_at_k
from prl.estimation.smoothing import smooth
from prl.estimation.synthetic import beta_scores, regression_residuals, softmax_outputs

#: classification scenarios: name -> softmax_outputs kwargs (rate first)
CLASSIFICATION = {
    "clean": dict(rate=0.0),
    "sym 10%": dict(rate=0.1),
    "sym 20%": dict(rate=0.2),
    "sym 50%": dict(rate=0.5),
    "sym 80%": dict(rate=0.8),
    "pair 45%": dict(rate=0.45, noise="pairflip"),
    "pair 45%, flip 30% learned": dict(rate=0.45, noise="pairflip", flip_learned=0.3),
    "pair 45%, flip 50% learned": dict(rate=0.45, noise="pairflip", flip_learned=0.5),
    "clean, flip 50% learned": dict(rate=0.0, noise="pairflip", flip_learned=0.5),
    "clean, weak net": dict(rate=0.0, margin=3.0, margin_std=2.0),
    "sym 20%, weak net": dict(rate=0.2, margin=3.0, margin_std=2.0),
    "sym 20%, early (margin 0.5)": dict(rate=0.2, margin=0.5, margin_std=0.5),
    "sym 20%, 30% memorised": dict(rate=0.2, memorized=0.3),
    "clean, over-confident (logits x10)": dict(rate=0.0, logit_scale=10.0),
    "sym 20%, over-confident (logits x3)": dict(rate=0.2, logit_scale=3.0),
    "sym 20%, over-confident (logits x10)": dict(rate=0.2, logit_scale=10.0),
}
#: training-score-only scenarios: name -> (generator(n, seed) -> (scores, is_corrupted), transform)
SCORES_ONLY: dict[str, tuple[Callable, str]] = {
    "beta clean": (lambda n, s: beta_scores(n, 0.0, seed=s), "logit"),
    "beta 10%": (lambda n, s: beta_scores(n, 0.1, seed=s), "logit"),
    "beta 20%": (lambda n, s: beta_scores(n, 0.2, seed=s), "logit"),
    "beta 45%": (lambda n, s: beta_scores(n, 0.45, seed=s), "logit"),
    "regression clean, 1-D": (lambda n, s: regression_residuals(n, 0.0, seed=s), "log"),
    "regression Cauchy 30%, 1-D": (lambda n, s: regression_residuals(n, 0.3, seed=s), "log"),
    "regression clean, 10-D": (lambda n, s: regression_residuals(n, 0.0, dim=10, seed=s), "log"),
    "regression Cauchy 30%, 10-D": (lambda n, s: regression_residuals(n, 0.3, dim=10, seed=s), "log"),
}


def _fmt(errors: list[float]) -> str:
    e = np.asarray(errors)
    return f"{e.mean():+.3f} ± {e.std():.3f}"


def classification_table(n: int, n_heldout: int, seeds: int) -> list[str]:
    cols = ["mixture logit/post", "mixture logit/weight", "mixture raw/post (DivideMix-like)", "mixture D",
            "agreement", "CL joint", "CL num_issues"]
    rows = ["| scenario | realised | " + " | ".join(cols) + " |", "|" + "---|" * (len(cols) + 2)]
    for name, kw in CLASSIFICATION.items():
        err: dict[str, list[float]] = {c: [] for c in cols}
        real = []
        for seed in range(seeds):
            tr = softmax_outputs(n, seed=seed, **kw)
            held = softmax_outputs(n_heldout, seed=10_000 + seed, **{k: v for k, v in kw.items() if k != "memorized"})
            f = fit_mixture(tr.scores)
            err["mixture logit/post"].append(f.fraction - tr.fraction)
            err["mixture logit/weight"].append((0.0 if f.clean else f.weight) - tr.fraction)
            err["mixture raw/post (DivideMix-like)"].append(fit_mixture(tr.scores, transform="raw").fraction - tr.fraction)
            err["mixture D"].append(f.separation)
            err["agreement"].append(agreement_fraction(held.probs, held.noisy, held.probs.shape[1]) - held.fraction)
            err["CL joint"].append(confident_learning_fraction(held.probs, held.noisy) - held.fraction)
            err["CL num_issues"].append(confident_learning_fraction(held.probs, held.noisy, method="num_issues") - held.fraction)
            real.append(tr.fraction)
        cells = [f"{np.min(err[c]):.1f}–{np.max(err[c]):.1f}" if c == "mixture D" else _fmt(err[c]) for c in cols]
        rows.append(f"| {name} | {np.mean(real):.3f} | " + " | ".join(cells) + " |")
    return rows


def scores_table(n: int, seeds: int) -> list[str]:
    cols = ["post", "weight", "no clean test", "D"]
    rows = ["| scenario | transform | realised | " + " | ".join(cols) + " |", "|" + "---|" * (len(cols) + 3)]
    for name, (gen, tf) in SCORES_ONLY.items():
        err: dict[str, list[float]] = {c: [] for c in cols}
        for seed in range(seeds):
            s, bad = gen(n, seed)
            f = fit_mixture(s, transform=tf)
            err["post"].append(f.fraction - bad.mean())
            err["weight"].append((0.0 if f.clean else f.weight) - bad.mean())
            err["no clean test"].append(f.posterior - bad.mean())
            err["D"].append(f.separation)
        cells = [f"{np.min(err[c]):.1f}–{np.max(err[c]):.1f}" if c == "D" else _fmt(err[c]) for c in cols]
        rows.append(f"| {name} | {tf} | {bad.mean():.3f} | " + " | ".join(cells) + " |")
    return rows


def transform_table(n: int, seeds: int) -> list[str]:
    """Posterior-fraction bias of each transform with both clean tests switched off."""
    cases: dict[str, Callable] = {
        "beta 10%": lambda s: beta_scores(n, 0.1, seed=s),
        "beta 45%": lambda s: beta_scores(n, 0.45, seed=s),
        "softmax, sym 20%": lambda s: _pair(softmax_outputs(n, 0.2, seed=s)),
        "softmax, sym 50%": lambda s: _pair(softmax_outputs(n, 0.5, seed=s)),
        "softmax, pair 45%, flip 30% learned":
            lambda s: _pair(softmax_outputs(n, 0.45, noise="pairflip", flip_learned=0.3, seed=s)),
        "regression Cauchy 30%, 1-D": lambda s: regression_residuals(n, 0.3, seed=s),
        "regression Cauchy 30%, 10-D": lambda s: regression_residuals(n, 0.3, dim=10, seed=s),
    }
    tfs = ("raw", "log", "logit")
    rows = ["| scenario | " + " | ".join(tfs) + " |", "|" + "---|" * (len(tfs) + 1)]
    for name, gen in cases.items():
        err: dict[str, list[float]] = {t: [] for t in tfs}
        for seed in range(seeds):
            s, bad = gen(seed)
            for t in tfs:
                if t == "logit" and name.startswith("regression"):
                    continue
                f = fit_mixture(s, transform=t, min_separation=0.0, min_high_score=-1.0)
                err[t].append(f.posterior - bad.mean())
        rows.append(f"| {name} | " + " | ".join(_fmt(err[t]) if err[t] else "n/a" for t in tfs) + " |")
    return rows


def _pair(o) -> tuple[np.ndarray, np.ndarray]:
    return o.scores, o.is_corrupted


def loss_table(n: int, seeds: int) -> list[str]:
    """Cross-entropy scores (float32, as a training step computes them) against the gradient norm."""
    cases = {k: CLASSIFICATION[k] for k in ("clean", "sym 20%", "sym 50%", "pair 45%, flip 30% learned",
                                            "clean, over-confident (logits x10)", "sym 20%, over-confident (logits x10)")}
    cols = ["CE raw (DivideMix-like)", "CE log", "CE log, min_high_score=log 2", "grad norm logit (default)"]
    rows = ["| scenario | " + " | ".join(cols) + " |", "|" + "---|" * (len(cols) + 1)]
    for name, kw in cases.items():
        err: dict[str, list[float]] = {c: [] for c in cols}
        for seed in range(seeds):
            o = softmax_outputs(n, seed=seed, **kw)
            p = o.probs.astype(np.float32)[np.arange(n), o.noisy]
            ce = -np.log(np.maximum(p, np.float32(1e-45)))
            err[cols[0]].append(fit_mixture(ce, transform="raw").fraction - o.fraction)
            err[cols[1]].append(fit_mixture(ce, transform="log").fraction - o.fraction)
            err[cols[2]].append(fit_mixture(ce, transform="log", min_high_score=float(np.log(2))).fraction - o.fraction)
            err[cols[3]].append(fit_mixture(o.scores).fraction - o.fraction)
        rows.append(f"| {name} | " + " | ".join(_fmt(err[c]) for c in cols) + " |")
    return rows


def ranking_table(n: int, seed: int = 0) -> list[str]:
    rows = ["| scenario | AUROC grad norm (train) | P@k grad norm | AUROC CL self-confidence (held-out) | P@k CL |",
            "|---|---|---|---|---|"]
    for name in ("sym 20%", "sym 50%", "pair 45%, flip 50% learned", "sym 20%, weak net", "sym 20%, 30% memorised"):
        kw = CLASSIFICATION[name]
        tr = softmax_outputs(n, seed=seed, **kw)
        held = softmax_outputs(n, seed=10_000 + seed, **{k: v for k, v in kw.items() if k != "memorized"})
        cl = confident_learning_ranking(held.probs, held.noisy)
        rows.append(f"| {name} | {auroc(tr.scores, tr.is_corrupted):.3f} | {precision_at_k(tr.scores, tr.is_corrupted):.3f} | "
                    f"{auroc(cl, held.is_corrupted):.3f} | {precision_at_k(cl, held.is_corrupted):.3f} |")
    return rows


def training_run(n: int, n_heldout: int, epochs: int = 20, rate: float = 0.4) -> list[str]:
    """A caricature of standard training: the margin grows over the first epochs, and from
    epoch 10 on the network memorises more and more corrupted training labels (never those of
    the held-out split)."""
    raw: dict[str, list[float]] = {"mixture": [], "agreement": [], "CL joint": []}
    for e in range(epochs):
        margin = min(5.0, 0.5 + 0.5 * e)
        memorized = max(0.0, 0.08 * (e - 9))
        raw["mixture"].append(fit_mixture(softmax_outputs(n, rate, margin=margin, memorized=memorized, seed=e).scores).fraction)
        held = softmax_outputs(n_heldout, rate, margin=margin, seed=10_000 + e)
        raw["agreement"].append(agreement_fraction(held.probs, held.noisy, 10))
        raw["CL joint"].append(confident_learning_fraction(held.probs, held.noisy))
    rows = ["| epoch | " + " | ".join(str(e) for e in range(epochs)) + " |", "|" + "---|" * (epochs + 1)]
    for name, r in raw.items():
        rows.append(f"| {name} raw | " + " | ".join(f"{v:.2f}" for v in r) + " |")
        rows.append(f"| {name} smoothed | " + " | ".join(f"{v:.2f}" for v in smooth(r)) + " |")
        if name != "mixture":
            rows.append(f"| {name} smoothed, warmup=5 | " + " | ".join(f"{v:.2f}" for v in smooth(r, warmup=5)) + " |")
    rows.append("| mixture, EMA only (window=1) | " + " | ".join(f"{v:.2f}" for v in smooth(raw["mixture"], window=1)) + " |")
    return rows


def _median_time(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def _one_gmm(scores: np.ndarray) -> None:
    from sklearn.mixture import GaussianMixture

    z = np.random.default_rng(0).choice(scores, 10000, replace=False)[:, None]
    GaussianMixture(2, random_state=0).fit(z)


def timing_table(n: int, repeats: int) -> list[str]:
    o = softmax_outputs(n, 0.2, seed=0)
    cases = {
        "mixture (default: 2 EM starts on a 10,000 subsample)": lambda: fit_mixture(o.scores),
        "mixture, max_samples=20000": lambda: fit_mixture(o.scores, max_samples=20000),
        "mixture, max_samples=None (fit on all)": lambda: fit_mixture(o.scores, max_samples=None),
        "mixture, sklearn default tol=1e-3": lambda: fit_mixture(o.scores, tol=1e-3),
        "one sklearn GaussianMixture fit, 10,000 points, defaults": lambda: _one_gmm(o.scores),
        "agreement": lambda: agreement_fraction(o.probs, o.noisy, 10),
        "confident learning (joint), C=10": lambda: confident_learning_fraction(o.probs, o.noisy),
    }
    rows = [f"| N = {n} | median of {repeats} (ms) |", "|---|---|"]
    for name, fn in cases.items():
        rows.append(f"| {name} | {1000 * _median_time(fn, repeats):.0f} |")
    return rows


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=60000, help="training-set size")
    ap.add_argument("--heldout", type=int, default=6000, help="held-out split size")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--only", default="transforms,losses,classification,scores,ranking,training,timing")
    args = ap.parse_args(argv)
    parts = args.only.split(",")
    if "transforms" in parts:
        print(f"\n## transforms, no clean tests: posterior fraction - realised, N={args.n}, 3 seeds\n")
        print("\n".join(transform_table(args.n, 3)), flush=True)
    if "losses" in parts:
        print(f"\n## cross-entropy scores: estimate - realised, N={args.n}, 3 seeds\n")
        print("\n".join(loss_table(args.n, 3)), flush=True)
    if "classification" in parts:
        print(f"\n## classification: estimate - realised, mean ± sd over {args.seeds} seeds "
              f"(N={args.n} training scores, n={args.heldout} held-out)\n")
        print("\n".join(classification_table(args.n, args.heldout, args.seeds)), flush=True)
    if "scores" in parts:
        print(f"\n## score distributions (mixture only), N={args.n}, {args.seeds} seeds\n")
        print("\n".join(scores_table(args.n, args.seeds)), flush=True)
    if "ranking" in parts:
        print(f"\n## ranking, N={args.n}\n")
        print("\n".join(ranking_table(args.n)), flush=True)
    if "training" in parts:
        print(f"\n## simulated training run, 40% symmetric, N={args.n}, held-out n={args.heldout}\n")
        print("\n".join(training_run(args.n, args.heldout)), flush=True)
    if "timing" in parts:
        print("\n## time of one estimate\n")
        print("\n".join(timing_table(args.n, args.repeats)), flush=True)


if __name__ == "__main__":
    main()
