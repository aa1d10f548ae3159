"""Who is calling: HTTP Basic against the user store, or an access token minted here.

Basic auth counts failures per (user, ip) and locks out with 429 before a
password is even checked. Verified credentials are cached per process under a
keyed hash that includes the user's current password hash, so a password
change invalidates them at once and scrypt is not paid on every request.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections import OrderedDict
from dataclasses import dataclass
from typing import Literal

from aiohttp import web

from service.appkeys import AUTHORITY, CREDENTIAL_CACHE, SETTINGS, STATE
from service.authority import OnezoneVerification, Parent
from service.errors import (
    AuthenticationFailed,
    BadCredentials,
    RateLimited,
    TokenRejected,
    Unauthorized,
)
from service.store.passwords import check_against_nobody, check_password_async
from service.tokens import caveats
from service.tokens.caveats import (
    AnyCaveat,
    DataObjectIdCaveat,
    DataPathCaveat,
    DataReadonlyCaveat,
    InterfaceCaveat,
    TimeCaveat,
)
from service.tokens.errors import CaveatUnverified, TokenError

TOKEN_SCHEMES = ("bearer", "apitoken", "macaroon")
# A token with one of these is a data-access token (as in Onezone): refused
# on every management and minting route.
DATA_ACCESS_CAVEATS = (DataReadonlyCaveat, DataPathCaveat, DataObjectIdCaveat)
# A credential whose caveats are all of these may see serialized tokens.
UNCONFINING_CAVEATS = (TimeCaveat, InterfaceCaveat)


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated user; for a token, its verified caveats and what its children inherit."""

    user_id: str
    name: str
    admin: bool
    method: Literal["basic", "token"]
    token_id: str | None = None
    # The token's verification (its caveats, identifier and lineage); None for Basic.
    verification: OnezoneVerification | None = None

    @property
    def caveats(self) -> tuple[AnyCaveat, ...]:
        """The verified caveats of the token authenticated with (none for Basic)."""
        return () if self.verification is None else self.verification.verified.caveats

    @property
    def parent(self) -> Parent | None:
        """The token as the parent of what is minted while it authenticates (None for Basic)."""
        return None if self.verification is None else self.verification.as_parent()

    @property
    def confined(self) -> bool:
        """Whether the credential is bounded by more than time and interface caveats."""
        return not all(isinstance(c, UNCONFINING_CAVEATS) for c in self.caveats)


class CredentialCache:
    """A bounded set of recently verified (user, password hash, password) triples, keyed."""

    def __init__(self, size: int = 4096) -> None:
        self._key = os.urandom(32)
        self._size = size
        self._entries: OrderedDict[bytes, None] = OrderedDict()

    def _digest(self, uid: str, password_hash: str, password: str) -> bytes:
        msg = b"\0".join((uid.encode(), password_hash.encode(), password.encode()))
        # Keyed BLAKE2b is a MAC, and a fifth of the cost of HMAC-SHA256 here.
        return hashlib.blake2b(msg, key=self._key, digest_size=32).digest()

    def __contains__(self, item: tuple[str, str, str]) -> bool:
        digest = self._digest(*item)
        if digest in self._entries:
            self._entries.move_to_end(digest)
            return True
        return False

    def add(self, item: tuple[str, str, str]) -> None:
        self._entries[self._digest(*item)] = None
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)


def token_from_headers(request: web.Request, extra_header: str | None = None) -> str | None:
    """An access token from X-Auth-Token, Authorization (Bearer / APIToken) or `extra_header`."""
    token = request.headers.get("X-Auth-Token")
    if token:
        return token.strip()
    auth = request.headers.get("Authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() in TOKEN_SCHEMES and value.strip():
        return value.strip()
    if extra_header:
        token = request.headers.get(extra_header)
        if token:
            return token.strip()
    return None


def _basic_credentials(header: str) -> tuple[str, str] | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError) as err:
        raise BadCredentials("malformed basic credentials") from err
    name, sep, password = decoded.partition(":")
    if not sep or not name or len(name) > 256 or len(password) > 1024:
        raise BadCredentials("malformed basic credentials")
    return name, password


async def authenticate_basic(request: web.Request, name: str, password: str) -> Principal:
    """Check a user's password, with lockout after repeated failures from one ip."""
    authority = request.app[AUTHORITY]
    store = authority.store
    limits = request.app[SETTINGS].rate_limits
    policy, ip_policy = limits["failed_login"], limits["failed_login_ip"]
    ip = request.remote or "unknown"
    # The lockout gate is queued first, so a user lookup that must ask Redis
    # travels in the same round trip; neither needs a task of its own.
    pending_gate = store.login_allowed(name, ip, policy, ip_policy)
    try:
        user = await store.get_user_by_name(name)
    except BaseException:
        pending_gate.close()  # never awaited: its replies are dropped quietly
        raise
    gate = await pending_gate
    if not gate.allowed:
        raise RateLimited(gate, "too many failed logins")
    cache = request.app[CREDENTIAL_CACHE]
    if user is not None and (user.id, user.password_hash, password) in cache:
        return Principal(user.id, user.name, user.admin, "basic")
    if user is not None and await check_password_async(password, user.password_hash):
        cache.add((user.id, user.password_hash, password))
        return Principal(user.id, user.name, user.admin, "basic")
    if user is None:
        await check_against_nobody(password)
    await store.login_failed(name, ip, policy, ip_policy)
    raise BadCredentials("invalid username or password")


async def authenticate(
    request: web.Request,
    *,
    allow_basic: bool = True,
    api_gri: str | None = None,
    extra_header: str | None = None,
    data_access: bool = False,
) -> Principal:
    """The caller, by Basic credentials or an access token; raises Unauthorized otherwise.

    `api_gri` is the GRI of the resource for `api` caveats; `{user}` in it
    stands for the token's subject. Data-access tokens (`data.*` caveats) are
    refused unless `data_access` (a route Onezone allows them on), as Onezone
    refuses them: an unverified caveat.
    """
    state = request[STATE]
    if state.principal is not None:
        return state.principal
    header = request.headers.get("Authorization", "")
    if allow_basic and header:
        creds = _basic_credentials(header)
        if creds is not None:
            principal = await authenticate_basic(request, *creds)
            state.principal = principal
            state.subject = principal.user_id
            return principal
    token = token_from_headers(request, extra_header)
    if token is None:
        raise Unauthorized("no credentials")
    authority = request.app[AUTHORITY]
    try:
        # A token whose caveats depend only on the clock needs nothing of the request.
        verification = await authority.verify_remembered(token, f5=False)
        if verification is None:
            m, ident = authority.parse_onezone(token)
            ctx = authority.context(
                peer_ip=request.remote,
                interface="rest",
                method=request.method,
                path=request.path,
                service=f"ozw-{authority.domain}",
                api_service="ozw",
                api_gri=api_gri.replace("{user}", ident.user_id) if api_gri else None,
                defer_data_caveats=data_access,
            )
            verification = await authority.verify_onezone_parsed(m, ident, ctx, kind="access")
        if not data_access:
            for c in verification.verified.caveats:
                if isinstance(c, DATA_ACCESS_CAVEATS):
                    raise CaveatUnverified(caveats.to_text(c))
    except (TokenError, TokenRejected) as err:
        raise AuthenticationFailed(err) from err
    ident = verification.identifier
    principal = Principal(
        ident.user_id,
        verification.user_name or "",
        verification.admin,
        "token",
        ident.token_id,
        verification,
    )
    state.principal = principal
    state.subject = principal.user_id
    return principal
