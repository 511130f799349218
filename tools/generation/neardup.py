"""Near-duplicate text detection: Jaccard similarity of character shingles, with MinHash LSH so
that checking one text against thousands stays fast. Deterministic across processes.

    index = NearDupIndex(threshold=0.9)
    index.add("p1", "How many customers live in Berlin?")
    index.find("how many customers live in berlin")   # -> "p1"
"""

from __future__ import annotations

import re
import zlib

import numpy as np

_NUM_PERM, _BANDS = 64, 16
_rng = np.random.default_rng(12345)
_A = _rng.integers(1, 2**63, size=_NUM_PERM, dtype=np.uint64) | np.uint64(1)  # odd multipliers
_B = _rng.integers(0, 2**63, size=_NUM_PERM, dtype=np.uint64)


def normalise_text(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def shingles(text: str, k: int = 5) -> frozenset[str]:
    norm = normalise_text(text)
    if len(norm) <= k:
        return frozenset([norm])
    return frozenset(norm[i : i + k] for i in range(len(norm) - k + 1))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def _signature(sh: frozenset[str]) -> np.ndarray:
    base = np.fromiter((zlib.crc32(s.encode()) for s in sh), dtype=np.uint64, count=len(sh))
    # Multiply-add-shift hashing: (a * h + b) mod 2**64, keep the high 32 bits.
    with np.errstate(over="ignore"):
        hashed = (np.outer(base, _A) + _B) >> np.uint64(32)
    return hashed.min(axis=0)


class NearDupIndex:
    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self.items: dict[str, frozenset[str]] = {}
        self.buckets: dict[tuple, list[str]] = {}

    def _bands(self, sh: frozenset[str]) -> list[tuple]:
        sig = _signature(sh)
        rows = _NUM_PERM // _BANDS
        return [(b, sig[b * rows : (b + 1) * rows].tobytes()) for b in range(_BANDS)]

    def find(self, text: str) -> str | None:
        """The key of a stored text at least `threshold` similar, or None."""
        sh = shingles(text)
        seen: set[str] = set()
        for band in self._bands(sh):
            for key in self.buckets.get(band, ()):
                if key not in seen:
                    seen.add(key)
                    if jaccard(sh, self.items[key]) >= self.threshold:
                        return key
        return None

    def add(self, key: str, text: str) -> None:
        sh = shingles(text)
        self.items[key] = sh
        for band in self._bands(sh):
            self.buckets.setdefault(band, []).append(key)
