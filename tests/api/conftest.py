"""The real app from the real factory, with test settings, an injected clock and fixed keys."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from app_support import KEYRING, ClientFactory, make_settings

from service.app import create_app
from service.clock import FakeClock
from service.settings import Settings


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1_700_000_000.0)


@pytest.fixture
def make_client(aiohttp_client: Any, clock: FakeClock) -> ClientFactory:
    """Build a client of the real app: `await make_client(settings=..., **overrides)`."""

    async def factory(
        settings: Settings | None = None, **overrides: Any
    ) -> TestClient[web.Request, web.Application]:
        app = create_app(settings or make_settings(**overrides), clock=clock, keyring=KEYRING)
        return await aiohttp_client(app)  # type: ignore[no-any-return]

    return factory


@pytest.fixture
async def client(make_client: ClientFactory) -> TestClient[web.Request, web.Application]:
    """The app on the embedded store with default test settings."""
    return await make_client()
