"""The F5 Distributed Cloud dialect, black-box: apps, namespaces, roles, tokens and every status code."""

from __future__ import annotations

import base64
import re
from typing import Any

import pymacaroons
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from app_support import KEYRING, ClientFactory, add_user, basic

from service.appkeys import AUTHORITY, STORE
from service.clock import FakeClock
from service.tokens.caveats import TimeCaveat
from service.tokens.identifiers import F5Identifier

# aiohttp-apispec keeps its own state under plain string app keys.

Client = TestClient[web.Request, web.Application]

NS = "/api/web/namespaces"
RFC3339_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")
STD_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")


def apps(ns: str) -> str:
    return f"/api/config/namespaces/{ns}/third_party_applications"


def api(token: str) -> dict[str, str]:
    return {"Authorization": f"APIToken {token}"}


async def access_token(client: Client, user_id: str) -> str:
    """A temporary access token for a user, minted by the app's own authority."""
    authority = client.app[AUTHORITY]
    minted = await authority.mint_temporary(user_id, "access", [TimeCaveat(authority.now() + 3600)])
    return minted.token


async def login(client: Client, name: str) -> dict[str, str]:
    """APIToken headers of an existing user."""
    user = await client.app[STORE].users.get_by_name(name)
    assert user is not None
    return api(await access_token(client, user.id))


async def user(client: Client, name: str) -> tuple[str, dict[str, str]]:
    """Create a user; their id and APIToken headers."""
    uid = await add_user(client, name, f"{name}-password")
    return uid, api(await access_token(client, uid))


async def expect(response: Any, status: int) -> Any:
    """Assert the status (and the dialect's JSON-string errors); return the JSON body."""
    body = await response.json()
    assert response.status == status, body
    assert response.content_type == "application/json"
    if status >= 400:
        assert isinstance(body, str) and body
    return body


def app_body(name: str, **meta: Any) -> dict[str, Any]:
    spec = meta.pop("spec", None)
    body: dict[str, Any] = {"metadata": {"name": name, **meta}}
    if spec is not None:
        body["spec"] = spec
    return body


async def namespace(client: Client, admin: dict[str, str], name: str) -> None:
    r = await client.post(NS, json={"metadata": {"name": name}, "spec": {}}, headers=admin)
    await expect(r, 200)


async def bind(client: Client, admin: dict[str, str], ns: str, username: str, role: str) -> None:
    r = await client.put(f"{NS}/{ns}/role_bindings/{username}", json={"role": role}, headers=admin)
    await expect(r, 200)


@pytest.fixture
async def admin(client: Client) -> dict[str, str]:
    return await login(client, "admin")


@pytest.fixture
async def editor(client: Client, admin: dict[str, str]) -> dict[str, str]:
    """`alice`, editor of namespace `ns1`."""
    await namespace(client, admin, "ns1")
    _, headers = await user(client, "alice")
    await bind(client, admin, "ns1", "alice", "editor")
    return headers


async def generate(client: Client, headers: dict[str, str], ns: str, app: str) -> str:
    r = await client.get(f"{apps(ns)}/{app}/generate_token", headers=headers)
    token: str = (await expect(r, 200))["token"]
    return token


async def check(client: Client, token: str) -> int:
    r = await client.get("/auth/check", headers={"Authorization": f"Bearer {token}"})
    return r.status


# The whole flow ------------------------------------------------------------


