"""Tool calling: a request in, the function call that serves it out (or none, or several).

    task = ToolCalling(ToolCallingConfig(), tools)       # tools: [{"name", "description", "parameters"}]
    task.extract('{"name": "set_light", "arguments": {"room": "kitchen", "on": false}}')
    task.validate('{"name": "fly", "arguments": {}}')    # unknown_tool
    task.score(predicted, gold).metrics["staged"]         # 0, 0.25, 0.5, 0.75 or 1.0

An answer is one call `{"name": ..., "arguments": {...}}`, `{"name": null}` when no tool applies,
or a JSON list of calls made together. Every answer is written in one form: arguments in the
order of the tool's schema, defaults filled in, 1.0 written 1. Two answers are the same call when
they name the same tools with the same normalised arguments, parallel calls in any order. The
primary metric is that exact match; beside it the staged score (0 not JSON, 0.25 valid JSON, 0.5
the right tools, 0.75 the right argument names, 1.0 exact), tool selection, argument precision,
recall and F1 over argument leaves, the "no tool" precision and recall and the share of calls
valid against the tools' schemas. Improve groups failures by tool and what went wrong
(`wrong tool: set_light`, `missing: set_light.room`, `wrong: set_light.on`).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

from slm_distill.prompts import render_prompt
from slm_distill.tools.tasks.base import (
    Message,
    Score,
    Task,
    Validation,
    looks_like_conversation,
    proposal_messages,
    weighted_round_robin,
)
from slm_distill.tools.tasks.extraction import (
    MAX_DEPTH,
    dump,
    json_depth,
    leaves,
    micro_prf,
    normalise,
    ordered,
    resolve_ref,
    totals,
)
from slm_distill.tools.workspace.config import ToolCallingConfig

NO_TOOL = "(no tool)"
MAX_ANSWER = 20_000
MAX_CALLS = 16  # calls one answer may make
MIN_NO_TOOL_SHARE = 0.1  # generation mixes in at least this share of requests that need no tool
_FENCE = re.compile(r"```(?:json)?\s*\n?(.*?)```", re.DOTALL)
_TAG = re.compile(r"<tool_call>\s*(.*?)\s*</tool_call>", re.DOTALL)
AUGMENTATIONS = {
    "paraphrase": "ask for the same thing in other words (the same call).",
    "entities": "change the details (places, names, times, amounts) and the call's arguments "
                "with them.",
    "complexity": "make the request harder: indirect wording, an argument given in an unusual "
                  "way, or a detail that belongs to no argument; the call holds only what is "
                  "right.",
}

Call = tuple[str, dict]  # (tool name, arguments)


class NotACall(ValueError):
    """JSON that is not a call, a list of calls, or {"name": null}."""


def _turns(input: str) -> list[Message] | None:
    """A JSON list of {"role": "user"|"assistant", "content"} messages ending with the user's,
    or None."""
    if not input.lstrip().startswith("["):
        return None
    try:
        turns = json.loads(input)
    except (ValueError, RecursionError):
        return None
    if (isinstance(turns, list) and turns and all(
            isinstance(t, dict) and set(t) == {"role", "content"} and
            t["role"] in ("user", "assistant") and isinstance(t["content"], str) for t in turns)
            and turns[-1]["role"] == "user"):
        return [{"role": t["role"], "content": t["content"]} for t in turns]
    return None


def conversation(input: str) -> list[Message]:
    """The turns of an input: a multi-turn request (see `_turns`), or one user message holding
    the text."""
    return _turns(input) or [{"role": "user", "content": input}]


# -- reading calls ------------------------------------------------------------------------------
def _json_value(text: str) -> Any:
    """The JSON value in a reply: fenced, inside <tool_call> tags, bare, or the outermost
    brackets in prose; ValueError when there is none."""
    if not isinstance(text, str) or len(text) > MAX_ANSWER:
        raise ValueError("no JSON text")
    tagged = _TAG.findall(text)
    if tagged:
        return [_json_value(t) for t in tagged] if len(tagged) > 1 else _json_value(tagged[0])
    for candidate in [m.group(1) for m in _FENCE.finditer(text)] + [text]:
        candidate = candidate.strip()
        spans = sorted((candidate.find(o), candidate.rfind(c)) for o, c in ("[]", "{}")
                       if candidate.find(o) != -1)
        # only the outermost brackets: a list inside a call's arguments is not the answer
        pieces = [candidate] + [candidate[a : b + 1] for a, b in spans[:1] if a < b]
        for piece in pieces:
            if json_depth(piece) > MAX_DEPTH:
                continue
            try:
                return json.loads(piece)
            except (ValueError, RecursionError):
                continue
    raise ValueError("not JSON")


def _one_call(item: Any) -> Call | None:
    """A call from `{"name", "arguments"}` or OpenAI's `{"function": {...}}`; None: no tool."""
    if isinstance(item, dict) and isinstance(item.get("function"), dict):
        item = item["function"]
    if not isinstance(item, dict) or "name" not in item or set(item) - {"name", "arguments", "id",
                                                                        "type"}:
        raise NotACall('expected {"name": ..., "arguments": {...}}')
    name, arguments = item["name"], item.get("arguments", {})
    if name is None:
        if arguments not in ({}, None):
            raise NotACall('{"name": null} (no tool) takes no arguments')
        return None
    if not isinstance(name, str) or not name:
        raise NotACall("a call's name is a tool's name, or null for no tool")
    if isinstance(arguments, str):  # OpenAI sends arguments as JSON text
        try:
            if json_depth(arguments) > MAX_DEPTH:
                raise ValueError("too deep")
            arguments = json.loads(arguments)
        except (ValueError, RecursionError):
            raise NotACall(f"{name}: arguments are not JSON") from None
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        raise NotACall(f"{name}: arguments must be a JSON object")
    return name, arguments


