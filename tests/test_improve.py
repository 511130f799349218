"""The improve loop on the bundled example with scratch:tiny: failure groups, targeted pairs that
never show the teacher a test input, retraining from the previous best, before/after tables."""

from __future__ import annotations

import json

import pytest

from slm_distill.tools.errors import UsageError
from tests.conftest import clone_project

pytestmark = pytest.mark.slow  # trains a student


@pytest.fixture(scope="module")
def evaluated(generated_project, tmp_path_factory):
    from slm_distill.tools.evaluate import evaluate
    from slm_distill.tools.train_student import train_student

    project = clone_project(generated_project, tmp_path_factory.mktemp("improve"))
    train_student(project)
    evaluate(project)
    return project


def test_improve_needs_an_evaluation_of_the_current_student(generated_project, tmp_path):
    from slm_distill.tools.improve import plan_improvement

    project = clone_project(generated_project, tmp_path)
    with pytest.raises(UsageError, match="distill evaluate"):
        plan_improvement(project, pairs=10, max_groups=2)


def test_plan_groups_every_failure_by_what_the_input_needs(evaluated):
    from slm_distill.tools.evaluate import EvalReport
    from slm_distill.tools.improve import need_of, plan_improvement
    from slm_distill.tools.reporting.reports import load_report

    student = load_report(evaluated, "eval", EvalReport).result("student")
    plan = plan_improvement(evaluated, pairs=40, max_groups=2)
    wrong = sum(1 for v in student.outcomes.values() if v != "ok")
    assert plan.failures == wrong == student.overall.n - student.overall.correct > 0
    assert sum(sum(g.categories.values()) for g in plan.groups) == wrong
    targeted = [g for g in plan.groups if g.pairs]
    assert 1 <= len(targeted) <= 2 and plan.groups[: len(targeted)] == targeted
    assert abs(plan.pairs - 40) <= len(targeted)
    needs = [need_of(g) for g in plan.groups]  # neediest first: failures where data is thinnest
    assert needs == sorted(needs, reverse=True)


def test_a_round_adds_targeted_pairs_retrains_and_reports_before_after(evaluated, tmp_path,
                                                                       monkeypatch):
    from slm_distill.tools.evaluate import EvalReport
    from slm_distill.tools.improve import improve, label_of, needs_of
    from slm_distill.tools.reporting.reports import load_report
    from slm_distill.tools.workspace.fileio import read_jsonl_dicts

    spy = tmp_path / "spy.jsonl"
    monkeypatch.setenv("SPY_LOG", str(spy))
    from slm_distill.tools.validate_teacher import validate_teacher

    evaluated.config.teacher = "python:tests.counting_teacher:SPY"
    evaluated.save()
    validate_teacher(evaluated)
    spy.unlink(missing_ok=True)
    before_pairs = len(read_jsonl_dicts(evaluated.path("data", "pairs.jsonl")))

    seen = []
    report = improve(evaluated, rounds=1, pairs=24, max_groups=2, train_steps=4,
                     progress=lambda done, total, message: seen.append((done, total)))
    assert seen and {t for _, t in seen} == {300}
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)  # progress only moves forward

    [rnd] = report.rounds
    targets = {g.label: g for g in rnd.plan.groups if g.pairs}
    pairs = read_jsonl_dicts(evaluated.path("data", "pairs.jsonl"))
    new = [p for p in pairs if p["metadata"].get("improve_round") == 1]
    assert len(pairs) == before_pairs + rnd.pairs_added and rnd.pairs_added == len(new) > 0
    task = evaluated.task()
    try:
        for p in new:
            group = targets[p["metadata"]["target"]]
            assert set(group.needs) <= set(p["metadata"]["features"]), p
        _, test = evaluated.split()
        test_inputs = {s.input for s in test}
        calls = [json.loads(line) for line in spy.read_text().splitlines()]
        assert calls and all(c["mode"] == "targeted" and c["focus"]["label"] in targets for c in calls)
        shown = {e["input"] for c in calls for e in c["examples"]}
        assert not shown & test_inputs  # the teacher never sees a test input
        assert not {p["input"] for p in new} & test_inputs
        assert sum(r.n for r in rnd.by_group) == len(test)
        assert {r.label for r in rnd.by_group} == {label_of(task, needs_of(task, s.output)) for s in test}
    finally:
        task.close()
    assert rnd.before.correct == sum(r.before for r in rnd.by_group)
    assert rnd.after.correct == sum(r.after for r in rnd.by_group)
    assert sum(c.before for c in rnd.by_category) == rnd.before.n - rnd.before.correct
    assert sum(c.after for c in rnd.by_category) == rnd.after.n - rnd.after.correct
    assert rnd.train_steps == 4
    train = json.loads(evaluated.report_path("improve-1-train").read_text())
    assert train["init_from"] == "runs/student/merged"
    latest = load_report(evaluated, "eval", EvalReport)
    if rnd.kept == "candidate":
        assert evaluated.path("runs", "student-before-improve-1", "merged").is_dir()
        assert latest.result("student").overall == rnd.after
    else:
        assert evaluated.path("runs", "improve-1", "merged").is_dir()
        assert latest.result("student").overall == rnd.before
    assert latest.result("teacher") is not None and latest.result("base") is not None
    md = evaluated.report_path("improve", "md").read_text()
    assert "## Round 1" in md and "optimistic" in md
    assert evaluated.report_path("improve", "png").stat().st_size > 1000


