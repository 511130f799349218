"""`distill demo` (what `make demo` runs) completes offline, through training and GGUF export."""

from __future__ import annotations

import pytest

from slm_distill.tools.cli import main


@pytest.mark.slow
@pytest.mark.budget(1800)  # about 5 minutes on two idle cores; it once took over 10 on a busy one
def test_demo_runs_end_to_end_offline(tmp_path, capsys):
    args = ["demo", "--dir", str(tmp_path / "demo"), "--n", "120", "--student", "scratch:tiny",
            "--steps", "6"]
    main(args)
    out = capsys.readouterr().out
    assert "Teacher gate PASSED" in out and "not an LLM" in out
    assert "Kept 120/120 pairs (108 train, 12 validation)" in out
    for part in ("rejected:", "duplicates dropped:", "leakage drops:", "difficulty:", "table:",
                 "SQL feature:"):
        assert part in out
    assert "Trained 6 steps" in out
    for row in ("base ", "student ", "teacher "):
        assert f"  {row}" in out
    assert "GGUF parity on the test split" in out
    for quant in ("f16", "q8_0", "q4_k_m", "q4_0"):
        assert f"  {quant} " in out
    root = tmp_path / "demo"
    for path in ("data/hf/train.parquet", "reports/generation.md", "reports/eval.md",
                 "reports/eval.png", "reports/export.md", "runs/student/training.png",
                 "exports/Modelfile", "exports/README.md"):
        assert (root / path).is_file(), path
