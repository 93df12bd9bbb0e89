"""prl.analysis.sweeps: the jobs a sweep was supposed to run (Hydra's basic-sweeper expansion,
through Hydra's public override parser only) and the ones that never started."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml

from ..conftest import FIXTURE_JOBS, ROOT


def job_overrides(job: Path) -> list[str]:
    """The overrides a job ran with, as its own ``.hydra/overrides.yaml`` records them."""
    return yaml.safe_load((job / ".hydra" / "overrides.yaml").read_text())


# ----------------------------------------------------------------------------- the grid


def test_sweep_grid_command_line_wins():
    from prl.analysis import sweep_grid

    params = {"seed": "0,1,2", "noise": "pairflip45,symmetric20", "algorithm": "standard,prl-l"}
    jobs = sweep_grid(params, ["algorithm=co-prl-l", "trainer.epochs=2"])
    assert len(jobs) == 3 * 2
    assert jobs[0] == ["seed=0", "noise=pairflip45", "algorithm=co-prl-l", "trainer.epochs=2"]
    assert [j[0] for j in jobs] == ["seed=0", "seed=0", "seed=1", "seed=1", "seed=2", "seed=2"]  # seed slowest


def test_sweep_grid_expands_in_hydras_order():
    """Preset keys first, then the command line; a key given again keeps its first position
    and takes the last value; comma lists, range() and choice() are axes; the first key is
    the slowest axis; values keep Hydra's spelling (quotes, lists, +/~/++ prefixes, @package)."""
    from prl.analysis import sweep_grid

    params = {"seed": "0,1", "noise": "pairflip45,symmetric50", "algorithm": "standard,prl-l"}
    jobs = sweep_grid(params, ["noise=symmetric20", "trainer.epochs=range(2,4)", "model=cnn-small"])
    assert jobs == [["seed=0", "noise=symmetric20", "algorithm=standard", "trainer.epochs=2", "model=cnn-small"],
                    ["seed=0", "noise=symmetric20", "algorithm=standard", "trainer.epochs=3", "model=cnn-small"],
                    ["seed=0", "noise=symmetric20", "algorithm=prl-l", "trainer.epochs=2", "model=cnn-small"],
                    ["seed=0", "noise=symmetric20", "algorithm=prl-l", "trainer.epochs=3", "model=cnn-small"],
                    ["seed=1", "noise=symmetric20", "algorithm=standard", "trainer.epochs=2", "model=cnn-small"],
                    ["seed=1", "noise=symmetric20", "algorithm=standard", "trainer.epochs=3", "model=cnn-small"],
                    ["seed=1", "noise=symmetric20", "algorithm=prl-l", "trainer.epochs=2", "model=cnn-small"],
                    ["seed=1", "noise=symmetric20", "algorithm=prl-l", "trainer.epochs=3", "model=cnn-small"]]
    jobs = sweep_grid(None, ["+tag='a b'", "~logger", "++x=choice(1,2)", "model@net=a", "l=[1,2]", "f=range(0,1,0.5)"])
    assert jobs == [["+tag='a b'", "~logger=null", "++x=1", "model@net=a", "l=[1,2]", "f=0.0"],
                    ["+tag='a b'", "~logger=null", "++x=1", "model@net=a", "l=[1,2]", "f=0.5"],
                    ["+tag='a b'", "~logger=null", "++x=2", "model@net=a", "l=[1,2]", "f=0.0"],
                    ["+tag='a b'", "~logger=null", "++x=2", "model@net=a", "l=[1,2]", "f=0.5"]]
    assert sweep_grid({"seed": 0}) == [["seed=0"]] and sweep_grid(None) == [[]]
    from hydra.errors import HydraException

    with pytest.raises(HydraException, match="does not support sweep type : INTERVAL_SWEEP"):
        sweep_grid(None, ["optimizer.lr=interval(0.001,0.1)"])


def test_sweep_grid_matches_hydras_basic_sweeper():
    """The same jobs as Hydra's own (private) BasicSweeper.split_arguments, when it is there."""
    basic_sweeper = pytest.importorskip("hydra._internal.core_plugins.basic_sweeper")
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from prl.analysis import sweep_grid

    cases = [({"seed": "0,1,2", "noise": "pairflip45,symmetric20", "algorithm": "standard,prl-l"},
              ["algorithm=co-prl-l,prl-g", "trainer.epochs=2", "seed=range(3)"]),
             ({"seed": "range(0,3)", "x": "1"}, ["+foo=a,b", "~bar", "noise.rate=0.1,0.2", "model@m=x,y", "s='a b',c",
                                                "l=[1,2]", "d={a:1}", "q=null"])]
    for params, overrides in cases:
        args = [f"{k}={v}" for k, v in params.items()] + overrides
        expected = basic_sweeper.BasicSweeper.split_arguments(OverridesParser.create().parse_overrides(args), None)[0]
        assert sweep_grid(params, overrides) == expected


