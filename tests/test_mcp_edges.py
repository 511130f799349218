"""MCP inputs at their edges: unknown argument names, oversized strings, over-long paths, missing
reports, and projects whose files lead outside the workspace root."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from slm_distill.server.app import build_server
from tests.conftest import EXAMPLE
from tests.test_mcp_server import call


@pytest.fixture
def workspace(example_project) -> Path:
    shutil.copy(EXAMPLE / "schema.sql", example_project.root.parent / "schema.sql")
    return example_project.root.parent


def test_an_unknown_argument_is_refused_not_ignored(workspace):
    [result] = call(workspace, ("generate_pairs", {"project_dir": "proj", "dryrun": False}))
    text = result.content[0].text
    assert result.is_error and "'dryrun' (did you mean 'dry_run'?)" in text
    assert not any((workspace / "proj" / "jobs").iterdir())


@pytest.mark.parametrize("tool,args,field", [
    ("job_status", {"job_id": "a" * 1_000_000}, "job_id"),
    ("validate_teacher", {"teacher": "python:" + "x" * 1_000_000}, "teacher"),
    ("set_config", {"key": "teacher", "value": "python:" + "x" * 1_000_000}, "value"),
    ("init_project", {"project_dir": "other", "schema_file": "schema.sql",
                      "teacher": "x" * 1_000_000}, "teacher"),
    ("add_seeds", {"seeds_file": "s/" * 3_000}, "seeds_file"),
    ("project_status", {"project_dir": "p/" * 3_000}, "project_dir"),
])
def test_oversized_strings_are_refused_briefly(workspace, tool, args, field):
    before = (workspace / "proj" / "distill.yaml").read_text()
    [result] = call(workspace, (tool, {"project_dir": "proj", **args}))
    text = result.content[0].text
    assert result.is_error and field in text and len(text) < 3_000, text[:300]
    assert (workspace / "proj" / "distill.yaml").read_text() == before
    assert not (workspace / "other").exists()


def test_an_over_long_path_says_why(workspace):
    [result] = call(workspace, ("add_seeds", {"project_dir": "proj",
                                               "seeds_file": "a" * 300 + ".jsonl"}))
    text = result.content[0].text
    assert result.is_error and ("no such file" in text or "too long" in text), text


def test_a_resource_error_keeps_its_message(workspace):
    async def run():
        async with Client(build_server(workspace)) as client:
            with pytest.raises(MCPError) as missing:
                await client.read_resource("distill://project/proj/report/export")
            with pytest.raises(MCPError) as unknown:
                await client.read_resource("distill://project/proj/report/secrets")
            return str(missing.value), str(unknown.value)

    missing, unknown = asyncio.run(run())
    assert "Not written yet: export.md" in missing
    assert "Unknown report 'secrets'" in unknown


def test_a_task_db_outside_the_root_is_refused(workspace, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside")
    shutil.copy(workspace / "proj" / "database.duckdb", outside / "db.duckdb")
    config = workspace / "proj" / "distill.yaml"
    config.write_text(config.read_text().replace("db: database.duckdb",
                                                 f"db: {outside / 'db.duckdb'}"))
    [status, gate] = call(workspace, ("project_status", {"project_dir": "proj"}),
                           ("validate_teacher", {"project_dir": "proj"}))
    for result in (status, gate):
        assert result.is_error and "task.db leads outside the workspace root" in result.content[0].text


def test_a_symlinked_reports_folder_is_not_written_through(workspace, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside")
    shutil.rmtree(workspace / "proj" / "reports")
    (workspace / "proj" / "reports").symlink_to(outside)
    [gate] = call(workspace, ("validate_teacher", {"project_dir": "proj"}))
    assert gate.is_error and "reports leads outside the workspace root" in gate.content[0].text
    assert list(outside.iterdir()) == []
