"""improve: failure-targeted rounds of generation, retraining and re-evaluation.

    plan = plan_improvement(project, pairs=120, max_groups=3)  # the groups; spends nothing
    report = improve(project, rounds=2, pairs=120, max_groups=3)   # reports/improve.{json,md,png}

One round:
1. read the latest evaluation's student failures on the test seeds and group them by what the
   input needs (the SQL features of its expected answer, e.g. `join + group_by`), counting the
   failure categories (wrong_result, unknown_column, ...) of each group;
2. ask the teacher for new pairs aimed at the largest groups. The teacher sees the needs, the
   kinds of mistakes and examples from the validation seeds and training pairs, never a test
   input, and every pair is validated, de-duplicated and leakage-guarded like any other;
3. retrain from the previous best student on all pairs;
4. re-evaluate the student (base and teacher scores are carried over) and keep the better student;
5. report before/after per group and per failure category.

The test set chooses what to target and which student to keep, so after improve rounds its score
is an optimistic estimate: the report says so, and a fresh held-out file (evaluate with a
`test_file`) gives the clean number.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from slm_distill.tools.actions import Blank, act, arg, say
from slm_distill.tools.errors import UsageError
from slm_distill.tools.evaluate import EvalReport, Interval, ModelResult, save_eval, seeds_changed
from slm_distill.tools.generate_pairs import EXAMPLES_PER_CALL, CallPlan, generate_pairs
from slm_distill.tools.reporting.reports import (
    Provenance,
    Report,
    load_report,
    md_table,
    provenance,
    save_report,
)
from slm_distill.tools.tasks.base import Task
from slm_distill.tools.workspace.fileio import read_jsonl_dicts
from slm_distill.tools.workspace.progress import ProgressFn, no_progress
from slm_distill.tools.workspace.project import Project, Seed

EVALUATE = act("evaluate")
NOTHING_LEFT = "the student fails no test input: nothing left to target"
MAX_NEEDS = 2  # a group is named by the first two of what its answers need (Task.need_facts)


def caveat() -> str:
    return ("The test seeds chose which groups to target and which student to keep, so the test "
            "score after improve rounds is optimistic. Evaluate on a fresh held-out file for a "
            f"clean number: {say('evaluate', test_file=Blank('file'))}.")


class FailureGroup(BaseModel):
    label: str = Field(description="What the inputs need, e.g. 'join + group_by'.")
    needs: list[str]
    failures: int = Field(description="Test inputs of this group the student got wrong.")
    test_inputs: int = Field(description="Test inputs of this group in all.")
    categories: dict[str, int] = Field(description="Failure categories within the group.")
    training_pairs: int = Field(description="Training pairs of the same group.")
    confused_with: dict[str, int] = Field(
        default_factory=dict, description="What the student took the group's failing inputs for "
        "(another label), most frequent first; the new pairs aim at these confusions.")
    pairs: int = Field(0, description="New pairs this round asks for (0: not targeted).")


class ImprovePlan(Report):
    round: int
    student_accuracy: float = Field(description="The current student's test accuracy.")
    failures: int
    groups: list[FailureGroup] = Field(description="Every failing group, targeted ones first.")
    pairs: int = Field(description="New pairs this round aims to add.")
    pairs_before: int = Field(description="Pairs kept before this round.")

    def summary(self) -> str:
        lines = [f"Round {self.round}: the student answers {self.student_accuracy:.1%} of the test "
                 f"inputs right and fails {self.failures}."]
        for g in self.groups:
            cats = ", ".join(f"{k} {v}" for k, v in g.categories.items())
            taken = (f"; taken for {', '.join(f'{k} {v}' for k, v in g.confused_with.items())}"
                     if g.confused_with else "")
            lines.append(f"  {g.label:<28} {g.failures}/{g.test_inputs} wrong ({cats}{taken}); "
                         f"{g.training_pairs} training pairs" + (f"; +{g.pairs} pairs" if g.pairs else ""))
        if not self.failures:
            lines.append("Nothing to target: the student answers every test input correctly.")
        return "\n".join(lines)


class GroupRow(BaseModel):
    label: str
    n: int
    before: int = Field(description="Correct before the round.")
    after: int = Field(description="Correct after it.")
    targeted: bool


class CategoryRow(BaseModel):
    category: str
    before: int
    after: int


class RoundReport(BaseModel):
    round: int
    plan: ImprovePlan
    pairs_added: int
    generation_stopped: str | None
    cost_usd: float
    train_steps: int
    train_seconds: float
    before: Interval
    after: Interval
    by_group: list[GroupRow]
    by_category: list[CategoryRow]
    kept: Literal["candidate", "previous"] = Field(
        description="candidate: the retrained student replaced the previous one.")
    candidate_dir: str


class ImproveReport(Report):
    rounds: list[RoundReport]
    stopped: str | None = Field(None, description="Why the last call stopped before its rounds.")
    partial: str | None = Field(None, description="Set when the last call did fewer rounds than "
                                "asked for a reason other than the student failing nothing.")
    caveat: str = Field("", description="Why the test score after improve rounds is optimistic.")
    chart: str | None = None
    next_step: str
    provenance: Provenance

    def summary(self) -> str:
        lines = [f"Round {r.round}: {r.before.text()} -> {r.after.text()}, kept the "
                 f"{'retrained' if r.kept == 'candidate' else 'previous'} student "
                 f"({r.pairs_added} pairs added, ${r.cost_usd:.4f})" for r in self.rounds]
        if self.stopped:
            lines.append(f"Stopped: {self.stopped}.")
        lines += ["  report: reports/improve.md", f"  {self.caveat}", f"Next: {self.next_step}"]
        return "\n".join(lines)

    def markdown(self) -> str:
        r = self
        lines = ["# Improve rounds", ""]
        if r.stopped:
            lines += [f"Stopped: {r.stopped}.", ""]
        if r.chart:
            lines += [f"![before and after by group]({r.chart})", ""]
        for rd in r.rounds:
            lines += _round_markdown(rd)
        lines += ["", f"_{r.caveat}_", ""]
        return "\n".join(lines)


# -- grouping --------------------------------------------------------------------------------------
def needs_of(task: Task, output: str, metadata: dict | None = None) -> tuple[str, ...]:
    return tuple(task.need_facts(output, metadata)[:MAX_NEEDS])


def label_of(task: Task, needs: tuple[str, ...]) -> str:
    return " + ".join(needs) or task.plain_need


def _label_of_pair(task: Task, pair: dict) -> str:
    return label_of(task, needs_of(task, pair["output"], pair.get("metadata")))


def _uses(facts: list[str], needs: list[str]) -> bool:
    return set(needs) <= set(facts)


def _latest_eval(project: Project) -> tuple[EvalReport, ModelResult]:
    report = load_report(project, "eval", EvalReport)
    student = report.result("student") if report else None
    if report is None or student is None:
        raise UsageError("No evaluation of the student yet. Run {fix} first; improve works from its "
                         "failures.", fix=EVALUATE)
    if report.test_set != "test split":
        raise UsageError(f"The latest evaluation was on {report.test_set}. Run {{fix}} on the test "
                         "split first; improve works from its failures.", fix=EVALUATE)
    if not student.outcomes:
        raise UsageError("The evaluation predates per-input outcomes. Run {fix} again.", fix=EVALUATE)
    if seeds_changed(report, project):
        raise UsageError("The seeds changed since the last evaluation. Run {fix} again first, so "
                         "improve works from the current test split.", fix=EVALUATE)
    merged = project.path("runs", "student", "merged")
    if merged.is_dir() and _newest(merged) > project.report_path("eval").stat().st_mtime:
        raise UsageError("The student was trained after the last evaluation. Run {fix} first, so "
                         "improve targets this student's failures.", fix=EVALUATE)
    return report, student


def _newest(folder: Path) -> float:
    return max((f.stat().st_mtime for f in folder.rglob("*") if f.is_file()), default=0.0)


def _round_pairs(project: Project, round_no: int) -> list[dict]:
    """Pairs kept before round `round_no` (stable when a round is rerun after a crash)."""
    rows = read_jsonl_dicts(project.path("data", "pairs.jsonl"))
    return [r for r in rows if r.get("metadata", {}).get("improve_round") != round_no]


def _groups(task: Task, test: list[Seed], student: ModelResult,
            train: list[dict]) -> tuple[list[FailureGroup], dict[str, str]]:
    """Failing groups (largest first) and each test seed's group label."""
    if task.groups_by_fault:
        return _fault_groups(task, test, student, train)
    by_label: dict[str, FailureGroup] = {}
    seed_label: dict[str, str] = {}
    for seed in test:
        needs = needs_of(task, seed.output)
        label = seed_label[seed.id] = label_of(task, needs)
        group = by_label.setdefault(label, FailureGroup(
            label=label, needs=list(needs), failures=0, test_inputs=0, categories={},
            training_pairs=sum(_label_of_pair(task, p) == label for p in train)))
        group.test_inputs += 1
        outcome = student.outcomes.get(seed.id, "ok")
        if outcome != "ok":
            group.failures += 1
            group.categories[outcome] = group.categories.get(outcome, 0) + 1
            if (taken_for := student.mistaken_for.get(seed.id)) is not None:
                group.confused_with[taken_for] = group.confused_with.get(taken_for, 0) + 1
    failing = [g for g in by_label.values() if g.failures]
    for g in failing:
        g.confused_with = dict(sorted(g.confused_with.items(), key=lambda kv: (-kv[1], kv[0])))
    failing.sort(key=lambda g: (-g.failures, g.training_pairs, g.label))
    return failing, seed_label


