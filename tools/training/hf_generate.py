"""Greedy generation with a transformers model, through the task's student prompt.

    answers = generate_answers(model, tokenizer, task, questions, max_new_tokens=256)
    answers = student_answers(model, tokenizer, task, questions, decoding="constrained")

Batches of prompts of similar length (left-padded) decode together, and a row leaves its batch
the step it writes the end-of-turn token or reaches max_new_tokens: its cache entries go with it,
so no step computes a token for a finished answer. (transformers' `generate` keeps decoding
finished rows until the batch's longest answer ends: on the example's 64 test inputs that was
5,120 decode slots for 2,010 answer tokens.) The same path serves evaluations during training.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from slm_distill.tools.training.students import end_of_turn_id
from slm_distill.tools.training.training_data import student_prompt


@dataclass
class DecodeStats:
    """What a decoding computed: `slots` are the rows of every decoding step (one token each),
    `tokens` the answers' tokens, `ends` the end-of-turn tokens that closed them."""

    slots: int = 0
    tokens: int = 0
    ends: int = 0


def generate_answers(model: Any, tokenizer: Any, task: Any, inputs: list[str], *,
                     max_new_tokens: int = 256, batch_size: int = 16,
                     stats: DecodeStats | None = None) -> list[str]:
    """Greedy answers, each stopping at the end-of-turn token."""
    end_id = end_of_turn_id(tokenizer)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else end_id
    prompts = [student_prompt(tokenizer, task, q) for q in inputs]
    outputs = greedy_decode(model, prompts, end_id=end_id, pad_id=pad_id,
                            max_new_tokens=max_new_tokens, batch_size=batch_size, stats=stats)
    return [task.extract(tokenizer.decode(out, skip_special_tokens=True)) for out in outputs]


def greedy_decode(model: Any, prompts: list[list[int]], *, end_id: int, pad_id: int,
                  max_new_tokens: int, batch_size: int = 16,
                  stats: DecodeStats | None = None) -> list[list[int]]:
    """Each prompt's greedy continuation up to (without) `end_id`, at most `max_new_tokens`."""
    import torch

    stats = stats if stats is not None else DecodeStats()
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))  # least prompt padding
    out: list[list[int]] = [[] for _ in prompts]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for start in range(0, len(order), batch_size):
                rows = order[start : start + batch_size]
                done = _decode_batch(model, [prompts[i] for i in rows], end_id, pad_id,
                                     max_new_tokens, stats)
                for i, tokens in zip(rows, done, strict=True):
                    out[i] = tokens
    finally:
        model.train(was_training)
    return out


def _decode_batch(model: Any, prompts: list[list[int]], end_id: int, pad_id: int,
                  max_new_tokens: int, stats: DecodeStats) -> list[list[int]]:
    """One left-padded batch; rows leave it as they finish. Positions and masks as transformers'
    `generate` makes them, so the answers are the ones it gives."""
    import torch

    device = next(model.parameters()).device
    width = max(len(p) for p in prompts)
    ids = torch.tensor([[pad_id] * (width - len(p)) + p for p in prompts], device=device)
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=device)
    positions = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 1)
    result = model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True,
                   logits_to_keep=1)
    cache, logits = result.past_key_values, result.logits
    last = positions[:, -1:]
    live = list(range(len(prompts)))  # the batch rows still decoding, in cache order
    out: list[list[int]] = [[] for _ in prompts]
    while live:
        chosen = logits[:, -1].argmax(-1)
        stay = []
        for j, token in enumerate(chosen.tolist()):
            stats.slots += 1
            if token == end_id:
                stats.ends += 1
                continue
            out[live[j]].append(token)
            stats.tokens += 1
            if len(out[live[j]]) < max_new_tokens:
                stay.append(j)
        if not stay:
            break
        if len(stay) < len(live):  # finished rows leave, with their cache entries
            keep = torch.tensor(stay, device=device)
            cache.batch_select_indices(keep)
            mask, last, chosen = mask[keep], last[keep], chosen[keep]
            live = [live[j] for j in stay]
        mask = torch.cat([mask, mask.new_ones((len(live), 1))], dim=-1)
        last = last + 1
        result = model(input_ids=chosen[:, None], attention_mask=mask, position_ids=last,
                       past_key_values=cache, use_cache=True, logits_to_keep=1)
        cache, logits = result.past_key_values, result.logits
    return out


def student_answers(model: Any, tokenizer: Any, task: Any, inputs: list[str], *, decoding: str,
                    max_new_tokens: int = 256) -> list[str]:
    """Answers in one decoding mode: `free` generation, or `constrained` to the task's choices."""
    if decoding == "constrained":
        from slm_distill.tools.training.constrained import hf_choose

        return hf_choose(model, tokenizer, task, inputs)
    return generate_answers(model, tokenizer, task, inputs, max_new_tokens=max_new_tokens)
