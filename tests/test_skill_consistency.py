"""The skill (skill/SKILL.md, skill/references/*.md) and the MCP prompts name only what exists.

An agent follows these texts literally, so every tool, argument, CLI flag, configuration key,
report field and resource they mention is checked against the real surfaces:

- MCP tools, their arguments and the prompts come from the server itself (the in-memory client);
- CLI commands and flags from the click tree of `distill`;
- configuration keys from `config_view` on a real project;
- report and result fields by walking the pydantic models the tools return;
- failure categories, reject reasons, red flags, needs and job statuses from the code that makes them.

Conventions the docs follow (and this test parses):

- an MCP call is written `tool_name(arg=value, ...)` with JSON values; `project_dir` may be left
  out, every other required argument is written;
- a CLI command is written `distill COMMAND ... --flag VALUE`;
- a setting is a backticked dotted key (`training.max_steps`) and is changed with `set_config`,
  never written YAML-style (`training.max_steps: 20`);
- any other backticked snake_case name is a tool, an argument, a configuration key, a field of a
  result, a value the code produces, or on the short allow-list below.

Fenced code blocks (the seed example, the map, the run-log template, the file tree) are not
parsed. The prompts are checked as the server renders them.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import click
import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

from tests.conftest import EXAMPLE, EXAMPLE_TEACHER, REPO

CLASSIFICATION = REPO / "examples" / "classification"

SKILL = REPO / "skill" / "SKILL.md"
DOCS = [SKILL, *sorted((REPO / "skill" / "references").glob("*.md"))]
PROMPT_FILES = sorted((REPO / "prompts").glob("mcp_*.md"))
PROMPT_ARGS = {"task": "SQL for my shop", "project_dir": "shop"}

# Backticked names no part of the code vouches for, each with why the docs name it. Keep it short.
ALLOWED_NAMES = {
    "true", "false", "null",  # JSON values of tool arguments
    "answer", "propose",  # the methods a python: teacher object provides (teachers.md)
    "messages",  # the chat column of data/hf/*.parquet that TRL reads (tools/generation/hf_export.py)
    "same",  # a column of reports/export.md: share of answers identical to the HF model's
    "sqlite3",  # Python's module, to copy a SQLite file into DuckDB (task-types.md)
    "to_char",  # a PostgreSQL function a teacher may wrongly use (troubleshooting.md)
    "context",  # the argument a python: teacher's methods receive (teachers.md)
    "classification", "extraction",  # task types that are planned, not built (task-types.md)
    "parameters",  # the JSON Schema key of a tool in an OpenAI-style tools file (task-types.md)
}
# Lower-case names followed by "(" that are not MCP tools: functions the docs name for what they are.
ALLOWED_FUNCTIONS = {
    "answer", "propose",  # a python: teacher's methods, with their signatures (teachers.md)
    "tool_name",  # the notation for a call, where the docs explain it
    "name",  # a tool's line in a tool-calling student's prompt, `name(arg: type)` (task-types.md)
}
FILE_SUFFIXES = {"md", "json", "jsonl", "yaml", "png", "gguf", "gbnf", "parquet", "sqlite", "duckdb", "sql",
                 "py", "csv", "txt"}
IDENT = r"[a-z_][a-z0-9_]*"
CALL = re.compile(rf"(?<![\w.])({IDENT})\(")
PROSE_CALL = re.compile(rf"(?<![\w.])([a-z]+_[a-z0-9_]+|{IDENT}(?=\({IDENT}=))\(")
URI = re.compile(r"distill://project/[^\s`'\"()]+")
REPORT_FILE = re.compile(r"(?<![\w/])reports/([a-z_]+)\.(?:md|json|png)\b")


# -- what exists ------------------------------------------------------------------------------------
@dataclass
class Tool:
    args: set[str]
    required: set[str]
    request: type[BaseModel] | None


@dataclass
class Reality:
    tools: dict[str, Tool]
    prompts: dict[str, set[str]]
    prompt_texts: dict[str, str]
    templates: list[str]
    config_keys: set[str]
    names: set[str] = field(default_factory=set)  # every name a backticked identifier may be
    children: dict[str, set[str]] = field(default_factory=dict)  # field -> fields of its model
    cli_commands: dict[str, click.Command] = field(default_factory=dict)  # "config set" -> command
    flags: set[str] = field(default_factory=set)  # every option of every command

    @property
    def sections(self) -> set[str]:
        return {k.split(".")[0] for k in self.config_keys if "." in k}

    @property
    def tool_args(self) -> set[str]:
        return set().union(*(t.args for t in self.tools.values()))


def _mcp_surface(root: Path) -> tuple[dict, dict, dict, list[str]]:
    from mcp import Client

    from slm_distill.server.app import build_server
    from slm_distill.tools.actions import COMMANDS
    from slm_distill.tools.requests import REQUESTS

    requests = {c.tool: REQUESTS.get(key) for key, c in COMMANDS.items()}

    async def run():
        async with Client(build_server(root)) as client:
            tools = (await client.list_tools()).tools
            prompts = (await client.list_prompts()).prompts
            texts = {}
            for p in prompts:
                names = {a.name for a in p.arguments or []}
                got = await client.get_prompt(p.name, {k: v for k, v in PROMPT_ARGS.items()
                                                       if k in names})
                texts[p.name] = "\n".join(m.content.text for m in got.messages)
            templates = (await client.list_resource_templates()).resource_templates
            return tools, prompts, texts, templates

    tools, prompts, texts, templates = asyncio.run(run())
    return ({t.name: Tool(set(t.input_schema["properties"]), set(t.input_schema.get("required", [])),
                          requests.get(t.name)) for t in tools},
            {p.name: {a.name for a in p.arguments or []} for p in prompts}, texts,
            [t.uri_template for t in templates])


def _walk(annotation: Any, models: set[type[BaseModel]], literals: set[str]) -> None:
    """Every pydantic model and Literal value reachable from `annotation`."""
    origin = typing.get_origin(annotation)
    if origin is Literal:
        literals.update(str(v) for v in typing.get_args(annotation))
    elif origin is typing.Annotated:
        _walk(typing.get_args(annotation)[0], models, literals)
    elif origin is not None or isinstance(annotation, types.UnionType):
        for arg in typing.get_args(annotation):
            _walk(arg, models, literals)
    elif inspect.isclass(annotation) and issubclass(annotation, BaseModel) and annotation not in models:
        models.add(annotation)
        for info in annotation.model_fields.values():
            _walk(info.annotation, models, literals)


def _models() -> list[type[BaseModel]]:
    """What the tools return: reports, results, the job state, the configuration views."""
    from slm_distill.server import results
    from slm_distill.tools import stages
    from slm_distill.tools.evaluate import EvalReport
    from slm_distill.tools.export_gguf import ExportReport
    from slm_distill.tools.generate_pairs import GenerationReport
    from slm_distill.tools.generation.estimate import GenerationEstimate
    from slm_distill.tools.improve import ImprovePlan, ImproveReport
    from slm_distill.tools.judge import JudgeValidationReport
    from slm_distill.tools.train_student import TrainReport
    from slm_distill.tools.training.timing import TrainEstimate
    from slm_distill.tools.validate_teacher import TeacherValidationReport
    from slm_distill.tools.workspace.jobs import JobState
    from slm_distill.tools.workspace.project import Seed
    from slm_distill.tools.workspace.settings import ConfigChange, ConfigView
    from slm_distill.tools.workspace.status import ProjectStatus

    return [TeacherValidationReport, results.QuotedTeacherReport, JudgeValidationReport,
            results.QuotedJudgeReport, GenerationReport,
            GenerationEstimate, TrainReport, EvalReport, ExportReport, ImprovePlan, ImproveReport,
            ProjectStatus, JobState, ConfigView, ConfigChange, stages.SeedsAdded,
            stages.ImprovePreview, results.JobStarted, results.JobView, results.JobList,
            results.GenerateResult, results.ImproveResult, results.TrainResult, TrainEstimate,
            Seed]


def _produced_names(metric_names: tuple[str, ...]) -> set[str]:
    """Values the code writes or reads: failure categories, reject reasons, red flag codes, the
    needs of improve's groups, job statuses and metrics, evaluation metrics, report names, what a
    python teacher's context holds, augmentation modes, teacher backends, hosts that need no key,
    the Modelfile's parameters and the package's extras."""
    import tomllib

    from slm_distill.server.resources import REPORTS
    from slm_distill.tools.tasks.sandbox import ErrorCategory
    from slm_distill.tools.tasks.text2sql import NEED_ORDER
    from slm_distill.tools.teachers import BACKENDS
    from slm_distill.tools.teachers.openai_backend import _LOCAL_HOSTS
    from slm_distill.tools.workspace.jobs import Status
    from slm_distill.tools.workspace.project import Seed

    tools = REPO / "tools"
    text2sql = "\n".join(f.read_text() for f in sorted((tools / "tasks").glob("*.py")))
    generate = (tools / "generate_pairs.py").read_text()
    evaluate = (tools / "evaluate.py").read_text()
    jobs = (tools / "workspace" / "jobs.py").read_text()
    python_teacher = (tools / "teachers" / "python_backend.py").read_text()
    categories = set(typing.get_args(ErrorCategory))
    categories |= {c for pair in re.findall(r'category = "(\w+)" if .* else "(\w+)"', text2sql)
                   for c in pair}
    categories |= set(re.findall(r'Score\([^)]*?"(\w+)"', text2sql))
    categories |= set(re.findall(r'Validation\(False, "(\w+)"', text2sql))
    rejects = set(re.findall(r'category="(\w+)"', generate))
    rejects |= set(re.findall(r'reject = \("(\w+)"', generate))
    rejects |= set(re.findall(r"check\.category or '(\w+)'", generate))
    flags = set(re.findall(r'code="(\w+)"', evaluate))
    job_metrics = re.search(r"if k in \(([^)]*)\)", jobs)
    context_extra = set(re.findall(r"(\w+)=", "".join(re.findall(r"self\._context\(task, ([^)]*)\)",
                                                                   python_teacher))))
    augment = {p.stem.removeprefix("augment_") for p in (REPO / "prompts").glob("*/augment_*.md")}
    modelfile = set(re.findall(r"PARAMETER (\w+)", (tools / "reporting" / "modelcard.py").read_text()))
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert {"wrong_result", "empty_result", "gold_error"} <= categories, categories
    assert {"malformed", "duplicate", "leakage", "no_majority"} <= rejects, rejects
    assert flags and job_metrics and context_extra and augment
    return (categories | rejects | flags | set(NEED_ORDER) | set(typing.get_args(Status))
            | set(re.findall(r'"(\w+)"', job_metrics.group(1))) | set(metric_names)
            | set(REPORTS) | context_extra | augment | {Seed(input="q", output="a").difficulty}
            | set(BACKENDS) | set(_LOCAL_HOSTS) | modelfile | set(extras))


def _cli_commands() -> dict[str, click.Command]:
    from slm_distill.tools.cli.commands import cli

    out: dict[str, click.Command] = {"": cli}

    def walk(group: click.Group, prefix: str) -> None:
        for name, command in group.commands.items():
            path = f"{prefix} {name}".strip()
            out[path] = command
            if isinstance(command, click.Group):
                walk(command, path)

    walk(cli, "")
    return out


def _options(command: click.Command) -> set[str]:
    return {o for p in command.params if isinstance(p, click.Option)
            for o in (*p.opts, *p.secondary_opts)}


@pytest.fixture(scope="module")
def reality(tmp_path_factory: pytest.TempPathFactory) -> Reality:
    import duckdb

    from slm_distill.tools.workspace.project import init_project
    from slm_distill.tools.workspace.settings import config_view

    root = tmp_path_factory.mktemp("workspace")
    project = init_project(root / "proj", schema=EXAMPLE / "schema.sql", teacher=EXAMPLE_TEACHER,
                           student="scratch:tiny")
    tools, prompts, texts, templates = _mcp_surface(root)
    labels = (CLASSIFICATION / "labels.txt").read_text().split()
    classifier = init_project(root / "classify", task="classification", labels=labels,
                              teacher=EXAMPLE_TEACHER, student="scratch:tiny")
    extractor = init_project(root / "extract", task="extraction", teacher=EXAMPLE_TEACHER,
                             output_schema=str(REPO / "examples" / "extraction" / "contact.schema.json"),
                             student="scratch:tiny")
    caller = init_project(root / "call", task="tool_calling", teacher=EXAMPLE_TEACHER,
                          tools_file=REPO / "examples" / "tool_calling" / "tools.json",
                          student="scratch:tiny")
    writer = init_project(root / "write", task="generation", teacher=EXAMPLE_TEACHER,
                          judge="python:slm_distill.examples.generation.teacher:JUDGE",
                          student="scratch:tiny")
    projects = (project, classifier, extractor, caller, writer)
    config_keys = {f.key for p in projects for f in config_view(p).fields}
    r = Reality(tools, prompts, texts, templates, config_keys)

    from slm_distill.tools.requests import REQUESTS
    from slm_distill.tools.workspace.config import ProjectConfig
    from slm_distill.tools.workspace.jobs import JobState

    models: set[type[BaseModel]] = set()
    literals: set[str] = set()
    for model in [*_models(), ProjectConfig, *REQUESTS.values()]:
        _walk(model, models, literals)
    for model in models:
        r.names |= set(model.model_fields)
        r.names |= {n for n, v in vars(model).items() if isinstance(v, property)}
        for name, info in model.model_fields.items():
            inner: set[type[BaseModel]] = set()
            _walk(info.annotation, inner, set())
            for sub in inner:
                r.children.setdefault(name, set()).update(sub.model_fields)
    r.children.setdefault("state", set()).update(JobState.model_fields)  # JobView.state is one
    context: set[str] = set()
    metric_names: tuple[str, ...] = ()
    for p in projects:
        task = p.task()
        try:
            context |= set(task.context())
            metric_names += tuple(task.metric_names)
        finally:
            task.close()
    with duckdb.connect(str(project.db_path), read_only=True) as db:  # the example's tables
        tables = {row[0] for row in db.execute("SELECT table_name FROM information_schema.tables")
                  .fetchall()}
    r.cli_commands = _cli_commands()
    r.flags = set().union(*(_options(c) for c in r.cli_commands.values()))
    commands = {w for path in r.cli_commands for w in path.split()}
    leaves = {k.split(".")[-1] for k in config_keys}
    r.names |= (set(tools) | r.tool_args | set(prompts) | config_keys | leaves | r.sections
                | literals | _produced_names(metric_names) | context | tables | set(labels) | commands
                | ALLOWED_NAMES)
    return r


# -- reading the docs -------------------------------------------------------------------------------
FENCE = re.compile(r"^```.*?^```", re.S | re.M)
SPAN = re.compile(r"`([^`]+)`")


def parts(text: str) -> tuple[list[str], str]:
    """The inline code spans (whitespace collapsed, table pipes unescaped) and the prose around them,
    fenced blocks left out."""
    text = FENCE.sub("", text)
    spans = [" ".join(s.replace("\\|", "|").split()) for s in SPAN.findall(text)]
    return spans, SPAN.sub(" ", text)


def _closing(text: str, start: int) -> int:
    """Index of the ")" closing the "(" just before `start` (quotes and brackets respected)."""
    depth, quote = 1, None
    for i in range(start, len(text)):
        c = text[i]
        if quote:
            quote = None if c == quote else quote
        elif c in "\"'":
            quote = c
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth == 0:
                return i
    return len(text)


def _split_args(text: str) -> list[str]:
    out, depth, quote, current = [], 0, None, ""
    for c in text:
        if quote:
            quote = None if c == quote else quote
        elif c in "\"'":
            quote = c
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif c == "," and depth == 0:
            out.append(current)
            current = ""
            continue
        current += c
    return [a.strip() for a in [*out, current] if a.strip()]


def _json(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return ...


def check_calls(r: Reality, text: str, pattern: re.Pattern = CALL) -> list[str]:
    """Every `name(...)` is a tool (or an allowed function); its arguments are the tool's, the
    required ones are written, and JSON values are of the argument's type."""
    problems = []
    for match in pattern.finditer(text):
        name = match.group(1)
        if name not in r.tools:
            if name not in ALLOWED_FUNCTIONS:
                problems.append(f"{name}(...) is not an MCP tool")
            continue
        tool = r.tools[name]
        given: dict[str, Any] = {}
        for arg in _split_args(text[match.end():_closing(text, match.end())]):
            if arg in ("…", "...") or "|" in arg:
                continue
            key, eq, value = arg.partition("=")
            given[key.strip()] = _json(value.strip()) if eq else ...
        for key, value in given.items():
            if key not in tool.args:
                problems.append(f"{name}({key}=...): {name} has no argument {key!r}; it takes "
                                f"{sorted(tool.args)}")
            elif value is not ... and tool.request and key in tool.request.model_fields:
                try:
                    TypeAdapter(tool.request.model_fields[key].annotation).validate_python(
                        value, strict=True)
                except ValidationError:
                    problems.append(f"{name}({key}={json.dumps(value)}): not a valid {key}")
        missing = tool.required - set(given) - {"project_dir"}
        if missing:
            problems.append(f"{name}(...) without its required {sorted(missing)}")
        if name == "set_config" and isinstance(given.get("key"), str):
            problems += _check_setting(r, given["key"], given.get("value", ...))
    return problems


