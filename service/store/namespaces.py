"""Namespaces and the role bindings of their users."""

from __future__ import annotations

from service.clock import Clock
from service.errors import AlreadyExists, NotFound

from .applications import ROLE_GENERATION, Applications
from .keys import Keys
from .records import Role, decode_hash, text
from .transport import Transport, operation


class Namespaces:
    """Namespaces, who holds which role in each, and the role generations F5 tokens carry."""

    def __init__(self, transport: Transport, keys: Keys, clock: Clock, apps: Applications) -> None:
        self.transport = transport
        self.keys = keys
        self.clock = clock
        self.apps = apps

    @operation("create_namespace")
    async def create(self, name: str) -> None:
        """Create a namespace; AlreadyExists when it exists."""
        now = int(self.clock.now())
        if not await self.transport.call("HSETNX", self.keys.namespace(name), "created", now):
            raise AlreadyExists(f"namespace {name} already exists")
        await self.transport.call("SADD", self.keys.namespaces(), name)

    @operation("namespace_exists")
    async def exists(self, name: str) -> bool:
        """Whether a namespace of this name exists."""
        return bool(await self.transport.execute("EXISTS", self.keys.namespace(name)))

    @operation("get_namespace")
    async def get(self, name: str) -> dict[str, str] | None:
        """A namespace's record, if it exists."""
        raw = await self.transport.call("HGETALL", self.keys.namespace(name))
        return decode_hash(raw) if raw else None

    @operation("list_namespaces")
    async def names(self) -> list[str]:
        """The names of every namespace, sorted."""
        return sorted(
            text(n) for n in await self.transport.call("SMEMBERS", self.keys.namespaces())
        )

    @operation("delete_namespace")
    async def delete(self, name: str) -> None:
        """Delete a namespace with its applications (and so their tokens) and role bindings."""
        if not await self.exists(name):
            raise NotFound(f"namespace {name} not found")
        for app in await self.apps.names(name):
            try:
                await self.apps.delete(name, app)
            except NotFound:
                pass
        # One DEL per key: they lie in different Cluster hash slots.
        await self.transport.gather(
            [
                ("DEL", self.keys.namespace(name)),
                ("DEL", self.keys.roles(name)),
                ("DEL", self.keys.apps(name)),
            ],
            strict=True,
        )
        await self.transport.call("SREM", self.keys.namespaces(), name)

    @operation("grant")
    async def grant(self, ns: str, uid: str, role: Role) -> None:
        """Bind a user to a role; a change of role kills the F5 tokens they generated in `ns`."""
        if not await self.exists(ns):
            raise NotFound(f"namespace {ns} not found")
        await self._set_role(ns, uid, role)

    @operation("revoke_role")
    async def revoke_role(self, ns: str, uid: str) -> None:
        """Remove a user's binding; every F5 token they generated in `ns` fails at once."""
        if not await self._set_role(ns, uid, ""):
            raise NotFound("no such role binding")

    async def _set_role(self, ns: str, uid: str, role: str) -> bool:
        had = await self.transport.script(
            "role_set",
            keys=[self.keys.roles(ns)],
            args=[uid, role, self.keys.revocations(), f"role:{ns}/{uid}"],
        )
        return bool(int(had))

    @operation("role_of")
    async def role_of(self, ns: str, uid: str) -> Role | None:
        """A user's role in `ns`, if they have one."""
        role = await self.transport.execute("HGET", self.keys.roles(ns), uid)
        return text(role) if role is not None else None  # type: ignore[return-value]

    @operation("role_and_generation")
    async def role_and_generation(self, ns: str, uid: str) -> tuple[Role | None, str]:
        """A user's role in `ns` and their role generation there, read together (one command).

        A token minted with this generation dies when the binding is removed or
        changed; read atomically with the role, a mint that raced a removal
        carries the old generation and dies with the others.
        """
        role, gen = await self.transport.execute(
            "HMGET", self.keys.roles(ns), uid, ROLE_GENERATION + uid
        )
        return (
            text(role) if role is not None else None,  # type: ignore[return-value]
            text(gen) if gen is not None else "0",
        )

    @operation("role_generation")
    async def role_generation(self, ns: str, uid: str) -> str:
        """A user's role generation in `ns` (see `role_and_generation`)."""
        gen = await self.transport.execute("HGET", self.keys.roles(ns), ROLE_GENERATION + uid)
        return text(gen) if gen is not None else "0"

    @operation("roles")
    async def roles(self, ns: str) -> dict[str, str]:
        """The role bindings of `ns` as {user id: role}."""
        raw = decode_hash(await self.transport.call("HGETALL", self.keys.roles(ns)))
        return {uid: role for uid, role in raw.items() if not uid.startswith(ROLE_GENERATION)}
