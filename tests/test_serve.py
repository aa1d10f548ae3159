"""`token-service serve` as production runs it: a real process, signals, workers."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import SimpleNamespace, TracebackType

import aiohttp
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families
from redis_procs import free_port

# Onezone's own example token: examine parses it without any key.
SEED_TOKEN = (
    "MDAxNWxvY2F00aW9uIG9uZXpvbmUKMDAzYmlkZW500aWZpZXIgSlVxNGFLVkJSTXVFN3FLbHNQVHlNX00lLeHpYZXNW"
    "dVFSMGNfMldpOXFZNAowMDFhY2lkIHRpbWUgPCAxNTIyMzU4MzMzCjAwMmZzaWduYXR1cmUgv02ByyOA9802H02rPMB7"
    "Y9mIhDVAjYDmjAUjtrMs13znukK"
)

ADMIN_PASSWORD = "serve-test-admin-password"


def service_env(**settings: str) -> dict[str, str]:
    """This environment without TOKEN_SERVICE_* settings, plus the given ones."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOKEN_SERVICE_")}
    env.update(settings)
    return env


class ServiceProcess:
    """`python -m service serve` on a free loopback port, its log kept in a file."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.args = args
        self.env = service_env(
            TOKEN_SERVICE_SERVER_HOST="127.0.0.1",
            TOKEN_SERVICE_SERVER_PORT=str(self.port),
            TOKEN_SERVICE_ADMIN_PASSWORD=ADMIN_PASSWORD,
        )
        self.env.update(env or {})
        self.log_path = Path(tempfile.mkstemp(prefix="token-service-", suffix=".log")[1])
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> ServiceProcess:
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "service", "serve", *self.args],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"service exited with {self.proc.returncode}:\n{self.log()}")
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(self.url + "/readyz", timeout=1) as r:
                    if r.status == 200:
                        return self
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"service did not become ready:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def signal(self, signum: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    def wait(self, timeout: float) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, then wait; SIGKILL (and a failure) if it does not exit in time."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise

    def close(self) -> None:
        self.kill()
        self.log_path.unlink(missing_ok=True)

    def __enter__(self) -> ServiceProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    """Status and body of a GET, error statuses included."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


# Graceful shutdown ---------------------------------------------------------

CLIENTS = 50
GRACE = 5.0


class Outcome:
    """One request: when its headers left the client, and how it ended."""

    __slots__ = ("error", "sent", "status")

    def __init__(self) -> None:
        self.sent: float | None = None
        self.status: int | None = None
        self.error: BaseException | None = None


async def _hammer(
    session: aiohttp.ClientSession,
    url: str,
    body: dict[str, str],
    headers: dict[str, str],
    outcomes: list[Outcome],
    stop: asyncio.Event,
) -> None:
    """Send requests one after another on one keep-alive connection until told to stop."""
    while not stop.is_set():
        outcome = Outcome()
        outcomes.append(outcome)
        try:
            async with session.post(
                url, json=body, headers=headers, trace_request_ctx=outcome
            ) as response:
                await response.read()
                outcome.status = response.status
        except (TimeoutError, aiohttp.ClientError) as e:
            outcome.error = e
            # Refused or reset after SIGTERM: this client is done.
            return


async def _poll_ready(
    session: aiohttp.ClientSession, url: str, seen: list[int | str], stop: asyncio.Event
) -> None:
    """GET /readyz every few milliseconds on one keep-alive connection, until refused."""
    while not stop.is_set():
        try:
            async with session.get(url) as response:
                await response.read()
                seen.append(response.status)
        except (TimeoutError, aiohttp.ClientError) as e:
            seen.append(type(e).__name__)
            return
        await asyncio.sleep(0.005)


async def _headers_sent(
    session: aiohttp.ClientSession,
    ctx: SimpleNamespace,
    params: aiohttp.TraceRequestHeadersSentParams,
) -> None:
    if isinstance(ctx.trace_request_ctx, Outcome):
        ctx.trace_request_ctx.sent = time.monotonic()


