"""generate_pairs: the teacher invents training pairs; every one is validated, de-duplicated and
checked for leakage against the test seeds before it is kept.

    report = generate_pairs(project, n=1000)      # appends data/pairs.jsonl as pairs arrive

Calls run concurrently but their results are committed in call order, so a run killed midway and
rerun ends with exactly the same pairs: finished calls are skipped, and calls that had reached the
teacher are answered by the cache. Each call asks for `pairs_per_call` new pairs from a few
validation-split seeds, or augments one seed (paraphrase, entity substitution, complexity up/down).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, Field

from slm_distill.tools.actions import ADD_SEEDS, say
from slm_distill.tools.errors import BudgetExceeded, UsageError
from slm_distill.tools.generation.advice import advice
from slm_distill.tools.generation.estimate import EXPECTED_YIELD
from slm_distill.tools.generation.neardup import NearDupIndex
from slm_distill.tools.judge import attach_judge, check_judge_gate
from slm_distill.tools.reporting.reports import (
    Provenance,
    Report,
    file_hash,
    md_table,
    provenance,
    save_report,
    teacher_line,
)
from slm_distill.tools.tasks.base import Task
from slm_distill.tools.teachers import CostMeter, Teacher, project_teacher
from slm_distill.tools.validate_teacher import check_gate
from slm_distill.tools.workspace.fileio import append_jsonl, dumps_jsonl, read_jsonl_dicts, write_atomic
from slm_distill.tools.workspace.progress import ProgressFn, no_progress
from slm_distill.tools.workspace.project import Project, Seed

AUGMENTATIONS = ("paraphrase", "entities", "complexity")
EXAMPLES_PER_CALL = 5
EXAMPLES_SHOWN = 3  # kept pairs shown in the report
QUOTA_SLACK = 1.1  # a balanced class may take this much more than its share


class Pair(BaseModel):
    id: str
    input: str
    output: str
    metadata: dict = Field(default_factory=dict)


class Reject(BaseModel):
    call: int
    input: str
    output: str
    category: str = Field(description="malformed, invalid:<why>, no_majority, duplicate, leakage")
    reason: str


@dataclass
class CallResult:
    index: int
    mode: str
    candidates: list[Pair] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    proposed: int = 0


def pair_id(input: str, output: str) -> str:
    return hashlib.sha1(f"{input.strip()}\x00{output.strip()}".encode()).hexdigest()[:12]


# -- planning --------------------------------------------------------------------------------
@dataclass
class CallPlan:
    """What one teacher call asks for. `focus` (targeted mode) names what the pairs must need;
    `tags` are added to the metadata of every pair the call yields."""

    mode: str
    examples: list[dict]
    focus: dict | None = None
    tags: dict = field(default_factory=dict)


Planner = Callable[[int], CallPlan]


def plan_call(index: int, pool: list[Seed], augment_fraction: float, task: Task | None = None,
              shares: dict[str, float] | None = None) -> CallPlan:
    """The mode and examples of call `index`: deterministic, independent of timing and state. The
    task's `call_focus` narrows the seeds a call may show or augment and names its focus (a label,
    scheduled so the calls ask for each in its share)."""
    rng = random.Random(f"call-{index}")
    mode = rng.choice(AUGMENTATIONS) if rng.random() < augment_fraction else "new"
    shown_from, focus = task.call_focus(index, pool, shares) if task else (pool, None)
    if mode == "new":
        chosen = rng.sample(shown_from, min(EXAMPLES_PER_CALL, len(shown_from)))
    else:
        chosen, focus = [rng.choice(shown_from)], None
    return CallPlan(mode, [{"input": s.input, "output": s.output, "difficulty": s.difficulty}
                           for s in chosen], focus=focus)


# -- one call ----------------------------------------------------------------------------------
async def run_call(index: int, plan: CallPlan, teacher: Teacher, task: Task,
                   project: Project, slots: asyncio.Semaphore | None = None) -> CallResult:
    """One teacher call and the checks of what it proposed. `slots` bounds the calls waiting on
    the teacher: the checks run outside it, so a slot is free again as soon as the answer is in."""
    gen = project.config.generation
    async with slots or contextlib.nullcontext():
        items = await teacher.propose(gen.pairs_per_call, plan.examples, task, mode=plan.mode,
                                      focus=plan.focus, sample=index,
                                      temperature=gen.temperature, max_tokens=gen.max_tokens)
    result = CallResult(index, plan.mode, proposed=len(items))
    checked = await asyncio.gather(*(_check_item(item, index, plan, teacher, task, gen.samples,
                                                 gen.answer_temperature) for item in items))
    for outcome in checked:
        (result.candidates if isinstance(outcome, Pair) else result.rejects).append(outcome)
    if (veto := project.config.judge.veto_below) is not None and result.candidates:
        result.candidates, vetoed = await task.vet(result.candidates, veto)
        result.rejects += [Reject(call=index, input=p.input, output=p.output, category="judge_veto",
                                  reason=why) for p, why in vetoed]
    return result


async def _check_item(item: dict, index: int, plan: CallPlan, teacher: Teacher, task: Task,
                      samples: int, temperature: float) -> Pair | Reject:
    output = item.get("output")
    question = item.get("input") or ""
    question = (json.dumps(question, ensure_ascii=False) if isinstance(question, list)
                else str(question)).strip()
    raw = json.dumps(output, ensure_ascii=False) if isinstance(output, dict | list) else str(output or "")
    if not question or not raw.strip():
        return Reject(call=index, input=question, output=raw, category="malformed",
                      reason="proposal lacks an input or an output")
    output = task.extract(raw) or raw.strip()
    if samples > 1:
        answers = await asyncio.gather(*(teacher.answer(question, task, sample=j,
                                                        temperature=temperature)
                                         for j in range(samples)))
        output = await asyncio.to_thread(_majority, task, list(answers))
        if output is None:
            return Reject(call=index, input=question, output=raw, category="no_majority",
                          reason=f"no majority of {samples} answers agree on the result")
    check = await asyncio.to_thread(task.validate, output)
    problem = None if not check.ok else task.training_problem(check)
    if not check.ok or problem:
        return Reject(call=index, input=question, output=output,
                      category=f"invalid:{check.category or 'unusable'}",
                      reason=check.reason or problem or "invalid")
    facts = task.describe(output)
    difficulty = item.get("difficulty") or (item.get("metadata") or {}).get("difficulty")
    meta = {**facts, "difficulty": difficulty or facts.get("difficulty"), "source": plan.mode,
            "call": index, "teacher": teacher.spec, **plan.tags}
    return Pair(id=pair_id(question, output), input=question, output=output, metadata=meta)


def _majority(task: Task, answers: list[str]) -> str | None:
    clusters: list[list[str]] = []
    for answer in answers:
        if not answer or not task.validate(answer).ok:
            continue
        for cluster in clusters:
            if task.agree(cluster[0], answer):
                cluster.append(answer)
                break
        else:
            clusters.append([answer])
    best = max(clusters, key=len, default=[])
    return best[0] if len(best) * 2 > len(answers) else None


# -- committing in order ----------------------------------------------------------------------
class Ledger:
    """What has been kept so far, with the indexes that de-duplicate and guard against leakage:
    near-identical questions always; the same answer too where an answer identifies its input
    (a SQL query does; a label, which many inputs share, does not)."""

    def __init__(self, project: Project, task: Task, test_seeds: list[Seed],
                 target: int | None = None, shares: dict[str, float] | None = None) -> None:
        gen = project.config.generation
        self.project, self.task = project, task
        self.quota = {key: math.ceil(target * share * QUOTA_SLACK) + 1
                      for key, share in shares.items()} if shares and target else {}
        self.filled: dict[str, int] = {}
        self.pairs: list[Pair] = []
        self.keys: dict[str, str] = {}
        self.questions = NearDupIndex(gen.dedup_threshold)
        self.test_questions = NearDupIndex(gen.leakage_threshold)
        self.test_outputs: dict[str, str] = {}
        self.by_answer = task.answer_identifies_input
        for seed in test_seeds:
            self.test_questions.add(seed.id, seed.input)
            if self.by_answer:
                self.test_outputs[task.dedup_key(seed.output)] = seed.id

    def judge(self, pair: Pair, call: int) -> Reject | None:
        key = self.task.dedup_key(pair.output) if self.by_answer else None
        reject = None
        if (seed := self.test_questions.find(pair.input)) is not None:
            reject = ("leakage", f"question near-identical to test seed {seed}")
        elif key in self.test_outputs:
            reject = ("leakage", f"same answer as test seed {self.test_outputs[key]}")
        elif key in self.keys:
            reject = ("duplicate", f"same normalised answer as pair {self.keys[key]}")
        elif (other := self.questions.find(pair.input)) is not None:
            reject = ("duplicate", f"question near-identical to pair {other}")
        elif (full := self._full(pair)) is not None:
            reject = ("over_quota", f"{full} already has its share of the pairs "
                      "(generation keeps the balance of the seeds or a uniform one)")
        if reject:
            return Reject(call=call, input=pair.input, output=pair.output, category=reject[0],
                          reason=reject[1])
        return None

    def _full(self, pair: Pair) -> str | None:
        key = self.task.balance_key(pair.output) if self.quota else None
        return key if key in self.quota and self.filled.get(key, 0) >= self.quota[key] else None

    def keep(self, pair: Pair) -> None:
        self.pairs.append(pair)
        if self.quota and (key := self.task.balance_key(pair.output)) is not None:
            self.filled[key] = self.filled.get(key, 0) + 1
        if self.by_answer:
            self.keys[self.task.dedup_key(pair.output)] = pair.id
        self.questions.add(pair.id, pair.input)


# -- the run -------------------------------------------------------------------------------------
class Coverage(BaseModel):
    difficulty: dict[str, int]
    sources: dict[str, int]
    facts: dict[str, dict[str, int]] = Field(
        default_factory=dict, description="Counts of the task's coverage facts, by their title "
        "(Text2SQL: table, SQL feature).")


class GenerationReport(Report):
    teacher: str
    teacher_description: str
    gate: str = Field(description="The teacher gate's status when generation ran.")
    target: int
    kept: int
    train: int
    validation: int
    calls: int = Field(description="Teacher calls committed in total (all runs).")
    proposed: int
    rejected: dict[str, int] = Field(description="Rejected pairs by reason.")
    duplicates: int
    leakage_drops: int
    coverage: Coverage
    examples: list[Pair] = Field(default_factory=list, description=f"{EXAMPLES_SHOWN} kept pairs "
                                 "picked at random, to read before training.")
    cost: CostMeter = Field(description="This run's calls, tokens and dollars.")
    stopped: str | None = Field(None, description="Why generation stopped short of the target.")
    advice: list[str] = Field(default_factory=list, description="What can help, when generation "
                              "stopped short.")
    files: dict[str, str]
    next_step: str
    provenance: Provenance

    def summary(self) -> str:
        cov, rejected = self.coverage, ", ".join(f"{k} {v}" for k, v in self.rejected.items())
        lines = [f"Kept {self.kept}/{self.target} pairs ({self.train} train, {self.validation} "
                 f"validation) from {self.proposed} proposals in {self.calls} calls. {self.gate}."]
        if self.stopped:
            lines.append(f"Stopped early: {self.stopped}")
            lines += [f"  - {tip}" for tip in self.advice]
        lines += [f"  rejected: {rejected or 'none'}",
                  f"  duplicates dropped: {self.duplicates}; leakage drops: {self.leakage_drops}",
                  "  difficulty: " + _counts_text(cov.difficulty),
                  *(f"  {title}: {_counts_text(counts)}" for title, counts in cov.facts.items()),
                  f"  this run: {self.cost.calls} new calls, {self.cost.cached_calls} cached, "
                  f"${self.cost.cost_usd:.4f}", "  report: reports/generation.md",
                  f"Next: {self.next_step}"]
        return "\n".join(lines)

    def markdown(self) -> str:
        lines = [
            "# Synthetic data generation", "",
            teacher_line(self.teacher, self.teacher_description), f"Gate: {self.gate}", "",
            f"Kept **{self.kept}** of {self.target} wanted ({self.train} train / {self.validation} "
            f"validation), from {self.proposed} proposals in {self.calls} teacher calls.",
        ]
        if self.stopped:
            lines += ["", f"**Stopped early:** {self.stopped}", ""]
            lines += [f"- {tip}" for tip in self.advice]
        lines += ["", "## Rejected", "",
                  md_table(["reason", "pairs"], [[k, v] for k, v in self.rejected.items()])
                  if self.rejected else "Nothing was rejected.",
                  "", f"Duplicates dropped: {self.duplicates}. Leakage drops (near a test seed): "
                  f"{self.leakage_drops}.", "", "## Coverage", ""]
        cov = self.coverage
        for title, counts in (("difficulty", cov.difficulty), ("source", cov.sources),
                              *cov.facts.items()):
            lines += [md_table([title, "pairs"], [[k, v] for k, v in counts.items()]), ""]
        lines += [f"## {len(self.examples)} kept pairs, picked at random", ""]
        lines += [f"- {p.input}\n  `{p.output}`" for p in self.examples] or ["None yet."]
        c = self.cost
        lines += ["", f"This run: {c.calls} new calls, {c.cached_calls} from cache, {c.input_tokens} "
                  f"input / {c.output_tokens} output tokens, ${c.cost_usd:.4f}.", "", "Files: " +
                  ", ".join(f"`{v}`" for v in self.files.values()), "", f"Next: {self.next_step}", ""]
        return "\n".join(lines)


def _counts_text(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items())


def _paths(project: Project) -> dict[str, Path]:
    d = project.path("data")
    return {"pairs": d / "pairs.jsonl", "rejected": d / "rejected.jsonl",
            "calls": d / "calls.jsonl", "train": d / "train.jsonl", "val": d / "val.jsonl",
            "hf": d / "hf", "run": d / "run.json"}


def _settings(project: Project, samples: int | None) -> str:
    """What decides the calls a run makes: the teacher, the seeds and the generation settings
    (with the run's own `samples`, when it asks for some)."""
    gen = project.config.generation.model_dump(
        mode="json", exclude={"n_pairs", "budget_usd", "concurrency", "batch"})
    gen["samples"] = samples or gen["samples"]
    blob = json.dumps([project.config.teacher, file_hash(project.seeds_path), gen], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _run_record(project: Project, target: int, samples: int | None) -> dict | None:
    """The current run's record when it is for `target` pairs with today's settings."""
    path = _paths(project)["run"]
    try:
        record = json.loads(path.read_text()) if path.is_file() else {}
    except ValueError:
        return None
    same = (record.get("target") == target
            and record.get("settings") == _settings(project, samples))
    return record if same else None


def _call_limit(project: Project, start: int, target: int, need: int, concurrency: int) -> int:
    """The call index at which a run for `target` pairs gives up, fixed when the run begins, so a
    run interrupted and resumed gives up exactly where an uninterrupted one would."""
    samples = project.config.generation.samples
    record = _run_record(project, target, samples)
    if record and record.get("first_call", start + 1) <= start:
        return int(record["max_calls"])
    gen = project.config.generation
    limit = start + math.ceil(need / gen.pairs_per_call * gen.max_calls_factor) + concurrency
    write_atomic(_paths(project)["run"], json.dumps({
        "target": target, "settings": _settings(project, samples), "first_call": start,
        "max_calls": limit}))
    return limit


def spent_run(project: Project, target: int, samples: int | None = None) -> dict | None:
    """The run record when a run for `target` with today's settings already used all its calls:
    a rerun would make none (and a fresh one the same calls again)."""
    record = _run_record(project, target, samples)
    done = len(read_jsonl_dicts(_paths(project)["calls"]))
    return record if record and done >= record["max_calls"] else None


def _call_of(row: dict) -> int:
    return row["metadata"]["call"] if "metadata" in row else row["call"]


def _resume(project: Project, ledger: Ledger, fresh: bool) -> int:
    """Load committed state; drop anything from calls that never committed. Returns next call."""
    paths = _paths(project)
    logs = {key: paths[key] for key in ("pairs", "rejected", "calls")}
    if fresh:
        for path in [*logs.values(), paths["run"]]:
            path.unlink(missing_ok=True)
    done = len(read_jsonl_dicts(logs["calls"]))  # calls commit in order: a prefix 0..done-1
    for key, path in logs.items():
        if not path.exists():
            continue
        kept = [r for r in read_jsonl_dicts(path) if _call_of(r) < done]
        write_atomic(path, dumps_jsonl(kept))  # also drops a line torn by a crash
        if key == "pairs":
            for row in kept:
                ledger.keep(Pair.model_validate(row))
    return done


def _commit(project: Project, ledger: Ledger, result: CallResult, target: int) -> int:
    kept = []
    for pair in result.candidates:
        if len(ledger.pairs) >= target:
            break
        reject = ledger.judge(pair, result.index)
        if reject:
            result.rejects.append(reject)
        else:
            ledger.keep(pair)
            kept.append(pair)
    paths = _paths(project)
    append_jsonl(paths["pairs"], kept)
    append_jsonl(paths["rejected"], result.rejects)
    append_jsonl(paths["calls"], [{"call": result.index, "mode": result.mode,
                                   "proposed": result.proposed, "kept": len(kept),
                                   "rejected": len(result.rejects)}])
    return len(kept)


WINDOW = 4  # calls may be started this many times the concurrency ahead of the next to commit


async def _run(project: Project, teacher: Teacher, task: Task, ledger: Ledger, start: int,
               target: int, planner: Planner, progress: ProgressFn) -> str | None:
    """Keep `teacher.concurrency` calls waiting on the teacher: a slot is taken by the next call
    as soon as any answer is in (its pairs are checked outside the slot), while results are
    committed in call order (calls may run WINDOW x concurrency ahead of the next to commit), so
    the pairs kept never depend on timing."""
    gen = project.config.generation
    width = teacher.concurrency
    slots = asyncio.Semaphore(width)  # waiters are woken in call order
    need = max(0, target - len(ledger.pairs))
    max_calls = _call_limit(project, start, target, need, width)
    running: dict[int, asyncio.Task] = {}
    ended: dict[int, asyncio.Task] = {}  # finished, waiting for the calls before them
    next_index = commit_index = start
    proposed = kept = 0
    try:
        while len(ledger.pairs) < target:
            rate = min(1.0, max(0.05, kept / proposed)) if proposed else EXPECTED_YIELD
            want = target - len(ledger.pairs)
            while (next_index < max_calls and next_index - commit_index < WINDOW * width
                   and (len(running) + len(ended)) * gen.pairs_per_call * rate < want * 1.1):
                running[next_index] = asyncio.create_task(
                    run_call(next_index, planner(next_index), teacher, task, project, slots))
                next_index += 1
            if commit_index not in running and commit_index not in ended:
                return f"gave up after {max_calls} calls: too few proposals pass validation"
            if commit_index not in ended:
                finished, _ = await asyncio.wait(running.values(),
                                                 return_when=asyncio.FIRST_COMPLETED)
                for index in [i for i, call in running.items() if call in finished]:
                    ended[index] = running.pop(index)
            while commit_index in ended and len(ledger.pairs) < target:
                try:
                    result = ended.pop(commit_index).result()
                except BudgetExceeded as exc:
                    return f"budget reached: {exc}"
                proposed += result.proposed
                kept += _commit(project, ledger, result, target)
                commit_index += 1
                progress(len(ledger.pairs), target,
                         f"call {result.index} ({result.mode}): {len(ledger.pairs)} pairs kept")
        return None
    finally:
        for pending in running.values():
            pending.cancel()
        await asyncio.gather(*running.values(), *ended.values(), return_exceptions=True)
        await teacher.close()


def generate_pairs(project: Project, *, n: int | None = None, samples: int | None = None,
                   budget_usd: float | None = None, batch: bool | None = None,
                   fresh: bool = False, planner: Planner | None = None,
                   progress: ProgressFn = no_progress) -> GenerationReport:
    """Keep `n` pairs in all (pairs kept by earlier runs count). `planner` decides what each call
    asks for; the default mixes new pairs and augmentations of validation seeds."""
    gen = project.config.generation
    gate = check_gate(project)
    if (judge_gate := check_judge_gate(project)) is not None:
        gate = f"{gate}; {judge_gate}"
    target = n or gen.n_pairs
    if samples:  # this run's own (in memory: distill.yaml keeps its setting)
        gen = project.config.generation = gen.model_copy(update={"samples": samples})
    validation, test = project.split()
    if not validation:
        raise UsageError("No seeds yet. Add seeds with {fix} first.", fix=ADD_SEEDS)
    teacher = project_teacher(project, budget_usd=budget_usd if budget_usd is not None
                              else gen.budget_usd, batch=gen.batch if batch is None else batch)
    task = project.task()
    if project.config.judge.veto_below is not None and (judge := attach_judge(project, task)):
        judge.meter = teacher.meter  # the judge's calls count against the same budget
    try:
        # the balance holds for a plain run; improve rounds ask for some classes on purpose
        shares = task.balance(project.seeds()) if planner is None else None
        ledger = Ledger(project, task, test, target, shares)
        start = _resume(project, ledger, fresh)
        planner = planner or (lambda index: plan_call(index, validation, gen.augment_fraction, task,
                                                      shares))
        stopped = asyncio.run(_run(project, teacher, task, ledger, start, target, planner, progress))
        files = _finalise(project, task, ledger.pairs)
    finally:
        task.close()
    report = _report(project, teacher, task, gate, target, ledger.pairs, stopped, files)
    save_report(project, "generation", report)
    return report


def split_pairs(pairs: list[Pair], val_fraction: float, seed: int) -> tuple[list[Pair], list[Pair]]:
    ranked = sorted(pairs, key=lambda p: hashlib.sha256(f"{seed}:{p.id}".encode()).hexdigest())
    k = max(1, round(len(pairs) * val_fraction)) if len(pairs) >= 2 else 0
    val_ids = {p.id for p in ranked[:k]}
    return [p for p in pairs if p.id not in val_ids], [p for p in pairs if p.id in val_ids]


def _finalise(project: Project, task: Task, pairs: list[Pair]) -> dict[str, str]:
    paths = _paths(project)
    train, val = split_pairs(pairs, project.config.generation.val_fraction,
                             project.config.split.seed)
    write_atomic(paths["train"], dumps_jsonl(train))
    write_atomic(paths["val"], dumps_jsonl(val))
    files = {k: str(paths[k].relative_to(project.root))
             for k in ("pairs", "rejected", "train", "val")}
    if pairs:
        from slm_distill.tools.generation.hf_export import export_messages

        files.update(export_messages(project, task, {"train": train, "validation": val}))
    return files


def _counts(values: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return dict(sorted(out.items(), key=lambda kv: (-kv[1], kv[0])))


def coverage_of(pairs: list[Pair], task: Task) -> Coverage:
    meta = [p.metadata for p in pairs]
    return Coverage(
        difficulty=_counts([str(m.get("difficulty")) for m in meta]),
        sources=_counts([str(m.get("source")) for m in meta]),
        facts={title: _counts([str(v) for m in meta for v in _values(m.get(key))])
               for key, title in task.coverage.items()},
    )


def _values(value: object) -> list:
    return value if isinstance(value, list) else [] if value is None else [value]


def _report(project: Project, teacher: Teacher, task: Task, gate: str, target: int, pairs: list[Pair],
            stopped: str | None, files: dict[str, str]) -> GenerationReport:
    paths = _paths(project)
    calls = read_jsonl_dicts(paths["calls"])
    rejects = read_jsonl_dicts(paths["rejected"])
    by_reason = _counts([r["category"] for r in rejects])
    train = len(read_jsonl_dicts(paths["train"]))
    help_ = advice(stopped, by_reason, project) if stopped else []
    next_step = (f"{say('train')}, after reading a few pairs in data/train.jsonl."
                 if not stopped else f"Generation fell short ({len(pairs)} of {target} pairs): "
                 + help_[0])
    return GenerationReport(
        teacher=teacher.spec, teacher_description=teacher.description, gate=gate, target=target,
        kept=len(pairs), train=train, validation=len(pairs) - train, calls=len(calls),
        proposed=sum(c["proposed"] for c in calls), rejected=by_reason,
        duplicates=by_reason.get("duplicate", 0), leakage_drops=by_reason.get("leakage", 0),
        coverage=coverage_of(pairs, task), cost=teacher.meter, stopped=stopped, files=files,
        examples=random.Random(0).sample(pairs, min(EXAMPLES_SHOWN, len(pairs))),
        advice=help_, next_step=next_step,
        provenance=provenance(project, [project.seeds_path, paths["pairs"]]),
    )
