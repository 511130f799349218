"""Execution accuracy: are two query results the same answer?

Results are compared as multisets of rows, or as lists when the gold query orders its rows. Columns
may come in any order (a permutation of the predicted columns is searched for), values are
normalised across types (1 == 1.0 == Decimal('1.00'), True == 1, dates as ISO text) and floats are
compared to 9 significant digits. Column names never matter. Nothing here recurses on what a query
chose (its width, its nesting), so hostile results and queries cannot exhaust the stack.

    results_equal(gold_result, pred_result, ordered=gold_is_ordered(gold_sql))
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import uuid
from collections import Counter, defaultdict
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import sqlglot
from sqlglot import exp

from slm_distill.tools.tasks.database import QueryResult
from slm_distill.tools.tasks.sqlguard import text_problem

MAX_PERMUTATIONS = 2000


def normalise_value(value: Any) -> Any:  # noqa: PLR0911 - one case per type
    """Map a DuckDB value to a canonical, hashable form."""
    if value is None:
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float | Decimal):
        return _normalise_number(float(value))
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return _normalise_number(value.total_seconds())
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, list | tuple):
        return tuple(normalise_value(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((str(k), normalise_value(v)) for k, v in value.items()))
    return value


def _normalise_number(x: float) -> float | int | str:
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x.is_integer() and abs(x) < 2**53:
        return int(x)
    rounded = float(f"{x:.9g}")
    return int(rounded) if rounded.is_integer() else rounded


def _sort_key(value: Any) -> tuple[str, str]:
    return (type(value).__name__, repr(value))


def normalise_rows(rows: Sequence[Sequence[Any]]) -> list[tuple]:
    return [tuple(normalise_value(v) for v in row) for row in rows]


def _tree(sql: str, dialect: str) -> exp.Expression | None:
    """sqlglot's tree of `sql`, or None when its text is out of bounds or sqlglot cannot read it."""
    try:
        return None if text_problem(sql) else sqlglot.parse_one(sql, read=dialect)
    except (sqlglot.errors.SqlglotError, ValueError, RecursionError, MemoryError):
        return None


def gold_is_ordered(sql: str, dialect: str = "duckdb") -> bool:
    """True when the outermost query has ORDER BY (then row order is part of the answer)."""
    tree = _tree(sql, dialect)
    if tree is None:
        return "order by" in " ".join(str(sql).lower().split())
    return isinstance(tree, exp.Query) and tree.args.get("order") is not None


def results_equal(gold: QueryResult, pred: QueryResult, *, ordered: bool,
                  ties: list[list[tuple]] | None = None, spider: bool = False) -> bool:
    """Is `pred` the same answer as `gold`? `ties`: the gold's rows in ORDER BY order grouped by
    equal ordering keys, every row before its LIMIT cut and the whole group the cut falls in
    (see `tie_groups`); then rows may come in any order within a group and, in the group the
    LIMIT cuts, be any of its rows. `spider`: two empty results are equal whatever their columns,
    as in the Spider test-suite comparator."""
    g, p = normalise_rows(gold.rows), normalise_rows(pred.rows)
    width = len(gold.columns)
    if spider and not g and not p:
        return True
    if width != len(pred.columns) or len(g) != len(p):
        return False
    if width == 0:
        return True
    if ties is not None and ordered:
        return any(_tie_broken_cut(ties, [tuple(row[k] for k in perm) for row in p])
                   for perm in _tie_permutations(g, p, width))
    return any(
        _rows_match(g, [tuple(row[k] for k in perm) for row in p], ordered)
        for perm in _candidate_permutations(g, p, width, ordered)
    )


def _tie_broken_cut(groups: list[list[tuple]], pred: list[tuple]) -> bool:
    """`pred` is, group by group, each whole tie group in any order, then part of the last."""
    pos = 0
    for group in groups:
        if pos >= len(pred):
            break
        take = min(len(group), len(pred) - pos)
        segment, members = Counter(pred[pos : pos + take]), Counter(group)
        if take == len(group) and segment != members:
            return False
        if any(segment[row] > members[row] for row in segment):
            return False
        pos += take
    return pos == len(pred)


def _tie_permutations(g: list[tuple], p: list[tuple], width: int):
    """Column orders to try against tie groups: those whose columns match as multisets, else
    (a LIMIT cut may pick other tied rows) every order of up to 6 columns, or none."""
    matched = list(_candidate_permutations(g, p, width, ordered=False))
    if matched:
        yield from matched
    elif width <= 6:
        yield from (list(perm) for perm in itertools.permutations(range(width)))
    else:
        yield list(range(width))


