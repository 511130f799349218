"""The project workspace: one directory holds a distillation's whole state.

    proj = init_project(Path("sql-bot"), task="text2sql", schema=Path("shop.sql"))
    add_seeds(proj, Path("seeds.jsonl"))
    validation, test = proj.split()

Layout: `distill.yaml` (ProjectConfig), `seeds.jsonl`, `data/`, `reports/`, `runs/`, `exports/`,
`jobs/`, `.cache/teacher.sqlite`.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from slm_distill.tools.actions import Blank, act, arg
from slm_distill.tools.errors import InputFileError, ProjectError, UsageError
from slm_distill.tools.tasks.database import (
    ENGINE_LABELS,
    DatabaseSource,
    Engine,
    short,
    sniff_file,
    strip_password,
    url_password,
)
from slm_distill.tools.workspace.config import (
    DEFAULT_STUDENT,
    DEFAULT_TEACHER,
    ClassificationConfig,
    ExtractionConfig,
    ProjectConfig,
    Text2SQLConfig,
    TextGenerationConfig,
    ToolCallingConfig,
)
from slm_distill.tools.workspace.fileio import dumps_jsonl, parse_jsonl, read_jsonl, write_atomic

CONFIG_FILE = "distill.yaml"
MAX_INPUT, MAX_OUTPUT = 5_000, 20_000  # characters of a seed's input and output
MAX_CONFIG = 1_000_000  # bytes of distill.yaml
SEEDS_FILE = "seeds.jsonl"
DB_FILE = "database.duckdb"


class Seed(BaseModel):
    """One seed line: `{"input": ..., "output": ..., "metadata": {"difficulty": ...}}`."""

    model_config = ConfigDict(extra="forbid")
    input: str = Field(min_length=1, max_length=MAX_INPUT)
    output: str = Field(min_length=1, max_length=MAX_OUTPUT)
    metadata: dict = Field(default_factory=dict)

    @field_validator("output", mode="before")
    @classmethod
    def _json_output(cls, v: object) -> object:
        """An extraction seed's output may be the object itself: kept as its JSON text."""
        return json.dumps(v, ensure_ascii=False) if isinstance(v, dict | list) else v

    @field_validator("input", mode="before")
    @classmethod
    def _json_input(cls, v: object) -> object:
        """A conversation (a list of messages, tool calling) is kept as its JSON text."""
        return json.dumps(v, ensure_ascii=False) if isinstance(v, list) else v

    @field_validator("input", "output")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be blank")
        return v

    @property
    def id(self) -> str:
        return hashlib.sha1(self.input.strip().encode()).hexdigest()[:12]

    @property
    def difficulty(self) -> str:
        return str(self.metadata.get("difficulty", "unspecified"))


