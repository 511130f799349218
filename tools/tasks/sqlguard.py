"""Cheap checks on untrusted SQL text, made before any parser (sqlglot or DuckDB) sees it.

Parsers recurse: about 60 nested parentheses exhaust Python's stack in sqlglot, and a 4 MB query
takes it a minute. So text is bounded first, by length and by nesting depth counted on DuckDB's own
tokenizer (flat, linear, and the one DuckDB itself reads the text with), and what cannot run in the
sandbox (a second statement, DuckDB's settings, files or catalogue functions) is named here.

    text_problem("SELECT " + "(" * 60 + "1" + ")" * 60)
    # ('too_complex', 'the query nests 60 levels deep; the limit is 20')
    statement_problem("SELECT path FROM duckdb_databases()")
    # ('refused', 'the query uses duckdb_databases, which reads DuckDB's own settings, ...')
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass

import duckdb

MAX_SQL_CHARS = 32_000  # longer answers are refused unparsed (sqlglot needs ~0.5 s for this many)
MAX_SQL_DEPTH = 20  # brackets, CASE and NOT nested deeper are refused (real queries: < 10)
TOO_COMPLEX = "too_complex"  # the failure category of text over these limits



@dataclass(frozen=True)
class Denials:
    """What one engine's queries may not name: `prefixes` and `names` anywhere (a table, view or
    function), `call_prefixes` and `calls` when called as functions; `what` says why, in a refusal."""

    prefixes: tuple[str, ...]
    names: frozenset[str]
    call_prefixes: tuple[str, ...]
    calls: frozenset[str]
    what: str

    @functools.cached_property
    def hint(self) -> re.Pattern[str]:  # a cheap first look before tokens are compared
        words = [*self.prefixes, *self.names, *self.call_prefixes, *self.calls]
        return re.compile("|".join(map(re.escape, words)), re.IGNORECASE)


DENIALS = {
    # DuckDB's catalogue and settings (which reveal paths); files, settings, SQL run from strings,
    # logging, extensions' scanners.
    "duckdb": Denials(
        prefixes=("duckdb_", "pragma_"), names=frozenset({"pg_settings"}),
        call_prefixes=("read_", "parquet_", "sqlite_", "postgres_", "mysql_", "iceberg_",
                       "delta_", "json_execute", "sniff_", "enable_", "disable_"),
        calls=frozenset({
            "current_setting", "getenv", "glob", "query", "query_table", "which_secret",
            "write_log", "truncate_duckdb_logs", "add_grammar_extension",
            "remove_grammar_extension", "checkpoint", "force_checkpoint"}),
        what="DuckDB's own settings, catalogue or files"),
    # SQLite's schema tables and pragma functions; files and extensions (the authorizer denies
    # them too).
    "sqlite": Denials(
        prefixes=("sqlite_", "pragma_"), names=frozenset(),
        call_prefixes=("sqlar_",),
        calls=frozenset({"load_extension", "readfile", "writefile", "edit", "fts3_tokenizer",
                         "zipfile"}),
        what="SQLite's own catalogue, files or extensions"),
    # PostgreSQL's catalogues and admin functions (pg_read_file, pg_sleep, pg_terminate_backend
    # ...), large objects, other servers, settings, SQL run from strings, sequences.
    "postgres": Denials(
        prefixes=("pg_",), names=frozenset({"information_schema"}),
        call_prefixes=("lo_", "dblink", "query_to_xml", "table_to_xml", "cursor_to_xml",
                       "schema_to_xml", "database_to_xml", "txid_", "inet_"),
        calls=frozenset({"set_config", "current_setting", "nextval", "setval", "currval",
                         "lastval", "version", "loread", "lowrite"}),
        what="PostgreSQL's settings, catalogue, files or other servers"),
}
# A query starts with one of these words (or a bracket); SHOW, DESCRIBE and SUMMARIZE, also
# "SELECT" statements to DuckDB, print settings (SHOW temp_directory) and are refused.
_U_ESCAPE = re.compile(r"(?<![\w$])u&[\"']", re.IGNORECASE)
_QUERY_STARTS = frozenset({"select", "with", "from", "values", "table"})

_T = duckdb.token_type
Token = tuple[object, str]


@functools.lru_cache(maxsize=4096)  # validation, the parser's check and the sandbox share them
def tokens(sql: str) -> tuple[Token, ...]:
    """DuckDB's tokens of `sql` as (type, text); comments are tokens too."""
    found = duckdb.tokenize(sql)
    ends = [pos for pos, _ in found[1:]] + [len(sql)] if found else []
    return tuple((kind, sql[pos:end].strip()) for (pos, kind), end in zip(found, ends, strict=True))


