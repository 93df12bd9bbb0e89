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
