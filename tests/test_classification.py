"""Classification: labels at init, seeds checked against them, answers normalised and validated,
macro-F1 and per-label scores against hand-computed cases, the label balance of generated pairs,
and the bundled support-ticket example through every stage on the CLI and over MCP."""

from __future__ import annotations

import asyncio
import json
import shutil

import pytest
import yaml
from mcp import Client

from slm_distill.server.app import build_server
from slm_distill.tools.cli import main
from slm_distill.tools.errors import UsageError
from slm_distill.tools.tasks.base import Score
from slm_distill.tools.tasks.classification import INVALID, Classification
from slm_distill.tools.workspace.config import ClassificationConfig, ProjectConfig
from slm_distill.tools.workspace.project import Project, add_seeds, init_project
from tests.conftest import REPO, cli_through_evaluate
from tests.mcp_client import every_stage

TICKETS = REPO / "examples" / "classification"
TEACHER = "python:slm_distill.examples.classification.teacher:TEACHER"
LABELS = ["billing", "bug", "feature_request"]


def task(multi: bool = False, labels: list[str] = LABELS) -> Classification:
    return Classification(ClassificationConfig(labels=labels, multi_label=multi))


# -- answers ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("raw,expected", [
    ("bug", "bug"), ("Bug.", "bug"), ("Label: billing", "billing"), ('"feature_request"', "feature_request"),
    ("```\nbug\n```", "bug"), ("  BILLING  ", "billing"), ("I think this is a bug report.", "bug"),
])
def test_answers_are_normalised_to_a_label(raw, expected):
    assert task().extract(raw) == expected


@pytest.mark.parametrize("bad", ["refund", "", "bug or billing", "{\"label\": 3}", "x" * 10_000,
                                 "[[[[[[[[" * 1000])
def test_answers_outside_the_labels_are_rejected_with_a_reason(bad):
    check = task().validate(task().extract(bad))
    assert not check.ok and check.category == "unknown_label" and "labels" in check.reason
    score = task().score(bad, "bug")
    assert not score.correct and not score.valid and score.category == "unknown_label"


def test_multi_label_answers_are_sets():
    t = task(multi=True)
    assert t.extract('["feature_request", "bug"]') == "bug, feature_request"
    assert t.extract("Billing, bug") == "billing, bug"
    assert t.score("bug, billing", "billing, bug").correct
    assert not t.score("bug", "billing, bug").correct
    assert not t.validate("bug, refunds").ok


def _scores(t: Classification, pairs: list[tuple[str, str]]) -> list[Score]:
    return [t.score(pred, gold) for gold, pred in pairs]


def test_macro_f1_by_hand_with_an_absent_class():
    # gold bug x2, billing x2; feature_request never occurs in gold nor answers: it does not count
    # bug: tp 1, fp 0, fn 1 -> F1 2/3; billing: tp 2, fp 1, fn 0 -> F1 4/5
    t = task()
    scores = _scores(t, [("bug", "bug"), ("bug", "billing"), ("billing", "billing"),
                         ("billing", "billing")])
    summary = t.summarise(scores)
    assert summary["macro_f1"] == pytest.approx((2 / 3 + 4 / 5) / 2)
    assert summary["accuracy"] == 0.75 and summary["valid_label"] == 1.0


