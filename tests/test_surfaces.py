"""One definition per capability: the CLI and the MCP server offer the same parameters with the
same defaults (both built from tools/requests.py), and errors name the fix in the caller's terms."""

from __future__ import annotations

import asyncio
import re
import shutil
from pathlib import Path

import click
import pytest
from mcp import Client

from slm_distill.server.app import build_server
from slm_distill.server.schema import SURFACE_ONLY
from slm_distill.tools.actions import COMMANDS
from slm_distill.tools.cli import main
from slm_distill.tools.cli.commands import cli
from slm_distill.tools.requests import REQUESTS, McpDefault, meta
from tests.conftest import EXAMPLE, EXAMPLE_TEACHER, REPO

# Parameters one surface has and the other need not: the CLI's project directory, following and
# detaching from jobs; the MCP project directory and the wait before a tool returns.
CLI_ONLY = {"project_dir", "detach", "follow", "cancel", "directory"}
MCP_ONLY = SURFACE_ONLY
CLI_ONLY_COMMANDS = {"demo", "mcp", "install-skill"}  # a person's commands, not an agent's


def _tools() -> dict:
    async def run() -> list:
        async with Client(build_server(REPO)) as client:
            return (await client.list_tools()).tools

    return {t.name: t for t in asyncio.run(run())}


def _leaf_commands(group: click.Group, prefix: str = "") -> dict[str, click.Command]:
    out = {}
    for name, command in group.commands.items():
        path = f"{prefix}{name}"
        if isinstance(command, click.Group):
            out.update(_leaf_commands(command, path + " "))
        else:
            out[path] = command
    return out


@pytest.fixture(scope="module")
def tools() -> dict:
    return _tools()


def test_every_capability_is_on_both_surfaces_with_the_same_parameters(tools):
    commands = _leaf_commands(cli)
    assert set(commands) - CLI_ONLY_COMMANDS == {c.cli for c in COMMANDS.values()}
    assert set(tools) == {c.tool for c in COMMANDS.values()}
    for capability, surfaces in COMMANDS.items():
        cli_params = {p.name for p in commands[surfaces.cli].params} - CLI_ONLY
        mcp_params = set(tools[surfaces.tool].input_schema["properties"]) - MCP_ONLY
        if capability == "follow_job":
            continue  # `distill job ID --follow` polls job_status
        assert cli_params == mcp_params, (capability, cli_params ^ mcp_params)
        request = REQUESTS.get(capability)
        if request is not None:
            assert mcp_params == set(request.model_fields), capability


def test_defaults_come_from_the_request_models(tools):
    commands = _leaf_commands(cli)
    for capability, request in REQUESTS.items():
        surfaces = COMMANDS[capability]
        schema = tools[surfaces.tool].input_schema["properties"]
        options = {p.name: p for p in commands[surfaces.cli].params}
        for name, info in request.model_fields.items():
            if info.is_required():
                assert name in tools[surfaces.tool].input_schema.get("required", []), name
                continue
            mcp_default = meta(info, McpDefault)
            expected = mcp_default.value if mcp_default else info.get_default(call_default_factory=True)
            assert schema[name].get("default") == expected, (capability, name)
            assert schema[name]["description"].startswith(info.description), (capability, name)
            # the CLI passes nothing it was not given: the model's default applies
            assert options[name].default in (None, click.core.UNSET), (capability, name)


SURFACE_FILES = ["tools/cli/commands.py", "tools/cli/demo.py", "server/app.py",
                 "server/schema.py", "tools/stages.py", "tools/workspace/jobs.py",
                 "tools/improve.py", "tools/export_gguf.py", "tools/evaluate.py"]


