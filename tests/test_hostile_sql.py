"""Hostile SQL, the standing suite: every escape is refused, stopped or capped, with a reason, the
database unchanged and no file written anywhere under the watched tree.

Each statement runs through the task's `validate()` and through the sandbox's own execute path. The
database is a copy of the bundled music store in `tmp_path`; the process's temporary directory and
working directory are moved under `tmp_path` too, so a spill, a relative COPY target or a leftover
temp file would show up in the before/after listing (taken after the task closes).
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path

import pytest

from slm_distill.tools.errors import UsageError
from slm_distill.tools.tasks.sandbox import QueryError, Sandbox
from slm_distill.tools.tasks.sqlguard import MAX_SQL_CHARS, MAX_SQL_DEPTH
from slm_distill.tools.tasks.sqlload import MAX_SCHEMA_BYTES, load_sql_file
from slm_distill.tools.tasks.text2sql import Text2SQL, extract_sql
from slm_distill.tools.workspace.config import Text2SQLConfig
from tests.conftest import EXAMPLE, EXAMPLE_TEACHER

REFUSED = ("refused",)
DEEP = "SELECT " + "(" * 60 + "1" + ")" * 60
SPILL = ("SELECT * FROM (SELECT md5(i::VARCHAR) || md5((i * 7)::VARCHAR) AS s "
         "FROM range(3000000) r(i)) ORDER BY s")
CROSS = ("SELECT count(*) FROM tracks a, tracks b, tracks c, tracks d, tracks e "
         "WHERE (a.track_id * b.track_id * c.track_id * d.track_id * e.track_id) % 1000003 = 17")

# (statement, categories either path may give). {out}: a folder in the watched tree; {db}: the
# database file itself.
HOSTILE = [
    pytest.param("COPY artists TO '{out}/a.csv'", REFUSED, id="copy-to-file"),
    pytest.param("COPY (SELECT * FROM artists) TO '{out}/b.parquet' (FORMAT parquet)", REFUSED,
                 id="copy-query-to-parquet"),
    pytest.param("COPY artists TO 'relative.csv'", REFUSED, id="copy-to-relative-path"),
    pytest.param("EXPORT DATABASE '{out}/export'", REFUSED, id="export-database"),
    pytest.param("ATTACH '{out}/other.duckdb' AS o", REFUSED, id="attach-new-file"),
    pytest.param("ATTACH ':memory:' AS m", REFUSED, id="attach-memory"),
    pytest.param("DETACH music", REFUSED, id="detach"),
    pytest.param("INSTALL httpfs", REFUSED, id="install"),
    pytest.param("FORCE INSTALL sqlite", REFUSED, id="force-install"),
    pytest.param("LOAD httpfs", REFUSED, id="load"),
    pytest.param("SET threads = 8", REFUSED, id="set"),
    pytest.param("SET enable_external_access = true", REFUSED, id="set-external-access"),
    pytest.param("RESET memory_limit", REFUSED, id="reset"),
    pytest.param("PRAGMA database_list", REFUSED, id="pragma"),
    pytest.param("CALL pragma_version()", REFUSED, id="call"),
    pytest.param("CHECKPOINT", REFUSED, id="checkpoint"),
    pytest.param("CREATE TABLE x (a INT)", REFUSED, id="create-table"),
    pytest.param("CREATE TEMP TABLE x AS SELECT * FROM artists", REFUSED, id="create-temp-table"),
    pytest.param("CREATE VIEW v AS SELECT 1", REFUSED, id="create-view"),
    pytest.param("CREATE MACRO m(x) AS x + 1", REFUSED, id="create-macro"),
    pytest.param("INSERT INTO artists VALUES (999, 'x', 'y', 2000)", REFUSED, id="insert"),
    pytest.param("UPDATE artists SET name = 'x'", REFUSED, id="update"),
    pytest.param("DELETE FROM artists", REFUSED, id="delete"),
    pytest.param("DROP TABLE artists", REFUSED, id="drop"),
    pytest.param("EXPLAIN ANALYZE SELECT * FROM artists", REFUSED, id="explain-analyze"),
    pytest.param("SELECT * FROM read_csv('/etc/passwd')", REFUSED, id="read-csv"),
    pytest.param("SELECT * FROM read_text('/etc/hostname')", REFUSED, id="read-text"),
    pytest.param("SELECT * FROM read_blob('/etc/hostname')", REFUSED, id="read-blob"),
    pytest.param("SELECT * FROM read_parquet('{out}/x.parquet')", REFUSED, id="read-parquet"),
    pytest.param("SELECT * FROM read_duckdb('{db}')", REFUSED, id="read-duckdb"),
    pytest.param("SELECT * FROM glob('/etc/*')", REFUSED, id="glob"),
    pytest.param("SELECT * FROM '/etc/passwd'", ("refused", "unknown_table"), id="file-as-table"),
    pytest.param("SELECT path FROM duckdb_databases()", REFUSED, id="duckdb-databases"),
    pytest.param('SELECT * FROM "DuckDB_Settings"()', REFUSED, id="duckdb-settings-quoted"),
    pytest.param("SELECT * FROM duckdb_logs", REFUSED, id="duckdb-view"),
    pytest.param("SELECT * FROM pragma_database_list", REFUSED, id="pragma-view"),
    pytest.param("SELECT * FROM pg_catalog.pg_settings", REFUSED, id="pg-settings"),
    pytest.param("SELECT current_setting('temp_directory')", REFUSED, id="current-setting"),
    pytest.param("SELECT 'temp_directory'.current_setting()", REFUSED, id="current-setting-dot"),
    pytest.param("SELECT current_setting/**/('temp_directory')", REFUSED,
                 id="current-setting-comment"),
    pytest.param("SELECT getenv('HOME')", REFUSED, id="getenv"),
    pytest.param("SHOW temp_directory", REFUSED, id="show-setting"),
    pytest.param("SELECT * FROM query('SELECT path FROM duckdb_databases()')", REFUSED,
                 id="query-from-string"),
    pytest.param("SELECT * FROM json_execute_serialized_sql("
                 "json_serialize_sql('SELECT path FROM duckdb_databases()'))", REFUSED,
                 id="serialized-plan"),
    pytest.param("SELECT 1; COPY artists TO '{out}/c.csv'", REFUSED, id="second-statement"),
    pytest.param("SELECT 1 /* ; */; -- x\nATTACH '{out}/o.duckdb'", REFUSED,
                 id="comment-hidden-second-statement"),
    pytest.param(DEEP, ("too_complex",), id="nested-parentheses"),
    pytest.param("SELECT " + "NOT " * 400 + "TRUE", ("too_complex",), id="not-chain"),
    pytest.param("SELECT " + "CASE WHEN 1 = 1 THEN " * 40 + "1" + " END" * 40, ("too_complex",),
                 id="nested-case"),
    pytest.param("SELECT '" + "x" * 4_000_000 + "'", ("too_complex",), id="four-mb-query"),
    pytest.param("SELECT 1\x00; DROP TABLE artists", ("syntax",), id="nul-character"),
    pytest.param("SELECT '\ud800'", ("syntax",), id="lone-surrogate"),
    pytest.param(CROSS, ("timeout",), id="runaway-cross-join",
                 marks=pytest.mark.slow),  # runs to its timeout
    pytest.param("WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) "
                 "SELECT count(*) FROM r", ("timeout", "too_large"), id="recursive-cte-bomb",
                 marks=pytest.mark.slow),
    pytest.param("SELECT repeat('x', 1000000) AS s FROM range(100)", ("too_large",),
                 id="huge-result"),
    pytest.param(SPILL, ("too_large", "timeout"), id="spilling-sort"),
]


def _listing(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_size if p.is_file() else -1
            for p in root.rglob("*")}


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def built_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("music") / "music.duckdb"
    load_sql_file(EXAMPLE / "schema.sql", target)
    return target


@pytest.fixture
def watched(tmp_path: Path, built_db: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """tmp_path holding a copy of the database; temp files and the working directory inside it."""
    shutil.copy(built_db, tmp_path / "music.duckdb")
    (tmp_path / "out").mkdir()
    (tmp_path / "systmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "systmp"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _task(db: Path) -> Text2SQL:
    """The task, its sandbox with small memory and spill limits so that a spill is quick."""
    task = Text2SQL(db, Text2SQLConfig(timeout_s=1.0))
    task.__dict__["sandbox"] = Sandbox(db, row_cap=task.config.row_cap, timeout_s=1.0,
                                       memory_limit="64MB", max_temp_size="16MB")
    assert task.schema  # the schema is read through the sandbox, like every query
    return task


@pytest.mark.parametrize(("sql", "categories"), HOSTILE)
def test_hostile_sql_is_refused_and_changes_nothing(watched: Path, sql: str, categories: tuple):
    db = watched / "music.duckdb"
    sql = sql.replace("{out}", str(watched / "out")).replace("{db}", str(db))
    before, digest = _listing(watched), _digest(db)
    task = _task(db)
    try:
        check = task.validate(sql)
        assert not check.ok and check.category in categories and check.reason, check
        with pytest.raises(QueryError) as info:
            task.sandbox.execute(sql)
        assert info.value.category in categories and info.value.message, info.value.message
        assert task.sandbox.execute("SELECT count(*) FROM artists").rows == [(15,)]
        assert str(watched) not in check.reason + info.value.message  # no host path comes back
    finally:
        task.close()
    assert _digest(db) == digest
    assert _listing(watched) == before


def test_the_corpus_is_large_enough():
    assert len(HOSTILE) >= 30


def test_spills_go_to_the_sandboxes_own_capped_directory(watched: Path):
    """A sort past the memory limit spills into our temporary directory, never beside the
    database, and stops at the cap; the directory goes when the sandbox closes."""
    db = watched / "music.duckdb"
    box = Sandbox(db, timeout_s=30, memory_limit="64MB", max_temp_size="16MB")
    spill_dirs = list((watched / "systmp").iterdir())
    assert len(spill_dirs) == 1
    with pytest.raises(QueryError) as info:
        box.execute(SPILL)
    assert info.value.category == "too_large"
    assert "temporary disk" in info.value.message
    assert sorted(p.name for p in watched.iterdir()) == ["music.duckdb", "out", "systmp"]
    ok = box.execute("SELECT count(*) FROM (SELECT md5(i::VARCHAR) AS s FROM range(400000) r(i) "
                     "ORDER BY s)")
    assert ok.rows == [(400000,)]  # a smaller spill within the cap still runs
    box.close()
    assert not spill_dirs[0].exists()


def test_result_byte_cap_stops_fetching(watched: Path):
    with Sandbox(watched / "music.duckdb", max_bytes=1_000_000) as box:
        with pytest.raises(QueryError, match="result too large") as info:
            box.execute("SELECT repeat('x', 100000) FROM range(50)")
        assert info.value.category == "too_large"
        assert len(box.execute("SELECT repeat('x', 1000) FROM range(50)").rows) == 50


# -- A: nested and over-long SQL through every entry point ---------------------------------------
NESTED = [DEEP, "SELECT " + "abs(" * 80 + "1" + ")" * 80, "SELECT " + "[" * 70 + "1" + "]" * 70,
          "SELECT * FROM " + "(SELECT * FROM " * 70 + "artists" + ") s" * 70,
          "SELECT " + "NOT " * 600 + "TRUE", "SELECT " + "- " * 3000 + "1",
          "SELECT 1 -- " + "x" * (MAX_SQL_CHARS + 1)]


@pytest.mark.parametrize("sql", NESTED, ids=["parens", "functions", "lists", "subqueries",
                                             "not-chain", "minus-chain", "too-long"])
def test_nested_sql_never_raises(music_db: Path, sql: str):
    task = Text2SQL(music_db, Text2SQLConfig(timeout_s=2.0))
    try:
        check = task.validate(sql)
        assert not check.ok and check.category in ("too_complex", "syntax"), check
        score = task.score(sql, "SELECT 1")
        assert not score.correct and score.category == check.category and score.reason
        assert not task.score("SELECT 1", sql).correct  # a hostile gold is a failed score too
        assert task.describe(sql)["difficulty"] in ("unspecified", "easy")
        assert isinstance(task.dedup_key(sql), str)
        assert task.extract(f"```sql\n{sql}\n```") == sql.strip()
        assert task.agree(sql, sql) in (True, False)
        assert task.training_problem(check) is None
    finally:
        task.close()


def test_depth_limit_leaves_ordinary_nesting_alone(music_db: Path):
    sql = "SELECT " + "(" * (MAX_SQL_DEPTH - 1) + "1" + ")" * (MAX_SQL_DEPTH - 1)
    task = Text2SQL(music_db, Text2SQLConfig())
    try:
        assert task.validate(sql).ok
        assert task.score(sql, "SELECT 1").correct
    finally:
        task.close()


# -- B5: one statement, never cut --------------------------------------------------------------
@pytest.mark.parametrize(("raw", "expected"), [
    ("SELECT 1; COPY artists TO 'x.csv'", "SELECT 1; COPY artists TO 'x.csv'"),
    ("SELECT 1; /* hide */ ATTACH 'x.db'", "SELECT 1; /* hide */ ATTACH 'x.db'"),
    ("SELECT 1;\n-- done", "SELECT 1"),
    ("SELECT 1;;", "SELECT 1"),
    ("SELECT ';' AS s; This returns a semicolon.", "SELECT ';' AS s"),
    ("```sql\nSELECT 1;\n```\nThat counts it.", "SELECT 1"),
])
def test_extract_keeps_a_second_statement_for_validation_to_refuse(raw: str, expected: str):
    assert extract_sql(raw) == expected


def test_extract_is_linear_on_long_blank_runs():
    assert extract_sql("SELECT 1" + "\n" * 200_000 + "x").startswith("SELECT 1")
    assert extract_sql("\n" * 200_000 + "x") == "x"


# -- C: schema files -----------------------------------------------------------------------------
SCHEMAS = [
    pytest.param("CREATE TABLE t (a INT);\nINSERT INTO t VALUES (1);\nCOPY t TO '{out}/t.csv';\n",
                 3, "COPY", id="copy-to"),
    pytest.param("CREATE TABLE h AS SELECT * FROM read_text('/etc/hostname');\n", 1, "read_text",
                 id="read-host-file"),
    pytest.param("CREATE TABLE t (a INT);\n\nINSTALL httpfs;\n", 3, "INSTALL", id="install"),
    pytest.param("CREATE TABLE t (a INT);\nLOAD httpfs;\n", 2, "LOAD", id="load"),
    pytest.param("CREATE TABLE t (a INT);\nATTACH '{out}/o.duckdb' AS o;\n", 2, "ATTACH",
                 id="attach"),
    pytest.param("CREATE TABLE t (a INT);\nEXPORT DATABASE '{out}/e';\n", 2, "EXPORT",
                 id="export"),
    pytest.param("CREATE TABLE t (a INT);\nPRAGMA database_list;\n", 2, "PRAGMA", id="pragma"),
    pytest.param("CREATE TABLE t (a INT);\nSELECT * FROM t;\n", 2, "SELECT", id="select"),
    pytest.param("CREATE MACRO m(x) AS x;\n", 1, "CREATE MACRO", id="macro"),
    pytest.param("CREATE TABLE t (a VARCHAR);\n-- note\nINSERT INTO t SELECT path FROM "
                 "duckdb_databases();\n", 3, "duckdb_databases", id="insert-catalogue"),
    pytest.param("CREATE TABLE t (a VARCHAR);\nINSERT INTO t VALUES "
                 "(current_setting('temp_directory'));\n", 2, "current_setting",
                 id="insert-setting"),
    pytest.param("CREATE TABLE t (a INT); /* x */ COPY t TO '{out}/h.csv';\n", 1, "COPY",
                 id="comment-hidden"),
]


@pytest.mark.parametrize(("text", "line", "what"), SCHEMAS)
def test_hostile_schema_file_is_refused_with_its_line(watched: Path, text: str, line: int,
                                                     what: str):
    from slm_distill.tools.workspace.project import init_project

    schema = watched / "schema.sql"
    schema.write_text(text.replace("{out}", str(watched / "out")), encoding="utf-8")
    before = _listing(watched)
    with pytest.raises(UsageError) as info:
        init_project(watched / "proj", schema=schema, teacher=EXAMPLE_TEACHER,
                     student="scratch:tiny")
    assert f"{schema}:{line}:" in str(info.value) and what in str(info.value), str(info.value)
    assert _listing(watched) == before  # no project, no output file, no temporary build left


def test_schema_file_with_ddl_and_inserts_still_loads(tmp_path: Path):
    schema = tmp_path / "ok.sql"
    schema.write_text("BEGIN TRANSACTION;\nDROP TABLE IF EXISTS t;\nCREATE SCHEMA s;\n"
                      "CREATE SEQUENCE q;\nCREATE TYPE mood AS ENUM ('ok', 'sad');\n"
                      "CREATE TABLE t (a INT, m mood);\nCREATE INDEX i ON t (a);\n"
                      "COMMENT ON TABLE t IS 'x';\nINSERT INTO t VALUES (1, 'ok');\n"
                      "INSERT INTO t SELECT a + 1, m FROM t;\nALTER TABLE t ADD COLUMN b INT;\n"
                      "CREATE VIEW v AS SELECT a FROM t;\nCOMMIT;\n", encoding="utf-8")
    assert load_sql_file(schema, tmp_path / "ok.duckdb") == ["t"]


def test_oversized_schema_file_is_refused_before_reading(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch):
    import slm_distill.tools.tasks.sqlload as sqlload

    schema = tmp_path / "big.sql"
    schema.write_text("CREATE TABLE t (a INT);\n" * 10, encoding="utf-8")
    monkeypatch.setattr(sqlload, "MAX_SCHEMA_BYTES", 100)
    with pytest.raises(UsageError, match="larger than a schema file may be"):
        load_sql_file(schema, tmp_path / "big.duckdb")
    assert not (tmp_path / "big.duckdb").exists()
    assert MAX_SCHEMA_BYTES == 200 * 1024 * 1024


@pytest.mark.parametrize("raw", [
    "[" * 100_000 + "]" * 100_000, '{"a": ' * 100_000 + "1" + "}" * 100_000,
    '[{"input": "q", "output": "SELECT 1"}, ' + "[" * 100_000 + "]" * 100_000 + "]",
    '[{"input": "q", "output": ' + "1" * 5000 + "}]", '{"n": ' + "1" * 5000 + "}",
])
def test_proposal_parsing_never_raises(raw: str):
    from slm_distill.tools.tasks.base import parse_json_items

    assert parse_json_items(raw) == []


def test_validation_keeps_its_categories_for_ordinary_mistakes(music_db: Path):
    task = Text2SQL(music_db, Text2SQLConfig())
    try:
        assert task.validate("SELEC 1").category == "syntax"
        assert task.validate("SELECT nope FROM artists").category == "unknown_column"
        assert task.validate("SELECT 1;").ok
        assert task.validate("SELECT 'duckdb_databases()' AS query").ok
    finally:
        task.close()
