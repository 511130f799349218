"""Training throughput: slm-distill's trainer against TRL's SFTTrainer at its best settings for
the device, on the same model, pairs and batch size.

Configurations:
- ours, packed rows, logits only at answer positions (full vocabulary);
- ours, packed rows, softmax over the answers' vocabulary (`loss_vocab: answers`);
- ours, padded batches, full logits (the plain recipe);
- TRL, packing (best-fit decreasing, padding-free rows) with completion-only loss;
- TRL, padding-free batches with completion-only loss.

What is counted: the non-padding tokens of the batches each trainer actually trained on (its
`training_step` inputs), after `--warmup` micro-batches, over the time from the first measured
micro-batch to the end of training. Configurations are interleaved: each round runs every one,
in an order that rotates from round to round; printed are the median tokens/s with the spread
over rounds, and each one's ratio to TRL's best. Not a test: run it by hand.

    .venv/bin/python bench/train_throughput.py --project demo-project --student scratch:small \\
        --steps 12 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _pairs(project_dir: Path, limit: int) -> list[dict]:
    rows = [json.loads(line) for line in (project_dir / "data" / "train.jsonl").open()]
    return rows[:limit]


def _real_tokens(inputs: dict) -> int:
    """Tokens that are not padding: a padded batch's attention mask, else (packed or
    padding-free rows) every token."""
    mask = inputs.get("attention_mask")
    return int(mask.sum()) if mask is not None else int(inputs["input_ids"].numel())


def measured(trainer: Any, warmup: int) -> float:
    """Train; tokens per second from the micro-batches after the first `warmup`."""
    real_step = trainer.training_step
    seen = {"micro": 0, "tokens": 0, "start": None}

    def step(model: Any, inputs: dict, *args: Any, **kwargs: Any) -> Any:
        seen["micro"] += 1
        if seen["micro"] == warmup + 1:
            seen["start"] = time.perf_counter()
        if seen["start"] is not None:
            seen["tokens"] += _real_tokens(inputs)
        return real_step(model, inputs, *args, **kwargs)

    trainer.training_step = step
    trainer.train()
    if seen["start"] is None:
        raise SystemExit(f"only {seen['micro']} micro-batches: raise --steps above --warmup")
    return seen["tokens"] / (time.perf_counter() - seen["start"])


def ours(project: Any, student: str, rows: list[dict], steps: int, warmup: int, *, packing: bool,
         loss_vocab: str) -> float:
    from datasets import Dataset
    from transformers import TrainingArguments

    from slm_distill.tools.training.students import build_scratch, end_of_turn_id
    from slm_distill.tools.training.trainer import DistillTrainer
    from slm_distill.tools.training.training_data import (
        PackingCollator,
        PaddingCollator,
        student_example,
    )

    model, tok = build_scratch(student)
    task = project.task()
    end = end_of_turn_id(tok)
    examples = [vars(student_example(tok, task, r["input"], r["output"], end)) for r in rows]
    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(output_dir=out, per_device_train_batch_size=8, max_steps=steps,
                                 learning_rate=1e-3, use_cpu=True, report_to="none",
                                 save_strategy="no", eval_strategy="no",
                                 remove_unused_columns=False, disable_tqdm=True,
                                 logging_steps=steps, seed=0, data_seed=0)
        candidates = sorted({t for e in examples for t in e["labels"] if t != -100})
        trainer = DistillTrainer(
            model=model, args=args, train_dataset=Dataset.from_list(examples),
            data_collator=PackingCollator() if packing else PaddingCollator(tok.pad_token_id),
            task=task, tok=tok, eval_pairs=[], max_new_tokens=8,
            candidate_ids=candidates if loss_vocab == "answers" else None)
        try:
            return measured(trainer, warmup)
        finally:
            task.close()


def trl(project: Any, student: str, rows: list[dict], steps: int, warmup: int, *,
        packing: bool) -> float:
    """TRL 1.16's best CPU settings: conversational prompt-completion data (the same chat
    template renders it) with completion-only loss, and packing or padding-free batches."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    from slm_distill.tools.training.students import build_scratch

    model, tok = build_scratch(student)
    task = project.task()
    data = [{"prompt": task.student_messages(r["input"]),
             "completion": [{"role": "assistant", "content": r["output"]}]} for r in rows]
    with tempfile.TemporaryDirectory() as out:
        config = SFTConfig(output_dir=out, max_steps=steps, use_cpu=True, bf16=False,
                           gradient_checkpointing=False, report_to="none", save_strategy="no",
                           disable_tqdm=True, logging_steps=steps, per_device_train_batch_size=8,
                           learning_rate=1e-3, completion_only_loss=True, packing=packing,
                           padding_free=not packing, seed=0, data_seed=0,
                           **({} if packing else {"max_length": None}))  # (TRL's requirement)
        trainer = SFTTrainer(model=model, args=config, train_dataset=Dataset.from_list(data),
                             processing_class=tok)
        try:
            return measured(trainer, warmup)
        finally:
            task.close()


def main() -> None:
    from slm_distill.tools.workspace.project import Project

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--project", type=Path, default=Path("demo-project"))
    parser.add_argument("--student", default="scratch:small")
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    project = Project.load(args.project)
    rows = _pairs(args.project, 2000)
    runs: dict[str, Callable[[], float]] = {
        "ours: packed, answer-only logits": lambda: ours(
            project, args.student, rows, args.steps, args.warmup, packing=True, loss_vocab="full"),
        "ours: packed, answer-vocab softmax": lambda: ours(
            project, args.student, rows, args.steps, args.warmup, packing=True,
            loss_vocab="answers"),
        "ours: padded, full logits": lambda: ours(
            project, args.student, rows, args.steps, args.warmup, packing=False, loss_vocab="full"),
        "TRL: packing, completion-only": lambda: trl(
            project, args.student, rows, args.steps, args.warmup, packing=True),
        "TRL: padding-free, completion-only": lambda: trl(
            project, args.student, rows, args.steps, args.warmup, packing=False),
    }
    seen: dict[str, list[float]] = {name: [] for name in runs}
    names = list(runs)
    for r in range(args.rounds):
        for name in names[r % len(names):] + names[: r % len(names)]:
            seen[name].append(runs[name]())
    best_trl = max(statistics.median(seen[n]) for n in names if n.startswith("TRL"))
    import torch

    print(f"{args.student}, {args.steps} steps of 8 examples ({args.warmup} warm-up), "
          f"{args.rounds} rounds, CPU threads: {torch.get_num_threads()}")
    for name in names:
        tps = statistics.median(seen[name])
        print(f"  {name:<36} {tps:8.0f} tokens/s (rounds {min(seen[name]):.0f}-"
              f"{max(seen[name]):.0f})  {tps / best_trl:5.2f}x TRL's best")


if __name__ == "__main__":
    main()
