"""A key that a provider echoes back in an error body (400, 422, 429, 500) never leaves the
process: not in the CLI's output, an MCP tool result, a job's state or log, nor any project file."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from mcp import Client

from slm_distill.server.app import build_server
from slm_distill.tools.cli import main

KEY = "sk-planted-0123456789abcdef"
ENV = {"anthropic": "ANTHROPIC_API_KEY", "openai": "OPENAI_API_KEY"}


def _everything_under(root: Path) -> str:
    return "\n".join(p.read_bytes().decode("utf-8", "replace") for p in root.rglob("*")
                     if p.is_file())


@pytest.fixture
def echoing(example_project, provider, monkeypatch, fast_retries):
    def setup(backend: str, status: int):
        monkeypatch.setenv(ENV[backend], KEY)
        provider.echo_keys = True
        provider.fail_next(*[status] * 2000)
        example_project.config.teacher = f"{backend}:claude-sonnet-4-5@{provider.url}" \
            if backend == "anthropic" else f"openai:gpt-4o@{provider.url}"
        example_project.save()
        return example_project

    return setup


@pytest.mark.parametrize("status", [400, 422, pytest.param(429, marks=pytest.mark.slow),
                                    pytest.param(500, marks=pytest.mark.slow)])  # retried: slower
@pytest.mark.parametrize("backend", ["anthropic", "openai"])
def test_an_echoed_key_never_leaves(echoing, provider, backend, status, capsys):
    project = echoing(backend, status)
    with pytest.raises(SystemExit) as failed:
        main(["validate-teacher", "--project", str(project.root)])
    assert failed.value.code == 1
    cli = capsys.readouterr()
    assert "request refused" in cli.err or "gave up" in cli.err, cli.err

    async def run():
        async with Client(build_server(project.root)) as client:
            return await client.call_tool("validate_teacher", {"project_dir": "."})

    tool = asyncio.run(run())
    assert tool.is_error
    sent = [r["headers"].get("x-api-key") or r["headers"].get("authorization") for r in
            provider.requests]
    assert any(KEY in (s or "") for s in sent)  # the provider did get (and echo) the key
    if status in (400, 422):
        assert "[" + ENV[backend] + "]" in cli.err  # the echo was there, and scrubbed
    for text in (cli.out, cli.err, tool.content[0].text, _everything_under(project.root)):
        assert KEY not in text


@pytest.mark.slow  # a job in a worker process
@pytest.mark.parametrize("status", [400, 422])
def test_an_echoed_key_never_reaches_a_jobs_state_or_log(echoing, status, monkeypatch):
    project = echoing("openai", status)

    async def run():
        async with Client(build_server(project.root)) as client:
            started = await client.call_tool("evaluate", {"project_dir": ".", "models": ["teacher"],
                                                          "wait_seconds": 0})
            job_id = started.structured_content["job_id"]
            deadline = time.monotonic() + 60
            while True:
                view = await client.call_tool("job_status", {"project_dir": ".", "job_id": job_id})
                if view.structured_content["state"]["status"] in ("failed", "succeeded"):
                    return view
                assert time.monotonic() < deadline
                await asyncio.sleep(0.2)

    view = asyncio.run(run())
    assert view.structured_content["state"]["status"] == "failed"
    assert "[OPENAI_API_KEY]" in view.structured_content["state"]["error"]
    assert KEY not in view.content[0].text
    assert KEY not in _everything_under(project.root)
