"""A tool-calling project's tools: read from a file, or listed from an MCP server, and checked
before anything is written.

    tools = load_tools("tools.json")                     # OpenAI-style, or bare {name, ...}
    tools = tools_from_mcp("python -m my_server")        # lists the server's tools, calls none

Each tool comes back as `{"name", "description", "parameters"}` with `parameters` a Draft
2020-12 JSON Schema of one object; the project's `tools.json` holds them in OpenAI's form
(`{"type": "function", "function": {...}}`).
"""

from __future__ import annotations

import asyncio
import json
import re
import shlex
from pathlib import Path
from typing import Any

from slm_distill.tools.actions import arg
from slm_distill.tools.errors import UsageError

TOOLS_FILE = "tools.json"  # where init puts the tools, in the project
MAX_TOOLS_BYTES = 1_000_000
MAX_TOOLS = 128
MCP_TIMEOUT_S = 30.0
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def load_tools(path: Path) -> list[dict]:
    from slm_distill.tools.tasks.output_schema import read_json_file

    data, text = read_json_file(path, "a tools file", "Give a JSON list of tools (name, "
                                "description, parameters), or list an MCP server's tools with "
                                f"{arg('init', 'tools_from_mcp')}.", MAX_TOOLS_BYTES)
    return check_tools(data, str(path), text)


def tools_json(tools: list[dict]) -> str:
    """The project's tools.json: the tools in OpenAI's form."""
    return json.dumps([{"type": "function", "function": t} for t in tools], indent=2,
                      ensure_ascii=False) + "\n"


def check_tools(data: Any, where: str, text: str = "") -> list[dict]:
    """The tools in one form, or a UsageError naming the first problem (FILE:LINE where the text
    is known): not a list, a tool without a name, a duplicate name, parameters that are not a JSON
    Schema of one object."""
    if isinstance(data, dict) and isinstance(data.get("tools"), list):
        data = data["tools"]  # {"tools": [...]}, as an MCP tools/list result holds them
    if not isinstance(data, list) or not data:
        raise UsageError(f"{where}: expected a non-empty JSON list of tools, each "
                         '{"name": ..., "description": ..., "parameters": {JSON Schema}}.')
    if len(data) > MAX_TOOLS:
        raise UsageError(f"{where}: {len(data)} tools; a student learns at most {MAX_TOOLS}.")
    tools, seen = [], set()
    for index, item in enumerate(data):
        tool = _one_tool(item, _place(where, text, index, item))
        if tool["name"] in seen:
            raise UsageError(f"{_place(where, text, index, item)}: a second tool named "
                             f"{tool['name']!r}; tool names must differ.")
        seen.add(tool["name"])
        tools.append(tool)
    return tools


def _one_tool(item: Any, place: str) -> dict:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    item = _unwrapped(item)
    if not isinstance(item, dict):
        raise UsageError(f"{place}: a tool is a JSON object, not {type(item).__name__}.")
    name = item.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise UsageError(f"{place}: a tool needs a name of 1-64 letters, digits, _ . or - "
                         f"(got {name!r}).")
    parameters = item.get("parameters", item.get("inputSchema", item.get("input_schema")))
    parameters = {"type": "object", "properties": {}} if parameters is None else parameters
    if not isinstance(parameters, dict):
        raise UsageError(f"{place}: {name}: parameters must be a JSON Schema object.")
    try:
        Draft202012Validator.check_schema(parameters)
        if (dangling := _dangling_ref(parameters)) is not None:
            raise UsageError(f"{place}: {name}: parameters refer to {dangling}, which they do not "
                             "define.")
    except SchemaError as exc:
        raise UsageError(f"{place}: {name}: parameters are not a valid JSON Schema: "
                         f"{exc.message[:300]} (at {exc.json_path}).") from None
    except RecursionError:
        raise UsageError(f"{place}: {name}: parameters nest too deeply.") from None
    if parameters.get("type", "object") != "object":
        raise UsageError(f'{place}: {name}: parameters must describe one JSON object ("type": '
                         '"object").')
    description = item.get("description") or ""
    if not isinstance(description, str):
        raise UsageError(f"{place}: {name}: description must be text.")
    return {"name": name, "description": description, "parameters": parameters}


