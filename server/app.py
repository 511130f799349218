"""The slm-distill MCP server: thin wrappers over slm_distill.tools, one workspace root.

    distill mcp                      # stdio (Claude Code, Claude Desktop, Cursor, VS Code)
    distill mcp --http --port 8765   # streamable HTTP on 127.0.0.1

Long work (generate_pairs, train_student, evaluate, export_gguf) starts a job and returns its id
within seconds; poll job_status. Errors come back as tool errors that say what to do next.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import BaseModel, Field

from slm_distill.server.paths import inside
from slm_distill.tools import jobs as job_tools
from slm_distill.tools.errors import DistillError
from slm_distill.tools.generate_pairs import GenerationEstimate
from slm_distill.tools.project import Project, add_seeds, init_project
from slm_distill.tools.status import ProjectStatus, project_status
from slm_distill.tools.validate_teacher import TeacherValidationReport

READ_ONLY = ToolAnnotations(readOnlyHint=True, destructiveHint=False, openWorldHint=False)
LOCAL_WRITE = ToolAnnotations(readOnlyHint=False, destructiveHint=False, openWorldHint=False)
SPENDS = ToolAnnotations(readOnlyHint=False, destructiveHint=False, openWorldHint=True)

ProjectArg = Annotated[str, Field(description="Project directory, relative to the workspace root.")]


class JobStarted(BaseModel):
    job_id: str = Field(description="Poll it with job_status.")
    kind: str
    status: str
    next_step: str


class SeedsAdded(BaseModel):
    added: int
    total: int
    validation: int = Field(description="Seeds that validate the teacher (20%).")
    test: int = Field(description="Seeds held out as the test set (80%).")


class JobView(BaseModel):
    state: dict[str, Any] = Field(description="Status, progress, ETA, latest metrics, result.")
    log_tail: str = Field(description="The last lines of the job's log (quoted data).")


class JobList(BaseModel):
    jobs: list[dict[str, Any]]


class GenerateResult(BaseModel):
    estimate: GenerationEstimate | None = Field(None, description="Set for dry_run=true.")
    job: JobStarted | None = Field(None, description="Set when generation was started.")


def _guard(fn: Any) -> Any:
    """Turn the pipeline's errors into tool errors that tell the agent what to do next."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except DistillError as exc:
            raise ToolError(str(exc)) from None

    return wrapper


