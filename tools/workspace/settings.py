"""The project's configuration, field by field, for both surfaces (`distill config`, get_config and
set_config over MCP).

    config_view(project, "training")                 # value, default and description of each field
    set_config(project, "training.max_steps", 20)     # validated by ProjectConfig; returns the change

A change that would leave existing artefacts inconsistent (the seed split once the teacher was
validated, the database once seeds were checked against it, the student or its prompt once it was
trained) is refused unless `force` is given; `gate.override` and `judge.override` are only
recorded by generation's `override_gate` and `override_judge_gate`, with the user's reason. Bad
input writes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from slm_distill.tools.actions import OVERRIDE_GATE, OVERRIDE_JUDGE_GATE, Blank, act
from slm_distill.tools.errors import UsageError
from slm_distill.tools.workspace.config import ProjectConfig
from slm_distill.tools.workspace.project import Project

WHOLE = {"gate.override", "judge.override"}  # set as one value, not field by field


class ConfigField(BaseModel):
    key: str = Field(description="Dotted key, e.g. training.max_steps.")
    value: Any
    default: Any = Field(description="The default (null where none is set).")
    description: str
    type: str = Field(description="The accepted type, e.g. int | None.")
    resolved: Any = Field(None, description="Where the value is auto: what it resolves to for "
                          "this project's student.")


class ConfigView(BaseModel):
    project: str
    fields: list[ConfigField]

    def summary(self) -> str:
        count = f"{len(self.fields)} field{'s' if len(self.fields) != 1 else ''}"
        lines = [f"Configuration of {self.project} ({count}):"]
        for f in self.fields:
            note = "" if f.value == f.default else f"  (default {_show(f.default)})"
            here = f" (for this student: {_show(f.resolved)})" if f.resolved is not None else ""
            lines.append(f"  {f.key} = {_show(f.value)}{here}{note}")
        return "\n".join(lines)


class ConfigChange(BaseModel):
    key: str
    old: Any
    new: Any
    changed: bool
    notes: list[str] = Field(default_factory=list, description="What the change means for the "
                             "project, e.g. a stage to rerun.")

    def summary(self) -> str:
        head = (f"{self.key}: {_show(self.old)} -> {_show(self.new)}" if self.changed
                else f"{self.key} is already {_show(self.new)}; nothing changed.")
        return "\n".join([head, *(f"  note: {n}" for n in self.notes)])


def _show(value: Any) -> str:
    return json.dumps(value, default=str)


def _leaves(model: type[BaseModel], instance: BaseModel, prefix: str = "") -> list[ConfigField]:
    out = []
    for name, info in model.model_fields.items():
        value = getattr(instance, name)
        key = f"{prefix}{name}"
        if isinstance(value, BaseModel) and key not in WHOLE:
            out += _leaves(type(value), value, key + ".")
            continue
        default = None if info.is_required() else info.get_default(call_default_factory=True)
        out.append(ConfigField(
            key=key, value=_jsonable(value), default=_jsonable(default),
            description=info.description or "", type=_type_name(info.annotation)))
    return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return json.loads(json.dumps(value, default=str))


def _type_name(annotation: Any) -> str:
    text = getattr(annotation, "__name__", None) or str(annotation)
    return text.replace("typing.", "")


def all_fields(project: Project) -> list[ConfigField]:
    """Every field, with what each `auto` resolves to for the project's student."""
    fields = _leaves(ProjectConfig, project.config)
    resolved = project.config.training.resolved(project.config.student)
    for f in fields:
        if f.key.startswith("training.") and f.value == "auto":
            chosen = getattr(resolved, f.key.removeprefix("training."), None)
            if chosen != "auto":
                f.resolved = chosen
    return fields


def config_view(project: Project, key: str | None = None) -> ConfigView:
    fields = all_fields(project)
    if key:
        chosen = [f for f in fields if f.key == key or f.key.startswith(key + ".")]
        if not chosen:
            raise UsageError(_unknown(key, fields))
        fields = chosen
    return ConfigView(project=project.config.name, fields=fields)


