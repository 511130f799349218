"""Progress reporting shared by the CLI (a progress bar) and the MCP server (notifications).

Stages take `progress: ProgressFn` and call it as `progress(done, total, message)`.
"""

from __future__ import annotations

from collections.abc import Callable

ProgressFn = Callable[[int, int, str], None]


def no_progress(done: int, total: int, message: str) -> None:
    """The default: report nothing."""
