"""The URL prefixes of the service's route families, named once."""

from __future__ import annotations

ONEZONE_PREFIX = "/api/v3/onezone"
"""Every route of the Onezone dialect lives under this prefix."""

AUTH_CHECK_PATH = "/auth/check"
"""The sidecar's authorization check; Envoy appends the original path to it."""
