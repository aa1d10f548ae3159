"""The Swagger UI, rendered by headless Chromium against a real service with no way out to the network."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from html.parser import HTMLParser

import pytest
from test_serve import ServiceProcess, get

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
NAMED = "/api/v3/onezone/user/tokens/named"
GENERATE = "/api/config/namespaces/{namespace}/third_party_applications/{name}/generate_token"


def require_chromium() -> str:
    """Skip when Chromium is missing; under CI=true that is a failure instead."""
    if CHROMIUM:
        return CHROMIUM
    if os.environ.get("CI") == "true":
        pytest.fail("chromium is required under CI=true (apt-get install chromium)")
    pytest.skip("chromium is not installed: the Swagger UI test renders the page with it")


class Assets(HTMLParser):
    """Every URL a page loads: script sources, stylesheets and icons, images."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {"script": "src", "link": "href", "img": "src"}
        wanted = names.get(tag)
        for name, value in attrs:
            if name == wanted and value:
                self.urls.append(value)


def assets(html: str) -> list[str]:
    parser = Assets()
    parser.feed(html)
    return parser.urls


def is_local(url: str, origin: str) -> bool:
    return url.startswith((origin + "/", "/", "data:")) and not url.startswith("//")


@pytest.fixture(scope="module")
def service() -> Iterator[ServiceProcess]:
    with ServiceProcess(env={"TOKEN_SERVICE_REDIS_URL": "memory://"}) as proc:
        yield proc


def render(url: str) -> str:
    """The DOM of `url` after its scripts ran, with every host but loopback unresolvable."""
    chromium = require_chromium()
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        out = subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                # Offline for real: a CDN or validator URL could not load.
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                f"--user-data-dir={profile}",
                "--dump-dom",
                "--virtual-time-budget=5000",
                url,
            ],
            capture_output=True,
            text=True,
            timeout=50,
            check=False,
        )
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def test_page_loads_only_its_own_assets(service: ServiceProcess) -> None:
    status, body = get(service.url + "/api/docs")
    assert status == 200
    page = body.decode()
    urls = assets(page)
    assert any(u.endswith("/swagger-ui-bundle.js") for u in urls), urls
    assert all(is_local(u, service.url) for u in urls), urls
    assert not re.search(r"https?://", page), "the page names a remote URL"
    for url in urls:
        status, _ = get(service.url + url)
        assert status == 200, url


def test_swagger_ui_renders_both_dialects_offline(service: ServiceProcess) -> None:
    dom = render(service.url + "/api/docs")
    assert "swagger-ui" in dom
    assert "Failed to load API definition" not in dom
    # One opblock per operation: both dialects, the check and the probes.
    paths = set(re.findall(r'class="opblock-summary-path[^"]*" data-path="([^"]+)"', dom))
    assert NAMED in paths
    assert GENERATE in paths
    assert {"/auth/check", "/healthz", "/api/web/namespaces"} <= paths
    assert re.search(r'class="opblock opblock-post[^"]*"[^>]*id="operations-onezone-', dom)
    assert all(is_local(u, service.url) for u in assets(dom)), assets(dom)
