"""The `distill` command line (also `python -m slm_distill`).

    distill init sql-bot --task text2sql --schema shop.sql --teacher anthropic:claude-sonnet-4-5
    cd sql-bot && distill seeds add seeds.jsonl && distill validate-teacher
    distill generate --dry-run && distill generate --n 2000 && distill status

Exit codes: 0 success, 1 a gate or validation failure, 2 bad usage. Heavy libraries are imported
inside the commands that need them, so `distill --help` stays fast and never imports torch.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from slm_distill.tools.errors import DistillError

project_option = click.option(
    "--project", "project_dir", type=click.Path(file_okay=False, path_type=Path), default=".",
    show_default=True, help="Project directory.",
)


def _csv(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _load(project_dir: Path) -> Any:
    from slm_distill.tools.project import Project

    return Project.load(project_dir)


def _err(text: str) -> None:
    click.echo(text, err=True)


@contextmanager
def progress_bar(label: str) -> Iterator[Callable[[int, int, str], None]]:
    """A rich progress bar on stderr, fed by a stage's progress(done, total, message) calls."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TextColumn("{task.fields[note]}"))
    with Progress(*columns, console=console, transient=not console.is_terminal) as bar:
        task_id = bar.add_task(label, total=None, note="")

        def update(done: int, total: int, message: str) -> None:
            bar.update(task_id, completed=done, total=total, note=message[:60])

        yield update


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More log output on stderr (-v, -vv).")
@click.version_option(package_name="slm-distill")
def cli(verbose: int) -> None:
    """Distil a large teacher LLM into a small local student for one task."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")


@cli.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--task", default="text2sql", show_default=True, help="Task type.")
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path), help="DuckDB database file.")
@click.option("--schema", type=click.Path(dir_okay=False, path_type=Path),
              help="SQL file of CREATE TABLE + INSERT statements to build the database from.")
@click.option("--dialect", type=click.Choice(["duckdb", "postgres", "mysql", "sqlite"]),
              help="Dialect of --schema (default: DuckDB, falling back to PostgreSQL).")
@click.option("--teacher", help="Teacher spec, e.g. anthropic:claude-sonnet-4-5.")
@click.option("--student", help="Student: model id, local directory or scratch:tiny|small.")
@click.option("--name", help="Project name (default: the directory name).")
def init(directory: Path, task: str, db: Path | None, schema: Path | None, dialect: str | None,
         teacher: str | None, student: str | None, name: str | None) -> None:
    """Create a project in DIRECTORY."""
    from slm_distill.tools.config import DEFAULT_STUDENT, DEFAULT_TEACHER
    from slm_distill.tools.project import init_project

    project = init_project(directory, task=task, db=db, schema=schema, name=name,
                           teacher=teacher or DEFAULT_TEACHER, student=student or DEFAULT_STUDENT,
                           schema_dialect=dialect)
    click.echo(f"Created project {project.config.name!r} in {project.root}")
    click.echo(f"  database: {project.db_path}\n  teacher:  {project.config.teacher}\n"
               f"  student:  {project.config.student}")
    click.echo(f"Next: distill seeds add SEEDS.jsonl --project {directory}")


@cli.group()
def seeds() -> None:
    """Manage seed examples."""


@seeds.command("add")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@project_option
def seeds_add(file: Path, project_dir: Path) -> None:
    """Validate every line of FILE, then append them all to the project's seeds."""
    from slm_distill.tools.project import add_seeds

    project = _load(project_dir)
    added = add_seeds(project, file)
    validation, test = project.split()
    click.echo(f"Added {added} seeds ({len(validation) + len(test)} in all: {len(validation)} "
               f"validate the teacher, {len(test)} are the test set).")
    click.echo("Next: distill validate-teacher")


