"""The app under test: test settings, fixed keys, Basic headers and users made in the store.

Shared by tests/api and tests/reliability (plain imports: `conftest` is a
different module in every test directory, so nothing imports from it).
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from service import settings as settings_mod
from service.appkeys import STORE
from service.settings import Settings
from service.tokens.keys import KeyRing, SigningKey

ADMIN_PASSWORD = "admin-password"
KEYRING = KeyRing(
    [
        SigningKey("k1", b"\x01" * 32, "active"),
        SigningKey("k0", b"\x02" * 32, "verify"),
    ]
)

ClientFactory = Callable[..., Awaitable[TestClient[web.Request, web.Application]]]


def basic(user: str, password: str) -> dict[str, str]:
    """An Authorization header for HTTP Basic."""
    raw = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def make_settings(redis_url: str = "memory://", **overrides: Any) -> Settings:
    """Test settings: defaults with a known admin password and the given overrides.

    Overrides are `section__key=value` (e.g. `onezone__max_token_size=512`) or
    whole sections; `rate_limits={...}` replaces named policies.
    """
    base = settings_mod.load(environ={})
    base = base.replace(
        redis__url=redis_url,
        admin__password=settings_mod.Secret(ADMIN_PASSWORD),
        server__client_max_size=16384,
    )
    for name, (limit, period) in overrides.pop("rate_limits", {}).items():
        overrides[f"rate_limits__{name}"] = settings_mod.RateLimitPolicy(name, limit, period)
    return base.replace(**overrides)


async def add_user(
    client: TestClient[web.Request, web.Application], name: str, password: str, admin: bool = False
) -> str:
    """Create a user directly in the app's store; returns the user id."""
    user = await client.app[STORE].users.create(name, password, admin=admin)
    return user.id