async def test_admin_namespace_editor_app_token_check_disable_delete(
    client: Client, admin: dict[str, str], clock: FakeClock
) -> None:
    await namespace(client, admin, "team-a")
    alice_id, alice = await user(client, "alice")
    await bind(client, admin, "team-a", "alice", "editor")

    spec = {
        "api_specification": {"api_definition": {"name": "petstore", "namespace": "team-a"}},
        "enable_api_discovery": {},
        "default_sensitive_data_policy": {},
        "service_discovery": {"name": "k8s", "namespace": "system"},
    }
    r = await client.post(apps("team-a"), json=app_body("blog", spec=spec), headers=alice)
    created = await expect(r, 200)
    assert created["spec"] == spec
    assert created["system_metadata"]["creator_id"] == "alice"

    r = await client.get(f"{apps('team-a')}/blog/generate_token", headers=alice)
    token = (await expect(r, 200))["token"]
    assert r.headers["Cache-Control"] == "no-store"
    assert len(token) <= 1024 and STD_BASE64.fullmatch(token)
    assert base64.b64decode(token, validate=True)[0] == 2  # V2 binary

    # pymacaroons reads and verifies it with the token's root key.
    m = pymacaroons.Macaroon.deserialize(token)
    ident = F5Identifier.parse(m.identifier)
    assert (ident.namespace, ident.app, ident.user_id) == ("team-a", "blog", alice_id)
    root = KEYRING.root_key(KEYRING.key_for_token_id(ident.token_id), "f5", m.identifier_bytes)
    v = pymacaroons.Verifier()
    v.satisfy_exact("namespace = team-a")
    v.satisfy_exact("app = blog")
    v.satisfy_general(lambda c: c.startswith("time < ") and int(c[7:]) > clock.now())
    assert v.verify(m, root)
    assert [c.caveat_id_bytes.decode() for c in m.caveats] == [
        "namespace = team-a",
        "app = blog",
        # No later than the access token it was generated with (f5.token_ttl is a day).
        f"time < {int(clock.now()) + 3600}",
    ]

    r = await client.get("/auth/check", headers={"Authorization": f"Bearer {token}"})
    assert r.status == 200
    assert r.headers["X-Auth-Subject"] == f"usr-{alice_id}"
    assert r.headers["X-Auth-Namespace"] == "team-a"
    assert r.headers["X-Auth-App"] == "blog"

    # Disabling kills its tokens and refuses new ones.
    r = await client.put(
        f"{apps('team-a')}/blog", json=app_body("blog", disable=True), headers=alice
    )
    assert await expect(r, 200) == {}
    assert await check(client, token) == 401
    r = await client.get(f"{apps('team-a')}/blog/generate_token", headers=alice)
    await expect(r, 409)

    # Enabled again: the old token stays dead, a new one works until the app is deleted.
    r = await client.put(f"{apps('team-a')}/blog", json=app_body("blog"), headers=alice)
    await expect(r, 200)
    assert await check(client, token) == 401
    fresh = await generate(client, alice, "team-a", "blog")
    assert await check(client, fresh) == 200

    r = await client.delete(f"{apps('team-a')}/blog", headers=alice)
    assert await expect(r, 200) == {}
    assert await check(client, fresh) == 401
    await expect(await client.get(f"{apps('team-a')}/blog", headers=alice), 404)
    await expect(await client.get(f"{apps('team-a')}/blog/generate_token", headers=alice), 404)

    # A re-created app of the same name does not revive the old tokens.
    await expect(await client.post(apps("team-a"), json=app_body("blog"), headers=alice), 200)
    assert await check(client, fresh) == 401


# Shapes --------------------------------------------------------------------


async def test_get_has_f5_shape(client: Client, editor: dict[str, str], clock: FakeClock) -> None:
    body = app_body(
        "shop", labels={"env": "dev"}, annotations={"team": "a"}, description="3rd-party"
    )
    await expect(await client.post(apps("ns1"), json=body, headers=editor), 200)

    got = await expect(await client.get(f"{apps('ns1')}/shop", headers=editor), 200)
    assert got["metadata"] == {
        "name": "shop",
        "namespace": "ns1",
        "labels": {"env": "dev"},
        "annotations": {"team": "a"},
        "description": "3rd-party",
        "disable": False,
    }
    # Absent one-of groups take their empty default choice.
    assert got["spec"] == {
        "disable_api_definition": {},
        "disable_api_discovery": {},
        "default_sensitive_data_policy": {},
    }
    system = got["system_metadata"]
    assert set(system) >= {"uid", "tenant", "creation_timestamp", "modification_timestamp"}
    assert system["creator_id"] == "alice" and system["creator_class"]
    assert RFC3339_UTC.fullmatch(system["creation_timestamp"])
    assert system["creation_timestamp"] == "2023-11-14T22:13:20Z"  # the fake clock
    assert got["status"] == [] and "replace_form" not in got

    q = "?response_format=GET_RSP_FORMAT_FOR_REPLACE"
    got = await expect(await client.get(f"{apps('ns1')}/shop{q}", headers=editor), 200)
    assert got["replace_form"] == {"metadata": got["metadata"], "spec": got["spec"]}
    q = "?response_format=NOPE"
    await expect(await client.get(f"{apps('ns1')}/shop{q}", headers=editor), 400)

    # A GET response fed back as the PUT body is accepted (system_metadata ignored).
    got["metadata"]["description"] = "changed"
    clock.advance(60)
    r = await client.put(f"{apps('ns1')}/shop", json=got, headers=editor)
    await expect(r, 200)
    again = await expect(await client.get(f"{apps('ns1')}/shop", headers=editor), 200)
    assert again["metadata"]["description"] == "changed"
    assert again["system_metadata"]["uid"] == system["uid"]
    assert again["system_metadata"]["creation_timestamp"] == system["creation_timestamp"]
    assert again["system_metadata"]["modification_timestamp"] == "2023-11-14T22:14:20Z"