def _unknown(key: str, fields: list[ConfigField]) -> str:
    import difflib

    keys = [f.key for f in fields]
    close = difflib.get_close_matches(key, keys, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    sections = sorted({k.split(".")[0] for k in keys})
    return f"No configuration key {key!r}.{hint} Sections: {', '.join(sections)}."


# -- changing ---------------------------------------------------------------------------------
def set_config(project: Project, key: str, value: Any, *, force: bool = False,
               check: Callable[[Project], None] | None = None) -> ConfigChange:
    """Change one field. `check` sees the project as it would be, before anything is saved (the
    MCP server refuses what would lead outside its workspace)."""
    fields = {f.key: f for f in all_fields(project)}
    if key not in fields:
        raise UsageError(_unknown(key, list(fields.values())))
    if key == "task.name":
        raise UsageError("The task type is chosen when the project is created; create another "
                         "project for another task: {fix}.",
                         fix=act("init", directory=Blank("dir"), task=Blank("task")))
    if key == "gate.override" or key.startswith("gate.override."):
        raise UsageError("gate.override is recorded only with the user's reason, by generation: "
                         "{fix}.", fix=OVERRIDE_GATE)
    if key == "judge.override" or key.startswith("judge.override."):
        raise UsageError("judge.override is recorded only with the user's reason, by generation: "
                         "{fix}.", fix=OVERRIDE_JUDGE_GATE)
    data = project.config.model_dump(mode="json")
    *sections, leaf = key.split(".")
    node = data
    for section in sections:
        node = node[section]
    node[leaf] = value
    try:
        new = ProjectConfig.model_validate(data)
    except ValidationError as exc:
        raise UsageError(f"{key}: {_first_error(exc)}. Nothing was changed.") from None
    _usable(project, new, key)
    if check is not None:
        check(Project(project.root, new))
    old_value, new_value = fields[key].value, _jsonable(_get(new, key))
    change = ConfigChange(key=key, old=old_value, new=new_value, changed=old_value != new_value)
    if change.changed:
        problem = _invalidates(project, key)
        if problem and not force:
            raise UsageError(f"Changing {key} now would {problem}. Nothing was changed; to change it "
                             "anyway: {fix}, then rerun the stages it affects.",
                             fix=act("set_config", key=key, value=value, force=True))
        change.notes = [n for n in (problem and f"forced although it would {problem}",
                                    _note(key)) if n]
        project.config = new
        project.save()
        if key.startswith("split.") and _nonempty(project.path("data", "pairs.jsonl")):
            from slm_distill.tools.generation.recheck import recheck_leakage

            dropped = recheck_leakage(project)
            change.notes.append(f"every kept pair was checked against the new test split: "
                                f"{dropped} dropped as leakage")
    return change


def _usable(project: Project, new: ProjectConfig, key: str) -> None:
    """What the configuration names must exist: the teacher (a python: object, a GGUF) and the
    task's database."""
    if key in ("teacher", "judge.spec") and (spec := _get(new, key)):
        from slm_distill.tools.teachers import check_spec

        check_spec(spec, project.root)
    if key == "task.rubric_file":
        path = Project(project.root, new).path(new.task.rubric_file)  # type: ignore[union-attr]
        if not path.is_file():
            raise UsageError(f"{path}: no such file. Put the rubric in the project directory "
                             "first. Nothing was changed.")
    if key in ("task.db", "task.engine") and new.task.engine != "postgres":  # type: ignore[union-attr]
        Project(project.root, new).db_path  # noqa: B018 - raises when missing or another engine
    if key == "task.schema_file":
        from slm_distill.tools.tasks.output_schema import load_output_schema

        path = Project(project.root, new).path(new.task.schema_file)  # type: ignore[union-attr]
        if not path.is_file():
            raise UsageError(f"{path}: no such file. Put the JSON Schema in the project "
                             "directory first. Nothing was changed.")
        load_output_schema(str(path))
    if key == "evaluation.constrained" and new.evaluation.constrained:
        task = Project(project.root, new).task()
        try:
            if task.choices() is None:
                raise UsageError(f"evaluation.constrained needs a task whose answers are a fixed "
                                 f"set (single-label classification); this {task.name} project's "
                                 "answers are open. Nothing was changed.")
        finally:
            task.close()


def _get(config: BaseModel, key: str) -> Any:
    value: Any = config
    for part in key.split("."):
        value = getattr(value, part)
    return value


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    return error["msg"].removeprefix("Value error, ")


def _nonempty(path: Path) -> bool:
    return path.is_file() and path.stat().st_size > 0


def _invalidates(project: Project, key: str) -> str | None:
    """Why changing `key` would leave existing artefacts inconsistent, or None."""
    seeds, pairs = _nonempty(project.seeds_path), _nonempty(project.path("data", "pairs.jsonl"))
    validated = project.report_path("teacher_validation").is_file()
    trained = project.trained
    if key.startswith("split.") and (validated or pairs):
        return ("move seeds between the teacher-validation and test splits after the teacher was "
                "validated or pairs were generated against the old test split (test data could leak "
                "into training)")
    if key in ("task.db", "task.db_url", "task.engine") and seeds:
        return "put the seeds, checked against the old database, on another one"
    if key == "task.schema_file" and seeds:
        return ("change the schema the seeds (and any gate, pairs and student) were checked "
                "against; seeds whose output does not fit it would be refused at every stage")
    if key in ("task.labels", "task.multi_label") and seeds:
        return ("change the labels the seeds (and any gate, pairs and student) were checked "
                "against; seeds whose output is no longer a label would be refused at every stage")
    if key in ("task.schema_in_student_prompt", "task.tools_in_student_prompt",
               "task.tool_format", "task.instruction") and trained:
        return "evaluate and export the trained student with a prompt it was not trained on"
    if key == "student" and trained:
        return "mislabel the trained student in runs/student, which was trained from the old student"
    return None


def _note(key: str) -> str | None:
    from slm_distill.tools.actions import say

    if key == "teacher":
        return f"the gate is per teacher: run {say('validate_teacher')} before generating"
    if key in ("judge.spec", "task.rubric_file", "task.instruction"):
        return (f"the judge's gate is per judge and rubric: run {say('validate_judge')}, then "
                f"{say('validate_teacher')}, before generating")
    if key == "gate.threshold":
        return f"takes effect at the next {say('validate_teacher')}"
    if key.startswith("training."):
        return f"takes effect at the next {say('train')}"
    if key.startswith("evaluation."):
        return f"takes effect at the next {say('evaluate')} and {say('export')}"
    return None
