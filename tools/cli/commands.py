"""The `distill` command line (also `python -m slm_distill`).

    distill init sql-bot --schema shop.sql --teacher anthropic:claude-sonnet-4-5
    cd sql-bot && distill seeds add seeds.jsonl && distill validate-teacher
    distill generate --dry-run && distill generate --n 2000 && distill status
    distill config set training.max_steps 20

Each stage command's options come from its request model (tools/requests.py, through
tools/cli/options.py) and its work from tools/stages.py, the same entry points the MCP server
calls. Exit codes: 0 success, 1 a gate or validation failure, 2 bad usage. Heavy libraries are
imported inside the commands that need them, so `distill --help` stays fast and never imports torch.
"""

from __future__ import annotations

import logging
import sys
import traceback
import typing
from pathlib import Path
from typing import Any

import click

from slm_distill.tools.actions import say
from slm_distill.tools.cli.console import bar_events, progress_bar, run_gate
from slm_distill.tools.cli.options import request_options
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
    TaskName,
    TrainRequest,
    ValidateJudgeRequest,
    ValidateTeacherRequest,
)

VERBOSITY = 0  # -v count: -vv shows the traceback of an unexpected failure
project_option = click.option(
    "--project", "project_dir", type=click.Path(file_okay=False, path_type=Path), default=".",
    show_default=True, help="Project directory.",
)
detach_option = click.option("--detach", is_flag=True,
                             help="Start the job and return its id at once.")


def _load(project_dir: Path) -> Any:
    from slm_distill.tools.workspace.project import Project

    return Project.load(project_dir)


