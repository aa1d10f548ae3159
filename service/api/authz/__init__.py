"""`/auth/check`: the sidecar's authorization check (`check`), and how it reads the request it authorises (`describe`)."""

from __future__ import annotations

from .check import AuthCheck, setup_routes
from .describe import Describer

__all__ = ["AuthCheck", "Describer", "setup_routes"]
