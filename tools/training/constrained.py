"""Constrained decoding: the answer is the task's choice (a classifier's label) the model finds
most likely, each choice scored as the sum of its tokens' log-probabilities after the prompt,
the end-of-turn token included, exactly as training renders an answer.

    answers = hf_choose(model, tokenizer, task, inputs)        # a transformers model
    answers = gguf_choose(llm, tokenizer, task, inputs)        # a llama_cpp.Llama, logits_all=True

Free generation can answer something that is not a label; ranking cannot, and it costs one
forward pass per input and choice, whatever the answer's length.
"""

from __future__ import annotations

from typing import Any

from slm_distill.tools.training.students import end_of_turn_id
from slm_distill.tools.training.training_data import prompt_ids, render_example


def choice_ids(tokenizer: Any, messages: list[dict], choices: list[str]) -> tuple[list[int],
                                                                                list[list[int]]]:
    """The prompt's tokens and each choice's answer tokens, as training renders them."""
    end_id = end_of_turn_id(tokenizer)
    prompt = prompt_ids(tokenizer, messages)
    answers = [render_example(tokenizer, messages, choice, end_id).input_ids[len(prompt):]
               for choice in choices]
    return prompt, answers


def _best(choices: list[str], scores: list[float]) -> str:
    return choices[max(range(len(choices)), key=lambda i: (scores[i], -i))]


def hf_choose(model: Any, tokenizer: Any, task: Any, inputs: list[str]) -> list[str]:
    """The most likely choice for each input: one batch per input, the prompt followed by each
    choice (right-padded), logits kept only where a choice's tokens are predicted."""
    import torch

    choices = task.choices()
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out = []
    try:
        for text in inputs:
            prompt, answers = choice_ids(tokenizer, task.student_messages(text), choices)
            width = max(len(a) for a in answers)
            ids = [prompt + a + [pad_id] * (width - len(a)) for a in answers]
            mask = [[1] * (len(prompt) + len(a)) + [0] * (width - len(a)) for a in answers]
            keep = torch.arange(len(prompt) - 1, len(prompt) - 1 + width, device=device)
            with torch.no_grad():
                logits = model(input_ids=torch.tensor(ids, device=device),
                               attention_mask=torch.tensor(mask, device=device),
                               logits_to_keep=keep).logits.float()
            logprobs = torch.log_softmax(logits, dim=-1)
            scores = [float(sum(logprobs[i, j, token] for j, token in enumerate(a)))
                      for i, a in enumerate(answers)]
            out.append(_best(choices, scores))
    finally:
        model.train(was_training)
    return out


def gguf_choose(llm: Any, tokenizer: Any, task: Any, inputs: list[str]) -> list[str]:
    """The same ranking in llama.cpp: the prompt and each choice evaluated afresh, the choice's
    log-probabilities read from the logits of every position (`logits_all=True`)."""
    import numpy as np

    choices = task.choices()
    out = []
    for text in inputs:
        prompt, answers = choice_ids(tokenizer, task.student_messages(text), choices)
        scores = []
        for answer in answers:
            llm.reset()
            llm.eval(prompt + answer)
            rows = np.asarray(llm.scores[len(prompt) - 1 : len(prompt) - 1 + len(answer)],
                              dtype=np.float64)
            rows -= rows.max(axis=1, keepdims=True)
            logprobs = rows - np.log(np.exp(rows).sum(axis=1, keepdims=True))
            scores.append(float(sum(logprobs[j, token] for j, token in enumerate(answer))))
        out.append(_best(choices, scores))
    return out