class Project:
    """A project directory. Construct with `Project.load(dir)`."""

    def __init__(self, root: Path, config: ProjectConfig) -> None:
        self.root = root.resolve()
        self.config = config
        self.init_notes: list[str] = []  # what init had to say (a password not kept, ...)

    # -- loading and saving -------------------------------------------------
    @classmethod
    def load(cls, root: Path) -> Project:
        path = root / CONFIG_FILE
        if not path.is_file():
            raise ProjectError(
                f"No slm-distill project in {root} (no {CONFIG_FILE}). Create one with {{fix}}, or "
                "give the directory of an existing project.",
                fix=act("init", directory=Blank("dir"), schema_file=Blank("file")))
        if path.stat().st_size > MAX_CONFIG:
            raise ProjectError(f"{path} is {path.stat().st_size:,} bytes, far more than a "
                               "configuration holds. Restore the file.")
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            config = ProjectConfig.model_validate(data)
        except UnicodeDecodeError:
            raise ProjectError(f"{path} is not UTF-8 text. Restore it from a copy, or write it "
                               "again as UTF-8 YAML.") from None
        except (yaml.YAMLError, ValidationError, RecursionError) as exc:
            raise ProjectError(f"{path}: invalid configuration: {_short(exc)}. Fix the file.") from None
        return cls(root, config)

    def save(self) -> None:
        data = self.config.model_dump(mode="json")
        header = "# slm-distill project configuration; every field is documented in ProjectConfig.\n"
        write_atomic(self.root / CONFIG_FILE, header + yaml.safe_dump(data, sort_keys=False))

    # -- paths ---------------------------------------------------------------
    def path(self, *parts: str) -> Path:
        return self.root.joinpath(*parts)

    @property
    def seeds_path(self) -> Path:
        return self.path(SEEDS_FILE)

    @property
    def db_path(self) -> Path:
        """The task's DuckDB or SQLite file, checked to exist and to be of the project's engine."""
        fix = act("set_config", key="task.db", value=Blank("file"))
        task = self.config.task
        if not getattr(task, "db", None):
            raise ProjectError("This project has no database file. Set one: {fix}.", fix=fix)
        path = (self.root / task.db).resolve()
        if not path.is_file():
            raise ProjectError(f"The project's database {task.db} ({path}) does not "
                               "exist. Restore it, or point task.db at another: {fix}.", fix=fix)
        label = ENGINE_LABELS[task.engine]
        if sniff_file(path) != task.engine:
            raise ProjectError(f"The project's database {task.db} ({path}) is not a {label} "
                               "database. Restore it, or point task.db at another: {fix}.",
                               fix=fix)
        return path

    @property
    def database(self) -> DatabaseSource:
        """Where the Text2SQL task's SQL runs: its file, or its PostgreSQL URL."""
        task = self.config.task
        if getattr(task, "engine", None) == "postgres":
            if not task.db_url:
                raise ProjectError("This PostgreSQL project has no URL. Set one: {fix}.",
                                   fix=act("set_config", key="task.db_url", value=Blank("url")))
            return DatabaseSource("postgres", url=task.db_url, password_env=task.password_env)
        return DatabaseSource(task.engine, path=self.db_path)

    def local(self, text: str) -> str:
        """A model path from the configuration (a student directory, a GGUF): a relative path
        means one in the project directory; anything else (a model id) is returned as it is."""
        path = Path(text).expanduser()
        if path.is_absolute():
            return str(path)
        candidate = self.root / path
        return str(candidate) if candidate.exists() else text

    @property
    def trained(self) -> bool:
        """A trained student exists (runs/student/merged)."""
        return self.path("runs", "student", "merged", "config.json").is_file()

    def require_trained(self) -> Path:
        if not self.trained:
            raise UsageError("No trained student (runs/student/merged). Run {fix} first.",
                             fix=act("train"))
        return self.path("runs", "student", "merged")

    @property
    def cache_path(self) -> Path:
        return self.path(".cache", "teacher.sqlite")

    def report_path(self, name: str, ext: str = "json") -> Path:
        return self.path("reports", f"{name}.{ext}")

    # -- seeds ----------------------------------------------------------------
    def seeds(self) -> list[Seed]:
        if not self.seeds_path.is_file():
            return []
        return read_jsonl(self.seeds_path, Seed)

    def split(self) -> tuple[list[Seed], list[Seed]]:
        """Deterministic split stratified by difficulty: (teacher validation, test)."""
        return split_seeds(self.seeds(), self.config.split.validation_fraction, self.config.split.seed)

    def task(self):  # noqa: ANN201 - returns a Task
        from slm_distill.tools.tasks import make_task

        return make_task(self)


