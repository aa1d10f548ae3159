"""Who is calling: HTTP Basic against the user store, or an access token minted here.

Basic auth reserves a failed login per (user, ip) and per ip before a password
is checked, and locks out with 429 once they are spent; the password checks in
flight per process are bounded too. Verified credentials are remembered per
process (keyed digest, bound to the user's current password hash), so a
password change invalidates them at once and scrypt is not paid on every
request.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import hashlib
import hmac
import os
from dataclasses import dataclass
from typing import Literal

from aiohttp import web

from service.appkeys import (
    AUTHORITY,
    CREDENTIAL_CACHE,
    LOGINS,
    PASSWORD_CHECKS,
    SETTINGS,
    STATE,
    USERS,
)
from service.authority import OnezoneVerification, Parent
from service.errors import (
    AuthenticationFailed,
    BadCredentials,
    RateLimited,
    RateLimitResult,
    TokenRejected,
    Unauthorized,
)
from service.lru import BoundedLRU
from service.store import User
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
        """Whether the credential is bounded by more than time and interface caveats.

        A token minted for its user through another user's token (a foreign
        lineage) counts as confined whatever its caveats: the user's tokens it
        could read would not die with that other token.
        """
        if self.verification is not None and self.verification.foreign is not None:
            return True
        return not all(isinstance(c, UNCONFINING_CAVEATS) for c in self.caveats)


class CredentialCache:
    """Recently verified Basic credentials: keyed digest of (name, password) -> (user id, hash).

    An entry counts only while the user's id and password hash are still those
    it was verified against, so a password change invalidates it at once.
    """

    def __init__(self, size: int = 4096) -> None:
        self._key = os.urandom(32)
        self._entries: BoundedLRU[bytes, tuple[str, str]] = BoundedLRU(size)
        # Checks under way, by digest: bounded by the requests in flight.
        self.in_flight: dict[bytes, asyncio.Future[Principal]] = {}

    def digest(self, name: str, password: str) -> bytes:
        """A keyed digest of the credentials (they are never kept in the clear)."""
        msg = b"\0".join((name.encode(), password.encode()))
        # Keyed BLAKE2b is a MAC, and a fifth of the cost of HMAC-SHA256 here.
        return hashlib.blake2b(msg, key=self._key, digest_size=32).digest()

    def get(self, name: str, password: str) -> tuple[str, str] | None:
        """The (user id, password hash) these credentials were last verified against."""
        return self._entries.get(self.digest(name, password))

    def add(self, name: str, password: str, uid: str, password_hash: str) -> None:
        self._entries.put(self.digest(name, password), (uid, password_hash))


class PasswordChecks:
    """At most `limit` password hashes computed at once in this process.

    Up to `queue` more wait for a free slot (a burst of honest logins is served,
    a little later); past that, RateLimited (429) at once.
    """

    def __init__(self, limit: int, queue: int = 0) -> None:
        self.limit = limit
        self.pending = 0  # hashing or waiting to
        self._max_pending = limit + queue
        self._slots = asyncio.Semaphore(limit)
        self._busy = RateLimitResult(
            policy="password_checks",
            limit=limit,
            period=1,
            allowed=False,
            remaining=0,
            retry_after=1.0,
            reset_after=1.0,
        )

    async def check(self, password: str, user: User | None) -> bool:
        """Whether `password` is the user's (a missing user costs the same); RateLimited if busy."""
        if self.pending >= self._max_pending:
            raise RateLimited(self._busy, "too many password checks at once")
        self.pending += 1
        try:
            await self._slots.acquire()
        except BaseException:
            self.pending -= 1
            raise
        # The slot is held until the hash is done, even if the request goes
        # away: the thread keeps computing, and it is the CPU that is bounded.
        task = asyncio.ensure_future(_check(password, user))
        task.add_done_callback(self._done)
        return await asyncio.shield(task)

    def _done(self, task: asyncio.Future[bool]) -> None:
        self.pending -= 1
        self._slots.release()
        if not task.cancelled():
            task.exception()


async def _check(password: str, user: User | None) -> bool:
    if user is None:
        await check_against_nobody(password)
        return False
    return await check_password_async(password, user.password_hash)


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
    """Check a user's password, with lockout after repeated failures from one ip.

    Credentials verified recently are taken without a password check. Any
    other attempt first reserves a failed login of (user, ip) and of ip,
    atomically, in the round trip of the user lookup, and checks the password
    only if the reservation was granted: however many arrive at once, no more
    wrong passwords are checked than `failed_login` / `failed_login_ip` allow.
    A good password gives its reservation back. Identical credentials in
    flight at once are checked once, for all of them.
    """
    app = request.app
    cache = app[CREDENTIAL_CACHE]
    known = cache.get(name, password)
    if known is not None:
        user = await app[USERS].get_by_name(name)
        if (
            user is not None
            and known[0] == user.id
            and hmac.compare_digest(known[1].encode(), user.password_hash.encode())
        ):
            return Principal(user.id, user.name, user.admin, "basic")
        # The password changed since these credentials were remembered.
    # The same credentials arriving together share one reservation and one
    # password check: a client that opens many connections at once with the
    # right password is not locked out by its own burst.
    key = cache.digest(name, password)
    pending = cache.in_flight.get(key)
    if pending is None:
        pending = asyncio.ensure_future(_check_basic(app, name, password, request.remote))
        cache.in_flight[key] = pending
        pending.add_done_callback(functools.partial(_settled, cache.in_flight, key))
    return await asyncio.shield(pending)


def _settled(
    in_flight: dict[bytes, asyncio.Future[Principal]], key: bytes, fut: asyncio.Future[Principal]
) -> None:
    del in_flight[key]
    if not fut.cancelled():
        fut.exception()  # retrieved here, in case every waiter went away


async def _check_basic(
    app: web.Application, name: str, password: str, remote: str | None
) -> Principal:
    """Reserve a failed login, look the user up (one round trip), then check the password."""
    users = app[USERS]
    limits = app[SETTINGS].rate_limits
    checks = app[PASSWORD_CHECKS]

    async def check(user: User | None) -> bool:
        good = await checks.check(password, user)
        return good and user is not None

    login = await app[LOGINS].attempt(
        name,
        remote or "unknown",
        limits.failed_login,
        limits.failed_login_ip,
        lambda: users.get_by_name(name),
        check,
    )
    user = login.found
    if user is None or not login.accepted:
        raise BadCredentials("invalid username or password")
    app[CREDENTIAL_CACHE].add(name, password, user.id, user.password_hash)
    return Principal(user.id, user.name, user.admin, "basic")


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
                # The raw target: http.path caveats judge it in their own normal form.
                path=request.raw_path,
                host=request.host,
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
