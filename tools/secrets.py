"""API keys never leave the process: every text that does (errors, job states, logs, reports, the
CLI's and the MCP server's stderr) passes through `scrub`, which replaces the value of every key
variable in the environment with its name.

    scrub("HTTP 400: bad key sk-abc123...")    # 'HTTP 400: bad key [ANTHROPIC_API_KEY]'

Key variables: the backends' own (ANTHROPIC_API_KEY, OPENAI_API_KEY), any variable whose name
ends in _API_KEY, _KEY, _TOKEN or _SECRET, and the variables named in teacher specs (`#VAR`).
"""

from __future__ import annotations

import os
import re
from typing import Any, TextIO

NAMED = re.compile(r"(_API_KEY|_KEY|_TOKEN|_SECRET)$")
MIN_LENGTH = 8  # shorter values (a "1", a "true") would scrub ordinary text
_extra: set[str] = set()


def watch(variable: str) -> None:
    """Also scrub the value of `variable` (a teacher spec's `#VAR`, whatever its name)."""
    _extra.add(variable)


def _secrets() -> list[tuple[str, str]]:
    names = {n for n in os.environ if NAMED.search(n)} | {"ANTHROPIC_API_KEY", "OPENAI_API_KEY"}
    pairs = [(os.environ[n], n) for n in names | _extra if len(os.environ.get(n, "")) >= MIN_LENGTH]
    return sorted(pairs, key=lambda p: -len(p[0]))  # a key that contains another goes first


def scrub(text: str) -> str:
    for value, name in _secrets():
        if value in text:
            text = text.replace(value, f"[{name}]")
    return text


def scrub_tree(value: Any) -> Any:
    """Every string inside dicts and lists, scrubbed."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {k: scrub_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub_tree(v) for v in value]
    return value


class Scrubbed:
    """A text stream whose writes are scrubbed (a process's stderr, a job's stdout)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        return self._stream.write(scrub(text))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)
