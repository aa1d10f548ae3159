"""Load benchmark: the service against a bare aiohttp baseline and a plain peer, in one run.

Starts its own redis-server on a free port, the service with one worker pinned
to core 0, the baseline (same loop, same settings, a body of the same size and
no work) and the plain peer (see below) pinned to core 0 as well, and wrk and
Redis pinned to core 1. For each route it
prints requests/s, p50/p99 latency, errors and the ratio to the baseline at
64 and 256 connections, with the Redis round trips per request under that load
(rt/req: pipelines sent, from the service's own counter, so below 1 when
concurrent requests share one); then Redis commands per request one request
at a time (counted with MONITOR: commands sent by clients, not those run
inside scripts), the worker's RSS before and after, and the time from start
to ready.

generate_token is measured twice: as the admin (`generate_token`), whose
tokens skip the role lookup, and as an editor of the namespace
(`generate_token_editor`), who pays for it as every other user does. The
editor is created with `token-service users add` and bound through the API.

The routes that mint are also run against the plain peer (plain_peer.py):
the same generate_token work as a Python team would first write it
(aiohttp, redis-py's asyncio client with awaited calls, pymacaroons). The
columns `peer req/s` and `x peer` give its speed on its generate_token and
the service's route as a multiple of it. The last column says which targets
the row meets: mint routes >= 3x the peer and >= 0.35x the baseline,
verify_access_token >= 0.6x and auth_check >= 0.65x the baseline, and at 256
connections a p99 <= 3x the baseline's.

With `--ceiling`, the routes that mint are also run against the ceiling: the
bare app whose handler sends one small script per request through the
service's command batcher (see baseline_app.py), that is, what a route that
must ask Redis once can reach on this stack before doing any work of its own.
The columns `ceil req/s` and `ceil ratio` give its speed and its ratio to the
baseline.

    python bench/load.py [--duration 5] [--repeat 3] [--connections 64,256] [--routes a,b]
                         [--ceiling] [--no-peer]

On a shared machine the speed of the sides drifts within seconds, so each
figure is the median of `--repeat` runs, the sides' runs alternating.

Needs `wrk` and `taskset` (Debian: wrk, util-linux).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from redis_procs import RedisProcess, free_port  # noqa: E402

ADMIN_PASSWORD = "bench-admin-password"
EDITOR = "editor"
EDITOR_PASSWORD = "bench-editor-password"
# The routes that ask Redis once per request (the others are served from the caches).
MINT_ROUTES = ("generate_token", "generate_token_editor", "temporary_token", "client_tokens")
# Targets: each route's least ratio to the baseline, the mint routes' least
# multiple of the plain peer, and the most p99 at 256 connections may be over
# the baseline's.
TARGET_RATIO = {
    **dict.fromkeys(MINT_ROUTES, 0.35),
    "verify_access_token": 0.6,
    "auth_check": 0.65,
}
TARGET_PEER_MULTIPLE = 3.0
TARGET_P99_MULTIPLE = 3.0
TARGET_P99_CONNECTIONS = 256
# Where the benchmark's application lives, and the type of its JSON bodies.
APPS = "/api/config/namespaces/bench/third_party_applications"
EDITOR_BINDING = f"/api/web/namespaces/bench/role_bindings/{EDITOR}"
JSON_CT = {"Content-Type": "application/json"}


@dataclass
class Route:
    name: str
    method: str
    path: str
    headers: dict[str, str]
    body: str | None = None


@dataclass
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def http(
    port: int, method: str, path: str, headers: dict[str, str], body: str | None = None
) -> tuple[int, bytes]:
    data = body.encode() if body is not None else None
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=data, method=method, headers=headers
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def wait_ready(port: int, path: str, timeout: float = 20.0) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            if http(port, "GET", path, {})[0] == 200:
                return time.monotonic() - started
        except OSError:
            pass
        time.sleep(0.01)
    raise RuntimeError(f"nothing ready on {port}{path}")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def service_environment(redis_url: str, keys_file: str) -> dict[str, str]:
    """The service's settings under benchmark: no request log, a verification cache, no limits."""
    return {
        "TOKEN_SERVICE_REDIS_URL": redis_url,
        "TOKEN_SERVICE_KEYS_FILE": keys_file,
        "TOKEN_SERVICE_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "TOKEN_SERVICE_SERVER_LOG_LEVEL": "warning",
        "TOKEN_SERVICE_CACHE_SIZE": "10000",
        "TOKEN_SERVICE_RATE_LIMITS_MINT_LIMIT": "100000000",
        "TOKEN_SERVICE_RATE_LIMITS_MINT_PERIOD": "1",
        "TOKEN_SERVICE_RATE_LIMITS_GENERATE_TOKEN_LIMIT": "100000000",
        "TOKEN_SERVICE_RATE_LIMITS_GENERATE_TOKEN_PERIOD": "1",
        "TOKEN_SERVICE_RATE_LIMITS_GENERATE_TOKEN_APP_LIMIT": "100000000",
        "TOKEN_SERVICE_RATE_LIMITS_GENERATE_TOKEN_APP_PERIOD": "1",
    }


