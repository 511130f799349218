"""`distill demo` (what `make demo` runs) completes offline and prints the gate and the report."""

from __future__ import annotations

import pytest
from slm_distill.tools.cli import main


@pytest.mark.slow
def test_demo_runs_end_to_end_offline(tmp_path, capsys):
    main(["demo", "--dir", str(tmp_path / "demo"), "--n", "120"])
    out = capsys.readouterr().out
    assert "Teacher gate PASSED" in out and "not an LLM" in out
    assert "Kept 120/120 pairs (108 train, 12 validation)" in out
    for part in ("rejected:", "duplicates dropped:", "leakage drops:", "difficulty:", "features:"):
        assert part in out
    assert (tmp_path / "demo" / "data" / "hf" / "train.parquet").is_file()
    assert (tmp_path / "demo" / "reports" / "generation.md").is_file()
    # a rerun reuses the project and pays for nothing
    main(["demo", "--dir", str(tmp_path / "demo"), "--n", "120"])
    again = capsys.readouterr().out
    assert "Reusing the demo project" in again and "0 new calls" in again
