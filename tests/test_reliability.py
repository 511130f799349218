"""Findings of a careless and hostile user (issue 9), each fixed and kept fixed: seeds that change
under existing pairs, a failed teacher switch, code in the project folder, tracebacks for bad input."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mcp import Client

from slm_distill.server.app import build_server
from slm_distill.tools import stages
from slm_distill.tools.cli import main
from slm_distill.tools.errors import GateError, UsageError
from slm_distill.tools.requests import AddSeedsRequest, ExportRequest, GenerateRequest
from slm_distill.tools.workspace.fileio import read_jsonl_dicts
from tests.conftest import EXAMPLE, REPO


@pytest.fixture
def generated(example_project):
    from slm_distill.tools.generate_pairs import generate_pairs
    from slm_distill.tools.validate_teacher import validate_teacher

    validate_teacher(example_project)
    generate_pairs(example_project, n=60)
    return example_project


def _leaky_seeds(project, path: Path, count: int) -> Path:
    """New seeds copied from kept training pairs: once added, some land in the test split."""
    pairs = read_jsonl_dicts(project.path("data", "train.jsonl"))[:count]
    path.write_text("".join(json.dumps({"input": p["input"], "output": p["output"],
                                        "metadata": {"difficulty": "easy"}}) + "\n" for p in pairs))
    return path


def test_seeds_cannot_change_under_existing_pairs(generated, tmp_path):
    seeds_before = generated.seeds_path.read_text()
    more = _leaky_seeds(generated, tmp_path / "more.jsonl", 20)
    with pytest.raises(UsageError, match="Pairs were already generated") as refused:
        stages.add_seeds(generated, AddSeedsRequest(seeds_file=str(more)))
    assert "--resplit" in str(refused.value)
    assert generated.seeds_path.read_text() == seeds_before


def test_resplit_rechecks_every_pair_against_the_new_test_split(generated, tmp_path):
    more = _leaky_seeds(generated, tmp_path / "more.jsonl", 20)
    added = stages.add_seeds(generated, AddSeedsRequest(seeds_file=str(more), resplit=True))
    assert added.added == 20 and added.pairs_dropped > 0
    _, test = generated.split()
    test_inputs = {s.input for s in test}
    for name in ("pairs.jsonl", "train.jsonl", "val.jsonl"):
        rows = read_jsonl_dicts(generated.path("data", name))
        assert not {r["input"] for r in rows} & test_inputs, name
    rejected = read_jsonl_dicts(generated.path("data", "rejected.jsonl"))
    assert sum("after the seeds" in r["reason"] for r in rejected) == added.pairs_dropped
    with pytest.raises(GateError, match="seeds or their split changed"):  # validate again first
        from slm_distill.tools.validate_teacher import check_gate

        check_gate(generated)


def test_a_forced_split_change_rechecks_the_pairs_too(generated):
    change = stages.set_config(generated, stages.ConfigSetRequest(key="split.seed", value=7,
                                                                  force=True))
    assert any("checked against the new test split" in n for n in change.notes)
    _, test = generated.split()
    kept = {r["input"] for r in read_jsonl_dicts(generated.path("data", "pairs.jsonl"))}
    assert not kept & {s.input for s in test}


def test_a_teacher_that_fails_to_validate_is_not_adopted(example_project, capsys):
    from slm_distill.tools.validate_teacher import validate_teacher

    validate_teacher(example_project)
    before = example_project.path("distill.yaml").read_text()
    for spec in ("anthropic:claude-sonnet-4-5", "llama-cpp:/nowhere/teacher.gguf",
                 "python:no_such_module:TEACHER"):
        with pytest.raises(SystemExit) as failed:
            main(["validate-teacher", "--teacher", spec, "--project", str(example_project.root)])
        assert failed.value.code == 2, spec
        assert "Traceback" not in capsys.readouterr().err
        assert example_project.path("distill.yaml").read_text() == before, spec


def test_job_workers_ignore_modules_in_the_project_folder(generated, monkeypatch):
    """A `random.py` in the project (or the job's) folder must not shadow the standard library."""
    from slm_distill.tools.workspace.jobs import job_status, start_job

    marker = generated.root / "shadowed"
    code = f"open({str(marker)!r}, 'w').write('ran')\nraise SystemExit('shadowed')\n"
    (generated.root / "random.py").write_text(code)
    generated.path("jobs").mkdir(exist_ok=True)
    monkeypatch.chdir(generated.root)
    job = start_job(generated, "export", ExportRequest())  # fails fast: no trained student
    deadline = time.monotonic() + 60
    while job_status(generated, job.id).status in ("queued", "running"):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert not marker.exists()
    log = generated.path("jobs", job.id, "log").read_text()
    assert "shadowed" not in log


@pytest.mark.parametrize("content", [b"\xff\xfe\x00binary", b'{"input": "q", "output": "\xff"}\n'])
def test_undecodable_seeds_are_a_message(example_project, tmp_path, content, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(content)
    with pytest.raises(SystemExit) as refused:
        main(["seeds", "add", str(bad), "--project", str(example_project.root)])
    err = capsys.readouterr().err
    assert refused.value.code == 2 and "UTF-8" in err and "Traceback" not in err


def test_an_undecodable_config_is_a_message(example_project, capsys):
    example_project.path("distill.yaml").write_bytes(b"name: \xff\xfe\n")
    with pytest.raises(SystemExit) as refused:
        main(["status", "--project", str(example_project.root)])
    err = capsys.readouterr().err
    assert refused.value.code == 2 and "distill.yaml" in err and "Traceback" not in err


def test_deeply_nested_json_is_a_message(example_project, tmp_path, capsys):
    bad = tmp_path / "deep.jsonl"
    bad.write_text('{"input": ' + "[" * 100_000 + "]" * 100_000 + ', "output": "SELECT 1"}\n')
    with pytest.raises(SystemExit) as refused:
        main(["seeds", "add", str(bad), "--project", str(example_project.root)])
    err = capsys.readouterr().err
    assert refused.value.code == 2 and "deep.jsonl:1" in err and "Traceback" not in err


@pytest.mark.parametrize("db", ["missing.duckdb", "not-a-db.duckdb"])
def test_a_broken_task_db_is_a_message(example_project, db, capsys):
    (example_project.root / "not-a-db.duckdb").write_text("hello")
    config = example_project.path("distill.yaml")
    config.write_text(config.read_text().replace("db: database.duckdb", f"db: {db}"))
    with pytest.raises(SystemExit) as refused:
        main(["validate-teacher", "--project", str(example_project.root)])
    err = capsys.readouterr().err
    assert refused.value.code == 2 and db in err and "Traceback" not in err


def test_a_very_long_project_name_is_a_message(tmp_path, capsys):
    with pytest.raises(SystemExit) as refused:
        main(["init", str(tmp_path / "p"), "--schema", str(EXAMPLE / "schema.sql"),
              "--name", "x" * 300])
    err = capsys.readouterr().err
    assert refused.value.code == 2 and "name" in err and "Traceback" not in err
    assert not (tmp_path / "p").exists()


def test_an_impossible_port_is_a_message(tmp_path, capsys):
    with pytest.raises(SystemExit) as refused:
        main(["mcp", "--http", "--port", "99999", "--root", str(tmp_path)])
    err = capsys.readouterr().err
    assert refused.value.code == 2 and "--port" in err and "Traceback" not in err


def test_python_teacher_is_checked_at_init(tmp_path, capsys):
    with pytest.raises(SystemExit) as refused:
        main(["init", str(tmp_path / "p"), "--schema", str(EXAMPLE / "schema.sql"),
              "--teacher", "python:no_such_module:TEACHER"])
    err = capsys.readouterr().err
    assert refused.value.code == 2 and "no_such_module" in err and "Traceback" not in err
    assert not (tmp_path / "p").exists()


def test_the_cli_never_shows_a_traceback_without_vv(example_project, monkeypatch, capsys):
    """An unexpected failure is one line and a hint; -vv shows the traceback."""
    import slm_distill.tools.workspace.status as status_module

    def broken(project):
        raise RuntimeError("something nobody expected")

    monkeypatch.setattr(status_module, "project_status", broken)
    with pytest.raises(SystemExit) as failed:
        main(["status", "--project", str(example_project.root)])
    err = capsys.readouterr().err
    assert failed.value.code == 1 and "something nobody expected" in err
    assert "Traceback" not in err and "-vv" in err
    with pytest.raises(SystemExit):
        main(["-vv", "status", "--project", str(example_project.root)])
    assert "Traceback" in capsys.readouterr().err


# -- falling short, honestly ----------------------------------------------------------------------
REPEATS = "python:tests.counting_teacher:REPEATS"


@pytest.fixture
def repetitive(example_project, monkeypatch):
    """A project whose teacher mostly repeats itself: 100 pairs are out of reach."""
    from slm_distill.tools.validate_teacher import validate_teacher

    monkeypatch.setenv("PYTHONPATH", str(REPO))  # job workers import the test teacher
    example_project.config.teacher = REPEATS
    example_project.config.generation.augment_fraction = 0.0
    example_project.save()
    validate_teacher(example_project)
    return example_project


def _generate(root: Path, n: int, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "slm_distill", "generate", "--n", str(n),
                           "--project", str(root)], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO), **env})


