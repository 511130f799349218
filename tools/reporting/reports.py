"""Reports: every stage's pydantic report renders itself and is saved as JSON and Markdown under
`reports/`, with the provenance (resolved config, package versions, input hashes) that produced it.

    report.summary()        # a few lines: what the CLI prints, the first text an MCP client shows
    report.markdown()       # the whole report, as saved in reports/<name>.md
    save_report(project, "teacher_validation", report)
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from pydantic import BaseModel, Field

from slm_distill.tools.secrets import scrub
from slm_distill.tools.workspace.fileio import write_atomic

if TYPE_CHECKING:
    from slm_distill.tools.workspace.project import Project

R = TypeVar("R", bound=BaseModel)
_PACKAGES = ("slm-distill", "duckdb", "sqlglot", "anthropic", "openai", "llama-cpp-python",
             "torch", "transformers", "peft", "trl", "datasets")


class Report(BaseModel):
    """A stage's result. Subclasses render themselves for people."""

    def summary(self) -> str:
        raise NotImplementedError

    def markdown(self) -> str:
        return self.summary() + "\n"


class Provenance(BaseModel):
    created_at: str = Field(description="When the artifact was written (UTC, ISO 8601).")
    versions: dict[str, str] = Field(description="Versions of the packages that matter.")
    config: dict = Field(description="The project's resolved configuration.")
    inputs: dict[str, str] = Field(description="SHA-256 of each input file, by project path.")


def file_hash(path: Path) -> str:
    if not path.is_file():
        return "missing"
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _versions() -> dict[str, str]:
    out = {}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def provenance(project: Project, inputs: list[Path]) -> Provenance:
    return Provenance(
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        versions=_versions(),
        config=project.config.model_dump(mode="json"),
        inputs={_name(p, project.root): file_hash(p) for p in inputs},
    )


def _name(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def save_report(project: Project, name: str, report: Report) -> Path:
    """reports/<name>.json and .md (scrubbed of keys: a teacher may echo anything)."""
    path = project.report_path(name)
    write_atomic(path, scrub(report.model_dump_json(indent=2)))
    write_atomic(project.report_path(name, "md"), scrub(report.markdown()))
    return path


def load_report(project: Project, name: str, model: type[R]) -> R | None:
    """A saved report, None if there is none; a damaged one is a ProjectError that says so."""
    from pydantic import ValidationError

    from slm_distill.tools.errors import ProjectError

    path = project.report_path(name)
    if not path.is_file():
        return None
    try:
        return model.model_validate_json(path.read_text(encoding="utf-8"))
    except (ValidationError, UnicodeDecodeError, ValueError):
        raise ProjectError(f"reports/{name}.json is damaged or from another version of "
                           "slm-distill. Run the stage that writes it again.") from None


def md_table(headers: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _cell(value: object) -> str:
    text = f"{value:.3f}" if isinstance(value, float) else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def teacher_line(spec: str, description: str) -> str:
    """A report's `Teacher:` line: the spec, and what the teacher is where the spec does not say."""
    return f"Teacher: `{spec}`" + (f" ({description})" if description else "")
