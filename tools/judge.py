"""The LLM judge of free-text answers, and its gate.

    judge = project_judge(project)                   # None without judge.spec
    judge.grade_many([(input, answer)])              # [Verdict(score=4, reason=...)]
    judge.compare_many([(input, student, teacher)])  # ["A", "tie", ...] (both orders asked)
    report = validate_judge(project)                 # reports/judge_validation.{json,md}
    check_judge_gate(project)                        # raises GateError when generation must not run

Any teacher spec can be a judge: its calls go through a teacher (cached, retried, costed and
budgeted like a teacher's). An LLM judge reads the prompts `judge/score`, `judge/pass_fail` and
`judge/pairwise` and replies with JSON; a `python:` judge is an object with
`judge(request) -> dict` that gets the same fields (`kind`, `instruction`, `rubric`, `input`,
`answer`, or `first` and `second`) and replies with the same JSON as a dict. The judge grades an
answer against the input and the rubric, never against a reference: the reference is one good
answer among many, and the lexical metrics already measure closeness to it.

The judge is validated like the teacher: on the seeds it must grade every reference as a pass and
three damaged copies of it (truncated, another seed's answer, one fact changed) as fails. The
share of right verdicts is its agreement; below `judge.gate` (0.80) generation stops unless the
user overrides it with a recorded reason.
"""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from slm_distill.prompts import render_prompt
from slm_distill.tools.actions import ADD_SEEDS, OVERRIDE_JUDGE_GATE, Blank, act, say
from slm_distill.tools.errors import GateError, UsageError
from slm_distill.tools.reporting.reports import (
    Provenance,
    Report,
    load_report,
    md_table,
    provenance,
    save_report,
    teacher_line,
)
from slm_distill.tools.teachers import CostMeter, Teacher, project_teacher
from slm_distill.tools.workspace.config import GateOverride, JudgeConfig
from slm_distill.tools.workspace.progress import ProgressFn, no_progress
from slm_distill.tools.workspace.project import Project, Seed

REPORT = "judge_validation"
MAX_SEEDS = 50  # seeds the judge is validated on (four verdicts each)
Damage = Literal["reference", "truncated", "off_topic", "fact_changed"]


class Verdict(BaseModel):
    score: int | None = Field(description="1-5 (pass_fail: 5 pass, 1 fail); None: the judge's "
                              "reply could not be read.")
    reason: str = ""

    @property
    def share(self) -> float:
        """The score as a share: 1 is 0.0, 5 is 1.0 (an unreadable reply counts as 1)."""
        return ((self.score or 1) - 1) / 4

    @property
    def shown(self) -> str:
        return f"{self.score}/5" if self.score is not None else "(no verdict)"


def _json_object(text: str) -> dict:
    start, end = text.find("{"), text.rfind("}")
    if start == -1 or end <= start:
        return {}
    try:
        value = json.loads(text[start:end + 1])
    except (ValueError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}


def read_verdict(reply: Any, mode: str) -> Verdict:
    """A verdict from the judge's reply (JSON text, or a python judge's dict)."""
    data = reply if isinstance(reply, dict) else _json_object(str(reply or ""))
    reason = " ".join(str(data.get("reason", "")).split())[:300]
    if mode == "pass_fail" or "pass" in data and "score" not in data:
        verdict = data.get("pass")
        if isinstance(verdict, bool):
            return Verdict(score=5 if verdict else 1, reason=reason)
        return Verdict(score=None, reason=reason or "the judge's reply had no pass verdict")
    score = data.get("score")
    if isinstance(score, bool) or not isinstance(score, int | float) or not 1 <= score <= 5:
        return Verdict(score=None, reason=reason or "the judge's reply had no 1-5 score")
    return Verdict(score=round(score), reason=reason)


