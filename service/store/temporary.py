"""Temporary tokens: not recorded one by one; a user's generation revokes them all at once."""

from __future__ import annotations

import math

from service.errors import NotFound, RateLimited, RateLimitResult, TokenRevoked
from service.settings import RateLimitPolicy

from .keys import Keys
from .lineage import foreign_holds
from .records import CheckResult, Foreign, foreign_args, interval_ms, lineage_tags
from .replies import decode_check_owner, decode_minted
from .repository import Repository
from .transport import Queued, Transport, operation


def queue_owner_check(
    transport: Transport, keys: Keys, uid: str, generation: str, tid: str
) -> Queued:
    """Queue check_owner.lua: the owner's part of checking a temporary or an F5 token."""
    return transport.queue(
        "check_owner",
        keys=[keys.user(uid), keys.temporary_generation(uid), keys.link(uid, tid)],
        args=[generation, keys.named_record(uid, "")],
    )


class TemporaryTokens(Repository):
    """Every user's temporary-token generation, their mints and their checks."""

    @operation("mint_temporary")
    async def mint(
        self,
        uid: str,
        policy: RateLimitPolicy,
        generation_ttl: int,
        *,
        tid: str = "",
        ancestors: tuple[str, ...] = (),
        parent_generation: int | None = None,
        expires: int = 0,
        foreign: Foreign | None = None,
    ) -> tuple[int, RateLimitResult]:
        """Check the mint limit and read the user's temporary-token generation, atomically.

        A child token (`parent_generation` and/or `ancestors` given) is refused
        with TokenRevoked when its parent is already dead; with `ancestors`
        its link record (under `tid`, until `expires`) is written in the same step.
        """
        now_ms = int(self.clock.now() * 1000)
        reply = await self.transport.script(
            "mint_temporary",
            keys=[
                self.keys.user_rate(uid, policy.name),
                self.keys.user(uid),
                self.keys.temporary_generation(uid),
                self.keys.link(uid, tid),
            ],
            args=[
                now_ms,
                interval_ms(policy),
                policy.limit,
                generation_ttl,
                "" if parent_generation is None else parent_generation,
                " ".join(ancestors),
                max(1, math.ceil(expires - now_ms / 1000)),
                self.keys.named_record(uid, ""),
                *foreign_args(foreign),
            ],
        )
        minted = decode_minted(policy, reply)
        if minted.status == "nouser":
            raise NotFound("user not found")
        if minted.status == "revoked":
            raise TokenRevoked("the parent token was revoked")
        if minted.status == "limited":
            raise RateLimited(minted.rate)
        return minted.generation, minted.rate

    @operation("temporary_generation")
    async def generation(self, uid: str) -> int:
        """A user's current temporary-token generation."""
        value = await self.transport.call("GET", self.keys.temporary_generation(uid))
        return int(value) if value is not None else 0

    @operation("revoke_temporary")
    async def revoke(self, uid: str, generation_ttl: int) -> int:
        """Revoke every temporary token of a user; returns the new generation."""
        gen = await self.transport.script(
            "bump_generation",
            keys=[self.keys.temporary_generation(uid)],
            args=[generation_ttl, self.keys.revocations(), f"user:{uid}"],
        )
        return int(gen)

    async def check(self, uid: str, generation: int, tid: str = "") -> CheckResult:
        """Whether the user exists, `generation` is current and the token's lineage holds (cached).

        `tid` names the token's link record, if it has one (a child of a named token).
        """
        # Per token, not per generation: a child's link record is its own.
        key = f"t:{uid}:{generation}:{tid}"
        cached = self.cache.get(key)
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        return await self._check(key, uid, generation, tid, self.cache.epoch)

    @operation("_check_temporary")
    async def _check(
        self, key: str, uid: str, generation: int, tid: str, since: int
    ) -> CheckResult:
        queued = queue_owner_check(self.transport, self.keys, uid, str(generation), tid)
        owner = decode_check_owner(await self.transport.reply(queued))
        result = await foreign_holds(self.transport, self.keys, owner.result)
        if result.status == "ok":
            self.cache.put(key, result, lineage_tags(uid, tid, result), since)
        return result
