"""train_student: fine-tune the student on the generated pairs (LoRA or full), as a job.

    report = train_student(project)         # runs/student/: adapter/, merged/, metrics.jsonl, PNG

What was chosen and why: transformers' `Trainer`, not TRL's `SFTTrainer`. Trainer gives what we
need and would otherwise hand-write: the cosine schedule with warmup, weight decay, gradient
accumulation and clipping, bf16 and gradient checkpointing on GPU, checkpoints and resume,
best-checkpoint selection, early stopping, and multi-GPU through accelerate. SFTTrainer adds chat
rendering and packing, but renders with its own code (we must use the task's one prompt renderer);
TRL 1.16's fused LM head scores only labelled positions on CUDA and XPU (Triton), but every
position on a CPU, where it also computes entropy and top-1 metrics for every token.
`DistillTrainer` (tools/training/trainer.py) computes logits only where labels exist on any
device, can restrict the softmax to the answers' vocabulary, adds the soft-label KL term, and
evaluates by generating answers and scoring them with the task. bench/train_throughput.py
compares it with SFTTrainer's best CPU settings, bench/gpu_qwen05b.py on a GPU.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field

from slm_distill.tools.actions import act
from slm_distill.tools.errors import UsageError, require
from slm_distill.tools.generate_pairs import Pair
from slm_distill.tools.reporting.reports import Provenance, Report, provenance, save_report
from slm_distill.tools.training.students import (
    end_of_turn_id,
    load_student,
    save_tokenizer,
)
from slm_distill.tools.training.timing import TrainEstimate, measurable, measure
from slm_distill.tools.training.training_data import student_example
from slm_distill.tools.workspace.fileio import read_jsonl_dicts, write_atomic
from slm_distill.tools.workspace.project import Project

RUN = "student"
SOFT_LABELS_OFF = act("set_config", key="training.soft_labels", value=False)


class TrainReport(Report):
    student: str
    method: str = Field(description="lora or full")
    run_dir: str
    train_examples: int
    skipped_too_long: int
    steps: int
    best_step: int | None
    best_score: float | None = Field(description="Best validation score (generated answers).")
    train_seconds: float
    tokens_per_s: float
    resumed_from: str | None
    init_from: str | None = Field(None, description="Earlier student this run started from.")
    files: dict[str, str]
    provenance: Provenance

    def _best(self) -> str:
        return (f"{self.best_score:.1%} at step {self.best_step}" if self.best_score is not None
                else "n/a")

    def summary(self) -> str:
        plot = f" Plot: {self.files['plot']}" if "plot" in self.files else ""
        return (f"Trained {self.steps} steps in {self.train_seconds:.0f}s ({self.tokens_per_s:.0f} "
                f"tokens/s); best validation score {self._best()}.{plot}")

    def markdown(self) -> str:
        r = self
        return "\n".join([
            "# Student training", "",
            f"Student `{r.student}`, {r.method} fine-tuning, {r.train_examples} examples "
            f"({r.skipped_too_long} skipped as too long), {r.steps} optimizer steps in "
            f"{r.train_seconds:.0f}s ({r.tokens_per_s:.0f} tokens/s).",
            f"Best validation score (generated answers, scored by the task): {r._best()}.",
            f"Resumed from: {r.resumed_from or 'no (fresh run)'}.", "",
            f"![loss and validation score]({Path(r.files['plot']).name})" if "plot" in r.files else "",
            "", "Files: " + ", ".join(f"`{v}`" for v in r.files.values()), "",
        ])


def training_pairs(project: Project, name: str) -> list[Pair]:
    """data/<name> (train.jsonl, val.jsonl); none at all is a UsageError that says to generate."""
    rows = read_jsonl_dicts(project.path("data", name))
    if not rows:
        raise UsageError(f"No pairs in data/{name}. Run {{fix}} before training.", fix=act("generate"))
    return [Pair.model_validate(r) for r in rows]


def _examples(project: Project, task: Any, tokenizer: Any, pairs: list[Pair]) -> tuple[list, int]:
    end_id = end_of_turn_id(tokenizer)
    limit = project.config.training.max_seq_length
    rendered = [student_example(tokenizer, task, p.input, p.output, end_id) for p in pairs]
    kept = [{"input_ids": e.input_ids, "labels": e.labels} for e in rendered
            if len(e.input_ids) <= limit]
    return kept, len(rendered) - len(kept)


def _answer_vocab(examples: list[dict]) -> list[int]:
    return sorted({t for e in examples for t in e["labels"] if t != -100})


def _wrap_lora(model: Any, cfg: Any) -> Any:
    peft = require("peft", "peft", "train")
    config = peft.LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                             target_modules=cfg.lora_target_modules, task_type="CAUSAL_LM")
    return peft.get_peft_model(model, config)


CHECKPOINTING_ABOVE = 1_000_000_000  # parameters; measured in bench/gpu_qwen05b.py


def _checkpointing(cfg: Any, model: Any, has_gpu: bool) -> bool:
    if not has_gpu or cfg.activation_checkpointing == "off":
        return False
    return cfg.activation_checkpointing == "on" or model.num_parameters() > CHECKPOINTING_ABOVE


def _arguments(cfg: Any, run_dir: Path, n_examples: int, has_gpu: bool, checkpointing: bool,
               processes: int | None = None) -> Any:
    import torch
    from transformers import TrainingArguments

    total = cfg.total_steps(n_examples, processes or int(os.environ.get("WORLD_SIZE", "1")))
    eval_steps = cfg.evaluation_steps(total, has_gpu)
    bf16 = has_gpu and torch.cuda.is_bf16_supported()
    return TrainingArguments(
        output_dir=str(run_dir / "checkpoints"), per_device_train_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        learning_rate=cfg.learning_rate, num_train_epochs=cfg.epochs, max_steps=total,
        lr_scheduler_type=cfg.lr_scheduler, warmup_steps=int(total * cfg.warmup_ratio),
        weight_decay=cfg.weight_decay, max_grad_norm=cfg.max_grad_norm,
        logging_steps=cfg.logging_steps, eval_strategy="steps", eval_steps=eval_steps,
        save_strategy="steps", save_steps=eval_steps, save_total_limit=2,
        load_best_model_at_end=True, metric_for_best_model="score", greater_is_better=True,
        bf16=bf16, activation_checkpointing=checkpointing, use_cpu=not has_gpu, report_to="none",
        remove_unused_columns=False, seed=cfg.seed, data_seed=cfg.seed, disable_tqdm=True,
        dataloader_pin_memory=has_gpu, optim="adamw_torch_fused" if has_gpu else "adamw_torch",
    )


def _teacher_model(project: Project, tokenizer: Any) -> Any:
    """The local teacher for soft labels: one whose backend `supports_logprobs` (`hf:`), on the
    student's tokenizer."""
    from slm_distill.tools.teachers import BACKENDS, parse_spec
    from slm_distill.tools.training.students import load_pretrained

    spec = parse_spec(project.config.teacher)
    if not BACKENDS[spec.backend]().supports_logprobs:
        raise UsageError("training.soft_labels needs a local teacher (hf:PATH) whose logits can be "
                         f"read; the teacher is {spec}. Turn soft labels off ({{fix}}) or change "
                         "the teacher.", fix=SOFT_LABELS_OFF)
    model, teacher_tok = load_pretrained(project.local(spec.model))
    if teacher_tok.get_vocab() != tokenizer.get_vocab():
        raise UsageError(f"The teacher {spec} and the student use different tokenizers; soft "
                         "labels need the same vocabulary. Turn them off: {fix}.",
                         fix=SOFT_LABELS_OFF)
    return model.eval()


