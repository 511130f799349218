"""Execution accuracy that holds on real SQL, on every engine: the gold is scored first, ORDER BY
ties (and which tied rows a LIMIT keeps) are the candidate's to break, and `comparator: spider`
follows the Spider test-suite's rules."""

from __future__ import annotations

import sqlite3

import duckdb
import pytest

from slm_distill.tools.tasks.database import DatabaseSource
from slm_distill.tools.tasks.text2sql import Text2SQL
from slm_distill.tools.workspace.config import Text2SQLConfig
from tests.pgserver import READER_PASSWORD

TABLE = ("CREATE TABLE t (name VARCHAR(10), score INTEGER);\n"
         "INSERT INTO t VALUES ('a', 10), ('b', 9), ('c', 9), ('d', 9), ('e', 5);")


@pytest.fixture(params=["duckdb", "sqlite", "postgres"])
def source(request, tmp_path, monkeypatch) -> DatabaseSource:
    if request.param == "duckdb":
        with duckdb.connect(str(tmp_path / "t.duckdb")) as conn:
            conn.execute(TABLE)
        return DatabaseSource.of_file(tmp_path / "t.duckdb")
    if request.param == "sqlite":
        with sqlite3.connect(tmp_path / "t.sqlite") as conn:
            conn.executescript(TABLE)
        conn.close()
        return DatabaseSource.of_file(tmp_path / "t.sqlite")
    pg = request.getfixturevalue("pg")
    name = f"ties_{request.node.name.split('[')[0][-20:]}".lower()
    pg.create_database(name, TABLE)
    monkeypatch.setenv("PGPASSWORD", READER_PASSWORD)
    return DatabaseSource("postgres", url=pg.url(db=name))


def scorer(source: DatabaseSource, comparator: str = "default"):
    task = Text2SQL(source, Text2SQLConfig(comparator=comparator))
    return task


def test_ties_at_a_limit_cut_are_the_candidates_to_break(source):
    task = scorer(source)
    try:
        gold = "SELECT name FROM t ORDER BY score DESC LIMIT 2"  # 'a', then one of b, c, d
        for right in ("SELECT name FROM t ORDER BY score DESC, name DESC LIMIT 2",
                      "SELECT name FROM t ORDER BY score DESC, name LIMIT 2",
                      "SELECT name FROM t WHERE name IN ('a', 'c') ORDER BY score DESC"):
            assert task.score(right, gold).correct, right
        for wrong in ("SELECT name FROM t ORDER BY score LIMIT 2",
                      "SELECT name FROM t WHERE name IN ('a', 'e')",
                      "SELECT name FROM t WHERE name IN ('c', 'a') ORDER BY score",
                      "SELECT name FROM t ORDER BY score DESC LIMIT 3"):
            assert not task.score(wrong, gold).correct, wrong
        by_alias = "SELECT name, score AS s FROM t ORDER BY s DESC LIMIT 3"
        by_position = "SELECT name, score FROM t ORDER BY 2 DESC LIMIT 3"
        candidate = "SELECT name, score FROM t ORDER BY score DESC, name DESC LIMIT 3"
        assert task.score(candidate, by_alias).correct and task.score(candidate, by_position).correct
        assert task.score("SELECT name, score FROM t ORDER BY name LIMIT 3", by_alias).correct
        assert not task.score("SELECT name, score FROM t ORDER BY name DESC LIMIT 3",
                              by_alias).correct
    finally:
        task.close()


def test_rows_tied_on_the_order_key_may_come_in_any_order(source):
    task = scorer(source)
    try:
        gold = "SELECT name FROM t ORDER BY score DESC"
        assert task.score("SELECT name FROM t ORDER BY score DESC, name DESC", gold).correct
        assert not task.score("SELECT name FROM t ORDER BY score", gold).correct
        assert not task.score("SELECT name FROM t ORDER BY name DESC", gold).correct
    finally:
        task.close()


def test_the_gold_is_scored_first(source):
    task = scorer(source)
    try:
        bad_gold = "SELECT nope FROM t"
        for candidate in ("SELECT name FROM t", "SELECT missing FROM nowhere", "DROP TABLE t"):
            score = task.score(candidate, bad_gold)
            assert not score.correct and score.category == "gold_error", (candidate, score)
    finally:
        task.close()


def test_the_spider_comparator(source):
    default, spider = scorer(source), scorer(source, "spider")
    try:
        empty_gold = "SELECT name FROM t WHERE score > 100"
        empty_wider = "SELECT name, score FROM t WHERE score > 100"
        assert not default.score(empty_wider, empty_gold).correct
        assert spider.score(empty_wider, empty_gold).correct
        distinct_gold = "SELECT DISTINCT score FROM t"
        assert not default.score("SELECT score FROM t", distinct_gold).correct
        assert spider.score("SELECT score FROM t", distinct_gold).correct
        assert not spider.score("SELECT name FROM t", distinct_gold).correct
    finally:
        default.close()
        spider.close()


def test_an_evaluation_flags_gold_queries_that_fail():
    from slm_distill.tools.evaluate import ModelResult, red_flags
    from slm_distill.tools.reporting.stats import wilson

    def result(name: str, correct: int) -> ModelResult:
        return ModelResult(name=name, spec=name, overall=wilson(correct, 10),
                           metrics={"execution_accuracy": correct / 10}, by_difficulty={},
                           failures={"gold_error": 2, "wrong_result": 8 - correct}, examples={})

    results = {"base": result("base", 3), "student": result("student", 6),
               "teacher": result("teacher", 8)}
    [flag] = [f for f in red_flags(results, "execution_accuracy") if f.code == "gold_error"]
    assert flag.message.startswith("2 test seeds' gold answers fail")
    results = {name: r.model_copy(update={"failures": {}}) for name, r in results.items()}
    assert not [f for f in red_flags(results, "execution_accuracy") if f.code == "gold_error"]
