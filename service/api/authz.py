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
import ipaddress
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp_apispec import docs
from multidict import istr

from service.appkeys import AUTHORITY, SETTINGS, STATE, TRUSTED_PROXIES
from service.authority import F5Verification
from service.errors import StoreTimeout, StoreUnavailable, TokenRejected, TokenRevoked
from service.lru import BoundedLRU
from service.metrics import TALLY, VERIFICATIONS
from service.tokens.errors import CaveatUnknown, CaveatUnverified, TokenError, TokenExpired
from service.web.auth import token_from_headers
from service.web.forwarded import TrustedProxies

from . import docs as docs_mod

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


class _Refused(Exception):
    """The forwarding headers cannot describe the request: it is refused (403)."""


class _Reason(str):
    """Why a header value is refused, as remembered for that value."""


# The headers /auth/check reads, and the slot of each in a description.
_METHOD_NGINX, _URI_NGINX, _URL_NGINX, _PEER_NGINX = 0, 1, 2, 3
_METHOD_TRAEFIK, _URI_TRAEFIK, _HOST_TRAEFIK, _PEER_TRAEFIK = 4, 5, 6, 7
_HOST = 8
_NAMES = (
    "X-Original-Method",
    "X-Original-URI",
    "X-Original-URL",
    "X-Real-IP",
    "X-Forwarded-Method",
    "X-Forwarded-Uri",
    "X-Forwarded-Host",
    "X-Forwarded-For",
    "Host",
)
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_HOST_NAME = re.compile(r"[A-Za-z0-9._~!$&'()*+;=%:\[\]-]+")
# istr keys: multidict compares them without folding their case again.
_FORWARDING_KEYS = tuple((slot, istr(name)) for slot, name in enumerate(_NAMES[:_HOST]))
_FORWARDING = frozenset(key for _, key in _FORWARDING_KEYS)
_HOST_KEY = istr("Host")
_NGINX = frozenset((_METHOD_NGINX, _URI_NGINX, _URL_NGINX, _PEER_NGINX))
_TRAEFIK = frozenset((_METHOD_TRAEFIK, _URI_TRAEFIK, _HOST_TRAEFIK, _PEER_TRAEFIK))
_TAIL_PREFIX = PATH + "/"
_MEMO_SIZE = 4096

# (method, target, host, peer) of the request being authorised.
Described = tuple[str, str | None, str | None, str | None]


def _malformed(slot: int) -> _Refused:
    return _Refused("malformed forwarding header: " + _NAMES[slot])


def _text(raw: str, slot: int) -> str:
    """A header value as aiohttp decoded it, checked: visible ASCII and inner spaces only
    (tabs and bytes beyond ASCII are refused; aiohttp refuses other control bytes)."""
    value = raw
    if not value.isascii():
        if slot not in (_URI_NGINX, _URI_TRAEFIK, _URL_NGINX):
            raise _malformed(slot)
        # A request target may carry raw bytes (nginx's $request_uri passes
        # them on; aiohttp decodes them as UTF-8 with surrogate escapes): they
        # are percent-encoded, which loses nothing.
        value = "".join(
            chr(b) if b < 0x80 else f"%{b:02X}" for b in raw.encode("utf-8", "surrogateescape")
        )
    if not value.isprintable():
        raise _malformed(slot)
    return value


def _method(raw: str, slot: int) -> str:
    value = _text(raw, slot)
    if _TOKEN.fullmatch(value) is None:
        raise _malformed(slot)
    return value


def _target(raw: str, slot: int) -> str:
    """A request target in origin form (path and query), as the proxy saw it."""
    value = _text(raw, slot)
    # Origin form has no fragment: a proxy that forwards one ("/a#/../b") would
    # have the check judge less of the target than the application may read.
    if not value.startswith("/") or " " in value or "#" in value:
        raise _malformed(slot)
    return value


def _host(raw: str, slot: int) -> str:
    value = _text(raw, slot)
    if _HOST_NAME.fullmatch(value) is None:
        raise _malformed(slot)
    return value


def _address(raw: str, slot: int) -> str:
    try:
        return str(ipaddress.ip_address(_text(raw, slot)))
    except ValueError:
        raise _malformed(slot) from None


def _url(raw: str, slot: int) -> tuple[str, str]:
    """The target of an X-Original-URL and its host name."""
    try:
        parts = urlsplit(_text(raw, slot))
        name = parts.hostname
    except ValueError:
        raise _malformed(slot) from None
    if parts.scheme not in ("http", "https") or not name or "@" in parts.netloc:
        raise _malformed(slot)
    if "#" in raw:  # see _target: no fragment reaches a server
        raise _malformed(slot)
    target = parts.path or "/"
    return (target + "?" + parts.query if parts.query else target), name


def _host_name(host: str) -> str:
    """The name in a Host value, without its port, lowered."""
    if host.startswith("["):
        return host.partition("]")[0][1:].lower()
    name, colon, port = host.rpartition(":")
    return name.lower() if colon and port.isdigit() else host.lower()


def _envoy_target(request: web.Request) -> str | None:
    """The original request target after /auth/check (Envoy's path_prefix), raw."""
    raw = request.raw_path
    if raw.startswith(_TAIL_PREFIX):
        return raw[len(PATH) :]
    return None


