"""train_student on scratch:tiny: full and LoRA, best checkpoint by generated-answer score,
resume after a kill, soft-label distillation, the job runner and the multi-GPU launch command."""

from __future__ import annotations

import json
import os
import signal
import sys
import time

import pytest

from slm_distill.tools.requests import TrainRequest
from slm_distill.tools.train_student import train_student
from slm_distill.tools.workspace.jobs import cancel_job, job_status, launch_command, list_jobs, start_job
from tests.conftest import clone_project, tiny_training

pytestmark = pytest.mark.slow


def test_full_training_writes_every_artifact(generated_project, tmp_path):
    project = clone_project(generated_project, tmp_path)
    events = []
    report = train_student(project, emit=events.append)
    assert report.method == "full" and report.steps == 6 and report.train_examples == 54
    run = project.path("runs", "student")
    for name in ("merged/config.json", "merged/model.safetensors", "merged/tokenizer_config.json",
                 "metrics.jsonl", "config.json", "training.png"):
        assert (run / name).is_file(), name
    assert project.report_path("train", "md").is_file()
    kinds = {e["type"] for e in events}
    assert {"start", "log", "eval"} <= kinds
    first = events[0]  # the time estimate, measured before the first step
    assert first["type"] == "estimate" and first["step"] == 0 and first["estimate_s"] > 0
    assert first["message"].startswith("estimate before training: 6 steps at")
    log = [e for e in events if e["type"] == "log" and "loss" in e]
    assert all(e["tokens_per_s"] > 0 and e["eta_s"] is not None for e in log)
    history = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    losses = [h["loss"] for h in history if "loss" in h]
    assert losses[-1] < losses[0]
    from slm_distill.tools.train_student import estimate_training

    done = estimate_training(project)  # a dry run now: the run would resume at its end
    assert (done.steps, done.done_steps, done.total_s) == (0, 6, 0)
    assert "Nothing left to train: all 6 steps are done" in done.summary()
    assert "`distill train --fresh` starts over" in done.summary()
    again = estimate_training(project, fresh=True)
    assert (again.steps, again.done_steps) == (6, 0) and again.total_s > 0
    assert "`distill train --fresh` starts training" in again.summary()


def test_a_dry_run_measures_the_time_and_trains_and_writes_nothing(generated_project, tmp_path,
                                                                    capsys):
    import hashlib

    from slm_distill.tools.cli import main

    project = clone_project(generated_project, tmp_path)
    before = {str(p): hashlib.sha256(p.read_bytes()).hexdigest()
              for p in project.root.rglob("*") if p.is_file()}
    main(["train", "--dry-run", "--project", str(project.root)])
    out = capsys.readouterr().out
    assert "Estimate before training: 6 steps at" in out and "54 examples" in out
    assert "about " in out and "Nothing was trained or written" in out
    after = {str(p): hashlib.sha256(p.read_bytes()).hexdigest()
             for p in project.root.rglob("*") if p.is_file()}
    assert after == before and not project.path("runs").exists()


