"""What one request learns about itself: its state at the edge and who is calling.

A leaf of the web layer: the app keys and the authentication both name these
types, and neither imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from service.authority import OnezoneVerification, Parent
from service.tokens.caveats import AnyCaveat, InterfaceCaveat, TimeCaveat

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


@dataclass(slots=True)
class RequestState:
    """What the edge middleware and the authentication learn about one request.

    One object set once per request: looking up a missing key of an aiohttp
    request raises and catches a KeyError, which costs more than this.
    """

    request_id: str
    # The direct peer is a trusted proxy whose forwarding headers are believed
    # (server.trusted_proxies on the API routes, auth_check's on /auth/check).
    trusted_proxy: bool = False
    principal: Principal | None = None
    subject: str | None = None
    # The user an admin acts for (their tokens), when not themselves.
    on_behalf_of: str | None = None
