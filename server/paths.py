"""The server serves one workspace root; every path argument must resolve inside it."""

from __future__ import annotations

from pathlib import Path

from slm_distill.tools.errors import UsageError


def inside(root: Path, relative: str, *, what: str = "path") -> Path:
    """Resolve `relative` under `root` (symlinks followed); refuse anything that escapes it."""
    if not relative or "\x00" in relative:
        raise UsageError(f"Give a {what} relative to the workspace root {root}.")
    candidate = (root / relative).resolve()
    if candidate != root and root not in candidate.parents:
        raise UsageError(f"The {what} {relative!r} is outside the workspace root {root}; give a "
                         "path inside it (no '..', no absolute paths elsewhere, no symlinks out).")
    return candidate
