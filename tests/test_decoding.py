"""Evaluation decoding: rows leave their batch as they finish and new ones join, and the answers
are the ones transformers' own `generate` gives (the evaluation's scores with them)."""

from __future__ import annotations

import pytest

from bench.eval_decoding import before as generate_before  # transformers' generate, batched
from tests.conftest import clone_project, tiny_training

pytestmark = pytest.mark.slow  # trains a scratch student


def test_decoding_without_finished_rows_gives_generates_answers_and_scores(generated_project,
                                                                            tmp_path):
    from slm_distill.tools.train_student import train_student
    from slm_distill.tools.training.hf_generate import DecodeStats, generate_answers
    from slm_distill.tools.training.students import load_pretrained

    project = clone_project(generated_project, tmp_path)
    tiny_training(project, max_steps=150, eval_steps=150, batch_size=8)
    train_student(project)
    model, tokenizer = load_pretrained(project.path("runs", "student", "merged"))
    seeds = project.split()[1]
    inputs = [s.input for s in seeds]
    task = project.task()
    try:
        before, slots_before, _ = generate_before(model, tokenizer, task, inputs, 48)
        stats = DecodeStats()
        after = generate_answers(model, tokenizer, task, inputs, max_new_tokens=48, stats=stats)
        assert after == before and any(a.strip() for a in after)
        # small batches: rows join and leave many times over, the caches merged and trimmed
        assert generate_answers(model, tokenizer, task, inputs, max_new_tokens=48,
                                batch_size=4) == before
        scores = [[task.score(a, s.output).correct for a, s in zip(run, seeds, strict=True)]
                  for run in (before, after)]
        assert scores[0] == scores[1]
    finally:
        task.close()
    # every decoding step computes a token that is kept or ends its answer: nothing more
    assert stats.slots == stats.tokens + stats.ends and stats.ends <= len(inputs)
    assert stats.slots < slots_before


def test_a_row_that_reaches_max_new_tokens_leaves_like_one_that_ends(generated_project):
    """Answers cut at max_new_tokens keep exactly that many tokens; the others end with the
    end-of-turn token; both leave the batch."""
    from slm_distill.tools.training.hf_generate import DecodeStats, greedy_decode
    from slm_distill.tools.training.students import build_scratch, end_of_turn_id

    model, tokenizer = build_scratch("scratch:tiny")
    end = end_of_turn_id(tokenizer)
    prompts = [tokenizer("How many albums?")["input_ids"], tokenizer("Hi")["input_ids"] * 3]
    stats = DecodeStats()
    out = greedy_decode(model, prompts, end_id=end, pad_id=tokenizer.pad_token_id,
                        max_new_tokens=5, stats=stats)
    assert all(len(o) <= 5 and end not in o for o in out)
    assert stats.slots == stats.tokens + stats.ends
    assert stats.tokens == sum(len(o) for o in out)
    assert greedy_decode(model, prompts, end_id=end, pad_id=tokenizer.pad_token_id,
                         max_new_tokens=0) == [[], []]
