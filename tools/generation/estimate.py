"""What a generation run will cost, before it runs: calls, tokens and dollars.

    estimate_generation(project, n=1000)     # GenerationEstimate(calls=143, usd=..., note=...)

The share of proposals kept is measured from the project's earlier calls (a smoke run, an
interrupted run) once there are enough of them, and assumed (70%) before; pairs already kept count
towards `n`. The note says which.
"""

from __future__ import annotations

import math

from pydantic import Field

from slm_distill.tools.actions import ADD_SEEDS
from slm_distill.tools.errors import UsageError
from slm_distill.tools.reporting.reports import Report
from slm_distill.tools.workspace.fileio import read_jsonl_dicts
from slm_distill.tools.workspace.project import Project

EXPECTED_YIELD = 0.7  # share of proposed pairs kept, before the project measures its own
MIN_MEASURED = 30  # proposals observed before their yield replaces the assumption


class GenerationEstimate(Report):
    teacher: str
    calls: int
    input_tokens: int
    output_tokens: int
    usd: float
    priced: bool = Field(description="False when the model is not in the price table.")
    yield_used: float = Field(EXPECTED_YIELD, description="Share of proposals expected to be kept.")
    yield_measured: bool = Field(False, description="True when yield_used was measured on this "
                                 "project's earlier calls, not assumed.")
    kept_already: int = Field(0, description="Pairs kept by earlier runs; they count towards n.")
    note: str

    def summary(self) -> str:
        cost = f"${self.usd:.2f}" if self.priced else "unknown dollars"
        return (f"Estimate for {self.teacher}: {self.calls} calls, {self.input_tokens:,} input + "
                f"{self.output_tokens:,} output tokens, {cost} ({self.note}).")


def _yield(project: Project, *, count_kept: bool) -> tuple[float, bool, int, str]:
    """(share of proposals kept, measured?, pairs kept that count towards n, what the note says)."""
    calls = read_jsonl_dicts(project.path("data", "calls.jsonl"))
    proposed = sum(int(c.get("proposed", 0)) for c in calls)
    kept = len(read_jsonl_dicts(project.path("data", "pairs.jsonl"))) if count_kept else 0
    counted = f"; {kept} pairs already kept count towards n" if kept else ""
    if proposed >= MIN_MEASURED:
        rate = max(0.01, sum(int(c.get("kept", 0)) for c in calls) / proposed)
        return rate, True, kept, (f"{rate:.0%} of proposals kept, measured over {len(calls)} "
                                  f"earlier calls{counted}")
    return EXPECTED_YIELD, False, kept, f"assumes {EXPECTED_YIELD:.0%} of proposals are kept{counted}"


def estimate_generation(project: Project, *, n: int | None = None, samples: int | None = None,
                        batch: bool | None = None, new: bool = False,
                        fresh: bool = False) -> GenerationEstimate:
    """`n` pairs in all (those kept already count), or `n` new ones with `new` (improve rounds)
    or `fresh` (a run that starts over)."""
    from slm_distill.tools.generate_pairs import plan_call
    from slm_distill.tools.teachers import parse_spec
    from slm_distill.tools.teachers.pricing import cost_usd, price_of

    gen = project.config.generation
    target, k = n or gen.n_pairs, samples or gen.samples
    use_batch = gen.batch if batch is None else batch
    validation, _ = project.split()
    if not validation:
        raise UsageError("No seeds yet. Add seeds with {fix} first.", fix=ADD_SEEDS)
    task = project.task()
    try:
        plan = plan_call(0, validation, 0.0)
        prompt = task.propose_messages(gen.pairs_per_call, plan.examples, "new")
        answer_prompt = task.teacher_messages(validation[0].input)
    finally:
        task.close()
    rate, measured, kept, basis = _yield(project, count_kept=not (new or fresh))
    tokens = lambda msgs: sum(len(m["content"]) for m in msgs) // 4  # noqa: E731 - ~4 chars/token
    pair_tokens = sum(len(s.input) + len(s.output) + 60 for s in validation) // 4 // len(validation)
    calls = math.ceil(max(0, target - kept) / gen.pairs_per_call / rate)
    inp, out = calls * tokens(prompt), calls * gen.pairs_per_call * pair_tokens
    if k > 1:
        answers = calls * gen.pairs_per_call * k
        inp += answers * tokens(answer_prompt)
        out += answers * pair_tokens // 2
        calls += answers
    spec = parse_spec(project.config.teacher)
    local = spec.backend in ("python", "llama-cpp")
    priced = local or price_of(spec.model) is not None
    usd = 0.0 if local else cost_usd(spec.model, inp, out, batch=use_batch)
    note = ("local teacher: no API cost" if local else
            f"price table for {spec.model}" + (" at batch prices" if use_batch else "")
            if priced else f"{spec.model} is not in the price table: cost unknown")
    return GenerationEstimate(teacher=str(spec), calls=calls, input_tokens=inp, output_tokens=out,
                              usd=round(usd, 4), priced=priced, yield_used=round(rate, 4),
                              yield_measured=measured, kept_already=kept,
                              note=f"{note}; {basis}; cached calls are free")
