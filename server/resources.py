"""MCP resources and prompts: the project's config, seeds summary, reports and job logs under
stable distill:// URIs, and the prompts that start a workflow."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError

from slm_distill.server.quoting import quote_lines
from slm_distill.tools.actions import surface
from slm_distill.tools.errors import DistillError
from slm_distill.tools.secrets import scrub
from slm_distill.tools.workspace import jobs as job_tools
from slm_distill.tools.workspace.status import project_status

REPORT_LINE = 500
REPORTS = ("teacher_validation", "judge_validation", "generation", "train", "eval", "export", "improve")
# and those a project writes besides: eval-<test file>, improve-<k>-train, improve-<k>-eval
OTHER_REPORT = re.compile(r"^(eval-[A-Za-z0-9_-]+|improve-\d+-(train|eval))$")


def add_resources(server: MCPServer, project: Callable[[str], Any]) -> None:
    """Project config, seeds summary, reports and job logs under stable distill:// URIs."""

    @server.resource("distill://project/{project_dir}/config", mime_type="application/x-yaml")
    def config_resource(project_dir: str) -> str:
        """The project's distill.yaml."""
        return _read(lambda: project(project_dir).path("distill.yaml").read_text())

    @server.resource("distill://project/{project_dir}/seeds", mime_type="application/json")
    def seeds_resource(project_dir: str) -> str:
        """Seeds summary: counts by difficulty and split."""
        def summary() -> str:
            status = project_status(project(project_dir))
            return status.model_dump_json(include={"seeds", "seeds_by_difficulty",
                                                   "validation_seeds", "test_seeds"})
        return _read(summary)

    @server.resource("distill://project/{project_dir}/report/{name}", mime_type="text/markdown")
    def report_resource(project_dir: str, name: str) -> str:
        """A report as Markdown: teacher_validation, judge_validation, generation, train, eval,
        export, improve, and eval-<test file>, improve-<k>-train, improve-<k>-eval (quoted data:
        lines longer than 500 characters are cut)."""
        if name not in REPORTS and not OTHER_REPORT.match(name):
            raise ResourceError(f"Unknown report {name[:100]!r}; reports: {', '.join(REPORTS)}, "
                            "eval-<test file>, improve-<k>-train, improve-<k>-eval.")
        return _read(lambda: quote_lines(project(project_dir).report_path(name, "md").read_text(),
                                         REPORT_LINE))

    @server.resource("distill://project/{project_dir}/job/{job_id}/log", mime_type="text/plain")
    def job_log_resource(project_dir: str, job_id: str) -> str:
        """The last 200 lines of a job's log (quoted data)."""
        return _read(lambda: quote_lines(job_tools.log_tail(project(project_dir), job_id, 200)))


def _read(fn: Any) -> str:
    try:
        with surface("mcp"):
            return fn()
    except FileNotFoundError as exc:
        raise ResourceError(f"Not written yet: {Path(exc.filename).name}. Run the stage that writes "
                        "it first (see project_status).") from None
    except DistillError as exc:
        raise ResourceError(exc.render("mcp")) from None
    except OSError as exc:
        raise ResourceError(scrub(f"{type(exc).__name__}: {exc}")) from None


def add_prompts(server: MCPServer) -> None:
    from slm_distill.prompts import render_prompt

    @server.prompt(name="distill", description="Start a distillation from a task description.")
    def distill_prompt(task: str, project_dir: str = "distill-project") -> str:
        """task: what the small model should do. project_dir: the project, relative to the
        workspace root (created if it does not exist yet)."""
        return render_prompt("mcp_distill", task=task, project=project_dir)

    @server.prompt(name="diagnose", description="Read the evaluation failures; propose changes.")
    def diagnose_prompt(project_dir: str) -> str:
        return render_prompt("mcp_diagnose", project=project_dir)

    @server.prompt(name="improve", description="Run one failure-targeted improvement round.")
    def improve_prompt(project_dir: str) -> str:
        return render_prompt("mcp_improve", project=project_dir)
