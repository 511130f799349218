"""The evaluation's verdict, rule by rule: rethink, deploy, retune (over- and under-fit) and
more_data; the agreement matrix; and what the verdict stops downstream (status, export)."""

from __future__ import annotations

import json

import pytest

from slm_distill.tools.verdict import agreement, curve_evidence, decide

GATE, MARGIN = 0.80, 0.05


def curve(*scores: float, every: int = 10) -> list[dict]:
    return [{"step": every * (i + 1), "eval_score": s} for i, s in enumerate(scores)]


FLAT = curve(0.50, 0.62, 0.64, 0.64, 0.63)


def verdict(student: float, teacher: float | None = 0.90, base: float | None = 0.10,
            flags: tuple[str, ...] = (), history: list[dict] = FLAT, beaten: bool = True):
    values = {"student": student, "base": base, "teacher": teacher}
    return decide({k: v for k, v in values.items() if v is not None}, list(flags),
                  "execution_accuracy", gate=GATE, margin=MARGIN, base_beaten=beaten,
                  history=history)


def test_deploy_within_the_margin_above_the_base_and_no_flag():
    v = verdict(0.86)
    assert v.decision == "deploy" and "within 5% of the teacher" in v.evidence[-1]
    assert "export" in v.next_step
    assert verdict(0.84).decision != "deploy"  # 6 points behind
    assert verdict(0.88, beaten=False).decision != "deploy"  # no better than the base
    assert verdict(0.88, flags=("student_equal_base",)).decision != "deploy"


def test_rethink_when_the_teacher_or_the_task_is_the_problem():
    weak = verdict(0.70, teacher=0.72)
    assert weak.decision == "rethink" and "under the 80% gate" in weak.evidence[0]
    assert verdict(0.86, flags=("gold_error",)).decision == "rethink"
    above = verdict(0.95, flags=("student_above_teacher",))
    assert above.decision == "rethink" and "leaking" in above.evidence[0]
    assert verdict(0.5, teacher=None, base=None).decision == "more_data"


def test_retune_on_an_overfit_curve():
    v = verdict(0.40, history=curve(0.30, 0.55, 0.50, 0.44, 0.41, 0.40))
    assert v.decision == "retune" and "peaked at 55% at step 20" in v.evidence[1]
    assert "fewer steps" in v.next_step


def test_retune_on_a_curve_still_rising():
    v = verdict(0.40, history=curve(0.05, 0.10, 0.18, 0.25, 0.33, 0.40))
    assert v.decision == "retune" and "still rising" in v.evidence[1]
    assert "train longer" in v.next_step


def test_more_data_when_the_curve_levelled_off_below_the_teacher():
    v = verdict(0.60)
    assert v.decision == "more_data" and "levelled off" in v.evidence[1]
    assert "improve" in v.next_step
    assert curve_evidence(curve(0.1, 0.2))[0] is None  # two points are no curve


def test_the_agreement_matrix_and_what_the_base_knew():
    outcomes = {"base": {"a": "ok", "b": "ok", "c": "wrong_result", "d": "syntax"},
                "student": {"a": "ok", "b": "wrong_result", "c": "ok", "d": "syntax"},
                "teacher": {"a": "ok", "b": "ok", "c": "wrong_result", "d": "syntax"}}
    found = agreement(outcomes, {"b": "Question B?"})
    assert (found.both_right, found.teacher_only, found.student_only, found.both_wrong) == (
        1, 1, 1, 1)
    assert found.lost_from_base == ["Question B?"]
    assert agreement({"student": outcomes["student"]}, {}) is None


def _results(student: int, teacher: int = 9, base: int = 1) -> dict:
    from slm_distill.tools.evaluate import ModelResult
    from slm_distill.tools.reporting.stats import wilson

    def one(name: str, correct: int) -> ModelResult:
        outcomes = {f"s{i}": "ok" if i < correct else "wrong_result" for i in range(10)}
        return ModelResult(name=name, spec=name, overall=wilson(correct, 10),
                           metrics={"execution_accuracy": correct / 10}, by_difficulty={},
                           failures={"wrong_result": 10 - correct} if correct < 10 else {},
                           examples={}, outcomes=outcomes)

    return {"base": one("base", base), "student": one("student", student),
            "teacher": one("teacher", teacher)}


