"""The near-duplicate index: the same decisions as comparing every pair exactly, on templated
questions (many near each other), with bands sized for each threshold."""

from __future__ import annotations

import random

import pytest

from slm_distill.tools.generation.neardup import (
    RECALL_AT_THRESHOLD,
    NearDupIndex,
    candidate_chance,
    jaccard,
    lsh_shape,
    shingles,
)


def questions(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    tables, places = ["albums", "tracks", "invoices", "artists"], ["Berlin", "Oslo", "Lima", "Rome"]
    forms = [lambda: f"How many {rng.choice(tables)} were sold in {rng.randint(1990, 2025)}?",
             lambda: f"List the {rng.choice(tables)} from {rng.choice(places)} above "
                     f"{rng.randint(1, 300)}.",
             lambda: f"Which {rng.choice(tables)} in {rng.choice(places)} sold best?"]
    return [rng.choice(forms)() for _ in range(n)]


def brute_force(texts: list[str], threshold: float) -> list[str | None]:
    """For each text in turn: the earliest kept text at least `threshold` similar, by comparing
    with every one; texts without one are kept."""
    kept: list[tuple[str, frozenset]] = []
    found: list[str | None] = []
    for i, text in enumerate(texts):
        sh = shingles(text)
        match = next((key for key, other in kept if jaccard(sh, other) >= threshold), None)
        found.append(match)
        if match is None:
            kept.append((f"q{i}", sh))
    return found


@pytest.mark.parametrize("bitmap_bits", [1024, 64])  # 64: many shingles share a bit
@pytest.mark.parametrize("threshold", [0.9, 0.8])
def test_the_index_decides_as_comparing_every_pair_does(threshold, bitmap_bits, monkeypatch,
                                                        request):
    import slm_distill.tools.generation.neardup as neardup

    monkeypatch.setattr(neardup, "BITMAP_BITS", bitmap_bits)
    neardup.sketch.cache_clear()
    request.addfinalizer(neardup.sketch.cache_clear)  # no bitmaps of this width left behind
    texts = questions(1500)
    index = NearDupIndex(threshold)
    found = []
    for i, text in enumerate(texts):
        found.append(index.find(text))
        if found[-1] is None:
            index.add(f"q{i}", text)
    expected = brute_force(texts, threshold)
    assert found == expected
    assert 0 < sum(f is not None for f in found) < len(texts)  # both outcomes occur


def test_near_copies_are_found_and_different_texts_are_not():
    index = NearDupIndex(0.9)
    index.add("a", "How many customers live in Berlin?")
    index.add("b", "how many customers live in berlin")  # a second key for the same text
    assert index.find("How many customers live in Berlin ?!") == "a"  # the earliest added
    assert index.find("Which invoices were paid late in 2023?") is None
    assert index.find("How many customers live in Lisbon?") is None  # similar, below 0.9


def test_the_bitmap_bound_never_screens_out_a_text_at_the_threshold():
    """Texts at least `t` similar differ in at most (1 - t) / (1 + t) x (|a| + |b|) shingles, and
    their bitmaps in at most as many bits: checked on every pair of a few hundred questions."""
    from slm_distill.tools.generation.neardup import sketch

    texts = questions(300, seed=3) + ["How many albums were sold in 1999 ?",
                                      "how many albums were sold in 1999"]
    sketches = [sketch(t) for t in texts]
    close = 0
    for i, a in enumerate(sketches):
        for b in sketches[i + 1:]:
            similarity = jaccard(a.shingles, b.shingles)
            for t in (0.8, 0.9):
                if similarity >= t:
                    close += 1
                    bound = (1 - t) / (1 + t) * (len(a.shingles) + len(b.shingles))
                    assert (a.bits ^ b.bits).bit_count() <= len(a.shingles ^ b.shingles) <= bound
    assert close > 50


def test_a_key_added_again_with_another_text_is_found_by_either():
    index = NearDupIndex(0.9)
    index.add("a", "How many customers live in Berlin?")
    index.add("a", "How many customers live in Berlin?")  # the same text: nothing new
    assert index.keys == ["a"]
    index.add("a", "Which invoices were paid late in 2023?")
    assert index.find("How many customers live in Berlin?") == "a"
    assert index.find("which invoices were paid late in 2023") == "a"


@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.8, 0.9, 0.95])
def test_bands_are_sized_for_the_threshold(threshold):
    bands, rows = lsh_shape(threshold)
    assert candidate_chance(threshold, bands, rows) >= RECALL_AT_THRESHOLD
    if threshold >= 0.8:  # the generation's thresholds: fewer candidates well below them than
        for below in (0.2, 0.3):  # the 16 bands of 4 rows used before
            assert candidate_chance(threshold - below, bands, rows) < candidate_chance(
                threshold - below, 16, 4)
    if threshold == 0.9:  # the duplicate check's: a quarter as many at 0.6
        assert candidate_chance(0.6, bands, rows) < 0.25 * candidate_chance(0.6, 16, 4)


def test_the_index_holds_little_per_text():
    """Texts are kept as normalised strings and lone bucket entries as rows: 0.5 KB a question
    here (it was 2 KB with every text's shingle set and an array per bucket)."""
    import tracemalloc

    import slm_distill.tools.generation.neardup as neardup

    texts = questions(2000, seed=5)
    neardup.sketch.cache_clear()
    tracemalloc.start()
    try:
        index = NearDupIndex(0.9)
        for i, text in enumerate(texts):
            index.add(f"q{i}", text)
        neardup.sketch.cache_clear()
        held = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert len(index.keys) == len(texts)
    assert held / len(texts) < 1000
