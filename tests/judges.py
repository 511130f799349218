"""Deliberately bad judges for the judge gate's tests (`python:tests.judges:NAME`)."""

from __future__ import annotations


class Generous:
    """Scores every answer 5: it cannot tell a good summary from a damaged one."""

    def judge(self, request: dict) -> dict:
        if request["kind"] == "pairwise":
            return {"winner": "A", "reason": "always the first one"}
        return {"score": 5, "reason": "looks fine"}


GENEROUS = Generous()
