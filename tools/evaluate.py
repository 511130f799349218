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
from typing import Any, Literal

from pydantic import BaseModel, Field

from slm_distill.tools.actions import ADD_SEEDS
from slm_distill.tools.errors import UsageError
from slm_distill.tools.judge import Judge, attach_judge
from slm_distill.tools.reporting.reports import (
    Provenance,
    Report,
    file_hash,
    load_report,
    md_table,
    provenance,
    save_report,
)
from slm_distill.tools.reporting.stats import Interval, wilson
from slm_distill.tools.requests import ALL_MODELS, MODELS
from slm_distill.tools.tasks.base import Task
from slm_distill.tools.verdict import Agreement, Verdict, agreement, decide, training_history
from slm_distill.tools.workspace.fileio import read_jsonl, read_jsonl_dicts
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
    details: dict[str, Any] = Field(
        default_factory=dict, description="The task's breakdowns: per label, a confusion matrix.")
    decoding: Literal["free", "constrained"] = Field(
        "free", description="How the answers were decoded: free generation, or the most likely "
        "of the task's choices (evaluation.constrained).")
    faults: dict[str, list[str]] = Field(
        default_factory=dict, description="Seed id -> what its wrong answer got wrong, where the "
        "task says (extraction: 'missing: due_date', 'wrong: total'); improve groups by these.")
    mistaken_for: dict[str, str] = Field(
        default_factory=dict, description="Seed id -> the class a wrong answer took it for "
        "(a classifier's wrong label); improve targets these confusions.")


class Pairwise(BaseModel):
    """The judge's preference between the student's and the teacher's answers (generation),
    each input asked in both orders; a preference that flips with the order is a tie."""

    judge: str
    student_wins: int
    teacher_wins: int
    ties: int

    @property
    def n(self) -> int:
        return self.student_wins + self.teacher_wins + self.ties

    def line(self) -> str:
        n = max(1, self.n)
        return (f"Judge {self.judge}, student vs teacher: the student's answer better on "
                f"{self.student_wins}/{self.n} ({self.student_wins / n:.0%}), the teacher's on "
                f"{self.teacher_wins} ({self.teacher_wins / n:.0%}), ties {self.ties} (asked in "
                "both orders; a preference that flips with the order counts as a tie).")


class RedFlag(BaseModel):
    code: str
    message: str
    explanation: str


class Overlap(BaseModel):
    """How much of a fresh test file the student has already seen in its training pairs."""

    inputs: int = Field(description="Test inputs checked.")
    identical_inputs: int = Field(description="Test inputs that are a training input (after "
                                  "case and punctuation folding).")
    near_duplicate_inputs: int = Field(description="Further test inputs at least 0.9 similar "
                                       "(character-shingle Jaccard) to a training input.")
    identical_answers: int = Field(description="Test answers that are a training answer.")
    examples: list[str] = Field(default_factory=list, description="Some overlapping inputs.")

    def line(self) -> str:
        return (f"overlap with the training pairs: {self.identical_inputs} identical and "
                f"{self.near_duplicate_inputs} near-duplicate inputs, {self.identical_answers} "
                f"identical answers, of {self.inputs} (a score on seen inputs says less)")


def training_overlap(project: Project, seeds: list[Seed], task: Task) -> Overlap:
    """Compare a fresh test file with data/train.jsonl (inputs and answers)."""
    from slm_distill.tools.generation.neardup import NearDupIndex, normalise_text

    pairs = read_jsonl_dicts(project.path("data", "train.jsonl"))
    seen = {normalise_text(p.get("input", "")) for p in pairs}
    answers = {task.dedup_key(p.get("output", "")) for p in pairs}
    index = NearDupIndex(threshold=0.9)
    for i, p in enumerate(pairs):
        index.add(str(i), p.get("input", ""))
    identical, near = [], []
    for seed in seeds:
        if normalise_text(seed.input) in seen:
            identical.append(seed)
        elif index.find(seed.input) is not None:
            near.append(seed)
    same_answer = sum(task.dedup_key(s.output) in answers for s in seeds)
    return Overlap(inputs=len(seeds), identical_inputs=len(identical),
                   near_duplicate_inputs=len(near), identical_answers=same_answer,
                   examples=[s.input for s in (identical + near)[:10]])


