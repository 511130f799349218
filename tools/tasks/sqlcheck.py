"""Static checks on SQL with sqlglot, in the engine's dialect: parse, references, normal form, features.

Text over sqlguard's length and nesting bounds never reaches sqlglot, and a RecursionError or
MemoryError from it becomes SqlCheckError("too_complex"): nothing here raises anything else.

    tree = parse_query("SELECT name FROM artists")          # raises SqlCheckError("syntax", ...)
    check_references(tree, {"artists": {"artist_id", "name"}})
    normalise_sql("select  NAME from Artists;")             # 'select name from artists'
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

import sqlglot
from sqlglot import exp

from slm_distill.tools.tasks.database import ENGINE_LABELS
from slm_distill.tools.tasks.sqlguard import TOO_COMPLEX, text_problem

R = TypeVar("R")
Schema = dict[str, set[str]]


class SqlCheckError(Exception):
    def __init__(self, category: str, message: str) -> None:
        super().__init__(message)
        self.category = category
        self.message = message


def bounded(work: Callable[..., R], *args: object, **kwargs: object) -> R:
    """`work(...)` with sqlglot's stack or memory exhaustion turned into SqlCheckError."""
    try:
        return work(*args, **kwargs)
    except RecursionError:
        raise SqlCheckError(TOO_COMPLEX, "the query nests too deeply to analyse") from None
    except MemoryError:
        raise SqlCheckError(TOO_COMPLEX, "the query is too large to analyse") from None


# Nodes that write or lock, which no query here may hold (a data-modifying CTE, SELECT INTO,
# SELECT ... FOR UPDATE): the engines refuse them too, read-only.
_WRITES = (exp.Insert, exp.Update, exp.Delete, exp.Merge, exp.Into, exp.Lock, exp.Create,
           exp.Drop, exp.Command)


def parse_query(sql: str, dialect: str = "duckdb") -> exp.Expression:
    """Parse exactly one query (SELECT, WITH, set operation) in `dialect` (sqlglot's name). A
    text is parsed once: validation, describe and normalisation share its tree, so read it (or
    copy it before changing it; sqlglot's `sql()` copies)."""
    return _parsed(sql, dialect) if isinstance(sql, str) else _parse(sql, dialect)


@functools.lru_cache(maxsize=2048)
def _parsed(sql: str, dialect: str) -> exp.Expression:
    return _parse(sql, dialect)


def _parse(sql: str, dialect: str) -> exp.Expression:
    problem = text_problem(sql)
    if problem:
        raise SqlCheckError(*problem)
    try:
        trees = [t for t in bounded(sqlglot.parse, sql, read=dialect) if t is not None]
    except sqlglot.errors.SqlglotError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        label = ENGINE_LABELS.get(dialect, dialect)
        raise SqlCheckError("syntax", f"does not parse as {label} SQL: {first[:200]}") from exc
    except (SqlCheckError, KeyboardInterrupt):
        raise
    except Exception as exc:  # noqa: BLE001 - sqlglot's own bugs on odd text are still a verdict
        raise SqlCheckError("syntax", f"sqlglot could not parse it ({type(exc).__name__})") from exc
    if len(trees) != 1:
        raise SqlCheckError("refused", f"expected one statement, found {len(trees)}")
    tree = trees[0]
    if not isinstance(tree, exp.Query):
        raise SqlCheckError("refused", f"not a query ({tree.key.upper()}); only SELECT is allowed")
    writes = bounded(tree.find, *_WRITES)
    if writes is not None:
        raise SqlCheckError("refused", f"the query holds {writes.key.upper()}, which writes or "
                            "locks; only reads may run here")
    return tree


def writes_problem(sql: str, dialect: str) -> tuple[str, str] | None:
    """("refused", why) when `sql` parses in `dialect` and writes or locks (None otherwise, also
    when sqlglot cannot read it: the engine has the last word on syntax)."""
    try:
        parse_query(sql, dialect)
    except SqlCheckError as exc:
        if exc.category == "refused":
            return "refused", exc.message
    return None


def check_references(tree: exp.Expression, schema: Schema, dialect: str = "duckdb") -> None:
    """Raise SqlCheckError when a table or column the query names is not in the schema. In SQLite
    a double-quoted name that is no column is a string ("USA"), as SQLite itself reads it."""
    bounded(_check_references, tree, schema, dialect == "sqlite")


def _check_references(tree: exp.Expression, schema: Schema, quoted_strings: bool) -> None:
    ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    aliases = _table_aliases(tree, schema, ctes)
    derived_names = _derived_names(tree)
    known_columns = set().union(*(schema[t] for t in aliases.values() if t)) if aliases else set()
    for col in tree.find_all(exp.Column):
        if isinstance(col.this, exp.Star):
            continue
        name, qualifier = col.name.lower(), col.table.lower()
        table = aliases.get(qualifier) if qualifier else None
        if table:
            if name not in schema[table]:
                raise SqlCheckError("unknown_column", f"table {table} has no column {col.name}")
        elif qualifier and qualifier not in aliases:
            if qualifier not in schema:
                raise SqlCheckError("unknown_table", f"unknown table or alias {col.table}")
        elif not qualifier and name not in known_columns and name not in derived_names:
            if quoted_strings and col.this.args.get("quoted"):
                continue
            tables = sorted({t for t in aliases.values() if t})
            where = f"table {tables[0]}" if len(tables) == 1 else "no table in the query"
            raise SqlCheckError("unknown_column", f"{where} has no column {col.name}")


