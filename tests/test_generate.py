"""generate_pairs: the gate, validation of every pair, dedup, leakage guard, resume after a crash,
self-consistency, budget stop, dry run and the Hugging Face export."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from slm_distill.tools.errors import GateError
from slm_distill.tools.generate_pairs import (
    Ledger,
    Pair,
    generate_pairs,
    pair_id,
)
from slm_distill.tools.generation.estimate import estimate_generation
from slm_distill.tools.validate_teacher import override_gate, validate_teacher
from slm_distill.tools.workspace.fileio import read_jsonl_dicts
from slm_distill.tools.workspace.project import Project
from tests.conftest import EXAMPLE_TEACHER

REPO = Path(__file__).resolve().parents[1]
COUNTING = "python:tests.counting_teacher:TEACHER"


def _use_teacher(project: Project, spec: str) -> None:
    project.config.teacher = spec
    project.save()


def test_generation_refuses_without_a_validated_teacher(example_project):
    with pytest.raises(GateError, match="validate-teacher"):
        generate_pairs(example_project, n=10)


def test_gate_failure_blocks_until_explicit_override(example_project, tmp_path, monkeypatch):
    (tmp_path / "weak_teacher.py").write_text(
        "class Weak:\n"
        "    def answer(self, input, context):\n"
        "        return 'SELECT 1'\n"
        "    def propose(self, n, seeds, context):\n"
        "        return [{'input': f'How many tracks are longer than {i + 100 * context[\"sample\"]}"
        " seconds?', 'output': f'SELECT count(*) FROM tracks WHERE duration_seconds > "
        "{i + 100 * context[\"sample\"]}'} for i in range(n)]\n"
        "TEACHER = Weak()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    report = validate_teacher(example_project, teacher_spec="python:weak_teacher:TEACHER")
    assert not report.passed and report.accuracy < 0.2 and len(report.failures) == report.n
    with pytest.raises(GateError, match="override-gate"):
        generate_pairs(example_project, n=5)
    override_gate(example_project, "testing the override path")
    reloaded = Project.load(example_project.root)
    assert reloaded.config.gate.override.reason == "testing the override path"
    result = generate_pairs(reloaded, n=5)
    assert result.kept == 5 and "overridden" in result.gate


def test_validate_teacher_report(example_project):
    report = validate_teacher(example_project)
    assert report.passed and report.accuracy >= 0.8 and report.n == 16
    assert report.offline_note and "not an LLM" in report.offline_note
    saved = json.loads(example_project.report_path("teacher_validation").read_text())
    assert saved["accuracy"] == report.accuracy and saved["threshold"] == 0.8
    md = example_project.report_path("teacher_validation", "md").read_text()
    assert "PASSED" in md and "not an LLM" in md
    for failure in report.failures:
        assert failure.input and failure.expected and failure.why


@pytest.fixture
def validated(example_project):
    validate_teacher(example_project)
    return example_project


def test_generation_keeps_only_validated_unique_unleaked_pairs(validated):
    report = generate_pairs(validated, n=200)
    pairs = [Pair.model_validate(r) for r in read_jsonl_dicts(validated.path("data/pairs.jsonl"))]
    assert report.kept == len(pairs) == 200 and report.train + report.validation == 200
    assert report.validation == 20
    task = validated.task()
    try:
        assert all(task.validate(p.output).ok for p in pairs)
        keys = [task.dedup_key(p.output) for p in pairs]
        assert len(set(keys)) == len(keys)
        _, test = validated.split()
        test_keys = {task.dedup_key(s.output) for s in test}
        assert not test_keys & set(keys)
    finally:
        task.close()
    rejects = read_jsonl_dicts(validated.path("data/rejected.jsonl"))
    assert sum(report.rejected.values()) == len(rejects) > 0
    assert all(r["reason"] for r in rejects)
    assert any(r["category"].startswith("invalid:") for r in rejects)
    assert set(report.coverage.sources) >= {"new"}
    assert report.coverage.facts["SQL feature"].get("join", 0) > 0
    md = validated.report_path("generation", "md").read_text()
    assert "Coverage" in md and "Rejected" in md


def test_leakage_guard_and_dedup(validated):
    task = validated.task()
    try:
        _, test = validated.split()
        ledger = Ledger(validated, task, test)
        seed = test[0]
        leak = Pair(id="x", input=seed.input.upper() + "?", output="SELECT 1")
        assert ledger.judge(leak, 0).category == "leakage"
        same_sql = Pair(id="y", input="totally different words here", output=seed.output + " ;")
        assert ledger.judge(same_sql, 0).category == "leakage"
        first = Pair(id="a", input="Which artists come from Canada, please?", output="SELECT 1 AS z")
        assert ledger.judge(first, 0) is None
        ledger.keep(first)
        assert ledger.judge(Pair(id="b", input="which artists come from canada please",
                                 output="SELECT 2"), 0).category == "duplicate"
        assert ledger.judge(Pair(id="c", input="Another question entirely",
                                 output="select 1   as Z"), 0).category == "duplicate"
    finally:
        task.close()


def test_hf_export_in_messages_format(validated):
    import datasets

    generate_pairs(validated, n=40)
    ds = datasets.load_dataset("parquet", data_files={
        "train": str(validated.path("data/hf/train.parquet")),
        "validation": str(validated.path("data/hf/validation.parquet"))})
    assert ds["train"].num_rows == 36 and ds["validation"].num_rows == 4
    row = ds["train"][0]
    assert [m["role"] for m in row["messages"]] == ["system", "user", "assistant"]
    assert row["messages"][-1]["content"] == row["output"]
    assert row["input"] in row["messages"][1]["content"]


def _generate_subprocess(project: Path, n: int, log: Path, crash_at: int | None = None):
    env = {**os.environ, "COUNT_LOG": str(log), "PYTHONPATH": str(REPO)}
    if crash_at is not None:
        env["CRASH_AT"] = str(crash_at)
    return subprocess.run([sys.executable, "-m", "slm_distill", "generate", "--n", str(n),
                           "--project", str(project)], env=env, capture_output=True, text=True)


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_pairs_without_repeating_calls(example_project, tmp_path):
    _use_teacher(example_project, COUNTING)
    validate_teacher(example_project)
    clean_dir = tmp_path / "clean"
    import shutil

    shutil.copytree(example_project.root, clean_dir)
    clean = _generate_subprocess(clean_dir, 300, tmp_path / "clean.log")
    assert clean.returncode == 0, clean.stderr

    log = tmp_path / "crash.log"
    crashed = _generate_subprocess(example_project.root, 300, log, crash_at=12)
    assert crashed.returncode == 17
    committed = read_jsonl_dicts(example_project.path("data/pairs.jsonl"))
    assert 0 < len(committed) < 300
    resumed = _generate_subprocess(example_project.root, 300, log)
    assert resumed.returncode == 0, resumed.stderr

    def ids(root: Path) -> list[str]:
        return [r["id"] for r in read_jsonl_dicts(root / "data" / "pairs.jsonl")]

    assert ids(example_project.root) == ids(clean_dir)
    assert (example_project.path("data/train.jsonl").read_text()
            == (clean_dir / "data/train.jsonl").read_text())
    calls = [line for line in log.read_text().splitlines() if line.startswith("propose")]
    assert len(calls) == len(set(calls)), "a completed teacher call was made twice"
    clean_calls = [line for line in (tmp_path / "clean.log").read_text().splitlines()
                   if line.startswith("propose")]
    assert set(calls) >= set(clean_calls)


def test_rerun_after_completion_makes_no_new_calls(validated):
    first = generate_pairs(validated, n=50)
    again = generate_pairs(validated, n=50)
    assert again.cost.calls == 0 and again.kept == first.kept == 50


def test_self_consistency_keeps_majority_answers(validated):
    report = generate_pairs(validated, n=30, samples=3)
    assert report.kept == 30
    assert report.cost.calls > report.calls  # answers were asked for, not only proposals


def _provider_responder():
    counter = itertools.count()

    def respond(messages):
        prompt = messages[-1]["content"]
        if "JSON array" in prompt:
            items = []
            for _ in range(5):
                k = next(counter)
                items.append({"input": f"How many tracks are longer than {100 + k} seconds?",
                              "output": f"SELECT count(*) FROM tracks WHERE duration_seconds > "
                                        f"{100 + k}", "difficulty": "easy"})
            items.append({"input": "Bad one", "output": "SELECT nope FROM tracks"})
            return "Here you go:\n```json\n" + json.dumps(items) + "\n```"
        return "```sql\nSELECT count(*) FROM artists\n```"

    return respond


def test_http_teacher_generation_and_budget_stop(validated, provider, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    provider.responder = _provider_responder()
    validated.config.teacher = f"openai:gpt-4o@{provider.url}"
    validated.config.gate.override = None
    validated.save()
    override_gate_needed = validate_teacher(validated)
    if not override_gate_needed.passed:
        override_gate(validated, "fake provider answers one query for everything")
    validated.config.generation.augment_fraction = 0.0
    validated.config.generation.pairs_per_call = 6
    validated.config.generation.concurrency = 1
    report = generate_pairs(validated, n=10)
    assert report.kept == 10 and report.rejected.get("invalid:unknown_column", 0) >= 1
    calls_before = len(provider.requests)
    budgeted = generate_pairs(validated, n=1000, budget_usd=0.01)
    assert budgeted.stopped and "budget" in budgeted.stopped
    assert 10 < budgeted.kept < 1000
    assert budgeted.cost.cost_usd >= 0.01
    assert len(provider.requests) - calls_before == budgeted.cost.calls


def test_dry_run_estimates_without_calling(validated, provider, monkeypatch):
    """The estimate comes from the price table; the teacher's endpoint (the fake provider, which
    records every request) is never called."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test")
    validated.config.teacher = f"anthropic:claude-sonnet-4-5@{provider.url}"
    validated.save()
    est = estimate_generation(validated, n=1000)
    assert est.priced and est.calls >= 1000 / 10 and est.usd > 0
    assert est.input_tokens > est.calls * 100
    batch = estimate_generation(validated, n=1000, batch=True)
    assert batch.usd == pytest.approx(est.usd / 2, rel=0.01)
    more = estimate_generation(validated, n=1000, samples=5)
    assert more.calls > est.calls and more.usd > est.usd
    assert provider.requests == []
    validated.config.teacher = EXAMPLE_TEACHER
    local = estimate_generation(validated, n=1000)
    assert local.usd == 0 and local.calls == est.calls and "local teacher" in local.note


