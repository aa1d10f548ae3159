"""Minting: named and temporary Onezone tokens and F5 AuthTokens, each recorded in one round trip."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from service.errors import (
    AuthenticationFailed,
    BadValue,
    RateLimitResult,
    TimeCaveatRequired,
    TokenRevoked,
)
from service.tokens import caveats, encoding
from service.tokens.caveats import AnyCaveat, TimeCaveat
from service.tokens.errors import TokenError, TokenTooLarge
from service.tokens.identifiers import F5Identifier, OnezoneIdentifier
from service.tokens.macaroon import mint

from .base import F5_LOCATION, F5_PURPOSE, ONEZONE_PURPOSE, AuthorityBase, Kind
from .lineage import Lineage, Parent, check_depth, check_time_range, expiry, inherit, record_fields


@dataclass(frozen=True, slots=True)
class Minted:
    """A minted token, its id, and the rate limit it was counted against."""

    token: str
    token_id: str
    rate: RateLimitResult


class Minting(AuthorityBase):
    """The authority's minting half (see `Authority`)."""

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
            record.update(record_fields(parent.lineage_for(user_id)))
            self._check_child_size(token)
        rate = await self.store.named.mint(
            user_id, tid, name, record, expiry(cavs), self.settings.rate_limits.mint
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
            check_depth(lineage)
        try:
            generation, rate = await self.store.temporary.mint(
                user_id,
                self.settings.rate_limits.mint,
                self.settings.onezone.max_temporary_token_ttl,
                tid=tid,
                ancestors=lineage.ancestors,
                parent_generation=lineage.generation,
                expires=expiry(cavs) or 0,
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
            expires = expiry(inherited) or expires
            extra = [caveats.to_text(c) for c in inherited if not isinstance(c, TimeCaveat)]
            own = parent.lineage_for(user_id)
            check_depth(own)
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
