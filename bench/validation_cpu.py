"""CPU per validated pair in generation, now against before: the same proposals (the bundled
example's offline teacher, 10 per call) through generation's own per-pair code (extract, validate:
parse, schema check, execution in the DuckDB sandbox; describe; the leakage and duplicate checks
and the commit to the ledger).

Before is the same code with what this change removed put back: every step parsing the answer
again (validate, describe, and normalising for the duplicate check twice), a thread started per
query for its timeout, the SQL features found by a walk of the tree per feature, and the
near-duplicate index as it was (bench/neardup_scaling.py), which computed a text's shingles and
MinHash again for each index it was checked against and added to. The runs alternate over
several rounds; prints the median CPU milliseconds (all threads) per validated pair and the
ratio. Not a test: run it by hand.

    .venv/bin/python bench/validation_cpu.py --calls 60 --rounds 4
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import tempfile
import threading
import time
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "text2sql"


class TimerPerQuery:
    """The watchdog as it was: a new threading.Timer for every query."""

    def __init__(self) -> None:
        self._timers: dict[int, threading.Timer] = {}
        self._next = 0

    def arm(self, seconds: float, action) -> int:
        self._next += 1
        timer = self._timers[self._next] = threading.Timer(seconds, action)
        timer.start()
        return self._next

    def disarm(self, token: int) -> None:
        self._timers.pop(token).cancel()


@contextlib.contextmanager
def before():
    """Put back what the change removed (see the module's docstring)."""
    from neardup_scaling import IndexBefore

    import slm_distill.tools.generate_pairs as generate_pairs
    import slm_distill.tools.tasks.sandbox as sandbox
    import slm_distill.tools.tasks.sqlcheck as sqlcheck
    import slm_distill.tools.tasks.text2sql as text2sql

    def normalise(sql: str, dialect: str = "duckdb") -> str:
        return sqlcheck._normalised.__wrapped__(sql, dialect) if isinstance(sql, str) else ""

    saved = (sqlcheck.parse_query, text2sql.parse_query, sqlcheck.normalise_sql,
             text2sql.normalise_sql, sandbox.WATCHDOG, generate_pairs.NearDupIndex,
             text2sql.sql_features)
    sqlcheck.parse_query = text2sql.parse_query = sqlcheck._parse
    sqlcheck.normalise_sql = text2sql.normalise_sql = normalise
    sandbox.WATCHDOG = TimerPerQuery()
    generate_pairs.NearDupIndex = IndexBefore
    text2sql.sql_features = features_before
    try:
        yield
    finally:
        (sqlcheck.parse_query, text2sql.parse_query, sqlcheck.normalise_sql,
         text2sql.normalise_sql, sandbox.WATCHDOG, generate_pairs.NearDupIndex,
         text2sql.sql_features) = saved


def features_before(tree):
    """sql_features as it was: a walk of the whole tree for each feature."""
    from sqlglot import exp

    from slm_distill.tools.tasks.sqlcheck import _FEATURES

    found = [name for name, kinds in _FEATURES.items() if tree.find(*kinds)]
    if any(isinstance(s.parent, exp.Where | exp.In | exp.Select | exp.Having | exp.Binary)
           or isinstance(s.this, exp.Select) and s.parent is not None
           for s in tree.find_all(exp.Subquery)):
        found.append("subquery")
    if any(t.is_type(*exp.DataType.TEMPORAL_TYPES) for t in tree.find_all(exp.DataType)) or any(
            c.name.lower().endswith(("_date", "date", "_at")) for c in tree.find_all(exp.Column)):
        found.append("dates")
    return sorted(set(found))


def clear_caches() -> None:
    import slm_distill.tools.generation.neardup as neardup
    import slm_distill.tools.tasks.sqlcheck as sqlcheck

    sqlcheck._parsed.cache_clear()
    sqlcheck._normalised.cache_clear()
    neardup.sketch.cache_clear()


def process(project, calls: list[list[dict]]) -> tuple[float, int]:
    """(CPU seconds, pairs validated) for every proposal through generation's per-pair code."""
    from slm_distill.tools.generate_pairs import CallPlan, Ledger, Pair, _check_item
    from slm_distill.tools.teachers import project_teacher

    task = project.task()
    teacher = project_teacher(project)
    validation, test = project.split()
    ledger = Ledger(project, task, test)
    plan = CallPlan("new", [])
    task.schema_text  # noqa: B018 - the schema is read once per run either way
    clear_caches()
    async def every_call() -> int:  # one event loop for the run, as generation has
        validated = 0
        for index, items in enumerate(calls):
            for outcome in await asyncio.gather(*(_check_item(item, index, plan, teacher, task, 1,
                                                              0.7) for item in items)):
                if isinstance(outcome, Pair):
                    validated += 1
                    if ledger.judge(outcome, index) is None:
                        ledger.keep(outcome)
        return validated

    started = time.process_time()
    try:
        validated = asyncio.run(every_call())
        return time.process_time() - started, validated
    finally:
        task.close()
        asyncio.run(teacher.close())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()

    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from generation_throughput import proposal_pool, template_project

    from slm_distill.tools.workspace.project import Project

    with tempfile.TemporaryDirectory() as scratch:
        project = Project.load(template_project(Path(scratch)))
        calls = proposal_pool(project, args.calls)
        seen: dict[str, list[float]] = {"before": [], "now": []}
        for r in range(args.rounds):
            for name in (("before", "now") if r % 2 == 0 else ("now", "before")):
                with before() if name == "before" else contextlib.nullcontext():
                    cpu, validated = process(project, calls)
                seen[name].append(cpu / validated * 1000)
    print(f"{args.calls} calls of 10 proposals, {validated} validated pairs, {args.rounds} rounds")
    for name, values in seen.items():
        print(f"  {name:<6} {statistics.median(values):6.2f} ms CPU per validated pair "
              f"(rounds {min(values):.2f}-{max(values):.2f})")
    print(f"  before / now: {statistics.median(seen['before']) / statistics.median(seen['now']):.2f}x")


if __name__ == "__main__":
    main()
