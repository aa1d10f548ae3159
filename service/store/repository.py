"""What every repository of the store is built on."""

from __future__ import annotations

from service.clock import Clock

from .feed import LookupCache
from .keys import Keys
from .transport import Transport


class Repository:
    """One concern's operations over the shared transport, key names, clock and lookup cache."""

    def __init__(self, transport: Transport, keys: Keys, clock: Clock, cache: LookupCache) -> None:
        self.transport = transport
        self.keys = keys
        self.clock = clock
        self.cache = cache
