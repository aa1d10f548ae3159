"""F5 applications and the tokens they issue (an application's slot holds both)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from service.errors import AlreadyExists, Conflict, NotFound, RateLimited, RateLimitResult
from service.settings import RateLimitPolicy

from .lineage import foreign_holds
from .logins import queue_release
from .records import (
    CheckResult,
    Foreign,
    check_expiry,
    interval_ms,
    lineage_fields,
    lineage_tags,
    text,
)
from .replies import decode_check_f5, decode_check_owner, decode_counted, decode_minted
from .repository import Repository
from .temporary import queue_owner_check
from .transport import operation

# Field of a namespace's role bindings holding a user's role generation.
ROLE_GENERATION = "gen:"

Lineage = tuple[tuple[str, ...], int | None, Foreign | None]


class Applications(Repository):
    """The applications of every namespace, their F5 mints and checks."""

    async def names(self, ns: str) -> list[str]:
        """The names listed as applications of `ns` (a stale entry is pruned by `all`)."""
        return sorted(text(a) for a in await self.transport.call("SMEMBERS", self.keys.apps(ns)))

    @operation("create_app")
    async def create(self, ns: str, name: str, doc: Mapping[str, Any], *, disabled: bool) -> None:
        """Create an application; AlreadyExists when it exists."""
        # Listed first, so that a crash leaves at worst a stale listing entry
        # (pruned on read), never an application that cannot be listed.
        await self.transport.call("SADD", self.keys.apps(ns), name)
        created = await self.transport.script(
            "app_create", keys=[self.keys.app(ns, name)], args=[json.dumps(doc), int(disabled)]
        )
        if not int(created):
            raise AlreadyExists(f"application {name} already exists")

    @operation("get_app")
    async def get(self, ns: str, name: str) -> dict[str, Any] | None:
        """An application's document, if it exists."""
        raw = await self.transport.call("HGET", self.keys.app(ns, name), "doc")
        if raw is None:
            return None
        doc: dict[str, Any] = json.loads(raw)
        return doc

    @operation("list_apps")
    async def all(self, ns: str) -> list[dict[str, Any]]:
        """The documents of a namespace's applications, ordered by name."""
        docs = []
        stale = []
        for name in await self.names(ns):
            doc = await self.get(ns, name)
            if doc is None:
                stale.append(name)
            else:
                docs.append(doc)
        if stale:
            await self.transport.call("SREM", self.keys.apps(ns), *stale)
        return docs

    @operation("replace_app")
    async def replace(self, ns: str, name: str, doc: Mapping[str, Any], *, disabled: bool) -> None:
        """Replace an application's document; disabling it revokes its tokens."""
        done = await self.transport.script(
            "app_replace",
            keys=[self.keys.app(ns, name)],
            args=[json.dumps(doc), int(disabled), self.keys.revocations(), f"app:{ns}/{name}"],
        )
        if not int(done):
            raise NotFound("application not found")

    @operation("delete_app")
    async def delete(self, ns: str, name: str) -> None:
        """Delete an application; every token it issued fails from now on."""
        done = await self.transport.script(
            "app_delete",
            keys=[self.keys.app(ns, name)],
            args=[int(self.clock.now()), self.keys.revocations(), f"app:{ns}/{name}"],
        )
        await self.transport.call("SREM", self.keys.apps(ns), name)
        if not int(done):
            raise NotFound("application not found")

    @operation("mint_f5")
    async def mint(
        self,
        ns: str,
        app: str,
        uid: str,
        tid: str,
        expires: int,
        user_policy: RateLimitPolicy,
        app_policy: RateLimitPolicy,
        *,
        lineage: Lineage | None = None,
        role_generation: str = "",
    ) -> tuple[int, RateLimitResult]:
        """Check the app and both limits, and record the token; returns the app's generation.

        `user_policy` counts the user's calls across every application and
        namespace (a counter in the user's slot), `app_policy` the calls for
        this application (in the app's slot, with the record). Both scripts go
        in one batch; a mint refused by the user's counter is undone, and a
        user's cell taken for a mint the application refused is given back.
        `role_generation` ('' when minted as admin) ties the token to the
        user's role binding in `ns` (see `Namespaces.role_and_generation`).

        With `lineage` (named ancestors, temporary generation) the token is a
        child of an Onezone token: its link record is written in the user's
        slot in the same round trip, and its record says it has one, so that
        a lost link refuses the token rather than freeing it from its parent.
        """
        check_expiry(expires)
        now_ms = int(self.clock.now() * 1000)
        ttl = max(1, math.ceil(expires - now_ms / 1000))
        user_key = self.keys.user_rate(uid, user_policy.name)
        app_interval = interval_ms(app_policy)
        # The user's counter and a child's link share the user's slot: one script.
        user_keys = [user_key]
        user_args: list[Any] = [now_ms, interval_ms(user_policy), user_policy.limit]
        if lineage is not None:
            user_keys.append(self.keys.link(uid, tid))
            user_args.append(ttl)
            for field, value in lineage_fields(*lineage).items():
                user_args += [field, value]
        transport = self.transport
        user_queued = transport.queue("mint_f5_user", keys=user_keys, args=user_args)
        app_queued = transport.queue(
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
        user_result = decode_counted(user_policy, await transport.reply(user_queued)).rate
        minted = decode_minted(app_policy, await transport.reply(app_queued))
        status = minted.status
        if status != "ok" and user_result.allowed:
            # Nothing was minted: the user's cell goes back (with the next batch).
            queue_release(transport, self.clock, [(user_key, user_policy)])
        if status == "notfound":
            raise NotFound("application not found")
        if status == "disabled":
            raise Conflict("application is disabled")
        if not user_result.allowed:
            if status == "ok":
                await transport.script(
                    "unmint_f5",
                    keys=[self.keys.app_rate(ns, app), self.keys.app_record(ns, app, tid)],
                    args=[now_ms, app_interval],
                )
            raise RateLimited(user_result)
        app_result = minted.rate
        if status == "limited":
            raise RateLimited(app_result)
        # The tighter of the two speaks for both in the RateLimit headers.
        result = app_result if app_result.remaining < user_result.remaining else user_result
        return minted.generation, result

    async def check(self, ns: str, app: str, generation: int, tid: str, uid: str) -> CheckResult:
        """Whether an F5 token's application, generation, record, owner and role are still good."""
        key = f"f:{ns}/{app}:{generation}:{tid}"
        cached = self.cache.get(key)
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        return await self._check(key, ns, app, generation, tid, uid, self.cache.epoch)

    @operation("_check_f5")
    async def _check(
        self, key: str, ns: str, app: str, generation: int, tid: str, uid: str, since: int
    ) -> CheckResult:
        # Three slots (the user's: owner and lineage; the application's: app
        # and record; the namespace's role bindings: the role generation), one
        # batch: the generation is read as a command of its own next to the
        # scripts, since no script may span slots.
        transport = self.transport
        owner_queued = queue_owner_check(transport, self.keys, uid, "", tid)
        role_reply = transport.queue_command("HGET", self.keys.roles(ns), ROLE_GENERATION + uid)
        queued = transport.queue(
            "check_f5",
            keys=[self.keys.app(ns, app), self.keys.app_record(ns, app, tid)],
            args=[str(generation)],
        )
        verdict = decode_check_f5(await transport.reply(queued))
        owner_check = decode_check_owner(await transport.reply(owner_queued))
        current_gen = await role_reply
        owner = await foreign_holds(transport, self.keys, owner_check.result)
        if owner.status != "ok":
            return CheckResult(owner.status)
        status = verdict.status
        if status == "ok" and verdict.linked and not owner_check.linked:
            # The record says the token has a parent, and its link is gone:
            # refused, never freed from the parent.
            status = "revoked"
        minted_gen = verdict.role_generation
        if status == "ok" and minted_gen and minted_gen != text(current_gen or "0"):
            # Minted under a role binding that has since been removed or changed.
            status = "revoked"
        result = CheckResult(status, owner.user_name, owner.admin)  # type: ignore[arg-type]
        if result.status == "ok":
            tags = (f"app:{ns}/{app}", f"role:{ns}/{uid}", *lineage_tags(uid, tid, owner))
            self.cache.put(key, result, tags, since)
        return result
