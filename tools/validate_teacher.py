"""validate_teacher: the method's first gate. The teacher answers the validation split (20% of the
seeds); below the threshold (0.80) generation refuses to run unless the user overrides explicitly.

    report = validate_teacher(project)            # writes reports/teacher_validation.{json,md}
    check_gate(project)                            # raises GateError when generation must not run
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field, model_validator

from slm_distill.prompts import render_prompt
from slm_distill.tools.actions import ADD_SEEDS, OVERRIDE_GATE, act, say
from slm_distill.tools.errors import GateError, UsageError
from slm_distill.tools.judge import attach_judge
from slm_distill.tools.reporting.reports import (
    Provenance,
    Report,
    file_hash,
    load_report,
    md_table,
    provenance,
    save_report,
    teacher_line,
)
from slm_distill.tools.reporting.stats import Interval, wilson
from slm_distill.tools.tasks.base import Score, Task, parse_json_items
from slm_distill.tools.teachers import CostMeter, Teacher, project_teacher
from slm_distill.tools.workspace.config import GateOverride
from slm_distill.tools.workspace.progress import ProgressFn, no_progress
from slm_distill.tools.workspace.project import Project, Seed

REPORT = "teacher_validation"


class TeacherFailure(BaseModel):
    input: str
    expected: str
    predicted: str
    category: str | None = Field(description="syntax, unknown_table, wrong_result, ...")
    why: str | None
    judge_correct: bool | None = Field(None, description="The LLM judge's verdict, when used.")
    judge_reason: str | None = None


class GroupScore(BaseModel):
    n: int
    correct: int
    accuracy: float


class TeacherValidationReport(Report):
    teacher: str
    teacher_description: str
    offline_note: str | None = Field(None, description="Set when the teacher is not an LLM.")
    task: str
    n: int
    correct: int
    accuracy: float = Field(description="Share of validation seeds answered correctly.")
    interval: Interval = Field(description="The accuracy with its Wilson 95% interval: with few "
                               "validation seeds the score is noisy.")
    score: float = Field(-1.0, description="The task's primary metric, which the gate compares "
                         "with the threshold (Text2SQL: the accuracy; classification: macro-F1).")
    metric: str = Field("accuracy", description="The primary metric's name.")
    metrics: dict[str, float]
    by_difficulty: dict[str, GroupScore]
    judge: str | None = Field(None, description="Judge teacher spec, when an LLM judge was used.")
    judged_accuracy: float | None = Field(None, description="Accuracy after the judge's verdicts.")
    threshold: float
    passed: bool
    inconclusive: str | None = Field(None, description="Set when the accuracy's 95% interval "
                                     "reaches across the gate: too few validation seeds to be "
                                     "sure of the verdict, and what would make it firm.")
    failures: list[TeacherFailure]
    cost: CostMeter
    next_step: str
    provenance: Provenance

    @model_validator(mode="before")
    @classmethod
    def _interval_of_older_reports(cls, data: Any) -> Any:
        if isinstance(data, dict) and "interval" not in data and "n" in data:
            data = {**data, "interval": wilson(data["correct"], data["n"])}
        if isinstance(data, dict) and "score" not in data and "accuracy" in data:
            data = {**data, "score": data["accuracy"]}
        return data

    def summary(self) -> str:
        return _summary(self)

    def markdown(self) -> str:
        return _markdown(self)


def validate_teacher(project: Project, *, teacher_spec: str | None = None,
                     judge_spec: str | None = None,
                     progress: ProgressFn = no_progress) -> TeacherValidationReport:
    validation, _ = project.split()
    if not validation:
        raise UsageError("No seeds yet. Add 10-100 examples with {fix}.", fix=ADD_SEEDS)
    chosen = teacher_spec or project.config.teacher
    teacher = project_teacher(project, chosen)  # checks the spec; it is saved once scored
    task = project.task()
    attach_judge(project, task)  # generation: the judge grades the teacher's answers
    try:
        predictions = asyncio.run(_answer_all(teacher, task, validation, progress))
        scores = task.score_batch([s.input for s in validation], predictions,
                                  [s.output for s in validation])
        failures = _failures(validation, predictions, scores)
        if judge_spec:
            asyncio.run(_judge(project_teacher(project, judge_spec), task, failures))
    finally:
        task.close()
    if chosen != project.config.teacher:
        project.config.teacher = chosen
        project.save()
    report = _report(project, teacher, task, validation, scores, failures, judge_spec)
    save_report(project, REPORT, report)
    return report


async def _answer_all(teacher: Teacher, task: Task, seeds: list[Seed],
                      progress: ProgressFn) -> list[str]:
    done = 0

    async def one(seed: Seed) -> str:
        nonlocal done
        answer = await teacher.answer(seed.input, task)
        done += 1
        progress(done, len(seeds), "teacher answering validation seeds")
        return answer

    try:
        return list(await asyncio.gather(*(one(s) for s in seeds)))
    finally:
        await teacher.close()


def _failures(seeds: list[Seed], predictions: list[str], scores: list[Score]) -> list[TeacherFailure]:
    return [
        TeacherFailure(input=s.input, expected=s.output, predicted=p, category=sc.category,
                       why=sc.reason)
        for s, p, sc in zip(seeds, predictions, scores, strict=True)
        if not sc.correct
    ]


async def _judge(judge: Teacher, task: Task, failures: list[TeacherFailure]) -> None:
    """Ask an LLM judge about answers the task says may still be right (for SQL: ones that run but
    give another result than expected)."""
    async def one(f: TeacherFailure) -> None:
        if f.category not in task.judged_categories:
            return
        prompt = render_prompt("judge", task=task.name, input=f.input, expected=f.expected,
                               predicted=f.predicted, evidence=f"Scorer's note: {f.why}")
        [reply] = await judge.complete([{"role": "user", "content": prompt}], max_tokens=300)
        verdict = next(iter(parse_json_items(f"[{reply.text[reply.text.find('{'):]}")), {})
        f.judge_correct = bool(verdict.get("correct", False))
        f.judge_reason = str(verdict.get("reason", ""))[:300]

    try:
        await asyncio.gather(*(one(f) for f in failures))
    finally:
        await judge.close()


def _by_difficulty(seeds: list[Seed], scores: list[Score]) -> dict[str, GroupScore]:
    groups: dict[str, list[bool]] = {}
    for seed, score in zip(seeds, scores, strict=True):
        groups.setdefault(seed.difficulty, []).append(score.correct)
    return {k: GroupScore(n=len(v), correct=sum(v), accuracy=sum(v) / len(v))
            for k, v in sorted(groups.items())}


def _report(project: Project, teacher: Teacher, task: Task, seeds: list[Seed],
            scores: list[Score], failures: list[TeacherFailure],
            judge_spec: str | None) -> TeacherValidationReport:
    n, correct = len(seeds), sum(s.correct for s in scores)
    threshold = project.config.gate.threshold
    judged = None
    if judge_spec:
        judged = (correct + sum(1 for f in failures if f.judge_correct)) / n
    accuracy, metrics = correct / n, task.summarise(scores)
    primary = task.primary_metric
    score = metrics[primary] if primary != task.correct_metric else accuracy
    gate_value = judged if judged is not None else score
    passed = gate_value >= threshold
    offline = None if not teacher.is_local or teacher.backend != "python" else (
        "This teacher is a Python rule system, not an LLM: its accuracy says nothing about how an "
        "LLM teacher would do on this task."
    )
    return TeacherValidationReport(
        teacher=teacher.spec, teacher_description=teacher.description, offline_note=offline,
        task=task.name, n=n, correct=correct, accuracy=accuracy, interval=wilson(correct, n),
        metrics=metrics, score=score, metric=task.label(primary),
        by_difficulty=_by_difficulty(seeds, scores), judge=judge_spec, judged_accuracy=judged,
        threshold=threshold, passed=passed, failures=failures, cost=teacher.meter,
        inconclusive=_inconclusive(wilson(correct, n), threshold),
        next_step=_next_step(passed, gate_value, threshold),
        provenance=provenance(project, [project.seeds_path]),
    )


def _inconclusive(interval: Interval, threshold: float) -> str | None:
    """What to say when the interval holds the threshold: the verdict could go either way."""
    if not interval.low < threshold <= interval.high:
        return None
    return (f"inconclusive: on {interval.n} validation seeds the 95% interval "
            f"({interval.low:.0%}-{interval.high:.0%}) reaches across the {threshold:.0%} gate, "
            "so the verdict could go either way; more seeds (50 or more give 10 validation "
            "seeds or more) make it firmer")


def _next_step(passed: bool, accuracy: float, threshold: float) -> str:
    if passed:
        return f"{say('generate', dry_run=True)} to see the cost, then {say('generate')}."
    if accuracy >= 0.6:
        return (f"read the failures and iterate ({accuracy:.0%} is below the gate of {threshold:.0%}): "
                "improve the task description or seeds, or try a stronger teacher, then validate "
                f"again. To go on anyway, with the user's own reason: `{OVERRIDE_GATE}`.")
    return (f"rethink the task or the teacher (another model, a clearer task definition) before "
            f"generating data: {accuracy:.0%} is far below the gate of {threshold:.0%}.")


def _summary(r: TeacherValidationReport) -> str:
    verdict = "PASSED" if r.passed else "FAILED"
    what = "" if r.score == r.accuracy else f" {r.metric} {r.score:.1%}, accuracy"
    lines = [f"Teacher gate {verdict}: {r.teacher} scored{what} {r.accuracy:.1%} ({r.correct}/{r.n}; "
             f"95% interval {r.interval.low:.0%}-{r.interval.high:.0%}) against {r.threshold:.0%}."]
    if r.offline_note:
        lines.append(f"  Note: {r.offline_note}")
    if r.inconclusive:
        lines.append(f"  Note: {r.inconclusive}.")
    lines += [f"  {name:<12} {g.correct}/{g.n} ({g.accuracy:.0%})" for name, g in r.by_difficulty.items()]
    lines += [f"  {len(r.failures)} failures listed in reports/{REPORT}.md", f"Next: {r.next_step}"]
    return "\n".join(lines)


def _markdown(r: TeacherValidationReport) -> str:
    verdict = "PASSED" if r.passed else "FAILED"
    lines = [
        f"# Teacher validation: {verdict}",
        "",
        teacher_line(r.teacher, r.teacher_description),
    ]
    if r.offline_note:
        lines += ["", f"> {r.offline_note}"]
    lines += [
        "",
        f"Accuracy {r.accuracy:.1%} ({r.correct}/{r.n}; 95% interval {r.interval.low:.0%}-"
        f"{r.interval.high:.0%}) against a gate of {r.threshold:.0%}.",
        *(["", f"**{r.inconclusive[0].upper() + r.inconclusive[1:]}.**"] if r.inconclusive
          else []),
    ]
    if r.judged_accuracy is not None:
        lines.append(f"With the LLM judge `{r.judge}`: {r.judged_accuracy:.1%}.")
    lines += ["", md_table(["metric", "value"], [[k, v] for k, v in r.metrics.items()]), ""]
    lines += [md_table(["difficulty", "n", "correct", "accuracy"],
                       [[k, g.n, g.correct, g.accuracy] for k, g in r.by_difficulty.items()]), ""]
    lines += [f"Calls: {r.cost.calls} new, {r.cost.cached_calls} from cache; "
              f"cost ${r.cost.cost_usd:.4f}.", "", f"Next: {r.next_step}", ""]
    if r.failures:
        lines += ["## Failures", ""]
        for f in r.failures:
            lines += [f"- **{f.category}**: {f.input}", f"  - expected: `{f.expected}`",
                      f"  - predicted: `{f.predicted or '(nothing)'}`", f"  - why: {f.why}"]
            if f.judge_correct is not None:
                lines.append(f"  - judge: {'correct' if f.judge_correct else 'wrong'} "
                             f"({f.judge_reason})")
    return "\n".join(lines) + "\n"


# -- the gate -------------------------------------------------------------------------------
def check_gate(project: Project, *, override: str | None = None) -> str:
    """Return a one-line gate status, or raise GateError when generation must not run. An
    `override` reason lets a failed gate pass for this check (recording it is the caller's)."""
    report = load_report(project, REPORT, TeacherValidationReport)
    teacher = project.config.teacher
    if report is None:
        raise GateError("The teacher has not been validated. Run {fix} first.",
                        fix=act("validate_teacher"))
    if report.teacher != teacher:
        raise GateError(f"The teacher changed ({report.teacher} -> {teacher}) since it was "
                        "validated. Run {fix} again.", fix=act("validate_teacher"))
    if _validation_changed(project, report):
        raise GateError("The seeds or their split changed since the teacher was validated, so the "
                        "validation seeds may differ. Run {fix} again.", fix=act("validate_teacher"))
    recorded = project.config.gate.override
    reason = override or (recorded.reason if recorded and recorded.teacher == teacher else None)
    if (line := gate_line("teacher", report.score, report.threshold, report.passed, reason)):
        return line
    raise GateError(
        f"The teacher scored {report.score:.0%} on the validation seeds, below the gate of "
        f"{report.threshold:.0%}: pairs it generates would teach its mistakes. See "
        "reports/teacher_validation.md. Improve the prompt/seeds or pick another teacher; to go "
        "on anyway, with the user's own reason, run {fix} (recorded in distill.yaml).",
        fix=OVERRIDE_GATE)


def gate_line(what: str, value: float, threshold: float, passed: bool,
              reason: str | None) -> str | None:
    """A gate's one-line status: passed, or failed and overridden for the user's `reason`;
    None when it failed with no reason (the caller raises its GateError)."""
    if passed:
        return f"{what} gate passed ({value:.0%} >= {threshold:.0%})"
    if reason:
        return f"{what} gate FAILED ({value:.0%} < {threshold:.0%}), overridden by the user: {reason}"
    return None


def gate_passed(project: Project) -> bool:
    report = load_report(project, REPORT, TeacherValidationReport)
    return report is not None and report.passed


def _validation_changed(project: Project, report: TeacherValidationReport) -> bool:
    inputs, config = report.provenance.inputs, report.provenance.config
    seeds_changed = inputs.get("seeds.jsonl") not in (None, file_hash(project.seeds_path))
    split_changed = config.get("split") not in (None, project.config.split.model_dump(mode="json"))
    return seeds_changed or split_changed


def override_gate(project: Project, reason: str) -> None:
    """Record the user's explicit decision to generate below the gate."""
    if not reason.strip():
        raise UsageError("An override needs a reason, in the user's words: {fix}.", fix=OVERRIDE_GATE)
    report = load_report(project, REPORT, TeacherValidationReport)
    if report is None:
        raise GateError("Validate the teacher before overriding its gate: {fix}.",
                        fix=act("validate_teacher"))
    project.config.gate.override = GateOverride(
        reason=reason.strip(), accuracy=report.score, teacher=project.config.teacher,
        at=datetime.now(UTC),
    )
    project.save()
