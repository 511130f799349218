"""What each stage takes: one request model per stage, shared by the CLI, the MCP server and jobs.

    GenerateRequest(n=500, dry_run=True)
    ExportRequest.model_validate_json(Path("jobs/<id>/params.json").read_text())

Every field is described and every default is stated here, once. The CLI builds its options from
these models (tools/cli/options.py), the MCP server builds its tools' input schemas from them
(server/schema.py), and a job stores its request as JSON in `jobs/<id>/params.json`.

Annotations beyond pydantic's say how a field appears on a surface: `Cli` (its flag, or a
positional argument), `WorkspaceFile` (a file path that the MCP server resolves inside its
workspace root and the CLI against the current directory) and `McpDefault` (the one documented
place where a surface's default differs: MCP tools that spend start as dry runs).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.fields import FieldInfo

from slm_distill.tools.workspace.config import DEFAULT_STUDENT, DEFAULT_TEACHER


@dataclass(frozen=True)
class Cli:
    """How a field appears on the command line: `flag` (default `--field-name`), `argument` for a
    positional argument, `csv` for a list given as comma-separated text."""

    flag: str | None = None
    argument: bool = False
    metavar: str | None = None
    csv: bool = False


@dataclass(frozen=True)
class WorkspaceFile:
    """A path to an existing file: the MCP server resolves it inside its workspace root.
    `or_import`: a `module:Name` import spec (see `is_import_spec`) is taken as it is."""

    or_import: bool = False
    or_url: bool = False


def is_file_value(info: FieldInfo, value: str) -> bool:
    """Is this value of a WorkspaceFile field a path (rather than an import spec)?"""
    from slm_distill.tools.tasks.database import is_database_url
    from slm_distill.tools.tasks.output_schema import is_import_spec

    spec = meta(info, WorkspaceFile)
    return spec is not None and not (spec.or_import and is_import_spec(value)) and not (
        spec.or_url and is_database_url(value))


@dataclass(frozen=True)
class McpDefault:
    """The MCP tool's default differs from the model's, for the reason given."""

    value: Any
    why: str


DRY_RUN_FIRST = McpDefault(True, "an agent shows the user the estimate before anything spends")

Quant = Literal["q8_0", "q4_k_m", "q4_0"]
Model = Literal["base", "seed_only", "student", "teacher"]
MODELS: tuple[Model, ...] = ("base", "student", "teacher")  # evaluated by default
ALL_MODELS: tuple[Model, ...] = ("base", "seed_only", "student", "teacher")  # in report order
QUANTS: tuple[Quant, ...] = ("q8_0", "q4_k_m", "q4_0")
Dialect = Literal["duckdb", "postgres", "mysql", "sqlite"]
TaskName = Literal["text2sql", "classification", "extraction", "tool_calling", "generation"]
PATH_MAX = 4_096  # characters of a path argument
SPEC_MAX = 500  # characters of a teacher or student spec


class Request(BaseModel):
    """A stage's request; unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


def meta(field: FieldInfo, kind: type) -> Any:
    """The first annotation of `kind` on `field` (Cli, WorkspaceFile, McpDefault), or None."""
    return next((m for m in field.metadata if isinstance(m, kind)), None)


def cli_flag(name: str, field: FieldInfo) -> str:
    spec = meta(field, Cli)
    if spec and spec.argument:
        return (spec.metavar or name).upper()
    return (spec.flag if spec and spec.flag else "--" + name.replace("_", "-"))


