"""Near-duplicate detection on templated questions: the index's time to check and add 1k, 5k and
20k questions (what generation does with each new pair), with LSH bands sized for the threshold
(tools/generation/neardup.py) against the bands used before (16 bands of 4 rows, a candidate
threshold near 0.5). Also counts the exact-Jaccard checks (candidates) and whether both keep the
same questions. Not a test: run it by hand.

    .venv/bin/python bench/neardup_scaling.py --threshold 0.9
"""

from __future__ import annotations

import argparse
import random
import time

TABLES = ["albums", "artists", "tracks", "customers", "invoices", "genres", "playlists", "staff"]
VERBS = ["were released", "were sold", "were bought", "were added", "were listed", "were made"]
COLUMNS = ["price", "duration", "total", "rating", "count", "length"]
CITIES = ["Berlin", "Paris", "Lisbon", "Oslo", "Rome", "Madrid", "Tokyo", "Lima", "Cairo", "Quito"]


def templated(n: int, seed: int = 0) -> list[str]:
    """`n` questions from five templates with random fillers: most pairs share a template."""
    rng = random.Random(seed)
    forms = [
        lambda: f"How many {rng.choice(TABLES)} {rng.choice(VERBS)} in {rng.randint(1990, 2025)}?",
        lambda: f"What is the average {rng.choice(COLUMNS)} of {rng.choice(TABLES)} from "
                f"{rng.choice(CITIES)}?",
        lambda: f"List the {rng.choice(TABLES)} with a {rng.choice(COLUMNS)} above "
                f"{rng.randint(1, 500)}.",
        lambda: f"Which {rng.choice(TABLES)} from {rng.choice(CITIES)} have the highest "
                f"{rng.choice(COLUMNS)}?",
        lambda: f"Show the top {rng.randint(2, 20)} {rng.choice(TABLES)} by {rng.choice(COLUMNS)} "
                f"in {rng.choice(CITIES)}.",
    ]
    return [rng.choice(forms)() for _ in range(n)]


class Counting:
    """Counts the exact Jaccard computations an index makes."""

    def __init__(self, real) -> None:
        self.calls, self.real = 0, real

    def __call__(self, a: frozenset, b: frozenset) -> float:
        self.calls += 1
        return self.real(a, b)


def run(questions: list[str], threshold: float, shape: tuple[int, int] | None) -> tuple[float, int,
                                                                                          list[str]]:
    """(seconds, Jaccard checks, kept keys) for find-then-add over `questions`."""
    import slm_distill.tools.generation.neardup as neardup

    real = neardup.jaccard
    counter = neardup.jaccard = Counting(real)
    try:
        index = neardup.NearDupIndex(threshold)
        if shape:
            index.bands, index.rows = shape
        kept = []
        started = time.perf_counter()
        for i, q in enumerate(questions):
            if index.find(q) is None:
                index.add(f"q{i}", q)
                kept.append(f"q{i}")
        return time.perf_counter() - started, counter.calls, kept
    finally:
        neardup.jaccard = real


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threshold", type=float, default=0.9)
    parser.add_argument("--sizes", default="1000,5000,20000")
    args = parser.parse_args()
    from slm_distill.tools.generation.neardup import lsh_shape

    shapes = {"before (16 x 4)": (16, 4), f"sized {lsh_shape(args.threshold)}": None}
    print(f"threshold {args.threshold}, templated questions")
    times: dict[str, dict[int, float]] = {name: {} for name in shapes}
    for n in (int(s) for s in args.sizes.split(",")):
        questions = templated(n)
        kept = {}
        for name, shape in shapes.items():
            seconds, checks, kept[name] = run(questions, args.threshold, shape)
            times[name][n] = seconds
            print(f"  {n:>6} {name:<18} {seconds:7.2f} s  {checks:>10,} Jaccard checks  "
                  f"{len(kept[name]):>6} kept")
        print(f"  {n:>6} same questions kept: {len(set(map(tuple, kept.values()))) == 1}")
    for name, by_n in times.items():
        sizes = sorted(by_n)
        if len(sizes) >= 2:
            print(f"  {name}: {sizes[-1]} / {sizes[-2]} questions took "
                  f"{by_n[sizes[-1]] / by_n[sizes[-2]]:.1f}x the time")


if __name__ == "__main__":
    main()
