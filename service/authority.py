"""The token authority: mints and verifies tokens by joining the pure token core and the store.

Verification is layered from cheap to dear: size and parse, identifier, key by
tag, signature and caveats (pure), and only then the store (record, revoked
flag, generation, application) in one round trip.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, overload

from service.clock import Clock
from service.errors import (
    AuthenticationFailed,
    BadValue,
    Forbidden,
    RateLimitResult,
    TimeCaveatRequired,
    TokenRejected,
    TokenRevoked,
    WrongTokenType,
)
from service.lru import BoundedLRU
from service.settings import Settings
from service.store import CheckResult, Foreign, Store, lineage_fields
from service.store.store import MAX_EXPIRY
from service.tokens import caveats, encoding
from service.tokens.caveats import (
    AnyCaveat,
    AppCaveat,
    InterfaceCaveat,
    NamespaceCaveat,
    TimeCaveat,
)
from service.tokens.errors import MalformedToken, TokenError, TokenTooLarge
from service.tokens.identifiers import F5Identifier, OnezoneIdentifier, parse_identifier
from service.tokens.keys import KeyRing
from service.tokens.macaroon import Macaroon, mint
from service.tokens.verifier import Context, Verified, Verifier

Kind = Literal["access", "identity"]
ONEZONE_PURPOSE = "onezone"
F5_PURPOSE = "f5"
F5_LOCATION = "f5xc"
_PARSED_CACHE_SIZE = 10_000
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
    parent_until = _expiry(parent)
    if parent_until is not None:
        # A caveat appended to the parent by hand may lie beyond what a minted
        # token may carry; the latest allowed expiry is tighter than it anyway.
        parent_until = min(parent_until, MAX_EXPIRY)
    own_until = _expiry(own)
    if parent_until is not None and (own_until is None or parent_until < own_until):
        out.append(TimeCaveat(parent_until))
    return tuple(out)


def _check_depth(lineage: Lineage) -> None:
    foreign = lineage.foreign
    if len(lineage.ancestors) > MAX_ANCESTORS or (
        foreign is not None and len(foreign.ancestors) > MAX_ANCESTORS
    ):
        raise Forbidden("token chain too deep")


def _lineage_fields(lineage: Lineage) -> dict[str, str]:
    """A lineage as the fields of a record or link, once its depth is checked."""
    _check_depth(lineage)
    return lineage_fields(lineage.ancestors, lineage.generation, lineage.foreign)


# Tokens parsed but not yet verified, waiting for their signature check (which
# in practice follows in the same request): a forged token is held only here,
# and this is small, so a flood of forgeries costs no memory to speak of.
_UNVERIFIED_SIZE = 256


@dataclass(frozen=True, slots=True)
class Minted:
    token: str
    token_id: str
    rate: RateLimitResult


@dataclass(frozen=True, slots=True)
class OnezoneVerification:
    identifier: OnezoneIdentifier
    verified: Verified
    user_name: str | None
    admin: bool
    # The token's own lineage, as its record (or link) names it.
    ancestors: tuple[str, ...] = ()
    generation: int | None = None
    foreign: Foreign | None = None

    def child_lineage(self) -> Lineage:
        """The lineage of a token minted (for the same user) while authenticated by this one."""
        ident = self.identifier
        if ident.persistence == "named":
            return Lineage((*self.ancestors, ident.token_id), self.generation, self.foreign)
        # A temporary parent dies with its generation, and so does the child.
        return Lineage(self.ancestors, ident.generation, self.foreign)

    def as_parent(self) -> Parent:
        """This token as the parent of what is minted while it authenticates."""
        return Parent(self.verified.caveats, self.child_lineage(), self.identifier.user_id)


@dataclass(frozen=True, slots=True)
class F5Verification:
    identifier: F5Identifier
    verified: Verified


# Caveats whose truth depends on nothing but the clock, once the token's
# signature is good: the time limit, and the F5 namespace and app, which are
# checked against the token's own identifier.
_CLOCK_ONLY = {
    ONEZONE_PURPOSE: frozenset({TimeCaveat}),
    F5_PURPOSE: frozenset({TimeCaveat, NamespaceCaveat, AppCaveat}),
}


class _Known:
    """A parsed token whose signature was good: its verification, when it can be reused.

    `verified` is set when every caveat is in `_CLOCK_ONLY` for the purpose: then, until
    `until`, checking the caveats again would give the same answer.
    """

    __slots__ = ("macaroon", "purpose", "until", "verified")

    def __init__(
        self, macaroon: Macaroon, purpose: str, verified: Verified | None, until: int | None
    ) -> None:
        self.macaroon = macaroon
        self.purpose = purpose
        self.verified = verified
        self.until = until

    def reusable(self, now: int) -> Verified | None:
        """The remembered verification, when it still holds at `now`."""
        if self.verified is not None and (self.until is None or now < self.until):
            return self.verified
        return None


def check_time_range(cavs: Sequence[AnyCaveat]) -> None:
    """Refuse a `time` caveat beyond the latest expiry a token may have (store.MAX_EXPIRY).

    A 400 (badValueTooHigh, key validUntil) at the edge: such an expiry would
    overflow a TTL and could leave a token its owner can neither list nor delete.
    """
    for c in cavs:
        if isinstance(c, TimeCaveat) and c.valid_until > MAX_EXPIRY:
            raise BadValue("validUntil", "tooHigh", "beyond 9999-12-31T23:59:59Z", high=MAX_EXPIRY)


def _expiry(cavs: Sequence[AnyCaveat]) -> int | None:
    times = [c.valid_until for c in cavs if isinstance(c, TimeCaveat)]
    return min(times) if times else None


class Authority:
    """Mints and verifies Onezone and F5 tokens under one key ring and store."""

    def __init__(
        self,
        settings: Settings,
        keyring: KeyRing,
        store: Store,
        clock: Clock,
        verifier: Verifier | None = None,
    ) -> None:
        self.settings = settings
        self.keyring = keyring
        self.store = store
        self.clock = clock
        self.verifier = verifier or Verifier(
            parse=functools.lru_cache(maxsize=4096)(caveats.parse_text)
        )
        self.domain = settings.onezone.domain
        # Read before the kind is known: the larger of the two kinds' limits.
        self._max_token_size = max(settings.onezone.max_token_size, encoding.F5_MAX_LENGTH)
        # Tokens are presented again and again: the parse of a token whose
        # signature was good is remembered (bounded LRU; a token enters only
        # once verified). Caveats are checked every time, except for a token
        # whose caveats depend on nothing but the clock (see `_Known`).
        self._parsed: BoundedLRU[str, tuple[Macaroon, OnezoneIdentifier | F5Identifier]] = (
            BoundedLRU(_PARSED_CACHE_SIZE)
        )
        self._unverified: BoundedLRU[
            int, tuple[str, Macaroon, OnezoneIdentifier | F5Identifier]
        ] = BoundedLRU(_UNVERIFIED_SIZE)
        self._known: BoundedLRU[int, _Known] = BoundedLRU(_PARSED_CACHE_SIZE)

    def now(self) -> int:
        return int(self.clock.now())

    def context(self, **fields: Any) -> Context:
        """A verification context at the current time."""
        return Context(now=self.now(), **fields)

    # Onezone -------------------------------------------------------------

    def _onezone_token(self, ident: OnezoneIdentifier, texts: Sequence[str]) -> str:
        identifier = ident.encode().encode()
        key = self.keyring.key_for_token_id(ident.token_id)
        root = self.keyring.root_key(key, ONEZONE_PURPOSE, identifier)
        return encoding.serialize_onezone(mint(root, identifier, self.domain, texts))

    async def mint_named(
        self,
        user_id: str,
        name: str,
        kind: Kind,
        cavs: Sequence[AnyCaveat],
        custom: Any,
        *,
        revoked: bool = False,
        parent: Parent | None = None,
    ) -> Minted:
        """Record and mint a named token (one store round trip, rate-limited).

        With a `parent`, the token carries the parent's caveats and its record
        names the parent's lineage (it dies with the parent).
        """
        check_time_range(cavs)
        # Its owner hint lets an admin find the token's record from its id alone.
        tid = self.keyring.new_token_id(owner=user_id)
        if parent is not None:
            cavs = inherit(cavs, parent.caveats)
        texts = [caveats.to_text(c) for c in cavs]
        record: dict[str, str | int] = {
            "type": kind,
            "caveats": json.dumps(texts),
            "custom": json.dumps(custom),
            "created": self.now(),
            "kid": self.keyring.active.kid,
            "revoked": int(revoked),
        }
        ident = OnezoneIdentifier("named", None, user_id, kind, tid)
        token = self._onezone_token(ident, texts)
        if parent is not None:
            record.update(_lineage_fields(parent.lineage_for(user_id)))
            self._check_child_size(token)
        rate = await self.store.named.mint(
            user_id, tid, name, record, _expiry(cavs), self.settings.rate_limits.mint
        )
        return Minted(token, tid, rate)

    def _check_child_size(self, token: str) -> None:
        """A child whose own and inherited caveats together are too large to be used is refused."""
        limit = self.settings.onezone.max_token_size
        if len(token) > limit:
            raise TokenTooLarge(limit, "the token's and its parent's caveats are too large")

    def named_token_from_record(self, user_id: str, tid: str, record: dict[str, str]) -> str | None:
        """The serialized token of a record, re-derived (tokens themselves are never stored)."""
        try:
            texts = json.loads(record.get("caveats", "[]"))
            kind: Kind = "identity" if record.get("type") == "identity" else "access"
            ident = OnezoneIdentifier("named", None, user_id, kind, tid)
            return self._onezone_token(ident, texts)
        except (ValueError, TypeError, TokenError):
            return None

    def check_temporary_caveats(self, cavs: Sequence[AnyCaveat]) -> None:
        """A temporary token needs a time caveat no further than the maximum TTL."""
        max_ttl = self.settings.onezone.max_temporary_token_ttl
        limit = self.now() + max_ttl
        if not any(isinstance(c, TimeCaveat) and c.valid_until < limit for c in cavs):
            raise TimeCaveatRequired(max_ttl)

    async def mint_temporary(
        self,
        user_id: str,
        kind: Kind,
        cavs: Sequence[AnyCaveat],
        *,
        parent: Parent | None = None,
    ) -> Minted:
        """Mint a temporary token under the user's current generation (one round trip).

        The time caveat is required of the caveats asked for. With a `parent`,
        the token carries the parent's caveats, is refused if the parent's
        generation moved on meanwhile, and a link record names its named
        ancestors (written in the same step).
        """
        check_time_range(cavs)
        self.check_temporary_caveats(cavs)
        tid = self.keyring.new_token_id()
        lineage = Lineage()
        if parent is not None:
            cavs = inherit(cavs, parent.caveats)
            lineage = parent.lineage_for(user_id)
            _check_depth(lineage)
        try:
            generation, rate = await self.store.temporary.mint(
                user_id,
                self.settings.rate_limits.mint,
                self.settings.onezone.max_temporary_token_ttl,
                tid=tid,
                ancestors=lineage.ancestors,
                parent_generation=lineage.generation,
                expires=_expiry(cavs) or 0,
                foreign=lineage.foreign,
            )
        except TokenRevoked as err:
            # The credential died between its authentication and now.
            raise AuthenticationFailed(err) from err
        ident = OnezoneIdentifier("temporary", generation, user_id, kind, tid)
        texts = [caveats.to_text(c) for c in cavs]
        token = self._onezone_token(ident, texts)
        if parent is not None:
            # Known only now (the generation is the store's); nothing was recorded
            # but a link, which expires with the token that will never be.
            self._check_child_size(token)
        return Minted(token, tid, rate)

    def parse(self, token: str) -> tuple[Macaroon, OnezoneIdentifier | F5Identifier]:
        """Parse a token of either kind in any encoding (no verification); MalformedToken if
        it is not one of ours.

        The kind comes from the identifier, never from how the text looks: V1
        or V2, standard or URL-safe base64, padded or not, Onedata-escaped or
        not. The location, which the signature does not cover, must be the
        one configured for that kind. Only tokens that pass are remembered,
        so a token found in the cache has passed both.
        """
        cached = self._parsed.get(token)
        if cached is not None:
            return cached
        m = encoding.deserialize_onezone(token, self._max_token_size)
        ident = parse_identifier(m.identifier)
        if isinstance(ident, OnezoneIdentifier):
            limit = self.settings.onezone.max_token_size
            if len(token) > limit:
                raise TokenTooLarge(limit)
            location = self.domain
        else:
            location = F5_LOCATION
        if m.location != location:
            raise MalformedToken("token issued for another location")
        self._remember(token, m, ident)
        return m, ident

    def parse_onezone(self, token: str) -> tuple[Macaroon, OnezoneIdentifier]:
        """Parse a serialized Onezone token and its identifier (no verification)."""
        cached = self._parsed.get(token)
        if cached is None:
            limit = self.settings.onezone.max_token_size
            if len(token) > limit:
                raise TokenTooLarge(limit)
            cached = self.parse(token)
        m, ident = cached
        if not isinstance(ident, OnezoneIdentifier):
            raise MalformedToken("not an Onezone token")
        return m, ident

    def _remember(self, token: str, m: Macaroon, ident: OnezoneIdentifier | F5Identifier) -> None:
        # Held until its signature is checked (`_verify` promotes it to `_parsed`).
        self._unverified.put(id(m), (token, m, ident))

    def _known_good(self, m: Macaroon, purpose: str, ctx: Context) -> _Known | None:
        """What is remembered of a parsed token whose signature was good under `purpose`."""
        known = self._known.get(id(m))
        if known is None or known.macaroon is not m or known.purpose != purpose:
            return None
        if ctx.location is not None and ctx.location != m.location:
            return None
        return known

    def _verify(self, m: Macaroon, key_id: str, purpose: str, ctx: Context) -> Verified:
        """Signature (remembered once good: the same bytes never need it again) and caveats."""
        known = self._known_good(m, purpose, ctx)
        if known is not None:
            return known.reusable(ctx.now) or self.verifier.check_caveats(m, ctx)
        key = self.keyring.key_for_token_id(key_id)
        root = self.keyring.root_key(key, purpose, m.identifier)
        # Taken out first: a token whose check fails is not held any longer.
        pending = self._unverified.pop(id(m))
        verified = self.verifier.verify(m, root, ctx)
        clock_only = all(type(c) in _CLOCK_ONLY[purpose] for c in verified.caveats)
        self._known.put(
            id(m), _Known(m, purpose, verified if clock_only else None, _expiry(verified.caveats))
        )
        if pending is not None and pending[1] is m:
            self._parsed.put(pending[0], (m, pending[2]))
        return verified

    def verify_onezone_signature(
        self, m: Macaroon, ident: OnezoneIdentifier, ctx: Context
    ) -> Verified:
        """Signature and caveats of an Onezone token (pure)."""
        return self._verify(m, ident.token_id, ONEZONE_PURPOSE, ctx)

    async def verify_onezone(
        self, token: str, ctx: Context, *, kind: Kind | None = "access"
    ) -> OnezoneVerification:
        """Fully verify an Onezone token: signature, caveats, record and revocation."""
        m, ident = self.parse_onezone(token)
        return await self.verify_onezone_parsed(m, ident, ctx, kind=kind)

    async def verify_onezone_parsed(
        self, m: Macaroon, ident: OnezoneIdentifier, ctx: Context, *, kind: Kind | None = "access"
    ) -> OnezoneVerification:
        """`verify_onezone` for a token already parsed (so the context can use its subject)."""
        verified = self.verify_onezone_signature(m, ident, ctx)
        if kind is not None and ident.kind != kind:
            raise WrongTokenType(kind, ident.kind)
        return await self._onezone_record(ident, verified)

    async def _onezone_record(
        self, ident: OnezoneIdentifier, verified: Verified
    ) -> OnezoneVerification:
        """The store's part of verifying an Onezone token: its record or generation."""
        if ident.persistence == "named":
            result = await self.store.named.check(ident.user_id, ident.token_id)
        else:
            assert ident.generation is not None
            result = await self.store.temporary.check(
                ident.user_id, ident.generation, ident.token_id
            )
        _raise_for(result)
        return OnezoneVerification(
            ident,
            verified,
            result.user_name,
            result.admin,
            result.ancestors,
            result.generation,
            result.foreign,
        )

    # F5 ------------------------------------------------------------------

    async def mint_f5(
        self,
        namespace: str,
        app: str,
        user_id: str,
        *,
        parent: Parent | None = None,
        role_generation: str = "",
    ) -> Minted:
        """Record and mint an F5 AuthToken for an application (one round trip).

        With a `parent` (the Onezone token the caller authenticated with), the
        token carries the parent's caveats, expires no later than the parent,
        and dies with it: its lineage is recorded in the owner's slot.
        `role_generation`: the minter's role generation in the namespace ('' for
        an admin); the token dies when that binding is removed or changed.
        """
        tid = self.keyring.new_token_id()
        expires = self.now() + self.settings.f5.token_ttl
        extra: list[str] = []
        lineage = None
        if parent is not None:
            inherited = inherit((TimeCaveat(expires),), parent.caveats)
            expires = _expiry(inherited) or expires
            extra = [caveats.to_text(c) for c in inherited if not isinstance(c, TimeCaveat)]
            own = parent.lineage_for(user_id)
            _check_depth(own)
            lineage = (own.ancestors, own.generation, own.foreign)
        texts = [f"namespace = {namespace}", f"app = {app}", *extra, f"time < {expires}"]
        if extra:
            self._check_f5_size(namespace, app, user_id, tid, texts)
        generation, rate = await self.store.apps.mint(
            namespace,
            app,
            user_id,
            tid,
            expires,
            self.settings.rate_limits.generate_token,
            self.settings.rate_limits.generate_token_app,
            lineage=lineage,
            role_generation=role_generation,
        )
        token = self._f5_token(F5Identifier(namespace, app, generation, user_id, tid), texts)
        return Minted(token, tid, rate)

    def _f5_token(self, ident: F5Identifier, texts: Sequence[str]) -> str:
        identifier = ident.encode().encode()
        key = self.keyring.key_for_token_id(ident.token_id)
        root = self.keyring.root_key(key, F5_PURPOSE, identifier)
        return encoding.serialize_f5(mint(root, identifier, F5_LOCATION, texts))

    def _check_f5_size(
        self, namespace: str, app: str, user_id: str, tid: str, texts: Sequence[str]
    ) -> None:
        """Refuse, before anything is recorded, caveats too many for an AuthToken's 1024 characters."""
        # The generation is not known yet; a ten-digit one is the longest in practice.
        try:
            self._f5_token(F5Identifier(namespace, app, 10**9, user_id, tid), texts)
        except TokenTooLarge as err:
            raise BadValue(
                "caveats",
                reason="the caveats of the authenticating token do not fit in an AuthToken",
            ) from err

    def parse_f5(self, token: str) -> tuple[Macaroon, F5Identifier]:
        """Parse a serialized F5 AuthToken and its identifier (no verification)."""
        m, ident = self.parse(token)
        if not isinstance(ident, F5Identifier):
            raise MalformedToken("not an F5 token")
        return m, ident

    def verify_f5_signature(self, m: Macaroon, ident: F5Identifier, ctx: Context) -> Verified:
        """Signature and caveats of an F5 token (pure)."""
        known = self._known_good(m, F5_PURPOSE, ctx)
        reused = known.reusable(ctx.now) if known is not None else None
        if reused is not None:
            return reused
        # The namespace and app caveats bind the token to its identifier's app.
        ctx = dataclasses.replace(ctx, namespace=ident.namespace, app=ident.app)
        return self._verify(m, ident.token_id, F5_PURPOSE, ctx)

    async def verify_f5(self, token: str, ctx: Context) -> F5Verification:
        """Fully verify an F5 AuthToken: signature, caveats, app, generation and record."""
        m, ident = self.parse_f5(token)
        return await self._f5_record(ident, self.verify_f5_signature(m, ident, ctx))

    async def _f5_record(self, ident: F5Identifier, verified: Verified) -> F5Verification:
        """The store's part of verifying an F5 token: its app, generation and record."""
        result = await self.store.apps.check(
            ident.namespace, ident.app, ident.generation, ident.token_id, ident.user_id
        )
        _raise_for(result)
        return F5Verification(ident, verified)

    async def verify_any(self, token: str, ctx: Context) -> OnezoneVerification | F5Verification:
        """Verify a token of either kind, told apart by its identifier (access tokens only
        for Onezone)."""
        m, ident = self.parse(token)
        if isinstance(ident, F5Identifier):
            return await self._f5_record(ident, self.verify_f5_signature(m, ident, ctx))
        return await self.verify_onezone_parsed(m, ident, ctx, kind="access")

    # Without a context ----------------------------------------------------

    @overload
    async def verify_remembered(
        self, token: str, *, f5: Literal[False]
    ) -> OnezoneVerification | None: ...

    @overload
    async def verify_remembered(
        self, token: str, *, f5: bool
    ) -> OnezoneVerification | F5Verification | None: ...

    async def verify_remembered(
        self, token: str, *, f5: bool
    ) -> OnezoneVerification | F5Verification | None:
        """Fully verify a token that needs no request context, or return None.

        That is a token seen before, whose signature was good and whose caveats
        depend on nothing but the clock (see `_Known`) and still hold: only the
        store's part is left. None for any other token, which the caller then
        verifies with a context (`verify_any`, `verify_onezone*`, `verify_f5`),
        which also gives the reason of a refusal. Onezone tokens must be access
        tokens; F5 tokens are taken only when `f5` is true. The kind is the
        identifier's, and the location was checked by `parse`, the only way
        into the cache read here. Nothing of the request is looked at, so a
        caller refuses a request on its own grounds (malformed forwarding
        headers) before calling this.
        """
        cached = self._parsed.get(token)
        if cached is None:
            return None
        m, ident = cached
        known = self._known.get(id(m))
        if known is None or known.macaroon is not m:
            return None
        verified = known.reusable(self.now())
        if verified is None:
            return None
        if isinstance(ident, F5Identifier):
            if not f5 or known.purpose != F5_PURPOSE:
                return None
            return await self._f5_record(ident, verified)
        if known.purpose != ONEZONE_PURPOSE or ident.kind != "access":
            return None
        return await self._onezone_record(ident, verified)


def _raise_for(result: CheckResult) -> None:
    if result.status == "ok":
        return
    if result.status in {"revoked", "disabled", "noapp"}:
        raise TokenRevoked("token revoked")
    raise TokenRejected("token not valid")
