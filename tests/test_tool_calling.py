"""Tool calling: reading and writing calls, normalisation, the staged score and the other metrics
by hand, the validators on bad teacher output, tools files and --tools-from-mcp, seeds that do not
fit, improve's groups, and the bundled example through every stage on the CLI and over MCP."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from slm_distill.tools.errors import InputFileError, UsageError
from slm_distill.tools.tasks.tool_calling import NO_TOOL, ToolCalling
from slm_distill.tools.tasks.tools_file import check_tools, load_tools, tools_json
from slm_distill.tools.workspace.config import ToolCallingConfig
from slm_distill.tools.workspace.project import add_seeds, init_project
from tests.conftest import cli_through_evaluate
from tests.mcp_client import every_stage

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "tool_calling"
EXAMPLE_TOOLS, EXAMPLE_SEEDS = EXAMPLE / "tools.json", EXAMPLE / "seeds.jsonl"
TEACHER = "python:slm_distill.examples.tool_calling.teacher:TEACHER"
TOOLS_SERVER = Path(__file__).with_name("mcp_tools_server.py")

TOOLS = [
    {"name": "set_light", "description": "Lights on or off.", "parameters": {
        "type": "object", "properties": {
            "room": {"type": "string", "enum": ["kitchen", "hall"]}, "on": {"type": "boolean"},
            "brightness": {"type": "integer", "default": 100}},
        "required": ["room", "on"], "additionalProperties": False}},
    {"name": "get_weather", "description": "A forecast.", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"},
                                         "day": {"type": "string", "default": "today"}},
        "required": ["city"]}},
]


def task() -> ToolCalling:
    return ToolCalling(ToolCallingConfig(), check_tools(TOOLS, "tools"))


def call(name, **arguments) -> str:
    return json.dumps({"name": name, "arguments": arguments})


LIGHT = call("set_light", room="kitchen", on=False)
WRITTEN = '{"name": "set_light", "arguments": {"room": "kitchen", "on": false, "brightness": 100}}'


@pytest.mark.parametrize("raw", [
    LIGHT, f"```json\n{LIGHT}\n```", f"Sure! {LIGHT} Done.", f"<tool_call>\n{LIGHT}\n</tool_call>",
    '{"arguments": {"on": false, "room": "kitchen"}, "name": "set_light"}',
    '{"type": "function", "function": {"name": "set_light", '
    '"arguments": "{\\"room\\": \\"kitchen\\", \\"on\\": false}"}}',
])
def test_calls_are_found_in_any_form_and_written_in_one(raw):
    assert task().extract(raw) == WRITTEN


def test_a_call_in_prose_is_found_whole_though_its_arguments_hold_a_list():
    t = ToolCalling(ToolCallingConfig(), check_tools([{"name": "add", "parameters": {
        "type": "object", "properties": {"items": {"type": "array"}}}}], "tools"))
    answer = t.extract('Sure! {"name": "add", "arguments": {"items": ["milk", "eggs"]}} Done.')
    assert json.loads(answer) == {"name": "add", "arguments": {"items": ["milk", "eggs"]}}


def test_no_tool_and_parallel_calls_are_written_as_such():
    t = task()
    assert t.extract('{"name": null}') == '{"name": null}'
    assert t.extract("[]") == '{"name": null}'
    both = t.extract(f"[{LIGHT}, {call('get_weather', city='Oslo')}]")
    assert json.loads(both) == [json.loads(WRITTEN), {"name": "get_weather", "arguments": {
        "city": "Oslo", "day": "today"}}]


def test_normalisation_defaults_key_order_and_numbers():
    t = task()
    explicit = call("set_light", on=False, room="kitchen", brightness=100.0)
    assert t.score(explicit, LIGHT).correct and t.agree(explicit, LIGHT)
    assert t.dedup_key(explicit) == t.dedup_key(LIGHT)
    assert not t.score(call("set_light", room="kitchen", on=0), LIGHT).correct  # false is not 0


def test_parallel_calls_match_in_any_order():
    t = task()
    weather = call("get_weather", city="Oslo", day="tomorrow")
    score = t.score(f"[{weather}, {LIGHT}]", f"[{LIGHT}, {weather}]")
    assert score.correct and score.metrics["staged"] == 1.0
    assert not t.score(f"[{LIGHT}]", f"[{LIGHT}, {weather}]").correct


@pytest.mark.parametrize("predicted,staged,category", [
    ("turn off the kitchen lights", 0.0, "invalid_json"),
    ('{"tool": "set_light"}', 0.25, "not_a_call"),
    (call("get_weather", city="Oslo"), 0.25, "wrong_tool"),
    ('{"name": null}', 0.25, "wrong_tool"),
    (call("set_light", room="kitchen"), 0.5, "missing_or_extra_arguments"),
    (call("set_light", room="hall", on=False), 0.75, "wrong_arguments"),
    (LIGHT, 1.0, None),
])
def test_the_staged_score_at_each_stage(predicted, staged, category):
    score = task().score(predicted, LIGHT)
    assert score.metrics["staged"] == staged and score.category == category
    assert score.correct == (staged == 1.0)


def test_argument_counts_and_rates_by_hand():
    t = task()
    gold = [LIGHT, call("get_weather", city="Oslo"), '{"name": null}', '{"name": null}']
    said = [call("set_light", room="hall", on=False, brightness=50),  # room, brightness wrong
            call("get_weather", city="Oslo", day="today", extra=1),     # one extra
            '{"name": null}', LIGHT]                                      # right; a call for none
    scores = [t.score(p, g) for p, g in zip(said, gold, strict=True)]
    first = scores[0].metrics
    assert (first["matched"], first["wrong"], first["missing"], first["extra"]) == (1, 2, 0, 0)
    assert scores[1].metrics["extra"] == 1 and scores[1].metrics["matched"] == 2
    summary = t.summarise(scores)
    # leaves: matched 1 + 2 = 3; wrong 2; extra 1 + 3 (the call made for no tool) = 4
    assert summary["argument_precision"] == pytest.approx(3 / 9)
    assert summary["argument_recall"] == pytest.approx(3 / 5)
    assert summary["exact_call"] == 0.25 and summary["tool_selection"] == 0.75
    assert summary["no_tool_precision"] == 1.0 and summary["no_tool_recall"] == 0.5
    assert summary["staged"] == pytest.approx((0.75 + 0.5 + 1.0 + 0.25) / 4)
    assert summary["valid_call"] == 1.0  # get_weather's schema allows other properties
    assert scores[3].faults == [f"wrong tool: {NO_TOOL}"]
    assert t.details(scores)["per_tool"][NO_TOOL] == {"right": 1, "wrong_tool": 1}


@pytest.mark.parametrize("bad,category,reason", [
    ("I would turn the lights off.", "invalid_json", "not JSON"),
    ('{"function_name": "set_light"}', "not_a_call", 'expected {"name"'),
    ('[{"name": null}, ' + LIGHT + "]", "not_a_call", "cannot stand beside"),
    (call("open_window", room="hall"), "unknown_tool", "no tool named 'open_window'"),
    (call("set_light", room="garage", on=True), "bad_arguments", "'garage' is not one of"),
    (call("set_light", room="hall", on="yes"), "bad_arguments", "'yes' is not of type 'boolean'"),
    (call("set_light", room="hall"), "bad_arguments", "'on' is a required property"),
    ('{"name": "set_light", "arguments": [1]}', "not_a_call", "must be a JSON object"),
])
def test_bad_teacher_answers_are_rejected_with_their_reason(bad, category, reason):
    check = task().validate(bad)
    assert not check.ok and check.category == category and reason in check.reason


def test_the_students_prompt_lists_each_tool_on_a_line():
    system = task().student_messages("hi")[0]["content"]
    assert '- set_light(room: "kitchen"|"hall", on: boolean, brightness?: integer): Lights' in system
    assert "- get_weather(city: string, day?: string): A forecast." in system


def test_the_tools_can_stay_out_of_the_students_prompt_but_never_the_teachers():
    t = ToolCalling(ToolCallingConfig(tools_in_student_prompt=False), check_tools(TOOLS, "tools"))
    assert "set_light" not in t.student_messages("hi")[0]["content"]
    assert "set_light" in t.teacher_messages("hi")[0]["content"]


def test_the_grammar_schema_accepts_every_form_of_answer():
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(json.loads(task().grammar_schema()))
    t = task()
    for answer in (LIGHT, '{"name": null}', f"[{LIGHT}, {call('get_weather', city='Oslo')}]"):
        assert validator.is_valid(json.loads(t.extract(answer))), answer
    assert not validator.is_valid({"name": "set_light", "arguments": {"room": "attic", "on": 1}})


ORDER = [{"name": "order", "parameters": {
    "type": "object", "$defs": {"Line": {"type": "object", "properties": {
        "sku": {"type": "string"}, "qty": {"type": "integer", "default": 1}}, "required": ["sku"]}},
    "properties": {"lines": {"type": "array", "items": {"$ref": "#/$defs/Line"}}},
    "required": ["lines"]}}]


def test_nested_models_fill_their_defaults_and_keep_their_references_in_the_grammar():
    """Pydantic and MCP servers write nested models as $defs: defaults inside a list of them are
    filled in, and the grammar's schema still resolves them."""
    from jsonschema import Draft202012Validator

    t = ToolCalling(ToolCallingConfig(), check_tools(ORDER, "tools"))
    gold = '{"name": "order", "arguments": {"lines": [{"sku": "A", "qty": 1}]}}'
    assert t.score('{"name": "order", "arguments": {"lines": [{"sku": "A"}]}}', gold).correct
    validator = Draft202012Validator(json.loads(t.grammar_schema()))
    assert validator.is_valid(json.loads(gold))
    assert not validator.is_valid({"name": "order", "arguments": {"lines": [{"qty": 2}]}})


