"""Training throughput: packing + answer-only logits vs padded batches vs TRL's SFTTrainer.

Same model (a fresh scratch student), same pairs, same number of optimizer steps; reports real
(non-padding) training tokens per second for each, and the ratios, measured in one run. Not a
test: run it by hand.

    .venv/bin/python bench/train_throughput.py --project demo-project --student scratch:small --steps 8
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def _pairs(project_dir: Path, limit: int) -> list[dict]:
    rows = [json.loads(line) for line in (project_dir / "data" / "train.jsonl").open()]
    return rows[:limit]


def _ours(project, student: str, rows: list[dict], steps: int, packing: bool,
          loss_vocab: str) -> float:
    from datasets import Dataset
    from transformers import TrainingArguments

    from slm_distill.tools.training.students import build_scratch, end_of_turn_id
    from slm_distill.tools.training.trainer import DistillTrainer
    from slm_distill.tools.training.training_data import PackingCollator, PaddingCollator, render_example

    model, tok = build_scratch(student)
    task = project.task()
    end = end_of_turn_id(tok)
    examples = [vars(render_example(tok, task.student_messages(r["input"]), r["output"], end))
                for r in rows]
    args = TrainingArguments(output_dir="/tmp/bench-ours", per_device_train_batch_size=8,
                             max_steps=steps, learning_rate=1e-3, use_cpu=True, report_to="none",
                             save_strategy="no", eval_strategy="no", remove_unused_columns=False,
                             disable_tqdm=True, logging_steps=steps)
    candidates = sorted({t for e in examples for t in e["labels"] if t != -100})
    trainer = DistillTrainer(
        model=model, args=args, train_dataset=Dataset.from_list(examples),
        data_collator=PackingCollator() if packing else PaddingCollator(tok.pad_token_id),
        task=task, tok=tok, eval_pairs=[], max_new_tokens=8,
        candidate_ids=candidates if loss_vocab == "answers" else None)
    real = sum(len(e["input_ids"]) for e in examples[: steps * 8])
    started = time.perf_counter()
    trainer.train()
    task.close()
    return real / (time.perf_counter() - started)


def _trl(project, student: str, rows: list[dict], steps: int) -> float:
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    from slm_distill.tools.training.students import build_scratch

    model, tok = build_scratch(student)
    task = project.task()
    data = [{"messages": [*task.student_messages(r["input"]),
                          {"role": "assistant", "content": r["output"]}]} for r in rows]
    real = sum(len(tok.apply_chat_template(d["messages"], tokenize=True)["input_ids"])
               for d in data[: steps * 8])
    config = SFTConfig(output_dir="/tmp/bench-trl", max_steps=steps, use_cpu=True, bf16=False,
                       gradient_checkpointing=False, report_to="none", save_strategy="no",
                       disable_tqdm=True, logging_steps=steps, per_device_train_batch_size=8)
    trainer = SFTTrainer(model=model, args=config, train_dataset=Dataset.from_list(data),
                         processing_class=tok)
    started = time.perf_counter()
    trainer.train()
    task.close()
    return real / (time.perf_counter() - started)


def main() -> None:
    from slm_distill.tools.workspace.project import Project

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--project", type=Path, default=Path("demo-project"))
    parser.add_argument("--student", default="scratch:small")
    parser.add_argument("--steps", type=int, default=8)
    args = parser.parse_args()
    project = Project.load(args.project)
    rows = _pairs(args.project, args.steps * 8 + 8)
    results = {
        "packed, answer-only logits": _ours(project, args.student, rows, args.steps, True, "full"),
        "packed, answer-vocab softmax": _ours(project, args.student, rows, args.steps, True,
                                              "answers"),
        "padded batches, full logits": _ours(project, args.student, rows, args.steps, False, "full"),
        "TRL SFTTrainer, defaults": _trl(project, args.student, rows, args.steps),
    }
    base = results["TRL SFTTrainer, defaults"]
    print(f"{args.student}, {args.steps} steps of 8 examples, CPU threads: "
          f"{__import__('torch').get_num_threads()}")
    for name, tps in results.items():
        print(f"  {name:<30} {tps:8.0f} tokens/s   {tps / base:5.2f}x TRL")


if __name__ == "__main__":
    main()
