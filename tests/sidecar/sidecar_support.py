"""A real nginx running the server block shipped in the sidecar example, an echoing upstream, a raw client.

The nginx configuration is read from `deploy/kubernetes/sidecar-example.yaml`
(the ConfigMap's `default.conf`) every time; the only change made to it is
`ADDRESSES`: the three addresses of the pod (nginx's listen port, the
sidecar, the application) become free loopback ports. Everything else runs as
shipped, so the tests fail when the shipped configuration does.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import itertools
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SIDECAR_EXAMPLE = ROOT / "deploy" / "kubernetes" / "sidecar-example.yaml"
CONFIG_MAP = "app-with-auth-nginx"
CONFIG_KEY = "default.conf"
# Debian installs nginx in /usr/sbin, which is not on every user's PATH.
NGINX = shutil.which("nginx") or next(
    (p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None
)

# The shipped lines naming the pod's addresses, and what each becomes here.
ADDRESSES = {
    "listen": "listen 8000;",
    "service": "server 127.0.0.1:8080;",
    "app": "server 127.0.0.1:9000;",
}


def require_nginx() -> str:
    """The nginx binary, with auth_request; skip without it, but under CI=true fail instead."""
    problem = None
    if NGINX is None:
        problem = "nginx is not installed"
    else:
        version = subprocess.run([NGINX, "-V"], capture_output=True, text=True, check=False)
        if "--with-http_auth_request_module" not in version.stderr:
            problem = f"{NGINX} is built without the auth_request module"
    if problem is None:
        assert NGINX is not None
        return NGINX
    if os.environ.get("CI") == "true":
        pytest.fail(f"{problem}: required under CI=true (apt-get install nginx-light)")
    pytest.skip(f"{problem}: the sidecar tests run the shipped config in a real nginx")


def shipped_config() -> str:
    """The nginx configuration text of the sidecar example's ConfigMap."""
    for doc in yaml.safe_load_all(SIDECAR_EXAMPLE.read_text()):
        if doc and doc.get("kind") == "ConfigMap" and doc["metadata"]["name"] == CONFIG_MAP:
            return str(doc["data"][CONFIG_KEY])
    raise AssertionError(f"{SIDECAR_EXAMPLE.name} has no ConfigMap {CONFIG_MAP}")


def substitute(config: str, *, listen: int, service: str, app: str) -> str:
    """`config` with the pod's three addresses replaced, each found exactly once."""
    replacements = {
        ADDRESSES["listen"]: f"listen 127.0.0.1:{listen};",
        ADDRESSES["service"]: f"server {service};",
        ADDRESSES["app"]: f"server {app};",
    }
    for old, new in replacements.items():
        count = config.count(old)
        if count != 1:
            raise AssertionError(
                f"{SIDECAR_EXAMPLE.name}: {old!r} occurs {count} times, not once; "
                "update ADDRESSES in tests/sidecar/sidecar_support.py with the shipped config"
            )
        config = config.replace(old, new)
    return config


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_listening(port: int, alive: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError(f"{what} exited before listening")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.02)
    raise RuntimeError(f"{what} did not listen on {port}")


class NginxProcess:
    """nginx in the foreground, on its own prefix, pid file, logs and temp paths."""

    def __init__(self, *, service: str, app: str, config: str | None = None) -> None:
        self.binary = require_nginx()
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="nginx-test-"))
        self.site = substitute(
            shipped_config() if config is None else config,
            listen=self.port,
            service=service,
            app=app,
        )
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def error_log(self) -> Path:
        return self.dir / "error.log"

    def _main_config(self) -> str:
        d = self.dir
        # Run as root, nginx would hand its workers to `nobody`, who cannot
        # enter this private directory; they keep the test's user instead.
        user = "user root root;\n" if os.geteuid() == 0 else ""
        temp = "\n".join(
            f"  {kind}_temp_path {d / kind};"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        return (
            f"{user}daemon off;\nworker_processes 1;\npid {d / 'nginx.pid'};\n"
            f"error_log {self.error_log} info;\n"
            "events { worker_connections 1024; }\n"
            "http {\n"
            f"  access_log {d / 'access.log'};\n{temp}\n"
            f"{self.site}\n}}\n"
        )

    def start(self) -> NginxProcess:
        conf = self.dir / "nginx.conf"
        conf.write_text(self._main_config())
        args = [self.binary, "-p", str(self.dir), "-c", str(conf), "-e", str(self.error_log)]
        check = subprocess.run([*args, "-t"], capture_output=True, text=True, check=False)
        if check.returncode != 0:
            raise RuntimeError(f"nginx refuses the configuration:\n{check.stderr}")
        self.proc = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        proc = self.proc
        try:
            _wait_listening(self.port, lambda: proc.poll() is None, 10, "nginx")
        except RuntimeError as e:
            self.close()
            raise RuntimeError(f"{e}:\n{self.log()}") from None
        return self

    def log(self) -> str:
        return self.error_log.read_text(errors="replace") if self.error_log.exists() else ""

    def close(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(10)
            self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)


@dataclass
class Seen:
    """One request as the echoing upstream received it."""

    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> list[str]:
        """Every value of header `name`, in order."""
        return [v for k, v in self.headers if k.lower() == name.lower()]

    @property
    def names(self) -> set[str]:
        return {k.lower() for k, _ in self.headers}


@dataclass
class EchoUpstream:
    """An HTTP server that answers every request with a JSON echo of it, and records it.

    `/status/<code>` answers with that status. A request to `/auth/check...`
    is answered as an allowing check would (200, `X-Auth-Subject: usr-echo`),
    so the echo can stand in for the sidecar and show what nginx sends it.
    """

    seen: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        echo = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                seen = Seen(self.command, self.path, list(self.headers.items()), body)
                with echo.lock:
                    echo.seen.append(seen)
                status, extra = 200, {"Content-Type": "application/json"}
                if self.path.startswith("/auth/check"):
                    payload = b""
                    extra = {"X-Auth-Subject": "usr-echo"}
                else:
                    if self.path.startswith("/status/"):
                        status = int(self.path.split("/")[2])
                    payload = json.dumps(
                        {
                            "method": seen.method,
                            "target": seen.target,
                            "headers": seen.headers,
                            "body": body.decode("latin-1"),
                        }
                    ).encode()
                self.send_response(status)
                for k, v in extra.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _any

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def take(self) -> list[Seen]:
        """The requests received since the last call."""
        with self.lock:
            seen, self.seen[:] = list(self.seen), []
        return seen

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str, default: str | None = None) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), default)

    def echo(self) -> dict[str, Any]:
        """The upstream's JSON echo of the request it received."""
        return dict(json.loads(self.body))

    def upstream_header(self, name: str) -> list[str]:
        return [v for k, v in self.echo()["headers"] if k.lower() == name.lower()]


