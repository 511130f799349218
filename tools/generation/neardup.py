"""Near-duplicate text detection: Jaccard similarity of character shingles, with MinHash LSH so
that checking one text against thousands stays fast. Deterministic across processes.

    index = NearDupIndex(threshold=0.9)
    index.add("p1", "How many customers live in Berlin?")
    index.find("how many customers live in berlin")   # -> "p1"

The LSH bands are sized for the index's threshold (`lsh_shape`): as few texts below it become
candidates as keeps texts at it found with probability 0.999 or more. Bands sized for a lower
similarity than the one asked for make every templated question ("How many X in 2019?") a
candidate of every other, and the index grows quadratically. Every candidate is then checked
with the exact Jaccard similarity, which alone decides.
"""

from __future__ import annotations

import functools
import re
import zlib

import numpy as np

NUM_PERM = 128
RECALL_AT_THRESHOLD = 0.999  # the chance that a text exactly at the threshold becomes a candidate
_rng = np.random.default_rng(12345)
_A = _rng.integers(1, 2**63, size=NUM_PERM, dtype=np.uint64) | np.uint64(1)  # odd multipliers
_B = _rng.integers(0, 2**63, size=NUM_PERM, dtype=np.uint64)


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


def candidate_chance(similarity: float, bands: int, rows: int) -> float:
    """The chance that two texts this similar share a band: 1 - (1 - s^rows)^bands."""
    return 1.0 - (1.0 - similarity**rows) ** bands


@functools.lru_cache(maxsize=32)
def lsh_shape(threshold: float, num_perm: int = NUM_PERM) -> tuple[int, int]:
    """(bands, rows per band) for `threshold`: among the shapes that find a text exactly at the
    threshold with probability RECALL_AT_THRESHOLD or more, the one whose candidates below the
    threshold are fewest (the chance integrated over similarities 0..threshold)."""
    grid = np.linspace(0.0, threshold, 256)
    best: tuple[float, int, int] | None = None
    for bands in range(1, num_perm + 1):
        for rows in range(1, num_perm // bands + 1):
            if candidate_chance(threshold, bands, rows) < RECALL_AT_THRESHOLD:
                continue
            below = float(np.trapezoid(candidate_chance(grid, bands, rows), grid))
            if best is None or below < best[0]:
                best = (below, bands, rows)
    return (best[1], best[2]) if best else (num_perm, 1)


@functools.lru_cache(maxsize=4096)
def sketch(text: str) -> tuple[frozenset[str], np.ndarray]:
    """A text's shingles and MinHash signature, computed once however many indexes check it (a
    pair is checked against the test seeds' index and the kept pairs', then added)."""
    sh = shingles(text)
    return sh, _signature(sh)


class NearDupIndex:
    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self.bands, self.rows = lsh_shape(threshold)
        self.items: dict[str, frozenset[str]] = {}  # in the order they were added
        self.order: dict[str, int] = {}
        self.buckets: dict[tuple, list[str]] = {}

    def _keys(self, sig: np.ndarray) -> list[tuple]:
        r = self.rows
        return [(b, sig[b * r : (b + 1) * r].tobytes()) for b in range(self.bands)]

    def find(self, text: str) -> str | None:
        """The key of a stored text at least `threshold` similar, or None (the earliest stored of
        the candidates that are)."""
        sh, sig = sketch(text)
        seen: set[str] = set()
        for band in self._keys(sig):
            seen.update(self.buckets.get(band, ()))
        similar = [key for key in seen if jaccard(sh, self.items[key]) >= self.threshold]
        return min(similar, key=self.order.__getitem__) if similar else None

    def add(self, key: str, text: str) -> None:
        sh, sig = sketch(text)
        self.order.setdefault(key, len(self.order))
        self.items[key] = sh
        for band in self._keys(sig):
            self.buckets.setdefault(band, []).append(key)