def _check_setting(r: Reality, key: str, value: Any) -> list[str]:
    from slm_distill.tools.workspace.config import ProjectConfig

    if key.isupper():  # a placeholder: KEY
        return []
    if key not in r.config_keys:
        return [f"set_config(key={key!r}): no such configuration key"]
    if key.startswith("gate.override"):
        return [f"set_config(key={key!r}): gate.override is set only through override_gate"]
    if value is ... or isinstance(value, str) and value.isupper():  # a placeholder: SPEC, MODEL
        return []
    from slm_distill.tools.workspace.config import TextGenerationConfig
    data = ProjectConfig(name="x").model_dump(mode="json")
    if key.startswith("task.") and key.split(".")[1] not in data["task"]:  # another task's key
        data["task"] = ({"name": "classification", "labels": ["a", "b"]} if "label" in key
                        else {"name": "generation"} if key.split(".")[1] in TextGenerationConfig.model_fields
                        else {"name": "extraction"})
    *sections, leaf = key.split(".")
    node = data
    for section in sections:
        node = node[section]
    node[leaf] = value
    try:
        ProjectConfig.model_validate_json(json.dumps(data), strict=True)
    except ValidationError as exc:
        return [f"set_config(key={key!r}, value={json.dumps(value)}): {exc.errors()[0]['msg']}"]
    return []


