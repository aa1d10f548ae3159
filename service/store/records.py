"""The store's records (users, check verdicts, lineages) and the text of what Redis holds."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from service.errors import BadValue
from service.settings import RateLimitPolicy

Role = Literal["editor", "viewer"]
CheckStatus = Literal["ok", "norecord", "revoked", "nouser", "noapp", "disabled"]

# The latest expiry any token may have: 9999-12-31T23:59:59Z. Beyond it a
# TTL overflows Redis and the expiry no longer prints as a plain integer in a
# script, so such a token could not be listed or deleted. The Lua scripts
# (gcra.lua `bad_expiry`) refuse the same bound before writing anything.
MAX_EXPIRY = 253_402_300_799


def text(value: Any) -> str:
    """A value read from Redis as text; bytes this service did not write never raise."""
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def decode_hash(raw: Mapping[Any, Any]) -> dict[str, str]:
    """A hash read from Redis as text fields and values."""
    return {text(k): text(v) for k, v in raw.items()}


def check_expiry(expires: int) -> None:
    """An expiry must be a time the store can keep (the scripts refuse it too)."""
    if not 0 <= expires <= MAX_EXPIRY:
        raise BadValue("validUntil", "tooHigh", "beyond the latest expiry", high=MAX_EXPIRY)


@functools.lru_cache(maxsize=64)
def interval_ms(policy: RateLimitPolicy) -> str:
    """A policy's emission interval (milliseconds between two cells) as a script argument."""
    return repr(policy.period * 1000.0 / policy.limit)


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


def generation_arg(generation: int | None) -> str:
    """A temporary generation as a script argument ('' for none)."""
    return "" if generation is None else str(generation)


def foreign_args(foreign: Foreign | None) -> list[str]:
    """A foreign lineage as script arguments (owner, ancestors, generation; '' for none)."""
    if foreign is None:
        return ["", "", ""]
    return [foreign.uid, " ".join(foreign.ancestors), generation_arg(foreign.generation)]


def lineage_fields(
    ancestors: Sequence[str], generation: int | None, foreign: Foreign | None
) -> dict[str, str]:
    """A lineage as the fields of a token's record or link (what the check scripts read)."""
    fields = {"anc": " ".join(ancestors), "pgen": generation_arg(generation)}
    if foreign is not None:
        fuid, fanc, fgen = foreign_args(foreign)
        fields.update(fuid=fuid, fanc=fanc, fgen=fgen)
    return fields


def lineage_tags(uid: str, tid: str, result: CheckResult) -> tuple[str, ...]:
    """Revocation-feed tags of a token's check: itself, its owner, each named ancestor."""
    tags = (f"tok:{tid}", f"user:{uid}", *(f"tok:{a}" for a in result.ancestors))
    if result.foreign is not None:
        foreign = result.foreign
        tags += (f"user:{foreign.uid}", *(f"tok:{a}" for a in foreign.ancestors))
    return tags
