"""Run untrusted SQL against a PostgreSQL database, safely, through psycopg 3.

Every query runs in its own `READ ONLY` transaction that is always rolled back (so no session
setting a query might change outlives it), under `statement_timeout` and
`idle_in_transaction_session_timeout` set by the server and a client-side cancel at the same
deadline. Only one SELECT/WITH query may run, naming none of PostgreSQL's catalogues, settings,
file or large-object functions or other servers (see sqlguard). Rows come through a server-side
cursor and `fetchmany` under the row and byte caps. A small pool of connections lets validation
run queries concurrently.

The password is never part of the stored URL: libpq reads PGPASSWORD or ~/.pgpass, or the
environment variable named by `password_env` is passed in; any text shown has it masked.

    with PostgresDatabase("postgresql://reader@127.0.0.1:5432/shop", row_cap=1000) as db:
        db.execute("SELECT count(*) FROM customers").rows
"""

from __future__ import annotations

import itertools
import os
import queue
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from slm_distill.tools.errors import UsageError, require
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
    strip_password,
    url_password,
)
from slm_distill.tools.tasks.sqlcheck import writes_problem
from slm_distill.tools.tasks.sqlguard import statement_problem, text_problem

POOL_SIZE = 4
CONNECT_TIMEOUT_S = 5
_COLUMNS = """
SELECT c.table_name, c.column_name, c.data_type, c.character_maximum_length,
       c.numeric_precision, c.numeric_scale, c.is_nullable
FROM information_schema.columns c
JOIN information_schema.tables t USING (table_schema, table_name)
WHERE c.table_schema = current_schema() AND t.table_type IN ('BASE TABLE', 'VIEW')
ORDER BY c.table_name, c.ordinal_position
"""
# From pg_catalog: information_schema shows constraints only to a table's owner or writers.
_KEYS = """
SELECT cl.relname, con.contype, con.conname, a.attname, rcl.relname, ra.attname
FROM pg_catalog.pg_constraint con
JOIN pg_catalog.pg_class cl ON cl.oid = con.conrelid
JOIN pg_catalog.pg_namespace n ON n.oid = cl.relnamespace
CROSS JOIN LATERAL unnest(con.conkey, con.confkey) WITH ORDINALITY AS k(attnum, refnum, ord)
JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum
LEFT JOIN pg_catalog.pg_class rcl ON rcl.oid = con.confrelid
LEFT JOIN pg_catalog.pg_attribute ra ON ra.attrelid = con.confrelid AND ra.attnum = k.refnum
WHERE n.nspname = current_schema() AND con.contype IN ('p', 'f')
ORDER BY cl.relname, con.conname, k.ord
"""
_WRITABLE = """
SELECT c.relname FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema() AND c.relkind = 'r'
  AND has_table_privilege(c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE')
ORDER BY 1
"""
# Roles that reach past the database: files and programs on the server, everything (superuser).
_PRIVILEGES = """
SELECT 'superuser' FROM pg_catalog.pg_roles WHERE rolname = current_user AND rolsuper
UNION ALL
SELECT r FROM unnest(ARRAY['pg_read_server_files', 'pg_write_server_files',
                           'pg_execute_server_program']) AS r
WHERE pg_has_role(current_user, r, 'MEMBER')
"""
_CATEGORIES: dict[str, ErrorCategory] = {
    "42601": "syntax", "42P01": "unknown_table", "42703": "unknown_column",
    "42702": "unknown_column", "42501": "refused", "25006": "refused", "57014": "timeout",
    "53200": "too_large", "54000": "too_complex", "54001": "too_complex", "53100": "too_large",
}


def _psycopg() -> Any:
    return require("psycopg", "psycopg", "postgres")


def _mask(text: str, secret: str | None) -> str:
    return text.replace(secret, "***") if secret else text


def connection_error(url: str, exc: BaseException, secret: str | None) -> UsageError:
    """A connection failure as one line with the fix, the password masked."""
    text = _mask(short(exc), secret)
    shown = strip_password(url)
    low = text.lower()
    if "password" in low or "authentication" in low:
        fix = ("check the user and the password: set PGPASSWORD (or a ~/.pgpass line, or "
               "task.password_env), never in distill.yaml")
    elif "does not exist" in low:
        fix = "check the database and user names in the URL"
    elif "timeout" in low or "refused" in low or "could not" in low or "connect" in low:
        fix = "check that the server runs and the host and port in the URL are right"
    else:
        fix = "check the URL (postgresql://USER@HOST:PORT/DBNAME)"
    return UsageError(f"Cannot connect to PostgreSQL at {shown}: {text}. Fix: {fix}.")


