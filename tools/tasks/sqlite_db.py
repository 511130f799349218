"""Run untrusted SQL against a SQLite file, safely, with Python's own sqlite3.

The file is opened read-only through a `file:…?mode=ro` URI with `PRAGMA query_only`, no database
may be attached, and an authorizer allows reads only: SELECT, reading columns, recursive CTEs and
functions other than those that reach files or extensions. Everything else (writes, DDL, ATTACH,
PRAGMA, transactions, `load_extension`) is denied before the statement runs. A progress handler
aborts a query past its timeout; rows come through `fetchmany` under the row and byte caps.

    with SQLiteDatabase(Path("concert_singer.sqlite"), row_cap=1000, timeout_s=5) as db:
        db.execute("SELECT count(*) FROM singer").rows
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from slm_distill.tools.tasks.database import (
    MAX_RESULT_BYTES,
    Database,
    ErrorCategory,
    QueryError,
    QueryResult,
    TableInfo,
    fetch_capped,
    short,
)
from slm_distill.tools.tasks.sqlcheck import writes_problem
from slm_distill.tools.tasks.sqlguard import statement_problem, text_problem

MAX_VALUE_BYTES = 20 * 1024 * 1024  # the longest string or blob a query may build
PROGRESS_STEPS = 2_000  # virtual-machine instructions between two looks at the clock
# Functions that read or write files, load code or corrupt memory in some builds.
DENIED_FUNCTIONS = frozenset({"load_extension", "readfile", "writefile", "edit", "fts3_tokenizer",
                              "zipfile", "sqlar_compress", "sqlar_uncompress", "shell_add_schema"})
_ALLOWED = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION,
            sqlite3.SQLITE_RECURSIVE}


def _authorize(action: int, arg1: str | None, arg2: str | None, database: str | None,
               source: str | None) -> int:
    """sqlite3's authorizer: reads of the main database's own tables, nothing else."""
    if action not in _ALLOWED:
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in DENIED_FUNCTIONS:
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_READ and (
            (arg1 or "").lower().startswith("sqlite_") or database not in (None, "main")):
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


def connect_readonly(path: Path) -> sqlite3.Connection:
    """A connection that cannot change `path`: read-only URI, query_only, nothing attachable."""
    uri = Path(path).resolve().as_uri() + "?mode=ro"
    conn = sqlite3.connect(uri, uri=True, check_same_thread=False, isolation_level=None)
    try:
        conn.execute("PRAGMA query_only = ON")
        conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
        conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # fails on a non-database
    except BaseException:
        conn.close()
        raise
    return conn


def _categorise(exc: sqlite3.Error, timed_out: bool) -> ErrorCategory:  # noqa: PLR0911
    text = str(exc).lower()
    if timed_out or "interrupted" in text:
        return "timeout"
    if ("not authorized" in text or "prohibited" in text or "readonly" in text
            or "read-only" in text):
        return "refused"
    if "no such table" in text:
        return "unknown_table"
    if "no such column" in text or "ambiguous column" in text:
        return "unknown_column"
    if "syntax error" in text or "incomplete input" in text or "unrecognized token" in text:
        return "syntax"
    if "too big" in text or "too large" in text or isinstance(exc, sqlite3.DataError):
        return "too_large"
    if "too many" in text and ("levels" in text or "terms" in text):
        return "too_complex"
    return "runtime"


class SQLiteDatabase(Database):
    """A read-only SQLite connection that runs one query at a time under a timeout, a row cap and
    a byte cap on the fetched result."""

    engine = "sqlite"

    def __init__(self, path: Path, *, row_cap: int = 10_000, timeout_s: float = 10.0,
                 max_bytes: int = MAX_RESULT_BYTES) -> None:
        self.path = Path(path)
        self.row_cap, self.timeout_s, self.max_bytes = row_cap, timeout_s, max_bytes
        self._conn = connect_readonly(self.path)
        self._infos = self._describe()  # read before the authorizer closes sqlite_master
        self._deadline = float("inf")
        self._conn.set_authorizer(_authorize)
        self._conn.set_progress_handler(self._progress, PROGRESS_STEPS)
        self._lock = threading.Lock()

    def close(self) -> None:
        self._conn.close()

    def _progress(self) -> int:
        return 1 if time.monotonic() > self._deadline else 0

    def _describe(self) -> list[tuple[str, str, list[str]]]:
        found = self._conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type IN ('table', 'view') "
            "AND name NOT LIKE 'sqlite_%' AND sql IS NOT NULL ORDER BY name").fetchall()
        out = []
        for name, ddl in found:
            quoted = '"' + name.replace('"', '""') + '"'
            columns = [r[1] for r in self._conn.execute(f"PRAGMA table_info({quoted})").fetchall()]
            out.append((name, ddl.strip().rstrip(";") + ";", columns))
        return out

    def tables(self, sample_rows: int = 0) -> list[TableInfo]:
        out = []
        for name, ddl, columns in self._infos:
            quoted = '"' + name.replace('"', '""') + '"'
            rows = (self.execute(f"SELECT * FROM {quoted} LIMIT {int(sample_rows)}").rows
                    if sample_rows else [])
            out.append(TableInfo(name, ddl, columns, rows))
        return out

    def execute(self, sql: str) -> QueryResult:
        problem = text_problem(sql) or (statement_problem(sql, engine="sqlite")
                                        or writes_problem(sql, "sqlite")
                                        if isinstance(sql, str) else None)
        if problem:
            raise QueryError(*problem)
        with self._lock:
            cursor = self._conn.cursor()
            start = time.monotonic()
            self._deadline = start + self.timeout_s
            try:
                cursor.execute(sql)
                desc = cursor.description or []
                rows, truncated = fetch_capped(cursor, self.row_cap, self.max_bytes)
            except sqlite3.ProgrammingError as exc:  # "You can only execute one statement"
                raise QueryError("refused", f"expected one statement: {short(exc)}") from None
            except (sqlite3.Error, MemoryError, OverflowError) as exc:
                timed_out = time.monotonic() > self._deadline
                if timed_out or "interrupted" in str(exc).lower():
                    raise QueryError("timeout", f"query ran past {self.timeout_s:g}s and was "
                                     "stopped") from None
                category = (_categorise(exc, False) if isinstance(exc, sqlite3.Error)
                            else "too_large")
                message = ("refused: only reads of the database's own tables may run here"
                           if category == "refused" else short(exc))
                raise QueryError(category, message) from None
            finally:
                self._deadline = float("inf")
                cursor.close()
        return QueryResult(columns=[d[0] for d in desc], rows=rows, truncated=truncated,
                           elapsed_s=time.monotonic() - start)
