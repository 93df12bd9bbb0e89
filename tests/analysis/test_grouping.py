"""prl.analysis.grouping: duplicates and settings that split a cell, on edited copies of the
fixture sweep."""

from __future__ import annotations

import os
import shutil
import time

import pytest

from ..conftest import find_job, summary
from .conftest import edit_summary


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


def test_runs_without_a_noise_rate_group_together():
    """A label file has no noise rate (NaN); pandas 3 keeps NaN through astype(str), which broke
    the grouping of a sweep of label-file runs (TypeError in collect)."""
    import numpy as np
    import pandas as pd

    from prl.analysis.grouping import _variant_labels

    df = pd.DataFrame({"dataset": ["fashion-mnist"] * 2, "noise_type": ["labelfile"] * 2,
                       "noise_rate": [np.nan, np.nan], "cfg.model.width": [8, 16]})
    labels = _variant_labels(df, ["dataset", "noise_type", "noise_rate"], ["cfg.model.width"])
    assert list(labels) == ["model.width=8", "model.width=16"]
