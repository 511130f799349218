"""A small MCP server over stdio with three tools of different argument shapes, for
`distill init --tools-from-mcp` (tests/test_tool_calling.py). It records every tool call in the
file named by $CALLED_LOG, so a test can show that listing called none.

    python tests/mcp_tools_server.py
"""

from __future__ import annotations

import os
from typing import Literal

from mcp.server import MCPServer

server = MCPServer("notes")


def _called(name: str) -> None:
    if log := os.environ.get("CALLED_LOG"):
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(name + "\n")


@server.tool()
def add_note(title: str, body: str = "", pinned: bool = False) -> str:
    """Add a note with a title and an optional body."""
    _called("add_note")
    return "ok"


@server.tool()
def search_notes(query: str, limit: int = 10) -> list[str]:
    """Search notes by words in their title or body."""
    _called("search_notes")
    return []


@server.tool()
def set_reminder(note_title: str, when: Literal["today", "tomorrow", "next week"]) -> str:
    """Remind me of a note."""
    _called("set_reminder")
    return "ok"


if __name__ == "__main__":
    server.run()
