"""The few exception classes slm-distill raises. Each message says what happened and what to do next.

The CLI turns them into a message and an exit code (`exit_code`); the MCP server turns them into
tool errors. Anything else escaping a stage is a bug. The fix is data: a `{name}` in the message
stands for an `Action` given as a keyword, rendered for the surface that raised it:

    GateError("Below the gate. To go on anyway: {fix}.", fix=act("generate", override_gate=...))
    # CLI: ... To go on anyway: `distill generate --override-gate "REASON"`.
    # MCP: ... To go on anyway: `generate_pairs(override_gate="<reason>", dry_run=false)`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from slm_distill.tools.actions import Action, Surface


class DistillError(Exception):
    """Base class: a failure the user can act on."""

    exit_code = 1

    def __init__(self, message: str = "", **fixes: Action) -> None:
        super().__init__(message)
        self.message = message
        self.fixes = fixes

    def render(self, surface: Surface | None = None) -> str:
        from slm_distill.tools.secrets import scrub

        text = self.message
        for name, action in self.fixes.items():
            text = text.replace("{" + name + "}", f"`{action.render(surface)}`")
        return scrub(text)

    def __str__(self) -> str:
        return self.render()


class UsageError(DistillError):
    """Bad input from the user: a wrong argument, a missing file, a malformed line."""

    exit_code = 2


class InputFileError(UsageError):
    """One or more bad lines in an input file, each reported as `FILE:LINE: what is wrong`."""

    def __init__(self, problems: list[str], hint: str = "", **fixes: Action) -> None:
        self.problems = problems
        shown = problems[:20]
        more = f"\n... and {len(problems) - 20} more" if len(problems) > 20 else ""
        tail = f"\n{hint}" if hint else ""
        super().__init__("\n".join(shown) + more + tail, **fixes)


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


_PACKAGES = {"llama_cpp": "llama-cpp-python"}


def need(extra: str, *modules: str) -> None:
    """Check, without importing them, that the modules a stage will import are installed."""
    import importlib.util

    for module in modules:
        if importlib.util.find_spec(module) is None:
            raise MissingDependency(_PACKAGES.get(module, module), extra)
