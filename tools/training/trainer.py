"""The training loop's pieces on top of transformers' Trainer.

`DistillTrainer` adds to Trainer: a loss computed from logits only where labels exist (with a
151,936-token vocabulary the output layer dominates a small model's cost, and most tokens are
prompt), an optional soft-label term (KL to a local teacher's distribution at temperature T, times
T²), and an `evaluate` that generates answers for validation pairs and scores them with the task,
so the best checkpoint and early stopping follow the task's score, not the loss.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from transformers import Trainer, TrainerCallback

from slm_distill.tools.training.hf_generate import student_answers

Emit = Callable[[dict], None]


class DistillTrainer(Trainer):
    def __init__(self, *args: Any, task: Any, tok: Any, eval_pairs: list, max_new_tokens: int,
                 teacher_model: Any = None, kd_alpha: float = 0.5, kd_temperature: float = 2.0,
                 candidate_ids: list[int] | None = None, decoding: str = "free",
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.task, self.tok, self.eval_pairs = task, tok, eval_pairs
        self.max_new_tokens = max_new_tokens
        self.decoding = decoding  # the evaluation's: best checkpoints follow what is measured
        self.teacher_model = teacher_model
        self.kd_alpha, self.kd_temperature = kd_alpha, kd_temperature
        self.tokens_seen = 0
        self.last_kd: float | None = None
        self.candidates = None
        if candidate_ids is not None:
            ids = torch.tensor(sorted(set(candidate_ids)))
            position = torch.full((int(ids.max()) + 1,), -1, dtype=torch.long)
            position[ids] = torch.arange(len(ids))
            self.candidates = (ids, position)
        # compute_loss normalises by the tokens of the whole accumulated batch itself.
        self.model_accepts_loss_kwargs = True

    def compute_loss(self, model: Any, inputs: dict, return_outputs: bool = False,
                     num_items_in_batch: Any = None) -> Any:
        loss = self._loss(model, inputs, num_items_in_batch)
        if num_items_in_batch is not None and self.args.average_tokens_across_devices:
            # num_items_in_batch counts every process's tokens, and DDP averages the gradients
            # over the processes: scaled back, as transformers' own compute_loss does
            loss = loss * self.accelerator.num_processes
        return loss

    def _loss(self, model: Any, inputs: dict, num_items_in_batch: Any) -> Any:
        labels = inputs["labels"]
        self.tokens_seen += int(inputs["input_ids"].numel())
        if labels.shape[0] != 1:  # padded batches (benchmarks): the ordinary full-logits loss
            return self._full_loss(model, inputs, num_items_in_batch)
        keep = (labels[0, 1:] != -100).nonzero().squeeze(-1)
        targets = labels[0, keep + 1]
        forward = {k: v for k, v in inputs.items() if k != "labels"}
        # the answers-vocabulary loss reaches into the model's parts, which a DDP wrapper (several
        # processes) must not be bypassed for: there, the full vocabulary at answer positions
        if self.candidates is not None and not hasattr(model, "module"):
            return self._candidate_loss(model, forward, keep, targets, num_items_in_batch)
        logits = model(**forward, logits_to_keep=keep, use_cache=False).logits[0].float()
        denominator = num_items_in_batch if num_items_in_batch is not None else targets.numel()
        loss = F.cross_entropy(logits, targets, reduction="sum") / denominator
        if self.teacher_model is not None:
            kd = self._kd_sum(logits, forward, keep) / denominator
            self.last_kd = float(kd.detach()) * float(denominator) / max(1, targets.numel())
            loss = self.kd_alpha * kd + (1 - self.kd_alpha) * loss
        return loss

    def _candidate_loss(self, model: Any, forward: dict, keep: Any, targets: Any,
                        num_items_in_batch: Any) -> Any:
        """Softmax over the answer vocabulary only (training.loss_vocab = answers)."""
        ids, position = (t.to(targets.device) for t in self.candidates)
        hidden = model.get_decoder()(**forward, use_cache=False).last_hidden_state[0, keep]
        weight = model.get_output_embeddings().weight[ids]
        logits = F.linear(hidden, weight).float()
        if cap := getattr(model.config, "final_logit_softcapping", None):  # Gemma's, as in forward
            logits = torch.tanh(logits / cap) * cap
        denominator = num_items_in_batch if num_items_in_batch is not None else targets.numel()
        return F.cross_entropy(logits, position[targets], reduction="sum") / denominator

    def _full_loss(self, model: Any, inputs: dict, num_items_in_batch: Any) -> Any:
        labels = inputs["labels"]
        forward = {k: v for k, v in inputs.items() if k != "labels"}
        logits = model(**forward, use_cache=False).logits[:, :-1].float()
        targets = labels[:, 1:]
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1),
                               ignore_index=-100, reduction="sum")
        return loss / (num_items_in_batch or (targets != -100).sum())

    def _kd_sum(self, logits: Any, forward: dict, keep: Any) -> Any:
        """Hinton's soft-label term: T² · KL(p_teacher ‖ p_student) at temperature T, summed."""
        t = self.kd_temperature
        with torch.no_grad():
            teacher = self.teacher_model(**forward, logits_to_keep=keep, use_cache=False)
            teacher_logp = F.log_softmax(teacher.logits[0].float() / t, dim=-1)
        student_logp = F.log_softmax(logits / t, dim=-1)
        return F.kl_div(student_logp, teacher_logp, log_target=True, reduction="sum") * t * t

    def answers(self, inputs: list[str]) -> list[str]:
        """The student's answers as every evaluation during training makes them."""
        return student_answers(self.model, self.tok, self.task, inputs, decoding=self.decoding,
                               max_new_tokens=self.max_new_tokens)

    def evaluate(self, eval_dataset: Any = None, ignore_keys: Any = None,
                 metric_key_prefix: str = "eval") -> dict[str, float]:
        started = time.monotonic()
        answers = self.answers([p.input for p in self.eval_pairs])
        scores = [self.task.score(a, p.output) for a, p in zip(answers, self.eval_pairs, strict=True)]
        summary = self.task.summarise(scores)  # the task's metrics; the primary one decides
        metrics = {f"{metric_key_prefix}_score": summary[self.task.training_metric],
                   **{f"{metric_key_prefix}_{k}": v for k, v in summary.items()},
                   f"{metric_key_prefix}_seconds": time.monotonic() - started}
        self.log(metrics)
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control,
                                                         metrics)
        return metrics