async def test_list_has_f5_shape(client: Client, editor: dict[str, str]) -> None:
    listed = await expect(await client.get(apps("ns1"), headers=editor), 200)
    assert listed == {"items": [], "errors": []}
    await expect(await client.post(apps("ns1"), json=app_body("b-app"), headers=editor), 200)
    body = app_body("a-app", disable=True, labels={"k": "v"})
    await expect(await client.post(apps("ns1"), json=body, headers=editor), 200)

    listed = await expect(await client.get(apps("ns1"), headers=editor), 200)
    assert listed["errors"] == []
    assert [i["name"] for i in listed["items"]] == ["a-app", "b-app"]
    item = listed["items"][0]
    assert item["namespace"] == "ns1" and item["tenant"] and item["uid"]
    assert item["disabled"] is True and item["labels"] == {"k": "v"}
    assert item["annotations"] == {} and item["description"] == ""
    assert item["metadata"]["disable"] is True
    assert item["system_metadata"]["uid"] == item["uid"]
    assert item["get_spec"] is None

    listed = await expect(await client.get(apps("ns1") + "?report_fields=", headers=editor), 200)
    assert listed["items"][0]["get_spec"]["disable_api_definition"] == {}


# Roles ---------------------------------------------------------------------


async def test_viewer_reads_only(
    client: Client, admin: dict[str, str], editor: dict[str, str]
) -> None:
    await expect(await client.post(apps("ns1"), json=app_body("app1"), headers=editor), 200)
    _, viewer = await user(client, "victor")
    await bind(client, admin, "ns1", "victor", "viewer")

    await expect(await client.get(apps("ns1"), headers=viewer), 200)
    await expect(await client.get(f"{apps('ns1')}/app1", headers=viewer), 200)
    assert (
        await expect(await client.post(apps("ns1"), json=app_body("app2"), headers=viewer), 403)
        == "no permission on the namespace"
    )
    await expect(
        await client.put(f"{apps('ns1')}/app1", json=app_body("app1"), headers=viewer), 403
    )
    await expect(await client.delete(f"{apps('ns1')}/app1", headers=viewer), 403)
    await expect(await client.get(f"{apps('ns1')}/app1/generate_token", headers=viewer), 403)


async def test_no_binding_is_forbidden_even_for_missing_namespace(
    client: Client, admin: dict[str, str], editor: dict[str, str]
) -> None:
    await expect(await client.post(apps("ns1"), json=app_body("app1"), headers=editor), 200)
    _, mallory = await user(client, "mallory")
    await expect(await client.get(apps("ns1"), headers=mallory), 403)
    await expect(await client.get(f"{apps('ns1')}/app1", headers=mallory), 403)
    await expect(await client.get(f"{apps('ns1')}/app1/generate_token", headers=mallory), 403)
    # Namespace names do not leak to outsiders.
    await expect(await client.get(apps("nowhere"), headers=mallory), 403)

    # A binding in another namespace does not count; a revoked binding no longer does.
    await namespace(client, admin, "ns2")
    await bind(client, admin, "ns2", "mallory", "editor")
    await expect(await client.get(apps("ns1"), headers=mallory), 403)
    await expect(await client.get(apps("ns2"), headers=mallory), 200)
    r = await client.delete(f"{NS}/ns2/role_bindings/mallory", headers=admin)
    await expect(r, 200)
    await expect(await client.get(apps("ns2"), headers=mallory), 403)