def send(
    port: int,
    method: str,
    target: str,
    headers: Iterable[tuple[str, str]] = (),
    body: bytes | None = None,
    *,
    host: str = "localhost",
    timeout: float = 10.0,
) -> Reply:
    """One request with exactly this request-target and these header lines (repeats kept)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", host)
        for name, value in headers:
            conn.putheader(name, value)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        r = conn.getresponse()
        return Reply(r.status, r.getheaders(), r.read())
    finally:
        conn.close()


def bearer(token: str) -> list[tuple[str, str]]:
    return [("Authorization", f"Bearer {token}")]


# What a client may add to make the check or the application believe
# something about the request that is not so.
def injected(
    *,
    addr: str = "10.1.2.3",
    method: str = "GET",
    uri: str = "/orders/1",
    host: str = "api.example.com",
) -> list[tuple[str, str]]:
    """Every forwarding and identity header a client might forge, pointing elsewhere."""
    return [
        ("X-Forwarded-For", addr),
        ("X-Forwarded-Method", method),
        ("X-Forwarded-Uri", uri),
        ("X-Forwarded-Host", host),
        ("X-Forwarded-Proto", "https"),
        ("X-Forwarded-Prefix", "/evil"),
        ("X-Forwarded-Port", "443"),
        ("X-Forwarded-Server", host),
        ("Forwarded", f'for="{addr}";host={host};proto=https'),
        ("X-Original-Method", method),
        ("X-Original-URI", uri),
        ("X-Original-URL", f"https://{host}{uri}"),
        ("X-Original-Host", host),
        ("X-Real-IP", addr),
        ("X-Envoy-Original-Path", uri),
        ("X-Auth-Subject", "usr-forged"),
        ("X-Auth-Namespace", "forged-ns"),
        ("X-Auth-App", "forged-app"),
    ]


FORGED_NAMES = frozenset(k.lower() for k, _ in injected())


def statuses(replies: Sequence[Reply]) -> list[int]:
    return [r.status for r in replies]


class Minter:
    """Tokens from the running service itself, asked directly (not through nginx) as its admin."""

    def __init__(self, url: str, password: str) -> None:
        self.url = url
        raw = base64.b64encode(f"admin:{password}".encode()).decode()
        self.auth = {"Authorization": f"Basic {raw}"}
        self._names = itertools.count()
        self.subject = "usr-" + self.call("GET", "/api/v3/onezone/user")["userId"]
        # The F5 routes take an access token, not Basic credentials.
        self.f5_auth = {"Authorization": "APIToken " + self.token()}

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        ok: Sequence[int] = (200,),
        auth: dict[str, str] | None = None,
    ) -> Any:
        data = None if body is None else json.dumps(body).encode()
        headers = {**(auth or self.auth), "Content-Type": "application/json"}
        request = urllib.request.Request(self.url + path, data, headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=10) as r:
                status, text = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, text = e.code, e.read()
        assert status in ok, f"{method} {path}: {status} {text!r}"
        return json.loads(text) if text else None

    def named(self, *caveats: dict[str, Any]) -> tuple[str, str]:
        """(token id, token) of a new named access token with these caveats (JSON forms)."""
        body = {"name": f"sidecar-{next(self._names)}-{time.monotonic_ns()}", "caveats": caveats}
        doc = self.call("POST", "/api/v3/onezone/user/tokens/named", body, ok=(201,))
        return doc["tokenId"], doc["token"]

    def token(self, *caveats: dict[str, Any]) -> str:
        return self.named(*caveats)[1]

    def revoke(self, token_id: str) -> None:
        self.call("PATCH", f"/api/v3/onezone/tokens/named/{token_id}", {"revoked": True}, ok=(204,))

    def f5(self, namespace: str, app: str) -> str:
        """An AuthToken of application `app` in `namespace` (both created when missing)."""
        auth = self.f5_auth
        ns = {"metadata": {"name": namespace}, "spec": {}}
        self.call("POST", "/api/web/namespaces", ns, (200, 409), auth)
        apps = f"/api/config/namespaces/{namespace}/third_party_applications"
        self.call("POST", apps, {"metadata": {"name": app}}, (200, 409), auth)
        return str(self.call("GET", f"{apps}/{app}/generate_token", auth=auth)["token"])
