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
import math
import uuid
from collections import Counter, defaultdict
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import sqlglot
from sqlglot import exp

from slm_distill.tools.tasks.sandbox import QueryResult
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


def gold_is_ordered(sql: str, dialect: str = "duckdb") -> bool:
    """True when the outermost query has ORDER BY (then row order is part of the answer)."""
    try:
        if text_problem(sql):
            raise ValueError("not for sqlglot")
        tree = sqlglot.parse_one(sql, read=dialect)
    except (sqlglot.errors.SqlglotError, ValueError, RecursionError, MemoryError):
        return "order by" in " ".join(str(sql).lower().split())
    return isinstance(tree, exp.Query) and tree.args.get("order") is not None


def results_equal(gold: QueryResult, pred: QueryResult, *, ordered: bool) -> bool:
    g, p = normalise_rows(gold.rows), normalise_rows(pred.rows)
    width = len(gold.columns)
    if width != len(pred.columns) or len(g) != len(p):
        return False
    if width == 0:
        return True
    return any(
        _rows_match(g, [tuple(row[k] for k in perm) for row in p], ordered)
        for perm in _candidate_permutations(g, p, width, ordered)
    )


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
