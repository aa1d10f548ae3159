"""The verification cache behind the revocation feed: bound, staleness, and what a message drops."""

from __future__ import annotations

from service.clock import FakeClock
from service.store.feed import LookupCache


def make_cache(size: int = 100, staleness: float = 10.0) -> tuple[LookupCache, FakeClock]:
    clock = FakeClock(1_000.0)
    cache = LookupCache(size, staleness, clock.now)
    cache.live = True
    return cache, clock


def live_tags(cache: LookupCache) -> set[str]:
    """The tags of the entries still cached, as the cache's index has them."""
    return set(cache._by_tag)


def test_a_message_drops_exactly_what_it_names() -> None:
    cache, _ = make_cache()
    cache.put("n:u1:t1", "a", ("tok:t1", "user:u1"), cache.epoch)
    cache.put("n:u1:t2", "b", ("tok:t2", "user:u1"), cache.epoch)
    cache.put("n:u2:t3", "c", ("tok:t3", "user:u2"), cache.epoch)
    cache.invalidate("tok:t1")
    assert cache.get("n:u1:t1") is None
    assert cache.get("n:u1:t2") == "b"
    cache.invalidate("user:u1")
    assert cache.get("n:u1:t2") is None
    assert cache.get("n:u2:t3") == "c"
    cache.invalidate("tok:unknown")
    assert len(cache) == 1
    assert live_tags(cache) == {"tok:t3", "user:u2"}


def test_entries_older_than_the_bound_are_not_served() -> None:
    cache, clock = make_cache(staleness=10.0)
    cache.put("k", "v", ("t",), cache.epoch)
    clock.advance(9.9)
    assert cache.get("k") == "v"
    clock.advance(0.1)
    assert cache.get("k") is None
    assert len(cache) == 0
    assert live_tags(cache) == set()


def test_the_least_recently_used_entry_goes_first() -> None:
    cache, _ = make_cache(size=3)
    for key in ("a", "b", "c"):
        cache.put(key, key, (f"tag:{key}", "shared"), cache.epoch)
    assert cache.get("a") == "a"  # now the most recent
    cache.put("d", "d", ("tag:d", "shared"), cache.epoch)
    assert cache.get("b") is None
    assert [cache.get(k) for k in ("a", "c", "d")] == ["a", "c", "d"]
    assert live_tags(cache) == {"tag:a", "tag:c", "tag:d", "shared"}
    # A message naming an evicted entry finds nothing to drop.
    cache.invalidate("tag:b")
    assert len(cache) == 3


def test_the_tag_index_never_outgrows_the_entries() -> None:
    cache, clock = make_cache(size=50, staleness=5.0)
    for i in range(1_000):
        # Replacing an entry with other tags forgets the old ones.
        cache.put(f"k{i % 80}", i, (f"tok:{i}", f"user:{i % 7}"), cache.epoch)
        if i % 3 == 0:
            cache.invalidate(f"tok:{i - 1}")
        if i % 97 == 0:
            clock.advance(6.0)
            cache.get(f"k{(i + 1) % 80}")
    expected: dict[str, set[str]] = {}
    for key, (_, _, tags) in cache._entries.items():
        for tag in tags:
            expected.setdefault(tag, set()).add(key)
    assert cache._by_tag == expected
    assert len(cache) <= 50
    cache.invalidate("user:3")
    assert all(entry[0] % 7 != 3 for _, entry in cache._entries.items())
    cache.clear()
    assert len(cache) == 0 and live_tags(cache) == set()


def test_a_lookup_read_before_a_message_is_not_remembered() -> None:
    """A revocation that came in while a lookup was on its way may have named it."""
    cache, _ = make_cache()
    since = cache.epoch
    cache.invalidate("tok:t1")  # arrives during the lookup's round trips
    cache.put("n:u1:t1", "a", ("tok:t1",), since)
    assert cache.get("n:u1:t1") is None and len(cache) == 0
    since = cache.epoch
    cache.clear()
    cache.put("n:u1:t1", "a", ("tok:t1",), since)
    assert len(cache) == 0
    cache.put("n:u1:t1", "a", ("tok:t1",), cache.epoch)
    assert cache.get("n:u1:t1") == "a"


def test_nothing_is_kept_or_served_while_the_feed_is_down() -> None:
    cache, _ = make_cache()
    cache.live = False
    cache.put("k", "v", ("t",), cache.epoch)
    assert cache.get("k") is None
    assert len(cache) == 0