def check_cli(r: Reality, span: str) -> list[str]:
    words = span.split()
    path = ""
    for word in words[1:]:
        if f"{path} {word}".strip() in r.cli_commands:
            path = f"{path} {word}".strip()
        else:
            break
    command = r.cli_commands[path]
    allowed = _options(command) | {"-h", "--help"} | ({"-v", "--verbose"} if path else set())
    problems = [f"`{span}`: distill {path} has no option {flag}"
                for flag in re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", span)
                if re.sub(r"^-v+$", "-v", flag) not in allowed]
    rest = words[1 + len(path.split()):] if path else words[1:]
    key = rest[0] if path in ("config get", "config set") and rest else ""
    if re.fullmatch(r"[a-z_.]+", key) and key not in r.config_keys | r.sections:
        problems.append(f"`{span}`: no configuration key {key!r}")
    return problems


def known_report(name: str) -> bool:
    from slm_distill.server.resources import OTHER_REPORT, REPORTS

    return name in REPORTS or bool(OTHER_REPORT.match(name))


def check_uri(r: Reality, uri: str) -> list[str]:
    from slm_distill.server.resources import REPORTS

    uri = uri.rstrip(".,;:")
    tails = [t.split("{project_dir}/", 1)[1] for t in r.templates]
    tail = uri.split("/", 3)[3].split("/", 1)[1] if uri.count("/") >= 4 else ""
    placeholder = r"(?:\{[^}]*\}|<[^>]*>|\$\w+)"
    for template in tails:
        pattern = re.sub(r"\\\{\w+\\\}", "([^/]+)", re.escape(template))
        if (m := re.fullmatch(pattern, tail)):
            if template.startswith("report/"):
                name = m.group(1)
                names = name.strip("{}").split("|") if "|" in name else [name]
                bad = [n for n in names if not known_report(n) and not re.fullmatch(placeholder, n)]
                if bad:
                    return [f"{uri}: no report {bad}; the resource serves {list(REPORTS)}"]
            return []
    return [f"{uri}: no such resource; templates: {r.templates}"]


