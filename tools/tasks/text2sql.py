"""Text2SQL: questions about one database, answered with one SQL query in its engine's dialect.

    task = Text2SQL(Path("shop.duckdb"), Text2SQLConfig())      # or a .sqlite file, or
    task = Text2SQL(DatabaseSource("postgres", url="postgresql://reader@host/shop"), config)
    task.validate("SELECT count(*) FROM customers")     # parse, schema references, execution
    task.score(predicted_sql, gold_sql).correct           # execution accuracy

Validation: sqlglot parses it in the engine's dialect (DuckDB, SQLite or PostgreSQL), every table
and column it names exists, and it executes in that engine's sandbox (read-only, row cap,
timeout). Scoring: execution accuracy (results compared as multisets, or lists when the gold
orders its rows; see sqlcompare), exact match after sqlglot normalisation, and valid-SQL rate.

Answers are untrusted text: every method here returns a verdict on any string, however long, deep or
hostile. Text over sqlguard's bounds (MAX_SQL_CHARS, MAX_SQL_DEPTH), or that exhausts sqlglot's
stack or memory, fails with category "too_complex"; results over the sandbox's caps with "too_large";
a second statement, a write, or the engine's own settings, catalogue or files, with "refused".
"""

from __future__ import annotations

import math
import re
from functools import cached_property
from pathlib import Path
from typing import Any

import duckdb

from slm_distill.prompts import render_prompt
from slm_distill.tools.tasks.base import Message, Score, Task, Validation
from slm_distill.tools.tasks.database import (
    ENGINE_LABELS,
    Database,
    DatabaseSource,
    QueryError,
    QueryResult,
)
from slm_distill.tools.tasks.sqlcheck import (
    Schema,
    SqlCheckError,
    bounded,
    check_references,
    difficulty_of,
    normalise_sql,
    parse_query,
    sql_features,
    tables_used,
)
from slm_distill.tools.tasks.sqlcompare import (
    gold_is_ordered,
    keyed_query,
    results_equal,
    tie_groups,
    without_distinct,
)
from slm_distill.tools.tasks.sqlguard import (
    split_first,
    statement_problem,
    text_problem,
    tokens,
)
from slm_distill.tools.workspace.config import Text2SQLConfig

_FENCED = re.compile(r"```(?:sql|duckdb|postgresql|sqlite)?\s*\n?(.*?)```", re.DOTALL | re.IGNORECASE)
_SQL_START = re.compile(r"^[^\S\n]*(WITH|SELECT|FROM)\b", re.IGNORECASE | re.MULTILINE)
_BLANK_LINES = re.compile(r"\n(?:[^\S\n]*\n)+")
_PROSE = re.compile(r"[A-Z][a-z]")

AUGMENT_PROMPTS = {
    "new": "text2sql/generate",
    "paraphrase": "text2sql/augment_paraphrase",
    "entities": "text2sql/augment_entities",
    "complexity": "text2sql/augment_complexity",
}


def extract_sql(raw: str) -> str:
    """The SQL in a reply: the first fenced block, else the text from the first SELECT/WITH up to a
    prose paragraph. A trailing `;` (and prose after it) is dropped; a second statement is kept, so
    that validation refuses the answer rather than keep its harmless first half."""
    match = _FENCED.search(raw)
    text = match.group(1) if match else raw
    if not match:
        start = _SQL_START.search(text)
        if start:
            text = _before_prose(text[start.start() :])
    return _one_statement(text.strip())


def _before_prose(text: str) -> str:
    """`text` up to the first blank line followed by a capitalised word (linear in the text)."""
    for gap in _BLANK_LINES.finditer(text):
        if _PROSE.match(text, gap.end()):
            return text[: gap.start()]
    return text


def _one_statement(text: str) -> str:
    if ";" not in text or text_problem(text):
        return text.strip()  # nothing to cut, or validation refuses it as it is
    head, rest = split_first(text)
    following = [t for t in tokens(rest) if t[0] != duckdb.token_type.comment and t[1] != ";"]
    if following and (following[0][0] == duckdb.token_type.keyword or following[0][1] == "("):
        return text.strip()  # another statement: keep it, for validation to refuse
    return head.strip()


# Most telling first: improve names a group by the first two of these its expected answer uses.
NEED_ORDER = ("window", "cte", "set_operation", "subquery", "having", "dates", "null_handling",
              "case", "like", "distinct", "join", "group_by", "limit", "order_by", "aggregate")
