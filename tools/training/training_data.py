"""Training examples for causal-LM fine-tuning, rendered with the task's one student prompt and
the student's chat template; loss only on the answer, and the end-of-turn token IS trained.

    example = render_example(tokenizer, task.student_messages(q), sql, end_id)
    batch = PackingCollator()([example, ...])   # one padding-free row with position_ids

Packing: a micro-batch's examples are concatenated into one row whose position_ids restart at
each example; transformers builds a block-diagonal attention mask from them (no padding compute,
no attention across examples). Labels are -100 on the prompt, so nothing is predicted across a
boundary.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from slm_distill.tools.errors import DistillError

IGNORE = -100


@dataclass
class Example:
    input_ids: list[int]
    labels: list[int]


def _ids(encoded: Any) -> list[int]:
    if isinstance(encoded, dict) or hasattr(encoded, "keys"):
        encoded = encoded["input_ids"]
    return list(encoded)


def prompt_ids(tokenizer: Any, messages: list[dict]) -> list[int]:
    return _ids(tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True))


def render_example(tokenizer: Any, messages: list[dict], answer: str, end_id: int) -> Example:
    """Prompt tokens masked, answer tokens and the end-of-turn token labelled."""
    prompt = prompt_ids(tokenizer, messages)
    full = _ids(tokenizer.apply_chat_template(
        [*messages, {"role": "assistant", "content": answer}], tokenize=True))
    if full[: len(prompt)] != prompt:
        raise DistillError("The chat template renders the prompt differently with and without the "
                           "answer; training and inference would disagree. Use another template.")
    rest = full[len(prompt):]
    if end_id not in rest:
        raise DistillError("The chat template does not end the assistant turn with the end token.")
    answer_ids = rest[: rest.index(end_id) + 1]
    return Example(input_ids=prompt + answer_ids, labels=[IGNORE] * len(prompt) + answer_ids)


class PackingCollator:
    """Concatenate a micro-batch into one row with restarting position_ids (padding-free)."""

    def __call__(self, features: list[dict]) -> dict:
        import torch

        ids, labels, positions = [], [], []
        for f in features:
            ids.extend(f["input_ids"])
            labels.extend(f["labels"])
            positions.extend(range(len(f["input_ids"])))
        return {
            "input_ids": torch.tensor([ids]),
            "labels": torch.tensor([labels]),
            "position_ids": torch.tensor([positions]),
        }


class PaddingCollator:
    """The ordinary alternative (right padding with an attention mask), for benchmarks."""

    def __init__(self, pad_id: int) -> None:
        self.pad_id = pad_id

    def __call__(self, features: list[dict]) -> dict:
        import torch

        width = max(len(f["input_ids"]) for f in features)
        ids = [f["input_ids"] + [self.pad_id] * (width - len(f["input_ids"])) for f in features]
        labels = [f["labels"] + [IGNORE] * (width - len(f["labels"])) for f in features]
        mask = [[1] * len(f["input_ids"]) + [0] * (width - len(f["input_ids"])) for f in features]
        return {"input_ids": torch.tensor(ids), "labels": torch.tensor(labels),
                "attention_mask": torch.tensor(mask)}
