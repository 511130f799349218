"""Extraction: JSON answers parsed, validated against the schema and normalised; exact match,
field precision/recall/F1 and character F1 against hand-computed cases; bad teacher output
rejected with its reason; init with a schema file or a pydantic model, and bad input refused
with nothing written."""

from __future__ import annotations

import json

import pytest

from slm_distill.tools.tasks.extraction import Extraction, char_f1, leaves, normalise, shape
from slm_distill.tools.workspace.config import ExtractionConfig
from tests.conftest import REPO, cli_through_evaluate
from tests.mcp_client import every_stage

CONTACTS = REPO / "examples" / "extraction"
CONTACT_SCHEMA = CONTACTS / "contact.schema.json"
EXAMPLE_SEEDS = CONTACTS / "seeds.jsonl"
TEACHER = "python:slm_distill.examples.extraction.teacher:TEACHER"

SCHEMA = {
    "type": "object", "additionalProperties": False, "required": ["number", "total", "vendor"],
    "properties": {
        "number": {"type": "string"},
        "total": {"type": "number"},
        "due_date": {"type": ["string", "null"]},
        "vendor": {"type": "object", "required": ["name"],
                   "properties": {"name": {"type": "string"}, "vat": {"type": ["string", "null"]}}},
        "items": {"type": "array", "items": {"type": "object", "properties": {
            "what": {"type": "string"}, "qty": {"type": "integer"}}}},
        "paid": {"type": "boolean"},
    },
}
GOLD = {"number": "INV-7", "total": 120, "due_date": "2024-04-02",
        "vendor": {"name": "Acme GmbH", "vat": "DE123"},
        "items": [{"what": "Widget", "qty": 3}, {"what": "Bolt", "qty": 10}]}


def task() -> Extraction:
    return Extraction(ExtractionConfig(), SCHEMA)


def j(value) -> str:
    return json.dumps(value)


# -- parsing and validation -----------------------------------------------------------------------
@pytest.mark.parametrize("raw", [
    j(GOLD), f"```json\n{j(GOLD)}\n```", f"Here it is:\n{j(GOLD)}\nHope this helps.",
    json.dumps(GOLD, indent=4),
])
def test_answers_are_found_and_written_in_the_schemas_key_order(raw):
    out = task().extract(raw)
    assert json.loads(out) == GOLD
    assert list(json.loads(out)) == ["number", "total", "due_date", "vendor", "items"]


@pytest.mark.parametrize("bad,category,reason", [
    ("The invoice number is INV-7.", "invalid_json", "not JSON"),
    ("{\"number\": \"INV-7\", ", "invalid_json", "not JSON"),
    (j([1, 2]), "schema_violation", "$: [1, 2] is not of type 'object'"),
    (j({**GOLD, "total": "120"}), "schema_violation", "$.total: '120' is not of type 'number'"),
    (j({k: v for k, v in GOLD.items() if k != "vendor"}), "schema_violation",
     "'vendor' is a required property"),
    (j({**GOLD, "colour": "red"}), "schema_violation", "Additional properties are not allowed"),
    (j({**GOLD, "items": [{"what": "Widget", "qty": 1.5}]}), "schema_violation",
     "$.items[0].qty: 1.5 is not of type 'integer'"),
    ("x" * 30_000, "invalid_json", "not JSON"),
    ("[" * 5_000 + "]" * 5_000, "invalid_json", "not JSON"),  # too deep to be an answer
    ('{"number": "INV-7", "items": ' + "[" * 40 + "1" + "]" * 40 + "}", "invalid_json",
     "not JSON"),
])
def test_bad_answers_are_rejected_with_their_reason(bad, category, reason):
    check = task().validate(task().extract(bad))
    assert not check.ok and check.category == category and reason in check.reason