def test_deep_or_odd_answers_are_rejected_not_crashed_on():
    t = task()
    deep = '{"name": "set_light", "arguments": {"room": "hall", "x": ' + '{"a": ' * 500 + "1" + \
        "}" * 500 + "}}"
    assert t.validate(deep).category == "invalid_json" and not t.score(deep, LIGHT).correct
    as_text = json.dumps({"name": "set_light", "arguments": "[" * 5000})
    assert not t.validate(as_text).ok and not t.score(as_text, LIGHT).correct
    inside = 'Sure: {"name": "get_weather", "arguments": {"city": "Oslo", "x": []}}'
    assert json.loads(t.extract(inside))["name"] == "get_weather"  # not the inner []


def test_the_same_tool_twice_scores_alike_in_either_order_and_booleans_are_not_numbers():
    t = task()
    plain, bright = LIGHT, call("set_light", room="kitchen", on=False, brightness=50)
    assert t.score(f"[{bright}, {plain}]", f"[{plain}, {bright}]").correct
    score = t.score(call("set_light", room="kitchen", on=0), LIGHT)
    assert "wrong: set_light.on" in score.faults


# -- tools files, MCP servers, seeds ---------------------------------------------------------------
@pytest.mark.parametrize("content,error", [
    ('[{"name": "a"}, {"name": "b"},\n {"name": "a"}]', "tools.json:2: a second tool named 'a'"),
    ('[{"name": "a", "parameters": {"type": "object", "properties": {"x": {"type": "strin"}}}}]',
     "tools.json:1: a: parameters are not a valid JSON Schema"),
    ('[{"name": "a", "parameters": {"type": "array"}}]', "must describe one JSON object"),
    ('{"name": "a"}', "expected a non-empty JSON list of tools"),
    ('[{"description": "no name"}]', "tools.json, tool 1: a tool needs a name"),
    ("[{name: a}]", "tools.json: not JSON"),
    ('[{"name": "a", "parameters": {"type": "object", "properties": {"x": {"$ref": "#/nope"}}}}]',
     "parameters refer to #/nope, which they do not define"),
    ('[{"name": "a", "parameters": ' + '{"type": "object", "properties": {"a": ' * 150 + "{}"
     + "}}" * 150 + "}]", "parameters nest too deeply"),
])
def test_a_bad_tools_file_is_refused_and_nothing_written(tmp_path, content, error):
    (tmp_path / "tools.json").write_text(content)
    with pytest.raises(UsageError) as caught:
        init_project(tmp_path / "p", task="tool_calling", tools_file=tmp_path / "tools.json",
                     teacher=TEACHER)
    assert error in caught.value.render()
    assert not (tmp_path / "p").exists()