@cli.command("validate-teacher")
@click.option("--teacher", help="Validate (and adopt) this teacher instead of the project's.")
@click.option("--judge", help="Also ask this LLM judge about wrong-looking answers.")
@project_option
def validate_teacher_cmd(teacher: str | None, judge: str | None, project_dir: Path) -> None:
    """Run the teacher on the validation seeds: the gate before generation."""
    from slm_distill.tools.validate_teacher import validate_teacher

    project = _load(project_dir)
    with progress_bar("validating teacher") as update:
        report = validate_teacher(project, teacher_spec=teacher, judge_spec=judge, progress=update)
    print_teacher_report(report, project)
    if not report.passed:
        sys.exit(1)


def print_teacher_report(report: Any, project: Any) -> None:
    verdict = "PASSED" if report.passed else "FAILED"
    click.echo(f"Teacher gate {verdict}: {report.teacher} scored {report.accuracy:.1%} "
               f"({report.correct}/{report.n}) against {report.threshold:.0%}.")
    if report.offline_note:
        click.echo(f"  Note: {report.offline_note}")
    for name, group in report.by_difficulty.items():
        click.echo(f"  {name:<12} {group.correct}/{group.n} ({group.accuracy:.0%})")
    click.echo(f"  {len(report.failures)} failures listed in "
               f"{project.report_path('teacher_validation', 'md')}")
    click.echo(report.next_step)


@cli.command()
@click.option("--n", "n", type=click.IntRange(min=1), help="Pairs to keep (default: config).")
@click.option("--samples", type=click.IntRange(1, 15), help="Self-consistency answers per input.")
@click.option("--budget", type=click.FloatRange(min=0), help="Stop after this many dollars.")
@click.option("--batch", is_flag=True, default=None, help="Use the Message Batches API (anthropic).")
@click.option("--dry-run", is_flag=True, help="Only estimate calls, tokens and dollars.")
@click.option("--override-gate", metavar="REASON",
              help="Generate although the teacher failed its gate; the reason is recorded.")
@click.option("--fresh", is_flag=True, help="Discard pairs from earlier runs and start over.")
@project_option
def generate(n: int | None, samples: int | None, budget: float | None, batch: bool | None,
             dry_run: bool, override_gate: str | None, fresh: bool, project_dir: Path) -> None:
    """Generate validated training pairs with the teacher."""
    from slm_distill.tools.generate_pairs import estimate_generation, generate_pairs
    from slm_distill.tools.validate_teacher import override_gate as record_override

    project = _load(project_dir)
    if dry_run:
        est = estimate_generation(project, n=n, samples=samples, batch=batch)
        cost = f"${est.usd:.2f}" if est.priced else "unknown dollars"
        click.echo(f"Estimate for {est.teacher}: {est.calls} calls, {est.input_tokens:,} input + "
                   f"{est.output_tokens:,} output tokens, {cost} ({est.note}).")
        return
    if override_gate:
        record_override(project, override_gate)
    with progress_bar("generating pairs") as update:
        report = generate_pairs(project, n=n, samples=samples, budget_usd=budget, batch=batch,
                                fresh=fresh, progress=update)
    print_generation_report(report, project)
    if report.stopped:
        sys.exit(1)


def print_generation_report(r: Any, project: Any) -> None:
    click.echo(f"Kept {r.kept}/{r.target} pairs ({r.train} train, {r.validation} validation) from "
               f"{r.proposed} proposals in {r.calls} calls. {r.gate}.")
    if r.stopped:
        click.echo(f"Stopped early: {r.stopped}")
    rejected = ", ".join(f"{k} {v}" for k, v in r.rejected.items()) or "none"
    click.echo(f"  rejected: {rejected}")
    click.echo(f"  duplicates dropped: {r.duplicates}; leakage drops: {r.leakage_drops}")
    cov = r.coverage
    click.echo("  difficulty: " + ", ".join(f"{k} {v}" for k, v in cov.difficulty.items()))
    click.echo("  features:   " + ", ".join(f"{k} {v}" for k, v in cov.features.items()))
    click.echo("  tables:     " + ", ".join(f"{k} {v}" for k, v in cov.tables.items()))
    click.echo(f"  this run: {r.cost.calls} new calls, {r.cost.cached_calls} cached, "
               f"${r.cost.cost_usd:.4f}")
    click.echo(f"  report: {project.report_path('generation', 'md')}")
    click.echo(r.next_step)


