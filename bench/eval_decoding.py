"""Evaluation decoding on a trained project's test split: answers generated now (batches of 32;
a row leaves its batch when its answer ends, and the next prompts join once a quarter of the
batch is free) against before (transformers' `generate` on left-padded batches of
16, sorted by prompt length, every row decoded until the batch's longest answer ends) and a plain
loop of `generate` one input at a time in input order.

For each: wall time (median of the rounds, the three alternating) and decode slots per answer
token (each decoding step computes one token per row still in the batch; an answer's tokens are
what it keeps, without the end-of-turn token that closes it, which every way must also compute);
also whether all three give the same answers and scores.
Not a test: run it by hand on a trained project (e.g. `make demo`'s demo-project).

    .venv/bin/python bench/eval_decoding.py --project demo-project --rounds 3
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path


def before(model, tokenizer, task, inputs, max_new_tokens, batch_size=16):
    """(answers, slots, answer tokens): the decoding as it was."""
    import torch

    from slm_distill.tools.training.students import end_of_turn_id
    from slm_distill.tools.training.training_data import student_prompt

    end_id, pad_id = end_of_turn_id(tokenizer), tokenizer.pad_token_id
    prompts = [student_prompt(tokenizer, task, q) for q in inputs]
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    answers, slots, tokens = {}, 0, 0
    model.eval()
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        width = max(len(prompts[i]) for i in rows)
        ids = [[pad_id] * (width - len(prompts[i])) + prompts[i] for i in rows]
        mask = [[0] * (width - len(prompts[i])) + [1] * len(prompts[i]) for i in rows]
        with torch.no_grad():
            made = model.generate(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask),
                                  max_new_tokens=max_new_tokens, do_sample=False,
                                  eos_token_id=end_id, pad_token_id=pad_id)
        slots += (made.shape[1] - width) * len(rows)
        for i, row in zip(rows, made[:, width:].tolist(), strict=True):
            row = row[: row.index(end_id)] if end_id in row else row
            tokens += len(row)
            answers[i] = task.extract(tokenizer.decode(row, skip_special_tokens=True))
    return [answers[i] for i in range(len(inputs))], slots, tokens


def one_at_a_time(model, tokenizer, task, inputs, max_new_tokens):
    return before(model, tokenizer, task, inputs, max_new_tokens, batch_size=1)


def now(model, tokenizer, task, inputs, max_new_tokens):
    from slm_distill.tools.training.hf_generate import DecodeStats, generate_answers

    stats = DecodeStats()
    answers = generate_answers(model, tokenizer, task, inputs, max_new_tokens=max_new_tokens,
                               stats=stats)
    return answers, stats.slots, stats.tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--project", type=Path, default=Path("demo-project"))
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    import torch

    from slm_distill.tools.training.students import load_pretrained
    from slm_distill.tools.workspace.project import Project

    project = Project.load(args.project.resolve())
    model, tokenizer = load_pretrained(project.path("runs", "student", "merged"))
    seeds = project.split()[1]
    inputs = [s.input for s in seeds]
    max_new = project.config.training.max_new_tokens
    ways = {"before (generate, batches of 16)": before, "generate one at a time": one_at_a_time,
            "now (rows leave and join, 32)": now}
    times: dict[str, list[float]] = {name: [] for name in ways}
    found: dict[str, tuple] = {}
    task = project.task()
    try:
        for r in range(args.rounds):
            names = list(ways)
            for name in names[r % len(names):] + names[: r % len(names)]:
                started = time.perf_counter()
                found[name] = ways[name](model, tokenizer, task, inputs, max_new)
                times[name].append(time.perf_counter() - started)
        scores = {name: sum(task.score(a, s.output).correct for a, s in zip(f[0], seeds,
                                                                             strict=True))
                  for name, f in found.items()}
    finally:
        task.close()
    base = statistics.median(times["before (generate, batches of 16)"])
    print(f"{len(inputs)} test inputs, max_new_tokens {max_new}, {args.rounds} rounds, "
          f"{torch.get_num_threads()} torch threads")
    for name, (_, slots, tokens) in found.items():
        t = statistics.median(times[name])
        print(f"  {name:<34} {t:6.2f} s (rounds {min(times[name]):.2f}-{max(times[name]):.2f}) "
              f"{base / t:4.2f}x before; {slots:>6} decode slots for {tokens} answer tokens "
              f"(their end tokens not counted): {slots / tokens:.2f} slots per answer token; "
              f"{scores[name]}/{len(inputs)} correct")
    same = len({tuple(f[0]) for f in found.values()}) == 1
    print(f"  same answers from all three: {same}")


if __name__ == "__main__":
    main()
