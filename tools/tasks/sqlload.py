"""Build a DuckDB database from a SQL file of CREATE TABLE and INSERT statements.

DuckDB-native scripts run as they are. Anything DuckDB refuses (a PostgreSQL dump, say) is tried
again statement by statement through sqlglot (`read=postgres` by default, written for DuckDB), with
the `public.` schema prefix removed and session statements (SET, pg_catalog calls, OWNER TO) skipped.

    load_sql_file(Path("shop.sql"), Path("shop.duckdb"))
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import sqlglot
from sqlglot import exp

from slm_distill.tools.errors import UsageError

_SKIP = re.compile(
    r"^\s*(SET\s|SELECT\s+pg_catalog\.|ALTER\s+.*\sOWNER\s+TO\s|COMMENT\s+ON\s|CREATE\s+EXTENSION\s"
    r"|GRANT\s|REVOKE\s|\\)",
    re.IGNORECASE | re.DOTALL,
)


def load_sql_file(source: Path, target: Path, *, dialect: str | None = None) -> list[str]:
    """Create `target` from `source`; return the tables created. Raises UsageError on failure."""
    text = source.read_text(encoding="utf-8")
    if target.exists():
        target.unlink()
    if dialect in (None, "duckdb"):
        try:
            _run_script(target, text)
            return _tables(target)
        except duckdb.Error as exc:
            if dialect == "duckdb":
                raise UsageError(f"{source}: DuckDB could not load it: {exc}") from exc
            target.unlink(missing_ok=True)
    _run_transpiled(source, target, text, dialect or "postgres")
    return _tables(target)


def _run_script(target: Path, text: str) -> None:
    with duckdb.connect(str(target)) as conn:
        conn.execute(text)


def _tables(target: Path) -> list[str]:
    with duckdb.connect(str(target), read_only=True) as conn:
        return [r[0] for r in conn.execute("SELECT table_name FROM duckdb_tables()").fetchall()]


def _run_transpiled(source: Path, target: Path, text: str, dialect: str) -> None:
    text = re.sub(r"\bpublic\.", "", text)
    try:
        statements = sqlglot.parse(text, read=dialect)
    except sqlglot.errors.ParseError as exc:
        raise UsageError(f"{source}: not valid {dialect} SQL: {str(exc).splitlines()[0]}") from exc
    with duckdb.connect(str(target)) as conn:
        for number, stmt in enumerate(s for s in statements if s is not None):
            if isinstance(stmt, exp.Command) or _SKIP.match(stmt.sql(dialect=dialect)):
                continue
            sql = stmt.sql(dialect="duckdb")
            try:
                conn.execute(sql)
            except duckdb.Error as exc:
                target.unlink(missing_ok=True)
                raise UsageError(
                    f"{source}: statement {number + 1} failed in DuckDB: {str(exc).splitlines()[0]}"
                    f"\n  {sql[:200]}\nFix the file (DuckDB or PostgreSQL syntax) and run again."
                ) from exc