class EvalReport(Report):
    name: str = Field("eval", description="Saved as reports/<name>.{json,md,png}: eval for the "
                      "test split, eval-<file> for a fresh test file.")
    test_set: str
    n: int
    metric_labels: dict[str, str] = Field(
        default_factory=dict, description="The task's metrics (the primary first) and how they "
        "are shown.")
    correct_metric: str = Field("", description="The metric that is the share of correct "
                                "answers: its Wilson 95% interval is each result's `overall`.")
    results: list[ModelResult]
    other_decoding: list[ModelResult] = Field(
        default_factory=list, description="The student decoded the other way (free or "
        "constrained), where the task has choices: measured, not used by gates or improve.")
    red_flags: list[RedFlag]
    chart: str | None
    pairwise: Pairwise | None = Field(None, description="Generation with a judge: which of the "
                                      "student's and the teacher's answers the judge prefers.")
    verdict: Verdict | None = Field(None, description="deploy, retune, more_data or rethink, "
                                    "with the evidence and the next step.")
    agreement: Agreement | None = Field(None, description="Student vs teacher input by input, "
                                        "and the inputs the base got right that the student lost.")
    overlap: Overlap | None = Field(None, description="A fresh test file: how much of it the "
                                    "training pairs already hold.")
    provenance: Provenance

    def result(self, name: str) -> ModelResult | None:
        return next((r for r in self.results if r.name == name), None)

    def labels(self) -> dict[str, str]:
        if self.metric_labels:
            return self.metric_labels
        first = self.results[0].metrics if self.results else {}
        return {m: m.replace("_", " ") for m in first}  # a report from before metric_labels

    def columns(self) -> list[tuple[str, str]]:
        """(metric, label) to show, with ("ci", "95% CI") right after the correct-answer share."""
        labels = list(self.labels().items())
        correct = self.correct_metric or labels[0][0]
        at = next((i + 1 for i, (m, _) in enumerate(labels) if m == correct), 1)
        return [*labels[:at], ("ci", "95% CI"), *labels[at:]]

    def cell(self, r: ModelResult, metric: str) -> str:
        if metric == "ci":
            return f"[{r.overall.low:.0%}, {r.overall.high:.0%}]"
        value = r.metrics.get(metric, r.overall.accuracy if metric == self.correct_metric else 0.0)
        return f"{value:.1%}"

    def summary(self) -> str:
        columns = self.columns()
        widths = [max(9, len(label)) for _, label in columns]
        head = "  ".join(f"{label:>{w}}" for (_, label), w in zip(columns, widths, strict=True))
        lines = [f"Evaluation on the {self.test_set} ({self.n} inputs):", f"  {'model':<9} {head}  spec"]
        for r in self.results:
            row = "  ".join(f"{self.cell(r, m):>{w}}" for (m, _), w in zip(columns, widths, strict=True))
            lines.append(f"  {r.name:<9} {row}  {r.spec}")
        for r in self.other_decoding:
            row = "  ".join(f"{self.cell(r, m):>{w}}" for (m, _), w in zip(columns, widths, strict=True))
            lines.append(f"  {r.name:<9} {row}  ({r.decoding} decoding, for comparison)")
        if self.pairwise is not None:
            lines.append(f"  {self.pairwise.line()}")
        lines += [f"  RED FLAG {f.code}: {f.message} {f.explanation}" for f in self.red_flags]
        if self.agreement is not None:
            lines.append(f"  {_agreement_line(self.agreement)}")
        if self.overlap is not None:
            lines.append(f"  {self.overlap.line()}")
        if self.verdict is not None:
            lines.append(f"  {self.verdict.line()}")
        lines.append(f"  report: reports/{self.name}.md (chart: reports/{self.chart})")
        return "\n".join(lines)

    def markdown(self) -> str:
        lines = [f"# Evaluation on the {self.test_set} ({self.n} inputs)", "",
                 comparison_table(self), "", f"![accuracy by model and difficulty]({self.chart})",
                 "", *([self.pairwise.line(), ""] if self.pairwise else []),
                 "## By difficulty", ""]
        difficulties = sorted({k for m in self.results for k in m.by_difficulty})
        lines.append(md_table(["model", *difficulties], [
            [m.name, *(f"{m.by_difficulty[d].accuracy:.0%} (n={m.by_difficulty[d].n})"
                       if d in m.by_difficulty else "-" for d in difficulties)] for m in self.results]))
        lines += _decoding_markdown(self)
        lines += ["", "## Red flags", ""]
        lines += [f"- **{f.code}**: {f.message} {f.explanation}" for f in self.red_flags] or ["None."]
        if self.overlap is not None:
            said = self.overlap.line()
            lines += ["", "## Overlap with the training pairs", "", said[:1].upper() + said[1:] + ".",
                      *(["", *[f"- {text}" for text in self.overlap.examples]]
                        if self.overlap.examples else [])]
        if self.verdict is not None:
            v = self.verdict
            lines += ["", f"## Verdict: {v.decision}", "", *[f"- {e}" for e in v.evidence], "",
                      f"Next: {v.next_step}"]
        if self.agreement is not None:
            a = self.agreement
            lines += ["", "## Student vs teacher", "", md_table(
                ["", "teacher right", "teacher wrong"],
                [["student right", a.both_right, a.student_only],
                 ["student wrong", a.teacher_only, a.both_wrong]])]
            if a.lost_from_base:
                lines += ["", "Inputs the base model got right and the student gets wrong:", "",
                          *[f"- {text}" for text in a.lost_from_base]]
        lines += _details_markdown(self)
        for m in self.results:
            lines += ["", f"## Failures of {m.name}", ""]
            if not m.failures:
                lines.append("None.")
            for category, count in m.failures.items():
                lines.append(f"- **{category}**: {count}")
                lines += [f"  - {ex.input} -> `{ex.predicted[:200] or '(nothing)'}` (expected "
                          f"`{ex.expected[:200]}`; {ex.why})" for ex in m.examples.get(category, [])]
        return "\n".join(lines) + "\n"


