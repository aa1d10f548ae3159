"""Generated requests (schemathesis) against a live service, checked against its own API description.

Every operation of the spec is exercised with examples, boundary values
(coverage phase) and random data, valid and invalid; each response must not
be a 5xx and must match the spec: a documented status code, content type,
headers and body.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig
from test_serve import ADMIN_PASSWORD, ServiceProcess

from service.api.f5xc_schemas import EXAMPLE_APP, EXAMPLE_NAMESPACE
from service.paths import ONEZONE_PREFIX as ONEZONE
from service.web.dialects import F5_PREFIXES

MIN_CASES = 500
UNLIMITED = "1000000000"

# Derandomized: the same cases every run. Examples and the coverage phase's
# boundary values come from the spec; max-examples bounds the random phase.
CONFIG = """
[cache]
enabled = false

[generation]
max-examples = 25
database = "none"
deterministic = true
no-shrink = true
# Credentials come from the test, so the spec's security schemes are not fuzzed.
with-security-parameters = false

[phases.examples]
enabled = true
[phases.coverage]
enabled = true
[phases.fuzzing]
enabled = true
[phases.stateful]
enabled = false

[checks]
enabled = false
not_a_server_error.enabled = true
status_code_conformance.enabled = true
content_type_documented.enabled = true
response_headers_conformance.enabled = true
response_schema_conformance.enabled = true
"""


@schemathesis.check
def content_type_documented(ctx: Any, response: Any, case: Any) -> bool | None:
    """A body comes with one of its operation's `produces` media types.

    Swagger 2.0 lists media types per operation, not per response, so the
    built-in check would also demand one of a 204 or a HEAD answer, which have
    no body to describe.
    """
    documented = case.operation.definition.raw.get("responses", {})
    if not response.content or str(response.status_code) not in documented:
        return None
    produces = case.operation.definition.raw.get("produces") or []
    received = (response.headers.get("content-type") or [""])[0].partition(";")[0].strip()
    if received not in produces:
        raise AssertionError(f"Content-Type {received!r} is not one of {produces}")
    return None


BASIC = "Basic " + base64.b64encode(f"admin:{ADMIN_PASSWORD}".encode()).decode()


@pytest.fixture(scope="module")
def service() -> Iterator[ServiceProcess]:
    """The service on the embedded store, with rate limits out of the way."""
    env = {
        "TOKEN_SERVICE_REDIS_URL": "memory://",
        "TOKEN_SERVICE_SERVER_LOG_LEVEL": "warning",
        "TOKEN_SERVICE_RATE_LIMITS_MINT_LIMIT": UNLIMITED,
        "TOKEN_SERVICE_RATE_LIMITS_GENERATE_TOKEN_LIMIT": UNLIMITED,
        "TOKEN_SERVICE_RATE_LIMITS_GENERATE_TOKEN_APP_LIMIT": UNLIMITED,
        "TOKEN_SERVICE_RATE_LIMITS_FAILED_LOGIN_LIMIT": UNLIMITED,
    }
    with ServiceProcess(env=env) as proc:
        yield proc


# Statuses seen, per operation, for the summary test at the end of the module.
SEEN: dict[str, dict[int, int]] = {}


def _post(url: str, body: Any, headers: dict[str, str], method: str = "POST") -> Any:
    req = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **headers},
        method=method,
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def fresh_token(base: str) -> str:
    """A new temporary access token of the admin.

    Minted per case: a generated DELETE /user/tokens/temporary (or named) may
    have revoked the last one, and F5 routes should still see a valid caller.
    """
    caveats = [{"type": "time", "validUntil": int(time.time()) + 3600}]
    body = _post(
        f"{base}{ONEZONE}/user/tokens/temporary", {"caveats": caveats}, {"Authorization": BASIC}
    )
    return str(body["token"])


def ensure_examples(base: str, auth: dict[str, str]) -> None:
    """The namespace and application that the spec's examples name, (re-)created if gone.

    Generated cases delete (or disable) them too; restoring them before each F5
    case lets example cases reach real objects whatever the order of operations.
    """
    apps = f"{base}/api/config/namespaces/{EXAMPLE_NAMESPACE}/third_party_applications"
    for url, name in ((f"{base}/api/web/namespaces", EXAMPLE_NAMESPACE), (apps, EXAMPLE_APP)):
        try:
            _post(url, {"metadata": {"name": name}}, auth)
        except urllib.error.HTTPError as e:
            assert e.code == 409, e.read()
    _post(f"{apps}/{EXAMPLE_APP}", {"metadata": {"name": EXAMPLE_APP}}, auth, method="PUT")


@pytest.fixture(scope="module")
def api_schema(service: ServiceProcess) -> Any:
    """The live service's own spec, with the checks above; its example resources exist."""
    ensure_examples(service.url, {"Authorization": "APIToken " + fresh_token(service.url)})
    config = SchemathesisConfig.from_str(CONFIG)
    return schemathesis.openapi.from_url(service.url + "/api/docs/swagger.json", config=config)


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.mark.timeout(300)
@schema.parametrize()
def test_api_conforms_to_its_spec(case: Any, service: ServiceProcess) -> None:
    path = case.operation.path
    if path.startswith(ONEZONE):
        headers = {"Authorization": BASIC}
    else:
        headers = {"Authorization": "APIToken " + fresh_token(service.url)}
        if path.startswith(F5_PREFIXES):
            ensure_examples(service.url, headers)
    response = case.call_and_validate(base_url=service.url, headers=headers, timeout=10)
    statuses = SEEN.setdefault(case.operation.label, {})
    statuses[response.status_code] = statuses.get(response.status_code, 0) + 1


def test_every_operation_got_cases(api_schema: Any) -> None:
    """After the generated test: every operation had cases, ≥ MIN_CASES in all, and callers got in."""
    if not SEEN:
        pytest.skip("summarises test_api_conforms_to_its_spec, which did not run in this session")
    labels = {result.ok().label for result in api_schema.get_all_operations()}
    assert labels == set(SEEN), labels ^ set(SEEN)
    total = sum(sum(statuses.values()) for statuses in SEEN.values())
    print(f"schemathesis: {total} cases over {len(labels)} operations")
    assert total >= MIN_CASES
    # The credentials worked: authenticated routes of both dialects answered 2xx.
    assert 200 in SEEN["GET /api/v3/onezone/user"]
    assert 200 in SEEN["GET /api/v3/onezone/tokens/named"]
    assert 400 in SEEN["POST /api/v3/onezone/tokens/verify_invite_token"]
    assert 200 in SEEN["GET /api/web/namespaces"]
    assert (
        200
        in SEEN[
            "GET /api/config/namespaces/{namespace}/third_party_applications/{name}/generate_token"
        ]
    )
