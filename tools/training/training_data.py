"""Training examples for causal-LM fine-tuning, rendered with the task's one student prompt and
the student's chat template; loss only on the answer, and the end-of-turn token IS trained.

    example = student_example(tokenizer, task, q, sql, end_id)
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
from slm_distill.tools.training.chat_format import TEMPLATE_KWARGS

IGNORE = -100


@dataclass
class Example:
    input_ids: list[int]
    labels: list[int]


def _ids(encoded: Any) -> list[int]:
    if isinstance(encoded, dict) or hasattr(encoded, "keys"):
        encoded = encoded["input_ids"]
    return list(encoded)


def _tools(tools: list[dict] | None) -> dict[str, Any]:
    return {"tools": tools} if tools else {}


def prompt_ids(tokenizer: Any, messages: list[dict], tools: list[dict] | None = None) -> list[int]:
    return _ids(tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                              **_tools(tools), **TEMPLATE_KWARGS))


def render_example(tokenizer: Any, messages: list[dict], answer: str, end_id: int,
                   tools: list[dict] | None = None) -> Example:
    """Prompt tokens masked, answer tokens and the end-of-turn token labelled."""
    prompt = prompt_ids(tokenizer, messages, tools)
    full = _ids(tokenizer.apply_chat_template(
        [*messages, {"role": "assistant", "content": answer}], tokenize=True, **_tools(tools),
        **TEMPLATE_KWARGS))
    if full[: len(prompt)] == prompt:
        rest = full[len(prompt):]
    else:
        rest = _after_generation_suffix(tokenizer, prompt, full, answer)
    if end_id not in rest:
        raise DistillError("The chat template does not end the assistant turn with the end token.")
    answer_ids = rest[: rest.index(end_id) + 1]
    return Example(input_ids=prompt + answer_ids, labels=[IGNORE] * len(prompt) + answer_ids)


def _after_generation_suffix(tokenizer: Any, prompt: list[int], full: list[int],
                             answer: str) -> list[int]:
    """The answer's tokens and what follows them, where the generation prompt ends in something
    an answer in the history does not carry (Gemma 4 opens an empty thought channel before the
    answer when thinking is off, and drops it from past turns): the template must render the
    answer itself alike, right after where the two renderings part."""
    common = next((i for i, (a, b) in enumerate(zip(prompt, full, strict=False)) if a != b),
                  min(len(prompt), len(full)))
    answer_ids = _ids(tokenizer(answer, add_special_tokens=False))
    rest = full[common:]
    if rest[: len(answer_ids)] != answer_ids:
        raise DistillError("The chat template renders the prompt differently with and without the "
                           "answer; training and inference would disagree. Use another template.")
    return rest


# -- the one student renderer: the task's prompt through the student's chat template ------------
def takes_tools(tokenizer: Any) -> bool:
    """Does the tokenizer's chat template render tools (`apply_chat_template(tools=...)`)?"""
    template = getattr(tokenizer, "chat_template", None)
    return isinstance(template, str) and "tools" in template


def template_tools(tokenizer: Any, task: Any) -> list[dict] | None:
    """The tools the student's chat template renders for `task` (tool calling, where its
    `task.tool_format` allows and the template takes tools), or None: the task's own prompt
    carries what the student needs."""
    tools = task.chat_tools()
    if tools is None:
        return None
    if takes_tools(tokenizer):
        return tools
    if task.template_required:
        raise DistillError("task.tool_format is 'template', but this student's chat template has "
                           "no tool format. Set task.tool_format to 'json' (or 'auto').")
    return None


def student_prompt(tokenizer: Any, task: Any, input: str) -> list[int]:
    """THE student prompt's tokens, for training, evaluation and the GGUF alike."""
    if (tools := template_tools(tokenizer, task)) is not None:
        return prompt_ids(tokenizer, task.template_messages(input), tools)
    return prompt_ids(tokenizer, task.student_messages(input))


def student_example(tokenizer: Any, task: Any, input: str, output: str, end_id: int) -> Example:
    """A training example with THE student prompt, the answer in the format it is asked for."""
    if (tools := template_tools(tokenizer, task)) is not None:
        return render_example(tokenizer, task.template_messages(input),
                              task.template_answer(output), end_id, tools)
    return render_example(tokenizer, task.student_messages(input), output, end_id)


def student_system(tokenizer: Any, task: Any) -> str:
    """The system message as the student sees it (the Modelfile's SYSTEM): with tools rendered
    by a Qwen2.5-style template, the system turn that template writes around them."""
    if (tools := template_tools(tokenizer, task)) is None:
        return next(m["content"] for m in task.student_messages("x") if m["role"] == "system")
    text = tokenizer.apply_chat_template(task.template_messages("x"), tools=tools, tokenize=False,
                                         **TEMPLATE_KWARGS)
    start, end = "<|im_start|>system\n", "<|im_end|>"
    if start not in text:
        raise DistillError("The student's chat template renders tools, but not in a Qwen2.5 system "
                           "turn, which the Modelfile's template needs. Set task.tool_format to "
                           "'json'.")
    return text.split(start, 1)[1].split(end, 1)[0]


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
