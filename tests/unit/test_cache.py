"""The byte-bounded trace cache shared by every app session."""

from __future__ import annotations

from viz.cache import BoundedCache


def sized(cache: BoundedCache[int], key: str, size: int, calls: list[str]) -> tuple[int, bool]:
    def compute() -> int:
        calls.append(key)
        return size

    return cache.get_or_compute(key, compute)


def test_least_recently_used_goes_first_when_bytes_run_out():
    cache: BoundedCache[int] = BoundedCache(max_bytes=100, size_of=lambda v: v)
    calls: list[str] = []
    for key in "abc":
        sized(cache, key, 40, calls)  # a, b, then c pushes a out (120 > 100)
    assert len(cache) == 2 and cache.nbytes == 80
    assert sized(cache, "b", 40, calls) == (40, True)  # b is now the most recent
    sized(cache, "d", 40, calls)  # pushes c out, not b
    assert sized(cache, "b", 40, calls)[1] and not sized(cache, "c", 40, calls)[1]
    assert calls == ["a", "b", "c", "d", "c"]


def test_an_entry_over_the_bound_is_kept_alone_and_computed_once():
    """bert-base's 512-token trace is larger than the default bound: it must still be kept, or
    every slider move would run the model again."""
    cache: BoundedCache[int] = BoundedCache(max_bytes=100, size_of=lambda v: v)
    calls: list[str] = []
    sized(cache, "small", 30, calls)
    for _ in range(3):
        sized(cache, "big", 250, calls)
    assert calls == ["small", "big"] and len(cache) == 1 and cache.nbytes == 250
    sized(cache, "next", 30, calls)  # the next input makes the big one go
    assert len(cache) == 1 and cache.nbytes == 30


def test_entry_count_is_bounded_too():
    cache: BoundedCache[int] = BoundedCache(max_bytes=10**9, size_of=lambda v: v, max_items=3)
    calls: list[str] = []
    for key in "abcde":
        sized(cache, key, 1, calls)
    assert len(cache) == 3 and not sized(cache, "a", 1, calls)[1]