def _fault_groups(task: Task, test: list[Seed], student: ModelResult,
                  train: list[dict]) -> tuple[list[FailureGroup], dict[str, str]]:
    """Groups by what goes wrong (`missing: due_date`): each failing seed joins the group of its
    fault that most failures share; seeds answered right form the plain group."""
    failing = {s.id: student.faults.get(s.id) or [student.outcomes[s.id]]
               for s in test if student.outcomes.get(s.id, "ok") != "ok"}
    shared = Counter(f for faults in failing.values() for f in faults)
    groups: dict[str, FailureGroup] = {}
    seed_label: dict[str, str] = {}
    for seed in test:
        faults = failing.get(seed.id)
        if faults is None:
            seed_label[seed.id] = task.plain_need
            continue
        label = seed_label[seed.id] = max(faults, key=lambda f: (shared[f], -faults.index(f)))
        # a missing or wrong field: new pairs have it; an extra one or broken JSON: any pairs
        field = task.fault_need(label) or ""
        group = groups.setdefault(label, FailureGroup(
            label=label, needs=[field] if field else [], failures=0, test_inputs=0, categories={},
            training_pairs=sum(field in task.need_facts(p["output"]) for p in train) if field
            else len(train)))
        group.test_inputs += 1
        group.failures += 1
        outcome = student.outcomes[seed.id]
        group.categories[outcome] = group.categories.get(outcome, 0) + 1
    ranked = sorted(groups.values(), key=lambda g: (-g.failures, g.training_pairs, g.label))
    return ranked, seed_label


