"""The few exception classes slm-distill raises. Each message says what happened and what to do next.

The CLI turns them into a one-line message and an exit code (`exit_code`); the MCP server turns them
into tool errors. Anything else escaping a stage is a bug.
"""

from __future__ import annotations


class DistillError(Exception):
    """Base class: a failure the user can act on."""

    exit_code = 1


class UsageError(DistillError):
    """Bad input from the user: a wrong argument, a missing file, a malformed line."""

    exit_code = 2


class InputFileError(UsageError):
    """One or more bad lines in an input file, each reported as `FILE:LINE: what is wrong`."""

    def __init__(self, problems: list[str], hint: str = "") -> None:
        self.problems = problems
        shown = problems[:20]
        more = f"\n... and {len(problems) - 20} more" if len(problems) > 20 else ""
        tail = f"\n{hint}" if hint else ""
        super().__init__("\n".join(shown) + more + tail)


class ProjectError(UsageError):
    """No project where one was expected, or a project in an inconsistent state."""


class GateError(DistillError):
    """A method gate refused to let the pipeline go on (e.g. teacher accuracy below threshold)."""


class TeacherError(DistillError):
    """A teacher backend failed after retries, or is misconfigured."""


class BudgetExceeded(DistillError):
    """The dollar budget was reached; work stops cleanly and what was done is kept."""


class MissingDependency(UsageError):
    """An optional dependency is not installed."""

    def __init__(self, package: str, extra: str) -> None:
        super().__init__(
            f"{package} is not installed. Install it with: pip install 'slm-distill[{extra}]'"
        )


def require(module: str, package: str, extra: str):  # noqa: ANN201 - returns a module
    """Import an optional heavy dependency lazily, with an install hint when it is missing."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependency(package, extra) from exc
