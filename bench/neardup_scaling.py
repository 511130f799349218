"""Near-duplicate detection on templated questions: the index's time to check and add 1k, 5k and
20k questions (what generation does with each new pair), now (tools/generation/neardup.py: LSH
bands sized for the threshold; candidates screened by a bound on their shingle bitmaps' XOR,
the rest checked exactly) against the index as it was (16 bands of 4 rows, a candidate
threshold near 0.5, every candidate's exact Jaccard computed in Python; its code is kept below for
the comparison). Also counts the candidates and exact checks of each, and whether both keep
the same questions, (`--memory`) the bytes each holds per stored question, and (`--floor`) the
time of the work any banded index does whatever it does with its candidates. Each timed run has
a process of its own. Not a test: run it by hand.

    .venv/bin/python bench/neardup_scaling.py --threshold 0.9 --rounds 3 --memory --floor
"""

from __future__ import annotations

import argparse
import hashlib
import random
import statistics
import subprocess
import sys
import time

TABLES = ["albums", "artists", "tracks", "customers", "invoices", "genres", "playlists", "staff",
          "employees", "media types", "orders", "suppliers"]
VERBS = ["were released", "were sold", "were bought", "were added", "were listed", "were made",
         "were returned", "were rated"]
COLUMNS = ["price", "duration", "total", "rating", "count", "length", "discount", "weight"]
SYLLABLES = ["ber", "lin", "pa", "ris", "lis", "bon", "os", "lo", "ro", "ma", "dri", "to", "kyo",
             "li", "ca", "ro", "qui", "to", "va", "len", "sa", "go", "na", "vi"]


def templated(n: int, seed: int = 0) -> list[str]:
    """`n` questions from six templates with random fillers (names, years, amounts): most pairs
    share a template and differ in a word or a number, as generated questions do."""
    rng = random.Random(seed)

    def place() -> str:
        return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()

    forms = [
        lambda: f"How many {rng.choice(TABLES)} {rng.choice(VERBS)} in {rng.randint(1950, 2025)}?",
        lambda: f"What is the average {rng.choice(COLUMNS)} of {rng.choice(TABLES)} from "
                f"{place()}?",
        lambda: f"List the {rng.choice(TABLES)} with a {rng.choice(COLUMNS)} above "
                f"{rng.randint(1, 10_000)}.",
        lambda: f"Which {rng.choice(TABLES)} from {place()} have the highest "
                f"{rng.choice(COLUMNS)}?",
        lambda: f"Show the top {rng.randint(2, 50)} {rng.choice(TABLES)} by {rng.choice(COLUMNS)} "
                f"in {place()}.",
        lambda: f"Who bought {rng.choice(TABLES)} in {place()} between {rng.randint(1950, 2025)} "
                f"and {rng.randint(1950, 2025)}?",
    ]
    return [rng.choice(forms)() for _ in range(n)]


class IndexBefore:
    """The index as it was: 64 permutations in 16 bands of 4 rows, every candidate checked."""

    PERM, BANDS = 64, 16

    def __init__(self, threshold: float) -> None:
        import numpy as np

        rng = np.random.default_rng(12345)
        self.a = rng.integers(1, 2**63, size=self.PERM, dtype=np.uint64) | np.uint64(1)
        self.b = rng.integers(0, 2**63, size=self.PERM, dtype=np.uint64)
        self.threshold = threshold
        self.items: dict[str, frozenset[str]] = {}
        self.buckets: dict[tuple, list[str]] = {}

    def _bands(self, sh: frozenset[str]) -> list[tuple]:
        import zlib

        import numpy as np

        base = np.fromiter((zlib.crc32(s.encode()) for s in sh), dtype=np.uint64, count=len(sh))
        with np.errstate(over="ignore"):
            sig = ((np.outer(base, self.a) + self.b) >> np.uint64(32)).min(axis=0)
        rows = self.PERM // self.BANDS
        return [(b, sig[b * rows : (b + 1) * rows].tobytes()) for b in range(self.BANDS)]

    def find(self, text: str) -> str | None:
        from slm_distill.tools.generation import neardup

        sh = neardup.shingles(text)
        seen: set[str] = set()
        for band in self._bands(sh):
            for key in self.buckets.get(band, ()):
                if key not in seen:
                    seen.add(key)
                    if neardup.jaccard(sh, self.items[key]) >= self.threshold:
                        return key
        return None

    def add(self, key: str, text: str) -> None:
        from slm_distill.tools.generation import neardup

        sh = neardup.shingles(text)
        self.items[key] = sh
        for band in self._bands(sh):
            self.buckets.setdefault(band, []).append(key)