def test_normalisation_key_order_whitespace_numbers_and_nulls():
    assert normalise({"b": " two  words ", "a": 1.0, "c": None, "d": [2.5, {"z": None}]}) == {
        "a": 1, "b": "two words", "d": [2.5, {}]}
    same = {"vendor": {"vat": "DE123", "name": "Acme  GmbH"}, "total": 120.0, "number": "INV-7",
            "items": [{"qty": 3, "what": "Widget"}, {"qty": 10, "what": "Bolt "}],
            "due_date": "2024-04-02", "paid": None}
    assert task().score(j(same), j(GOLD)).correct
    assert not task().score(j({**GOLD, "paid": True}), j({**GOLD, "paid": 1})).correct  # true != 1


# -- metrics by hand ----------------------------------------------------------------------------------
def test_field_counts_missing_extra_and_wrong_apart():
    # gold leaves: number, total, due_date, vendor.name, vendor.vat, items[0].what, items[0].qty,
    # items[1].what, items[1].qty = 9
    assert len(leaves(normalise(GOLD))) == 9
    predicted = {"number": "INV-7", "total": 110, "vendor": {"name": "Acme GmbH", "vat": "DE123"},
                 "items": [{"what": "Widget", "qty": 3}, {"what": "Bolt", "qty": 10}],
                 "paid": False}
    s = task().score(j(predicted), j(GOLD))
    assert not s.correct and s.valid and s.category == "wrong_fields"
    assert {k: s.metrics[k] for k in ("matched", "wrong", "missing", "extra")} == {
        "matched": 7, "wrong": 1, "missing": 1, "extra": 1}
    assert s.faults == ["missing: due_date", "wrong: total", "extra: paid"]
    assert "wrong: total (answered 110, expected 120)" in s.reason
    m = task().summarise([s])
    assert m["field_precision"] == pytest.approx(7 / 9)  # 7 / (7 + 1 wrong + 1 extra)
    assert m["field_recall"] == pytest.approx(7 / 9)  # 7 / (7 + 1 wrong + 1 missing)
    assert m["field_f1"] == pytest.approx(7 / 9)
    assert m["exact_match"] == 0 and m["valid_json"] == 1 and m["schema_valid"] == 1


def test_nested_lists_are_compared_by_position_and_named_without_indexes():
    predicted = {**GOLD, "items": [{"what": "Widget", "qty": 3}]}
    s = task().score(j(predicted), j(GOLD))
    assert s.metrics["missing"] == 2 and s.metrics["matched"] == 7
    assert s.faults == ["missing: items[].qty", "missing: items[].what"]


def test_character_f1():
    assert char_f1("Acme GmbH", "Acme GmbH") == 1.0
    assert char_f1("", "abc") == 0.0
    # "abcd" vs "abce": 3 shared characters of 4 each: precision = recall = 0.75
    assert char_f1("abcd", "abce") == pytest.approx(0.75)
    # gold strings: number, due_date, vendor.name, vendor.vat, items[].what x2 = 6;
    # one answer misses due_date (0) and writes "DE124" for "DE123" (0.8); the rest exact (4)
    predicted = {**{k: v for k, v in GOLD.items() if k != "due_date"},
                 "vendor": {"name": "Acme GmbH", "vat": "DE124"}}
    m = task().summarise([task().score(j(predicted), j(GOLD))])
    assert m["char_f1"] == pytest.approx((4 + 0 + 0.8) / 6)


def test_totals_are_micro_averaged_over_inputs():
    right = task().score(j(GOLD), j(GOLD))
    broken = task().score("not json", j(GOLD))
    assert right.correct and not broken.valid and broken.faults == ["invalid JSON"]
    m = task().summarise([right, broken])
    assert m["exact_match"] == 0.5 and m["valid_json"] == 0.5
    assert m["field_precision"] == 1.0  # the broken answer claims nothing
    assert m["field_recall"] == pytest.approx(9 / 18)
    assert m["field_f1"] == pytest.approx(2 * 1.0 * 0.5 / 1.5)


