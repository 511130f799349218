"""`ProjectConfig`: everything `distill.yaml` holds, each field with its default and why.

Defaults follow the distillation method this project implements: validate the teacher on 20% of the
seeds with a 0.80 gate, generate 1,000-10,000 validated pairs, then LoRA (r=16, alpha=32, dropout
0.05 on q,k,v,o) at lr 2e-5 for 3-5 epochs, warmup 5%, cosine decay, weight decay 0.01, batch 8 x
gradient accumulation 4.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

DEFAULT_TEACHER = "anthropic:claude-sonnet-4-5"
DEFAULT_STUDENT = "Qwen/Qwen2.5-0.5B-Instruct"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class Text2SQLConfig(_Section):
    """Text2SQL: questions about one database, answered with one SQL query in its engine's dialect."""

    name: Literal["text2sql"] = Field("text2sql", description="Task type.")
    engine: Literal["duckdb", "sqlite", "postgres"] = Field(
        "duckdb", description="The database engine the model's SQL runs on; its dialect is the "
        "one the teacher is told, sqlglot parses and every query is executed in.")
    db: str | None = Field(None, description="DuckDB or SQLite database file, relative to the "
                           "project directory.")
    db_url: str | None = Field(None, description="PostgreSQL: a libpq URL "
                               "(postgresql://USER@HOST:PORT/DBNAME), without its password.")
    password_env: str | None = Field(
        None, description="PostgreSQL: the environment variable holding the password (default: "
        "libpq's own PGPASSWORD or ~/.pgpass).", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    comparator: Literal["default", "spider"] = Field(
        "default", description="How execution accuracy compares results: default (see the "
        "skill's metrics reference) or spider (the Spider test-suite comparator's rules, for "
        "numbers comparable with published Spider results).")
    schema_in_student_prompt: bool = Field(
        True,
        description="Put the schema in the student's prompt. For one fixed database a small student "
        "can learn it implicitly; the teacher's prompt always carries the schema.",
    )
    sample_rows: int = Field(3, ge=0, le=20, description="Sample rows per table shown in prompts.")
    row_cap: int = Field(10_000, ge=1, description="Most rows fetched from any query.")
    timeout_s: float = Field(10.0, gt=0, description="Seconds before a query is interrupted.")

    @field_validator("db_url")
    @classmethod
    def _no_password(cls, url: str | None) -> str | None:
        from urllib.parse import urlsplit

        if url is None:
            return None
        try:
            parts = urlsplit(url)
        except ValueError as exc:
            raise ValueError(f"not a PostgreSQL URL ({exc})") from None
        if parts.scheme not in ("postgresql", "postgres"):
            raise ValueError("a PostgreSQL URL starts with postgresql://; give one like postgresql://USER@HOST:5432/DBNAME")
        if parts.password is not None:
            raise ValueError("the URL holds a password; keep passwords out of distill.yaml: set "
                             "PGPASSWORD or task.password_env instead")
        return url


class ClassificationConfig(_Section):
    """Classification: a text gets one label (or, multi-label, a set of labels) from a fixed set."""

    name: Literal["classification"] = Field("classification", description="Task type.")
    labels: list[str] = Field(
        default_factory=list, description="The allowed labels (at least two once seeds are added; "
        "when empty, the first seeds' outputs set them).")
    multi_label: bool = Field(False, description="An answer is a set of labels, not one.")
    label_balance: Literal["seeds", "uniform"] = Field(
        "seeds", description="Generation keeps each label's share of pairs as in the seeds, or "
        "the same for every label.")

    @field_validator("labels")
    @classmethod
    def _distinct(cls, labels: list[str]) -> list[str]:
        cleaned = [" ".join(label.split()) for label in labels]
        if any(not label or len(label) > 100 for label in cleaned):
            raise ValueError("labels must be 1-100 characters")
        if len({label.casefold() for label in cleaned}) != len(cleaned):
            raise ValueError("labels must differ (case and spaces aside)")
        return cleaned


class ExtractionConfig(_Section):
    """Extraction: a text gets one JSON object, valid against the project's JSON Schema."""

    name: Literal["extraction"] = Field("extraction", description="Task type.")
    schema_file: str = Field(
        "output_schema.json", max_length=1_000,
        description="The JSON Schema (Draft 2020-12) of the answers, relative to the project "
        "directory; init writes it there.")


class ToolCallingConfig(_Section):
    """Tool calling: a request gets the call of one of the project's tools (or none, or several
    made together), its arguments valid against that tool's JSON Schema."""

    name: Literal["tool_calling"] = Field("tool_calling", description="Task type.")
    tools_file: str = Field(
        "tools.json", max_length=1_000,
        description="The tools (OpenAI-style: name, description, JSON Schema parameters), "
        "relative to the project directory; init writes it there.")
    tools_in_student_prompt: bool = Field(
        True, description="List the tools in the student's prompt. For one fixed set of tools a "
        "small student can learn them implicitly (a scratch student cannot use a long constant "
        "prefix, and it is most of every example's tokens); the teacher's prompt always carries "
        "them.")


    tool_format: Literal["auto", "template", "json"] = Field(
        "auto", description="How the student sees the tools and writes its calls. template: its "
        "chat template renders the tools (Qwen2.5 and Llama-3.x templates take them) and the "
        "answers are in its tool-call form (Qwen2.5: <tool_call> blocks); json: one line a tool "
        "in the prompt, the answer a JSON call; auto: template where the student's chat template "
        "takes tools and the tools are in its prompt, else json.")


class TextGenerationConfig(_Section):
    """Generation: an input gets free text (a summary, a rewrite, a reply), scored by ROUGE, chrF
    and BLEU against the reference and, with a judge configured, by the judge."""

    name: Literal["generation"] = Field("generation", description="Task type.")
    instruction: str = Field(
        "Write the output the examples show for the input.", min_length=1, max_length=2_000,
        description="What the model does, in a sentence (\"Summarise the support ticket in one "
        "sentence.\"): the teacher's and the student's prompts both carry it.")
    rubric_file: str = Field(
        "rubric.md", max_length=1_000,
        description="What a good answer is, for the judge, relative to the project directory; "
        "init writes it there (the user's rubric, or the default one).")
    max_chars: int = Field(1_000, ge=1, le=100_000,
                           description="Longest answer a pair may have, in characters.")
    must_match: str | None = Field(
        None, max_length=1_000, description="A regular expression every answer must match "
        "(re.search), e.g. '^[^\\n]+$' for one line; None: any text.")
    rouge_pass: float = Field(
        0.5, gt=0, le=1, description="Without a judge, an answer counts as right when its ROUGE-L "
        "F1 against the reference reaches this.")

    @field_validator("must_match")
    @classmethod
    def _regex(cls, pattern: str | None) -> str | None:
        import re

        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"not a regular expression ({exc})") from None
        return pattern


