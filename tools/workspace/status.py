"""project_status: where a project stands (seeds, gate, data, reports) and the next step."""

from __future__ import annotations

from pydantic import Field

from slm_distill.tools.actions import Blank, act, say
from slm_distill.tools.errors import GateError
from slm_distill.tools.reporting.reports import Report
from slm_distill.tools.workspace.fileio import read_jsonl_dicts
from slm_distill.tools.workspace.lock import current_writer
from slm_distill.tools.workspace.project import Project


class ProjectStatus(Report):
    name: str
    root: str
    task: str
    database: str
    labels: list[str] = Field(default_factory=list, description="Classification: the labels.")
    output_schema: str | None = Field(None, description="Extraction: the JSON Schema file.")
    tools: list[str] = Field(default_factory=list, description="Tool calling: the tools' names.")
    instruction: str | None = Field(None, description="Generation: what the model does.")
    judge: str | None = Field(None, description="Generation: the judge's spec and its gate "
                              "status, or what is missing (None: no judge).")
    teacher: str
    student: str
    training: str = Field("", description="How the student trains, its auto settings resolved "
                          "for its kind (scratch or pretrained).")
    seeds: int
    seeds_by_difficulty: dict[str, int]
    validation_seeds: int
    test_seeds: int
    gate: str = Field(description="Teacher gate status, or what is missing.")
    pairs: int
    train_pairs: int
    val_pairs: int
    rejected: int
    trained: bool = Field(description="A trained student exists (runs/student/merged).")
    jobs: dict[str, str] = Field(default_factory=dict, description="Job id -> status.")
    writer: str | None = Field(None, description="What is writing the project now (it holds the "
                               "writer lock; other writing commands are refused meanwhile).")
    reports: dict[str, str] = Field(description="Report name -> path of its Markdown.")
    notes: list[str] = Field(default_factory=list, description="init_project only: what the "
                             "user should know (a URL's password not stored, a database user "
                             "that can write).")
    next_step: str

    def summary(self) -> str:
        lines = [
            f"Project {self.name} ({self.task}) at {self.root}",
            f"  labels:   {', '.join(self.labels)}" if self.labels else
            f"  schema:   {self.output_schema}" if self.output_schema else
            f"  tools:    {', '.join(self.tools)}" if self.tools else
            f"  task:     {self.instruction}" if self.instruction else
            f"  database: {self.database}",
            f"  teacher:  {self.teacher}",
            f"  student:  {self.student}" + (f" ({self.training})" if self.training else ""),
            f"  seeds:    {self.seeds} ({self.validation_seeds} teacher validation, "
            f"{self.test_seeds} test) by difficulty: "
            + ", ".join(f"{k} {v}" for k, v in self.seeds_by_difficulty.items()),
            *([f"  judge:    {self.judge}"] if self.judge else []),
            f"  gate:     {self.gate}",
            f"  pairs:    {self.pairs} kept ({self.train_pairs} train, {self.val_pairs} "
            f"validation), {self.rejected} rejected",
        ]
        lines.append(f"  trained:  {'yes (runs/student/merged)' if self.trained else 'no'}")
        lines += [f"  job:      {job_id} {status}" for job_id, status in self.jobs.items()]
        if self.writer:
            lines.append(f"  busy:     {self.writer}")
        lines += [f"  report:   {path}" for path in self.reports.values()]
        lines.append(f"Next: {self.next_step}")
        return "\n".join(lines)


def _tools(project: Project) -> list[str]:
    """A tool-calling project's tool names (none when its tools file cannot be read)."""
    if project.config.task.name != "tool_calling":
        return []
    from slm_distill.tools.errors import UsageError
    from slm_distill.tools.tasks.tools_file import load_tools

    try:
        return [t["name"] for t in load_tools(project.path(project.config.task.tools_file))]
    except UsageError:
        return []


