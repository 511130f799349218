"""SQLite and PostgreSQL sandboxes: every escape the DuckDB sandbox refuses is refused or cut here
too, and the database is unchanged afterwards (SQLite: the file's hash; PostgreSQL: row counts
and pg_stat_database's write counters). Each engine also refuses on its own, without the
statement checks in front of it (defence in depth)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from slm_distill.tools.tasks import postgres_db, sqlite_db
from slm_distill.tools.tasks.database import DatabaseSource, QueryError, sniff_file
from slm_distill.tools.tasks.postgres_db import PostgresDatabase
from slm_distill.tools.tasks.sqlite_db import SQLiteDatabase
from slm_distill.tools.tasks.text2sql import Text2SQL
from slm_distill.tools.workspace.config import Text2SQLConfig
from tests.conftest import sqlite_example
from tests.pgserver import READER_PASSWORD, WRITER_PASSWORD

SLOW_SQLITE = ("WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c) "
               "SELECT count(*) FROM c")
MANY_ROWS_SQLITE = ("WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c "
                    "WHERE i < 50000) SELECT i FROM c")
SLOW_PG = ("SELECT count(*) FROM generate_series(1, 100000) a, generate_series(1, 100000) b")

# (sql, categories it may fail with): what every engine must refuse. {path} is a file outside.
ESCAPES_SQLITE = [
    ("INSERT INTO artists VALUES (99, 'x', 'y', 2000)", {"refused"}),
    ("UPDATE artists SET name = 'x'", {"refused"}),
    ("DELETE FROM artists", {"refused"}),
    ("DROP TABLE artists", {"refused"}),
    ("CREATE TABLE x (a INT)", {"refused"}),
    ("CREATE TEMP TABLE x AS SELECT 1", {"refused"}),
    ("ATTACH DATABASE '{path}' AS other", {"refused"}),
    ("SELECT load_extension('/tmp/evil')", {"refused"}),
    ("SELECT readfile('/etc/passwd')", {"refused"}),
    ("PRAGMA query_only = OFF", {"refused"}),
    ("PRAGMA journal_mode = DELETE", {"refused"}),
    ("SELECT * FROM pragma_table_info('artists')", {"refused"}),
    ("SELECT sql FROM sqlite_master", {"refused"}),
    ("VACUUM INTO '{path}'", {"refused"}),
    ("SELECT 1; DELETE FROM artists", {"refused"}),
    ("BEGIN IMMEDIATE", {"refused"}),
    ("WITH x AS (SELECT 1) DELETE FROM artists", {"refused"}),
    (SLOW_SQLITE, {"timeout"}),
    ("SELECT zeroblob(500000000)", {"too_large"}),
]
ESCAPES_PG = [
    ("INSERT INTO artists VALUES (99, 'x', 'y', 2000)", {"refused"}),
    ("UPDATE artists SET name = 'x'", {"refused"}),
    ("DELETE FROM artists", {"refused"}),
    ("TRUNCATE artists", {"refused"}),
    ("DROP TABLE artists", {"refused"}),
    ("CREATE TABLE x (a INT)", {"refused"}),
    ("CREATE TEMP TABLE x AS SELECT 1", {"refused"}),
    ("SELECT * INTO new_table FROM artists", {"refused"}),
    ("WITH gone AS (DELETE FROM artists RETURNING *) SELECT count(*) FROM gone", {"refused"}),
    ("SELECT * FROM artists FOR UPDATE", {"refused"}),
    ("COPY artists TO '{path}'", {"refused"}),
    ("COPY (SELECT 1) TO PROGRAM 'touch {path}'", {"refused"}),
    ("SELECT pg_read_file('/etc/passwd')", {"refused"}),
    ("SELECT lo_import('/etc/passwd')", {"refused"}),
    ("SELECT * FROM dblink('host=127.0.0.1', 'SELECT 1') AS t(a int)", {"refused"}),
    ("LOAD 'plpgsql'", {"refused"}),
    ("SET statement_timeout = 0", {"refused"}),
    ("SELECT set_config('statement_timeout', '0', false)", {"refused"}),
    ("SELECT current_setting('data_directory')", {"refused"}),
    ("SELECT * FROM pg_catalog.pg_shadow", {"refused"}),
    ('SELECT U&"\\0070g_read_file"(\'/etc/passwd\')', {"refused"}),  # pg_read_file, escaped
    ('SELECT * FROM U&"!0070g_shadow" UESCAPE \'!\'', {"refused"}),
    ("SELECT * FROM information_schema.tables", {"refused"}),
    ("SELECT nextval('s')", {"refused"}),
    ("SELECT pg_sleep(30)", {"refused"}),
    ("SELECT 1; DELETE FROM artists", {"refused"}),
    ("DO $$ BEGIN DELETE FROM artists; END $$", {"refused"}),
    ("BEGIN; DELETE FROM artists; COMMIT", {"refused"}),
    (SLOW_PG, {"timeout"}),
]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def refused_both_ways(task: Text2SQL, sql: str, categories: set[str]) -> None:
    """Validation refuses `sql`, the sandbox alone refuses or cuts it with one of `categories`,
    and the sandbox still answers afterwards."""
    try:
        check = task.validate(sql)
        assert not check.ok and check.category in categories | {"syntax"}, check
        with pytest.raises(QueryError) as info:
            task.sandbox.execute(sql)
        assert info.value.category in categories, (info.value.category, info.value.message)
        assert task.sandbox.execute("SELECT count(*) FROM artists").rows == [(15,)]
    finally:
        task.close()


# -- SQLite ------------------------------------------------------------------------------------
@pytest.fixture
def shop_sqlite(tmp_path: Path) -> Path:
    return sqlite_example(tmp_path / "shop.sqlite")


def test_sqlite_files_are_recognised_by_their_header(shop_sqlite, music_db, tmp_path):
    assert sniff_file(shop_sqlite) == "sqlite" and sniff_file(music_db) == "duckdb"
    (tmp_path / "notes.txt").write_text("SQLite format 2 is not a thing")
    assert sniff_file(tmp_path / "notes.txt") is None and sniff_file(tmp_path / "gone") is None


def test_sqlite_runs_queries_and_describes_its_tables(shop_sqlite):
    with SQLiteDatabase(shop_sqlite) as db:
        assert db.execute("SELECT count(*) FROM artists").rows == [(15,)]
        tables = {t.name: t for t in db.tables(sample_rows=2)}
        assert set(tables) == {"albums", "artists", "customers", "invoice_items", "invoices",
                               "tracks"}
        assert tables["artists"].columns == ["artist_id", "name", "country", "formed_year"]
        assert tables["artists"].ddl.startswith("CREATE TABLE") and len(tables["albums"].rows) == 2


@pytest.mark.parametrize(("sql", "categories"), ESCAPES_SQLITE)
def test_sqlite_refuses_or_cuts_every_escape_and_the_file_is_unchanged(
        shop_sqlite, tmp_path, sql, categories):
    sql = sql.replace("{path}", str(tmp_path / "other.db"))
    before = digest(shop_sqlite)
    refused_both_ways(Text2SQL(shop_sqlite, Text2SQLConfig(timeout_s=0.5)), sql, categories)
    assert digest(shop_sqlite) == before
    assert not (tmp_path / "other.db").exists()


@pytest.mark.parametrize("sql", [
    "INSERT INTO artists VALUES (99, 'x', 'y', 2000)", "DROP TABLE artists",
    "PRAGMA query_only = OFF", "ATTACH DATABASE ':memory:' AS m", "SELECT load_extension('x')",
    "SELECT name FROM sqlite_master", "CREATE TEMP TABLE t AS SELECT 1"])
def test_the_sqlite_connection_refuses_on_its_own(shop_sqlite, monkeypatch, sql):
    """With the statement check switched off, the authorizer and query_only still refuse."""
    monkeypatch.setattr(sqlite_db, "statement_problem", lambda *a, **k: None)
    before = digest(shop_sqlite)
    with SQLiteDatabase(shop_sqlite) as db:
        with pytest.raises(QueryError) as info:
            db.execute(sql)
        assert info.value.category == "refused", info.value.message
    assert digest(shop_sqlite) == before


def test_sqlite_row_cap_and_recursive_ctes(shop_sqlite):
    with SQLiteDatabase(shop_sqlite, row_cap=1000) as db:
        result = db.execute(MANY_ROWS_SQLITE)
        assert len(result.rows) == 1000 and result.truncated
        assert db.execute("SELECT upper(name) FROM artists WHERE artist_id = 1").rows == [
            ("THE VELVET ORCHARDS",)]


def test_sqlite_timeout_leaves_the_connection_usable(shop_sqlite):
    with SQLiteDatabase(shop_sqlite, timeout_s=0.3) as db:
        with pytest.raises(QueryError) as info:
            db.execute(SLOW_SQLITE)
        assert info.value.category == "timeout" and "0.3s" in info.value.message
        assert db.execute("SELECT count(*) FROM albums").rows == [(30,)]


def test_sqlite_reports_unknown_names_by_category(shop_sqlite):
    with SQLiteDatabase(shop_sqlite) as db:
        for sql, category in (("SELECT * FROM nope", "unknown_table"),
                              ("SELECT nope FROM artists", "unknown_column"),
                              ("SELEC 1", "syntax")):
            with pytest.raises(QueryError) as info:
                db.execute(sql)
            assert info.value.category == category, info.value.message


def test_a_sqlite_project_writes_and_checks_sqlite_sql(shop_sqlite):
    task = Text2SQL(shop_sqlite, Text2SQLConfig())
    try:
        assert "SQLite SQL" in task.student_messages("q")[0]["content"]
        assert "SQLite" in task.teacher_messages("q")[0]["content"]
        assert "SQLite SQL" in task.card_text()
        # SQLite's own syntax validates; DuckDB-only syntax does not
        assert task.validate("SELECT strftime('%Y', release_date) FROM albums").ok
        assert task.validate('SELECT name FROM artists WHERE country = "USA"').ok  # SQLite quirk
        assert not task.validate("SELECT list_value(1, 2)").ok
        gold = "SELECT count(*) FROM albums WHERE strftime('%Y', release_date) = '2019'"
        assert task.score("SELECT count(*) FROM albums WHERE release_date LIKE '2019%'",
                          gold).correct
    finally:
        task.close()


# -- PostgreSQL ---------------------------------------------------------------------------------
@pytest.fixture
def reader(pg, monkeypatch):
    monkeypatch.setenv("PGPASSWORD", READER_PASSWORD)
    db = PostgresDatabase(pg.url(), timeout_s=1.0, row_cap=1000)
    yield db
    db.close()


def test_postgres_runs_queries_and_describes_its_tables(reader):
    assert reader.execute("SELECT count(*) FROM artists").rows == [(15,)]
    tables = {t.name: t for t in reader.tables(sample_rows=2)}
    assert tables["albums"].columns == ["album_id", "artist_id", "title", "release_date", "genre"]
    assert "PRIMARY KEY (album_id)" in tables["albums"].ddl
    assert "FOREIGN KEY (artist_id) REFERENCES artists (artist_id)" in tables["albums"].ddl
    assert len(tables["tracks"].rows) == 2 and reader.writable_tables() == []
    many = reader.execute("SELECT * FROM generate_series(1, 50000)")
    assert len(many.rows) == 1000 and many.truncated


@pytest.mark.parametrize(("sql", "categories"), ESCAPES_PG)
def test_postgres_refuses_or_cuts_every_escape_and_nothing_changes(
        pg, monkeypatch, tmp_path, sql, categories):
    monkeypatch.setenv("PGPASSWORD", READER_PASSWORD)
    sql = sql.replace("{path}", str(tmp_path / "out"))
    before = pg.counts()
    refused_both_ways(Text2SQL(DatabaseSource("postgres", url=pg.url()),
                               Text2SQLConfig(timeout_s=1.0)), sql, categories)
    assert pg.counts() == before
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("sql", [
    "INSERT INTO artists VALUES (99, 'x', 'y', 2000)", "DELETE FROM artists",
    "CREATE TEMP TABLE t AS SELECT 1", "SELECT * INTO t2 FROM artists",
    "WITH gone AS (DELETE FROM artists RETURNING *) SELECT count(*) FROM gone",
    "SELECT set_config('default_transaction_read_only', 'off', false)"])
def test_a_user_that_can_write_still_cannot_through_the_sandbox(pg, monkeypatch, sql):
    """The writer role may write; with the statement check off, the read-only transaction (always
    rolled back) still stops every write, and no setting outlives its query."""
    monkeypatch.setattr(postgres_db, "statement_problem", lambda *a, **k: None)
    monkeypatch.setenv("PGPASSWORD", WRITER_PASSWORD)
    before = pg.counts()
    with PostgresDatabase(pg.url("writer"), timeout_s=2.0) as db:
        assert "artists" in db.writable_tables()
        try:
            db.execute(sql)
        except QueryError as exc:
            assert exc.category in ("refused", "runtime", "syntax"), exc.message
        assert db.execute("SELECT current_setting('default_transaction_read_only')").rows == [
            ("on",)]
        with pytest.raises(QueryError):
            db.execute("DELETE FROM artists")
    assert pg.counts() == before


@pytest.mark.parametrize("sql", [
    "COPY artists TO '{path}'", "COPY (SELECT 1) TO PROGRAM 'touch {path}'",
    "SELECT pg_read_file('/etc/hostname')", "SELECT lo_import('/etc/hostname')",
    "SELECT * FROM dblink('host=127.0.0.1', 'SELECT 1') AS t(a int)",
    "DO $$ BEGIN DELETE FROM artists; END $$", "SET statement_timeout = 0",
    "SELECT 1; DELETE FROM artists", "BEGIN; DELETE FROM artists; COMMIT",
    "SELECT set_config('statement_timeout', '0', false)", "LOAD 'plpgsql'"])
def test_the_postgres_server_refuses_on_its_own(pg, monkeypatch, tmp_path, sql):
    """With the statement check off, the read-only role and the cursor every query runs through
    (one statement, a query) still stop each escape, and no setting outlives its query."""
    monkeypatch.setattr(postgres_db, "statement_problem", lambda *a, **k: None)
    monkeypatch.setattr(postgres_db, "writes_problem", lambda *a, **k: None)
    monkeypatch.setenv("PGPASSWORD", READER_PASSWORD)
    sql = sql.replace("{path}", str(tmp_path / "out"))
    before = pg.counts()
    with PostgresDatabase(pg.url(), timeout_s=2.0) as db:
        try:
            rows = db.execute(sql).rows
        except QueryError as exc:
            assert exc.category in ("refused", "syntax", "unknown_table", "runtime"), exc.message
        else:  # set_config runs, but only inside its own rolled-back transaction
            assert sql.startswith("SELECT set_config") and rows == [("0",)]
        assert db.execute("SELECT current_setting('statement_timeout')").rows == [("2s",)]
    assert pg.counts() == before
    assert not (tmp_path / "out").exists()


def test_postgres_timeout_cuts_a_long_query_and_the_pool_goes_on(reader):
    with pytest.raises(QueryError) as info:
        reader.execute(SLOW_PG)
    assert info.value.category == "timeout"
    assert reader.execute("SELECT count(*) FROM albums").rows == [(30,)]


def test_postgres_serves_concurrent_queries(reader):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(8) as pool:
        counts = list(pool.map(lambda _: reader.execute(
            "SELECT count(*) FROM invoice_items").rows[0][0], range(40)))
    assert counts == [286] * 40


def test_a_postgres_project_writes_and_checks_postgres_sql(pg, monkeypatch):
    monkeypatch.setenv("PGPASSWORD", READER_PASSWORD)
    task = Text2SQL(DatabaseSource("postgres", url=pg.url()), Text2SQLConfig())
    try:
        assert "PostgreSQL SQL" in task.student_messages("q")[0]["content"]
        assert "PRIMARY KEY" in task.schema_text and "DATE '" in task.schema_text
        assert task.validate("SELECT to_char(release_date, 'YYYY') FROM albums").ok
        assert task.validate("SELECT title FROM albums WHERE title ILIKE '%glass%'").ok
        gold = "SELECT count(*) FROM albums WHERE EXTRACT(YEAR FROM release_date) = 2019"
        assert task.score("SELECT count(*) FROM albums WHERE to_char(release_date, 'YYYY') = "
                          "'2019'", gold).correct
    finally:
        task.close()


LITERALS = [None, True, 39.25, -7, "it's", b"\x00\xffA", float("nan"), float("inf"),
            float("-inf"), __import__("datetime").date(2026, 5, 1)]


def _reads_back(value: object, got: object) -> bool:
    if isinstance(value, float) and value != value:
        return got is None or got != got  # SQLite has no NaN: NULL
    if isinstance(value, bool):
        return got in (value, int(value))  # SQLite's TRUE is 1
    if isinstance(value, bytes):
        return bytes(got) == value
    return got == value or str(got) == value.isoformat()  # SQLite keeps dates as text


@pytest.mark.parametrize("engine", ["duckdb", "sqlite", "postgres"])
def test_sample_values_read_back_in_each_engine(engine, request):
    """What the prompts show as a sample value is a literal the engine itself reads back as that
    value: blobs, NaN and the infinities included."""
    import sqlite3

    import duckdb

    from slm_distill.tools.tasks.text2sql import sql_literal

    if engine == "postgres":
        import psycopg

        pg = request.getfixturevalue("pg")
        conn = psycopg.connect(pg.url(), password=READER_PASSWORD)
    else:
        conn = duckdb.connect() if engine == "duckdb" else sqlite3.connect(":memory:")
    try:
        for value in LITERALS:
            literal = sql_literal(value, engine)
            got = conn.execute(f"SELECT {literal}").fetchone()[0]
            assert _reads_back(value, got), (engine, value, literal, got)
    finally:
        conn.close()
