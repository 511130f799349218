"""Label masking, the trained end-of-turn token, and padding-free packing."""

from __future__ import annotations

import pytest

from slm_distill.tools.training.students import build_scratch, end_of_turn_id, qwen2_tokenizer
from slm_distill.tools.training.training_data import IGNORE, PackingCollator, render_example

pytestmark = pytest.mark.slow  # tokenizers and forward passes: transformers and torch

MESSAGES = [{"role": "system", "content": "Translate."}, {"role": "user", "content": "How many?"}]


def test_only_the_answer_and_the_end_token_are_labelled():
    tok = qwen2_tokenizer()
    end = end_of_turn_id(tok)
    assert tok.convert_ids_to_tokens(end) == "<|im_end|>"
    ex = render_example(tok, MESSAGES, "SELECT count(*) FROM artists", end)
    labelled = [t for t in ex.labels if t != IGNORE]
    assert labelled, "an example with every label masked trains nothing"
    assert labelled[-1] == end and ex.input_ids[-1] == end
    assert tok.decode(labelled[:-1]) == "SELECT count(*) FROM artists"
    first = ex.labels.index(labelled[0])
    assert all(t == IGNORE for t in ex.labels[:first])
    prompt_text = tok.decode(ex.input_ids[:first])
    assert prompt_text.endswith("<|im_start|>assistant\n") and "How many?" in prompt_text


def test_every_generated_pair_has_labels_and_the_end_token(generated_project):
    from slm_distill.tools.train_student import _examples, training_pairs

    tok = qwen2_tokenizer()
    task = generated_project.task()
    try:
        examples, skipped = _examples(generated_project, task, tok,
                                      training_pairs(generated_project, "train.jsonl"))
    finally:
        task.close()
    end = end_of_turn_id(tok)
    assert skipped == 0 and len(examples) == 54
    for ex in examples:
        labels = [t for t in ex["labels"] if t != IGNORE]
        assert labels and labels[-1] == end


def test_packed_batch_equals_separate_forward_passes():
    import torch

    model, tok = build_scratch("scratch:tiny")
    model.eval()
    end = end_of_turn_id(tok)
    a = render_example(tok, MESSAGES, "SELECT 1", end)
    b = render_example(tok, [MESSAGES[0], {"role": "user", "content": "Other?"}], "SELECT 22", end)
    batch = PackingCollator()([vars(a), vars(b)])
    assert batch["input_ids"].shape == (1, len(a.input_ids) + len(b.input_ids))
    with torch.no_grad():
        packed = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"],
                       use_cache=False).logits[0]
        alone = model(input_ids=torch.tensor([b.input_ids]), use_cache=False).logits[0]
    assert torch.allclose(packed[len(a.input_ids):], alone, atol=1e-4)

