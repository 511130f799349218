"""Click parameters built from the stage request models (tools/requests.py): the CLI states no
parameter, help text or default of its own.

    @cli.command()
    @request_options(GenerateRequest)
    def generate(request: GenerateRequest, project_dir: Path) -> None: ...

Options default to None and are left out of the request when not given, so the request model's
default applies; the help shows that default.
"""

from __future__ import annotations

import functools
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import click
from pydantic import ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from slm_distill.tools.requests import Cli, Request, WorkspaceFile, cli_flag, is_file_value, meta


def _inner(annotation: Any) -> Any:
    """`X | None` -> X."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0] if len(args) == 1 else annotation
    return annotation


def _click_type(info: FieldInfo) -> Any:
    kind = _inner(info.annotation)
    if typing.get_origin(kind) is Literal:
        return click.Choice([str(v) for v in typing.get_args(kind)])
    if (spec := meta(info, WorkspaceFile)) and not spec.or_import:
        return click.Path(dir_okay=False)
    return {int: int, float: float}.get(kind, str)


def _shown(info: FieldInfo) -> str | bool:
    default = info.default
    if default is None or default is PydanticUndefined or default is False:
        return False
    return ",".join(map(str, default)) if isinstance(default, list) else str(default)


def _param(name: str, info: FieldInfo) -> Callable:
    spec = meta(info, Cli) or Cli()
    if spec.argument:
        return click.argument(name, type=_click_type(info), required=info.is_required(),
                              metavar=cli_flag(name, info))
    if _inner(info.annotation) is bool:
        flag = cli_flag(name, info)
        if info.annotation is not bool:  # bool | None: None defers to the configuration
            flag = f"{flag}/--no-{flag.removeprefix('--')}"
        return click.option(flag, name, is_flag=True, default=None, help=info.description)
    return click.option(cli_flag(name, info), name, type=str if spec.csv else _click_type(info),
                        default=None, metavar=spec.metavar, help=info.description,
                        show_default=_shown(info))


def build_request(model: type[Request], values: dict[str, Any]) -> Request:
    """The request from the given values (None: not given), or a usage error naming the flag."""
    given = {}
    for name, value in values.items():
        info = model.model_fields[name]
        if value is None:
            continue
        if (spec := meta(info, Cli)) and spec.csv:
            value = [part.strip() for part in value.split(",") if part.strip()]
        elif is_file_value(info, value):
            value = str(Path(value).resolve())
        given[name] = value
    try:
        return model.model_validate(given)
    except ValidationError as exc:
        error = exc.errors()[0]
        name = str(error["loc"][0]) if error["loc"] else ""
        hint = cli_flag(name, model.model_fields[name]) if name in model.model_fields else None
        raise click.BadParameter(error["msg"], param_hint=hint) from None


def request_options(model: type[Request]) -> Callable[[Callable], Callable]:
    """Add `model`'s fields as click parameters; the command receives `request=model(...)`."""

    def decorate(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def command(**kwargs: Any) -> Any:
            values = {name: kwargs.pop(name) for name in model.model_fields}
            return fn(request=build_request(model, values), **kwargs)

        for name, info in reversed(list(model.model_fields.items())):
            command = _param(name, info)(command)
        return command

    return decorate