async def test_sigterm_drains_requests_in_flight_and_exits_zero() -> None:
    env = {
        "TOKEN_SERVICE_REDIS_URL": "memory://",
        "TOKEN_SERVICE_SERVER_SHUTDOWN_GRACE": str(GRACE),
        "TOKEN_SERVICE_SERVER_LOG_LEVEL": "warning",
        "TOKEN_SERVICE_RATE_LIMITS_MINT_LIMIT": "1000000000",
    }
    with ServiceProcess(env=env) as svc:
        trace = aiohttp.TraceConfig()
        trace.on_request_headers_sent.append(_headers_sent)
        outcomes: list[Outcome] = []
        stop = asyncio.Event()
        basic = base64.b64encode(f"admin:{ADMIN_PASSWORD}".encode()).decode()
        auth = {"Authorization": "Basic " + basic}
        connector = aiohttp.TCPConnector(limit=0, force_close=False)
        timeout = aiohttp.ClientTimeout(total=GRACE + 10)
        async with aiohttp.ClientSession(
            connector=connector, timeout=timeout, trace_configs=[trace]
        ) as session:
            examine = (svc.url + "/api/v3/onezone/tokens/examine", {"token": SEED_TOKEN}, {})
            mint = (
                svc.url + "/api/v3/onezone/user/tokens/named",
                {"name": "x"},  # mostly refused as taken: still a full Basic-auth round trip
                auth,
            )
            tasks = [
                asyncio.create_task(_hammer(session, *(examine if i % 2 else mint), outcomes, stop))
                for i in range(CLIENTS)
            ]
            ready: list[int | str] = []
            # Its own connection: a pooled one might be a fresh one, refused at once.
            probe = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1), timeout=timeout)
            tasks.append(asyncio.create_task(_poll_ready(probe, svc.url + "/readyz", ready, stop)))
            # Wait until every client has had answers, not a fixed time: on a
            # loaded machine the first Basic-auth round takes longer than a second.
            deadline = time.monotonic() + 30.0
            while time.monotonic() < deadline:
                answered = sum(1 for o in outcomes if o.status is not None)
                if answered > 2 * CLIENTS:
                    break
                await asyncio.sleep(0.05)
            before = len(outcomes)
            signalled = time.monotonic()
            svc.signal(signal.SIGTERM)
            loop = asyncio.get_running_loop()
            code = await loop.run_in_executor(None, svc.wait, GRACE + 10)
            exited = time.monotonic()
            stop.set()
            await asyncio.gather(*tasks)
            await probe.close()
        log = svc.log()

    assert code == 0, log
    assert exited - signalled < GRACE + 2, log
    assert before > CLIENTS, "the load did not get going"
    sent_before = [o for o in outcomes if o.sent is not None and o.sent < signalled]
    failed = [o for o in sent_before if o.error is not None]
    assert not failed, [repr(o.error) for o in failed[:5]]
    assert all(o.status in (200, 201, 400) for o in sent_before), sorted(
        {o.status for o in sent_before}
    )
    # Requests were still pending when the signal came, and they were answered.
    assert sum(1 for o in sent_before if o.status is not None) >= before
    # Readiness: 200 until shutdown began, then 503 (on the open connection), then refused.
    answers = [r for r in ready if isinstance(r, int)]
    assert 503 in answers, ready[-5:]
    assert set(answers[answers.index(503) :]) == {503}, ready[-5:]
    assert set(answers) <= {200, 503}
    assert "Traceback" not in log, log


# Workers -------------------------------------------------------------------

WORKER_REQUESTS = 200


def _requests_by_route(exposition: str, route: str) -> float:
    """The sum of http_requests_total samples for `route` in Prometheus text."""
    total = 0.0
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if sample.name == "http_requests_total" and sample.labels.get("route") == route:
                total += sample.value
    return total


