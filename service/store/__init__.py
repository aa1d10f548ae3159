"""Redis state: connection from a URL, Lua scripts, records, rate limits, users, revocation feed."""

from .store import CheckResult, Store, User

__all__ = ["CheckResult", "Store", "User"]
