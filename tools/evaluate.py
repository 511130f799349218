"""evaluate: base student vs trained student vs teacher on the held-out test split, side by side.

    report = evaluate(project)        # reports/eval.{json,md} and reports/eval.png

Each model answers every test seed (and any extra test file); answers are scored with the task
(Text2SQL: execution accuracy, valid SQL, exact match), broken down by difficulty, with Wilson 95%
confidence intervals because test sets are small. Failures are categorised with examples, and the
method's red flags are raised with their explanations.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from pydantic import BaseModel, Field

from slm_distill.tools.actions import ADD_SEEDS
from slm_distill.tools.errors import UsageError
from slm_distill.tools.reporting.reports import (
    Provenance,
    Report,
    file_hash,
    md_table,
    provenance,
    save_report,
)
from slm_distill.tools.reporting.stats import Interval, wilson
from slm_distill.tools.requests import MODELS
from slm_distill.tools.tasks.base import Task
from slm_distill.tools.workspace.fileio import read_jsonl
from slm_distill.tools.workspace.progress import ProgressFn, no_progress
from slm_distill.tools.workspace.project import Project, Seed

EXAMPLES_PER_CATEGORY = 3


class FailureExample(BaseModel):
    input: str
    expected: str
    predicted: str
    why: str | None


class ModelResult(BaseModel):
    name: str
    spec: str
    overall: Interval
    metrics: dict[str, float]
    by_difficulty: dict[str, Interval]
    failures: dict[str, int]
    examples: dict[str, list[FailureExample]]
    outcomes: dict[str, str] = Field(
        default_factory=dict, description="Seed id -> 'ok' or its failure category.")


class RedFlag(BaseModel):
    code: str
    message: str
    explanation: str


class EvalReport(Report):
    name: str = Field("eval", description="Saved as reports/<name>.{json,md,png}: eval for the "
                      "test split, eval-<file> for a fresh test file.")
    test_set: str
    n: int
    metric_labels: dict[str, str] = Field(
        default_factory=dict, description="The task's metrics (the primary first) and how they "
        "are shown; the primary one's 95% interval is `overall`.")
    results: list[ModelResult]
    red_flags: list[RedFlag]
    chart: str | None
    provenance: Provenance

    def result(self, name: str) -> ModelResult | None:
        return next((r for r in self.results if r.name == name), None)

    def labels(self) -> dict[str, str]:
        if self.metric_labels:
            return self.metric_labels
        first = self.results[0].metrics if self.results else {}
        return {m: m.replace("_", " ") for m in first}  # a report from before metric_labels

    def summary(self) -> str:
        primary, *others = self.labels().items()
        head = "".join(f" {label:>12}" for _, label in others)
        lines = [f"Evaluation on the {self.test_set} ({self.n} inputs):",
                 f"  {'model':<8} {primary[1]:>20}  {'95% CI':<12}{head}  spec"]
        for r in self.results:
            ci = f"[{r.overall.low:.0%}, {r.overall.high:.0%}]"
            rest = "".join(f" {r.metrics.get(m, 0):>12.0%}" for m, _ in others)
            lines.append(f"  {r.name:<8} {r.overall.accuracy:>20.1%}  {ci:<12}{rest}  {r.spec}")
        lines += [f"  RED FLAG {f.code}: {f.message} {f.explanation}" for f in self.red_flags]
        lines.append(f"  report: reports/{self.name}.md (chart: reports/{self.chart})")
        return "\n".join(lines)

    def markdown(self) -> str:
        lines = [f"# Evaluation on the {self.test_set} ({self.n} inputs)", "",
                 comparison_table(self), "", f"![accuracy by model and difficulty]({self.chart})",
                 "", "## By difficulty", ""]
        difficulties = sorted({k for m in self.results for k in m.by_difficulty})
        lines.append(md_table(["model", *difficulties], [
            [m.name, *(f"{m.by_difficulty[d].accuracy:.0%} (n={m.by_difficulty[d].n})"
                       if d in m.by_difficulty else "-" for d in difficulties)] for m in self.results]))
        lines += ["", "## Red flags", ""]
        lines += [f"- **{f.code}**: {f.message} {f.explanation}" for f in self.red_flags] or ["None."]
        for m in self.results:
            lines += ["", f"## Failures of {m.name}", ""]
            if not m.failures:
                lines.append("None.")
            for category, count in m.failures.items():
                lines.append(f"- **{category}**: {count}")
                lines += [f"  - {ex.input} -> `{ex.predicted[:200] or '(nothing)'}` (expected "
                          f"`{ex.expected[:200]}`; {ex.why})" for ex in m.examples.get(category, [])]
        return "\n".join(lines) + "\n"


def score_model(name: str, spec: str, seeds: list[Seed], answers: list[str], task: Task) -> ModelResult:
    scores = [task.score(a, s.output) for a, s in zip(answers, seeds, strict=True)]
    n = len(scores)
    by: dict[str, list[bool]] = {}
    failures: dict[str, int] = {}
    examples: dict[str, list[FailureExample]] = {}
    outcomes: dict[str, str] = {}
    for seed, answer, score in zip(seeds, answers, scores, strict=True):
        by.setdefault(seed.difficulty, []).append(score.correct)
        outcomes[seed.id] = "ok" if score.correct else score.category or "wrong_result"
        if not score.correct:
            category = outcomes[seed.id]
            failures[category] = failures.get(category, 0) + 1
            if len(examples.setdefault(category, [])) < EXAMPLES_PER_CATEGORY:
                examples[category].append(FailureExample(input=seed.input, expected=seed.output,
                                                         predicted=answer, why=score.reason))
    return ModelResult(
        name=name, spec=spec, overall=wilson(sum(s.correct for s in scores), n),
        metrics=task.summarise(scores),
        by_difficulty={k: wilson(sum(v), len(v)) for k, v in sorted(by.items())},
        failures=dict(sorted(failures.items(), key=lambda kv: -kv[1])), examples=examples,
        outcomes=outcomes,
    )


def seeds_changed(report: EvalReport, project: Project) -> bool:
    """Were seeds added or edited since `report` was scored (so its test split may differ)?"""
    return report.provenance.inputs.get("seeds.jsonl") != file_hash(project.seeds_path)


def accuracy(task: Task, answers: list[str], seeds: list[Seed]) -> Interval:
    """Share of answers the task scores correct, with its Wilson interval."""
    correct = sum(task.score(a, s.output).correct for a, s in zip(answers, seeds, strict=True))
    return wilson(correct, len(seeds))


def red_flags(results: dict[str, ModelResult]) -> list[RedFlag]:
    """The method's red flags, each with what it usually means."""
    flags = []
    student, base, teacher = results.get("student"), results.get("base"), results.get("teacher")
    if student and student.overall.accuracy < 0.5:
        flags.append(RedFlag(
            code="student_below_50", message=f"Student accuracy {student.overall.accuracy:.0%} < 50%.",
            explanation="The student is not usable yet: more or more varied pairs, a larger student, "
            "more epochs, or check that the training data's format matches the test inputs."))
    if student and teacher and student.overall.accuracy > teacher.overall.accuracy:
        flags.append(RedFlag(
            code="student_above_teacher",
            message=f"Student {student.overall.accuracy:.0%} > teacher {teacher.overall.accuracy:.0%}.",
            explanation="A student rarely beats the teacher that labelled its data: suspect leakage of "
            "test inputs into training pairs, or overfitting to the test distribution."))
    if student and base and student.overall.correct == base.overall.correct:
        flags.append(RedFlag(
            code="student_equal_base",
            message=f"Student and base both score {student.overall.accuracy:.0%}.",
            explanation="Training did not change the model's behaviour: check the learning rate, that "
            "the loss fell, that labels were not all masked, and that the right weights were saved."))
    return flags


