"""What makes a task a task: one prompt renderer, answer extraction, validation and scoring, and
what the stages need to know about answers without knowing the task.

A Task is built for one project (`make_task(project)`) and holds what the task needs of it (for
Text2SQL: the sandboxed database). Teachers, stages, reports and improve only talk to this
interface:

- `metric_names` (the first is the primary metric: the gate, best checkpoints, red flags, improve
  and export parity use it; `training_metric` may name another for the evaluations during
  training) and `metric_labels` to show them; `score_batch` scores many answers with their inputs;
- `answer_identifies_input`: whether two pairs with the same answer are duplicates, and a pair with
  a test seed's answer a leak (true for SQL; false where many inputs share an answer, as labels);
- `coverage` (which `describe()` facts the generation report counts) and `need_facts` / `need_words`
  (what an answer needs, which improve groups failures by);
- `judged_categories` (failures an LLM judge may reconsider) and `card_text` (the model card).
"""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

from slm_distill.prompts import render_prompt

Message = dict[str, str]


@dataclass
class Validation:
    ok: bool
    category: str | None = None
    reason: str | None = None
    result: Any = None  # task-specific (Text2SQL: the QueryResult)


@dataclass
class Score:
    correct: bool
    valid: bool
    exact: bool = False
    category: str | None = None  # failure category when not correct
    reason: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    answer: str = ""  # the normalised answers, where metrics need them all (macro-F1)
    expected: str = ""
    faults: list[str] = field(default_factory=list)  # what went wrong, e.g. "missing: due_date"


class Task(ABC):
    name: ClassVar[str]
    metric_names: ClassVar[tuple[str, ...]]  # the first is the primary metric
    metric_labels: ClassVar[dict[str, str]] = {}
    correct_metric: ClassVar[str] = ""  # the metric that is the share of correct answers
    answer_identifies_input: ClassVar[bool] = True
    coverage: ClassVar[dict[str, str]] = {}  # describe() key -> its title in reports
    need_words: ClassVar[dict[str, str]] = {}  # need -> how the teacher is told about it
    plain_need: ClassVar[str] = "plain"  # the label of answers that need nothing in particular
    judged_categories: ClassVar[tuple[str, ...]] = ()
    groups_by_fault: ClassVar[bool] = False  # improve groups failures by Score.faults, not needs

    @property
    def primary_metric(self) -> str:
        return self.metric_names[0]

    @property
    def training_metric(self) -> str:
        """The metric the evaluations during training choose the best checkpoint by."""
        return self.primary_metric

    def score_batch(self, inputs: list[str], answers: list[str], golds: list[str]) -> list[Score]:
        """Scores of answers to these inputs; a task whose scoring needs the input (an LLM
        judge's) overrides this. Evaluation and the teacher gate score through it."""
        return [self.score(a, g) for a, g in zip(answers, golds, strict=True)]

    async def vet(self, pairs: list[Any], below: int) -> tuple[list[Any], list[tuple[Any, str]]]:
        """(kept, [(vetoed pair, why)]): pairs an attached judge grades below `below` are
        vetoed. Tasks without a judge keep them all."""
        return pairs, []

    def label(self, metric: str) -> str:
        return self.metric_labels.get(metric, metric.replace("_", " "))

    @abstractmethod
    def teacher_messages(self, input: str) -> list[Message]:
        """The prompt a teacher answers (always with full task context)."""

    @abstractmethod
    def student_messages(self, input: str) -> list[Message]:
        """THE student prompt: used for training, evaluation and the exported template alike."""

    @abstractmethod
    def extract(self, raw: str) -> str:
        """The answer inside a model's raw reply."""

    @abstractmethod
    def validate(self, output: str) -> Validation: ...

    @abstractmethod
    def score(self, predicted: str, gold: str) -> Score: ...

    @abstractmethod
    def agree(self, a: str, b: str) -> bool:
        """Do two answers mean the same (self-consistency)?"""

    @abstractmethod
    def context(self) -> dict[str, Any]:
        """What a `python` teacher receives as its `context` argument."""

    @abstractmethod
    def propose_messages(self, n: int, examples: list[dict], mode: str,
                         focus: dict | None = None) -> list[Message]:
        """The prompt asking for `n` pairs: new ones like `examples`, an augmentation of one, or
        (mode "targeted") pairs whose answers need what `focus["needs"]` names."""

    @abstractmethod
    def describe(self, output: str) -> dict[str, Any]:
        """Coverage facts about an answer (Text2SQL: tables, SQL features, difficulty)."""

    @abstractmethod
    def dedup_key(self, output: str) -> str: ...

    def summarise(self, scores: list[Score]) -> dict[str, float]:
        """Rates of correct, valid and exact answers, named by the task's metric_names."""
        n = max(1, len(scores))
        rates = (sum(s.correct for s in scores) / n, sum(s.valid for s in scores) / n,
                 sum(s.exact for s in scores) / n)
        return dict(zip(self.metric_names, rates, strict=True))

    def choices(self) -> list[str] | None:
        """The answers constrained decoding chooses among (a classifier's labels), or None: the
        task's answers are open (SQL), so it has no constrained mode."""
        return None

    # the student's chat template may render the task's tools (tool calling): then the renderer
    # (training_data.student_prompt) uses these instead of student_messages and the plain answer
    template_required: ClassVar[bool] = False

    def chat_tools(self) -> list[dict] | None:
        """Tools for the student's chat template to render (`apply_chat_template(tools=...)`),
        where the task hands them to it; None: its own prompt carries what the student needs."""
        return None

    def template_messages(self, input: str) -> list[Message]:
        """The student's messages when its chat template renders `chat_tools()`."""
        return self.student_messages(input)

    def template_answer(self, output: str) -> str:
        """A training answer in the chat template's tool format."""
        return output

    def grammar_schema(self) -> str | None:
        """A JSON Schema llama.cpp can turn into a grammar for the answers, or None."""
        return None

    def mistaken_for(self, score: Score) -> str | None:
        """What a wrong answer took its input for, where that names a class of the task (a
        classifier's wrong label), else None; improve targets the most frequent confusions."""
        return None

    def call_focus(self, index: int, pool: list[Any],
                   shares: dict[str, float] | None = None) -> tuple[list[Any], dict | None]:
        """The examples call `index` may show or augment, and what it should focus on (a label,
        so the calls ask for each class in its `shares`); deterministic in `index` and `shares`.
        Default: any, nothing."""
        return pool, None

    def balance(self, seeds: list[Any]) -> dict[str, float] | None:
        """The share of kept pairs each answer class may take (a label's), or None: any."""
        return None

    def balance_key(self, output: str) -> str | None:
        """The class an answer counts towards in `balance`."""
        return None

    def details(self, scores: list[Score]) -> dict[str, Any]:
        """Breakdowns beyond the metrics (per label, a confusion matrix), for the report."""
        return {}

    def fault_need(self, fault: str) -> str | None:
        """What new pairs must hold to target a fault group (`missing: due_date` -> `due_date`),
        one of `need_facts`' facts, or None: any pairs do (an extra field, broken JSON)."""
        kind, _, what = fault.partition(": ")
        return what if kind in ("missing", "wrong") and what else None

    def need_facts(self, output: str, metadata: dict | None = None) -> list[str]:
        """What an answer needs, most telling first (improve groups failures by the first two).
        `metadata` is a kept pair's, which may hold them already."""
        return []

    def card_text(self) -> str:
        """What the student does, in a sentence of the model card."""
        return f"The {self.name} task."

    def check_input(self, input: str) -> str | None:
        """Why a seed's input does not fit the task (None: it does). A conversation (a list of
        messages) is only for tasks that take one."""
        if looks_like_conversation(input):
            return f"a conversation as input is for tool calling; a {self.name} input is one text"
        return None

    def card_usage(self) -> str:
        """How an application uses the answers, for the model card ('' : nothing to add)."""
        return ""

    def export_files(self) -> dict[str, str]:
        """Files written beside the GGUF files (name -> text) that an application needs."""
        return {}

    def training_problem(self, check: Validation) -> str | None:
        """Why a valid answer still makes a poor training pair (None: it is fine)."""
        return None

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources (database connections)."""

    def parse_proposals(self, raw: str) -> list[dict]:
        """Pairs from a teacher's reply: a JSON array (fenced or not) or JSON lines."""
        return parse_json_items(raw)


