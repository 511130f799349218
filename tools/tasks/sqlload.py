"""Build a DuckDB database from a SQL file of CREATE TABLE and INSERT statements.

A schema file is untrusted too: it runs in a DuckDB connection with external access disabled,
extensions neither installed nor loaded and the configuration locked, and only statements that
build tables run: CREATE TABLE / VIEW / INDEX / SEQUENCE / TYPE / SCHEMA, ALTER, DROP, COMMENT ON
and INSERT, none naming DuckDB's settings, catalogue or file functions. Anything else (COPY, ATTACH,
INSTALL, LOAD, SET, PRAGMA, EXPORT, CALL, a SELECT…) is refused with its line, before any runs.

DuckDB-native scripts run as they are. Anything DuckDB refuses (a PostgreSQL dump, say) is tried
again statement by statement through sqlglot (`read=postgres` by default, written for DuckDB), with
the `public.` schema prefix removed and session statements (SET, pg_catalog calls, OWNER TO) skipped.

    load_sql_file(Path("shop.sql"), Path("shop.duckdb"))
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import duckdb
import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.tokens import TokenType

from slm_distill.tools.errors import UsageError
from slm_distill.tools.tasks.sqlguard import denied_name

MAX_SCHEMA_BYTES = 200 * 1024 * 1024  # larger schema files are refused before they are read

_SKIP = re.compile(
    r"^\s*(SET\s|SELECT\s+pg_catalog\.|ALTER\s+.*\sOWNER\s+TO\s|COMMENT\s+ON\s|CREATE\s+EXTENSION\s"
    r"|GRANT\s|REVOKE\s|\\)",
    re.IGNORECASE | re.DOTALL,
)
_ALLOWED = "CREATE TABLE/VIEW/INDEX/SEQUENCE/TYPE/SCHEMA, ALTER, DROP, COMMENT ON and INSERT"
_T = duckdb.StatementType
_KINDS_ALLOWED = {_T.CREATE, _T.ALTER, _T.DROP, _T.INSERT, _T.TRANSACTION}
_CREATES_ALLOWED = {"table", "view", "index", "sequence", "type", "schema"}
_LEADING = re.compile(r"(?:\s+|--[^\n]*|/\*.*?\*/)*", re.DOTALL)
_CREATE = re.compile(
    r"CREATE\s+(?:OR\s+REPLACE\s+)?(?:(?:TEMP|TEMPORARY|PERSISTENT)\s+)?(?:UNIQUE\s+)?(\w+)",
    re.IGNORECASE,
)
# PostgreSQL statements sqlglot keeps as commands that DuckDB would run: refused, not skipped.
_DANGEROUS_COMMANDS = {"attach", "detach", "copy", "install", "load", "force", "export", "import",
                       "pragma", "call", "use", "reset", "checkpoint", "vacuum"}


@dataclass
class _Refused(Exception):  # noqa: N818 - internal signal, not an error class
    line: int | None
    what: str

    def error(self, source: Path) -> UsageError:
        where = f"{source}:{self.line}" if self.line else str(source)
        return UsageError(f"{where}: {self.what}. A schema file may only hold {_ALLOWED} "
                          "statements that build its own tables; remove this one and try again.")


def load_sql_file(source: Path, target: Path, *, dialect: str | None = None) -> list[str]:
    """Create `target` from `source`; return the tables created. Raises UsageError on failure."""
    size = source.stat().st_size
    if size > MAX_SCHEMA_BYTES:
        raise UsageError(f"{source}: {size / 2**20:.0f} MB is larger than a schema file may be "
                         f"({MAX_SCHEMA_BYTES / 2**20:.0f} MB). Load fewer rows, or build the "
                         "database with DuckDB yourself and pass the .duckdb file instead.")
    try:
        text = source.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{source} is not UTF-8 text. Give a SQL file of CREATE TABLE and INSERT "
                         "statements, saved as UTF-8.") from None
    if target.exists():
        target.unlink()
    refusal = None
    if dialect in (None, "duckdb"):
        try:
            _run_script(target, text)
            return _tables(target)
        except _Refused as exc:
            if dialect == "duckdb":
                raise exc.error(source) from None
            refusal = exc
        except duckdb.Error as exc:
            if dialect == "duckdb":
                raise UsageError(f"{source}: DuckDB could not load it: {exc}") from exc
        _remove(target)
    try:
        _run_transpiled(source, target, text, dialect or "postgres", strict=refusal is not None)
    except (_Refused, UsageError) as exc:
        _remove(target)
        if refusal is not None:  # DuckDB read it all and refused a statement: that says most
            raise refusal.error(source) from None
        if isinstance(exc, _Refused):
            raise exc.error(source) from None
        raise
    return _tables(target)


def _connect(target: Path) -> duckdb.DuckDBPyConnection:
    """A writable connection to the new database that reaches nothing else."""
    return duckdb.connect(str(target), config={
        "enable_external_access": False,
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
        "allow_community_extensions": False,
        "lock_configuration": True,
    })


def _remove(target: Path) -> None:
    target.unlink(missing_ok=True)
    Path(f"{target}.wal").unlink(missing_ok=True)


def _run_script(target: Path, text: str) -> None:
    """Check every statement DuckDB reads in `text`, then run them in one transaction."""
    with _connect(target) as conn:
        statements = conn.extract_statements(text)
        runnable = []
        for line, statement in _with_lines(text, statements):
            what = _refusal(statement)
            if what:
                raise _Refused(line, what)
            if statement.type != _T.TRANSACTION:  # the load is one transaction of its own
                runnable.append(statement)
        conn.execute("BEGIN TRANSACTION")
        for statement in runnable:
            conn.execute(statement)
        conn.execute("COMMIT")


def _with_lines(text: str, statements: list) -> list[tuple[int | None, duckdb.Statement]]:
    """Each statement with the line its first word is on (DuckDB's statements tile the text)."""
    out, pos, line = [], 0, 1
    for statement in statements:
        query = statement.query
        start = pos if text.startswith(query, pos) else text.find(query, pos)
        if start < 0:
            out.append((None, statement))
            continue
        word = start + _LEADING.match(query).end()
        line += text.count("\n", pos, word)
        out.append((line, statement))
        line += text.count("\n", word, start + len(query))
        pos = start + len(query)
    return out


def _refusal(statement: duckdb.Statement) -> str | None:
    """Why `statement` may not run while a schema loads (None: it may)."""
    query = statement.query
    head = query[_LEADING.match(query).end() :][:200]
    if statement.type not in _KINDS_ALLOWED:
        word = head.split()[0].upper() if head.split() else statement.type.name
        return f"{word} is not allowed in a schema file"
    if statement.type == _T.CREATE:
        created = _CREATE.match(head)
        kind = created.group(1).lower() if created else "?"
        if kind not in _CREATES_ALLOWED:
            return f"CREATE {kind.upper()} is not allowed in a schema file"
    name = denied_name(query)
    if name:
        return f"{name} reads DuckDB's own settings, catalogue or files and may not be used here"
    return None


def _tables(target: Path) -> list[str]:
    with duckdb.connect(str(target), read_only=True) as conn:
        return [r[0] for r in conn.execute("SELECT table_name FROM duckdb_tables()").fetchall()]


def _parse_with_lines(source: Path, text: str, dialect: str) -> list[tuple[int | None, exp.Expr]]:
    """sqlglot's statements of `text`, each with the line it starts on."""
    reader = Dialect.get_or_raise(dialect)
    try:
        found = reader.tokenize(text)
        statements = reader.parser().parse(found, text)
    except sqlglot.errors.SqlglotError as exc:
        raise UsageError(f"{source}: not valid {dialect} SQL: {str(exc).splitlines()[0]}") from exc
    except (RecursionError, MemoryError):
        raise UsageError(f"{source}: a statement nests too deeply or is too large to read as "
                         f"{dialect} SQL") from None
    starts: list[int | None] = [None]
    for i, token in enumerate(found):  # the chunks sqlglot's parser splits the tokens into
        if token.token_type == TokenType.SEMICOLON:
            if token.comments:
                starts.append(token.line)
            if i < len(found) - 1:
                starts.append(None)
        elif starts[-1] is None:
            starts[-1] = token.line
    if len(starts) != len(statements):
        starts = [None] * len(statements)
    return [(line, stmt) for line, stmt in zip(starts, statements, strict=True)
            if stmt is not None and not isinstance(stmt, exp.Semicolon)]


def _run_transpiled(source: Path, target: Path, text: str, dialect: str, *, strict: bool) -> None:
    """Run `text` statement by statement, translated from `dialect`. `strict`: DuckDB read the
    whole file and refused a statement, so what sqlglot cannot parse is refused, not skipped."""
    text = re.sub(r"\bpublic\.", "", text)
    statements = _parse_with_lines(source, text, dialect)
    with _connect(target) as conn:
        for number, (line, stmt) in enumerate(statements):
            try:
                original = stmt.sql(dialect=dialect)
                if _skipped(stmt, original, line, strict):
                    continue
                if dialect == "sqlite":
                    stmt = stmt.transform(_sqlite_types)
                sql = stmt.sql(dialect="duckdb")
            except (RecursionError, MemoryError):
                raise _Refused(line, "the statement nests too deeply to translate") from None
            try:
                for checked in conn.extract_statements(sql):
                    what = _refusal(checked)
                    if what:
                        raise _Refused(line, what)
                conn.execute(sql)
            except duckdb.Error as exc:
                _remove(target)
                where = f"line {line}" if line else f"statement {number + 1}"
                raise UsageError(
                    f"{source}: {where} failed in DuckDB: {str(exc).splitlines()[0]}"
                    f"\n  {sql[:200]}\nFix the file (DuckDB or PostgreSQL syntax) and run again."
                ) from exc


def _sqlite_types(node: exp.Expr) -> exp.Expr:
    """SQLite's INTEGER holds 64 bits: BIGINT in DuckDB, not its 32-bit INT."""
    if isinstance(node, exp.DataType) and node.this in (exp.DataType.Type.INT,
                                                         exp.DataType.Type.MEDIUMINT):
        return exp.DataType.build("BIGINT")
    return node


def _skipped(stmt: exp.Expr, original: str, line: int | None, strict: bool) -> bool:
    """PostgreSQL session and ownership statements are skipped, and so are statements sqlglot
    cannot parse (functions, triggers) unless `strict`; commands DuckDB would run (COPY, ATTACH,
    INSTALL...) are refused."""
    if _SKIP.match(original):
        return True
    if isinstance(stmt, exp.Command):
        word = str(stmt.this).split()[0].upper() if str(stmt.this).split() else "?"
        if strict or word.lower() in _DANGEROUS_COMMANDS:
            raise _Refused(line, f"{word} is not allowed in a schema file")
        return True
    return False