def _decoding_markdown(report: EvalReport) -> list[str]:
    if not report.other_decoding:
        return []
    student = report.result("student")
    rows = [r for r in (student, *report.other_decoding) if r is not None]
    columns = report.columns()
    constrained = "true" if student and student.decoding == "constrained" else "false"
    return ["", "## Decoding", "",
            "The student's answers generated freely, and constrained to the labels (the most "
            "likely label wins). The tables above use the project's mode "
            f"(`evaluation.constrained`: {constrained}).",
            "", md_table(["model", "decoding", *(label for _, label in columns)],
                         [[r.name, r.decoding, *(report.cell(r, m) for m, _ in columns)] for r in rows])]


def score_model(name: str, spec: str, seeds: list[Seed], answers: list[str], task: Task,
                decoding: str = "free") -> ModelResult:
    scores = task.score_batch([s.input for s in seeds], answers, [s.output for s in seeds])
    n = len(scores)
    by: dict[str, list[bool]] = {}
    failures: dict[str, int] = {}
    examples: dict[str, list[FailureExample]] = {}
    outcomes: dict[str, str] = {}
    mistaken: dict[str, str] = {}
    faults: dict[str, list[str]] = {}
    for seed, answer, score in zip(seeds, answers, scores, strict=True):
        by.setdefault(seed.difficulty, []).append(score.correct)
        outcomes[seed.id] = "ok" if score.correct else score.category or "wrong_result"
        if (taken_for := task.mistaken_for(score)) is not None:
            mistaken[seed.id] = taken_for
        if score.faults and not score.correct:
            faults[seed.id] = list(score.faults)
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
        outcomes=outcomes, details=task.details(scores), mistaken_for=mistaken, decoding=decoding,
        faults=faults,
    )


def seeds_changed(report: EvalReport, project: Project) -> bool:
    """Were seeds added or edited since `report` was scored (so its test split may differ)?"""
    return report.provenance.inputs.get("seeds.jsonl") != file_hash(project.seeds_path)


def accuracy(task: Task, answers: list[str], seeds: list[Seed]) -> Interval:
    """Share of answers the task scores correct, with its Wilson interval."""
    scores = task.score_batch([s.input for s in seeds], answers, [s.output for s in seeds])
    correct = sum(s.correct for s in scores)
    return wilson(correct, len(seeds))