class Judge:
    """Grades answers against the task's rubric through a teacher spec."""

    def __init__(self, project: Project, spec: str, config: JudgeConfig, instruction: str,
                 rubric: str, meter: CostMeter | None = None) -> None:
        self.project, self.spec, self.config = project, spec, config
        self.instruction, self.rubric = instruction, rubric
        self.meter = meter or CostMeter()
        self.description = ""

    def _teacher(self) -> Teacher:
        teacher = project_teacher(self.project, self.spec)
        teacher.meter = self.meter  # one meter (and budget) over all the judge's calls
        self.description = teacher.description
        return teacher

    async def _ask(self, teacher: Teacher, kind: str, fields: dict[str, str]) -> Any:
        request = {"kind": kind, "instruction": self.instruction, "rubric": self.rubric, **fields}
        if teacher.backend == "python":
            return await teacher.call_object("judge", request)
        prompt = render_prompt(f"judge/{kind}", task_instruction=self.instruction,
                               rubric=self.rubric, **fields)
        [reply] = await teacher.complete([{"role": "user", "content": prompt}], max_tokens=300)
        return reply.text

    async def grade(self, items: list[tuple[str, str]]) -> list[Verdict]:
        """(input, answer) -> the judge's verdict on each answer."""
        teacher = self._teacher()
        kind = self.config.mode

        async def one(input: str, answer: str) -> Verdict:
            if not answer.strip():
                return Verdict(score=1, reason="empty answer (not sent to the judge)")
            reply = await self._ask(teacher, kind, {"input": input, "answer": answer})
            return read_verdict(reply, kind)

        try:
            return list(await asyncio.gather(*(one(*item) for item in items)))
        finally:
            await teacher.close()

    async def compare(self, items: list[tuple[str, str, str]]) -> list[str]:
        """(input, a, b) -> "A" (a is better), "B" or "tie": asked in both orders, and a
        preference that flips with the order counts as a tie."""
        teacher = self._teacher()

        async def winner(input: str, first: str, second: str) -> str:
            reply = await self._ask(teacher, "pairwise", {"input": input, "first": first,
                                                          "second": second})
            data = reply if isinstance(reply, dict) else _json_object(str(reply or ""))
            value = str(data.get("winner", "tie")).strip().upper()
            return value if value in ("A", "B") else "tie"

        async def one(input: str, a: str, b: str) -> str:
            forward, backward = await asyncio.gather(winner(input, a, b), winner(input, b, a))
            backward = {"A": "B", "B": "A"}.get(backward, "tie")
            return forward if forward == backward else "tie"

        try:
            return list(await asyncio.gather(*(one(*item) for item in items)))
        finally:
            await teacher.close()

    def grade_many(self, items: list[tuple[str, str]]) -> list[Verdict]:
        return asyncio.run(self.grade(items))

    def compare_many(self, items: list[tuple[str, str, str]]) -> list[str]:
        return asyncio.run(self.compare(items))


def project_judge(project: Project, spec: str | None = None) -> Judge | None:
    """The project's judge (or `spec`'s), None when none is configured; a bad spec is refused."""
    chosen = spec or project.config.judge.spec
    if not chosen:
        return None
    task = project.config.task
    if task.name != "generation":
        raise UsageError(f"A judge grades free-text answers (a generation project); this one is "
                         f"{task.name}.")
    return Judge(project, chosen, project.config.judge, task.instruction, read_rubric(project))


def attach_judge(project: Project, task: Any) -> Judge | None:
    """The project's judge, attached to a task that grades with one (generation); else None."""
    if not hasattr(task, "attach_judge") or not project.config.judge.spec:
        return None
    judge = project_judge(project)
    task.attach_judge(judge)
    return judge


def read_rubric(project: Project) -> str:
    path = project.path(project.config.task.rubric_file)  # type: ignore[union-attr]
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the project's rubric ({exc}). Restore it, or point "
                         "task.rubric_file at it.") from None


# -- damaged answers --------------------------------------------------------------------------------
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
_NAME = re.compile(r"(?<=\s)[A-Z][a-z]{2,}")


