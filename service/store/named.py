"""Named tokens: a record per token in its owner's slot, and the owner's index of names."""

from __future__ import annotations

import asyncio
import logging
import math
import re
from collections.abc import AsyncGenerator, Mapping
from typing import Any

from redis.exceptions import ResponseError

from service.errors import NameOccupied, NotFound, RateLimited, RateLimitResult
from service.settings import RateLimitPolicy
from service.tokens.identifiers import TOKEN_ID_PATTERN
from service.tokens.keys import OWNER_HINT_DIGITS

from .lineage import foreign_holds
from .records import (
    CheckResult,
    check_expiry,
    decode_hash,
    interval_ms,
    lineage_tags,
    text,
)
from .replies import decode_check_named, decode_counted
from .repository import Repository
from .transport import operation

log = logging.getLogger(__name__)

# A name index entry: token id, ':', expiry (unix seconds, 0 = never).
_INDEX_ENTRY = re.compile(rf"({TOKEN_ID_PATTERN.pattern}):([0-9]{{1,20}})")


def _live_entry(value: Any, now: int) -> str | None:
    """The token id of a name index entry, if it is one and has not expired."""
    m = _INDEX_ENTRY.fullmatch(text(value))
    if m is None:
        return None
    exp = int(m[2])
    return m[1] if exp == 0 or exp > now else None


