"""prl.analysis.runs: finding run directories and reading them into the tidy per-run frame."""

from __future__ import annotations

from pathlib import Path

import pytest

from ..conftest import FIXTURE_JOBS, summary


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