def project_status(project: Project) -> ProjectStatus:
    from slm_distill.tools.validate_teacher import check_gate

    seeds = project.seeds()
    validation, test = project.split()
    by_difficulty: dict[str, int] = {}
    for s in seeds:
        by_difficulty[s.difficulty] = by_difficulty.get(s.difficulty, 0) + 1
    stale = False  # validated, but for other seeds, split or teacher
    try:
        gate, gate_ok = check_gate(project), True
    except GateError as exc:
        gate, gate_ok = _first_sentence(exc), False
        stale = exc.fixes.get("fix") == act("validate_teacher")
    judge, judge_ok = _judge(project)
    data = project.path("data")
    pairs = len(read_jsonl_dicts(data / "pairs.jsonl"))
    reports = {p.stem: str(p) for p in sorted(project.path("reports").glob("*.md"))}
    trained = project.trained
    from slm_distill.tools.workspace.jobs import list_jobs

    jobs = {j.id: f"{j.kind} {j.status}" for j in list_jobs(project)[-5:]}
    holder = current_writer(project)
    writer = None if holder is None else (
        f"{holder.get('kind')} (pid {holder.get('pid')}"
        + (f", job {holder['job_id']}" if holder.get("job_id") else "") + ")")
    return ProjectStatus(
        name=project.config.name, root=str(project.root), task=project.config.task.name,
        database=_database(project), teacher=project.config.teacher,
        labels=list(getattr(project.config.task, "labels", [])),
        output_schema=getattr(project.config.task, "schema_file", None), tools=_tools(project),
        instruction=getattr(project.config.task, "instruction", None), judge=judge,
        student=project.config.student, training=_training(project), seeds=len(seeds),
        seeds_by_difficulty=dict(sorted(by_difficulty.items())),
        validation_seeds=len(validation), test_seeds=len(test), gate=gate, pairs=pairs,
        train_pairs=len(read_jsonl_dicts(data / "train.jsonl")),
        val_pairs=len(read_jsonl_dicts(data / "val.jsonl")),
        rejected=len(read_jsonl_dicts(data / "rejected.jsonl")), trained=trained, jobs=jobs,
        writer=writer,
        reports=reports,
        next_step=_next(len(seeds), gate_ok, "teacher_validation" in reports and not stale,
                        pairs, trained, set(reports), judge_ok, _verdict(project)),
    )


def _training(project: Project) -> str:
    t = project.config.training.resolved(project.config.student)
    vocab = "the answers' vocabulary" if t.loss_vocab == "answers" else "the full vocabulary"
    length = (f"{t.max_steps} steps" if t.max_steps else f"{t.epochs:g} epochs") + (
        f" of batches of {t.batch_size} x {t.gradient_accumulation_steps}")
    return f"{t.method} fine-tuning, learning rate {t.learning_rate:g}, loss over {vocab}, {length}"


def _database(project: Project) -> str:
    """The engine and where its database is (a URL never with a password)."""
    from slm_distill.tools.tasks.database import ENGINE_LABELS

    task = project.config.task
    engine = getattr(task, "engine", None)
    if engine == "postgres":
        return f"PostgreSQL {task.db_url}"
    if getattr(task, "db", None):
        return f"{ENGINE_LABELS[engine]} {project.root / task.db}"
    return "(none: the task needs no database)"


def _judge(project: Project) -> tuple[str | None, bool]:
    """A generation project's judge and its gate status; whether generation may use it."""
    from slm_distill.tools.judge import check_judge_gate

    spec = project.config.judge.spec
    if project.config.task.name != "generation" or not spec:
        return None, True
    try:
        return f"{spec}: {check_judge_gate(project)}", True
    except GateError as exc:
        return f"{spec}: {_first_sentence(exc)}", False


def _first_sentence(exc: GateError) -> str:
    """What a gate error says is missing, without its fix."""
    return str(exc).split(". ")[0] + "."


def _verdict(project: Project) -> tuple[str, str] | None:
    """The last evaluation's verdict on the test split: (decision, next step)."""
    from slm_distill.tools.errors import ProjectError
    from slm_distill.tools.evaluate import latest_verdict, retrained_since_evaluation

    try:
        verdict = latest_verdict(project)
        if verdict is not None and retrained_since_evaluation(project):
            return STALE, f"evaluate the retrained student: {say('evaluate')}"
    except ProjectError:  # a damaged report says nothing; status still answers
        return None
    return (verdict.decision, verdict.next_step) if verdict is not None else None


STALE = "out of date"  # the student was trained again after its evaluation


def _next(seeds: int, gate_ok: bool, validated: bool, pairs: int, trained: bool,
          reports: set[str], judge_ok: bool = True,
          verdict: tuple[str, str] | None = None) -> str:
    if seeds < 10:
        return f"add seeds (10-100 examples): {say('add_seeds', seeds_file=Blank('file'))}"
    if not judge_ok and pairs == 0:
        return (f"check the judge on the seeds first: {say('validate_judge')}, and read "
                "reports/judge_validation.md")
    if not validated:  # never, or no longer for these seeds, teacher or split
        return f"validate the teacher: {say('validate_teacher')}"
    if not gate_ok:
        return "the teacher is below the gate: see reports/teacher_validation.md"
    if pairs == 0:
        return (f"estimate, then generate pairs: {say('generate', dry_run=True)}, then "
                f"{say('generate')}")
    if not trained:
        return f"train the student on data/train.jsonl: {say('train')}"
    if "eval" not in reports:
        return f"compare base, student and teacher on the test split: {say('evaluate')}"
    if verdict is not None and verdict[0] == STALE:
        return (f"the student was trained again after reports/eval.md, whose verdict speaks of "
                f"the earlier one: {verdict[1]}")
    if verdict is not None and verdict[0] != "deploy":
        return (f"the evaluation's verdict is {verdict[0]} (reports/eval.md): {verdict[1]}; "
                "nothing ships while it stands")
    if "export" not in reports:
        return f"read reports/eval.md; if the student is good enough: {say('export')}"
    return "ship a recommended GGUF from exports/ (see reports/export.md and exports/Modelfile)"