def _err(text: str) -> None:
    click.echo(text, err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More log output on stderr (-v, -vv).")
@click.version_option(package_name="slm-distill")
def cli(verbose: int) -> None:
    """Distil a large teacher LLM into a small local student for one task."""
    global VERBOSITY
    VERBOSITY = verbose
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")


# -- setting up ------------------------------------------------------------------------------------
@cli.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@request_options(InitRequest)
def init(directory: Path, request: InitRequest) -> None:
    """Create a project in DIRECTORY."""
    from slm_distill.tools import stages
    from slm_distill.tools.workspace.status import project_status

    project = stages.init(directory, request)
    click.echo(f"Created project {project.config.name!r} in {project.root}")
    for note in project.init_notes:
        click.echo(note, err=True)
    click.echo(project_status(project).summary())


@cli.group()
def seeds() -> None:
    """Manage seed examples."""


@seeds.command("add")
@request_options(AddSeedsRequest)
@project_option
def seeds_add(request: AddSeedsRequest, project_dir: Path) -> None:
    """Validate every line of FILE, then append them all to the project's seeds."""
    from slm_distill.tools import stages

    click.echo(stages.add_seeds(_load(project_dir), request).summary())


@cli.command("validate-teacher")
@request_options(ValidateTeacherRequest)
@project_option
def validate_teacher_cmd(request: ValidateTeacherRequest, project_dir: Path) -> None:
    """Run the teacher on the validation seeds: the gate before generation."""
    from slm_distill.tools import stages

    run_gate("validating teacher", stages.validate_teacher, _load(project_dir), request)


@cli.command("validate-judge")
@request_options(ValidateJudgeRequest)
@project_option
def validate_judge_cmd(request: ValidateJudgeRequest, project_dir: Path) -> None:
    """Check the judge on the seeds (generation): references high, damaged answers low."""
    from slm_distill.tools import stages

    run_gate("validating judge", stages.validate_judge, _load(project_dir), request)


@cli.group()
def config() -> None:
    """Read or change the project's configuration (distill.yaml), field by field."""


@config.command("get")
@request_options(ConfigGetRequest)
@project_option
def config_get(request: ConfigGetRequest, project_dir: Path) -> None:
    """Show KEY (a field or a section; default: everything) with defaults that differ."""
    from slm_distill.tools.workspace.settings import config_view

    view = config_view(_load(project_dir), request.key)
    click.echo(view.summary())
    if request.key and len(view.fields) == 1:
        click.echo(f"  {view.fields[0].description}")


@config.command("set")
@request_options(ConfigSetRequest)
@project_option
def config_set(request: ConfigSetRequest, project_dir: Path) -> None:
    """Set KEY to VALUE (read as YAML: 20, 2e-4, true, null), validated before it is saved."""
    import yaml

    from slm_distill.tools import stages

    try:
        value = yaml.safe_load(request.value) if isinstance(request.value, str) else request.value
    except yaml.YAMLError as exc:
        raise click.BadParameter(f"not YAML: {exc}", param_hint="VALUE") from None
    change = stages.set_config(_load(project_dir), request.model_copy(update={"value": value}))
    click.echo(change.summary())


@cli.command()
@project_option
def status(project_dir: Path) -> None:
    """Show where the project stands and what to do next."""
    from slm_distill.tools.workspace.status import project_status

    click.echo(project_status(_load(project_dir)).summary())


# -- the stages ------------------------------------------------------------------------------------
def _shown(prepared: Any) -> bool:
    """Show what the stage's checks answered; say whether to go on."""
    if prepared.answer is not None:
        click.echo(prepared.answer.summary())
    return prepared.go


def _inline(project_dir: Path, kind: str, request: Request, label: str) -> Any:
    """A stage in this process, with a progress bar; its report, or None when it did not run."""
    from slm_distill.tools import stages

    project = _load(project_dir)
    with stages.starting(project, kind, request) as prepared:
        if not _shown(prepared):
            return None
        with progress_bar(label) as update:
            report = stages.run(project, kind, request, bar_events(update))
    click.echo(report.summary())
    return report


def _job(project_dir: Path, kind: str, request: Request, detach: bool) -> None:
    """A stage as a background job, followed until it ends unless `detach`."""
    from slm_distill.tools import stages
    from slm_distill.tools.workspace.jobs import start_job

    project = _load(project_dir)
    with stages.starting(project, kind, request) as prepared:
        if not _shown(prepared):
            return
        job = start_job(project, kind, request, prepared.lock)
    if detach:
        click.echo(f"Started {kind} job {job.id}. Follow it with: {say('follow_job', job_id=job.id)}")
        return
    click.echo(f"{kind.capitalize()} job {job.id} (Ctrl-C stops following; the job goes on).")
    follow_job(project, job.id)


@cli.command()
@request_options(GenerateRequest)
@project_option
def generate(request: GenerateRequest, project_dir: Path) -> None:
    """Generate validated training pairs with the teacher."""
    report = _inline(project_dir, "generate", request, "generating pairs")
    if report is not None and report.stopped:
        sys.exit(1)


@cli.command()
@request_options(TrainRequest)
@detach_option
@project_option
def train(request: TrainRequest, detach: bool, project_dir: Path) -> None:
    """Fine-tune the student on data/train.jsonl (a background job)."""
    _job(project_dir, "train", request, detach)


@cli.command("evaluate")
@request_options(EvaluateRequest)
@project_option
def evaluate_cmd(request: EvaluateRequest, project_dir: Path) -> None:
    """Base vs trained student vs teacher on the held-out test split."""
    _inline(project_dir, "evaluate", request, "evaluating")


@cli.command()
@request_options(ExportRequest)
@project_option
def export(request: ExportRequest, project_dir: Path) -> None:
    """Export GGUF files (f16 + quantisations), re-evaluated in llama.cpp, plus a Modelfile."""
    _inline(project_dir, "export", request, "exporting")


@cli.command()
@request_options(ImproveRequest)
@detach_option
@project_option
def improve(request: ImproveRequest, detach: bool, project_dir: Path) -> None:
    """Failure-targeted rounds: new pairs for what the student gets wrong, retrain, re-evaluate."""
    _job(project_dir, "improve", request, detach)


# -- jobs ------------------------------------------------------------------------------------------
def follow_job(project: Any, job_id: str) -> None:
    """Follow a job with a progress bar until it ends; exit 1 unless it succeeded."""
    import time

    from slm_distill.tools.workspace.jobs import TERMINAL, job_status, log_tail

    with progress_bar(job_status(project, job_id).kind) as update:
        while (state := job_status(project, job_id)).status not in TERMINAL:
            note = state.message or "  ".join(f"{k} {v:.3g}" for k, v in state.metrics.items()
                                              if isinstance(v, int | float))
            update(state.step or 0, state.total_steps or 0, note)
            time.sleep(1.0)
    click.echo(state.summary())
    if state.status != "succeeded":
        click.echo(log_tail(project, job_id, 15), err=True)
        sys.exit(1)


@cli.command()
@project_option
def jobs(project_dir: Path) -> None:
    """List the project's jobs."""
    from slm_distill.tools.workspace.jobs import list_jobs

    states = list_jobs(_load(project_dir))
    if not states:
        click.echo("No jobs yet.")
    for s in states:
        step = f"step {s.step}/{s.total_steps}" if s.step is not None else ""
        click.echo(f"{s.id}  {s.kind:<8} {s.status:<10} {s.created_at}  {step}")


@cli.command()
@request_options(JobRequest)
@click.option("--follow", is_flag=True, help="Follow it until it ends.")
@click.option("--cancel", is_flag=True, help="Stop it (checkpoints are kept; a rerun resumes).")
@project_option
def job(request: JobRequest, follow: bool, cancel: bool, project_dir: Path) -> None:
    """Show (or follow, or cancel) one job."""
    from slm_distill.tools.workspace.jobs import cancel_job, job_status, log_tail

    project = _load(project_dir)
    if cancel:
        click.echo(cancel_job(project, request.job_id).summary())
    elif follow:
        follow_job(project, request.job_id)
    else:
        click.echo(job_status(project, request.job_id).summary())
        click.echo(log_tail(project, request.job_id, 5))


# -- the rest --------------------------------------------------------------------------------------
def _per_example(attribute: str) -> str:
    from slm_distill.tools.cli.demo import EXAMPLES

    return ", ".join(f"{name} {getattr(e, attribute)}" for name, e in EXAMPLES.items())


@cli.command()
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path),
              default=Path("demo-project"), show_default=True, help="Where to build the demo.")