def test_nothing_ships_while_the_verdict_is_not_deploy(example_project):
    """The saved evaluation carries the verdict; project_status's next step follows it instead
    of "ship", and an export recommends no file; a deploy verdict lets both through."""
    from slm_distill.tools.evaluate import save_eval
    from slm_distill.tools.export_gguf import QuantResult, _hold_back
    from slm_distill.tools.reporting.stats import wilson
    from slm_distill.tools.workspace.status import _next, _verdict

    labels = {"execution_accuracy": "execution accuracy"}
    report = save_eval(example_project, _results(student=4), "test split", 10, "eval", labels,
                       "execution_accuracy")
    assert report.verdict.decision == "more_data" and "RED FLAG student_below_50" in report.summary()
    assert "Verdict: more_data" in report.summary()
    assert "## Verdict: more_data" in example_project.report_path("eval", "md").read_text()
    step = _next(80, True, True, 500, True, {"eval", "export"}, True, _verdict(example_project))
    assert "verdict is more_data" in step and "ship a recommended" not in step

    def quants() -> list[QuantResult]:
        return [QuantResult(quant=q, file=f"m-{q}.gguf", size_mb=1.0, accuracy=wilson(4, 10),
                            agreement=1.0, delta_points=0.0, recommended=True)
                for q in ("f16", "q8_0")]

    held = quants()
    assert _hold_back(example_project, held) == "more_data"
    assert not any(q.recommended for q in held) and "not for shipping" in held[0].note
    save_eval(example_project, _results(student=9), "test split", 10, "eval", labels,
              "execution_accuracy")
    assert _verdict(example_project)[0] == "deploy"
    shipped = quants()
    assert _hold_back(example_project, shipped) == "deploy" and all(q.recommended for q in shipped)
    step = _next(80, True, True, 500, True, {"eval", "export"}, True, _verdict(example_project))
    assert step.startswith("ship a recommended GGUF")


def test_a_deploy_verdict_lapses_when_the_student_is_trained_again(example_project):
    """The evaluation records which training run it scored (runs/student/metrics.jsonl, which
    every run rewrites): after another run, status asks for a new evaluation and export
    recommends nothing, whatever the old verdict said."""
    from slm_distill.tools.evaluate import retrained_since_evaluation, save_eval
    from slm_distill.tools.export_gguf import QuantResult, _hold_back
    from slm_distill.tools.reporting.stats import wilson
    from slm_distill.tools.workspace.status import _next, _verdict

    metrics = example_project.path("runs", "student", "metrics.jsonl")
    metrics.parent.mkdir(parents=True)
    metrics.write_text('{"step": 10, "loss": 1.0}\n')
    save_eval(example_project, _results(student=9), "test split", 10, "eval",
              {"execution_accuracy": "execution accuracy"}, "execution_accuracy")
    assert _verdict(example_project)[0] == "deploy" and not retrained_since_evaluation(example_project)
    metrics.write_text('{"step": 10, "loss": 0.9}\n')  # trained again
    assert retrained_since_evaluation(example_project)
    step = _next(80, True, True, 500, True, {"eval", "export"}, True, _verdict(example_project))
    assert "trained again after reports/eval.md" in step and "evaluate" in step
    held = [QuantResult(quant="f16", file="m-f16.gguf", size_mb=1.0, accuracy=wilson(9, 10),
                        agreement=1.0, delta_points=0.0, recommended=True)]
    assert _hold_back(example_project, held) is None and not held[0].recommended
    assert held[0].note.startswith("the student was trained again after its evaluation")


