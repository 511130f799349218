"""The database a Text2SQL project's SQL runs on: DuckDB, SQLite or PostgreSQL, always read-only.

The engine is a property of the project: the model learns that engine's SQL, checked by sqlglot in
that engine's dialect and executed by that engine. Every engine's sandbox answers the same calls:

    source = DatabaseSource.of_file(Path("shop.sqlite"))          # engine sniffed from the header
    with source.open(row_cap=1000, timeout_s=5) as db:
        db.execute("SELECT count(*) FROM customers").rows          # QueryResult, or QueryError
        db.tables(sample_rows=3)                                   # [TableInfo(name, ddl, ...)]

A PostgreSQL source is a libpq URL without its password: the password comes from PGPASSWORD,
~/.pgpass or the environment variable `password_env` names, and never reaches the configuration.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit, urlunsplit

Engine = Literal["duckdb", "sqlite", "postgres"]
ENGINE_LABELS: dict[str, str] = {"duckdb": "DuckDB", "sqlite": "SQLite", "postgres": "PostgreSQL"}
URL_SCHEMES = ("postgresql://", "postgres://")
SQLITE_MAGIC = b"SQLite format 3\x00"
MAX_RESULT_BYTES = 50 * 1024 * 1024  # a rough sum of the fetched values' sizes

ErrorCategory = Literal[
    "syntax", "unknown_table", "unknown_column", "runtime", "timeout", "refused", "empty",
    "too_complex", "too_large",
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


class Watchdog:
    """One thread that stops queries past their deadline, for every sandbox in the process (a
    thread started per query cost 40% on a 1.4 ms query).

        token = WATCHDOG.arm(5.0, cursor.interrupt)
        try: run the query
        finally: WATCHDOG.disarm(token)      # after this returns, the action will not run

    An action runs outside the watchdog's lock (a PostgreSQL cancel may wait on the network);
    `disarm` of a token whose action is running waits for it to end."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int]] = []
        self._actions: dict[int, Callable[[], object]] = {}
        self._ids = itertools.count()
        self._firing: int | None = None
        self._thread: threading.Thread | None = None

    def arm(self, seconds: float, action: Callable[[], object]) -> int:
        token = next(self._ids)
        with self._cond:
            self._actions[token] = action
            heapq.heappush(self._heap, (time.monotonic() + seconds, token))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._watch, name="query-watchdog",
                                                daemon=True)
                self._thread.start()
            self._cond.notify_all()  # the watch thread, not only a disarm waiting on an action
        return token

    def disarm(self, token: int) -> None:
        with self._cond:
            self._actions.pop(token, None)
            if threading.current_thread() is self._thread:
                return  # an action disarming its own token: it is the one running
            while self._firing == token:
                self._cond.wait()

    def _watch(self) -> None:
        with self._cond:
            while True:
                while self._heap and self._heap[0][1] not in self._actions:
                    heapq.heappop(self._heap)  # disarmed
                if not self._heap:
                    self._cond.wait()
                    continue
                deadline, token = self._heap[0]
                if (wait := deadline - time.monotonic()) > 0:
                    self._cond.wait(wait)
                    continue
                heapq.heappop(self._heap)
                action, self._firing = self._actions.pop(token), token
                self._cond.release()
                try:
                    with contextlib.suppress(Exception):  # a connection already closed, say
                        action()
                finally:
                    self._cond.acquire()
                    self._firing = None
                    self._cond.notify_all()


WATCHDOG = Watchdog()