class Counting:
    """Counts the exact Jaccard computations the index as it was makes (one per candidate)."""

    def __init__(self, real) -> None:
        self.calls, self.real = 0, real

    def __call__(self, a: frozenset, b: frozenset) -> float:
        self.calls += 1
        return self.real(a, b)


class IndexFloor:
    """The work every banded index does, and no more: each question's sketch, its bands looked
    up, the kept ones added; the decisions come from the index as it is, made before the timed
    run. What is left above this floor is the candidates' handling."""

    def __init__(self, threshold: float, questions: list[str]) -> None:
        from slm_distill.tools.generation.neardup import NearDupIndex

        self.index = NearDupIndex(threshold)
        # find's answers, read in order (a lookup by text would itself slow as it grows)
        self.decisions = find_then_add(NearDupIndex(threshold), questions)
        self.kept, self.asked = self.decisions.count(None), 0

    def find(self, text: str) -> str | None:
        from slm_distill.tools.generation.neardup import sketch

        index = self.index
        for bucket, band in zip(index.buckets, index._bands(text, sketch(text)), strict=True):
            bucket.get(band)
        self.asked += 1
        return self.decisions[self.asked - 1]

    def add(self, key: str, text: str) -> None:
        self.index.add(key, text)


def find_then_add(index, questions: list[str]) -> list[str | None]:
    """What generation does with each new question: find's answer for each, the questions with
    none added (as q0, q1, ... by their place)."""
    answers = []
    for i, q in enumerate(questions):
        answers.append(index.find(q))
        if answers[-1] is None:
            index.add(f"q{i}", q)
    return answers


def new_index(kind: str, threshold: float, questions: list[str]):
    """An empty index of `kind` (before, now or floor) for find-then-add over `questions`."""
    from slm_distill.tools.generation.neardup import NearDupIndex

    if kind == "floor":
        return IndexFloor(threshold, questions)
    return IndexBefore(threshold) if kind == "before" else NearDupIndex(threshold)


def candidates_now(questions: list[str], threshold: float) -> tuple[int, int, int]:
    """(candidates taken from the buckets, candidates left by the bitmap bound for the exact
    check, questions kept) over find-then-add, replayed apart from the timed run, where they are
    not counted."""
    from slm_distill.tools.generation.neardup import NearDupIndex, sketch

    index, taken, exact = NearDupIndex(threshold), 0, 0
    for i, q in enumerate(questions):
        sk = sketch(q)
        rows = index.candidates(q, sk)
        taken += len(rows)
        exact += len(index.screened(sk, rows))
        if index.find(q) is None:
            index.add(f"q{i}", q)
    return taken, exact, len(index.keys)


def memory(questions: list[str], threshold: float, kind: str) -> tuple[int, int]:
    """(bytes the index holds after find-then-add over `questions`, texts stored), traced by
    tracemalloc apart from the timed run (the shared sketch cache emptied first)."""
    import tracemalloc

    import slm_distill.tools.generation.neardup as neardup

    neardup.sketch.cache_clear()
    tracemalloc.start()
    try:
        index = new_index(kind, threshold, questions)
        find_then_add(index, questions)
        neardup.sketch.cache_clear()
        held = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    return held, len(index.items)


def run(questions: list[str], threshold: float, kind: str) -> tuple[float, list[str]]:
    """(seconds, kept keys) for find-then-add over `questions`."""
    import slm_distill.tools.generation.neardup as neardup

    index = new_index(kind, threshold, questions)
    neardup.sketch.cache_clear()  # each run computes its own sketches
    started = time.perf_counter()
    answers = find_then_add(index, questions)
    seconds = time.perf_counter() - started
    return seconds, [f"q{i}" for i, found in enumerate(answers) if found is None]


