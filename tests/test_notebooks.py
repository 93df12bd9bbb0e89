"""The notebooks in analysis/ hold no logic of their own (only calls into prl.analysis); they are
committed executed on the committed results (analysis/results/), so a reader sees the tables and
plots on the repository page, and the tests re-execute them there and on the fixture sweep."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import find_job

ANALYSIS = Path(__file__).resolve().parents[1] / "analysis"
NOTEBOOKS = sorted(ANALYSIS.glob("*.ipynb"))
COMMITTED = ANALYSIS / "results" / "fmnist-auto"


def code_cells(path: Path) -> list:
    import nbformat

    return [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


def test_there_are_notebooks():
    assert {p.name for p in NOTEBOOKS} >= {"sweep.ipynb", "run.ipynb"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_thin_and_saved_executed_on_the_committed_results(path):
    cells = code_cells(path)
    assert all(c.outputs for c in cells), f"{path.name}: saved without outputs (execute it on the committed results)"
    assert not [o for c in cells for o in c.outputs if o.output_type == "error"], f"{path.name}: saved with an error"
    assert "results/fmnist-auto" in "".join(o.get("text", "") for o in cells[0].outputs)
    for cell in cells:
        src = cell.source
        for word in ("def ", "class ", "lambda", "for ", "while ", "import pandas", "import numpy", "matplotlib.pyplot"):
            assert word not in src, f"{path.name}: {word!r} belongs in prl/analysis/, not in a notebook"


def _execute(path: Path):
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(ANALYSIS)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"], [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    text = "\n".join(o.get("data", {}).get("text/markdown", "") + o.get("data", {}).get("text/plain", "")
                     + o.get("data", {}).get("text/html", "") + o.get("text", "") for o in outputs)
    return len(images), text


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes_on_the_committed_results(path, monkeypatch):
    for var in ("PRL_RUNS", "PRL_RUN", "PRL_RESULTS"):
        monkeypatch.delenv(var, raising=False)
    images, text = _execute(path)
    if path.stem == "sweep":  # table, estimate table, suspect ranking; test and precision curves, the estimates
        assert images == 3 and "auto/co-prl-l" in text and "[0.448]" in text and "cleanlab_auroc" in text
    else:  # plot_run of the picked run; the transition matrix needs the run directory
        assert images == 1 and "auto/co-prl-l" in text and "needs the run directory" in text


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes_on_the_fixture_sweep(path, fixture_sweep, monkeypatch, tmp_path):
    run = find_job(fixture_sweep, "co-prl-l", "pairflip45", 0)
    monkeypatch.setenv("PRL_RUNS", str(fixture_sweep))
    monkeypatch.setenv("PRL_RUN", str(run))
    images, text = _execute(path)
    assert images == 2, f"{path.name}: expected two figures"
    if path.stem == "sweep":
        assert "| Dataset | Noise" in text and "co-prl-l" in text and "Missing from the table (4" in text
        assert (fixture_sweep / "analysis" / "table.md").is_file()
    else:
        assert str(run) in text and "pairflip" in text
