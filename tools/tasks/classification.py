"""Classification: a text gets one label from a fixed set (or, multi-label, a set of labels).

    task = Classification(ClassificationConfig(labels=["billing", "bug", "feature"]))
    task.extract("Label: Bug.")              # 'bug'
    task.score("feature", "bug").correct     # False (category wrong_label)
    task.summarise(scores)                   # macro_f1, accuracy, valid_label

Answers are normalised before they are compared (case and spaces aside; a "Label:" prefix, quotes
and a final full stop dropped) and must be one of the labels. Macro-F1 (the primary metric),
per-label precision, recall and F1 and the confusion matrix are computed with scikit-learn, over
the labels that occur in the gold answers or the predictions. Many texts share a label, so two
pairs with the same answer are not duplicates (`answer_identifies_input` is false).
"""

from __future__ import annotations

import json
import re
from typing import Any

from slm_distill.prompts import render_prompt
from slm_distill.tools.tasks.base import (
    Message,
    Score,
    Task,
    Validation,
    proposal_messages,
    weighted_round_robin,
)
from slm_distill.tools.workspace.config import ClassificationConfig

INVALID = "(no label)"
_PREFIX = re.compile(r"^\s*(?:the\s+)?(?:labels?|category|class|answer)\s*[:=-]\s*", re.IGNORECASE)
_FENCE = re.compile(r"```\w*\s*\n?(.*?)```", re.DOTALL)
AUGMENTATIONS = {
    "paraphrase": "say the same thing in other words (same label), each differently.",
    "entities": "change the details (names, products, amounts, places, dates) but keep the label.",
    "complexity": "make the text harder to classify: it mentions what another label is about, "
                  "yet its correct label stays the same.",
}


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