# -- the stages ----------------------------------------------------------------------------------
class InitRequest(Request):
    """Create a project (the directory is the CLI's DIRECTORY, MCP's project_dir)."""

    task: Annotated[TaskName, Field(description="Task type: text2sql (questions to SQL for one "
                                    "database), classification (a text to one of your labels) or "
                                    "extraction (a text to a JSON object of your schema), "
                                    "tool_calling (a request to a call of one of your tools) or "
                                    "generation (an input to free text: a summary, a rewrite, "
                                    "a reply).")] = "text2sql"
    db_file: Annotated[str | None, Field(
        description="Text2SQL: an existing DuckDB or SQLite database file (the engine is read "
        "from its header). On the command line a postgresql:// URL here is taken as db_url.",
        max_length=PATH_MAX), Cli(flag="--db"), WorkspaceFile(or_url=True)] = None
    db_url: Annotated[str | None, Field(
        description="Text2SQL on PostgreSQL: a libpq URL, postgresql://USER@HOST:PORT/DBNAME. "
        "The password comes from PGPASSWORD, ~/.pgpass or password_env, and is never stored.",
        max_length=PATH_MAX)] = None
    password_env: Annotated[str | None, Field(
        description="Text2SQL on PostgreSQL: the environment variable that holds the password "
        "(default: libpq's PGPASSWORD or ~/.pgpass).", max_length=200)] = None
    schema_file: Annotated[str | None, Field(
        description="Text2SQL: a SQL file of CREATE TABLE and INSERT statements to build the "
        "database from.",
        max_length=PATH_MAX),
        Cli(flag="--schema"), WorkspaceFile()] = None
    dialect: Annotated[Dialect | None, Field(
        description="Text2SQL: dialect of the schema file (default: DuckDB, falling back to "
        "PostgreSQL).")] = None
    labels: Annotated[list[str] | None, Field(
        description="Classification: the allowed labels (default: taken from the seeds' outputs "
        "when they are added).", max_length=1_000), Cli(csv=True)] = None
    labels_file: Annotated[str | None, Field(
        description="Classification: a text file of labels, one per line (instead of listing "
        "them).",
        max_length=PATH_MAX), WorkspaceFile()] = None
    multi_label: Annotated[bool, Field(
        description="Classification: an answer is a set of labels, not one.")] = False
    output_schema: Annotated[str | None, Field(
        description="Extraction: the answers' JSON Schema, a .json file, or a pydantic model "
        "as MODULE:CLASS (importable from PYTHONPATH).", max_length=PATH_MAX),
        WorkspaceFile(or_import=True)] = None
    tools_file: Annotated[str | None, Field(
        description="Tool calling: a JSON list of your tools, OpenAI-style (name, description, "
        "JSON Schema parameters).", max_length=PATH_MAX), Cli(flag="--tools"), WorkspaceFile()] = None
    tools_from_mcp: Annotated[str | None, Field(
        description="Tool calling: the command that starts your MCP server over stdio (e.g. "
        "\"python -m my_server\"); it is started, its tools are listed and saved as the project's "
        "tools.json, and it is stopped: none of its tools is called.", max_length=2_000)] = None
    instruction: Annotated[str | None, Field(
        description="Generation: what the model does, in a sentence (\"Summarise the support "
        "ticket in one sentence.\"); both the teacher's and the student's prompts carry it.",
        max_length=2_000)] = None
    rubric_file: Annotated[str | None, Field(
        description="Generation: what a good answer is, a Markdown or text file (a point a line), "
        "for the teacher and the judge (default: a general rubric of faithfulness, "
        "completeness, form and clarity).", max_length=PATH_MAX),
        Cli(flag="--rubric"), WorkspaceFile()] = None
    judge: Annotated[str | None, Field(
        description="Generation: a teacher spec that grades answers against the rubric; its "
        "score is the primary metric, and it must pass its own gate before generation.",
        min_length=1, max_length=SPEC_MAX)] = None
    teacher: Annotated[str, Field(description="Teacher spec, e.g. anthropic:claude-sonnet-4-5 or "
                                  "openai:deepseek-chat@https://api.deepseek.com/v1#DEEPSEEK_API_KEY.",
                                  min_length=1, max_length=SPEC_MAX)] = DEFAULT_TEACHER
    student: Annotated[str, Field(description="Student: a model id, a local directory or "
                                  "scratch:tiny|small.", max_length=SPEC_MAX)] = DEFAULT_STUDENT
    name: Annotated[str | None, Field(description="Project name (default: the directory name).",
                                      max_length=100)] = None


class AddSeedsRequest(Request):
    seeds_file: Annotated[str, Field(description="JSONL of {input, output, metadata} lines; every "
                                     "line is checked and nothing is added if any is bad.",
                                     max_length=PATH_MAX),
                          Cli(argument=True, metavar="FILE"), WorkspaceFile()]
    resplit: Annotated[bool, Field(
        description="Add seeds although pairs were already generated: the seeds are split anew "
        "and every kept pair is checked again against the new test split (pairs near a test seed "
        "are dropped); the teacher must then be validated again.")] = False


class ValidateTeacherRequest(Request):
    teacher: Annotated[str | None, Field(
        description="Validate this teacher spec instead of the project's; it becomes the project's "
        "teacher once its answers are scored.", min_length=1, max_length=SPEC_MAX)] = None
    judge: Annotated[str | None, Field(
        description="A teacher spec used as an LLM judge of answers that run but differ from the "
        "expected result.", min_length=1, max_length=SPEC_MAX)] = None


class ValidateJudgeRequest(Request):
    judge: Annotated[str | None, Field(
        description="Validate this judge spec instead of the project's (judge.spec); it becomes "
        "the project's judge once its verdicts are in.", min_length=1, max_length=SPEC_MAX)] = None


class GenerateRequest(Request):
    n: Annotated[int | None, Field(description="Pairs to keep in all (default: generation.n_pairs "
                                   "in distill.yaml).", ge=1)] = None
    samples: Annotated[int | None, Field(
        description="Self-consistency: teacher answers per new input, kept only when a majority "
        "agree (default: generation.samples).", ge=1, le=15)] = None
    budget_usd: Annotated[float | None, Field(
        description="Stop cleanly after this many dollars (default: generation.budget_usd).", ge=0),
        Cli(flag="--budget", metavar="USD")] = None
    batch: Annotated[bool | None, Field(
        description="Use the provider's batch API at batch prices (anthropic; default: "
        "generation.batch).")] = None
    dry_run: Annotated[bool, Field(description="Only estimate calls, tokens and dollars; spend "
                                   "nothing."), DRY_RUN_FIRST] = False
    override_gate: Annotated[str | None, Field(
        description="Generate although the teacher failed its gate, for this reason (the user's "
        "own words); recorded in distill.yaml.", min_length=1, max_length=2_000),
        Cli(metavar="REASON")] = None
    override_judge_gate: Annotated[str | None, Field(
        description="Generate although the judge failed its gate (generation), for this reason "
        "(the user's own words); recorded in distill.yaml.", min_length=1, max_length=2_000),
        Cli(metavar="REASON")] = None
    fresh: Annotated[bool, Field(description="Discard pairs from earlier runs and start over "
                                 "(cached teacher calls stay free).")] = False


