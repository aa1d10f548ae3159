"""Redis state: connection from a URL, Lua scripts, records, rate limits, users, revocation feed."""

from .records import MAX_EXPIRY, CheckResult, Foreign, User, lineage_fields
from .store import Store

__all__ = ["MAX_EXPIRY", "CheckResult", "Foreign", "Store", "User", "lineage_fields"]
