"""Redis state: connection from a URL, Lua scripts, records, rate limits, users, revocation feed."""

from .store import CheckResult, Foreign, Store, User, lineage_fields

__all__ = ["CheckResult", "Foreign", "Store", "User", "lineage_fields"]