def _short(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return str(exc)[:1000]


def split_seeds(seeds: list[Seed], fraction: float, seed: int) -> tuple[list[Seed], list[Seed]]:
    """Within each difficulty, order seeds by a hash of (split seed, id); the first share validates."""
    groups: dict[str, list[Seed]] = {}
    for s in seeds:
        groups.setdefault(s.difficulty, []).append(s)
    chosen: set[str] = set()
    for members in groups.values():
        ranked = sorted(members, key=lambda s: hashlib.sha256(f"{seed}:{s.id}".encode()).hexdigest())
        k = round(len(ranked) * fraction)
        if len(ranked) >= 2:
            k = max(1, k)
        chosen.update(s.id for s in ranked[:k])
    validation = [s for s in seeds if s.id in chosen]
    test = [s for s in seeds if s.id not in chosen]
    return validation, test


# -- init ---------------------------------------------------------------------------------
def init_project(
    root: Path,
    *,
    task: str = "text2sql",
    db: Path | None = None,
    schema: Path | None = None,
    labels: list[str] | None = None,
    multi_label: bool = False,
    output_schema: str | None = None,
    tools_file: Path | None = None,
    tools_from_mcp: str | None = None,
    rubric: Path | None = None,
    instruction: str | None = None,
    judge: str | None = None,
    teacher: str = DEFAULT_TEACHER,
    student: str = DEFAULT_STUDENT,
    name: str | None = None,
    schema_dialect: str | None = None,
    db_url: str | None = None,
    password_env: str | None = None,
) -> Project:
    """Create a project. Everything is checked before anything is written. Each task takes its
    own context: Text2SQL a database (`db` or `schema`), classification its `labels`, extraction
    its `output_schema` (a JSON Schema file, or a pydantic model as MODULE:CLASS), tool calling
    its tools (`tools_file`, or the command of an MCP server to list them from), generation its
    `instruction`, a `rubric` file (else the default rubric) and optionally a `judge` spec."""
    from slm_distill.tools.teachers import check_spec

    if (root / CONFIG_FILE).exists():
        raise UsageError(f"{root} already holds a project ({CONFIG_FILE}). Use another directory.")
    check_spec(teacher, root.resolve())
    config = _config(name or root.resolve().name, teacher, student)
    notes: list[str] = []
    if task != "text2sql" and (db_url or password_env):
        raise UsageError(f"A database URL belongs to a text2sql project; this one is {task}.")
    if task != "classification" and (labels or multi_label):
        raise UsageError(f"Labels belong to a classification project; this one is {task}.")
    if task != "extraction" and output_schema:
        raise UsageError(f"An output schema belongs to an extraction project; this one is {task}.")
    if task != "tool_calling" and (tools_file or tools_from_mcp):
        raise UsageError(f"Tools belong to a tool_calling project; this one is {task}.")
    if task != "generation" and (rubric or instruction or judge):
        raise UsageError(f"An instruction, a rubric and a judge belong to a generation project; "
                         f"this one is {task}.")
    if task == "classification":
        _no_database(db, schema, task)
        task_config, place = _classification(labels, multi_label), None
    elif task == "extraction":
        _no_database(db, schema, task)
        task_config, place = _extraction(root, output_schema)
    elif task == "tool_calling":
        _no_database(db, schema, task)
        task_config, place = _tool_calling(root, tools_file, tools_from_mcp)
    elif task == "generation":
        _no_database(db, schema, task)
        task_config, place = _generation(root, rubric, instruction)
        _set_judge(config, judge, root)
    elif task == "text2sql":
        task_config, place = _text2sql(root, db, schema, schema_dialect, db_url, password_env,
                                       notes)
    else:
        raise UsageError(f"Unknown task {task!r}. Available: text2sql, classification, "
                         "extraction, tool_calling, generation.")
    root.mkdir(parents=True, exist_ok=True)
    if place is not None:
        place()
    config.task = task_config
    project = Project(root, config)
    for sub in ("data", "reports", "runs", "exports", "jobs", ".cache"):
        project.path(sub).mkdir(exist_ok=True)
    project.save()
    project.init_notes = notes
    return project


def _text2sql(root: Path, db: Path | None, schema: Path | None, dialect: str | None,
              db_url: str | None = None, password_env: str | None = None,
              notes: list[str] | None = None) -> tuple[Text2SQLConfig, Callable[[], None] | None]:
    """The task's config, and how to put a built database into the project once it exists.
    What init should tell the user (a URL's password not kept, a user that can write) goes to
    `notes`."""
    if sum(x is not None for x in (db, schema, db_url)) != 1:
        raise UsageError(f"Give exactly one of {arg('init', 'db_file')} (a DuckDB or SQLite "
                         f"file), {arg('init', 'db_url')} (postgresql://USER@HOST:PORT/DBNAME) or "
                         f"{arg('init', 'schema_file')} (a SQL file).")
    if dialect is not None and schema is None:
        raise UsageError(f"{arg('init', 'dialect')} names a schema file's dialect; a database's "
                         "dialect is its engine's. Leave it out.")
    if db_url is not None:
        return _postgres(db_url, password_env, notes if notes is not None else []), None
    if db is not None:
        engine = _check_db(db)
        return Text2SQLConfig(engine=engine,
                              db=_relative_or_absolute(db.resolve(), root.resolve())), None
    built = _build_db(schema, dialect)  # type: ignore[arg-type]
    return Text2SQLConfig(db=DB_FILE), lambda: shutil.move(str(built), root / DB_FILE)


def _postgres(url: str, password_env: str | None, notes: list[str]) -> Text2SQLConfig:
    """Connect once (credentials, tables, write rights) and keep the URL without its password."""
    url = url.strip()
    password = url_password(url)
    try:
        config = Text2SQLConfig(engine="postgres", db_url=strip_password(url),
                                password_env=password_env)
    except ValidationError as exc:
        raise UsageError(f"{arg('init', 'db_url')}: {exc.errors()[0]['msg']}.") from None
    source = DatabaseSource("postgres", url=config.db_url, password_env=password_env,
                            password=password)
    with source.open() as database:
        if not database.tables():
            raise UsageError(f"{source.location} holds no tables in its current schema. Load "
                             "your tables, or give the URL of the database that has them.")
        writable = database.writable_tables()  # type: ignore[attr-defined]
        privileged = database.server_privileges()  # type: ignore[attr-defined]
    if password is not None:
        notes.append("The password in the URL was used to check the connection and was not "
                     "stored. Set PGPASSWORD (or a ~/.pgpass line, or task.password_env) for "
                     "every later command.")
    if writable:
        shown = ", ".join(writable[:5]) + (" ..." if len(writable) > 5 else "")
        notes.append(f"Warning: this user can write to {len(writable)} tables ({shown}). Every "
                     "query runs in a read-only transaction, but a role that can only read is "
                     "safer: see the README's read-only role.")
    if privileged:
        notes.append(f"Warning: this user is {' and '.join(privileged)}: it can reach the "
                     "server's files (pg_read_file, lo_import) if a query ever got past the "
                     "checks. Use a role that can only read this database's tables: see the "
                     "README's read-only role.")
    return config


def _classification(labels: list[str] | None, multi_label: bool) -> ClassificationConfig:
    try:
        return ClassificationConfig(labels=labels or [], multi_label=multi_label)
    except ValidationError as exc:
        raise UsageError(f"{arg('init', 'labels')}: {exc.errors()[0]['msg']}.") from None


def _extraction(root: Path, output_schema: str | None) -> tuple[ExtractionConfig,
                                                                 Callable[[], None]]:
    """The task's config, and how to write its JSON Schema into the project once it exists."""
    from slm_distill.tools.tasks.output_schema import SCHEMA_FILE, load_output_schema

    if not output_schema:
        raise UsageError(f"An extraction project needs the JSON Schema of its answers: "
                         f"{arg('init', 'output_schema')} FILE.json (or MODULE:PydanticModel).")
    schema = load_output_schema(output_schema)
    text = json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
    return ExtractionConfig(schema_file=SCHEMA_FILE), lambda: write_atomic(root / SCHEMA_FILE, text)


def _tool_calling(root: Path, tools_file: Path | None, command: str | None
                  ) -> tuple[ToolCallingConfig, Callable[[], None]]:
    """The task's config, and how to write its tools.json into the project once it exists."""
    from slm_distill.tools.tasks.tools_file import TOOLS_FILE, load_tools, tools_from_mcp, tools_json

    if (tools_file is None) == (command is None):
        raise UsageError(f"A tool_calling project needs its tools: give exactly one of "
                         f"{arg('init', 'tools_file')} FILE.json or "
                         f"{arg('init', 'tools_from_mcp')} \"COMMAND ARGS\".")
    tools = load_tools(tools_file) if tools_file is not None else tools_from_mcp(command or "")
    text = tools_json(tools)
    return ToolCallingConfig(tools_file=TOOLS_FILE), lambda: write_atomic(root / TOOLS_FILE, text)


def _generation(root: Path, rubric: Path | None, instruction: str | None
                ) -> tuple[TextGenerationConfig, Callable[[], None]]:
    """The task's config, and how to write its rubric into the project once it exists."""
    from slm_distill.prompts import load_prompt

    if rubric is not None:
        try:
            text = rubric.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"{rubric}: cannot read the rubric ({exc}). Give a Markdown or text "
                             "file of what a good answer is.") from None
        if not text:
            raise UsageError(f"{rubric} is empty. Write what a good answer is, a point a line, "
                             "or leave the rubric out for the default one.")
        if len(text) > 20_000:
            raise UsageError(f"{rubric} is {len(text):,} characters; a rubric is a few lines "
                             "(at most 20,000 characters).")
    else:
        text = load_prompt("generation/rubric").strip()
    try:
        config = (TextGenerationConfig(instruction=" ".join(instruction.split()))
                  if instruction is not None else TextGenerationConfig())
    except ValidationError as exc:
        raise UsageError(f"{arg('init', 'instruction')}: {exc.errors()[0]['msg']}.") from None
    return config, lambda: write_atomic(root / config.rubric_file, text + "\n")


