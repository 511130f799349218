"""`distill demo`: the bundled Text2SQL example, end to end and offline.

init (bundled music-store schema) -> seeds add -> validate-teacher -> generate -> status.
Rerunning reuses the project: validation and generation are answered from the teacher cache.
"""

from __future__ import annotations

import time
from importlib import resources
from pathlib import Path

import click
from slm_distill.tools.project import CONFIG_FILE, Project, add_seeds, init_project

EXAMPLE_TEACHER = "python:slm_distill.examples.text2sql.teacher:TEACHER"
DEMO_STUDENT = "scratch:small"


def _example_file(name: str) -> Path:
    return Path(str(resources.files("slm_distill.examples.text2sql").joinpath(name)))


def _step(number: int, text: str) -> None:
    click.secho(f"\n[{number}] {text}", bold=True)


def _prepare(directory: Path, teacher: str) -> Project:
    if (directory / CONFIG_FILE).exists():
        project = Project.load(directory)
        click.echo(f"Reusing the demo project in {project.root}")
        if project.config.teacher != teacher:
            project.config.teacher = teacher
            project.save()
        return project
    project = init_project(directory, schema=_example_file("schema.sql"), teacher=teacher,
                           student=DEMO_STUDENT, name="text2sql-demo")
    # For one fixed database a small student learns the schema implicitly (see DESIGN.md).
    project.config.task.schema_in_student_prompt = False
    project.save()
    added = add_seeds(project, _example_file("seeds.jsonl"))
    click.echo(f"Created {project.root} with the bundled music-store database and {added} seeds.")
    return project


def run_demo(directory: Path, *, teacher: str | None = None, n: int = 1000) -> None:
    from slm_distill.tools.cli import print_generation_report, print_teacher_report, progress_bar
    from slm_distill.tools.generate_pairs import generate_pairs
    from slm_distill.tools.status import project_status
    from slm_distill.tools.validate_teacher import validate_teacher

    started = time.monotonic()
    teacher = teacher or EXAMPLE_TEACHER
    _step(1, "Project and seeds")
    project = _prepare(directory, teacher)
    _step(2, "Validate the teacher on 20% of the seeds (gate: 80%)")
    with progress_bar("validating teacher") as update:
        report = validate_teacher(project, progress=update)
    print_teacher_report(report, project)
    if not report.passed:
        raise SystemExit(1)
    _step(3, f"Generate {n} validated pairs")
    with progress_bar("generating pairs") as update:
        generation = generate_pairs(project, n=n, progress=update)
    print_generation_report(generation, project)
    _step(4, "Status")
    click.echo(project_status(project).render())
    click.echo(f"\nDemo finished in {time.monotonic() - started:.0f}s. Artifacts: "
               f"{project.path('data')}, {project.path('reports')}")