def test_each_default_is_written_once():
    """No surface or stage restates a request's default value next to its name."""
    sources = {f: (REPO / f).read_text() for f in SURFACE_FILES}
    for request in REQUESTS.values():
        for name, info in request.model_fields.items():
            default = info.get_default(call_default_factory=True)
            if default is None or isinstance(default, bool) or info.is_required():
                continue
            literal = repr(default) if not isinstance(default, list) else None
            for path, text in sources.items():
                if literal:
                    pattern = rf"\b{name}\s*(:\s*[\w\[\], |.]+)?=\s*{re.escape(literal)}\b"
                    assert not re.search(pattern, text), f"{path} restates {name}={literal}"
                else:
                    listed = ", ".join(repr(v) for v in default)
                    assert listed not in text.replace('"', "'"), f"{path} restates {name}"
    for spec in ("anthropic:claude-sonnet-4-5", "Qwen/Qwen2.5-0.5B-Instruct"):
        holders = [str(p.relative_to(REPO)) for p in (REPO / "tools").rglob("*.py")
                   if f'"{spec}"' in p.read_text()] + [str(p.relative_to(REPO)) for p in
                                                       (REPO / "server").rglob("*.py")
                                                       if f'"{spec}"' in p.read_text()]
        assert holders == ["tools/workspace/config.py"], (spec, holders)


@pytest.fixture
def failed_gate(tmp_path: Path) -> Path:
    """A workspace whose project's teacher scored below a raised gate (0.95)."""
    shutil.copy(EXAMPLE / "schema.sql", tmp_path / "schema.sql")
    shutil.copy(EXAMPLE / "seeds.jsonl", tmp_path / "seeds.jsonl")
    main(["init", str(tmp_path / "proj"), "--schema", str(tmp_path / "schema.sql"),
          "--teacher", EXAMPLE_TEACHER, "--student", "scratch:tiny"])
    main(["seeds", "add", str(tmp_path / "seeds.jsonl"), "--project", str(tmp_path / "proj")])
    main(["config", "set", "gate.threshold", "0.95", "--project", str(tmp_path / "proj")])
    with pytest.raises(SystemExit) as failed:
        main(["validate-teacher", "--project", str(tmp_path / "proj")])
    assert failed.value.code == 1
    return tmp_path


def test_the_gate_error_names_the_flag_on_the_cli_and_the_argument_over_mcp(failed_gate, capsys):
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["generate", "--n", "10", "--project", str(failed_gate / "proj")])
    cli_text = capsys.readouterr().err
    assert '`distill generate --override-gate "REASON"`' in cli_text
    assert "override_gate" not in cli_text

    async def run():
        async with Client(build_server(failed_gate)) as client:
            return await client.call_tool("generate_pairs", {"project_dir": "proj", "n": 10,
                                                             "dry_run": False})

    result = asyncio.run(run())
    text = result.content[0].text
    assert result.is_error and '`generate_pairs(override_gate="<reason>", dry_run=false)`' in text
    assert "--override-gate" not in text and "`distill" not in text


def test_an_mcp_override_is_recorded_with_its_reason(failed_gate):
    async def run():
        async with Client(build_server(failed_gate)) as client:
            started = await client.call_tool("generate_pairs", {
                "project_dir": "proj", "n": 10, "dry_run": False, "wait_seconds": 0,
                "override_gate": "the user accepts 88% for this experiment"})
            status = await client.call_tool("project_status", {"project_dir": "proj"})
            return started, status

    started, status = asyncio.run(run())
    assert not started.is_error, started.content[0].text
    assert started.structured_content["job"]["job_id"]
    assert "overridden by the user: the user accepts 88%" in status.structured_content["gate"]
    from slm_distill.tools.workspace.jobs import cancel_job
    from slm_distill.tools.workspace.project import Project

    cancel_job(Project.load(failed_gate / "proj"), started.structured_content["job"]["job_id"])


def test_text_content_starts_with_the_summary(failed_gate):
    async def run():
        async with Client(build_server(failed_gate)) as client:
            return await client.call_tool("project_status", {"project_dir": "proj"})

    result = asyncio.run(run())
    first = result.content[0].text.splitlines()[0]
    assert first.startswith("Project proj (text2sql)")
    assert result.structured_content["seeds"] == 80
