"""`distill demo`: the bundled Text2SQL example, end to end and offline.

init (bundled music-store schema) -> seeds add -> validate-teacher -> generate -> train the
`scratch:small` student -> evaluate base vs student vs teacher -> export GGUF and re-evaluate it.
Rerunning reuses the project: validation and generation are answered from the teacher cache and
training starts afresh.
"""

from __future__ import annotations

import time
from importlib import resources
from pathlib import Path

import click

from slm_distill.tools import stages
from slm_distill.tools.cli.console import bar_events, progress_bar
from slm_distill.tools.requests import (
    EvaluateRequest,
    ExportRequest,
    GenerateRequest,
    Request,
    TrainRequest,
    ValidateTeacherRequest,
)
from slm_distill.tools.workspace.project import CONFIG_FILE, Project, add_seeds, init_project

EXAMPLE_TEACHER = "python:slm_distill.examples.text2sql.teacher:TEACHER"
DEMO_STUDENT = "scratch:small"
DEMO_STEPS = 420  # about 8.5 minutes on two CPU cores


def _example_file(name: str) -> Path:
    return Path(str(resources.files("slm_distill.examples.text2sql").joinpath(name)))


def _step(number: int, text: str) -> None:
    click.secho(f"\n[{number}] {text}", bold=True)


def _prepare(directory: Path, teacher: str, student: str, steps: int) -> Project:
    if (directory / CONFIG_FILE).exists():
        project = Project.load(directory)
        click.echo(f"Reusing the demo project in {project.root}")
    else:
        project = init_project(directory, schema=_example_file("schema.sql"), teacher=teacher,
                               student=student, name="text2sql-demo")
        added = add_seeds(project, _example_file("seeds.jsonl"))
        click.echo(f"Created {project.root} with the bundled music-store database and {added} seeds.")
    # For one fixed database a small student learns the schema implicitly (see DESIGN.md).
    project.config.task.schema_in_student_prompt = False
    project.config.teacher, project.config.student = teacher, student
    _demo_training(project, steps)
    project.save()
    return project


def _demo_training(project: Project, steps: int) -> None:
    """A from-scratch student on two CPU cores: full fine-tuning at a from-scratch learning rate,
    a fixed number of steps so the cosine schedule completes, softmax over the answer vocabulary."""
    t = project.config.training
    t.method, t.learning_rate, t.batch_size, t.gradient_accumulation_steps = "full", 2e-3, 16, 1
    t.max_steps, t.eval_steps, t.eval_samples, t.max_new_tokens = steps, max(1, steps // 3), 50, 128
    t.loss_vocab, t.early_stopping_patience, t.max_minutes = "answers", None, 10


def run_demo(directory: Path, *, teacher: str | None = None, n: int = 1000,
             student: str = DEMO_STUDENT, steps: int = DEMO_STEPS) -> None:
    from slm_distill.tools.workspace.status import project_status

    started = time.monotonic()
    teacher = teacher or EXAMPLE_TEACHER
    _step(1, "Project and seeds")
    project = _prepare(directory, teacher, student, steps)
    _step(2, "Validate the teacher on 20% of the seeds (gate: 80%)")
    with progress_bar("validating teacher") as update:
        report = stages.validate_teacher(project, ValidateTeacherRequest(), progress=update)
    click.echo(report.summary())
    if not report.passed:
        raise SystemExit(1)
    _step(3, f"Generate {n} validated pairs")
    _run(project, "generate", GenerateRequest(n=n), "generating pairs")
    _step(4, "Status")
    click.echo(project_status(project).summary())
    _student_half(project)
    click.echo(f"\nDemo finished in {time.monotonic() - started:.0f}s. Artifacts: "
               f"{project.path('data')}, {project.path('runs')}, {project.path('exports')}, "
               f"{project.path('reports')}")


def _run(project: Project, kind: str, request: Request, label: str) -> None:
    """A stage through the same entry points as the CLI and MCP, inline with a progress bar."""
    with stages.starting(project, kind, request) as prepared, progress_bar(label) as update:
        assert prepared.go
        click.echo(stages.run(project, kind, request, bar_events(update)).summary())


def _student_half(project: Project) -> None:
    import shutil

    t = project.config.training
    _step(5, f"Train the {project.config.student} student ({t.max_steps} steps, CPU)")
    shutil.rmtree(project.path("runs", "student"), ignore_errors=True)
    _run(project, "train", TrainRequest(fresh=True), "training")
    _step(6, "Evaluate base vs student vs teacher on the test split")
    _run(project, "evaluate", EvaluateRequest(), "evaluating")
    _step(7, "Export GGUF (f16, q8_0, q4_k_m, q4_0) and re-evaluate each in llama.cpp")
    _run(project, "export", ExportRequest(), "exporting")