def test_init_writes_the_tools_in_openai_form_and_refuses_mixed_inputs(tmp_path):
    (tmp_path / "bare.json").write_text(json.dumps(TOOLS))
    project = init_project(tmp_path / "p", task="tool_calling", tools_file=tmp_path / "bare.json",
                           teacher=TEACHER)
    written = json.loads(project.path("tools.json").read_text())
    assert written == [{"type": "function", "function": t} for t in TOOLS]
    assert load_tools(project.path("tools.json")) == TOOLS
    for kwargs in ({}, {"tools_file": tmp_path / "bare.json", "tools_from_mcp": "x"}):
        with pytest.raises(UsageError, match="needs its tools"):
            init_project(tmp_path / "q", task="tool_calling", teacher=TEACHER, **kwargs)
    with pytest.raises(UsageError, match="Tools belong to a tool_calling project"):
        init_project(tmp_path / "r", task="extraction", tools_file=tmp_path / "bare.json",
                     teacher=TEACHER)
    assert not any((tmp_path / d).exists() for d in "qr")


def test_tools_from_an_mcp_server_match_the_listing_by_hand(tmp_path, monkeypatch):
    import asyncio

    from mcp import Client, StdioServerParameters

    log = tmp_path / "called.log"
    monkeypatch.setenv("CALLED_LOG", str(log))
    command = f"{sys.executable} {TOOLS_SERVER}"
    project = init_project(tmp_path / "notes", task="tool_calling", tools_from_mcp=command,
                           teacher=TEACHER)

    async def listing():
        async with Client(StdioServerParameters(command=sys.executable,
                                                args=[str(TOOLS_SERVER)])) as client:
            return (await client.list_tools()).tools

    by_hand = [{"name": t.name, "description": t.description, "parameters": t.input_schema}
               for t in asyncio.run(listing())]
    assert project.path("tools.json").read_text() == tools_json(by_hand)
    assert [t["name"] for t in by_hand] == ["add_note", "search_notes", "set_reminder"]
    assert not log.exists()  # listing called no tool


