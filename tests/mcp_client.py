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


async def every_stage(client: Client, project_dir: str, init: dict, settings: dict, pairs: int,
                      *, before_evaluate: dict | None = None, improve_steps: int = 10,
                      judge: bool = False) -> dict:
    """A bundled example through the tools in the skill's order: init_project, project_status,
    add_seeds, set_config, validate_judge (`judge`), validate_teacher, generate_pairs,
    train_student, evaluate, improve (the plan, then a round) and export_gguf q8_0, each job
    polled to its end; their results by name."""
    import yaml

    async def call(name: str, args: dict) -> dict:
        return await ok(client, name, {"project_dir": project_dir, **args})

    async def done(job: dict) -> dict:
        return await finish(client, job, project_dir)

    out = {"init": await call("init_project", init), "status": await call("project_status", {}),
           "added": await call("add_seeds", {"seeds_file": "seeds.jsonl"})}
    for key, value in settings.items():
        await call("set_config", {"key": key, "value": yaml.safe_load(value)})
    if judge:
        out["judge"] = await call("validate_judge", {})
    out["gate"] = await call("validate_teacher", {})
    await done((await call("generate_pairs", {"n": pairs, "dry_run": False}))["job"])
    out["train_estimate"] = await call("train_student", {"dry_run": True})
    await done((await call("train_student", {}))["job"])
    for key, value in (before_evaluate or {}).items():
        await call("set_config", {"key": key, "value": value})
    out["evaluated"] = await done(await call("evaluate", {}))
    await call("set_config", {"key": "training.max_steps", "value": improve_steps})
    out["plan"] = await call("improve", {"pairs": 20})
    out["improved"] = await done((await call("improve", {"pairs": 20, "dry_run": False}))["job"])
    out["exported"] = await done(await call("export_gguf", {"quants": ["q8_0"]}))
    return out