@pytest.mark.slow  # generation runs until it gives up
def test_a_resumed_run_gives_up_where_an_uninterrupted_one_does(repetitive, tmp_path):
    clean = tmp_path / "clean"
    shutil.copytree(repetitive.root, clean)
    uninterrupted = _generate(clean, 100)
    assert uninterrupted.returncode == 1 and "gave up after" in uninterrupted.stdout
    crashed = _generate(repetitive.root, 100, CRASH_AT="15", COUNT_LOG=str(tmp_path / "log"))
    assert crashed.returncode == 17
    resumed = _generate(repetitive.root, 100, COUNT_LOG=str(tmp_path / "log"))
    assert resumed.returncode == 1
    for name in ("pairs.jsonl", "calls.jsonl", "train.jsonl"):
        assert (repetitive.path("data", name).read_text()
                == (clean / "data" / name).read_text()), name


@pytest.mark.slow  # generation runs until it gives up
def test_a_run_that_falls_short_is_partial_with_advice(repetitive):
    async def run():
        async with Client(build_server(repetitive.root)) as client:
            started = await client.call_tool("generate_pairs", {
                "project_dir": ".", "n": 100, "dry_run": False, "wait_seconds": 50})
            again = await client.call_tool("generate_pairs", {
                "project_dir": ".", "n": 100, "dry_run": False})
            estimate = await client.call_tool("generate_pairs", {"project_dir": ".", "n": 100})
            return started.structured_content["job"], again, estimate.structured_content

    job, again, estimate = asyncio.run(run())
    assert job["status"] == "partial" and job["message"].startswith("fell short: gave up")
    assert "repeats itself" in job["next_step"]
    calls = len(read_jsonl_dicts(repetitive.path("data", "calls.jsonl")))
    # the same request again is refused before any call: it would make none
    assert again.is_error and "a rerun would make no new call" in again.content[0].text
    assert 'generate_pairs(n=100, fresh=true, dry_run=false)' in again.content[0].text
    assert len(read_jsonl_dicts(repetitive.path("data", "calls.jsonl"))) == calls
    # and the estimate now uses the yield measured on those calls
    est = estimate["estimate"]
    assert est["yield_measured"] and est["yield_used"] < 0.7 and "measured over" in est["note"]
    assert est["kept_already"] == job["result"]["kept"]


