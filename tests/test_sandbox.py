"""The DuckDB sandbox refuses or stops every escape, each with its own test."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from slm_distill.tools.tasks.sandbox import QueryError, Sandbox, connect_readonly


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "t.duckdb"
    with duckdb.connect(str(path)) as conn:
        conn.execute("CREATE TABLE t AS SELECT range AS i FROM range(20000)")
    return path


@pytest.fixture
def box(db: Path):
    with Sandbox(db, row_cap=100, timeout_s=1.0) as sandbox:
        yield sandbox


def refused(box: Sandbox, sql: str) -> QueryError:
    with pytest.raises(QueryError) as info:
        box.execute(sql)
    return info.value


def test_copy_to_file_is_refused(box, tmp_path):
    target = tmp_path / "out.csv"
    refused(box, f"COPY t TO '{target}'")
    assert not target.exists()


def test_reading_local_files_is_refused(box):
    for sql in ("SELECT * FROM read_csv('/etc/passwd')", "SELECT * FROM read_text('/etc/passwd')",
                "SELECT * FROM glob('/etc/*')", "SELECT * FROM '/etc/passwd'"):
        assert refused(box, sql).category in ("refused", "runtime", "unknown_table")


def test_attach_install_load_set_are_refused(box, tmp_path):
    for sql in (f"ATTACH '{tmp_path / 'other.db'}' AS o", "INSTALL sqlite", "LOAD sqlite",
                "SET threads = 8", "PRAGMA threads = 8", "CREATE TABLE x (a INT)",
                "CREATE TEMP TABLE x AS SELECT 1", "DROP TABLE t", "SELECT 1; SELECT 2"):
        assert refused(box, sql).category == "refused", sql
    assert not (tmp_path / "other.db").exists()


def test_the_connection_itself_refuses_escapes_without_our_statement_check(db, tmp_path):
    """Defence in depth: the DuckDB configuration alone blocks what the statement check blocks."""
    conn = connect_readonly(db)
    for sql in (f"COPY t TO '{tmp_path / 'x.csv'}'", "SELECT * FROM read_csv('/etc/passwd')",
                f"ATTACH '{tmp_path / 'o.db'}'", "INSTALL sqlite", "SET threads = 8",
                "SET enable_external_access = true", "CREATE TABLE x (a INT)"):
        with pytest.raises(duckdb.Error):
            conn.execute(sql)
    assert not (tmp_path / "x.csv").exists()
    conn.close()


def test_runaway_cross_join_is_interrupted_and_connection_survives(box):
    error = refused(box, "SELECT count(*) FROM t a, t b, t c WHERE (a.i * 7 + b.i * 13 + c.i) % 1000003 = 17")
    assert error.category == "timeout"
    assert box.execute("SELECT 42").rows == [(42,)]


def test_row_cap_truncates(box):
    result = box.execute("SELECT * FROM t")
    assert len(result.rows) == 100 and result.truncated


def test_errors_are_categorised(box):
    assert refused(box, "SELEC 1").category == "syntax"
    assert refused(box, "SELECT nope FROM t").category == "unknown_column"
    assert refused(box, "SELECT * FROM nope").category == "unknown_table"
    assert refused(box, "SELECT 1 / 0 = 'x'::INT").category == "runtime"