def test_the_analysis_uses_no_private_hydra_api():
    for path in (ROOT / "prl" / "analysis").glob("*.py"):
        assert "hydra._internal" not in path.read_text(), path


# ----------------------------------------------------------------------------- a real sweep


def test_sweep_jobs_are_the_jobs_hydra_ran(fixture_sweep):
    """Job i of the expansion is what job directory i ran with (its own .hydra/ record)."""
    from prl import analysis

    jobs = analysis.sweep_jobs(str(fixture_sweep))
    dirs = sorted((p for p in fixture_sweep.iterdir() if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name))
    assert len(jobs) == len(dirs) == FIXTURE_JOBS
    for job in dirs:
        assert jobs[int(job.name)] == job_overrides(job), job
        hydra_cfg = yaml.safe_load((job / ".hydra" / "hydra.yaml").read_text())["hydra"]
        assert hydra_cfg["job"]["num"] == int(job.name)
    assert [j[:3] for j in jobs[:3]] == [["seed=0", "noise=pairflip45", "algorithm=standard"],
                                         ["seed=0", "noise=pairflip45", "algorithm=co-prl-l"],
                                         ["seed=0", "noise=pairflip45", "algorithm=prl-g"]]


def test_sweep_jobs_unknown(fixture_sweep, tmp_path):
    from prl import analysis

    assert analysis.sweep_jobs(str(tmp_path)) is None  # no multirun.yaml
    other = (fixture_sweep / "multirun.yaml").read_text().replace("basic_sweeper.BasicSweeper", "optuna.Sweeper")
    (tmp_path / "multirun.yaml").write_text(other)
    assert analysis.sweep_jobs(str(tmp_path)) is None  # another sweeper


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


def test_a_job_missing_from_disk_is_listed_with_its_overrides(sweep_copy):
    """Job 4 has no directory; job 7's directory is empty (Hydra made it, the job was killed
    before it wrote its .hydra/ record): both are 'not started', described by the overrides they
    would have run with, and no other job is."""
    from prl import analysis

    expected = {}
    for i in (4, 7):
        varying = [o for o in job_overrides(sweep_copy / str(i)) if o.split("=")[0] in ("seed", "noise", "algorithm")]
        expected[i] = f"job #{i} ({' '.join(varying)})"
    shutil.rmtree(sweep_copy / "4")
    shutil.rmtree(sweep_copy / "7")
    os.mkdir(sweep_copy / "7")
    runs = analysis.collect(str(sweep_copy))
    assert len(runs) == FIXTURE_JOBS - 2 and sorted(runs["job"]) == [j for j in range(FIXTURE_JOBS) if j not in (4, 7)]
    table = analysis.paper_table(runs)
    rows = table.missing[table.missing["status"] == "not started"]
    assert rows["job"].tolist() == [expected[4], expected[7]]
    assert expected[4] == "job #4 (seed=0 noise=symmetric20 algorithm=co-prl-l)"
    from prl.analysis.common import short_path  # the path as the message shows it (relative from a nearby cwd)

    assert set(rows["reason"].str.replace(short_path(str(sweep_copy)), "SWEEP", regex=False)) == \
        {"no directory in SWEEP (queued, or the sweep was stopped)"}


def test_latest_sweep(fixture_sweep, tmp_path):
    from prl import analysis

    for i, name in enumerate(["b/old", "a/new"]):
        (tmp_path / name / "wandb").mkdir(parents=True)
        shutil.copy(fixture_sweep / "multirun.yaml", tmp_path / name)
        os.utime(tmp_path / name / "multirun.yaml", (1e9 + i, 1e9 + i))
    assert analysis.latest_sweep(str(tmp_path)) == str(tmp_path / "a" / "new")
    with pytest.raises(analysis.AnalysisError, match="no sweep"):
        analysis.latest_sweep(str(tmp_path / "b" / "old" / "wandb"))
