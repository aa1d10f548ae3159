"""What minting and verifying share: the key ring, the store, the clock, and the memory of tokens seen."""

from __future__ import annotations

import functools
from typing import Any, Literal

from service.clock import Clock
from service.lru import BoundedLRU
from service.settings import Settings
from service.store import Store
from service.tokens import caveats, encoding
from service.tokens.caveats import AppCaveat, NamespaceCaveat, TimeCaveat
from service.tokens.identifiers import F5Identifier, OnezoneIdentifier
from service.tokens.keys import KeyRing
from service.tokens.macaroon import Macaroon
from service.tokens.verifier import Context, Verified, Verifier

Kind = Literal["access", "identity"]
Identifier = OnezoneIdentifier | F5Identifier
ONEZONE_PURPOSE = "onezone"
F5_PURPOSE = "f5"
F5_LOCATION = "f5xc"
_PARSED_CACHE_SIZE = 10_000
# Tokens parsed but not yet verified, waiting for their signature check (which
# in practice follows in the same request): a forged token is held only here,
# and this is small, so a flood of forgeries costs no memory to speak of.
_UNVERIFIED_SIZE = 256

# Caveats whose truth depends on nothing but the clock, once the token's
# signature is good: the time limit, and the F5 namespace and app, which are
# checked against the token's own identifier.
CLOCK_ONLY = {
    ONEZONE_PURPOSE: frozenset({TimeCaveat}),
    F5_PURPOSE: frozenset({TimeCaveat, NamespaceCaveat, AppCaveat}),
}


class GoodSignature:
    """A parsed token whose signature was good under `purpose`, and its reusable verification.

    `verified` is set when every caveat is in `CLOCK_ONLY` for the purpose: then, until
    `until`, checking the caveats again would give the same answer.
    """

    __slots__ = ("macaroon", "purpose", "until", "verified")

    def __init__(
        self, macaroon: Macaroon, purpose: str, verified: Verified | None, until: int | None
    ) -> None:
        self.macaroon = macaroon
        self.purpose = purpose
        self.verified = verified
        self.until = until

    def reusable(self, now: int) -> Verified | None:
        """The remembered verification, when it still holds at `now`."""
        if self.verified is not None and (self.until is None or now < self.until):
            return self.verified
        return None


class AuthorityBase:
    """The parts of the authority that minting and verifying both read."""

    def __init__(
        self,
        settings: Settings,
        keyring: KeyRing,
        store: Store,
        clock: Clock,
        verifier: Verifier | None = None,
    ) -> None:
        self.settings = settings
        self.keyring = keyring
        self.store = store
        self.clock = clock
        self.verifier = verifier or Verifier(
            parse=functools.lru_cache(maxsize=4096)(caveats.parse_text)
        )
        self.domain = settings.onezone.domain
        # Read before the kind is known: the larger of the two kinds' limits.
        self._max_token_size = max(settings.onezone.max_token_size, encoding.F5_MAX_LENGTH)
        # Tokens are presented again and again: the parse of a token whose
        # signature was good is remembered (bounded LRU; a token enters only
        # once verified). Caveats are checked every time, except for a token
        # whose caveats depend on nothing but the clock (see `GoodSignature`).
        self._parsed: BoundedLRU[str, tuple[Macaroon, Identifier]] = BoundedLRU(_PARSED_CACHE_SIZE)
        self._unverified: BoundedLRU[int, tuple[str, Macaroon, Identifier]] = BoundedLRU(
            _UNVERIFIED_SIZE
        )
        # Keyed by the id of the parsed macaroon; an entry counts only for that very object.
        self._good_signatures: BoundedLRU[int, GoodSignature] = BoundedLRU(_PARSED_CACHE_SIZE)

    def now(self) -> int:
        """The clock's time in whole seconds."""
        return int(self.clock.now())

    def context(self, **fields: Any) -> Context:
        """A verification context at the current time."""
        return Context(now=self.now(), **fields)