def tie_groups(keyed: QueryResult, width: int, limit: int | None) -> list[list[tuple]] | None:
    """The gold's rows (the first `width` columns of `keyed`, which ends with its ORDER BY keys,
    run without its LIMIT) grouped by equal keys, up to the group holding row `limit`. None when
    the keyed result was cut by the row cap (the groups would be guesses)."""
    if keyed.truncated:
        return None
    rows = normalise_rows(keyed.rows)
    groups: list[list[tuple]] = []
    last_key: object = object()
    for i, row in enumerate(rows):
        key = row[width:]
        if limit is not None and i >= limit and key != last_key:
            break
        if key != last_key:
            groups.append([])
            last_key = key
        groups[-1].append(row[:width])
    return groups


def keyed_query(sql: str, dialect: str) -> tuple[str, int, int | None] | None:
    """The gold query rewritten to also return its ORDER BY keys and without its LIMIT:
    (sql, the gold's width, its limit), or None when that cannot be done safely (no ORDER BY, a
    set operation, DISTINCT, OFFSET, a non-literal LIMIT, a star)."""
    tree = _tree(sql, dialect)
    order = tree.args.get("order") if isinstance(tree, exp.Select) else None
    if order is None or tree.args.get("distinct") or tree.args.get("offset") or any(
            isinstance(e, exp.Star) or (isinstance(e, exp.Column) and isinstance(e.this, exp.Star))
            for e in tree.expressions):
        return None
    limit = tree.args.get("limit")
    count = None
    if limit is not None:
        value = limit.expression
        if not (isinstance(value, exp.Literal) and value.is_int):
            return None
        count = int(value.this)
    selects = tree.expressions
    aliases = {e.alias.lower(): e.this for e in selects if isinstance(e, exp.Alias)}
    keys = []
    for i, ordered in enumerate(order.expressions):
        key = ordered.this
        if isinstance(key, exp.Literal) and key.is_int and 1 <= int(key.this) <= len(selects):
            key = selects[int(key.this) - 1]
            key = key.this if isinstance(key, exp.Alias) else key
        elif isinstance(key, exp.Column) and not key.table and key.name.lower() in aliases:
            key = aliases[key.name.lower()]
        keys.append(exp.alias_(key.copy(), f"distill_order_key_{i}"))
    keyed = tree.copy()
    keyed.set("limit", None)
    keyed.set("expressions", [e.copy() for e in selects] + keys)
    try:
        return keyed.sql(dialect=dialect), len(selects), count
    except (sqlglot.errors.SqlglotError, RecursionError, MemoryError):
        return None


def without_distinct(sql: str, dialect: str) -> str:
    """`sql` with every DISTINCT removed (the Spider test-suite's default), or as it is when
    sqlglot cannot read it."""
    tree = _tree(sql, dialect)
    if tree is None:
        return sql
    for select in tree.find_all(exp.Select):
        select.set("distinct", None)
    try:
        return tree.sql(dialect=dialect)
    except (sqlglot.errors.SqlglotError, RecursionError, MemoryError):
        return sql


def _rows_match(gold: list[tuple], pred: list[tuple], ordered: bool) -> bool:
    return gold == pred if ordered else Counter(gold) == Counter(pred)


def _column_signature(rows: list[tuple], j: int, ordered: bool) -> tuple:
    column = [row[j] for row in rows]
    return tuple(column) if ordered else tuple(sorted(column, key=_sort_key))


def _candidate_permutations(g: list[tuple], p: list[tuple], width: int, ordered: bool):
    """Yield column orders of `p` whose every column matches the gold column it stands for (at most
    MAX_PERMUTATIONS of them; none when the two sides' columns differ as multisets)."""
    gold_sigs = [_column_signature(g, j, ordered) for j in range(width)]
    pred_sigs = [_column_signature(p, k, ordered) for k in range(width)]
    if Counter(gold_sigs) != Counter(pred_sigs):
        return  # some gold column has no partner: searching would only backtrack, exponentially
    by_sig: dict[tuple, list[int]] = defaultdict(list)
    for k, sig in enumerate(pred_sigs):
        by_sig[sig].append(k)
    options = [by_sig[sig] for sig in gold_sigs]
    perm, pos, used = [0] * width, [-1] * width, [False] * width
    j, tried = 0, 0
    while True:  # depth-first over positions, with an explicit stack (width may be thousands)
        if j == width:
            yield list(perm)
            tried += 1
            if tried >= MAX_PERMUTATIONS:
                return
            j -= 1
            used[perm[j]] = False
        opts, i = options[j], pos[j] + 1
        while i < len(opts) and used[opts[i]]:
            i += 1
        if i < len(opts):
            pos[j], perm[j], used[opts[i]] = i, opts[i], True
            j += 1
            if j < width:
                pos[j] = -1
            continue
        pos[j] = -1
        j -= 1
        if j < 0:
            return
        used[perm[j]] = False