class Describer:
    """Describes the request being authorised from the check request (see `__call__`).

    What each header value reads as (or that it is malformed) is remembered
    per header, bounded: proxies send the same hosts, methods and client
    addresses again and again, and parsing an address costs more than the
    rest of the description.
    """

    def __init__(self, proxies: TrustedProxies) -> None:
        self._proxies = proxies
        # Keyed by what a client may send: LRU, so a flood evicts only the oldest.
        self._memo: list[BoundedLRU[str, Any]] = [BoundedLRU(_MEMO_SIZE) for _ in _NAMES]
        self._readers: tuple[Callable[[str, int], Any], ...] = (
            _method,
            _target,
            _url,
            _address,
            _method,
            _target,
            _host,
            self._client,
            _host,
        )

    def _client(self, raw: str, slot: int) -> str:
        client = self._proxies.client_of(_text(raw, slot))
        if client is None:
            raise _malformed(slot)
        return client

    def _read(self, slot: int, raw: str) -> Any:
        """The header's value as read, remembered (a malformed one as its refusal's reason)."""
        memo = self._memo[slot]
        value = memo.get(raw)
        if value is None:
            try:
                value = self._readers[slot](raw, slot)
            except _Refused as refused:
                # The reason, not the exception: raising one object again and
                # again would lengthen its traceback each time.
                value = _Reason(refused)
            memo.put(raw, value)
        if value.__class__ is _Reason:
            raise _Refused(value)
        return value

    def __call__(self, request: web.Request, trusted: bool) -> Described:
        """Method, request target, host and peer of the request being authorised.

        `trusted`: the direct peer is one of auth_check.trusted_proxies. One
        precedence, in which nothing a client can add wins over what the
        proxy sets: nginx's form (X-Original-Method, X-Original-URI or
        X-Original-URL, X-Real-IP, and the Host it passes), else Traefik's
        (X-Forwarded-Method, -Uri, -Host, -For), else the request itself
        (Envoy: its method, its Host, its path after /auth/check, its peer).
        A request that mixes the two forms, repeats one of these headers, or
        gives a value that is not what the header holds is refused
        (`_Refused`, 403): a proxy sets every header of its form, so a second
        form or copy is a client's. From any other peer the forwarding
        headers are ignored.
        """
        headers = request.headers
        memo = self._memo
        host: str | None = None
        own = headers.get(_HOST_KEY)
        if own is not None:
            # aiohttp refuses a request with two Hosts; the value is checked like a forwarded one.
            host = memo[_HOST].get(own)
            if host is None or host.__class__ is _Reason:
                host = self._read(_HOST, own)
        if not trusted or headers.keys().isdisjoint(_FORWARDING):
            # No forwarding header (Envoy, a probe), or none to believe: one C call.
            return request.method, _envoy_target(request), host, request.remote
        values: dict[int, str] = {}
        for slot, key in _FORWARDING_KEYS:
            found = headers.getall(key, None)
            if found is not None:
                if len(found) > 1:
                    raise _Refused("duplicated forwarding header: " + _NAMES[slot])
                values[slot] = found[0]
        method = request.method
        target = None
        peer = request.remote
        if values:
            if not values.keys().isdisjoint(_NGINX) and not values.keys().isdisjoint(_TRAEFIK):
                first, last = min(values), max(values)
                raise _Refused(
                    f"conflicting forwarding headers: {_NAMES[first]} and {_NAMES[last]}"
                )
            for slot, raw in values.items():
                value = memo[slot].get(raw)
                if value is None or value.__class__ is _Reason:
                    value = self._read(slot, raw)
                if slot == _METHOD_NGINX or slot == _METHOD_TRAEFIK:
                    method = value
                elif slot == _URI_NGINX or slot == _URI_TRAEFIK:
                    if target is not None and target != value:
                        raise _Refused(
                            "conflicting forwarding headers: X-Original-URI and X-Original-URL"
                        )
                    target = value
                elif slot == _URL_NGINX:
                    from_url, name = value
                    if host is None or name != _host_name(host):
                        raise _Refused("conflicting forwarding headers: X-Original-URL and Host")
                    if target is not None and target != from_url:
                        raise _Refused(
                            "conflicting forwarding headers: X-Original-URI and X-Original-URL"
                        )
                    target = from_url
                elif slot == _HOST_TRAEFIK:
                    host = value
                else:
                    peer = value
        if target is None:
            target = _envoy_target(request)
        return method, target, host, peer


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


def setup_routes(app: web.Application) -> None:
    """Register the routes."""
    authority = app[AUTHORITY]
    # Read once: this handler runs for every proxied request.
    extra_header = app[SETTINGS].f5.token_header or None
    describe = Describer(app[TRUSTED_PROXIES])

    async def check(request: web.Request) -> web.Response:
        state = request[STATE]
        try:
            method, target, host, peer = describe(request, state.trusted_proxy)
        except _Refused as refused:
            TALLY.inc(_FORBIDDEN)
            return _deny(403, str(refused))
        token = token_from_headers(request, extra_header)
        if token is None:
            return _deny(401, "no token", _CHALLENGE)
        try:
            # A token whose caveats depend only on the clock needs nothing of the request.
            verification = await authority.verify_remembered(token, f5=True)
            if verification is None:
                ctx = authority.context(
                    peer_ip=peer, method=method, path=target, host=host, interface="rest"
                )
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
