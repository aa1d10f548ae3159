"""Fuzzing every route of the real app: only 4xx, in the route's dialect, and nothing unhandled.

The app comes from the real factory on the embedded store, through aiohttp's
in-process test client. Requests mix valid credentials, tokens, ids and names
(so that fuzzing gets past authentication) with random and edited ones.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

import app_support
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from fuzz_strategies import (
    JSON,
    STRUCTURED_CAVEAT,
    caveat_objects,
    edited,
    edited_caveat_json,
    extreme_bodies,
    fuzz_settings,
)
from hypothesis import given
from hypothesis import strategies as st
from reliability_support import API, figure
from yarl import URL

from service.app import create_app
from service.clock import FakeClock
from service.web.dialects import F5_PREFIXES

# Hypothesis's failure report imports a module that warns; keep failures readable.
pytestmark = [
    pytest.mark.filterwarnings("ignore:mypy_extensions.TypedDict is deprecated:DeprecationWarning"),
    pytest.mark.timeout(180),
]
NOW = 1_700_000_000
PASSWORD = "alice-password"
Client = TestClient[web.Request, web.Application]
PARAM = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")


@dataclass
class Env:
    """The app under fuzz, its principals and their tokens, and what the fuzz saw."""

    client: Client
    caplog: pytest.LogCaptureFixture
    values: dict[str, str] = field(default_factory=dict)
    routes: list[tuple[str, str]] = field(default_factory=list)
    cases: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    seen_logs: int = 0

    def token_values(self) -> list[str]:
        return [v for k, v in self.values.items() if k.endswith("token")]


def _basic(user: str, password: str) -> dict[str, str]:
    return dict(app_support.basic(user, password))


REFRESH_EVERY = 200
APPS = "/api/config/namespaces/ns1/third_party_applications"


async def _refresh(client: Client, values: dict[str, str], round_: int) -> None:
    """Fresh tokens (and the namespace, binding and app) after the fuzz may have revoked them.

    Each step that fails keeps the previous value: the fuzz goes on either way.
    """
    conf = app_support
    alice = _basic("alice", PASSWORD)
    admin_basic = _basic("admin", conf.ADMIN_PASSWORD)

    async def call(method: str, path: str, body: Any, headers: dict[str, str]) -> Any:
        resp = await client.request(method, path, json=body, headers=headers)
        return await resp.json() if resp.status in (200, 201) else None

    cavs = [{"type": "time", "validUntil": NOW + 3600}]
    steps = [
        ("alice_named", "POST", f"{API}/user/tokens/named", {"name": f"fuzz-{round_}"}, alice),
        ("alice_temporary", "POST", f"{API}/user/tokens/temporary", {"caveats": cavs}, alice),
        ("admin_named", "POST", f"{API}/user/tokens/named", {"name": f"adm-{round_}"}, admin_basic),
    ]
    for key, method, path, body, headers in steps:
        got = await call(method, path, body, headers)
        if got is not None:
            values[f"{key}_token"] = got["token"]
            if "tokenId" in got:
                values[f"{key}_id"] = got["tokenId"]
    admin_auth = {"Authorization": f"APIToken {values['admin_named_token']}"}
    await call("POST", "/api/web/namespaces", {"metadata": {"name": "ns1"}}, admin_auth)
    role = {"role": "editor"}
    await call("PUT", "/api/web/namespaces/ns1/role_bindings/alice", role, admin_auth)
    await call("POST", APPS, {"metadata": {"name": "app1"}, "spec": {}}, admin_auth)
    await call("PUT", f"{APPS}/app1", {"metadata": {"name": "app1"}, "spec": {}}, admin_auth)
    alice_f5 = {"Authorization": f"APIToken {values['alice_named_token']}"}
    generated = await call("GET", f"{APPS}/app1/generate_token", None, alice_f5)
    if generated is not None:
        values["f5_token"] = generated["token"]


async def _setup(client: Client) -> dict[str, str]:
    await app_support.add_user(client, "alice", PASSWORD)
    values: dict[str, str] = {"alice": "alice", "admin": "admin", "ns": "ns1", "app": "app1"}
    await _refresh(client, values, 0)
    assert set(SYMBOLS) <= set(values), values
    return values


@pytest.fixture
async def env(
    aiohttp_client: Any, caplog: pytest.LogCaptureFixture, request: pytest.FixtureRequest
) -> AsyncIterator[Env]:
    settings = app_support.make_settings(
        rate_limits={"mint": (1_000_000, 60), "generate_token": (1_000_000, 60)}
    )
    app = create_app(settings, clock=FakeClock(NOW), keyring=app_support.KEYRING)
    client: Client = await aiohttp_client(app)
    caplog.set_level(logging.WARNING)
    state = Env(client, caplog, await _setup(client))
    state.seen_logs = len(caplog.records)
    for resource in app.router.resources():
        info = resource.get_info()
        if "directory" in info:  # static files: nothing to fuzz
            continue
        for route in resource:
            if route.method != "HEAD":
                state.routes.append((route.method, resource.canonical))
    yield state
    figure("fuzz", f"cases: {request.node.name}", state.cases)
    figure(
        "fuzz", f"statuses: {request.node.name}", json.dumps(dict(sorted(state.statuses.items())))
    )


def _check(env: Env, method: str, path: str, status: int, content_type: str, body: bytes) -> None:
    """4xx in the dialect of the path; never 5xx; no unhandled error in the logs."""
    env.cases += 1
    env.statuses[status] = env.statuses.get(status, 0) + 1
    records = env.caplog.records[env.seen_logs :]
    env.seen_logs = len(env.caplog.records)
    unhandled = [r for r in records if "unhandled error" in r.getMessage()]
    assert not unhandled, (method, path, unhandled[0].getMessage())
    assert status < 500, (method, path, status, body[:300])
    if status < 400:
        return
    if path.startswith("/auth/check"):
        assert content_type == "text/plain", (path, status, content_type, body[:200])
        return
    assert content_type == "application/json", (method, path, status, content_type)
    parsed = json.loads(body)
    if path.startswith(F5_PREFIXES):
        assert isinstance(parsed, str) and parsed, (path, parsed)
    else:
        assert set(parsed) == {"error"}, parsed
        assert isinstance(parsed["error"]["id"], str) and parsed["error"]["id"]
        assert isinstance(parsed["error"]["description"], str)


async def _send(
    env: Env,
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    content_type: str | None = None,
    query: dict[str, str] | None = None,
) -> None:
    hdrs = dict(headers or {})
    if content_type is not None:
        hdrs["Content-Type"] = content_type
    url = URL(path + (("?" + urlencode(query)) if query else ""), encoded=True)
    resp = await env.client.request(method, url, headers=hdrs, data=body)
    raw = await resp.read()
    resp.release()
    _check(env, method, resp.url.path, resp.status, resp.content_type, raw)
    if env.cases % REFRESH_EVERY == 0:
        await _refresh(env.client, env.values, env.cases)


# ---------------------------------------------------------------- strategies

SYMBOLS = [
    "alice_named_id",
    "admin_named_id",
    "alice_named_token",
    "alice_temporary_token",
    "admin_named_token",
    "f5_token",
    "ns",
    "app",
    "alice",
    "admin",
]
TEXT = st.text(max_size=40)
HEADER_TEXT = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=120)


@st.composite
def values(draw: st.DrawFn, env: Env) -> str:
    """A path or body value: a real id, name or token, an edited one, or noise."""
    choice = draw(st.integers(0, 3))
    if choice == 0:
        return draw(TEXT)
    real = env.values[draw(st.sampled_from(SYMBOLS))]
    if choice == 1:
        return real
    return str(draw(edited([real], st.text(min_size=1, max_size=2))))


@st.composite
def auth_headers(draw: st.DrawFn, env: Env) -> dict[str, str]:
    """No credentials, good ones of either user in any accepted form, or bad ones."""
    kind = draw(st.integers(0, 9))
    v = env.values
    if kind == 0:
        return {}
    if kind == 1:
        return {"X-Auth-Token": v["alice_named_token"]}
    if kind == 2:
        return {"Authorization": f"Bearer {v['alice_temporary_token']}"}
    if kind == 3:
        return _basic("alice", PASSWORD)
    if kind == 4:
        return {"Authorization": f"APIToken {v['admin_named_token']}"}
    if kind == 5:
        return _basic("admin", app_support.ADMIN_PASSWORD)
    if kind == 6:
        return {"Authorization": f"APIToken {v['alice_named_token']}"}
    if kind == 7:
        token = draw(edited(env.token_values(), st.text(min_size=1, max_size=2)))
        return {"X-Auth-Token": "".join(c for c in token if 0x20 <= ord(c) < 0x7F) or "x"}
    if kind == 8:
        scheme = draw(st.sampled_from(["Bearer", "APIToken", "Basic", "Macaroon", "Digest", ""]))
        return {"Authorization": f"{scheme} {draw(HEADER_TEXT)}".strip() or "x"}
    # Wrong passwords only for users nobody logs in as, so lockouts never hide the fuzz.
    user = draw(st.sampled_from(["nobody", "mallory"]))
    return _basic(user, draw(st.text(max_size=12)))


CONTENT_TYPES = st.sampled_from(
    [
        "application/json",
        "application/json",
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/json; charset=latin-1",
    ]
)


@st.composite
def bodies(draw: st.DrawFn, env: Env, fields: st.SearchStrategy[dict[str, Any]]) -> bytes | None:
    """A request body: none, JSON shaped like the route's, any JSON, or not JSON at all."""
    kind = draw(st.integers(0, 5))
    if kind == 0:
        return None
    if kind <= 3:
        return json.dumps(draw(fields)).encode()
    if kind == 4:
        return json.dumps(draw(JSON)).encode()
    return draw(st.binary(max_size=200))