NEED_WORDS = {
    "window": "window functions (OVER ...)", "cte": "common table expressions (WITH ...)",
    "set_operation": "UNION / INTERSECT / EXCEPT", "subquery": "a subquery",
    "having": "HAVING on an aggregate", "dates": "date filters or date arithmetic",
    "null_handling": "NULL handling (IS NULL, COALESCE)", "case": "CASE expressions",
    "like": "pattern matching with LIKE", "distinct": "DISTINCT", "join": "joining tables",
    "group_by": "GROUP BY", "limit": "LIMIT (top-N)", "order_by": "ORDER BY",
    "aggregate": "aggregates (COUNT, SUM, AVG, ...)",
}


class Text2SQL(Task):
    name = "text2sql"
    metric_names = ("execution_accuracy", "valid_sql", "exact_match")
    metric_labels = {"execution_accuracy": "execution accuracy", "valid_sql": "valid SQL",
                     "exact_match": "exact match"}
    correct_metric = "execution_accuracy"
    coverage = {"tables": "table", "features": "SQL feature"}
    need_words = NEED_WORDS
    plain_need = "plain select"
    judged_categories = ("wrong_result", "empty_result")

    def __init__(self, db: Path | DatabaseSource, config: Text2SQLConfig) -> None:
        self.source = db if isinstance(db, DatabaseSource) else DatabaseSource.of_file(Path(db))
        self.db_path = self.source.path
        self.dialect = self.source.engine  # sqlglot's name of the engine's dialect
        self.config = config
        self._gold_cache: dict[str, QueryResult | QueryError] = {}
        self._ties_cache: dict[str, list[list[tuple]] | None] = {}

    # -- database --------------------------------------------------------------
    @property
    def dialect_label(self) -> str:
        return ENGINE_LABELS[self.dialect]

    @cached_property
    def sandbox(self) -> Database:
        return self.source.open(row_cap=self.config.row_cap, timeout_s=self.config.timeout_s)

    @cached_property
    def schema(self) -> Schema:
        schema: Schema = {}
        for table in self.sandbox.tables():
            schema[table.name.lower()] = {c.lower() for c in table.columns}
        return schema

    @cached_property
    def schema_text(self) -> str:
        """DDL of every table, each followed by a few sample rows (as SQL literals) as comments."""
        blocks = []
        for table in self.sandbox.tables(self.config.sample_rows):
            rows = "".join(f"\n-- ({', '.join(sql_literal(v, self.dialect) for v in r)})"
                           for r in table.rows)
            blocks.append(table.ddl + rows)
        return "\n\n".join(blocks)

    def close(self) -> None:
        if "sandbox" in self.__dict__:
            self.sandbox.close()
            del self.__dict__["sandbox"]

    # -- prompts ------------------------------------------------------------------
    def teacher_messages(self, input: str) -> list[Message]:
        return [
            {"role": "system", "content": render_prompt("text2sql/answer", schema=self.schema_text,
                                                     dialect=self.dialect_label)},
            {"role": "user", "content": input},
        ]

    def student_messages(self, input: str) -> list[Message]:
        user = input
        if self.config.schema_in_student_prompt:
            user = f"Schema:\n{self.schema_text}\n\nQuestion: {input}"
        return [
            {"role": "system", "content": render_prompt("text2sql/student", dialect=self.dialect_label)},
            {"role": "user", "content": user},
        ]

    def propose_messages(self, n: int, examples: list[dict], mode: str,
                         focus: dict | None = None) -> list[Message]:
        if mode == "targeted":
            shown = "\n\n".join(f"Question: {e['input']}\nSQL: {e['output']}" for e in examples)
            text = render_prompt(
                "text2sql/targeted", schema=self.schema_text, n=n, dialect=self.dialect_label,
                needs=(focus or {}).get("description", ""),
                mistakes=(focus or {}).get("mistakes", ""),
                examples=shown or "(none yet: rely on the schema)",
            )
        elif mode == "new":
            shown = "\n\n".join(f"Question: {e['input']}\nSQL: {e['output']}" for e in examples)
            text = render_prompt(
                "text2sql/generate", schema=self.schema_text, n=n, examples=shown,
                requirements=_REQUIREMENTS.format(dialect=self.dialect_label),
                dialect=self.dialect_label,
            )
        else:
            base = examples[0]
            text = render_prompt(
                AUGMENT_PROMPTS[mode], schema=self.schema_text, n=n, input=base["input"],
                dialect=self.dialect_label,
                output=base["output"], difficulty=base.get("difficulty", "medium"),
            )
        return [{"role": "user", "content": text}]

    def context(self) -> dict[str, Any]:
        """`query(sql) -> rows` runs read-only SQL in the sandbox; `describe(sql)` gives its tables,
        SQL features and difficulty (what targeted proposals must match); `dialect` names the
        engine's SQL (duckdb, sqlite or postgres). Python teachers should use `query` rather than
        open `db_path` themselves: DuckDB refuses a second connection to the same file with
        another configuration in one process, and a PostgreSQL database has no path."""
        return {"task": self.name, "schema": self.schema_text, "dialect": self.dialect,
                "db_path": str(self.db_path) if self.db_path else None,
                "query": self.query, "describe": self.describe}

    def query(self, sql: str) -> list[tuple]:
        """Rows of a read-only query (raises QueryError), for python teachers and tools."""
        return self.sandbox.execute(sql).rows

    # -- answers ----------------------------------------------------------------------
    def extract(self, raw: str) -> str:
        return extract_sql(raw)

    def validate(self, output: str) -> Validation:
        sql = output.strip().rstrip(";").strip() if isinstance(output, str) else output
        if not sql:
            return Validation(False, "syntax", "empty answer")
        problem = text_problem(sql) or statement_problem(sql, self.dialect)
        if problem:
            return Validation(False, *problem)
        try:
            check_references(parse_query(sql, self.dialect), self.schema, self.dialect)
        except SqlCheckError as exc:
            return Validation(False, exc.category, exc.message)
        try:
            result = self.sandbox.execute(sql)
        except QueryError as exc:
            return Validation(False, exc.category, exc.message)
        return Validation(True, result=result)

    def training_problem(self, check: Validation) -> str | None:
        if check.result is not None and not check.result.rows:
            return "the query returns no rows (usually a filter value that is not in the data)"
        return None

    def _gold_result(self, gold: str) -> QueryResult | QueryError:
        if gold not in self._gold_cache:
            try:
                self._gold_cache[gold] = self.sandbox.execute(gold.strip().rstrip(";"))
            except QueryError as exc:
                self._gold_cache[gold] = exc
        return self._gold_cache[gold]

    def _ties(self, gold: str) -> list[list[tuple]] | None:
        """The gold's rows grouped by tied ORDER BY keys, up to its LIMIT's group (see
        sqlcompare.tie_groups), or None when they cannot be had."""
        if gold not in self._ties_cache:
            keyed, groups = keyed_query(gold.strip().rstrip(";"), self.dialect), None
            if keyed is not None:
                try:
                    groups = tie_groups(self.sandbox.execute(keyed[0]), keyed[1], keyed[2])
                except QueryError:
                    groups = None
            self._ties_cache[gold] = groups
        return self._ties_cache[gold]

    def score(self, predicted: str, gold: str) -> Score:
        """Execution accuracy: the gold runs first (a gold that fails is `gold_error`, whatever
        the candidate), then the candidate; results compare as sqlcompare says, and when they
        differ only in how ORDER BY ties were broken (or which tied rows a LIMIT kept) the
        candidate is right. `task.comparator: spider` follows the Spider test-suite instead."""
        spider = self.config.comparator == "spider"
        if spider:
            predicted, gold = (without_distinct(predicted, self.dialect),
                               without_distinct(gold, self.dialect))
        exact = normalise_sql(predicted, self.dialect) == normalise_sql(gold, self.dialect)
        expected = self._gold_result(gold)  # the gold first: its failure is never the candidate's
        check = self.validate(predicted)
        if isinstance(expected, QueryError):
            return Score(False, check.ok, exact, "gold_error",
                         f"the gold query fails on {self.dialect_label}: {expected.message}")
        if not check.ok:
            return Score(False, False, exact, check.category, check.reason)
        ordered = ("order by" in " ".join(gold.lower().split()) if spider
                   else gold_is_ordered(gold, self.dialect))
        try:
            same = results_equal(expected, check.result, ordered=ordered, spider=spider)
            if not same and ordered and not spider:
                ties = self._ties(gold)
                same = ties is not None and results_equal(expected, check.result, ordered=True,
                                                          ties=ties)
        except (RecursionError, MemoryError):
            return Score(False, True, exact, "too_large", "the results are too large to compare")
        if same:
            return Score(True, True, exact)
        category = "empty_result" if not check.result.rows and expected.rows else "wrong_result"
        reason = f"returned {len(check.result.rows)} rows, expected {len(expected.rows)}"
        return Score(False, True, exact, category, reason)

    def agree(self, a: str, b: str) -> bool:
        ra, rb = self._gold_result(a), self._gold_result(b)
        if isinstance(ra, QueryError) or isinstance(rb, QueryError):
            return False
        try:
            return results_equal(ra, rb, ordered=gold_is_ordered(a, self.dialect)
                                 or gold_is_ordered(b, self.dialect))
        except (RecursionError, MemoryError):
            return False

    def describe(self, output: str) -> dict[str, Any]:
        try:
            tree = parse_query(output.strip().rstrip(";") if isinstance(output, str) else output,
                               self.dialect)
            features, tables = bounded(sql_features, tree), bounded(tables_used, tree)
        except SqlCheckError:
            return {"tables": [], "features": [], "difficulty": "unspecified"}
        return {
            "tables": tables,
            "features": features,
            "difficulty": difficulty_of(features, len(tables)),
        }

    def dedup_key(self, output: str) -> str:
        return normalise_sql(output, self.dialect)

    def need_facts(self, output: str, metadata: dict | None = None) -> list[str]:
        features = (metadata or {}).get("features")
        if features is None:
            features = self.describe(output).get("features", [])
        return [f for f in NEED_ORDER if f in set(features)]

    def card_text(self) -> str:
        return (f"Translating questions about this one database into {self.dialect_label} SQL, "
                f"checked against the {self.dialect_label} database itself, read-only.")


