"""What the MCP tests do as a client: call a tool that must succeed, and poll a job to its end."""

from __future__ import annotations

import asyncio
import time

from mcp import Client


async def ok(client: Client, name: str, args: dict, progress: list | None = None) -> dict:
    """Call `name`; fail the test with the tool's message if it errs; its structured result."""
    async def record(done: float, total: float | None, message: str | None) -> None:
        progress.append((done, total, message))

    result = await client.call_tool(name, args, progress_callback=record if progress is not None
                                    else None)
    assert not result.is_error, (name, result.content[0].text)
    return result.structured_content


async def finish(client: Client, job: dict, project_dir: str = "proj", timeout: float = 600) -> dict:
    """Poll job_status until `job` ends; it must have succeeded."""
    deadline = time.monotonic() + timeout
    while job["status"] not in ("succeeded", "partial", "failed", "cancelled"):
        assert time.monotonic() < deadline, f"job {job} did not finish"
        await asyncio.sleep(0.5)
        view = await ok(client, "job_status", {"project_dir": project_dir, "job_id": job["job_id"]})
        job = {**view["state"], "job_id": view["state"]["id"], "log": view["log_tail"]}
    assert job["status"] == "succeeded", job
    return job