TIME_CAVEAT = st.integers(NOW - 10, NOW + 10**6).map(lambda t: {"type": "time", "validUntil": t})
CAVEAT_JSON = st.one_of(
    TIME_CAVEAT, edited_caveat_json(), caveat_objects(), STRUCTURED_CAVEAT, JSON
)


def mostly(valid: st.SearchStrategy[Any], other: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Usually a valid value, sometimes anything: enough valid bodies to reach the handlers."""
    return st.sampled_from([True, True, True, False]).flatmap(lambda v: valid if v else other)


def onezone_fields(env: Env, kind: str = "any") -> st.SearchStrategy[dict[str, Any]]:
    """Bodies shaped like an Onezone route's, each field usually valid, sometimes anything."""
    anything = JSON | values(env)
    name = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_ .()-]{0,30}[A-Za-z0-9_]", fullmatch=True)
    token_type = st.sampled_from([{"accessToken": {}}, {"identityToken": {}}])
    caveat_list = mostly(
        st.tuples(TIME_CAVEAT, st.lists(CAVEAT_JSON, max_size=2)).map(lambda t: [t[0], *t[1]]),
        st.lists(CAVEAT_JSON, max_size=3) | anything,
    )
    token = mostly(st.sampled_from(env.token_values()), values(env) | anything)
    fields: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
        "named": (
            {"name": mostly(name, st.text(max_size=130) | anything)},
            {
                "type": mostly(token_type, anything),
                "caveats": caveat_list,
                "customMetadata": anything,
                "revoked": mostly(st.booleans(), anything),
            },
        ),
        "temporary": (
            {"caveats": caveat_list},
            {"type": mostly(token_type, anything)},
        ),
        "update": ({}, {"customMetadata": anything, "revoked": mostly(st.booleans(), anything)}),
        "token": ({"token": token}, {}),
        "confine": ({"token": token, "caveats": caveat_list}, {}),
        "verify": (
            {"token": token},
            {
                "peerIp": mostly(st.ip_addresses().map(str), anything),
                "service": mostly(st.sampled_from(["ozw-onezone", "opw-x"]), anything),
                "consumer": mostly(st.sampled_from(["usr-x", "grp-y"]), anything),
                "interface": mostly(st.sampled_from(["rest", "oneclient", "ftp"]), anything),
                "allowDataAccessCaveats": mostly(st.booleans(), anything),
            },
        ),
    }
    shapes = {k: st.fixed_dictionaries(r, optional=o) for k, (r, o) in fields.items()}
    shape = shapes[kind] if kind in shapes else st.one_of(*shapes.values())
    extra = st.dictionaries(st.text(max_size=8), anything, max_size=1)
    return st.tuples(shape, mostly(st.just({}), extra)).map(lambda t: {**t[1], **t[0]})


