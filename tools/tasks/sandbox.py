"""Run untrusted SQL against a DuckDB database, safely.

Every connection is read-only, with external access disabled, extensions neither installed nor
loaded, the configuration locked, a memory limit, a row cap and a timeout enforced from another
thread with `interrupt()`. Only a single SELECT-like statement is accepted.

    with Sandbox(Path("shop.duckdb"), row_cap=1000, timeout_s=5) as box:
        result = box.execute("SELECT count(*) FROM customers")
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import duckdb

ErrorCategory = Literal[
    "syntax", "unknown_table", "unknown_column", "runtime", "timeout", "refused", "empty"
]


class QueryError(Exception):
    """A query that failed or was refused, with a category for reports."""

    def __init__(self, category: ErrorCategory, message: str) -> None:
        super().__init__(message)
        self.category = category
        self.message = message


@dataclass
class QueryResult:
    columns: list[str]
    rows: list[tuple]
    truncated: bool = False
    elapsed_s: float = 0.0
    types: list[str] = field(default_factory=list)


def _config(memory_limit: str) -> dict:
    return {
        "enable_external_access": False,
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
        "memory_limit": memory_limit,
        "threads": 1,
        "lock_configuration": True,
    }


def connect_readonly(db_path: Path, memory_limit: str = "1GB") -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(db_path), read_only=True, config=_config(memory_limit))


def list_tables(db_path: Path) -> list[str]:
    with connect_readonly(db_path) as conn:
        rows = conn.execute(
            "SELECT table_name FROM duckdb_tables() WHERE NOT temporary ORDER BY table_name"
        ).fetchall()
    return [r[0] for r in rows]


def _categorise(exc: duckdb.Error) -> ErrorCategory:
    text = str(exc)
    if isinstance(exc, duckdb.InterruptException):
        return "timeout"
    if isinstance(exc, duckdb.ParserException):
        return "syntax"
    if isinstance(exc, duckdb.CatalogException) and "Table" in text:
        return "unknown_table"
    if isinstance(exc, duckdb.BinderException) and ("column" in text.lower()):
        return "unknown_column"
    if isinstance(exc, duckdb.PermissionException):
        return "refused"
    return "runtime"


class Sandbox:
    """A read-only DuckDB connection that runs one SELECT at a time under a row cap and timeout."""

    def __init__(self, db_path: Path, *, row_cap: int = 10_000, timeout_s: float = 10.0) -> None:
        self.db_path = Path(db_path)
        self.row_cap = row_cap
        self.timeout_s = timeout_s
        self._conn = connect_readonly(self.db_path)
        self._lock = threading.Lock()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._conn.close()

    def execute(self, sql: str) -> QueryResult:
        """Run one read-only query; raise QueryError on refusal, error or timeout."""
        with self._lock:
            cursor = self._conn.cursor()
            try:
                self._check_statement(cursor, sql)
                return self._run(cursor, sql)
            finally:
                cursor.close()

    def _check_statement(self, cursor: duckdb.DuckDBPyConnection, sql: str) -> None:
        try:
            statements = cursor.extract_statements(sql)
        except duckdb.Error as exc:
            raise QueryError(_categorise(exc), _short(exc)) from exc
        if len(statements) != 1:
            raise QueryError("refused", f"expected one statement, got {len(statements)}")
        kind = statements[0].type
        if kind != duckdb.StatementType.SELECT:
            raise QueryError("refused", f"only SELECT queries may run here, not {kind.name}")

    def _run(self, cursor: duckdb.DuckDBPyConnection, sql: str) -> QueryResult:
        timer = threading.Timer(self.timeout_s, cursor.interrupt)
        start = time.perf_counter()
        timer.start()
        try:
            cursor.execute(sql)
            rows = cursor.fetchmany(self.row_cap + 1)
            desc = cursor.description or []
        except duckdb.Error as exc:
            category = _categorise(exc)
            if category == "timeout":
                raise QueryError("timeout", f"query ran past {self.timeout_s:g}s and was stopped") from None
            raise QueryError(category, _short(exc)) from exc
        finally:
            timer.cancel()
        return QueryResult(
            columns=[d[0] for d in desc],
            types=[str(d[1]) for d in desc],
            rows=rows[: self.row_cap],
            truncated=len(rows) > self.row_cap,
            elapsed_s=time.perf_counter() - start,
        )


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__
