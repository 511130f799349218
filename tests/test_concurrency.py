"""One writer at a time: every writing command, on both surfaces, is refused while another holds
the project's writer lock, naming the holder; two writers started together, one proceeds."""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mcp import Client

from slm_distill.server.app import build_server
from slm_distill.tools.cli import main
from slm_distill.tools.workspace.lock import LOCK_FILE, WriterLock, current_writer
from tests.conftest import REPO

HOLDER_JOB = "0123456789abcdef"
CLI_WRITERS = {
    "add_seeds": ["seeds", "add", "{more}"],
    "validate_teacher": ["validate-teacher"],
    "set_config": ["config", "set", "training.max_steps", "5"],
    "generate": ["generate", "--n", "10"],
    "train": ["train", "--detach"],
    "evaluate": ["evaluate"],
    "export": ["export"],
    "improve": ["improve", "--detach"],
}
MCP_WRITERS = {
    "add_seeds": {"seeds_file": "more.jsonl"},
    "validate_teacher": {},
    "set_config": {"key": "training.max_steps", "value": 5},
    "generate_pairs": {"n": 10, "dry_run": False},
    "train_student": {},
    "evaluate": {},
    "export_gguf": {},
    "improve": {"dry_run": False},
}


def tree(root: Path) -> dict[str, str]:
    """Every file under root (but the lock file) with a hash of its content."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != LOCK_FILE}


@pytest.fixture
def held(example_project, tmp_path):
    """The example project with its writer lock held by a (pretend) job of this process."""
    (tmp_path / "more.jsonl").write_text(
        '{"input": "How many artists are there?", "output": "SELECT COUNT(*) FROM artists"}\n')
    lock = WriterLock(example_project, "train").acquire()
    lock.record(pid=os.getpid(), job_id=HOLDER_JOB)
    yield example_project
    lock.handed_over = False
    lock.release()


@pytest.mark.parametrize("name", CLI_WRITERS)
def test_every_cli_writer_is_refused_naming_the_holder(held, name, tmp_path, capsys):
    before = tree(held.root)
    args = [a.replace("{more}", str(tmp_path / "more.jsonl")) for a in CLI_WRITERS[name]]
    with pytest.raises(SystemExit) as refused:
        main([*args, "--project", str(held.root)])
    err = capsys.readouterr().err
    assert refused.value.code == 2, err
    assert f"job {HOLDER_JOB} (train, pid {os.getpid()})" in err
    assert f"distill job {HOLDER_JOB} --cancel" in err and "Traceback" not in err
    assert tree(held.root) == before


def test_every_mcp_writer_is_refused_naming_the_holder(held):
    shutil.copy(held.root.parent / "more.jsonl", held.root / "more.jsonl")
    before = tree(held.root)

    async def run() -> dict:
        async with Client(build_server(held.root)) as client:
            return {name: await client.call_tool(name, {"project_dir": ".", **args})
                    for name, args in MCP_WRITERS.items()}

    for name, result in asyncio.run(run()).items():
        text = result.content[0].text
        assert result.is_error and f"job {HOLDER_JOB} (train" in text, (name, text)
        assert f'cancel_job(job_id="{HOLDER_JOB}")' in text, (name, text)
    assert tree(held.root) == before


def test_readers_and_dry_runs_are_not_refused(held, capsys):
    main(["generate", "--dry-run", "--project", str(held.root)])
    main(["status", "--project", str(held.root)])
    out = capsys.readouterr().out
    assert "Estimate for" in out and f"busy:     train (pid {os.getpid()}, job {HOLDER_JOB})" in out
    assert current_writer(held)["job_id"] == HOLDER_JOB


def _distill(project: Path, *args: str, **env: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "slm_distill", *args, "--project", str(project)],
                            env={**os.environ, "PYTHONPATH": str(REPO), **env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture
def slow_project(example_project):
    from slm_distill.tools.validate_teacher import validate_teacher

    example_project.config.teacher = "python:tests.counting_teacher:SLOW"
    example_project.save()
    validate_teacher(example_project)
    return example_project


@pytest.mark.slow  # two generation processes
def test_two_cli_generations_started_together_one_proceeds(slow_project, tmp_path):
    gate = tmp_path / "go"  # the winner's teacher waits for it: the race cannot end too early
    runs = [_distill(slow_project.root, "generate", "--n", "20", SLOW_S="0.1", GATE_FILE=str(gate))
            for _ in range(2)]
    deadline = time.monotonic() + 120
    while all(p.poll() is None for p in runs):
        assert time.monotonic() < deadline, "neither generation was refused"
        time.sleep(0.05)
    gate.touch()
    done = [(p.wait(timeout=120), *p.communicate()) for p in runs]
    codes = sorted(code for code, _, _ in done)
    assert codes == [0, 2], done
    refused = next(err for code, _, err in done if code == 2)
    assert "The project is busy: generate (pid" in refused and "Traceback" not in refused
    pairs = slow_project.path("data", "pairs.jsonl").read_text().splitlines()
    assert len(pairs) == 20 == len({line for line in pairs})


@pytest.mark.slow  # a generation job and a CLI process
def test_an_mcp_job_and_a_cli_command_started_together(slow_project, monkeypatch, tmp_path):
    monkeypatch.setenv("PYTHONPATH", str(REPO))  # the job's worker imports the test teacher
    monkeypatch.setenv("SLOW_S", "0.1")
    monkeypatch.setenv("GATE_FILE", str(tmp_path / "go"))  # the job lasts until the CLI is refused

    async def start() -> dict:
        async with Client(build_server(slow_project.root)) as client:
            result = await client.call_tool("generate_pairs", {
                "project_dir": ".", "n": 20, "dry_run": False, "wait_seconds": 0})
            return result.structured_content["job"]

    job = asyncio.run(start())
    cli = _distill(slow_project.root, "train")
    code, _, err = cli.wait(timeout=60), *cli.communicate()
    (tmp_path / "go").touch()
    assert code == 2 and f"job {job['job_id']} (generate" in err, err
    from slm_distill.tools.workspace.jobs import job_status

    deadline = time.monotonic() + 120
    while job_status(slow_project, job["job_id"]).status not in ("succeeded", "failed"):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert job_status(slow_project, job["job_id"]).status == "succeeded"
    # the worker let go of the lock before it reported its end: the next writer starts at once
    WriterLock(slow_project, "next").acquire().release()
    assert current_writer(slow_project) is None


def test_a_cancelled_job_frees_the_project_when_cancel_returns(slow_project, monkeypatch, tmp_path):
    from slm_distill.tools.requests import GenerateRequest
    from slm_distill.tools.workspace.jobs import CANCEL_WAIT_S, cancel_job, start_job
    from slm_distill.tools.workspace.lock import alive

    monkeypatch.setenv("PYTHONPATH", str(REPO))
    monkeypatch.setenv("GATE_FILE", str(tmp_path / "never"))  # it runs until cancelled
    monkeypatch.setenv("STARTED_FILE", str(tmp_path / "asked"))
    job = start_job(slow_project, "generate", GenerateRequest(n=50))
    deadline = time.monotonic() + 60
    while not (tmp_path / "asked").exists():  # a teacher call is under way, in its thread
        assert time.monotonic() < deadline
        time.sleep(0.05)
    started = time.monotonic()
    state = cancel_job(slow_project, job.id)
    assert state.status == "cancelled" and time.monotonic() - started < CANCEL_WAIT_S
    WriterLock(slow_project, "next").acquire().release()  # no "busy" right after a cancel
    assert not alive(state.pid)  # the call it waited on did not keep the worker alive


def test_a_job_whose_worker_cannot_start_fails_at_once(example_project, monkeypatch):
    import slm_distill.tools.workspace.jobs as jobs
    from slm_distill.tools.errors import DistillError
    from slm_distill.tools.requests import GenerateRequest

    def no_process(*args, **kwargs):
        raise OSError("out of process slots")

    monkeypatch.setattr(jobs.subprocess, "Popen", no_process)
    with pytest.raises(DistillError, match="could not start its worker"):
        jobs.start_job(example_project, "generate", GenerateRequest(n=5))
    [state] = jobs.list_jobs(example_project)
    assert state.status == "failed" and "out of process slots" in state.error
    WriterLock(example_project, "next").acquire().release()  # and the lock is free


def test_a_half_created_job_folder_breaks_nothing(example_project, capsys):
    example_project.path("jobs", "0123456789abcdef").mkdir(parents=True)  # no state.json yet
    main(["jobs", "--project", str(example_project.root)])
    main(["status", "--project", str(example_project.root)])
    assert "No jobs yet." in capsys.readouterr().out