def test_cli_dry_run_prints_the_groups_and_starts_nothing(evaluated):
    from click.testing import CliRunner

    from slm_distill.tools.cli.commands import cli

    before = sorted(p.name for p in evaluated.path("jobs").glob("*")) \
        if evaluated.path("jobs").is_dir() else []
    result = CliRunner().invoke(cli, ["improve", "--dry-run", "--pairs", "30", "--max-groups", "1",
                                      "--project", str(evaluated.root)])
    assert result.exit_code == 0, result.output
    assert "fails" in result.output and "+30 pairs" in result.output
    assert "local teacher: no API cost" in result.output
    after = sorted(p.name for p in evaluated.path("jobs").glob("*")) \
        if evaluated.path("jobs").is_dir() else []
    assert after == before


def test_a_round_without_new_pairs_stops_before_training(evaluated, tmp_path):
    from slm_distill.tools.improve import ImproveReport, improve
    from slm_distill.tools.reporting.reports import load_report
    from slm_distill.tools.validate_teacher import validate_teacher

    project = clone_project(evaluated, tmp_path)  # reports and pairs, no runs
    project.config.teacher = "python:tests.counting_teacher:NO_TARGETS"
    project.save()
    validate_teacher(project)
    done = load_report(project, "improve", ImproveReport)
    rounds_before = len(done.rounds) if done else 0
    report = improve(project, rounds=1, pairs=10, max_groups=4)
    assert report.stopped and report.stopped.startswith("no new pairs")
    assert len(report.rounds) == rounds_before
    # falling short is not success: the job would end partial, and nothing points at a table
    # this call never wrote
    assert report.partial and report.partial.startswith("0 of 1 rounds done")
    assert report.next_step.startswith("No round was completed")
    assert not project.path("runs").exists()  # nothing was trained


def test_changed_seeds_make_the_evaluation_stale(evaluated, tmp_path):
    from slm_distill.tools.improve import plan_improvement

    project = clone_project(evaluated, tmp_path)
    line = {"input": "How many albums have an id above zero, counting every artist?",
            "output": "SELECT COUNT(*) FROM albums WHERE album_id > 0", "metadata": {"difficulty": "easy"}}
    (tmp_path / "more.jsonl").write_text(json.dumps(line) + "\n")
    from slm_distill.tools.workspace.project import add_seeds

    add_seeds(project, tmp_path / "more.jsonl")
    with pytest.raises(UsageError, match="seeds changed"):
        plan_improvement(project, pairs=10, max_groups=2)


def test_promotion_keeps_every_earlier_student_and_can_be_finished_twice(tmp_path):
    from types import SimpleNamespace

    from slm_distill.tools.improve import _promote

    root = tmp_path / "p"
    for name in ("student", "student-before-improve-1", "improve-1"):
        (root / "runs" / name).mkdir(parents=True)
        (root / "runs" / name / "who").write_text(name)
    project = SimpleNamespace(path=lambda *parts: root.joinpath(*parts),
                              report_path=lambda name, ext="json": root / "reports" / f"{name}.{ext}")
    _promote(project, 1)
    _promote(project, 1)  # a rerun after a crash: nothing left to do
    runs = {p.name: (p / "who").read_text() for p in (root / "runs").iterdir()}
    assert runs == {"student": "improve-1", "student-before-improve-1": "student-before-improve-1",
                    "student-before-improve-1~2": "student"}