def need_of(group: FailureGroup) -> float:
    """How much a failing group needs new pairs: its failures, discounted by the training pairs
    it already has (a group with none needs them most)."""
    return group.failures / math.sqrt(1 + group.training_pairs)


def _allot(groups: list[FailureGroup], pairs: int, max_groups: int) -> None:
    """Share `pairs` among the `max_groups` groups that need them most (see need_of: failures
    where the training data is thinnest first), in proportion to that need."""
    groups.sort(key=lambda g: (-need_of(g), g.label))  # the plan lists the neediest first
    targets = groups[: min(max_groups, pairs)]  # each chosen group gets at least one pair
    if not targets:
        return
    total = sum(need_of(g) for g in targets)
    shares = [pairs * need_of(g) / total for g in targets]
    for g, share in zip(targets, shares, strict=True):
        g.pairs = max(1, int(share))
    # the pairs rounding left over go to the largest remainders, so the plan asks for exactly
    # `pairs` (a group raised to its one pair gives its share back from the largest first)
    order = sorted(range(len(targets)), key=lambda i: (shares[i] - int(shares[i]), -i),
                   reverse=True)
    left = pairs - sum(g.pairs for g in targets)
    for k in range(max(0, left)):
        targets[order[k % len(order)]].pairs += 1
    for _ in range(max(0, -left)):  # minimums of one took more than the shares allowed
        max(targets, key=lambda g: g.pairs).pairs -= 1