def _unwrapped(item: Any) -> Any:
    """A tool without OpenAI's {"type": "function", "function": {...}} wrapper."""
    return item["function"] if isinstance(item, dict) and isinstance(item.get("function"), dict) \
        else item


def _dangling_ref(schema: dict) -> str | None:
    """The first local `$ref` (`#/...`) that points at nothing in `schema`, or None."""
    stack: list = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#"):
                target: object = schema
                for part in [p for p in ref[1:].split("/") if p]:
                    part = part.replace("~1", "/").replace("~0", "~")
                    target = target.get(part) if isinstance(target, dict) else None
                if target is None:
                    return ref
            stack.extend(node.values())
    return None


def _place(where: str, text: str, index: int, item: Any) -> str:
    """`FILE:LINE` of tool `index` where the file's text holds its name, else `FILE, tool N`."""
    tool = _unwrapped(item)
    name = tool.get("name") if isinstance(tool, dict) else None
    if text and isinstance(name, str):
        hits = [m.start() for m in re.finditer(r'"name"\s*:\s*' + re.escape(json.dumps(name)),
                                               text)]
        before = sum(1 for i, t in enumerate(_names(text)) if i < index and t == name)
        if before < len(hits):
            return f"{where}:{text.count(chr(10), 0, hits[before]) + 1}"
    return f"{where}, tool {index + 1}"


def _names(text: str) -> list[str]:
    try:
        data = json.loads(text)
    except ValueError:
        return []
    data = data.get("tools", data) if isinstance(data, dict) else data
    items = data if isinstance(data, list) else []
    tools = [_unwrapped(i) for i in items]
    return [t.get("name") if isinstance(t, dict) else None for t in tools]


# -- from an MCP server ------------------------------------------------------------------------
def tools_from_mcp(command: str, *, cwd: Path | None = None,
                   timeout_s: float = MCP_TIMEOUT_S) -> list[dict]:
    """Start `command` as an MCP server over stdio, list its tools (nothing else is called), and
    stop it."""
    from slm_distill.tools.errors import require

    require("mcp", "mcp", "mcp")
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise UsageError(f"{arg('init', 'tools_from_mcp')} {command!r}: {exc}. Quote the command "
                         "as a shell would.") from None
    if not argv:
        raise UsageError(f"{arg('init', 'tools_from_mcp')} needs the command that starts the MCP "
                         'server, e.g. "python -m my_server".')
    try:
        listed = asyncio.run(asyncio.wait_for(_list(argv, cwd), timeout_s))
    except TimeoutError:
        raise UsageError(f"The MCP server {command!r} did not list its tools within "
                         f"{timeout_s:.0f}s. Check that it starts and speaks MCP over stdio.") from None
    except UsageError:
        raise
    except BaseException as exc:  # noqa: BLE001 - whatever the server or the command did
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise UsageError(f"The MCP server {command!r} could not be listed: "
                         f"{_reason(exc)}. Check the command (run it in a shell: it should wait "
                         "for MCP messages on stdin).") from None
    return check_tools(listed, f"the tools of {command!r}")


async def _list(argv: list[str], cwd: Path | None) -> list[dict]:
    from mcp import Client, StdioServerParameters

    params = StdioServerParameters(command=argv[0], args=argv[1:], cwd=cwd)
    async with Client(params) as client:
        result = await client.list_tools()
        tools = list(result.tools)
        while result.next_cursor:
            result = await client.list_tools(cursor=result.next_cursor)
            tools += result.tools
    return [{"name": t.name, "description": t.description or "",
             "parameters": t.input_schema} for t in tools]


def _reason(exc: BaseException) -> str:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}{': ' + text[:200] if text else ''}"