def fetch_capped(cursor: Any, row_cap: int, max_bytes: int) -> tuple[list[tuple], bool]:
    """Up to `row_cap` rows of a DB-API cursor (and whether there were more), in batches sized so
    that one batch cannot go far past `max_bytes`; QueryError("too_large") once the values exceed
    it. Every engine's sandbox fetches through this."""
    rows: list[tuple] = []
    size, batch = 0, 16
    while len(rows) <= row_cap:
        chunk = cursor.fetchmany(min(batch, row_cap + 1 - len(rows)))
        if not chunk:
            return rows, False
        size += sum(_size_of(row) for row in chunk)
        rows.extend(tuple(row) for row in chunk)
        if size > max_bytes:
            raise QueryError("too_large", (
                f"result too large: its first {len(rows)} rows hold more than "
                f"{max_bytes / 2**20:g} MB; select fewer rows or smaller values"))
        per_row = max(1, size // len(rows))
        batch = max(1, min(2048, (max_bytes - size) // per_row))
    return rows[:row_cap], True


def _size_of(value: object) -> int:
    """Roughly how many bytes a fetched value holds (strings by length, nested values summed)."""
    total, stack = 0, [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str | bytes | bytearray):
            total += len(item) + 16
        elif isinstance(item, list | tuple):
            total += 8 * len(item) + 16
            stack.extend(item)
        elif isinstance(item, dict):
            total += 16 * len(item) + 16
            stack.extend(item.keys())
            stack.extend(item.values())
        else:
            total += 16
    return total


@dataclass
class TableInfo:
    """One table (or view) as prompts show it: its DDL, its columns, a few sample rows."""

    name: str
    ddl: str
    columns: list[str]
    rows: list[tuple] = field(default_factory=list)


class Database(ABC):
    """A read-only connection to one database that runs untrusted queries under a timeout, a row
    cap and a byte cap, and describes its own tables."""

    engine: ClassVar[Engine]

    @abstractmethod
    def execute(self, sql: str) -> QueryResult:
        """Run one read-only query; raise QueryError on refusal, error, timeout or cap."""

    @abstractmethod
    def tables(self, sample_rows: int = 0) -> list[TableInfo]:
        """Every table and view a query may read, in name order."""

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def sniff_file(path: Path) -> Engine | None:
    """The engine whose file format `path` holds, from its header (None: neither)."""
    try:
        with Path(path).open("rb") as fh:
            head = fh.read(16)
    except OSError:
        return None
    if head[8:12] == b"DUCK":
        return "duckdb"
    if head == SQLITE_MAGIC:
        return "sqlite"
    return None


def is_database_url(text: object) -> bool:
    return isinstance(text, str) and text.strip().lower().startswith(URL_SCHEMES)


def url_password(url: str) -> str | None:
    """The password written into a libpq URL, if any."""
    try:
        return urlsplit(url).password
    except ValueError:
        return None


def strip_password(url: str) -> str:
    """`url` without the password in its user part (everything else as written)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{user}@{host}" if user else host))


@dataclass(frozen=True)
class DatabaseSource:
    """Where a project's database is: a DuckDB or SQLite file, or a PostgreSQL URL (no password)."""

    engine: Engine
    path: Path | None = None
    url: str | None = None
    password_env: str | None = None
    password: str | None = field(default=None, repr=False, compare=False)  # init's URL password

    @classmethod
    def of_file(cls, path: Path) -> DatabaseSource:
        engine = sniff_file(path)
        if engine is None:
            raise ValueError(f"{path} is neither a DuckDB nor a SQLite database")
        return cls(engine, path=Path(path))

    @property
    def location(self) -> str:
        """The file or the URL (never with a password), for messages."""
        return str(self.path) if self.path is not None else strip_password(self.url or "")

    def open(self, *, row_cap: int = 10_000, timeout_s: float = 10.0) -> Database:
        """A sandbox on this database; connection problems raise UsageError with the fix."""
        if self.engine == "duckdb":
            from slm_distill.tools.tasks.sandbox import Sandbox

            return Sandbox(self.path, row_cap=row_cap, timeout_s=timeout_s)  # type: ignore[arg-type]
        if self.engine == "sqlite":
            from slm_distill.tools.tasks.sqlite_db import SQLiteDatabase

            return SQLiteDatabase(self.path, row_cap=row_cap, timeout_s=timeout_s)  # type: ignore[arg-type]
        from slm_distill.tools.tasks.postgres_db import PostgresDatabase

        return PostgresDatabase(self.url or "", password_env=self.password_env,
                                password=self.password, row_cap=row_cap, timeout_s=timeout_s)


def short(exc: BaseException) -> str:
    """The first line of an exception's text, at most 300 characters."""
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__