def build_server(root: Path) -> MCPServer:
    root = root.resolve()
    server = MCPServer("slm-distill", instructions=(
        "Distil a large teacher LLM into a small local student for one task. Start with "
        "project_status or init_project; validate_teacher is the gate before generate_pairs."))

    def project(path: str) -> Project:
        return Project.load(inside(root, path, what="project"))

    @server.tool(name="project_status", annotations=READ_ONLY)
    @_guard
    def project_status_tool(project_dir: ProjectArg) -> ProjectStatus:
        """Where a project stands (seeds, teacher gate, pairs, training, reports) and what to do next."""
        return project_status(project(project_dir))

    @server.tool(name="init_project", annotations=LOCAL_WRITE)
    @_guard
    def init_project_tool(
        project_dir: ProjectArg,
        schema_file: Annotated[str | None, Field(description="SQL file (CREATE TABLE + INSERT) "
                                                 "inside the workspace, to build the database.")] = None,
        db_file: Annotated[str | None, Field(description="An existing DuckDB file inside the "
                                             "workspace.")] = None,
        teacher: Annotated[str, Field(description="Teacher spec, e.g. anthropic:claude-sonnet-4-5.")] =
        "anthropic:claude-sonnet-4-5",
        student: Annotated[str, Field(description="Student: model id, local dir or scratch:tiny.")] =
        "Qwen/Qwen2.5-0.5B-Instruct",
    ) -> ProjectStatus:
        """Create a Text2SQL project from a schema file or a DuckDB database. Writes only inside it."""
        schema = inside(root, schema_file, what="schema_file") if schema_file else None
        db = inside(root, db_file, what="db_file") if db_file else None
        made = init_project(inside(root, project_dir, what="project"), schema=schema, db=db,
                            teacher=teacher, student=student)
        return project_status(made)

    @server.tool(name="add_seeds", annotations=LOCAL_WRITE)
    @_guard
    def add_seeds_tool(
        project_dir: ProjectArg,
        seeds_file: Annotated[str, Field(description="JSONL of {input, output, metadata} lines "
                                         "inside the workspace.")],
    ) -> SeedsAdded:
        """Validate every seed line (format, SQL validity, duplicates), then append them all."""
        p = project(project_dir)
        added = add_seeds(p, inside(root, seeds_file, what="seeds_file"))
        validation, test = p.split()
        return SeedsAdded(added=added, total=len(validation) + len(test),
                          validation=len(validation), test=len(test))

    @server.tool(name="validate_teacher", annotations=SPENDS)
    @_guard
    def validate_teacher_tool(project_dir: ProjectArg) -> TeacherValidationReport:
        """Run the teacher on the validation seeds (the 0.80 gate). Costs one teacher call per
        validation seed (cached calls are free)."""
        from slm_distill.tools.validate_teacher import validate_teacher

        return validate_teacher(project(project_dir))

    def start(p: Project, kind: str, params: dict, next_step: str) -> JobStarted:
        job = job_tools.start_job(p, kind, params)
        return JobStarted(job_id=job.id, kind=kind, status=job.status, next_step=next_step)

    @server.tool(name="generate_pairs", annotations=SPENDS)
    @_guard
    def generate_pairs_tool(
        project_dir: ProjectArg,
        n: Annotated[int | None, Field(description="Pairs to keep (default: config, 1,000).", ge=1)]
        = None,
        dry_run: Annotated[bool, Field(description="Only estimate calls, tokens and dollars.")] = True,
        samples: Annotated[int | None, Field(description="Self-consistency answers per input.",
                                             ge=1, le=15)] = None,
        budget_usd: Annotated[float | None, Field(description="Stop after this many dollars.",
                                                  ge=0)] = None,
    ) -> GenerateResult:
        """Generate validated pairs with the teacher: SPENDS MONEY on hosted teachers. Call with
        dry_run=true first and show the user the estimate; with dry_run=false it starts a job."""
        from slm_distill.tools.generate_pairs import estimate_generation
        from slm_distill.tools.validate_teacher import check_gate

        p = project(project_dir)
        if dry_run:
            return GenerateResult(estimate=estimate_generation(p, n=n, samples=samples))
        check_gate(p)
        return GenerateResult(job=start(p, "generate", {"n": n, "samples": samples,
                                                        "budget_usd": budget_usd},
                                        "Poll job_status with this job_id until it succeeds."))

    @server.tool(name="train_student", annotations=SPENDS)
    @_guard
    def train_student_tool(
        project_dir: ProjectArg,
        fresh: Annotated[bool, Field(description="Start over instead of resuming from the last "
                                     "checkpoint (after a smoke run, or for a new iteration).")] = False,
    ) -> JobStarted:
        """Fine-tune the student on the generated pairs as a background job (GPU or CPU time:
        minutes to hours). Returns a job id; poll job_status."""
        return start(project(project_dir), "train", {"resume": not fresh},
                     "Poll job_status; when it succeeds call evaluate.")

    @server.tool(name="evaluate", annotations=SPENDS)
    @_guard
    def evaluate_tool(project_dir: ProjectArg) -> JobStarted:
        """Base vs trained student vs teacher on the held-out test seeds, as a job (the teacher's
        answers cost one call per test seed unless cached)."""
        return start(project(project_dir), "evaluate", {},
                     "Poll job_status; then read the report resource for eval.")

    @server.tool(name="export_gguf", annotations=LOCAL_WRITE)
    @_guard
    def export_gguf_tool(
        project_dir: ProjectArg,
        quants: Annotated[list[str], Field(description="Quantisations besides f16.")] =
        ["q8_0", "q4_k_m", "q4_0"],  # noqa: B006 - a schema default, never mutated
        margin_points: Annotated[float, Field(description="Accuracy points a quantisation may "
                                              "lose and still be recommended.", ge=0)] = 2.0,
    ) -> JobStarted:
        """Export GGUF files and re-evaluate each in llama.cpp, as a job (CPU minutes)."""
        return start(project(project_dir), "export",
                     {"quants": quants, "margin_points": margin_points},
                     "Poll job_status; a failed parity check means a template mismatch.")

    @server.tool(name="job_status", annotations=READ_ONLY)
    @_guard
    def job_status_tool(project_dir: ProjectArg,
                        job_id: Annotated[str, Field(description="Id from a tool that started a job.")]
                        ) -> JobView:
        """State, progress, ETA, latest metrics and the tail of a job's log."""
        p = project(project_dir)
        state = job_tools.job_status(p, job_id)
        return JobView(state=state.model_dump(mode="json"), log_tail=job_tools.log_tail(p, job_id))

    @server.tool(name="cancel_job", annotations=LOCAL_WRITE)
    @_guard
    def cancel_job_tool(project_dir: ProjectArg,
                        job_id: Annotated[str, Field(description="The job to stop.")]) -> JobView:
        """Stop a job cleanly; checkpoints and cached calls stay, so a rerun resumes."""
        p = project(project_dir)
        state = job_tools.cancel_job(p, job_id)
        return JobView(state=state.model_dump(mode="json"), log_tail=job_tools.log_tail(p, job_id))

    @server.tool(name="list_jobs", annotations=READ_ONLY)
    @_guard
    def list_jobs_tool(project_dir: ProjectArg) -> JobList:
        """Every job of the project with its status."""
        return JobList(jobs=[j.model_dump(mode="json") for j in job_tools.list_jobs(project(project_dir))])

    _resources(server, project)
    _prompts(server)
    return server


REPORTS = ("teacher_validation", "generation", "train", "eval", "export")


def _resources(server: MCPServer, project: Any) -> None:
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
        """A report (teacher_validation, generation, train, eval, export) as Markdown."""
        if name not in REPORTS:
            raise ToolError(f"Unknown report {name!r}; reports: {', '.join(REPORTS)}.")
        return _read(lambda: project(project_dir).report_path(name, "md").read_text())

    @server.resource("distill://project/{project_dir}/job/{job_id}/log", mime_type="text/plain")
    def job_log_resource(project_dir: str, job_id: str) -> str:
        """The last 200 lines of a job's log."""
        return _read(lambda: job_tools.log_tail(project(project_dir), job_id, 200))


def _read(fn: Any) -> str:
    try:
        return fn()
    except FileNotFoundError as exc:
        raise ToolError(f"Not written yet: {Path(exc.filename).name}. Run the stage that writes "
                        "it first (see project_status).") from None
    except DistillError as exc:
        raise ToolError(str(exc)) from None


def _prompts(server: MCPServer) -> None:
    from slm_distill.prompts import render_prompt

    @server.prompt(name="distill", description="Start a distillation from a task description.")
    def distill_prompt(task: str) -> str:
        return render_prompt("mcp_distill", task=task)

    @server.prompt(name="diagnose", description="Read the evaluation failures; propose changes.")
    def diagnose_prompt(project_dir: str) -> str:
        return render_prompt("mcp_diagnose", project=project_dir)

    @server.prompt(name="improve", description="Run one failure-targeted improvement round.")
    def improve_prompt(project_dir: str) -> str:
        return render_prompt("mcp_improve", project=project_dir)
