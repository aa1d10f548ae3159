"""The token authority: mints and verifies tokens by joining the pure token core and the store.

`lineage` says what a child token inherits and dies with; `minting` records
and mints; `verifying` parses, checks signatures and caveats, and asks the
store last; `base` holds what both halves read.
"""

from __future__ import annotations

from .base import F5_LOCATION, F5_PURPOSE, ONEZONE_PURPOSE, Identifier, Kind
from .lineage import MAX_ANCESTORS, Lineage, Parent, check_time_range, inherit
from .minting import Minted, Minting
from .verifying import Accept, F5Verification, OnezoneVerification, Verifying

__all__ = [
    "F5_LOCATION",
    "F5_PURPOSE",
    "MAX_ANCESTORS",
    "ONEZONE_PURPOSE",
    "Accept",
    "Authority",
    "F5Verification",
    "Identifier",
    "Kind",
    "Lineage",
    "Minted",
    "OnezoneVerification",
    "Parent",
    "check_time_range",
    "inherit",
]


class Authority(Minting, Verifying):
    """Mints and verifies Onezone and F5 tokens under one key ring and store."""
