"""Greedy generation with a transformers model, through the task's student prompt.

    answers = generate_answers(model, tokenizer, task, questions, max_new_tokens=256)
    answers = student_answers(model, tokenizer, task, questions, decoding="constrained")

Prompts of similar length (left-padded) decode together, a row leaves its batch the step it
writes the end-of-turn token or reaches max_new_tokens (its cache entries go with it), and the
next prompts join the batch as rows leave, so no step computes a token for a finished answer and
every step decodes a nearly full batch. (transformers' `generate` keeps decoding finished rows
until the batch's longest answer ends: 4,272 decode slots for 1,923 answer tokens on the demo's
64 test inputs; bench/eval_decoding.py.) The same path serves evaluations during training.
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
                     max_new_tokens: int = 256, batch_size: int = 32,
                     stats: DecodeStats | None = None) -> list[str]:
    """Greedy answers, each stopping at the end-of-turn token."""
    end_id = end_of_turn_id(tokenizer)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else end_id
    prompts = [student_prompt(tokenizer, task, q) for q in inputs]
    outputs = greedy_decode(model, prompts, end_id=end_id, pad_id=pad_id,
                            max_new_tokens=max_new_tokens, batch_size=batch_size, stats=stats)
    return [task.extract(tokenizer.decode(out, skip_special_tokens=True)) for out in outputs]


def greedy_decode(model: Any, prompts: list[list[int]], *, end_id: int, pad_id: int,
                  max_new_tokens: int, batch_size: int = 32,
                  stats: DecodeStats | None = None) -> list[list[int]]:
    """Each prompt's greedy continuation up to (without) `end_id`, at most `max_new_tokens`.
    Prompts are taken shortest first; a row leaves the batch as it finishes, and once a quarter
    of the batch is free the next prompts join it (their caches left-padded to the batch's), so
    every step decodes a nearly full batch. Models whose cache cannot be merged that way
    (sliding-window layers) decode batch after batch, rows leaving as they finish."""
    import torch

    stats = stats if stats is not None else DecodeStats()
    if max_new_tokens <= 0:
        return [[] for _ in prompts]
    queue = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))[::-1]  # pop(): shortest
    out: list[list[int]] = [[] for _ in prompts]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            while queue:
                batch = _Batch(model, end_id, pad_id, max_new_tokens, stats)
                batch.join([(i, prompts[i]) for i in _take(queue, batch_size)])
                while batch.rows:
                    for i, tokens in batch.step():
                        out[i] = tokens
                    free = batch_size - len(batch.rows)
                    if queue and batch.rows and free >= max(1, batch_size // 4) and batch.mergeable:
                        batch.join([(i, prompts[i]) for i in _take(queue, free)])
    finally:
        model.train(was_training)
    return out


def _take(queue: list[int], n: int) -> list[int]:
    return [queue.pop() for _ in range(min(n, len(queue)))]


class _Batch:
    """Rows decoding together: their cache, attention mask, positions and next-token logits.
    Positions and masks are the ones transformers' `generate` makes for left-padded rows, so a
    row's answer is the one it gives."""

    def __init__(self, model: Any, end_id: int, pad_id: int, max_new_tokens: int,
                 stats: DecodeStats) -> None:
        self.model, self.end_id, self.pad_id = model, end_id, pad_id
        self.max_new, self.stats = max_new_tokens, stats
        self.name = _cache_argument(model)
        self.device = next(model.parameters()).device
        self.rows: list[int] = []  # prompt indexes, in cache order
        self.made: dict[int, list[int]] = {}
        self.cache: Any = None
        self.mask = self.last = self.logits = None

    @property
    def mergeable(self) -> bool:
        """Can new rows join (every cache layer a plain, growing one)?"""
        from transformers.cache_utils import DynamicLayer

        layers = getattr(self.cache, "layers", None)
        return bool(layers) and all(type(layer) is DynamicLayer for layer in layers)

    def join(self, prompts: list[tuple[int, list[int]]]) -> None:
        """Prefill `prompts` (left-padded among themselves) and add them to the batch."""
        import torch

        width = max(len(p) for _, p in prompts)
        ids = torch.tensor([[self.pad_id] * (width - len(p)) + p for _, p in prompts],
                           device=self.device)
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for _, p in prompts],
                            device=self.device)
        positions = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 1)
        result = self.model(input_ids=ids, attention_mask=mask, position_ids=positions,
                            use_cache=True, logits_to_keep=1)
        cache = getattr(result, self.name)
        if self.cache is None:
            self.cache, self.mask, self.last, self.logits = cache, mask, positions[:, -1:], result.logits
        else:
            self._merge(cache, mask)
            self.last = torch.cat([self.last, positions[:, -1:]])
            self.logits = torch.cat([self.logits, result.logits])
        for i, _ in prompts:
            self.rows.append(i)
            self.made[i] = []

    def _merge(self, cache: Any, mask: Any) -> None:
        """Append another cache's rows, left-padding whichever is shorter."""
        import torch
        import torch.nn.functional as F

        grow_old, grow_new = max(0, mask.shape[1] - self.mask.shape[1]), max(
            0, self.mask.shape[1] - mask.shape[1])
        for old, new in zip(self.cache.layers, cache.layers, strict=True):
            old.keys = torch.cat([F.pad(old.keys, (0, 0, grow_old, 0)),
                                  F.pad(new.keys, (0, 0, grow_new, 0))])
            old.values = torch.cat([F.pad(old.values, (0, 0, grow_old, 0)),
                                    F.pad(new.values, (0, 0, grow_new, 0))])
        self.mask = torch.cat([F.pad(self.mask, (grow_old, 0)), F.pad(mask, (grow_new, 0))])

    def step(self) -> list[tuple[int, list[int]]]:
        """Choose every row's next token; finished rows leave (returned with their tokens); the
        rest compute their next logits."""
        import torch

        chosen = self.logits[:, -1].argmax(-1)
        stay, finished = [], []
        for j, token in enumerate(chosen.tolist()):
            row = self.rows[j]
            self.stats.slots += 1
            if token == self.end_id:
                self.stats.ends += 1
                finished.append(row)
                continue
            self.made[row].append(token)
            self.stats.tokens += 1
            if len(self.made[row]) < self.max_new:
                stay.append(j)
            else:
                finished.append(row)
        done = [(row, self.made.pop(row)) for row in finished]
        if not stay:
            self.rows = []
            return done
        if len(stay) < len(self.rows):  # finished rows leave, with their cache entries
            keep = torch.tensor(stay, device=self.device)
            self.cache.batch_select_indices(keep)
            self.mask, self.last, chosen = self.mask[keep], self.last[keep], chosen[keep]
            self.rows = [self.rows[j] for j in stay]
            self._trim()
        self.mask = torch.cat([self.mask, self.mask.new_ones((len(self.rows), 1))], dim=-1)
        self.last = self.last + 1
        result = self.model(input_ids=chosen[:, None], attention_mask=self.mask,
                            position_ids=self.last, use_cache=True, logits_to_keep=1,
                            **{self.name: self.cache})
        self.cache, self.logits = getattr(result, self.name), result.logits
        return done

    def _trim(self) -> None:
        """Drop the leading columns no remaining row attends to (left by rows that left)."""
        if not self.mergeable:
            return
        lead = int((self.mask.sum(0) == 0).int().cumprod(0).sum())
        if lead >= 16:
            for layer in self.cache.layers:
                layer.keys, layer.values = layer.keys[:, :, lead:], layer.values[:, :, lead:]
            self.mask = self.mask[:, lead:]


def _cache_argument(model: Any) -> str:
    """What the model's forward calls its key/value cache: `cache` from transformers 5.25 on,
    `past_key_values` before (both in and out)."""
    import inspect

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "cache" if "cache" in inspect.signature(base.forward).parameters else "past_key_values"


def student_answers(model: Any, tokenizer: Any, task: Any, inputs: list[str], *, decoding: str,
                    max_new_tokens: int = 256) -> list[str]:
    """Answers in one decoding mode: `free` generation, or `constrained` to the task's choices."""
    if decoding == "constrained":
        from slm_distill.tools.training.constrained import hf_choose

        return hf_choose(model, tokenizer, task, inputs)
    return generate_answers(model, tokenizer, task, inputs, max_new_tokens=max_new_tokens)