class PostgresDatabase(Database):
    """Read-only queries on one PostgreSQL database, through a small pool of connections."""

    engine = "postgres"

    def __init__(self, url: str, *, password_env: str | None = None, password: str | None = None,
                 row_cap: int = 10_000, timeout_s: float = 10.0,
                 max_bytes: int = MAX_RESULT_BYTES, pool_size: int = POOL_SIZE) -> None:
        self.url = strip_password(url)
        self.row_cap, self.timeout_s, self.max_bytes = row_cap, timeout_s, max_bytes
        self._password = password or url_password(url) or (
            os.environ.get(password_env) if password_env else None)
        self._secrets = [s for s in (self._password, os.environ.get("PGPASSWORD")) if s]
        self._pool: queue.LifoQueue = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(pool_size)
        self._made: list[Any] = []
        self._lock = threading.Lock()
        self._names = itertools.count()
        self._closed = False
        self._pool.put(self._connect())  # fail now, with the fix, rather than on a first query

    # -- connections ----------------------------------------------------------------
    def _connect(self) -> Any:
        psycopg = _psycopg()
        ms = int(self.timeout_s * 1000)
        options = (f"-c statement_timeout={ms} -c idle_in_transaction_session_timeout={ms * 3} "
                   "-c default_transaction_read_only=on -c lock_timeout=1000")
        kwargs: dict[str, Any] = {"connect_timeout": CONNECT_TIMEOUT_S, "autocommit": True,
                                  "options": options, "application_name": "slm-distill"}
        if self._password:
            kwargs["password"] = self._password
        try:
            conn = psycopg.connect(self.url, **kwargs)
        except psycopg.Error as exc:
            raise connection_error(self.url, exc, self._password) from None
        with self._lock:
            self._made.append(conn)
        return conn

    @contextmanager
    def _connection(self) -> Iterator[Any]:
        self._slots.acquire()
        try:
            try:
                conn = self._pool.get_nowait()
            except queue.Empty:
                conn = self._connect()
            broken = False
            try:
                yield conn
            except BaseException:
                broken = conn.closed or conn.broken
                raise
            finally:
                if broken or conn.closed or self._closed:
                    conn.close()
                else:
                    self._pool.put(conn)
        finally:
            self._slots.release()

    def close(self) -> None:
        self._closed = True
        with self._lock:
            for conn in self._made:
                conn.close()
            self._made.clear()

    # -- queries ------------------------------------------------------------------------
    def execute(self, sql: str) -> QueryResult:
        problem = text_problem(sql) or (statement_problem(sql, engine="postgres")
                                        or writes_problem(sql, "postgres")
                                        if isinstance(sql, str) else None)
        if problem:
            raise QueryError(*problem)
        psycopg = _psycopg()
        with self._connection() as conn:
            start = time.monotonic()
            alarm = None
            try:
                with (conn.transaction(force_rollback=True),
                      conn.cursor(name=f"q{next(self._names)}") as cursor):
                    conn.execute("SET TRANSACTION READ ONLY")
                    alarm = WATCHDOG.arm(self.timeout_s, conn.cancel_safe)
                    cursor.execute(sql)
                    desc = cursor.description or []
                    rows, truncated = fetch_capped(cursor, self.row_cap, self.max_bytes)
            except psycopg.Error as exc:
                raise self._query_error(exc) from None
            finally:
                if alarm is not None:
                    WATCHDOG.disarm(alarm)
        return QueryResult(columns=[d.name for d in desc], rows=rows, truncated=truncated,
                           types=[str(d.type_code) for d in desc],
                           elapsed_s=time.monotonic() - start)

    def _query_error(self, exc: BaseException) -> QueryError:
        psycopg = _psycopg()
        if isinstance(exc, psycopg.OperationalError) and not getattr(exc, "sqlstate", None):
            return QueryError("runtime", f"lost the connection to PostgreSQL: {self._clean(exc)}")
        category = _CATEGORIES.get(getattr(exc, "sqlstate", None) or "", "runtime")
        if category == "timeout":
            return QueryError("timeout", f"query ran past {self.timeout_s:g}s and was stopped")
        if category == "refused":
            return QueryError("refused", "refused: only reads of the database's own tables may "
                              f"run here ({self._clean(exc)})")
        return QueryError(category, self._clean(exc))

    def _clean(self, exc: BaseException) -> str:
        text = short(exc)
        for secret in self._secrets:
            text = _mask(text, secret)
        return text

    # -- the schema ----------------------------------------------------------------------
    def _catalogue(self, sql: str) -> list[tuple]:
        """Our own catalogue queries (the sandbox refuses information_schema to untrusted SQL)."""
        psycopg = _psycopg()
        with self._connection() as conn:
            try:
                with conn.transaction(force_rollback=True):
                    return conn.execute(sql).fetchall()
            except psycopg.Error as exc:
                raise UsageError(f"Cannot read the schema of {self.url}: {self._clean(exc)}. "
                                 "Grant the user USAGE on the schema and SELECT on its "
                                 "tables.") from None

    def writable_tables(self) -> list[str]:
        """Tables the connecting user could write to (queries still run read-only)."""
        return [r[0] for r in self._catalogue(_WRITABLE)]

    def server_privileges(self) -> list[str]:
        """What the connecting user may do beyond the database: superuser, or a member of the
        roles that read or write the server's files or run its programs."""
        return [r[0] for r in self._catalogue(_PRIVILEGES)]

    def tables(self, sample_rows: int = 0) -> list[TableInfo]:
        columns: dict[str, list[tuple]] = {}
        for row in self._catalogue(_COLUMNS):
            columns.setdefault(row[0], []).append(row[1:])
        keys: dict[str, list[tuple]] = {}
        for row in self._catalogue(_KEYS):
            keys.setdefault(row[0], []).append(row[1:])
        out = []
        for name in sorted(columns):
            ddl = _ddl(name, columns[name], keys.get(name, []))
            quoted = '"' + name.replace('"', '""') + '"'
            rows = (self.execute(f"SELECT * FROM {quoted} LIMIT {int(sample_rows)}").rows
                    if sample_rows else [])
            out.append(TableInfo(name, ddl, [c[0] for c in columns[name]], rows))
        return out