def test_a_gate_on_few_seeds_says_it_is_inconclusive():
    """12/12 is [76%, 100%]: it passes an 80% gate, but its low end is under it."""
    from slm_distill.tools.reporting.stats import wilson
    from slm_distill.tools.validate_teacher import _inconclusive

    note = _inconclusive(wilson(12, 12), 0.80)
    assert note.startswith("inconclusive: on 12 validation seeds the 95% interval (76%-100%)")
    assert _inconclusive(wilson(60, 64), 0.80) is None  # [85%, 98%]: firmly above
    assert _inconclusive(wilson(5, 16), 0.80) is None  # firmly below


def test_the_demo_says_when_the_machine_is_slow_and_never_cuts_training():
    from slm_distill.tools.cli.demo import SlowWatch

    watch = SlowWatch(expected_s=400, task="text2sql")
    assert watch({"step": 20, "total_steps": 420, "elapsed_s": 20, "eta_s": 400}) is None
    warning = watch({"step": 20, "total_steps": 420, "elapsed_s": 60, "eta_s": 1200})
    assert "will take about 21 min, not 7" in warning and "--steps 133" in warning
    assert watch({"step": 30, "total_steps": 420, "elapsed_s": 90, "eta_s": 1200}) is None  # once


def test_the_teacher_gate_on_twelve_seeds_reports_its_interval_and_is_inconclusive(tmp_path,
                                                                                  capsys):
    """60 seeds give 12 validation seeds: the example teacher passes (11 of 12), and the report,
    the CLI and reports/teacher_validation.md say its interval reaches below 80%."""
    from slm_distill.tools.cli import main
    from tests.conftest import EXAMPLE, EXAMPLE_TEACHER

    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text("".join((EXAMPLE / "seeds.jsonl").read_text().splitlines(True)[:60]))
    root = str(tmp_path / "p")
    main(["init", root, "--schema", str(EXAMPLE / "schema.sql"), "--teacher", EXAMPLE_TEACHER])
    main(["seeds", "add", str(seeds), "--project", root])
    capsys.readouterr()
    main(["validate-teacher", "--project", root])
    out = capsys.readouterr().out
    report = json.loads((tmp_path / "p" / "reports" / "teacher_validation.json").read_text())
    assert (report["n"], report["correct"]) == (12, 11) and report["passed"]
    assert round(report["interval"]["low"], 2) == 0.65 and report["interval"]["high"] > 0.8
    assert report["inconclusive"].startswith("inconclusive: on 12 validation seeds")
    assert "Note: inconclusive: on 12 validation seeds" in out
    assert "Inconclusive: on 12" in (tmp_path / "p" / "reports" / "teacher_validation.md").read_text()


def test_a_fresh_test_file_is_checked_for_overlap_with_the_training_pairs(example_project):
    from slm_distill.tools.evaluate import training_overlap
    from slm_distill.tools.workspace.fileio import write_atomic
    from slm_distill.tools.workspace.project import Seed

    pairs = [{"input": "How many albums are there?", "output": "SELECT COUNT(*) FROM albums"},
             {"input": "List every genre of the albums.",
              "output": "SELECT DISTINCT genre FROM albums"}]
    write_atomic(example_project.path("data", "train.jsonl"),
                 "".join(json.dumps(p) + "\n" for p in pairs))
    fresh = [Seed(input="how many albums are there", output="SELECT count(*) FROM albums"),
             Seed(input="List every genre of the albums!!",
                  output="SELECT genre FROM albums"),
             Seed(input="Which artist formed first?",
                  output="SELECT name FROM artists ORDER BY formed_year LIMIT 1")]
    task = example_project.task()
    try:
        found = training_overlap(example_project, fresh, task)
    finally:
        task.close()
    assert (found.inputs, found.identical_inputs, found.identical_answers) == (3, 2, 1)
    assert found.near_duplicate_inputs == 0 and "Which artist" not in " ".join(found.examples)
    assert "2 identical and 0 near-duplicate inputs, 1 identical answers, of 3" in found.line()


