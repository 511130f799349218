"""MCP tool functions built from the stage request models (tools/requests.py): a tool's input
schema is its request's fields, with their descriptions, constraints and defaults, beside the
surface's own `project_dir` and `wait_seconds`.

    fn = tool_function("generate_pairs", doc, GenerateRequest, handler, project=True, wait=True)
    server.tool(name="generate_pairs")(fn)

`handler(ctx, project_dir, request, wait_seconds)` receives the request built from the call's
arguments. The result is a `CallToolResult` whose text starts with the result's `summary()` (some
clients show only text) and whose structured content is the result model.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent
from pydantic import BaseModel, Field, ValidationError
from pydantic.fields import FieldInfo

from slm_distill.tools.requests import Cli, McpDefault, Request, WorkspaceFile, meta
from slm_distill.tools.secrets import scrub, scrub_tree

MAX_WAIT_S = 50.0  # clients time tool calls out after about 60 s
SURFACE_ONLY = {"project_dir", "wait_seconds"}  # arguments of the MCP surface, not of a request

ProjectArg = Annotated[str, Field(description="Project directory, relative to the workspace root.",
                                  max_length=4_096)]
WaitArg = Annotated[float, Field(
    description="Seconds to wait for the job, sending progress notifications, before returning "
    f"(0 to {MAX_WAIT_S:.0f}). A job that ends sooner returns its result at once.",
    ge=0, le=MAX_WAIT_S)]
WAIT_DEFAULT = 5.0

_KW = inspect.Parameter.KEYWORD_ONLY


def _annotation(info: FieldInfo) -> Any:
    extra = [m for m in info.metadata if not isinstance(m, Cli | WorkspaceFile | McpDefault)]
    description = info.description or ""
    if default := meta(info, McpDefault):
        description += f" Default here: {str(default.value).lower()}, because {default.why}."
    return Annotated[info.annotation, Field(description=description), *extra]


def _default(info: FieldInfo) -> Any:
    if default := meta(info, McpDefault):
        return default.value
    return inspect.Parameter.empty if info.is_required() else info.get_default(call_default_factory=True)


def request_parameters(model: type[Request]) -> list[inspect.Parameter]:
    return [inspect.Parameter(name, _KW, default=_default(info), annotation=_annotation(info))
            for name, info in model.model_fields.items()]


Handler = Callable[[Context, str | None, Request, float | None], Awaitable[BaseModel]]


def tool_function(name: str, doc: str, model: type[Request], handler: Handler, *,
                  result: type[BaseModel], project: bool = True, wait: bool = False) -> Callable:
    """An async function with the signature the MCP SDK reads: ctx, project_dir, the request's
    fields and wait_seconds."""
    params = [inspect.Parameter("ctx", _KW, annotation=Context)]
    if project:
        params.append(inspect.Parameter("project_dir", _KW, annotation=ProjectArg))
    params += request_parameters(model)
    if wait:
        params.append(inspect.Parameter("wait_seconds", _KW, default=WAIT_DEFAULT, annotation=WaitArg))
    returns = Annotated[CallToolResult, result]

    async def tool(**kwargs: Any) -> CallToolResult:
        ctx, project_dir = kwargs.pop("ctx"), kwargs.pop("project_dir", None)
        wait_s = kwargs.pop("wait_seconds", None)
        try:
            request = model.model_validate(kwargs)
        except ValidationError as exc:  # a check of the model's own, beyond the schema
            error = exc.errors()[0]
            where = ".".join(str(p) for p in error["loc"]) or name
            raise ToolError(f"{where}: {error['msg']}") from None
        return respond(await handler(ctx, project_dir, request, wait_s))

    tool.__signature__ = inspect.Signature(params, return_annotation=returns)  # type: ignore[attr-defined]
    tool.__annotations__ = {p.name: p.annotation for p in params} | {"return": returns}
    tool.__name__ = tool.__qualname__ = name
    tool.__doc__ = doc
    return tool


def respond(result: BaseModel) -> CallToolResult:
    """Text first (the summary, then the data as JSON), and the same data as structured content."""
    data = scrub_tree(result.model_dump(mode="json"))
    summary = scrub(result.summary()) if hasattr(result, "summary") else ""
    body = json.dumps(data, ensure_ascii=False)
    text = f"{summary}\n\n{body}" if summary else body
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=data)