def f5_fields(env: Env, kind: str = "any") -> st.SearchStrategy[dict[str, Any]]:
    """Bodies shaped like an F5 route's: an app or namespace, a role, a delete request."""
    anything = JSON | values(env)
    name = st.from_regex(r"[a-z]([-a-z0-9]{0,10}[a-z0-9])?", fullmatch=True)
    label = st.text(min_size=1, max_size=20)
    metadata = st.fixed_dictionaries(
        {"name": mostly(name, values(env) | anything)},
        optional={
            "namespace": mostly(st.sampled_from(["", "ns1"]), anything),
            "labels": mostly(st.dictionaries(label, TEXT, max_size=2), anything),
            "annotations": mostly(st.dictionaries(label, label, max_size=2), anything),
            "description": mostly(TEXT, anything),
            "disable": mostly(st.booleans(), anything),
        },
    )
    choices = st.sampled_from(
        [
            "disable_api_definition",
            "api_specification",
            "disable_api_discovery",
            "enable_api_discovery",
            "default_sensitive_data_policy",
            "sensitive_data_policy",
            "service_discovery",
        ]
    )
    spec = mostly(
        st.dictionaries(choices, st.just({}), max_size=2),
        st.dictionaries(choices | TEXT, st.just({}) | anything, max_size=3),
    )
    extra = st.dictionaries(TEXT, anything, max_size=1)
    shapes = {
        "object": st.fixed_dictionaries(
            {"metadata": mostly(metadata, anything)}, optional={"spec": mostly(spec, anything)}
        ),
        "role": st.fixed_dictionaries(
            {"role": mostly(st.sampled_from(["editor", "viewer"]), anything)}
        ),
        "delete": st.fixed_dictionaries(
            {},
            optional={
                "name": mostly(st.just("app1"), name | anything),
                "namespace": mostly(st.just("ns1"), name | anything),
                "fail_if_referred": mostly(st.booleans(), anything),
            },
        ),
    }
    shape = shapes[kind] if kind in shapes else st.one_of(*shapes.values())
    return st.tuples(shape, mostly(st.just({}), extra)).map(lambda t: {**t[1], **t[0]})


