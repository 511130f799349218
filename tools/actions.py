"""Next steps and fixes as data, rendered for the surface that asked.

    act("generate", override_gate="REASON")
        CLI: distill generate --override-gate "REASON"
        MCP: generate_pairs(override_gate="REASON")

Errors (`DistillError`) and reports' `next_step` texts name what to do next through `Action`s, so a
CLI user reads a command line and an MCP agent reads a tool call with its arguments. The surface is
a context variable: the CLI leaves the default, the MCP server sets "mcp" around each tool, and a
job's worker sets the surface of whoever started the job.
"""

from __future__ import annotations

import contextlib
import shlex
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Literal

Surface = Literal["cli", "mcp"]
SURFACE: ContextVar[Surface] = ContextVar("slm_distill_surface", default="cli")


@dataclass(frozen=True)
class Command:
    """One capability on both surfaces: its CLI command and its MCP tool."""

    cli: str
    tool: str
    cli_extra: str = ""  # a fixed CLI flag that selects this capability, e.g. "--cancel"


COMMANDS: dict[str, Command] = {
    "init": Command("init", "init_project"),
    "add_seeds": Command("seeds add", "add_seeds"),
    "validate_teacher": Command("validate-teacher", "validate_teacher"),
    "validate_judge": Command("validate-judge", "validate_judge"),
    "generate": Command("generate", "generate_pairs"),
    "train": Command("train", "train_student"),
    "evaluate": Command("evaluate", "evaluate"),
    "export": Command("export", "export_gguf"),
    "improve": Command("improve", "improve"),
    "status": Command("status", "project_status"),
    "get_config": Command("config get", "get_config"),
    "set_config": Command("config set", "set_config"),
    "job_status": Command("job", "job_status"),
    "follow_job": Command("job", "job_status", "--follow"),
    "cancel_job": Command("job", "cancel_job", "--cancel"),
    "list_jobs": Command("jobs", "list_jobs"),
}


@dataclass(frozen=True)
class Blank:
    """A value the user fills in: CLI `FILE` or `"REASON"` (free text, quoted), MCP `"<file>"`."""

    name: str
    text: bool = False

    def __str__(self) -> str:
        return f'"{self.name.upper()}"' if self.text else self.name.upper()


@dataclass(frozen=True)
class Action:
    """Run `command` with `args` (request field names; values are shown as given)."""

    command: str
    args: dict[str, Any] = field(default_factory=dict)

    def render(self, surface: Surface | None = None) -> str:
        surface = surface or SURFACE.get()
        return _cli(self) if surface == "cli" else _mcp(self)

    def __str__(self) -> str:
        return self.render()


ADD_SEEDS = Action("add_seeds", {"seeds_file": Blank("file")})
OVERRIDE_GATE = Action("generate", {"override_gate": Blank("reason", text=True)})
OVERRIDE_JUDGE_GATE = Action("generate", {"override_judge_gate": Blank("reason", text=True)})


def act(command: str, **args: Any) -> Action:
    if command not in COMMANDS:
        raise KeyError(f"unknown command {command!r}")
    return Action(command, args)


def say(command: str, **args: Any) -> str:
    """The action rendered for the current surface, for use inside a sentence."""
    text = act(command, **args).render()
    return f"`{text}`"


def arg(command: str, name: str) -> str:
    """How the current surface names one argument of `command`: `--db` on the CLI, `db_file` in MCP."""
    from slm_distill.tools.requests import REQUESTS, cli_flag

    if SURFACE.get() == "mcp":
        return f"`{name}`"
    model = REQUESTS[_request_of(command)]
    return f"`{cli_flag(name, model.model_fields[name])}`"


def _cli(action: Action) -> str:
    from slm_distill.tools.requests import REQUESTS, Cli, cli_flag, meta

    command = COMMANDS[action.command]
    model = REQUESTS.get(_request_of(action.command))
    words, flags = ["distill", *command.cli.split()], []
    for name, value in action.args.items():
        info = model.model_fields.get(name) if model else None
        spec = meta(info, Cli) if info else None
        flag = cli_flag(name, info) if info else f"--{name.replace('_', '-')}"
        if name == "directory" or (spec and spec.argument):
            words.append(_quote(value))
        elif value is True:
            flags.append(flag)
        elif value is False:  # a plain flag left off; a `bool | None` one turned off
            if info is not None and info.annotation is not bool:
                flags.append(f"--no-{flag.removeprefix('--')}")
        else:
            flags.append(f"{flag} {_quote(value)}")
    if command.cli_extra:
        flags.append(command.cli_extra)
    return " ".join(words + flags)


def _request_of(command: str) -> str:
    return {"follow_job": "job_status"}.get(command, command)


def _quote(value: Any) -> str:
    if isinstance(value, Blank):
        return str(value)
    if isinstance(value, bool) or value is None:
        return _json(value)
    text = ",".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
    return shlex.quote(text)


def _mcp_args(action: Action) -> dict[str, Any]:
    """The action's arguments, plus the model's default for each field whose MCP default differs
    (a fix that names generation over MCP must say dry_run=false, or it only estimates)."""
    from slm_distill.tools.requests import REQUESTS, McpDefault, meta

    args = dict(action.args)
    model = REQUESTS.get(_request_of(action.command))
    for name, info in (model.model_fields.items() if model else ()):
        if name not in args and meta(info, McpDefault) is not None:
            args[name] = info.get_default(call_default_factory=True)
    return args


def _mcp(action: Action) -> str:
    tool = COMMANDS[action.command].tool
    given = _mcp_args(action)
    args = ", ".join(f"{k}={_json(v)}" for k, v in given.items() if k != "directory")
    if "directory" in action.args:
        args = ", ".join(filter(None, [f"project_dir={_json(action.args['directory'])}", args]))
    return f"{tool}({args})"


def _json(value: Any) -> str:
    import json

    return f'"<{value.name}>"' if isinstance(value, Blank) else json.dumps(value)


@contextlib.contextmanager
def surface(name: Surface) -> Iterator[None]:
    token = SURFACE.set(name)
    try:
        yield
    finally:
        SURFACE.reset(token)