def plan_improvement(project: Project, *, pairs: int, max_groups: int) -> ImprovePlan:
    if pairs < 1 or max_groups < 1:
        raise UsageError("pairs and max_groups must be at least 1.")
    _, student = _latest_eval(project)
    done = load_report(project, "improve", ImproveReport)
    round_no = len(done.rounds) + 1 if done else 1
    before = _round_pairs(project, round_no)
    train_ids = {r["id"] for r in read_jsonl_dicts(project.path("data", "train.jsonl"))}
    _, test = project.split()
    task = project.task()
    try:
        groups, _ = _groups(task, test, student, [p for p in before if p["id"] in train_ids])
    finally:
        task.close()
    _allot(groups, pairs, max_groups)
    return ImprovePlan(round=round_no, student_accuracy=student.overall.accuracy,
                       failures=sum(g.failures for g in groups), groups=groups,
                       pairs=sum(g.pairs for g in groups), pairs_before=len(before))


# -- generation --------------------------------------------------------------------------------------
def _focus(task: Task, group: FailureGroup) -> dict:
    if task.groups_by_fault:
        return {"needs": group.needs, "label": group.label,
                "description": ", ".join(group.needs) or "the whole answer",
                "mistakes": f"Its answers had: {group.label} (in {group.failures} test inputs)."}
    needs = " and ".join(task.need_words.get(n, n) for n in group.needs) or task.plain_need
    mistakes = ", ".join(f"{k.replace('_', ' ')} ({v})" for k, v in group.categories.items())
    said = f"Its wrong answers were: {mistakes}." if mistakes else ""
    if group.confused_with:
        taken = ", ".join(f"{k} ({v})" for k, v in group.confused_with.items())
        top = next(iter(group.confused_with))
        said += (f" It took them for: {taken}. Most of the new texts should be ones a reader "
                 f"could take for {top} at first sight, yet whose correct answer is {needs}.")
    return {"needs": group.needs, "label": group.label, "description": needs,
            "mistakes": said.strip(), "confused_with": list(group.confused_with)}


def _planner(task: Task, plan: ImprovePlan, pool: list[dict]) -> Any:
    targets = [g for g in plan.groups if g.pairs]
    examples = {g.label: [e for e in pool if _uses(e["facts"], g.needs)] for g in targets}

    def planner(index: int) -> CallPlan:
        rng = random.Random(f"improve-{plan.round}-{index}")
        group = rng.choices(targets, weights=[g.pairs for g in targets])[0]
        candidates = examples[group.label]
        shown = rng.sample(candidates, min(EXAMPLES_PER_CALL, len(candidates)))
        return CallPlan("targeted", [{k: e[k] for k in ("input", "output", "difficulty")}
                                     for e in shown], focus=_focus(task, group),
                        tags={"improve_round": plan.round, "target": group.label})

    return planner


def _example_pool(project: Project, task: Task, before: list[dict]) -> list[dict]:
    """Validation seeds and earlier training pairs, with what their answers need; never a test
    seed."""
    validation, _ = project.split()
    pool = [{"input": s.input, "output": s.output, "difficulty": s.difficulty,
             "facts": task.need_facts(s.output)} for s in validation]
    pool += [{"input": p["input"], "output": p["output"],
              "difficulty": p.get("metadata", {}).get("difficulty") or "medium",
              "facts": task.need_facts(p["output"], p.get("metadata"))} for p in before]
    return pool


# -- one round ----------------------------------------------------------------------------------------
def _compare(before: ModelResult, after: ModelResult, seed_label: dict[str, str],
             plan: ImprovePlan) -> tuple[list[GroupRow], list[CategoryRow]]:
    targeted = {g.label for g in plan.groups if g.pairs}
    rows: dict[str, GroupRow] = {}
    for seed_id, label in seed_label.items():
        row = rows.setdefault(label, GroupRow(label=label, n=0, before=0, after=0,
                                              targeted=label in targeted))
        row.n += 1
        row.before += before.outcomes.get(seed_id) == "ok"
        row.after += after.outcomes.get(seed_id) == "ok"
    categories = sorted(set(before.failures) | set(after.failures))
    return (sorted(rows.values(), key=lambda r: (not r.targeted, -r.n, r.label)),
            [CategoryRow(category=c, before=before.failures.get(c, 0), after=after.failures.get(c, 0))
             for c in categories])


def _promote(project: Project, round_no: int) -> None:
    """The candidate of round `round_no` becomes runs/student; the previous student is kept beside it
    under a name no earlier archive holds. Idempotent, so a rerun finishes a promotion that a crash
    or a cancel interrupted."""
    candidate = project.path("runs", f"improve-{round_no}")
    if not candidate.is_dir():
        return
    current = project.path("runs", "student")
    if current.is_dir():
        current.rename(_unused(project.path("runs", f"student-before-improve-{round_no}")))
    candidate.rename(current)
    after = load_report(project, f"improve-{round_no}-eval", EvalReport)
    if after is not None:
        results = {r.name: r for r in after.results}
        results["student"] = results["student"].model_copy(update={"spec": str(current / "merged")})
        other = [r.model_copy(update={"spec": str(current / "merged")}) for r in after.other_decoding]
        save_eval(project, results, after.test_set, after.n, "eval", after.labels(),
                  after.correct_metric, other)


