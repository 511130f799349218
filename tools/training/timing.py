"""How long training will take, measured before it starts: a few forward and backward passes on
the run's own batches (the weights do not change: no optimizer step) and the answers of a few
validation pairs, scaled to the run's steps and evaluations.

    estimate = measure(trainer, examples, cfg, total_steps=400, done_steps=0, device="cpu")
    estimate.message    # "400 steps at 0.81 s (1,420 tokens each) and 8 evaluations at 6 s: ..."

`distill train --dry-run` (MCP `train_student(dry_run=true)`) shows it without training, and a
training run says it first, then again from its own measured steps and first evaluation.
"""

from __future__ import annotations

import contextlib
import math
import random
import time
from typing import Any

from pydantic import BaseModel, Field

MEASURED_STEPS = 3  # micro-batches timed, after one that warms up
EVAL_SAMPLES_TIMED = 4  # validation answers timed, scaled to training.eval_samples


class TrainEstimate(BaseModel):
    student: str
    method: str = Field(description="lora or full")
    device: str = Field(description="cpu, or the GPU's name")
    examples: int = Field(description="Training examples (pairs that fit max_seq_length).")
    skipped_too_long: int
    steps: int = Field(description="Optimizer steps left to run.")
    done_steps: int = Field(0, description="Steps already trained: a run resumes from its last "
                            "checkpoint unless it starts over (fresh).")
    fresh: bool = Field(False, description="Estimated for a run that starts over.")
    examples_per_step: int = Field(description="batch size × gradient accumulation × processes")
    tokens_per_step: float = Field(description="Tokens per optimizer step in the measured batches.")
    seconds_per_step: float = Field(description="Measured forward and backward passes per step "
                                    "(the optimizer's update adds a little).")
    evaluations: int = Field(description="In-training evaluations (every training.eval_steps).")
    eval_samples: int
    seconds_per_evaluation: float = Field(description="Measured on a few validation pairs, "
                                          "scaled to eval_samples.")
    total_s: float = Field(description="steps × seconds_per_step + evaluations × "
                           "seconds_per_evaluation")

    @property
    def message(self) -> str:
        total = self.done_steps + self.steps
        if not self.steps:
            return f"nothing left to train: all {total} steps are done"
        resuming = (f"resuming at step {self.done_steps} of {total}, " if self.done_steps
                    else "")
        return (f"estimate before training: {resuming}{self.steps} steps at "
                f"{self.seconds_per_step:.2f} s ({self.tokens_per_step:,.0f} tokens each) and "
                f"{self.evaluations} evaluations at {self.seconds_per_evaluation:.0f} s: about "
                f"{_minutes(self.total_s)}")

    def summary(self) -> str:
        from slm_distill.tools.actions import say

        skipped = (f" ({self.skipped_too_long} skipped as longer than max_seq_length)"
                   if self.skipped_too_long else "")
        if not self.steps:
            after = (f"Nothing was trained or written. {say('train', fresh=True)} starts over; "
                     f"{say('train', fresh=True, dry_run=True)} estimates that.")
        elif self.done_steps:
            after = (f"Nothing was trained or written; {say('train')} resumes from the "
                     f"checkpoint at step {self.done_steps} ({say('train', fresh=True)} starts "
                     "over).")
        else:
            start = say("train", fresh=True) if self.fresh else say("train")
            after = f"Nothing was trained or written; {start} starts training."
        return (f"Training {self.student} ({self.method} fine-tuning, {self.device}) on "
                f"{self.examples} examples{skipped}, {self.examples_per_step} per step.\n"
                f"{self.message[0].upper()}{self.message[1:]}.\n{after}")


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def measurable(trainer: Any) -> bool:
    """Can the run be measured before it starts? Not where the trainer places the model itself
    when training begins (FSDP, DeepSpeed): the model is not on its device yet."""
    return bool(getattr(trainer, "place_model_on_device", True))


def measure(trainer: Any, examples: list[dict], cfg: Any, *, total_steps: int, done_steps: int,
            student: str, method: str, skipped: int, processes: int = 1) -> TrainEstimate:
    """Time MEASURED_STEPS micro-batches and a few validation answers with the trainer's own
    loss and decoding; the model's weights, gradients and token count are left as they were.
    Activations are recomputed as in training where the run checkpoints them."""
    per_step, tokens = _time_steps(trainer, examples, cfg)
    per_eval = _time_evaluation(trainer)
    steps = max(0, total_steps - done_steps)
    evaluations = math.ceil(steps / max(1, trainer.args.eval_steps))
    return TrainEstimate(
        student=student, method=method, device=_device(trainer.model), examples=len(examples),
        skipped_too_long=skipped, steps=steps, done_steps=min(done_steps, total_steps),
        examples_per_step=cfg.batch_size * cfg.gradient_accumulation_steps * processes,
        tokens_per_step=tokens * cfg.gradient_accumulation_steps * processes,
        seconds_per_step=per_step * cfg.gradient_accumulation_steps,
        evaluations=evaluations, eval_samples=len(trainer.eval_pairs),
        seconds_per_evaluation=per_eval, total_s=steps * per_step * cfg.gradient_accumulation_steps
        + evaluations * per_eval)


def _time_steps(trainer: Any, examples: list[dict], cfg: Any) -> tuple[float, float]:
    """(seconds, tokens) per micro-batch: forward and backward, no optimizer step."""
    import torch

    model, seen = trainer.model, trainer.tokens_seen
    rng = random.Random(cfg.seed)
    was_training = model.training
    enable = (getattr(model, "activation_checkpointing_enable", None)  # transformers' new name
              or getattr(model, "gradient_checkpointing_enable", None))
    if trainer.args.activation_checkpointing and enable is not None:
        enable()  # as training will (the trainer turns it on when it begins)
    model.train()
    times, tokens = [], []
    try:
        for i in range(MEASURED_STEPS + 1):
            batch = trainer.data_collator(rng.sample(examples, min(cfg.batch_size, len(examples))))
            batch = {k: v.to(trainer.args.device) for k, v in batch.items()}
            _sync(trainer)
            started = time.perf_counter()
            with _autocast(trainer):
                loss = trainer.compute_loss(model, batch)
            loss.backward()
            _sync(trainer)  # CUDA works asynchronously: wait for the backward pass to end
            if i:  # the first warms up
                times.append(time.perf_counter() - started)
                tokens.append(int(batch["input_ids"].numel()))
    finally:
        model.zero_grad(set_to_none=True)
        model.train(was_training)
        trainer.tokens_seen = seen
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    return sum(times) / len(times), sum(tokens) / len(tokens)


def _sync(trainer: Any) -> None:
    import torch

    if trainer.args.device.type == "cuda":
        torch.cuda.synchronize()


def _autocast(trainer: Any) -> Any:
    import torch

    if trainer.args.bf16:
        return torch.autocast(trainer.args.device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _time_evaluation(trainer: Any) -> float:
    """Seconds for one in-training evaluation: a few validation answers, scaled."""
    pairs = trainer.eval_pairs[:EVAL_SAMPLES_TIMED]
    if not pairs:
        return 0.0
    started = time.perf_counter()
    trainer.answers([p.input for p in pairs])
    return (time.perf_counter() - started) / len(pairs) * len(trainer.eval_pairs)


def _device(model: Any) -> str:
    import torch

    device = next(model.parameters()).device
    return torch.cuda.get_device_name(device) if device.type == "cuda" else device.type