def test_an_invalid_answer_counts_against_its_gold_label_only():
    t = task()
    scores = _scores(t, [("bug", "no idea"), ("billing", "billing")])
    assert [s.answer for s in scores] == [INVALID, "billing"]
    # bug: recall 0 -> F1 0; billing: F1 1; "(no label)" is no class of its own
    assert t.summarise(scores)["macro_f1"] == pytest.approx(0.5)
    details = t.details(scores)
    assert details["per_label"]["bug"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert details["confusion"]["labels"][-1] == INVALID


def test_multi_label_macro_f1_by_hand():
    t = task(multi=True)
    scores = _scores(t, [("billing, bug", "billing"), ("bug", "bug")])
    # billing: tp 1 -> F1 1; bug: tp 1, fn 1 -> F1 2/3
    assert t.summarise(scores)["macro_f1"] == pytest.approx((1 + 2 / 3) / 2)


# -- init and seeds -------------------------------------------------------------------------------------
def test_improve_groups_failures_by_gold_label_and_what_they_were_taken_for():
    from slm_distill.tools.evaluate import score_model
    from slm_distill.tools.improve import _focus, _groups
    from slm_distill.tools.workspace.project import Seed

    gold = ["billing"] * 4 + ["bug"] * 3 + ["feature_request"] * 2
    said = ["bug", "bug", "feature_request", "billing", "billing", "nonsense", "bug",
            "feature_request", "feature_request"]
    seeds = [Seed(input=f"ticket {i}", output=g) for i, g in enumerate(gold)]
    student = score_model("student", "s", seeds, said, task())
    assert student.mistaken_for == {seeds[0].id: "bug", seeds[1].id: "bug",
                                    seeds[2].id: "feature_request", seeds[4].id: "billing"}
    groups, seed_group = _groups(task(), seeds, student, [])
    assert [(g.label, g.failures, g.test_inputs) for g in groups] == [("billing", 3, 4),
                                                                      ("bug", 2, 3)]
    assert groups[0].confused_with == {"bug": 2, "feature_request": 1}
    assert groups[1].confused_with == {"billing": 1}  # the invalid answer is no confusion
    assert groups[1].categories == {"wrong_label": 1, "unknown_label": 1}
    focus = _focus(task(), groups[0])
    assert "It took them for: bug (2), feature_request (1)" in focus["mistakes"]
    assert "could take for bug at first sight" in focus["mistakes"]
    assert seed_group[seeds[8].id] == "feature_request"


def test_labels_from_a_file_and_bad_labels(tmp_path, capsys):
    (tmp_path / "labels.txt").write_text("billing\nbug\nBilling\n")
    with pytest.raises(SystemExit) as refused:
        main(["init", str(tmp_path / "p"), "--task", "classification", "--labels-file",
              str(tmp_path / "labels.txt"), "--teacher", TEACHER])
    assert refused.value.code == 2 and "labels must differ" in capsys.readouterr().err
    assert not (tmp_path / "p").exists()
    with pytest.raises(SystemExit):
        main(["init", str(tmp_path / "p"), "--task", "classification", "--schema", "x.sql"])
    assert "no database" in capsys.readouterr().err and not (tmp_path / "p").exists()
    main(["init", str(tmp_path / "p"), "--task", "classification", "--labels-file",
          str(TICKETS / "labels.txt"), "--teacher", TEACHER])
    assert Project.load(tmp_path / "p").config.task.labels[0] == "billing"


def test_seeds_must_fit_the_labels(tmp_path):
    project = init_project(tmp_path / "p", task="classification", labels=LABELS, teacher=TEACHER)
    (tmp_path / "seeds.jsonl").write_text(
        json.dumps({"input": "I was charged twice", "output": "billing"}) + "\n"
        + json.dumps({"input": "Please refund me", "output": "refunds"}) + "\n")
    with pytest.raises(UsageError, match=r"seeds.jsonl:2: output is not valid: 'refunds' is not one"):
        add_seeds(project, tmp_path / "seeds.jsonl")
    assert not project.seeds_path.exists()


def test_labels_are_taken_from_the_first_seeds(tmp_path):
    project = init_project(tmp_path / "p", task="classification", teacher=TEACHER)
    assert add_seeds(project, TICKETS / "seeds.jsonl") == 78
    labels = Project.load(project.root).config.task.labels
    assert sorted(labels) == sorted((TICKETS / "labels.txt").read_text().split())


def test_changing_the_labels_after_seeds_needs_force(tmp_path):
    from slm_distill.tools.workspace.settings import set_config

    project = init_project(tmp_path / "p", task="classification", teacher=TEACHER)
    add_seeds(project, TICKETS / "seeds.jsonl")
    before = (project.root / "distill.yaml").read_text()
    with pytest.raises(UsageError, match="Changing task.labels now would change the labels"):
        set_config(project, "task.labels", ["billing", "bug"])
    with pytest.raises(UsageError, match="task.labels: labels must differ"):
        set_config(project, "task.labels", ["bug", "Bug"], force=True)
    assert (project.root / "distill.yaml").read_text() == before
    change = set_config(project, "task.labels", [*LABELS, "refunds"], force=True)
    assert change.new == [*LABELS, "refunds"] and "forced although" in change.notes[0]


def test_constrained_decoding_needs_a_task_with_choices(tmp_path, example_project):
    from slm_distill.tools.workspace.settings import set_config

    before = (example_project.root / "distill.yaml").read_text()
    with pytest.raises(UsageError, match="evaluation.constrained needs a task whose answers are a "
                                         "fixed set.*this text2sql project"):
        set_config(example_project, "evaluation.constrained", True)
    assert (example_project.root / "distill.yaml").read_text() == before
    multi = init_project(tmp_path / "m", task="classification", labels=LABELS, multi_label=True,
                         teacher=TEACHER)
    with pytest.raises(UsageError, match="this classification project's answers are open"):
        set_config(multi, "evaluation.constrained", True)
    single = init_project(tmp_path / "s", task="classification", labels=LABELS, teacher=TEACHER)
    assert set_config(single, "evaluation.constrained", True).new is True


@pytest.mark.slow
def test_constrained_answers_are_labels_ranked_by_likelihood():
    import torch

    from slm_distill.tools.training.constrained import choice_ids, hf_choose
    from slm_distill.tools.training.students import build_scratch

    model, tokenizer = build_scratch("scratch:tiny", 0)
    t = task()
    texts = ["I was charged twice", "The app crashes", "Please add dark mode"]
    answers = hf_choose(model, tokenizer, t, texts)
    assert all(a in LABELS for a in answers)
    # the winner has the highest summed log-probability, computed here one choice at a time
    prompt, choices = choice_ids(tokenizer, t.student_messages(texts[0]), LABELS)
    totals = []
    for choice in choices:
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([prompt + choice])).logits[0].float()
        logprobs = torch.log_softmax(logits[len(prompt) - 1:-1], dim=-1)
        totals.append(float(sum(logprobs[j, tok] for j, tok in enumerate(choice))))
    assert answers[0] == LABELS[max(range(len(LABELS)), key=totals.__getitem__)]


