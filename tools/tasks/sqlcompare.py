"""Execution accuracy: are two query results the same answer?

Results are compared as multisets of rows, or as lists when the gold query orders its rows. Columns
may come in any order (a permutation of the predicted columns is searched for), values are
normalised across types (1 == 1.0 == Decimal('1.00'), True == 1, dates as ISO text) and floats are
compared to 9 significant digits. Column names never matter.

    results_equal(gold_result, pred_result, ordered=gold_is_ordered(gold_sql))
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections import Counter
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import sqlglot
from sqlglot import exp

from slm_distill.tools.tasks.sandbox import QueryResult

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


def gold_is_ordered(sql: str) -> bool:
    """True when the outermost query has ORDER BY (then row order is part of the answer)."""
    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
    except sqlglot.errors.SqlglotError:
        return "order by" in " ".join(sql.lower().split())
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
    """Yield column orders of `p` whose every column matches the gold column it stands for."""
    gold_sigs = [_column_signature(g, j, ordered) for j in range(width)]
    pred_sigs = [_column_signature(p, k, ordered) for k in range(width)]
    options = [[k for k in range(width) if pred_sigs[k] == gold_sigs[j]] for j in range(width)]
    tried = 0

    def search(j: int, used: list[int]):
        nonlocal tried
        if j == width:
            tried += 1
            yield list(used)
            return
        for k in options[j]:
            if k in used or tried >= MAX_PERMUTATIONS:
                continue
            used.append(k)
            yield from search(j + 1, used)
            used.pop()

    yield from search(0, [])
