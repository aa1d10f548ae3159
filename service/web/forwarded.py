"""Forwarded headers, trusted only from configured proxy networks.

aiohttp-remotes' XForwardedFiltered picks the client address out of
X-Forwarded-For/-Proto/-Host past the trusted hops; the edge middleware
applies it only when the direct peer itself is a trusted proxy, so anyone
else's headers are ignored.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from aiohttp_remotes import XForwardedFiltered

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
AUTH_CHECK_PREFIX = "/auth/check"


class TrustedProxies:
    """The networks whose forwarding headers are believed."""

    def __init__(self, networks: Iterable[str]) -> None:
        self.networks: tuple[Network, ...] = tuple(
            ipaddress.ip_network(n, strict=False) for n in networks
        )
        self.filtered = XForwardedFiltered(set(self.networks)) if self.networks else None
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