async def test_not_found(client: Client, admin: dict[str, str], editor: dict[str, str]) -> None:
    assert (
        await expect(await client.get(apps("nowhere"), headers=admin), 404) == "namespace not found"
    )
    await expect(await client.post(apps("nowhere"), json=app_body("a"), headers=admin), 404)
    for headers in (admin, editor):
        await expect(await client.get(f"{apps('ns1')}/ghost", headers=headers), 404)
        await expect(
            await client.put(f"{apps('ns1')}/ghost", json=app_body("ghost"), headers=headers), 404
        )
        await expect(await client.delete(f"{apps('ns1')}/ghost", headers=headers), 404)
        await expect(await client.get(f"{apps('ns1')}/ghost/generate_token", headers=headers), 404)
    await expect(await client.get("/api/config/namespaces/ns1/nothing_here", headers=editor), 404)


async def test_create_existing_is_a_conflict(client: Client, editor: dict[str, str]) -> None:
    await expect(await client.post(apps("ns1"), json=app_body("app1"), headers=editor), 200)
    await expect(await client.post(apps("ns1"), json=app_body("app1"), headers=editor), 409)


async def test_admin_may_do_everything(client: Client, admin: dict[str, str]) -> None:
    await namespace(client, admin, "ns1")
    await expect(await client.post(apps("ns1"), json=app_body("app1"), headers=admin), 200)
    token = await generate(client, admin, "ns1", "app1")
    assert await check(client, token) == 200
    await expect(await client.put(f"{apps('ns1')}/app1", json=app_body("app1"), headers=admin), 200)
    await expect(await client.delete(f"{apps('ns1')}/app1", headers=admin), 200)


# 401 -----------------------------------------------------------------------


async def test_unauthenticated(client: Client, editor: dict[str, str]) -> None:
    await expect(await client.post(apps("ns1"), json=app_body("app1"), headers=editor), 200)
    f5_token = await generate(client, editor, "ns1", "app1")
    alice = await client.app[STORE].users.get_by_name("alice")
    assert alice is not None
    identity = await client.app[AUTHORITY].mint_temporary(
        alice.id, "identity", [TimeCaveat(client.app[AUTHORITY].now() + 60)]
    )
    for headers in (
        {},
        basic("alice", "alice-password"),  # Basic is not a way in here
        api("not-a-token"),
        {"Authorization": "APIToken"},
        api(f5_token),  # an AuthToken is not an access token
        api(identity.token),
    ):
        r = await client.get(apps("ns1"), headers=headers)
        assert await expect(r, 401) == "not authorized"
    await expect(await client.get(NS, headers={}), 401)

    # Bearer works like APIToken; revoking the user's temporary tokens locks them out.
    bearer = {"Authorization": editor["Authorization"].replace("APIToken", "Bearer")}
    await expect(await client.get(apps("ns1"), headers=bearer), 200)
    await client.app[STORE].temporary.revoke(alice.id, 3600)
    await expect(await client.get(apps("ns1"), headers=editor), 401)


async def test_expired_access_token(
    client: Client, editor: dict[str, str], clock: FakeClock
) -> None:
    await expect(await client.get(apps("ns1"), headers=editor), 200)
    clock.advance(3601)
    await expect(await client.get(apps("ns1"), headers=editor), 401)


# 400 -----------------------------------------------------------------------


BAD_NAMES = ["App", "1app", "app-", "-app", "a_b", "a.b", "a" * 64, "ä", "a b"]
GOOD_NAMES = ["a", "a" * 63, "a-1", "web-frontend-2"]


@pytest.mark.parametrize("name", BAD_NAMES)
async def test_names_must_be_dns_1035_labels(
    client: Client, editor: dict[str, str], name: str
) -> None:
    msg = await expect(await client.post(apps("ns1"), json=app_body(name), headers=editor), 400)
    assert "DNS-1035" in msg
    r = await client.post(NS, json={"metadata": {"name": name}, "spec": {}}, headers=editor)
    await expect(r, 400)