TaskConfig = Annotated[Text2SQLConfig | ClassificationConfig | ExtractionConfig | ToolCallingConfig
                       | TextGenerationConfig, Field(discriminator="name")]
TASK_CONFIGS = {"text2sql": Text2SQLConfig, "classification": ClassificationConfig,
                "extraction": ExtractionConfig, "tool_calling": ToolCallingConfig,
                "generation": TextGenerationConfig}


class GateOverride(_Section):
    reason: str = Field(description="Why the user chose to go on below the gate.")
    accuracy: float = Field(description="Teacher accuracy at the time of the override.")
    teacher: str = Field(description="Teacher spec the override applies to.")
    at: datetime = Field(description="When the override was given.")


class GateConfig(_Section):
    threshold: float = Field(0.80, ge=0, le=1, description="Teacher accuracy needed to generate.")
    override: GateOverride | None = Field(
        None, description="Set only by an explicit user override; recorded for the audit trail."
    )


class JudgeConfig(_Section):
    """The LLM judge of free-text answers (generation). It is checked like the teacher: on the
    seeds it must score the references high and damaged answers low, or generation stops."""

    spec: str | None = Field(None, max_length=500, description="Judge spec (any teacher spec, "
                             "e.g. anthropic:claude-sonnet-4-5); None: no judge, ROUGE-L decides.")
    mode: Literal["score", "pass_fail"] = Field(
        "score", description="score: 1-5 with a one-line reason; pass_fail: pass or fail.")
    pass_score: int = Field(4, ge=1, le=5, description="A 1-5 score from here up is a pass.")
    gate: float = Field(0.80, ge=0, le=1, description="Share of the judge's verdicts on the seeds "
                        "(references high, damaged answers low) that must be right to generate.")
    veto_below: int | None = Field(
        None, ge=1, le=5, description="Reject generated pairs whose answer the judge scores below "
        "this (None: the judge does not veto pairs).")
    pairwise: bool = Field(True, description="Evaluation also asks the judge which of the "
                           "student's and the teacher's answers is better, in both orders.")
    override: GateOverride | None = Field(
        None, description="Set only by an explicit user override; recorded for the audit trail.")

    @property
    def passing(self) -> int:
        """The lowest grade that passes: pass_fail verdicts are read as 5 (pass) or 1 (fail)."""
        return 5 if self.mode == "pass_fail" else self.pass_score

    @field_validator("spec")
    @classmethod
    def _judge_spec(cls, spec: str | None) -> str | None:
        from slm_distill.tools.errors import UsageError
        from slm_distill.tools.teachers import parse_spec

        if spec is not None:
            try:
                parse_spec(spec)
            except UsageError as exc:
                raise ValueError(exc.render()) from None
        return spec