def _fill(canonical: str, draw_value: Any) -> str:
    return PARAM.sub(lambda m: quote(str(draw_value(m.group(1))), safe=""), canonical)


QUERY = st.dictionaries(
    st.sampled_from(["response_format", "report_fields", "label_filter"]) | TEXT,
    st.sampled_from(["GET_RSP_FORMAT_FOR_REPLACE", "GET_RSP_FORMAT_DEFAULT", ""]) | TEXT,
    max_size=2,
)

# ---------------------------------------------------------------- tests


@fuzz_settings(2000)
@given(data=st.data())
async def test_fuzz_every_route(env: Env, data: st.DataObject) -> None:
    method, canonical = data.draw(st.sampled_from(env.routes), label="route")
    path = _fill(canonical, lambda _name: data.draw(values(env), label="param"))
    fields = f5_fields(env) if canonical.startswith(F5_PREFIXES) else onezone_fields(env)
    await _send(
        env,
        method,
        path,
        headers=data.draw(auth_headers(env), label="auth"),
        body=data.draw(bodies(env, fields), label="body"),
        content_type=data.draw(CONTENT_TYPES | st.none(), label="content type"),
        query=data.draw(QUERY, label="query"),
    )


ONEZONE_BODY_ROUTES = [
    ("POST", f"{API}/user/tokens/named", "named"),
    ("POST", f"{API}/user/tokens/temporary", "temporary"),
    ("PATCH", f"{API}/tokens/named/{{alice_named_id}}", "update"),
    ("POST", f"{API}/tokens/examine", "token"),
    ("POST", f"{API}/tokens/confine", "confine"),
    ("POST", f"{API}/tokens/verify_access_token", "verify"),
    ("POST", f"{API}/tokens/verify_identity_token", "verify"),
    ("POST", f"{API}/user/client_tokens", "none"),
]


@fuzz_settings(1000)
@given(data=st.data())
async def test_fuzz_onezone_bodies(env: Env, data: st.DataObject) -> None:
    method, template, kind = data.draw(st.sampled_from(ONEZONE_BODY_ROUTES), label="route")
    path = _fill(template, lambda name: env.values[name])
    body = data.draw(onezone_fields(env, kind), label="body")
    await _send(
        env,
        method,
        path,
        headers=data.draw(auth_headers(env), label="auth"),
        body=json.dumps(body).encode(),
        content_type="application/json",
    )


