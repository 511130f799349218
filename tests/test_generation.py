"""Generation: answers read and validated, ROUGE, chrF and BLEU against the libraries' documented
examples, the judge's verdicts and damaged answers, the judge gate (a judge that scores
everything 5 fails it, the offline judge passes, an LLM judge's calls cached and costed), the
pairwise comparison in both orders, init's inputs, and the bundled example through every stage on
the CLI and over MCP."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from slm_distill.tools.errors import GateError, UsageError
from slm_distill.tools.judge import (
    check_judge_gate,
    damaged,
    fact_changed,
    read_verdict,
    truncated,
    validate_judge,
)
from slm_distill.tools.tasks.generation import Generation, corpus_scores
from slm_distill.tools.workspace.config import TextGenerationConfig
from slm_distill.tools.workspace.project import Project, add_seeds, init_project
from tests.conftest import cli_through_evaluate
from tests.mcp_client import every_stage

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "generation"
EXAMPLE_SEEDS, EXAMPLE_RUBRIC = EXAMPLE / "seeds.jsonl", EXAMPLE / "rubric.md"
TEACHER = "python:slm_distill.examples.generation.teacher:TEACHER"
JUDGE = "python:slm_distill.examples.generation.teacher:JUDGE"
INSTRUCTION = "Summarise the support ticket in one sentence."


def task(judged: bool = False, **config) -> Generation:
    return Generation(TextGenerationConfig(**config), "- Faithful.", judged=judged)


def project(tmp_path: Path, judge: str | None = JUDGE, seeds: bool = True) -> Project:
    made = init_project(tmp_path / "proj", task="generation", instruction=INSTRUCTION,
                        rubric=EXAMPLE_RUBRIC, judge=judge, teacher=TEACHER, student="scratch:tiny")
    if seeds:
        add_seeds(made, EXAMPLE_SEEDS)
    return made


# -- answers and metrics --------------------------------------------------------------------------
@pytest.mark.parametrize("raw,answer", [
    ("  The customer wants a refund.  ", "The customer wants a refund."),
    ("```\nThe customer wants a refund.\n```", "The customer wants a refund."),
    ("Summary: The customer wants a refund.", "The customer wants a refund."),
    ('"The customer wants a refund."', "The customer wants a refund."),
])
def test_answers_are_read_without_their_wrapping(raw, answer):
    assert task().extract(raw) == answer


@pytest.mark.parametrize("output,category", [
    ("", "empty"), ("   ", "empty"), ("x" * 41, "too_long"), ("two\nlines", "no_match"),
])
def test_bad_teacher_answers_are_rejected_with_their_reason(output, category):
    check = task(max_chars=40, must_match=r"^[^\n]+$").validate(output)
    assert not check.ok and check.category == category and check.reason


def test_a_must_match_that_is_not_a_regex_is_refused():
    with pytest.raises(ValueError, match="not a regular expression"):
        TextGenerationConfig(must_match="([")


def test_rouge_matches_the_librarys_documented_example():
    # rouge-score's README: target 'The quick brown fox jumps over the lazy dog', prediction
    # 'The quick brown dog jumps on the log.', with its stemmer: ROUGE-1 F 0.70588,
    # ROUGE-L F 0.58824 (P 0.625, R 0.5556)
    score = task().score("The quick brown dog jumps on the log.",
                         "The quick brown fox jumps over the lazy dog")
    assert score.metrics["rouge_1"] == pytest.approx(0.70588, abs=1e-5)
    assert score.metrics["rouge_l"] == pytest.approx(0.58824, abs=1e-5)
    assert score.correct  # ROUGE-L 0.59 >= rouge_pass 0.5, no judge
    assert score.metrics["length_ratio"] == pytest.approx(8 / 9)


def test_chrf_and_bleu_match_the_librarys_documented_example():
    # sacrebleu's README: BLEU 48.53 and chrF2 59.73 for these three sentences and two references
    hypotheses = ["The dog bit the man.", "It wasn't surprising.", "The man had just bitten him."]
    references = [["The dog bit the man.", "It was not unexpected.", "The man bit him first."],
                  ["The dog had bit the man.", "No one was surprised.", "The man had bitten the dog."]]
    chrf, bleu = corpus_scores(hypotheses, references)
    assert bleu == pytest.approx(0.4853, abs=1e-4) and chrf == pytest.approx(0.5973, abs=1e-4)


def test_the_summary_holds_every_metric_and_an_identical_answer_scores_full():
    t = task()
    gold = "The customer was charged twice for order 48213 and wants one payment refunded."
    scores = [t.score(gold, gold), t.score("", gold)]
    summary = t.summarise(scores)
    assert list(summary) == list(t.metric_names) == ["rouge_l", "close", "rouge_1", "rouge_2",
                                                      "chrf", "bleu", "length_ratio"]
    assert summary["rouge_l"] == pytest.approx(0.5) and summary["close"] == 0.5
    assert scores[0].exact and not scores[1].valid and scores[1].category == "empty"
    assert summary["length_ratio"] == pytest.approx(0.5)


def test_with_a_judge_its_score_is_primary_and_decides_what_is_right():
    from slm_distill.tools.judge import Verdict

    t = task(judged=True)
    assert t.primary_metric == "judge_score" and t.correct_metric == "judge_pass"
    assert t.training_metric == "rouge_l"  # the evaluations during training call no judge
    gold = "The customer wants a refund for order 20931."
    low = t.score(gold, gold, Verdict(score=3, reason="misses the product"))
    high = t.score("Refund wanted.", gold, Verdict(score=5, reason="fine"))
    assert not low.correct and low.category == "judged_low" and "judged 3/5" in low.faults
    assert high.correct and high.metrics["judge_score"] == 1.0
    summary = t.summarise([low, high])
    assert summary["judge_score"] == pytest.approx((0.5 + 1.0) / 2) and summary["judge_pass"] == 0.5


@pytest.mark.parametrize("reply,mode,score", [
    ('{"score": 4, "reason": "ok"}', "score", 4),
    ('Sure. {"score": 2.0, "reason": "changed"} Hope that helps', "score", 2),
    ('{"score": 9}', "score", None),
    ("no json here", "score", None),
    ('{"pass": true, "reason": "fine"}', "pass_fail", 5),
    ({"pass": False, "reason": "cut"}, "pass_fail", 1),
    ('{"pass": "yes"}', "pass_fail", None),
])
def test_verdicts_are_read_from_any_reply_and_an_unreadable_one_is_none(reply, mode, score):
    assert read_verdict(reply, mode).score == score


def test_damaged_answers_are_cut_off_topic_or_have_one_fact_changed():
    assert truncated("The customer wants a refund for order 55102.") == "The customer"
    assert truncated("Too short.") is None
    assert fact_changed("Refund order 55102 please.", []) == "Refund order 165313 please."
    assert fact_changed("The Pixel case is wrong.", ["Send the Galaxy one."]) == \
        "The Galaxy case is wrong."
    seeds = [SimpleNamespace(id=str(i), input=f"in {i}", output=o) for i, o in
             enumerate(["The customer wants a refund for order 55102.",
                        "The customer cannot log in to their account."])]
    kinds = [(s.id, kind) for s, kind, _ in damaged(seeds)]
    assert kinds == [("0", "reference"), ("0", "truncated"), ("0", "off_topic"),
                     ("0", "fact_changed"), ("1", "reference"), ("1", "truncated"),
                     ("1", "off_topic")]
    assert [a for s, k, a in damaged(seeds) if k == "off_topic"] == [seeds[1].output, seeds[0].output]


# -- the judge gate -------------------------------------------------------------------------------
def test_the_offline_judge_passes_its_gate_and_a_judge_that_scores_everything_5_fails(tmp_path):
    from slm_distill.tools.workspace.status import project_status

    made = project(tmp_path)
    with pytest.raises(GateError, match="judge has not been validated"):
        check_judge_gate(made)
    assert "distill validate-judge" in project_status(made).next_step
    good = validate_judge(made)
    assert "judge gate passed" in project_status(made).judge
    assert good.passed and good.agreement >= 0.9 and good.n_seeds == 50
    assert set(good.by_damage) == {"reference", "truncated", "off_topic", "fact_changed"}
    saved = json.loads((made.root / "reports" / "judge_validation.json").read_text())
    assert saved["passed"] and saved["judge"] == JUDGE
    assert "Judge validation: PASSED" in (made.root / "reports" / "judge_validation.md").read_text()
    assert "judge gate passed" in check_judge_gate(made)

    bad = validate_judge(made, judge_spec="python:tests.judges:GENEROUS")
    assert not bad.passed and bad.by_damage["reference"] == 1.0 and bad.by_damage["truncated"] == 0
    assert Project.load(made.root).config.judge.spec == "python:tests.judges:GENEROUS"
    md = (made.root / "reports" / "judge_validation.md").read_text()
    assert "Judge validation: FAILED" in md and "## Wrong verdicts" in md
    with pytest.raises(GateError, match="below the gate of 80%") as caught:
        check_judge_gate(made)
    assert "--override-judge-gate" in caught.value.render()
    assert "overridden by the user: trying it" in check_judge_gate(made, override="trying it")


def test_generation_stops_at_a_failed_judge_gate_until_the_user_overrides_it(tmp_path):
    from slm_distill.tools import stages
    from slm_distill.tools.requests import GenerateRequest
    from slm_distill.tools.validate_teacher import validate_teacher

    made = project(tmp_path, judge="python:tests.judges:GENEROUS")
    validate_judge(made)
    validate_teacher(made)
    with pytest.raises(GateError, match="judge gave"), \
            stages.starting(made, "generate", GenerateRequest(n=10)):
        pass
    assert not (made.root / "data" / "pairs.jsonl").exists()
    request = GenerateRequest(n=10, override_judge_gate="the user wants to see the pairs")
    with stages.starting(made, "generate", request) as prepared:
        assert prepared.go
    reloaded = Project.load(made.root)
    assert reloaded.config.judge.override.reason == "the user wants to see the pairs"


def test_an_llm_judge_is_cached_costed_and_read_from_its_json(tmp_path, provider, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")

    def respond(messages):
        text = messages[-1]["content"]
        cut = "Answer to grade:\nThe customer\n" in text  # graded the first seeds' truncations
        return json.dumps({"score": 2 if cut else 5, "reason": "cut" if cut else "fine"})

    provider.responder = respond
    made = project(tmp_path, judge=f"openai:gpt-4o-mini@{provider.url}")
    first = validate_judge(made)
    assert first.cost.calls == first.n and first.cost.cost_usd > 0
    assert "Answer to grade:" in provider.requests[0]["body"]["messages"][0]["content"]
    assert not first.passed  # it passes every off-topic answer
    again = validate_judge(made)
    assert again.cost.calls == 0 and again.cost.cached_calls == first.n
    assert again.agreement == first.agreement


def test_pairwise_asks_both_orders_and_a_preference_that_flips_is_a_tie(tmp_path):
    from slm_distill.tools.judge import project_judge

    made = project(tmp_path, judge="python:tests.judges:GENEROUS", seeds=False)
    positional = project_judge(made)  # GENEROUS prefers whatever is shown first
    assert positional.compare_many([("t", "a", "b")]) == ["tie"]
    fair = project_judge(made, JUDGE)
    ticket = "I was charged twice for order 48213."
    good = "The customer was charged twice for order 48213 and wants a refund."
    assert fair.compare_many([(ticket, good, "Order 99999."), (ticket, "Order 99999.", good)]) == \
        ["A", "B"]


# -- init and seeds -------------------------------------------------------------------------------
def test_init_writes_the_rubric_and_refuses_what_belongs_elsewhere(tmp_path):
    made = project(tmp_path, seeds=False)
    assert (made.root / "rubric.md").read_text() == EXAMPLE_RUBRIC.read_text().strip() + "\n"
    assert made.config.task.instruction == INSTRUCTION and made.config.judge.spec == JUDGE
    default = init_project(tmp_path / "plain", task="generation", teacher=TEACHER)
    assert "Faithful" in (default.root / "rubric.md").read_text() and default.config.judge.spec is None
    with pytest.raises(UsageError, match="belong to a generation project"):
        init_project(tmp_path / "x", task="classification", rubric=EXAMPLE_RUBRIC, teacher=TEACHER)
    empty = tmp_path / "empty.md"
    empty.write_text("  \n")
    with pytest.raises(UsageError, match="is empty"):
        init_project(tmp_path / "y", task="generation", rubric=empty, teacher=TEACHER)
    with pytest.raises(UsageError, match="cannot read the rubric"):
        init_project(tmp_path / "z", task="generation", rubric=tmp_path / "nope.md", teacher=TEACHER)
    assert not any((tmp_path / d).exists() for d in ("x", "y", "z"))


def test_the_offline_teacher_passes_its_gate_graded_by_the_judge(tmp_path):
    from slm_distill.tools.validate_teacher import validate_teacher

    made = project(tmp_path)
    report = validate_teacher(made)
    assert report.metric == "judge score" and report.passed and report.score >= 0.8


def test_a_vetoing_judge_rejects_pairs_it_grades_low(tmp_path):
    from slm_distill.examples.generation import teacher as example
    from slm_distill.tools.generate_pairs import generate_pairs
    from slm_distill.tools.validate_teacher import validate_teacher

    made = project(tmp_path)
    made.config.judge.veto_below = 5
    made.save()
    validate_judge(made)
    validate_teacher(made)
    report = generate_pairs(made, n=60)
    rejected = [json.loads(line) for line in (made.root / "data" / "rejected.jsonl").open()]
    vetoed = [r for r in rejected if r["category"] == "judge_veto"]
    kept = [json.loads(line) for line in (made.root / "data" / "pairs.jsonl").open()]
    assert report.kept == 60 and all("the judge scored it" in r["reason"] for r in vetoed)
    assert all(example.grade(p["input"], p["output"])[0] == 5 for p in kept)
    assert all(example.grade(r["input"], r["output"])[0] < 5 for r in vetoed)


# -- the example through every stage ------------------------------------------------------------
TINY = {"training.max_steps": "30", "training.eval_steps": "15", "training.eval_samples": "8",
        "training.max_new_tokens": "40", "training.batch_size": "8",
        "training.gradient_accumulation_steps": "1", "training.learning_rate": "2e-3",
        "training.loss_vocab": "answers", "training.early_stopping_patience": "null"}


@pytest.mark.slow
def test_the_example_through_every_stage_on_the_cli(tmp_path, capsys):
    from slm_distill.tools.cli import main

    root = str(tmp_path / "home")
    cli_through_evaluate(root, ["--task", "generation", "--instruction", INSTRUCTION, "--rubric",
                                str(EXAMPLE_RUBRIC), "--judge", JUDGE, "--teacher", TEACHER,
                                "--student", "scratch:tiny"], EXAMPLE_SEEDS, TINY, pairs=200,
                         judge=True)
    out = capsys.readouterr().out
    assert "Judge gate PASSED" in out and "judge score" in out and "ROUGE-L" in out
    assert "student vs teacher" in out
    evaluation = json.loads((tmp_path / "home" / "reports" / "eval.json").read_text())
    results = {r["name"]: r for r in evaluation["results"]}
    assert results["teacher"]["metrics"]["judge_score"] > 0.8
    assert results["student"]["metrics"]["judge_score"] > results["base"]["metrics"]["judge_score"]
    assert evaluation["pairwise"]["teacher_wins"] > 0
    main(["config", "set", "training.max_steps", "10", "--project", root])
    main(["improve", "--pairs", "20", "--project", root])
    improve = json.loads((tmp_path / "home" / "reports" / "improve.json").read_text())
    [rnd] = improve["rounds"]
    assert rnd["pairs_added"] > 0 and rnd["plan"]["groups"]
    main(["export", "--quant", "q8_0", "--project", root])
    export = json.loads((tmp_path / "home" / "reports" / "export.json").read_text())
    assert [r["quant"] for r in export["results"]] == ["f16", "q8_0"]


@pytest.mark.slow
def test_the_example_through_every_tool(tmp_path):
    import asyncio
    import shutil

    from mcp import Client

    from slm_distill.server.app import build_server

    shutil.copy(EXAMPLE_SEEDS, tmp_path / "seeds.jsonl")
    shutil.copy(EXAMPLE_RUBRIC, tmp_path / "rubric.md")

    async def run():
        async with Client(build_server(tmp_path)) as client:
            return await every_stage(client, "home", {
                "task": "generation", "teacher": TEACHER, "student": "scratch:tiny",
                "instruction": INSTRUCTION, "rubric_file": "rubric.md", "judge": JUDGE},
                TINY, pairs=150, judge=True)

    out = asyncio.run(run())
    assert out["status"]["task"] == "generation"
    assert out["judge"]["passed"] and out["gate"]["passed"] and out["gate"]["metric"] == "judge score"
    results = {r["name"]: r for r in out["evaluated"]["result"]["results"]}
    assert list(results["student"]["metrics"]) == ["judge_score", "judge_pass", "rouge_l", "rouge_1",
                                                   "rouge_2", "chrf", "bleu", "length_ratio"]
    assert out["evaluated"]["result"]["pairwise"] is not None
    assert out["plan"]["plan"]["groups"] and out["improved"]["status"] == "succeeded"
    assert out["exported"]["result"]["results"]


def test_config_refuses_a_judge_override_a_missing_rubric_and_a_bad_judge(tmp_path):
    from slm_distill.tools.workspace.settings import set_config

    made = project(tmp_path, seeds=False)
    before = (made.root / "distill.yaml").read_text()
    with pytest.raises(UsageError, match="recorded only with the user's reason"):
        set_config(made, "judge.override", {"reason": "x"})
    with pytest.raises(UsageError, match="no such file"):
        set_config(made, "task.rubric_file", "missing.md")
    with pytest.raises(UsageError, match="python:nope"):
        set_config(made, "judge.spec", "python:nope:JUDGE")
    assert (made.root / "distill.yaml").read_text() == before
    change = set_config(made, "judge.veto_below", 4)
    assert change.new == 4 and Project.load(made.root).config.judge.veto_below == 4