@cli.command()
@project_option
def status(project_dir: Path) -> None:
    """Show where the project stands and what to do next."""
    from slm_distill.tools.status import project_status

    click.echo(project_status(_load(project_dir)).render())


@cli.command()
@click.option("--detach", is_flag=True, help="Start the training job and return its id at once.")
@click.option("--fresh", is_flag=True, help="Ignore checkpoints of an earlier run.")
@project_option
def train(detach: bool, fresh: bool, project_dir: Path) -> None:
    """Fine-tune the student on data/train.jsonl (a background job)."""
    from slm_distill.tools.jobs import start_job

    project = _load(project_dir)
    job = start_job(project, "train", {"resume": not fresh})
    if detach:
        click.echo(f"Started training job {job.id}. Follow it with: distill job {job.id} --follow")
        return
    click.echo(f"Training job {job.id} (Ctrl-C stops following; the job goes on).")
    follow_job(project, job.id)


def follow_job(project: Any, job_id: str) -> None:
    """Follow a job with a progress bar until it ends; exit 1 unless it succeeded."""
    import time

    from slm_distill.tools.jobs import TERMINAL, job_status, log_tail

    with progress_bar(job_status(project, job_id).kind) as update:
        while (state := job_status(project, job_id)).status not in TERMINAL:
            note = "  ".join(f"{k} {v:.3g}" for k, v in state.metrics.items()
                             if isinstance(v, int | float))
            update(state.step or 0, state.total_steps or 0, note)
            time.sleep(1.0)
    print_job(state)
    if state.status != "succeeded":
        click.echo(log_tail(project, job_id, 15), err=True)
        sys.exit(1)


def print_job(state: Any) -> None:
    click.echo(f"Job {state.id} ({state.kind}): {state.status}"
               + (f" at step {state.step}/{state.total_steps}" if state.step is not None else ""))
    if state.metrics:
        click.echo("  latest: " + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                          for k, v in state.metrics.items()))
    if state.error:
        click.echo(f"  error: {state.error}")
    if state.result:
        best = state.result.get("best_score")
        if best is not None:
            click.echo(f"  best validation score {best:.1%} at step {state.result.get('best_step')}")
        for name, path in (state.result.get("files") or {}).items():
            click.echo(f"  {name}: {path}")


@cli.command()
@project_option
def jobs(project_dir: Path) -> None:
    """List the project's jobs."""
    from slm_distill.tools.jobs import list_jobs

    states = list_jobs(_load(project_dir))
    if not states:
        click.echo("No jobs yet.")
    for s in states:
        step = f"step {s.step}/{s.total_steps}" if s.step is not None else ""
        click.echo(f"{s.id}  {s.kind:<6} {s.status:<10} {s.created_at}  {step}")


@cli.command()
@click.argument("job_id")
@click.option("--follow", is_flag=True, help="Follow it until it ends.")
@click.option("--cancel", is_flag=True, help="Stop it (checkpoints are kept; a rerun resumes).")
@project_option
def job(job_id: str, follow: bool, cancel: bool, project_dir: Path) -> None:
    """Show (or follow, or cancel) one job."""
    from slm_distill.tools.jobs import cancel_job, job_status, log_tail

    project = _load(project_dir)
    if cancel:
        print_job(cancel_job(project, job_id))
    elif follow:
        follow_job(project, job_id)
    else:
        print_job(job_status(project, job_id))
        click.echo(log_tail(project, job_id, 5))


@cli.command("evaluate")
@click.option("--test-file", type=click.Path(dir_okay=False, path_type=Path),
              help="An extra JSONL test file (same format as seeds) instead of the test split.")
