"""The project workspace: init, seeds add (file:line errors, nothing written), the split."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from slm_distill.tools.cli.commands import main
from slm_distill.tools.errors import InputFileError, UsageError
from slm_distill.tools.workspace.project import (
    CONFIG_FILE,
    Project,
    Seed,
    add_seeds,
    init_project,
    split_seeds,
)
from tests.conftest import EXAMPLE, EXAMPLE_TEACHER


def test_init_from_schema_writes_documented_defaults(tmp_path):
    project = init_project(tmp_path / "p", schema=EXAMPLE / "schema.sql", teacher=EXAMPLE_TEACHER)
    data = yaml.safe_load((tmp_path / "p" / CONFIG_FILE).read_text())
    assert data["task"]["name"] == "text2sql" and data["task"]["db"] == "database.duckdb"
    assert data["gate"]["threshold"] == 0.8
    t = data["training"]
    assert (t["learning_rate"], t["lora_r"], t["lora_alpha"], t["lora_dropout"]) == (
        "auto", 16, 32, 0.05)
    # the method's LoRA rate for a pretrained student; a scratch one learns nothing at it
    resolved = project.config.training.resolved("Qwen/Qwen2.5-0.5B-Instruct")
    assert (resolved.method, resolved.learning_rate, resolved.loss_vocab) == ("lora", 2e-5, "full")
    scratch = project.config.training.resolved("scratch:small")
    assert (scratch.method, scratch.learning_rate, scratch.loss_vocab) == ("full", 2e-3, "answers")
    assert t["lora_target_modules"] == ["q_proj", "k_proj", "v_proj", "o_proj"]
    assert (t["warmup_ratio"], t["lr_scheduler"], t["weight_decay"]) == (0.05, "cosine", 0.01)
    assert (t["batch_size"], t["gradient_accumulation_steps"], t["epochs"]) == (8, "auto", "auto")
    assert (resolved.gradient_accumulation_steps, resolved.epochs) == (4, 3)  # the method's
    assert data["generation"]["n_pairs"] == 1000
    assert "artists" in project.task().schema
    assert Project.load(tmp_path / "p").config == project.config


def test_init_with_existing_db(tmp_path, music_db):
    project = init_project(tmp_path / "p", db=music_db, teacher=EXAMPLE_TEACHER)
    assert project.db_path == music_db.resolve()


def test_bad_init_writes_nothing(tmp_path):
    bad_sql = tmp_path / "bad.sql"
    bad_sql.write_text("CREATE TABLE t (a INT);\nINSERT INTO nowhere VALUES (1);\n")
    for kwargs in ({"schema": bad_sql}, {"db": tmp_path / "missing.duckdb"},
                   {"schema": EXAMPLE / "schema.sql", "teacher": "nope:x"}, {}):
        with pytest.raises(UsageError):
            init_project(tmp_path / "p", **kwargs)
        assert not (tmp_path / "p").exists()


def test_seeds_add_reports_file_line_and_writes_nothing(example_project, tmp_path):
    before = example_project.seeds_path.read_bytes()
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join([
        json.dumps({"input": "How many artists are there?", "output": "SELECT count(*) FROM artists"}),
        "{not json",
        json.dumps({"input": "Q", "output": "SELECT nope FROM artists"}),
        json.dumps({"input": "", "output": "SELECT 1"}),
        json.dumps({"input": "Q2", "output": "SELECT 1", "extra": 1}),
        "",
        json.dumps({"question": "Q3"}),
    ]) + "\n")
    with pytest.raises(InputFileError) as info:
        add_seeds(example_project, bad)
    text = str(info.value)
    assert f"{bad}:2: not valid JSON" in text
    assert f"{bad}:4: input" in text and f"{bad}:5: extra" in text and f"{bad}:7:" in text
    assert example_project.seeds_path.read_bytes() == before


def test_seeds_add_checks_outputs_with_the_task(example_project, tmp_path):
    before = example_project.seeds_path.read_bytes()
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"input": "new q", "output": "SELECT nope FROM artists"}) + "\n"
                   + json.dumps({"input": "other q", "output": "DROP TABLE artists"}) + "\n")
    with pytest.raises(InputFileError) as info:
        add_seeds(example_project, bad)
    assert f"{bad}:1: output is not valid: table artists has no column nope" in str(info.value)
    assert f"{bad}:2: output is not valid" in str(info.value)
    assert example_project.seeds_path.read_bytes() == before


def test_seeds_add_cli_exit_codes(example_project, tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{oops\n")
    with pytest.raises(SystemExit) as info:
        main(["seeds", "add", str(bad), "--project", str(example_project.root)])
    assert info.value.code == 2
    assert f"{bad}:1: not valid JSON" in capsys.readouterr().err


def _seeds(counts: dict[str, int]) -> list[Seed]:
    return [Seed(input=f"{d} question {i}", output="SELECT 1", metadata={"difficulty": d})
            for d, n in counts.items() for i in range(n)]


def test_split_is_deterministic_and_stratified():
    seeds = _seeds({"easy": 30, "medium": 30, "hard": 20})
    validation, test = split_seeds(seeds, 0.2, 0)
    assert [s.id for s in validation] == [s.id for s in split_seeds(list(seeds), 0.2, 0)[0]]
    assert [s.id for s in split_seeds(list(reversed(seeds)), 0.2, 0)[0]] == \
        [s.id for s in reversed(validation)]
    by = {d: sum(1 for s in validation if s.difficulty == d) for d in ("easy", "medium", "hard")}
    assert by == {"easy": 6, "medium": 6, "hard": 4}
    assert len(test) == 64 and not {s.id for s in validation} & {s.id for s in test}
    other, _ = split_seeds(seeds, 0.2, 1)
    assert {s.id for s in other} != {s.id for s in validation}


def test_split_keeps_one_of_each_small_group():
    validation, _ = split_seeds(_seeds({"easy": 2, "hard": 3}), 0.2, 0)
    assert sorted(s.difficulty for s in validation) == ["easy", "hard"]


def test_missing_project_says_what_to_do(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["status", "--project", str(tmp_path)])
    assert info.value.code == 2
    assert "distill init" in capsys.readouterr().err


def test_help_does_not_import_torch():
    import subprocess
    import sys

    code = ("import sys; from slm_distill.tools.cli.commands import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "assert 'torch' not in sys.modules, 'torch imported'\n"
            "for cmd in ('init', 'generate', 'validate-teacher', 'demo', 'status'):\n"
            "    main([cmd, '--help'])\n"
            "assert 'torch' not in sys.modules and 'transformers' not in sys.modules\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "Usage: distill" in done.stdout


def test_python_m_runs_the_cli():
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "slm_distill", "--version"], capture_output=True,
                          text=True, cwd=Path(__file__).parent)
    assert done.returncode == 0 and "0.1.0" in done.stdout
