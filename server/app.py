"""The slm-distill MCP server: thin wrappers over slm_distill.tools, one workspace root.

    distill mcp                      # stdio (Claude Code, Claude Desktop, Cursor, VS Code)
    distill mcp --http --port 8765   # streamable HTTP on 127.0.0.1

Every stage tool's arguments are its request model's fields (tools/requests.py, through
server/schema.py) and its work is tools/stages.py, the entry points the CLI calls too. Long work
(generate_pairs, train_student, evaluate, export_gguf, improve) starts a job and returns its id
within seconds; poll job_status. Errors come back as tool errors that say what to do next, phrased
as tool calls.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.from_thread
import anyio.to_thread
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations

from slm_distill.server.paths import confined, inside
from slm_distill.server.quoting import NOTE, quote, quote_lines, quote_tree
from slm_distill.server.resources import add_prompts, add_resources
from slm_distill.server.results import (
    GenerateResult,
    ImproveResult,
    JobList,
    JobStarted,
    JobView,
    QuotedJudgeReport,
    QuotedTeacherReport,
    TrainResult,
)
from slm_distill.server.schema import tool_function
from slm_distill.tools import stages
from slm_distill.tools.actions import surface
from slm_distill.tools.errors import DistillError
from slm_distill.tools.requests import (
    AddSeedsRequest,
    ConfigGetRequest,
    ConfigSetRequest,
    EvaluateRequest,
    ExportRequest,
    GenerateRequest,
    ImproveRequest,
    InitRequest,
    JobRequest,
    Request,
    TrainRequest,
    ValidateJudgeRequest,
    ValidateTeacherRequest,
    is_file_value,
)
from slm_distill.tools.secrets import scrub
from slm_distill.tools.workspace import jobs as job_tools
from slm_distill.tools.workspace.project import Project
from slm_distill.tools.workspace.settings import ConfigChange, ConfigView, config_view
from slm_distill.tools.workspace.status import ProjectStatus, project_status

log = logging.getLogger(__name__)
READ_ONLY = ToolAnnotations(readOnlyHint=True, destructiveHint=False, openWorldHint=False)
LOCAL_WRITE = ToolAnnotations(readOnlyHint=False, destructiveHint=False, openWorldHint=False)
SPENDS = ToolAnnotations(readOnlyHint=False, destructiveHint=False, openWorldHint=True)


class Tools:
    """The workspace root and what every tool needs from it."""

    def __init__(self, server: MCPServer, root: Path) -> None:
        self.server, self.root = server, root

    def project(self, path: str) -> Project:
        return confined(self.root, Project.load(inside(self.root, path, what="project")))

    def files_inside(self, request: Request) -> Request:
        """The request with each workspace file resolved inside the root (or refused)."""
        update = {name: str(inside(self.root, value, what=name))
                  for name, info in type(request).model_fields.items()
                  if (value := getattr(request, name)) and is_file_value(info, value)}
        return request.model_copy(update=update)

    def add(self, name: str, model: type[Request], handler: Callable, *, result: type, doc: str,
            annotations: ToolAnnotations, project: bool = True, wait: bool = False) -> None:
        fn = tool_function(name, doc, model, _guard(handler), result=result, project=project,
                           wait=wait)
        self.server.tool(name=name, annotations=annotations)(fn)

    async def begin(self, ctx: Context, p: Project, kind: str, request: Request, wait_s: float,
                    next_step: str) -> tuple[Any, JobStarted | None]:
        """The stage's checks under the writer lock, then its job, which takes the lock over:
        what the checks answered, and the job when one started."""
        def start() -> tuple[Any, job_tools.JobState | None]:
            with stages.starting(p, kind, request) as prepared:
                job = job_tools.start_job(p, kind, request, prepared.lock) if prepared.go else None
                return prepared.answer, job

        answer, job = await _thread(start)
        return answer, (await _follow(ctx, p, job, wait_s, next_step) if job else None)


def _guard(handler: Callable) -> Callable:
    """Phrase everything for MCP; turn the pipeline's errors into tool errors that say what to do."""

    @functools.wraps(handler)
    async def wrapper(*args: Any) -> Any:
        with surface("mcp"):
            try:
                return await handler(*args)
            except DistillError as exc:
                raise ToolError(exc.render("mcp")) from None
            except OSError as exc:  # a path too long, a disk full: say which, not a bare failure
                raise ToolError(scrub(f"{type(exc).__name__}: {exc}")) from None
            except ToolError:
                raise
            except Exception as exc:  # a bug: say what, not a bare "Error executing tool"
                log.exception("unexpected failure in a tool")
                raise ToolError(scrub(f"{type(exc).__name__}: {exc}. This is a bug in "
                                      "slm-distill; the server's log has the traceback.")) from None

    return wrapper


