"""The bundled example through every MCP tool in order with scratch:tiny (jobs polled to
completion), progress notifications, cancelling a job, and a server restarted mid-job."""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
import time
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

from slm_distill.server.app import build_server
from tests.conftest import EXAMPLE, EXAMPLE_TEACHER, tiny_training
from tests.mcp_client import finish, ok

pytestmark = pytest.mark.slow


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    shutil.copy(EXAMPLE / "schema.sql", tmp_path / "schema.sql")
    shutil.copy(EXAMPLE / "seeds.jsonl", tmp_path / "seeds.jsonl")
    return tmp_path


FRESH = [  # questions no seed asks, with their gold SQL: a fresh test file
    {"input": "How many albums are there in all?", "output": "SELECT COUNT(*) FROM albums"},
    {"input": "How many tracks are marked explicit?",
     "output": "SELECT COUNT(*) FROM tracks WHERE explicit"},
    {"input": "What is the longest track duration in seconds?",
     "output": "SELECT MAX(duration_seconds) FROM tracks"},
    {"input": "How many invoices are there?", "output": "SELECT COUNT(*) FROM invoices"},
]
# scratch:tiny trains in seconds with these (tests/conftest.py tiny_training), set as an MCP
# client would, one set_config call each
TINY = {"training.max_steps": 6, "training.eval_steps": 3, "training.eval_samples": 4,
        "training.max_new_tokens": 24, "training.batch_size": 4,
        "training.gradient_accumulation_steps": 1, "training.learning_rate": 2e-3,
        "training.loss_vocab": "answers", "training.logging_steps": 1,
        "training.early_stopping_patience": None, "task.schema_in_student_prompt": False,
        "gate.threshold": 0.95}