def red_flags(results: dict[str, ModelResult], primary: str = "") -> list[RedFlag]:
    """The method's red flags on the primary metric, each with what it usually means."""
    flags = []
    student, base, teacher = results.get("student"), results.get("base"), results.get("teacher")

    def value(r: ModelResult) -> float:
        return r.metrics.get(primary, r.overall.accuracy)

    if student and value(student) < 0.5:
        flags.append(RedFlag(
            code="student_below_50", message=f"Student {primary.replace('_', ' ') or 'accuracy'} "
            f"{value(student):.0%} < 50%.",
            explanation="The student is not usable yet: more or more varied pairs, a larger student, "
            "more epochs, or check that the training data's format matches the test inputs."))
    if student and teacher and value(student) > value(teacher):
        flags.append(RedFlag(
            code="student_above_teacher",
            message=f"Student {value(student):.0%} > teacher {value(teacher):.0%}.",
            explanation="A student rarely beats the teacher that labelled its data: suspect leakage of "
            "test inputs into training pairs, or overfitting to the test distribution."))
    if student and base and student.overall.correct == base.overall.correct:
        flags.append(_equal_base(student, base))
    broken = max((r.failures.get("gold_error", 0) for r in results.values()), default=0)
    if broken:
        flags.append(RedFlag(
            code="gold_error", message=f"{broken} test seeds' gold answers fail on the database.",
            explanation="No model can score on them (they count as wrong for every model alike): "
            "fix or remove those seeds (listed under gold_error below), then evaluate again."))
    return flags


def _equal_base(student: ModelResult, base: ModelResult) -> RedFlag:
    """Student and base equal on the primary metric: either training changed nothing, or it
    changed the answers without making more of them right (the other metrics say which)."""
    moved = [f"{name.replace('_', ' ')} {base.metrics[name]:.0%} -> {value:.0%}"
             for name, value in student.metrics.items()
             if name in base.metrics and abs(value - base.metrics[name]) >= 0.01]
    message = f"Student and base both score {student.overall.accuracy:.0%}."
    if moved:
        return RedFlag(
            code="student_equal_base", message=f"{message} Other metrics moved: {', '.join(moved[:3])}.",
            explanation="Training changed the answers but made no more of them right: the student is "
            "partly there. More steps, more or more varied pairs, or a larger student.")
    return RedFlag(
        code="student_equal_base", message=message,
        explanation="Training did not change the model's behaviour: check the learning rate, that "
        "the loss fell, that labels were not all masked, and that the right weights were saved.")


def _seeds(project: Project, extra: Path | None) -> tuple[list[Seed], str]:
    if extra is not None:
        return read_jsonl(extra, Seed), str(extra)
    _, test = project.split()
    if not test:
        raise UsageError("No test seeds. Add seeds with {fix}.", fix=ADD_SEEDS)
    return test, "test split"


def _hf_answers(path_or_spec: str, task: Task, seeds: list[Seed], max_new_tokens: int,
                base: bool, seed: int, decodings: tuple[str, ...]) -> dict[str, list[str]]:
    """The model's answers in each decoding mode, the model loaded once."""
    from slm_distill.tools.training.hf_generate import student_answers
    from slm_distill.tools.training.students import load_pretrained, load_student

    model, tokenizer = (load_student(path_or_spec, seed=seed) if base
                        else load_pretrained(path_or_spec))
    return {mode: student_answers(model, tokenizer, task, [s.input for s in seeds], decoding=mode,
                                  max_new_tokens=max_new_tokens) for mode in decodings}


def decoding_of(project: Project, task: Task) -> str:
    """The project's decoding mode; constrained only where the task has choices."""
    return "constrained" if project.config.evaluation.constrained and task.choices() else "free"


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
    judge = attach_judge(project, task)  # generation: the judge grades every model's answers
    results = {r.name: r for r in reuse.results if r.name not in models} if reuse else {}
    other: list[ModelResult] = []
    answers_of: dict[str, list[str]] = {}
    try:
        mode = decoding_of(project, task)
        # the student is also scored the other way where the task has choices, for comparison
        both = (mode, "free" if mode == "constrained" else "constrained") if task.choices() else (mode,)
        for i, model in enumerate(models):
            progress(i, len(models), f"{model} answering {len(seeds)} test inputs")
            if model == "teacher":
                spec, answers = project.config.teacher, _teacher_answers(project, task, seeds)
                results[model] = score_model(model, spec, seeds, answers, task)
                answers_of[model] = answers
                continue
            if model == "seed_only":
                progress(i, len(models), "training the seed-only student (the same steps, on "
                         "the validation seeds alone)")
            spec = {"base": project.config.student, "student": str(merged)}.get(model) or str(
                seed_only_student(project))
            by_mode = _hf_answers(project.local(spec), task, seeds, cfg.max_new_tokens,
                                  model == "base", cfg.seed, both if model == "student" else (mode,))
            results[model] = score_model(model, spec, seeds, by_mode[mode], task, mode)
            answers_of[model] = by_mode[mode]
            other += [score_model(model, spec, seeds, by_mode[m], task, m) for m in both[1:]
                      if model == "student"]
        pairwise = _pairwise(project, judge, task, seeds, answers_of)
        overlap = training_overlap(project, seeds, task) if extra_test is not None else None
        progress(len(models), len(models), "scored")
    finally:
        task.close()
    if reuse and "student" not in models:
        other = list(reuse.other_decoding)
    return save_eval(project, results, label, len(seeds), name, metric_labels(task),
                     correct_metric(task), other, pairwise, {s.id: s.input for s in seeds},
                     overlap)