def check_dotted(r: Reality, span: str) -> list[str]:
    head, *rest = span.split(".")
    if rest[-1] in FILE_SUFFIXES:
        return []
    if head in r.sections:
        if span in r.config_keys or rest == ["*"]:
            return []
        return [f"`{span}`: no configuration key {span!r}"]
    if head not in r.children:
        return [f"`{span}`: {head!r} is neither a configuration section nor a field of a result"]
    for parent, child in zip([head, *rest], rest, strict=False):
        if child not in r.children.get(parent, set()):
            return [f"`{span}`: {parent!r} has no field {child!r}"]
    return []


def check_span(r: Reality, span: str) -> list[str]:
    """One inline code span, by its shape."""
    if span == "distill" or span.startswith("distill "):
        return check_cli(r, span)
    if "distill://" in span:
        return [p for uri in URI.findall(span) for p in check_uri(r, uri)]
    if CALL.search(span):
        return check_calls(r, span)
    if span.startswith("-"):
        flag = re.sub(r"^-v+$", "-v", span.split()[0].rstrip(","))
        return [] if flag in r.flags else [f"`{span}`: no distill command has the option {flag}"]
    if m := re.fullmatch(rf"({IDENT})=(.*)", span):
        return [] if m.group(1) in r.tool_args else [f"`{span}`: no tool has an argument "
                                                     f"{m.group(1)!r}"]
    if re.fullmatch(rf"{IDENT}(\.({IDENT}|\*))+:.*", span):
        return [f"`{span}`: settings are changed with set_config(key=..., value=...), not written "
                "YAML-style"]
    if re.fullmatch(rf"{IDENT}(\.({IDENT}|\*))+", span):
        return check_dotted(r, span)
    if m := re.fullmatch(r"invalid:(\S+)", span):
        return [] if m.group(1) in r.names | {"*", "<why>"} else [f"`{span}`: no reject reason"]
    if re.fullmatch(IDENT, span) and span.strip("_"):
        return [] if span in r.names else [f"`{span}`: not a tool, argument, configuration key, "
                                           "result field or value the code produces"]
    return []