@dataclass
class _Setup:
    """A run made ready to train: the trainer with its model, data and settings."""

    trainer: Any
    events: Any
    tokenizer: Any
    task: Any
    cfg: Any
    method: str
    examples: list[dict]
    skipped: int


def _setup(project: Project, run_dir: Path, *, init_from: Path | None, max_steps: int | None,
           emit: Any, pairs: list[Pair] | None, processes: int | None = None) -> _Setup:
    """The student, its training examples and the trainer; the task stays open (close it)."""
    import torch
    import transformers
    from datasets import Dataset
    from transformers import EarlyStoppingCallback, PrinterCallback

    from slm_distill.tools.evaluate import decoding_of
    from slm_distill.tools.training.trainer import DistillTrainer, EventsCallback
    from slm_distill.tools.training.training_data import PackingCollator, PaddingCollator

    transformers.utils.logging.set_verbosity_error()  # e.g. the tied lm_head "missing key" note
    transformers.utils.logging.disable_progress_bar()
    cfg = project.config.training.resolved(project.config.student)  # every `auto` chosen
    train_pairs = pairs if pairs is not None else training_pairs(project, "train.jsonl")
    val_pairs = training_pairs(project, "val.jsonl")
    has_gpu = torch.cuda.is_available()
    if init_from is not None:
        from slm_distill.tools.training.students import load_pretrained

        model, tokenizer = load_pretrained(str(init_from))
    else:
        model, tokenizer = load_student(project.local(project.config.student), seed=cfg.seed)
    if max_steps is not None:
        cfg = cfg.model_copy(update={"max_steps": max_steps})
    if cfg.method == "lora":
        model = _wrap_lora(model, cfg)
    task = project.task()
    try:
        examples, skipped = _examples(project, task, tokenizer, train_pairs)
        if not examples:
            raise UsageError(f"Every training example is longer than max_seq_length={cfg.max_seq_length}.")
        args = _arguments(cfg, run_dir, len(examples), has_gpu, _checkpointing(cfg, model, has_gpu),
                          processes)
        events = EventsCallback(emit, cfg.max_minutes)
        callbacks = [events]
        if cfg.early_stopping_patience:
            callbacks.append(EarlyStoppingCallback(cfg.early_stopping_patience))
        trainer = DistillTrainer(
            model=model, args=args, train_dataset=Dataset.from_list(examples),
            eval_dataset=Dataset.from_list(examples[:1]),
            data_collator=PackingCollator() if cfg.packing else PaddingCollator(tokenizer.pad_token_id),
            callbacks=callbacks, task=task, tok=tokenizer, eval_pairs=val_pairs[: cfg.eval_samples],
            max_new_tokens=cfg.max_new_tokens,
            teacher_model=_teacher_model(project, tokenizer) if cfg.soft_labels else None,
            kd_alpha=cfg.kd_alpha, kd_temperature=cfg.kd_temperature,
            candidate_ids=_answer_vocab(examples) if cfg.loss_vocab == "answers" else None,
            decoding=decoding_of(project, task),
        )
    except BaseException:
        task.close()
        raise
    events.trainer = trainer
    trainer.remove_callback(PrinterCallback)  # progress goes to job events, not stdout
    return _Setup(trainer, events, tokenizer, task, cfg, cfg.method, examples, skipped)


