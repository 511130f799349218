"""Small file helpers: atomic writes, JSONL reading with `FILE:LINE` errors, appends.

Example:
    rows = read_jsonl(Path("seeds.jsonl"), SeedModel)   # raises InputFileError listing bad lines
    write_atomic(Path("reports/x.json"), text)
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from slm_distill.tools.errors import InputFileError, UsageError

M = TypeVar("M", bound=BaseModel)


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` so readers see either the old file or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def dumps_jsonl(rows: Iterable[BaseModel | dict]) -> str:
    lines = []
    for row in rows:
        data = row.model_dump(mode="json") if isinstance(row, BaseModel) else row
        lines.append(json.dumps(data, ensure_ascii=False))
    return "".join(line + "\n" for line in lines)


def append_jsonl(path: Path, rows: Iterable[BaseModel | dict]) -> None:
    """Append rows and flush to disk, so a crash loses nothing already written."""
    text = dumps_jsonl(rows)
    if not text:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())


def _describe(err: ValidationError) -> str:
    parts = []
    for e in err.errors():
        loc = ".".join(str(x) for x in e["loc"]) or "line"
        parts.append(f"{loc}: {e['msg']}")
    return "; ".join(parts)


MAX_LINE = 1_000_000  # bytes in one JSONL line we read from a user


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON value")


def loads_strict(text: str) -> object:
    """JSON as the standard defines it: no NaN or Infinity; nesting too deep is a ValueError."""
    try:
        return json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def parse_jsonl(path: Path, model: type[M]) -> tuple[list[tuple[int, M]], list[str]]:
    """Every good line of a JSONL file as (line number, `model`), and a `FILE:LINE: why` for each
    bad one: the caller reports all problems at once."""
    if not path.is_file():
        raise UsageError(f"{path}: no such file. Check the path and try again.")
    rows: list[tuple[int, M]] = []
    problems: list[str] = []
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                rows.append((number, model.model_validate(loads_strict(_line(raw)))))
            except json.JSONDecodeError as exc:
                problems.append(f"{path}:{number}: not valid JSON ({exc.msg})")
            except ValidationError as exc:
                problems.append(f"{path}:{number}: {_describe(exc)}")
            except ValueError as exc:
                problems.append(f"{path}:{number}: {exc}")
    return rows, problems


def read_jsonl(path: Path, model: type[M], *, hint: str = "") -> list[M]:
    """Read every line of a JSONL file into `model`; raise one error listing all bad lines."""
    rows, problems = parse_jsonl(path, model)
    if problems:
        raise InputFileError(problems, hint or "Fix these lines; nothing was written.")
    return [row for _, row in rows]


def _line(raw: bytes) -> str:
    if len(raw) > MAX_LINE:
        raise ValueError(f"line of {len(raw):,} bytes, over the limit of {MAX_LINE:,}")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("not UTF-8 text (save the file as UTF-8)") from None


def read_jsonl_dicts(path: Path) -> list[dict]:
    """Read a JSONL file we wrote ourselves; a torn last line (crash mid-write) is skipped."""
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out