def test_pair_ids_are_stable():
    assert pair_id("q ", "SELECT 1") == pair_id("q", "SELECT 1 ")


def test_the_same_pairs_are_kept_whatever_order_the_calls_end_in(example_project, tmp_path,
                                                                  monkeypatch):
    """Calls that end out of order (eight in flight, each ending before the one started before
    it) are committed in call order: the kept pairs are those of one call at a time."""
    import shutil

    from slm_distill.tools.generate_pairs import generate_pairs
    from slm_distill.tools.validate_teacher import validate_teacher
    from slm_distill.tools.workspace.project import Project

    kept = {}
    for width in (1, 8):
        root = tmp_path / f"w{width}"
        shutil.copytree(example_project.root, root)
        project = Project.load(root)
        project.config.teacher = "python:tests.counting_teacher:REVERSED"
        project.config.teacher_cache = "off"
        project.config.generation.concurrency = width
        project.save()
        validate_teacher(project)
        monkeypatch.setenv("ENDED_LOG", str(tmp_path / f"ended-{width}"))
        report = generate_pairs(project, n=80)
        assert report.kept == 80
        kept[width] = project.path("data", "pairs.jsonl").read_text()
        ended = [int(x) for x in (tmp_path / f"ended-{width}").read_text().split()]
        assert (ended == sorted(ended)) == (width == 1), ended  # out of order with eight
    assert kept[1] == kept[8]
