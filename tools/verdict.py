"""The evaluation's verdict: deploy, retune, more_data or rethink, each with its evidence and the
next step, from the scored models, the red flags and the training curves.

    verdict = decide(results, flags, "execution_accuracy", gate=0.80, margin=0.05,
                     history=training_history(project))

- `rethink`: the teacher or the task is the problem: the teacher scores under the gate on the
  test split, gold answers fail, or the student beats its teacher (suspect leakage);
- `deploy`: the student is within `evaluation.deploy_margin` of the teacher on the primary
  metric, above the base, and no red flag stands;
- `retune`: otherwise, when the training curves say so: the validation score peaked early and
  fell (over-fit) or was still rising at the end (under-fit);
- `more_data`: otherwise: the student trails the teacher, so the data must teach what it lacks.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from slm_distill.tools.actions import say

Decision = Literal["deploy", "retune", "more_data", "rethink"]
RISE = 0.05  # a validation score this much higher over the last third of training: still rising
FALL = 0.05  # this much under its best at the end, after an early peak: over-fit


class Verdict(BaseModel):
    decision: Decision = Field(description="deploy, retune, more_data or rethink.")
    evidence: list[str] = Field(description="What the decision rests on.")
    next_step: str

    def line(self) -> str:
        return f"Verdict: {self.decision}. " + " ".join(self.evidence) + f" Next: {self.next_step}"


class Agreement(BaseModel):
    """Student vs teacher, input by input, and what training lost from the base."""

    both_right: int
    teacher_only: int
    student_only: int
    both_wrong: int
    lost_from_base: list[str] = Field(default_factory=list, description="Inputs the base model "
                                      "answered right and the student gets wrong.")


def agreement(outcomes: dict[str, dict[str, str]], inputs: dict[str, str]) -> Agreement | None:
    """From each model's seed id -> 'ok' or failure category (None without student and teacher)."""
    student, teacher = outcomes.get("student"), outcomes.get("teacher")
    if not student or not teacher:
        return None
    ids = [i for i in student if i in teacher]
    right = {i: (student[i] == "ok", teacher[i] == "ok") for i in ids}
    base = outcomes.get("base") or {}
    lost = [inputs.get(i, i) for i in ids if base.get(i) == "ok" and student[i] != "ok"]
    return Agreement(both_right=sum(s and t for s, t in right.values()),
                     teacher_only=sum(t and not s for s, t in right.values()),
                     student_only=sum(s and not t for s, t in right.values()),
                     both_wrong=sum(not s and not t for s, t in right.values()),
                     lost_from_base=lost[:20])


def training_history(project: Any) -> list[dict]:
    """The last training run's log (runs/student/metrics.jsonl), or [] when there is none."""
    path = Path(project.path("runs", "student", "metrics.jsonl"))
    try:
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
                if line.strip()]
    except (OSError, ValueError):
        return []


def curve_evidence(history: list[dict]) -> tuple[str | None, str]:
    """("overfit" | "underfit" | None, what the validation curve shows)."""
    scores = [(h["step"], h["eval_score"]) for h in history
              if isinstance(h.get("eval_score"), int | float) and "step" in h]
    if len(scores) < 3:
        return None, "too few validation scores during training to read its curve"
    best_step, best = max(scores, key=lambda s: (s[1], -s[0]))
    last_step, last = scores[-1]
    if best_step <= 0.6 * last_step and last <= best - FALL:
        return "overfit", (f"the validation score peaked at {best:.0%} at step {best_step} and "
                           f"fell to {last:.0%} by step {last_step}")
    tail = scores[len(scores) * 2 // 3 - 1 :]
    if last >= best and last - tail[0][1] >= RISE:
        return "underfit", (f"the validation score was still rising at the end ({tail[0][1]:.0%} "
                            f"at step {tail[0][0]}, {last:.0%} at step {last_step})")
    return None, f"the validation score levelled off ({best:.0%} at best, step {best_step})"


def decide(values: dict[str, float], flags: list[str], primary: str, *, gate: float,
           margin: float, base_beaten: bool, history: list[dict]) -> Verdict:
    """`values`: each evaluated model's primary metric; `flags`: the red flags' codes;
    `base_beaten`: the student gets more inputs right than the base."""
    name = primary.replace("_", " ") or "score"
    student, teacher, base = values.get("student"), values.get("teacher"), values.get("base")
    if student is None:
        return Verdict(decision="rethink", evidence=["no student was evaluated"],
                       next_step=f"train a student, then evaluate it: {say('train')}")
    rethink = []
    if teacher is not None and teacher < gate:
        rethink.append(f"the teacher scores {teacher:.0%} {name} on the test split, under the "
                       f"{gate:.0%} gate: it cannot teach what it does not know")
    if "gold_error" in flags:
        rethink.append("some test seeds' gold answers fail on the database")
    if "student_above_teacher" in flags:
        rethink.append(f"the student ({student:.0%}) beats its teacher ({teacher or 0:.0%}): "
                       "suspect test inputs leaking into training")
    if rethink:
        return Verdict(decision="rethink", evidence=rethink, next_step=(
            "fix the seeds or the task, or choose a stronger teacher; read reports/eval.md "
            "before anything is trained again"))
    gap = None if teacher is None else teacher - student
    evidence = [f"student {student:.0%} {name}"
                + (f", teacher {teacher:.0%}" if teacher is not None else ", teacher not evaluated")
                + (f", base {base:.0%}" if base is not None else "")]
    if gap is not None and gap <= margin and base_beaten and not flags:
        return Verdict(decision="deploy", evidence=[
            *evidence, f"within {margin:.0%} of the teacher and above the base, no red flag"],
            next_step=f"export and re-check the GGUF: {say('export')}")
    kind, curve = curve_evidence(history)
    evidence.append(curve)
    if flags:
        evidence.append(f"red flags: {', '.join(flags)}")
    if kind == "overfit":
        return Verdict(decision="retune", evidence=evidence, next_step=(
            "train fewer steps or with a lower learning rate (the best checkpoint is kept), "
            "or add more varied pairs, then evaluate again"))
    if kind == "underfit":
        return Verdict(decision="retune", evidence=evidence, next_step=(
            f"train longer (raise training.max_steps or training.epochs) and evaluate again: "
            f"{say('train')}"))
    if teacher is None:
        evidence.append("without the teacher's score the gap cannot be measured")
    return Verdict(decision="more_data", evidence=evidence, next_step=(
        f"add pairs aimed at the student's failures: {say('improve')}, then evaluate again"))
