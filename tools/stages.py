"""One entry point per stage, called alike by the CLI, the MCP server and the job worker.

    with starting(project, "generate", GenerateRequest(n=500)) as begun:
        begun.answer          # what the checks answered (a dry run's estimate, an improve plan)
        if begun.go:
            report = run(project, "generate", request, emit)         # inline, or:
            job = start_job(project, "generate", request, begun.lock)  # in a worker

`starting` takes the project's writer lock (not for a dry run), then `prepare` does what must
happen before work starts (recording a gate override, checking the gate and the inputs) and may
answer on its own. `run` does the work and returns the stage's report. A job stores its request
as JSON and its worker, which inherits the lock, calls `run` with it: a job and an inline run are
the same code. The quick stages (init, seeds, the teacher gate, configuration) have a plain
function each below, each holding the writer lock while it writes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from slm_distill.tools.actions import act, say
from slm_distill.tools.errors import UsageError, need
from slm_distill.tools.requests import (
    AddSeedsRequest,
    ConfigSetRequest,
    EvaluateRequest,
    ExportRequest,
    GenerateRequest,
    ImproveRequest,
    InitRequest,
    Request,
    TrainRequest,
    ValidateJudgeRequest,
    ValidateTeacherRequest,
)
from slm_distill.tools.workspace.lock import WriterLock
from slm_distill.tools.workspace.progress import ProgressFn, no_progress
from slm_distill.tools.workspace.project import Project

Emit = Callable[[dict], None]


def no_events(event: dict) -> None:
    """The default: events go nowhere."""


def progress_of(emit: Emit) -> ProgressFn:
    """A stage's progress(done, total, message) calls as job events."""
    return lambda done, total, message: emit({"step": done, "total_steps": total, "message": message})


# -- the quick stages ------------------------------------------------------------------------------
class SeedsAdded(BaseModel):
    added: int
    total: int
    validation: int = Field(description="Seeds that validate the teacher (20%).")
    test: int = Field(description="Seeds held out as the test set (80%).")
    pairs_dropped: int = Field(0, description="With resplit: kept pairs dropped because they are "
                               "near a seed of the new test split.")
    labels_set: list[str] = Field(default_factory=list, description="Classification without "
                                  "labels: the labels taken from these seeds' outputs.")
    next_step: str

    def summary(self) -> str:
        dropped = (f" {self.pairs_dropped} kept pairs leaked into the new test split and were "
                   "dropped." if self.pairs_dropped else "")
        labels = (f"\nThe project's labels, taken from the seeds: {', '.join(self.labels_set)}. "
                  "Check them." if self.labels_set else "")
        return (f"Added {self.added} seeds ({self.total} in all: {self.validation} validate the "
                f"teacher, {self.test} are the test set).{dropped}{labels}\nNext: {self.next_step}")


def init(directory: Path, request: InitRequest) -> Project:
    from slm_distill.tools.tasks.database import is_database_url
    from slm_distill.tools.workspace.project import init_project

    db_file, db_url = request.db_file, request.db_url
    if is_database_url(db_file):  # `--db postgresql://...`
        if db_url:
            raise UsageError("Give the PostgreSQL URL once, not as both a file and a URL.")
        db_file, db_url = None, db_file
    return init_project(
        directory, task=request.task, name=request.name, teacher=request.teacher,
        student=request.student, schema_dialect=request.dialect, db_url=db_url,
        password_env=request.password_env,
        db=Path(db_file) if db_file else None,
        schema=Path(request.schema_file) if request.schema_file else None,
        labels=_labels(request), multi_label=request.multi_label,
        output_schema=request.output_schema,
        tools_file=Path(request.tools_file) if request.tools_file else None,
        tools_from_mcp=request.tools_from_mcp,
        rubric=Path(request.rubric_file) if request.rubric_file else None,
        instruction=request.instruction, judge=request.judge)


def _labels(request: InitRequest) -> list[str] | None:
    """The labels given inline or in a file (one per line); not both."""
    if request.labels_file is None:
        return request.labels
    if request.labels:
        raise UsageError("Give the labels inline or in a file, not both.")
    path = Path(request.labels_file)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read the labels ({exc}). Give a UTF-8 text file with "
                         "one label per line.") from None
    return [line.strip() for line in lines if line.strip()]


def add_seeds(project: Project, request: AddSeedsRequest) -> SeedsAdded:
    """Seeds cannot change under existing pairs, unless `resplit` re-checks every pair."""
    from slm_distill.tools.generation.recheck import pairs_exist, recheck_leakage
    from slm_distill.tools.workspace.project import add_seeds as add

    had_labels = bool(getattr(project.config.task, "labels", None))
    with WriterLock(project, "add_seeds"):
        resplit = pairs_exist(project)
        if resplit and not request.resplit:
            raise UsageError(
                "Pairs were already generated against the current test split, and new seeds move "
                "seeds between the validation and test splits (test data could leak into "
                "training). Nothing was added. To add them anyway, checking every pair against the "
                "new test split: {fix}.", fix=act("add_seeds", seeds_file=request.seeds_file,
                                                   resplit=True))
        added = add(project, Path(request.seeds_file))
        dropped = recheck_leakage(project) if resplit else 0
    validation, test = project.split()
    labels = getattr(project.config.task, "labels", None)
    return SeedsAdded(added=added, total=len(validation) + len(test), validation=len(validation),
                      test=len(test), pairs_dropped=dropped, next_step=say("validate_teacher"),
                      labels_set=list(labels) if labels and not had_labels else [])