def test_improve_allots_new_pairs_where_training_data_is_thinnest():
    """A failing group with no training pairs gets more than a larger one with hundreds."""
    from slm_distill.tools.improve import FailureGroup, _allot

    def group(label: str, failures: int, training: int) -> FailureGroup:
        return FailureGroup(label=label, needs=[label], failures=failures, test_inputs=failures,
                            categories={"wrong_result": failures}, training_pairs=training)

    covered, bare, small = group("join", 10, 326), group("window", 3, 0), group("dates", 1, 40)
    _allot([covered, bare, small], 200, 2)
    assert bare.pairs > covered.pairs > 0 and small.pairs == 0
    assert bare.pairs + covered.pairs == 200
    for pairs, most in ((7, 3), (3, 3), (2, 4), (101, 4)):  # the plan asks for exactly `pairs`
        groups = [group(f"g{i}", i + 1, 10 * i) for i in range(5)]
        _allot(groups, pairs, most)
        assert sum(g.pairs for g in groups) == pairs and all(g.pairs >= 0 for g in groups)
        assert sum(g.pairs > 0 for g in groups) == min(most, pairs)


@pytest.mark.slow  # the training callback imports transformers
def test_training_estimates_its_time_from_measured_steps_then_the_first_evaluation():
    import time
    from types import SimpleNamespace

    from slm_distill.tools.training.trainer import ESTIMATE_AFTER, EventsCallback

    events: list[dict] = []
    callback = EventsCallback(events.append, None)
    args = SimpleNamespace(eval_steps=10, world_size=1)
    state = SimpleNamespace(global_step=0, max_steps=40, epoch=0)
    callback.on_train_begin(args, state, None)
    callback.started = time.monotonic() - 3.0  # three steps of a second each
    state.global_step = ESTIMATE_AFTER
    callback.on_step_end(args, state, SimpleNamespace(should_training_stop=False))
    first = next(e for e in events if e["type"] == "estimate")
    assert 0.9 < first["seconds_per_step"] < 1.2 and "37 more steps" in first["message"]
    assert "timed at the first" in first["message"]
    callback.started = time.monotonic() - 8.0  # the same three steps, then a 5 s evaluation
    callback.on_log(args, state, None, logs={"eval_score": 0.1, "eval_seconds": 5.0})
    second = [e for e in events if e["type"] == "estimate"][1]
    assert "evaluations at 5 s" in second["message"] and second["estimate_s"] > first["estimate_s"]


@pytest.mark.slow
def test_the_seed_only_student_shows_what_the_pairs_added(generated_project, tmp_path):
    import asyncio

    from mcp import Client

    from slm_distill.server.app import build_server
    from slm_distill.tools.evaluate import EvalReport
    from slm_distill.tools.train_student import train_student
    from tests.conftest import clone_project
    from tests.mcp_client import finish, ok

    project = clone_project(generated_project, tmp_path)
    train_student(project)

    async def run() -> dict:  # as an agent asks for it
        async with Client(build_server(project.root.parent)) as c:
            job = await ok(c, "evaluate", {"project_dir": project.root.name,
                                           "models": ["base", "seed_only", "student"]})
            return await finish(c, job, project.root.name)

    result = asyncio.run(run())["result"]
    assert [r["name"] for r in result["results"]] == ["base", "seed_only", "student"]
    assert result["verdict"]["decision"] and result["verdict"]["evidence"]
    saved = json.loads(project.report_path("eval").read_text())
    assert [r["name"] for r in saved["results"]] == ["base", "seed_only", "student"]
    report = EvalReport.model_validate(saved)
    table = report.summary()  # what the CLI prints
    assert "\n  seed_only " in table and "\n  student   " in table
    assert project.path("runs", "seed_only", "merged", "config.json").is_file()
    seed_only = json.loads(project.report_path("train-seed-only").read_text())
    student = json.loads(project.report_path("train").read_text())
    assert seed_only["steps"] == student["steps"]
    assert seed_only["train_examples"] == len(project.split()[0])  # the validation seeds only
    assert any("the synthetic pairs added" in e for e in report.verdict.evidence)
    assert "| seed_only |" in project.report_path("eval", "md").read_text()
