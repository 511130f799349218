"""Real MCP clients against the server: the MCP Inspector CLI and Claude Code's plugin validator
(both installed from npm by this test's setup, into the cache), and the streamable HTTP transport."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mcp import Client

from slm_distill.tools.llamacpp.vendor import cache_root
from slm_distill.tools.workspace.jobs import free_port
from tests.conftest import EXAMPLE, EXAMPLE_TEACHER
from tests.test_mcp_server import TOOLS

pytestmark = pytest.mark.slow  # MCP servers in subprocesses

REPO = Path(__file__).resolve().parents[1]
NPM_PACKAGES = {"@modelcontextprotocol/inspector": "0.15.0", "@anthropic-ai/claude-code": "2.1.197"}


def _installed(prefix: Path, name: str) -> str | None:
    manifest = prefix / "node_modules" / name / "package.json"
    return json.loads(manifest.read_text())["version"] if manifest.is_file() else None


@pytest.fixture(scope="session")
def npm_bin() -> Path:
    """node_modules/.bin with the pinned packages, installed from the npm registry once."""
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed")
    prefix = cache_root() / "npm"
    missing = [f"{n}@{v}" for n, v in NPM_PACKAGES.items() if _installed(prefix, n) != v]
    if missing:
        prefix.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(["npm", "install", "--prefix", str(prefix), "--no-audit", "--no-fund",
                               "--loglevel=error", *missing], capture_output=True, text=True,
                              timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
    return prefix / "node_modules" / ".bin"


@pytest.fixture
def example_workspace(tmp_path: Path) -> Path:
    from slm_distill.tools.workspace.project import add_seeds, init_project

    project = init_project(tmp_path / "proj", schema=EXAMPLE / "schema.sql", teacher=EXAMPLE_TEACHER,
                           student="scratch:tiny")
    add_seeds(project, EXAMPLE / "seeds.jsonl")
    return tmp_path


def inspector(npm_bin: Path, root: Path, *args: str) -> dict:
    cmd = [str(npm_bin / "mcp-inspector"), "--cli", sys.executable, "-m", "slm_distill", "mcp",
           "--root", str(root), *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=root)
    assert done.returncode == 0, (cmd, done.stdout[-2000:], done.stderr[-2000:])
    return json.loads(done.stdout)


@pytest.mark.network
def test_mcp_inspector_cli_lists_and_calls_tools(npm_bin, example_workspace):
    listed = inspector(npm_bin, example_workspace, "--method", "tools/list")
    tools = {t["name"]: t for t in listed["tools"]}
    assert set(tools) == TOOLS
    assert all(t["inputSchema"]["properties"] and t.get("outputSchema") for t in tools.values())

    status = inspector(npm_bin, example_workspace, "--method", "tools/call", "--tool-name",
                       "project_status", "--tool-arg", "project_dir=proj")
    assert not status.get("isError") and status["structuredContent"]["seeds"] == 80

    gate = inspector(npm_bin, example_workspace, "--method", "tools/call", "--tool-name",
                     "validate_teacher", "--tool-arg", "project_dir=proj")
    assert not gate.get("isError")
    assert gate["structuredContent"]["passed"] is True and gate["structuredContent"]["n"] == 16
    assert (example_workspace / "proj" / "reports" / "teacher_validation.md").is_file()


@pytest.mark.network
def test_claude_plugin_validate(npm_bin, tmp_path):
    env = {**os.environ, "HOME": str(tmp_path)}  # keep Claude Code's own files out of the real home

    def validate(path: Path) -> subprocess.CompletedProcess:
        return subprocess.run([str(npm_bin / "claude"), "plugin", "validate", str(path)],
                              capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)

    good = validate(REPO)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "Validation passed" in good.stdout
    broken = tmp_path / "broken"
    (broken / ".claude-plugin").mkdir(parents=True)
    (broken / ".claude-plugin" / "plugin.json").write_text('{"name": 42, "skills": ')
    assert validate(broken).returncode != 0  # the validator does reject a bad manifest


def test_streamable_http_on_localhost(example_workspace):
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "slm_distill", "mcp", "--http", "--port",
                               str(port), "--root", str(example_workspace)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert server.poll() is None, server.stderr.read().decode()[-2000:]
                assert time.monotonic() < deadline, "the HTTP server did not start"
                time.sleep(0.3)

        async def run():
            async with Client(f"http://127.0.0.1:{port}/mcp") as client:
                tools = (await client.list_tools()).tools
                status = await client.call_tool("project_status", {"project_dir": "proj"})
                return tools, status

        tools, status = asyncio.run(run())
        assert {t.name for t in tools} == TOOLS
        assert status.structured_content["seeds"] == 80
        if shutil.which("ss"):
            listening = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True,
                                       text=True).stdout.split()
            assert listening[3] == f"127.0.0.1:{port}", listening  # the local address only
    finally:
        server.terminate()
        server.wait(timeout=30)