class TrainRequest(Request):
    fresh: Annotated[bool, Field(description="Start over instead of resuming from the last "
                                 "checkpoint (after a smoke run, or for a new iteration).")] = False
    dry_run: Annotated[bool, Field(description="Only measure how long training would take (a few "
                                   "forward and backward passes and validation answers, seconds "
                                   "to a minute); train and write nothing.")] = False


class EvaluateRequest(Request):
    test_file: Annotated[str | None, Field(
        description="A fresh JSONL test file (the seeds' format) to score instead of the test "
        "split, e.g. to confirm a student after improve rounds.", max_length=PATH_MAX),
        WorkspaceFile()] = None
    models: Annotated[list[Model], Field(
        description="Which models answer; the others' scores are carried over from the latest "
        "evaluation on the same test split. seed_only (not by default) first trains the same "
        "student, for the same steps, on the validation seeds alone: what the synthetic pairs "
        "added.", min_length=1), Cli(csv=True)] = list(MODELS)


class ExportRequest(Request):
    quants: Annotated[list[Quant], Field(description="Quantisations besides f16."),
                      Cli(flag="--quant", csv=True)] = list(QUANTS)
    margin_points: Annotated[float, Field(
        description="Points of accuracy a quantisation may lose and still be recommended.", ge=0),
        Cli(flag="--margin")] = 2.0
    min_agreement: Annotated[float, Field(
        description="Share of a quantisation's test answers that must be identical to the HF "
        "model's for it to be recommended: the primary metric alone misses changes it does not "
        "count (a student at 0% exact match loses nothing on it).", ge=0, le=1)] = 0.8


class ImproveRequest(Request):
    pairs: Annotated[int, Field(description="New targeted pairs per round.", ge=1, le=10_000)] = 200
    rounds: Annotated[int, Field(description="Rounds of generate, retrain, re-evaluate.",
                                 ge=1, le=20)] = 1
    max_groups: Annotated[int, Field(description="Failure groups targeted per round (the largest).",
                                     ge=1, le=20)] = 4
    budget_usd: Annotated[float | None, Field(
        description="Dollars of teacher calls this call may spend, all rounds.", ge=0),
        Cli(flag="--budget", metavar="USD")] = None
    train_steps: Annotated[int | None, Field(
        description="Optimizer steps per retraining (default: the training config).", ge=1),
        Cli(flag="--steps")] = None
    dry_run: Annotated[bool, Field(description="Only show the failure groups and the pairs each "
                                   "would get; spend nothing."), DRY_RUN_FIRST] = False


# -- configuration and jobs ------------------------------------------------------------------------
class ConfigGetRequest(Request):
    key: Annotated[str | None, Field(description="A dotted key such as training.max_steps, or a "
                                     "section such as training (default: everything).",
                                     max_length=200),
                   Cli(argument=True)] = None


class ConfigSetRequest(Request):
    key: Annotated[str, Field(description="A dotted key such as training.max_steps.",
                              max_length=200), Cli(argument=True)]
    value: Annotated[Any, Field(description="The new value (null for none). The CLI reads it as "
                                "YAML: 20, 2e-4, true, null, [q_proj, v_proj]."),
                     Cli(argument=True)]
    force: Annotated[bool, Field(description="Change it even though existing artefacts (pairs, a "
                                 "trained student) were made with the old value.")] = False

    @field_validator("value")
    @classmethod
    def _small(cls, value: Any) -> Any:
        if len(json.dumps(value, default=str)) > 10_000:
            raise ValueError("at most 10,000 characters of JSON")
        return value


class JobRequest(Request):
    job_id: Annotated[str, Field(description="A job id (16 hex characters) from a tool that "
                                 "started a job, or from list_jobs.", pattern=r"^[0-9a-f]{16}$",
                                 max_length=16), Cli(argument=True)]


REQUESTS: dict[str, type[Request]] = {
    "init": InitRequest, "add_seeds": AddSeedsRequest, "validate_teacher": ValidateTeacherRequest,
    "validate_judge": ValidateJudgeRequest,
    "generate": GenerateRequest, "train": TrainRequest, "evaluate": EvaluateRequest,
    "export": ExportRequest, "improve": ImproveRequest, "get_config": ConfigGetRequest,
    "set_config": ConfigSetRequest, "job_status": JobRequest, "cancel_job": JobRequest,
}