@pytest.mark.parametrize("name", GOOD_NAMES)
async def test_dns_1035_labels_are_accepted(
    client: Client, admin: dict[str, str], name: str
) -> None:
    r = await client.post(NS, json={"metadata": {"name": name}, "spec": {}}, headers=admin)
    await expect(r, 200)
    await expect(await client.post(apps(name), json=app_body(name), headers=admin), 200)
    await expect(await client.get(f"{apps(name)}/{name}", headers=admin), 200)


@pytest.mark.parametrize(
    "path",
    [
        "/api/config/namespaces/Bad_NS/third_party_applications",
        f"/api/config/namespaces/{'n' * 64}/third_party_applications",
    ],
)
async def test_bad_names_in_paths(client: Client, admin: dict[str, str], path: str) -> None:
    await expect(await client.get(path, headers=admin), 400)
    await expect(await client.get(f"{apps('ns1')}/Bad.Name", headers=admin), 400)
    await expect(await client.delete(f"{NS}/Bad_NS", headers=admin), 400)


MALFORMED: list[Any] = [
    [],
    "just a string",
    {},
    {"metadata": {}},
    {"metadata": "app1"},
    {"metadata": {"name": 7}},
    {"metadata": {"name": "app1", "disable": "maybe"}},
    {"metadata": {"name": "app1", "labels": {"k": 1}}},
    {"metadata": {"name": "app1", "annotations": {"k" * 65: "v"}}},
    {"metadata": {"name": "app1", "description": "é" * 601}},  # 1202 bytes
    {"metadata": {"name": "app1", "namespace": "other"}},
    {"metadata": {"name": "app1"}, "spec": {"no_such_choice": {}}},
    {"metadata": {"name": "app1"}, "spec": {"disable_api_definition": {}, "api_specification": {}}},
    {"metadata": {"name": "app1"}, "spec": {"disable_api_discovery": "yes"}},
    {"metadata": {"name": "app1"}, "spec": {"service_discovery": {"namespace": "x"}}},
    {"metadata": {"name": "app1"}, "spec": []},
]


@pytest.mark.parametrize("body", MALFORMED)
async def test_malformed_bodies(client: Client, editor: dict[str, str], body: Any) -> None:
    await expect(await client.post(apps("ns1"), json=body, headers=editor), 400)
    listed = await expect(await client.get(apps("ns1"), headers=editor), 200)
    assert listed["items"] == []


async def test_malformed_json_and_messages(client: Client, editor: dict[str, str]) -> None:
    headers = {**editor, "Content-Type": "application/json"}
    r = await client.post(apps("ns1"), data="{not json", headers=headers)
    assert await expect(r, 400) == "the body is not valid JSON"
    r = await client.post(apps("ns1"), json={"metadata": {}}, headers=editor)
    assert await expect(r, 400) == "missing required value metadata.name"
    r = await client.post(
        apps("ns1"), json={"metadata": {"name": "x"}, "spec": {"oops": {}}}, headers=editor
    )
    assert "spec.oops" in await expect(r, 400)


async def test_replace_must_keep_the_name(client: Client, editor: dict[str, str]) -> None:
    await expect(await client.post(apps("ns1"), json=app_body("app1"), headers=editor), 200)
    r = await client.put(f"{apps('ns1')}/app1", json=app_body("app2"), headers=editor)
    assert "metadata.name" in await expect(r, 400)
    r = await client.put(
        f"{apps('ns1')}/app1", json=app_body("app1", namespace="ns2"), headers=editor
    )
    await expect(r, 400)
    r = await client.put(
        f"{apps('ns1')}/app1", json=app_body("app1", namespace="ns1"), headers=editor
    )
    await expect(r, 200)


async def test_delete_body_is_optional_and_checked(client: Client, editor: dict[str, str]) -> None:
    for name in ("app1", "app2"):
        await expect(await client.post(apps("ns1"), json=app_body(name), headers=editor), 200)
    body = {"fail_if_referred": True, "name": "app1", "namespace": "ns1"}
    await expect(await client.delete(f"{apps('ns1')}/app1", json=body, headers=editor), 200)
    await expect(
        await client.delete(f"{apps('ns1')}/app2", json={"name": "app1"}, headers=editor), 400
    )
    await expect(await client.delete(f"{apps('ns1')}/app2", headers=editor), 200)


