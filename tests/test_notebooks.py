"""The notebooks in analysis/ run headless (nbclient) on the fixture sweep, and hold no logic of
their own: only calls into prl.analysis, saved without outputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import find_job

ANALYSIS = Path(__file__).resolve().parents[1] / "analysis"
NOTEBOOKS = sorted(ANALYSIS.glob("*.ipynb"))


def code_cells(path: Path) -> list:
    import nbformat

    return [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


def test_there_are_notebooks():
    assert {p.name for p in NOTEBOOKS} >= {"sweep.ipynb", "run.ipynb"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_thin_and_clean(path):
    for cell in code_cells(path):
        src = cell.source
        assert not cell.outputs and cell.execution_count is None, f"{path.name}: saved with outputs"
        for word in ("def ", "class ", "lambda", "for ", "while ", "import pandas", "import numpy", "matplotlib.pyplot"):
            assert word not in src, f"{path.name}: {word!r} belongs in prl/analysis/, not in a notebook"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes_on_the_fixture_sweep(path, fixture_sweep, monkeypatch, tmp_path):
    import nbformat
    from nbclient import NotebookClient

    run = find_job(fixture_sweep, "co-prl-l", "pairflip45", 0)
    monkeypatch.setenv("PRL_RUNS", str(fixture_sweep))
    monkeypatch.setenv("PRL_RUN", str(run))
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(ANALYSIS)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == 2, f"{path.name}: expected two figures"
    text = "\n".join(o.get("data", {}).get("text/markdown", "") + o.get("data", {}).get("text/plain", "")
                     + o.get("text", "") for o in outputs)
    if path.stem == "sweep":
        assert "| Dataset | Noise" in text and "co-prl-l" in text and "Missing from the table (4" in text
        assert (fixture_sweep / "analysis" / "table.md").is_file()
    else:
        assert str(run) in text and "pairflip" in text
