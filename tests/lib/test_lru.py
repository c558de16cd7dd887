from __future__ import annotations

import pytest

from lib.lru import LRU


def test_it_keeps_at_most_its_size():
    cache: LRU[int, str] = LRU(3)
    for n in range(10):
        cache.put(n, str(n))

    assert len(cache) == 3
    assert [cache.get(n) for n in (6, 7, 8, 9)] == [None, "7", "8", "9"]


def test_it_drops_the_least_recently_used():
    cache: LRU[str, int] = LRU(2)
    cache.put("a", 1)
    cache.put("b", 2)
    cache.get("a")
    cache.put("c", 3)

    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (1, None, 3)


def test_it_makes_a_missing_entry_once():
    cache: LRU[str, list[int]] = LRU(2)
    made = []

    first = cache.get_or_make("k", lambda: made.append(1) or [1])
    again = cache.get_or_make("k", lambda: made.append(2) or [2])

    assert first is again and made == [1]


def test_it_refuses_a_size_below_one():
    with pytest.raises(ValueError, match="at least one"):
        LRU(0)
