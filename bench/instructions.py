"""Instructions per request: the service against a bare aiohttp app, counted by callgrind.

Wall-clock figures on a shared 2-core machine drift by tens of per cent within
a minute; instruction counts do not. This counts what the worker executes to
handle one request inside aiohttp's `Application`, from a parsed request to a
response object not yet written: routing, the edge middleware, validation, the
handler and the store call, with their share of the Redis batch. The HTTP
parser, the response writer and the kernel are left out: they do the same work
for the service and the baseline (the bare app of `bench/load.py`).

Each figure is (instructions with K requests handled - instructions with the
same K requests only built) / K, under `valgrind --tool=callgrind` with
PYTHONHASHSEED=0, so that start-up, imports and building the requests cancel
out. The mint routes handle 64 concurrent requests at a time against a real
redis-server, so the commands of one tick share a pipeline as under load
(repeated runs agree to about 1.5 %: batch sizes depend on timing); the others
run one at a time, served by the verification cache (`cache.size` 10,000, as
in `bench/load.py`; repeated runs agree to 0.2 %). Instructions are not time:
under valgrind OpenSSL runs without the CPU's SHA extensions, so the token
chain weighs more here than it costs.

    python bench/instructions.py [--requests 1000] [--routes a,b]

Needs valgrind (Debian: valgrind) and redis-server. About a minute per route
and side, two at a time.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

import load  # noqa: E402  (the routes and settings of the load benchmark)

ROUTES = (
    "generate_token",
    "generate_token_editor",  # the role lookup every user but the admin pays
    "temporary_token",
    "client_tokens",
    "verify_access_token",
    "auth_check",
    "healthz",  # for scale: the edge middleware and a constant answer
)
CONCURRENT = {
    "generate_token": 64,
    "generate_token_editor": 64,
    "temporary_token": 64,
    "client_tokens": 64,
}


# The child: one route, one side, K requests -------------------------------


class _Transport:
    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 40000) if name == "peername" else default

    def is_closing(self) -> bool:
        return False


class _Protocol:
    """What a request reads of its connection: a loopback peer (a trusted proxy by default)."""

    def __init__(self) -> None:
        self.transport = _Transport()
        self.peername = ("127.0.0.1", 40000)
        self.sockname = ("127.0.0.1", 8080)
        self.ssl_context = None
        self._reading_paused = False
        self.writer: Any = None

    def pause_reading(self, *args: Any, **kwargs: Any) -> None:
        pass

    def resume_reading(self, *args: Any, **kwargs: Any) -> None:
        pass


class _Writer:
    transport = _Transport()

    async def write_headers(self, *args: Any) -> None:
        pass

    async def write(self, *args: Any, **kwargs: Any) -> None:
        pass

    async def write_eof(self, *args: Any) -> None:
        pass

    async def drain(self) -> None:
        pass


Spec = tuple[str, str, dict[str, str], str | None]


class Requests:
    """Builds parsed requests as aiohttp's server would hand them to the application."""

    def __init__(self) -> None:
        self.protocol = _Protocol()
        self.writer = _Writer()
        self.protocol.writer = self.writer

    def build(self, spec: Spec) -> Any:
        from aiohttp import HttpVersion11
        from aiohttp.http_parser import RawRequestMessage
        from aiohttp.streams import EMPTY_PAYLOAD, StreamReader
        from aiohttp.web_request import Request
        from multidict import CIMultiDict, CIMultiDictProxy
        from yarl import URL

        method, path, headers, body = spec
        loop = asyncio.get_running_loop()
        payload: Any = EMPTY_PAYLOAD
        if body is not None:
            payload = StreamReader(self.protocol, 2**16, loop=loop)  # type: ignore[arg-type]
            payload.feed_data(body.encode())
            payload.feed_eof()
            headers = {**headers, "Content-Length": str(len(body))}
        message = RawRequestMessage(
            method,
            path,
            HttpVersion11,
            CIMultiDictProxy(CIMultiDict(headers)),
            (),
            False,
            None,
            False,
            False,
            URL(path),
        )
        return Request(
            message,
            payload,
            self.protocol,
            self.writer,
            None,
            loop,
            client_max_size=1 << 20,  # type: ignore[arg-type]
        )


async def _call(app: Any, requests: Requests, spec: Spec) -> tuple[int, bytes]:
    response = await app._handle(requests.build(spec))
    return response.status, response.body


