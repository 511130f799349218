"""Scores are samples: every accuracy comes with its Wilson 95% interval.

    wilson(14, 16)   # Interval(n=16, correct=14, accuracy=0.875, low=0.64, high=0.97)
"""

from __future__ import annotations

import math

from pydantic import BaseModel, Field


class Interval(BaseModel):
    n: int
    correct: int
    accuracy: float
    low: float = Field(description="Wilson 95% lower bound.")
    high: float = Field(description="Wilson 95% upper bound.")

    def text(self) -> str:
        """e.g. '87.5% [64%, 97%]'"""
        return f"{self.accuracy:.1%} [{self.low:.0%}, {self.high:.0%}]"


def wilson(correct: int, n: int, z: float = 1.96) -> Interval:
    if n == 0:
        return Interval(n=0, correct=0, accuracy=0.0, low=0.0, high=0.0)
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return Interval(n=n, correct=correct, accuracy=p, low=max(0.0, centre - half),
                    high=min(1.0, centre + half))
