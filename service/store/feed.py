"""The revocation feed: a per-process cache of lookups, kept honest by pub/sub.

Every revocation (a revoked flag, a deleted record, a generation bump, a
disabled or deleted application, a removed user) is published on one channel
in the same script that makes it. A process that caches lookups drops what a
message names; an entry older than `max_staleness` is never served; and while
the subscription is down the cache is cleared and bypassed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from service.lru import BoundedLRU
from service.metrics import CACHE_HITS, TALLY

log = logging.getLogger(__name__)


class LookupCache:
    """A bounded LRU of positive lookups (token checks, user records), each tagged with what may revoke it."""

    def __init__(self, size: int, max_staleness: float, clock: Callable[[], float]) -> None:
        self.size = size
        self.max_staleness = max_staleness
        self._clock = clock
        self._entries: BoundedLRU[str, tuple[Any, float, tuple[str, ...]]] = BoundedLRU(
            size, self._untag
        )
        # tag -> keys of the entries it revokes: a message costs what it names,
        # not a scan of the whole cache (deleting many tokens sends one each).
        self._by_tag: dict[str, set[str]] = {}
        self.live = False
        self.hits = 0
        self.misses = 0
        # Moves on with every revocation message (and every clear): a lookup
        # whose answer was read before a message came in is not remembered.
        self.epoch = 0

    @property
    def enabled(self) -> bool:
        return self.size > 0 and self.live

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> Any | None:
        """A cached value still within the staleness bound, else None."""
        if not self.enabled:
            return None
        entry = self._entries.get(key)
        if entry is None:
            self.misses += 1
            return None
        value, stored, _ = entry
        if self._clock() - stored >= self.max_staleness:
            self._drop(key)
            self.misses += 1
            return None
        self.hits += 1
        TALLY.inc(CACHE_HITS)
        return value

    def put(self, key: str, value: Any, tags: tuple[str, ...], since: int) -> None:
        """Remember a positive lookup; `tags` are the feed messages that revoke it.

        `since` is the `epoch` read before the lookup's first command: if a
        revocation came in meanwhile, it may have named this lookup before it
        was here to drop, so it is not remembered.
        """
        if not self.enabled or since != self.epoch:
            return
        if key in self._entries:
            self._drop(key)
        by_tag = self._by_tag
        for tag in tags:
            keys = by_tag.get(tag)
            if keys is None:
                by_tag[tag] = {key}
            else:
                keys.add(key)
        # Tagged first: an entry the bound evicts at once is untagged again.
        self._entries.put(key, (value, self._clock(), tags))

    def invalidate(self, tag: str) -> None:
        """Drop every entry a revocation message names."""
        self.epoch += 1
        for key in tuple(self._by_tag.get(tag, ())):
            self._drop(key)

    def _drop(self, key: str) -> None:
        entry = self._entries.pop(key)
        if entry is not None:
            self._untag(key, entry)

    def _untag(self, key: str, entry: tuple[Any, float, tuple[str, ...]]) -> None:
        tags = entry[2]
        by_tag = self._by_tag
        for tag in tags:
            keys = by_tag.get(tag)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del by_tag[tag]

    def clear(self) -> None:
        self.epoch += 1
        self._entries.clear()
        self._by_tag.clear()


class RevocationFeed:
    """Subscribes to the revocation channel and feeds the cache; reconnects by itself."""

    def __init__(self, client: Any, channel: str, cache: LookupCache) -> None:
        self._client = client
        self._channel = channel
        self._cache = cache
        self._task: asyncio.Task[None] | None = None
        self.subscribed = asyncio.Event()

    def start(self) -> None:
        if self._cache.size > 0 and self._task is None:
            self._task = asyncio.create_task(self._run(), name="revocation-feed")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._down()

    def _down(self) -> None:
        self._cache.live = False
        self._cache.clear()
        self.subscribed.clear()

    async def _run(self) -> None:
        delay = 0.05
        while True:
            pubsub = self._client.pubsub()
            try:
                await pubsub.subscribe(self._channel)
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=False, timeout=1.0)
                    if message is None:
                        continue
                    kind = message.get("type")
                    if kind == "subscribe":
                        self._cache.clear()
                        self._cache.live = True
                        self.subscribed.set()
                        delay = 0.05
                    elif kind == "message":
                        data = message["data"]
                        tag = data.decode() if isinstance(data, bytes) else str(data)
                        self._cache.invalidate(tag)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # any failure means we may have missed a message
                if self._cache.live:
                    log.warning("revocation feed lost (%s); cache bypassed", type(e).__name__)
                self._down()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