def seed_only_student(project: Project) -> Path:
    """Train the student on the validation seeds alone (the test seeds stay unseen), for as many
    steps as the trained student took: runs/seed_only/merged."""
    from slm_distill.tools.generate_pairs import Pair
    from slm_distill.tools.train_student import TrainReport, train_student

    validation, _ = project.split()
    if not validation:
        raise UsageError("No validation seeds to train a seed-only student on. Add seeds with "
                         "{fix}.", fix=ADD_SEEDS)
    trained = load_report(project, "train", TrainReport)
    steps = trained.steps if trained is not None else project.config.training.max_steps
    pairs = [Pair(id=s.id, input=s.input, output=s.output) for s in validation]
    train_student(project, run="seed_only", resume=False, max_steps=steps,
                  report_name="train-seed-only", pairs=pairs)
    return project.path("runs", "seed_only", "merged")


def _pairwise(project: Project, judge: Judge | None, task: Task, seeds: list[Seed],
              answers_of: dict[str, list[str]]) -> Pairwise | None:
    if judge is None or not project.config.judge.pairwise or not {"student", "teacher"} <= set(answers_of):
        return None
    items = [(s.input, task.extract(a), task.extract(b)) for s, a, b
             in zip(seeds, answers_of["student"], answers_of["teacher"], strict=True)]
    winners = judge.compare_many(items)
    return Pairwise(judge=judge.spec, student_wins=winners.count("A"),
                    teacher_wins=winners.count("B"), ties=winners.count("tie"))


def _agreement_line(a: Agreement) -> str:
    lost = f"; {len(a.lost_from_base)} inputs the base got right, lost" if a.lost_from_base else ""
    return (f"student vs teacher: both right {a.both_right}, teacher only {a.teacher_only}, "
            f"student only {a.student_only}, both wrong {a.both_wrong}{lost}")


def latest_verdict(project: Project) -> Verdict | None:
    """The verdict of the last evaluation on the test split (None: none yet); a damaged report is
    the ProjectError load_report raises."""
    report = load_report(project, "eval", EvalReport)
    return report.verdict if report is not None else None


TRAINED = ("runs", "student", "metrics.jsonl")  # rewritten by every training run of the student


def retrained_since_evaluation(project: Project) -> bool:
    """Was the student trained again after the last evaluation on the test split (whose verdict
    then speaks of an earlier student)?"""
    report = load_report(project, "eval", EvalReport)
    recorded = report.provenance.inputs.get("/".join(TRAINED)) if report is not None else None
    return recorded is not None and recorded != file_hash(project.path(*TRAINED))


def judge_results(project: Project, results: dict[str, ModelResult], primary: str,
                  flags: list[RedFlag]) -> Verdict:
    """The verdict on these results: the project's gate and deploy margin, its training curve."""
    values = {n: r.metrics.get(primary, r.overall.accuracy) for n, r in results.items()}
    student, base = results.get("student"), results.get("base")
    beaten = student is not None and (base is None or student.overall.correct > base.overall.correct)
    verdict = decide(values, [f.code for f in flags], primary,
                     gate=project.config.gate.threshold,
                     margin=project.config.evaluation.deploy_margin, base_beaten=beaten,
                     history=training_history(project))
    if "seed_only" in values and "student" in values:
        added = (values["student"] - values["seed_only"]) * 100
        verdict.evidence.append(f"trained on the seeds alone the same student scores "
                                f"{values['seed_only']:.0%}: the synthetic pairs added "
                                f"{added:+.0f} points")
    return verdict