def start_service(
    port: int, redis_url: str, keys_file: str
) -> tuple[subprocess.Popen[bytes], float]:
    env = cli_environment(service_environment(redis_url, keys_file))
    cmd = ["taskset", "-c", "0", sys.executable, "-m", "service", "serve", "--port", str(port)]
    started = time.monotonic()
    proc = subprocess.Popen(
        cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    wait_ready(port, "/readyz")
    return proc, time.monotonic() - started


def cli_environment(environment: dict[str, str]) -> dict[str, str]:
    """This process's environment without TOKEN_SERVICE_*, plus the service's settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOKEN_SERVICE_")}
    env.update(environment)
    return env


def add_user(environment: dict[str, str], name: str, password: str) -> None:
    """Create a user in the service's Redis with `token-service users add`."""
    subprocess.run(
        [sys.executable, "-m", "service", "users", "add", name, "--password-stdin"],
        input=password + "\n",
        env=cli_environment(environment),
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )


def start_baseline(
    port: int, sizes: dict[str, int], redis_url: str | None = None
) -> subprocess.Popen[bytes]:
    """The bare app; with `redis_url`, the ceiling (one batched script per request)."""
    cmd = [
        "taskset",
        "-c",
        "0",
        sys.executable,
        str(ROOT / "bench" / "baseline_app.py"),
        str(port),
        json.dumps(sizes),
        *([redis_url] if redis_url else []),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_ready(port, "/healthz")
    return proc


def start_peer(port: int, redis_url: str, key: bytes) -> subprocess.Popen[bytes]:
    """The plain peer (plain_peer.py) on core 0, as the service and the baseline."""
    cmd = [
        "taskset",
        "-c",
        "0",
        sys.executable,
        str(ROOT / "bench" / "plain_peer.py"),
        str(port),
        redis_url,
        key.hex(),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_ready(port, "/healthz")
    return proc


def peer_route(redis_url: str, key: bytes) -> Route:
    """The plain peer's generate_token, with its records written and an access token of its own."""
    from plain_peer import seed

    access = seed(redis_url, key, "bench", "app1")
    return Route(
        "generate_token_peer",
        "GET",
        f"{APPS}/app1/generate_token",
        {"Authorization": f"APIToken {access}"},
    )


def prepare_routes(port: int, environment: dict[str, str]) -> list[Route]:
    """Create what the routes need (tokens, a namespace, an application, an editor)."""
    basic = "Basic " + base64.b64encode(f"admin:{ADMIN_PASSWORD}".encode()).decode()
    status, body = http(
        port,
        "POST",
        "/api/v3/onezone/user/tokens/named",
        {"Authorization": basic, **JSON_CT},
        json.dumps({"name": "bench"}),
    )
    assert status == 201, (status, body)
    access = json.loads(body)["token"]
    api = {"Authorization": f"APIToken {access}", **JSON_CT}
    status, body = http(
        port,
        "POST",
        "/api/web/namespaces",
        api,
        json.dumps({"metadata": {"name": "bench"}, "spec": {}}),
    )
    assert status == 200, (status, body)
    status, body = http(
        port, "POST", APPS, api, json.dumps({"metadata": {"name": "app1"}, "spec": {}})
    )
    assert status == 200, (status, body)
    status, body = http(port, "GET", f"{APPS}/app1/generate_token", api)
    assert status == 200, (status, body)
    f5_token = json.loads(body)["token"]
    add_user(environment, EDITOR, EDITOR_PASSWORD)
    status, body = http(port, "PUT", EDITOR_BINDING, api, json.dumps({"role": "editor"}))
    assert status == 200, (status, body)
    editor_basic = "Basic " + base64.b64encode(f"{EDITOR}:{EDITOR_PASSWORD}".encode()).decode()
    status, body = http(
        port,
        "POST",
        "/api/v3/onezone/user/tokens/named",
        {"Authorization": editor_basic, **JSON_CT},
        json.dumps({"name": "bench"}),
    )
    assert status == 201, (status, body)
    return bench_routes(access, basic, f5_token, json.loads(body)["token"])


def bench_routes(access: str, basic: str, f5_token: str, editor_access: str) -> list[Route]:
    """The measured routes, from the admin's token and Basic credentials, an F5 token, an editor's token."""
    valid_until = int(time.time()) + 3600
    temporary = json.dumps(
        {"type": {"accessToken": {}}, "caveats": [{"type": "time", "validUntil": valid_until}]}
    )
    return [
        Route(
            "generate_token",
            "GET",
            f"{APPS}/app1/generate_token",
            {"Authorization": f"APIToken {access}"},
        ),
        Route(
            "generate_token_editor",
            "GET",
            f"{APPS}/app1/generate_token",
            {"Authorization": f"APIToken {editor_access}"},
        ),
        Route(
            "temporary_token",
            "POST",
            "/api/v3/onezone/user/tokens/temporary",
            {"X-Auth-Token": access, **JSON_CT},
            temporary,
        ),
        Route(
            "client_tokens",
            "POST",
            "/api/v3/onezone/user/client_tokens",
            {"Authorization": basic, **JSON_CT},
            "",
        ),
        Route(
            "verify_access_token",
            "POST",
            "/api/v3/onezone/tokens/verify_access_token",
            JSON_CT,
            json.dumps({"token": access}),
        ),
        Route("auth_check", "GET", "/auth/check", {"Authorization": f"Bearer {f5_token}"}),
    ]


def wrk_script(route: Route, folder: str) -> str:
    path = os.path.join(folder, f"{route.name}.lua")
    lines = [f'wrk.method = "{route.method}"']
    if route.body is not None:
        lines.append(f"wrk.body = {json.dumps(route.body)}")
    for k, v in route.headers.items():
        lines.append(f'wrk.headers["{k}"] = {json.dumps(v)}')
    Path(path).write_text("\n".join(lines) + "\n")
    return path


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if not m:
        return float("nan")
    value, unit = float(m.group(1)), m.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def run_wrk(port: int, route: Route, script: str, connections: int, duration: int) -> Result:
    cmd = [
        "taskset", "-c", "1", "wrk", "--latency", "-t", "1", "-c", str(connections),
        "-d", f"{duration}s", "-s", script, f"http://127.0.0.1:{port}{route.path}",
    ]  # fmt: skip
    out = subprocess.run(
        cmd, capture_output=True, text=True, check=True, timeout=duration + 60
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    errors = 0
    if m := re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        errors += int(m.group(1))
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out):
        errors += sum(int(g) for g in m.groups())
    return Result(rps, p50, p99, errors)


def median_result(runs: list[Result]) -> Result:
    """Each figure's median over the runs (errors summed)."""
    return Result(
        statistics.median(r.rps for r in runs),
        statistics.median(r.p50_ms for r in runs),
        statistics.median(r.p99_ms for r in runs),
        sum(r.errors for r in runs),
    )


def metric_total(port: int, name: str) -> float:
    """The sum of a Prometheus counter's samples as the service exposes it."""
    body = http(port, "GET", "/metrics", {})[1].decode()
    total = 0.0
    for line in body.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def commands_per_request(redis: RedisProcess, port: int, route: Route, n: int = 50) -> float:
    """Commands clients sent to Redis per request (script-internal commands excluded)."""
    sock = socket.create_connection(("127.0.0.1", redis.port))
    sock.sendall(b"MONITOR\r\n")
    chunks: list[bytes] = []
    stop = threading.Event()

    def reader() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                data = sock.recv(65536)
            except TimeoutError:
                continue
            if not data:
                break
            chunks.append(data)

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    time.sleep(0.2)
    for _ in range(n):
        http(port, route.method, route.path, route.headers, route.body)
    time.sleep(0.3)
    stop.set()
    thread.join()
    sock.close()
    lines = b"".join(chunks).decode(errors="replace").splitlines()
    client_commands = [
        ln for ln in lines if ln.startswith("+") and "lua]" not in ln and '"MONITOR"' not in ln
    ]
    return len(client_commands) / n


def targets(route: str, conns: int, svc: Result, base: Result, peer: Result | None) -> str:
    """Which targets a row meets: its ratio to the baseline, its multiple of the peer, its p99."""
    verdicts = []
    if route in TARGET_RATIO:
        least = TARGET_RATIO[route]
        verdicts.append(f">={least}x base {'met' if svc.rps / base.rps >= least else 'NOT met'}")
    if peer is not None:
        least = TARGET_PEER_MULTIPLE
        verdicts.append(f">={least:g}x peer {'met' if svc.rps / peer.rps >= least else 'NOT met'}")
    if conns == TARGET_P99_CONNECTIONS:
        most = TARGET_P99_MULTIPLE
        verdicts.append(
            f"p99<={most:g}x {'met' if svc.p99_ms / base.p99_ms <= most else 'NOT met'}"
        )
    return ", ".join(verdicts)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=5, help="seconds per run")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs per side, alternating; medians are printed"
    )
    parser.add_argument("--connections", default="64,256")
    parser.add_argument("--routes", default="", help="comma-separated subset of route names")
    parser.add_argument(
        "--ceiling",
        action="store_true",
        help="also run the mint routes against the bare app plus one batched script per request",
    )
    parser.add_argument(
        "--no-peer", action="store_true", help="do not run the mint routes against the plain peer"
    )
    args = parser.parse_args()
    for tool in ("wrk", "taskset", "redis-server"):
        if not shutil.which(tool):
            print(f"error: {tool} is required", file=sys.stderr)
            return 2
    conns = [int(c) for c in args.connections.split(",")]

    redis = RedisProcess()
    redis.start()
    # Redis shares the load generator's core: the service's core does only the service's work.
    assert redis.proc is not None
    subprocess.run(
        ["taskset", "-p", "-c", "1", str(redis.proc.pid)], check=True, capture_output=True
    )
    folder = tempfile.mkdtemp(prefix="bench-")
    keys_file = os.path.join(folder, "keys.json")
    sys.path.insert(0, str(ROOT))
    from service.tokens.keys import KeyRing

    Path(keys_file).write_text(json.dumps({"keys": [KeyRing.generate_entry("bench")]}))
    environment = service_environment(redis.url, keys_file)
    service_port, baseline_port, ceiling_port = free_port(), free_port(), free_port()
    peer_port = free_port()
    service, start_to_ready = start_service(service_port, redis.url, keys_file)
    baseline = ceiling = peer = None
    try:
        routes = prepare_routes(service_port, environment)
        if args.routes:
            wanted = set(args.routes.split(","))
            routes = [r for r in routes if r.name in wanted]
        sizes = {
            r.path: len(http(service_port, r.method, r.path, r.headers, r.body)[1]) for r in routes
        }
        baseline = start_baseline(baseline_port, sizes)
        if args.ceiling:
            ceiling = start_baseline(ceiling_port, sizes, redis.url)
        peer_gen = None
        if not args.no_peer and any(r.name in MINT_ROUTES for r in routes):
            peer_key = secrets.token_bytes(32)
            peer = start_peer(peer_port, redis.url, peer_key)
            peer_gen = peer_route(redis.url, peer_key)
            status, body = http(peer_port, "GET", peer_gen.path, peer_gen.headers)
            assert status == 200, (status, body)
            peer_size = len(body)
        rss_before = rss_mb(service.pid)
        print(
            f"machine: {os.cpu_count()} cores, {sys.version.split()[0]}, "
            f"{args.duration}s per run, median of {args.repeat}"
        )
        print(f"start to ready: {start_to_ready:.2f} s; worker RSS before: {rss_before:.1f} MB")
        if peer_gen is not None:
            ours = ", ".join(f"{r.name} {sizes[r.path]}" for r in routes if r.name in MINT_ROUTES)
            print(f"response bytes: plain peer's generate_token {peer_size}; {ours}")
        header = (
            f"{'route':<22}{'conns':>6}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}"
            f"{'base req/s':>12}{'base p99':>10}{'ratio':>7}{'p99 x':>7}{'rt/req':>8}"
        )
        if peer_gen is not None:
            header += f"{'peer req/s':>12}{'x peer':>8}"
        if ceiling is not None:
            header += f"{'ceil req/s':>12}{'ceil ratio':>12}"
        print(header + "  targets")
        for route in routes:
            script = wrk_script(route, folder)
            with_ceiling = ceiling is not None and route.name in MINT_ROUTES
            with_peer = peer_gen is not None and route.name in MINT_ROUTES
            peer_script = wrk_script(peer_gen, folder) if peer_gen is not None else ""
            for c in conns:
                rt0 = metric_total(service_port, "redis_round_trips_total")
                req0 = metric_total(service_port, "http_requests_total")
                svc_runs, base_runs, ceil_runs, peer_runs = [], [], [], []
                for _ in range(args.repeat):
                    svc_runs.append(run_wrk(service_port, route, script, c, args.duration))
                    base_runs.append(run_wrk(baseline_port, route, script, c, args.duration))
                    if peer_gen is not None and with_peer:
                        peer_runs.append(
                            run_wrk(peer_port, peer_gen, peer_script, c, args.duration)
                        )
                    if with_ceiling:
                        ceil_runs.append(run_wrk(ceiling_port, route, script, c, args.duration))
                rt = metric_total(service_port, "redis_round_trips_total") - rt0
                reqs = metric_total(service_port, "http_requests_total") - req0 - 1
                svc, base = median_result(svc_runs), median_result(base_runs)
                line = (
                    f"{route.name:<22}{c:>6}{svc.rps:>10.0f}{svc.p50_ms:>9.2f}{svc.p99_ms:>9.2f}{svc.errors:>8}"
                    f"{base.rps:>12.0f}{base.p99_ms:>10.2f}{svc.rps / base.rps:>7.2f}"
                    f"{svc.p99_ms / base.p99_ms:>7.2f}{rt / max(reqs, 1):>8.3f}"
                )
                peer_result = median_result(peer_runs) if peer_runs else None
                if peer_gen is not None:
                    if peer_result is not None:
                        line += f"{peer_result.rps:>12.0f}{svc.rps / peer_result.rps:>8.2f}"
                    else:
                        line += f"{'':>12}{'':>8}"
                if ceiling is not None:
                    if ceil_runs:
                        ceil = median_result(ceil_runs)
                        line += f"{ceil.rps:>12.0f}{ceil.rps / base.rps:>12.2f}"
                    else:
                        line += f"{'':>12}{'':>12}"
                line += "  " + targets(route.name, c, svc, base, peer_result)
                if peer_result is not None and peer_result.errors:
                    line += f" (peer errors: {peer_result.errors})"
                print(line, flush=True)
        print(f"worker RSS after: {rss_mb(service.pid):.1f} MB")
        for route in routes:
            cmds = commands_per_request(redis, service_port, route)
            print(f"redis commands per request, one at a time, {route.name}: {cmds:.2f}")
        if peer_gen is not None:
            cmds = commands_per_request(redis, peer_port, peer_gen)
            print(
                f"redis commands per request, one at a time, plain peer's generate_token: {cmds:.2f}"
            )
    finally:
        service.terminate()
        service.wait(timeout=30)
        for bare in (baseline, ceiling, peer):
            if bare is not None:
                bare.terminate()
                bare.wait(timeout=30)
        redis.close()
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