class Classification(Task):
    name = "classification"
    metric_names = ("macro_f1", "accuracy", "valid_label")
    metric_labels = {"macro_f1": "macro-F1", "accuracy": "accuracy", "valid_label": "valid label"}
    correct_metric = "accuracy"
    answer_identifies_input = False
    coverage = {"label": "label"}
    plain_need = "any label"
    judged_categories = ()

    def __init__(self, config: ClassificationConfig) -> None:
        self.config = config
        self.labels = list(config.labels)
        self._canonical = {_norm(label): label for label in self.labels}
        self._schedules: dict = {}

    # -- prompts ------------------------------------------------------------------------------
    def _how(self) -> dict[str, str]:
        if self.config.multi_label:
            return {"how": "one or more labels", "reply": "the labels, separated by commas",
                    "output_form": '["<label>", ...]'}
        return {"how": "exactly one label", "reply": "the label", "output_form": '"<label>"'}

    def teacher_messages(self, input: str) -> list[Message]:
        system = render_prompt("classification/answer", labels="\n".join(self.labels), **self._how())
        return [{"role": "system", "content": system}, {"role": "user", "content": input}]

    def student_messages(self, input: str) -> list[Message]:
        system = render_prompt("classification/student", labels=", ".join(self.labels),
                               **self._how())
        return [{"role": "system", "content": system}, {"role": "user", "content": input}]

    def propose_messages(self, n: int, examples: list[dict], mode: str,
                         focus: dict | None = None) -> list[Message]:
        shown = "\n\n".join(f"Text: {e['input']}\nLabel: {e['output']}" for e in examples)
        wanted = (focus or {}).get("labels")
        new_focus = (f"Every text you write must have the label: {', '.join(wanted)}."
                     if wanted else "Mix the labels.")
        return proposal_messages("classification", mode, n, examples, focus, shown,
                                 new_focus=new_focus, instruction=AUGMENTATIONS.get(mode, ""),
                                 labels="\n".join(self.labels), **self._how())

    def call_focus(self, index: int, pool: list[Any],
                   shares: dict[str, float] | None = None) -> tuple[list[Any], dict | None]:
        """Call `index` asks for the label furthest below its share of the calls so far (a smooth
        weighted round robin over `shares`), so every label is asked for in proportion, the
        under-filled first; its examples are the pool's seeds of that label."""
        if self.config.multi_label or not shares:
            return pool, None
        label = weighted_round_robin(shares, index, self._schedules)
        same = [s for s in pool if self.extract(s.output) == label]
        return same or pool, {"labels": [label]}

    def balance(self, seeds: list[Any]) -> dict[str, float] | None:
        if self.config.multi_label or not self.labels:
            return None
        if self.config.label_balance == "uniform":
            return {label: 1 / len(self.labels) for label in self.labels}
        counts = {label: 0 for label in self.labels}
        for seed in seeds:
            if (label := self._canon(seed.output)) in counts:
                counts[label] += 1
        total = sum(counts.values()) or 1
        return {label: count / total for label, count in counts.items()}

    def balance_key(self, output: str) -> str | None:
        return None if self.config.multi_label else self._canon(output)

    def context(self) -> dict[str, Any]:
        return {"task": self.name, "labels": self.labels, "multi_label": self.config.multi_label}

    # -- answers ------------------------------------------------------------------------------
    def _one(self, text: str) -> str | None:
        text = _PREFIX.sub("", text.strip()).strip().strip("\"'`*").rstrip(".!").strip()
        if (found := self._canonical.get(_norm(text))) is not None:
            return found
        mentioned = [label for label in self.labels
                     if re.search(rf"(?<!\w){re.escape(label)}(?!\w)", text, re.IGNORECASE)]
        return mentioned[0] if len(mentioned) == 1 else None

    def _many(self, text: str) -> list[str] | None:
        try:
            items = json.loads(text)
        except (ValueError, RecursionError):
            items = re.split(r"[,;\n]", text)
        if not isinstance(items, list):
            items = [items]
        found = [self._one(str(item)) for item in items if str(item).strip()]
        if not found or None in found:
            return None
        return [label for label in self.labels if label in found]  # the labels' own order

    def extract(self, raw: str) -> str:
        if not isinstance(raw, str):
            return ""
        match = _FENCE.search(raw)
        text = (match.group(1) if match else raw).strip()
        if self.config.multi_label:
            labels = self._many(text)
            return ", ".join(labels) if labels else text.splitlines()[0].strip() if text else ""
        first = text.splitlines()[0] if text else ""
        return self._one(first) or self._one(text) or first.strip()

    def _canon(self, output: str) -> str | None:
        if not isinstance(output, str) or len(output) > 2_000:
            return None
        if self.config.multi_label:
            labels = self._many(output)
            return ", ".join(labels) if labels else None
        return self._one(output)

    def validate(self, output: str) -> Validation:
        if not self.labels:
            return Validation(False, "unknown_label", "the project has no labels yet")
        if self._canon(output) is None:
            shown = output[:80] if isinstance(output, str) else type(output).__name__
            return Validation(False, "unknown_label", f"{shown!r} is not one of the labels: "
                              f"{', '.join(self.labels)}")
        return Validation(True)

    def score(self, predicted: str, gold: str) -> Score:
        answer, expected = self._canon(predicted), self._canon(gold) or gold
        if answer is None:
            return Score(False, False, category="unknown_label",
                         reason=f"answered {str(predicted)[:80]!r}, not a label",
                         answer=INVALID, expected=expected)
        if answer == expected:
            return Score(True, True, exact=True, answer=answer, expected=expected)
        return Score(False, True, category="wrong_label",
                     reason=f"answered {answer}, expected {expected}", answer=answer,
                     expected=expected)

    def agree(self, a: str, b: str) -> bool:
        return self._canon(a) is not None and self._canon(a) == self._canon(b)

    def summarise(self, scores: list[Score]) -> dict[str, float]:
        n = max(1, len(scores))
        return {"macro_f1": self._macro_f1(scores), "accuracy": sum(s.correct for s in scores) / n,
                "valid_label": sum(s.valid for s in scores) / n}

    def _macro_f1(self, scores: list[Score]) -> float:
        from sklearn.metrics import f1_score
        from sklearn.preprocessing import MultiLabelBinarizer

        if not scores:
            return 0.0
        gold, pred = [s.expected for s in scores], [s.answer for s in scores]
        if self.config.multi_label:
            binarizer = MultiLabelBinarizer(classes=self.labels)
            y_true = binarizer.fit_transform([g.split(", ") for g in gold])
            y_pred = binarizer.transform([p.split(", ") if p != INVALID else [] for p in pred])
            present = [i for i in range(len(self.labels)) if y_true[:, i].any() or y_pred[:, i].any()]
            return float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0))
        present = sorted({*gold, *pred} & set(self.labels))
        return float(f1_score(gold, pred, labels=present, average="macro", zero_division=0))

    def details(self, scores: list[Score]) -> dict[str, Any]:
        """Per-label precision, recall, F1 and support, and the confusion matrix (single-label)."""
        from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

        if self.config.multi_label or not scores:
            return {}
        gold, pred = [s.expected for s in scores], [s.answer for s in scores]
        labels = [label for label in self.labels if label in {*gold, *pred}]
        p, r, f, support = precision_recall_fscore_support(gold, pred, labels=labels,
                                                           zero_division=0)
        columns = [*labels, INVALID] if INVALID in pred else labels
        matrix = confusion_matrix(gold, pred, labels=columns).tolist()
        return {"per_label": {label: {"precision": float(p[i]), "recall": float(r[i]),
                                      "f1": float(f[i]), "support": int(support[i])}
                              for i, label in enumerate(labels)},
                "confusion": {"labels": columns, "matrix": matrix}}

    def choices(self) -> list[str] | None:
        return None if self.config.multi_label or not self.labels else list(self.labels)

    def mistaken_for(self, score: Score) -> str | None:
        return score.answer if score.valid and not score.correct and score.answer else None

    def describe(self, output: str) -> dict[str, Any]:
        canon = self._canon(output)
        return {"label": canon.split(", ") if canon else [], "difficulty": None}

    def need_facts(self, output: str, metadata: dict | None = None) -> list[str]:
        canon = self._canon(output)
        return canon.split(", ") if canon else []

    def dedup_key(self, output: str) -> str:
        return self._canon(output) or _norm(str(output))

    def card_text(self) -> str:
        kind = "one or more of" if self.config.multi_label else "one of"
        return f"Classifying texts into {kind}: {', '.join(self.labels)}."