def save_eval(project: Project, results: dict[str, ModelResult], label: str, n: int,
              name: str, metric_labels: dict[str, str], correct: str,
              other_decoding: list[ModelResult] | None = None,
              pairwise: Pairwise | None = None,
              inputs: dict[str, str] | None = None,
              overlap: Overlap | None = None) -> EvalReport:
    """Red flags, the verdict, the charts and reports/<name>.{json,md,png} for scored models."""
    from slm_distill.tools.reporting.plots import plot_bars, plot_confusion

    results = {m: results[m] for m in ALL_MODELS if m in results}
    chart = project.report_path(name, "png")
    chart.parent.mkdir(parents=True, exist_ok=True)
    primary = next(iter(metric_labels.values()))
    plot_bars({n: {"overall": r.overall.accuracy, **{k: v.accuracy for k, v in r.by_difficulty.items()}}
               for n, r in results.items()}, chart, f"{primary.capitalize()} on the {label}")
    student = results.get("student")
    if student and (confusion := student.details.get("confusion")):
        plot_confusion(confusion["labels"], confusion["matrix"],
                       project.report_path(f"{name}-confusion", "png"), "Student: confusion matrix")
    flags = red_flags(results, next(iter(metric_labels)))
    if inputs is None:
        inputs = {s.id: s.input for s in project.seeds()}
    report = EvalReport(name=name, test_set=label, n=n, metric_labels=metric_labels,
                        correct_metric=correct, results=list(results.values()),
                        other_decoding=other_decoding or [],
                        red_flags=flags, chart=chart.name, pairwise=pairwise,
                        verdict=judge_results(project, results, next(iter(metric_labels)), flags),
                        agreement=agreement({k: r.outcomes for k, r in results.items()}, inputs),
                        overlap=overlap,
                        provenance=provenance(project, [project.seeds_path,
                                                        project.path(*TRAINED)]))
    save_report(project, name, report)
    return report


def comparison_table(report: EvalReport) -> str:
    columns = report.columns()
    rows = [[r.name, r.spec, *(report.cell(r, m) for m, _ in columns)] for r in report.results]
    return md_table(["model", "spec", *(label for _, label in columns)], rows)


def _details_markdown(report: EvalReport) -> list[str]:
    """Per-label or per-field scores of each model and the student's confusion matrix, where the
    task has them."""
    lines: list[str] = []
    for r in report.results:
        per_label = r.details.get("per_label")
        if per_label:
            lines += ["", f"## Per label: {r.name}", "", md_table(
                ["label", "precision", "recall", "F1", "support"],
                [[k, f"{v['precision']:.0%}", f"{v['recall']:.0%}", f"{v['f1']:.0%}", v["support"]]
                 for k, v in per_label.items()])]
        per_field = r.details.get("per_field")
        if per_field:
            outcomes = ("matched", "wrong", "missing", "extra")
            lines += ["", f"## Per field: {r.name}", "", md_table(
                ["field", *outcomes],
                [[k, *(v.get(o, 0) for o in outcomes)] for k, v in per_field.items()])]
        per_tool = r.details.get("per_tool")
        if per_tool:
            outcomes = sorted({o for v in per_tool.values() for o in v} - {"right"})
            lines += ["", f"## Per tool: {r.name} (the expected tool)", "", md_table(
                ["tool", "right", *(o.replace("_", " ") for o in outcomes)],
                [[k, v.get("right", 0), *(v.get(o, 0) for o in outcomes)]
                 for k, v in per_tool.items()])]
    student = report.result("student")
    confusion = student.details.get("confusion") if student else None
    if confusion:
        lines += ["", "## Confusion matrix: student (rows: expected, columns: answered)", "",
                  md_table(["", *confusion["labels"]],
                           [[label, *row] for label, row in zip(confusion["labels"],
                                                                confusion["matrix"], strict=True)]),
                  "", f"![confusion matrix]({report.name}-confusion.png)"]
    return lines


def metric_labels(task: Task) -> dict[str, str]:
    return {m: task.label(m) for m in task.metric_names}


def correct_metric(task: Task) -> str:
    return task.correct_metric or task.primary_metric