def text_problem(sql: object, *, max_chars: int = MAX_SQL_CHARS,
                 max_depth: int = MAX_SQL_DEPTH) -> tuple[str, str] | None:
    """(category, reason) when `sql` must not reach a parser: not text, too long, too deep."""
    if not isinstance(sql, str):
        return "syntax", f"expected SQL text, got {type(sql).__name__}"
    if len(sql) > max_chars:
        return TOO_COMPLEX, f"the query is {len(sql):,} characters long; the limit is {max_chars:,}"
    if "\x00" in sql:
        return "syntax", "the query contains a NUL character"
    try:
        sql.encode("utf-8")
        found = tokens(sql)
    except (UnicodeError, TypeError, ValueError, duckdb.Error):
        return "syntax", "the query is not valid Unicode text"
    depth = nesting_depth(found)
    if depth > max_depth:
        return TOO_COMPLEX, f"the query nests {depth} levels deep; the limit is {max_depth}"
    return None


def nesting_depth(found: Sequence[Token]) -> int:
    """The deepest nesting among `found` tokens: (), [], {} and CASE … END, plus runs of prefix
    operators (NOT NOT …, - - …), which parsers also nest one level each."""
    depth = deepest = run = 0
    for kind, text in found:
        word = text.lower()
        if kind == _T.comment:
            continue
        if (kind == _T.keyword and word == "not") or (
                kind == _T.operator and text and not text.strip("+-~!")):
            run += 1
            deepest = max(deepest, depth + run)
            continue
        run = 0
        if kind == _T.operator:
            for ch in text:
                if ch in "([{":
                    depth += 1
                    deepest = max(deepest, depth)
                elif ch in ")]}":
                    depth -= 1
        elif kind == _T.keyword and word in ("case", "end"):
            depth += 1 if word == "case" else -1
            deepest = max(deepest, depth)
    return deepest


def _significant(found: Sequence[Token]) -> list[Token]:
    return [t for t in found if t[0] != _T.comment]


def split_first(sql: str) -> tuple[str, str]:
    """(`sql` up to its first `;` outside strings and comments, what follows that `;`)."""
    for pos, kind in duckdb.tokenize(sql):
        if kind == _T.operator and sql.startswith(";", pos):
            return sql[:pos], sql[pos + 1 :]
    return sql, ""


def statement_problem(sql: str, engine: str = "duckdb") -> tuple[str, str] | None:
    """(category, reason) when `sql`, bounded by `text_problem`, is not one plain query for
    `engine` (duckdb, sqlite or postgres)."""
    found = _significant(tokens(sql))
    for i, (kind, text) in enumerate(found):
        if kind == _T.operator and text == ";" and any(t[1] != ";" for t in found[i + 1 :]):
            return "refused", "the answer holds more than one SQL statement; give exactly one query"
    first = next((t for t in found if t[1] != "("), None)
    if first is not None and first[0] == _T.keyword and first[1].lower() not in _QUERY_STARTS:
        return "refused", f"only queries (SELECT, WITH, FROM) may run here, not {first[1].upper()}"
    if engine == "postgres" and (escaped := _unicode_escape(sql, found)):
        return "refused", (f"the query writes a name or string with Unicode escapes ({escaped}); "
                           "write names and values plainly")
    name = denied_name(sql, found, engine)
    if name:
        return "refused", (f"the query uses {name}, which reaches {DENIALS[engine].what}; only "
                           "the database's tables may be queried")
    return None


def denied_name(sql: str, found: Sequence[Token] | None = None,
                engine: str = "duckdb") -> str | None:
    """The first settings/catalogue/file function or view of `engine` that `sql` names, if any."""
    deny = DENIALS[engine]
    if not deny.hint.search(sql):
        return None
    found = _significant(tokens(sql) if found is None else found)
    for i, (kind, text) in enumerate(found):
        if kind not in (_T.identifier, _T.keyword):
            continue
        name = _unquoted(text).lower()
        if name.startswith(deny.prefixes) or name in deny.names:
            return name
        called = i + 1 < len(found) and found[i + 1][1] == "("
        if called and (name.startswith(deny.call_prefixes) or name in deny.calls):
            return name
    return None


def _unquoted(name: str) -> str:
    """An identifier as the engine reads it: "x""y" -> x"y, `x` -> x (SQLite and MySQL style)."""
    for quote in '"`':
        if len(name) >= 2 and name[0] == name[-1] == quote:
            return name[1:-1].replace(quote * 2, quote)
    return name


def _unicode_escape(sql: str, found: Sequence[Token]) -> str | None:
    """PostgreSQL's U&"..." and U&'...' spell names in escapes (U&"\\0070g_read_file" is
    pg_read_file) that no name check can read: the first such token, if any."""
    if not _U_ESCAPE.search(sql):  # `u & "x"`, with spaces, is a bitwise AND
        return None
    for (kind, text), (_, amp), (_, quoted) in zip(found, found[1:], found[2:], strict=False):
        if kind == _T.identifier and text.lower() == "u" and amp == "&" and quoted[:1] in "\"'":
            return f"U&{quoted[:24]}"
    return None