@pytest.mark.slow  # generation runs until it gives up
def test_changing_a_setting_lets_a_short_run_go_on(repetitive):
    from slm_distill.tools.generate_pairs import generate_pairs

    first = generate_pairs(repetitive, n=100)
    assert first.stopped and first.advice
    with pytest.raises(UsageError, match="would make no new call"):
        stages.prepare(repetitive, "generate", GenerateRequest(n=100))
    # another number of self-consistency samples makes other calls: not refused
    stages.prepare(repetitive, "generate", GenerateRequest(n=100, samples=3))
    repetitive.config.generation.augment_fraction = 0.5  # rewritten seeds: other proposals
    repetitive.save()
    stages.prepare(repetitive, "generate", GenerateRequest(n=100))  # not refused
    second = generate_pairs(repetitive, n=100)
    assert second.kept > first.kept


def test_every_mcp_fix_that_names_generation_runs_it():
    """A fix that tells an agent to generate or improve must not be a dry run in disguise."""
    from slm_distill.tools.actions import OVERRIDE_GATE, act

    for action in (OVERRIDE_GATE, act("generate", n=100, fresh=True), act("improve")):
        assert "dry_run=false" in action.render("mcp"), action
        assert "--dry-run" not in action.render("cli")
    assert "dry_run=true" in act("improve", dry_run=True).render("mcp")


def test_a_dry_run_with_fresh_counts_nothing_kept(generated):
    from slm_distill.tools.generation.estimate import estimate_generation

    kept = estimate_generation(generated, n=60)
    fresh = estimate_generation(generated, n=60, fresh=True)
    assert kept.calls == 0 and kept.kept_already == 60
    assert fresh.calls > 0 and fresh.kept_already == 0


def test_status_after_the_seeds_changed_says_to_validate_again(generated):
    from slm_distill.tools.workspace.status import project_status

    stages.set_config(generated, stages.ConfigSetRequest(key="split.seed", value=5, force=True))
    status = project_status(generated)
    assert "seeds or their split changed" in status.gate
    assert status.next_step.startswith("validate the teacher")


def test_a_failed_override_check_records_nothing(generated):
    """The override is recorded only once every check passed (here the gate is stale)."""
    stages.set_config(generated, stages.ConfigSetRequest(key="split.seed", value=5, force=True))
    before = generated.path("distill.yaml").read_text()
    with pytest.raises(GateError):
        stages.prepare(generated, "generate", GenerateRequest(n=70, override_gate="the user said"))
    assert generated.path("distill.yaml").read_text() == before


def test_a_database_that_is_not_one_cannot_be_set(example_project, tmp_path):
    (example_project.root / "notes.txt").write_text("not a database")
    before = example_project.path("distill.yaml").read_text()
    for value in ("notes.txt", "missing.duckdb"):
        with pytest.raises(UsageError, match="task.db"):
            stages.set_config(example_project, stages.ConfigSetRequest(key="task.db", value=value))
    assert example_project.path("distill.yaml").read_text() == before


def test_mcp_cannot_point_a_project_outside_its_workspace(example_project, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside")
    shutil.copy(example_project.root / "database.duckdb", outside / "db.duckdb")
    before = example_project.path("distill.yaml").read_text()

    async def run():
        async with Client(build_server(example_project.root.parent)) as client:
            return [await client.call_tool("set_config", {"project_dir": "proj", "key": key,
                                                          "value": value})
                    for key, value in (("task.db", str(outside / "db.duckdb")),
                                       ("student", str(outside)))]

    for result in asyncio.run(run()):
        assert result.is_error and "outside the workspace root" in result.content[0].text
    assert example_project.path("distill.yaml").read_text() == before