# 429 -----------------------------------------------------------------------


async def test_generate_token_is_rate_limited_per_user_across_apps(
    make_client: ClientFactory, clock: FakeClock
) -> None:
    client = await make_client(rate_limits={"generate_token": (2, 60)})
    admin = await login(client, "admin")
    await namespace(client, admin, "ns1")
    await namespace(client, admin, "ns2")
    await expect(await client.post(apps("ns2"), json=app_body("app3"), headers=admin), 200)
    for name in ("app1", "app2"):
        await expect(await client.post(apps("ns1"), json=app_body(name), headers=admin), 200)

    url = f"{apps('ns1')}/app1/generate_token"
    r = await client.get(url, headers=admin)
    await expect(r, 200)
    assert r.headers["RateLimit-Policy"] == '"generate_token";q=2;w=60'
    assert r.headers["RateLimit"].startswith('"generate_token";r=1;')
    await expect(await client.get(url, headers=admin), 200)
    r = await client.get(url, headers=admin)
    assert await expect(r, 429) == "too many requests"
    assert int(r.headers["Retry-After"]) == 30
    assert r.headers["RateLimit"].startswith('"generate_token";r=0;')

    # Per user, whatever the application or namespace; another user is not held back.
    await expect(await client.get(f"{apps('ns1')}/app2/generate_token", headers=admin), 429)
    await expect(await client.get(f"{apps('ns2')}/app3/generate_token", headers=admin), 429)
    _, bob = await user(client, "bob")
    await bind(client, admin, "ns1", "bob", "editor")
    await expect(await client.get(url, headers=bob), 200)

    clock.advance(30)
    await expect(await client.get(url, headers=admin), 200)


async def test_generate_token_is_rate_limited_per_app(make_client: ClientFactory) -> None:
    client = await make_client(rate_limits={"generate_token_app": (3, 60)})
    admin = await login(client, "admin")
    await namespace(client, admin, "ns1")
    await expect(await client.post(apps("ns1"), json=app_body("app1"), headers=admin), 200)
    users = []
    for name in ("u1", "u2"):
        _, headers = await user(client, name)
        await bind(client, admin, "ns1", name, "editor")
        users.append(headers)

    url = f"{apps('ns1')}/app1/generate_token"
    statuses = [(await client.get(url, headers=users[i % 2])).status for i in range(4)]
    assert statuses == [200, 200, 200, 429]
    r = await client.get(url, headers=admin)
    await expect(r, 429)
    assert r.headers["RateLimit-Policy"] == '"generate_token_app";q=3;w=60'
    assert "Retry-After" in r.headers


# Namespaces and role bindings ----------------------------------------------


async def test_namespace_admin_routes(
    client: Client, admin: dict[str, str], clock: FakeClock
) -> None:
    assert await expect(await client.get(NS, headers=admin), 200) == {"items": [], "errors": []}
    r = await client.post(
        NS, json={"metadata": {"name": "ns1", "namespace": ""}, "spec": {}}, headers=admin
    )
    created = await expect(r, 200)
    assert created["metadata"]["name"] == "ns1" and created["metadata"]["namespace"] == ""
    assert created["spec"] == {}
    assert RFC3339_UTC.fullmatch(created["system_metadata"]["creation_timestamp"])
    r = await client.post(NS, json={"metadata": {"name": "ns1"}, "spec": {}}, headers=admin)
    await expect(r, 409)
    await expect(await client.post(NS, json={"spec": {}}, headers=admin), 400)

    listed = await expect(await client.get(NS, headers=admin), 200)
    assert [i["name"] for i in listed["items"]] == ["ns1"]
    assert listed["items"][0]["uid"] == created["system_metadata"]["uid"]
    got = await expect(await client.get(f"{NS}/ns1", headers=admin), 200)
    assert got["system_metadata"]["uid"] == created["system_metadata"]["uid"]

    # Deleting a namespace takes its apps, their tokens and its bindings along.
    _, alice = await user(client, "alice")
    await bind(client, admin, "ns1", "alice", "editor")
    await expect(await client.post(apps("ns1"), json=app_body("app1"), headers=alice), 200)
    token = await generate(client, alice, "ns1", "app1")
    assert await check(client, token) == 200
    await expect(await client.delete(f"{NS}/ns1", headers=admin), 200)
    assert await check(client, token) == 401
    await expect(await client.get(f"{NS}/ns1", headers=admin), 404)
    await expect(await client.delete(f"{NS}/ns1", headers=admin), 404)

    # Re-created: a new uid, and alice's old binding is gone.
    clock.advance(1)
    again = await expect(
        await client.post(NS, json={"metadata": {"name": "ns1"}}, headers=admin), 200
    )
    assert again["system_metadata"]["uid"] != created["system_metadata"]["uid"]
    await expect(await client.get(apps("ns1"), headers=alice), 403)