class SplitConfig(_Section):
    validation_fraction: float = Field(
        0.20, gt=0, lt=1, description="Seeds used to validate the teacher; the rest are the test set."
    )
    seed: int = Field(0, description="Seed of the deterministic, difficulty-stratified split.")


class GenerationConfig(_Section):
    n_pairs: int = Field(1000, ge=1, description="Pairs to keep (the method: 1,000-10,000).")
    pairs_per_call: int = Field(10, ge=1, le=100, description="Pairs asked for in one call.")
    augment_fraction: float = Field(
        0.3, ge=0, le=1,
        description="Share of calls that augment an example (paraphrase, entity swap, complexity).",
    )
    samples: int = Field(
        1, ge=1, le=15,
        description="Self-consistency: answers per new input; kept only if a majority agree.",
    )
    temperature: float = Field(0.9, ge=0, le=2, description="Temperature for proposing pairs.")
    answer_temperature: float = Field(0.7, ge=0, le=2, description="Temperature of re-answers.")
    max_tokens: int = Field(4096, ge=64, description="Max output tokens per teacher call.")
    concurrency: Annotated[int, Field(ge=1, le=256)] | Literal["auto"] = Field(
        "auto", description="Teacher calls in flight at once. auto: by teacher, 16 for hosted "
        "APIs (anthropic, openai; a 429 backs off and retries), 8 for an OpenAI-compatible server "
        "on this machine and for python teachers, 2 for a model loaded in-process (llama-cpp, hf).")
    budget_usd: float | None = Field(
        None, ge=0, description="Stop cleanly once this many dollars were spent (None: no limit)."
    )
    dedup_threshold: float = Field(
        0.9, gt=0, le=1, description="Questions this similar (Jaccard of shingles) are duplicates."
    )
    leakage_threshold: float = Field(
        0.8, gt=0, le=1, description="Drop pairs this similar to any test-split seed."
    )
    val_fraction: float = Field(0.10, gt=0, lt=1, description="Share of pairs held for validation.")
    max_calls_factor: float = Field(
        4.0, ge=1, description="Give up after this many times the expected number of calls."
    )
    batch: bool = Field(False, description="Use the provider's batch API (anthropic) at batch prices.")


# What `auto` settings resolve to: (kind of student, method) -> learning rate
AUTO_LEARNING_RATES = {("pretrained", "lora"): 2e-5, ("pretrained", "full"): 1e-5,
                       ("scratch", "lora"): 2e-3, ("scratch", "full"): 2e-3}
# kind of student -> (epochs, gradient accumulation): a pretrained student adapts in a few passes
# of large batches (the method's 3-5 epochs); random weights learn from many small updates
AUTO_SCHEDULE = {"pretrained": (3.0, 4), "scratch": (10.0, 1)}
# device -> evaluations per run: evaluation generates answers, which costs most on CPUs
AUTO_EVALUATIONS = {"cpu": 4, "gpu": 10}