def test_the_example_through_every_tool(workspace):
    """Only MCP calls: settings through set_config, a gate the teacher fails (raised to 0.95)
    overridden with the user's reason, and a fresh test file after an improve round."""
    (workspace / "fresh.jsonl").write_text("".join(json.dumps(q) + "\n" for q in FRESH))

    async def run() -> dict:
        seen: dict = {}
        async with Client(build_server(workspace)) as c:
            await ok(c, "init_project", {"project_dir": "proj", "schema_file": "schema.sql",
                                         "teacher": EXAMPLE_TEACHER, "student": "scratch:tiny"})
            for key, value in TINY.items():
                await ok(c, "set_config", {"project_dir": "proj", "key": key, "value": value})
            await ok(c, "add_seeds", {"project_dir": "proj", "seeds_file": "seeds.jsonl"})
            seen["gate_progress"] = []
            seen["gate"] = await ok(c, "validate_teacher", {"project_dir": "proj"}, seen["gate_progress"])
            seen["estimate"] = await ok(c, "generate_pairs", {"project_dir": "proj", "n": 60})
            refused = await c.call_tool("generate_pairs", {"project_dir": "proj", "n": 60,
                                                           "dry_run": False})
            seen["refused"] = refused.content[0].text if refused.is_error else None
            seen["gen_progress"] = []
            started = await ok(c, "generate_pairs", {
                "project_dir": "proj", "n": 60, "dry_run": False, "wait_seconds": 2,
                "override_gate": "88% is enough for a demo of the method"}, seen["gen_progress"])
            seen["generate"] = await finish(c, started["job"])
            seen["train_estimate"] = await ok(c, "train_student", {"project_dir": "proj",
                                                                   "dry_run": True})
            seen["train"] = await finish(c, (await ok(c, "train_student",
                                                      {"project_dir": "proj"}))["job"])
            seen["evaluate"] = await finish(c, await ok(c, "evaluate", {"project_dir": "proj"}))
            seen["plan"] = await ok(c, "improve", {"project_dir": "proj", "pairs": 16})
            improved = await ok(c, "improve", {"project_dir": "proj", "pairs": 16, "train_steps": 3,
                                               "dry_run": False, "wait_seconds": 0})
            seen["improve"] = await finish(c, improved["job"])
            seen["fresh"] = await finish(c, await ok(c, "evaluate", {
                "project_dir": "proj", "test_file": "fresh.jsonl", "models": ["student"]}))
            seen["export"] = await finish(c, await ok(c, "export_gguf", {"project_dir": "proj",
                                                                          "quants": ["q8_0"]}))
            seen["status"] = await ok(c, "project_status", {"project_dir": "proj"})
            seen["jobs"] = await ok(c, "list_jobs", {"project_dir": "proj"})
            uris = [f"distill://project/proj/{r}" for r in ("config", "seeds")]
            uris += [f"distill://project/proj/report/{r}" for r in
                     ("teacher_validation", "generation", "train", "eval", "improve", "export")]
            uris.append(f"distill://project/proj/job/{seen['train']['job_id']}/log")
            seen["resources"] = {u: (await c.read_resource(u)).contents[0].text for u in uris}
        return seen

    seen = asyncio.run(run())
    assert not seen["gate"]["passed"] and seen["gate"]["n"] == 16 and seen["gate"]["threshold"] == 0.95
    assert [p[0] for p in seen["gate_progress"]] == list(range(1, 17))  # one per validation seed
    assert 'generate_pairs(override_gate="<reason>", dry_run=false)' in seen["refused"]
    assert "overridden by the user: 88% is enough" in seen["status"]["gate"]
    assert seen["estimate"]["estimate"]["calls"] > 0
    assert seen["gen_progress"] and seen["gen_progress"][0][1] == 100
    assert seen["generate"]["result"]["kept"] == 60
    assert seen["train"]["result"]["steps"] == 6  # training.max_steps from set_config
    estimate = seen["train_estimate"]["estimate"]  # the dry run measured, started nothing
    assert seen["train_estimate"]["job"] is None and estimate["steps"] == 6
    assert estimate["seconds_per_step"] > 0 and estimate["total_s"] >= 6 * estimate["seconds_per_step"]
    train_log = seen["resources"][f"distill://project/proj/job/{seen['train']['job_id']}/log"]
    first = next(line for line in train_log.splitlines() if "  step " in line)
    assert "step 0/6" in first and "estimate before training: 6 steps at" in first, train_log
    assert {r["name"] for r in seen["evaluate"]["result"]["results"]} == {"base", "student", "teacher"}
    assert seen["plan"]["job"] is None and seen["plan"]["plan"]["failures"] > 0
    [rnd] = seen["improve"]["result"]["rounds"]
    assert rnd["pairs_added"] > 0 and rnd["train_steps"] == 3
    fresh = seen["fresh"]["result"]
    assert fresh["test_set"].endswith("fresh.jsonl") and fresh["n"] == len(FRESH)
    assert fresh["name"] == "eval-fresh" and (workspace / "proj/reports/eval-fresh.md").is_file()
    assert [r["name"] for r in fresh["results"]] == ["student"]
    assert fresh["overlap"]["inputs"] == len(FRESH)  # checked against the training pairs
    assert "## Overlap with the training pairs" in (workspace / "proj/reports/eval-fresh.md").read_text()
    export = seen["export"]["result"]
    assert export["parity_ok"] and [r["quant"] for r in export["results"]] == ["f16", "q8_0"]
    assert [j["kind"] for j in seen["jobs"]["jobs"]] == ["generate", "train", "evaluate", "improve",
                                                          "evaluate", "export"]
    assert all(j["status"] == "succeeded" for j in seen["jobs"]["jobs"])
    texts = seen["resources"]
    assert "max_steps: 6" in texts["distill://project/proj/config"]
    assert texts["distill://project/proj/report/improve"].startswith("# Improve rounds")
    assert texts["distill://project/proj/report/eval"].startswith("# Evaluation")
    assert all(texts.values()), [u for u, t in texts.items() if not t]
    assert seen["status"]["seeds"] == 80


