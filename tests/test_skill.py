"""The skill ships with the package, installs where Claude Code looks, and the plugin points at it."""

from __future__ import annotations

import json

import yaml

from slm_distill.tools.cli.commands import main
from tests.conftest import REPO


def test_skill_frontmatter_and_length():
    text = (REPO / "skill" / "SKILL.md").read_text()
    _, front, body = text.split("---", 2)
    meta = yaml.safe_load(front)
    assert meta["name"] == "slm-distill" and len(meta["description"]) > 50
    assert len(text.splitlines()) < 500
    for tool in ("validate_teacher", "generate_pairs", "train_student", "job_status", "evaluate"):
        assert tool in body
    for ref in (REPO / "skill" / "references").glob("*.md"):
        assert ref.read_text().strip()


def test_install_skill_into_the_project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    main(["install-skill", "--project"])
    target = tmp_path / ".claude" / "skills" / "slm-distill"
    assert (target / "SKILL.md").read_text() == (REPO / "skill" / "SKILL.md").read_text()
    assert (target / "references" / "configuration.md").is_file()


def test_plugin_manifest_points_at_the_skill_and_the_server():
    plugin = json.loads((REPO / ".claude-plugin" / "plugin.json").read_text())
    assert plugin["name"] == "slm-distill" and plugin["skills"] == "./skill/"
    server = json.loads((REPO / ".mcp.json").read_text())["mcpServers"]["slm-distill"]
    assert server["command"].endswith("/.venv/bin/distill") and server["args"][0] == "mcp"