def _estimate(project: Project, setup: _Setup, done_steps: int,
              processes: int | None = None) -> TrainEstimate:
    args = setup.trainer.args
    return measure(setup.trainer, setup.examples, setup.cfg, total_steps=args.max_steps,
                   done_steps=done_steps, student=project.config.student, method=setup.method,
                   skipped=setup.skipped, processes=processes or args.world_size)


def estimate_training(project: Project, *, fresh: bool = False) -> TrainEstimate:
    """The dry run: how long training would take, measured here on a few of its batches (in one
    process; a run of several processes takes its share of every step), from the last checkpoint
    unless `fresh`; nothing is trained and nothing in the project is written."""
    import tempfile

    from slm_distill.tools.workspace.jobs import gpu_count, training_processes

    processes = training_processes(project, gpu_count())
    if processes > 1 and (sharding := _sharding(project)):
        raise UsageError(f"training.accelerate_config shards the model ({sharding}) across the "
                         "processes when training starts, so one process here cannot measure it; "
                         "the training job estimates its time after three steps.")
    with tempfile.TemporaryDirectory(prefix="distill-train-estimate-") as scratch:
        setup = _setup(project, Path(scratch), init_from=None, max_steps=None, emit=None,
                       pairs=None, processes=processes)
        try:
            last = None if fresh else _complete_checkpoint(project.path("runs", RUN, "checkpoints"))
            try:
                estimate = _estimate(project, setup, _step_of(last), processes)
                return estimate.model_copy(update={"fresh": fresh})
            except RuntimeError as exc:  # out of memory, most often
                raise UsageError(f"Measuring a few training steps failed: {str(exc)[:300]}. "
                                 "Training as configured would fail the same way: lower "
                                 "training.batch_size or training.max_seq_length.") from None
        finally:
            setup.task.close()


def _sharding(project: Project) -> str | None:
    """FSDP or DEEPSPEED where the accelerate config file sets it up, else None."""
    import yaml

    name = project.config.training.accelerate_config
    try:
        config = yaml.safe_load(project.path(name).read_text()) if name else None
    except (OSError, yaml.YAMLError):
        return None  # the launch itself says what is wrong with the file
    kind = str(config.get("distributed_type", "")).upper() if isinstance(config, dict) else ""
    return kind if kind in ("FSDP", "DEEPSPEED") else None


def _first_estimate(project: Project, setup: _Setup, done_steps: int) -> dict:
    """The training job's first event: the time estimate measured before the first step, or why
    there is none yet (a failed measurement never stops training)."""
    event = {"type": "estimate", "step": done_steps, "total_steps": setup.trainer.args.max_steps}
    if not measurable(setup.trainer):
        return {**event, "message": "no estimate before training (the model is placed on its "
                "devices when training starts); one follows after three steps"}
    try:
        estimate = _estimate(project, setup, done_steps)
    except Exception as exc:  # noqa: BLE001 - out of memory at a measured step, say
        return {**event, "message": f"no estimate before training ({type(exc).__name__}); one "
                "follows after three steps"}
    return {**event, "estimate_s": estimate.total_s, "seconds_per_step": estimate.seconds_per_step,
            "message": estimate.message}