def looks_like_conversation(input: str) -> bool:
    if not input.lstrip().startswith("[") or len(input) > 100_000:
        return False
    try:
        value = json.loads(input)
    except (ValueError, RecursionError):
        return False
    return isinstance(value, list) and any(isinstance(v, dict) and "role" in v for v in value)


def proposal_messages(folder: str, mode: str, n: int, examples: list[dict], focus: dict | None,
                      shown: str, *, new_focus: str = "", instruction: str = "",
                      **context: object) -> list[Message]:
    """The prompt asking for `n` pairs from a task's own templates (`<folder>/generate`,
    `augment`, `targeted`): new ones like `shown`, an augmentation of `examples[0]`, or pairs for
    a failure group (`focus`). `context` fills what the task's templates add (its schema, tools,
    labels)."""
    if mode == "targeted":
        text = render_prompt(f"{folder}/targeted", n=n, examples=shown or "(none yet)",
                             needs=(focus or {}).get("description", ""),
                             mistakes=(focus or {}).get("mistakes", ""), **context)
    elif mode == "new":
        text = render_prompt(f"{folder}/generate", n=n, examples=shown, focus=new_focus, **context)
    else:
        text = render_prompt(f"{folder}/augment", n=n, input=examples[0]["input"],
                             output=examples[0]["output"], instruction=instruction, **context)
    return [{"role": "user", "content": text}]


def weighted_round_robin(shares: dict[str, float], index: int, memo: dict) -> str:
    """The class call `index` asks for: the one furthest below its share of the calls so far (a
    smooth weighted round robin over `shares`, ties to the earlier class); `memo` keeps each
    schedule between calls."""
    key = tuple(sorted(shares.items()))
    order, credit = memo.setdefault(key, ([], dict.fromkeys(shares, 0.0)))
    while len(order) <= index:
        for name, share in shares.items():
            credit[name] += share
        pick = max(shares, key=lambda name: credit[name])
        credit[pick] -= 1
        order.append(pick)
    return order[index]


_FENCE = re.compile(r"```(?:json)?\s*\n(.*?)```", re.DOTALL)


def parse_json_items(raw: str) -> list[dict]:
    candidates = [m.group(1) for m in _FENCE.finditer(raw)] + [raw]
    for text in candidates:
        start, end = text.find("["), text.rfind("]")
        if start != -1 and end > start:
            try:
                data = json.loads(text[start : end + 1])
            except (ValueError, RecursionError):  # also: too deep, or a number too long to read
                continue
            return [d for d in data if isinstance(d, dict)]
    items = []
    for line in raw.splitlines():
        line = line.strip().rstrip(",")
        if line.startswith("{"):
            try:
                items.append(json.loads(line))
            except (ValueError, RecursionError):
                continue
    return items
