"""The server serves one workspace root; every path argument, and every path a project's own
files lead to, must resolve inside it.

    inside(root, "proj/seeds.jsonl", what="seeds_file")    # the resolved path, or a UsageError
    confined(root, project)                                # the project, checked
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from slm_distill.tools.errors import UsageError

MAX_PATH = 4_096
PROJECT_PARTS = ("distill.yaml", "seeds.jsonl", "data", "reports", "runs", "exports", "jobs",
                 ".cache")


def inside(root: Path, relative: str, *, what: str = "path") -> Path:
    """Resolve `relative` under `root` (symlinks followed); refuse anything that escapes it."""
    if not relative or "\x00" in relative or len(relative) > MAX_PATH:
        raise UsageError(f"Give a {what} relative to the workspace root {root} (at most "
                         f"{MAX_PATH:,} characters).")
    candidate = (root / relative).resolve()
    if candidate != root and root not in candidate.parents:
        raise UsageError(f"The {what} {relative[:200]!r} is outside the workspace root {root}; give "
                         "a path inside it (no '..', no absolute paths elsewhere, no symlinks out).")
    return candidate


def confined(root: Path, project: Any) -> Any:
    """Refuse a project whose database or own folders lead outside the workspace root (a task.db
    elsewhere, a symlinked reports/): the server reads and writes only inside its root."""
    for part in PROJECT_PARTS:
        path = project.root / part
        if path.is_symlink() or path.exists():
            _within(root, path.resolve(), f"the project's {part}")
    if db := getattr(project.config.task, "db", None):
        _within(root, (project.root / db).resolve(), "the project's task.db")
    for what, path in _model_paths(project):
        _within(root, path, what)
    return project


def _model_paths(project: Any) -> list[tuple[str, Path]]:
    """The files and folders the teacher and student specs name on this machine."""
    from slm_distill.tools.teachers import LOCAL_FILES, parse_spec

    found = []
    teacher = parse_spec(project.config.teacher)
    if teacher.backend in LOCAL_FILES:
        found.append(("the project's teacher", Path(project.local(teacher.model)).resolve()))
    student = project.local(project.config.student)
    if Path(student).is_absolute() or student != project.config.student:
        found.append(("the project's student", Path(student).resolve()))
    return found


def _within(root: Path, path: Path, what: str) -> None:
    if path != root and root not in path.parents:
        raise UsageError(f"{what.capitalize()} leads outside the workspace root {root} (to {path}); "
                         "this server works only inside its root. Move it into the workspace.")
