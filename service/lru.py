"""One bounded least-recently-used map for every cache the process keeps.

A cache that clears itself wholesale when full lets a flood of junk evict the
entries that matter, and a cache without a bound lets the flood take the
memory. Every per-process cache is this class instead: at most `maxsize`
entries, and a new entry evicts only the one used longest ago.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, ItemsView, Iterator
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class BoundedLRU(Generic[K, V]):
    """A map of at most `maxsize` entries that evicts the least recently used first.

    Values must not be None: `get` answers None for a missing key.
    """

    __slots__ = ("_data", "_on_evict", "maxsize")

    def __init__(self, maxsize: int, on_evict: Callable[[K, V], None] | None = None) -> None:
        if maxsize < 0:
            raise ValueError("maxsize must not be negative")
        self.maxsize = maxsize
        self._data: OrderedDict[K, V] = OrderedDict()
        # Called for entries pushed out by the bound (not for pop or clear):
        # e.g. an index over the entries drops its references.
        self._on_evict = on_evict

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __iter__(self) -> Iterator[K]:
        return iter(self._data)

    def items(self) -> ItemsView[K, V]:
        """The entries, least recently used first."""
        return self._data.items()

    def get(self, key: K) -> V | None:
        """The value of `key` (now the most recently used), else None."""
        data = self._data
        value = data.get(key)
        if value is not None:
            data.move_to_end(key)
        return value

    def peek(self, key: K) -> V | None:
        """The value of `key` without changing its place, else None."""
        return self._data.get(key)

    def put(self, key: K, value: V) -> None:
        """Store `value` as the most recently used; evict the oldest beyond the bound."""
        if self.maxsize == 0:
            return
        data = self._data
        data[key] = value
        data.move_to_end(key)
        while len(data) > self.maxsize:
            old_key, old_value = data.popitem(last=False)
            if self._on_evict is not None:
                self._on_evict(old_key, old_value)

    def pop(self, key: K) -> V | None:
        """Remove `key` and return its value, else None."""
        return self._data.pop(key, None)

    def clear(self) -> None:
        self._data.clear()
