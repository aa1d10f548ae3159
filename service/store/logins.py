"""Failed-login limits: a password is checked only under a reserved failed login."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from service.clock import Clock
from service.errors import RateLimited, RateLimitResult
from service.settings import RateLimitPolicy

from .keys import Keys
from .records import interval_ms
from .replies import decode_counted
from .transport import Queued, Transport, operation

T = TypeVar("T")
Counter = tuple[str, RateLimitPolicy]


@dataclass(frozen=True, slots=True)
class Login(Generic[T]):
    """A login attempt the counters let through: what was found, whether `check` accepted it.

    `rate` is the counters' verdict (the one with the fewest attempts left).
    """

    found: T
    accepted: bool
    rate: RateLimitResult


class Logins:
    """The failed-login counters of (user name, ip) and of ip."""

    def __init__(self, transport: Transport, keys: Keys, clock: Clock) -> None:
        self.transport = transport
        self.keys = keys
        self.clock = clock

    async def attempt(
        self,
        name: str,
        ip: str,
        policy: RateLimitPolicy,
        ip_policy: RateLimitPolicy | None,
        lookup: Callable[[], Awaitable[T]],
        check: Callable[[T], Awaitable[bool]],
    ) -> Login[T]:
        """Run `check` on what `lookup` finds, under a failed login reserved first.

        A failed login of (name, ip) and of ip is reserved atomically, in the
        round trip of `lookup`'s first commands; `check` (the password check)
        runs only when both counters granted it, so however many attempts
        arrive at once no more passwords are checked than the limits allow.
        A refusal raises RateLimited (the tighter counter speaks) and gives
        the other's reservation back. When `check` returns True, or raises
        RateLimited, the reservations are given back; when it returns False
        they stay counted as the failed login they were, as they do when the
        store fails midway.
        """
        counters = [(self.keys.login_rate(name, ip), policy)]
        if ip_policy is not None:
            counters.append((self.keys.ip_login_rate(ip), ip_policy))
        now = int(self.clock.now() * 1000)
        queued = [
            self.transport.queue(
                "ratelimit", keys=[key], args=[now, interval_ms(p), p.limit, "hit"]
            )
            for key, p in counters
        ]
        found = await lookup()
        granted, gate = await self._outcome(counters, queued)
        if not gate.allowed:
            queue_release(self.transport, self.clock, granted)
            raise RateLimited(gate, "too many failed logins")
        try:
            good = await check(found)
        except RateLimited:
            queue_release(self.transport, self.clock, granted)
            raise
        if good:
            queue_release(self.transport, self.clock, granted)
        return Login(found, good, gate)

    @operation("outcome")
    async def _outcome(
        self, counters: list[Counter], queued: list[Queued]
    ) -> tuple[list[Counter], RateLimitResult]:
        """The counters that granted the attempt, and the verdict of them all."""
        granted = []
        results = []
        for entry, (key, policy) in zip(queued, counters, strict=True):
            result = decode_counted(policy, await self.transport.reply(entry)).rate
            results.append(result)
            if result.allowed:
                granted.append((key, policy))
        refused = [r for r in results if not r.allowed]
        if refused:
            # The tighter of the two speaks for both.
            return granted, max(refused, key=lambda r: r.retry_after)
        return granted, min(results, key=lambda r: r.remaining)


def queue_release(transport: Transport, clock: Clock, counters: list[Counter]) -> None:
    """Give cells back, without waiting: they travel with the next batch."""
    if not counters:
        return
    now = int(clock.now() * 1000)
    for key, policy in counters:
        # A lost release leaves the cell taken: the safe side.
        transport.queue(
            "ratelimit", keys=[key], args=[now, interval_ms(policy), policy.limit, "release"]
        )
