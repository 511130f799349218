"""Prompt templates, kept as Markdown files beside this module.

Placeholders use `string.Template` syntax (`$schema`, `$n`), so SQL and JSON braces need no escaping.

    text = render_prompt("generate", schema=..., n=10, requirements=..., examples=...)
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from string import Template


@cache
def load_prompt(name: str) -> str:
    """`name` is a file under prompts/ without .md: a task's own prompts are `<task>/<name>`."""
    folder, _, file = name.rpartition("/")
    root = resources.files(__name__)
    return (root.joinpath(folder) if folder else root).joinpath(f"{file}.md").read_text(encoding="utf-8")


def render_prompt(name: str, **values: object) -> str:
    return Template(load_prompt(name)).substitute({k: str(v) for k, v in values.items()}).strip()
