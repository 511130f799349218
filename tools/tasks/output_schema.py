"""An extraction project's JSON Schema: read from a file, or made from a pydantic model, and
checked before anything is written.

    schema = load_output_schema("invoice.schema.json")
    schema = load_output_schema("my_models:Invoice")     # a pydantic BaseModel on PYTHONPATH
"""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path
from typing import Any

from slm_distill.tools.errors import UsageError

SCHEMA_FILE = "output_schema.json"  # where init puts the schema, in the project
MAX_SCHEMA_BYTES = 1_000_000
IMPORT_SPEC = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")


def is_import_spec(value: str) -> bool:
    """`module:Name` that is not an existing file (a Windows drive letter is no module)."""
    return bool(IMPORT_SPEC.fullmatch(value)) and not Path(value).exists()


def load_output_schema(spec: str) -> dict[str, Any]:
    schema = _from_model(spec) if is_import_spec(spec) else _from_file(Path(spec))
    check_output_schema(schema, spec)
    return schema


def _from_file(path: Path) -> Any:
    return read_json_file(path, "a JSON Schema", "Give a JSON Schema file, or a pydantic model as "
                          "MODULE:CLASS.", MAX_SCHEMA_BYTES)[0]


def read_json_file(path: Path, what: str, fix: str, max_bytes: int) -> tuple[Any, str]:
    """A JSON file's value and its text; a missing, oversized, non-UTF-8 or non-JSON file is a
    UsageError that names `what` it should hold and ends with `fix`."""
    if not path.is_file():
        raise UsageError(f"{path}: no such file. {fix}")
    if path.stat().st_size > max_bytes:
        raise UsageError(f"{path}: {path.stat().st_size:,} bytes, more than {what} needs (at "
                         f"most {max_bytes:,}).")
    try:
        text = path.read_text(encoding="utf-8")
        return json.loads(text), text
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not UTF-8 text. {fix}") from None
    except (ValueError, RecursionError) as exc:
        raise UsageError(f"{path}: not JSON ({exc}). {fix}") from None


def _from_model(spec: str) -> Any:
    module_name, _, name = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 - the user's module failed while importing
        raise UsageError(f"{spec}: cannot import {module_name} ({type(exc).__name__}: {exc}). Is "
                         "its folder on PYTHONPATH?") from None
    model = getattr(module, name, None)
    schema_of = getattr(model, "model_json_schema", None)
    if not isinstance(model, type) or not callable(schema_of):
        raise UsageError(f"{spec}: {name} is not a pydantic model class. Give a BaseModel "
                         "subclass, or a JSON Schema file.")
    return schema_of()


def check_output_schema(schema: Any, where: str) -> None:
    """A Draft 2020-12 schema of one JSON object."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    if not isinstance(schema, dict):
        raise UsageError(f"{where}: a JSON Schema is a JSON object, not {type(schema).__name__}.")
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise UsageError(f"{where}: not a valid JSON Schema: {exc.message[:300]} (at "
                         f"{exc.json_path}).") from None
    types = schema.get("type")
    if types != "object" and not (types is None and "properties" in schema):
        raise UsageError(f'{where}: the schema must describe one JSON object ("type": "object" '
                         'with its "properties"); wrap a list or a value in an object.')
    if not schema.get("properties"):
        raise UsageError(f'{where}: the schema names no "properties": say which fields to '
                         "extract.")