async def _thread(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """A blocking call in a worker thread (the context, hence the surface, goes with it)."""
    return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs))


async def _with_progress(ctx: Context, fn: Callable[..., Any], *args: Any) -> Any:
    """A blocking stage in a worker thread, relaying its progress(done, total, message) calls to
    the client as progress notifications."""
    def progress(done: int, total: int, message: str) -> None:
        anyio.from_thread.run(ctx.report_progress, done, total or None, message)

    return await _thread(fn, *args, progress=progress)


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
        next_step=(_done_next(state) if state.status in ("succeeded", "partial") else
                   "Read log_tail with job_status and fix the cause." if ended else next_step))


def _done_next(state: job_tools.JobState) -> str:
    """A finished job's next step: its report's own, when it has one."""
    return str((state.result or {}).get("next_step") or "See result.")


class DistillServer(MCPServer):
    """Refuses arguments a tool does not have (`dryrun` is not `dry_run`) instead of ignoring them."""

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Any = None) -> Any:
        tool = self._tool_manager.get_tool(name)
        if tool is not None:
            known = set(tool.parameters.get("properties", {}))
            unknown = sorted(set(arguments) - known)
            if unknown:
                raise ToolError(_unknown_arguments(name, unknown[:5], known))
        return await super().call_tool(name, arguments, context)


def _unknown_arguments(tool: str, unknown: list[str], known: set[str]) -> str:
    import difflib

    hints = [f"{u[:40]!r} (did you mean {close[0]!r}?)" if (close := difflib.get_close_matches(
        u, known, n=1)) else repr(u[:40]) for u in unknown]
    return (f"{tool} has no argument {', '.join(hints)}; nothing was done. Its arguments: "
            f"{', '.join(sorted(known))}.")


def build_server(root: Path) -> MCPServer:
    root = root.resolve()
    server = DistillServer("slm-distill", instructions=(
        "Distil a large teacher LLM into a small local student for one task. Start with "
        "project_status or init_project; validate_teacher is the gate before generate_pairs; "
        "get_config and set_config read and change the project's settings. " + NOTE))
    tools = Tools(server, root)
    _setup_tools(tools)
    _stage_tools(tools)
    _job_tools(tools)
    add_resources(server, tools.project)
    add_prompts(server)
    return server