def _stdio(workspace: Path) -> StdioServerParameters:
    return StdioServerParameters(command=sys.executable,
                                 args=["-m", "slm_distill", "mcp", "--root", str(workspace)])


def _trained_project(workspace: Path, steps: int):
    from slm_distill.tools.generate_pairs import generate_pairs
    from slm_distill.tools.validate_teacher import validate_teacher
    from slm_distill.tools.workspace.project import add_seeds, init_project

    project = init_project(workspace / "proj", schema=workspace / "schema.sql",
                           teacher=EXAMPLE_TEACHER, student="scratch:tiny")
    add_seeds(project, workspace / "seeds.jsonl")
    tiny_training(project, max_steps=steps, eval_steps=steps)
    validate_teacher(project)
    generate_pairs(project, n=40)
    return project


def test_a_job_outlives_a_killed_server_and_is_cancelled_from_a_new_one(workspace):
    """Start training through a stdio server, kill that server, find the job from a fresh one,
    cancel it there; the worker process ends and the job says so."""
    from slm_distill.tools.workspace.lock import alive as _alive

    _trained_project(workspace, steps=100_000)

    async def start() -> dict:
        async with Client(_stdio(workspace)) as c:
            started = await ok(c, "train_student", {"project_dir": "proj", "wait_seconds": 0})
            # the server process dies with this client: the detached worker must not
            return started["job"]

    started = asyncio.run(start())
    job_id = started["job_id"]

    async def again() -> tuple[dict, dict, dict]:
        async with Client(_stdio(workspace)) as c:
            deadline = time.monotonic() + 120
            while True:
                found = await ok(c, "job_status", {"project_dir": "proj", "job_id": job_id})
                if found["state"]["step"] or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.5)
            listed = await ok(c, "list_jobs", {"project_dir": "proj"})
            cancelled = await ok(c, "cancel_job", {"project_dir": "proj", "job_id": job_id})
            return found, listed, cancelled

    found, listed, cancelled = asyncio.run(again())
    assert found["state"]["status"] == "running" and found["state"]["step"] >= 1
    assert [j["id"] for j in listed["jobs"]] == [job_id]
    assert cancelled["state"]["status"] == "cancelled"
    pid = cancelled["state"]["pid"]
    deadline = time.monotonic() + 30
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _alive(pid)


def test_cancel_job_stops_the_worker_and_a_rerun_resumes(workspace):
    """Cancel a training job between checkpoints through MCP, then train again: it resumes."""
    from slm_distill.tools.workspace.lock import alive as _alive

    project = _trained_project(workspace, steps=400)
    project.config.training.eval_steps = 2
    project.save()

    async def run() -> tuple[dict, dict]:
        async with Client(build_server(workspace)) as c:
            started = (await ok(c, "train_student", {"project_dir": "proj",
                                                      "wait_seconds": 0}))["job"]
            second = await c.call_tool("improve", {"project_dir": "proj", "dry_run": False})
            assert second.is_error  # no evaluation yet
            twice = await c.call_tool("train_student", {"project_dir": "proj", "wait_seconds": 0})
            assert twice.is_error and started["job_id"] in twice.content[0].text
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                view = await ok(c, "job_status", {"project_dir": "proj", "job_id": started["job_id"]})
                if (view["state"]["step"] or 0) >= 5:
                    break
                await asyncio.sleep(0.3)
            cancelled = await ok(c, "cancel_job", {"project_dir": "proj", "job_id": started["job_id"]})
            project.config.training.max_steps = (view["state"]["step"] or 0) + 4
            project.save()
            gone = time.monotonic() + 60
            while _alive(view["state"]["pid"]) and time.monotonic() < gone:  # the worker exits
                await asyncio.sleep(0.1)
            rerun = await finish(c, (await ok(c, "train_student", {"project_dir": "proj"}))["job"])
            return cancelled, rerun

    cancelled, rerun = asyncio.run(run())
    assert cancelled["state"]["status"] == "cancelled"
    assert rerun["result"]["resumed_from"].startswith("checkpoint-")