def test_details_count_each_field():
    s = task().score(j({**GOLD, "total": 1}), j(GOLD))
    per_field = task().details([s, task().score(j(GOLD), j(GOLD))])["per_field"]
    assert per_field["total"] == {"wrong": 1, "matched": 1}
    assert per_field["items[].qty"] == {"matched": 4}


def test_the_students_prompt_shows_the_shape():
    assert shape(SCHEMA) == ('{"number": string, "total": number, "due_date": string|null, '
                             '"vendor": {"name": string, "vat": string|null}, '
                             '"items": [{"what": string, "qty": integer}], "paid": boolean}')
    refs = {"type": "object", "properties": {"kind": {"$ref": "#/$defs/Kind"},
                                             "at": {"anyOf": [{"$ref": "#/$defs/Place"},
                                                              {"type": "null"}]}},
            "$defs": {"Kind": {"enum": ["a", "b"]},
                      "Place": {"type": "object", "properties": {"city": {"type": "string"}}}}}
    assert shape(refs) == '{"kind": "a"|"b", "at": {"city": string}|null}'


def test_agreement_and_dedup_ignore_form():
    t = task()
    assert t.agree(j(GOLD), json.dumps(GOLD, indent=2, sort_keys=True))
    assert not t.agree(j(GOLD), "nope")
    assert t.dedup_key(j(GOLD)) == t.dedup_key(json.dumps({**GOLD, "paid": None}, indent=1))
    assert "vendor.name" in t.need_facts(j(GOLD)) and "items[].qty" in t.need_facts(j(GOLD))


# -- init and seeds -----------------------------------------------------------------------------------
def test_init_takes_a_schema_file_or_a_pydantic_model(tmp_path, monkeypatch):
    from slm_distill.tools.workspace.project import Project, init_project

    project = init_project(tmp_path / "a", task="extraction", output_schema=str(CONTACT_SCHEMA),
                           teacher=TEACHER)
    assert json.loads(project.path("output_schema.json").read_text()) == json.loads(
        CONTACT_SCHEMA.read_text())
    assert Project.load(project.root).config.task.schema_file == "output_schema.json"
    (tmp_path / "invoice_models.py").write_text(
        "from pydantic import BaseModel\n\n"
        "class Vendor(BaseModel):\n    name: str\n    vat: str | None = None\n\n"
        "class Invoice(BaseModel):\n    number: str\n    total: float\n    vendor: Vendor\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    made = init_project(tmp_path / "b", task="extraction", output_schema="invoice_models:Invoice",
                        teacher=TEACHER)
    task = made.task()
    assert task.shape == '{"number": string, "total": number, "vendor": {"name": string, "vat": string|null}}'
    assert task.validate(j({"number": "7", "total": 1, "vendor": {"name": "A"}})).ok


@pytest.mark.parametrize("content,error", [
    ("{not json", "not JSON"),
    (j({"type": "object", "properties": {"a": {"type": "strin"}}}), "not a valid JSON Schema"),
    (j({"type": "array", "items": {"type": "string"}}), "must describe one JSON object"),
    (j({"type": "object"}), 'names no "properties"'),
    (j([1]), "a JSON Schema is a JSON object"),
])
def test_a_bad_schema_is_refused_and_nothing_written(tmp_path, content, error):
    from slm_distill.tools.errors import UsageError
    from slm_distill.tools.workspace.project import init_project

    (tmp_path / "s.json").write_text(content)
    with pytest.raises(UsageError, match=error):
        init_project(tmp_path / "p", task="extraction", output_schema=str(tmp_path / "s.json"),
                     teacher=TEACHER)
    assert not (tmp_path / "p").exists()


