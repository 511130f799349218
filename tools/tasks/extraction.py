"""Extraction: a text in, one JSON object out, valid against the project's JSON Schema.

    task = Extraction(ExtractionConfig(), schema)
    task.extract('```json\\n{"name": "Ada"}\\n```')     # '{"name": "Ada"}' (the schema's key order)
    task.validate('{"name": 3}')                        # schema_violation at $.name
    task.score(predicted, gold).metrics                 # matched, wrong, missing, extra leaves...

Answers are compared after normalisation: key order, whitespace inside strings, 1 == 1.0, and a
null value the same as an absent key. The primary metric is the exact match of the whole object;
beside it, precision, recall and F1 over leaf fields (a leaf is a value at a path such as
`phones[0].number`; a wrong value, a missing and an extra one are counted apart), character F1 of
the string fields (a near miss earns part of its credit), the valid-JSON and schema-valid rates.
Improve groups failures by the field that goes wrong, its list indexes dropped
(`missing: phones[].number`).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

from slm_distill.prompts import render_prompt
from slm_distill.tools.tasks.base import Message, Score, Task, Validation, proposal_messages
from slm_distill.tools.workspace.config import ExtractionConfig

MAX_ANSWER = 20_000  # characters of an answer worth parsing
MAX_DEPTH = 32  # nesting an answer may have
MAX_FAULTS = 3  # field faults named per failure
_FENCE = re.compile(r"```(?:json)?\s*\n?(.*?)```", re.DOTALL)
_INDEX = re.compile(r"\[\d+\]")
AUGMENTATIONS = {
    "paraphrase": "write the same details in other words and another layout (the same object).",
    "entities": "change the details (names, companies, numbers, places) and the object with them.",
    "complexity": "make the text harder: add something that looks like a field but is not (a "
                  "reference number, a second person), or give a field in an unusual way; the "
                  "object holds only what is right.",
}


# -- JSON helpers ---------------------------------------------------------------------------------
def parse_json(text: str) -> Any:
    """The JSON value in `text` (fenced or bare; the outermost object when prose surrounds it);
    raises ValueError when there is none."""
    if not isinstance(text, str) or len(text) > MAX_ANSWER:
        raise ValueError("no JSON text")
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    for candidate in candidates:
        candidate = candidate.strip()
        start, end = candidate.find("{"), candidate.rfind("}")
        for piece in (candidate, candidate[start : end + 1] if -1 < start < end else None):
            if piece is None or json_depth(piece) > MAX_DEPTH:
                continue
            try:
                return json.loads(piece)
            except (ValueError, RecursionError):
                continue
    raise ValueError("not JSON")


def json_depth(text: str) -> int:
    """How deep brackets nest in `text` (strings not told apart: an upper bound)."""
    depth = deepest = 0
    for c in text:
        if c in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif c in "]}":
            depth -= 1
    return deepest


def normalise(value: Any) -> Any:
    """What comparison sees: keys sorted, nulls dropped, whitespace collapsed, 1.0 as 1."""
    if isinstance(value, dict):
        return {k: normalise(v) for k, v in sorted(value.items()) if v is not None}
    if isinstance(value, list):
        return [normalise(v) for v in value]
    if isinstance(value, str):
        return " ".join(value.split())
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def leaves(value: Any, path: str = "") -> dict[str, Any]:
    """Every leaf of a normalised value by its path (`a.b`, `items[0].name`); an empty object or
    list is a leaf itself."""
    if isinstance(value, dict) and value:
        return {p: v for k, child in value.items()
                for p, v in leaves(child, f"{path}.{k}" if path else k).items()}
    if isinstance(value, list) and value:
        return {p: v for i, child in enumerate(value) for p, v in leaves(child, f"{path}[{i}]").items()}
    return {path or "$": value}


def field_of(path: str) -> str:
    """A leaf's field, its list indexes dropped: `phones[1].number` -> `phones[].number`."""
    return _INDEX.sub("[]", path)