def run_apart(n: int, threshold: float, kind: str) -> tuple[float, str]:
    """`run` in a process of its own, after an untimed warm-up on other questions (what one
    index leaves in the heap, the 20k index as it was leaves 100 MB, slows the next): (seconds,
    a digest of the kept keys)."""
    command = [sys.executable, __file__, "--one", kind, "--sizes",
               str(n), "--threshold", str(threshold)]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    seconds, digest = out.split()
    return float(seconds), digest


def compared(questions: list[str], threshold: float, kind: str) -> tuple[int, int, int]:
    """(candidates, exact checks, questions kept) of find-then-add, counted apart from the timed
    runs (the floor takes no candidates)."""
    import slm_distill.tools.generation.neardup as neardup

    if kind == "floor":
        return 0, 0, new_index(kind, threshold, questions).kept
    if kind == "now":
        return candidates_now(questions, threshold)
    real = neardup.jaccard
    counter = neardup.jaccard = Counting(real)
    try:
        kept = run(questions, threshold, "before")[1]
    finally:
        neardup.jaccard = real
    return counter.calls, counter.calls, len(kept)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threshold", type=float, default=0.9)
    parser.add_argument("--sizes", default="1000,5000,20000")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--now-only", action="store_true", help="time the index as it is now only")
    parser.add_argument("--memory", action="store_true",
                        help="also trace the bytes each index holds per stored question")
    parser.add_argument("--floor", action="store_true",
                        help="also time the floor: sketches, band lookups and adds, no candidates")
    parser.add_argument("--one", choices=["before", "now", "floor"],
                        help=argparse.SUPPRESS)  # run_apart
    args = parser.parse_args()
    if args.one:
        run(templated(300, seed=1), args.threshold, args.one)  # warm-up, untimed
        seconds, kept = run(templated(int(args.sizes)), args.threshold, args.one)
        print(seconds, hashlib.sha256(" ".join(kept).encode()).hexdigest()[:16])
        return
    from slm_distill.tools.generation.neardup import lsh_shape

    shapes = {"before (16 x 4)": "before", f"now {lsh_shape(args.threshold)}": "now"}
    if args.now_only:
        del shapes["before (16 x 4)"]
    if args.floor:
        shapes["floor"] = "floor"
    print(f"threshold {args.threshold}, templated questions, median of {args.rounds} rounds, "
          "each timed in a process of its own")
    times: dict[str, dict[int, float]] = {name: {} for name in shapes}
    fastest: dict[str, dict[int, float]] = {name: {} for name in shapes}
    for n in (int(s) for s in args.sizes.split(",")):
        questions = templated(n)
        kept: dict[str, str] = {}
        seen: dict[str, list[float]] = {name: [] for name in shapes}
        for r in range(args.rounds):
            for name in (list(shapes) if r % 2 == 0 else list(shapes)[::-1]):
                seconds, kept[name] = run_apart(n, args.threshold, shapes[name])
                seen[name].append(seconds)
        for name in shapes:
            times[name][n], fastest[name][n] = statistics.median(seen[name]), min(seen[name])
            taken, exact, stored = compared(questions, args.threshold, shapes[name])
            print(f"  {n:>6} {name:<18} {times[name][n]:7.2f} s (rounds {min(seen[name]):.2f}-"
                  f"{max(seen[name]):.2f})  {taken:>9,} candidates, {exact:>9,} exact  "
                  f"{stored:>6} kept")
        decided = {kept[name] for name in shapes if shapes[name] != "floor"}  # the floor copies
        print(f"  {n:>6} same questions kept: {len(decided) == 1}")
        for name in shapes if args.memory else ():
            if shapes[name] != "floor":
                held, stored = memory(questions, args.threshold, shapes[name])
                print(f"  {n:>6} {name:<18} holds {held / 1e6:.1f} MB, {held / stored:,.0f} "
                      "bytes per stored question")
    for name, by_n in times.items():
        sizes = sorted(by_n)
        if len(sizes) >= 2:
            low = fastest[name]
            print(f"  {name}: {sizes[-1]} questions took {by_n[sizes[-1]] / by_n[sizes[-2]]:.2f}x"
                  f" the time of {sizes[-2]} ({low[sizes[-1]] / low[sizes[-2]]:.2f}x between the "
                  "fastest rounds)")


if __name__ == "__main__":
    main()