def _unused(path: Path) -> Path:
    k = 1
    while path.exists():
        k += 1
        path = path.with_name(f"{path.name.rsplit('~', 1)[0]}~{k}")
    return path


def _scaled(index: int, stage: int, done: int, total: int) -> int:
    """Where `done` of `total` in stage `stage` (0 generate, 1 train, 2 evaluate) of round `index`
    lies on one 0..300*rounds scale, so a job's progress only moves forward."""
    fraction = min(1.0, max(0.0, done / total)) if total else 0.0
    return index * 300 + stage * 100 + int(100 * fraction)


def _stage(progress: ProgressFn, index: int, rounds: int, stage: int) -> ProgressFn:
    def report(done: int, total: int, message: str) -> None:
        progress(_scaled(index, stage, done, total), rounds * 300, message)

    return report


def run_round(project: Project, plan: ImprovePlan, *, budget_usd: float | None,
              train_steps: int | None, emit: Any, progress: ProgressFn, index: int,
              rounds: int) -> RoundReport | str:
    """Round `index` of `rounds`, without promoting its candidate; a string says why it stopped
    before training."""
    from slm_distill.tools.evaluate import evaluate
    from slm_distill.tools.train_student import train_student

    before_eval, before = _latest_eval(project)
    before_pairs = _round_pairs(project, plan.round)
    task = project.task()
    try:
        pool = _example_pool(project, task, before_pairs)
        _, seed_label = _groups(task, project.split()[1], before, [])
    finally:
        task.close()
    generating = _stage(progress, index, rounds, 0)
    generating(0, 1, f"round {plan.round}: asking the teacher for {plan.pairs} targeted pairs")
    generation = generate_pairs(
        project, n=plan.pairs_before + plan.pairs, budget_usd=budget_usd,
        planner=_planner(task, plan, pool),
        progress=lambda done, total, msg: generating(done - plan.pairs_before, plan.pairs, msg))
    added = generation.kept - plan.pairs_before
    if added <= 0:
        return (f"no new pairs in round {plan.round}: "
                f"{generation.stopped or 'the teacher produced no new valid pairs for these groups'}")
    training = _stage(progress, index, rounds, 1)
    training(0, 1, f"round {plan.round}: retraining from the previous best on {generation.train} pairs")
    run = f"improve-{plan.round}"

    def train_event(event: dict) -> None:
        if emit and event.get("total_steps"):
            event = {**event, "step": _scaled(index, 1, event.get("step", 0), event["total_steps"]),
                     "total_steps": rounds * 300}
        if emit:
            emit(event)

    train = train_student(project, run=run, init_from=project.path("runs", "student", "merged"),
                          max_steps=train_steps, report_name=f"{run}-train", emit=train_event)
    _stage(progress, index, rounds, 2)(0, 1, f"round {plan.round}: re-evaluating the student")
    candidate = project.path("runs", run)
    after_eval = evaluate(project, models=("student",), student_dir=candidate / "merged",
                          reuse=before_eval, name=f"{run}-eval")
    after = after_eval.result("student")
    assert after is not None
    by_group, by_category = _compare(before, after, seed_label, plan)
    kept = "candidate" if after.overall.accuracy >= before.overall.accuracy else "previous"
    _stage(progress, index, rounds, 2)(1, 1, f"round {plan.round}: {before.overall.accuracy:.1%} -> "
                                             f"{after.overall.accuracy:.1%}")
    return RoundReport(
        round=plan.round, plan=plan, pairs_added=added, generation_stopped=generation.stopped,
        cost_usd=generation.cost.cost_usd, train_steps=train.steps, train_seconds=train.train_seconds,
        before=before.overall, after=after.overall, by_group=by_group, by_category=by_category,
        kept=kept, candidate_dir=str("runs/student" if kept == "candidate"
                                      else candidate.relative_to(project.root)),
    )


