"""Near-duplicate text detection: Jaccard similarity of character shingles, with MinHash LSH so
that checking one text against thousands stays fast. Deterministic across processes.

    index = NearDupIndex(threshold=0.9)
    index.add("p1", "How many customers live in Berlin?")
    index.find("how many customers live in berlin")   # -> "p1"

The LSH bands are sized for the index's threshold (`lsh_shape`): as few texts below it become
candidates as keeps a text at the threshold found with probability 0.999 or more. (Bands sized
for a lower similarity than the one asked for made every templated question, "How many X in
2019?", a candidate of every other, and the index grew quadratically.) Each candidate is then
screened, exactly, by a bound that costs one XOR of two integers: every text keeps a bitmap of its
shingles' hashes (BITMAP_BITS wide), and two texts at least `threshold` similar differ in at most
(1 - t) / (1 + t) x (|a| + |b|) shingles, so their bitmaps differ in at most that many bits. Only
the candidates within the bound get the exact Jaccard similarity of their shingles, which decides.
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
# Bits in a text's shingle bitmap: wide enough that few shingles of a question share a bit, so
# the bound screens near-misses out (measured: Jaccard 0.8 questions that differ in one number).
BITMAP_BITS = 1024
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
    bits: int  # bit (CRC-32 mod BITMAP_BITS) set for each shingle
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
    bitmap = np.zeros(BITMAP_BITS, dtype=bool)
    bitmap[crc % np.uint64(BITMAP_BITS)] = True
    bits = int.from_bytes(np.packbits(bitmap, bitorder="little").tobytes(), "little")
    return Sketch(sh, bits, signature)


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
        self.bits: list[int] = []  # by row: the text's shingle bitmap
        # by row: its number of shingles (kept beside the bitmaps: reading it from each
        # candidate's frozenset cost 9% at 20k questions, a cache miss per candidate)
        self.sizes: list[int] = []
        self.spread = (1 - threshold) / (1 + threshold)  # most shingles apart, per shingle
        # per band: the hash of a text's values in that band -> the texts' rows; a collision
        # only adds a candidate, which the checks then drop
        self.buckets: list[dict[int, array]] = [{} for _ in range(self.bands)]
        self._last: tuple[str | None, list[int]] = (None, [])

    def find(self, text: str) -> str | None:
        """The key of the earliest stored text at least `threshold` similar, or None."""
        sk = sketch(text)
        hits = [rows for bucket, band in zip(self.buckets, self._bands(text, sk), strict=True)
                if (rows := bucket.get(band)) is not None]
        if not hits:
            return None
        # sorted: the order the texts were added in (a bucket's rows are, being appended so)
        rows = hits[0].tolist() if len(hits) == 1 else sorted(set().union(*hits))
        n, bits, sizes = len(sk.shingles), self.bits, self.sizes
        # a shingle in one text only sets at most one bit that the other's bitmap lacks
        rows = [row for row in rows
                if (bits[row] ^ sk.bits).bit_count() <= self.spread * (n + sizes[row]) + 1e-9]
        for row in rows:
            if jaccard(sk.shingles, self.texts[row]) >= self.threshold:
                return self.keys[row]
        return None

    def add(self, key: str, text: str) -> None:
        sk = sketch(text)
        if self.items.get(key) == sk.shingles:  # the same text again: it keeps its place
            return
        row = len(self.keys)
        self.bits.append(sk.bits)
        self.sizes.append(len(sk.shingles))
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
