"""Forwarded headers, trusted only from configured proxy networks.

Two sets of networks use this class: `server.trusted_proxies` for the API
routes, where aiohttp-remotes' XForwardedFiltered picks the client address
out of X-Forwarded-For/-Proto/-Host past the trusted hops (the edge
middleware applies it only when the direct peer itself is a trusted proxy,
so anyone else's headers are ignored), and `auth_check.trusted_proxies` for
`/auth/check`, which reads the headers itself (`client_of`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from aiohttp_remotes import XForwardedFiltered

from service.lru import BoundedLRU

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# Answers remembered per set of proxies (peer addresses, X-Forwarded-For chains).
_REMEMBERED = 4096


class TrustedProxies:
    """The networks whose forwarding headers are believed."""

    def __init__(self, networks: Iterable[str]) -> None:
        self.networks: tuple[Network, ...] = tuple(
            ipaddress.ip_network(n, strict=False) for n in networks
        )
        self.filtered = XForwardedFiltered(set(self.networks)) if self.networks else None
        # Keyed by what peers and clients send: LRU, so a flood evicts only the oldest.
        self._answers: BoundedLRU[str, bool] = BoundedLRU(_REMEMBERED)
        # A chain's client, in a 1-tuple: None (a malformed chain) is an answer too.
        self._clients: BoundedLRU[str, tuple[str | None]] = BoundedLRU(_REMEMBERED)

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
            self._answers.put(address, known)
        return known

    def client_of(self, chain: str) -> str | None:
        """The client of an X-Forwarded-For chain: its last hop outside these networks.

        The leftmost hop when every hop is trusted; None when an entry is not an
        IP address (the header is malformed). Answers are remembered (bounded).
        """
        known = self._clients.get(chain)
        if known is None:
            known = (self._client_of(chain),)
            self._clients.put(chain, known)
        return known[0]

    def _client_of(self, chain: str) -> str | None:
        hops = chain.split(",")
        for i in range(len(hops) - 1, -1, -1):
            hop = hops[i].strip()
            try:
                ip = ipaddress.ip_address(hop)
            except ValueError:
                return None
            if i == 0 or not any(ip in net for net in self.networks):
                # The remaining hops to the left are the client's word: only
                # checked to be addresses, so that a malformed chain is refused.
                for rest in hops[:i]:
                    try:
                        ipaddress.ip_address(rest.strip())
                    except ValueError:
                        return None
                return str(ip)
        return None