def truncated(answer: str) -> str | None:
    """The first third of the answer's words (None when it is too short to cut)."""
    words = answer.split()
    return " ".join(words[:max(1, len(words) // 3)]) if len(words) >= 4 else None


def fact_changed(answer: str, others: list[str]) -> str | None:
    """The answer with one number changed, else one capitalised word (a name, a product) taken
    from another answer; None when it has neither."""
    if found := _NUMBER.search(answer):
        digits = found.group(0)
        changed = str(int(re.sub(r"\D", "", digits) or 0) * 3 + 7)
        return answer[:found.start()] + changed + answer[found.end():]
    names = {m.group(0) for m in _NAME.finditer(answer)}
    for other in others:
        for candidate in _NAME.findall(other):
            if candidate not in names and names:
                name = sorted(names)[0]
                return re.sub(rf"\b{re.escape(name)}\b", candidate, answer)
    return None


def damaged(seeds: list[Seed]) -> list[tuple[Seed, Damage, str]]:
    """Each seed's reference (should pass) and its damaged copies (should fail)."""
    answers = [s.output for s in seeds]
    cases: list[tuple[Seed, Damage, str]] = []
    for i, seed in enumerate(seeds):
        cases.append((seed, "reference", seed.output))
        if (cut := truncated(seed.output)) is not None:
            cases.append((seed, "truncated", cut))
        if len(seeds) > 1:
            cases.append((seed, "off_topic", answers[(i + len(seeds) // 2 or 1) % len(seeds)]))
        others = answers[i + 1:] + answers[:i]
        if (changed := fact_changed(seed.output, others)) is not None and changed != seed.output:
            cases.append((seed, "fact_changed", changed))
    return cases


# -- validation and the gate ------------------------------------------------------------------------
class JudgeCase(BaseModel):
    seed: str
    damage: Damage
    answer: str
    score: int | None
    reason: str
    right: bool = Field(description="The verdict is what it should be: a pass for the reference, "
                        "a fail for a damaged answer.")


class JudgeValidationReport(Report):
    judge: str
    judge_description: str = ""
    mode: str
    pass_score: int
    n_seeds: int
    n: int = Field(description="Verdicts asked for (references and damaged answers).")
    right: int
    agreement: float = Field(description="Share of verdicts that were right.")
    by_damage: dict[str, float] = Field(description="Agreement per kind of answer.")
    gate: float
    passed: bool
    cases: list[JudgeCase]
    cost: CostMeter
    next_step: str
    provenance: Provenance

    def summary(self) -> str:
        verdict = "PASSED" if self.passed else "FAILED"
        lines = [f"Judge gate {verdict}: {self.judge} gave {self.right}/{self.n} right verdicts "
                 f"({self.agreement:.1%}) on {self.n_seeds} seeds, against {self.gate:.0%}."]
        lines += [f"  {kind:<13} {value:.0%}" for kind, value in self.by_damage.items()]
        lines += [f"  wrong verdicts listed in reports/{REPORT}.md", f"Next: {self.next_step}"]
        return "\n".join(lines)

    def markdown(self) -> str:
        verdict = "PASSED" if self.passed else "FAILED"
        lines = [f"# Judge validation: {verdict}", "", teacher_line(self.judge, self.judge_description),
                 "", f"On {self.n_seeds} seeds the judge graded each reference (it should pass: "
                 f"{'pass' if self.mode == 'pass_fail' else f'{self.pass_score}/5 or more'}) and "
                 "damaged copies of it (they should fail): the first third of its words "
                 "(truncated), another seed's answer (off topic), one number or name changed "
                 f"(fact changed). Right verdicts: {self.right}/{self.n} ({self.agreement:.1%}) "
                 f"against a gate of {self.gate:.0%}.", "",
                 md_table(["answer", "right verdicts"], [[k, v] for k, v in self.by_damage.items()]),
                 "", f"Calls: {self.cost.calls} new, {self.cost.cached_calls} from cache; cost "
                 f"${self.cost.cost_usd:.4f}.", "", f"Next: {self.next_step}", ""]
        wrong = [c for c in self.cases if not c.right]
        if wrong:
            lines += ["## Wrong verdicts", ""]
            lines += [f"- seed `{c.seed}`, **{c.damage}** scored {c.score}: {c.answer[:300]}"
                      f"\n  - judge: {c.reason}" for c in wrong]
        lines += ["", "Before trusting the judge, read a handful of its verdicts with the user "
                  "(the cases above, and some right ones in the JSON report)."]
        return "\n".join(lines) + "\n"


def validate_judge(project: Project, *, judge_spec: str | None = None,
                   progress: ProgressFn = no_progress) -> JudgeValidationReport:
    """Grade the seeds' references and damaged copies; save reports/judge_validation.{json,md};
    a `judge_spec` becomes the project's judge once it is validated."""
    seeds = project.seeds()[:MAX_SEEDS]
    if not seeds:
        raise UsageError("No seeds yet. Add seeds with {fix} first.",
                         fix=ADD_SEEDS)
    judge = project_judge(project, judge_spec)
    if judge is None:
        raise UsageError("No judge configured. Name one: {fix} (any teacher spec).",
                         fix=act("validate_judge", judge=Blank("spec")))
    cases = damaged(seeds)
    progress(0, len(cases), f"judge grading {len(cases)} answers")
    verdicts = judge.grade_many([(seed.input, answer) for seed, kind, answer in cases])
    progress(len(cases), len(cases), "graded")
    rows = []
    for (seed, kind, answer), v in zip(cases, verdicts, strict=True):
        passes = v.score is not None and v.score >= judge.config.passing
        right = v.score is not None and passes == (kind == "reference")
        rows.append(JudgeCase(seed=seed.id, damage=kind, answer=answer, score=v.score,
                              reason=v.reason, right=right))
    if judge_spec and judge_spec != project.config.judge.spec:
        project.config.judge.spec = judge_spec
        project.save()
    report = _report(project, judge, rows, len(seeds))
    save_report(project, REPORT, report)
    return report


def _report(project: Project, judge: Judge, rows: list[JudgeCase], n_seeds: int
            ) -> JudgeValidationReport:
    cfg = project.config.judge
    right = sum(c.right for c in rows)
    agreement = right / max(1, len(rows))
    by: dict[str, list[bool]] = {}
    for c in rows:
        by.setdefault(c.damage, []).append(c.right)
    passed = agreement >= cfg.gate
    if passed:
        step = (f"read a handful of the judge's verdicts with the user (reports/{REPORT}.md), then "
                f"{say('validate_teacher')}.")
    else:
        step = ("the judge cannot tell good answers from damaged ones: sharpen the rubric "
                f"(task.rubric_file), choose a stronger judge ({say('validate_judge', judge=Blank('spec'))}),"
                " or, with the user's own reason, generate anyway with "
                f"`{OVERRIDE_JUDGE_GATE}`.")
    return JudgeValidationReport(
        judge=judge.spec, judge_description=judge.description, mode=cfg.mode,
        pass_score=cfg.pass_score, n_seeds=n_seeds, n=len(rows), right=right, agreement=agreement,
        by_damage={k: sum(v) / len(v) for k, v in by.items()}, gate=cfg.gate, passed=passed,
        cases=rows, cost=judge.meter, next_step=step,
        provenance=provenance(project, _inputs(project)))


def check_judge_gate(project: Project, *, override: str | None = None) -> str | None:
    """None without a judge; else a one-line status, or GateError when generation must not run."""
    from slm_distill.tools.validate_teacher import gate_line

    spec = project.config.judge.spec
    if not spec:
        return None
    report = load_report(project, REPORT, JudgeValidationReport)
    if report is None or report.judge != spec:
        raise GateError("The judge has not been validated. Run {fix} first.",
                        fix=act("validate_judge"))
    if _inputs_changed(project, report):
        raise GateError("The rubric or the seeds changed since the judge was validated. Run {fix} "
                        "again.", fix=act("validate_judge"))
    recorded = project.config.judge.override
    reason = override or (recorded.reason if recorded and recorded.teacher == spec else None)
    if (line := gate_line("judge", report.agreement, report.gate, report.passed, reason)):
        return line
    raise GateError(
        f"The judge gave {report.agreement:.0%} right verdicts on the seeds, below the gate of "
        f"{report.gate:.0%}: its scores would say little. See reports/{REPORT}.md. Sharpen the "
        "rubric or choose another judge; to go on anyway, with the user's own reason, run {fix} "
        "(recorded in distill.yaml).", fix=OVERRIDE_JUDGE_GATE)


def _inputs(project: Project) -> list:
    return [project.seeds_path, project.path(project.config.task.rubric_file)]  # type: ignore[union-attr]


def _inputs_changed(project: Project, report: JudgeValidationReport) -> bool:
    now = provenance(project, _inputs(project)).inputs
    return any(report.provenance.inputs.get(name) not in (None, digest)
               for name, digest in now.items())


def override_judge_gate(project: Project, reason: str) -> None:
    """Record the user's explicit decision to generate although the judge failed its gate."""
    report = load_report(project, REPORT, JudgeValidationReport)
    if report is None or not reason.strip():
        return
    project.config.judge.override = GateOverride(
        reason=reason.strip(), accuracy=report.agreement, teacher=report.judge, at=datetime.now(UTC))
    project.save()


def judge_passed(project: Project) -> bool:
    report = load_report(project, REPORT, JudgeValidationReport)
    return report is not None and report.passed and report.judge == project.config.judge.spec
