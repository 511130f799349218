"""Against real SQL nobody here wrote: defog's sql-eval questions on its seven databases.

`distill init --schema` must load each PostgreSQL dump; the validator must accept at least 180 of
the 190 gold queries (and say why it rejects the others); the execution comparator must judge each
runnable gold query equal to itself, to a copy with its select columns permuted, to a copy with its
rows reordered (when the gold has no ORDER BY), and unequal to a copy with one filter changed
whenever the results differ.
"""

from __future__ import annotations

import csv
import random
import re

import pytest
import sqlglot
from sqlglot import exp

from slm_distill.tools.cli.commands import main
from slm_distill.tools.tasks.sandbox import QueryError, QueryResult
from slm_distill.tools.tasks.sqlcompare import gold_is_ordered, normalise_rows, results_equal
from slm_distill.tools.workspace.project import Project
from tests.conftest import SHARED_DATA
from tests.pgserver import READER_PASSWORD

DEFOG = SHARED_DATA / "defog-sql-eval"
DATABASES = ("academic", "advising", "atis", "geography", "restaurants", "scholar", "yelp")
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not DEFOG.is_dir(), reason="shared/data/defog-sql-eval not found: set "
                                 "SLM_DISTILL_SHARED_DATA to the shared/data folder")]


def runnable(query: str) -> str:
    """Defog's conventions: first of several `;`-separated answers; `{a, b}` -> plain columns."""
    sql = query.split(";")[0].strip()
    braces = re.search(r"\{([^}]*)\}", sql)
    if braces:
        sql = sql.replace("{}", braces.group(1))
        sql = re.sub(r"\{[^}]*\}", braces.group(1), sql)
    return sql


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def tasks(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One project per database: on DuckDB, built from the dump with `--schema`; on PostgreSQL,
    the dump loaded into the test server and the project made with `--db postgresql://...`."""
    root = tmp_path_factory.mktemp("defog")
    out = {}
    with pytest.MonkeyPatch.context() as env:
        for name in DATABASES:
            if request.param == "duckdb":
                source = ["--schema", str(DEFOG / f"{name}.sql")]
            else:
                pg = request.getfixturevalue("pg")
                pg.create_database(name, (DEFOG / f"{name}.sql").read_text(encoding="utf-8"))
                env.setenv("DEFOG_READER_PW", READER_PASSWORD)
                source = ["--db", pg.url(db=name), "--password-env", "DEFOG_READER_PW"]
            main(["init", str(root / name), *source, "--teacher", "openai:gpt-4o"])
            out[name] = Project.load(root / name).task()
            assert out[name].dialect == request.param
        yield out
    for task in out.values():
        task.close()


@pytest.fixture(scope="module")
def questions() -> list[dict]:
    with (DEFOG / "questions_gen_postgres.csv").open(encoding="utf-8") as fh:
        return [row for row in csv.DictReader(fh) if row["db_name"] in DATABASES]


def test_every_database_loads(tasks):
    assert all(len(task.schema) >= 3 for task in tasks.values())


def test_validator_accepts_at_least_180_of_190_and_says_why_not(tasks, questions):
    assert len(questions) == 190
    rejected = []
    for row in questions:
        check = tasks[row["db_name"]].validate(runnable(row["query"]))
        if not check.ok:
            assert check.reason and check.category, row["query"]
            rejected.append((row["db_name"], check.category, check.reason))
    print("\n".join(f"rejected [{db}] {cat}: {why}" for db, cat, why in rejected))
    dialect = next(iter(tasks.values())).dialect
    # measured: DuckDB rejects 4 (to_char/to_date); on PostgreSQL, their own engine, none
    assert 190 - len(rejected) >= (190 if dialect == "postgres" else 180)


def _permuted(sql: str, dialect: str) -> str | None:
    tree = sqlglot.parse_one(sql, read=dialect)
    select = tree if isinstance(tree, exp.Select) else None
    if select is None or len(select.expressions) < 2 or any(
            isinstance(e, exp.Star) or e.find(exp.Star) and not e.find(exp.AggFunc)
            for e in select.expressions):
        return None
    n = len(select.expressions)
    for clause in ("group", "order"):
        node = select.args.get(clause)
        for lit in (node.find_all(exp.Literal) if node else []):
            if lit.is_int and isinstance(lit.parent, exp.Group | exp.Ordered):
                lit.replace(exp.Literal.number(n - int(lit.this) + 1))
    select.set("expressions", list(reversed(select.expressions)))
    return select.sql(dialect=dialect)


_FLIP = {exp.EQ: exp.NEQ, exp.NEQ: exp.EQ, exp.GT: exp.LTE, exp.LTE: exp.GT, exp.LT: exp.GTE,
         exp.GTE: exp.LT}


def _filter_changed(sql: str, dialect: str) -> str | None:
    tree = sqlglot.parse_one(sql, read=dialect)
    where = tree.find(exp.Where)
    if where is None:
        return None
    for node in where.find_all(*_FLIP):
        if isinstance(node.expression, exp.Literal) or isinstance(node.this, exp.Literal):
            node.replace(_FLIP[type(node)](this=node.this.copy(), expression=node.expression.copy()))
            return tree.sql(dialect=dialect)
    return None


def _run(task, sql: str) -> QueryResult | None:
    try:
        return task.sandbox.execute(sql)
    except QueryError:
        return None


def test_comparator_on_real_gold_queries(tasks, questions):
    rng = random.Random(0)
    counts = {"self": 0, "permuted": 0, "reordered": 0, "filter": 0}
    for row in questions:
        task, sql = tasks[row["db_name"]], runnable(row["query"])
        gold = _run(task, sql)
        if gold is None:
            continue
        ordered = gold_is_ordered(sql, task.dialect)
        assert results_equal(gold, _run(task, sql), ordered=ordered), sql
        counts["self"] += 1
        permuted = _permuted(sql, task.dialect)
        if permuted and (result := _run(task, permuted)) is not None:
            assert results_equal(gold, result, ordered=ordered), permuted
            counts["permuted"] += 1
        if not ordered and len(gold.rows) > 1:
            rows = list(gold.rows)
            rng.shuffle(rows)
            rows.reverse()
            assert results_equal(gold, QueryResult(gold.columns, rows), ordered=False), sql
            counts["reordered"] += 1
        changed = _filter_changed(sql, task.dialect)
        if changed and (result := _run(task, changed)) is not None:
            differ = sorted(map(repr, normalise_rows(gold.rows))) != sorted(
                map(repr, normalise_rows(result.rows))) or len(gold.columns) != len(result.columns)
            if differ:
                assert not results_equal(gold, result, ordered=ordered), changed
                counts["filter"] += 1
    print(next(iter(tasks.values())).dialect, counts)
    # measured here: DuckDB self 186, permuted 118, reordered 41, filter changed (results
    # differ) 33; PostgreSQL self 190, permuted 119, reordered 41, filter changed 35
    if next(iter(tasks.values())).dialect == "postgres":  # every gold runs on its own engine
        assert counts == {"self": 190, "permuted": 119, "reordered": 41, "filter": 35}
    assert counts["self"] >= 180 and counts["permuted"] >= 100
    assert counts["reordered"] >= 35 and counts["filter"] >= 30