def test_a_text2sql_config_from_before_the_task_types_still_loads(tmp_path):
    old = {"name": "old", "task": {"name": "text2sql", "db": "database.duckdb",
                                   "schema_in_student_prompt": True, "sample_rows": 3,
                                   "row_cap": 10000, "timeout_s": 10.0},
           "teacher": "anthropic:claude-sonnet-4-5", "student": "Qwen/Qwen2.5-0.5B-Instruct"}
    config = ProjectConfig.model_validate(yaml.safe_load(yaml.safe_dump(old)))
    assert config.task.name == "text2sql" and config.task.db == "database.duckdb"
    assert ProjectConfig.model_validate({"name": "no task"}).task.name == "text2sql"


# -- generation ---------------------------------------------------------------------------------------
@pytest.fixture
def tickets(tmp_path):
    from slm_distill.tools.validate_teacher import validate_teacher

    project = init_project(tmp_path / "tickets", task="classification",
                           labels=(TICKETS / "labels.txt").read_text().split(), teacher=TEACHER,
                           student="scratch:tiny")
    add_seeds(project, TICKETS / "seeds.jsonl")
    assert validate_teacher(project).passed
    return project


def test_generation_keeps_the_label_balance(tickets):
    from slm_distill.tools.generate_pairs import generate_pairs

    report = generate_pairs(tickets, n=240)
    counts = report.coverage.facts["label"]
    assert sum(counts.values()) == report.kept == 240
    assert max(counts.values()) <= 240 / 6 * 1.1 + 1  # the seeds are balanced: so are the pairs
    # the calls ask for each label in its share, so few pairs are refused for a full label
    assert report.rejected.get("over_quota", 0) <= report.proposed * 0.05
    assert "leakage" in report.rejected or report.leakage_drops == 0
    # many tickets share a label: the same answer is no duplicate
    assert report.rejected.get("duplicate", 0) < report.proposed / 2


def test_calls_ask_for_each_label_in_its_share():
    from collections import Counter

    from slm_distill.tools.generate_pairs import plan_call
    from slm_distill.tools.workspace.project import Seed

    t = task()
    shares = {"billing": 0.5, "bug": 0.25, "feature_request": 0.25}
    asked = [t.call_focus(i, [], shares)[1]["labels"][0] for i in range(8)]
    assert Counter(asked) == {"billing": 4, "bug": 2, "feature_request": 2}
    assert asked[:4] == ["billing", "bug", "feature_request", "billing"]  # never two behind
    pool = [Seed(input=f"text {i}", output=label) for i, label in enumerate(LABELS * 2)]
    plans = [plan_call(i, pool, 0.3, t, shares) for i in range(400)]
    # new calls ask for the scheduled label and show only its seeds; augmentations rewrite one
    labels = Counter(p.examples[0]["output"] for p in plans)
    assert labels == {"billing": 200, "bug": 100, "feature_request": 100}
    assert all({e["output"] for e in p.examples} == set(p.focus["labels"])
               for p in plans if p.mode == "new")
    assert [p.focus for p in plans] == [p.focus for p in (plan_call(i, pool, 0.3, task(), shares)
                                                          for i in range(400))]  # deterministic


