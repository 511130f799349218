"""`distill demo [--task text2sql|classification|extraction|tool_calling|generation]`: a bundled
example, end to end and offline.

init (the music-store database, the support-ticket labels, the contact-card JSON Schema, the
smart-home tools, or the ticket-summary rubric with its offline judge) ->
seeds add -> (generation: validate-judge) -> validate-teacher ->
generate -> train the `scratch:small` student -> evaluate base vs student vs teacher -> export GGUF
and re-evaluate it. Rerunning reuses the project: validation and generation are answered from the
teacher cache and training starts afresh.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import click

from slm_distill.tools import stages
from slm_distill.tools.cli.console import bar_events, progress_bar, run_gate
from slm_distill.tools.requests import (
    EvaluateRequest,
    ExportRequest,
    GenerateRequest,
    Request,
    TrainRequest,
    ValidateJudgeRequest,
    ValidateTeacherRequest,
)
from slm_distill.tools.workspace.project import CONFIG_FILE, Project, add_seeds, init_project

DEMO_STUDENT = "scratch:small"


@dataclass(frozen=True)
class Example:
    """A bundled example: its task, what the project is made from, and the demo's run."""

    task: str
    what: str
    steps: int  # training steps on two CPU cores
    max_new_tokens: int
    pairs: int
    batch_size: int = 16
    learning_rate: float = 2e-3
    seconds_per_step: float = 1.0  # on two idle cores (measured: text2sql 0.94, tool_calling 0.8)

    @property
    def teacher(self) -> str:
        return f"python:slm_distill.examples.{self.task}.teacher:TEACHER"

    @property
    def judge(self) -> str:
        return f"python:slm_distill.examples.{self.task}.teacher:JUDGE"

    def file(self, name: str) -> Path:
        return Path(str(resources.files(f"slm_distill.examples.{self.task}").joinpath(name)))


EXAMPLES = {
    "text2sql": Example("text2sql", "the bundled music-store database", 420, 128, 1000),
    "classification": Example("classification", "the support-ticket labels", 240, 16, 800),
    # Copying names, emails and numbers out of the text is what a from-scratch student learns
    # slowest: more varied pairs, smaller batches and a lower learning rate (measured in README).
    "extraction": Example("extraction", "the contact-card JSON Schema", 1000, 192, 3000,
                          batch_size=8, learning_rate=1e-3, seconds_per_step=1.3),
    "tool_calling": Example("tool_calling", "the smart-home tools", 400, 96, 1500),
    "generation": Example("generation", "the ticket-summary rubric and offline judge", 400, 48,
                          1500),
}
GENERATION_INSTRUCTION = "Summarise the support ticket in one sentence."


def _step(number: int | str, text: str) -> None:
    click.secho(f"\n[{number}] {text}", bold=True)


def _create(example: Example, directory: Path, teacher: str, student: str) -> Project:
    name = f"{example.task}-demo"
    if example.task == "classification":
        labels = example.file("labels.txt").read_text().split()
        return init_project(directory, task="classification", labels=labels, teacher=teacher,
                            student=student, name=name)
    if example.task == "extraction":
        return init_project(directory, task="extraction", teacher=teacher, student=student,
                            output_schema=str(example.file("contact.schema.json")), name=name)
    if example.task == "tool_calling":
        return init_project(directory, task="tool_calling", teacher=teacher, student=student,
                            tools_file=example.file("tools.json"), name=name)
    if example.task == "generation":
        return init_project(directory, task="generation", teacher=teacher, student=student,
                            instruction=GENERATION_INSTRUCTION, rubric=example.file("rubric.md"),
                            judge=example.judge, name=name)
    return init_project(directory, schema=example.file("schema.sql"), teacher=teacher,
                        student=student, name=name)


def _prepare(example: Example, directory: Path, teacher: str, student: str,
             steps: int) -> Project:
    if (directory / CONFIG_FILE).exists():
        project = Project.load(directory)
        click.echo(f"Reusing the demo project in {project.root}")
    else:
        project = _create(example, directory, teacher, student)
        added = add_seeds(project, example.file("seeds.jsonl"))
        click.echo(f"Created {project.root} with {example.what} and {added} seeds.")
    if example.task == "text2sql":  # for one fixed database a small student learns the schema
        project.config.task.schema_in_student_prompt = False  # implicitly (see DESIGN.md)
    if example.task == "tool_calling":  # the same for its one set of tools
        project.config.task.tools_in_student_prompt = False
    project.config.teacher, project.config.student = teacher, student
    _demo_training(project, example, steps)
    project.save()
    return project


