"""prl.analysis on a real fixture sweep (made once per session) and on edited copies of it.

The fixture is a real multirun of ``experiment=digits-quick`` (3 epochs): noise {pair-flip 45%,
symmetric 20%} x algorithm {standard, co-prl-l, prl-g} x seed {0, 1} = 12 jobs on the BatchNorm
small CNN, so the 4 prl-g jobs fail (per-sample gradients need a model without BatchNorm) while
the 8 others complete (``tests/conftest.py`` makes it).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from .conftest import FIXTURE_JOBS, ROOT, find_job, summary


@pytest.fixture
def sweep_copy(fixture_sweep, tmp_path) -> Path:
    """A private copy of the fixture sweep to edit."""
    dst = tmp_path / "sweep"
    shutil.copytree(fixture_sweep, dst, ignore=shutil.ignore_patterns("analysis", "checkpoint.pt"))
    return dst


def edit_summary(run_dir: Path, **changes) -> None:
    s = summary(run_dir)
    s.update(changes)
    (Path(run_dir) / "summary.json").write_text(json.dumps(s))


def metrics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (Path(run_dir) / "metrics.jsonl").read_text().splitlines()]


# ----------------------------------------------------------------------------- collect


def test_collect_one_row_per_run(fixture_sweep):
    from prl import analysis

    runs = analysis.collect(str(fixture_sweep))
    assert len(runs) == FIXTURE_JOBS
    assert list(runs.columns[:len(analysis.RUN_COLUMNS)]) == analysis.RUN_COLUMNS
    assert sorted(runs["job"]) == list(range(FIXTURE_JOBS))
    assert (runs["sweep"] == str(fixture_sweep)).all()
    assert not runs["duplicate"].any()
    assert runs["status"].value_counts().to_dict() == {"completed": 8, "failed": 4}
    # a failed job (ConfigError before training) still has its table keys, from .hydra/
    failed = runs[runs["status"] == "failed"]
    assert set(failed["algorithm"]) == {"prl-g"}
    assert set(failed["noise"]) == {"pair-flip 45%", "symmetric 20%"}
    assert sorted(failed["seed"]) == [0, 0, 1, 1]
    assert failed["error"].str.startswith("Config error").all()
    assert failed["test_accuracy_final"].isna().all()
    assert set(runs["dataset"]) == {"digits"} and set(runs["model"]) == {"cnn-small"}
    assert set(runs["noise_rate"]) == {0.45, 0.2}
    assert (runs["column"] == runs["algorithm"]).all()  # nothing differs inside a cell
    assert "cfg.optimizer.lr" in runs and "cfg.trainer.epochs" in runs
    done = runs[runs["status"] == "completed"]
    for r in done.itertuples():
        assert r.test_accuracy_final == pytest.approx(summary(Path(r.run_dir))["test_accuracy_final"])


def test_collect_bad_input(tmp_path):
    from prl import analysis

    with pytest.raises(analysis.AnalysisError, match="is not a directory"):
        analysis.collect(str(tmp_path / "nope"))
    with pytest.raises(analysis.AnalysisError, match="no run directories"):
        analysis.collect(str(tmp_path))


# ----------------------------------------------------------------------------- the table


def test_table_cells_follow_the_last10_protocol(fixture_sweep):
    """Cell mean/std recomputed here from metrics.jsonl: mean over the last <= 10 epochs per run,
    then mean and sample std (ddof=1) over seeds; the best mean of each row is marked."""
    from prl import analysis

    table = analysis.paper_table(analysis.collect(str(fixture_sweep)))
    assert table.columns == ["standard", "co-prl-l", "prl-g"]
    assert table.rows == [("digits", "pair-flip 45%"), ("digits", "symmetric 20%")]
    cells = table.cells.set_index(["noise", "column"])
    for noise_choice, noise in (("pairflip45", "pair-flip 45%"), ("symmetric20", "symmetric 20%")):
        means = {}
        for alg in ("standard", "co-prl-l"):
            per_seed = [np.mean([m["test_accuracy"] for m in metrics(find_job(fixture_sweep, alg, noise_choice, s))][-10:])
                        for s in (0, 1)]
            c = cells.loc[(noise, alg)]
            assert c["n"] == 2 and c["expected"] == 2
            assert c["mean"] == pytest.approx(np.mean(per_seed))
            assert c["std"] == pytest.approx(np.std(per_seed, ddof=1))
            assert c["text"] == f"{np.mean(per_seed):.2f} ± {np.std(per_seed, ddof=1):.2f} (2)"
            means[alg] = c["mean"]
        best = max(means, key=means.get)
        assert cells.loc[(noise, best), "best"] and not cells.loc[(noise, min(means, key=means.get)), "best"]
        assert cells.loc[(noise, "prl-g"), "n"] == 0 and not cells.loc[(noise, "prl-g"), "best"]
    # the failed prl-g runs are listed, never averaged in
    assert len(table.missing) == 4
    assert set(table.missing["status"]) == {"failed"} and set(table.missing["column"]) == {"prl-g"}
    assert all(os.path.isdir(d) for d in table.missing["run_dir"])
    md = table.to_markdown()
    assert "Missing from the table (4" in md and "prl-g seed 1" in md
    lines = [line for line in md.splitlines() if line.startswith("|")]
    assert len(lines) == 2 + 2 and lines[0].split("|")[1:4] == [" Dataset ", " Noise         ", " standard             "]
    assert md.count("**") == 2 * 2  # one best cell per row


@pytest.mark.parametrize("metric,pick", [("final", lambda v: v[-1]), ("best", max),
                                         ("last10", lambda v: float(np.mean(v[-10:])))])
def test_table_metric_protocols(fixture_sweep, metric, pick):
    from prl import analysis

    table = analysis.paper_table(analysis.collect(str(fixture_sweep)), metric=metric)
    per_seed = [pick([m["test_accuracy"] for m in metrics(find_job(fixture_sweep, "standard", "symmetric20", s))])
                for s in (0, 1)]
    c = table.cells.set_index(["noise", "column"]).loc[("symmetric 20%", "standard")]
    assert c["mean"] == pytest.approx(np.mean(per_seed))
    assert c["metric"] == {"final": "test_accuracy_final", "best": "test_accuracy_best",
                           "last10": "test_accuracy_last10_mean"}[metric]
    assert {"final": "after the last epoch", "best": "best epoch", "last10": "last 10 epochs"}[metric] in table.caption


def test_table_other_metric_and_errors(fixture_sweep):
    from prl import analysis

    runs = analysis.collect(str(fixture_sweep))
    table = analysis.paper_table(runs, metric="label_precision_last10_mean")
    c = table.cells.set_index(["noise", "column"]).loc[("pair-flip 45%", "standard")]
    assert c["mean"] == pytest.approx(runs.loc[(runs["column"] == "standard") & (runs["noise"] == "pair-flip 45%"),
                                               "label_precision_last10_mean"].mean())
    with pytest.raises(analysis.AnalysisError, match="unknown metric"):
        analysis.paper_table(runs, metric="median")
    with pytest.raises(analysis.AnalysisError, match="no run reports label_precision_best"):
        analysis.paper_table(runs, metric="label_precision_best")


def test_interrupted_incomplete_and_missing_seeds_are_listed(sweep_copy):
    """An interrupted run (seed 2) and a run without summary.json (seed 3) are not averaged in;
    every cell of that row then expects 4 seeds and says so."""
    from prl import analysis

    std0 = find_job(sweep_copy, "standard", "pairflip45", 0)
    extra = sweep_copy.parent / "later"
    shutil.copytree(std0, extra / "a")
    edit_summary(extra / "a", status="interrupted", seed=2, epochs_completed=1, signal="SIGTERM")
    shutil.copytree(std0, extra / "b")
    os.unlink(extra / "b" / "summary.json")
    cfg = (extra / "b" / "config.yaml").read_text().replace("\nseed: 0\n", "\nseed: 3\n")
    (extra / "b" / "config.yaml").write_text(cfg)

    runs = analysis.collect(str(sweep_copy), str(extra))
    assert dict(zip(runs["run_dir"], runs["status"]))[str(extra / "b")] == "incomplete"
    table = analysis.paper_table(runs)
    cells = table.cells.set_index(["noise", "column"])
    assert cells.loc[("pair-flip 45%", "standard"), "text"].endswith("(2/4)")
    assert cells.loc[("pair-flip 45%", "co-prl-l"), "expected"] == 4
    assert cells.loc[("symmetric 20%", "standard"), "text"].endswith("(2)")  # other row: 2 of 2
    m = table.missing.set_index(["noise", "column", "seed"])
    interrupted = m.loc[("pair-flip 45%", "standard", 2)]
    assert interrupted["status"] == "interrupted"
    assert "after 1/3 epochs" in interrupted["reason"] and "resume=" in interrupted["reason"]
    assert m.loc[("pair-flip 45%", "standard", 3), "status"] == "incomplete"
    assert m.loc[("pair-flip 45%", "co-prl-l", 2), "status"] == "no run"
    assert "resume=" in table.to_markdown()


def test_duplicates_keep_the_newest_completed_run(sweep_copy):
    from prl import analysis

    job = find_job(sweep_copy, "co-prl-l", "symmetric20", 1)
    again = sweep_copy.parent / "rerun" / "0"
    shutil.copytree(job, again)
    edit_summary(again, test_accuracy_last10_mean=99.0)
    os.utime(again / "summary.json", (time.time() + 60, time.time() + 60))
    runs = analysis.collect(str(sweep_copy), str(sweep_copy.parent / "rerun"))
    assert runs["duplicate"].sum() == 1
    assert runs.loc[runs["duplicate"], "run_dir"].item() == str(job)
    table = analysis.paper_table(runs)
    c = table.cells.set_index(["noise", "column"]).loc[("symmetric 20%", "co-prl-l")]
    other = summary(find_job(sweep_copy, "co-prl-l", "symmetric20", 0))["test_accuracy_last10_mean"]
    assert c["n"] == 2 and c["mean"] == pytest.approx((99.0 + other) / 2)
    assert any("not counted" in n for n in table.notes)


def test_different_settings_split_a_cell_instead_of_averaging(sweep_copy):
    from prl import analysis

    job = find_job(sweep_copy, "standard", "pairflip45", 1)
    cfg = (job / "config.yaml").read_text()
    assert "lr: 0.001" in cfg
    (job / "config.yaml").write_text(cfg.replace("lr: 0.001", "lr: 0.01"))
    runs = analysis.collect(str(sweep_copy))
    assert set(runs.loc[runs["algorithm"] == "standard", "column"]) == {"standard [optimizer.lr=0.001]",
                                                                       "standard [optimizer.lr=0.01]"}
    table = analysis.paper_table(runs)
    cells = table.cells.set_index(["noise", "column"])
    assert cells.loc[("pair-flip 45%", "standard [optimizer.lr=0.01]"), "n"] == 1
    assert cells.loc[("pair-flip 45%", "standard [optimizer.lr=0.001]"), "text"].endswith("(1/2)")
    assert set(runs.loc[runs["algorithm"] == "co-prl-l", "column"]) == {"co-prl-l"}


def test_jobs_that_never_started_are_listed(sweep_copy):
    from prl import analysis

    shutil.rmtree(sweep_copy / "11")
    jobs = analysis.sweep_jobs(str(sweep_copy))
    assert len(jobs) == FIXTURE_JOBS
    shutil.rmtree(sweep_copy / "10")
    table = analysis.paper_table(analysis.collect(str(sweep_copy)))
    rows = table.missing[table.missing["status"] == "not started"]
    assert rows["job"].tolist() == ["job #10 (seed=1 noise=symmetric20 algorithm=co-prl-l)",
                                    "job #11 (seed=1 noise=symmetric20 algorithm=prl-g)"]
    text = table.missing_text()
    assert "- not started (2): no directory in" in text and "    job #11 (seed=1 noise=symmetric20 algorithm=prl-g)" in text


def test_regression_rows_use_mse_lower_is_better(sweep_copy):
    from prl import analysis

    for alg, values in (("standard", (0.5, 0.7)), ("co-prl-l", (0.3, 0.4))):
        for seed, v in zip((0, 1), values):
            job = find_job(sweep_copy, alg, "symmetric20", seed)
            s = summary(job)
            for k in [k for k in s if k.startswith("test_accuracy")]:
                del s[k]
            s.update(task="regression", dataset="toy", test_mse_final=v, test_mse_best=v, test_mse_last10_mean=v)
            s["choices"]["dataset"] = "toy"
            (job / "summary.json").write_text(json.dumps(s))
    runs = analysis.collect(str(sweep_copy))
    table = analysis.paper_table(runs)
    cells = table.cells.set_index(["dataset_name", "noise", "column"])
    toy = ("toy", "symmetric 20%")
    assert cells.loc[toy + ("co-prl-l",), "best"] and not cells.loc[toy + ("standard",), "best"]
    assert cells.loc[toy + ("co-prl-l",), "text"] == "0.3500 ± 0.0707 (2)"
    assert cells.loc[toy + ("co-prl-l",), "metric"] == "test_mse_last10_mean"
    assert cells.loc[("digits", "pair-flip 45%", "co-prl-l"), "metric"] == "test_accuracy_last10_mean"
    assert "Test MSE (lower is better)" in table.caption and "higher is better" in table.caption


# ----------------------------------------------------------------------------- exports and CLI


def test_cli_prints_and_writes_everything(fixture_sweep, tmp_path, capsys):
    from prl import analysis

    out = tmp_path / "out"
    assert analysis.main([str(fixture_sweep), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "12 run(s): 8 completed, 4 failed" in printed
    assert "| Dataset | Noise" in printed and "Missing from the table (4" in printed
    names = {p.name for p in out.iterdir()}
    assert names == {"table.md", "table.tex", "table.csv", "runs.csv", "missing.csv",
                     "curves_test_accuracy.png", "curves_label_precision.png"}
    for png in ("curves_test_accuracy.png", "curves_label_precision.png"):
        data = (out / png).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    tex = (out / "table.tex").read_text()
    assert "\\toprule" in tex and "\\textbf{" in tex and "pair-flip 45\\%" in tex and "$\\pm$" in tex
    assert "% Missing from the table (4" in tex
    import pandas as pd

    cells = pd.read_csv(out / "table.csv")
    assert len(cells) == 2 * 3 and set(cells["n"]) == {0, 2}
    assert len(pd.read_csv(out / "runs.csv")) == FIXTURE_JOBS
    assert len(pd.read_csv(out / "missing.csv")) == 4
    # --strict: missing runs make the exit status 1; bad input: 2 and one line
    assert analysis.main([str(fixture_sweep), "--out", str(out), "--no-plots", "--strict"]) == 1
    assert analysis.main([str(tmp_path / "nothing-here")]) == 2
    assert "Error:" in capsys.readouterr().err


def test_cli_module_entry_point(fixture_sweep, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "prl.analysis", str(fixture_sweep), "--out", str(tmp_path),
                           "--no-plots", "--metric", "final"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "after the last epoch" in proc.stdout and (tmp_path / "table.md").is_file()


def test_latex_escaping():
    from prl.analysis import _tex

    assert _tex("a_b & 50% #1 {x} ±") == r"a\_b \& 50\% \#1 \{x\} $\pm$"


# ----------------------------------------------------------------------------- sweeps, curves, plots


def test_sweep_grid_command_line_wins():
    from prl.analysis import sweep_grid

    params = {"seed": "0,1,2", "noise": "pairflip45,symmetric20", "algorithm": "standard,prl-l"}
    jobs = sweep_grid(params, ["algorithm=co-prl-l", "trainer.epochs=2"])
    assert len(jobs) == 3 * 2
    assert jobs[0] == ["seed=0", "noise=pairflip45", "algorithm=co-prl-l", "trainer.epochs=2"]
    assert [j[0] for j in jobs] == ["seed=0", "seed=0", "seed=1", "seed=1", "seed=2", "seed=2"]  # seed slowest


def test_curves_and_plots(fixture_sweep):
    from matplotlib.figure import Figure

    from prl import analysis

    runs = analysis.collect(str(fixture_sweep))
    c = analysis.curves(runs)
    assert len(c) == 8 * 3 and set(c["epoch"]) == {1, 2, 3}
    assert set(c["column"]) == {"standard", "co-prl-l"}  # failed runs have no curve
    fig = analysis.plot_curves(c, "test")
    assert isinstance(fig, Figure)
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in axes] == ["digits, pair-flip 45%", "digits, symmetric 20%"]
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == ["standard", "co-prl-l"]
    line = axes[0].get_lines()[0]  # standard, pair-flip 45%: the mean over the two seeds per epoch
    per_seed = [[m["test_accuracy"] for m in metrics(find_job(fixture_sweep, "standard", "pairflip45", s))]
                for s in (0, 1)]
    np.testing.assert_allclose(line.get_ydata(), np.mean(per_seed, axis=0))
    fig = analysis.plot_curves(c, "label_precision")
    assert "every sample kept" in [t.get_text() for t in fig.legends[0].get_texts()]
    with pytest.raises(analysis.AnalysisError, match="no per-epoch"):
        analysis.plot_curves(c, "accuracy")


def test_latest_sweep(fixture_sweep, tmp_path):
    from prl import analysis

    for i, name in enumerate(["b/old", "a/new"]):
        (tmp_path / name / "wandb").mkdir(parents=True)
        shutil.copy(fixture_sweep / "multirun.yaml", tmp_path / name)
        os.utime(tmp_path / name / "multirun.yaml", (1e9 + i, 1e9 + i))
    assert analysis.latest_sweep(str(tmp_path)) == str(tmp_path / "a" / "new")
    with pytest.raises(analysis.AnalysisError, match="no sweep"):
        analysis.latest_sweep(str(tmp_path / "b" / "old" / "wandb"))


def test_single_run_helpers(fixture_sweep):
    from matplotlib.figure import Figure

    from prl import analysis

    job = find_job(fixture_sweep, "co-prl-l", "pairflip45", 0)
    s = analysis.run_summary(str(job))
    assert s["status"] == "completed" and s["noise.type"] == "pairflip" and s["choices.algorithm"] == "co-prl-l"
    assert len(analysis.run_metrics(str(job))) == 3
    assert isinstance(analysis.plot_run(str(job)), Figure)
    t = analysis.noise_transition(str(job))
    assert t.shape == (10, 10)
    np.testing.assert_allclose(t.sum(axis=1), 1.0)
    off = t.to_numpy() * (1 - np.eye(10))
    flips = np.roll(np.eye(10), 1, axis=1).astype(bool)  # pair-flip: i -> i + 1 (mod 10) only
    assert off[~flips].sum() == 0
    assert np.all(np.abs(t.to_numpy()[flips] - 0.45) < 0.15)
    assert isinstance(analysis.plot_transition(t), Figure)
    failed = find_job(fixture_sweep, "prl-g", "pairflip45", 0)
    with pytest.raises(analysis.AnalysisError, match="no metrics"):
        analysis.plot_run(str(failed))
