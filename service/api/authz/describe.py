"""The request `/auth/check` authorises, read from the check request's forwarding headers.

One precedence, in which nothing a client can add wins over what the proxy
sets: nginx's form, else Traefik's, else the check request itself (Envoy).
See `Describer.__call__`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from multidict import istr

from service.lru import BoundedLRU
from service.paths import AUTH_CHECK_PATH
from service.web.forwarded import TrustedProxies


class Refused(Exception):
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
_TAIL_PREFIX = AUTH_CHECK_PATH + "/"
_MEMO_SIZE = 4096

# (method, target, host, peer) of the request being authorised.
Described = tuple[str, str | None, str | None, str | None]


def _malformed(slot: int) -> Refused:
    return Refused("malformed forwarding header: " + _NAMES[slot])


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
        return raw[len(AUTH_CHECK_PATH) :]
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
            except Refused as refused:
                # The reason, not the exception: raising one object again and
                # again would lengthen its traceback each time.
                value = _Reason(refused)
            memo.put(raw, value)
        if value.__class__ is _Reason:
            raise Refused(value)
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
        (`Refused`, 403): a proxy sets every header of its form, so a second
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
                    raise Refused("duplicated forwarding header: " + _NAMES[slot])
                values[slot] = found[0]
        method = request.method
        target = None
        peer = request.remote
        if values:
            if not values.keys().isdisjoint(_NGINX) and not values.keys().isdisjoint(_TRAEFIK):
                first, last = min(values), max(values)
                raise Refused(f"conflicting forwarding headers: {_NAMES[first]} and {_NAMES[last]}")
            for slot, raw in values.items():
                value = memo[slot].get(raw)
                if value is None or value.__class__ is _Reason:
                    value = self._read(slot, raw)
                if slot == _METHOD_NGINX or slot == _METHOD_TRAEFIK:
                    method = value
                elif slot == _URI_NGINX or slot == _URI_TRAEFIK:
                    if target is not None and target != value:
                        raise Refused(
                            "conflicting forwarding headers: X-Original-URI and X-Original-URL"
                        )
                    target = value
                elif slot == _URL_NGINX:
                    from_url, name = value
                    if host is None or name != _host_name(host):
                        raise Refused("conflicting forwarding headers: X-Original-URL and Host")
                    if target is not None and target != from_url:
                        raise Refused(
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
