"""Generation: an input gets free text (a summary, a rewrite, a short answer, a reply).

    task = Generation(TextGenerationConfig(instruction="Summarise the ticket in one sentence."),
                      rubric="- Faithful ...", judged=False)
    task.score("Refund asked for order 1142.", "The customer wants a refund for order 1142.")
    task.summarise(scores)     # rouge_l (primary without a judge), close, rouge_1, rouge_2, ...

Answers are compared with the reference by ROUGE-1/2/L F1 (`rouge-score`, with its stemmer) and by
chrF and BLEU (`sacrebleu`, corpus-level over a set of answers), and by their length in words
against the reference's. With a judge configured (`judge.spec`) the judge's score is the primary
metric: a 1-5 grade against the task's rubric, shown as a share (1 is 0%, 5 is 100%), and an
answer is right when it reaches `judge.pass_score`. The judge needs the input, so its grades come
from `score_batch`, where the judge is attached (`attach_judge`): evaluation and the teacher gate
attach it; the evaluations during training do not (each would cost judge calls), so the best
checkpoint is chosen by ROUGE-L (`training_metric`). Many inputs may share an answer, so answers
do not identify inputs.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from slm_distill.prompts import render_prompt
from slm_distill.tools.errors import require
from slm_distill.tools.tasks.base import Message, Score, Task, Validation, proposal_messages
from slm_distill.tools.workspace.config import TextGenerationConfig

if TYPE_CHECKING:
    from slm_distill.tools.judge import Judge, Verdict

AUGMENTATIONS = {
    "paraphrase": "write the same input in other words, with the same content, each differently "
                  "(the answer changes only where the wording must).",
    "entities": "change the details (names, products, amounts, places, dates) and the answer "
                "with them.",
    "complexity": "make the input harder: longer, with a second issue or a detail that is easy "
                  "to get wrong; the answer follows the rubric for the new input.",
}
LEXICAL = ("rouge_l", "rouge_1", "rouge_2", "chrf", "bleu", "length_ratio")
LENGTHS = ((8, "short"), (20, "medium"), (10**9, "long"))  # answer words up to -> bucket
_FENCE = re.compile(r"^```\w*\s*\n?(.*?)```\s*$", re.DOTALL)
_PREFIX = re.compile(r"^\s*(?:answer|summary|output|reply)\s*:\s*", re.IGNORECASE)


def _words(text: str) -> int:
    return len(text.split())


def _bucket(text: str) -> str:
    n = _words(text)
    return next(name for top, name in LENGTHS if n <= top)


class Generation(Task):
    name = "generation"
    answer_identifies_input = False
    coverage = {"length": "answer length"}
    plain_need = "any answer"
    groups_by_fault = True

    def __init__(self, config: TextGenerationConfig, rubric: str, *, judged: bool,
                 pass_score: int = 4) -> None:
        self.config = config
        self.rubric = rubric.strip()
        self.judged = judged  # the project has a judge: its score is the primary metric
        self.pass_score = pass_score
        self.judge: Judge | None = None
        self._pattern = re.compile(config.must_match) if config.must_match else None
        self._scorer: Any = None
        if judged:
            self.metric_names = ("judge_score", "judge_pass", *LEXICAL)
            self.correct_metric = "judge_pass"
        else:
            self.metric_names = ("rouge_l", "close", *LEXICAL[1:])
            self.correct_metric = "close"
        self.metric_labels = {
            "judge_score": "judge score", "judge_pass": f"judge >= {pass_score}/5",
            "rouge_l": "ROUGE-L", "close": f"ROUGE-L >= {config.rouge_pass:g}",
            "rouge_1": "ROUGE-1", "rouge_2": "ROUGE-2", "chrf": "chrF", "bleu": "BLEU",
            "length_ratio": "length ratio"}

    @property
    def training_metric(self) -> str:
        return "rouge_l"

    def attach_judge(self, judge: Judge) -> None:
        """Grade answers with `judge` in `score_batch` from now on."""
        self.judge = judge

    # -- prompts ------------------------------------------------------------------------------
    def teacher_messages(self, input: str) -> list[Message]:
        system = render_prompt("generation/answer", task_instruction=self.config.instruction,
                               rubric=self.rubric)
        return [{"role": "system", "content": system}, {"role": "user", "content": input}]

    def student_messages(self, input: str) -> list[Message]:
        system = render_prompt("generation/student", task_instruction=self.config.instruction)
        return [{"role": "system", "content": system}, {"role": "user", "content": input}]

    def propose_messages(self, n: int, examples: list[dict], mode: str,
                         focus: dict | None = None) -> list[Message]:
        shown = "\n\n".join(f"Input: {e['input']}\nAnswer: {e['output']}" for e in examples)
        return proposal_messages("generation", mode, n, examples, focus, shown,
                                 instruction=AUGMENTATIONS.get(mode, ""),
                                 task_instruction=self.config.instruction, rubric=self.rubric)

    def context(self) -> dict[str, Any]:
        return {"task": self.name, "instruction": self.config.instruction, "rubric": self.rubric,
                "max_chars": self.config.max_chars}

    # -- answers ------------------------------------------------------------------------------
    def extract(self, raw: str) -> str:
        if not isinstance(raw, str):
            return ""
        text = raw.strip()
        if match := _FENCE.match(text):
            text = match.group(1).strip()
        text = _PREFIX.sub("", text, count=1).strip()
        if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
            text = text[1:-1].strip()
        return text

    def validate(self, output: str) -> Validation:
        if not isinstance(output, str) or not output.strip():
            return Validation(False, "empty", "the answer is empty")
        if len(output) > self.config.max_chars:
            return Validation(False, "too_long", f"{len(output):,} characters, more than "
                              f"task.max_chars ({self.config.max_chars:,})")
        if self._pattern is not None and not self._pattern.search(output):
            return Validation(False, "no_match", f"does not match task.must_match "
                              f"({self.config.must_match})")
        return Validation(True)

    def _rouge(self, predicted: str, gold: str) -> dict[str, float]:
        if self._scorer is None:
            rouge = require("rouge_score.rouge_scorer", "rouge-score", "text")
            self._scorer = rouge.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
        scores = self._scorer.score(gold, predicted)  # (target, prediction)
        return {"rouge_1": scores["rouge1"].fmeasure, "rouge_2": scores["rouge2"].fmeasure,
                "rouge_l": scores["rougeL"].fmeasure}

    def score(self, predicted: str, gold: str, verdict: Verdict | None = None) -> Score:
        answer = self.extract(predicted)
        check = self.validate(answer)
        metrics = self._rouge(answer, gold) if answer else dict.fromkeys(("rouge_1", "rouge_2",
                                                                          "rouge_l"), 0.0)
        metrics["length_ratio"] = _words(answer) / max(1, _words(gold))
        faults = self._faults(answer, gold, check, metrics, verdict)
        if verdict is not None:
            metrics["judge_score"] = verdict.share
            correct = verdict.score is not None and verdict.score >= self.pass_score
            why = f"judge {verdict.shown}: {verdict.reason}"
        else:
            correct = metrics["rouge_l"] >= self.config.rouge_pass
            why = f"ROUGE-L {metrics['rouge_l']:.2f} against the reference"
        correct = correct and check.ok
        category = None if correct else (check.category if not check.ok else
                                         "judged_low" if verdict is not None else "far_from_reference")
        return Score(correct, check.ok, exact=" ".join(answer.split()) == " ".join(gold.split()),
                     category=category, reason=None if correct else (check.reason or why),
                     metrics=metrics, answer=answer, expected=gold, faults=faults)

    def _faults(self, answer: str, gold: str, check: Validation, metrics: dict[str, float],
                verdict: Verdict | None) -> list[str]:
        if not check.ok:
            return [f"invalid: {check.category}"]
        faults = []
        if metrics["length_ratio"] > 1.5:
            faults.append("too long: answers longer than the reference")
        elif metrics["length_ratio"] < 0.5:
            faults.append("too short: answers shorter than the reference")
        if verdict is not None and verdict.score is not None and verdict.score < self.pass_score:
            faults.append(f"judged {verdict.score}/5")
        elif verdict is None and metrics["rouge_l"] < self.config.rouge_pass:
            faults.append("far from the reference")
        return faults

    def fault_need(self, fault: str) -> str | None:
        return None

    def score_batch(self, inputs: list[str], answers: list[str], golds: list[str]) -> list[Score]:
        """Scores with the judge's grades where a judge is attached (it sees the input)."""
        if self.judge is None:
            return super().score_batch(inputs, answers, golds)
        verdicts = self.judge.grade_many([(i, self.extract(a))
                                          for i, a in zip(inputs, answers, strict=True)])
        return [self.score(a, g, v) for a, g, v in zip(answers, golds, verdicts, strict=True)]

    async def vet(self, pairs: list[Any], below: int) -> tuple[list[Any], list[tuple[Any, str]]]:
        if self.judge is None:
            return pairs, []
        verdicts = await self.judge.grade([(p.input, p.output) for p in pairs])
        kept, vetoed = [], []
        for pair, verdict in zip(pairs, verdicts, strict=True):
            if verdict.score is not None and verdict.score >= below:
                kept.append(pair)
            else:
                vetoed.append((pair, f"the judge scored it {verdict.shown} (below {below}): "
                                     f"{verdict.reason}"))
        return kept, vetoed

    def summarise(self, scores: list[Score]) -> dict[str, float]:
        n = max(1, len(scores))

        def mean(key: str) -> float:
            return sum(s.metrics.get(key, 0.0) for s in scores) / n

        out: dict[str, float] = {}
        judged = [s for s in scores if "judge_score" in s.metrics]
        if self.judged and judged:
            out["judge_score"] = sum(s.metrics["judge_score"] for s in judged) / len(judged)
            out["judge_pass"] = sum(s.correct for s in judged) / len(judged)
        out["rouge_l"] = mean("rouge_l")
        if not self.judged:
            out["close"] = sum(s.correct for s in scores) / n
        out["rouge_1"], out["rouge_2"] = mean("rouge_1"), mean("rouge_2")
        out["chrf"], out["bleu"] = corpus_scores([s.answer for s in scores],
                                                 [[s.expected for s in scores]])
        out["length_ratio"] = (sum(_words(s.answer) for s in scores)
                               / max(1, sum(_words(s.expected) for s in scores)))
        return out

    def agree(self, a: str, b: str) -> bool:
        a, b = self.extract(a), self.extract(b)
        return bool(a and b) and self._rouge(a, b)["rouge_l"] >= 0.8

    def describe(self, output: str) -> dict[str, Any]:
        return {"length": [_bucket(output)] if isinstance(output, str) else [], "difficulty": None}

    def need_facts(self, output: str, metadata: dict | None = None) -> list[str]:
        return [_bucket(output)] if isinstance(output, str) else []

    def dedup_key(self, output: str) -> str:
        return " ".join(str(output).split()).casefold()

    def card_text(self) -> str:
        return f"Free text: {self.config.instruction}"


def corpus_scores(answers: list[str], references: list[list[str]]) -> tuple[float, float]:
    """Corpus chrF and BLEU (sacrebleu, as shares: its 0-100 scale / 100) of `answers` against
    one or more reference streams (each as long as `answers`)."""
    if not answers:
        return 0.0, 0.0
    sacrebleu = require("sacrebleu", "sacrebleu", "text")
    return (sacrebleu.corpus_chrf(answers, references).score / 100,
            sacrebleu.corpus_bleu(answers, references).score / 100)
