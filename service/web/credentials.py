"""HTTP Basic credentials: the memory of those verified, and the bound on password checks."""

from __future__ import annotations

import asyncio
import hashlib
import os

from service.errors import RateLimited, RateLimitResult
from service.lru import BoundedLRU
from service.store import User
from service.store.passwords import check_against_nobody, check_password_async

from .state import Principal


class CredentialCache:
    """Recently verified Basic credentials: keyed digest of (name, password) -> (user id, hash).

    An entry counts only while the user's id and password hash are still those
    it was verified against, so a password change invalidates it at once.
    """

    def __init__(self, size: int = 4096) -> None:
        self._key = os.urandom(32)
        self._entries: BoundedLRU[bytes, tuple[str, str]] = BoundedLRU(size)
        # Checks under way, by digest: bounded by the requests in flight.
        self.in_flight: dict[bytes, asyncio.Future[Principal]] = {}

    def digest(self, name: str, password: str) -> bytes:
        """A keyed digest of the credentials (they are never kept in the clear)."""
        msg = b"\0".join((name.encode(), password.encode()))
        # Keyed BLAKE2b is a MAC, and cheaper here than HMAC-SHA256.
        return hashlib.blake2b(msg, key=self._key, digest_size=32).digest()

    def get(self, name: str, password: str) -> tuple[str, str] | None:
        """The (user id, password hash) these credentials were last verified against."""
        return self._entries.get(self.digest(name, password))

    def add(self, name: str, password: str, uid: str, password_hash: str) -> None:
        self._entries.put(self.digest(name, password), (uid, password_hash))


class PasswordChecks:
    """At most `limit` password hashes computed at once in this process.

    Up to `queue` more wait for a free slot (a burst of honest logins is served,
    a little later); past that, RateLimited (429) at once.
    """

    def __init__(self, limit: int, queue: int = 0) -> None:
        self.limit = limit
        self.pending = 0  # hashing or waiting to
        self._max_pending = limit + queue
        self._slots = asyncio.Semaphore(limit)
        self._busy = RateLimitResult(
            policy="password_checks",
            limit=limit,
            period=1,
            allowed=False,
            remaining=0,
            retry_after=1.0,
            reset_after=1.0,
        )

    async def check(self, password: str, user: User | None) -> bool:
        """Whether `password` is the user's (a missing user costs the same); RateLimited if busy."""
        if self.pending >= self._max_pending:
            raise RateLimited(self._busy, "too many password checks at once")
        self.pending += 1
        try:
            await self._slots.acquire()
        except BaseException:
            self.pending -= 1
            raise
        # The slot is held until the hash is done, even if the request goes
        # away: the thread keeps computing, and it is the CPU that is bounded.
        task = asyncio.ensure_future(_check(password, user))
        task.add_done_callback(self._done)
        return await asyncio.shield(task)

    def _done(self, task: asyncio.Future[bool]) -> None:
        self.pending -= 1
        self._slots.release()
        if not task.cancelled():
            task.exception()


async def _check(password: str, user: User | None) -> bool:
    if user is None:
        await check_against_nobody(password)
        return False
    return await check_password_async(password, user.password_hash)
