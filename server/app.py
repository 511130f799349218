"""The slm-distill MCP server: thin wrappers over slm_distill.tools, one workspace root.

    distill mcp                      # stdio (Claude Code, Claude Desktop, Cursor, VS Code)
    distill mcp --http --port 8765   # streamable HTTP on 127.0.0.1

Long work (generate_pairs, train_student, evaluate, export_gguf) starts a job and returns its id
within seconds; poll job_status. Errors come back as tool errors that say what to do next.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import anyio
import anyio.from_thread
import anyio.to_thread
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import BaseModel, Field

from slm_distill.server.paths import inside
from slm_distill.server.quoting import NOTE, quote, quote_lines, quote_tree
from slm_distill.tools import jobs as job_tools
from slm_distill.tools.errors import DistillError
from slm_distill.tools.generate_pairs import GenerationEstimate
from slm_distill.tools.improve import ImprovePlan
from slm_distill.tools.project import Project, add_seeds, init_project
from slm_distill.tools.status import ProjectStatus, project_status
from slm_distill.tools.validate_teacher import TeacherValidationReport

READ_ONLY = ToolAnnotations(readOnlyHint=True, destructiveHint=False, openWorldHint=False)
LOCAL_WRITE = ToolAnnotations(readOnlyHint=False, destructiveHint=False, openWorldHint=False)
SPENDS = ToolAnnotations(readOnlyHint=False, destructiveHint=False, openWorldHint=True)
MAX_WAIT_S = 50.0  # clients time tool calls out after about 60 s

ProjectArg = Annotated[str, Field(description="Project directory, relative to the workspace root.")]
WaitArg = Annotated[float, Field(
    description="Seconds to wait for the job, sending progress notifications, before returning "
    f"(0 to {MAX_WAIT_S:.0f}). A job that ends sooner returns its result at once.",
    ge=0, le=MAX_WAIT_S)]


class JobStarted(BaseModel):
    job_id: str = Field(description="Poll it with job_status.")
    kind: str
    status: str = Field(description="queued | running | succeeded | failed | cancelled")
    progress: float | None = Field(None, description="0..1 when known.")
    message: str = ""
    result: dict[str, Any] | None = Field(None, description="Set when the job ended within the wait "
                                          "(quoted data).")
    error: str | None = None
    next_step: str


class SeedsAdded(BaseModel):
    added: int
    total: int
    validation: int = Field(description="Seeds that validate the teacher (20%).")
    test: int = Field(description="Seeds held out as the test set (80%).")


class JobView(BaseModel):
    state: dict[str, Any] = Field(description="Status, progress, ETA, latest metrics, result "
                                  "(texts quoted and truncated).")
    log_tail: str = Field(description="The last lines of the job's log (quoted data).")
    note: str = NOTE


class JobList(BaseModel):
    jobs: list[dict[str, Any]]


class GenerateResult(BaseModel):
    estimate: GenerationEstimate | None = Field(None, description="Set for dry_run=true.")
    job: JobStarted | None = Field(None, description="Set when generation was started.")


class ImproveResult(BaseModel):
    plan: ImprovePlan = Field(description="The failure groups and the new pairs each gets.")
    estimate: GenerationEstimate | None = Field(None, description="Teacher cost of one round's "
                                                "pairs (set for dry_run=true).")
    job: JobStarted | None = Field(None, description="Set when the round was started (dry_run=false).")


class QuotedTeacherReport(TeacherValidationReport):
    note: str = NOTE


def _guard(fn: Callable) -> Callable:
    """Turn the pipeline's errors into tool errors that tell the agent what to do next. Blocking
    tools run in a worker thread, so the server keeps answering while they work."""

    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            if inspect.iscoroutinefunction(fn):
                return await fn(*args, **kwargs)
            return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs))
        except DistillError as exc:
            raise ToolError(str(exc)) from None

    return wrapper


async def _in_thread(ctx: Context, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a blocking stage in a worker thread, relaying its progress(done, total, message) calls
    to the client as progress notifications."""
    def progress(done: int, total: int, message: str) -> None:
        anyio.from_thread.run(ctx.report_progress, done, total or None, message)

    return await anyio.to_thread.run_sync(functools.partial(fn, *args, progress=progress, **kwargs))


async def _follow(ctx: Context, project: Project, job: job_tools.JobState, wait_s: float,
                  next_step: str) -> JobStarted:
    """Send progress notifications for a job until it ends or `wait_s` passes."""
    deadline, sent = time.monotonic() + wait_s, -1.0
    while True:
        state = job_tools.job_status(project, job.id)
        done = round((state.progress or 0.0) * 100, 1)
        if done > sent:
            await ctx.report_progress(done, 100, state.message or f"{state.kind} job {state.status}")
            sent = done
        if state.status in job_tools.TERMINAL or time.monotonic() >= deadline:
            break
        await anyio.sleep(0.5)
    ended = state.status in job_tools.TERMINAL
    return JobStarted(
        job_id=state.id, kind=state.kind, status=state.status, progress=state.progress,
        message=quote(state.message), result=quote_tree(state.result) if state.result else None,
        error=quote(state.error) if state.error else None,
        next_step=("See result." if state.status == "succeeded" else
                   "Read log_tail with job_status and fix the cause." if ended else next_step))


