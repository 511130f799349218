"""A corpus of malformed inputs, each refused as a user's mistake: seeds files, distill.yaml, CLI
arguments, teacher specs and MCP tool arguments. Every case ends in exit code 2 (CLI) or a tool
error (MCP), with a message and no traceback, and leaves the project's files exactly as they were."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from mcp import Client

from slm_distill.server.app import build_server
from slm_distill.tools.cli import main
from slm_distill.tools.workspace.lock import LOCK_FILE

GOOD = {"input": "How many albums are there?", "output": "SELECT COUNT(*) FROM albums"}


def tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != LOCK_FILE}


def line(**fields) -> str:
    return json.dumps(fields) + "\n"


# -- seeds files ------------------------------------------------------------------------------------
SEEDS: dict[str, bytes | str] = {
    "empty file": "",
    "blank lines only": "\n\n   \n",
    "not JSON": "input: q, output: SELECT 1\n",
    "a JSON array": json.dumps([GOOD]) + "\n",
    "no output": line(input="How many albums?"),
    "no input": line(output="SELECT 1"),
    "an unknown field": line(**GOOD, answer="x"),
    "a blank input": line(input="   ", output="SELECT 1"),
    "output that is not SQL": line(input="How many albums are there?", output="lots of them"),
    "an unknown table": line(input="How many planets?", output="SELECT COUNT(*) FROM planets"),
    "an unknown column": line(input="Album colours?", output="SELECT colour FROM albums"),
    "a write statement": line(input="Remove albums", output="DELETE FROM albums"),
    "two statements": line(input="Two", output="SELECT 1; SELECT 2"),
    "NaN in metadata": '{"input": "q?", "output": "SELECT 1", "metadata": {"w": NaN}}\n',
    "Infinity in metadata": '{"input": "q?", "output": "SELECT 1", "metadata": {"w": Infinity}}\n',
    "a 5 MB input": line(input="x" * 5_000_000, output="SELECT 1"),
    "binary bytes": b"\x00\x01\x02\xff\xfe",
    "invalid UTF-8 in a string": b'{"input": "caf\xe9?", "output": "SELECT 1"}\n',
    "nesting 100,000 deep": '{"input": ' + "[" * 100_000 + "]" * 100_000 + ', "output": "x"}\n',
    "a number as input": line(input=42, output="SELECT 1"),
    "metadata that is not an object": line(**GOOD, metadata="easy"),
    "an input that is already a seed": line(input="How many customers are from Japan?",
                                            output="SELECT 1"),
    "the same input twice": line(**GOOD) + line(**GOOD),
    "deeply nested SQL": line(input="Nested?", output="SELECT " + "(" * 200 + "1" + ")" * 200),
}


@pytest.mark.parametrize("case", SEEDS)
def test_malformed_seeds_files(example_project, tmp_path, case, capsys):
    content = SEEDS[case]
    path = tmp_path / "seeds.jsonl"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    before = tree(example_project.root)
    with pytest.raises(SystemExit) as refused:
        main(["seeds", "add", str(path), "--project", str(example_project.root)])
    err = capsys.readouterr().err
    assert refused.value.code == 2, (case, err)
    assert "Traceback" not in err and err.strip(), case
    assert tree(example_project.root) == before, case


def test_every_problem_of_a_seeds_file_in_one_pass(example_project, tmp_path, capsys):
    path = tmp_path / "mixed.jsonl"
    path.write_text(line(**GOOD) + "not json\n" + line(input="Colours?", output="SELECT colour FROM "
                                                       "albums") + line(input="x"))
    with pytest.raises(SystemExit):
        main(["seeds", "add", str(path), "--project", str(example_project.root)])
    err = capsys.readouterr().err
    for number in (2, 3, 4):  # a format error, an SQL error, a missing field: all reported
        assert f"mixed.jsonl:{number}:" in err, err


# -- distill.yaml -----------------------------------------------------------------------------------
CONFIGS: dict[str, Callable[[str], str | bytes]] = {
    "not YAML": lambda text: "name: [unclosed\n  : : :\n",
    "a list": lambda text: "- name\n- teacher\n",
    "an unknown key": lambda text: text + "colour: blue\n",
    "an unknown nested key": lambda text: text.replace("training:\n", "training:\n  colour: blue\n"),
    "a wrong type": lambda text: text.replace("learning_rate: auto", "learning_rate: fast"),
    "out of range": lambda text: text.replace("threshold: 0.8", "threshold: 2"),
    "binary": lambda text: b"\x00\xff\xfe\x00",
    "a 2 MB file": lambda text: text + "#" * 2_000_000 + "\n",
    "nesting 10,000 deep": lambda text: "name: " + "[" * 10_000 + "]" * 10_000 + "\n",
    "no name": lambda text: "\n".join(x for x in text.splitlines() if not x.startswith("name:")),
    "an unknown teacher backend": lambda text: text.replace("teacher: python:", "teacher: nope:"),
    "a task of another kind": lambda text: text.replace("name: text2sql", "name: poetry"),
}


@pytest.mark.parametrize("case", [pytest.param(c, marks=pytest.mark.slow) if "deep" in c else c
                                  for c in CONFIGS])
def test_malformed_configurations(example_project, case, capsys):
    config = example_project.path("distill.yaml")
    changed = CONFIGS[case](config.read_text())
    config.write_bytes(changed if isinstance(changed, bytes) else changed.encode())
    before = tree(example_project.root)
    for args in (["status"], ["validate-teacher"], ["config", "get"]):
        with pytest.raises(SystemExit) as refused:
            main([*args, "--project", str(example_project.root)])
        err = capsys.readouterr().err
        assert refused.value.code == 2, (case, args, err)
        assert "distill.yaml" in err and "Traceback" not in err, (case, err)
    assert tree(example_project.root) == before, case


# -- CLI arguments -----------------------------------------------------------------------------------
ARGUMENTS = {
    "n of zero": ["generate", "--n", "0"],
    "a negative n": ["generate", "--n", "-5"],
    "n as words": ["generate", "--n", "many"],
    "too many samples": ["generate", "--samples", "16"],
    "a negative budget": ["generate", "--budget", "-1"],
    "an empty override reason": ["generate", "--override-gate", ""],
    "an unknown model": ["evaluate", "--models", "nobody"],
    "no models": ["evaluate", "--models", ","],
    "a missing test file": ["evaluate", "--test-file", "/nowhere/fresh.jsonl", "--models", "teacher"],
    "an unknown quantisation": ["export", "--quant", "q9"],
    "a negative margin": ["export", "--margin", "-1"],
    "zero improve pairs": ["improve", "--pairs", "0"],
    "too many rounds": ["improve", "--rounds", "21"],
    "zero groups": ["improve", "--max-groups", "0"],
    "a config value out of range": ["config", "set", "training.max_steps", "-3"],
    "an unknown config key": ["config", "set", "training.colour", "blue"],
    "a config value of the wrong type": ["config", "set", "training.batch_size", "many"],
    "a config value that is not YAML": ["config", "set", "training.lora_target_modules", "[q, v"],
    "the gate override as a setting": ["config", "set", "gate.override", "null"],
    "a bad job id": ["job", "zzz"],
    "an unknown job": ["job", "0123456789abcdef"],
    "a missing seeds file": ["seeds", "add", "/nowhere/seeds.jsonl"],
    "an unknown option": ["generate", "--colour", "blue"],
    "train with no pairs": ["train"],
    "export with no student": ["export"],
    "evaluate with no student": ["evaluate", "--models", "student"],
    "improve with no evaluation": ["improve"],
}


@pytest.mark.parametrize("case", ARGUMENTS)
def test_malformed_cli_arguments(example_project, case, capsys):
    from slm_distill.tools.validate_teacher import validate_teacher

    validate_teacher(example_project)
    before = tree(example_project.root)
    with pytest.raises(SystemExit) as refused:
        main([*ARGUMENTS[case], "--project", str(example_project.root)])
    err = capsys.readouterr().err
    assert refused.value.code == 2, (case, err)
    assert "Traceback" not in err and err.strip(), case
    assert tree(example_project.root) == before, case
    assert not list(example_project.path("jobs").iterdir()), case  # no job that can only fail


INIT = {
    "both a database and a schema": ["--db", "{db}", "--schema", "{schema}"],
    "neither": [],
    "a database that is not one": ["--db", "{text}"],
    "a missing schema": ["--schema", "/nowhere/schema.sql"],
    "a binary schema": ["--schema", "{binary}"],
    "an unknown dialect": ["--schema", "{schema}", "--dialect", "oracle"],
    "an unknown task": ["--schema", "{schema}", "--task", "poetry"],
    "a name with a slash": ["--schema", "{schema}", "--name", "a/b"],
}


@pytest.mark.parametrize("case", INIT)
def test_malformed_init(tmp_path, case, capsys):
    from tests.conftest import EXAMPLE

    (tmp_path / "text.duckdb").write_text("not a database")
    (tmp_path / "binary.sql").write_bytes(b"\x00\xff" * 100)
    (tmp_path / "db.duckdb").write_bytes(b"")
    names = {"{db}": str(tmp_path / "db.duckdb"), "{schema}": str(EXAMPLE / "schema.sql"),
             "{text}": str(tmp_path / "text.duckdb"), "{binary}": str(tmp_path / "binary.sql")}
    args = [names.get(a, a) for a in INIT[case]]
    with pytest.raises(SystemExit) as refused:
        main(["init", str(tmp_path / "proj"), *args])
    err = capsys.readouterr().err
    assert refused.value.code == 2, (case, err)
    assert "Traceback" not in err and err.strip(), case
    assert not (tmp_path / "proj").exists(), case


# -- teacher specs ------------------------------------------------------------------------------------
SPECS = {
    "empty": "",
    "no backend": "claude",
    "an unknown backend": "nope:model",
    "no model": "openai:",
    "a bad key variable": "openai:gpt-4o@http://127.0.0.1:1/v1#not a var",
    "a python spec without a name": "python:tests.counting_teacher",
    "a python module that does not exist": "python:no_such_module:TEACHER",
    "a python object without answer()": "python:json:JSONDecoder",
    "a missing GGUF": "llama-cpp:/nowhere/teacher.gguf",
    "a 1,000-character spec": "openai:" + "x" * 1_000,
    "a hosted teacher without its key": "anthropic:claude-sonnet-4-5",
}


@pytest.mark.parametrize("case", SPECS)
def test_malformed_teacher_specs(example_project, case, capsys):
    before = tree(example_project.root)
    for args in (["validate-teacher", "--teacher", SPECS[case]],
                 ["config", "set", "teacher", SPECS[case]]):
        if args[0] == "config" and case == "a hosted teacher without its key":
            continue  # a valid spec: setting it is fine, using it needs the key
        with pytest.raises(SystemExit) as refused:
            main([*args, "--project", str(example_project.root)])
        err = capsys.readouterr().err
        assert refused.value.code == 2, (case, args, err)
        assert "Traceback" not in err and err.strip(), case
    assert tree(example_project.root) == before, case


# -- MCP tool arguments --------------------------------------------------------------------------------
TOOL_CALLS = {
    "a missing seeds file": ("add_seeds", {"seeds_file": "nowhere.jsonl"}),
    "a seeds file outside the root": ("add_seeds", {"seeds_file": "../seeds.jsonl"}),
    "n of zero": ("generate_pairs", {"n": 0}),
    "too many samples": ("generate_pairs", {"samples": 99}),
    "dry_run as text": ("generate_pairs", {"dry_run": "yes please"}),
    "a misspelt argument": ("generate_pairs", {"dryrun": False}),
    "an unknown model": ("evaluate", {"models": ["nobody"]}),
    "no models": ("evaluate", {"models": []}),
    "a missing test file": ("evaluate", {"test_file": "fresh.jsonl", "models": ["teacher"]}),
    "an unknown quantisation": ("export_gguf", {"quants": ["q9"]}),
    "negative pairs": ("improve", {"pairs": -1}),
    "an unknown config key": ("set_config", {"key": "training.colour", "value": 1}),
    "a config value of the wrong type": ("set_config", {"key": "training.epochs", "value": "lots"}),
    "the gate override as a setting": ("set_config", {"key": "gate.override", "value": None}),
    "a bad job id": ("job_status", {"job_id": "../../etc"}),
    "a bad teacher spec": ("validate_teacher", {"teacher": "nope:model"}),
    "a project outside the root": ("project_status", {"project_dir": "/"}),
    "init with both files": ("init_project", {"project_dir": "other", "schema_file": "s.sql",
                                              "db_file": "d.duckdb"}),
}


def test_malformed_mcp_arguments(example_project):
    root = example_project.root
    before = tree(root)

    async def run() -> dict:
        async with Client(build_server(root)) as client:
            return {case: await client.call_tool(name, {"project_dir": ".", **args})
                    for case, (name, args) in TOOL_CALLS.items()}

    for case, result in asyncio.run(run()).items():
        text = result.content[0].text
        assert result.is_error, case
        assert "Traceback" not in text and len(text) < 3_000, (case, text[:300])
    assert tree(root) == before
    assert not (root / "other").exists()
