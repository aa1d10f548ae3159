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
import hmac

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
from service.authority import Authority, Identifier
from service.errors import (
    AuthenticationFailed,
    BadCredentials,
    TokenRejected,
    Unauthorized,
)
from service.store import User
from service.tokens import caveats
from service.tokens.caveats import DataObjectIdCaveat, DataPathCaveat, DataReadonlyCaveat
from service.tokens.errors import CaveatUnverified, TokenError
from service.tokens.verifier import Context

from .credentials import CredentialCache, PasswordChecks
from .state import Principal

# The route handlers take the caller's type from here, and the app factory the
# Basic credentials' memory and bound, with `authenticate`.
__all__ = [
    "CredentialCache",
    "PasswordChecks",
    "Principal",
    "authenticate",
    "authenticate_basic",
    "token_from_headers",
]

TOKEN_SCHEMES = ("bearer", "apitoken", "macaroon")
# A token with one of these is a data-access token (as in Onezone): refused
# on every management and minting route.
DATA_ACCESS_CAVEATS = (DataReadonlyCaveat, DataPathCaveat, DataObjectIdCaveat)


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
    try:
        verification = await request.app[AUTHORITY].verify(
            token, "access", _rest_context, (request, api_gri, data_access)
        )
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


def _rest_context(
    authority: Authority, ident: Identifier, about: tuple[web.Request, str | None, bool]
) -> Context:
    """The verification context of an API request authenticated by a token of `ident`'s.

    `about`: the request, its resource's GRI for api caveats, and whether
    data-access caveats are left to the data service (see `authenticate`).
    """
    request, api_gri, data_access = about
    return authority.context(
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
