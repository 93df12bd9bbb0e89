"""prl.analysis.cli and .report: ``python -m prl.analysis DIR`` prints the table and writes
every output, with the documented exit codes."""

from __future__ import annotations

import subprocess
import sys

from ..conftest import FIXTURE_JOBS, ROOT


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


def test_cli_export_writes_tidy_results_that_load_back(fixture_sweep, tmp_path, capsys):
    from prl import analysis

    assert analysis.main([str(fixture_sweep), "--out", str(tmp_path / "out"), "--no-plots",
                          "--export", str(tmp_path / "tidy")]) == 0
    assert "Exported" in capsys.readouterr().out
    runs, curves = analysis.load_results(str(tmp_path / "tidy"))
    assert len(runs) == 12 and len(curves) == 8 * 3
    assert analysis.paper_table(runs).cells["n"].sum() == 8
