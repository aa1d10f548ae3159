"""The store: users, token records, generations, applications, namespaces and limits in Redis.

Every method is one domain operation; redis-py failures leave as
`StoreUnavailable` / `StoreTimeout`, and refusals as domain errors
(`RateLimited`, `NameOccupied`, `NotFound`, `Conflict`).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import math
import os
import re
from collections.abc import AsyncGenerator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from redis.exceptions import NoScriptError, ResponseError

from service.clock import Clock, SystemClock
from service.errors import (
    AlreadyExists,
    BadValue,
    Conflict,
    NameOccupied,
    NotFound,
    RateLimited,
    RateLimitResult,
    TokenRevoked,
)
from service.lru import BoundedLRU
from service.settings import RateLimitPolicy, RedisSettings
from service.tokens.keys import OWNER_HINT_DIGITS

from .batcher import CommandBatcher
from .connection import Client, close_client, open_client, translate_errors
from .feed import RevocationFeed, VerificationCache
from .keys import Keys
from .passwords import check_against_nobody, check_password_async, hash_password
from .scripts import Scripts

log = logging.getLogger(__name__)

Role = Literal["editor", "viewer"]
_MAX_REMEMBERED_NAMES = 10_000
# The latest expiry any token may have: 9999-12-31T23:59:59Z. Beyond it a
# TTL overflows Redis and the expiry no longer prints as a plain integer in a
# script, so such a token could not be listed or deleted. The Lua scripts
# (gcra.lua `bad_expiry`) refuse the same bound before writing anything.
MAX_EXPIRY = 253_402_300_799
# Field of a namespace's role bindings holding a user's role generation.
_ROLE_GENERATION = "gen:"
CheckStatus = Literal["ok", "norecord", "revoked", "nouser", "noapp", "disabled"]


_Queued = tuple[Any, tuple[Any, ...], "asyncio.Future[Any]"]


def _retrieved(future: asyncio.Future[Any]) -> None:
    # A reply nobody awaits any more (its sibling in the batch failed first)
    # must not be logged as a lost exception.
    if not future.cancelled():
        future.exception()


def _s(value: Any) -> str:
    # A value this service did not write may not be UTF-8: never an exception here.
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


# A name index entry: token id, ':', expiry (unix seconds, 0 = never).
_INDEX_ENTRY = re.compile(r"([0-9a-f]{32}):([0-9]{1,20})")


def _live_entry(value: Any, now: int) -> str | None:
    """The token id of a name index entry, if it is one and has not expired."""
    m = _INDEX_ENTRY.fullmatch(_s(value))
    if m is None:
        return None
    exp = int(m[2])
    return m[1] if exp == 0 or exp > now else None


def _decode_hash(raw: Mapping[Any, Any]) -> dict[str, str]:
    return {_s(k): _s(v) for k, v in raw.items()}


@dataclass(frozen=True, slots=True)
class User:
    id: str
    name: str
    admin: bool
    created: int
    password_hash: str = ""

    def __repr__(self) -> str:
        return f"User(id={self.id!r}, name={self.name!r}, admin={self.admin})"


@dataclass(frozen=True, slots=True)
class Foreign:
    """The part of a token's lineage in another user's slot (an admin's token minted it).

    `uid` is that user's id; `ancestors` and `generation` are the chain
    there, checked by a second script in that user's slot (check_lineage.lua).
    """

    uid: str
    ancestors: tuple[str, ...] = ()
    generation: int | None = None


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The store's verdict on a token's record, its owner when known, and its lineage.

    `ancestors` and `generation` are the token's own lineage (the named
    ancestors and the temporary generation it must die with), for its children.
    """

    status: CheckStatus
    user_name: str | None = None
    admin: bool = False
    ancestors: tuple[str, ...] = ()
    generation: int | None = None
    foreign: Foreign | None = None


def _lineage(ancestors: Any, generation: Any) -> tuple[tuple[str, ...], int | None]:
    """A lineage as a script replies it: ids separated by spaces, a generation or ''."""
    text, gen = _s(ancestors), _s(generation)
    return tuple(text.split()), int(gen) if gen else None


def _lineage_tags(uid: str, tid: str, result: CheckResult) -> tuple[str, ...]:
    """Revocation-feed tags of a token's check: itself, its owner, each named ancestor."""
    tags = (f"tok:{tid}", f"user:{uid}", *(f"tok:{a}" for a in result.ancestors))
    if result.foreign is not None:
        foreign = result.foreign
        tags += (f"user:{foreign.uid}", *(f"tok:{a}" for a in foreign.ancestors))
    return tags


def _foreign(uid: Any, ancestors: Any, generation: Any) -> Foreign:
    """A foreign lineage as a script replies it."""
    anc, gen = _lineage(ancestors, generation)
    return Foreign(_s(uid), anc, gen)


def _gen(generation: int | None) -> str:
    return "" if generation is None else str(generation)


def _foreign_args(foreign: Foreign | None) -> list[str]:
    """A foreign lineage as script arguments (owner, ancestors, generation; '' for none)."""
    if foreign is None:
        return ["", "", ""]
    return [foreign.uid, " ".join(foreign.ancestors), _gen(foreign.generation)]


def lineage_fields(
    ancestors: Sequence[str], generation: int | None, foreign: Foreign | None
) -> dict[str, str]:
    """A lineage as the fields of a token's record or link (what the check scripts read)."""
    fields = {"anc": " ".join(ancestors), "pgen": _gen(generation)}
    if foreign is not None:
        fuid, fanc, fgen = _foreign_args(foreign)
        fields.update(fuid=fuid, fanc=fanc, fgen=fgen)
    return fields


def _rate_result(policy: RateLimitPolicy, reply: list[Any]) -> RateLimitResult:
    status = _s(reply[0])
    return RateLimitResult(
        policy=policy.name,
        limit=policy.limit,
        period=policy.period,
        allowed=status != "limited",
        remaining=int(reply[1]),
        retry_after=int(reply[2]) / 1000.0,
        reset_after=int(reply[3]) / 1000.0,
    )


class LoginAttempt:
    """Reserved password checks of one Basic login (see `Store.reserve_login`)."""

    __slots__ = ("_counters", "_granted", "_queued", "_store")

    def __init__(
        self,
        store: Store,
        counters: list[tuple[str, RateLimitPolicy]],
        queued: list[_Queued],
    ) -> None:
        self._store = store
        self._counters = counters
        self._queued = queued
        self._granted: list[tuple[str, RateLimitPolicy]] = []

    @translate_errors
    async def outcome(self) -> RateLimitResult:
        """Whether every counter admitted the attempt; a refusal gives the others back."""
        results = []
        for queued, (key, policy) in zip(self._queued, self._counters, strict=True):
            result = _rate_result(policy, await self._store._reply(queued))
            results.append(result)
            if result.allowed:
                self._granted.append((key, policy))
        refused = [r for r in results if not r.allowed]
        if refused:
            self.release()
            # The tighter of the two speaks for both.
            return max(refused, key=lambda r: r.retry_after)
        return min(results, key=lambda r: r.remaining)

    def release(self) -> None:
        """Give the reserved checks back (the password was good, or none was checked)."""
        granted, self._granted = self._granted, []
        if granted:
            self._store._release(granted)


def _check_expiry(expires: int) -> None:
    """An expiry must be a time the store can keep (the scripts refuse it too)."""
    if not 0 <= expires <= MAX_EXPIRY:
        raise BadValue("validUntil", "tooHigh", "beyond the latest expiry", high=MAX_EXPIRY)


@functools.lru_cache(maxsize=64)
def _interval_ms(policy: RateLimitPolicy) -> str:
    return repr(policy.period * 1000.0 / policy.limit)


class Store:
    """All Redis state of the service behind domain operations."""

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
        self.keys = Keys(settings.key_prefix)
        self.scripts = Scripts(self.client)
        self.batcher = CommandBatcher(self.client)
        self._uids: BoundedLRU[str, str] = BoundedLRU(_MAX_REMEMBERED_NAMES)
        # Ages on a clock that never steps back: a wall clock set back would keep
        # entries past cache.max_staleness, the bound on a lost revocation message.
        self.cache = VerificationCache(cache_size, cache_max_staleness, self.clock.monotonic)
        self.feed = RevocationFeed(self.client, self.keys.revocations(), self.cache)
        self.ready = False

    # lifecycle -----------------------------------------------------------

    async def start(self) -> None:
        """Load the scripts (when Redis is up) and start the revocation feed."""
        try:
            await self.load_scripts()
            await self.index_owner_hints()
        except Exception as e:
            log.warning("store not reachable at start (%s); retrying on demand", type(e).__name__)
        self.feed.start()

    @translate_errors
    async def load_scripts(self) -> None:
        await self.scripts.load(self.client)
        self.ready = True

    async def close(self) -> None:
        await self.feed.stop()
        await self.batcher.close()
        await close_client(self.client)

    @translate_errors
    async def ping(self) -> bool:
        """Whether Redis answers and the scripts are loaded."""
        await self.client.ping()
        if not self.ready:
            await self.scripts.load(self.client)
            await self.index_owner_hints()
            self.ready = True
        return True

    async def _script(self, name: str, keys: list[str], args: list[Any]) -> Any:
        """Run a script through the batcher (EVALSHA), loading it again after NOSCRIPT."""
        return await self._reply(self._queue(name, keys, args))

    def _queue(self, name: str, keys: list[str], args: list[Any]) -> _Queued:
        """Queue a script in this tick's batch now; `_reply` awaits it.

        Several scripts queued before the first await travel in one round trip
        without a task each (as asyncio.gather of coroutines would need).
        """
        script = self.scripts[name]
        argv = (len(keys), *keys, *args)
        future = self.batcher.execute("EVALSHA", script.sha, *argv)
        future.add_done_callback(_retrieved)
        return script, argv, future

    async def _reply(self, queued: _Queued) -> Any:
        script, argv, future = queued
        try:
            return await future
        except NoScriptError:
            script.sha = await self.client.script_load(script.script)
            return await self.batcher.execute("EVALSHA", script.sha, *argv)

    def _now_ms(self) -> int:
        return int(self.clock.now() * 1000)

    def _now(self) -> int:
        return int(self.clock.now())

    # users ---------------------------------------------------------------

    @translate_errors
    async def count_users(self) -> int:
        return int(await self.client.scard(self.keys.users()))

    @translate_errors
    async def create_user(self, name: str, password: str, *, admin: bool = False) -> User:
        """Create a user; AlreadyExists when the name is taken."""
        uid = os.urandom(16).hex()
        if not await self.client.set(self.keys.username(name), uid, nx=True):
            raise AlreadyExists(f"user {name} already exists")
        pw = await asyncio.to_thread(hash_password, password)
        created = self._now()
        await self.client.hset(
            self.keys.user(uid),
            mapping={"id": uid, "name": name, "pw": pw, "admin": int(admin), "created": created},
        )
        await self.client.sadd(self.keys.owner_hints(uid[:OWNER_HINT_DIGITS]), uid)
        await self.client.sadd(self.keys.users(), uid)
        return User(uid, name, admin, created, pw)

    async def get_user(self, uid: str) -> User | None:
        """A user by id (cached when enabled: a change to the user is published on the feed)."""
        key = f"u:{uid}"
        cached = self.cache.get(key)
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        since = self.cache.epoch
        user = await self._get_user(uid)
        if user is not None:
            self.cache.put(key, user, (f"user:{uid}",), since)
        return user

    @translate_errors
    async def _get_user(self, uid: str) -> User | None:
        raw = _decode_hash(await self.batcher.execute("HGETALL", self.keys.user(uid)))
        if "name" not in raw:
            return None
        return User(
            raw["id"],
            raw["name"],
            raw.get("admin") == "1",
            int(raw.get("created", 0)),
            raw.get("pw", ""),
        )

    @translate_errors
    async def user_id(self, name: str) -> str | None:
        uid = await self.batcher.execute("GET", self.keys.username(name))
        return _s(uid) if uid is not None else None

    async def get_user_by_name(self, name: str) -> User | None:
        """A user by name; the name's id is remembered, since a name never changes its id."""
        uid = self._uids.get(name)
        if uid is not None:
            user = await self.get_user(uid)
            if user is not None and user.name == name:
                return user
            self._uids.pop(name)
        uid = await self.user_id(name)
        if uid is None:
            return None
        user = await self.get_user(uid)
        if user is None or user.name != name:
            return None
        self._uids.put(name, uid)
        return user

    async def authenticate(self, name: str, password: str) -> User | None:
        """The user whose name and password these are, else None (same cost either way)."""
        user = await self.get_user_by_name(name)
        if user is None:
            await check_against_nobody(password)
            return None
        if await check_password_async(password, user.password_hash):
            return user
        return None

    @translate_errors
    async def set_password(self, name: str, password: str) -> None:
        user = await self.get_user_by_name(name)
        if user is None:
            raise NotFound(f"no user {name}")
        pw = await asyncio.to_thread(hash_password, password)
        await self.client.hset(self.keys.user(user.id), "pw", pw)
        await self._user_changed(user.id)

    @translate_errors
    async def set_admin(self, name: str, admin: bool) -> None:
        user = await self.get_user_by_name(name)
        if user is None:
            raise NotFound(f"no user {name}")
        await self.client.hset(self.keys.user(user.id), "admin", int(admin))
        await self._user_changed(user.id)

    @translate_errors
    async def remove_user(self, name: str) -> None:
        """Remove a user; every token of theirs fails from now on."""
        user = await self.get_user_by_name(name)
        if user is None:
            raise NotFound(f"no user {name}")
        await self.delete_all_named(user.id)
        await self.client.delete(self.keys.user(user.id), self.keys.temporary_generation(user.id))
        await self.client.srem(self.keys.users(), user.id)
        await self.client.srem(self.keys.owner_hints(user.id[:OWNER_HINT_DIGITS]), user.id)
        await self.client.delete(self.keys.username(name))
        for ns in await self.list_namespaces():
            await self.client.hdel(self.keys.roles(ns), user.id)
        await self._user_changed(user.id)

    async def _user_changed(self, uid: str) -> None:
        """Every process drops what it remembers of the user: its record and its tokens' checks."""
        await self.client.publish(self.keys.revocations(), f"user:{uid}")

    @translate_errors
    async def list_users(self) -> list[User]:
        uids = sorted(_s(u) for u in await self.client.smembers(self.keys.users()))
        users = []
        for uid in uids:
            user = await self.get_user(uid)
            if user is not None:
                users.append(user)
        return sorted(users, key=lambda u: u.name)

    # failed logins -------------------------------------------------------

    def reserve_login(
        self, name: str, ip: str, policy: RateLimitPolicy, ip_policy: RateLimitPolicy | None = None
    ) -> LoginAttempt:
        """Reserve one password check of (name, ip) and of ip; queued now, judged by `outcome`.

        A reservation counts as a failed login until `release` gives it back
        (after a good password), so no more password checks than the limits
        allow can ever run, however many arrive at once.
        """
        now = self._now_ms()
        counters = [(self.keys.login_rate(name, ip), policy)]
        if ip_policy is not None:
            counters.append((self.keys.ip_login_rate(ip), ip_policy))
        queued = [
            self._queue(
                "ratelimit",
                keys=[key],
                args=[now, _interval_ms(p), p.limit, "hit"],
            )
            for key, p in counters
        ]
        return LoginAttempt(self, counters, queued)

    def _release(self, counters: Sequence[tuple[str, RateLimitPolicy]]) -> None:
        """Give reservations back, without waiting: they travel with the next batch."""
        now = self._now_ms()
        for key, policy in counters:
            # A lost release leaves the attempt counted: the safe side.
            self._queue(
                "ratelimit", keys=[key], args=[now, _interval_ms(policy), policy.limit, "release"]
            )

    # named tokens --------------------------------------------------------

    @translate_errors
    async def mint_named(
        self,
        uid: str,
        tid: str,
        name: str,
        record: Mapping[str, str | int],
        expires: int | None,
        policy: RateLimitPolicy,
    ) -> RateLimitResult:
        """Check the user's mint limit, the name's uniqueness and record the token, atomically."""
        now_ms = self._now_ms()
        ttl = 0
        if expires is not None:
            _check_expiry(expires)
            # 0 stands for "never" in the name index: an expiry in the past is 1.
            expires = max(1, expires)
            ttl = max(1, math.ceil(expires - now_ms / 1000))
        fields: list[str | int] = ["uid", uid, "name", name, "tid", tid, "revoked", 0]
        fields.extend(["exp", expires or 0])
        for k, v in record.items():
            fields.extend([k, v])
        reply = await self._script(
            "mint_named",
            keys=[
                self.keys.user_rate(uid, policy.name),
                self.keys.user(uid),
                self.keys.name_index(uid),
                self.keys.named_record(uid, tid),
            ],
            args=[
                now_ms,
                _interval_ms(policy),
                policy.limit,
                name,
                tid,
                expires or 0,
                ttl,
                *fields,
            ],
        )
        status = _s(reply[0])
        if status == "nouser":
            raise NotFound("user not found")
        result = _rate_result(policy, reply)
        if status == "limited":
            raise RateLimited(result)
        if status == "exists":
            raise NameOccupied("name", f"a token named {name!r} already exists")
        return result

    @translate_errors
    async def token_owner(self, tid: str) -> str | None:
        """The user whose named token `tid` is, found from the owner hint in its id.

        A named token's id repeats the first digits of its owner's id
        (`KeyRing.new_token_id`); the users whose id begins so (almost always
        one) are kept in a set, and the one holding the token's record is it.
        """
        hint = tid[8 : 8 + OWNER_HINT_DIGITS]
        members = await self.batcher.execute("SMEMBERS", self.keys.owner_hints(hint))
        for uid in sorted(_s(m) for m in members):
            if await self.batcher.execute("EXISTS", self.keys.named_record(uid, tid)):
                return uid
        return None

    async def index_owner_hints(self) -> None:
        """Give every user an owner hint, once per store (users created since have one)."""
        if await self.client.exists(self.keys.owner_hints_built()):
            return
        cursor: Any = 0
        while True:
            cursor, members = await self.client.sscan(self.keys.users(), cursor, count=1000)
            # A page's commands in one batch, not a round trip per user.
            await self._gather(
                [
                    ("SADD", self.keys.owner_hints(uid[:OWNER_HINT_DIGITS]), uid)
                    for uid in (_s(m) for m in members)
                ]
            )
            if int(cursor) == 0:
                break
        await self.client.set(self.keys.owner_hints_built(), 1)

    @translate_errors
    async def user_exists(self, uid: str) -> bool:
        return bool(await self.batcher.execute("EXISTS", self.keys.user(uid)))

    async def iter_named_ids(
        self, users_per_step: int = 128, ids_per_scan: int = 128
    ) -> AsyncGenerator[list[str], None]:
        """Every user's live named token ids, one round of Redis commands at a time.

        Nothing is read in one piece: the user set is walked with SSCAN and
        each user's name index with HSCAN, `users_per_step` users at a time, so
        Redis runs one round's short commands (a pipeline of at most
        `users_per_step` HSCANs of about `ids_per_scan` entries; a small index
        comes whole, up to 128) and memory holds one round's ids. As SCAN
        promises, a user or token present for the whole walk is listed, one
        created or removed meanwhile may or may not be, and an id can come
        twice if an index is resized while it is walked (nothing is kept to
        weed that out: it would grow with the store).
        """
        cursor: Any = 0
        while True:
            # A reply is raw ([cursor, items]) or, through a cluster pipeline,
            # parsed by redis-py ((cursor, items) / (cursor, {field: value})).
            cursor, members = await self._call(
                "SSCAN", self.keys.users(), cursor, "COUNT", users_per_step
            )
            pending: dict[str, Any] = {_s(m): 0 for m in members}
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

    def _live_ids(self, pending: dict[str, Any], replies: list[Any]) -> tuple[list[str], Any]:
        """The live ids in a round of HSCAN replies, and the users whose index goes on."""
        now = self._now()
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

    @translate_errors
    async def _gather(self, commands: Sequence[tuple[Any, ...]]) -> list[Any]:
        """Several commands in one batch, their replies in order (no task each).

        A command's error reply (e.g. WRONGTYPE) is its reply; a failure of
        the connection fails the whole.
        """
        replies = await asyncio.gather(
            *(self.batcher.execute(*c) for c in commands), return_exceptions=True
        )
        for reply in replies:
            if isinstance(reply, BaseException) and not isinstance(reply, ResponseError):
                raise reply
        return list(replies)

    @translate_errors
    async def _call(self, *args: Any) -> Any:
        return await self.batcher.execute(*args)

    @translate_errors
    async def get_named(self, uid: str, tid: str) -> dict[str, str] | None:
        raw = await self.client.hgetall(self.keys.named_record(uid, tid))
        return _decode_hash(raw) if raw else None

    @translate_errors
    async def list_named(self, uid: str) -> dict[str, str]:
        """Live named tokens of a user as {name: token id}; expired names are pruned."""
        try:
            raw = _decode_hash(await self.client.hgetall(self.keys.name_index(uid)))
        except ResponseError as err:
            # Not a hash (a store edited by hand): nothing to list, nothing to prune.
            log.warning("name index of user %s unreadable: %s", uid, err)
            return {}
        now = self._now()
        live: dict[str, str] = {}
        stale = []
        for name, value in raw.items():
            tid = _live_entry(value, now)
            if tid is not None:
                live[name] = tid
            else:
                stale.append(name)
        if stale:
            await self.client.hdel(self.keys.name_index(uid), *stale)
        return live

    async def named_records(self, uid: str) -> list[tuple[str, dict[str, str]]]:
        """The user's live named tokens as (id, record), ordered by name."""
        names = await self.list_named(uid)
        tids = [names[n] for n in sorted(names)]
        records = await asyncio.gather(*(self.get_named(uid, t) for t in tids))
        return [(t, r) for t, r in zip(tids, records, strict=True) if r is not None]

    @translate_errors
    async def update_named(
        self, uid: str, tid: str, *, custom: str | None = None, revoked: bool | None = None
    ) -> None:
        """Set custom metadata and/or the revoked flag; NotFound when there is no record."""
        found = await self._script(
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

    @translate_errors
    async def delete_named(self, uid: str, tid: str) -> None:
        """Delete one named token; NotFound when there is no record."""
        record = await self.get_named(uid, tid)
        if record is None:
            raise NotFound("token not found")
        await self._script(
            "delete_named",
            keys=[self.keys.name_index(uid), self.keys.named_record(uid, tid)],
            args=[self.keys.revocations(), tid, record.get("name", "")],
        )

    @translate_errors
    async def delete_all_named(self, uid: str) -> int:
        """Delete every named token of a user; returns how many there were."""
        raw = _decode_hash(await self.client.hgetall(self.keys.name_index(uid)))
        if not raw:
            return 0
        keys = [self.keys.name_index(uid)]
        args: list[str] = [self.keys.revocations()]
        for name, value in raw.items():
            tid = value.partition(":")[0]
            keys.append(self.keys.named_record(uid, tid))
            args.extend([tid, name])
        return int(await self._script("delete_named", keys=keys, args=args))

    # The check_* lookups answer from the verification cache when they can;
    # only a miss goes to Redis (and counts as a store operation).

    async def check_named(self, uid: str, tid: str) -> CheckResult:
        """Whether a named token's record is present and not revoked (cached when enabled)."""
        key = f"n:{uid}:{tid}"
        cached = self.cache.get(key)
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        return await self._check_named(key, uid, tid, self.cache.epoch)

    @translate_errors
    async def _check_named(self, key: str, uid: str, tid: str, since: int) -> CheckResult:
        reply = await self._script(
            "check_named",
            keys=[
                self.keys.user(uid),
                self.keys.named_record(uid, tid),
                self.keys.temporary_generation(uid),
            ],
            args=[self.keys.named_record(uid, "")],
        )
        result = await self._foreign_holds(self._check_result(reply))
        if result.status == "ok":
            self.cache.put(key, result, _lineage_tags(uid, tid, result), since)
        return result

    async def _foreign_holds(self, result: CheckResult) -> CheckResult:
        """`result`, refused when its foreign lineage (another user's slot) no longer holds.

        One more round trip, for the tokens an admin's token minted for a user
        (and their descendants) only.
        """
        if result.status != "ok" or result.foreign is None:
            return result
        fuid, fanc, fgen = _foreign_args(result.foreign)
        reply = await self._script(
            "check_lineage",
            keys=[self.keys.user(fuid), self.keys.temporary_generation(fuid)],
            args=[self.keys.named_record(fuid, ""), fanc, fgen],
        )
        if _s(reply[0]) == "ok":
            return result
        return CheckResult("revoked", result.user_name, result.admin)

    @staticmethod
    def _check_result(reply: list[Any], lineage_at: int = 3) -> CheckResult:
        status = _s(reply[0])
        if len(reply) > lineage_at + 1:
            ancestors, generation = _lineage(reply[lineage_at], reply[lineage_at + 1])
            foreign = None
            if len(reply) > lineage_at + 4 and _s(reply[lineage_at + 2]):
                foreign = _foreign(*reply[lineage_at + 2 : lineage_at + 5])
            return CheckResult(
                status,  # type: ignore[arg-type]
                _s(reply[1]),
                _s(reply[2]) == "1",
                ancestors,
                generation,
                foreign,
            )
        if len(reply) >= 3:
            return CheckResult(status, _s(reply[1]), _s(reply[2]) == "1")  # type: ignore[arg-type]
        return CheckResult(status)  # type: ignore[arg-type]

    # temporary tokens ----------------------------------------------------

    @translate_errors
    async def mint_temporary(
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
        now_ms = self._now_ms()
        reply = await self._script(
            "mint_temporary",
            keys=[
                self.keys.user_rate(uid, policy.name),
                self.keys.user(uid),
                self.keys.temporary_generation(uid),
                self.keys.link(uid, tid),
            ],
            args=[
                now_ms,
                _interval_ms(policy),
                policy.limit,
                generation_ttl,
                "" if parent_generation is None else parent_generation,
                " ".join(ancestors),
                max(1, math.ceil(expires - now_ms / 1000)),
                self.keys.named_record(uid, ""),
                *_foreign_args(foreign),
            ],
        )
        status = _s(reply[0])
        if status == "nouser":
            raise NotFound("user not found")
        if status == "revoked":
            raise TokenRevoked("the parent token was revoked")
        result = _rate_result(policy, reply)
        if status == "limited":
            raise RateLimited(result)
        return int(reply[4]), result

    @translate_errors
    async def temporary_generation(self, uid: str) -> int:
        value = await self.client.get(self.keys.temporary_generation(uid))
        return int(value) if value is not None else 0

    @translate_errors
    async def revoke_temporary(self, uid: str, generation_ttl: int) -> int:
        """Revoke every temporary token of a user; returns the new generation."""
        gen = await self._script(
            "bump_generation",
            keys=[self.keys.temporary_generation(uid)],
            args=[generation_ttl, self.keys.revocations(), f"user:{uid}"],
        )
        return int(gen)

    async def check_temporary(self, uid: str, generation: int, tid: str = "") -> CheckResult:
        """Whether the user exists, `generation` is current and the token's lineage holds (cached).

        `tid` names the token's link record, if it has one (a child of a named token).
        """
        # Per token, not per generation: a child's link record is its own.
        key = f"t:{uid}:{generation}:{tid}"
        cached = self.cache.get(key)
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        return await self._check_temporary(key, uid, generation, tid, self.cache.epoch)

    def _queue_owner(self, uid: str, generation: str, tid: str) -> _Queued:
        return self._queue(
            "check_owner",
            keys=[
                self.keys.user(uid),
                self.keys.temporary_generation(uid),
                self.keys.link(uid, tid),
            ],
            args=[generation, self.keys.named_record(uid, "")],
        )

    @translate_errors
    async def _check_temporary(
        self, key: str, uid: str, generation: int, tid: str, since: int
    ) -> CheckResult:
        reply = await self._reply(self._queue_owner(uid, str(generation), tid))
        result = await self._foreign_holds(self._check_result(reply, lineage_at=4))
        if result.status == "ok":
            self.cache.put(key, result, _lineage_tags(uid, tid, result), since)
        return result

    # namespaces and roles ------------------------------------------------

    @translate_errors
    async def create_namespace(self, name: str) -> None:
        if not await self.client.hsetnx(self.keys.namespace(name), "created", self._now()):
            raise AlreadyExists(f"namespace {name} already exists")
        await self.client.sadd(self.keys.namespaces(), name)

    @translate_errors
    async def namespace_exists(self, name: str) -> bool:
        return bool(await self.client.exists(self.keys.namespace(name)))

    @translate_errors
    async def get_namespace(self, name: str) -> dict[str, str] | None:
        raw = await self.client.hgetall(self.keys.namespace(name))
        return _decode_hash(raw) if raw else None

    @translate_errors
    async def list_namespaces(self) -> list[str]:
        return sorted(_s(n) for n in await self.client.smembers(self.keys.namespaces()))

    @translate_errors
    async def delete_namespace(self, name: str) -> None:
        """Delete a namespace with its applications (and so their tokens) and role bindings."""
        if not await self.namespace_exists(name):
            raise NotFound(f"namespace {name} not found")
        for app in await self._app_names(name):
            try:
                await self.delete_app(name, app)
            except NotFound:
                pass
        await self.client.delete(
            self.keys.namespace(name), self.keys.roles(name), self.keys.apps(name)
        )
        await self.client.srem(self.keys.namespaces(), name)

    @translate_errors
    async def grant(self, ns: str, uid: str, role: Role) -> None:
        """Bind a user to a role; a change of role kills the F5 tokens they generated in `ns`."""
        if not await self.namespace_exists(ns):
            raise NotFound(f"namespace {ns} not found")
        await self._set_role(ns, uid, role)

    @translate_errors
    async def revoke_role(self, ns: str, uid: str) -> None:
        """Remove a user's binding; every F5 token they generated in `ns` fails at once."""
        if not await self._set_role(ns, uid, ""):
            raise NotFound("no such role binding")

    async def _set_role(self, ns: str, uid: str, role: str) -> bool:
        had = await self._script(
            "role_set",
            keys=[self.keys.roles(ns)],
            args=[uid, role, self.keys.revocations(), f"role:{ns}/{uid}"],
        )
        return bool(int(had))

    @translate_errors
    async def role_of(self, ns: str, uid: str) -> Role | None:
        role = await self.batcher.execute("HGET", self.keys.roles(ns), uid)
        return _s(role) if role is not None else None  # type: ignore[return-value]

    @translate_errors
    async def role_and_generation(self, ns: str, uid: str) -> tuple[Role | None, str]:
        """A user's role in `ns` and their role generation there, read together (one command).

        A token minted with this generation dies when the binding is removed or
        changed; read atomically with the role, a mint that raced a removal
        carries the old generation and dies with the others.
        """
        role, gen = await self.batcher.execute(
            "HMGET", self.keys.roles(ns), uid, _ROLE_GENERATION + uid
        )
        return (
            _s(role) if role is not None else None,  # type: ignore[return-value]
            _s(gen) if gen is not None else "0",
        )

    @translate_errors
    async def role_generation(self, ns: str, uid: str) -> str:
        """A user's role generation in `ns` (see `role_and_generation`)."""
        gen = await self.batcher.execute("HGET", self.keys.roles(ns), _ROLE_GENERATION + uid)
        return _s(gen) if gen is not None else "0"

    @translate_errors
    async def roles(self, ns: str) -> dict[str, str]:
        raw = _decode_hash(await self.client.hgetall(self.keys.roles(ns)))
        return {uid: role for uid, role in raw.items() if not uid.startswith(_ROLE_GENERATION)}

    # applications --------------------------------------------------------

    async def _app_names(self, ns: str) -> list[str]:
        return sorted(_s(a) for a in await self.client.smembers(self.keys.apps(ns)))

    @translate_errors
    async def create_app(
        self, ns: str, name: str, doc: Mapping[str, Any], *, disabled: bool
    ) -> None:
        """Create an application; AlreadyExists when it exists."""
        # Listed first, so that a crash leaves at worst a stale listing entry
        # (pruned on read), never an application that cannot be listed.
        await self.client.sadd(self.keys.apps(ns), name)
        created = await self._script(
            "app_create", keys=[self.keys.app(ns, name)], args=[json.dumps(doc), int(disabled)]
        )
        if not int(created):
            raise AlreadyExists(f"application {name} already exists")

    @translate_errors
    async def get_app(self, ns: str, name: str) -> dict[str, Any] | None:
        raw = await self.client.hget(self.keys.app(ns, name), "doc")
        if raw is None:
            return None
        doc: dict[str, Any] = json.loads(raw)
        return doc

    @translate_errors
    async def list_apps(self, ns: str) -> list[dict[str, Any]]:
        names = await self._app_names(ns)
        docs = []
        stale = []
        for name in names:
            doc = await self.get_app(ns, name)
            if doc is None:
                stale.append(name)
            else:
                docs.append(doc)
        if stale:
            await self.client.srem(self.keys.apps(ns), *stale)
        return docs

    @translate_errors
    async def replace_app(
        self, ns: str, name: str, doc: Mapping[str, Any], *, disabled: bool
    ) -> None:
        done = await self._script(
            "app_replace",
            keys=[self.keys.app(ns, name)],
            args=[json.dumps(doc), int(disabled), self.keys.revocations(), f"app:{ns}/{name}"],
        )
        if not int(done):
            raise NotFound("application not found")

    @translate_errors
    async def delete_app(self, ns: str, name: str) -> None:
        """Delete an application; every token it issued fails from now on."""
        done = await self._script(
            "app_delete",
            keys=[self.keys.app(ns, name)],
            args=[self._now(), self.keys.revocations(), f"app:{ns}/{name}"],
        )
        await self.client.srem(self.keys.apps(ns), name)
        if not int(done):
            raise NotFound("application not found")

    @translate_errors
    async def mint_f5(
        self,
        ns: str,
        app: str,
        uid: str,
        tid: str,
        expires: int,
        user_policy: RateLimitPolicy,
        app_policy: RateLimitPolicy,
        *,
        lineage: tuple[tuple[str, ...], int | None, Foreign | None] | None = None,
        role_generation: str = "",
    ) -> tuple[int, RateLimitResult]:
        """Check the app and both limits, and record the token; returns the app's generation.

        `user_policy` counts the user's calls across every application and
        namespace (a counter in the user's slot), `app_policy` the calls for
        this application (in the app's slot, with the record). Both scripts go
        in one batch; a mint refused by the user's counter is undone, and a
        user's cell taken for a mint the application refused is given back.
        `role_generation` ('' when minted as admin) ties the token to the
        user's role binding in `ns` (see `role_and_generation`).

        With `lineage` (named ancestors, temporary generation) the token is a
        child of an Onezone token: its link record is written in the user's
        slot in the same round trip, and its record says it has one, so that
        a lost link refuses the token rather than freeing it from its parent.
        """
        _check_expiry(expires)
        now_ms = self._now_ms()
        ttl = max(1, math.ceil(expires - now_ms / 1000))
        user_key = self.keys.user_rate(uid, user_policy.name)
        app_interval = _interval_ms(app_policy)
        # The user's counter and a child's link share the user's slot: one script.
        user_keys = [user_key]
        user_args: list[Any] = [now_ms, _interval_ms(user_policy), user_policy.limit]
        if lineage is not None:
            user_keys.append(self.keys.link(uid, tid))
            user_args.append(ttl)
            for field, value in lineage_fields(*lineage).items():
                user_args += [field, value]
        user_queued = self._queue("mint_f5_user", keys=user_keys, args=user_args)
        app_queued = self._queue(
            "mint_f5",
            keys=[
                self.keys.app(ns, app),
                self.keys.app_rate(ns, app),
                self.keys.app_record(ns, app, tid),
            ],
            args=[
                now_ms,
                app_interval,
                app_policy.limit,
                expires,
                ttl,
                uid,
                role_generation,
                "0" if lineage is None else "1",
            ],
        )
        user_result = _rate_result(user_policy, await self._reply(user_queued))
        reply = await self._reply(app_queued)
        status = _s(reply[0])
        if status != "ok" and user_result.allowed:
            # Nothing was minted: the user's cell goes back (with the next batch).
            self._release([(user_key, user_policy)])
        if status == "notfound":
            raise NotFound("application not found")
        if status == "disabled":
            raise Conflict("application is disabled")
        if not user_result.allowed:
            if status == "ok":
                await self._script(
                    "unmint_f5",
                    keys=[self.keys.app_rate(ns, app), self.keys.app_record(ns, app, tid)],
                    args=[now_ms, app_interval],
                )
            raise RateLimited(user_result)
        app_result = _rate_result(app_policy, reply)
        if status == "limited":
            raise RateLimited(app_result)
        # The tighter of the two speaks for both in the RateLimit headers.
        result = app_result if app_result.remaining < user_result.remaining else user_result
        return int(reply[4]), result

    async def check_f5(self, ns: str, app: str, generation: int, tid: str, uid: str) -> CheckResult:
        """Whether an F5 token's application, generation, record, owner and role are still good."""
        key = f"f:{ns}/{app}:{generation}:{tid}"
        cached = self.cache.get(key)
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        return await self._check_f5(key, ns, app, generation, tid, uid, self.cache.epoch)

    @translate_errors
    async def _check_f5(
        self, key: str, ns: str, app: str, generation: int, tid: str, uid: str, since: int
    ) -> CheckResult:
        # Three slots (the user's: owner and lineage; the application's: app
        # and record; the namespace's role bindings: the role generation), one
        # batch: the generation is read as a command of its own next to the
        # scripts, since no script may span slots.
        owner_queued = self._queue_owner(uid, "", tid)
        role_reply = self.batcher.execute("HGET", self.keys.roles(ns), _ROLE_GENERATION + uid)
        role_reply.add_done_callback(_retrieved)
        queued = self._queue(
            "check_f5",
            keys=[self.keys.app(ns, app), self.keys.app_record(ns, app, tid)],
            args=[str(generation)],
        )
        app_reply = await self._reply(queued)
        owner_reply = await self._reply(owner_queued)
        current_gen = await role_reply
        owner = await self._foreign_holds(self._check_result(owner_reply, lineage_at=4))
        if owner.status != "ok":
            return CheckResult(owner.status)
        status = _s(app_reply[0])
        if status == "ok" and _s(app_reply[1]) == "1" and _s(owner_reply[3]) != "1":
            # The record says the token has a parent, and its link is gone:
            # refused, never freed from the parent.
            status = "revoked"
        minted_gen = _s(app_reply[2])
        if status == "ok" and minted_gen and minted_gen != _s(current_gen or "0"):
            # Minted under a role binding that has since been removed or changed.
            status = "revoked"
        result = CheckResult(status, owner.user_name, owner.admin)  # type: ignore[arg-type]
        if result.status == "ok":
            tags = (
                f"app:{ns}/{app}",
                f"role:{ns}/{uid}",
                *_lineage_tags(uid, tid, owner),
            )
            self.cache.put(key, result, tags, since)
        return result
