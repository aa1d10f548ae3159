"""Lua replies decoded by name: one function per reply shape, named after its scripts.

The shapes are documented at the head of each script (lua/*.lua); a reply is
read by position here only, and nowhere else.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from service.errors import RateLimitResult
from service.settings import RateLimitPolicy

from .records import CheckResult, Foreign, text


class Counted(NamedTuple):
    """A rate-limited step: ratelimit.lua, mint_named.lua, mint_f5_user.lua."""

    status: str
    rate: RateLimitResult


class Minted(NamedTuple):
    """A mint that reads a generation: mint_temporary.lua, mint_f5.lua."""

    status: str
    rate: RateLimitResult
    generation: int


class OwnerCheck(NamedTuple):
    """check_owner.lua: the owner's verdict and whether the token has a link record."""

    result: CheckResult
    linked: bool


class AppCheck(NamedTuple):
    """check_f5.lua: the application's verdict on an F5 token.

    `linked`: its record says it has a link record in the user's slot;
    `role_generation`: the role generation it was minted under ('' as admin).
    """

    status: str
    linked: bool
    role_generation: str


def _rate(policy: RateLimitPolicy, status: str, reply: list[Any]) -> RateLimitResult:
    return RateLimitResult(
        policy=policy.name,
        limit=policy.limit,
        period=policy.period,
        allowed=status != "limited",
        remaining=int(reply[1]),
        retry_after=int(reply[2]) / 1000.0,
        reset_after=int(reply[3]) / 1000.0,
    )


def decode_counted(policy: RateLimitPolicy, reply: list[Any]) -> Counted:
    """{status, remaining, retry_ms, reset_ms} (gcra_reply) of a counter under `policy`."""
    status = text(reply[0])
    return Counted(status, _rate(policy, status, reply))


def decode_minted(policy: RateLimitPolicy, reply: list[Any]) -> Minted:
    """{status, remaining, retry_ms, reset_ms, generation}."""
    status = text(reply[0])
    return Minted(status, _rate(policy, status, reply), int(reply[4]))


def _lineage(ancestors: Any, generation: Any) -> tuple[tuple[str, ...], int | None]:
    """A lineage as a script replies it: ids separated by spaces, a generation or ''."""
    ids, gen = text(ancestors), text(generation)
    return tuple(ids.split()), int(gen) if gen else None


def _verdict(reply: list[Any], lineage_at: int) -> CheckResult:
    """{status[, name, admin[, ..., ancestors, generation[, fuid, fanc, fgen]]]}."""
    status = text(reply[0])
    if len(reply) > lineage_at + 1:
        ancestors, generation = _lineage(reply[lineage_at], reply[lineage_at + 1])
        foreign = None
        if len(reply) > lineage_at + 4 and text(reply[lineage_at + 2]):
            fanc, fgen = _lineage(reply[lineage_at + 3], reply[lineage_at + 4])
            foreign = Foreign(text(reply[lineage_at + 2]), fanc, fgen)
        return CheckResult(
            status,  # type: ignore[arg-type]
            text(reply[1]),
            text(reply[2]) == "1",
            ancestors,
            generation,
            foreign,
        )
    if len(reply) >= 3:
        return CheckResult(status, text(reply[1]), text(reply[2]) == "1")  # type: ignore[arg-type]
    return CheckResult(status)  # type: ignore[arg-type]


def decode_check_named(reply: list[Any]) -> CheckResult:
    """check_named.lua: {status, name, admin, ancestors, generation, fuid, fanc, fgen}."""
    return _verdict(reply, 3)


def decode_check_owner(reply: list[Any]) -> OwnerCheck:
    """check_owner.lua: {status, name, admin, linked, ancestors, generation, fuid, fanc, fgen}."""
    return OwnerCheck(_verdict(reply, 4), len(reply) > 3 and text(reply[3]) == "1")


def decode_check_lineage(reply: list[Any]) -> bool:
    """check_lineage.lua: {status}; whether the foreign lineage holds."""
    return text(reply[0]) == "ok"


def decode_check_f5(reply: list[Any]) -> AppCheck:
    """check_f5.lua: {status, linked, role generation}."""
    return AppCheck(text(reply[0]), text(reply[1]) == "1", text(reply[2]))
