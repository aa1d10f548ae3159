"""What a child token inherits from the token it is minted through, and what it must die with."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from service.errors import BadValue, Forbidden
from service.store import MAX_EXPIRY, Foreign, lineage_fields
from service.tokens.caveats import AnyCaveat, InterfaceCaveat, TimeCaveat

# A child's record names every named ancestor (each checked on every use of
# the child), so chains are bounded.
MAX_ANCESTORS = 16


@dataclass(frozen=True, slots=True)
class Lineage:
    """What a token minted by a credential must die with (README "Confinement is inherited").

    `ancestors`: the named tokens (same user) whose records must stay present
    and unrevoked; `generation`: the user's temporary generation that must stay
    current (set when a temporary token is in the chain); `foreign`: the
    chain of the token that minted it (or an ancestor) for this user from
    another user's account.
    """

    ancestors: tuple[str, ...] = ()
    generation: int | None = None
    foreign: Foreign | None = None


@dataclass(frozen=True, slots=True)
class Parent:
    """The token a child is minted through: its verified caveats, the child's lineage, owner."""

    caveats: tuple[AnyCaveat, ...]
    lineage: Lineage
    owner: str = ""

    def lineage_for(self, user_id: str) -> Lineage:
        """The lineage of a child minted for `user_id`: in the owner's slot, or a foreign one.

        A token may mint for another user (an admin's) only when its own chain
        lies in its owner's slot: one foreign hop, checked by one more script.
        """
        if user_id == self.owner:
            return self.lineage
        if self.lineage.foreign is not None:
            raise Forbidden("a token minted for another user mints only for its own subject")
        own = self.lineage
        return Lineage(foreign=Foreign(self.owner, own.ancestors, own.generation))


# Not inherited: an interface caveat says over which channel its own token is
# presented, not what it may do (a REST session mints oneclient tokens); a
# credential confined to an interface counts as unconfined (it may read
# serialized tokens), so inheriting it would bound nothing.
_NOT_INHERITED: tuple[type, ...] = (InterfaceCaveat, TimeCaveat)


def inherit(own: Sequence[AnyCaveat], parent: Sequence[AnyCaveat]) -> tuple[AnyCaveat, ...]:
    """A child's caveats: its own, then each of its parent's it lacks; time: the earliest."""
    out = list(own)
    for c in parent:
        if not isinstance(c, _NOT_INHERITED) and c not in out:
            out.append(c)
    parent_until = expiry(parent)
    if parent_until is not None:
        # A caveat appended to the parent by hand may lie beyond what a minted
        # token may carry; the latest allowed expiry is tighter than it anyway.
        parent_until = min(parent_until, MAX_EXPIRY)
    own_until = expiry(own)
    if parent_until is not None and (own_until is None or parent_until < own_until):
        out.append(TimeCaveat(parent_until))
    return tuple(out)


def check_depth(lineage: Lineage) -> None:
    """Refuse a lineage (its own or its foreign chain) longer than MAX_ANCESTORS."""
    foreign = lineage.foreign
    if len(lineage.ancestors) > MAX_ANCESTORS or (
        foreign is not None and len(foreign.ancestors) > MAX_ANCESTORS
    ):
        raise Forbidden("token chain too deep")


def record_fields(lineage: Lineage) -> dict[str, str]:
    """A lineage as the fields of a record or link, once its depth is checked."""
    check_depth(lineage)
    return lineage_fields(lineage.ancestors, lineage.generation, lineage.foreign)


def check_time_range(cavs: Sequence[AnyCaveat]) -> None:
    """Refuse a `time` caveat beyond the latest expiry a token may have (store.MAX_EXPIRY).

    A 400 (badValueTooHigh, key validUntil) at the edge: such an expiry would
    overflow a TTL and could leave a token its owner can neither list nor delete.
    """
    for c in cavs:
        if isinstance(c, TimeCaveat) and c.valid_until > MAX_EXPIRY:
            raise BadValue("validUntil", "tooHigh", "beyond 9999-12-31T23:59:59Z", high=MAX_EXPIRY)


def expiry(cavs: Sequence[AnyCaveat]) -> int | None:
    """The earliest `time` caveat's bound, or None when there is none."""
    times = [c.valid_until for c in cavs if isinstance(c, TimeCaveat)]
    return min(times) if times else None
