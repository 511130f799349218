"""Run untrusted SQL against a DuckDB database, safely.

Every connection is read-only, with external access disabled, extensions neither installed nor
loaded, a memory limit, spills confined to a temporary directory of our own with a size cap, and
the configuration locked. Each query is bounded in length and nesting before DuckDB parses it, must
be one query that names none of DuckDB's settings, catalogue or file functions (see sqlguard), and
runs under a timeout enforced from another thread with `interrupt()`, a row cap and a byte cap on
what is fetched.

    with Sandbox(Path("shop.duckdb"), row_cap=1000, timeout_s=5) as box:
        result = box.execute("SELECT count(*) FROM customers")
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import threading
import time
from pathlib import Path

import duckdb

from slm_distill.tools.tasks.database import (
    MAX_RESULT_BYTES,
    WATCHDOG,
    Database,
    ErrorCategory,
    QueryError,
    QueryResult,
    TableInfo,
    fetch_capped,
    short,
)
from slm_distill.tools.tasks.sqlguard import statement_problem, text_problem

MEMORY_LIMIT = "1GB"  # DuckDB's buffer memory per database (sorts and joins spill beyond it)
MAX_TEMP_SIZE = "256MB"  # what spills may write to the sandbox's own temporary directory


class _SpillDirs:
    """One temporary directory per database file in this process, for DuckDB's spills (by default
    they go next to the database). Every connection to a file shares it: DuckDB refuses a second
    connection to a file with another configuration in one process. Sandboxes hold a reference;
    the directory goes when the last one closes, or when the process exits."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._dirs: dict[str, list] = {}  # resolved db path -> [directory, sandboxes holding it]

    def path(self, db_path: Path, *, hold: bool = False) -> str:
        key = str(Path(db_path).resolve())
        with self._lock:
            entry = self._dirs.get(key)
            if entry is None:
                entry = self._dirs[key] = [tempfile.mkdtemp(prefix="distill-sandbox-"), 0]
            entry[1] += hold
            return entry[0]

    def release(self, db_path: Path) -> None:
        key = str(Path(db_path).resolve())
        with self._lock:
            entry = self._dirs.get(key)
            if entry is None:
                return
            entry[1] -= 1
            if entry[1] <= 0:
                del self._dirs[key]
                shutil.rmtree(entry[0], ignore_errors=True)

    def remove_all(self) -> None:
        with self._lock:
            for directory, _ in self._dirs.values():
                shutil.rmtree(directory, ignore_errors=True)
            self._dirs.clear()


_SPILL_DIRS = _SpillDirs()
atexit.register(_SPILL_DIRS.remove_all)


def _config(memory_limit: str, temp_dir: str, max_temp_size: str = MAX_TEMP_SIZE) -> dict:
    return {
        "enable_external_access": False,
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
        "allow_community_extensions": False,
        "memory_limit": memory_limit,
        "threads": 1,
        "temp_directory": temp_dir,
        "max_temp_directory_size": max_temp_size,
        "lock_configuration": True,
    }


def connect_readonly(db_path: Path, memory_limit: str = MEMORY_LIMIT, *,
                     max_temp_size: str = MAX_TEMP_SIZE) -> duckdb.DuckDBPyConnection:
    config = _config(memory_limit, _SPILL_DIRS.path(db_path), max_temp_size)
    return duckdb.connect(str(db_path), read_only=True, config=config)


def _categorise(exc: BaseException) -> ErrorCategory:  # noqa: PLR0911 - one case per kind
    text = str(exc)
    if isinstance(exc, duckdb.InterruptException):
        return "timeout"
    if isinstance(exc, duckdb.OutOfMemoryException | MemoryError):
        return "too_large"
    if "max expression depth" in text.lower():
        return "too_complex"
    if isinstance(exc, duckdb.ParserException):
        return "syntax"
    if isinstance(exc, duckdb.CatalogException) and "Table" in text:
        return "unknown_table"
    if isinstance(exc, duckdb.BinderException) and ("column" in text.lower()):
        return "unknown_column"
    if isinstance(exc, duckdb.PermissionException):
        return "refused"
    return "runtime"


def _message(category: ErrorCategory, exc: BaseException) -> str:
    if category == "refused":  # DuckDB's text names paths on this machine
        return "refused: the query reaches for files, extensions or settings outside the database"
    if category == "too_complex":
        return "the query nests expressions too deeply for DuckDB"
    if category == "too_large":
        return f"the query needs more memory or temporary disk than the sandbox allows: {short(exc)}"
    return short(exc)


