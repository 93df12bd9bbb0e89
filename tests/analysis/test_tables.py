"""prl.analysis.tables (and .metrics): the paper-style table on the fixture sweep and on edited
copies of it."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

from ..conftest import find_job, summary
from .conftest import edit_summary, metrics


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


def test_latex_escaping():
    from prl.analysis.tables import _tex

    assert _tex("a_b & 50% #1 {x} ±") == r"a\_b \& 50\% \#1 \{x\} $\pm$"


def test_exported_results_give_the_same_table(fixture_sweep, tmp_path):
    """The committed form of a sweep (runs.csv, curves.csv.gz) tabulates and plots like the sweep."""
    from prl import analysis

    files = analysis.export_results([str(fixture_sweep)], str(tmp_path / "results"))
    assert [os.path.basename(f) for f in files] == ["runs.csv", "curves.csv.gz"]
    runs, curves = analysis.load_results(str(tmp_path / "results"))
    assert not runs["run_dir"].str.startswith("/").any()  # no machine paths in committed files
    live = analysis.paper_table(analysis.collect(str(fixture_sweep)))
    assert analysis.paper_table(runs).to_markdown(missing=False) == live.to_markdown(missing=False)
    assert len(curves) == len(analysis.curves(analysis.collect(str(fixture_sweep))))
    analysis.plot_curves(curves, "test")


def test_runs_of_a_noise_without_a_seed_are_one_replicate_per_seed(fixture_sweep):
    """Label-file runs have no noise seed (NaN): the table must expect one run per seed, not one
    per run (it listed every run again as 'no run of this seed' and showed (3/6))."""
    import numpy as np

    from prl import analysis

    runs = analysis.collect(str(fixture_sweep))
    before = analysis.paper_table(runs)
    after = analysis.paper_table(runs.assign(noise_seed=np.nan))
    assert list(after.cells["text"]) == list(before.cells["text"])
    assert len(after.missing) == len(before.missing)
