"""/metrics counts what the service does: tokens minted per kind, verifications per result."""

from __future__ import annotations

import base64
import time
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families

from service import settings as settings_mod
from service.app import create_app

Client = TestClient[web.Request, web.Application]
PASSWORD = "metrics-admin-password"
BASIC = {"Authorization": "Basic " + base64.b64encode(f"admin:{PASSWORD}".encode()).decode()}
OZ = "/api/v3/onezone"


@pytest.fixture
async def client(aiohttp_client: Any, monkeypatch: pytest.MonkeyPatch) -> Client:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    settings = settings_mod.load(environ={"TOKEN_SERVICE_ADMIN_PASSWORD": PASSWORD})
    return await aiohttp_client(create_app(settings))  # type: ignore[no-any-return]


async def counters(client: Client) -> dict[tuple[str, str], float]:
    """(metric, label value) -> value, for the two token counters."""
    text = await (await client.get("/metrics")).text()
    out: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "tokens_minted_total":
                out[(s.name, s.labels["kind"])] = s.value
            elif s.name == "token_verifications_total":
                out[(s.name, s.labels["result"])] = s.value
    return out


async def test_mints_and_verifications_are_counted(client: Client) -> None:
    before = await counters(client)

    async def ok(method: str, path: str, **kwargs: Any) -> Any:
        response = await client.request(method, path, **kwargs)
        assert response.status < 300, await response.text()
        return await response.json() if response.content_length else None

    token = (await ok("POST", f"{OZ}/user/tokens/named", json={"name": "t1"}, headers=BASIC))[
        "token"
    ]
    await ok("POST", f"{OZ}/user/client_tokens", headers=BASIC)
    until = int(time.time()) + 600
    await ok(
        "POST",
        f"{OZ}/user/tokens/temporary",
        json={"caveats": [{"type": "time", "validUntil": until}]},
        headers=BASIC,
    )
    admin = {"Authorization": "APIToken " + token}
    await ok("POST", "/api/web/namespaces", json={"metadata": {"name": "ns"}}, headers=admin)
    apps = "/api/config/namespaces/ns/third_party_applications"
    await ok("POST", apps, json={"metadata": {"name": "app"}}, headers=admin)
    await ok("GET", f"{apps}/app/generate_token", headers=admin)

    await ok("POST", f"{OZ}/tokens/verify_access_token", json={"token": token})
    bad = await client.post(f"{OZ}/tokens/verify_access_token", json={"token": token + "x"})
    assert bad.status == 400
    assert (await client.get("/auth/check", headers=admin)).status == 200
    assert (await client.get("/auth/check", headers={"X-Auth-Token": "garbage"})).status == 401

    after = await counters(client)

    def delta(name: str, label: str) -> float:
        return after.get((name, label), 0.0) - before.get((name, label), 0.0)

    assert delta("tokens_minted_total", "named") == 2
    assert delta("tokens_minted_total", "temporary") == 1
    assert delta("tokens_minted_total", "f5") == 1
    assert delta("token_verifications_total", "valid") == 2
    assert delta("token_verifications_total", "invalid") == 2