def _table_aliases(tree: exp.Expression, schema: Schema, ctes: set[str]) -> dict[str, str | None]:
    """Map every table name and alias in the query to its schema table (None: CTE or derived)."""
    aliases: dict[str, str | None] = {}
    for table in tree.find_all(exp.Table):
        name = table.name.lower()
        if not name or isinstance(table.this, exp.Anonymous | exp.Func):
            continue
        if name in ctes:
            aliases.setdefault(name, None)
            aliases[table.alias_or_name.lower()] = None
            continue
        if name not in schema:
            raise SqlCheckError("unknown_table", f"no table named {table.name}")
        aliases[name] = name
        aliases[table.alias_or_name.lower()] = name
    for sub in tree.find_all(exp.Subquery):
        if sub.alias:
            aliases[sub.alias.lower()] = None
    return aliases


def _derived_names(tree: exp.Expression) -> set[str]:
    """Names a query defines itself: select aliases, CTE and table-alias column lists, lambdas."""
    names = {a.alias.lower() for a in tree.find_all(exp.Alias) if a.alias}
    for alias in tree.find_all(exp.TableAlias):
        names.update(c.name.lower() for c in alias.columns)
    for lam in tree.find_all(exp.Lambda):
        names.update(e.name.lower() for e in lam.expressions)
    return names


def normalise_sql(sql: str, dialect: str = "duckdb") -> str:
    """A canonical text for exact match and de-duplication (falls back to whitespace folding)."""
    return _normalised(sql, dialect) if isinstance(sql, str) else ""


@functools.lru_cache(maxsize=4096)
def _normalised(sql: str, dialect: str) -> str:
    text = sql.strip().rstrip(";").strip()
    try:
        tree = parse_query(text, dialect)
        text = bounded(tree.sql, dialect=dialect, normalize=True, comments=False)
    except SqlCheckError:
        pass
    return " ".join(text.lower().split())


def tables_used(tree: exp.Expression) -> list[str]:
    ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    names = {t.name.lower() for t in tree.find_all(exp.Table) if t.name}
    return sorted(names - ctes)


_DATE_FUNCS = (
    exp.Year, exp.Month, exp.Day, exp.DateTrunc, exp.DateAdd, exp.DateSub, exp.DateDiff,
    exp.Extract, exp.CurrentDate, exp.CurrentTimestamp, exp.StrToDate, exp.TimestampTrunc,
)


_FEATURES: dict[str, tuple[type, ...]] = {
    "join": (exp.Join,),
    "group_by": (exp.Group,),
    "having": (exp.Having,),
    "order_by": (exp.Order,),
    "limit": (exp.Limit,),
    "aggregate": (exp.AggFunc,),
    "distinct": (exp.Distinct,),
    "case": (exp.Case,),
    "window": (exp.Window,),
    "set_operation": (exp.SetOperation,),
    "cte": (exp.CTE,),
    "like": (exp.Like, exp.ILike),
    "null_handling": (exp.Is, exp.Coalesce),
    "dates": _DATE_FUNCS,
}


def sql_features(tree: exp.Expression) -> list[str]:
    """SQL features a query uses, for coverage statistics and failure grouping (one walk of the
    tree)."""
    kinds: set[type] = set()
    subqueries, dated = [], False
    for node in tree.walk():
        kinds.add(type(node))
        if isinstance(node, exp.Subquery):
            subqueries.append(node)
        elif isinstance(node, exp.DataType):
            dated = dated or node.is_type(*exp.DataType.TEMPORAL_TYPES)
        elif isinstance(node, exp.Column):
            dated = dated or node.name.lower().endswith(("_date", "date", "_at"))
    found = {name for name, wanted in _FEATURES.items()
             if any(issubclass(kind, wanted) for kind in kinds)}
    if any(isinstance(s.parent, exp.Where | exp.In | exp.Select | exp.Having | exp.Binary)
           or isinstance(s.this, exp.Select) and s.parent is not None for s in subqueries):
        found.add("subquery")
    if dated:
        found.add("dates")
    return sorted(found)


def difficulty_of(features: list[str], n_tables: int) -> str:
    """A heuristic difficulty when the teacher gave none."""
    hard = {"subquery", "having", "window", "set_operation", "cte"}
    if hard & set(features) or n_tables >= 3:
        return "hard"
    if {"join", "group_by", "aggregate"} & set(features):
        return "medium"
    return "easy"
