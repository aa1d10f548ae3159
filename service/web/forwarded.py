"""Forwarded headers, trusted only from configured proxy networks.

aiohttp-remotes' XForwardedFiltered picks the client address out of
X-Forwarded-For/-Proto/-Host past the trusted hops; it is applied only when
the direct peer itself is a trusted proxy, so anyone else's headers are ignored.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from aiohttp import web
from aiohttp_remotes import XForwardedFiltered
from aiohttp_remotes.exceptions import RemoteError

from service.appkeys import FORWARDING_INVALID, TRUSTED_PROXY
from service.errors import MalformedRequest

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
AUTH_CHECK_PREFIX = "/auth/check"


class TrustedProxies:
    """The networks whose forwarding headers are believed."""

    def __init__(self, networks: Iterable[str]) -> None:
        self.networks: tuple[Network, ...] = tuple(
            ipaddress.ip_network(n, strict=False) for n in networks
        )
        self._filtered = XForwardedFiltered(set(self.networks)) if self.networks else None
        self._answers: dict[str, bool] = {}

    def trusts(self, address: str | None) -> bool:
        """Whether the direct peer at `address` is a trusted proxy (answers remembered)."""
        if not address or not self.networks:
            return False
        known = self._answers.get(address)
        if known is None:
            try:
                ip = ipaddress.ip_address(address.split("%", 1)[0])
            except ValueError:
                known = False
            else:
                known = any(ip in net for net in self.networks)
            if len(self._answers) >= 4096:
                self._answers.clear()
            self._answers[address] = known
        return known

    def middleware(self) -> Any:
        filtered = self._filtered

        @web.middleware
        async def middleware(
            request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
        ) -> web.StreamResponse:
            if filtered is None or not self.trusts(request.remote):
                return await handler(request)
            try:
                filtered.get_forwarded_for(request.headers)
                filtered.get_forwarded_proto(request.headers)
                filtered.get_forwarded_host(request.headers)
            except (RemoteError, web.HTTPBadRequest):
                if request.path.startswith(AUTH_CHECK_PREFIX):
                    # A proxy's auth subrequest must get an answer it understands
                    # (401/403), never a 400; the check refuses it itself.
                    request[FORWARDING_INVALID] = True
                    return await handler(request)
                raise MalformedRequest("malformed forwarding headers") from None
            request[TRUSTED_PROXY] = True
            return await filtered.middleware(request, handler)

        return middleware


def forwarded_header(request: web.Request, *names: str) -> str | None:
    """The first of the named headers, only when the request came through a trusted proxy."""
    if not request.get(TRUSTED_PROXY):
        return None
    for name in names:
        value = request.headers.get(name)
        if value:
            return value.strip()
    return None