ESTIMATE_AFTER = 3  # steps measured before the first time estimate


class EventsCallback(TrainerCallback):
    """Feeds job events: step, loss, tokens/s, ETA, eval score; stops at a time limit."""

    def __init__(self, emit: Emit, max_minutes: float | None) -> None:
        self.emit = emit
        self.max_seconds = max_minutes * 60 if max_minutes else None
        self.started = time.monotonic()
        self.trainer: DistillTrainer | None = None
        self.first_step: int | None = None
        self.evaluated = False  # the estimate is made again once the first evaluation is timed

    def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        self.started = time.monotonic()
        self.first_step = state.global_step
        self.emit({"type": "start", "step": state.global_step, "total_steps": state.max_steps,
                   "processes": args.world_size,
                   "message": f"training on {args.world_size} process"
                              f"{'es' if args.world_size > 1 else ''}"})

    def estimate(self, args: Any, state: Any, eval_seconds: float | None = None) -> dict:
        """The time the rest of training will take, from the steps measured so far (and the
        first evaluation's time, once there was one)."""
        done = state.global_step - (self.first_step or 0)
        per_step = max(0.0, time.monotonic() - self.started - (eval_seconds or 0)) / max(1, done)
        left = max(0, state.max_steps - state.global_step)
        evals = left // max(1, args.eval_steps) + 1
        seconds = left * per_step + (evals * eval_seconds if eval_seconds else 0)
        tokens = self.trainer.tokens_seen / max(1, done) if self.trainer is not None else None
        how = (f"{evals} evaluations at {eval_seconds:.0f} s" if eval_seconds else
               f"{evals} evaluations (timed at the first)")
        per = f" ({tokens:,.0f} tokens each)" if tokens else ""
        return {"type": "estimate", "step": state.global_step, "total_steps": state.max_steps,
                "estimate_s": seconds, "seconds_per_step": per_step,
                "message": f"estimate: {left} more steps at {per_step:.2f} s{per} and {how}: "
                           f"about {seconds / 60:.1f} min"}

    def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> Any:
        if state.global_step - (self.first_step or 0) == ESTIMATE_AFTER:
            self.emit(self.estimate(args, state))
        if self.max_seconds and time.monotonic() - self.started > self.max_seconds:
            control.should_training_stop = True
            control.should_evaluate = True
            control.should_save = True
            self.emit({"type": "time_limit", "step": state.global_step})
        return control

    def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None,
               **kw: Any) -> None:
        logs = logs or {}
        elapsed = time.monotonic() - self.started
        done = state.global_step - (self.first_step or 0)
        remaining = max(0, state.max_steps - state.global_step)
        if "eval_seconds" in logs and not self.evaluated:
            self.evaluated = True
            self.emit(self.estimate(args, state, float(logs["eval_seconds"])))
        event = {"type": "eval" if "eval_score" in logs else "log", "step": state.global_step,
                 "total_steps": state.max_steps, "epoch": state.epoch, "elapsed_s": elapsed,
                 "eta_s": elapsed / done * remaining if done else None, **logs}
        if self.trainer is not None:
            event["tokens_per_s"] = self.trainer.tokens_seen / elapsed if elapsed else None
            if self.trainer.last_kd is not None:
                event["kd"] = self.trainer.last_kd
        self.emit(event)
