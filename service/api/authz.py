"""`/auth/check`: the sidecar's authorization check for Envoy ext_authz, nginx auth_request and Traefik ForwardAuth.

The token comes from `X-Auth-Token`, `Authorization: Bearer|APIToken` or the
configured `f5.token_header`; either kind is verified in full (signature,
caveats, record and revocation). The request being authorised is described by
`X-Forwarded-Method/-Uri/-For` (Traefik), `X-Original-Method/-URI/-URL` and
`X-Real-IP` (nginx), believed only from a trusted proxy; otherwise, and for
Envoy, it is this request itself, whose path after `/auth/check` is the
original path.

200 carries `X-Auth-Subject: usr-<user id>` (Onedata's subject form, the one
`consumer` caveats use) and, for F5 tokens, `X-Auth-Namespace` and
`X-Auth-App`; proxies must set these upstream headers, not append to the
client's. 401 means no usable token, 403 a caveat that refuses this request,
503/504 a store that is down or slow; the body is one line of plain text.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp_apispec import docs

from service.appkeys import AUTHORITY, SETTINGS, STATE
from service.authority import F5Verification
from service.errors import StoreTimeout, StoreUnavailable, TokenRejected, TokenRevoked
from service.metrics import TALLY, VERIFICATIONS
from service.tokens.errors import CaveatUnknown, CaveatUnverified, TokenError, TokenExpired
from service.web.auth import token_from_headers

from . import docs as docs_mod

if TYPE_CHECKING:
    from multidict import CIMultiDictProxy

PATH = "/auth/check"
# Bound once: this is the hot path of a sidecar.
_VALID = VERIFICATIONS.labels("valid")
_INVALID_TOKEN = VERIFICATIONS.labels("invalid")
_FORBIDDEN = VERIFICATIONS.labels("forbidden")
_UNAVAILABLE = VERIFICATIONS.labels("unavailable")
_NO_STORE = "no-store"
_CHALLENGE = 'Bearer realm="token-service"'
_INVALID = 'Bearer realm="token-service", error="invalid_token"'


def _plain(
    status: int, description: str, headers: dict[str, dict[str, Any]] | None = None
) -> dict[str, dict[str, Any]]:
    return docs_mod.ok(status, docs_mod.PLAIN_TEXT, description, headers)


_ALLOWED_HEADERS = {
    "X-Auth-Subject": docs_mod.header("`usr-<user id>`, the token's subject"),
    "X-Auth-Namespace": docs_mod.header("F5 tokens: the application's namespace"),
    "X-Auth-App": docs_mod.header("F5 tokens: the application"),
}
_CHALLENGE_HEADER = {"WWW-Authenticate": docs_mod.header("`Bearer realm=...`")}
_FORWARDED = (
    ("X-Forwarded-Method", "Traefik: the original method"),
    ("X-Forwarded-Uri", "Traefik: the original URI"),
    ("X-Forwarded-For", "The client chain; its last untrusted hop is the peer"),
    ("X-Original-Method", "nginx: the original method"),
    ("X-Original-URI", "nginx: the original URI"),
    ("X-Original-URL", "nginx: the original URL"),
    ("X-Real-IP", "nginx: the client address"),
)
_PARAMETERS = [
    {"in": "header", "name": name, "type": "string", "required": False, "description": text}
    for name, text in _FORWARDED
]


def _deny(status: int, reason: str, challenge: str | None = None) -> web.Response:
    response = web.Response(status=status, text=reason + "\n", content_type="text/plain")
    response.headers["Cache-Control"] = _NO_STORE
    if challenge is not None:
        response.headers["WWW-Authenticate"] = challenge
    return response


def _one_line(text: str, limit: int = 200) -> str:
    return "".join(c if c.isprintable() else "?" for c in text[:limit])


def _refusal(err: Exception) -> web.Response:
    """The answer for a token that is refused: 403 for a caveat against this request, else 401."""
    if isinstance(err, CaveatUnverified) and not isinstance(err, TokenExpired):
        return _deny(403, _one_line(f"caveat not satisfied: {err.caveat}"))
    if isinstance(err, CaveatUnknown):
        return _deny(401, _one_line(f"unknown caveat: {err.caveat}"), _INVALID)
    if isinstance(err, TokenRevoked):
        return _deny(401, "token revoked", _INVALID)
    if isinstance(err, TokenError):
        return _deny(401, _one_line(err.reason), _INVALID)
    return _deny(401, "token not valid", _INVALID)


def _first(headers: CIMultiDictProxy[str], *names: str) -> str | None:
    """The first of the named headers that is not empty, stripped."""
    for name in names:
        value = headers.get(name)
        if value:
            return value.strip()
    return None


def _original(request: web.Request, trusted: bool) -> tuple[str, str | None, str | None]:
    """Method, path and peer of the request being authorised.

    A trusted proxy describes it in its headers (Traefik: X-Forwarded-*, nginx:
    X-Original-* and X-Real-IP); otherwise it is this request itself, whose
    path after /auth/check is the original path (Envoy).
    """
    tail = request.match_info.get("tail")
    path = None if tail is None else "/" + tail
    if not trusted:
        return request.method, path, request.remote
    headers = request.headers
    method = _first(headers, "X-Forwarded-Method", "X-Original-Method") or request.method
    uri = _first(headers, "X-Forwarded-Uri", "X-Original-URI")
    if uri is not None:
        path = uri.partition("?")[0] or "/"
    else:
        url = _first(headers, "X-Original-URL")
        if url is not None:
            try:
                path = urlsplit(url).path or "/"
            except ValueError:
                path = None
    # The trusted-proxy middleware has already taken the client out of
    # X-Forwarded-For; X-Real-IP serves proxies that send only that.
    peer = None if "X-Forwarded-For" in headers else _first(headers, "X-Real-IP")
    return method, path, peer or request.remote


Handler = Callable[[web.Request], Awaitable[web.Response]]
_TAIL = {
    "in": "path",
    "name": "tail",
    "required": True,
    "type": "string",
    "description": "The original path (Envoy), without its leading slash",
}


def _documented(check: Handler, path_parameters: list[dict[str, Any]]) -> Handler:
    """`check` with its own API description: aiohttp-apispec keeps one per handler object.

    A partial is a new object that calls `check` itself, without a coroutine of its own.
    """
    handler = functools.partial(check)

    documented: Handler = docs(
        tags=["authorization check"],
        summary="Verify the token of a proxied request (Envoy ext_authz, nginx auth_request, Traefik ForwardAuth)",
        description=(
            "Any method. The token comes from X-Auth-Token, `Authorization: Bearer|APIToken` "
            "or the configured f5.token_header. The request being authorised is described by "
            "X-Forwarded-Method/-Uri/-For (Traefik) or X-Original-Method/-URI/-URL and "
            "X-Real-IP (nginx), believed only from auth_check.trusted_proxies; otherwise it is "
            "this request itself, whose path after /auth/check is the original path (Envoy). "
            "Bodies are one line of plain text."
        ),
        produces=["text/plain", "application/json"],
        security=docs_mod.CHECK_SECURITY,
        parameters=[*_PARAMETERS, *path_parameters],
        responses={
            **docs_mod.ok(200, None, "Allowed (no body)", _ALLOWED_HEADERS),
            **_plain(401, "No token, or an invalid, expired or revoked one", _CHALLENGE_HEADER),
            **_plain(
                403,
                "A caveat refuses this request, or a trusted proxy sent malformed forwarding headers",
            ),
            **_plain(503, "Token store unavailable"),
            **_plain(504, "Token store did not answer in time"),
        },
    )(handler)
    return documented


def setup_routes(app: web.Application) -> None:
    """Register the routes."""
    authority = app[AUTHORITY]
    # Read once: this handler runs for every proxied request.
    extra_header = app[SETTINGS].f5.token_header or None

    async def check(request: web.Request) -> web.Response:
        state = request[STATE]
        if state.forwarding_invalid:
            TALLY.inc(_FORBIDDEN)
            return _deny(403, "malformed forwarding headers from the proxy")
        token = token_from_headers(request, extra_header)
        if token is None:
            return _deny(401, "no token", _CHALLENGE)
        try:
            # A token whose caveats depend only on the clock needs nothing of the request.
            verification = await authority.verify_remembered(token, f5=True)
            if verification is None:
                method, path, peer = _original(request, state.trusted_proxy)
                ctx = authority.context(peer_ip=peer, method=method, path=path, interface="rest")
                verification = await authority.verify_any(token, ctx)
        except (TokenError, TokenRejected) as err:
            refusal = _refusal(err)
            TALLY.inc(_FORBIDDEN if refusal.status == 403 else _INVALID_TOKEN)
            return refusal
        except StoreTimeout:
            TALLY.inc(_UNAVAILABLE)
            return _deny(504, "token store did not answer in time")
        except StoreUnavailable:
            TALLY.inc(_UNAVAILABLE)
            return _deny(503, "token store unavailable")
        TALLY.inc(_VALID)
        ident = verification.identifier
        response = web.Response(status=200)
        headers = response.headers
        headers["Cache-Control"] = _NO_STORE
        headers["X-Auth-Subject"] = "usr-" + ident.user_id
        if isinstance(verification, F5Verification):
            headers["X-Auth-Namespace"] = verification.identifier.namespace
            headers["X-Auth-App"] = verification.identifier.app
        state.subject = ident.user_id
        return response

    router = app.router
    for path, documented in (
        (PATH, _documented(check, [])),
        (PATH + "/{tail:(?s:.*)}", _documented(check, [_TAIL])),
    ):
        # GET and POST are documented; "*" takes every other method (Envoy keeps the original
        # one). The tail matches across a percent-encoded newline, so such a path is checked
        # like any other rather than answered 404, which a proxy would turn into a 500.
        router.add_get(path, documented)
        router.add_post(path, documented)
        router.add_route("*", path, check)