def test_the_estimate_counts_the_processes_that_will_train(generated_project, tmp_path):
    from slm_distill.tools.train_student import estimate_training

    project = clone_project(generated_project, tmp_path)
    tiny_training(project, max_steps=None, epochs=2)
    one = estimate_training(project)
    project.config.training.processes = 2
    project.save()
    two = estimate_training(project)
    assert two.examples_per_step == 2 * one.examples_per_step == 2 * 4
    assert two.steps == -(-one.steps // 2)  # each step takes a batch from each process


def test_a_dry_run_under_fsdp_says_why_it_cannot_measure(generated_project, tmp_path):
    from slm_distill.tools.errors import UsageError
    from slm_distill.tools.train_student import estimate_training

    project = clone_project(generated_project, tmp_path)
    project.path("fsdp.yaml").write_text("distributed_type: FSDP\nnum_processes: 2\n")
    project.config.training.accelerate_config = "fsdp.yaml"
    project.config.training.processes = 2
    project.save()
    with pytest.raises(UsageError, match="shards the model \\(FSDP\\).*after three steps"):
        estimate_training(project)


def test_a_failed_estimate_never_stops_training(generated_project, tmp_path, monkeypatch):
    import slm_distill.tools.train_student as ts

    def out_of_memory(*args, **kwargs):
        raise RuntimeError("CUDA out of memory (planted)")

    monkeypatch.setattr(ts, "_estimate", out_of_memory)
    project = clone_project(generated_project, tmp_path)
    tiny_training(project, max_steps=2, eval_steps=2)
    events = []
    report = train_student(project, emit=events.append)
    assert report.steps == 2
    assert events[0]["type"] == "estimate" and "estimate_s" not in events[0]
    assert "no estimate before training (RuntimeError)" in events[0]["message"]


def test_lora_changes_adapter_weights_and_not_base_weights(generated_project, tmp_path, monkeypatch):
    import peft
    import torch

    import slm_distill.tools.train_student as ts

    project = clone_project(generated_project, tmp_path)
    tiny_training(project, method="lora", learning_rate=1e-2, loss_vocab="full", max_steps=3,
                  eval_steps=3)
    captured = {}
    real_wrap, real_save = peft.get_peft_model, ts._save

    def spy_wrap(model, config):
        wrapped = real_wrap(model, config)
        captured["before"] = {k: v.detach().clone() for k, v in wrapped.named_parameters()}
        return wrapped

    def spy_save(project, run_dir, trainer, tokenizer, method):
        captured["after"] = {k: v.detach().clone() for k, v in trainer.model.named_parameters()}
        captured["trainable"] = {k for k, v in trainer.model.named_parameters() if v.requires_grad}
        return real_save(project, run_dir, trainer, tokenizer, method)

    monkeypatch.setattr(peft, "get_peft_model", spy_wrap)
    monkeypatch.setattr(ts, "_save", spy_save)
    report = train_student(project)
    assert report.method == "lora"
    before, after = captured["before"], captured["after"]
    lora = [k for k in before if "lora_" in k]
    base = [k for k in before if "lora_" not in k]
    assert lora and base and set(before) == set(after)
    assert captured["trainable"] == set(lora)
    assert any(not torch.equal(before[k], after[k]) for k in lora if "lora_B" in k)
    assert all(torch.equal(before[k], after[k]) for k in base)
    assert project.path("runs", "student", "adapter", "adapter_config.json").is_file()
    assert project.path("runs", "student", "merged", "model.safetensors").is_file()


def test_best_checkpoint_follows_the_generated_answer_score(generated_project, tmp_path,
                                                            monkeypatch):
    """Eval 2 of 3 generates the gold answers (score 1.0), the others garbage: step 4 must win."""
    import torch

    import slm_distill.tools.training.trainer as trainer_module

    project = clone_project(generated_project, tmp_path)
    tiny_training(project, max_steps=6, eval_steps=2)
    calls = {"n": 0}
    gold = {}

    def scripted(model, tokenizer, task, inputs, **kw):
        calls["n"] += 1  # call 1 is the time estimate's, before training
        return [gold[q] if calls["n"] == 3 else "SELECT nonsense" for q in inputs]

    import slm_distill.tools.generate_pairs as gp
    from slm_distill.tools.workspace.fileio import read_jsonl_dicts

    for row in read_jsonl_dicts(project.path("data", "val.jsonl")):
        gold[gp.Pair.model_validate(row).input] = row["output"]
    monkeypatch.setattr(trainer_module, "student_answers", scripted)
    report = train_student(project)
    assert report.best_step == 4 and report.best_score == 1.0
    state = json.loads((project.path("runs/student/checkpoints/checkpoint-6/trainer_state.json"))
                       .read_text())
    assert state["best_model_checkpoint"].endswith("checkpoint-4")
    from safetensors.torch import load_file

    saved = load_file(str(project.path("runs/student/merged/model.safetensors")))
    best = load_file(str(project.path("runs/student/checkpoints/checkpoint-4/model.safetensors")))
    name = "model.layers.0.mlp.up_proj.weight"
    assert torch.equal(saved[name], best[name])


def test_evaluation_during_training_decodes_as_the_evaluation_does(generated_project, tmp_path,
                                                                  monkeypatch):
    """With evaluation.constrained on a task with choices, the checkpoints are chosen by
    constrained answers too: train_student hands the project's decoding mode to the trainer."""
    import slm_distill.tools.evaluate as evaluate_module
    import slm_distill.tools.training.trainer as trainer_module

    project = clone_project(generated_project, tmp_path)
    tiny_training(project, max_steps=2, eval_steps=2)
    seen = []
    real = trainer_module.student_answers

    def spy(model, tokenizer, task, inputs, *, decoding, **kw):
        seen.append(decoding)
        return real(model, tokenizer, task, inputs, decoding="free", **kw)

    monkeypatch.setattr(trainer_module, "student_answers", spy)
    train_student(project)
    assert seen and set(seen) == {"free"}  # Text2SQL has no choices
    seen.clear()
    monkeypatch.setattr(evaluate_module, "decoding_of", lambda project, task: "constrained")
    train_student(project, resume=False)
    assert seen and set(seen) == {"constrained"}


def _wait_for(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_resume_after_a_kill_continues_from_the_checkpoint(generated_project, tmp_path):
    project = clone_project(generated_project, tmp_path)
    tiny_training(project, max_steps=40, eval_steps=4)
    ckpt = project.path("runs", "student", "checkpoints", "checkpoint-4")
    job = start_job(project, "train", TrainRequest())
    try:
        assert _wait_for(lambda: (ckpt / "trainer_state.json").is_file(), 240), "no checkpoint"
    finally:
        os.killpg(job.pid, signal.SIGKILL)
    # the killed worker is noticed as soon as its process is gone
    assert _wait_for(lambda: job_status(project, job.id).status == "failed", 30)
    tiny_training(project, max_steps=8, eval_steps=4)
    events = []
    report = train_student(project, emit=events.append)
    assert report.resumed_from.startswith("checkpoint-")
    start = next(e for e in events if e["type"] == "start")
    assert start["step"] >= 4, "training restarted from step 0 instead of the checkpoint"
    assert report.steps == 8


def test_training_job_runs_detached_and_can_be_cancelled(generated_project, tmp_path):
    project = clone_project(generated_project, tmp_path)
    job = start_job(project, "train", TrainRequest())
    assert _wait_for(lambda: job_status(project, job.id).status in ("succeeded", "failed"), 300)
    done = job_status(project, job.id)
    assert done.status == "succeeded", (project.path("jobs", job.id, "log").read_text())
    assert done.result["steps"] == 6 and done.progress == 1.0 and "loss" in done.metrics
    tiny_training(project, max_steps=500)
    slow = start_job(project, "train", TrainRequest(fresh=True))
    assert _wait_for(lambda: job_status(project, slow.id).status == "running", 60)
    cancelled = cancel_job(project, slow.id)
    assert cancelled.status == "cancelled"
    assert [j.id for j in list_jobs(project)] == [job.id, slow.id]


def test_accelerate_launch_for_several_processes(generated_project, tmp_path):
    single = launch_command(generated_project, "0123456789abcdef", 1)
    assert single == [sys.executable, "-m", "slm_distill.tools.workspace.jobs", "run",
                      str(generated_project.root), "0123456789abcdef"]
    multi = launch_command(generated_project, "0123456789abcdef", 4)
    assert multi[:4] == [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu"]
    assert multi[-7:-5] == ["--num_processes", "4"] and multi[-5:] == single[1:]
    project = clone_project(generated_project, tmp_path)
    project.config.training.accelerate_config = "fsdp.yaml"
    fsdp = launch_command(project, "0123456789abcdef", 2)
    assert fsdp[3:5] == ["--config_file", str(project.path("fsdp.yaml"))]
    assert "--multi_gpu" not in fsdp


def _losses(project) -> list[tuple[int, float]]:
    lines = project.path("runs", "student", "metrics.jsonl").read_text().splitlines()
    return [(h["step"], h["loss"]) for h in map(json.loads, lines) if "loss" in h]


def test_two_cpu_processes_train_like_one_with_the_same_global_batch(generated_project,
                                                                     tmp_path):
    """training.processes = 2 starts the job through accelerate launch: two CPU processes over
    gloo, each with half of every batch. Their loss follows one process's with the same global
    batch (within 5% at every logged step), and a later run resumes from their checkpoint."""
    one = clone_project(generated_project, tmp_path / "one")  # (the answers-vocabulary loss is
    tiny_training(one, max_steps=8, eval_steps=4, batch_size=8, loss_vocab="full")  # 1 process)
    from slm_distill.tools.cli import main

    two = clone_project(generated_project, tmp_path / "two")
    tiny_training(two, max_steps=8, eval_steps=4, batch_size=4, loss_vocab="full")
    job = start_job(one, "train", TrainRequest(fresh=True))
    assert _wait_for(lambda: job_status(one, job.id).status not in ("running", "queued"), 600)
    assert job_status(one, job.id).status == "succeeded", job_status(one, job.id)
    # as the README says: the setting, then `distill train` (followed to its end)
    main(["config", "set", "training.processes", "2", "--project", str(two.root)])
    main(["train", "--fresh", "--project", str(two.root)])
    [job] = list_jobs(two)
    assert job.status == "succeeded", job
    log = two.path("jobs", job.id, "log").read_text()
    assert "training on 2 processes" in log, log[-2000:]
    single, double = _losses(one), _losses(two)
    assert [s for s, _ in single] == [s for s, _ in double]
    for (step, a), (_, b) in zip(single, double, strict=True):
        assert abs(a - b) <= 0.05 * a, (step, a, b)
    tiny_training(two, max_steps=12, eval_steps=4, batch_size=4, loss_vocab="full")
    report = train_student(two)
    assert report.resumed_from and report.resumed_from.startswith("checkpoint-8")
    assert report.steps == 12


def test_bad_job_ids_are_refused(generated_project):
    from slm_distill.tools.errors import UsageError

    for bad in ("../../etc", "abc", "0123456789abcdeg"):
        with pytest.raises(UsageError):
            job_status(generated_project, bad)


def test_soft_label_distillation_lowers_kl_to_the_teacher(generated_project, tmp_path):
    """A tiny teacher and a tiny student on the same Qwen2 tokenizer: the student's KL falls."""
    from slm_distill.tools.training.students import build_scratch

    teacher, tok = build_scratch("scratch:tiny", seed=123)
    teacher_dir = tmp_path / "teacher"
    teacher.save_pretrained(str(teacher_dir))
    tok.save_pretrained(str(teacher_dir))
    project = clone_project(generated_project, tmp_path)
    project.config.teacher = f"hf:{teacher_dir}"
    tiny_training(project, soft_labels=True, kd_alpha=1.0, kd_temperature=1.0, loss_vocab="full",
                  learning_rate=5e-3, max_steps=10, eval_steps=10)
    events = []
    train_student(project, emit=events.append)
    kl = [e["kd"] for e in events if e.get("kd") is not None]
    assert len(kl) >= 5
    assert kl[-1] < kl[0] * 0.8, kl


def test_activation_checkpointing_only_where_it_pays():
    from types import SimpleNamespace

    from slm_distill.tools.train_student import _checkpointing
    from slm_distill.tools.workspace.config import TrainingConfig

    def model(params: int) -> SimpleNamespace:
        return SimpleNamespace(num_parameters=lambda: params)

    auto, on, off = (TrainingConfig(activation_checkpointing=v) for v in ("auto", "on", "off"))
    assert not _checkpointing(auto, model(500_000_000), has_gpu=True)  # 0.5B: faster without
    assert _checkpointing(auto, model(3_000_000_000), has_gpu=True)
    assert _checkpointing(on, model(500_000_000), has_gpu=True)
    assert not _checkpointing(off, model(3_000_000_000), has_gpu=True)
    assert not _checkpointing(on, model(3_000_000_000), has_gpu=False)  # never on the CPU
