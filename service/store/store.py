"""The store: every Redis state of the service, one repository per concern.

`Store` opens the client and composes the repositories over one `Transport`
(the batcher, scripts, error translation) and one verification cache fed by
the revocation channel. Repositories raise domain errors: redis-py failures
leave as `StoreUnavailable` / `StoreTimeout`, refusals as `RateLimited`,
`NameOccupied`, `NotFound`, `Conflict`.
"""

from __future__ import annotations

import logging
from typing import Any

from service.clock import Clock, SystemClock
from service.settings import RedisSettings

from .applications import Applications
from .connection import Client, close_client, open_client
from .feed import LookupCache, RevocationFeed
from .keys import Keys
from .logins import Logins
from .named import NamedTokens
from .namespaces import Namespaces
from .records import MAX_EXPIRY
from .temporary import TemporaryTokens
from .transport import Transport, translate_errors
from .users import Users

__all__ = ["MAX_EXPIRY", "Store"]

log = logging.getLogger(__name__)


class Store:
    """All Redis state of the service: `users`, `logins`, `named`, `temporary`, `namespaces`, `apps`."""

    def __init__(
        self,
        settings: RedisSettings,
        *,
        clock: Clock | None = None,
        cache_size: int = 0,
        cache_max_staleness: float = 1.0,
        client: Client | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        if client is None:
            client, self.embedded = open_client(settings)
        else:
            self.embedded = False
        self.client: Any = client
        self.keys = keys = Keys(settings.key_prefix)
        self.transport = transport = Transport(self.client)
        # Ages on a clock that never steps back: a wall clock set back would keep
        # entries past cache.max_staleness, the bound on a lost revocation message.
        self.cache = cache = LookupCache(cache_size, cache_max_staleness, self.clock.monotonic)
        self.feed = RevocationFeed(self.client, keys.revocations(), cache)
        clock = self.clock
        self.users = Users(transport, keys, clock, cache)
        self.logins = Logins(transport, keys, clock)
        self.named = NamedTokens(transport, keys, clock, cache)
        self.temporary = TemporaryTokens(transport, keys, clock, cache)
        self.apps = Applications(transport, keys, clock, cache)
        self.namespaces = Namespaces(transport, keys, clock, self.apps)
        self.ready = False

    async def start(self) -> None:
        """Load the scripts (when Redis is up) and start the revocation feed."""
        try:
            await self.load_scripts()
            await self.users.index_owner_hints()
        except Exception as e:
            log.warning("store not reachable at start (%s); retrying on demand", type(e).__name__)
        self.feed.start()

    @translate_errors
    async def load_scripts(self) -> None:
        """Load every script into Redis; the store is ready once they are."""
        await self.transport.load_scripts()
        self.ready = True

    async def close(self) -> None:
        """Stop the feed, wait for the batches in flight, close the client."""
        await self.feed.stop()
        await self.transport.close()
        await close_client(self.client)

    @translate_errors
    async def ping(self) -> bool:
        """Whether Redis answers and the scripts are loaded."""
        await self.transport.call("PING")
        if not self.ready:
            await self.transport.load_scripts()
            await self.users.index_owner_hints()
            self.ready = True
        return True
