"""Task registry. Built-ins register like extensions would: a name and a factory."""

from __future__ import annotations

from typing import TYPE_CHECKING

from slm_distill.tools.errors import UsageError
from slm_distill.tools.tasks.base import Message, Score, Task, Validation

if TYPE_CHECKING:
    from slm_distill.tools.workspace.project import Project

__all__ = ["Message", "Score", "Task", "Validation", "make_task", "TASKS"]


def _text2sql(project: Project) -> Task:
    from slm_distill.tools.tasks.text2sql import Text2SQL

    return Text2SQL(project.database, project.config.task)


def _classification(project: Project) -> Task:
    from slm_distill.tools.tasks.classification import Classification

    return Classification(project.config.task)


def _extraction(project: Project) -> Task:
    import json

    from slm_distill.tools.tasks.extraction import Extraction

    path = project.path(project.config.task.schema_file)
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: cannot read the project's JSON Schema ({exc}). Restore it, or "
                         "point task.schema_file at it.") from None
    return Extraction(project.config.task, schema)


def _tool_calling(project: Project) -> Task:
    from slm_distill.tools.tasks.tool_calling import ToolCalling
    from slm_distill.tools.tasks.tools_file import load_tools

    path = project.path(project.config.task.tools_file)
    try:
        tools = load_tools(path)
    except UsageError as exc:
        raise UsageError(f"The project's tools cannot be read: {exc.render()} Restore the file, "
                         "or point task.tools_file at it.") from None
    return ToolCalling(project.config.task, tools)


def _generation(project: Project) -> Task:
    from slm_distill.tools.judge import read_rubric
    from slm_distill.tools.tasks.generation import Generation

    judge = project.config.judge
    return Generation(project.config.task, read_rubric(project), judged=bool(judge.spec),
                      pass_score=judge.passing)


TASKS = {"text2sql": _text2sql, "classification": _classification, "extraction": _extraction,
         "tool_calling": _tool_calling, "generation": _generation}


def make_task(project: Project) -> Task:
    name = project.config.task.name
    if name not in TASKS:
        raise UsageError(f"Unknown task {name!r}. Available: {', '.join(TASKS)}.")
    return TASKS[name](project)
