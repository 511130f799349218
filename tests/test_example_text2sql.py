"""The bundled Text2SQL example: schema, seeds and the offline rule-based teacher."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import sys
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from types import ModuleType

import duckdb
import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "text2sql"
SCHEMA = EXAMPLE / "schema.sql"
SEEDS = EXAMPLE / "seeds.jsonl"


def load_teacher_module() -> ModuleType:
    """Import teacher.py by file path, so the test runs before the package is installed."""
    name = "_example_text2sql_teacher"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, EXAMPLE / "teacher.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


def load_seeds() -> list[dict]:
    return [json.loads(line) for line in SEEDS.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def db_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("text2sql") / "store.duckdb"
    conn = duckdb.connect(str(path))
    conn.execute(SCHEMA.read_text())
    conn.close()
    return str(path)


@pytest.fixture(scope="module")
def conn(db_path: str) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect(db_path, read_only=True)
    yield connection
    connection.close()


def _value(v: object) -> object:
    if isinstance(v, Decimal | float):
        return round(float(v), 6)
    if isinstance(v, dt.date):
        return v.isoformat()
    return v


def result_key(conn: duckdb.DuckDBPyConnection, sql: str, ordered: bool) -> list[str]:
    rows = [str(tuple(_value(v) for v in row)) for row in conn.execute(sql).fetchall()]
    return rows if ordered else sorted(rows)


def executes(conn: duckdb.DuckDBPyConnection, sql: str) -> bool:
    try:
        conn.execute(sql).fetchall()
    except duckdb.Error:
        return False
    return True


def context(db_path: str, sample: int = 0, augmentation: str | None = None) -> dict:
    return {"task": "text2sql", "db_path": db_path, "sample": sample,
            "augmentation": augmentation, "temperature": 0.9}


# -- schema and seeds ------------------------------------------------------------------------
def test_schema_loads_in_memory() -> None:
    assert SCHEMA.stat().st_size < 150_000
    mem = duckdb.connect()
    mem.execute(SCHEMA.read_text())
    counts = {t: mem.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in
              ("artists", "albums", "tracks", "customers", "invoices", "invoice_items")}
    assert counts["artists"] == 15 and counts["albums"] == 30 and counts["tracks"] == 150
    assert counts["customers"] == 40 and counts["invoices"] == 120
    assert 250 <= counts["invoice_items"] <= 350
    assert mem.execute("SELECT COUNT(*) FROM customers WHERE email IS NULL").fetchone()[0] > 0
    assert mem.execute("SELECT COUNT(*) FROM artists WHERE country IS NULL").fetchone()[0] > 0
    years = mem.execute("SELECT MIN(year(invoice_date)), MAX(year(invoice_date)) "
                        "FROM invoices").fetchone()
    assert years == (2019, 2024)


def test_seeds_execute_and_return_rows(conn: duckdb.DuckDBPyConnection) -> None:
    seeds = load_seeds()
    assert len(seeds) == 80
    assert len({s["input"] for s in seeds}) == 80
    for seed in seeds:
        assert set(seed) == {"input", "output", "metadata"}
        assert seed["metadata"]["category"]
        rows = conn.execute(seed["output"]).fetchall()
        assert rows, seed["input"]


def test_seed_difficulty_counts() -> None:
    counts = Counter(s["metadata"]["difficulty"] for s in load_seeds())
    assert counts == {"easy": 30, "medium": 30, "hard": 20}


# -- the teacher: answer -------------------------------------------------------------------
def test_teacher_answers_most_seeds_correctly(db_path: str, conn) -> None:
    teacher = load_teacher_module().TEACHER
    seeds = load_seeds()
    correct = 0
    for seed in seeds:
        sql = teacher.answer(seed["input"], context(db_path))
        ordered = "order by" in seed["output"].lower()
        if sql and executes(conn, sql) and (
            result_key(conn, sql, ordered) == result_key(conn, seed["output"], ordered)
        ):
            correct += 1
    accuracy = correct / len(seeds)
    assert 0.85 <= accuracy < 1.0, f"{correct}/{len(seeds)}"  # deliberately imperfect


def test_teacher_gives_up_on_unknown_questions(db_path: str) -> None:
    teacher = load_teacher_module().TEACHER
    assert teacher.answer("What is the meaning of life?", context(db_path)) == ""
    sql = teacher.answer("how many customers are from japan", context(db_path))
    assert sql == "SELECT COUNT(*) FROM customers WHERE country = 'Japan'"


def test_teacher_understands_its_own_proposals(db_path: str) -> None:
    teacher = load_teacher_module().TEACHER
    pairs = teacher.propose(100, [], context(db_path, sample=7))
    agree = sum(teacher.answer(p["input"], context(db_path)) == p["output"] for p in pairs)
    assert agree >= 0.9 * len(pairs)  # the rest are its deliberate mistakes


# -- the teacher: propose ------------------------------------------------------------------
@pytest.mark.slow
def test_proposals_mostly_execute(db_path: str, conn) -> None:
    teacher = load_teacher_module().TEACHER
    seeds = load_seeds()
    pairs = [p for sample in range(5)
             for p in teacher.propose(200, seeds, context(db_path, sample=sample))]
    assert len(pairs) == 1000
    for pair in pairs:
        assert pair["input"] and pair["output"]
        assert pair["metadata"]["difficulty"] in {"easy", "medium", "hard"}
    ok = sum(executes(conn, p["output"]) for p in pairs)
    assert ok >= 0.95 * len(pairs)
    assert ok < len(pairs)  # a few deliberate mistakes, like a real teacher
    seed_questions = {s["input"] for s in seeds}
    assert not seed_questions & {p["input"] for p in pairs}
    assert set(Counter(p["metadata"]["difficulty"] for p in pairs)) == {"easy", "medium", "hard"}


@pytest.mark.slow
def test_proposals_are_diverse(db_path: str) -> None:
    teacher = load_teacher_module().TEACHER
    seeds = load_seeds()
    pairs = {(p["input"], p["output"]) for sample in range(10)
             for p in teacher.propose(120, seeds, context(db_path, sample=sample))}
    assert len(pairs) >= 1000


def test_proposals_are_deterministic(db_path: str) -> None:
    teacher = load_teacher_module().TEACHER
    seeds = load_seeds()
    first = teacher.propose(50, seeds, context(db_path, sample=3))
    assert first == teacher.propose(50, seeds, context(db_path, sample=3))
    assert first != teacher.propose(50, seeds, context(db_path, sample=4))


@pytest.mark.parametrize("mode", ["paraphrase", "entities", "complexity"])
def test_augmentations(db_path: str, conn, mode: str) -> None:
    teacher = load_teacher_module().TEACHER
    seeds = load_seeds()[::8]
    pairs = teacher.propose(8, seeds, context(db_path, sample=1, augmentation=mode))
    assert 1 <= len(pairs) <= 8
    seed_questions = {s["input"] for s in seeds}
    for pair in pairs:
        assert pair["input"] not in seed_questions
        assert executes(conn, pair["output"])
    if mode == "paraphrase":
        assert {p["output"] for p in pairs} <= {s["output"] for s in seeds}
    else:
        assert {p["output"] for p in pairs} - {s["output"] for s in seeds}


@pytest.mark.parametrize("value,literal", [
    (None, "NULL"), (True, "TRUE"), (42, "42"), (Decimal("39.25"), "39.25"), (0.5, "0.5"),
    ("it's", "'it''s'"), (dt.date(2026, 5, 1), "DATE '2026-05-01'"),
    (dt.datetime(2026, 5, 1, 10, 30), "TIMESTAMP '2026-05-01 10:30:00'"),
    (dt.time(9, 5), "TIME '09:05:00'"), (b"\x01\xff", "'\\x01\\xFF'::BLOB"),
])
def test_sample_values_are_written_as_sql_literals(value, literal):
    from slm_distill.tools.tasks.text2sql import sql_literal

    assert sql_literal(value) == literal


def test_the_prompts_sample_rows_are_sql_not_python_reprs(example_project):
    task = example_project.task()
    try:
        text = task.schema_text
    finally:
        task.close()
    rows = [line for line in text.splitlines() if line.startswith("-- (")]
    assert rows and not any("Decimal(" in r or "datetime." in r for r in rows)
    assert any("DATE '" in r for r in rows) or any("TIMESTAMP '" in r for r in rows)
    # each sample row reads back as a SQL row value with the table's column count
    with duckdb.connect() as db:
        assert all(db.execute(f"SELECT {r[3:]}").fetchone() for r in rows)