def char_f1(predicted: str, gold: str) -> float:
    """F1 of the characters two strings share (as multisets, spaces aside)."""
    p, g = Counter(predicted.replace(" ", "")), Counter(gold.replace(" ", ""))
    common = sum((p & g).values())
    if not common:
        return 1.0 if not p and not g else 0.0
    precision, recall = common / sum(p.values()), common / sum(g.values())
    return 2 * precision * recall / (precision + recall)


def resolve_ref(schema: dict, root: dict) -> dict:
    ref = schema.get("$ref") if isinstance(schema, dict) else None
    if isinstance(ref, str) and ref.startswith("#/"):
        node: Any = root
        for part in ref[2:].split("/"):
            node = node.get(part, {}) if isinstance(node, dict) else {}
        return resolve_ref(node, root)
    return schema if isinstance(schema, dict) else {}


def _variants(schema: dict, root: dict) -> list[dict]:
    schema = resolve_ref(schema, root)
    options = schema.get("anyOf") or schema.get("oneOf")
    return [resolve_ref(o, root) for o in options] if isinstance(options, list) else [schema]


def shape(schema: dict, root: dict | None = None, depth: int = 0) -> str:
    """A compact picture of the objects a schema allows, for the student's prompt:
    {"name": string, "phones": [{"kind": "mobile"|"office"|"fax", "number": string}], ...}."""
    root = root or schema
    if depth > 8:
        return "..."
    parts = []
    for variant in _variants(schema, root):
        types = variant.get("type")
        types = types if isinstance(types, list) else [types] if types else []
        if "enum" in variant:
            parts.append("|".join(json.dumps(v) for v in variant["enum"]))
        elif "object" in types or "properties" in variant:
            fields = ", ".join(f"{json.dumps(k)}: {shape(v, root, depth + 1)}"
                               for k, v in (variant.get("properties") or {}).items())
            parts.append("{" + fields + "}")
            parts += [t for t in types if t not in ("object",)]
        elif "array" in types:
            parts.append(f"[{shape(variant.get('items') or {}, root, depth + 1)}]")
            parts += [t for t in types if t != "array"]
        else:
            parts += [str(t) for t in types] or ["any"]
    return "|".join(dict.fromkeys(parts))


def ordered(value: Any, schema: dict, root: dict | None = None) -> Any:
    """`value` with each object's keys in the schema's order (others after, sorted): one written
    form for every answer the student learns."""
    root = root or schema
    if isinstance(value, dict):
        props: dict = {}
        for variant in _variants(schema, root):
            props.update(variant.get("properties") or {})
        keys = [k for k in props if k in value] + sorted(k for k in value if k not in props)
        return {k: ordered(value[k], props.get(k, {}), root) for k in keys}
    if isinstance(value, list):
        items = next((v.get("items") for v in _variants(schema, root) if v.get("items")), {})
        return [ordered(v, items if isinstance(items, dict) else {}, root) for v in value]
    return value


def totals(scores: list[Score], keys: tuple[str, ...]) -> Counter:
    """The counts named `keys` in the scores' metrics, added up over all inputs."""
    total: Counter = Counter()
    for s in scores:
        total.update({k: v for k, v in s.metrics.items() if k in keys})
    return total


def micro_prf(total: Counter) -> tuple[float, float, float]:
    """Precision, recall and F1 of leaves pooled over all inputs (matched, wrong, missing, extra)."""
    matched = total["matched"]
    precision = matched / max(1, matched + total["wrong"] + total["extra"])
    recall = matched / max(1, matched + total["wrong"] + total["missing"])
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