def _demo_training(project: Project, example: Example, steps: int) -> None:
    """A from-scratch student on two CPU cores: full fine-tuning at a from-scratch learning rate,
    a fixed number of steps so the cosine schedule completes, softmax over the answer vocabulary."""
    t = project.config.training
    t.method, t.learning_rate, t.gradient_accumulation_steps = "full", example.learning_rate, 1
    t.batch_size, t.max_steps = example.batch_size, steps
    t.eval_steps, t.eval_samples = max(1, steps // 3), 50
    t.max_new_tokens, t.max_minutes = example.max_new_tokens, None  # the steps, whatever the time
    t.loss_vocab, t.early_stopping_patience = "answers", None


def run_demo(directory: Path, *, task: str = "text2sql", teacher: str | None = None,
             n: int | None = None, student: str = DEMO_STUDENT, steps: int | None = None) -> None:
    from slm_distill.tools.workspace.status import project_status

    started = time.monotonic()
    example = EXAMPLES[task]
    teacher, n, steps = teacher or example.teacher, n or example.pairs, steps or example.steps
    _step(1, "Project and seeds")
    project = _prepare(example, directory, teacher, student, steps)
    if example.task == "generation":
        _step("2a", "Validate the judge on the seeds: references high, damaged answers low (gate: 80%)")
        run_gate("validating judge", stages.validate_judge, project, ValidateJudgeRequest())
    _step("2b" if example.task == "generation" else 2,
          "Validate the teacher on 20% of the seeds (gate: 80%)")
    run_gate("validating teacher", stages.validate_teacher, project, ValidateTeacherRequest())
    _step(3, f"Generate {n} validated pairs")
    _run(project, "generate", GenerateRequest(n=n), "generating pairs")
    _step(4, "Status")
    click.echo(project_status(project).summary())
    _student_half(project, example)
    click.echo(f"\nDemo finished in {time.monotonic() - started:.0f}s. Artifacts: "
               f"{project.path('data')}, {project.path('runs')}, {project.path('exports')}, "
               f"{project.path('reports')}")


class SlowWatch:
    """Training events: once the ETA says the run will take over twice the expected time, say
    so once, with the command for fewer steps (the run goes on: its steps are not cut)."""

    def __init__(self, expected_s: float, task: str) -> None:
        self.expected_s, self.task, self.said = expected_s, task, False

    def __call__(self, event: dict) -> str | None:
        eta, elapsed, step = event.get("eta_s"), event.get("elapsed_s"), event.get("step") or 0
        if self.said or eta is None or elapsed is None or step < 5:
            return None
        total = eta + elapsed
        if total <= 2 * self.expected_s:
            return None
        self.said = True
        steps = event.get("total_steps") or 0
        fewer = min(steps - 1, max(10, int(steps * self.expected_s / total)))
        if fewer < 1:
            return None
        return (f"This machine is slower than expected: {steps} steps will take about "
                f"{total / 60:.0f} min, not {self.expected_s / 60:.0f}. Training goes on to "
                f"its last step; to finish sooner, stop it (Ctrl-C) and run `distill demo "
                f"--task {self.task} --steps {fewer}` (fewer steps train a weaker student).")


def _run(project: Project, kind: str, request: Request, label: str,
         watch: SlowWatch | None = None) -> None:
    """A stage through the same entry points as the CLI and MCP, inline with a progress bar."""
    with stages.starting(project, kind, request) as prepared, progress_bar(label) as update:
        assert prepared.go
        show = bar_events(update)

        def events(event: dict) -> None:
            show(event)
            if watch is not None and (warning := watch(event)):
                click.echo(f"\n{warning}", err=True)

        click.echo(stages.run(project, kind, request, events).summary())


def _student_half(project: Project, example: Example) -> None:
    import shutil

    t = project.config.training
    expected = t.max_steps * example.seconds_per_step
    _step(5, f"Train the {project.config.student} student ({t.max_steps} steps, CPU, about "
             f"{expected / 60:.0f} min on two idle cores)")
    shutil.rmtree(project.path("runs", "student"), ignore_errors=True)
    _run(project, "train", TrainRequest(fresh=True), "training",
         watch=SlowWatch(expected, example.task))
    _step(6, "Evaluate base vs student vs teacher on the test split")
    _run(project, "evaluate", EvaluateRequest(), "evaluating")
    _step(7, "Export GGUF (f16, q8_0, q4_k_m, q4_0) and re-evaluate each in llama.cpp")
    _run(project, "export", ExportRequest(), "exporting")