def _seeds(project: Project, extra: Path | None) -> tuple[list[Seed], str]:
    if extra is not None:
        return read_jsonl(extra, Seed), str(extra)
    _, test = project.split()
    if not test:
        raise UsageError("No test seeds. Add seeds with {fix}.", fix=ADD_SEEDS)
    return test, "test split"


def _hf_answers(path_or_spec: str, task: Task, seeds: list[Seed], max_new_tokens: int,
                base: bool, seed: int) -> list[str]:
    from slm_distill.tools.training.hf_generate import generate_answers
    from slm_distill.tools.training.students import load_pretrained, load_student

    model, tokenizer = (load_student(path_or_spec, seed=seed) if base
                        else load_pretrained(path_or_spec))
    return generate_answers(model, tokenizer, task, [s.input for s in seeds],
                            max_new_tokens=max_new_tokens)


def _teacher_answers(project: Project, task: Task, seeds: list[Seed]) -> list[str]:
    from slm_distill.tools.teachers import project_teacher

    teacher = project_teacher(project)

    async def run() -> list[str]:
        try:
            return list(await asyncio.gather(*(teacher.answer(s.input, task) for s in seeds)))
        finally:
            await teacher.close()

    return asyncio.run(run())


def evaluate(project: Project, *, extra_test: Path | None = None, models: tuple[str, ...] = MODELS,
             student_dir: Path | None = None, reuse: EvalReport | None = None,
             name: str = "eval", progress: ProgressFn = no_progress) -> EvalReport:
    """Score `models` on the test set; results of other models are taken from `reuse` (the improve
    loop re-scores only the student). Saves reports/<name>.{json,md,png}."""

    seeds, label = _seeds(project, extra_test)
    cfg = project.config.training
    merged = student_dir or project.path("runs", "student", "merged")
    if "student" in models and student_dir is None:
        project.require_trained()
    task = project.task()
    results = {r.name: r for r in reuse.results if r.name not in models} if reuse else {}
    try:
        for i, model in enumerate(models):
            progress(i, len(models), f"{model} answering {len(seeds)} test inputs")
            if model == "teacher":
                spec, answers = project.config.teacher, _teacher_answers(project, task, seeds)
            else:
                spec = project.config.student if model == "base" else str(merged)
                answers = _hf_answers(project.local(spec), task, seeds, cfg.max_new_tokens,
                                      model == "base", cfg.seed)
            results[model] = score_model(model, spec, seeds, answers, task)
        progress(len(models), len(models), "scored")
    finally:
        task.close()
    return save_eval(project, results, label, len(seeds), name, metric_labels(task))