def test_init_refuses_what_belongs_to_another_task(tmp_path):
    from slm_distill.tools.errors import UsageError
    from slm_distill.tools.workspace.project import init_project

    with pytest.raises(UsageError, match="needs the JSON Schema of its answers"):
        init_project(tmp_path / "p", task="extraction", teacher=TEACHER)
    with pytest.raises(UsageError, match="Labels belong to a classification project"):
        init_project(tmp_path / "p", task="extraction", labels=["a", "b"],
                     output_schema=str(CONTACT_SCHEMA), teacher=TEACHER)
    with pytest.raises(UsageError, match="An output schema belongs to an extraction project"):
        init_project(tmp_path / "p", task="classification", output_schema=str(CONTACT_SCHEMA),
                     teacher=TEACHER)
    with pytest.raises(UsageError, match="No module named|cannot import"):
        init_project(tmp_path / "p", task="extraction", output_schema="no_such_module:Model",
                     teacher=TEACHER)
    assert not (tmp_path / "p").exists()


def test_seeds_must_fit_the_schema(tmp_path):
    from slm_distill.tools.errors import UsageError
    from slm_distill.tools.workspace.project import add_seeds, init_project

    project = init_project(tmp_path / "p", task="extraction", output_schema=str(CONTACT_SCHEMA),
                           teacher=TEACHER)
    card = json.loads(EXAMPLE_SEEDS.read_text().splitlines()[0])["output"]
    lines = [{"input": "Ana Lima, ana@lumo.co", "output": {**card, "name": "Ana Lima"}},
             {"input": "Bo Chen", "output": json.dumps({**card, "phones": [{"kind": "pager",
                                                                            "number": "1"}]})},
             {"input": "Cy Dahl", "output": "Cy Dahl"},
             {"input": "Di Eze", "output": {**card, "email": 5}}]
    (tmp_path / "seeds.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    with pytest.raises(UsageError) as caught:
        add_seeds(project, tmp_path / "seeds.jsonl")
    text = caught.value.render()
    assert "seeds.jsonl:2: output is not valid: $.phones[0].kind: 'pager' is not one of" in text
    assert "seeds.jsonl:3: output is not valid: not JSON" in text
    assert "seeds.jsonl:4: output is not valid: $.email: 5 is not of type" in text
    assert "seeds.jsonl:1:" not in text
    assert not project.seeds_path.exists()


def test_improve_groups_failures_by_the_field_that_goes_wrong():
    from slm_distill.tools.evaluate import score_model
    from slm_distill.tools.improve import _focus, _groups
    from slm_distill.tools.workspace.project import Seed

    gold = [GOLD, {**GOLD, "number": "INV-8"}, {**GOLD, "number": "INV-9"}, {**GOLD, "total": 5}]
    said = [{**GOLD, "total": 1}, {k: v for k, v in gold[1].items() if k != "due_date"},
            {**{k: v for k, v in gold[2].items() if k != "due_date"}, "total": 2}, "oops"]
    seeds = [Seed(input=f"invoice {i}", output=j(g)) for i, g in enumerate(gold)]
    student = score_model("student", "s", seeds, [a if isinstance(a, str) else j(a) for a in said],
                          task())
    assert student.faults[seeds[2].id] == ["missing: due_date", "wrong: total"]
    train = [{"output": j(GOLD)}, {"output": j({k: v for k, v in GOLD.items() if k != "due_date"})}]
    groups, seed_group = _groups(task(), seeds, student, train)
    # due_date and total both fail twice; the third seed joins the first of its own faults
    assert [(g.label, g.failures, g.needs, g.training_pairs) for g in groups] == [
        ("missing: due_date", 2, ["due_date"], 1), ("invalid JSON", 1, [], 2),
        ("wrong: total", 1, ["total"], 2)]
    assert seed_group == {seeds[0].id: "wrong: total", seeds[1].id: "missing: due_date",
                          seeds[2].id: "missing: due_date", seeds[3].id: "invalid JSON"}
    focus = _focus(task(), groups[0])
    assert focus["needs"] == ["due_date"] and "missing: due_date (in 2 test inputs)" in focus["mistakes"]


# -- every stage, CLI and MCP ---------------------------------------------------------------------------
TINY = {"training.max_steps": "60", "training.eval_steps": "30", "training.eval_samples": "8",
        "training.max_new_tokens": "48", "training.batch_size": "8",
        "training.gradient_accumulation_steps": "1", "training.learning_rate": "2e-3",
        "training.loss_vocab": "answers", "training.early_stopping_patience": "null"}


@pytest.mark.slow
def test_the_example_through_every_stage_on_the_cli(tmp_path, capsys):
    from slm_distill.tools.cli import main

    root = str(tmp_path / "contacts")
    cli_through_evaluate(root, ["--task", "extraction", "--output-schema", str(CONTACT_SCHEMA),
                                "--teacher", TEACHER, "--student", "scratch:tiny"],
                         EXAMPLE_SEEDS, TINY, pairs=200)
    out = capsys.readouterr().out
    assert "exact match" in out and "field F1" in out and "schema-valid" in out
    evaluation = json.loads((tmp_path / "contacts" / "reports" / "eval.json").read_text())
    teacher = next(r for r in evaluation["results"] if r["name"] == "teacher")
    assert teacher["metrics"]["exact_match"] > 0.8 and teacher["details"]["per_field"]["name"]
    assert "## Per field: teacher" in (tmp_path / "contacts" / "reports" / "eval.md").read_text()
    main(["config", "set", "training.max_steps", "10", "--project", root])
    main(["improve", "--pairs", "20", "--project", root])
    improve = json.loads((tmp_path / "contacts" / "reports" / "improve.json").read_text())
    [rnd] = improve["rounds"]
    assert rnd["pairs_added"] > 0 and rnd["plan"]["groups"]
    main(["export", "--quant", "q8_0", "--project", root])
    export = json.loads((tmp_path / "contacts" / "reports" / "export.json").read_text())
    assert export["parity_ok"] and [r["quant"] for r in export["results"]] == ["f16", "q8_0"]
    assert all(r["with_grammar"] is not None for r in export["results"])
    exports = tmp_path / "contacts" / "exports"
    assert json.loads((exports / "output_schema.json").read_text()) == json.loads(
        CONTACT_SCHEMA.read_text())
    assert "phones-item-kind" in (exports / "output_schema.gbnf").read_text()
    assert "with the schema's grammar" in (tmp_path / "contacts" / "reports" / "export.md").read_text()


@pytest.mark.slow
def test_the_example_through_every_tool(tmp_path):
    import asyncio
    import shutil

    from mcp import Client

    from slm_distill.server.app import build_server

    shutil.copy(EXAMPLE_SEEDS, tmp_path / "seeds.jsonl")
    shutil.copy(CONTACT_SCHEMA, tmp_path / "contact.schema.json")

    async def run():
        async with Client(build_server(tmp_path)) as c:
            refused = await c.call_tool("init_project", {
                "project_dir": "contacts", "task": "extraction", "teacher": TEACHER,
                "output_schema": "../elsewhere.json"})
            out = await every_stage(c, "contacts", {
                "task": "extraction", "teacher": TEACHER, "student": "scratch:tiny",
                "output_schema": "contact.schema.json"}, TINY, pairs=150)
            return refused, *(out[k] for k in ("status", "gate", "evaluated", "plan", "improved",
                                               "exported"))

    refused, status, gate, evaluated, plan, improved, exported = asyncio.run(run())
    assert refused.is_error and "outside" in refused.content[0].text
    assert status["task"] == "extraction" and status["output_schema"] == "output_schema.json"
    assert gate["passed"] and gate["metric"] == "exact match"
    results = {r["name"]: r for r in evaluated["result"]["results"]}
    assert set(results["student"]["metrics"]) == {"exact_match", "field_f1", "field_precision",
                                                  "field_recall", "char_f1", "valid_json",
                                                  "schema_valid"}
    assert plan["plan"]["groups"] and improved["status"] == "succeeded"
    export = exported["result"]
    assert export["parity_ok"] and all(r["with_grammar"] for r in export["results"])