# -- the loop ------------------------------------------------------------------------------------------
def improve(project: Project, *, rounds: int, pairs: int, max_groups: int,
            budget_usd: float | None = None, train_steps: int | None = None, emit: Any = None,
            progress: ProgressFn = no_progress) -> ImproveReport:
    """Up to `rounds` rounds of `pairs` new pairs each, within `budget_usd` dollars of teacher calls
    made by this call (calls cached by an earlier, interrupted call are free). The defaults are
    ImproveRequest's."""
    if rounds < 1:
        raise UsageError("rounds must be at least 1.")
    done = load_report(project, "improve", ImproveReport)
    history = list(done.rounds) if done else []
    if history and history[-1].kept == "candidate":
        _promote(project, history[-1].round)  # finish one a crash interrupted (no-op otherwise)
    spent, stopped, start = 0.0, None, len(history)
    for index in range(rounds):
        plan = plan_improvement(project, pairs=pairs, max_groups=max_groups)
        if not plan.failures:
            stopped = NOTHING_LEFT
            break
        left = None if budget_usd is None else budget_usd - spent
        if left is not None and left <= 0:
            stopped = f"budget of ${budget_usd:.2f} spent"
            break
        result = run_round(project, plan, budget_usd=left, train_steps=train_steps, emit=emit,
                           progress=progress, index=index, rounds=rounds)
        if isinstance(result, str):
            stopped = result
            break
        spent += result.cost_usd
        history.append(result)
        _save(project, history, None)  # the round is on record before the student is replaced
        if result.kept == "candidate":
            _promote(project, result.round)
    short = None if stopped in (None, NOTHING_LEFT) else (
        f"{len(history) - start} of {rounds} rounds done: {stopped}")
    return _save(project, history, stopped, short, added=len(history) > start)


def _save(project: Project, history: list[RoundReport], stopped: str | None,
          short: str | None = None, added: bool = True) -> ImproveReport:
    from slm_distill.tools.reporting.plots import plot_before_after

    chart = None
    if history:
        last = history[-1]
        path = project.report_path("improve", "png")
        plot_before_after([(f"{r.label}{' *' if r.targeted else ''}", r.n, r.before, r.after)
                           for r in last.by_group], path,
                          f"Round {last.round}: student accuracy by what the input needs "
                          "(* targeted)")
        chart = path.name
    next_step = (f"Read the before/after table; plan another round with "
                 f"{say('improve', dry_run=True)}, or "
                 f"{say('export')} when the student is good enough." if added else
                 f"No round was completed ({stopped}). Look at the failure groups with "
                 f"{say('improve', dry_run=True)}; the teacher may not manage those inputs: try "
                 f"other groups ({arg('improve', 'max_groups')}), more pairs, or a stronger "
                 "teacher.")
    report = ImproveReport(
        rounds=history, stopped=stopped, partial=short, chart=chart, caveat=caveat(),
        next_step=next_step,
        provenance=provenance(project, [project.seeds_path, project.path("data", "pairs.jsonl")]))
    save_report(project, "improve", report)
    return report



def _round_markdown(rd: RoundReport) -> list[str]:
    kept = "the retrained student" if rd.kept == "candidate" else "the previous student"
    lines = [f"## Round {rd.round}: {rd.before.text()} -> {rd.after.text()} (kept {kept})",
             "", f"{rd.pairs_added} targeted pairs added (${rd.cost_usd:.4f}); retrained "
             f"{rd.train_steps} steps in {rd.train_seconds:.0f}s from the previous best."
             + (f" Generation stopped: {rd.generation_stopped}." if rd.generation_stopped else ""),
             "", "### By what the input needs", ""]
    lines.append(md_table(["group", "targeted", "test inputs", "before", "after"], [
        [g.label, "yes" if g.targeted else "", g.n, f"{g.before} ({g.before / g.n:.0%})",
         f"{g.after} ({g.after / g.n:.0%})"] for g in rd.by_group]))
    lines += ["", "### Failures by category", ""]
    lines.append(md_table(["category", "before", "after"],
                          [[c.category, c.before, c.after] for c in rd.by_category]))
    confusions = [[g.label, taken, count, "yes" if g.pairs else ""]
                  for g in rd.plan.groups for taken, count in g.confused_with.items()]
    if confusions:
        confusions.sort(key=lambda row: -row[2])
        lines += ["", "### What the student took them for (before the round)", "",
                  md_table(["correct", "answered", "test inputs", "targeted"], confusions)]
    return [*lines, ""]
