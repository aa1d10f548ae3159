"""`/auth/check`: the sidecar's authorization check for Envoy ext_authz, nginx auth_request and Traefik ForwardAuth.

The token comes from `X-Auth-Token`, `Authorization: Bearer|APIToken` or the
configured `f5.token_header`; either kind, in any encoding, is recognised by
its identifier and verified in full (location, signature, caveats, record and
revocation). The request being authorised (method, target, host, peer) is
described by one form of forwarding headers, believed only from
`auth_check.trusted_proxies`: nginx's (`X-Original-Method`,
`X-Original-URI`/`-URL`, `X-Real-IP`, and `Host`) first, else Traefik's
(`X-Forwarded-Method/-Uri/-Host/-For`), else the check request itself
(Envoy: its method and Host, and its path after `/auth/check`). Two forms,
or a repeated header, in one request are refused with 403 (see `describe`).

200 carries `X-Auth-Subject: usr-<user id>` (Onedata's subject form, the one
`consumer` caveats use) and, for F5 tokens, `X-Auth-Namespace` and
`X-Auth-App`; proxies must set these upstream headers, not append to the
client's. 401 means no usable token, 403 a caveat that refuses this request,
503/504 a store that is down or slow; the body is one line of plain text.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp_apispec import docs

from service.api import docs as docs_mod
from service.appkeys import AUTHORITY, SETTINGS, STATE, TRUSTED_PROXIES
from service.authority import Authority, F5Verification, Identifier
from service.errors import StoreTimeout, StoreUnavailable, TokenRejected, TokenRevoked
from service.metrics import TALLY, VERIFICATIONS
from service.paths import AUTH_CHECK_PATH
from service.tokens.errors import CaveatUnknown, CaveatUnverified, TokenError, TokenExpired
from service.tokens.verifier import Context
from service.web.auth import token_from_headers

from .describe import Described, Describer, Refused

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
    ("X-Original-Method", "nginx: the original method (first in precedence)"),
    ("X-Original-URI", "nginx: the original request target (path and query)"),
    (
        "X-Original-URL",
        "nginx: the original URL; its target must equal X-Original-URI's and its host Host",
    ),
    ("X-Real-IP", "nginx: the client address"),
    ("X-Forwarded-Method", "Traefik: the original method (only without nginx's headers)"),
    ("X-Forwarded-Uri", "Traefik: the original request target"),
    ("X-Forwarded-Host", "Traefik: the original host (otherwise the Host header)"),
    (
        "X-Forwarded-For",
        "Traefik: the client chain; its last hop outside the trusted proxies is the peer",
    ),
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
        # "unknown caveat", or why a known form is refused (third-party caveats).
        return _deny(401, _one_line(f"{err.reason}: {err.caveat}"), _INVALID)
    if isinstance(err, TokenRevoked):
        return _deny(401, "token revoked", _INVALID)
    if isinstance(err, TokenError):
        return _deny(401, _one_line(err.reason), _INVALID)
    return _deny(401, "token not valid", _INVALID)


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
            "or the configured f5.token_header, and may be either kind in any encoding. From "
            "a peer in auth_check.trusted_proxies the request being authorised is described by "
            "nginx's headers (X-Original-Method, X-Original-URI or -URL, X-Real-IP, and Host), "
            "else by Traefik's (X-Forwarded-Method, -Uri, -Host, -For), else it is this request "
            "itself (Envoy: its method and Host, and its path after /auth/check). Headers of both "
            "forms, or one of them twice, in one request are refused with 403; from any other "
            "peer they are ignored. Bodies are one line of plain text."
        ),
        produces=["text/plain", "application/json"],
        security=docs_mod.CHECK_SECURITY,
        parameters=[*_PARAMETERS, *path_parameters],
        responses={
            **docs_mod.ok(200, None, "Allowed (no body)", _ALLOWED_HEADERS),
            **_plain(401, "No token, or an invalid, expired or revoked one", _CHALLENGE_HEADER),
            **_plain(
                403,
                "A caveat refuses this request, or a trusted proxy's forwarding headers are "
                "malformed, duplicated or of two forms",
            ),
            **_plain(503, "Token store unavailable"),
            **_plain(504, "Token store did not answer in time"),
        },
    )(handler)
    return documented


def _forwarded_context(authority: Authority, ident: Identifier, described: Described) -> Context:
    """The verification context of the request being authorised, as `Describer` read it."""
    method, target, host, peer = described
    return authority.context(peer_ip=peer, method=method, path=target, host=host, interface="rest")


class AuthCheck:
    """The `/auth/check` handler (`handle`) and what it reads on every request, set at start-up."""

    __slots__ = ("authority", "describe", "token_header")

    def __init__(self, authority: Authority, describe: Describer, token_header: str | None) -> None:
        self.authority = authority
        self.describe = describe
        # f5.token_header: one more header a token may come in (None: none).
        self.token_header = token_header

    @classmethod
    def of(cls, app: web.Application) -> AuthCheck:
        """The check for `app`, from its authority, trusted proxies and settings."""
        return cls(
            app[AUTHORITY],
            Describer(app[TRUSTED_PROXIES]),
            app[SETTINGS].f5.token_header or None,
        )

    async def handle(self, request: web.Request) -> web.Response:
        """Allow (200, the subject's headers) or refuse (401, 403, 503, 504) a proxied request."""
        state = request[STATE]
        try:
            described = self.describe(request, state.trusted_proxy)
        except Refused as refused:
            TALLY.inc(_FORBIDDEN)
            return _deny(403, str(refused))
        token = token_from_headers(request, self.token_header)
        if token is None:
            return _deny(401, "no token", _CHALLENGE)
        try:
            verification = await self.authority.verify(
                token, "access_or_f5", _forwarded_context, described
            )
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


def setup_routes(app: web.Application) -> None:
    """Register the routes."""
    check = AuthCheck.of(app).handle
    router = app.router
    for path, documented in (
        (AUTH_CHECK_PATH, _documented(check, [])),
        (AUTH_CHECK_PATH + "/{tail:(?s:.*)}", _documented(check, [_TAIL])),
    ):
        # GET and POST are documented; "*" takes every other method (Envoy keeps the original
        # one). The tail matches across a percent-encoded newline, so such a path is checked
        # like any other rather than answered 404, which a proxy would turn into a 500.
        router.add_get(path, documented)
        router.add_post(path, documented)
        router.add_route("*", path, check)
