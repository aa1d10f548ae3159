"""Verification: parse, signature and caveats (pure), then the store's record, cheapest first.

Verification is layered from cheap to dear: size and parse, identifier, key by
tag, signature and caveats (pure), and only then the store (record, revoked
flag, generation, application) in one round trip. A token seen before whose
signature was good and whose caveats depend on nothing but the clock skips
everything but the store (`Verifying.verify`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Self, TypeVar, overload

from service.errors import TokenRejected, TokenRevoked, WrongTokenType
from service.store import CheckResult, Foreign
from service.tokens import encoding
from service.tokens.errors import MalformedToken, TokenTooLarge
from service.tokens.identifiers import F5Identifier, OnezoneIdentifier, parse_identifier
from service.tokens.macaroon import Macaroon
from service.tokens.verifier import Context, Verified

from .base import (
    CLOCK_ONLY,
    F5_LOCATION,
    F5_PURPOSE,
    ONEZONE_PURPOSE,
    AuthorityBase,
    GoodSignature,
    Identifier,
    Kind,
)
from .lineage import Lineage, Parent, expiry

# Which tokens a caller takes: Onezone tokens of one kind, or an Onezone
# access token or an F5 AuthToken (told apart by the identifier).
Accept = Literal["access", "identity", "access_or_f5"]
# What a caller knows of the request, handed to its `describe` as it is.
About = TypeVar("About")


@dataclass(frozen=True, slots=True)
class OnezoneVerification:
    """A verified Onezone token: its identifier, caveats, owner, and its own lineage."""

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
    """A verified F5 AuthToken: its identifier and caveats."""

    identifier: F5Identifier
    verified: Verified


class Verifying(AuthorityBase):
    """The authority's verifying half (see `Authority`)."""

    @overload
    async def verify(
        self,
        token: str,
        accept: Literal["access", "identity"],
        describe: Callable[[Self, Identifier, About], Context],
        about: About,
    ) -> OnezoneVerification: ...

    @overload
    async def verify(
        self,
        token: str,
        accept: Accept,
        describe: Callable[[Self, Identifier, About], Context],
        about: About,
    ) -> OnezoneVerification | F5Verification: ...

    async def verify(
        self,
        token: str,
        accept: Accept,
        describe: Callable[[Self, Identifier, About], Context],
        about: About,
    ) -> OnezoneVerification | F5Verification:
        """Fully verify a token that `accept` takes; TokenError or TokenRejected if it is refused.

        A token seen before, whose signature was good and whose caveats depend
        on nothing but the clock (see `GoodSignature`) and still hold, needs
        nothing of the request: only the store's part is left. Any other
        token is verified against `describe(self, identifier, about)`, the
        context of the request it is presented with, which is built only
        then. A caller refuses a request on its own grounds (malformed
        forwarding headers) before calling this, since a remembered token
        looks at nothing of the request.
        """
        cached = self._parsed.get(token)
        if cached is not None:
            # Only tokens that passed `parse` (kind and location) are in `_parsed`.
            m, ident = cached
            good = self._good_signatures.get(id(m))
            if good is not None and good.macaroon is m:
                verified = good.reusable(self.now())
                if verified is not None:
                    if isinstance(ident, F5Identifier):
                        if accept == "access_or_f5" and good.purpose == F5_PURPOSE:
                            return await self._f5_record(ident, verified)
                    elif good.purpose == ONEZONE_PURPOSE and (
                        ident.kind == accept
                        or (accept == "access_or_f5" and ident.kind == "access")
                    ):
                        return await self._onezone_record(ident, verified)
        if accept == "access_or_f5":
            m, ident = self.parse(token)
            ctx = describe(self, ident, about)
            if isinstance(ident, F5Identifier):
                return await self._f5_record(ident, self.verify_f5_signature(m, ident, ctx))
            return await self.verify_onezone_parsed(m, ident, ctx, kind="access")
        m, onezone = self.parse_onezone(token)
        ctx = describe(self, onezone, about)
        return await self.verify_onezone_parsed(m, onezone, ctx, kind=accept)

    def parse(self, token: str) -> tuple[Macaroon, Identifier]:
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
        self._hold_unverified(token, m, ident)
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

    def _hold_unverified(self, token: str, m: Macaroon, ident: Identifier) -> None:
        """Hold a parsed token until its signature is checked (`_verify` moves it to `_parsed`)."""
        self._unverified.put(id(m), (token, m, ident))

    def _good_signature(self, m: Macaroon, purpose: str, ctx: Context) -> GoodSignature | None:
        """What is remembered of a parsed token whose signature was good under `purpose`."""
        good = self._good_signatures.get(id(m))
        if good is None or good.macaroon is not m or good.purpose != purpose:
            return None
        if ctx.location is not None and ctx.location != m.location:
            return None
        return good

    def _verify(self, m: Macaroon, key_id: str, purpose: str, ctx: Context) -> Verified:
        """Signature (remembered once good: the same bytes never need it again) and caveats."""
        good = self._good_signature(m, purpose, ctx)
        if good is not None:
            return good.reusable(ctx.now) or self.verifier.check_caveats(m, ctx)
        key = self.keyring.key_for_token_id(key_id)
        root = self.keyring.root_key(key, purpose, m.identifier)
        # Taken out first: a token whose check fails is not held any longer.
        pending = self._unverified.pop(id(m))
        verified = self.verifier.verify(m, root, ctx)
        clock_only = all(type(c) in CLOCK_ONLY[purpose] for c in verified.caveats)
        self._good_signatures.put(
            id(m),
            GoodSignature(m, purpose, verified if clock_only else None, expiry(verified.caveats)),
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

    def parse_f5(self, token: str) -> tuple[Macaroon, F5Identifier]:
        """Parse a serialized F5 AuthToken and its identifier (no verification)."""
        m, ident = self.parse(token)
        if not isinstance(ident, F5Identifier):
            raise MalformedToken("not an F5 token")
        return m, ident

    def verify_f5_signature(self, m: Macaroon, ident: F5Identifier, ctx: Context) -> Verified:
        """Signature and caveats of an F5 token (pure)."""
        good = self._good_signature(m, F5_PURPOSE, ctx)
        reused = good.reusable(ctx.now) if good is not None else None
        if reused is not None:
            return reused
        # The namespace and app caveats bind the token to its identifier's app.
        ctx = dataclasses.replace(ctx, namespace=ident.namespace, app=ident.app)
        return self._verify(m, ident.token_id, F5_PURPOSE, ctx)

    async def _f5_record(self, ident: F5Identifier, verified: Verified) -> F5Verification:
        """The store's part of verifying an F5 token: its app, generation and record."""
        result = await self.store.apps.check(
            ident.namespace, ident.app, ident.generation, ident.token_id, ident.user_id
        )
        _raise_for(result)
        return F5Verification(ident, verified)


def _raise_for(result: CheckResult) -> None:
    """Raise the refusal the store's verdict stands for, unless it is "ok"."""
    if result.status == "ok":
        return
    if result.status in {"revoked", "disabled", "noapp"}:
        raise TokenRevoked("token revoked")
    raise TokenRejected("token not valid")