def save_eval(project: Project, results: dict[str, ModelResult], label: str, n: int,
              name: str, metric_labels: dict[str, str]) -> EvalReport:
    """Red flags, the chart and reports/<name>.{json,md,png} for scored models."""
    from slm_distill.tools.reporting.plots import plot_bars

    results = {m: results[m] for m in MODELS if m in results}
    chart = project.report_path(name, "png")
    chart.parent.mkdir(parents=True, exist_ok=True)
    primary = next(iter(metric_labels.values()))
    plot_bars({n: {"overall": r.overall.accuracy, **{k: v.accuracy for k, v in r.by_difficulty.items()}}
               for n, r in results.items()}, chart, f"{primary.capitalize()} on the {label}")
    report = EvalReport(name=name, test_set=label, n=n, metric_labels=metric_labels,
                        results=list(results.values()),
                        red_flags=red_flags(results), chart=chart.name,
                        provenance=provenance(project, [project.seeds_path]))
    save_report(project, name, report)
    return report


def comparison_table(report: EvalReport) -> str:
    primary, *others = report.labels().items()
    rows = [[r.name, r.spec, f"{r.overall.accuracy:.1%}", f"[{r.overall.low:.0%}, {r.overall.high:.0%}]",
             *(f"{r.metrics.get(m, 0):.0%}" for m, _ in others)] for r in report.results]
    return md_table(["model", "spec", primary[1], "95% CI", *(label for _, label in others)], rows)


def metric_labels(task: Task) -> dict[str, str]:
    return {m: task.label(m) for m in task.metric_names}