# -- the task -----------------------------------------------------------------------------------------
class Extraction(Task):
    name = "extraction"
    metric_names = ("exact_match", "field_f1", "field_precision", "field_recall", "char_f1",
                    "valid_json", "schema_valid")
    metric_labels = {"exact_match": "exact match", "field_f1": "field F1",
                     "field_precision": "field precision", "field_recall": "field recall",
                     "char_f1": "character F1", "valid_json": "valid JSON",
                     "schema_valid": "schema-valid"}
    correct_metric = "exact_match"
    answer_identifies_input = False  # a paraphrase of a text has the same object
    coverage = {"fields": "field"}
    plain_need = "(right before)"
    groups_by_fault = True

    def __init__(self, config: ExtractionConfig, schema: dict) -> None:
        from jsonschema import Draft202012Validator

        self.config = config
        self.schema = schema
        self._validator = Draft202012Validator(schema)
        self.shape = shape(schema)

    # -- prompts --------------------------------------------------------------------------------
    def _schema_text(self) -> str:
        return json.dumps(self.schema, indent=2, ensure_ascii=False)

    def teacher_messages(self, input: str) -> list[Message]:
        system = render_prompt("extraction/answer", schema=self._schema_text())
        return [{"role": "system", "content": system}, {"role": "user", "content": input}]

    def student_messages(self, input: str) -> list[Message]:
        system = render_prompt("extraction/student", fields=self.shape)
        return [{"role": "system", "content": system}, {"role": "user", "content": input}]

    def propose_messages(self, n: int, examples: list[dict], mode: str,
                         focus: dict | None = None) -> list[Message]:
        shown = "\n\n".join(f"Text: {e['input']}\nObject: {e['output']}" for e in examples)
        return proposal_messages("extraction", mode, n, examples, focus, shown,
                                 instruction=AUGMENTATIONS.get(mode, ""), schema=self._schema_text())

    def context(self) -> dict[str, Any]:
        return {"task": self.name, "schema": self.schema}

    # -- answers ---------------------------------------------------------------------------------
    def extract(self, raw: str) -> str:
        """The answer's JSON in one written form (the schema's key order); the text itself,
        stripped, when it holds no JSON (validation then says why)."""
        if not isinstance(raw, str):
            raw = dump(raw)
        try:
            return dump(ordered(parse_json(raw), self.schema))
        except ValueError:
            return raw.strip()

    def _check(self, output: str) -> tuple[Any, Validation]:
        try:
            value = parse_json(output)
        except ValueError:
            shown = output[:80] if isinstance(output, str) else type(output).__name__
            return None, Validation(False, "invalid_json", f"not JSON: {shown!r}")
        error = min(self._validator.iter_errors(value), key=lambda e: len(e.path), default=None)
        if error is not None:
            return value, Validation(False, "schema_violation",
                                     f"{error.json_path}: {error.message[:200]}")
        return value, Validation(True)

    def validate(self, output: str) -> Validation:
        return self._check(output)[1]

    def score(self, predicted: str, gold: str) -> Score:
        value, check = self._check(predicted)
        expected = leaves(normalise(parse_json(gold)))
        got = leaves(normalise(value)) if value is not None else {}
        counts = _compare(got, expected)
        answer = dump(value) if value is not None else str(predicted)[:2000]
        metrics = {**counts, "json": float(value is not None), "schema": float(check.ok)}
        if value is None:
            faults = ["invalid JSON"]
            return Score(False, False, category="invalid_json", reason=check.reason,
                         metrics=metrics, answer=answer, expected=gold, faults=faults)
        if counts["matched"] == len(expected) and not counts["wrong"] + counts["extra"]:
            return Score(True, check.ok, exact=True, metrics=metrics, answer=answer, expected=gold)
        faults = _faults(got, expected)
        category = "schema_violation" if not check.ok else "wrong_fields"
        reason = check.reason if not check.ok else "; ".join(faults[:MAX_FAULTS])
        return Score(False, check.ok, category=category, reason=reason, metrics=metrics,
                     answer=answer, expected=gold, faults=[f.split(" (")[0] for f in faults])

    def agree(self, a: str, b: str) -> bool:
        try:
            return normalise(parse_json(a)) == normalise(parse_json(b))
        except ValueError:
            return False

    def summarise(self, scores: list[Score]) -> dict[str, float]:
        n = max(1, len(scores))
        total = totals(scores, _COUNTS)
        precision, recall, f1 = micro_prf(total)
        return {"exact_match": sum(s.correct for s in scores) / n, "field_f1": f1,
                "field_precision": precision, "field_recall": recall,
                "char_f1": total["char_sum"] / total["char_n"] if total["char_n"] else 0.0,
                "valid_json": sum(s.metrics.get("json", 0.0) for s in scores) / n,
                "schema_valid": sum(s.metrics.get("schema", 0.0) for s in scores) / n}

    def details(self, scores: list[Score]) -> dict[str, Any]:
        """Per field: how often it was right, wrong, missing or extra."""
        fields: dict[str, Counter] = {}
        for s in scores:
            try:
                got = leaves(normalise(parse_json(s.answer))) if s.metrics.get("json") else {}
            except ValueError:
                got = {}
            for path, outcome in _outcomes(got, leaves(normalise(parse_json(s.expected)))).items():
                fields.setdefault(field_of(path), Counter())[outcome] += 1
        return {"per_field": {f: dict(c) for f, c in sorted(fields.items())}} if fields else {}

    # -- what answers are about ------------------------------------------------------------------
    def describe(self, output: str) -> dict[str, Any]:
        return {"fields": self.need_facts(output), "difficulty": None}

    def need_facts(self, output: str, metadata: dict | None = None) -> list[str]:
        try:
            found = leaves(normalise(parse_json(output)))
        except ValueError:
            return []
        return list(dict.fromkeys(field_of(p) for p, v in found.items() if v not in ({}, [])))

    def dedup_key(self, output: str) -> str:
        try:
            return json.dumps(normalise(parse_json(output)), sort_keys=True, ensure_ascii=False)
        except ValueError:
            return " ".join(str(output).split())

    def card_text(self) -> str:
        return f"Extracting one JSON object from a text, shaped {self.shape}."

    def grammar_schema(self) -> str | None:
        return json.dumps(self.schema)