class TrainingConfig(_Section):
    method: Literal["auto", "lora", "full"] = Field(
        "auto", description="auto: LoRA for pretrained students, full for scratch students."
    )
    learning_rate: float | Literal["auto"] = Field(
        "auto", description="Peak learning rate. auto: 2e-5 for LoRA and 1e-5 for full "
        "fine-tuning of a pretrained student, 2e-3 for a scratch student (random weights).")
    epochs: Annotated[float, Field(gt=0, allow_inf_nan=False)] | Literal["auto"] = Field(
        "auto", description="Passes over the training pairs. auto: 3 for a pretrained student (the "
        "method: 3-5), 10 for a scratch student. training.max_steps, when set, decides instead.")
    lora_r: int = Field(16, ge=1, description="LoRA rank.")
    lora_alpha: int = Field(32, ge=1, description="LoRA alpha.")
    lora_dropout: float = Field(0.05, ge=0, lt=1, description="LoRA dropout.")
    lora_target_modules: list[str] = Field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"],
        description="Modules LoRA adapts.",
    )
    warmup_ratio: float = Field(0.05, ge=0, lt=1, description="Share of steps spent warming up.")
    lr_scheduler: Literal["cosine", "linear", "constant"] = Field("cosine", description="Decay.")
    weight_decay: float = Field(0.01, ge=0, description="AdamW weight decay.")
    batch_size: int = Field(8, ge=1, description="Examples per device step.")
    gradient_accumulation_steps: Annotated[int, Field(ge=1)] | Literal["auto"] = Field(
        "auto", description="Micro-batches per optimizer update. auto: 4 for a pretrained "
        "student, 1 for a scratch student (random weights learn from many small updates).")
    max_seq_length: int = Field(2048, ge=32, description="Longest training example, in tokens.")
    max_grad_norm: float = Field(1.0, gt=0, description="Gradient clipping.")
    activation_checkpointing: Literal["auto", "on", "off"] = Field(
        "auto", description="Recompute activations to save GPU memory. auto: on for students over "
        "1B parameters (a 0.5B student trains about 1.5x faster without it), never on the CPU.")
    max_steps: int | None = Field(None, ge=1, description="Stop after this many optimizer steps.")
    processes: int | None = Field(
        None, ge=1, le=64, description="Training processes. More than one starts the training "
        "job through accelerate launch (DDP, each process a share of every batch; on CPUs over "
        "gloo). None: one per GPU, or one.")
    accelerate_config: str | None = Field(
        None, description="An accelerate config file (written by `accelerate config`), relative "
        "to the project, for FSDP or DeepSpeed; it sets how the processes train.")
    max_minutes: float | None = Field(None, gt=0, description="Stop training after this long.")
    packing: bool = Field(True, description="Padding-free packed batches (no compute on padding).")
    eval_steps: Annotated[int, Field(ge=1)] | Literal["auto"] = Field(
        "auto", description="Evaluate by generating answers every N steps (and keep a checkpoint). "
        "auto: 4 evaluations over the run on a CPU, 10 on a GPU.")
    eval_samples: int = Field(64, ge=1, description="Validation pairs generated per evaluation.")
    early_stopping_patience: int | None = Field(
        4, ge=1, description="Stop after this many evaluations without improvement (None: never)."
    )
    max_new_tokens: int = Field(256, ge=8, description="Longest answer generated in evaluation.")
    logging_steps: int = Field(5, ge=1, description="Log loss every N steps.")
    seed: int = Field(0, description="Random seed (weights of scratch students, data order).")
    loss_vocab: Literal["auto", "full", "answers"] = Field(
        "auto", description="full: softmax over the whole vocabulary. answers: only over tokens that "
        "occur in training answers, a CPU speed-up for scratch students (the output layer is most of "
        "their cost). auto: answers for scratch students, full for pretrained ones."
    )
    soft_labels: bool = Field(
        False, description="Distil the teacher's token distributions too (needs an hf: teacher "
        "sharing the student's tokenizer)."
    )
    kd_alpha: float = Field(0.5, ge=0, le=1, description="Weight of the KL term (1-alpha: labels).")
    kd_temperature: float = Field(2.0, gt=0, description="Softmax temperature of the KL term.")

    def resolved(self, student: str) -> TrainingConfig:
        """This configuration with every `auto` setting chosen for `student`'s kind: a scratch
        student (random weights) trains fully at a high rate over the answers' vocabulary; a
        pretrained one with LoRA at the method's rate over the full vocabulary."""
        kind = "scratch" if student.startswith("scratch:") else "pretrained"
        method = self.method if self.method != "auto" else (
            "full" if kind == "scratch" else "lora")
        rate = (self.learning_rate if self.learning_rate != "auto"
                else AUTO_LEARNING_RATES[(kind, method)])
        vocab = self.loss_vocab if self.loss_vocab != "auto" else (
            "answers" if kind == "scratch" else "full")
        epochs, accumulation = AUTO_SCHEDULE[kind]
        return self.model_copy(update={
            "method": method, "learning_rate": rate, "loss_vocab": vocab,
            "epochs": epochs if self.epochs == "auto" else self.epochs,
            "gradient_accumulation_steps": accumulation if self.gradient_accumulation_steps == "auto"
            else self.gradient_accumulation_steps})

    def total_steps(self, examples: int, processes: int = 1) -> int:
        """Optimizer steps for `examples` training examples (a resolved configuration)."""
        if self.max_steps:
            return self.max_steps
        per_step = self.batch_size * int(self.gradient_accumulation_steps) * processes
        return max(1, math.ceil(math.ceil(examples / per_step) * float(self.epochs)))

    def evaluation_steps(self, total_steps: int, gpu: bool) -> int:
        """training.eval_steps, or what auto makes of it for a run of `total_steps` steps."""
        if self.eval_steps != "auto":
            return self.eval_steps
        return max(1, math.ceil(total_steps / AUTO_EVALUATIONS["gpu" if gpu else "cpu"]))


