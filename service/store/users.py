"""Users: records, names, password hashes and the owner hints of named tokens."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from service.clock import Clock
from service.errors import AlreadyExists, NotFound
from service.lru import BoundedLRU
from service.tokens.keys import OWNER_HINT_DIGITS

from .feed import LookupCache
from .keys import Keys
from .passwords import hash_password
from .records import User, decode_hash, text
from .repository import Repository
from .transport import Transport, operation

# Names whose user id is remembered (a name never changes its id).
_MAX_REMEMBERED_NAMES = 10_000


class Users(Repository):
    """Users by id and by name; changes are announced on the revocation feed."""

    def __init__(self, transport: Transport, keys: Keys, clock: Clock, cache: LookupCache) -> None:
        super().__init__(transport, keys, clock, cache)
        self._ids_by_name: BoundedLRU[str, str] = BoundedLRU(_MAX_REMEMBERED_NAMES)

    @operation("count_users")
    async def count(self) -> int:
        """How many users there are."""
        return int(await self.transport.call("SCARD", self.keys.users()))

    @operation("create_user")
    async def create(self, name: str, password: str, *, admin: bool = False) -> User:
        """Create a user; AlreadyExists when the name is taken.

        Not one script: the name, the user set and the owner hints lie in
        other Cluster hash slots than the user's record. The name is claimed
        first (SET NX), which is what makes creation exclusive; the record, its
        owner hint and its place in the user set follow in one batch. A crash
        between the two leaves a name that names no user: the name cannot be
        taken again, nothing can log in with it, and no token is affected.
        """
        uid = os.urandom(16).hex()
        if not await self.transport.call("SET", self.keys.username(name), uid, "NX"):
            raise AlreadyExists(f"user {name} already exists")
        pw = await asyncio.to_thread(hash_password, password)
        created = int(self.clock.now())
        fields = {"id": uid, "name": name, "pw": pw, "admin": int(admin), "created": created}
        await self.transport.gather(
            [
                ("HSET", self.keys.user(uid), *(x for kv in fields.items() for x in kv)),
                ("SADD", self.keys.owner_hints(uid[:OWNER_HINT_DIGITS]), uid),
                ("SADD", self.keys.users(), uid),
            ],
            strict=True,
        )
        return User(uid, name, admin, created, pw)

    async def get(self, uid: str) -> User | None:
        """A user by id (cached when enabled: a change to the user is published on the feed)."""
        key = f"u:{uid}"
        cached = self.cache.get(key)
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        since = self.cache.epoch
        user = await self._read(uid)
        if user is not None:
            self.cache.put(key, user, (f"user:{uid}",), since)
        return user

    @operation("_get_user")
    async def _read(self, uid: str) -> User | None:
        raw = decode_hash(await self.transport.execute("HGETALL", self.keys.user(uid)))
        if "name" not in raw:
            return None
        return User(
            raw["id"],
            raw["name"],
            raw.get("admin") == "1",
            int(raw.get("created", 0)),
            raw.get("pw", ""),
        )

    @operation("user_id")
    async def id_of(self, name: str) -> str | None:
        """The id of the user of this name, if there is one."""
        uid = await self.transport.execute("GET", self.keys.username(name))
        return text(uid) if uid is not None else None

    async def get_by_name(self, name: str) -> User | None:
        """A user by name; the name's id is remembered, since a name never changes its id."""
        uid = self._ids_by_name.get(name)
        if uid is not None:
            user = await self.get(uid)
            if user is not None and user.name == name:
                return user
            self._ids_by_name.pop(name)
        uid = await self.id_of(name)
        if uid is None:
            return None
        user = await self.get(uid)
        if user is None or user.name != name:
            return None
        self._ids_by_name.put(name, uid)
        return user

    @operation("user_exists")
    async def exists(self, uid: str) -> bool:
        """Whether a user of this id exists."""
        return bool(await self.transport.execute("EXISTS", self.keys.user(uid)))

    async def _existing(self, name: str) -> User:
        user = await self.get_by_name(name)
        if user is None:
            raise NotFound(f"no user {name}")
        return user

    @operation("set_password")
    async def set_password(self, name: str, password: str) -> None:
        """Give a user a new password; NotFound when there is no such user."""
        user = await self._existing(name)
        pw = await asyncio.to_thread(hash_password, password)
        await self.transport.call("HSET", self.keys.user(user.id), "pw", pw)
        await self._changed(user.id)

    @operation("set_admin")
    async def set_admin(self, name: str, admin: bool) -> None:
        """Make a user an admin or not; NotFound when there is no such user."""
        user = await self._existing(name)
        await self.transport.call("HSET", self.keys.user(user.id), "admin", int(admin))
        await self._changed(user.id)

    @operation("remove_user")
    async def remove(self, name: str) -> None:
        """Remove a user; every token of theirs fails from now on.

        The user's own slot goes in one script (remove_user.lua): their named
        tokens, record and temporary generation, each announced, so that every
        token of theirs fails from that step on. The name, the user set, the
        owner hint and the role bindings lie in other Cluster hash slots and
        follow in one batch; a crash before it leaves a name that names no
        user (it cannot be taken again) and entries that name a missing user,
        which every reader skips: no token and no login is affected.
        """
        user = await self._existing(name)
        uid = user.id
        removed = self.transport.queue(
            "remove_user",
            keys=[
                self.keys.user(uid),
                self.keys.name_index(uid),
                self.keys.temporary_generation(uid),
            ],
            args=[self.keys.revocations(), self.keys.named_record(uid, ""), uid],
        )
        namespaces = self.transport.queue_command("SMEMBERS", self.keys.namespaces())
        await self.transport.reply(removed)
        await self.transport.gather(
            [
                ("SREM", self.keys.users(), uid),
                ("SREM", self.keys.owner_hints(uid[:OWNER_HINT_DIGITS]), uid),
                ("DEL", self.keys.username(name)),
                *(("HDEL", self.keys.roles(text(ns)), uid) for ns in await namespaces),
            ],
            strict=True,
        )

    async def _changed(self, uid: str) -> None:
        """Every process drops what it remembers of the user: its record and its tokens' checks."""
        await self.transport.call("PUBLISH", self.keys.revocations(), f"user:{uid}")

    @operation("list_users")
    async def all(self) -> list[User]:
        """Every user, ordered by name."""
        uids = sorted(text(u) for u in await self.transport.call("SMEMBERS", self.keys.users()))
        users = []
        for uid in uids:
            user = await self.get(uid)
            if user is not None:
                users.append(user)
        return sorted(users, key=lambda u: u.name)

    async def index_owner_hints(self) -> None:
        """Give every user an owner hint, once per store (users created since have one)."""
        if await self.transport.call("EXISTS", self.keys.owner_hints_built()):
            return
        cursor: Any = 0
        while True:
            cursor, members = await self.transport.call(
                "SSCAN", self.keys.users(), cursor, "COUNT", 1000
            )
            # A page's commands in one batch, not a round trip per user.
            await self.transport.gather(
                [
                    ("SADD", self.keys.owner_hints(uid[:OWNER_HINT_DIGITS]), uid)
                    for uid in (text(m) for m in members)
                ]
            )
            if int(cursor) == 0:
                break
        await self.transport.call("SET", self.keys.owner_hints_built(), 1)