def test_uniform_balance_and_over_quota(tickets):
    from slm_distill.tools.generate_pairs import generate_pairs

    tickets.config.task.label_balance = "uniform"
    tickets.save()
    report = generate_pairs(tickets, n=120)
    assert all(count <= 120 / 6 * 1.1 + 1 for count in report.coverage.facts["label"].values())


# -- every stage, CLI and MCP ---------------------------------------------------------------------------
TINY = {"training.max_steps": "150", "training.eval_steps": "75", "training.eval_samples": "16",
        "training.max_new_tokens": "8", "training.batch_size": "8",
        "training.gradient_accumulation_steps": "1", "training.learning_rate": "2e-3",
        "training.loss_vocab": "answers", "training.early_stopping_patience": "null"}


@pytest.mark.slow
def test_the_example_through_every_stage_on_the_cli(tmp_path, capsys):
    root = str(tmp_path / "tickets")
    cli_through_evaluate(root, ["--task", "classification", "--labels-file", str(TICKETS / "labels.txt"),
                                "--teacher", TEACHER, "--student", "scratch:tiny"],
                         TICKETS / "seeds.jsonl", TINY, pairs=300)
    out = capsys.readouterr().out
    assert "macro-F1" in out and "valid label" in out
    evaluation = json.loads((tmp_path / "tickets" / "reports" / "eval.json").read_text())
    scores = {r["name"]: r["metrics"]["macro_f1"] for r in evaluation["results"]}
    assert scores["student"] > scores["base"] + 0.3, scores  # clearly above its base
    assert (tmp_path / "tickets" / "reports" / "eval-confusion.png").stat().st_size > 1000
    assert "## Confusion matrix: student" in (tmp_path / "tickets" / "reports" / "eval.md").read_text()
    main(["config", "set", "training.max_steps", "20", "--project", root])
    main(["improve", "--pairs", "30", "--project", root])
    improve = json.loads((tmp_path / "tickets" / "reports" / "improve.json").read_text())
    [rnd] = improve["rounds"]
    assert rnd["pairs_added"] > 0 and {g["label"] for g in rnd["by_group"]} <= set(
        (TICKETS / "labels.txt").read_text().split())
    main(["export", "--quant", "q8_0", "--project", root])
    export = json.loads((tmp_path / "tickets" / "reports" / "export.json").read_text())
    assert export["parity_ok"] and [r["quant"] for r in export["results"]] == ["f16", "q8_0"]
    assert "Classifying texts into one of" in (tmp_path / "tickets" / "exports" / "README.md").read_text()
    grammar = (tmp_path / "tickets" / "exports" / "labels.gbnf").read_text()
    assert grammar.startswith('root ::= "billing" | "bug"')
    import llama_cpp

    llama_cpp.LlamaGrammar.from_string(grammar, verbose=False)  # llama.cpp accepts it


@pytest.mark.slow
def test_the_example_through_every_tool(tmp_path, monkeypatch):
    shutil.copy(TICKETS / "seeds.jsonl", tmp_path / "seeds.jsonl")

    async def run():
        async with Client(build_server(tmp_path)) as c:
            out = await every_stage(c, "tickets", {"task": "classification", "teacher": TEACHER,
                                                   "student": "scratch:tiny"}, TINY, pairs=200,
                                    before_evaluate={"evaluation.constrained": True},
                                    improve_steps=20)
            return [out[k] for k in ("added", "gate", "evaluated", "plan", "improved", "exported")]

    added, gate, evaluated, plan, improved, exported = asyncio.run(run())
    assert len(added["labels_set"]) == 6  # taken from the seeds, and said
    assert gate["passed"] and gate["metric"] == "macro-F1"
    results = {r["name"]: r for r in evaluated["result"]["results"]}
    assert results["student"]["metrics"]["macro_f1"] > results["base"]["metrics"]["macro_f1"]
    # constrained: every answer is a label; the free answers are measured beside them
    assert results["student"]["decoding"] == "constrained"
    assert results["student"]["metrics"]["valid_label"] == results["base"]["metrics"]["valid_label"] == 1
    [free] = evaluated["result"]["other_decoding"]
    assert free["name"] == "student" and free["decoding"] == "free"
    groups = plan["plan"]["groups"]
    assert groups and all(g["label"] in LABELS + ["account_access", "how_to", "cancellation"]
                          for g in groups)
    assert any(g["confused_with"] for g in groups)  # constrained answers are labels: confusions
    assert improved["status"] == "succeeded"
    export = exported["result"]
    assert export["decoding"] == "constrained" and export["parity_ok"], export
    assert [r["quant"] for r in export["results"]] == ["f16", "q8_0"]