@click.option("--task", type=click.Choice(typing.get_args(TaskName)), default="text2sql",
              show_default=True, help="Which bundled example.")
@click.option("--teacher", help="Teacher spec (default: the example's offline rule teacher).")
@click.option("--n", "n", type=click.IntRange(min=1),
              help="Pairs to generate (default: " + _per_example("pairs") + ").")
@click.option("--student", default="scratch:small", show_default=True, help="Student spec.")
@click.option("--steps", type=click.IntRange(min=1),
              help="Training steps (default: " + _per_example("steps") + ").")
def demo(directory: Path, task: str, teacher: str | None, n: int | None, student: str,
         steps: int | None) -> None:
    """Run a bundled example end to end, offline (Text2SQL by default)."""
    from slm_distill.tools.cli.demo import run_demo

    run_demo(directory, task=task, teacher=teacher, n=n, student=student, steps=steps)


@cli.command()
@click.option("--root", type=click.Path(file_okay=False, path_type=Path), default=".",
              show_default=True, help="The one workspace the server may read and write.")
@click.option("--http", is_flag=True, help="Serve streamable HTTP on 127.0.0.1 instead of stdio.")
@click.option("--port", type=click.IntRange(1, 65535), default=8765, show_default=True,
              help="Port for --http.")
def mcp(root: Path, http: bool, port: int) -> None:
    """Run the MCP server (stdio by default) over one workspace root."""
    import anyio

    from slm_distill.tools.errors import require

    require("mcp", "mcp", "mcp")
    from slm_distill.server.app import build_server

    if not root.is_dir():
        raise click.BadParameter(f"{root} is not a directory", param_hint="--root")
    server = build_server(root)
    if http:
        anyio.run(lambda: server.run_streamable_http_async(host="127.0.0.1", port=port))
    else:
        anyio.run(server.run_stdio_async)


@cli.command("install-skill")
@click.option("--user", "scope", flag_value="user", help="Into ~/.claude/skills (every project).")
@click.option("--project", "scope", flag_value="project", default=True,
              help="Into ./.claude/skills (this project only; the default).")
def install_skill(scope: str) -> None:
    """Copy the slm-distill skill where Claude Code finds it."""
    import shutil
    from importlib import resources

    base = Path.home() if scope == "user" else Path.cwd()
    target = base / ".claude" / "skills" / "slm-distill"
    source = resources.files("slm_distill.skill")
    target.mkdir(parents=True, exist_ok=True)
    with resources.as_file(source) as folder:
        shutil.copy(Path(folder) / "SKILL.md", target / "SKILL.md")
        shutil.copytree(Path(folder) / "references", target / "references", dirs_exist_ok=True)
    click.echo(f"Installed the skill in {target}. Restart Claude Code to load it.")


def main(argv: list[str] | None = None) -> None:
    """The CLI, its output scrubbed of API keys, its errors as messages and exit codes."""
    from slm_distill.tools.secrets import Scrubbed

    streams = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = Scrubbed(sys.stdout), Scrubbed(sys.stderr)
    try:
        _run(argv)
    finally:
        sys.stdout, sys.stderr = streams


def _run(argv: list[str] | None) -> None:
    try:
        cli.main(args=argv, prog_name="distill", standalone_mode=False)
    except click.exceptions.Abort:
        _err("Aborted.")
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except DistillError as exc:
        _err(f"error: {exc.render('cli')}")
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        _err("Interrupted; finished work is saved and a rerun resumes.")
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - a bug: one line, the traceback only with -vv
        if VERBOSITY >= 2:
            traceback.print_exc()
        _err(f"error: {type(exc).__name__}: {exc}\nThis is a bug in slm-distill; rerun with -vv "
             "for the traceback and report it.")
        sys.exit(1)