def validate_teacher(project: Project, request: ValidateTeacherRequest,
                     progress: ProgressFn = no_progress) -> Any:
    from slm_distill.tools.validate_teacher import validate_teacher as validate

    with WriterLock(project, "validate_teacher"):
        return validate(project, teacher_spec=request.teacher, judge_spec=request.judge,
                        progress=progress)


def validate_judge(project: Project, request: ValidateJudgeRequest,
                   progress: ProgressFn = no_progress) -> Any:
    from slm_distill.tools.judge import validate_judge as validate

    with WriterLock(project, "validate_judge"):
        return validate(project, judge_spec=request.judge, progress=progress)


def set_config(project: Project, request: ConfigSetRequest,
               check: Callable[[Project], None] | None = None) -> Any:
    from slm_distill.tools.workspace.settings import set_config as change

    with WriterLock(project, "set_config"):
        return change(project, request.key, request.value, force=request.force, check=check)


# -- the long stages -------------------------------------------------------------------------------
@dataclass
class Prepared:
    """What `prepare` found: an `answer` to show (an estimate, a plan) and whether to `go` on;
    `lock` is the writer lock held meanwhile (None for a dry run, which writes nothing)."""

    answer: BaseModel | None = None
    go: bool = True
    lock: WriterLock | None = None


class ImprovePreview(BaseModel):
    plan: Any = Field(description="The failure groups and the new pairs each gets (ImprovePlan).")
    estimate: Any = Field(description="Teacher cost of one round's pairs (GenerationEstimate).")

    def summary(self) -> str:
        return f"{self.plan.summary()}\n{self.estimate.summary()}"


def _prepare_generate(project: Project, request: GenerateRequest) -> Prepared:
    from slm_distill.tools.generation.estimate import estimate_generation
    from slm_distill.tools.judge import check_judge_gate, judge_passed, override_judge_gate
    from slm_distill.tools.validate_teacher import check_gate, gate_passed, override_gate

    if request.dry_run:
        return Prepared(estimate_generation(project, n=request.n, samples=request.samples,
                                            batch=request.batch, fresh=request.fresh), go=False)
    check_gate(project, override=request.override_gate)  # nothing is recorded before every check
    check_judge_gate(project, override=request.override_judge_gate)
    _refuse_spent_run(project, request)
    if request.override_gate is not None and not gate_passed(project):
        override_gate(project, request.override_gate)
    if request.override_judge_gate is not None and not judge_passed(project):
        override_judge_gate(project, request.override_judge_gate)
    return Prepared()


def _refuse_spent_run(project: Project, request: GenerateRequest) -> None:
    """A rerun that could make no new call (the last run for this target, with these settings,
    used all of its calls) is refused before anything runs, with what can help."""
    from slm_distill.tools.generate_pairs import spent_run

    target = request.n or project.config.generation.n_pairs
    record = None if request.fresh else spent_run(project, target, request.samples)
    if record is not None:
        raise UsageError(
            f"The last run for {target} pairs used all its {record['max_calls']} calls, with these "
            "settings and seeds, and fell short: a rerun would make no new call. Change a setting "
            "that decides the proposals (see the advice in reports/generation.md), add seeds, or "
            "ask for more pairs; {fix} starts over from nothing.",
            fix=act("generate", n=target, fresh=True))


def _run_generate(project: Project, request: GenerateRequest, emit: Emit) -> BaseModel:
    from slm_distill.tools.generate_pairs import generate_pairs

    return generate_pairs(project, n=request.n, samples=request.samples,
                          budget_usd=request.budget_usd, batch=request.batch, fresh=request.fresh,
                          progress=progress_of(emit))


TRAINING = ("torch", "transformers", "peft", "datasets", "matplotlib")


def _prepare_train(project: Project, request: TrainRequest) -> Prepared:
    from slm_distill.tools.train_student import training_pairs

    need("train", *TRAINING)
    training_pairs(project, "train.jsonl")
    if request.dry_run:
        from slm_distill.tools.train_student import estimate_training

        return Prepared(estimate_training(project, fresh=request.fresh), go=False)
    return Prepared()


def _run_train(project: Project, request: TrainRequest, emit: Emit) -> BaseModel:
    from slm_distill.tools.train_student import train_student

    return train_student(project, resume=not request.fresh, emit=emit)


def _prepare_evaluate(project: Project, request: EvaluateRequest) -> Prepared:
    need("train", "matplotlib", *(("torch", "transformers") if set(request.models) - {"teacher"} else ()))
    if request.test_file is not None and not Path(request.test_file).is_file():
        raise UsageError(f"{request.test_file}: no such test file. Give a JSONL file of seeds "
                         f"({say('evaluate', test_file='FILE.jsonl')}).")
    if "student" in request.models:
        project.require_trained()
    return Prepared()


