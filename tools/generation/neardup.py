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

Stored compactly, 1.3 KB a text at 20k templated questions (`bench/neardup_scaling.py
--memory`; 6.8 KB when each text's shingle set and an array per bucket were kept): a text is kept
as its normalised string and shingled again for the exact check (few candidates reach it), and a
band's bucket holding one text holds its row, not an array (nine buckets in ten do).
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
    return _shingled(normalise_text(text), k)


def _shingled(norm: str, k: int = 5) -> frozenset[str]:
    """The k-character shingles of an already normalised text."""
    if len(norm) <= k:
        return frozenset([norm])
    return frozenset(norm[i : i + k] for i in range(len(norm) - k + 1))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a and not b:
        return 1.0
    shared = len(a & b)
    return shared / (len(a) + len(b) - shared)  # the union's size, without building it


class Sketch(NamedTuple):
    norm: str  # the normalised text
    shingles: frozenset[str]
    bits: int  # bit (CRC-32 mod BITMAP_BITS) set for each shingle
    signature: np.ndarray  # MinHash, NUM_PERM values


@functools.lru_cache(maxsize=256)
def sketch(text: str) -> Sketch:
    """A text's shingles, their hashes and its MinHash signature, computed once however many
    indexes check it (a pair is checked against the test seeds' index and the kept pairs', then
    added, one right after the other: a short cache serves, and keeps few objects alive for the
    garbage collector to walk)."""
    norm = normalise_text(text)
    sh = _shingled(norm)
    crc = np.fromiter((zlib.crc32(s.encode()) for s in sh), dtype=np.uint64, count=len(sh))
    # Multiply-add-shift hashing: (a * h + b) mod 2**64, keep the high 32 bits.
    with np.errstate(over="ignore"):
        signature = ((np.outer(crc, _A) + _B) >> np.uint64(32)).min(axis=0)
    bitmap = np.zeros(BITMAP_BITS, dtype=bool)
    bitmap[crc % np.uint64(BITMAP_BITS)] = True
    bits = int.from_bytes(np.packbits(bitmap, bitorder="little").tobytes(), "little")
    return Sketch(norm, sh, bits, signature)


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
        self.items: dict[str, str] = {}  # each key's latest text, normalised
        self.keys: list[str] = []  # by row, in the order the texts were added
        self.texts: list[str] = []  # by row: the normalised text
        self.bits: list[int] = []  # by row: the text's shingle bitmap
        # by row: its number of shingles (kept beside the bitmaps: reading it from each
        # candidate's shingles cost 9% at 20k questions, a cache miss per candidate)
        self.sizes: list[int] = []
        self.spread = (1 - threshold) / (1 + threshold)  # most shingles apart, per shingle
        # per band: the hash of a text's values in that band -> the text's row, or the rows
        # of all texts with that hash (in the order added); a collision only adds a candidate,
        # which the checks then drop
        self.buckets: list[dict[int, int | array]] = [{} for _ in range(self.bands)]
        self._last: tuple[str | None, list[int]] = (None, [])

    def find(self, text: str) -> str | None:
        """The key of the earliest stored text at least `threshold` similar, or None."""
        sk = sketch(text)
        for row in self.screened(sk, self.candidates(text, sk)):
            if jaccard(sk.shingles, _shingled(self.texts[row])) >= self.threshold:
                return self.keys[row]
        return None

    def candidates(self, text: str, sk: Sketch) -> list[int]:
        """The rows sharing a band with the text, in the order they were added."""
        rows: set[int] = set()
        for bucket, band in zip(self.buckets, self._bands(text, sk), strict=True):
            hit = bucket.get(band)
            if isinstance(hit, int):
                rows.add(hit)
            elif hit is not None:
                rows.update(hit)
        return sorted(rows)

    def screened(self, sk: Sketch, rows: list[int]) -> list[int]:
        """The rows that the bitmap bound leaves: a shingle in one text only sets at most one
        bit that the other's bitmap lacks."""
        n, bits, sizes = len(sk.shingles), self.bits, self.sizes
        return [row for row in rows
                if (bits[row] ^ sk.bits).bit_count() <= self.spread * (n + sizes[row]) + 1e-9]

    def add(self, key: str, text: str) -> None:
        sk = sketch(text)
        if self.items.get(key) == sk.norm:  # the same text again: it keeps its place
            return
        row = len(self.keys)
        self.bits.append(sk.bits)
        self.sizes.append(len(sk.shingles))
        self.keys.append(key)
        self.texts.append(sk.norm)
        self.items[key] = sk.norm
        for bucket, band in zip(self.buckets, self._bands(text, sk), strict=True):
            hit = bucket.get(band)
            if hit is None:
                bucket[band] = row
            elif isinstance(hit, int):
                bucket[band] = array("q", (hit, row))
            else:
                hit.append(row)

    def _bands(self, text: str, sk: Sketch) -> list[int]:
        """One hash per band of the text's signature (kept for the text last asked about: a
        text is found, then added)."""
        if self._last[0] != text:
            bands = sk.signature[: self.bands * self.rows].reshape(self.bands, self.rows)
            with np.errstate(over="ignore"):
                self._last = (text, (bands * _MIX[: self.rows]).sum(axis=1).tolist())
        return self._last[1]