_COUNTS = ("matched", "wrong", "missing", "extra", "char_sum", "char_n")


def _same(a: Any, b: Any) -> bool:
    return a == b and isinstance(a, bool) == isinstance(b, bool)  # true is not 1


def _outcomes(got: dict[str, Any], expected: dict[str, Any]) -> dict[str, str]:
    out = {p: ("matched" if p in got and _same(got[p], v) else "wrong" if p in got else "missing")
           for p, v in expected.items()}
    out.update({p: "extra" for p in got if p not in expected})
    return out


def _compare(got: dict[str, Any], expected: dict[str, Any]) -> dict[str, float]:
    counts = Counter(_outcomes(got, expected).values())
    strings = [(got.get(p), v) for p, v in expected.items() if isinstance(v, str)]
    return {**{k: float(counts[k]) for k in ("matched", "wrong", "missing", "extra")},
            "char_sum": sum(char_f1(g if isinstance(g, str) else "", v) for g, v in strings),
            "char_n": float(len(strings))}


def _faults(got: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    """What is wrong, a field at a time, `missing: due_date` first, then `wrong: total (...)`,
    then `extra: note`; each field named once."""
    order = {"missing": 0, "wrong": 1, "extra": 2}
    seen: dict[str, str] = {}
    outcomes = sorted(((o, p) for p, o in _outcomes(got, expected).items() if o != "matched"),
                      key=lambda op: (order[op[0]], op[1]))
    for outcome, path in outcomes:
        key = f"{outcome}: {field_of(path)}"
        if key not in seen:
            detail = (f" (answered {json.dumps(got[path])[:40]}, expected "
                      f"{json.dumps(expected[path])[:40]})" if outcome == "wrong" else "")
            seen[key] = key + detail
    return list(seen.values())