def _setup_tools(t: Tools) -> None:
    async def status(ctx: Context, project_dir: str, request: Request, wait: Any) -> ProjectStatus:
        return await _thread(project_status, t.project(project_dir))

    async def init(ctx: Context, project_dir: str, request: InitRequest, wait: Any) -> ProjectStatus:
        directory = inside(t.root, project_dir, what="project")
        made = await _thread(stages.init, directory, t.files_inside(request))
        status = await _thread(project_status, made)
        return status.model_copy(update={"notes": made.init_notes})

    async def seeds(ctx: Context, project_dir: str, request: AddSeedsRequest, wait: Any) -> Any:
        return await _thread(stages.add_seeds, t.project(project_dir), t.files_inside(request))

    async def gate(ctx: Context, project_dir: str, request: ValidateTeacherRequest,
                   wait: Any) -> QuotedTeacherReport:
        report = await _with_progress(ctx, stages.validate_teacher, t.project(project_dir), request)
        return QuotedTeacherReport.model_validate(quote_tree(report.model_dump(mode="json")))

    async def judge_gate(ctx: Context, project_dir: str, request: ValidateJudgeRequest,
                         wait: Any) -> QuotedJudgeReport:
        report = await _with_progress(ctx, stages.validate_judge, t.project(project_dir), request)
        return QuotedJudgeReport.model_validate(quote_tree(report.model_dump(mode="json")))

    async def get(ctx: Context, project_dir: str, request: ConfigGetRequest, wait: Any) -> ConfigView:
        return await _thread(config_view, t.project(project_dir), request.key)

    async def put(ctx: Context, project_dir: str, request: ConfigSetRequest,
                  wait: Any) -> ConfigChange:
        return await _thread(stages.set_config, t.project(project_dir), request,
                             functools.partial(confined, t.root))

    t.add("project_status", Request, status, result=ProjectStatus, annotations=READ_ONLY,
          doc="Where a project stands (seeds, teacher gate, pairs, training, reports) and what to "
          "do next.")
    t.add("init_project", InitRequest, init, result=ProjectStatus, annotations=LOCAL_WRITE,
          doc="Create a project in project_dir: for text2sql from a DuckDB or SQLite file, a "
          "PostgreSQL URL or a schema file (exactly one), for classification with its labels "
          "(or take them from the seeds), for extraction with its JSON Schema, for tool_calling "
          "with its tools (a file, or listed from an MCP server), for generation with its "
          "instruction, rubric and judge. "
          "Writes only inside it.")
    t.add("add_seeds", AddSeedsRequest, seeds, result=stages.SeedsAdded, annotations=LOCAL_WRITE,
          doc="Validate every seed line (format, SQL validity, duplicates), then append them all; "
          "on any bad line nothing is added and the error names FILE:LINE.")
    t.add("validate_teacher", ValidateTeacherRequest, gate, result=QuotedTeacherReport,
          annotations=SPENDS, doc="Run the teacher on the validation seeds (the 0.80 gate), with "
          "progress notifications. Costs one teacher call per validation seed (cached calls are "
          "free); an LLM judge costs one more call per disputed answer.")
    t.add("validate_judge", ValidateJudgeRequest, judge_gate, result=QuotedJudgeReport,
          annotations=SPENDS, doc="Generation: check the LLM judge on the seeds (each reference "
          "should pass, three damaged copies of it should fail; gate judge.gate, 0.80) and write "
          "reports/judge_validation.{json,md}. Costs up to four judge calls per seed (at most 50 "
          "seeds; cached calls are free).")
    t.add("get_config", ConfigGetRequest, get, result=ConfigView, annotations=READ_ONLY,
          doc="The project's configuration (distill.yaml): every field with its value, default "
          "and description, or one field or section.")
    t.add("set_config", ConfigSetRequest, put, result=ConfigChange, annotations=LOCAL_WRITE,
          doc="Change one configuration field (a dotted key such as training.max_steps), validated "
          "before it is saved; returns the change. Refuses changes that would make existing pairs "
          "or a trained student inconsistent unless force is true.")