def parse_calls(text: str) -> list[Call]:
    """The calls an answer makes ([] for no tool). ValueError: not JSON; NotACall: JSON that is no
    call."""
    value = _json_value(text)
    items = value if isinstance(value, list) else [value]
    if len(items) > MAX_CALLS:
        raise NotACall(f"{len(items)} calls in one answer (at most {MAX_CALLS})")
    calls = [_one_call(item) for item in items]
    if None in calls and len(calls) > 1:
        raise NotACall('{"name": null} (no tool) cannot stand beside calls')
    return [c for c in calls if c is not None]


def _filled(arguments: dict, schema: dict, root: dict | None = None) -> dict:
    """Arguments with the schema's defaults filled in, nested objects and lists of objects too
    (through local `$ref`s)."""
    root = root if root is not None else schema
    schema = resolve_ref(schema, root)
    props = schema.get("properties") if isinstance(schema, dict) else None
    if not isinstance(props, dict):
        return arguments
    out = dict(arguments)
    for key, sub in props.items():
        if not isinstance(sub, dict):
            continue
        sub = resolve_ref(sub, root)
        if key not in out and "default" in sub:
            out[key] = sub["default"]
        elif isinstance(out.get(key), dict):
            out[key] = _filled(out[key], sub, root)
        elif isinstance(out.get(key), list) and isinstance(sub.get("items"), dict):
            out[key] = [_filled(v, sub["items"], root) if isinstance(v, dict) else v
                        for v in out[key]]
    return out


def _canonical(call: Call) -> str:
    return json.dumps([call[0], normalise(call[1])], sort_keys=True, ensure_ascii=False)