@pytest.mark.parametrize("command,error", [
    ("/no/such/server --stdio", "could not be listed"),
    (f"{sys.executable} -c \"import sys; sys.exit(3)\"", "could not be listed"),
    ("", "needs the command"),
    ('"unclosed', "No closing quotation"),
])
def test_an_mcp_server_that_fails_gives_a_clear_error_and_no_project(tmp_path, command, error):
    with pytest.raises(UsageError) as caught:
        init_project(tmp_path / "p", task="tool_calling", tools_from_mcp=command, teacher=TEACHER)
    assert error in caught.value.render() and "Traceback" not in caught.value.render()
    assert not (tmp_path / "p").exists()


def test_seeds_must_call_a_known_tool_with_fitting_arguments(tmp_path):
    (tmp_path / "tools.json").write_text(json.dumps(TOOLS))
    project = init_project(tmp_path / "p", task="tool_calling", tools_file=tmp_path / "tools.json",
                           teacher=TEACHER)
    lines = [{"input": "lights off in the kitchen", "output": json.loads(LIGHT)},
             {"input": "open the window", "output": {"name": "open_window", "arguments": {}}},
             {"input": "hall lights to blue", "output": {"name": "set_light",
                                                         "arguments": {"room": "hall", "on": "blue"}}},
             {"input": "hello", "output": {"name": None}}]
    (tmp_path / "seeds.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    with pytest.raises(InputFileError) as caught:
        add_seeds(project, tmp_path / "seeds.jsonl")
    text = caught.value.render()
    assert "seeds.jsonl:2: output is not valid: no tool named 'open_window'" in text
    assert "seeds.jsonl:3: output is not valid: set_light: $.on: 'blue' is not of type" in text
    assert "seeds.jsonl:1:" not in text and "seeds.jsonl:4:" not in text
    assert not project.seeds_path.exists()


def test_a_multi_turn_request_is_a_seed_and_the_prompts_keep_its_turns(tmp_path):
    from slm_distill.tools.workspace.project import Seed

    (tmp_path / "tools.json").write_text(json.dumps(TOOLS))
    project = init_project(tmp_path / "p", task="tool_calling", tools_file=tmp_path / "tools.json",
                           teacher=TEACHER)
    turns = [{"role": "user", "content": "Is it cold in Oslo?"},
             {"role": "assistant", "content": "Which day?"}, {"role": "user", "content": "tomorrow"}]
    line = {"input": turns, "output": {"name": "get_weather",
                                       "arguments": {"city": "Oslo", "day": "tomorrow"}}}
    (tmp_path / "seeds.jsonl").write_text(json.dumps(line) + "\n")
    assert add_seeds(project, tmp_path / "seeds.jsonl") == 1
    [seed] = project.seeds()
    assert json.loads(seed.input) == turns
    for messages in (task().student_messages(seed.input), task().teacher_messages(seed.input)):
        assert messages[0]["role"] == "system" and messages[1:] == turns
    text = Seed(input="[not a conversation]", output='{"name": null}').input
    assert task().student_messages(text)[1:] == [{"role": "user", "content": text}]
    bad = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "lights off"}]
    (tmp_path / "bad.jsonl").write_text(json.dumps({"input": bad, "output": {"name": None}}) + "\n")
    with pytest.raises(InputFileError, match="bad.jsonl:1: input does not fit: a conversation is"):
        add_seeds(project, tmp_path / "bad.jsonl")
    assert len(project.seeds()) == 1


