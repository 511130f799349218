"""A test teacher: the bundled example teacher, logging every call it completes to a file, and
able to crash the whole process (os._exit) when asked for a given call, like a killed run."""

from __future__ import annotations

import os
import time

from slm_distill.examples.text2sql.teacher import TEACHER as EXAMPLE


def _log(line: str) -> None:
    path = os.environ.get("COUNT_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")


class CountingTeacher:
    """Counts completed calls; crashes at call CRASH_AT."""

    def answer(self, input, context):
        result = EXAMPLE.answer(input, context)
        _log(f"answer {context['sample']} {input}")
        return result

    def propose(self, n, seeds, context):
        if str(context["sample"]) == os.environ.get("CRASH_AT"):
            time.sleep(0.2)  # let other calls in flight finish (and be cached) first
            os._exit(17)
        result = EXAMPLE.propose(n, seeds, context)
        _log(f"propose {context['sample']} {context['augmentation']}")
        return result


TEACHER = CountingTeacher()


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
