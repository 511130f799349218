"""Near-duplicate text detection: Jaccard similarity of character shingles, with MinHash LSH so
that checking one text against thousands stays fast. Deterministic across processes.

    index = NearDupIndex(threshold=0.9)
    index.add("p1", "How many customers live in Berlin?")
    index.find("how many customers live in berlin")   # -> "p1"

The LSH bands are sized for the index's threshold (`lsh_shape`): as few texts below it become
candidates as keeps a text at the threshold found with probability 0.999 or more. (Bands sized
for a lower similarity than the one asked for made every templated question, "How many X in
2019?", a candidate of every other, and the index grew quadratically.) Where the candidates are
many, their similarity is first computed on their shingles' 32-bit hashes, all at once; the
exact Jaccard similarity of the shingles decides for those that come near the threshold (and
for every candidate where they are few).
"""

from __future__ import annotations

import functools
import re
import zlib
from array import array
from typing import NamedTuple

import numpy as np

NUM_PERM = 128
RECALL_AT_THRESHOLD = 0.999  # the chance that a text exactly at the threshold becomes a candidate
HASH_SLACK = 0.02  # how far below the threshold a hashes' Jaccard still gets the exact check
# Candidates are checked exactly, one by one, unless there are more than FEW and their number
# times the text's shingles exceeds VECTOR_WORK: then the hashes' pass (numpy, about 15 us to
# start) screens them first. Measured on these two cores: for 41-shingle questions the exact
# checks are cheaper up to about 100 candidates, for 390-shingle texts up to about 20.
FEW, VECTOR_WORK = 12, 3000
_rng = np.random.default_rng(12345)
_A = _rng.integers(1, 2**63, size=NUM_PERM, dtype=np.uint64) | np.uint64(1)  # odd multipliers
_B = _rng.integers(0, 2**63, size=NUM_PERM, dtype=np.uint64)
_MIX = _rng.integers(1, 2**63, size=NUM_PERM, dtype=np.uint64) | np.uint64(1)  # band hashing


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
    shared = len(a & b)
    return shared / (len(a) + len(b) - shared)  # the union's size, without building it


class Sketch(NamedTuple):
    shingles: frozenset[str]
    hashes: np.ndarray  # the shingles' CRC-32s, sorted and unique
    signature: np.ndarray  # MinHash, NUM_PERM values


@functools.lru_cache(maxsize=4096)
def sketch(text: str) -> Sketch:
    """A text's shingles, their hashes and its MinHash signature, computed once however many
    indexes check it (a pair is checked against the test seeds' index and the kept pairs', then
    added)."""
    sh = shingles(text)
    crc = np.fromiter((zlib.crc32(s.encode()) for s in sh), dtype=np.uint64, count=len(sh))
    # Multiply-add-shift hashing: (a * h + b) mod 2**64, keep the high 32 bits.
    with np.errstate(over="ignore"):
        signature = ((np.outer(crc, _A) + _B) >> np.uint64(32)).min(axis=0)
    return Sketch(sh, np.unique(crc.astype(np.uint32)), signature)


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


class NearDupIndex:
    """Texts by key; `find` returns the earliest added text at least `threshold` similar."""

    def __init__(self, threshold: float, shape: tuple[int, int] | None = None) -> None:
        """`shape`: (bands, rows) instead of those sized for the threshold (for comparisons)."""
        self.threshold = threshold
        self.bands, self.rows = shape or lsh_shape(threshold)
        self.items: dict[str, frozenset[str]] = {}  # each key's latest text
        self.keys: list[str] = []  # by row, in the order the texts were added
        self.texts: list[frozenset[str]] = []  # by row
        self.hashes = np.zeros(1024, dtype=np.uint32)  # every row's shingle hashes, end to end
        self.starts = np.zeros(65, dtype=np.int64)  # row i's: hashes[starts[i]:starts[i + 1]]
        # per band: the hash of a text's values in that band -> the texts' rows; a collision
        # only adds a candidate, which the checks then drop
        self.buckets: list[dict[int, array]] = [{} for _ in range(self.bands)]
        self._last: tuple[str | None, list[int]] = (None, [])

    def find(self, text: str) -> str | None:
        """The key of the earliest stored text at least `threshold` similar, or None. A shared
        hash counts as a shared shingle; a CRC-32 collision (about one pair of shingles in
        2**32) moves the hashes' Jaccard by one shingle's worth at most, so the exact Jaccard is
        computed wherever the hashes' comes within HASH_SLACK of the threshold."""
        sk = sketch(text)
        hits = [rows for bucket, band in zip(self.buckets, self._bands(text, sk), strict=True)
                if (rows := bucket.get(band)) is not None]
        if not hits:
            return None
        # sorted: the order the texts were added in (a bucket's rows are, being appended so)
        rows = hits[0].tolist() if len(hits) == 1 else sorted(set().union(*hits))
        if len(rows) > FEW and len(rows) * len(sk.shingles) > VECTOR_WORK:
            near = np.array(rows, dtype=np.int64)
            rows = near[self._hashed_jaccard(near, sk.hashes)
                        >= self.threshold - HASH_SLACK].tolist()
        # jaccard() inlined: the intersections are taken in C, lazily (the first match ends it)
        mine, others = sk.shingles, [self.texts[row] for row in rows]
        for row, other, shared in zip(rows, others, map(len, map(mine.intersection, others)),
                                      strict=True):
            if shared / (len(mine) + len(other) - shared) >= self.threshold:
                return self.keys[row]
        return None

    def add(self, key: str, text: str) -> None:
        sk = sketch(text)
        if self.items.get(key) == sk.shingles:  # the same text again: it keeps its place
            return
        row = len(self.keys)
        begin = int(self.starts[row])
        end = begin + len(sk.hashes)
        while end > len(self.hashes):
            self.hashes = np.concatenate([self.hashes, np.zeros_like(self.hashes)])
        if row + 2 > len(self.starts):
            self.starts = np.concatenate([self.starts, np.zeros_like(self.starts)])
        self.hashes[begin:end], self.starts[row + 1] = sk.hashes, end
        self.keys.append(key)
        self.texts.append(sk.shingles)
        self.items[key] = sk.shingles
        for bucket, band in zip(self.buckets, self._bands(text, sk), strict=True):
            bucket.setdefault(band, array("q")).append(row)

    def _bands(self, text: str, sk: Sketch) -> list[int]:
        """One hash per band of the text's signature (kept for the text last asked about: a
        text is found, then added)."""
        if self._last[0] != text:
            bands = sk.signature[: self.bands * self.rows].reshape(self.bands, self.rows)
            with np.errstate(over="ignore"):
                self._last = (text, (bands * _MIX[: self.rows]).sum(axis=1).tolist())
        return self._last[1]

    def _hashed_jaccard(self, rows: np.ndarray, query: np.ndarray) -> np.ndarray:
        """The Jaccard similarity of `query`'s hashes with each row's, in one pass."""
        starts = self.starts[rows]
        sizes = self.starts[rows + 1] - starts
        offsets = np.cumsum(sizes) - sizes  # where each row's hashes begin in `pieces`
        pieces = self.hashes[np.repeat(starts - offsets, sizes) + np.arange(int(sizes.sum()))]
        at = np.minimum(np.searchsorted(query, pieces), len(query) - 1)
        shared = np.add.reduceat(query[at] == pieces, offsets)
        return shared / (sizes + len(query) - shared)