def test_improve_groups_failures_by_tool_and_what_went_wrong():
    from slm_distill.tools.evaluate import score_model
    from slm_distill.tools.improve import _groups
    from slm_distill.tools.workspace.project import Seed

    weather = call("get_weather", city="Oslo")
    gold = [LIGHT, LIGHT, weather, '{"name": null}']
    said = [weather, call("set_light", room="hall", on=False), weather, LIGHT]
    seeds = [Seed(input=f"request {i}", output=g) for i, g in enumerate(gold)]
    student = score_model("student", "s", seeds, said, task())
    train = [{"output": LIGHT}, {"output": weather}, {"output": weather}]
    groups, _ = _groups(task(), seeds, student, train)
    assert [(g.label, g.failures, g.needs, g.training_pairs) for g in groups] == [
        (f"wrong tool: {NO_TOOL}", 1, [NO_TOOL], 0), ("wrong tool: set_light", 1, ["set_light"], 1),
        ("wrong: set_light.room", 1, ["set_light.room"], 1)]


def test_generation_asks_for_every_tool_and_some_requests_that_need_none():
    from slm_distill.tools.workspace.project import Seed

    t = task()
    seeds = [Seed(input="a", output=LIGHT), Seed(input="b", output=LIGHT)]
    shares = t.balance(seeds)
    assert shares == {"set_light": 0.45, "get_weather": 0.45, NO_TOOL: 0.1}
    asked = [t.call_focus(i, seeds, shares)[1]["tools"][0] for i in range(20)]
    assert asked.count(NO_TOOL) == 2 and asked.count("get_weather") == 9


# -- every stage, CLI and MCP ---------------------------------------------------------------------------
TINY = {"training.max_steps": "40", "training.eval_steps": "20", "training.eval_samples": "8",
        "training.max_new_tokens": "48", "training.batch_size": "8",
        "training.gradient_accumulation_steps": "1", "training.learning_rate": "2e-3",
        "training.loss_vocab": "answers", "training.early_stopping_patience": "null"}


def test_the_chat_template_renders_the_tools_where_it_takes_them():
    from types import SimpleNamespace

    from slm_distill.tools.errors import DistillError
    from slm_distill.tools.training.training_data import template_tools

    with_tools = SimpleNamespace(chat_template="{% if tools %}# Tools{% endif %}")
    without = SimpleNamespace(chat_template="{{ messages }}")
    auto = task()
    assert [t["function"]["name"] for t in template_tools(with_tools, auto)] == ["set_light",
                                                                                  "get_weather"]
    assert template_tools(without, auto) is None  # auto falls back to the JSON format
    json_only = ToolCalling(ToolCallingConfig(tool_format="json"), check_tools(TOOLS, "tools"))
    assert template_tools(with_tools, json_only) is None
    hidden = ToolCalling(ToolCallingConfig(tools_in_student_prompt=False), check_tools(TOOLS, "t"))
    assert template_tools(with_tools, hidden) is None
    forced = ToolCalling(ToolCallingConfig(tool_format="template"), check_tools(TOOLS, "tools"))
    with pytest.raises(DistillError, match="no tool format"):
        template_tools(without, forced)
    assert auto.template_messages("hi")[-1] == {"role": "user", "content": "hi"}
    assert "The tools:" not in auto.template_messages("hi")[0]["content"]


def test_answers_in_the_templates_form_are_tool_call_blocks_read_back_alike():
    t = task()
    both = json.dumps([json.loads(LIGHT), json.loads(call("get_weather", city="Leeds"))])
    written = t.template_answer(both)
    assert written == ('<tool_call>\n{"name": "set_light", "arguments": {"room": "kitchen", '
                       '"on": false, "brightness": 100}}\n</tool_call>\n<tool_call>\n{"name": '
                       '"get_weather", "arguments": {"city": "Leeds", "day": "today"}}\n</tool_call>')
    assert t.extract(written) == t.extract(both) and t.score(written, both).correct
    assert t.template_answer('{"name": null}') == '{"name": null}'