def _run_evaluate(project: Project, request: EvaluateRequest, emit: Emit) -> BaseModel:
    """Scores of models not asked for are carried over only from the same seeds' test split. A
    fresh test file's scores go to reports/eval-<file>.*, beside the test split's."""
    from slm_distill.tools.evaluate import (
        EvalReport,
        evaluate,
        retrained_since_evaluation,
        seeds_changed,
    )
    from slm_distill.tools.reporting.reports import load_report

    extra = Path(request.test_file) if request.test_file else None
    reuse = load_report(project, "eval", EvalReport) if extra is None else None
    if reuse is not None and (reuse.test_set != "test split" or seeds_changed(reuse, project)):
        reuse = None
    models = tuple(request.models)
    if reuse is not None and "student" not in models and retrained_since_evaluation(project):
        models = (*models, "student")  # the score carried over would be an earlier student's
    name = "eval" if extra is None else f"eval-{_slug(extra.stem)}"  # the split's report stays
    return evaluate(project, extra_test=extra, models=models, reuse=reuse, name=name,
                    progress=progress_of(emit))


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in text)[:60] or "file"


def _prepare_export(project: Project, request: ExportRequest) -> Prepared:
    need("train", "torch", "transformers")
    need("llama", "llama_cpp")
    project.require_trained()
    return Prepared()


def _run_export(project: Project, request: ExportRequest, emit: Emit) -> BaseModel:
    from slm_distill.tools.export_gguf import export_gguf

    return export_gguf(project, quants=tuple(request.quants), margin_points=request.margin_points,
                       min_agreement=request.min_agreement, progress=progress_of(emit))


def _prepare_improve(project: Project, request: ImproveRequest) -> Prepared:
    from slm_distill.tools.generation.estimate import estimate_generation
    from slm_distill.tools.improve import plan_improvement
    from slm_distill.tools.judge import check_judge_gate
    from slm_distill.tools.validate_teacher import check_gate

    need("train", *TRAINING)
    plan = plan_improvement(project, pairs=request.pairs, max_groups=request.max_groups)
    estimate = estimate_generation(project, n=max(1, plan.pairs), new=True)
    go = not request.dry_run and plan.failures > 0
    if go:
        check_gate(project)
        check_judge_gate(project)
    return Prepared(ImprovePreview(plan=plan, estimate=estimate), go=go)


def _run_improve(project: Project, request: ImproveRequest, emit: Emit) -> BaseModel:
    from slm_distill.tools.improve import improve

    return improve(project, rounds=request.rounds, pairs=request.pairs,
                   max_groups=request.max_groups, budget_usd=request.budget_usd,
                   train_steps=request.train_steps, emit=emit, progress=progress_of(emit))


@dataclass(frozen=True)
class Stage:
    request: type[Request]
    prepare: Callable[[Project, Any], Prepared]
    run: Callable[[Project, Any, Emit], BaseModel]
    keep_out: Any = None  # parts of the report left out of a job's result (they stay in reports/)
    shortfall: Callable[[Any], str | None] = lambda report: None  # why a run fell short


STAGES: dict[str, Stage] = {
    "generate": Stage(GenerateRequest, _prepare_generate, _run_generate,
                      shortfall=lambda report: report.stopped),
    "train": Stage(TrainRequest, _prepare_train, _run_train),
    "evaluate": Stage(EvaluateRequest, _prepare_evaluate, _run_evaluate,
                      keep_out={"results": {"__all__": {"outcomes"}}}),
    "export": Stage(ExportRequest, _prepare_export, _run_export),
    "improve": Stage(ImproveRequest, _prepare_improve, _run_improve,
                     shortfall=lambda report: report.partial),
}


def stage(kind: str) -> Stage:
    if kind not in STAGES:
        raise UsageError(f"Unknown stage {kind!r}. Stages: {', '.join(STAGES)}.")
    return STAGES[kind]


def prepare(project: Project, kind: str, request: Request) -> Prepared:
    return stage(kind).prepare(project, request)


@contextmanager
def starting(project: Project, kind: str, request: Request) -> Iterator[Prepared]:
    """Take the writer lock (unless a dry run), prepare, and hold the lock for the block."""
    lock = None if getattr(request, "dry_run", False) else WriterLock(project, kind).acquire()
    try:
        prepared = prepare(project, kind, request)
        prepared.lock = lock
        yield prepared
    finally:
        if lock is not None:
            lock.release()


def run(project: Project, kind: str, request: Request, emit: Emit = no_events) -> BaseModel:
    return stage(kind).run(project, request, emit)


def shortfall(kind: str, report: BaseModel) -> str | None:
    """Why a run that ended without an error still fell short of what was asked, or None."""
    return stage(kind).shortfall(report)


def job_result(kind: str, report: BaseModel) -> dict:
    """A report as a job's result: JSON without provenance (and whatever the stage keeps out)."""
    exclude: dict = {"provenance": True}
    if stage(kind).keep_out:
        exclude.update(stage(kind).keep_out)
    return report.model_dump(mode="json", exclude=exclude)