def _stage_tools(t: Tools) -> None:
    async def generate(ctx: Context, project_dir: str, request: GenerateRequest,
                       wait_s: float) -> GenerateResult:
        estimate, job = await t.begin(ctx, t.project(project_dir), "generate", request, wait_s,
                                      "Poll job_status with this job_id until it succeeds.")
        return GenerateResult(estimate=estimate, job=job)

    async def train(ctx: Context, project_dir: str, request: TrainRequest,
                    wait_s: float) -> TrainResult:
        estimate, job = await t.begin(ctx, t.project(project_dir), "train", request, wait_s,
                                      "Poll job_status; when it succeeds call evaluate.")
        return TrainResult(estimate=estimate, job=job)

    async def improve(ctx: Context, project_dir: str, request: ImproveRequest,
                      wait_s: float) -> ImproveResult:
        preview, job = await t.begin(ctx, t.project(project_dir), "improve", request, wait_s,
                                     "Poll job_status; then read the report resource for improve.")
        return ImproveResult(plan=preview.plan, estimate=preview.estimate, job=job)

    def job_stage(kind: str, next_step: str) -> Callable:
        async def handler(ctx: Context, project_dir: str, request: Request,
                          wait_s: float) -> JobStarted:
            _, job = await t.begin(ctx, t.project(project_dir), kind, t.files_inside(request),
                                   wait_s, next_step)
            assert job is not None  # these stages always go on once their checks pass
            return job

        return handler

    t.add("generate_pairs", GenerateRequest, generate, result=GenerateResult, annotations=SPENDS,
          wait=True, doc="Generate validated pairs with the teacher: SPENDS MONEY on hosted "
          "teachers. Call with dry_run=true first and show the user the estimate; with "
          "dry_run=false it starts a job.")
    t.add("train_student", TrainRequest, train, result=TrainResult, annotations=SPENDS,
          wait=True, doc="Fine-tune the student on the generated pairs as a background job (GPU "
          "or CPU time: minutes to hours). Call with dry_run=true first and show the user the "
          "measured time estimate; with dry_run=false it starts a job: poll job_status.")
    t.add("evaluate", EvaluateRequest, job_stage("evaluate", "Poll job_status; then read the "
          "report resource for eval."), result=JobStarted, annotations=SPENDS, wait=True,
          doc="Base vs trained student vs teacher on the held-out test seeds (or a fresh test "
          "file), as a job (the teacher's answers cost one call per test seed unless cached). "
          "Small sets finish within the wait.")
    t.add("export_gguf", ExportRequest, job_stage("export", "Poll job_status; a failed parity "
          "check means a template mismatch."), result=JobStarted, annotations=LOCAL_WRITE,
          wait=True, doc="Export GGUF files and re-evaluate each in llama.cpp, as a job (CPU "
          "minutes).")
    t.add("improve", ImproveRequest, improve, result=ImproveResult, annotations=SPENDS, wait=True,
          doc="One or more failure-targeted rounds: group the latest evaluation's student failures "
          "by what the input needs, ask the teacher for pairs aimed at the largest groups (SPENDS "
          "MONEY on hosted teachers, then training time), retrain from the previous best, "
          "re-evaluate and report before/after per group and failure category. Call with "
          "dry_run=true first.")


def _job_tools(t: Tools) -> None:
    def view(action: Callable[[Project, str], job_tools.JobState]) -> Callable:
        async def handler(ctx: Context, project_dir: str, request: JobRequest, wait: Any) -> JobView:
            p = t.project(project_dir)
            state = await _thread(action, p, request.job_id)
            return JobView(state=quote_tree(state.model_dump(mode="json")),
                           log_tail=quote_lines(job_tools.log_tail(p, request.job_id)))

        return handler

    async def listing(ctx: Context, project_dir: str, request: Request, wait: Any) -> JobList:
        states = await _thread(job_tools.list_jobs, t.project(project_dir))
        return JobList(jobs=[quote_tree(j.model_dump(mode="json", exclude={"result"}))
                             for j in states])

    t.add("job_status", JobRequest, view(job_tools.job_status), result=JobView,
          annotations=READ_ONLY, doc="State, progress, ETA, latest metrics and the tail of a "
          "job's log.")
    t.add("cancel_job", JobRequest, view(job_tools.cancel_job), result=JobView,
          annotations=LOCAL_WRITE, doc="Stop a job cleanly; checkpoints and cached calls stay, so "
          "a rerun resumes.")
    t.add("list_jobs", Request, listing, result=JobList, annotations=READ_ONLY,
          doc="Every job of the project with its status.")