def _step_of(checkpoint: str | None) -> int:
    return int(Path(checkpoint).name.removeprefix("checkpoint-")) if checkpoint else 0


def train_student(project: Project, *, run: str = RUN, resume: bool = True,
                  init_from: Path | None = None, max_steps: int | None = None,
                  report_name: str = "train", emit: Any = None,
                  pairs: list[Pair] | None = None) -> TrainReport:
    """Train into runs/<run>/. `init_from` starts from an earlier student's merged weights instead
    of the configured student (the improve loop retrains from the previous best); `pairs`
    replaces data/train.jsonl (the seed-only student trains on the seeds alone). The first event
    is the time estimate, measured on a few of the run's batches."""
    emit = emit or (lambda event: None)
    run_dir = project.path("runs", run)
    setup = _setup(project, run_dir, init_from=init_from, max_steps=max_steps, emit=emit,
                   pairs=pairs)
    trainer, method = setup.trainer, setup.method
    try:
        if not resume:
            shutil.rmtree(trainer.args.output_dir, ignore_errors=True)
        last = _complete_checkpoint(Path(trainer.args.output_dir)) if resume else None
        if trainer.is_world_process_zero():
            emit(_first_estimate(project, setup, _step_of(last)))
        started = time.monotonic()
        trainer.train(resume_from_checkpoint=last)
        seconds = time.monotonic() - started
        if not trainer.is_world_process_zero():  # other accelerate ranks leave saving to rank 0
            return None  # type: ignore[return-value]
        files = _save(project, run_dir, trainer, setup.tokenizer, method)
    finally:
        setup.task.close()
    state = trainer.state
    best_step = int(Path(state.best_model_checkpoint).name.split("-")[-1]) \
        if state.best_model_checkpoint else None
    report = TrainReport(
        student=project.config.student, method=method,
        run_dir=str(run_dir.relative_to(project.root)), train_examples=len(setup.examples),
        skipped_too_long=setup.skipped, steps=state.global_step,
        best_step=best_step, best_score=state.best_metric, train_seconds=seconds,
        tokens_per_s=trainer.tokens_seen / seconds if seconds else 0.0,
        resumed_from=Path(last).name if last else None, files=files,
        init_from=str(init_from.relative_to(project.root)) if init_from else None,
        provenance=provenance(project, [project.path("data", "train.jsonl"),
                                        project.path("data", "val.jsonl")]),
    )
    save_report(project, report_name, report)
    return report


def _complete_checkpoint(folder: Path) -> str | None:
    """The newest checkpoint that was written to the end (the trainer writes trainer_state.json
    last): a run killed while saving leaves a partial one, which is skipped."""
    if not folder.is_dir():
        return None
    found = [p for p in folder.glob("checkpoint-*") if p.name.removeprefix("checkpoint-").isdigit()]
    for path in sorted(found, key=lambda p: int(p.name.removeprefix("checkpoint-")), reverse=True):
        if (path / "trainer_state.json").is_file():
            return str(path)
    return None


def _save(project: Project, run_dir: Path, trainer: Any, tokenizer: Any, method: str) -> dict:
    from slm_distill.tools.reporting.plots import plot_training

    model = trainer.model
    files = {}
    if method == "lora":
        model.save_pretrained(str(run_dir / "adapter"))
        save_tokenizer(tokenizer, run_dir / "adapter")
        files["adapter"] = "adapter"
        model = model.merge_and_unload()
    model.save_pretrained(str(run_dir / "merged"))
    save_tokenizer(tokenizer, run_dir / "merged")
    files["merged"] = "merged"
    history = trainer.state.log_history
    write_atomic(run_dir / "metrics.jsonl", "".join(json.dumps(h) + "\n" for h in history))
    write_atomic(run_dir / "config.json", json.dumps({
        "student": project.config.student, "method": method,
        "training": project.config.training.model_dump(mode="json"),
        "task": project.config.task.model_dump(mode="json")}, indent=2))
    plot_training(history, run_dir / "training.png")
    files.update({"metrics": "metrics.jsonl", "config": "config.json", "plot": "training.png"})
    return {k: str((run_dir / v).relative_to(project.root)) for k, v in files.items()}