class NamedTokens(Repository):
    """Named tokens of every user: minted under a unique name, listed, revoked, deleted."""

    @operation("mint_named")
    async def mint(
        self,
        uid: str,
        tid: str,
        name: str,
        record: Mapping[str, str | int],
        expires: int | None,
        policy: RateLimitPolicy,
    ) -> RateLimitResult:
        """Check the user's mint limit, the name's uniqueness and record the token, atomically."""
        now_ms = int(self.clock.now() * 1000)
        ttl = 0
        if expires is not None:
            check_expiry(expires)
            # 0 stands for "never" in the name index: an expiry in the past is 1.
            expires = max(1, expires)
            ttl = max(1, math.ceil(expires - now_ms / 1000))
        fields: list[str | int] = ["uid", uid, "name", name, "tid", tid, "revoked", 0]
        fields.extend(["exp", expires or 0])
        for k, v in record.items():
            fields.extend([k, v])
        reply = await self.transport.script(
            "mint_named",
            keys=[
                self.keys.user_rate(uid, policy.name),
                self.keys.user(uid),
                self.keys.name_index(uid),
                self.keys.named_record(uid, tid),
            ],
            args=[now_ms, interval_ms(policy), policy.limit, name, tid, expires or 0, ttl, *fields],
        )
        status, result = decode_counted(policy, reply)
        if status == "nouser":
            raise NotFound("user not found")
        if status == "limited":
            raise RateLimited(result)
        if status == "exists":
            raise NameOccupied("name", f"a token named {name!r} already exists")
        return result

    @operation("token_owner")
    async def owner(self, tid: str) -> str | None:
        """The user whose named token `tid` is, found from the owner hint in its id.

        A named token's id repeats the first digits of its owner's id
        (`KeyRing.new_token_id`); the users whose id begins so (almost always
        one) are kept in a set, and the one holding the token's record is it.
        """
        hint = tid[8 : 8 + OWNER_HINT_DIGITS]
        members = await self.transport.execute("SMEMBERS", self.keys.owner_hints(hint))
        for uid in sorted(text(m) for m in members):
            if await self.transport.execute("EXISTS", self.keys.named_record(uid, tid)):
                return uid
        return None

    async def iter_ids(
        self, users_per_step: int = 128, ids_per_scan: int = 128
    ) -> AsyncGenerator[list[str], None]:
        """Every user's live named token ids, one round of Redis commands at a time.

        Nothing is read in one piece: the user set is walked with SSCAN and
        each user's name index with HSCAN, `users_per_step` users at a time, so
        Redis runs one round's short commands (a pipeline of at most
        `users_per_step` HSCANs of about `ids_per_scan` entries; a small index
        comes whole) and memory holds one round's ids. As SCAN promises, a
        user or token present for the whole walk is listed, one created or
        removed meanwhile may or may not be, and an id can come twice if an
        index is resized while it is walked (nothing is kept to weed that out:
        it would grow with the store).
        """
        cursor: Any = 0
        while True:
            # A reply is raw ([cursor, items]) or, through a cluster pipeline,
            # parsed by redis-py ((cursor, items) / (cursor, {field: value})).
            cursor, members = await self._call(
                "SSCAN", self.keys.users(), cursor, "COUNT", users_per_step
            )
            pending: dict[str, Any] = {text(m): 0 for m in members}
            while pending:
                replies = await self._gather(
                    [
                        ("HSCAN", self.keys.name_index(uid), c, "COUNT", ids_per_scan)
                        for uid, c in pending.items()
                    ]
                )
                ids, pending = self._live_ids(pending, replies)
                if ids:
                    yield ids
            if int(cursor) == 0:
                return

    @operation("_call")
    async def _call(self, *args: Any) -> Any:
        return await self.transport.call(*args)

    @operation("_gather")
    async def _gather(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        return await self.transport.gather(commands)

    def _live_ids(self, pending: dict[str, Any], replies: list[Any]) -> tuple[list[str], Any]:
        """The live ids in a round of HSCAN replies, and the users whose index goes on."""
        now = int(self.clock.now())
        out: list[str] = []
        following: dict[str, Any] = {}
        for uid, reply in zip(pending, replies, strict=True):
            if isinstance(reply, ResponseError):
                # Not a hash (a store edited by hand): this user has nothing to list.
                log.warning("name index of user %s unreadable: %s", uid, reply)
                continue
            cursor, items = reply
            values = items.values() if isinstance(items, dict) else items[1::2]
            for value in values:
                tid = _live_entry(value, now)
                if tid is not None:
                    out.append(tid)
            if int(cursor) != 0:
                following[uid] = cursor
        return out, following

    @operation("get_named")
    async def get(self, uid: str, tid: str) -> dict[str, str] | None:
        """A named token's record, if it has one."""
        raw = await self.transport.call("HGETALL", self.keys.named_record(uid, tid))
        return decode_hash(raw) if raw else None

    @operation("list_named")
    async def names(self, uid: str) -> dict[str, str]:
        """Live named tokens of a user as {name: token id}; expired names are pruned."""
        try:
            raw = decode_hash(await self.transport.call("HGETALL", self.keys.name_index(uid)))
        except ResponseError as err:
            # Not a hash (a store edited by hand): nothing to list, nothing to prune.
            log.warning("name index of user %s unreadable: %s", uid, err)
            return {}
        now = int(self.clock.now())
        live: dict[str, str] = {}
        stale = []
        for name, value in raw.items():
            tid = _live_entry(value, now)
            if tid is not None:
                live[name] = tid
            else:
                stale.append(name)
        if stale:
            await self.transport.call("HDEL", self.keys.name_index(uid), *stale)
        return live

    async def records(self, uid: str) -> list[tuple[str, dict[str, str]]]:
        """The user's live named tokens as (id, record), ordered by name."""
        names = await self.names(uid)
        tids = [names[n] for n in sorted(names)]
        records = await asyncio.gather(*(self.get(uid, t) for t in tids))
        return [(t, r) for t, r in zip(tids, records, strict=True) if r is not None]

    @operation("update_named")
    async def update(
        self, uid: str, tid: str, *, custom: str | None = None, revoked: bool | None = None
    ) -> None:
        """Set custom metadata and/or the revoked flag; NotFound when there is no record."""
        found = await self.transport.script(
            "update_named",
            keys=[self.keys.named_record(uid, tid)],
            args=[
                custom if custom is not None else "",
                "" if revoked is None else str(int(revoked)),
                self.keys.revocations(),
                f"tok:{tid}",
            ],
        )
        if not int(found):
            raise NotFound("token not found")

    @operation("delete_named")
    async def delete(self, uid: str, tid: str) -> None:
        """Delete one named token; NotFound when there is no record."""
        record = await self.get(uid, tid)
        if record is None:
            raise NotFound("token not found")
        await self.transport.script(
            "delete_named",
            keys=[self.keys.name_index(uid), self.keys.named_record(uid, tid)],
            args=[self.keys.revocations(), tid, record.get("name", "")],
        )

    @operation("delete_all_named")
    async def delete_all(self, uid: str) -> int:
        """Delete every named token of a user; returns how many there were."""
        raw = decode_hash(await self.transport.call("HGETALL", self.keys.name_index(uid)))
        if not raw:
            return 0
        keys = [self.keys.name_index(uid)]
        args: list[str] = [self.keys.revocations()]
        for name, value in raw.items():
            tid = value.partition(":")[0]
            keys.append(self.keys.named_record(uid, tid))
            args.extend([tid, name])
        return int(await self.transport.script("delete_named", keys=keys, args=args))

    async def check(self, uid: str, tid: str) -> CheckResult:
        """Whether a named token's record is present and not revoked (cached when enabled)."""
        key = f"n:{uid}:{tid}"
        cached = self.cache.get(key)
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        return await self._check(key, uid, tid, self.cache.epoch)

    @operation("_check_named")
    async def _check(self, key: str, uid: str, tid: str, since: int) -> CheckResult:
        reply = await self.transport.script(
            "check_named",
            keys=[
                self.keys.user(uid),
                self.keys.named_record(uid, tid),
                self.keys.temporary_generation(uid),
            ],
            args=[self.keys.named_record(uid, "")],
        )
        result = await foreign_holds(self.transport, self.keys, decode_check_named(reply))
        if result.status == "ok":
            self.cache.put(key, result, lineage_tags(uid, tid, result), since)
        return result
