"""Execution-accuracy comparison on hand-made cases."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from slm_distill.tools.tasks.sandbox import QueryResult
from slm_distill.tools.tasks.sqlcompare import gold_is_ordered, results_equal


def res(*rows, cols=None):
    width = len(rows[0]) if rows else len(cols or [])
    return QueryResult(columns=cols or [f"c{i}" for i in range(width)], rows=list(rows))


def test_row_order_ignored_without_order_by():
    assert results_equal(res((1, "a"), (2, "b")), res((2, "b"), (1, "a")), ordered=False)


def test_row_order_matters_with_order_by():
    assert not results_equal(res((1,), (2,)), res((2,), (1,)), ordered=True)
    assert results_equal(res((1,), (2,)), res((1,), (2,)), ordered=True)


def test_duplicates_count():
    assert not results_equal(res((1,), (1,), (2,)), res((1,), (2,), (2,)), ordered=False)
    assert not results_equal(res((1,), (1,)), res((1,),), ordered=False)


def test_column_permutations_allowed():
    gold = res((1, "a", 2.5), (2, "b", 3.5))
    assert results_equal(gold, res(("a", 2.5, 1), ("b", 3.5, 2)), ordered=False)
    assert results_equal(gold, res(("a", 2.5, 1), ("b", 3.5, 2)), ordered=True)
    # the same columns but rows mixed across them are not the same answer
    assert not results_equal(res((1, "a"), (2, "b")), res(("b", 1), ("a", 2)), ordered=False)


def test_permutation_search_handles_identical_columns():
    assert results_equal(res((1, 1, 2), (3, 3, 4)), res((2, 1, 1), (4, 3, 3)), ordered=False)


def test_floats_within_tolerance_and_int_vs_float():
    assert results_equal(res((0.1 + 0.2,)), res((0.3,)), ordered=False)
    assert results_equal(res((3,)), res((3.0,)), ordered=False)
    assert results_equal(res((Decimal("12.30"),)), res((12.3,)), ordered=False)
    assert not results_equal(res((3.0001,)), res((3.0,)), ordered=False)
    assert not results_equal(res((123456789,)), res((123456790,)), ordered=False)


def test_nulls_and_types():
    assert results_equal(res((None, 1)), res((None, 1)), ordered=False)
    assert not results_equal(res((None,)), res((0,)), ordered=False)
    assert results_equal(res((True,)), res((1,)), ordered=False)
    assert results_equal(res((dt.date(2024, 1, 2),)), res(("2024-01-02",)), ordered=False)


def test_shape_differences():
    assert not results_equal(res((1, 2)), res((1,)), ordered=False)
    assert results_equal(res(cols=["a"]), res(cols=["b"]), ordered=False)


def test_gold_is_ordered_looks_at_the_outer_query_only():
    assert gold_is_ordered("SELECT a FROM t ORDER BY a")
    assert not gold_is_ordered("SELECT * FROM (SELECT a FROM t ORDER BY a LIMIT 3) s")
    assert gold_is_ordered("SELECT a FROM t UNION SELECT b FROM u ORDER BY 1")


def test_a_column_without_partner_fails_fast_instead_of_searching():
    """Twenty identical gold columns against nineteen of them and one other: the old search tried
    every assignment of nineteen columns to twenty places (factorial time) before saying no."""
    gold = res(tuple([1] * 20))
    assert not results_equal(gold, res(tuple([1] * 19 + [2])), ordered=False)
    assert results_equal(gold, res(tuple([1] * 20)), ordered=False)


def test_thousands_of_columns_do_not_exhaust_the_stack():
    width = 3000
    gold = res(tuple(range(width)), tuple(range(1, width + 1)))
    pred = res(tuple(reversed(range(width))), tuple(reversed(range(1, width + 1))))
    assert results_equal(gold, pred, ordered=True)
    assert not results_equal(gold, res(tuple(range(width)), tuple(range(width))), ordered=False)


def test_gold_is_ordered_never_raises_on_hostile_text():
    assert gold_is_ordered("SELECT " + "(" * 300 + "1" + ")" * 300 + " ORDER BY 1")
    assert not gold_is_ordered("SELECT " + "NOT " * 2000 + "TRUE")
    assert not gold_is_ordered("SELECT '" + "x" * 100_000 + "'")
