"""BoundedLRU: the one bounded cache of the process."""

from __future__ import annotations

import pytest

from service.lru import BoundedLRU


def test_evicts_the_least_recently_used_only() -> None:
    evicted: list[tuple[str, int]] = []
    lru: BoundedLRU[str, int] = BoundedLRU(3, lambda k, v: evicted.append((k, v)))
    for i, key in enumerate("abc"):
        lru.put(key, i)
    assert lru.get("a") == 0  # a is now the most recent
    lru.put("d", 3)
    assert evicted == [("b", 1)]
    assert list(lru) == ["c", "a", "d"] and len(lru) == 3
    assert lru.peek("c") == 2 and list(lru) == ["c", "a", "d"]  # peek keeps the order
    lru.put("c", 20)  # replacing refreshes without evicting
    assert evicted == [("b", 1)] and list(lru) == ["a", "d", "c"]


def test_a_flood_of_new_keys_keeps_the_bound_and_the_entries_in_use() -> None:
    lru: BoundedLRU[int, int] = BoundedLRU(100)
    lru.put(-1, -1)
    for i in range(100_000):
        lru.put(i, i)
        if i % 50 == 0:
            assert lru.get(-1) == -1  # in use: never evicted
    assert len(lru) == 100 and -1 in lru


def test_pop_clear_zero_and_negative() -> None:
    lru: BoundedLRU[str, int] = BoundedLRU(2)
    lru.put("a", 1)
    assert lru.pop("a") == 1 and lru.pop("a") is None and lru.get("a") is None
    lru.put("b", 2)
    lru.clear()
    assert len(lru) == 0
    off: BoundedLRU[str, int] = BoundedLRU(0)
    off.put("a", 1)
    assert len(off) == 0
    with pytest.raises(ValueError):
        BoundedLRU(-1)