async def test_namespace_routes_are_for_admins_only(client: Client, editor: dict[str, str]) -> None:
    await expect(await client.get(NS, headers=editor), 403)
    await expect(await client.post(NS, json={"metadata": {"name": "x"}}, headers=editor), 403)
    await expect(await client.get(f"{NS}/ns1", headers=editor), 403)
    await expect(await client.delete(f"{NS}/ns1", headers=editor), 403)
    await expect(await client.get(f"{NS}/ns1/role_bindings", headers=editor), 403)
    r = await client.put(f"{NS}/ns1/role_bindings/alice", json={"role": "viewer"}, headers=editor)
    await expect(r, 403)
    await expect(await client.delete(f"{NS}/ns1/role_bindings/alice", headers=editor), 403)


async def test_role_bindings(client: Client, admin: dict[str, str]) -> None:
    await namespace(client, admin, "ns1")
    await user(client, "alice")
    await user(client, "bob")
    bindings = f"{NS}/ns1/role_bindings"
    assert await expect(await client.get(bindings, headers=admin), 200) == {"items": []}
    await bind(client, admin, "ns1", "bob", "viewer")
    await bind(client, admin, "ns1", "alice", "viewer")
    await bind(client, admin, "ns1", "alice", "editor")  # replaces
    listed = await expect(await client.get(bindings, headers=admin), 200)
    assert listed["items"] == [
        {"user": "alice", "role": "editor"},
        {"user": "bob", "role": "viewer"},
    ]

    await expect(await client.put(f"{bindings}/bob", json={"role": "owner"}, headers=admin), 400)
    await expect(await client.put(f"{bindings}/bob", json={}, headers=admin), 400)
    await expect(
        await client.put(f"{bindings}/nobody", json={"role": "viewer"}, headers=admin), 404
    )
    r = await client.put(f"{NS}/ghost/role_bindings/bob", json={"role": "viewer"}, headers=admin)
    await expect(r, 404)
    await expect(await client.get(f"{NS}/ghost/role_bindings", headers=admin), 404)

    await expect(await client.delete(f"{bindings}/bob", headers=admin), 200)
    await expect(await client.delete(f"{bindings}/bob", headers=admin), 404)
    listed = await expect(await client.get(bindings, headers=admin), 200)
    assert listed["items"] == [{"user": "alice", "role": "editor"}]


# Plumbing ------------------------------------------------------------------


async def test_errors_keep_the_dialect_for_unknown_methods(
    client: Client, editor: dict[str, str]
) -> None:
    r = await client.patch(f"{apps('ns1')}/app1", json={}, headers=editor)
    assert await expect(r, 405)
    r = await client.head(f"{apps('ns1')}/app1/generate_token", headers=editor)
    assert r.status == 405  # a HEAD would mint a token nobody reads


async def test_routes_are_documented(client: Client) -> None:
    spec = await (await client.get("/api/docs/swagger.json")).json()
    paths = spec["paths"]
    base = "/api/config/namespaces/{namespace}/third_party_applications"
    assert set(paths[base]) >= {"get", "post"}
    assert set(paths[base + "/{name}"]) >= {"get", "put", "delete"}
    assert "get" in paths[base + "/{name}/generate_token"]
    assert {"get", "post"} <= set(paths["/api/web/namespaces"])
    assert "put" in paths["/api/web/namespaces/{name}/role_bindings/{user}"]
    assert {"get", "post"} <= set(paths["/auth/check"])