def _set_judge(config: ProjectConfig, judge: str | None, root: Path) -> None:
    from slm_distill.tools.teachers import check_spec

    if judge is not None:
        check_spec(judge, root.resolve())
        config.judge.spec = judge


def _no_database(db: Path | None, schema: Path | None, task: str) -> None:
    if db is not None or schema is not None:
        raise UsageError(f"A {task} project has no database: leave out "
                         f"{arg('init', 'db_file')} and {arg('init', 'schema_file')}.")


def _config(name: str, teacher: str, student: str) -> ProjectConfig:
    try:
        return ProjectConfig(name=name, teacher=teacher, student=student)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = str(error["loc"][0]) if error["loc"] else "name"
        raise UsageError(f"{arg('init', field)}: {error['msg']}.") from None


def _relative_or_absolute(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def _check_db(db: Path) -> Engine:
    """The engine of a database file, checked to open and to hold tables."""
    if not db.is_file():
        raise UsageError(f"{db}: no such database file. Pass an existing DuckDB or SQLite file "
                         f"as {arg('init', 'db_file')}.")
    engine = sniff_file(db)
    if engine is None:
        raise UsageError(f"{db} is neither a DuckDB nor a SQLite database. Pass a .duckdb or "
                         f".sqlite file as {arg('init', 'db_file')}, or a SQL file as "
                         f"{arg('init', 'schema_file')}.")
    try:
        with DatabaseSource(engine, path=db).open() as database:
            tables = database.tables()
    except UsageError:
        raise
    except Exception as exc:  # noqa: BLE001 - a damaged or locked file: say so in one line
        raise UsageError(f"{db}: {ENGINE_LABELS[engine]} cannot open it ({short(exc)}). Check "
                         "the file is complete and readable.") from None
    if not tables:
        raise UsageError(f"{db} holds no tables. Load your schema, or give a SQL file as "
                         f"{arg('init', 'schema_file')}.")
    return engine


def _build_db(schema: Path, dialect: str | None) -> Path:
    """Load DDL + INSERTs into a new DuckDB file in a temp dir; moved into the project on success."""
    from slm_distill.tools.tasks.sqlload import load_sql_file

    if not schema.is_file():
        raise UsageError(f"{schema}: no such file. Pass a SQL file of CREATE TABLE and INSERTs.")
    engine = sniff_file(schema)
    if engine is not None:
        raise UsageError(f"{schema} is a {ENGINE_LABELS[engine]} database, not a SQL file: pass "
                         f"it as {arg('init', 'db_file')} instead.")
    tmp = Path(tempfile.mkdtemp(prefix="distill-db-")) / DB_FILE
    try:
        load_sql_file(schema, tmp, dialect=dialect)
    except BaseException:
        shutil.rmtree(tmp.parent, ignore_errors=True)
        raise
    return tmp


# -- seeds add -------------------------------------------------------------------------------
def add_seeds(project: Project, source: Path) -> int:
    """Validate every line of `source` (format, task validation, duplicates) then append them all.

    Returns the number added. On any bad line nothing is written and InputFileError lists them.
    """
    numbered, problems = parse_jsonl(source, Seed)
    labels = labels_from_seeds(project, [seed for _, seed in numbered])
    problems += _seed_problems(project, source, numbered)
    if problems and labels:
        project.config.task.labels = []  # nothing of a refused file stays, in memory either
    if problems:
        raise InputFileError(sorted(problems, key=_line_of),
                             "Fix these lines and run {fix} again; nothing was written.",
                             fix=act("add_seeds", seeds_file=str(source)))
    if not numbered:
        raise UsageError(f"{source} holds no seeds. Give a JSONL file with one "
                         '{"input": ..., "output": ...} object per line.')
    new = [seed for _, seed in numbered]
    text = project.seeds_path.read_text(encoding="utf-8") if project.seeds_path.exists() else ""
    write_atomic(project.seeds_path, text + dumps_jsonl(new))
    if labels:
        project.save()
    return len(new)


def labels_from_seeds(project: Project, seeds: list[Seed]) -> list[str]:
    """A classification project without labels takes them from its first seeds' outputs (in
    memory: saved only once the seeds are); the labels set, or [] when there was nothing to do."""
    task = project.config.task
    if not isinstance(task, ClassificationConfig) or task.labels or not seeds:
        return []
    found: list[str] = []
    for seed in seeds:
        parts = seed.output.split(",") if task.multi_label else [seed.output]
        for part in (" ".join(p.split()) for p in parts):
            if part and part.casefold() not in {f.casefold() for f in found}:
                found.append(part)
    if len(found) < 2:
        raise UsageError(f"The seeds' outputs name {len(found)} label(s); a classification needs "
                         "at least two. Add seeds of other labels, or set the labels: {fix}.",
                         fix=act("set_config", key="task.labels", value=Blank("labels")))
    try:
        task.labels = found
    except ValidationError as exc:
        raise UsageError(f"The seeds' outputs are not usable as labels: "
                         f"{exc.errors()[0]['msg']}.") from None
    return found


def _line_of(problem: str) -> int:
    """The line number in a `FILE:LINE: why` problem (problems list in file order)."""
    head = problem.split(": ", 1)[0]
    number = head.rsplit(":", 1)[-1]
    return int(number) if number.isdigit() else 0


def _seed_problems(project: Project, source: Path, new: list[tuple[int, Seed]]) -> list[str]:
    seen = {s.id for s in project.seeds()}
    problems = []
    task = project.task()
    try:
        for line, seed in new:
            if seed.id in seen:
                problems.append(f"{source}:{line}: duplicate input (already a seed): "
                                f"{seed.input[:60]!r}")
            seen.add(seed.id)
            if (why := task.check_input(seed.input)) is not None:
                problems.append(f"{source}:{line}: input does not fit: {why}")
            check = task.validate(seed.output)
            if not check.ok:
                problems.append(f"{source}:{line}: output is not valid: {check.reason}")
    finally:
        task.close()
    return problems