@click.option("--models", default="base,student,teacher", show_default=True,
              help="Which of base, student, teacher to evaluate.")
@project_option
def evaluate_cmd(test_file: Path | None, models: str, project_dir: Path) -> None:
    """Base vs trained student vs teacher on the held-out test split."""
    from slm_distill.tools.evaluate import MODELS, evaluate

    chosen = _csv(models)
    if not chosen or set(chosen) - set(MODELS):
        raise click.BadParameter(f"choose from {', '.join(MODELS)}", param_hint="--models")
    from slm_distill.tools.evaluate import EvalReport, seeds_changed
    from slm_distill.tools.reports import load_report

    project = _load(project_dir)
    reuse = load_report(project, "eval", EvalReport) if test_file is None else None
    if reuse is not None and (reuse.test_set != "test split" or seeds_changed(reuse, project)):
        reuse = None  # other models' scores are carried over only from the same test set
    with progress_bar("evaluating") as update:
        report = evaluate(project, extra_test=test_file, models=chosen, reuse=reuse, progress=update)
    print_eval(report, project)


@cli.command()
@click.option("--pairs", type=click.IntRange(min=1), default=200, show_default=True,
              help="New targeted pairs per round.")
@click.option("--rounds", type=click.IntRange(1, 20), default=1, show_default=True,
              help="Rounds of generate, retrain, re-evaluate.")
@click.option("--max-groups", type=click.IntRange(min=1), default=4, show_default=True,
              help="Failure groups targeted per round (the largest).")
@click.option("--budget", type=click.FloatRange(min=0), help="Dollars of teacher calls, all rounds.")
@click.option("--steps", type=click.IntRange(min=1),
              help="Optimizer steps per retraining (default: the training config).")
@click.option("--dry-run", is_flag=True, help="Show the failure groups and their pairs; spend nothing.")
@click.option("--detach", is_flag=True, help="Start the job and return its id at once.")
@project_option
def improve(pairs: int, rounds: int, max_groups: int, budget: float | None, steps: int | None,
            dry_run: bool, detach: bool, project_dir: Path) -> None:
    """Failure-targeted rounds: new pairs for what the student gets wrong, retrain, re-evaluate."""
    from slm_distill.tools.generate_pairs import estimate_generation
    from slm_distill.tools.improve import plan_improvement
    from slm_distill.tools.jobs import start_job
    from slm_distill.tools.validate_teacher import check_gate

    project = _load(project_dir)
    plan = plan_improvement(project, pairs=pairs, max_groups=max_groups)
    print_plan(plan)
    if not plan.failures:
        return
    estimate = estimate_generation(project, n=plan.pairs)
    click.echo(f"Teacher cost of {plan.pairs} pairs per round: about {estimate.calls} calls, "
               f"${estimate.usd:.2f} ({estimate.note}).")
    if dry_run:
        return
    check_gate(project)
    job = start_job(project, "improve", {"rounds": rounds, "pairs": pairs, "max_groups": max_groups,
                                         "budget_usd": budget, "train_steps": steps})
    if detach:
        click.echo(f"Started improve job {job.id}. Follow it with: distill job {job.id} --follow")
        return
    follow_job(project, job.id)
    click.echo(f"  report: {project.report_path('improve', 'md')}")


def print_plan(plan: Any) -> None:
    click.echo(f"Round {plan.round}: the student scores {plan.student_accuracy:.1%} and fails "
               f"{plan.failures} test inputs.")
    for g in plan.groups:
        cats = ", ".join(f"{k} {v}" for k, v in g.categories.items())
        click.echo(f"  {g.label:<28} {g.failures}/{g.test_inputs} wrong ({cats}); "
                   f"{g.training_pairs} training pairs" + (f"; +{g.pairs} pairs" if g.pairs else ""))
    if not plan.failures:
        click.echo("Nothing to target: the student answers every test input correctly.")