def _per_worker(metrics_dir: Path, route: str) -> dict[int, float]:
    """Requests to `route` counted by each worker, read from its own files only."""
    counts: dict[int, float] = {}
    for path in metrics_dir.glob("counter_*.db"):
        pid = int(path.stem.rsplit("_", 1)[1])
        with tempfile.TemporaryDirectory() as alone:
            shutil.copy(path, alone)
            registry = CollectorRegistry()
            MultiProcessCollector(registry, path=alone)
            counts[pid] = _requests_by_route(generate_latest(registry).decode(), route)
    return counts


def _parent_of(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


def test_two_workers_share_the_port_and_metrics(redis_url: str, tmp_path: Path) -> None:
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    (metrics_dir / "counter_1.db").write_bytes(b"stale from an earlier run")
    env = {
        "TOKEN_SERVICE_REDIS_URL": redis_url,
        "TOKEN_SERVICE_SERVER_LOG_LEVEL": "warning",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }
    with ServiceProcess("--workers", "2", env=env) as svc:
        assert svc.proc is not None
        # The service is ready once one worker listens; the kernel spreads new
        # connections over the listeners there are, so until the second worker
        # listens the first gets them all. Rounds of requests until both have
        # answered some (each hands its counts to the shared files within a
        # second, metrics.Tally), for at most 20 s.
        sent = 0
        deadline = time.monotonic() + 20
        per_worker = _per_worker(metrics_dir, "/healthz")
        while time.monotonic() < deadline:
            for _ in range(WORKER_REQUESTS):
                # A new connection each time, so that the kernel spreads them over both listeners.
                request = urllib.request.Request(
                    svc.url + "/healthz", headers={"Connection": "close"}
                )
                with urllib.request.urlopen(request, timeout=5) as r:
                    assert r.status == 200
            sent += WORKER_REQUESTS
            flushed = time.monotonic() + 5
            per_worker = _per_worker(metrics_dir, "/healthz")
            while sum(per_worker.values()) < sent and time.monotonic() < flushed:
                time.sleep(0.1)
                per_worker = _per_worker(metrics_dir, "/healthz")
            if sum(1 for n in per_worker.values() if n > 0) >= 2:
                break
        status, body = get(svc.url + "/metrics")
        assert status == 200
        workers = {pid for pid, n in per_worker.items() if n > 0}
        parents = {_parent_of(pid) for pid in workers}
        code = svc.stop(timeout=30)
        log = svc.log()

    assert code == 0, log
    # Two processes, both children of `serve`, each answered some of the requests.
    assert len(workers) == 2, per_worker
    assert parents == {svc.proc.pid}
    assert sum(per_worker.values()) == sent
    # Any worker's /metrics is the sum over all of them.
    assert _requests_by_route(body.decode(), "/healthz") == sent
    assert "Traceback" not in log, log


def _workers_of(pid: int) -> list[int]:
    """The worker processes of `serve` (spawned children; not multiprocessing's resource tracker)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                cmdline = (entry / "cmdline").read_bytes()
                if _parent_of(int(entry.name)) == pid and b"spawn_main" in cmdline:
                    found.append(int(entry.name))
    return found


def test_a_dead_worker_stops_the_others(redis_url: str) -> None:
    env = {
        "TOKEN_SERVICE_REDIS_URL": redis_url,
        "TOKEN_SERVICE_SERVER_LOG_LEVEL": "warning",
        "TOKEN_SERVICE_SERVER_SHUTDOWN_GRACE": "2",
    }
    with ServiceProcess("--workers", "2", env=env) as svc:
        assert svc.proc is not None
        deadline = time.monotonic() + 10
        while len(workers := _workers_of(svc.proc.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(workers) == 2
        os.kill(workers[0], signal.SIGKILL)
        code = svc.wait(timeout=15)
        log = svc.log()
        assert all(not Path(f"/proc/{pid}").exists() for pid in workers)
    assert code != 0
    assert "stopping the others" in log