def check_text(r: Reality, text: str, *, prose_calls: re.Pattern = PROSE_CALL) -> list[str]:
    spans, prose = parts(text)
    problems = [p for span in spans for p in check_span(r, span)]
    problems += check_calls(r, prose, prose_calls)
    problems += [p for uri in URI.findall(prose) for p in check_uri(r, uri)]
    from slm_distill.server.resources import REPORTS

    problems += [f"reports/{n}.*: no such report; reports: {list(REPORTS)}"
                 for n in REPORT_FILE.findall(text) if not known_report(n)]
    return problems


# -- the tests --------------------------------------------------------------------------------------
@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_doc_names_only_what_exists(reality: Reality, doc: Path):
    problems = check_text(reality, doc.read_text())
    assert not problems, f"{doc.relative_to(REPO)}:\n" + "\n".join(problems)


@pytest.mark.parametrize("name", ["distill", "diagnose", "improve"])
def test_rendered_prompt_names_only_what_exists(reality: Reality, name: str):
    text = reality.prompt_texts[name]
    assert "$" not in text, "a placeholder was left unrendered"
    if "project_dir" in reality.prompts[name]:
        assert f'project_dir="{PROMPT_ARGS["project_dir"]}"' in text
    problems = check_text(reality, text, prose_calls=CALL)  # prompts are plain text: every call
    assert not problems, f"prompt {name}:\n" + "\n".join(problems)