# -- the task -----------------------------------------------------------------------------------------
class ToolCalling(Task):
    name = "tool_calling"
    metric_names = ("exact_call", "staged", "tool_selection", "argument_f1", "argument_precision",
                    "argument_recall", "no_tool_precision", "no_tool_recall", "valid_call")
    metric_labels = {"exact_call": "exact call", "staged": "staged score",
                     "tool_selection": "tool selection", "argument_f1": "argument F1",
                     "argument_precision": "argument precision",
                     "argument_recall": "argument recall", "no_tool_precision": "no-tool precision",
                     "no_tool_recall": "no-tool recall", "valid_call": "valid call"}
    correct_metric = "exact_call"
    answer_identifies_input = False  # many requests make the same call
    coverage = {"tools": "tool"}
    plain_need = "(right before)"
    groups_by_fault = True

    def __init__(self, config: ToolCallingConfig, tools: list[dict]) -> None:
        from jsonschema import Draft202012Validator

        self.config = config
        self.tools = {t["name"]: t for t in tools}
        self._validators = {n: Draft202012Validator(t["parameters"]) for n, t in self.tools.items()}
        self._schedules: dict = {}

    # -- prompts --------------------------------------------------------------------------------
    def _tools_json(self) -> str:
        return json.dumps([{"type": "function", "function": t} for t in self.tools.values()],
                          indent=2, ensure_ascii=False)

    def tool_lines(self) -> str:
        """One line a tool for the student's prompt: `name(arg: type, opt?: type): description`."""
        from slm_distill.tools.tasks.extraction import shape

        lines = []
        for name, tool in self.tools.items():
            params = tool["parameters"]
            required = set(params.get("required") or [])
            args = ", ".join(f"{k}{'' if k in required else '?'}: {shape(v, params)}"
                             for k, v in (params.get("properties") or {}).items())
            description = " ".join(str(tool.get("description") or "").split())[:200]
            lines.append(f"- {name}({args}){': ' + description if description else ''}")
        return "\n".join(lines)

    def teacher_messages(self, input: str) -> list[Message]:
        system = render_prompt("tool_calling/answer", tools=self._tools_json())
        return [{"role": "system", "content": system}, *conversation(input)]

    def student_messages(self, input: str) -> list[Message]:
        tools = (f"The tools:\n{self.tool_lines()}\n" if self.config.tools_in_student_prompt
                 else "")
        system = render_prompt("tool_calling/student", tools=tools)
        return [{"role": "system", "content": system}, *conversation(input)]

    @property
    def template_required(self) -> bool:  # type: ignore[override]
        return self.config.tool_format == "template"

    def chat_tools(self) -> list[dict] | None:
        if self.config.tool_format == "json" or not self.config.tools_in_student_prompt:
            return None
        return [{"type": "function", "function": t} for t in self.tools.values()]

    def template_messages(self, input: str) -> list[Message]:
        system = render_prompt("tool_calling/student_template")
        return [{"role": "system", "content": system}, *conversation(input)]

    def template_answer(self, output: str) -> str:
        """Each call in a <tool_call> block (the Qwen2.5 templates' form); no tool as JSON."""
        calls = parse_calls(output)
        if not calls:
            return dump({"name": None})
        return "\n".join(f"<tool_call>\n{dump({'name': n, 'arguments': self._arguments(n, a)})}"
                         "\n</tool_call>" for n, a in calls)

    def propose_messages(self, n: int, examples: list[dict], mode: str,
                         focus: dict | None = None) -> list[Message]:
        shown = "\n\n".join(f"Request: {e['input']}\nCall: {e['output']}" for e in examples)
        return proposal_messages("tool_calling", mode, n, examples, focus, shown,
                                 new_focus=_focus_text((focus or {}).get("tools")),
                                 instruction=AUGMENTATIONS.get(mode, ""), tools=self._tools_json())

    def context(self) -> dict[str, Any]:
        return {"task": self.name, "tools": list(self.tools.values())}

    def check_input(self, input: str) -> str | None:
        if looks_like_conversation(input) and _turns(input) is None:
            return ('a conversation is a list of {"role": "user" | "assistant", "content": text} '
                    "messages ending with the user's")
        return None

    # -- generation balance: every tool asked for, and requests that need none ---------------------
    def balance(self, seeds: list[Any]) -> dict[str, float] | None:
        if not self.tools:
            return None
        keys = [self.balance_key(s.output) for s in seeds]
        none_share = max(MIN_NO_TOOL_SHARE, keys.count(NO_TOOL) / max(1, len(keys)))
        each = (1 - none_share) / len(self.tools)
        return {**dict.fromkeys(self.tools, each), NO_TOOL: none_share}

    def balance_key(self, output: str) -> str | None:
        try:
            calls = parse_calls(output)
        except ValueError:
            return None
        return calls[0][0] if calls else NO_TOOL

    def call_focus(self, index: int, pool: list[Any],
                   shares: dict[str, float] | None = None) -> tuple[list[Any], dict | None]:
        """Call `index` asks for the tool furthest below its share (a smooth weighted round robin),
        showing the pool's seeds that call it."""
        if not shares:
            return pool, None
        tool = weighted_round_robin(shares, index, self._schedules)
        same = [s for s in pool if self.balance_key(s.output) == tool]
        return same or pool, {"tools": [tool]}

    # -- answers ---------------------------------------------------------------------------------
    def _written(self, calls: list[Call]) -> str:
        if not calls:
            return dump({"name": None})
        objects = [{"name": name, "arguments": self._arguments(name, args)} for name, args in calls]
        return dump(objects[0] if len(objects) == 1 else objects)

    def _arguments(self, name: str, arguments: dict) -> dict:
        tool = self.tools.get(name)
        if tool is None:
            return arguments
        return ordered(_filled(arguments, tool["parameters"]), tool["parameters"])

    def extract(self, raw: str) -> str:
        """The answer in its one written form; the text itself, stripped, when it holds no call
        (validation then says why)."""
        if not isinstance(raw, str):
            raw = dump(raw)
        try:
            return self._written(parse_calls(raw))
        except ValueError:
            return raw.strip()

    def _check(self, output: str) -> tuple[list[Call] | None, Validation]:
        try:
            calls = parse_calls(output)
        except NotACall as exc:
            return None, Validation(False, "not_a_call", str(exc))
        except ValueError:
            shown = output[:80] if isinstance(output, str) else type(output).__name__
            return None, Validation(False, "invalid_json", f"not JSON: {shown!r}")
        for name, arguments in calls:
            if name not in self.tools:
                return calls, Validation(False, "unknown_tool", f"no tool named {name!r}; the "
                                         f"tools: {', '.join(self.tools)}")
            error = min(self._validators[name].iter_errors(arguments), key=lambda e: len(e.path),
                        default=None)
            if error is not None:
                return calls, Validation(False, "bad_arguments", f"{name}: {error.json_path}: "
                                         f"{error.message[:200]}")
        return calls, Validation(True)

    def validate(self, output: str) -> Validation:
        return self._check(output)[1]

    def _normal(self, calls: list[Call]) -> list[Call]:
        return [(name, normalise(_filled(args, self.tools[name]["parameters"])
                                 if name in self.tools else args)) for name, args in calls]

    def score(self, predicted: str, gold: str) -> Score:
        expected = self._normal(parse_calls(gold))
        calls, check = self._check(predicted)
        if calls is None:
            staged = 0.25 if check.category == "not_a_call" else 0.0
            metrics = {**_arg_counts([], expected), "staged": staged, "json": staged > 0,
                       **_none_flags([], expected, answered=False)}
            return Score(False, False, category=check.category, reason=check.reason,
                         metrics=metrics, answer=str(predicted)[:2000], expected=gold,
                         faults=["not a call"])
        got = self._normal(calls)
        pairs, unpaired_got, unpaired_gold = _pair(got, expected)
        same_tools = not unpaired_got and not unpaired_gold
        same_keys = same_tools and all(set(g[1]) == set(e[1]) for g, e in pairs)
        exact = same_keys and all(_canonical(g) == _canonical(e) for g, e in pairs)
        staged = 1.0 if exact else 0.75 if same_keys else 0.5 if same_tools else 0.25
        metrics = {**_arg_counts(pairs, unpaired_gold, unpaired_got), "staged": staged,
                   "json": 1.0, "tools_right": float(same_tools),
                   **_none_flags(got, expected, answered=True)}
        answer = self._written(calls)
        if exact:
            return Score(True, check.ok, exact=True, metrics=metrics, answer=answer, expected=gold)
        faults = _faults(pairs, unpaired_got, unpaired_gold)
        category = ("unknown_tool" if check.category == "unknown_tool" else
                    "wrong_tool" if not same_tools else
                    "wrong_arguments" if same_keys else "missing_or_extra_arguments")
        return Score(False, check.ok, category=category, reason="; ".join(faults[:3]),
                     metrics=metrics, answer=answer, expected=gold, faults=faults)

    def agree(self, a: str, b: str) -> bool:
        try:
            return sorted(map(_canonical, self._normal(parse_calls(a)))) == \
                sorted(map(_canonical, self._normal(parse_calls(b))))
        except ValueError:
            return False

    def summarise(self, scores: list[Score]) -> dict[str, float]:
        n = max(1, len(scores))
        total = totals(scores, _COUNTS)
        precision, recall, f1 = micro_prf(total)
        none_right = total["none_both"]
        return {"exact_call": sum(s.correct for s in scores) / n,
                "staged": sum(s.metrics.get("staged", 0.0) for s in scores) / n,
                "tool_selection": sum(s.metrics.get("tools_right", 0.0) for s in scores) / n,
                "argument_f1": f1, "argument_precision": precision, "argument_recall": recall,
                "no_tool_precision": none_right / total["none_predicted"]
                if total["none_predicted"] else 0.0,
                "no_tool_recall": none_right / total["none_gold"] if total["none_gold"] else 0.0,
                "valid_call": sum(s.valid for s in scores) / n}

    def details(self, scores: list[Score]) -> dict[str, Any]:
        """Per tool (the expected one): answers right, and how the others went wrong."""
        tools: dict[str, Counter] = {}
        for s in scores:  # balance_key reads the answer itself: None when it holds no call
            key = self.balance_key(s.expected) or NO_TOOL
            tools.setdefault(key, Counter())["right" if s.correct else s.category or "wrong"] += 1
        return {"per_tool": {t: dict(c) for t, c in sorted(tools.items())}} if tools else {}

    # -- what answers are about ------------------------------------------------------------------
    def describe(self, output: str) -> dict[str, Any]:
        try:
            calls = parse_calls(output)
        except ValueError:
            return {"tools": [], "difficulty": None}
        return {"tools": list(dict.fromkeys(n for n, _ in calls)) or [NO_TOOL], "difficulty": None}

    def need_facts(self, output: str, metadata: dict | None = None) -> list[str]:
        """The tools an answer calls (or `(no tool)`), then `tool.argument` paths it sets."""
        try:
            calls = self._normal(parse_calls(output))
        except ValueError:
            return []
        if not calls:
            return [NO_TOOL]
        facts = [n for n, _ in calls]
        facts += [f"{n}.{_field(p)}" for n, args in calls for p in leaves(args) if p != "$"]
        return list(dict.fromkeys(facts))

    def fault_need(self, fault: str) -> str | None:
        kind, _, what = fault.partition(": ")
        return what if kind in ("missing", "wrong", "wrong tool") and what else None

    def dedup_key(self, output: str) -> str:
        try:
            return json.dumps(sorted(map(_canonical, self._normal(parse_calls(output)))),
                              ensure_ascii=False)
        except ValueError:
            return " ".join(str(output).split())

    def card_text(self) -> str:
        return (f"Calling one of {len(self.tools)} tools ({', '.join(self.tools)}) for a request, "
                "or none, as JSON.")

    def card_usage(self) -> str:
        return (" The answer is JSON: one call {\"name\": ..., \"arguments\": {...}}, a list of "
                "calls made together, or {\"name\": null} when no tool applies. Check it against "
                "`tools.json` (beside the GGUF files) before you call the function it names.")

    def export_files(self) -> dict[str, str]:
        from slm_distill.tools.tasks.tools_file import tools_json

        return {"tools.json": tools_json(list(self.tools.values()))}

    def grammar_schema(self) -> str | None:
        """The answers as one JSON Schema: a call of any tool (its arguments' schema), no tool,
        or a list of calls."""
        defs: dict[str, Any] = {}
        call = []
        for name, tool in self.tools.items():
            parameters = _lift_defs(tool["parameters"], name, defs)
            call.append({"type": "object", "properties": {"name": {"const": name},
                                                          "arguments": parameters},
                         "required": ["name", "arguments"], "additionalProperties": False})
        none = {"type": "object", "properties": {"name": {"type": "null"}}, "required": ["name"],
                "additionalProperties": False}
        schema = {"anyOf": [*call, none, {"type": "array", "items": {"anyOf": call},
                                          "minItems": 2}]}
        return json.dumps({**schema, "$defs": defs} if defs else schema)


