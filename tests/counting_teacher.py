"""A test teacher: the bundled example teacher, logging every call it completes to a file, and
able to crash the whole process (os._exit) when asked for a given call, like a killed run."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path

from slm_distill.examples.text2sql.teacher import TEACHER as EXAMPLE


def _log(line: str) -> None:
    path = os.environ.get("COUNT_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")


def _cached_calls(context: dict) -> int:
    """Rows in the project's teacher cache (the database lies in the project directory)."""
    cache = Path(context["db_path"]).parent / ".cache" / "teacher.sqlite"
    with sqlite3.connect(cache) as conn:
        return conn.execute("SELECT count(*) FROM calls").fetchone()[0]


class CountingTeacher:
    """Counts completed calls; crashes at call CRASH_AT, once every other call in flight has
    returned and been cached (so no completed call is lost to the crash)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.started = self.finished = 0
        self.rows_before: int | None = None

    def answer(self, input, context):
        result = EXAMPLE.answer(input, context)
        _log(f"answer {context['sample']} {input}")
        return result

    def propose(self, n, seeds, context):
        with self.lock:
            if self.rows_before is None:  # before any call of this process returned
                self.rows_before = _cached_calls(context)
            self.started += 1
        if str(context["sample"]) == os.environ.get("CRASH_AT"):
            self._crash_when_the_others_are_cached(context)
        result = self._propose(n, seeds, context)
        _log(f"propose {context['sample']} {context['augmentation']}")
        with self.lock:
            self.finished += 1
        return result

    def _propose(self, n, seeds, context):
        return EXAMPLE.propose(n, seeds, context)

    def _crash_when_the_others_are_cached(self, context: dict) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # generation commits in order: no new call starts
            with self.lock:
                others_done = self.finished == self.started - 1
                expected = self.rows_before + self.finished
            if others_done and _cached_calls(context) >= expected:
                break
            time.sleep(0.01)
        os._exit(17)


TEACHER = CountingTeacher()


class RepeatingTeacher(CountingTeacher):
    """A counting teacher with little to say: every call proposes what one of four calls did, so
    most proposals are duplicates and generation falls short of a large target."""

    def _propose(self, n, seeds, context):
        return EXAMPLE.propose(n, seeds, {**context, "sample": int(context["sample"]) % 4})


REPEATS = RepeatingTeacher()


class SpyTeacher:
    """The example teacher, writing what every propose call was shown to SPY_LOG (JSON lines)."""

    def answer(self, input, context):
        return EXAMPLE.answer(input, context)

    def propose(self, n, seeds, context):
        import json

        with open(os.environ["SPY_LOG"], "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"mode": context["augmentation"], "focus": context.get("focus"),
                                 "examples": seeds}) + "\n")
        return EXAMPLE.propose(n, seeds, context)


SPY = SpyTeacher()


class NoTargetsTeacher:
    """The example teacher, proposing nothing when asked for targeted pairs."""

    def answer(self, input, context):
        return EXAMPLE.answer(input, context)

    def propose(self, n, seeds, context):
        return [] if context["augmentation"] == "targeted" else EXAMPLE.propose(n, seeds, context)


NO_TARGETS = NoTargetsTeacher()


class SlowTeacher:
    """The example teacher, taking SLOW_S seconds (default 0.5) per proposal, and, when GATE_FILE
    is set, proposing nothing until that file exists: a run that lasts as long as a test needs.
    With STARTED_FILE set, it creates that file when a proposal begins."""

    def answer(self, input, context):
        return EXAMPLE.answer(input, context)

    def propose(self, n, seeds, context):
        gate, deadline = os.environ.get("GATE_FILE"), time.monotonic() + 300
        if started := os.environ.get("STARTED_FILE"):
            Path(started).touch()
        while gate and not Path(gate).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(float(os.environ.get("SLOW_S", "0.5")))
        return EXAMPLE.propose(n, seeds, context)


SLOW = SlowTeacher()


class ReversedTeacher:
    """The example teacher, its proposals taking longer the earlier the call within each group of
    eight (call 0 slowest): concurrent calls end in the reverse of their order. Logs each call's
    index as it ends to ENDED_LOG."""

    def answer(self, input, context):
        return EXAMPLE.answer(input, context)

    def propose(self, n, seeds, context):
        time.sleep(0.01 * (8 - context["sample"] % 8))
        out = EXAMPLE.propose(n, seeds, context)
        if log := os.environ.get("ENDED_LOG"):
            with open(log, "a", encoding="utf-8") as fh:
                fh.write(f"{context['sample']}\n")
        return out


REVERSED = ReversedTeacher()