def test_every_prompt_file_is_served(reality: Reality):
    from string import Template

    served = set(reality.prompt_texts.values())
    for path in PROMPT_FILES:
        text = Template(path.read_text()).safe_substitute(
            task=PROMPT_ARGS["task"], project=PROMPT_ARGS["project_dir"]).strip()
        assert text in served, f"{path.name} is not what any MCP prompt serves"
    assert set(reality.prompts["distill"]) == {"task", "project_dir"}


def test_tools_reference_lists_every_tool_argument_and_flag(reality: Reality):
    """references/tools.md has one row per tool with all its arguments and its CLI command with
    all its flags, so a new argument or flag cannot go undocumented."""
    text = (REPO / "skill" / "references" / "tools.md").read_text()
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        if len(cells) == 4 and (m := re.fullmatch(rf"`({IDENT})`", cells[0])):
            rows[m.group(1)] = cells
    assert set(rows) == set(reality.tools), "one row per MCP tool"
    flags_shown: dict[str, set[str]] = {}
    for name, (_, arguments, _, cli) in rows.items():
        shown = set(re.findall(rf"`({IDENT})`", arguments))
        assert reality.tools[name].args - {"project_dir"} <= shown, (
            name, reality.tools[name].args - shown)
        spans, _ = parts(cli)
        assert len(spans) == 1 and spans[0].startswith("distill "), cli
        path = max((p for p in reality.cli_commands if p and spans[0].startswith(f"distill {p}")),
                   key=len)
        flags_shown.setdefault(path, set()).update(re.findall(r"--[\w-]+", spans[0]))
    for path, flags in flags_shown.items():
        expected = {o for o in _options(reality.cli_commands[path]) if o.startswith("--")}
        assert expected - {"--project", "--help"} <= flags, (path, expected - flags)
    for path, command in reality.cli_commands.items():
        if path and not isinstance(command, click.Group):
            assert f"`distill {path}" in text.replace("\n", " "), f"distill {path} is not in tools.md"