async def _prepare(app: Any, requests: Requests, environment: dict[str, str]) -> dict[str, Spec]:
    """The routes of bench/load.py, with what they need created as load.py creates it."""
    basic = "Basic " + base64.b64encode(f"admin:{load.ADMIN_PASSWORD}".encode()).decode()
    named = ("POST", "/api/v3/onezone/user/tokens/named", {"Authorization": basic, **load.JSON_CT})
    status, body = await _call(app, requests, (*named, json.dumps({"name": "bench"})))
    assert status == 201, body
    access = json.loads(body)["token"]
    api = {"Authorization": f"APIToken {access}", **load.JSON_CT}
    ns_body = json.dumps({"metadata": {"name": "bench"}, "spec": {}})
    assert (await _call(app, requests, ("POST", "/api/web/namespaces", api, ns_body)))[0] == 200
    app_body = json.dumps({"metadata": {"name": "app1"}, "spec": {}})
    assert (await _call(app, requests, ("POST", load.APPS, api, app_body)))[0] == 200
    status, body = await _call(
        app, requests, ("GET", f"{load.APPS}/app1/generate_token", api, None)
    )
    assert status == 200, body
    f5_token = json.loads(body)["token"]
    load.add_user(environment, load.EDITOR, load.EDITOR_PASSWORD)
    binding = ("PUT", load.EDITOR_BINDING, api, json.dumps({"role": "editor"}))
    assert (await _call(app, requests, binding))[0] == 200
    editor = "Basic " + base64.b64encode(f"{load.EDITOR}:{load.EDITOR_PASSWORD}".encode()).decode()
    editor_named = ("POST", named[1], {"Authorization": editor, **load.JSON_CT})
    status, body = await _call(app, requests, (*editor_named, json.dumps({"name": "bench"})))
    assert status == 201, body
    routes = {
        r.name: (r.method, r.path, r.headers, r.body)
        for r in load.bench_routes(access, basic, f5_token, json.loads(body)["token"])
    }
    routes["healthz"] = ("GET", "/healthz", {}, None)
    return routes


async def _run(
    app: Any, requests: Requests, spec: Spec, count: int, concurrent: int, handle: bool
) -> None:
    done = 0
    while done < count:
        batch = [requests.build(spec) for _ in range(concurrent)]
        done += concurrent
        if not handle:
            continue
        if concurrent == 1:  # as a connection's task calls the application
            responses = [await app._handle(batch[0])]
        else:  # concurrent connections: a task each
            responses = await asyncio.gather(*(app._handle(r) for r in batch))
        assert all(r.status in (200, 201) for r in responses), responses[0].body


def _environment(redis_url: str, folder: str) -> dict[str, str]:
    """The settings bench/load.py gives the service, with a new key in `folder`."""
    from service.tokens.keys import KeyRing

    keys_file = os.path.join(folder, "keys.json")
    Path(keys_file).write_text(json.dumps({"keys": [KeyRing.generate_entry("bench")]}))
    return load.service_environment(redis_url, keys_file)


async def child(route: str, count: int, handle: bool, baseline: bool) -> None:
    import baseline_app
    from aiohttp import web
    from redis_procs import RedisProcess

    from service import settings as settings_mod
    from service.app import create_app
    from service.cli import settle_heap

    redis = RedisProcess()
    redis.start()
    folder = tempfile.mkdtemp(prefix="bench-")
    environment = _environment(redis.url, folder)
    app = create_app(settings_mod.load(environ=environment))
    runner = web.AppRunner(app)
    await runner.setup()
    requests = Requests()
    try:
        spec = (await _prepare(app, requests, environment))[route]
        target = app
        if baseline:
            _, body = await _call(app, requests, spec)
            target = baseline_app.make_app({spec[1]: len(body or b"")})
            await web.AppRunner(target).setup()
        concurrent = CONCURRENT.get(route, 1)
        await _run(target, requests, spec, concurrent * 4, concurrent, True)  # warm
        settle_heap()  # as `token-service serve` does
        await _run(target, requests, spec, count, concurrent, handle)
    finally:
        await runner.cleanup()
        redis.close()
        shutil.rmtree(folder, ignore_errors=True)


# The parent: pairs of runs under callgrind --------------------------------


def instructions(route: str, count: int, handle: bool, baseline: bool) -> int:
    cmd = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        __file__,
        "--child",
        route,
        str(count),
        "1" if handle else "0",
        "1" if baseline else "0",
    ]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    m = re.search(r"Collected : ([\d,]+)", done.stderr)
    if done.returncode != 0 or m is None:
        raise RuntimeError(f"{route}: callgrind run failed:\n{done.stderr[-2000:]}")
    return int(m.group(1).replace(",", ""))


def per_request(route: str, count: int, baseline: bool) -> float:
    with ThreadPoolExecutor(2) as pool:
        handled = pool.submit(instructions, route, count, True, baseline)
        built = pool.submit(instructions, route, count, False, baseline)
        return (handled.result() - built.result()) / count


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=1024, help="requests per run (K)")
    parser.add_argument("--routes", default="", help="comma-separated subset of route names")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        route, count, handle, baseline = args.child
        import uvloop

        uvloop.install()
        asyncio.run(child(route, int(count), handle == "1", baseline == "1"))
        return 0
    for tool in ("valgrind", "redis-server"):
        if not shutil.which(tool):
            print(f"error: {tool} is required", file=sys.stderr)
            return 2
    routes = args.routes.split(",") if args.routes else list(ROUTES)
    print(f"{args.requests} requests per run, PYTHONHASHSEED=0, {sys.version.split()[0]}")
    print(f"{'route':<22}{'service':>10}{'baseline':>10}{'extra':>10}{'ratio':>7}")
    for route in routes:
        service = per_request(route, args.requests, baseline=False)
        base = per_request(route, args.requests, baseline=True)
        print(
            f"{route:<22}{service / 1000:>9.1f}k{base / 1000:>9.1f}k"
            f"{(service - base) / 1000:>9.1f}k{base / service:>7.2f}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