_TYPE_NAMES = {"character varying": "VARCHAR", "character": "CHAR",
               "timestamp without time zone": "TIMESTAMP", "timestamp with time zone": "TIMESTAMPTZ",
               "time without time zone": "TIME", "time with time zone": "TIMETZ"}


def _ddl(table: str, columns: list[tuple], keys: list[tuple]) -> str:
    """CREATE TABLE text for the prompt, from information_schema's rows."""
    lines = []
    for name, kind, length, precision, scale, nullable in columns:
        type_text = _TYPE_NAMES.get(kind, kind.upper())
        if length and kind in ("character varying", "character"):
            type_text += f"({length})"
        elif kind == "numeric" and precision:
            type_text += f"({precision}, {scale or 0})"
        lines.append(f"    {_ident(name)} {type_text}" + ("" if nullable == "YES" else " NOT NULL"))
    primary = [k[2] for k in keys if k[0] == "p"]
    if primary:
        lines.append(f"    PRIMARY KEY ({', '.join(map(_ident, primary))})")
    foreign: dict[str, list[tuple]] = {}
    for kind, constraint, column, ref_table, ref_column in keys:
        if kind == "f" and ref_table:
            foreign.setdefault(constraint, []).append((column, ref_table, ref_column))
    for parts in foreign.values():
        cols = ", ".join(dict.fromkeys(_ident(p[0]) for p in parts))
        refs = ", ".join(dict.fromkeys(_ident(p[2]) for p in parts))
        lines.append(f"    FOREIGN KEY ({cols}) REFERENCES {_ident(parts[0][1])} ({refs})")
    return f"CREATE TABLE {_ident(table)} (\n" + ",\n".join(lines) + "\n);"


def _ident(name: str) -> str:
    plain = name.isidentifier() and name == name.lower() and name.isascii()
    return name if plain else '"' + name.replace('"', '""') + '"'