F5_BODY_ROUTES = [
    ("POST", "/api/config/namespaces/{ns}/third_party_applications", "object"),
    ("PUT", "/api/config/namespaces/{ns}/third_party_applications/{app}", "object"),
    ("DELETE", "/api/config/namespaces/{ns}/third_party_applications/{app}", "delete"),
    ("POST", "/api/web/namespaces", "object"),
    ("PUT", "/api/web/namespaces/{ns}/role_bindings/{alice}", "role"),
]


@fuzz_settings(500)
@given(data=st.data())
async def test_fuzz_f5_bodies(env: Env, data: st.DataObject) -> None:
    method, template, kind = data.draw(st.sampled_from(F5_BODY_ROUTES), label="route")
    path = _fill(template, lambda name: env.values[name])
    body = data.draw(f5_fields(env, kind), label="body")
    token = env.values[data.draw(st.sampled_from(["admin_named_token", "alice_named_token"]))]
    await _send(
        env,
        method,
        path,
        headers={"Authorization": f"APIToken {token}"},
        body=json.dumps(body).encode(),
        content_type="application/json",
    )


FORWARDED = st.sampled_from(
    [
        "X-Forwarded-For",
        "X-Forwarded-Method",
        "X-Forwarded-Uri",
        "X-Forwarded-Proto",
        "X-Forwarded-Host",
        "X-Original-URI",
        "X-Original-URL",
        "X-Original-Method",
        "X-Real-IP",
        "X-Request-Id",
        "X-F5-Api-Token",
        "Forwarded",
    ]
)


@fuzz_settings(500)
@given(data=st.data())
async def test_fuzz_headers(env: Env, data: st.DataObject) -> None:
    path = data.draw(
        st.sampled_from(
            ["/auth/check", "/auth/check/some/path", f"{API}/user", "/api/web/namespaces"]
        ),
        label="path",
    )
    method = data.draw(st.sampled_from(["GET", "POST", "PUT", "DELETE", "OPTIONS"]), label="method")
    headers = data.draw(auth_headers(env), label="auth")
    extra = data.draw(
        st.dictionaries(
            FORWARDED,
            HEADER_TEXT | st.sampled_from(["127.0.0.1", "10.0.0.1, 127.0.0.1", "GET", "/x?y=1"]),
            max_size=4,
        ),
        label="forwarding headers",
    )
    if "X-F5-Api-Token" in extra and data.draw(st.booleans()):
        extra["X-F5-Api-Token"] = env.values["f5_token"]
    await _send(env, method, path, headers={**headers, **extra})


BASE_BODIES: list[dict[str, Any]] = [
    {"name": "deep", "caveats": [{"type": "time", "validUntil": NOW + 60}], "customMetadata": {}},
    {"token": "x", "caveats": [], "peerIp": "10.0.0.1", "interface": "rest"},
    {"customMetadata": {"a": 1}, "revoked": False},
    {"metadata": {"name": "app2", "labels": {}}, "spec": {}},
    {"role": "editor"},
]


@fuzz_settings(600)
@given(data=st.data())
async def test_fuzz_extreme_json_bodies_on_every_route(env: Env, data: st.DataObject) -> None:
    """Nesting and numbers past every decoder's limits, with and without credentials:
    4xx in the dialect, and no ERROR in the log (a RecursionError or int() ValueError was a 500)."""
    body_routes = [(m, t) for m, t, _ in (*ONEZONE_BODY_ROUTES, *F5_BODY_ROUTES)]
    routes = st.sampled_from(body_routes) | st.sampled_from(env.routes)
    method, canonical = data.draw(routes, label="route")
    if method == "*":  # a catch-all route: a real method (aiohttp's parser refuses "*")
        method = data.draw(st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE"]))
    path = _fill(canonical, lambda name: env.values.get(name, "x"))
    body = data.draw(extreme_bodies(data.draw(st.sampled_from(BASE_BODIES))), label="body")
    before = len(env.caplog.records)
    await _send(
        env,
        method,
        path,
        headers=data.draw(auth_headers(env), label="auth"),
        body=body,
        content_type="application/json",
    )
    errors = [r for r in env.caplog.records[before:] if r.levelno >= logging.ERROR]
    assert not errors, (method, path, errors[0].getMessage(), errors[0].exc_info)