def print_eval(report: Any, project: Any) -> None:
    click.echo(f"Evaluation on the {report.test_set} ({report.n} inputs):")
    click.echo(_comparison(report))
    for flag in report.red_flags:
        click.echo(f"  RED FLAG {flag.code}: {flag.message} {flag.explanation}")
    click.echo(f"  report: {project.report_path('eval', 'md')} (chart: reports/{report.chart})")


def _comparison(report: Any) -> str:
    lines = [f"  {'model':<8} {'accuracy':>9}  {'95% CI':<12} {'valid SQL':>9}  spec"]
    for r in report.results:
        ci = f"[{r.overall.low:.0%}, {r.overall.high:.0%}]"
        lines.append(f"  {r.name:<8} {r.overall.accuracy:>9.1%}  {ci:<12} "
                     f"{r.metrics['valid_sql']:>9.0%}  {r.spec}")
    return "\n".join(lines)


@cli.command()
@click.option("--quant", default="q8_0,q4_k_m,q4_0", show_default=True,
              help="Quantisations besides f16 (q8_0, q4_k_m, q4_0).")
@click.option("--margin", type=click.FloatRange(min=0), default=2.0, show_default=True,
              help="Points of accuracy a quantisation may lose and still be recommended.")
@project_option
def export(quant: str, margin: float, project_dir: Path) -> None:
    """Export GGUF files (f16 + quantisations), re-evaluated in llama.cpp, plus a Modelfile."""
    from slm_distill.tools.export_gguf import export_gguf

    quants = _csv(quant)
    project = _load(project_dir)
    with progress_bar("exporting") as update:
        report = export_gguf(project, quants=quants, margin_points=margin, progress=update)
    print_export(report, project)


def print_export(report: Any, project: Any) -> None:
    click.echo(f"GGUF parity on the test split (HF model: {report.hf_accuracy.accuracy:.1%}):")
    click.echo(f"  {'quant':<7} {'MB':>7} {'accuracy':>9} {'Δ pts':>6} {'same':>5}  recommended")
    for q in report.results:
        click.echo(f"  {q.quant:<7} {q.size_mb:>7.1f} {q.accuracy.accuracy:>9.1%} "
                   f"{q.delta_points:>+6.1f} {q.agreement:>5.0%}  {'yes' if q.recommended else 'no'}"
                   f"{'  ' + q.note if q.note else ''}")
    click.echo(f"  files in {project.path('exports')}; report: {project.report_path('export', 'md')}")


@cli.command()
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path),
              default=Path("demo-project"), show_default=True, help="Where to build the demo.")
@click.option("--teacher", help="Teacher spec (default: the example's offline rule teacher).")
@click.option("--n", "n", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Pairs to generate.")
@click.option("--student", default="scratch:small", show_default=True, help="Student spec.")
@click.option("--steps", type=click.IntRange(min=1), default=420, show_default=True,
              help="Training steps.")
def demo(directory: Path, teacher: str | None, n: int, student: str, steps: int) -> None:
    """Run the bundled Text2SQL example end to end, offline."""
    from slm_distill.tools.demo import run_demo

    run_demo(directory, teacher=teacher, n=n, student=student, steps=steps)


@cli.command()
@click.option("--root", type=click.Path(file_okay=False, path_type=Path), default=".",
              show_default=True, help="The one workspace the server may read and write.")
@click.option("--http", is_flag=True, help="Serve streamable HTTP on 127.0.0.1 instead of stdio.")
@click.option("--port", type=int, default=8765, show_default=True, help="Port for --http.")
def mcp(root: Path, http: bool, port: int) -> None:
    """Run the MCP server (stdio by default) over one workspace root."""
    import anyio

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
    try:
        cli.main(args=argv, prog_name="distill", standalone_mode=False)
    except click.exceptions.Abort:
        _err("Aborted.")
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except DistillError as exc:
        _err(f"error: {exc}")
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        _err("Interrupted; finished work is saved and a rerun resumes.")
        sys.exit(130)