def _lift_defs(parameters: dict, tool: str, defs: dict) -> dict:
    """A tool's parameters with its `$defs` moved into `defs` under `<tool>.<name>` and its
    `#/$defs/...` references rewritten to match, so they still resolve inside a larger schema
    (pydantic and MCP servers write nested models this way)."""
    own = {k: v for k, v in parameters.items() if k not in ("$defs", "definitions")}
    local = {**parameters.get("definitions", {}), **parameters.get("$defs", {})}

    def rewrite(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.split("/")[:2] in (["#", "$defs"], ["#", "definitions"]):
                node = {**node, "$ref": f"#/$defs/{tool}.{ref.split('/', 2)[2]}"}
            return {k: rewrite(v) for k, v in node.items()}
        return [rewrite(v) for v in node] if isinstance(node, list) else node

    defs.update({f"{tool}.{k}": rewrite(v) for k, v in local.items()})
    return rewrite(own)


def _focus_text(tools: list[str] | None) -> str:
    if not tools:
        return "Cover every tool, and include some requests that no tool serves."
    if tools == [NO_TOOL]:
        return ("Every request you write must be one that NONE of the tools serves (chit-chat, a "
                'question outside their reach, a request for a missing tool): {"name": null}.')
    return f"Every request you write must need the tool: {', '.join(tools)}."


def _same(a: Any, b: Any) -> bool:
    return a == b and isinstance(a, bool) == isinstance(b, bool)  # true is not 1


def _field(path: str) -> str:
    return re.sub(r"\[\d+\]", "[]", path)


def _pair(got: list[Call], expected: list[Call]) -> tuple[list[tuple[Call, Call]], list[Call],
                                                            list[Call]]:
    """Each expected call paired with an answered call of the same tool (the most alike first);
    what is left unpaired on either side."""
    left = list(got)
    pairs, missing, unmatched = [], [], []
    for call in expected:  # identical calls first, so the order of the answer never matters
        twin = next((g for g in left if _canonical(g) == _canonical(call)), None)
        if twin is None:
            unmatched.append(call)
        else:
            left.remove(twin)
            pairs.append((twin, call))
    for call in unmatched:
        same = [g for g in left if g[0] == call[0]]
        if not same:
            missing.append(call)
            continue
        best = max(same, key=lambda g: sum(g[1].get(k) == v for k, v in call[1].items()))
        left.remove(best)
        pairs.append((best, call))
    return pairs, left, missing


_COUNTS = ("matched", "wrong", "missing", "extra", "none_both", "none_predicted", "none_gold")


def _arg_counts(pairs: list, unpaired_gold: list[Call], unpaired_got: list[Call] = ()) -> dict:
    """Argument leaves matched, wrong, missing and extra over paired calls; an unpaired expected
    call's leaves are all missing, an unpaired answered call's all extra."""
    counts: Counter = Counter()
    for got, exp in pairs:
        g, e = leaves(got[1]), leaves(exp[1])
        for path, value in e.items():
            if path == "$" and value == {}:
                continue
            counts["matched" if path in g and _same(g[path], value) else
                   "wrong" if path in g else "missing"] += 1
        counts["extra"] += sum(p not in e and p != "$" for p in g)
    counts["missing"] += sum(len([p for p in leaves(c[1]) if p != "$"]) for c in unpaired_gold)
    counts["extra"] += sum(len([p for p in leaves(c[1]) if p != "$"]) for c in unpaired_got)
    return {k: float(counts[k]) for k in ("matched", "wrong", "missing", "extra")}


def _none_flags(got: list[Call], expected: list[Call], *, answered: bool) -> dict[str, float]:
    said_none = answered and not got
    return {"none_both": float(said_none and not expected), "none_predicted": float(said_none),
            "none_gold": float(not expected)}


def _faults(pairs: list, unpaired_got: list[Call], unpaired_gold: list[Call]) -> list[str]:
    faults = [f"wrong tool: {c[0]}" for c in unpaired_gold]
    if unpaired_got and not unpaired_gold and not pairs:
        faults.append(f"wrong tool: {NO_TOOL}")  # a call where none was wanted
    for got, exp in pairs:
        g, e = leaves(got[1]), leaves(exp[1])
        faults += [f"missing: {exp[0]}.{_field(p)}" for p in e if p not in g and p != "$"]
        faults += [f"wrong: {exp[0]}.{_field(p)}" for p in e if p in g and not _same(g[p], e[p])]
        faults += [f"extra: {exp[0]}.{_field(p)}" for p in g if p not in e and p != "$"]
    if unpaired_got and (pairs or unpaired_gold):
        faults += [f"extra call: {c[0]}" for c in unpaired_got]
    return list(dict.fromkeys(faults)) or ["wrong call"]
