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

from slm_distill.tools.project import CONFIG_FILE, Project, add_seeds, init_project

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
    from slm_distill.tools.cli import print_generation_report, print_teacher_report, progress_bar
    from slm_distill.tools.generate_pairs import generate_pairs
    from slm_distill.tools.status import project_status
    from slm_distill.tools.validate_teacher import validate_teacher

    started = time.monotonic()
    teacher = teacher or EXAMPLE_TEACHER
    _step(1, "Project and seeds")
    project = _prepare(directory, teacher, student, steps)
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
    _student_half(project)
    click.echo(f"\nDemo finished in {time.monotonic() - started:.0f}s. Artifacts: "
               f"{project.path('data')}, {project.path('runs')}, {project.path('exports')}, "
               f"{project.path('reports')}")


def _student_half(project: Project) -> None:
    import shutil

    from slm_distill.tools.cli import print_eval, print_export, progress_bar
    from slm_distill.tools.evaluate import evaluate
    from slm_distill.tools.export_gguf import export_gguf
    from slm_distill.tools.train_student import train_student

    t = project.config.training
    _step(5, f"Train the {project.config.student} student ({t.max_steps} steps, CPU)")
    shutil.rmtree(project.path("runs", "student"), ignore_errors=True)
    with progress_bar("training") as update:
        def emit(event: dict) -> None:
            note = f"loss {event['loss']:.3f}" if "loss" in event else (
                f"val score {event['eval_score']:.0%}" if "eval_score" in event else "")
            update(event.get("step", 0), event.get("total_steps") or t.max_steps or 0, note)

        report = train_student(project, emit=emit)
    best = f"{report.best_score:.0%}" if report.best_score is not None else "n/a"
    click.echo(f"Trained {report.steps} steps in {report.train_seconds:.0f}s "
               f"({report.tokens_per_s:.0f} tokens/s); best validation score {best} "
               f"at step {report.best_step}. Plot: {project.path(report.files['plot'])}")
    _step(6, "Evaluate base vs student vs teacher on the test split")
    with progress_bar("evaluating") as update:
        print_eval(evaluate(project, progress=update), project)
    _step(7, "Export GGUF (f16, q8_0, q4_k_m, q4_0) and re-evaluate each in llama.cpp")
    with progress_bar("exporting") as update:
        print_export(export_gguf(project, progress=update), project)