def test_skill_speaks_mcp(reality: Reality):
    """SKILL.md names tool calls; CLI commands only where no tool exists. What the agents that
    followed it needed: configuration through set_config, the gate override, a fresh test file,
    the generation report's examples and the gate's interval."""
    text = SKILL.read_text()
    spans, _ = parts(text)
    for needed in ("set_config", "override_gate", "test_file", "examples", "interval"):
        assert any(re.search(rf"\b{needed}\b", s) for s in spans), needed
    cli_only = {"demo", "mcp", "install-skill"}
    commands = {s.split()[1] for s in spans if s.startswith("distill ")}
    assert commands <= cli_only, f"SKILL.md gives CLI commands that have tools: {commands - cli_only}"
    assert not re.search(r"\b(edit|change|set)\b[^.]*`distill\.yaml`", text.replace("\n", " ")
                         .replace("never by editing `distill.yaml`", "")), \
        "SKILL.md tells the agent to edit distill.yaml; use set_config"


@pytest.mark.parametrize("planted, found", [
    ("`generate_pairs(colour=1)`", "no argument 'colour'"),
    ("Then generate_pairs(dry_run=false, colour=1).", "no argument 'colour'"),
    ("`generate_pair(n=5)`", "generate_pair(...) is not an MCP tool"),
    ("`generate_pairs(dry_run=\"yes\")`", "not a valid dry_run"),
    ("`job_status()`", "without its required ['job_id']"),
    ("`set_config(key=\"training.max_step\", value=20)`", "no such configuration key"),
    ("`set_config(key=\"training.eval_steps\", value=null)`", "training.eval_steps"),
    ("`set_config(key=\"gate.override\", value=null)`", "only through override_gate"),
    ("`training.max_step`", "no configuration key"),
    ("`generation.batch: true`", "not written YAML-style"),
    ("`distill generate --colour`", "has no option --colour"),
    ("`distill evaluate --test-set F`", "has no option --test-set"),
    ("`distill config set training.colour 1`", "no configuration key"),
    ("`--colour`", "no distill command has the option --colour"),
    ("`colour=1`", "no tool has an argument"),
    ("`distill://project/p/report/evaluation`", "no report"),
    ("`distill://project/p/reports/eval`", "no such resource"),
    ("see reports/evaluation.md", "no such report"),
    ("`interval.middle`", "'interval' has no field 'middle'"),
    ("`student_worse_than_base`", "not a tool, argument"),
    ("`invalid:colour`", "no reject reason"),
])
def test_the_checks_catch_planted_mistakes(reality: Reality, planted: str, found: str):
    clean = SKILL.read_text()
    assert not check_text(reality, clean)
    problems = check_text(reality, clean + "\n" + planted + "\n")
    assert any(found in p for p in problems), problems