class Sandbox(Database):
    """A read-only DuckDB connection that runs one query at a time under a timeout, a row cap and
    a byte cap on the fetched result."""

    engine = "duckdb"

    def __init__(self, db_path: Path, *, row_cap: int = 10_000, timeout_s: float = 10.0,
                 max_bytes: int = MAX_RESULT_BYTES, memory_limit: str = MEMORY_LIMIT,
                 max_temp_size: str = MAX_TEMP_SIZE) -> None:
        self.db_path = Path(db_path)
        self.row_cap = row_cap
        self.timeout_s = timeout_s
        self.max_bytes = max_bytes
        _SPILL_DIRS.path(self.db_path, hold=True)
        try:
            self._conn = connect_readonly(self.db_path, memory_limit, max_temp_size=max_temp_size)
        except BaseException:
            _SPILL_DIRS.release(self.db_path)
            raise
        self._lock = threading.Lock()
        self._closed = False

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._conn.close()
        _SPILL_DIRS.release(self.db_path)

    def tables(self, sample_rows: int = 0) -> list[TableInfo]:
        """Tables and views, with DuckDB's own DDL (read from the catalogue, which the sandbox's
        queries may not name) and the first `sample_rows` rows."""
        with self._lock:
            cursor = self._conn.cursor()
            try:
                found = cursor.execute(
                    "SELECT table_name, sql FROM duckdb_tables() WHERE NOT internal UNION ALL "
                    "SELECT view_name, sql FROM duckdb_views() WHERE NOT internal ORDER BY 1"
                ).fetchall()
                columns: dict[str, list[str]] = {}
                for table, column in cursor.execute(
                        "SELECT table_name, column_name FROM duckdb_columns() WHERE NOT internal "
                        "ORDER BY table_name, column_index").fetchall():
                    columns.setdefault(table, []).append(column)
                out = []
                for name, ddl in found:
                    rows = (cursor.execute(f'SELECT * FROM "{name}" LIMIT {int(sample_rows)}')
                            .fetchall() if sample_rows else [])
                    out.append(TableInfo(name, ddl.strip().rstrip(";") + ";",
                                         columns.get(name, []), rows))
                return out
            finally:
                cursor.close()

    def execute(self, sql: str) -> QueryResult:
        """Run one read-only query; raise QueryError on refusal, error, timeout or cap."""
        problem = text_problem(sql)
        if problem:
            raise QueryError(*problem)
        with self._lock:
            cursor = self._conn.cursor()
            try:
                self._check_statement(cursor, sql)
                problem = statement_problem(sql)
                if problem:
                    raise QueryError(*problem)
                return self._run(cursor, sql)
            finally:
                cursor.close()

    def _check_statement(self, cursor: duckdb.DuckDBPyConnection, sql: str) -> None:
        try:
            statements = cursor.extract_statements(sql)
        except duckdb.Error as exc:
            category = _categorise(exc)
            raise QueryError(category, _message(category, exc)) from None
        if len(statements) != 1:
            raise QueryError("refused", f"expected one statement, got {len(statements)}")
        kind = statements[0].type
        if kind != duckdb.StatementType.SELECT:
            raise QueryError("refused", f"only SELECT queries may run here, not {kind.name}")

    def _run(self, cursor: duckdb.DuckDBPyConnection, sql: str) -> QueryResult:
        start = time.perf_counter()
        alarm = WATCHDOG.arm(self.timeout_s, cursor.interrupt)
        try:
            cursor.execute(sql)
            desc = cursor.description or []
            rows, truncated = fetch_capped(cursor, self.row_cap, self.max_bytes)
        except (duckdb.Error, MemoryError) as exc:
            category = _categorise(exc)
            if category == "timeout":
                raise QueryError("timeout", f"query ran past {self.timeout_s:g}s and was stopped") from None
            raise QueryError(category, _message(category, exc)) from None
        finally:
            WATCHDOG.disarm(alarm)
        return QueryResult(
            columns=[d[0] for d in desc],
            types=[str(d[1]) for d in desc],
            rows=rows,
            truncated=truncated,
            elapsed_s=time.perf_counter() - start,
        )
