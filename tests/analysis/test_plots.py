"""prl.analysis.plots: curves over epochs, the table's plots and the one-run helpers."""

from __future__ import annotations

import numpy as np
import pytest

from ..conftest import find_job
from .conftest import metrics


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


def test_the_epsilon_auto_views_on_committed_results():
    """plot_estimates draws, per panel, the mean over seeds of each per-epoch fraction of every
    epsilon=auto column and the realised fraction; compare_metrics puts metrics side by side;
    pick_run finds one run; each refuses what is not there."""
    from prl import analysis
    from prl.analysis.results import load_results

    from ..test_notebooks import COMMITTED

    runs, epochs = load_results(str(COMMITTED))
    auto = analysis.with_estimates(runs)
    assert set(auto["column"]) == {"auto/prl-l", "auto/co-prl-l"} and len(analysis.with_estimates(epochs))
    fig = analysis.plot_estimates(epochs)
    panels = [ax for ax in fig.axes if ax.get_visible()]
    pf = next(ax for ax in panels if "pair-flip 45%" in ax.get_title())
    part = epochs[(epochs["noise"] == "pair-flip 45%") & (epochs["column"] == "auto/prl-l")]
    expected = part.groupby("epoch")["epsilon_estimate"].mean().to_numpy()
    ys = [np.asarray(line.get_ydata(), dtype=float) for line in pf.get_lines()]
    assert any(y.shape == expected.shape and np.allclose(y, expected) for y in ys)
    realised = part["noise_rate_realised"].mean()
    assert any(y.shape == (2,) and np.allclose(y, realised) for y in ys)  # axhline
    with pytest.raises(analysis.AnalysisError, match="no column nope"):
        analysis.plot_estimates(epochs, columns=["nope"])
    with pytest.raises(analysis.AnalysisError, match="no epsilon=auto run"):
        analysis.plot_estimates(epochs[epochs["column"] == "co-prl-l"])
    side = analysis.compare_metrics(runs, ["suspect_auroc", "cleanlab_auroc"], decimals=3)
    row = side.loc[("Fashion-MNIST", "symmetric 50%", "auto/co-prl-l")]
    cells = runs[(runs["noise"] == "symmetric 50%") & (runs["column"] == "auto/co-prl-l")]
    assert row["suspect_auroc"].startswith(f"{cells['suspect_auroc'].mean():.3f} ± ")
    with pytest.raises(analysis.AnalysisError, match="no run reports"):
        analysis.compare_metrics(runs, ["not_a_metric"])
    one = analysis.pick_run(runs, column="auto/co-prl-l", noise="pair-flip 45%", seed=1)
    assert (one["column"], one["noise"], one["seed"]) == ("auto/co-prl-l", "pair-flip 45%", 1)
    with pytest.raises(analysis.AnalysisError, match="no column colour"):
        analysis.pick_run(runs, colour="red")


def test_plot_run_shows_the_realised_fraction_even_above_the_estimates():
    """axhline does not take part in autoscaling: in run.ipynb's run (auto/co-prl-l, pair-flip
    45%, seed 0) the realised 0.448 sat on the top edge of the axis, under the frame and the legend."""
    from prl import analysis
    from prl.analysis.results import load_results

    from ..test_notebooks import COMMITTED

    runs, epochs = load_results(str(COMMITTED))
    one = analysis.pick_run(runs, column="auto/co-prl-l", noise="pair-flip 45%", seed=0)
    fig = analysis.plot_run(epochs[epochs["run_dir"] == one["run_dir"]])
    assert fig.axes[-1].get_ylim()[1] >= 1.15 * one["noise_rate_realised"]  # inside, clear of the frame
