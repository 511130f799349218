"""The DuckDB sandbox refuses or stops every escape, each with its own test."""

from __future__ import annotations

import time
from pathlib import Path

import duckdb
import pytest

from slm_distill.tools.tasks.sandbox import (
    _SPILL_DIRS,
    MAX_TEMP_SIZE,
    QueryError,
    Sandbox,
    connect_readonly,
)


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


def test_spills_use_a_temporary_directory_of_the_sandbox_not_the_database_folder(db, tmp_path):
    first, second = Sandbox(db), Sandbox(db)  # one file, one configuration: both open
    spill = Path(_SPILL_DIRS.path(db))
    assert spill.is_dir() and tmp_path not in spill.parents
    conn = connect_readonly(db)
    settings = dict(conn.execute(
        "SELECT name, value FROM duckdb_settings() WHERE name IN "
        "('temp_directory', 'max_temp_directory_size', 'enable_external_access', "
        "'lock_configuration')").fetchall())
    conn.close()
    assert settings["temp_directory"] == str(spill)
    assert MAX_TEMP_SIZE == "256MB" and settings["max_temp_directory_size"] == "244.1 MiB"
    assert settings["enable_external_access"] == "false" and settings["lock_configuration"] == "true"
    first.close()
    assert spill.is_dir()  # still held by the second sandbox
    second.close()
    assert not spill.exists()


@pytest.mark.parametrize("sql", [
    "SELECT path FROM duckdb_databases()", "SELECT * FROM duckdb_settings()",
    "SELECT value FROM pragma_database_list", "SELECT current_setting('temp_directory')",
    "SELECT * FROM pg_settings", "SHOW temp_directory", "DESCRIBE t",
    "SELECT * FROM query('SELECT 1')", "SELECT * FROM main.\"duckdb_tables\"()",
])
def test_catalogue_settings_and_sql_from_strings_are_refused(box, sql):
    error = refused(box, sql)
    assert error.category == "refused" and "/" not in error.message


def test_ordinary_queries_that_merely_look_alike_still_run(box):
    assert box.execute("SELECT 'duckdb_databases()' AS read_me, i AS query FROM t LIMIT 1").rows
    assert box.execute("SELECT i FROM t WHERE NOT (i > 5) AND i IS NOT NULL LIMIT 1").rows


def test_permission_errors_do_not_echo_host_paths(box):
    error = refused(box, "SELECT * FROM '/etc/hostname.csv'")
    assert error.category == "refused" and "/etc" not in error.message, error.message
    assert refused(box, "SELECT * FROM parquet_scan('/etc/x.parquet')").category == "refused"


def test_result_byte_cap(db):
    with Sandbox(db, max_bytes=200_000) as box:
        error = refused(box, "SELECT repeat('x', 10000) FROM t")
        assert error.category == "too_large" and "result too large" in error.message
        assert len(box.execute("SELECT i FROM t LIMIT 50").rows) == 50


def test_over_long_and_deep_sql_is_refused_before_duckdb_parses_it(box):
    assert refused(box, "SELECT 1 -- " + "x" * 4_000_000).category == "too_complex"
    assert refused(box, "SELECT " + "(" * 100 + "1" + ")" * 100).category == "too_complex"
    assert refused(box, "SELECT 1; SELECT 2").category == "refused"
    assert box.execute("SELECT 1;").rows == [(1,)]


def test_the_watchdog_acts_outside_its_lock_and_disarm_waits_for_the_action():
    import threading

    from slm_distill.tools.tasks.database import Watchdog

    dog, started, release, done = Watchdog(), threading.Event(), threading.Event(), []

    def slow_cancel():  # a PostgreSQL cancel waiting on the network, say
        started.set()
        release.wait(5)
        done.append("first")

    first = dog.arm(0.01, slow_cancel)
    assert started.wait(5)
    t0 = time.monotonic()
    second = dog.arm(0.01, lambda: done.append("second"))  # not held up by the running action
    assert time.monotonic() - t0 < 0.5
    waiter = threading.Thread(target=dog.disarm, args=(first,))
    waiter.start()
    waiter.join(0.2)
    assert waiter.is_alive()  # the action is still running: disarm waits for it
    release.set()
    waiter.join(5)
    assert not waiter.is_alive() and done[0] == "first"
    deadline = time.monotonic() + 5
    while "second" not in done and time.monotonic() < deadline:
        time.sleep(0.01)
    assert done == ["first", "second"]
    dog.disarm(second)
    later = dog.arm(0.05, lambda: done.append("never"))
    dog.disarm(later)
    time.sleep(0.2)
    assert "never" not in done


def test_an_action_that_disarms_its_own_token_does_not_stop_the_watchdog():
    import threading

    from slm_distill.tools.tasks.database import Watchdog

    dog, fired = Watchdog(), threading.Event()
    token = {}
    token["self"] = dog.arm(0.01, lambda: dog.disarm(token["self"]))
    later = dog.arm(0.05, fired.set)
    assert fired.wait(5)  # the watchdog thread is still serving other deadlines
    dog.disarm(later)