def build_server(root: Path) -> MCPServer:
    root = root.resolve()
    server = MCPServer("slm-distill", instructions=(
        "Distil a large teacher LLM into a small local student for one task. Start with "
        "project_status or init_project; validate_teacher is the gate before generate_pairs. "
        + NOTE))

    def project(path: str) -> Project:
        return Project.load(inside(root, path, what="project"))

    async def start(ctx: Context, p: Project, kind: str, params: dict, wait_s: float,
                    next_step: str) -> JobStarted:
        job = await anyio.to_thread.run_sync(job_tools.start_job, p, kind, params)
        return await _follow(ctx, p, job, wait_s, next_step)

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
        """Validate every seed line (format, SQL validity, duplicates), then append them all; on any
        bad line nothing is added and the error names FILE:LINE."""
        p = project(project_dir)
        added = add_seeds(p, inside(root, seeds_file, what="seeds_file"))
        validation, test = p.split()
        return SeedsAdded(added=added, total=len(validation) + len(test),
                          validation=len(validation), test=len(test))

    @server.tool(name="validate_teacher", annotations=SPENDS)
    @_guard
    async def validate_teacher_tool(project_dir: ProjectArg, ctx: Context) -> QuotedTeacherReport:
        """Run the teacher on the validation seeds (the 0.80 gate), with progress notifications.
        Costs one teacher call per validation seed (cached calls are free)."""
        from slm_distill.tools.validate_teacher import validate_teacher

        report = await _in_thread(ctx, validate_teacher, project(project_dir))
        return QuotedTeacherReport.model_validate(quote_tree(report.model_dump(mode="json")))

    @server.tool(name="generate_pairs", annotations=SPENDS)
    @_guard
    async def generate_pairs_tool(
        ctx: Context,
        project_dir: ProjectArg,
        n: Annotated[int | None, Field(description="Pairs to keep (default: config, 1,000).", ge=1)]
        = None,
        dry_run: Annotated[bool, Field(description="Only estimate calls, tokens and dollars.")] = True,
        samples: Annotated[int | None, Field(description="Self-consistency answers per input.",
                                             ge=1, le=15)] = None,
        budget_usd: Annotated[float | None, Field(description="Stop after this many dollars.",
                                                  ge=0)] = None,
        wait_seconds: WaitArg = 5,
    ) -> GenerateResult:
        """Generate validated pairs with the teacher: SPENDS MONEY on hosted teachers. Call with
        dry_run=true first and show the user the estimate; with dry_run=false it starts a job."""
        from slm_distill.tools.generate_pairs import estimate_generation
        from slm_distill.tools.validate_teacher import check_gate

        p = project(project_dir)
        if dry_run:
            return GenerateResult(estimate=await anyio.to_thread.run_sync(
                functools.partial(estimate_generation, p, n=n, samples=samples)))
        await anyio.to_thread.run_sync(check_gate, p)
        return GenerateResult(job=await start(
            ctx, p, "generate", {"n": n, "samples": samples, "budget_usd": budget_usd},
            wait_seconds, "Poll job_status with this job_id until it succeeds."))

    @server.tool(name="train_student", annotations=SPENDS)
    @_guard
    async def train_student_tool(
        ctx: Context,
        project_dir: ProjectArg,
        fresh: Annotated[bool, Field(description="Start over instead of resuming from the last "
                                     "checkpoint (after a smoke run, or for a new iteration).")] = False,
        wait_seconds: WaitArg = 5,
    ) -> JobStarted:
        """Fine-tune the student on the generated pairs as a background job (GPU or CPU time:
        minutes to hours). Returns a job id; poll job_status."""
        return await start(ctx, project(project_dir), "train", {"resume": not fresh}, wait_seconds,
                           "Poll job_status; when it succeeds call evaluate.")

    @server.tool(name="evaluate", annotations=SPENDS)
    @_guard
    async def evaluate_tool(ctx: Context, project_dir: ProjectArg,
                            wait_seconds: WaitArg = 5) -> JobStarted:
        """Base vs trained student vs teacher on the held-out test seeds, as a job (the teacher's
        answers cost one call per test seed unless cached). Small sets finish within the wait."""
        return await start(ctx, project(project_dir), "evaluate", {}, wait_seconds,
                           "Poll job_status; then read the report resource for eval.")

    @server.tool(name="export_gguf", annotations=LOCAL_WRITE)
    @_guard
    async def export_gguf_tool(
        ctx: Context,
        project_dir: ProjectArg,
        quants: Annotated[list[str], Field(description="Quantisations besides f16.")] =
        ["q8_0", "q4_k_m", "q4_0"],  # noqa: B006 - a schema default, never mutated
        margin_points: Annotated[float, Field(description="Accuracy points a quantisation may "
                                              "lose and still be recommended.", ge=0)] = 2.0,
        wait_seconds: WaitArg = 5,
    ) -> JobStarted:
        """Export GGUF files and re-evaluate each in llama.cpp, as a job (CPU minutes)."""
        return await start(ctx, project(project_dir), "export",
                           {"quants": quants, "margin_points": margin_points}, wait_seconds,
                           "Poll job_status; a failed parity check means a template mismatch.")

    @server.tool(name="improve", annotations=SPENDS)
    @_guard
    async def improve_tool(
        ctx: Context,
        project_dir: ProjectArg,
        pairs: Annotated[int, Field(description="New targeted pairs per round.", ge=1, le=10_000)] = 200,
        rounds: Annotated[int, Field(description="Rounds of generate, retrain, re-evaluate.",
                                     ge=1, le=20)] = 1,
        max_groups: Annotated[int, Field(description="Failure groups targeted per round.", ge=1,
                                         le=20)] = 4,
        budget_usd: Annotated[float | None, Field(description="Dollars of teacher calls this "
                                                  "call may spend, all rounds.", ge=0)] = None,
        train_steps: Annotated[int | None, Field(description="Optimizer steps per retraining "
                                                 "(default: the training config).", ge=1)] = None,
        dry_run: Annotated[bool, Field(description="Only show the failure groups and the pairs "
                                       "each would get.")] = True,
        wait_seconds: WaitArg = 5,
    ) -> ImproveResult:
        """One or more failure-targeted rounds: group the latest evaluation's student failures by
        what the input needs, ask the teacher for pairs aimed at the largest groups (SPENDS MONEY
        on hosted teachers, then training time), retrain from the previous best, re-evaluate and
        report before/after per group and failure category. Call with dry_run=true first."""
        from slm_distill.tools.generate_pairs import estimate_generation
        from slm_distill.tools.improve import plan_improvement
        from slm_distill.tools.validate_teacher import check_gate

        p = project(project_dir)
        plan = await anyio.to_thread.run_sync(
            functools.partial(plan_improvement, p, pairs=pairs, max_groups=max_groups))
        if dry_run or not plan.failures:
            estimate = await anyio.to_thread.run_sync(
                functools.partial(estimate_generation, p, n=max(1, plan.pairs)))
            return ImproveResult(plan=plan, estimate=estimate)
        await anyio.to_thread.run_sync(check_gate, p)
        return ImproveResult(plan=plan, job=await start(
            ctx, p, "improve", {"pairs": pairs, "rounds": rounds, "max_groups": max_groups,
                                "budget_usd": budget_usd, "train_steps": train_steps},
            wait_seconds, "Poll job_status; then read the report resource for improve."))

    @server.tool(name="job_status", annotations=READ_ONLY)
    @_guard
    def job_status_tool(project_dir: ProjectArg,
                        job_id: Annotated[str, Field(description="Id from a tool that started a job.")]
                        ) -> JobView:
        """State, progress, ETA, latest metrics and the tail of a job's log."""
        return _job_view(project(project_dir), job_tools.job_status, job_id)

    @server.tool(name="cancel_job", annotations=LOCAL_WRITE)
    @_guard
    def cancel_job_tool(project_dir: ProjectArg,
                        job_id: Annotated[str, Field(description="The job to stop.")]) -> JobView:
        """Stop a job cleanly; checkpoints and cached calls stay, so a rerun resumes."""
        return _job_view(project(project_dir), job_tools.cancel_job, job_id)

    @server.tool(name="list_jobs", annotations=READ_ONLY)
    @_guard
    def list_jobs_tool(project_dir: ProjectArg) -> JobList:
        """Every job of the project with its status."""
        return JobList(jobs=[quote_tree(j.model_dump(mode="json", exclude={"result"}))
                             for j in job_tools.list_jobs(project(project_dir))])

    _resources(server, project)
    _prompts(server)
    return server


def _job_view(p: Project, action: Callable[[Project, str], job_tools.JobState], job_id: str) -> JobView:
    state = action(p, job_id)
    return JobView(state=quote_tree(state.model_dump(mode="json")),
                   log_tail=quote_lines(job_tools.log_tail(p, job_id)))

REPORT_LINE = 500
REPORTS = ("teacher_validation", "generation", "train", "eval", "export", "improve")


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
        """A report (teacher_validation, generation, train, eval, export, improve) as Markdown
        (quoted data: lines longer than 500 characters are cut)."""
        if name not in REPORTS:
            raise ToolError(f"Unknown report {name!r}; reports: {', '.join(REPORTS)}.")
        return _read(lambda: quote_lines(project(project_dir).report_path(name, "md").read_text(),
                                         REPORT_LINE))

    @server.resource("distill://project/{project_dir}/job/{job_id}/log", mime_type="text/plain")
    def job_log_resource(project_dir: str, job_id: str) -> str:
        """The last 200 lines of a job's log (quoted data)."""
        return _read(lambda: quote_lines(job_tools.log_tail(project(project_dir), job_id, 200)))


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
