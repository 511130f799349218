"""Batched greedy generation with a transformers model, through the task's student prompt.

    answers = generate_answers(model, tokenizer, task, questions, max_new_tokens=256)
    answers = student_answers(model, tokenizer, task, questions, decoding="constrained")
"""

from __future__ import annotations

from typing import Any

from slm_distill.tools.training.students import end_of_turn_id
from slm_distill.tools.training.training_data import student_prompt


def generate_answers(model: Any, tokenizer: Any, task: Any, inputs: list[str], *,
                     max_new_tokens: int = 256, batch_size: int = 16) -> list[str]:
    """Greedy answers, left-padded batches, stopping at the end-of-turn token."""
    import torch

    end_id = end_of_turn_id(tokenizer)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else end_id
    was_training = model.training
    model.eval()
    prompts = [student_prompt(tokenizer, task, q) for q in inputs]
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))  # less padding
    results: dict[int, str] = {}
    device = next(model.parameters()).device
    try:
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            width = max(len(prompts[i]) for i in idx)
            ids = [[pad_id] * (width - len(prompts[i])) + prompts[i] for i in idx]
            mask = [[0] * (width - len(prompts[i])) + [1] * len(prompts[i]) for i in idx]
            with torch.no_grad():
                generated = model.generate(
                    input_ids=torch.tensor(ids, device=device),
                    attention_mask=torch.tensor(mask, device=device),
                    max_new_tokens=max_new_tokens, do_sample=False, eos_token_id=end_id,
                    pad_token_id=pad_id,
                )
            for row, i in zip(generated[:, width:].tolist(), idx, strict=True):
                if end_id in row:
                    row = row[: row.index(end_id)]
                results[i] = tokenizer.decode(row, skip_special_tokens=True)
    finally:
        model.train(was_training)
    return [task.extract(results[i]) for i in range(len(inputs))]


def student_answers(model: Any, tokenizer: Any, task: Any, inputs: list[str], *, decoding: str,
                    max_new_tokens: int = 256) -> list[str]:
    """Answers in one decoding mode: `free` generation, or `constrained` to the task's choices."""
    if decoding == "constrained":
        from slm_distill.tools.training.constrained import hf_choose

        return hf_choose(model, tokenizer, task, inputs)
    return generate_answers(model, tokenizer, task, inputs, max_new_tokens=max_new_tokens)