@pytest.mark.slow
def test_the_templates_tool_prompt_is_one_renderer_for_training_and_the_modelfile():
    from slm_distill.tools.reporting.modelcard import render_modelfile_template
    from slm_distill.tools.training.chat_format import ollama_template
    from slm_distill.tools.training.students import end_of_turn_id, qwen2_tokenizer
    from slm_distill.tools.training.training_data import (
        student_example,
        student_prompt,
        student_system,
    )

    tok, t = qwen2_tokenizer(), task()
    prompt = student_prompt(tok, t, "kitchen lights off")
    example = student_example(tok, t, "kitchen lights off", LIGHT, end_of_turn_id(tok))
    assert example.input_ids[:len(prompt)] == prompt
    answer = tok.decode([i for i, label in zip(example.input_ids, example.labels, strict=True)
                         if label != -100])
    assert answer.startswith("<tool_call>\n") and '"name": "set_light"' in answer
    system = student_system(tok, t)
    assert "<tools>" in system and '"name": "get_weather"' in system
    modelfile = render_modelfile_template(ollama_template(tok), system, "kitchen lights off")
    assert tok(modelfile, add_special_tokens=False)["input_ids"] == prompt


@pytest.mark.slow
def test_the_example_through_every_stage_on_the_cli(tmp_path, capsys):
    from slm_distill.tools.cli import main

    root = str(tmp_path / "home")
    cli_through_evaluate(root, ["--task", "tool_calling", "--tools", str(EXAMPLE_TOOLS),
                                "--teacher", TEACHER, "--student", "scratch:tiny"],
                         EXAMPLE_SEEDS, TINY, pairs=200)
    out = capsys.readouterr().out
    assert "exact call" in out and "staged score" in out and "no-tool recall" in out
    evaluation = json.loads((tmp_path / "home" / "reports" / "eval.json").read_text())
    teacher = next(r for r in evaluation["results"] if r["name"] == "teacher")
    assert teacher["metrics"]["exact_call"] > 0.8 and teacher["details"]["per_tool"]["set_light"]
    assert "## Per tool: teacher" in (tmp_path / "home" / "reports" / "eval.md").read_text()
    generation = (tmp_path / "home" / "reports" / "generation.md").read_text()
    assert all(name in generation for name in ("set_light", "create_event", NO_TOOL))
    main(["config", "set", "training.max_steps", "10", "--project", root])
    main(["improve", "--pairs", "20", "--project", root])
    improve = json.loads((tmp_path / "home" / "reports" / "improve.json").read_text())
    [rnd] = improve["rounds"]
    assert rnd["pairs_added"] > 0 and rnd["plan"]["groups"]
    main(["export", "--quant", "q8_0", "--project", root])
    export = json.loads((tmp_path / "home" / "reports" / "export.json").read_text())
    assert export["parity_ok"] and [r["quant"] for r in export["results"]] == ["f16", "q8_0"]
    exports = tmp_path / "home" / "exports"
    # task.tool_format auto: the scratch student's Qwen2.5 template renders the tools, so the
    # Modelfile's system turn holds them and no bare-JSON grammar is imposed on its answers
    assert "<tools>" in (exports / "Modelfile").read_text()
    assert all(r["with_grammar"] is None for r in export["results"])
    assert load_tools(exports / "tools.json") == load_tools(EXAMPLE_TOOLS)
    assert "tools.json" in (exports / "README.md").read_text()


@pytest.mark.slow
def test_the_example_through_every_tool(tmp_path):
    import asyncio
    import shutil

    from mcp import Client

    from slm_distill.server.app import build_server

    shutil.copy(EXAMPLE_SEEDS, tmp_path / "seeds.jsonl")
    shutil.copy(EXAMPLE_TOOLS, tmp_path / "tools.json")

    async def run():
        async with Client(build_server(tmp_path)) as client:
            return await every_stage(client, "home", {
                "task": "tool_calling", "teacher": TEACHER, "student": "scratch:tiny",
                "tools_file": "tools.json"}, {**TINY, "task.tool_format": "json"}, pairs=150)

    out = asyncio.run(run())
    assert out["status"]["task"] == "tool_calling" and "set_light" in out["status"]["tools"]
    assert out["gate"]["passed"] and out["gate"]["metric"] == "exact call"
    results = {r["name"]: r for r in out["evaluated"]["result"]["results"]}
    assert set(results["student"]["metrics"]) == set(ToolCalling.metric_names)
    assert out["plan"]["plan"]["groups"] and out["improved"]["status"] == "succeeded"
    export = out["exported"]["result"]
    assert export["parity_ok"] and all(r["with_grammar"] for r in export["results"])