class EvaluationConfig(_Section):
    constrained: bool = Field(
        False, description="Classification: the student's answer is the label it finds most likely "
        "(each label ranked by its log-probability) instead of free generation; evaluation also "
        "scores the other way; the GGUF parity check and the evaluations during training (the "
        "best checkpoint) use this one.")
    deploy_margin: float = Field(
        0.05, ge=0, le=1, description="The evaluation's verdict is deploy when the student is "
        "within this much of the teacher on the primary metric (and above the base, with no red "
        "flag).")


class ProjectConfig(_Section):
    name: str = Field(description="Project name (defaults to the directory name); it names the "
                      "exported files, so at most 100 characters and no slashes.",
                      min_length=1, max_length=100, pattern=r"^[^/\\\x00]+$")
    task: TaskConfig = Field(default_factory=Text2SQLConfig)
    teacher: str = Field(DEFAULT_TEACHER, max_length=500,
                         description="Teacher spec, e.g. anthropic:claude-sonnet-4-5.")
    student: str = Field(DEFAULT_STUDENT, max_length=500,
                         description="Student: model id, local dir or scratch:tiny.")
    teacher_cache: Literal["rw", "replay", "off"] = Field(
        "rw",
        description="Teacher call cache (.cache/teacher.sqlite). rw: answer from the cache, record new "
        "calls (reruns never pay twice). replay: only recorded calls are answered and a call never "
        "made before is an error: reproduces a run offline and guarantees nothing is spent. off: no "
        "cache, every call goes to the teacher.",
    )
    gate: GateConfig = Field(default_factory=GateConfig)
    split: SplitConfig = Field(default_factory=SplitConfig)
    generation: GenerationConfig = Field(default_factory=GenerationConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    judge: JudgeConfig = Field(default_factory=JudgeConfig)

    @field_validator("teacher")
    @classmethod
    def _teacher_spec(cls, spec: str) -> str:
        from slm_distill.tools.errors import UsageError
        from slm_distill.tools.teachers import parse_spec

        try:
            parse_spec(spec)
        except UsageError as exc:
            raise ValueError(exc.render()) from None
        return spec