_REQUIREMENTS = """\
- Every SQL query must run on {dialect} against exactly this schema and return at least one row.
- Use values that really occur in the data (see the sample rows) when filtering.
- Mix difficulties: about a third easy (one table), a third medium (joins, GROUP BY), a third hard
  (HAVING, subqueries, several joins, dates, NULL handling, ORDER BY with LIMIT).
- Vary the wording: questions, commands, short and long, formal and casual.
- Each question must be answerable from the data and unambiguous."""


def sql_literal(value: Any, dialect: str = "duckdb") -> str:
    """A value as a SQL literal, the way a query in `dialect` would write it (not Python's repr):
    NULL, TRUE, 39.25, 'it''s', DATE '2026-05-01', TIMESTAMP '2026-05-01 10:30:00' (in SQLite,
    which keeps dates as text, '2026-05-01'); blobs as X'..' in SQLite, '\\x..'::BYTEA in
    PostgreSQL; NaN and infinities as each engine reads them."""
    import datetime as dt
    from decimal import Decimal

    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float | Decimal) and not math.isfinite(value):
        return _non_finite(value, dialect)
    if isinstance(value, int | float | Decimal):
        return str(value)
    if isinstance(value, dt.date | dt.time) and dialect == "sqlite":  # SQLite keeps them as text
        return "'" + value.isoformat(**({"sep": " "} if isinstance(value, dt.datetime) else {})) + "'"
    if isinstance(value, dt.datetime):
        return f"TIMESTAMP '{value.isoformat(sep=' ')}'"
    if isinstance(value, dt.date):
        return f"DATE '{value.isoformat()}'"
    if isinstance(value, dt.time):
        return f"TIME '{value.isoformat()}'"
    if isinstance(value, bytes | bytearray | memoryview):
        if dialect == "sqlite":
            return f"X'{bytes(value).hex().upper()}'"
        if dialect == "postgres":
            return f"'\\x{bytes(value).hex()}'::BYTEA"
        return "'" + "".join(f"\\x{b:02X}" for b in bytes(value)) + "'::BLOB"
    text = str(value)
    return "'" + text.replace("'", "''") + "'"


def _non_finite(value: Any, dialect: str) -> str:
    """NaN and the infinities, each engine's way (SQLite stores NaN as NULL)."""
    sign = "-" if value < 0 else ""
    if dialect == "sqlite":
        return "NULL" if value != value else f"{sign}9e999"
    if dialect == "postgres":
        return "'NaN'::FLOAT8" if value != value else f"'{sign}Infinity'::FLOAT8"
    return "'nan'::DOUBLE" if value != value else f"'{sign}inf'::DOUBLE"
